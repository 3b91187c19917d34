import { assemble, decode, type MapDef, type ProgType, type Program } from '@bpf/isa';
import { randomProgram } from '@bpf/reliability';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { conformanceTailCalls, corpusSource, kernelCorpus, loadConformance, repoRoot, type ConformanceCase } from '@bpf/testkit';
import { verify } from '@bpf/verifier';
import { run, VmError, type RunOptions, type RunResult } from '@bpf/vm';
import { describe, expect, it } from 'vitest';
import { jitWasm, runWasm } from './index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A conformance case as @bpf/vm runs it: memory, and the programs its prog arrays hold. */
function setup(c: ConformanceCase): { program: Program; opts: RunOptions } {
  const program = assemble(c.asm);
  const mem = c.mem ? { mem: c.mem } : {};
  if (!c.progArrays) return { program, opts: mem };
  const { progArrays } = conformanceTailCalls(c);
  return { program, opts: { ...mem, tailCallTargets: [program, ...(c.progs ?? []).map((p) => assemble(p.asm))], progArrays } };
}

const outcome = (f: () => RunResult): string => {
  try {
    const r = f();
    return JSON.stringify({ r0: r.r0.toString(16), mem: hex(r.mem), printk: r.printk, packet: r.packet ? hex(r.packet) : undefined, insns: r.insns });
  } catch (e) {
    if (e instanceof VmError) return `VmError ${e.code} at ${e.insn}`;
    throw e;
  }
};

describe('the conformance suite (fixtures/conformance): the same r0, memory, errors and instruction counts as @bpf/vm', () => {
  for (const checks of [true, false]) {
    it(`checks ${checks ? 'on' : 'off'}`, () => {
      const bad: string[] = [];
      let n = 0;
      for (const c of loadConformance()) {
        // without checks a memory violation is not caught: only cases that run to completion
        if (!checks && c.error !== undefined) continue;
        n++;
        const { program, opts } = setup(c);
        const vm = outcome(() => run(program, opts));
        const ours = outcome(() => runWasm(program, { ...opts, checks }));
        if (ours !== vm) bad.push(`${c.name}: wasm ${ours}, vm ${vm}`);
        if (c.result !== undefined && !ours.includes(`"r0":"${c.result.toString(16)}"`)) bad.push(`${c.name}: expected r0 ${c.result.toString(16)}`);
        if (c.error !== undefined && !ours.startsWith(`VmError ${c.error}`)) bad.push(`${c.name}: expected ${c.error}`);
      }
      expect(bad).toEqual([]);
      expect(n).toBeGreaterThanOrEqual(checks ? 40 : 34);
    });
  }
});

describe('stack arguments (apps/docs/stack-args.md)', () => {
  it('the 12-argument BPF-to-BPF call (78) and kfunc call (650) of examples/, verified, with checks on and off', () => {
    for (const [file, want] of [['call12.s', 78n], ['kfunc12.s', 650n]] as const) {
      const p = assemble(readFileSync(join(repoRoot, 'examples', file), 'utf8'));
      const v = verify(p, { logLevel: 0 });
      expect(v.accepted, file).toBe(true);
      expect(run(p).r0).toBe(want);
      for (const checks of [true, false]) expect(outcome(() => runWasm(jitWasm(v.program!, { checks })))).toBe(outcome(() => run(p)));
    }
  });

  it('a stack argument the caller did not store: STACK_ARG_UNINIT, as @bpf/vm', () => {
    const p = assemble('.func f(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g) u64\n*(u64 *)(r11 - 8) = 6\ncall f\nexit\nf:\nr0 = *(u64 *)(r11 + 16)\nexit');
    expect(outcome(() => runWasm(p))).toBe(outcome(() => run(p)));
    expect(outcome(() => runWasm(p))).toMatch(/^VmError STACK_ARG_UNINIT/);
    // a second call without storing again: the first call's return consumed the slot
    const again = assemble('.func f(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f) u64\n*(u64 *)(r11 - 8) = 6\ncall f\ncall f\nexit\nf:\nr0 = *(u64 *)(r11 + 8)\nexit');
    expect(outcome(() => runWasm(again))).toBe(outcome(() => run(again)));
    expect(outcome(() => runWasm(again))).toMatch(/^VmError STACK_ARG_UNINIT at 4/);
  });
});

