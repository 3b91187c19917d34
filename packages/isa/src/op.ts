/**
 * Decoded operations: one distinct kind per operation, so that no upper layer needs to
 * inspect `off` (sdiv/smod, movsx, sign-extending loads) or `imm` (atomics, endianness) to
 * learn what an instruction does.
 */
import type { Insn } from './insn.js';
import {
  AluOp,
  AtomicOp,
  Class,
  CLASS_MASK,
  JmpOp,
  Mode,
  MODE_MASK,
  OP_MASK,
  Size,
  SIZE_MASK,
  Source,
  SOURCE_MASK,
  sizeBytes,
} from './opcodes.js';

export type AluName =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'sdiv'
  | 'or'
  | 'and'
  | 'lsh'
  | 'rsh'
  | 'neg'
  | 'mod'
  | 'smod'
  | 'xor'
  | 'mov'
  | 'movsx'
  | 'arsh';

export type JmpCond =
  | 'ja'
  | 'jeq'
  | 'jgt'
  | 'jge'
  | 'jset'
  | 'jne'
  | 'jsgt'
  | 'jsge'
  | 'jlt'
  | 'jle'
  | 'jslt'
  | 'jsle';

export type AtomicName = 'add' | 'or' | 'and' | 'xor' | 'xchg' | 'cmpxchg' | 'load_acquire' | 'store_release';

export type AccessSize = 1 | 2 | 4 | 8;

export type Op =
  | { readonly kind: 'alu'; readonly op: AluName; readonly is64: boolean; readonly useReg: boolean; readonly sxBits?: 8 | 16 | 32 }
  | { readonly kind: 'endian'; readonly order: 'le' | 'be' | 'bswap'; readonly bits: 16 | 32 | 64 }
  | { readonly kind: 'jmp'; readonly cond: JmpCond; readonly is64: boolean; readonly useReg: boolean }
  /** `gotol`: JMP32|JA with the target in `imm`. */
  | { readonly kind: 'gotol' }
  | { readonly kind: 'may_goto' }
  | { readonly kind: 'call'; readonly target: 'helper' | 'subprog' | 'kfunc' }
  | { readonly kind: 'exit' }
  | { readonly kind: 'ld_imm64'; readonly pseudo: number }
  | { readonly kind: 'ldx'; readonly size: AccessSize; readonly signed: boolean }
  | { readonly kind: 'st'; readonly size: AccessSize }
  | { readonly kind: 'stx'; readonly size: AccessSize }
  | { readonly kind: 'atomic'; readonly op: AtomicName; readonly size: AccessSize; readonly fetch: boolean }
  | { readonly kind: 'ld_abs'; readonly size: AccessSize }
  | { readonly kind: 'ld_ind'; readonly size: AccessSize }
  /** Second slot of an `ld_imm64`. */
  | { readonly kind: 'ld_imm64_hi' }
  | { readonly kind: 'invalid' };

const ALU_NAMES: Record<number, AluName | undefined> = {
  [AluOp.ADD]: 'add',
  [AluOp.SUB]: 'sub',
  [AluOp.MUL]: 'mul',
  [AluOp.DIV]: 'div',
  [AluOp.OR]: 'or',
  [AluOp.AND]: 'and',
  [AluOp.LSH]: 'lsh',
  [AluOp.RSH]: 'rsh',
  [AluOp.NEG]: 'neg',
  [AluOp.MOD]: 'mod',
  [AluOp.XOR]: 'xor',
  [AluOp.MOV]: 'mov',
  [AluOp.ARSH]: 'arsh',
};

const JMP_CONDS: Record<number, JmpCond | undefined> = {
  [JmpOp.JA]: 'ja',
  [JmpOp.JEQ]: 'jeq',
  [JmpOp.JGT]: 'jgt',
  [JmpOp.JGE]: 'jge',
  [JmpOp.JSET]: 'jset',
  [JmpOp.JNE]: 'jne',
  [JmpOp.JSGT]: 'jsgt',
  [JmpOp.JSGE]: 'jsge',
  [JmpOp.JLT]: 'jlt',
  [JmpOp.JLE]: 'jle',
  [JmpOp.JSLT]: 'jslt',
  [JmpOp.JSLE]: 'jsle',
};

