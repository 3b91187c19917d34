/**
 * The printer against llvm-objdump-19 on every opcode byte, each with operand fields that
 * LLVM's decoder accepts or refuses (off, imm, src set where an instruction wants them zero):
 * the same text, `<unknown>` where objdump prints it, and a listing that goes on after it.
 * Encodings LLVM 19 predates are left out: load-acquire / store-release (atomic imm 0x100,
 * 0x110), which LLVM 19 decodes as `lock +=` or not at all and we print as the kernel does.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { decode, disassemble, formatInsn } from './index.js';

const VARIANTS: readonly (readonly [regs: number, off: number, imm: number])[] = [
  [0x21, 0, 0], [0x21, 1, 8], [0x01, -4, 16], [0x21, 8, 32], [0x10, 0, 64], [0x21, 0, 0x100],
  [0x21, 0, 0x110], [0x21, 0, 0xe1], [0x21, 0, 0xf1], [0x21, 0, 1], [0x21, 0, 0x41], [0x00, 0, 0],
];

function allSlots(): number[][] {
  const slots: number[][] = [];
  for (let code = 0; code < 256; code++) {
    for (const [regs, off, imm] of VARIANTS) {
      slots.push([code, regs, off & 0xff, (off >> 8) & 0xff, imm & 0xff, (imm >> 8) & 0xff, (imm >> 16) & 0xff, (imm >>> 24) & 0xff]);
      if (code === 0x18) slots.push([0, 0, 0, 0, 1, 0, 0, 0]);
    }
  }
  return slots;
}

const atomicAcqRel = (code: number, imm: number): boolean => (code & 0xe7) === 0xc3 && (imm === 0x100 || imm === 0x110);

describe.skipIf(skipWithout('llvm-mc-19', 'llvm-objdump-19'))('every opcode byte as llvm-objdump-19 prints it', () => {
  const slots = allSlots();
  const bytes = Uint8Array.from(slots.flat());
  const insns = decode(bytes, { strict: false });
  const dir = tempDir();
  writeFileSync(join(dir, 'a.s'), `.text\n.globl f\nf:\n${slots.map((b) => `  .byte ${b.join(', ')}`).join('\n')}\n`);
  run('llvm-mc-19', ['-triple', 'bpfel', '-filetype=obj', '-o', join(dir, 'a.o'), join(dir, 'a.s')]);
  const dump = run('llvm-objdump-19', ['-d', '--no-show-raw-insn', '--mcpu=v4', join(dir, 'a.o')]);
  const theirs = [...dump.matchAll(/^ *(\d+):\t(.*)$/gm)].map((m) => [Number(m[1]), m[2]!.replace(/ <[^<>]*>$/, '').trimEnd()] as const);

  it('prints the same text, <unknown> included', () => {
    const compared = theirs.filter(([idx]) => !atomicAcqRel(insns[idx]!.code, insns[idx]!.imm));
    const ours = compared.map(([idx]) => [idx, formatInsn(insns, idx, { syntax: 'llvm' })] as const);
    expect(ours).toEqual(compared);
    expect(compared.filter(([, t]) => t === '<unknown>').length).toBeGreaterThan(500);
    expect(compared.length).toBeGreaterThan(3000);
  });

  it('callx rN: the register is in dst', () => {
    const [callx] = decode(Uint8Array.of(0x8d, 0x01, 0, 0, 0, 0, 0, 0), { strict: false });
    expect(formatInsn([callx!], 0)).toBe('callx r1');
    expect(theirs.some(([, t]) => t === 'callx r1')).toBe(true);
  });

  it('a listing goes on past an undecodable slot', () => {
    const prog = decode(Uint8Array.of(0xb7, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x21, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0), { strict: false });
    expect(disassemble(prog)).toBe('   0: r0 = 0x0\n   1: <unknown>\n   2: exit\n');
  });
});
