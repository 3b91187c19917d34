/**
 * ALU instructions (kernel/bpf/verifier.c check_alu_op, adjust_reg_min_max_vals,
 * adjust_ptr_min_max_vals): moves with scalar ids, scalar arithmetic through scalar.ts, and
 * pointer arithmetic with the kernel's offset rules and messages.
 */
import type { AluName, Insn } from '@bpf/isa';
import { ALU_STR, type Env } from './env.js';
import { mayBeNull } from './nullable.js';
import { regTypeStrBare } from './print.js';
import { boundsSync, coerceSubregToSizeSx, coerceToSizeSx, scalarAlu, zext } from './scalar.js';
import { copyReg, knownImm, S32_MAX_N, S32_MIN_N, S64_MAX, S64_MIN, U32_MAX_N, UNKNOWN, type Frame, type MutableReg, type Reg } from './state.js';
import { fls64, tnumAdd, tnumIsConst, tnumSub, U64_MAX, type Tnum } from './tnum.js';

export interface AluOp {
  readonly op: AluName;
  readonly is64: boolean;
  readonly useReg: boolean;
  readonly sxBits?: 8 | 16 | 32;
}

const BPF_MAX_VAR_OFF = 1n << 29n;


/** assign_scalar_id_before_mov: give a non-constant scalar an id so that copies stay linked. */
function withId(env: Env, r0: Reg): Reg {
  // a register already linked with an offset starts a new link (one `+= K` per link)
  const r = r0.type === 'scalar' && r0.addConst ? clearId(r0) : r0;
  if (r.type === 'scalar' && !r.id && !tnumIsConst(r.var)) {
    const o = copyReg(r, false, true);
    o.id = env.nextId();
    return o;
  }
  return r;
}

function clearId(r: Reg): Reg {
  if (!r.id && !r.addConst) return r;
  // `{ ...rest, off }` of the register without its link, as a literal (see state.ts copyReg)
  const o = copyReg(r, true);
  if (r.type === 'scalar') o.off = 0;
  return o;
}

function mov(env: Env, f: Frame, i: Insn, op: AluOp, pc: number): void {
  if (!op.useReg) {
    env.writeReg(f, i.dst, pc);
    f.regs[i.dst] = op.is64 ? knownImm(i.imm) : knownImm(i.imm >>> 0);
    return;
  }
  let src = env.readReg(f, i.src, pc);
  env.writeReg(f, i.dst, pc);
  const bits = op.sxBits;
  if (op.is64) {
    if (!bits) {
      src = withId(env, src);
      f.regs[i.src] = src;
      f.regs[i.dst] = src;
      return;
    }
    if (src.type !== 'scalar') {
      f.regs[i.dst] = UNKNOWN;
      return;
    }
    const noSext = src.umax < 1n << BigInt(bits - 1);
    if (noSext) f.regs[i.src] = src = withId(env, src);
    const copy = noSext ? src : clearId(src);
    f.regs[i.dst] = coerceToSizeSx(copy, (bits / 8) as 1 | 2 | 4);
    return;
  }
  if (src.type !== 'scalar') {
    f.regs[i.dst] = zext(UNKNOWN);
    return;
  }
  if (!bits) {
    const fits = fls64(src.umax) <= 32;
    if (fits) f.regs[i.src] = src = withId(env, src);
    f.regs[i.dst] = zext(fits ? src : clearId(src));
    return;
  }
  const noSext = src.umax < 1n << BigInt(bits - 1);
  if (noSext) f.regs[i.src] = src = withId(env, src);
  // coerce_subreg_to_size_sx takes the size in bytes
  f.regs[i.dst] = zext(coerceSubregToSizeSx(noSext ? src : clearId(src), (bits / 8) as 1 | 2));
}

