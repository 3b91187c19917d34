import { assemble, decode, type Insn, type Program, type ProgType } from '@bpf/isa';
import { corpusSource, kernelCorpus, type KernelCase } from '@bpf/testkit';
import { run } from '@bpf/vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { batchRemovals, xlate } from './xlate.js';

const text = (insns: readonly Insn[]): string[] => insns.map((i) => `${i.code.toString(16)} ${i.dst} ${i.src} ${i.off} ${i.imm}`);
const xlated = (src: string): Program => {
  const r = verify(assemble(src), { logLevel: 0 });
  expect(r.error?.message).toBeUndefined();
  return r.xlated!;
};

describe('xlated: the program the kernel JITs after its dead-code passes', () => {
  it('an always-taken branch becomes a jump, the code it skips goes, and the ja 0 left goes too', () => {
    const p = xlated('r0 = 1\nif r0 == 1 goto l\nr0 = 2\nr0 += 3\nl:\nexit');
    expect(text(p.insns)).toEqual(text(assemble('r0 = 1\nexit').insns));
  });

  it('a never-taken branch goes with its target block; jumps over the hole come closer', () => {
    const p = xlated('r1 = 0\nr0 = 0\nif r1 != 0 goto dead\nif r0 == 0 goto out\nr0 = 7\ndead:\nr0 = 9\nout:\nexit');
    // the second branch is undecided (r0 is a known 0, so it is decided too): both are hard-wired
    expect(text(p.insns)).toEqual(text(assemble('r1 = 0\nr0 = 0\nexit').insns));
    const q = xlated('r0 = *(u32 *)(r1 + 0)\nr1 = 0\nif r1 != 0 goto dead\nif r0 == 0 goto out\nr0 = 7\nout:\nexit\ndead:\nr0 = 9\nexit');
    expect(text(q.insns)).toEqual(text(assemble('r0 = *(u32 *)(r1 + 0)\nr1 = 0\nif r0 == 0 goto out\nr0 = 7\nout:\nexit').insns));
  });

  it('a subprogram only a dead branch calls goes, and the calls after it are re-aimed', () => {
    const src = `
      r6 = 0
      if r6 != 0 goto skip
      call g
      skip:
      call f
      exit
      g:
      r0 = 1
      exit
      f:
      r0 = 2
      exit`;
    // r6 == 0, so the branch never goes to skip: call g stays; make it the other way round
    const p = xlated(src.replace('r6 = 0', 'r6 = 1'));
    expect(p.insns).toHaveLength(5);
    expect(p.subprogs!.map((s) => [s.start, s.end])).toEqual([[0, 3], [3, 5]]);
    expect(run(p).r0).toBe(2n);
    const all = xlated(src);
    expect(all.subprogs).toHaveLength(3);
    expect(run(all).r0).toBe(2n);
  });

  it('relocations, func_info and line_info follow the removals (bpf_adj_linfo_after_remove)', () => {
    const insns = assemble('r0 = 0\nr0 = 1\nr0 = 2\nr0 = 3\nexit').insns;
    const lineInfo = [0, 1, 2, 4].map((insnOff) => ({ insnOff, fileNameOff: 0, lineOff: insnOff, line: insnOff, column: 0 }));
    const program = {
      insns,
      subprogs: [{ start: 0, end: 5, name: 'main', argCount: 1, incomingStackArgs: 0, outgoingStackArgs: 0, stackDepth: 0 }],
      funcInfo: [{ insnOff: 0, typeId: 3 }],
      lineInfo,
      relocs: [{ insn: 3, kind: 'kfunc' as const, name: 'k' }, { insn: 1, kind: 'kfunc' as const, name: 'gone' }],
    };
    // slots 1 and 2 unreached: the line of slot 2 moves to the first kept slot after the hole, which has none
    const out = xlate(program, [1, 0, 0, 1, 1]);
    expect(out.insns).toHaveLength(3);
    expect(out.lineInfo!.map((l) => [l.insnOff, l.line])).toEqual([[0, 0], [1, 2], [2, 4]]);
    expect(out.relocs).toEqual([{ insn: 1, kind: 'kfunc', name: 'k' }]);
    expect(out.funcInfo).toEqual([{ insnOff: 0, typeId: 3 }]);
    // nothing to do: the same object
    expect(xlate(program, [1, 1, 1, 1, 1])).toBe(program);
  });

  it('may_goto 0 and ja 0 go; a may_goto +1 before a may_goto 0 is looked at again', () => {
    const insns = [
      { code: 0xe5, dst: 0, src: 0, off: 1, imm: 0 },
      { code: 0xe5, dst: 0, src: 0, off: 0, imm: 0 },
      { code: 0x05, dst: 0, src: 0, off: 0, imm: 0 },
      ...assemble('r0 = 0\nexit').insns,
    ];
    const sub = { start: 0, end: 5, name: 'main', argCount: 1, incomingStackArgs: 0, outgoingStackArgs: 0, stackDepth: 0 };
    expect(text(xlate({ insns, subprogs: [sub] }, [1, 1, 1, 1, 1]).insns)).toEqual(text(assemble('r0 = 0\nexit').insns));
  });
});