describe('control flow', () => {
  it('an irreducible loop (two entries) runs through the dispatch loop; a natural one nests', () => {
    const irreducible = assemble('r0 = 0\nr1 = 3\nif r1 > 2 goto b\na:\nr0 += 1\nb:\nr0 += 2\nr1 -= 1\nif r1 != 0 goto a\nexit');
    const nested = assemble('r0 = 0\nr1 = 0\no:\nr2 = 0\ni:\nr0 += r2\nr2 += 1\nif r2 < 5 goto i\nr1 += 1\nif r1 s< 4 goto o\nexit');
    for (const p of [irreducible, nested]) expect(outcome(() => runWasm(p))).toBe(outcome(() => run(p)));
    expect(runWasm(irreducible).r0).toBe(8n);
    expect(runWasm(nested).r0).toBe(40n);
  });

  it('the instruction budget stops an endless loop with BUDGET, as @bpf/vm', () => {
    const p = assemble('r0 = 0\nl:\nr0 += 1\ngoto l');
    expect(outcome(() => runWasm(p, { budget: 1000 }))).toBe(outcome(() => run(p, { budget: 1000 })).replace(/ at \d+/, ' at 1'));
  });

  it('without checks a verified loop runs to its end and a budget it overran is reported when it returns', () => {
    const p = assemble('r0 = 0\nr1 = 0\nl:\nr0 += r1\nr1 += 1\nif r1 < 100 goto l\nexit');
    const v = verify(p, { logLevel: 0 });
    expect(v.accepted).toBe(true);
    const off = jitWasm(v.program!, { checks: false });
    expect(outcome(() => runWasm(off))).toBe(outcome(() => run(p)));
    expect(runWasm(off).insns).toBe(303);
    // checks on stop at the loop's head as @bpf/vm stops (insn 2 of the 101st pass); off, the run ends first
    expect(outcome(() => run(p, { budget: 200 }))).toBe('VmError BUDGET at 2');
    expect(outcome(() => runWasm(v.program!, { budget: 200, checks: true }))).toBe('VmError BUDGET at 2');
    expect(outcome(() => runWasm(off, { budget: 200 }))).toBe('VmError BUDGET at 5');
  });
});

describe('consecutive runs (one linear memory, reused)', () => {
  it('a run sees a zeroed stack, none of the previous run\'s regions and its own mem, as @bpf/vm', () => {
    // writes its stack, then reads 8 bytes below what it wrote
    const dirty = assemble('r1 = 0x1122334455667788 ll\n*(u64 *)(r10 - 8) = r1\n*(u64 *)(r10 - 512) = r1\nr0 = 0\nexit');
    const reads = assemble('r0 = *(u64 *)(r10 - 8)\nr1 = *(u64 *)(r10 - 512)\nr0 |= r1\nexit');
    const m: MapDef = { name: 'm', type: 'array', keySize: 4, valueSize: 8, maxEntries: 64 };
    // looks up 40 elements (40 regions mapped on first use) and returns the last one's address
    const touchMaps = assemble('.map m array 4 8 64\nr6 = 0\nl:\n*(u32 *)(r10 - 4) = r6\nr2 = r10\nr2 += -4\nr1 = m ll\ncall 1\nr7 = r0\nr6 += 1\nif r6 < 40 goto l\nr0 = r7\nexit');
    const runs: [Program, RunOptions][] = [
      [dirty, {}],
      [reads, {}],
      [touchMaps, { maps: [m] }],
      [reads, { mem: Uint8Array.of(1, 2, 3) }],
    ];
    for (const [prog, opts] of runs) expect(outcome(() => runWasm(prog, opts)).replace(/"r0":"\w+"/, '')).toBe(outcome(() => run(prog, opts)).replace(/"r0":"\w+"/, ''));
    expect(runWasm(dirty).r0).toBe(0n);
    expect(runWasm(reads).r0).toBe(0n);
    // the address of a map value the previous run mapped is no pointer in the next one (its region-table entry is gone)
    const last = runWasm(touchMaps, { maps: [m] }).r0;
    expect(Number(last >> 32n)).toBeGreaterThan(40);
    const stale = assemble(`r1 = 0x${last.toString(16)} ll\nr0 = *(u8 *)(r1 + 0)\nexit`);
    for (const opts of [{}, { ctx: new Uint8Array(16) }]) {
      expect(outcome(() => runWasm(stale, opts))).toBe('VmError BAD_POINTER at 2');
      expect(outcome(() => run(stale, opts))).toBe('VmError BAD_POINTER at 2');
    }
    // the result's memory is its own copy, kept when later runs reuse linear memory
    const inc = assemble('r3 = *(u8 *)(r1 + 0)\nr3 += 1\n*(u8 *)(r1 + 0) = r3\nr0 = 0\nexit');
    const input = Uint8Array.of(7, 8);
    const first = runWasm(inc, { mem: input });
    const second = runWasm(inc, { mem: Uint8Array.of(40) });
    expect([...first.mem, ...second.mem, ...input]).toEqual([8, 8, 41, 7, 8]);
  });
});

