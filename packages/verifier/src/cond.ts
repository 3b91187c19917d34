/**
 * Branch conditions on scalars (kernel/bpf/verifier.c is_scalar_branch_taken,
 * regs_refine_cond_op): whether a comparison is decided, and what each side learns.
 */
import type { JmpCond } from '@bpf/isa';
import { done, max, min, nmax, nmin, s64, sync, u64, unbounded32, unbounded64, work, type B } from './scalar.js';
import { refineLow, refineWide } from './scalarlow.js';
import type { Reg } from './state.js';
import { lowU32, tnumAnd, tnumConst, tnumIntersect, tnumIsConst, tnumOr, tnumOverlap, tnumSubreg, tnumSubregIsConst, tnumWithSubreg, U32_MAX, type Tnum } from './tnum.js';


// ---- branches ----

const FLIP: Record<string, JmpCond> = { jgt: 'jlt', jge: 'jle', jlt: 'jgt', jle: 'jge', jsgt: 'jslt', jsge: 'jsle', jslt: 'jsgt', jsle: 'jsge', jeq: 'jeq', jne: 'jne', jset: 'jset' };
/** The condition of the other side of a branch (the kernel's rev_opcode); 'jset_not' is the false side of jset. */
export type Cond = JmpCond | 'jset_not';
const REV: Record<string, Cond> = { jeq: 'jne', jne: 'jeq', jset: 'jset_not', jset_not: 'jset', jgt: 'jle', jge: 'jlt', jlt: 'jge', jle: 'jgt', jsgt: 'jsle', jsge: 'jslt', jslt: 'jsge', jsle: 'jsgt' };
export const flipCond = (c: JmpCond): JmpCond => FLIP[c]!;
export const revCond = (c: Cond): Cond => REV[c]!;

export const regIsConst = (r: Reg, is32: boolean): boolean => (is32 ? tnumSubregIsConst(r.var) : tnumIsConst(r.var));
export const regConstValue = (r: Reg, is32: boolean): bigint => (is32 ? r.var.value & U32_MAX : r.var.value);

/** is_scalar_branch_taken: 1 always, 0 never, -1 unknown. */
export function scalarBranchTaken(r1: Reg, r2: Reg, cond: JmpCond, is32: boolean): 1 | 0 | -1 {
  const a = r1;
  let b = r2;
  let t1: Tnum;
  let t2: Tnum;
  switch (cond) {
    case 'jeq':
    case 'jne': {
      // 32 bits: the tnums' low halves as numbers (tnumSubreg made two BigInts per tnum)
      if (is32) {
        const ne: 0 | 1 = cond === 'jne' ? 1 : 0;
        const v1 = lowU32(a.var.value);
        const m1 = lowU32(a.var.mask);
        const v2 = lowU32(b.var.value);
        const m2 = lowU32(b.var.mask);
        if (m1 === 0 && m2 === 0) return v1 === v2 ? (ne ? 0 : 1) : ne;
        // tnum_overlap
        const mu = m1 | m2;
        if ((v1 & ~mu) !== (v2 & ~mu)) return ne;
        if (a.u32min > b.u32max || a.u32max < b.u32min || a.s32min > b.s32max || a.s32max < b.s32min) return ne;
        return -1;
      }
      // the tnums (their low halves for 32 bits) are read by jeq, jne and jset only
      t1 = is32 ? tnumSubreg(a.var) : a.var;
      t2 = is32 ? tnumSubreg(b.var) : b.var;
      const ne: 0 | 1 = cond === 'jne' ? 1 : 0;
      if (tnumIsConst(t1) && tnumIsConst(t2)) return t1.value === t2.value ? (ne ? 0 : 1) : ne;
      // disjoint ranges: the 64-bit ones (ALU64 only) and the 32-bit ones (both)
      if (!tnumOverlap(t1, t2)) return ne;
      if (!is32 && (a.umin > b.umax || a.umax < b.umin || a.smin > b.smax || a.smax < b.smin)) return ne;
      if (a.u32min > b.u32max || a.u32max < b.u32min || a.s32min > b.s32max || a.s32max < b.s32min) return ne;
      return -1;
    }
    case 'jset':
      t1 = is32 ? tnumSubreg(a.var) : a.var;
      t2 = is32 ? tnumSubreg(b.var) : b.var;
      if (!regIsConst(b, is32)) {
        b = a;
        [t1, t2] = [t2, t1];
      }
      if (!regIsConst(b, is32)) return -1;
      if ((~t1.mask & t1.value & t2.value) !== 0n) return 1;
      if (((t1.mask | t1.value) & t2.value) === 0n) return 0;
      return -1;
    default:
      // the ranges: the 32-bit bounds (numbers) or the 64-bit ones (BigInts), each on its own type
      return is32 ? rangeTaken32(a, b, cond) : rangeTaken64(a, b, cond);
  }
}