/** A corpus case's program, as bench/compare.mjs builds it. */
const toProgram = (c: KernelCase): Program => {
  const s = corpusSource(c);
  if (s.kind === 'asm') return assemble(s.text);
  return { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs as Program['relocs'], ...(s.funcInfo ? { funcInfo: s.funcInfo } : {}), type: c.type as ProgType };
};

/** Instructions the kernel rewrites after the dead-code passes (do_misc_fixups, convert_ctx_accesses): calls, maps, div/mod, ld_abs, non-stack memory. */
const rewrittenLater = (insns: readonly Insn[]): boolean =>
  insns.some((i) => {
    const cls = i.code & 7;
    const op = i.code & 0xf0;
    if (i.code === 0x85 || i.code === 0xe5 || (i.code === 0x18 && i.src !== 0) || (cls === 0 && (i.code & 0xe0) !== 0)) return true;
    if ((cls === 4 || cls === 7) && (op === 0x30 || op === 0x90) && ((i.code & 8) !== 0 || (i.off === 1 && i.imm === -1))) return true;
    return (cls === 1 && i.src !== 10) || ((cls === 2 || cls === 3) && i.dst !== 10);
  });

describe('xlated against the kernel corpus (fixtures/kernel/corpus.json)', () => {
  const cases = kernelCorpus().filter((c) => c.accepted && c.xlated);

  it('equals the kernel xlated program wherever nothing else rewrites it', () => {
    let compared = 0;
    const bad: string[] = [];
    for (const c of cases) {
      const r = verify(toProgram(c), { type: c.type as ProgType, logLevel: 0 });
      if (!r.accepted || rewrittenLater(r.program!.insns)) continue;
      compared++;
      const kernel = decode(Uint8Array.from(Buffer.from(c.xlated!, 'hex')), { strict: false });
      if (text(kernel).join('\n') !== text(r.xlated!.insns).join('\n')) bad.push(c.name);
    }
    expect(bad).toEqual([]);
    expect(compared).toBeGreaterThanOrEqual(25);
  });

  it('runs as the program does (@bpf/vm, every random program of the corpus)', () => {
    const random = cases.filter((c) => c.name.startsWith('random/'));
    let shrunk = 0;
    for (const c of random) {
      const p = toProgram(c);
      const r = verify(p, { type: c.type as ProgType, logLevel: 0 });
      const mem = new Uint8Array(64).map((_, k) => k * 7);
      const a = run(p, { mem: mem.slice(), budget: 1e6 });
      const b = run(r.xlated!, { mem: mem.slice(), budget: 1e6 });
      expect(b.r0, c.name).toBe(a.r0);
      if (r.xlated!.insns.length < p.insns.length) shrunk++;
    }
    expect(random.length).toBeGreaterThan(90);
    expect(shrunk).toBeGreaterThan(random.length / 2);
  });
});