describe('the kernel corpus (fixtures/kernel/corpus.json), as @bpf/vm runs it', () => {
  const corpus = kernelCorpus();

  it('accepted programs with a recorded retval: the same r0 as @bpf/vm, and the kernel retval', () => {
    const cases = corpus.filter((c) => c.accepted && c.retval !== null && c.dataIn === undefined && !/ktime|ptr-leak|uninit-stack|uninit_stack|xdp/.test(c.name));
    const m: MapDef = { name: 'm', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 };
    const bad: string[] = [];
    for (const c of cases) {
      const program: Program = { insns: decode(Uint8Array.from(Buffer.from(c.insns, 'hex'))) };
      const opts = { maps: [m], mem: new Uint8Array(64) };
      const vm = outcome(() => run(program, opts));
      for (const checks of [true, false]) {
        const ours = outcome(() => runWasm(program, { ...opts, checks }));
        if (ours !== vm) bad.push(`${c.name} (checks ${checks}): wasm ${ours}, vm ${vm}`);
        else if (!ours.startsWith('{') || BigInt(`0x${(JSON.parse(ours) as { r0: string }).r0}`) % 2n ** 32n !== BigInt(c.retval!)) bad.push(`${c.name}: kernel retval ${c.retval}, wasm ${ours}`);
      }
    }
    expect(bad).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(130);
  });

  it('C packet programs (socket filter, tc, XDP; maps, tail calls, helpers): the kernel retval and data_out, as @bpf/vm', () => {
    const cases = corpus.filter((c) => c.accepted && c.dataIn !== undefined && !/uninit_stack/.test(c.name));
    const bad: string[] = [];
    for (const c of cases) {
      const s = corpusSource(c);
      if (s.kind !== 'insns') throw new Error('C cases carry their instructions');
      const program: Program = { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs as Program['relocs'], type: c.type as ProgType };
      const data = Buffer.from(c.dataIn!, 'hex');
      const vm = run(program, { data });
      for (const checks of [true, false]) {
        const r = runWasm(program, { data, checks });
        const ours = { retval: Number(r.r0 & 0xffffffffn), data: hex(r.packet!), insns: r.insns };
        const theirs = { retval: Number(vm.r0 & 0xffffffffn), data: hex(vm.packet!), insns: vm.insns };
        if (JSON.stringify(ours) !== JSON.stringify(theirs) || ours.retval !== c.retval || ours.data !== c.dataOut) bad.push(`${c.name} (checks ${checks}): wasm ${JSON.stringify(ours)}, vm ${JSON.stringify(theirs)}, kernel ${c.retval}`);
      }
    }
    expect(bad).toEqual([]);
    expect(new Set(cases.map((c) => c.type))).toEqual(new Set(['socket_filter', 'sched_cls', 'xdp']));
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });
});

describe('generated programs (@bpf/reliability): the same r0 and memory as @bpf/vm', () => {
  it('1,000 seeded random programs (ALU, branches, loops, memory, calls with up to 12 args)', () => {
    const bad: string[] = [];
    let n = 0;
    for (let seed = 1; seed <= 1000; seed++) {
      const p = randomProgram(seed, { size: 30 });
      const mem = new Uint8Array(64).map((_, k) => (k * 37 + seed) & 0xff);
      const vm = outcome(() => run(p, { mem, budget: 200_000 }));
      if (vm.includes('BUDGET')) continue;
      n++;
      const ours = outcome(() => runWasm(p, { mem, budget: 200_000 }));
      if (ours !== vm) bad.push(`seed ${seed}: wasm ${ours}, vm ${vm}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(n).toBeGreaterThan(950);
  });

  it('verified socket filters run without checks as with them', () => {
    const bad: string[] = [];
    let n = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const sp = randomProgram(seed, { size: 30, memSize: 0, calls: seed % 2 === 0 });
      const v = verify(sp, { logLevel: 0 });
      if (!v.accepted) continue;
      const opts = { ctx: new Uint8Array(192), budget: 200_000 };
      const vm = outcome(() => run(v.program!, opts));
      if (vm.includes('BUDGET')) continue;
      n++;
      for (const checks of [true, false]) {
        const ours = outcome(() => runWasm(jitWasm(v.program!, { checks }), opts));
        if (ours !== vm) bad.push(`seed ${seed} (checks ${checks}): wasm ${ours}, vm ${vm}`);
      }
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(n).toBeGreaterThan(250);
  });
});