/** Run one ALU instruction on frame `f`. */
export function checkAlu(env: Env, f: Frame, i: Insn, op: AluOp, pc: number): void {
  if (op.op === 'mov' || op.op === 'movsx') return mov(env, f, i, op, pc);
  if (op.op === 'neg') {
    const dst = env.readReg(f, i.dst, pc);
    env.writeReg(f, i.dst, pc);
    f.regs[i.dst] = dst.type === 'scalar' ? scalarAlu('neg', clearId(dst), dst, !op.is64) : UNKNOWN;
    return;
  }
  const src: Reg = op.useReg ? env.readReg(f, i.src, pc) : knownImm(i.imm);
  const dst = env.readReg(f, i.dst, pc);
  if ((op.op === 'div' || op.op === 'mod' || op.op === 'sdiv' || op.op === 'smod') && !op.useReg && i.imm === 0) env.reject(pc, 'div by zero');
  if ((op.op === 'lsh' || op.op === 'rsh' || op.op === 'arsh') && !op.useReg && (i.imm < 0 || i.imm >= (op.is64 ? 64 : 32))) env.reject(pc, `invalid shift ${i.imm}`);
  env.writeReg(f, i.dst, pc);
  // adjust_reg_min_max_vals: any operation on an arena pointer leaves it as it was (arena.ts)
  if (dst.type === 'arena') {
    if (op.is64) env.noteArenaAlu64?.(pc);
    return;
  }
  if (src.type !== 'scalar' && dst.type !== 'scalar') {
    // two pointers: only subtraction, and it yields an unknown scalar (allow_ptr_leaks)
    if (op.op === 'sub') {
      f.regs[i.dst] = UNKNOWN;
      return;
    }
    env.reject(pc, `R${i.dst} pointer ${ALU_STR[op.op]} pointer prohibited`);
  }
  if (dst.type !== 'scalar') {
    if (op.useReg) env.precise(i.src);
    f.regs[i.dst] = ptrArith(env, op, dst, src, i.dst, pc, false);
    return;
  }
  if (src.type !== 'scalar') {
    env.precise(i.dst);
    f.regs[i.dst] = ptrArith(env, op, src, dst, i.dst, pc, true);
    return;
  }
  const d = (op.op === 'and' || op.op === 'or') && tnumIsConst(src.var) && env.forkScalars ? env.forkScalars(i.dst, dst) : dst;
  let out = scalarAlu(op.op, d, src, !op.is64);
  // `rX += K` and `rX -= K` (also 32-bit) keep rX linked to its copies with a known delta (BPF_ADD_CONST)
  // (a 32-bit one only while the value fits in 32 bits, else the truncation breaks the link;
  // never `rX += rX`, whose register is both the one linked and the delta); the source's
  // constness is looked at only for a linked destination (its 32-bit test makes a BigInt)
  const self = op.useReg && i.src === i.dst;
  if ((op.op === 'add' || op.op === 'sub') && dst.id && (op.is64 ? tnumIsConst(src.var) : (src.var.mask & 0xffffffffn) === 0n) && !self && out !== UNKNOWN && (op.is64 || dst.umax <= 0xffffffffn)) {
    const val = op.is64 ? BigInt.asIntN(64, src.var.value) : BigInt.asIntN(32, src.var.value);
    const off = op.op === 'sub' ? -val : val;
    if (dst.addConst || val < -0x80000000n || val > 0x7fffffffn || (op.op === 'sub' && val === -0x80000000n)) out = clearId(out);
    else {
      const o = copyReg(out, true, true);
      o.id = dst.id;
      o.addConst = true;
      if (!op.is64) o.addConst32 = true;
      o.off = Number(off);
      out = o;
    }
  } else out = clearId(out);
  f.regs[i.dst] = out;
}

/** check_reg_sane_offset. */
function saneOffset(env: Env, r: Reg, type: string, pc: number): void {
  const isKnown = tnumIsConst(r.var);
  const val = BigInt.asIntN(64, r.var.value);
  if (isKnown && (val >= BPF_MAX_VAR_OFF || val <= -BPF_MAX_VAR_OFF)) env.reject(pc, `math between ${type} pointer and ${val} is not allowed`);
  if (r.off >= Number(BPF_MAX_VAR_OFF) || r.off <= -Number(BPF_MAX_VAR_OFF)) env.reject(pc, `${type} pointer offset ${r.off} is not allowed`);
  if (r.smin === S64_MIN) env.reject(pc, `math between ${type} pointer and register with unbounded min value is not allowed`);
  if (r.smin >= BPF_MAX_VAR_OFF || r.smin <= -BPF_MAX_VAR_OFF) env.reject(pc, `value ${r.smin} makes ${type} pointer be out of bounds`);
}

const fitsS32 = (x: number): boolean => x === (x | 0);

/** `{ ...ptr, off, s32min: S32_MIN, s32max: S32_MAX, u32min: 0, u32max: U32_MAX }` as a literal (see state.ts copyReg). */
function withFixedOff(ptr: Reg, off: number): Reg {
  const o = copyReg(ptr);
  o.off = off;
  o.s32min = S32_MIN_N;
  o.s32max = S32_MAX_N;
  o.u32min = 0;
  o.u32max = U32_MAX_N;
  return o;
}

/**
 * A pointer moved by a variable amount: `{ ...ptr, var, 64-bit bounds, 32-bit bounds unbounded }`
 * as a literal copy (see state.ts copyReg), wide since the caller may set `id` and `range`. The
 * signed bounds [lo, hi] and unsigned [ulo, uhi] are the exact sums or differences; either pair
 * is unbounded when it leaves the 64-bit range (an add's unsigned sum above U64_MAX, a
 * subtraction's below 0), as adjust_ptr_min_max_vals does.
 */