describe('xlate removes dead code and nops in one pass as one removal at a time would', () => {
  /** A random program from `seed`: jumps, nops, may_goto, calls, function references, ld_imm64, exits; a seen set closed under jumps or not; subprograms, func_info, line_info, relocations. */
  const randomCase = (seed: number): { program: Parameters<typeof xlate>[0]; seen: number[]; nops: number[] } => {
    let x = seed >>> 0 || 1;
    const rnd = (): number => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), (x >>> 1) / 0x80000000);
    const ri = (a: number, b: number): number => a + Math.floor(rnd() * (b - a + 1));
    const n = ri(1, 40);
    const insns: Insn[] = [];
    for (let pc = 0; pc < n; pc++) {
      const k = rnd();
      const t = (): number => ri(0, n) - pc - 1;
      if (k < 0.25) insns.push({ code: 0xb7, dst: ri(0, 9), src: 0, off: 0, imm: ri(0, 5) });
      else if (k < 0.4) insns.push({ code: rnd() < 0.5 ? 0x05 : 0xe5, dst: 0, src: 0, off: rnd() < 0.6 ? ri(0, 2) : t(), imm: 0 });
      else if (k < 0.6) insns.push({ code: [0x15, 0x25, 0x16, 0xe5][ri(0, 3)]!, dst: 1, src: 0, off: t(), imm: 3 });
      else if (k < 0.67) insns.push({ code: 0x85, dst: 0, src: 1, off: 0, imm: t() });
      else if (k < 0.72) insns.push({ code: 0x06, dst: 0, src: 0, off: 0, imm: t() });
      else if (k < 0.8 && pc + 1 < n) {
        insns.push({ code: 0x18, dst: 1, src: rnd() < 0.5 ? 4 : 0, off: 0, imm: t() }, { code: 0, dst: 0, src: 0, off: 0, imm: 0 });
        pc++;
      } else if (k < 0.85) insns.push({ code: 0x85, dst: 0, src: 0, off: 0, imm: 5 });
      else insns.push({ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
    }
    const m = insns.length;
    const seen = insns.map(() => (rnd() < 0.6 ? 1 : 0));
    // mostly as verification leaves it: a jump's target seen when the jump is
    for (let grew = rnd() < 0.8; grew; ) {
      grew = false;
      insns.forEach((i, pc) => {
        if (!seen[pc]) return;
        const cls = i.code & 7;
        const byImm = (i.code === 0x18 && i.src === 4) || i.code === 0x06 || (i.code === 0x85 && i.src === 1);
        const t = byImm ? pc + i.imm + 1 : (cls === 5 || cls === 6) && i.code !== 0x85 && i.code !== 0x95 ? pc + i.off + 1 : -1;
        if (t >= 0 && t < m && !seen[t]) {
          seen[t] = 1;
          grew = true;
        }
      });
    }
    const starts = [0, ...new Set(Array.from({ length: ri(0, 4) }, () => ri(1, Math.max(1, m - 1))))].filter((v, k) => k === 0 || v < m).sort((a, b) => a - b);
    const subprogs = starts.map((start, k) => ({ start, end: starts[k + 1] ?? m, name: `f${k}`, argCount: 0, incomingStackArgs: 0, outgoingStackArgs: 0, stackDepth: 0 }));
    const funcInfo = starts.slice(0, rnd() < 0.8 ? starts.length : Math.max(1, starts.length - 1)).map((insnOff, k) => ({ insnOff, typeId: k + 1 }));
    const offs = Array.from({ length: ri(0, m) }, () => ri(0, m - 1));
    if (rnd() < 0.9) offs.sort((a, b) => a - b);
    const lineInfo = offs.map((insnOff, k) => ({ insnOff, fileNameOff: 0, lineOff: 0, line: k, col: 0 }));
    const relocs = Array.from({ length: ri(0, 5) }, (_, k) => ({ insn: ri(0, m - 1), kind: 'map' as const, name: `m${k}` }));
    const nops = rnd() < 0.2 ? [ri(0, m - 1)].filter((pc) => insns[pc]!.code !== 0 && insns[pc]!.code !== 0x18) : [];
    return { program: { insns, subprogs, funcInfo, lineInfo, relocs } as unknown as Parameters<typeof xlate>[0], seen, nops };
  };
  const outcome = (c: ReturnType<typeof randomCase>, batch: boolean): string => {
    batchRemovals.on = batch;
    try {
      return JSON.stringify(xlate(c.program, c.seen, c.nops.length ? { nops: c.nops } : {}));
    } catch (e) {
      return `throws ${(e as Error).message}`;
    } finally {
      batchRemovals.on = true;
    }
  };
  it('the same program, subprograms, func_info, line_info and relocations (random programs)', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const c = randomCase(seed);
        expect(outcome(c, true)).toBe(outcome(c, false));
      }),
      { numRuns: 3000 },
    );
  });
});