function rangeTaken32(a: Reg, b: Reg, cond: JmpCond): 1 | 0 | -1 {
  switch (cond) {
    case 'jgt':
      return a.u32min > b.u32max ? 1 : a.u32max <= b.u32min ? 0 : -1;
    case 'jsgt':
      return a.s32min > b.s32max ? 1 : a.s32max <= b.s32min ? 0 : -1;
    case 'jlt':
      return a.u32max < b.u32min ? 1 : a.u32min >= b.u32max ? 0 : -1;
    case 'jslt':
      return a.s32max < b.s32min ? 1 : a.s32min >= b.s32max ? 0 : -1;
    case 'jge':
      return a.u32min >= b.u32max ? 1 : a.u32max < b.u32min ? 0 : -1;
    case 'jsge':
      return a.s32min >= b.s32max ? 1 : a.s32max < b.s32min ? 0 : -1;
    case 'jle':
      return a.u32max <= b.u32min ? 1 : a.u32min > b.u32max ? 0 : -1;
    case 'jsle':
      return a.s32max <= b.s32min ? 1 : a.s32min > b.s32max ? 0 : -1;
    default:
      return -1;
  }
}

function rangeTaken64(a: Reg, b: Reg, cond: JmpCond): 1 | 0 | -1 {
  switch (cond) {
    case 'jgt':
      return a.umin > b.umax ? 1 : a.umax <= b.umin ? 0 : -1;
    case 'jsgt':
      return a.smin > b.smax ? 1 : a.smax <= b.smin ? 0 : -1;
    case 'jlt':
      return a.umax < b.umin ? 1 : a.umin >= b.umax ? 0 : -1;
    case 'jslt':
      return a.smax < b.smin ? 1 : a.smin >= b.smax ? 0 : -1;
    case 'jge':
      return a.umin >= b.umax ? 1 : a.umax < b.umin ? 0 : -1;
    case 'jsge':
      return a.smin >= b.smax ? 1 : a.smax < b.smin ? 0 : -1;
    case 'jle':
      return a.umax <= b.umin ? 1 : a.umin > b.umax ? 0 : -1;
    case 'jsle':
      return a.smax <= b.smin ? 1 : a.smin > b.smax ? 0 : -1;
    default:
      return -1;
  }
}

const isC = (x: B, is32: boolean): boolean => (is32 ? tnumSubregIsConst(x.var) : tnumIsConst(x.var));
const cval = (x: B, is32: boolean): bigint => (is32 ? x.var.value & U32_MAX : x.var.value);

/** regs_refine_cond_op followed by reg_bounds_sync: both registers after `r1 cond r2` held. */
export function refineCond(r1: Reg, r2: Reg, cond: Cond, is32: boolean, sameReg = false): [Reg, Reg] {
  // both below 2^32 (most branches of real programs): on numbers (scalarlow.ts)
  return (!sameReg && (refineLow(r1, r2, cond, is32) || refineWide(r1, r2, cond, is32))) || refineCondGeneric(r1, r2, cond, is32, sameReg);
}

