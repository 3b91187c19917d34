/**
 * Opcode field families of the BPF instruction set.
 *
 * An opcode byte is laid out in one of two ways, chosen by its class (bits 0-2):
 *
 *     ALU/ALU64/JMP/JMP32:  +----------+--------+-------+
 *                           | op (4)   | src(1) | class |   op: bits 4-7, source: bit 3
 *                           +----------+--------+-------+
 *     LD/LDX/ST/STX:        +----------+--------+-------+
 *                           | mode (3) | size(2)| class |   mode: bits 5-7, size: bits 3-4
 *                           +----------+--------+-------+
 *
 * Each constant below is the field's bits *in place*, so `code & MASK` compares directly.
 * Values from include/uapi/linux/bpf.h and bpf_common.h.
 */

export const CLASS_MASK = 0x07;
export const Class = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;
export type Class = (typeof Class)[keyof typeof Class];

export const SIZE_MASK = 0x18;
export const Size = {
  W: 0x00,
  H: 0x08,
  B: 0x10,
  DW: 0x18,
} as const;
export type Size = (typeof Size)[keyof typeof Size];

export const MODE_MASK = 0xe0;
export const Mode = {
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  MEMSX: 0x80,
  ATOMIC: 0xc0,
} as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

export const SOURCE_MASK = 0x08;
export const Source = {
  K: 0x00,
  X: 0x08,
} as const;
export type Source = (typeof Source)[keyof typeof Source];

export const OP_MASK = 0xf0;
export const AluOp = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;
export type AluOp = (typeof AluOp)[keyof typeof AluOp];

export const JmpOp = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
  JCOND: 0xe0,
} as const;
export type JmpOp = (typeof JmpOp)[keyof typeof JmpOp];

/** `imm` of an atomic instruction (STX | ATOMIC). */
export const AtomicOp = {
  ADD: 0x00,
  OR: 0x40,
  AND: 0x50,
  XOR: 0xa0,
  FETCH: 0x01,
  XCHG: 0xe1,
  CMPXCHG: 0xf1,
  LOAD_ACQ: 0x100,
  STORE_REL: 0x110,
} as const;
export type AtomicOp = (typeof AtomicOp)[keyof typeof AtomicOp];

/** `src` of `ld_imm64` (BPF_PSEUDO_*). */
export const PseudoLd = {
  IMM: 0,
  MAP_FD: 1,
  MAP_VALUE: 2,
  BTF_ID: 3,
  FUNC: 4,
  MAP_IDX: 5,
  MAP_IDX_VALUE: 6,
} as const;
export type PseudoLd = (typeof PseudoLd)[keyof typeof PseudoLd];

/** `src` of a call. */
export const PseudoCall = {
  HELPER: 0,
  CALL: 1,
  KFUNC: 2,
} as const;
export type PseudoCall = (typeof PseudoCall)[keyof typeof PseudoCall];

/** `src` of JMP|JCOND. */
export const MAY_GOTO = 0;

/** Registers. r10 is the read-only frame pointer; r11 (`BPF_REG_PARAMS`) is the stack-argument base. */
export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11;
export const R0 = 0,
  R1 = 1,
  R2 = 2,
  R3 = 3,
  R4 = 4,
  R5 = 5,
  R6 = 6,
  R7 = 7,
  R8 = 8,
  R9 = 9,
  R10 = 10,
  R11 = 11;
export const FP: Reg = 10;
/** `BPF_REG_PARAMS`: base register of the stack-argument area (apps/docs/stack-args.md §1). */
export const REG_PARAMS: Reg = 11;
/** `MAX_BPF_REG` counting r11. */
export const MAX_BPF_REG = 11;

/** Argument limits (apps/docs/stack-args.md §1). */
export const MAX_BPF_FUNC_ARGS = 12;
export const MAX_BPF_FUNC_REG_ARGS = 5;
export const MAX_STACK_ARG_SLOTS = MAX_BPF_FUNC_ARGS - MAX_BPF_FUNC_REG_ARGS;
/** Bytes of BPF stack per frame. */
export const MAX_BPF_STACK = 512;

export function isReg(n: number): n is Reg {
  return Number.isInteger(n) && n >= 0 && n <= 11;
}

export const sizeBytes = (size: Size): 1 | 2 | 4 | 8 =>
  size === Size.B ? 1 : size === Size.H ? 2 : size === Size.W ? 4 : 8;

export const sizeFromBytes = (bytes: number): Size =>
  bytes === 1 ? Size.B : bytes === 2 ? Size.H : bytes === 4 ? Size.W : Size.DW;
