/**
 * Encoding validity: the field checks the kernel applies to each instruction before any
 * semantic analysis (kernel/bpf/verifier.c: check_alu_op, check_cond_jmp_op, do_check's
 * per-class checks, resolve_pseudo_ldimm64, and the r11 rules of apps/docs/stack-args.md §2).
 * Messages use the kernel's wording so the verifier can report them unchanged.
 */
import { IsaError } from './errors.js';
import type { Insn } from './insn.js';
import { decodeOp } from './op.js';
import { AluOp, Class, CLASS_MASK, JmpOp, Mode, MODE_MASK, OP_MASK, Size, SIZE_MASK, Source, SOURCE_MASK } from './opcodes.js';

/** A register the program may not name: past r10 (r11 only in the stack-argument forms). */
const badReg = (r: number): boolean => r > 10;

/** Is this slot one of the three r11 forms of apps/docs/stack-args.md §2? */
function isValidStackArgForm(i: Insn): boolean {
  if (i.code === 0x79) return i.src === 11 && i.dst !== 11 && i.dst !== 10 && i.off > 0 && i.off % 8 === 0 && i.imm === 0;
  if (i.code === 0x7b) return i.dst === 11 && i.src !== 11 && i.off < 0 && i.off % 8 === 0 && i.imm === 0;
  if (i.code === 0x7a) return i.dst === 11 && i.src === 0 && i.off < 0 && i.off % 8 === 0;
  return false;
}

/**
 * Check one slot. `index` is its instruction index (used in the error), `next` the slot after
 * it (needed for `ld_imm64`). Returns null when the encoding is valid.
 */
export function checkInsn(i: Insn, index: number, next?: Insn): IsaError | null {
  // the three r11 forms pass stack arguments; any other r11 is a register the program may not name
  if ((i.dst === 11 || i.src === 11) && isValidStackArgForm(i)) return null;
  // the kernel looks at the fields first and at the registers where it reads them (check_reg_arg:
  // the source, then the destination), so an unused register field is a reserved-field error;
  // a conditional jump reads its destination register before it looks at the fields
  const cls = i.code & CLASS_MASK;
  const jop = i.code & OP_MASK;
  if ((cls === Class.JMP || cls === Class.JMP32) && jop !== JmpOp.JA && jop !== JmpOp.CALL && jop !== JmpOp.EXIT && jop !== JmpOp.JCOND && badReg(i.dst)) return regFail(index, i.dst);
  const fields = checkFields(i, next, index);
  if (fields) return fields;
  if (badReg(i.src) && !(cls === Class.LD && (i.code & MODE_MASK) === Mode.IMM)) return regFail(index, i.src);
  if (badReg(i.dst)) return regFail(index, i.dst);
  return null;
}

/** The error of slot `index` (module functions, not closures made per checked slot: issue 25). */
function failAt(index: number, code: ConstructorParameters<typeof IsaError>[0], msg: string): IsaError {
  return new IsaError(code, msg, { insn: index });
}

function regFail(index: number, r: number): IsaError {
  return r === 11 ? failAt(index, 'R11_INVALID', 'R11 is invalid') : failAt(index, 'BAD_REGISTER', `R${r} is invalid`);
}