/** Reverse maps, derived (never hand-written). */
export const ALU_OP_CODE: Readonly<Record<AluName, number>> = Object.fromEntries([
  ...Object.entries(ALU_NAMES).map(([k, v]) => [v, Number(k)]),
  ['sdiv', AluOp.DIV],
  ['smod', AluOp.MOD],
  ['movsx', AluOp.MOV],
]) as Record<AluName, number>;
export const JMP_OP_CODE: Readonly<Record<JmpCond, number>> = Object.fromEntries(
  Object.entries(JMP_CONDS).map(([k, v]) => [v, Number(k)]),
) as Record<JmpCond, number>;

const ATOMIC_NAMES: Record<number, AtomicName | undefined> = {
  [AtomicOp.ADD]: 'add',
  [AtomicOp.OR]: 'or',
  [AtomicOp.AND]: 'and',
  [AtomicOp.XOR]: 'xor',
  [AtomicOp.XCHG]: 'xchg',
  [AtomicOp.CMPXCHG]: 'cmpxchg',
  [AtomicOp.LOAD_ACQ]: 'load_acquire',
  [AtomicOp.STORE_REL]: 'store_release',
};
export const ATOMIC_OP_IMM: Readonly<Record<AtomicName, number>> = Object.fromEntries(
  Object.entries(ATOMIC_NAMES).map(([k, v]) => [v, Number(k)]),
) as Record<AtomicName, number>;

const INVALID: Op = { kind: 'invalid' };
const LD_IMM64_HI: Op = { kind: 'ld_imm64_hi' };

/**
 * Ops already decoded, by the code (with `src` for jumps and `ld_imm64`, whose ops name it):
 * encodings whose op depends on `off` or `imm` (sdiv/smod, movsx, endianness, atomics) are
 * decoded every time. An op is immutable, so one object serves every instruction of its
 * encoding; the verifier and its passes decoded each instruction several times (issue 25).
 */
const opCache: (Op | undefined)[] = new Array<Op | undefined>(0x1000).fill(undefined);

/**
 * What an instruction is. Pure and total: encodings the kernel does not accept yield
 * `{ kind: 'invalid' }` (use {@link checkInsn} for the reason). `prev` is the slot before,
 * used only to recognise the second half of an `ld_imm64`. Instructions of one encoding may
 * get the same (immutable) object.
 */
export function decodeOp(i: Insn, prevIsLdImm64First = false): Op {
  if (prevIsLdImm64First) return LD_IMM64_HI;
  const code = i.code;
  if (code !== (code & 0xff)) return decodeFresh(i);
  let key = code;
  switch (code & CLASS_MASK) {
    case Class.ALU:
    case Class.ALU64:
      if ((code & OP_MASK) === AluOp.END || i.off !== 0) return decodeFresh(i);
      break;
    case Class.JMP:
    case Class.JMP32:
    case Class.LD:
      if (i.src !== (i.src & 0xf)) return decodeFresh(i);
      key |= i.src << 8;
      break;
    case Class.STX:
      if ((code & MODE_MASK) === Mode.ATOMIC) return decodeFresh(i);
      break;
    default:
      break;
  }
  return (opCache[key] ??= decodeFresh(i));
}

