import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble, decode, type Program, type ProgType } from '@bpf/isa';
import { corpusSource, fixturesDir, kernelCorpus, skipWithout, type KernelCase } from '@bpf/testkit';
import { run } from '@bpf/vm';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { kernelApi, kernelVerdict } from './kernel.test.helper.js';

const corpus = kernelCorpus();
const source = (c: KernelCase): Program => {
  const s = corpusSource(c);
  if (s.kind === 'asm') return assemble(s.text);
  return { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs as Program['relocs'], ...(s.funcInfo ? { funcInfo: s.funcInfo } : {}) };
};

function kernelErrorInsn(c: KernelCase): number | undefined {
  if (c.accepted || c.error === null) return undefined;
  const lines = c.log.split('\n');
  let at = -1;
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.startsWith(c.error)) { at = i; break; }
  for (let i = at - 1; i >= 0; i--) {
    const m = /^(\d+): \(/.exec(lines[i]!);
    if (m) return Number(m[1]);
  }
  return undefined;
}

describe('agreement with the kernel (fixtures/kernel/corpus.json)', () => {
  it.each(corpus.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const r = verify(source(c), { type: c.type as ProgType, logLevel: 0 });
    expect(r.accepted).toBe(c.accepted);
    if (!c.accepted) expect(r.error?.message).toBe(c.error);
    // the instruction the kernel was at: the last "N: (op) ..." line of its log before the error
    // (whole-program limits, the complexity and combined stack ones, name no instruction)
    const at = kernelErrorInsn(c);
    if (at !== undefined && !/^(BPF program is too large|combined stack size)/.test(c.error ?? '')) expect(r.error?.insn).toBe(at);
  });
  it('is sound on what it accepts: the interpreter never hits a memory error on accepted random programs', () => {
    let ran = 0;
    for (const c of corpus.filter((x) => x.name.startsWith('random/'))) {
      const p = { insns: decode(Buffer.from(c.insns, 'hex')) };
      if (!verify(p).accepted) continue;
      run(p, { ctx: new Uint8Array(192), budget: 1_000_000 });
      ran++;
    }
    expect(ran).toBeGreaterThan(80);
  });
});

describe('kernel disagreements found by the differential run (fixtures/kernel/disagreements)', () => {
  const dir = join(fixturesDir, 'kernel/disagreements');
  const saved = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  it('every saved disagreement now agrees with the kernel', () => {
    for (const f of saved) {
      const d = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { insns: string; kernel: { accepted: boolean; error: string | null } };
      const r = verify({ insns: decode(Buffer.from(d.insns, 'hex')) }, { logLevel: 0 });
      expect({ file: f, accepted: r.accepted, error: r.error?.message ?? null }).toEqual({ file: f, ...d.kernel });
    }
    expect(saved.length).toBeGreaterThanOrEqual(0);
  });
});

const ARGS = (n: number): string => Array.from({ length: n }, (_, k) => `u64 a${k}`).join(', ');
const stores = (n: number): string => Array.from({ length: n }, (_, k) => `*(u64 *)(r11 - ${8 * (k + 1)}) = ${k + 6}`).join('\n');
const regs = 'r1 = 1\nr2 = 2\nr3 = 3\nr4 = 4\nr5 = 5';
const accept = (text: string, opts = {}): void => {
  const r = verify(assemble(text), opts);
  expect(r.error?.message).toBeUndefined();
  expect(r.accepted).toBe(true);
};
const reject = (text: string, message: string, opts = {}): void => {
  const r = verify(assemble(text), opts);
  expect(r.accepted).toBe(false);
  expect(r.error?.message).toBe(message);
};

