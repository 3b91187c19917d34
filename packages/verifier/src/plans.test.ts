import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newCheckpoint, PlanStore, statesEqual, type Checkpoint, type Path } from './prune.js';
import { known, newFrame, newState, NOT_INIT, setSlotType, setSpilled, SlotType, UNKNOWN, type Reg, type State } from './state.js';

/**
 * The comparison plans of one verification (prune.ts PlanStore): a comparison with a checkpoint
 * whose plan was made long before (the store grown or compacted since, precision marks added
 * since, the checkpoint cleaned or dropped from its list since) answers as a comparison with a
 * plan made afresh for that checkpoint as it is now, in a store of its own. Checkpoints are made,
 * compared, marked precise, cleaned and dropped in random order, hundreds of them per run, so
 * that the store fills and grows (block copy) and compacts (plan by plan) several times.
 */
const PALETTE: readonly Reg[] = [known(0n), known(1n), known(2n), known(3n), known(0x80000000n), UNKNOWN, NOT_INIT];
/** The live registers at each of the four instructions the checkpoints are at. */
const LIVE = [0x3ff, 0x00f, 0x1f0, 0x2aa];

interface Shape {
  readonly pc: number;
  readonly regs: readonly number[];
  readonly slots: readonly (readonly [number, number])[];
}
const shape: fc.Arbitrary<Shape> = fc.record({
  pc: fc.integer({ min: 0, max: 3 }),
  regs: fc.array(fc.integer({ min: 0, max: PALETTE.length - 1 }), { minLength: 10, maxLength: 10 }),
  slots: fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: PALETTE.length - 2 })), { maxLength: 6 }),
});

function stateOf(s: Shape, pc = s.pc): Path {
  const f = newFrame(0, -1);
  for (let r = 0; r < 10; r++) f.regs[r] = PALETTE[s.regs[r]!]!;
  for (const [slot, v] of s.slots) {
    for (let b = slot * 8; b < slot * 8 + 8; b++) setSlotType(f, b, SlotType.Spill);
    setSpilled(f, slot, PALETTE[v]!);
  }
  f.allocated = 512;
  return newState([f], pc, pc) as Path;
}

type Op =
  | { readonly op: 'add'; readonly s: Shape }
  | { readonly op: 'compare'; readonly pick: number; readonly s: Shape; readonly rw: boolean; readonly near: boolean }
  | { readonly op: 'mark'; readonly pick: number; readonly reg: number; readonly slot: number }
  | { readonly op: 'clean'; readonly pick: number; readonly w0: number; readonly w1: number }
  | { readonly op: 'drop'; readonly pick: number };
const pick = fc.nat();
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('add' as const), s: shape }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('compare' as const), pick, s: shape, rw: fc.boolean(), near: fc.boolean() }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constant('mark' as const), pick, reg: fc.integer({ min: -1, max: 9 }), slot: fc.integer({ min: -1, max: 40 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('clean' as const), pick, w0: fc.integer(), w1: fc.integer() }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('drop' as const), pick }), weight: 1 },
);

/** The answer of a comparison with a plan made now, in a store of its own, and that plan's words. */
function fresh(cp: Checkpoint, cur: State, rw: boolean): [boolean, number[]] {
  const copy: Checkpoint = { ...cp, plan: -1, planMarks: false };
  const store = new PlanStore(() => [[copy]]);
  const equal = statesEqual(store, copy, cur, () => LIVE[cp.pc]!, true, rw);
  return [equal, [...store.words.subarray(0, store.top)]];
}

describe('comparison plans (PlanStore)', () => {
  it('answer as plans made afresh, across growth, compaction, precision marks, cleaning and drops', () => {
    let compared = 0;
    let equal = 0;
    let grown = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 600, maxLength: 1200 }), (ops) => {
        const list: Checkpoint[] = [];
        const shapes = new Map<Checkpoint, Shape>();
        const store = new PlanStore(() => [list], 1024);
        let size = 0;
        for (const o of ops) {
          if (o.op === 'add') {
            const cp = newCheckpoint(stateOf(o.s));
            cp.branches = 0;
            shapes.set(cp, o.s);
            list.push(cp);
            continue;
          }
          if (list.length === 0) continue;
          const k = o.pick % list.length;
          const cp = list[k]!;
          if (o.op === 'compare') {
            // near: the checkpoint's own state with one register and the slots of another (equal often)
            const own = shapes.get(cp)!;
            const r = o.pick % 10;
            const cur = stateOf(o.near ? { pc: cp.pc, regs: own.regs.map((v, i) => (i === r ? o.s.regs[i]! : v)), slots: o.pick % 3 === 0 ? o.s.slots : own.slots } : o.s, cp.pc);
            const [want, words] = fresh(cp, cur, o.rw);
            expect(statesEqual(store, cp, cur, () => LIVE[cp.pc]!, true, o.rw)).toBe(want);
            // and the plan it read holds the same words, precision marks included
            expect([...store.words.subarray(cp.plan, cp.plan + words.length)]).toEqual(words);
            compared++;
            if (want) equal++;
            if (store.words.length !== size) {
              if (size !== 0) grown++;
              size = store.words.length;
            }
          } else if (o.op === 'mark') {
            // as precise.ts marks a checkpoint: a bit set, the plan's copy of the marks out of date
            if (o.reg >= 0) cp.preciseRegs[0]! |= 1 << o.reg;
            if (o.slot >= 0) cp.preciseSlots[o.slot >> 5]! |= 1 << (o.slot & 31);
            cp.planMarks = false;
          } else if (o.op === 'clean') {
            // as verify.ts cleans one: the slots kept, its plan made again
            cp.cleaned = true;
            cp.alive = [o.w0 | 0, o.w1 | 0];
            cp.plan = -1;
          } else {
            list.splice(k, 1);
            cp.plan = -1;
          }
        }
      }),
      { numRuns: 12 },
    );
    expect(compared).toBeGreaterThan(1000);
    expect(equal).toBeGreaterThan(compared / 10);
    expect(equal).toBeLessThan(compared);
    // the store was replaced (grown or compacted) while plans in it were compared
    expect(grown).toBeGreaterThan(0);
  }, 60_000);
});