/** The opcode and reserved-field checks of one slot (registers aside). */
function checkFields(i: Insn, next: Insn | undefined, index: number): IsaError | null {
  const cls = i.code & CLASS_MASK;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const aop = i.code & OP_MASK;
      const x = (i.code & SOURCE_MASK) === Source.X;
      if (aop > AluOp.END) return failAt(index, 'UNKNOWN_OPCODE', `invalid BPF_ALU opcode ${aop.toString(16)}`);
      if (aop === AluOp.NEG) {
        if (x || i.src !== 0 || i.off !== 0 || i.imm !== 0) return failAt(index, 'RESERVED_FIELD', 'BPF_NEG uses reserved fields');
        return null;
      }
      if (aop === AluOp.END) {
        if (i.src !== 0 || i.off !== 0 || (i.imm !== 16 && i.imm !== 32 && i.imm !== 64) || (cls === Class.ALU64 && x))
          return failAt(index, 'RESERVED_FIELD', 'BPF_END uses reserved fields');
        return null;
      }
      if (aop === AluOp.MOV) {
        // addr_space_cast (BPF_ADDR_SPACE_CAST in off): between the arena's address space 1 and 0
        if (x && cls === Class.ALU64 && i.off === 1) {
          if (i.imm !== 1 && i.imm !== 1 << 16) return failAt(index, 'RESERVED_FIELD', 'addr_space_cast insn can only convert between address space 1 and 0');
          return null;
        }
        if (x) {
          const offOk = cls === Class.ALU ? i.off === 0 || i.off === 8 || i.off === 16 : [0, 8, 16, 32].includes(i.off);
          if (i.imm !== 0 || !offOk) return failAt(index, 'RESERVED_FIELD', 'BPF_MOV uses reserved fields');
        } else if (i.src !== 0 || i.off !== 0) return failAt(index, 'RESERVED_FIELD', 'BPF_MOV uses reserved fields');
        return null;
      }
      const offOk = i.off === 0 || ((aop === AluOp.DIV || aop === AluOp.MOD) && i.off === 1);
      if (x ? i.imm !== 0 || !offOk : i.src !== 0 || !offOk) return failAt(index, 'RESERVED_FIELD', 'BPF_ALU uses reserved fields');
      return null;
    }
    case Class.JMP:
    case Class.JMP32: {
      const jop = i.code & OP_MASK;
      const x = (i.code & SOURCE_MASK) === Source.X;
      if (jop === JmpOp.JA) {
        if (x || i.src !== 0 || i.dst !== 0 || (cls === Class.JMP ? i.imm !== 0 : i.off !== 0))
          return failAt(index, 'RESERVED_FIELD', 'BPF_JA uses reserved fields');
        return null;
      }
      if (jop === JmpOp.CALL) {
        if (cls === Class.JMP32 || x || i.dst !== 0 || i.src > 2 || (i.src !== 2 && i.off !== 0))
          return failAt(index, 'RESERVED_FIELD', 'BPF_CALL uses reserved fields');
        return null;
      }
      if (jop === JmpOp.EXIT) {
        if (cls === Class.JMP32 || x || i.imm !== 0 || i.src !== 0 || i.dst !== 0 || i.off !== 0)
          return failAt(index, 'RESERVED_FIELD', 'BPF_EXIT uses reserved fields');
        return null;
      }
      if (jop === JmpOp.JCOND) {
        if (cls === Class.JMP32 || x || i.src !== 0 || i.dst !== 0 || i.imm !== 0)
          return failAt(index, 'RESERVED_FIELD', 'invalid may_goto imm ' + String(i.imm));
        return null;
      }
      if (jop > JmpOp.JCOND) return failAt(index, 'UNKNOWN_OPCODE', `invalid BPF_JMP/JMP32 opcode ${jop.toString(16)}`);
      if (x ? i.imm !== 0 : i.src !== 0) return failAt(index, 'RESERVED_FIELD', 'BPF_JMP/JMP32 uses reserved fields');
      return null;
    }
    case Class.LD: {
      const mode = i.code & MODE_MASK;
      const size = i.code & SIZE_MASK;
      if (mode === Mode.IMM) {
        if (size !== Size.DW) return failAt(index, 'UNKNOWN_OPCODE', 'invalid BPF_LD_IMM insn');
        if (next === undefined) return failAt(index, 'TRUNCATED_LD_IMM64', 'invalid bpf_ld_imm64 insn');
        if (next.code !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0 || i.off !== 0)
          return failAt(index, 'BAD_LD_IMM64', 'invalid bpf_ld_imm64 insn');
        if (i.src > 6) return failAt(index, 'BAD_LD_IMM64', 'unrecognized bpf_ld_imm64 insn');
        if ((i.src === 1 || i.src === 3 || i.src === 4 || i.src === 5) && next.imm !== 0)
          return failAt(index, 'BAD_LD_IMM64', 'invalid bpf_ld_imm64 insn');
        return null;
      }
      if (mode === Mode.ABS || mode === Mode.IND) {
        if (i.dst !== 0 || i.off !== 0 || size === Size.DW || (mode === Mode.ABS && i.src !== 0))
          return failAt(index, 'RESERVED_FIELD', 'BPF_LD_[ABS|IND] uses reserved fields');
        return null;
      }
      return failAt(index, 'UNKNOWN_OPCODE', `unknown opcode ${hex2(i.code)}`);
    }
    case Class.LDX:
      if (decodeOp(i).kind === 'invalid') return failAt(index, 'UNKNOWN_OPCODE', `unknown opcode ${hex2(i.code)}`);
      if (i.imm !== 0) return failAt(index, 'RESERVED_FIELD', 'BPF_LDX uses reserved fields');
      return null;
    case Class.ST:
      if (decodeOp(i).kind === 'invalid') return failAt(index, 'UNKNOWN_OPCODE', `unknown opcode ${hex2(i.code)}`);
      if (i.src !== 0) return failAt(index, 'RESERVED_FIELD', 'BPF_ST uses reserved fields');
      return null;
    default: {
      const mode = i.code & MODE_MASK;
      if (mode === Mode.ATOMIC) {
        if (decodeOp(i).kind === 'invalid') {
          const size = i.code & SIZE_MASK;
          if (size !== Size.W && size !== Size.DW) return failAt(index, 'RESERVED_FIELD', 'invalid atomic operand size');
          return failAt(index, 'RESERVED_FIELD', `BPF_ATOMIC uses invalid atomic opcode ${hex2(i.imm >>> 0)}`);
        }
        return null;
      }
      if (decodeOp(i).kind === 'invalid') return failAt(index, 'UNKNOWN_OPCODE', `unknown opcode ${hex2(i.code)}`);
      if (i.imm !== 0) return failAt(index, 'RESERVED_FIELD', 'BPF_STX uses reserved fields');
      return null;
    }
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Check a whole program; throws the first error. */
export function checkProgram(insns: readonly Insn[]): void {
  for (let k = 0; k < insns.length; k++) {
    const i = insns[k]!;
    const err = checkInsn(i, k, insns[k + 1]);
    if (err) throw err;
    if (i.code === 0x18) k++;
  }
}