describe('stack arguments (apps/docs/stack-args.md)', () => {
  it('accepts a 12-argument BPF-to-BPF call and fills the Subprog records for the JITs', () => {
    const r = verify(assemble(readFileSync(join(fixturesDir, '../examples/call12.s'), 'utf8')));
    expect(r.accepted, r.error?.message).toBe(true);
    expect(r.program!.subprogs.map((s) => [s.name, s.argCount, s.incomingStackArgs, s.outgoingStackArgs])).toEqual([
      ['main', 5, 0, 7],
      ['sum12', 12, 7, 0],
    ]);
  });
  it('accepts a 12-argument kfunc call and checks stack-passed pointers', () => {
    accept(`.kfunc bpf_test_weighted12(${ARGS(12)}) u64\n${regs}\n${stores(7)}\ncall bpf_test_weighted12\nexit`);
    accept(`.kfunc k(${ARGS(5)}, u64 *p) u64\n${regs}\nr6 = r10\nr6 += -8\n*(u64 *)(r10 - 8) = 0\n*(u64 *)(r11 - 8) = r6\ncall k\nexit`);
  });
  it('§2: any other use of r11 is invalid', () => {
    reject('r11 += 1\nr0 = 0\nexit', 'R11 is invalid');
    reject('*(u32 *)(r11 - 8) = 1\nr0 = 0\nexit', 'R11 is invalid');
    reject('r0 = *(u64 *)(r11 - 8)\nexit', 'R11 is invalid');
  });
  it('§4.1: a write beyond the 7 slots', () => {
    reject('*(u64 *)(r11 - 80) = 1\nr0 = 0\nexit', 'stack arg write offset -80 exceeds max 7 stack args');
  });
  it('§4.2: the main program has no incoming stack arguments', () => {
    reject('r0 = *(u64 *)(r11 + 8)\nexit', 'invalid read from stack arg off 8 depth 0');
  });
  it('§4.2: a callee reading past its incoming count', () => {
    reject(`.func f(${ARGS(6)}) u64\n${regs}\n${stores(1)}\ncall f\nexit\nf:\nr0 = *(u64 *)(r11 + 16)\nexit`, 'invalid read from stack arg off 16 depth 1');
  });
  it('§4.2: r11 loads must precede r11 stores and calls, on every path', () => {
    const head = `.func f(${ARGS(6)}) u64\n${regs}\n${stores(1)}\ncall f\nexit\n`;
    reject(`${head}f:\n*(u64 *)(r11 - 8) = 1\nr0 = *(u64 *)(r11 + 8)\nexit`, 'r11 load must be before any r11 store or call insn');
    reject(readFileSync(join(fixturesDir, '../examples/reject-r11-after-call.s'), 'utf8'), 'r11 load must be before any r11 store or call insn');
    // after a call on one branch only
    reject(`${head}f:\nif r1 > 3 goto l\ncall 5\nl:\nr0 = *(u64 *)(r11 + 8)\nexit`, 'r11 load must be before any r11 store or call insn');
  });
  it('§4.3: a callee needs its slots initialised (only r11-16 written for a 7-arg call; one branch missing)', () => {
    reject(`.func f(${ARGS(7)}) u64\n${regs}\n*(u64 *)(r11 - 16) = 7\ncall f\nexit\nf:\nr0 = 0\nexit`, 'callee expects 7 args, stack arg1 is not initialized');
    reject(`.func f(${ARGS(6)}) u64\nr6 = *(u32 *)(r1 + 0)\n${regs}\nif r6 == 0 goto l\n*(u64 *)(r11 - 8) = 6\nl:\ncall f\nexit\nf:\nr0 = 0\nexit`, 'callee expects 6 args, stack arg1 is not initialized');
  });
  it('§4.4: stores serve one call only (args stored once, two calls)', () => {
    reject(`.func f(${ARGS(6)}) u64\n${regs}\n${stores(1)}\ncall f\n${regs}\ncall f\nexit\nf:\nr0 = 0\nexit`, 'callee expects 6 args, stack arg1 is not initialized');
  });
  it('§4.4: branches do not invalidate a slot stored before them', () => {
    accept(`.func f(${ARGS(6)}) u64\nr6 = r1\n${regs}\n${stores(1)}\nif r6 == 0 goto l\nr0 = 1\nl:\ncall f\nexit\nf:\nr0 = *(u64 *)(r11 + 8)\nexit`);
  });
  it('§4.4: a null check updates the slot sharing the id; the null path dereference is rejected', () => {
    const text = `.map m hash 4 8 4\n.func f(${ARGS(6)}) u64\nr1 = 0\n*(u32 *)(r10 - 4) = r1\nr1 = m ll\nr2 = r10\nr2 += -4\ncall bpf_map_lookup_elem\n${regs}\n*(u64 *)(r11 - 8) = r0\nif r0 != 0 goto l\ncall f\nexit\nl:\nr0 = 0\nexit\nf:\nr1 = *(u64 *)(r11 + 8)\nr0 = *(u64 *)(r1 + 0)\nexit`;
    reject(text, "R1 invalid mem access 'scalar'");
    accept(text.replace('if r0 != 0 goto l', 'if r0 == 0 goto l'));
  });
  it('§4.5: writing more slots than the calls need', () => {
    reject(`.func f(${ARGS(7)}) u64\n${regs}\n${stores(5)}\ncall f\nexit\nf:\nr0 = 0\nexit`, 'func#0 writes 5 stack arg slots, but calls only require 2');
  });
  it('§3: stack arguments need the JIT; global functions may not use them', () => {
    reject(`.func f(${ARGS(6)}) u64\n${regs}\n${stores(1)}\ncall f\nexit\nf:\nr0 = 0\nexit`, 'stack args are not supported in non-JITed programs', { jit: false });
    reject(`.func global f(${ARGS(6)}) u64\n${regs}\n${stores(1)}\ncall f\nexit\nf:\nr0 = 0\nexit`, 'global function f has 6 args, stack arguments are not supported for global functions');
  });
  it('§4.3: a struct passed by value to a kfunc is unrecognised', () => {
    reject(`.kfunc k(${ARGS(5)}, struct foo s) u64\n${regs}\n${stores(1)}\ncall k\nexit`, 'Unrecognized *(R11-8) type STRUCT');
  });
  it('§4.6: stack arguments and a reachable tail call', () => {
    const text = `.map pa prog_array 4 4 1\n.func f(${ARGS(6)}) u64\nr6 = r1\n${regs}\n${stores(1)}\ncall f\nr1 = r6\nr2 = pa ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit\nf:\nr0 = *(u64 *)(r11 + 8)\nexit`;
    reject(text, 'tail_call is not allowed in a program that uses stack arguments');
  });
});

