/**
 * Conditional jumps (kernel/bpf/verifier.c check_cond_jmp_op): the outcome when it is known
 * (is_branch_taken), range refinement on both sides (reg_set_min_max), linked scalars
 * (sync_linked_regs), null checks (mark_ptr_or_null_regs) and packet ranges
 * (try_match_pkt_pointers, find_good_pkt_pointers).
 */
import type { Insn, JmpCond } from '@bpf/isa';
import { boundsViolation, flipCond, markUnbounded, refineCond, regConstValue, regIsConst, revCond, scalarBranchTaken, violationLine, type Cond } from './cond.js';
import { btfPtr, mayBeNull, nonNull } from './nullable.js';
import { scalarAlu, zext } from './scalar.js';
import { copyReg, known, knownImm, setOut, setSpilled, type Frame, type Reg, type State } from './state.js';

const AT_PKT_END = -1;
const BEYOND_PKT_END = -2;
const MAX_PACKET_OFF = 0xffff;

const isPkt = (r: Reg): boolean => r.type === 'pkt' || r.type === 'pkt_meta' || r.type === 'pkt_end';
const isPtr = (r: Reg): boolean => r.type !== 'scalar' && r.type !== 'not_init';

function pktBranchTaken(dst: Reg, src: Reg, cond0: JmpCond): 1 | 0 | -1 {
  let cond = cond0;
  let pkt: Reg;
  if (src.type === 'pkt_end') pkt = dst;
  else if (dst.type === 'pkt_end') {
    pkt = src;
    cond = flipCond(cond);
  } else return -1;
  const range = pkt.range ?? 0;
  if (range >= 0) return -1;
  if ((cond === 'jle' || cond === 'jgt') && range === BEYOND_PKT_END) return cond === 'jgt' ? 1 : 0;
  if ((cond === 'jlt' || cond === 'jge') && (range === BEYOND_PKT_END || range === AT_PKT_END)) return cond === 'jge' ? 1 : 0;
  return -1;
}

const NOT_NULL: ReadonlySet<string> = new Set(['map_value', 'map_key', 'map_ptr', 'ringbuf_mem', 'mem', 'rdonly_mem', 'sock', 'tcp_sock', 'sock_common']);

/**
 * reg_not_null: pointers known not to be NULL (trusted BTF pointers, not RCU or untrusted ones;
 * not ctx, stack or packet; not untrusted memory, rdonly_untrusted_mem, which a NULL check forks).
 */
function regNotNull(r: Reg): boolean {
  if (!isPtr(r) || mayBeNull(r)) return false;
  if (NOT_NULL.has(r.type)) return true;
  const b = btfPtr(r.type);
  // an allocated object is trusted only without other modifiers (MEM_RCU is not one of BPF_REG_TRUSTED_MODIFIERS)
  return b !== undefined && (!!r.refObjId || b.flag === 'trusted_' || (r.memSize !== undefined && b.flag === ''));
}

/** is_branch_taken. */
export function branchTaken(dst: Reg, src: Reg, cond0: JmpCond, is32: boolean): 1 | 0 | -1 {
  if (isPkt(dst) && isPkt(src) && !is32) return pktBranchTaken(dst, src, cond0);
  if (isPtr(dst) || isPtr(src)) {
    let cond = cond0;
    let a = dst;
    let b = src;
    if (!(b.type === 'scalar' && regIsConst(b, is32))) {
      cond = flipCond(cond);
      [a, b] = [b, a];
    }
    if (!(b.type === 'scalar' && regIsConst(b, is32))) return -1;
    if (!regNotNull(a)) return -1;
    if (regConstValue(b, is32) !== 0n) return -1;
    return cond === 'jeq' ? 0 : cond === 'jne' ? 1 : -1;
  }
  return scalarBranchTaken(dst, src, cond0, is32);
}

/**
 * Every register and spilled register of the state, for updates by id; `reg`, when given, picks
 * the registers (frame number, register number) updated — spilled and outgoing ones always are.
 */
function forEachReg(st: State, fn: (r: Reg) => Reg, reg?: (frame: number, n: number) => boolean): void {
  st.frames.forEach((f, k) => {
    for (let n = 0; n < f.regs.length; n++) if (!reg || reg(k, n)) f.regs[n] = fn(f.regs[n]!);
    for (let s = 0; s < f.spilled.length; s++) {
      const r = f.spilled[s];
      // an unchanged slot is not written (the stack may be shared with a copy of the frame)
      if (r === undefined) continue;
      const v = fn(r);
      if (v !== r) setSpilled(f, s, v);
    }
    for (let s = 0; s < f.out.length; s++) if (f.out[s]) setOut(f, s, fn(f.out[s]!));
  });
}

/** `r + delta` for a linked scalar, keeping its id and offset. */
function scalarAddConst(r: Reg, delta: bigint): Reg {
  return scalarAlu('add', r, known(delta), false);
}

/** Which registers take part in linked-register syncing (the kernel collects the live ones). */
export type LinkedFilter = (frame: number, reg: number) => boolean;