function decodeFresh(i: Insn): Op {
  const cls = i.code & CLASS_MASK;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const op = i.code & OP_MASK;
      const is64 = cls === Class.ALU64;
      const useReg = (i.code & SOURCE_MASK) === Source.X;
      if (op === AluOp.END) {
        if (i.imm !== 16 && i.imm !== 32 && i.imm !== 64) return INVALID;
        if (is64) return useReg ? INVALID : { kind: 'endian', order: 'bswap', bits: i.imm };
        return { kind: 'endian', order: useReg ? 'be' : 'le', bits: i.imm };
      }
      const name = ALU_NAMES[op];
      if (name === undefined) return INVALID;
      if ((op === AluOp.DIV || op === AluOp.MOD) && i.off === 1)
        return { kind: 'alu', op: op === AluOp.DIV ? 'sdiv' : 'smod', is64, useReg };
      if (op === AluOp.MOV && useReg && (i.off === 8 || i.off === 16 || (i.off === 32 && is64)))
        return { kind: 'alu', op: 'movsx', is64, useReg, sxBits: i.off };
      return { kind: 'alu', op: name, is64, useReg };
    }
    case Class.JMP:
    case Class.JMP32: {
      const op = i.code & OP_MASK;
      const is64 = cls === Class.JMP;
      const useReg = (i.code & SOURCE_MASK) === Source.X;
      if (op === JmpOp.CALL) {
        if (!is64 || useReg) return INVALID;
        return i.src === 0
          ? { kind: 'call', target: 'helper' }
          : i.src === 1
            ? { kind: 'call', target: 'subprog' }
            : i.src === 2
              ? { kind: 'call', target: 'kfunc' }
              : INVALID;
      }
      if (op === JmpOp.EXIT) return is64 && !useReg ? { kind: 'exit' } : INVALID;
      if (op === JmpOp.JCOND) return is64 && !useReg ? { kind: 'may_goto' } : INVALID;
      if (op === JmpOp.JA) {
        if (useReg) return INVALID;
        return is64 ? { kind: 'jmp', cond: 'ja', is64, useReg } : { kind: 'gotol' };
      }
      const cond = JMP_CONDS[op];
      return cond === undefined ? INVALID : { kind: 'jmp', cond, is64, useReg };
    }
    case Class.LD: {
      const mode = i.code & MODE_MASK;
      const size = (i.code & SIZE_MASK) as Size;
      if (mode === Mode.IMM) return size === Size.DW ? { kind: 'ld_imm64', pseudo: i.src } : INVALID;
      if (mode === Mode.ABS && size !== Size.DW) return { kind: 'ld_abs', size: sizeBytes(size) };
      if (mode === Mode.IND && size !== Size.DW) return { kind: 'ld_ind', size: sizeBytes(size) };
      return INVALID;
    }
    case Class.LDX: {
      const mode = i.code & MODE_MASK;
      const size = sizeBytes((i.code & SIZE_MASK) as Size);
      if (mode === Mode.MEM) return { kind: 'ldx', size, signed: false };
      if (mode === Mode.MEMSX && size !== 8) return { kind: 'ldx', size, signed: true };
      return INVALID;
    }
    case Class.ST: {
      const mode = i.code & MODE_MASK;
      return mode === Mode.MEM ? { kind: 'st', size: sizeBytes((i.code & SIZE_MASK) as Size) } : INVALID;
    }
    default: {
      // Class.STX
      const mode = i.code & MODE_MASK;
      const size = sizeBytes((i.code & SIZE_MASK) as Size);
      if (mode === Mode.MEM) return { kind: 'stx', size };
      if (mode !== Mode.ATOMIC) return INVALID;
      // add/or/and/xor come with or without BPF_FETCH; xchg and cmpxchg always carry it.
      const fetchable = i.imm & ~AtomicOp.FETCH;
      const name = ATOMIC_NAMES[i.imm] ?? (fetchable < 0x100 && fetchable !== 0xe0 && fetchable !== 0xf0 ? ATOMIC_NAMES[fetchable] : undefined);
      if (name === undefined) return INVALID;
      if (name === 'load_acquire' || name === 'store_release') return { kind: 'atomic', op: name, size, fetch: false };
      if (size !== 4 && size !== 8) return INVALID;
      const fetch = (i.imm & AtomicOp.FETCH) !== 0;
      return { kind: 'atomic', op: name, size, fetch };
    }
  }
}

/** Ops that read a `u64` from `r11 + 8k` or write one to `r11 - 8k` (apps/docs/stack-args.md §2). */
export function stackArgAccess(i: Insn): { readonly dir: 'load' | 'store'; readonly slot: number } | null {
  if (i.code === 0x79 && i.src === 11 && i.off > 0 && i.off % 8 === 0) return { dir: 'load', slot: i.off / 8 - 1 };
  if ((i.code === 0x7b || i.code === 0x7a) && i.dst === 11 && i.off < 0 && i.off % 8 === 0)
    return { dir: 'store', slot: -i.off / 8 - 1 };
  return null;
}