// §4.9: a value passed as argument 6 is needed in the caller once the callee's use of it
// matters. Two paths reach the call with r6 in [0,7] and [0,255]; the callee indexes its stack
// with argument 6. Passed in r1 instead, the kernel rejects the [0,255] path; passed through
// r11 it must be rejected the same way (precision follows the load to the caller's store), or
// pruning at the join would accept a write past the stack.
const twoWidths = (viaR11: boolean): string => {
  const pad = Array.from({ length: 8 }, () => 'r9 = 1').join('\n');
  const head = viaR11 ? `.func f(${ARGS(6)}) u64` : '.func f(u64 a) u64';
  const pass = viaR11 ? 'r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\n*(u64 *)(r11 - 8) = r6' : 'r1 = r6\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\nr0 = 0'; // as many insns
  const arg = viaR11 ? 'r2 = *(u64 *)(r11 + 8)' : 'r2 = r1';
  return `${head}\ncall 7\nr6 = r0\nr7 = r0\nr8 = 0\nif r8 > 1 goto l1\nl1:\nr8 += 1\nif r8 > 2 goto l2\nl2:\nr8 += 1\nif r8 > 3 goto l3\nl3:
if r7 > 1000 goto wide\nr6 &= 7\n${pad}\ngoto join\nwide:\nr6 &= 255\njoin:\n${pass}\ncall f\nr0 = 0\nexit
f:\n${arg}\nr1 = r10\nr1 += -8\nr1 += r2\n*(u8 *)(r1 + 0) = 0\nr0 = 0\nexit`;
};

describe('stack arguments: precision crosses the r11 slot (stack-args §4.9)', () => {
  it('rejects the wide path as the register version is rejected, and logs the chain through the slot', () => {
    const r = verify(assemble(twoWidths(true)), { logLevel: 2 });
    expect(r.accepted).toBe(false);
    expect(r.error?.message).toBe('invalid variable-offset write to stack R1 var_off=(0x0; 0xff) off=-8 size=1');
    const regs = verify(assemble(twoWidths(false)), { logLevel: 1 });
    expect(r.error?.message).toBe(regs.error?.message);
    expect(r.stats.processedInsns).toBe(regs.stats.processedInsns);
    const lines = r.log.split('\n');
    const load = lines.findIndex((l) => /^mark_precise: frame1: regs=r2 stack= before \d+: \(79\) r2 = \*\(u64 \*\)\(r11 \+8\)$/.test(l));
    expect(load).toBeGreaterThan(0);
    expect(lines.slice(load + 1, load + 4)).toEqual([
      expect.stringMatching(/^mark_precise: frame1: regs= stack= before \d+: \(85\) call pc\+\d+$/),
      expect.stringMatching(/^mark_precise: frame0: regs= stack= before \d+: \(7b\) \*\(u64 \*\)\(r11 -8\) = r6$/),
      expect.stringMatching(/^mark_precise: frame0: regs=r6 stack= before /),
    ]);
  });
  it.skipIf(skipWithout('kernel') || !kernelApi)('the register version is the kernel\'s verdict', () => {
    const k = kernelVerdict(assemble(twoWidths(false)));
    const ours = verify(assemble(twoWidths(false)));
    expect(k.accepted).toBe(false);
    expect(k.error).toBe(ours.error?.message);
    expect(Number(/processed (\d+) insns/.exec(k.log)?.[1])).toBe(ours.stats.processedInsns);
  });
});

describe('log', () => {
  it('prints processed instructions in kernel syntax and the kernel stats line', () => {
    const r = verify(assemble('r0 = 1\nexit'), { logLevel: 2 });
    // level 2 opens with the subprograms and the live-registers table, as the kernel's does
    expect(r.log).toBe('func#0 @0\nLive regs before insn:\n      0: .......... (b7) r0 = 1\n      1: 0......... (95) exit\n0: R1=ctx() R10=fp0\n0: (b7) r0 = 1                        ; R0=1\n1: (95) exit\nprocessed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n');
    // level 1: an accepted program's log is the stats line alone, as the kernel's is
    expect(verify(assemble('r0 = 1\nexit'), { logLevel: 1 }).log).toBe('processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n');
    expect(r.stats.processedInsns).toBe(2);
  });
});