function movedBy(ptr: Reg, v: Tnum, lo: bigint, hi: bigint, ulo: bigint, uhi: bigint): MutableReg {
  const sOv = lo < S64_MIN || lo > S64_MAX || hi < S64_MIN || hi > S64_MAX;
  const uOv = ulo < 0n || uhi > U64_MAX;
  const out = copyReg(ptr, false, true);
  out.var = v;
  out.smin = sOv ? S64_MIN : lo;
  out.smax = sOv ? S64_MAX : hi;
  out.umin = uOv ? 0n : ulo;
  out.umax = uOv ? U64_MAX : uhi;
  out.s32min = S32_MIN_N;
  out.s32max = S32_MAX_N;
  out.u32min = 0;
  out.u32max = U32_MAX_N;
  return out;
}

/** A pointer moved by a known amount: its fixed offset, checked like any result (check_reg_sane_offset on the destination). */
function knownOff(env: Env, ptr: Reg, off: number, typeStr: string, pc: number): Reg {
  const out = boundsSync(withFixedOff(ptr, off));
  saneOffset(env, out, typeStr, pc);
  return out;
}

/** adjust_ptr_min_max_vals: `ptr op= off`, where `reversed` means the scalar was the destination. */
function ptrArith(env: Env, op: AluOp, ptr: Reg, off: Reg, dst: number, pc: number, reversed: boolean): Reg {
  const typeStr = ptr.type === 'fp' ? 'fp' : ptr.type;
  if (!op.is64) {
    if (op.op === 'sub') return UNKNOWN;
    env.reject(pc, `R${dst} 32-bit pointer arithmetic prohibited`);
  }
  const isKnown = tnumIsConst(off.var) && off.smin === off.smax && off.umin === off.umax;
  if ((tnumIsConst(off.var) && (off.smin !== off.smax || off.umin !== off.umax)) || off.smin > off.smax || off.umin > off.umax) return UNKNOWN;
  // untrusted memory is read through probe loads: its offset is not tracked (the register stays as it was)
  if (ptr.type === 'rdonly_untrusted_mem') return reversed ? off : ptr;
  // every PTR_MAYBE_NULL type, BTF pointers too (an rbtree node before its NULL check)
  if (mayBeNull(ptr)) env.reject(pc, `R${dst} pointer arithmetic on ${regTypeStrBare(ptr)} prohibited, null-check it first`);
  // a flow dissector's keys move by known amounts only
  if (ptr.type === 'flow_keys' && !isKnown) env.reject(pc, `R${dst} pointer arithmetic on ${typeStr} prohibited`);
  if (ptr.type === 'map_ptr' && !(isKnown && off.smin === 0n && op.op === 'add')) env.reject(pc, `R${dst} pointer arithmetic on ${typeStr} prohibited`);
  if (ptr.type === 'pkt_end' || ptr.type === 'sock' || ptr.type === 'sock_common' || ptr.type === 'tcp_sock' || ptr.type === 'arena') env.reject(pc, `R${dst} pointer arithmetic on ${typeStr} prohibited`);
  saneOffset(env, off, typeStr, pc);
  saneOffset(env, ptr, typeStr, pc);
  const smin = off.smin;
  switch (op.op) {
    case 'add': {
      const fixed = ptr.off + Number(smin);
      if (isKnown && fitsS32(fixed)) return knownOff(env, ptr, fixed, typeStr, pc);
      const out = movedBy(ptr, tnumAdd(ptr.var, off.var), ptr.smin + off.smin, ptr.smax + off.smax, ptr.umin + off.umin, ptr.umax + off.umax);
      if (ptr.type === 'pkt' || ptr.type === 'pkt_meta') {
        out.id = env.nextId();
        out.range = 0;
      }
      saneOffset(env, out, typeStr, pc);
      return boundsSync(out);
    }
    case 'sub': {
      if (reversed) env.reject(pc, `R${dst} tried to subtract pointer from scalar`);
      if (ptr.type === 'fp') env.reject(pc, `R${dst} subtraction from stack pointer prohibited`);
      const fixed = ptr.off - Number(smin);
      if (isKnown && fitsS32(fixed)) return knownOff(env, ptr, fixed, typeStr, pc);
      const out = movedBy(ptr, tnumSub(ptr.var, off.var), ptr.smin - off.smax, ptr.smax - off.smin, ptr.umin - off.umax, ptr.umax - off.umin);
      if (ptr.type === 'pkt' || ptr.type === 'pkt_meta') {
        out.id = env.nextId();
        if (off.smin < 0n) out.range = 0;
      }
      saneOffset(env, out, typeStr, pc);
      return boundsSync(out);
    }
    case 'and':
    case 'or':
    case 'xor':
      return env.reject(pc, `R${dst} bitwise operator ${ALU_STR[op.op]} on pointer prohibited`);
    default:
      return env.reject(pc, `R${dst} pointer arithmetic with ${ALU_STR[op.op]} operator prohibited`);
  }
}
