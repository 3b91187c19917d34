/**
 * The packed jump history (jmphist.ts) and precision tracking's quiet walk over it (precise.ts):
 * - histories forked from one another, appended to, popped and appended again read back the
 *   entries a model of one array per history holds (the shared tape is never overwritten), with
 *   tapes small enough that histories are split over several;
 * - the walk without a log (entries skipped or their registers moved without backtrackInsn's
 *   call) marks every checkpoint exactly as the walk with a log does (every entry through
 *   backtrackInsn, the kernel's backtrack_insn), on random instructions, histories and checkpoints.
 */
import fc from 'fast-check';
import { decodeOp, type Insn, type Op } from '@bpf/isa';
import { afterEach, describe, expect, it } from 'vitest';
import { JumpHist, linkedWord, NOTE_CB, NOTE_DST_STACK, NOTE_SRC_STACK, noteSpill, setTapeWords } from './jmphist.js';
import { histEntries, markPrecise, propagatePrecision, type Checkpoint, type HistEntry, type Path, type PreciseEnv } from './precise.js';
import { newFrame, newState, NOT_INIT, pointer, setSlotType, setSpilled, SlotType, UNKNOWN, type Frame } from './state.js';

interface Entry {
  pc: number;
  depth: number;
  note: number;
  linked: number[] | undefined;
}

const entry: fc.Arbitrary<Entry> = fc.record({
  pc: fc.integer({ min: 0, max: 99 }),
  depth: fc.integer({ min: 0, max: 7 }),
  note: fc.oneof(
    { weight: 3, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 7 })).map(([s, f]) => noteSpill(s, f)) },
    { weight: 1, arbitrary: fc.constantFrom(NOTE_CB, NOTE_SRC_STACK, NOTE_DST_STACK, NOTE_SRC_STACK | NOTE_DST_STACK) },
  ),
  linked: fc.option(fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 63 }), fc.boolean()), { minLength: 2, maxLength: 6 }).map((ls) => ls.map(([f, n, s]) => linkedWord(f, s ? n : n % 11, s))), { nil: undefined }),
});

/** What histEntries gives for an entry added with these arguments. */
function decoded(e: Entry): HistEntry {
  const out: { -readonly [K in keyof HistEntry]: HistEntry[K] } = { pc: e.pc, depth: e.depth };
  if (e.note & 0x7f) {
    out.spi = (e.note & 0x7f) - 1;
    out.spiFrame = (e.note >> 7) & 0xf;
  }
  if (e.note & NOTE_CB) out.cb = true;
  if (e.linked) out.linked = e.linked.map((l) => (l & 1 ? { frame: l >> 7, n: (l >> 1) & 0x3f, slot: true } : { frame: l >> 7, n: (l >> 1) & 0x3f }));
  if (e.note & NOTE_SRC_STACK) out.srcStack = true;
  if (e.note & NOTE_DST_STACK) out.dstStack = true;
  return out;
}

type Action = { kind: 'add'; h: number; e: Entry } | { kind: 'fork'; h: number } | { kind: 'pop'; h: number; to: number };

afterEach(() => setTapeWords(undefined));

describe('JumpHist: histories sharing one array', () => {
  // tapes of 8 words (the longest entry's) and 13: nearly every history crosses tapes and is split in frozen segments
  it.each([undefined, 8, 13])('read back what a copy per history holds, whatever the order of appends, forks and pops (tape of %s words)', (words) => {
    setTapeWords(words);
    const action: fc.Arbitrary<Action> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('add' as const), h: fc.nat(), e: entry }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('fork' as const), h: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('pop' as const), h: fc.nat(), to: fc.nat() }) },
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 80 }), (actions) => {
        const hists = [new JumpHist()];
        const model: HistEntry[][] = [[]];
        for (const a of actions) {
          const h = a.h % hists.length;
          if (a.kind === 'add') {
            hists[h]!.add(a.e.pc, a.e.depth, a.e.note, a.e.linked);
            model[h]!.push(decoded(a.e));
          } else if (a.kind === 'fork') {
            hists.push(hists[h]!.slice());
            model.push(model[h]!.slice());
          } else if (model[h]!.length > 0) {
            // rerunEntry's pop, and the checkpoint's append of the entry taken off
            expect(hists[h]!.lastPc()).toBe(model[h]![model[h]!.length - 1]!.pc);
            const last = hists[h]!.pop();
            const e = model[h]!.pop()!;
            const to = a.to % hists.length;
            hists[to]!.append(last);
            model[to]!.push(e);
          }
          for (let k = 0; k < hists.length; k++) expect(histEntries(hists[k]!)).toEqual(model[k]);
        }
      }),
      { numRuns: 300 },
    );
  });
});