/** sync_linked_regs: scalars sharing the id of `known` learn its bounds. */
function syncLinked(st: State, knownReg: Reg, self: Reg, live?: LinkedFilter): void {
  if (knownReg.type !== 'scalar' || !knownReg.id) return;
  // forEachReg's walk (frames in order: registers, spilled, outgoing) without its closures (issue 25)
  for (let k = 0; k < st.frames.length; k++) {
    const f = st.frames[k]!;
    for (let n = 0; n < f.regs.length; n++) if (!live || n === 10 || live(k, n)) f.regs[n] = linkedValue(f.regs[n]!, knownReg, self);
    for (let s = 0; s < f.spilled.length; s++) {
      const r = f.spilled[s];
      // an unchanged slot is not written (the stack may be shared with a copy of the frame)
      if (r === undefined) continue;
      const v = linkedValue(r, knownReg, self);
      if (v !== r) setSpilled(f, s, v);
    }
    for (let s = 0; s < f.out.length; s++) if (f.out[s]) setOut(f, s, linkedValue(f.out[s]!, knownReg, self));
  }
}

/** What register `r` becomes when the linked scalar `knownReg` (of the same id, unless `r` is `self`) is learned. */
function linkedValue(r: Reg, knownReg: Reg, self: Reg): Reg {
  if (r === self || r.type !== 'scalar' || r.id !== knownReg.id) return r;
  // a link made by a 64-bit add and one made by a 32-bit add do not relate (BPF_ADD_CONST64 vs 32)
  if ((!!r.addConst && !r.addConst32 && knownReg.addConst32) || (r.addConst32 && !!knownReg.addConst && !knownReg.addConst32)) return r;
  if ((!r.addConst && !knownReg.addConst) || r.off === knownReg.off) return knownReg;
  let moved = scalarAddConst(knownReg, BigInt((r.off | 0) - (knownReg.off | 0)));
  // either side's link through a 32-bit add: the result is the zero-extended low half
  if (r.addConst32 || knownReg.addConst32) moved = zext(moved);
  const o = copyReg(moved, false, true);
  o.id = r.id;
  o.off = r.off;
  o.addConst = r.addConst;
  o.addConst32 = r.addConst32;
  return o;
}

/** mark_ptr_or_null_regs: after a null check, copies of a nullable pointer become the pointer or 0. */
function markPtrOrNull(st: State, id: number, isNull: boolean): void {
  let refId: number | undefined;
  forEachReg(st, (r) => {
    if (r.id !== id || !mayBeNull(r)) return r;
    if (isNull) {
      // the acquired pointer itself (not a cast of it, which has its own id) drops the reference
      if (r.refObjId === id) refId = id;
      return known(0n);
    }
    return nonNull(r);
  });
  if (isNull && refId !== undefined) st.refs = st.refs.filter((x) => x.id !== refId);
}

/** find_good_pkt_pointers: packet pointers sharing the compared one's id gain its range. */
function goodPktPointers(st: State, dst: Reg, rightOpen: boolean): void {
  if (dst.off < 0 || (dst.off === 0 && rightOpen)) return;
  if (dst.umax > BigInt(MAX_PACKET_OFF) || dst.umax + BigInt(dst.off) > BigInt(MAX_PACKET_OFF)) return;
  // a strict comparison (pkt' < pkt_end) leaves one byte more in bounds than pkt' <= pkt_end
  const range = dst.off + (rightOpen ? 1 : 0);
  forEachReg(st, (r) => {
    if (r.type !== dst.type || (r.id ?? 0) !== (dst.id ?? 0)) return r;
    // `{ ...r, range }` as a literal copy (see state.ts copyReg)
    const o = copyReg(r, false, true);
    o.range = Math.max(r.range ?? 0, range);
    return o;
  });
}

function markPktEnd(f: Frame, regno: number, rangeOpen: boolean): void {
  const r = f.regs[regno]!;
  if (r.type !== 'pkt') return;
  const o = copyReg(r, false, true);
  o.range = rangeOpen ? BEYOND_PKT_END : AT_PKT_END;
  f.regs[regno] = o;
}

/** reg_is_init_pkt_pointer: `pkt` at the packet's start, no offset fixed or variable. */
const initPkt = (r: Reg): boolean => r.type === 'pkt' && r.off === 0 && r.var.mask === 0n && r.var.value === 0n;

