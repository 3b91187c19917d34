import { describe, expect, it } from 'vitest';
import { clearOut, cloneFrame, copyReg, fillSlotTypes, FRAME_OPTIONAL_FIELDS, known, newFrame, pointer, REG_OPTIONAL_FIELDS, setOut, setSlotType, setSpilled, SlotType, UNKNOWN, type Frame, type Reg } from './state.js';

describe('copyReg', () => {
  it('copies every field of a register, each optional one included', () => {
    // a distinct value per optional field, so a field copied into another's place shows too
    const extras = Object.fromEntries(REG_OPTIONAL_FIELDS.map((k, n) => [k, { field: k, n }]));
    const r = { ...known(-7n), type: 'map_value', off: 12, ...extras } as unknown as Reg;
    const c = copyReg(r);
    expect(c).not.toBe(r);
    expect(c).toStrictEqual(r);
    for (const k of REG_OPTIONAL_FIELDS) expect(c[k]).toBe(r[k]);
  });

  it('copies a plain scalar as it is and leaves out fields that are present but undefined', () => {
    expect(copyReg(UNKNOWN)).toStrictEqual(UNKNOWN);
    const r: Reg = { ...known(3n), id: undefined };
    expect('id' in copyReg(r)).toBe(false);
    expect(copyReg(r)).toEqual(r);
  });
});

describe('register shapes', () => {
  it('are two: the eleven fields of a register without optional ones, or every field', () => {
    const narrow = Object.keys(UNKNOWN);
    expect(narrow).toHaveLength(11);
    expect(Object.keys(copyReg(known(3n)))).toEqual(narrow);
    // unlinking a scalar with only its link gives the narrow shape back
    const linked = copyReg(known(3n), false, true);
    linked.id = 4;
    expect(Object.keys(copyReg(linked, true))).toEqual(narrow);
    const wide = Object.keys(copyReg(linked));
    expect(wide).toEqual([...narrow, ...REG_OPTIONAL_FIELDS]);
    expect(Object.keys(pointer('map_value', { off: 8 }))).toEqual(wide);
    expect(Object.keys(pointer('ctx'))).toEqual(narrow);
  });
});

describe('cloneFrame', () => {
  it('copies every field of a frame, each optional one included, and its registers', () => {
    const f = newFrame(2, 7, [0, 1]);
    const extras = Object.fromEntries(FRAME_OPTIONAL_FIELDS.map((k, n) => [k, { field: k, n }]));
    const g = { ...f, ...extras } as unknown as Frame;
    const c = cloneFrame(g);
    expect(c).toStrictEqual(g);
    for (const k of FRAME_OPTIONAL_FIELDS) expect(c[k]).toBe(g[k]);
    expect(c.regs).not.toBe(g.regs);
    // the outgoing stack arguments are replaced, never changed in place: shared
    expect(c.out).toBe(g.out);
  });

  it('replaces the outgoing stack arguments on a write, leaving those of a copy as they were', () => {
    const f = newFrame(0, -1);
    const c = cloneFrame(f);
    setOut(c, 2, UNKNOWN);
    expect(c.out[2]).toBe(UNKNOWN);
    expect(f.out[2]).toBeUndefined();
    const d = cloneFrame(c);
    clearOut(c);
    expect(c.out.every((r) => r === undefined)).toBe(true);
    expect(d.out[2]).toBe(UNKNOWN);
  });

  it('shares the stack until one of the two frames writes it, then that one writes its own copy', () => {
    const f = newFrame(0, -1);
    setSpilled(f, 3, UNKNOWN);
    fillSlotTypes(f, SlotType.Spill, 24, 32);
    const c = cloneFrame(f);
    expect(c.slotTypes).toBe(f.slotTypes);
    expect(c.spilled).toBe(f.spilled);
    // a write that changes nothing copies nothing
    setSpilled(c, 3, UNKNOWN);
    setSlotType(c, 24, SlotType.Spill);
    fillSlotTypes(c, SlotType.Spill, 24, 32);
    expect(c.slotTypes).toBe(f.slotTypes);
    expect(c.spilled).toBe(f.spilled);
    setSlotType(c, 0, SlotType.Misc);
    setSpilled(c, 3, undefined);
    expect(c.slotTypes[0]).toBe(SlotType.Misc);
    expect(f.slotTypes[0]).toBe(SlotType.Invalid);
    expect(c.spilled[3]).toBeUndefined();
    expect(f.spilled[3]).toBe(UNKNOWN);
    // the original still shared its stack with the copy when it was made: its first write copies too
    const d = cloneFrame(f);
    fillSlotTypes(f, SlotType.Zero, 0, 8);
    setSpilled(f, 5, UNKNOWN);
    expect([...d.slotTypes.subarray(0, 8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(d.spilled[5]).toBeUndefined();
    expect([...c.slotTypes.subarray(0, 8)]).toEqual([SlotType.Misc, 0, 0, 0, 0, 0, 0, 0]);
    expect([...f.slotTypes.subarray(0, 8)]).toEqual(new Array(8).fill(SlotType.Zero));
    expect([...f.slotTypes.subarray(24, 32)]).toEqual(new Array(8).fill(SlotType.Spill));
  });
});