// ---- precision walks with and without a log ----

const code = (cls: number, op: number, src: number): number => cls | op | src;
/** Random instructions of the kinds backtrack_insn tells apart (no BPF-to-BPF calls, no stack arguments). */
const insnArb: fc.Arbitrary<Insn> = fc
  .tuple(
    // mostly register moves, arithmetic and comparisons (the walk's fast paths), some of the rest
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom(1, 2, 3, 3, 4, 5, 6, 9, 9, 10, 11, 15) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
    fc.integer({ min: 0, max: 9 }),
    fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 9 }) }, { weight: 1, arbitrary: fc.constant(10) }),
    fc.integer({ min: 1, max: 64 }),
  )
  .map(([k, d, src, slot]): Insn => {
    const off = -8 * slot;
    switch (k) {
      case 0:
        return { code: 0xb7, dst: d, src: 0, off: 0, imm: 3 }; // r = imm
      case 1:
        return { code: 0xbf, dst: d, src, off: 0, imm: 0 }; // r = r
      case 2:
        return { code: 0xbc, dst: d, src, off: 0, imm: 0 }; // w = w
      case 3:
        return { code: code(7, 0x00, 8), dst: d, src, off: 0, imm: 0 }; // r += r
      case 4:
        return { code: 0x07, dst: d, src: 0, off: 0, imm: 1 }; // r += imm
      case 5:
        return { code: 0x87, dst: d, src: 0, off: 0, imm: 0 }; // r = -r
      case 6:
        return { code: 0x79, dst: d, src: 10, off, imm: 0 }; // r = *(u64 *)(r10 - off)
      case 7:
        return { code: 0x7b, dst: 10, src, off, imm: 0 }; // *(u64 *)(r10 - off) = r
      case 8:
        return { code: 0x7a, dst: 10, src: 0, off, imm: 7 }; // *(u64 *)(r10 - off) = imm
      case 9:
        return { code: 0x2d, dst: d, src, off: 0, imm: 0 }; // if r > r
      case 10:
        return { code: 0x25, dst: d, src: 0, off: 0, imm: 5 }; // if r > imm
      case 11:
        return { code: 0x18, dst: d, src: 0, off: 0, imm: 1 }; // r = imm64
      case 12:
        return { code: 0x85, dst: 0, src: 0, off: 0, imm: 1 }; // call helper
      case 13:
        return { code: 0xdb, dst: 10, src, off, imm: 0 }; // lock *(u64 *)(r10 - off) += r
      case 14:
        return { code: 0x05, dst: 0, src: 0, off: 0, imm: 0 }; // goto
      default:
        return { code: 0x79, dst: d, src: 1, off: 8, imm: 0 }; // r = *(u64 *)(r1 + 8)
    }
  });

/** A frame with random scalar and other registers and scalar spills. */
const frameArb = fc.record({
  // mostly scalars not yet precise, so that walks go on through the checkpoints
  scalars: fc.oneof({ weight: 3, arbitrary: fc.constant(0x3ff) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x3ff }) }),
  spills: fc.array(fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 63 })), { maxLength: 8 }),
  precise: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x3ff }) }),
  preciseSlots: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer() }),
});

function frameOf(spec: { scalars: number; spills: number[] }): Frame {
  const f = newFrame(0, -1);
  for (let r = 0; r < 10; r++) f.regs[r] = spec.scalars & (1 << r) ? UNKNOWN : r % 2 ? NOT_INIT : pointer('ctx');
  f.regs[10] = pointer('fp');
  for (const s of spec.spills) {
    setSlotType(f, s * 8 + 7, SlotType.Spill);
    setSpilled(f, s, UNKNOWN);
  }
  return f;
}

