import { describe, expect, it } from 'vitest';
import { cloneFrame, copyReg, FRAME_OPTIONAL_FIELDS, known, newFrame, REG_OPTIONAL_FIELDS, UNKNOWN, type Frame, type Reg } from './state.js';

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

describe('cloneFrame', () => {
  it('copies every field of a frame, each optional one included, and its arrays', () => {
    const f = newFrame(2, 7, [0, 1]);
    const extras = Object.fromEntries(FRAME_OPTIONAL_FIELDS.map((k, n) => [k, { field: k, n }]));
    const g = { ...f, ...extras } as unknown as Frame;
    const c = cloneFrame(g);
    expect(c).toStrictEqual(g);
    for (const k of FRAME_OPTIONAL_FIELDS) expect(c[k]).toBe(g[k]);
    expect(c.regs).not.toBe(g.regs);
    expect(c.slotTypes).not.toBe(g.slotTypes);
    expect(c.spilled).not.toBe(g.spilled);
    expect(c.out).not.toBe(g.out);
  });
});