/** refineCond on BigInts, for any registers (exported for the tests comparing the two). */
export function refineCondGeneric(r1: Reg, r2: Reg, cond0: Cond, is32: boolean, sameReg = false): [Reg, Reg] {
  let cond = cond0;
  let a = work(r1);
  // `if rX op rX`: both sides are one register, refined in place one after the other
  let b = sameReg ? a : work(r2);
  let swapped = false;
  if (cond === 'jge' || cond === 'jgt' || cond === 'jsge' || cond === 'jsgt') {
    cond = FLIP[cond]!;
    [a, b] = [b, a];
    swapped = true;
  }
  switch (cond) {
    case 'jeq':
      if (is32) {
        a.u32min = nmax(a.u32min, b.u32min);
        a.u32max = nmin(a.u32max, b.u32max);
        a.s32min = nmax(a.s32min, b.s32min);
        a.s32max = nmin(a.s32max, b.s32max);
        b.u32min = a.u32min;
        b.u32max = a.u32max;
        b.s32min = a.s32min;
        b.s32max = a.s32max;
        const t = tnumIntersect(tnumSubreg(a.var), tnumSubreg(b.var));
        a.var = tnumWithSubreg(a.var, t);
        b.var = tnumWithSubreg(b.var, t);
      } else {
        a.umin = max(a.umin, b.umin);
        a.umax = min(a.umax, b.umax);
        a.smin = max(a.smin, b.smin);
        a.smax = min(a.smax, b.smax);
        b.umin = a.umin;
        b.umax = a.umax;
        b.smin = a.smin;
        b.smax = a.smax;
        a.var = tnumIntersect(a.var, b.var);
        b.var = a.var;
      }
      break;
    case 'jne': {
      if (!isC(b, is32)) {
        [a, b] = [b, a];
        swapped = !swapped;
      }
      if (!isC(b, is32)) break;
      const v = cval(b, is32);
      if (is32) {
        const lo = lowU32(v);
        if (a.u32min === lo) a.u32min++;
        if (a.u32max === lo) a.u32max--;
        if (a.s32min === (lo | 0)) a.s32min++;
        if (a.s32max === (lo | 0)) a.s32max--;
      } else {
        if (a.umin === v) a.umin++;
        if (a.umax === v) a.umax--;
        if (a.smin === s64(v)) a.smin++;
        if (a.smax === s64(v)) a.smax--;
      }
      break;
    }
    case 'jset':
    case 'jset_not': {
      if (!isC(b, is32)) {
        [a, b] = [b, a];
        swapped = !swapped;
      }
      if (!isC(b, is32)) break;
      const v = cval(b, is32);
      if (cond === 'jset') {
        if (v === 0n || (v & (v - 1n)) !== 0n) break;
        a.var = is32 ? tnumWithSubreg(a.var, tnumOr(tnumSubreg(a.var), tnumConst(v))) : tnumOr(a.var, tnumConst(v));
      } else {
        unbounded64(a);
        unbounded32(a);
        a.var = is32 ? tnumWithSubreg(a.var, tnumAnd(tnumSubreg(a.var), tnumConst(~v & U32_MAX))) : tnumAnd(a.var, tnumConst(~v));
      }
      break;
    }
    case 'jle':
      if (is32) {
        a.u32max = nmin(a.u32max, b.u32max);
        b.u32min = nmax(a.u32min, b.u32min);
      } else {
        a.umax = min(a.umax, b.umax);
        b.umin = max(a.umin, b.umin);
      }
      break;
    case 'jlt':
      if (is32) {
        a.u32max = nmin(a.u32max, (b.u32max - 1) >>> 0);
        b.u32min = nmax((a.u32min + 1) >>> 0, b.u32min);
      } else {
        a.umax = min(a.umax, u64(b.umax - 1n));
        b.umin = max(u64(a.umin + 1n), b.umin);
      }
      break;
    case 'jsle':
      if (is32) {
        a.s32max = nmin(a.s32max, b.s32max);
        b.s32min = nmax(a.s32min, b.s32min);
      } else {
        a.smax = min(a.smax, b.smax);
        b.smin = max(a.smin, b.smin);
      }
      break;
    case 'jslt':
      if (is32) {
        a.s32max = nmin(a.s32max, (b.s32max - 1) | 0);
        b.s32min = nmax((a.s32min + 1) | 0, b.s32min);
      } else {
        a.smax = min(a.smax, s64(b.smax - 1n));
        b.smin = max(s64(a.smin + 1n), b.smin);
      }
      break;
    default:
      break;
  }
  if (swapped) [a, b] = [b, a];
  sync(a);
  sync(b);
  return [done(r1, a), done(r2, b)];
}

/** reg_bounds_sanity_check: what is wrong with a scalar's bounds, or undefined when they hold together. */
export function boundsViolation(r: Reg): string | undefined {
  if (r.umin > r.umax || r.smin > r.smax || r.u32min > r.u32max || r.s32min > r.s32max) return 'range bounds violation';
  if (tnumIsConst(r.var)) {
    const v = r.var.value;
    if (r.umin !== v || r.umax !== v || r.smin !== s64(v) || r.smax !== s64(v)) return 'const tnum out of sync with range bounds';
  }
  if (tnumSubregIsConst(r.var)) {
    const v = lowU32(r.var.value);
    if (r.u32min !== v || r.u32max !== v || r.s32min !== (v | 0) || r.s32max !== (v | 0)) return 'const subreg tnum out of sync with range bounds';
  }
  return undefined;
}

/** The kernel's `%#llx`/`%#x`: two's complement, `0x0` for zero. */
const hex64 = (x: bigint): string => `0x${u64(x).toString(16)}`;
const hex32 = (x: number): string => `0x${(x >>> 0).toString(16)}`;

/** The log line of a failed reg_bounds_sanity_check (printed with verifier_bug). */
export function violationLine(ctx: string, msg: string, r: Reg): string {
  return (
    `verifier bug: REG INVARIANTS VIOLATION (${ctx}): ${msg} u64=[${hex64(r.umin)}, ${hex64(r.umax)}] s64=[${hex64(r.smin)}, ${hex64(r.smax)}] ` +
    `u32=[${hex32(r.u32min)}, ${hex32(r.u32max)}] s32=[${hex32(r.s32min)}, ${hex32(r.s32max)}] var_off=(${hex64(r.var.value)}, ${hex64(r.var.mask)})`
  );
}

/** __mark_reg_unbounded: every bound open, the tnum kept. */
export function markUnbounded(r: Reg): Reg {
  const b = work(r);
  unbounded64(b);
  unbounded32(b);
  return done(r, b);
}