interface Case {
  insns: Insn[];
  segments: { entries: { pc: number; spill: number; linked: number[] | undefined; stack: number }[]; frame: { scalars: number; spills: number[]; precise: number; preciseSlots: number } }[];
  regs: number;
  slots: number[];
  propagate: boolean;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  insns: fc.array(insnArb, { minLength: 2, maxLength: 12 }),
  segments: fc.array(
    fc.record({
      entries: fc.array(
        fc.record({
          pc: fc.nat(),
          spill: fc.oneof({ weight: 8, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) }),
          linked: fc.oneof(
            { weight: 12, arbitrary: fc.constant(undefined) },
            { weight: 1, arbitrary: fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.boolean()), { minLength: 2, maxLength: 4 }).map((ls) => ls.map(([n, s]) => linkedWord(0, s ? n * 3 : n, s))) },
          ),
          stack: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
        }),
        { maxLength: 60 },
      ),
      frame: frameArb,
    }),
    { minLength: 1, maxLength: 5 },
  ),
  regs: fc.oneof(fc.integer({ min: 0, max: 9 }).map((r) => 1 << r), fc.integer({ min: 0, max: 0x3ff })),
  slots: fc.array(fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 7 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 63 }) }), { maxLength: 3 }),
  propagate: fc.boolean(),
});

/** The case's checkpoints and path, made afresh (each walk marks its own). */
function build(c: Case): { path: Path; cps: Checkpoint[]; old: Checkpoint } {
  const cps: Checkpoint[] = [];
  let parent: Checkpoint | undefined;
  let hist = new JumpHist();
  const n = c.insns.length;
  c.segments.forEach((seg, k) => {
    hist = new JumpHist();
    for (const e of seg.entries) {
      const pc = e.pc % n;
      const note = (e.spill >= 0 ? noteSpill(e.spill, 0) : 0) | (e.stack & 1 ? NOTE_SRC_STACK : 0) | (e.stack & 2 ? NOTE_DST_STACK : 0);
      hist.add(pc, 0, note, e.linked);
    }
    if (k === c.segments.length - 1) return;
    const cp: Checkpoint = {
      pc: (k * 7) % n,
      state: newState([frameOf(seg.frame)], (k * 7) % n, 0),
      preciseRegs: [seg.frame.precise & 0x3ff & (k % 2 ? 0 : 0x3ff)],
      preciseSlots: [seg.frame.preciseSlots & (k % 2 ? 0 : -1), 0],
      branches: 1,
      parent,
      hist,
      lastIdx: k === 0 ? -1 : 3 % n,
      firstIdx: parent ? parent.pc : 0,
      hits: 0,
      misses: 0,
      plan: -1,
    };
    cps.push(cp);
    parent = cp;
  });
  const last = c.segments[c.segments.length - 1]!;
  const path = newState([frameOf(last.frame)], 2 % n, 1 % n) as Path;
  path.hist = hist;
  if (parent) path.cp = parent;
  const oldSpec = c.segments[0]!.frame;
  const old: Checkpoint = { ...cps[0]!, state: newState([frameOf(oldSpec)], 0, 0), preciseRegs: [oldSpec.precise], preciseSlots: [oldSpec.preciseSlots, oldSpec.preciseSlots >>> 7], parent: undefined };
  return { path, cps, old };
}

function envOf(insns: Insn[], logged: boolean): PreciseEnv {
  const ops = insns.map((i): Op => decodeOp(i));
  return {
    insns,
    opAt: (pc) => ops[pc]!,
    trace: logged ? () => undefined : undefined,
    insnText: (pc) => `${pc}`,
    checkpointText: () => '',
    isGlobalAt: () => false,
    callsCallback: () => false,
    subprogStart: () => 0,
  };
}

describe('precision tracking without a log', () => {
  it('marks every checkpoint as the walk through backtrack_insn for every entry does', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const marks = (env: PreciseEnv): number[][] => {
          const { path, cps, old } = build(c);
          if (c.propagate) propagatePrecision(env, old, path, () => true, () => true);
          else markPrecise(env, path, c.regs, c.slots, 0);
          return cps.flatMap((cp) => [cp.preciseRegs, cp.preciseSlots]);
        };
        const logged = marks(envOf(c.insns, true));
        // the walk learns an instruction's kind the first time it goes through backtrack_insn:
        // the same verification's later walks skip more
        const quiet = envOf(c.insns, false);
        for (let k = 0; k < 3; k++) expect(marks(quiet)).toEqual(logged);
        // histories split over small tapes (segments read newest first) mark the same, with a log and without
        setTapeWords(8);
        const split = [marks(envOf(c.insns, true)), marks(quiet)];
        setTapeWords(undefined);
        expect(split).toEqual([logged, logged]);
      }),
      { numRuns: 3000 },
    );
  });
});
