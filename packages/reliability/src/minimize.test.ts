import { assemble, disassemble, insn } from '@bpf/isa';
import { describe, expect, it } from 'vitest';
import { minimize, removeInsn } from './minimize.js';

describe('minimize', () => {
  it('keeps jumps pointing at the same instructions when one before them goes', () => {
    const p = assemble('r0 = 1\nr1 = 2\nif r1 > 0 goto l\nr0 = 3\nl:\nexit').insns;
    const q = removeInsn(p, 1)!;
    expect(disassemble(q, { syntax: 'kernel' })).toBe('0: (b7) r0 = 1\n1: (25) if r1 > 0x0 goto pc+1\n2: (b7) r0 = 3\n3: (95) exit\n');
    expect(removeInsn(p, 4)).toBeNull(); // the jump target itself cannot go
  });
  it('shrinks a program to what the failure needs', () => {
    const p = assemble('r0 = 1\nr1 = 2\nr2 = 3\nr9 = 0x1234\nr3 = 4\nif r3 > 2 goto l\nr4 = 5\nl:\nr0 = 0x1234\nexit').insns;
    // "fails" while it still moves 0x1234 into r9 and still exits
    const fails = (x: readonly { code: number; dst: number; imm: number }[]): boolean =>
      x.some((i) => i.code === 0xb7 && i.dst === 9 && i.imm === 0x1234) && x[x.length - 1]!.code === 0x95;
    const m = minimize(p, fails);
    expect(m).toEqual([insn(0xb7, 9, 0, 0, 0x1234), insn(0x95, 0, 0, 0, 0)]);
  });
});
