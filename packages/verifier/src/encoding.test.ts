/**
 * Encoding errors where the kernel gives them: reserved fields, register numbers past r10 and r11
 * outside the stack-argument forms are refused when the walk reaches the instruction (do_check's
 * per-class checks, then check_reg_arg: fields first, the source register, then the destination;
 * a conditional jump reads its destination first), after the instructions before it are
 * processed; BPF_LDX's reserved fields, unknown opcodes and bad ld_imm64 pairs before the walk.
 * Live: 400 programs, each with one slot drawn from every class with random registers, offsets
 * and immediates, after four instructions that set r0, r1, r2 and r6; verdict, first error,
 * processed count and level-2 log equal to the running kernel's.
 */
import type { Insn, Program } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, it } from 'vitest';
import { expectSameAsKernel, kernelApi } from './kernel.test.helper.js';

const CODES = [
  0x04, 0x07, 0x0c, 0x0f, 0x14, 0x17, 0x1c, 0x1f, 0x24, 0x27, 0x2c, 0x2f, 0x34, 0x37, 0x3c, 0x3f, 0x44, 0x47, 0x4c, 0x4f, 0x54, 0x57, 0x5c, 0x5f, 0x64, 0x67, 0x6c, 0x6f, 0x74,
  0x77, 0x7c, 0x7f, 0x84, 0x87, 0x94, 0x97, 0x9c, 0x9f, 0xa4, 0xa7, 0xac, 0xaf, 0xb4, 0xb7, 0xbc, 0xbf, 0xc4, 0xc7, 0xcc, 0xcf, 0xd4, 0xdc, 0xd7, 0x05, 0x06, 0x15, 0x1d, 0x16,
  0x1e, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0x7d, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x85, 0x95, 0xe5, 0x61, 0x69, 0x71, 0x79, 0x81,
  0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50,
];

/** A fixed linear congruential sequence: the same programs on every run. */
function cases(n: number): { name: string; program: Program }[] {
  let seed = 3;
  const rnd = (k: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * k);
  };
  const mov = (dst: number, src: number | undefined): Insn => (src === undefined ? { code: 0xb7, dst, src: 0, off: 0, imm: 0 } : { code: 0xbf, dst, src, off: 0, imm: 0 });
  const out: { name: string; program: Program }[] = [];
  for (let t = 0; t < n; t++) {
    const pick = (): number => [0, 0, 1, 2, 10, 11, 12, 15][rnd(8)]!;
    const slot: Insn = { code: CODES[rnd(CODES.length)]!, dst: pick(), src: pick(), off: [0, 0, 1, -8, 8, 16][rnd(6)]!, imm: [0, 0, 1, 16, 32, 64, -1][rnd(7)]! };
    const insns = [mov(6, 1), mov(0, undefined), mov(1, undefined), mov(2, undefined), slot, mov(0, undefined), { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }];
    out.push({ name: `${t}: code 0x${slot.code.toString(16)} dst ${slot.dst} src ${slot.src} off ${slot.off} imm ${slot.imm}`, program: { insns, type: 'socket_filter', license: 'GPL' } as Program });
  }
  // the selftests' read_invalid_register (verifier_uninit.c): r0 = r15 first
  out.push({ name: 'r0 = r15 first', program: { insns: [{ code: 0xbf, dst: 0, src: 15, off: 0, imm: 0 }, { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }], type: 'socket_filter', license: 'GPL' } as Program });
  // addr_space_cast without an arena: refused where reached, the address spaces checked first
  for (const imm of [1, 1 << 16, 2])
    out.push({ name: `addr_space_cast imm ${imm}, no arena`, program: { insns: [mov(0, undefined), { code: 0xbf, dst: 0, src: 0, off: 1, imm }, { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }], type: 'socket_filter', license: 'GPL' } as Program });
  return out;
}

describe.skipIf(skipWithout('kernel') || kernelApi === undefined)('encoding errors where the walk reaches them, live', () => {
  it.each(cases(400).map((c) => [c.name, c.program] as const))('%s', (name, program) => expectSameAsKernel(name, program));
});