/** try_match_pkt_pointers: `this` is the fall-through state, `other` the taken one. */
function matchPkt(i: Insn, cond: JmpCond, dst: Reg, src: Reg, self: State, other: State): boolean {
  const fs = self.frames[self.frames.length - 1]!;
  const fo = other.frames[other.frames.length - 1]!;
  // a meta pointer is compared with the packet's start only (reg_is_init_pkt_pointer)
  const dataVsEnd = (dst.type === 'pkt' && src.type === 'pkt_end') || (dst.type === 'pkt_meta' && initPkt(src));
  const endVsData = (dst.type === 'pkt_end' && src.type === 'pkt') || (initPkt(dst) && src.type === 'pkt_meta');
  if (!dataVsEnd && !endVsData) return false;
  switch (cond) {
    case 'jgt':
      if (dataVsEnd) {
        goodPktPointers(self, dst, false);
        markPktEnd(fo, i.dst, true);
      } else {
        goodPktPointers(other, src, true);
        markPktEnd(fs, i.src, false);
      }
      return true;
    case 'jlt':
      if (dataVsEnd) {
        goodPktPointers(other, dst, true);
        markPktEnd(fs, i.dst, false);
      } else {
        goodPktPointers(self, src, false);
        markPktEnd(fo, i.src, true);
      }
      return true;
    case 'jge':
      if (dataVsEnd) {
        goodPktPointers(self, dst, true);
        markPktEnd(fo, i.dst, false);
      } else {
        goodPktPointers(other, src, false);
        markPktEnd(fs, i.src, true);
      }
      return true;
    case 'jle':
      if (dataVsEnd) {
        goodPktPointers(other, dst, false);
        markPktEnd(fs, i.dst, true);
      } else {
        goodPktPointers(self, src, true);
        markPktEnd(fo, i.src, false);
      }
      return true;
    default:
      return false;
  }
}

/**
 * Where reg_bounds_sanity_check found a register's bounds contradicting one another: `line` is
 * the kernel's log line. The kernel then leaves the register's bounds open (its tnum kept), or
 * with BPF_F_TEST_REG_INVARIANTS stops the load; the handler logs and decides.
 */
export type BoundsBug = (line: string) => void;

/**
 * reg_bounds_sanity_check on one refined register: with a violation, `bug` hears the log line
 * and the register loses its bounds (__mark_reg_unbounded).
 */
function sanityCheck(r: Reg, ctx: string, bug: BoundsBug | undefined): Reg {
  const msg = boundsViolation(r);
  if (msg === undefined) return r;
  bug?.(violationLine(ctx, msg, r));
  return markUnbounded(r);
}

/**
 * The two sides of a conditional jump that is not decided: refines `self` (fall-through) and
 * `other` (taken) in place.
 */
export function splitBranch(i: Insn, cond: JmpCond, is32: boolean, useReg: boolean, self: State, other: State, live?: LinkedFilter, bug?: BoundsBug): void {
  const fs = self.frames[self.frames.length - 1]!;
  const fo = other.frames[other.frames.length - 1]!;
  const dst = fs.regs[i.dst]!;
  const src = useReg ? fs.regs[i.src]! : knownImm(i.imm);
  if (dst.type === 'scalar' && src.type === 'scalar') {
    const same = useReg && i.dst === i.src;
    let [fd, fsrc] = refineCond(dst, src, revCond(cond as Cond), is32, same);
    let [td, tsrc] = refineCond(fo.regs[i.dst]!, useReg ? fo.regs[i.src]! : src, cond, is32, same);
    // reg_set_min_max checks the taken side's registers first, then the fall-through's (an
    // immediate is checked as the kernel's fake source register); `if rX op rX` is one register
    td = sanityCheck(td, 'true_reg1', bug);
    tsrc = same ? td : sanityCheck(tsrc, 'true_reg2', bug);
    fd = sanityCheck(fd, 'false_reg1', bug);
    fsrc = same ? fd : sanityCheck(fsrc, 'false_reg2', bug);
    fs.regs[i.dst] = fd;
    fo.regs[i.dst] = td;
    if (useReg) {
      fs.regs[i.src] = fsrc;
      fo.regs[i.src] = tsrc;
      syncLinked(self, fsrc, fsrc, live);
      syncLinked(other, tsrc, tsrc, live);
    }
    // the kernel syncs from the destination register as it is now: when both are linked to
    // one id, the sync from the source has already rewritten it (r2 = r4 - 8; if r2 > r4 learns
    // nothing about r4 in the running kernel)
    const fd2 = fs.regs[i.dst]!;
    const td2 = fo.regs[i.dst]!;
    syncLinked(self, fd2, fd2, live);
    syncLinked(other, td2, td2, live);
    return;
  }
  // a maybe-NULL pointer equal to one known non-NULL is not NULL either, on the branch where
  // they are equal; that register alone, its id kept (mark_ptr_not_null_reg). BTF pointers may
  // be NULL unmarked, so they prove nothing.
  if (useReg && !is32 && (cond === 'jeq' || cond === 'jne') && isPtr(dst) && isPtr(src) && mayBeNull(dst) !== mayBeNull(src) && !btfPtr(dst.type) && !btfPtr(src.type)) {
    const eq = cond === 'jeq' ? fo : fs;
    const regno = mayBeNull(src) ? i.src : i.dst;
    const r = eq.regs[regno]!;
    const nn = nonNull(r);
    if (r.id === undefined || nn.id === r.id) eq.regs[regno] = nn;
    else {
      const o = copyReg(nn, false, true);
      o.id = r.id;
      eq.regs[regno] = o;
    }
  }
  if (!is32 && !useReg && i.imm === 0 && (cond === 'jeq' || cond === 'jne') && mayBeNull(dst)) {
    markPtrOrNull(self, dst.id!, cond === 'jeq' ? false : true);
    markPtrOrNull(other, dst.id!, cond === 'jeq');
    return;
  }
  if (useReg && !is32) matchPkt(i, cond, dst, src, self, other);
}

