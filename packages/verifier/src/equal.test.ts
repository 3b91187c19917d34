import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newCheckpoint, PlanStore, statesEqual, statesEqualPlain, type Checkpoint, type Path } from './prune.js';
import { fillSlotTypes, known, newFrame, newState, NOT_INIT, pointer, setSlotType, setSpilled, SlotType, UNKNOWN, type Frame, type Reg } from './state.js';

/**
 * statesEqual (prune.ts), with its plan, screens and the shortcuts its stack walk takes from what
 * the plan knows, answers as statesEqualPlain, the comparison without any of them: every live
 * register by regsafe, every live slot byte by byte. States are made of registers and stack slots
 * from small palettes (scalars and pointers with and without ids, spills of 64 and 32 bits, misc and
 * zero bytes, iterators), the current one mostly a few changes away from the checkpoint's, under
 * random precision marks, cleaning (slots kept), live registers, allocated stack and RANGE_WITHIN.
 */
const REGS: readonly Reg[] = [
  known(0n),
  known(1n),
  known(7n),
  known(0x80000000n),
  UNKNOWN,
  { ...UNKNOWN, umax: 100n, smin: 0n, smax: 100n, u32max: 100, s32min: 0, s32max: 100 },
  { ...UNKNOWN, id: 6 },
  { ...UNKNOWN, id: 7 },
  NOT_INIT,
  pointer('map_value', { off: 0 }),
  pointer('map_value', { off: 8 }),
  pointer('map_value_or_null', { id: 3 }),
  pointer('map_value_or_null', { id: 4 }),
  pointer('pkt', { id: 5, range: 14 }),
  pointer('pkt', { id: 5, range: 34 }),
  pointer('ctx'),
];
const ITERS: readonly Reg[] = [
  { ...NOT_INIT, type: 'iter', iter: { kind: 'num', state: 'active', depth: 0 } },
  { ...NOT_INIT, type: 'iter', iter: { kind: 'num', state: 'drained', depth: 0 } },
];
/** Slot contents: invalid, misc, zero, a 64-bit spill, a 32-bit spill over misc, misc and zero bytes, an iterator. */
const KINDS = 7;
const LIVE = [0x7ff, 0x00f, 0x1f1, 0x2aa];

interface Shape {
  readonly regs: readonly number[];
  readonly slots: readonly (readonly [number, number, number])[];
  readonly allocated: number;
}
const shape: fc.Arbitrary<Shape> = fc.record({
  regs: fc.array(fc.integer({ min: 0, max: REGS.length - 1 }), { minLength: 11, maxLength: 11 }),
  slots: fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: KINDS - 1 }), fc.nat()), { maxLength: 8 }),
  allocated: fc.oneof(fc.constant(512), fc.integer({ min: 0, max: 48 }).map((n) => n * 8)),
});

function fill(f: Frame, slot: number, kind: number, v: number): void {
  const b = slot * 8;
  const r = REGS[v % REGS.length]!;
  switch (kind) {
    case 0:
      fillSlotTypes(f, SlotType.Invalid, b, b + 8);
      setSpilled(f, slot, undefined);
      return;
    case 1:
      fillSlotTypes(f, SlotType.Misc, b, b + 8);
      return;
    case 2:
      fillSlotTypes(f, SlotType.Zero, b, b + 8);
      return;
    case 3:
      fillSlotTypes(f, SlotType.Spill, b, b + 8);
      setSpilled(f, slot, r.type === 'not_init' ? UNKNOWN : r);
      return;
    case 4:
      fillSlotTypes(f, SlotType.Misc, b, b + 4);
      fillSlotTypes(f, SlotType.Spill, b + 4, b + 8);
      setSpilled(f, slot, r.type === 'not_init' ? UNKNOWN : r);
      return;
    case 5:
      for (let j = 0; j < 8; j++) setSlotType(f, b + j, (v >> j) & 1 ? SlotType.Zero : SlotType.Misc);
      return;
    default:
      fillSlotTypes(f, SlotType.Iter, b, b + 8);
      setSpilled(f, slot, ITERS[v % ITERS.length]);
  }
}

function stateOf(s: Shape): Path {
  const f = newFrame(0, -1);
  for (let r = 0; r < 11; r++) f.regs[r] = REGS[s.regs[r]!]!;
  for (const [slot, kind, v] of s.slots) fill(f, slot, kind, v);
  f.allocated = s.allocated;
  return newState([f], 0, 0) as Path;
}

interface Case {
  readonly old: Shape;
  /** Changes that make the current state from the old one: a register, a slot. */
  readonly regChanges: readonly (readonly [number, number])[];
  readonly slotChanges: readonly (readonly [number, number, number])[];
  readonly allocated: number | undefined;
  readonly live: number;
  readonly preciseRegs: number;
  readonly preciseSlots: readonly [number, number];
  readonly alive: readonly [number, number] | undefined;
  readonly rw: boolean;
}
const aCase: fc.Arbitrary<Case> = fc.record({
  old: shape,
  regChanges: fc.array(fc.tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: REGS.length - 1 })), { maxLength: 2 }),
  slotChanges: fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: KINDS - 1 }), fc.nat()), { maxLength: 2 }),
  allocated: fc.option(fc.integer({ min: 0, max: 64 }).map((n) => n * 8), { nil: undefined }),
  live: fc.constantFrom(...LIVE),
  preciseRegs: fc.oneof(fc.constant(0), fc.constant(-1), fc.integer()),
  preciseSlots: fc.tuple(fc.oneof(fc.constant(0), fc.constant(-1), fc.integer()), fc.oneof(fc.constant(0), fc.constant(-1), fc.integer())),
  alive: fc.option(fc.tuple(fc.oneof(fc.constant(-1), fc.integer()), fc.oneof(fc.constant(-1), fc.integer())), { nil: undefined }),
  rw: fc.boolean(),
});

function run(c: Case): [boolean, boolean] {
  const cp: Checkpoint = newCheckpoint(stateOf(c.old));
  cp.branches = 0;
  cp.preciseRegs[0] = c.preciseRegs;
  cp.preciseSlots[0] = c.preciseSlots[0];
  cp.preciseSlots[1] = c.preciseSlots[1];
  if (c.alive) {
    cp.cleaned = true;
    cp.alive = [...c.alive];
  }
  const cur = stateOf(c.old);
  const f = cur.frames[0]!;
  for (const [r, v] of c.regChanges) f.regs[r] = REGS[v]!;
  for (const [slot, kind, v] of c.slotChanges) fill(f, slot, kind, v);
  if (c.allocated !== undefined) f.allocated = c.allocated;
  const store = new PlanStore(() => [[cp]]);
  const live = (): number => c.live;
  // twice: the plan made on the first comparison, and read on the second
  const a = statesEqual(store, cp, cur, live, true, c.rw);
  const b = statesEqual(store, cp, cur, live, true, c.rw);
  expect(b).toBe(a);
  return [a, statesEqualPlain(cp, cur, live, true, c.rw)];
}

describe('statesEqual against statesEqualPlain', () => {
  it('answers as the comparison without plans or shortcuts', () => {
    let equal = 0;
    let n = 0;
    fc.assert(
      fc.property(aCase, (c) => {
        const [fast, plain] = run(c);
        expect(fast).toBe(plain);
        n++;
        if (plain) equal++;
      }),
      { numRuns: 20_000 },
    );
    // both answers come up often
    expect(equal).toBeGreaterThan(n / 20);
    expect(equal).toBeLessThan(n - n / 20);
  }, 120_000);
});
