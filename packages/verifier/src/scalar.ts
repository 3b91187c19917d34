/**
 * Scalar range tracking as the kernel does it (kernel/bpf/verifier.c: adjust_scalar_min_max_vals,
 * reg_bounds_sync, is_scalar_branch_taken, regs_refine_cond_op, coerce_reg_to_size): each ALU
 * operation updates the tnum and the 64- and 32-bit bounds separately, then the bounds learn
 * from one another. Pure functions over {@link Reg}.
 */
import type { AluName } from '@bpf/isa';
import { copyReg, S32_MAX, S32_MAX_N, S32_MIN, S32_MIN_N, S64_MAX, S64_MIN, U32_MAX_N, UNKNOWN, known, type Reg } from './state.js';
import {
  bigOf,
  lowS32,
  lowU32,
  numOf,
  TNUM_UNKNOWN,
  U32_MAX,
  U64_MAX,
  tnum,
  tnumAdd,
  tnumAnd,
  tnumArshift,
  tnumCast,
  tnumClearSubreg,
  tnumConst,
  tnumConstSubreg,
  tnumIntersect,
  tnumIsConst,
  tnumLshift,
  tnumMul,
  tnumNeg,
  tnumOr,
  tnumRange,
  tnumRshift,
  tnumSub,
  tnumSubreg,
  tnumStep,
  tnumSubregIsConst,
  tnumXor,
  type Tnum,
} from './tnum.js';
import { aluLow, aluMid, aluWide, coerceLow, syncHigh32, syncLow32, syncMid, syncWide } from './scalarlow.js';

/** The mutable working copy of a register's scalar part. */
export interface B {
  var: Tnum;
  smin: bigint;
  smax: bigint;
  umin: bigint;
  umax: bigint;
  s32min: number;
  s32max: number;
  u32min: number;
  u32max: number;
}

/** Two's-complement views and bounds arithmetic on BigInts, shared with cond.ts. */
// a value already in range is returned as it is: comparisons allocate nothing, asIntN/asUintN a new BigInt
export const s64 = (x: bigint): bigint => (x >= S64_MIN && x <= S64_MAX ? x : BigInt.asIntN(64, x));
export const u64 = (x: bigint): bigint => (x >= 0n && x <= U64_MAX ? x : BigInt.asUintN(64, x));
export const s32 = (x: bigint): bigint => (x >= S32_MIN && x <= S32_MAX ? x : BigInt.asIntN(32, x));
export const u32 = (x: bigint): bigint => (x >= 0n && x <= U32_MAX ? x : BigInt.asUintN(32, x));
export const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
export const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
/** max and min of the 32-bit bounds (numbers). */
export const nmax = (a: number, b: number): number => (a > b ? a : b);
export const nmin = (a: number, b: number): number => (a < b ? a : b);

export const work = (r: Reg): B => ({ var: r.var, smin: r.smin, smax: r.smax, umin: r.umin, umax: r.umax, s32min: r.s32min, s32max: r.s32max, u32min: r.u32min, u32max: r.u32max });
/**
 * `{ ...r, ...b }`: a copy of `r` with the bounds of `b`, or `r` itself when they are its own
 * (registers are never mutated; a refinement or sync that learns nothing allocates nothing).
 */
export const done = (r: Reg, b: B): Reg => {
  if (
    b.smin === r.smin &&
    b.smax === r.smax &&
    b.umin === r.umin &&
    b.umax === r.umax &&
    b.s32min === r.s32min &&
    b.s32max === r.s32max &&
    b.u32min === r.u32min &&
    b.u32max === r.u32max &&
    (b.var === r.var || (b.var.value === r.var.value && b.var.mask === r.var.mask))
  )
    return r;
  const o = copyReg(r);
  o.var = b.var;
  o.smin = b.smin;
  o.smax = b.smax;
  o.umin = b.umin;
  o.umax = b.umax;
  o.s32min = b.s32min;
  o.s32max = b.s32max;
  o.u32min = b.u32min;
  o.u32max = b.u32max;
  return o;
};

function markKnown(b: B, v: bigint): void {
  const k = known(v);
  Object.assign(b, work(k));
}

function markKnown32(b: B, v: bigint): void {
  b.var = tnumConstSubreg(b.var, v);
  b.s32min = b.s32max = lowS32(v);
  b.u32min = b.u32max = lowU32(v);
}

export function unbounded64(b: B): void {
  b.smin = S64_MIN;
  b.smax = S64_MAX;
  b.umin = 0n;
  b.umax = U64_MAX;
}

export function unbounded32(b: B): void {
  b.s32min = S32_MIN_N;
  b.s32max = S32_MAX_N;
  b.u32min = 0;
  b.u32max = U32_MAX_N;
}

function update32(b: B): void {
  const t = b.var;
  // nothing known (a value the tnum says nothing of): the bounds only meet the full range
  if (t.mask === U64_MAX && t.value === 0n) {
    b.s32min = nmax(b.s32min, S32_MIN_N);
    b.s32max = nmin(b.s32max, S32_MAX_N);
    b.u32min = nmax(b.u32min, 0);
    b.u32max = nmin(b.u32max, U32_MAX_N);
    return;
  }
  const v = lowU32(t.value);
  const m = lowU32(t.mask);
  // int32 operations: `v | (m & 0x80000000)` is the s32 view already
  b.s32min = nmax(b.s32min, v | (m & 0x80000000));
  b.s32max = nmin(b.s32max, v | (m & 0x7fffffff));
  b.u32min = nmax(b.u32min, v);
  b.u32max = nmin(b.u32max, (v | m) >>> 0);
}

function update64(b: B): void {
  const t = b.var;
  // nothing known: the same steps with tmax = U64_MAX and tnum_step(umin) = umin + 1 worked out
  if (t.mask === U64_MAX && t.value === 0n) {
    b.smin = max(b.smin, S64_MIN);
    b.smax = min(b.smax, S64_MAX);
    b.umin = max(b.umin, 0n);
    b.umax = min(b.umax, U64_MAX);
    if (b.umin < U64_MAX) {
      if (b.umax <= b.umin) markKnown(b, b.umin);
      return;
    }
  }
  b.smin = max(b.smin, s64(t.value | (t.mask & 0x8000000000000000n)));
  b.smax = min(b.smax, s64(t.value | (t.mask & 0x7fffffffffffffffn)));
  b.umin = max(b.umin, t.value);
  b.umax = min(b.umax, t.value | t.mask);
  // the u64 range and the tnum may have a single value in common (Linux 6.18); as the kernel's
  // tnum_step answers tmax from tmax on, this also makes a register whose range contradicts its
  // tnum that constant when the tnum is one (or umin lies beyond tmax)
  if (t.mask === 0n) {
    if (b.umin !== t.value || b.umax < t.value) markKnown(b, t.value);
    return;
  }
  const tmax = t.value | t.mask;
  const next = b.umin >= tmax ? tmax : tnumStep(t, b.umin);
  const uminIn = (b.umin & ~t.mask) === t.value;
  if (uminIn && next > b.umax) markKnown(b, b.umin);
  else if (!uminIn && next === tmax) markKnown(b, tmax);
  else if (!uminIn && next <= b.umax && tnumStep(t, next) > b.umax) markKnown(b, next);
}

/** __update_reg_bounds (exported for scalar.test.ts). */
export function updateBounds(b: B): void {
  update32(b);
  update64(b);
}

function deduce32(b: B): void {
  // the low halves of the 64-bit bounds, as numbers (`>>> 0` and `| 0` below are u32() and s32())
  const uminLo = lowU32(b.umin);
  const umaxLo = lowU32(b.umax);
  const sminLo = lowU32(b.smin);
  const smaxLo = lowU32(b.smax);
  if (b.umin >> 32n === b.umax >> 32n) {
    b.u32min = nmax(b.u32min, uminLo);
    b.u32max = nmin(b.u32max, umaxLo);
    if ((uminLo | 0) <= (umaxLo | 0)) {
      b.s32min = nmax(b.s32min, uminLo | 0);
      b.s32max = nmin(b.s32max, umaxLo | 0);
    }
  }
  if (b.smin >> 32n === b.smax >> 32n) {
    b.u32min = nmax(b.u32min, sminLo);
    b.u32max = nmin(b.u32max, smaxLo);
    if ((sminLo | 0) <= (smaxLo | 0)) {
      b.s32min = nmax(b.s32min, sminLo | 0);
      b.s32max = nmin(b.s32max, smaxLo | 0);
    }
  }
  // the upper halves are two consecutive numbers and the lower half crosses the sign boundary
  if (u32((b.umin >> 32n) + 1n) === u32(b.umax >> 32n) && (uminLo | 0) < 0 && (umaxLo | 0) >= 0) {
    b.s32min = nmax(b.s32min, uminLo | 0);
    b.s32max = nmin(b.s32max, umaxLo | 0);
  }
  if (u32((u64(b.smin) >> 32n) + 1n) === u32(u64(b.smax) >> 32n) && (sminLo | 0) < 0 && (smaxLo | 0) >= 0) {
    b.s32min = nmax(b.s32min, sminLo | 0);
    b.s32max = nmin(b.s32max, smaxLo | 0);
  }
  if ((b.u32min | 0) <= (b.u32max | 0)) {
    b.s32min = nmax(b.s32min, b.u32min | 0);
    b.s32max = nmin(b.s32max, b.u32max | 0);
  }
  if (b.s32min >>> 0 <= b.s32max >>> 0) {
    b.u32min = nmax(b.s32min >>> 0, b.u32min);
    b.u32max = nmin(b.s32max >>> 0, b.u32max);
  } else if (b.u32max < b.s32min >>> 0) {
    // the s32 range crosses the sign boundary and the u32 range meets only its non-negative part (Linux 6.18)
    b.s32min = b.u32min | 0;
    b.u32max = nmin(b.u32max, b.s32max >>> 0);
  } else if (b.s32max >>> 0 < b.u32min) {
    // ... or only its negative part
    b.s32max = b.u32max | 0;
    b.u32min = nmax(b.u32min, b.s32min >>> 0);
  }
}

function deduce64(b: B): void {
  if (s64(b.umin) <= s64(b.umax)) {
    b.smin = max(b.smin, s64(b.umin));
    b.smax = min(b.smax, s64(b.umax));
  }
  if (u64(b.smin) <= u64(b.smax)) {
    b.umin = max(u64(b.smin), b.umin);
    b.umax = min(u64(b.smax), b.umax);
  } else if (b.umax < u64(b.smin)) {
    b.smin = s64(b.umin);
    b.umax = min(b.umax, u64(b.smax));
  } else if (u64(b.smax) < b.umin) {
    b.smax = s64(b.umax);
    b.umin = max(b.umin, u64(b.smin));
  }
}

function deduceMixed(b: B): void {
  const hiMask = ~0xffffffffn;
  const u32min = bigOf(b.u32min);
  const u32max = bigOf(b.u32max);
  b.umin = max(b.umin, (b.umin & hiMask) | u32min);
  b.umax = min(b.umax, u64((b.umax & hiMask) | u32max));
  b.smin = max(b.smin, s64((u64(b.smin) & hiMask) | u32min));
  b.smax = min(b.smax, s64((u64(b.smax) & hiMask) | u32max));
  if (b.s32min >= 0 && b.smin >= S32_MIN && b.smax <= S32_MAX) {
    b.smin = bigOf(b.s32min);
    b.smax = bigOf(b.s32max);
    b.umin = u64(b.smin);
    b.umax = u64(b.smax);
    b.var = tnumIntersect(b.var, tnumRange(b.umin, b.umax));
  }
}

function boundOffset(b: B): void {
  const v64 = tnumIntersect(b.var, tnumRange(b.umin, b.umax));
  const v32 = tnumIntersect(tnumSubreg(v64), tnumRange(bigOf(b.u32min), bigOf(b.u32max)));
  b.var = tnumOr(tnumClearSubreg(v64), v32);
}

export function sync(b: B): void {
  if (syncLow32(b) || syncHigh32(b) || unknownAboveUmin(b) || syncMid(b) || syncWide(b)) return;
  syncGeneric(b);
}

/**
 * A tnum that knows nothing, every bound open but umin, and umin below 2^63 (`x != 0` of an
 * unknown x): every step of the sync keeps it as it is (no 32-bit or signed bound follows from a
 * umin alone, and tnum_range(umin, U64_MAX) spans every bit). scalar.test.ts checks it against syncGeneric.
 */
function unknownAboveUmin(b: B): boolean {
  return (
    b.var.mask === U64_MAX &&
    b.var.value === 0n &&
    b.umax === U64_MAX &&
    b.smin === S64_MIN &&
    b.smax === S64_MAX &&
    b.u32min === 0 &&
    b.u32max === U32_MAX_N &&
    b.s32min === S32_MIN_N &&
    b.s32max === S32_MAX_N &&
    b.umin >= 0n &&
    b.umin <= S64_MAX
  );
}

/** reg_bounds_sync on BigInts, for any register. */
export function syncGeneric(b: B): void {
  // already exact: a constant whose bounds are that constant, or nothing known at all
  if (b.var.mask === 0n) {
    const v = b.var.value;
    const s = s64(v);
    const lo = lowU32(v);
    if (b.umin === v && b.umax === v && b.smin === s && b.smax === s && b.u32min === lo && b.u32max === lo && b.s32min === (lo | 0) && b.s32max === b.s32min) return;
  } else if (b.var.mask === U64_MAX && b.umin === 0n && b.umax === U64_MAX && b.smin === S64_MIN && b.smax === S64_MAX && b.u32min === 0 && b.u32max === U32_MAX_N && b.s32min === S32_MIN_N && b.s32max === S32_MAX_N) return;
  updateBounds(b);
  deduce32(b);
  deduce64(b);
  deduceMixed(b);
  deduce32(b);
  deduce64(b);
  deduceMixed(b);
  boundOffset(b);
  updateBounds(b);
}

/** reg_bounds_sync. */
export function boundsSync(r: Reg): Reg {
  const b = work(r);
  sync(b);
  return done(r, b);
}

function zext32to64(b: B): void {
  b.var = tnumSubreg(b.var);
  b.umin = bigOf(b.u32min);
  b.umax = bigOf(b.u32max);
  if (b.s32min >= 0 && b.s32max >= 0) {
    b.smin = bigOf(b.s32min);
    b.smax = bigOf(b.s32max);
  } else {
    b.smin = 0n;
    b.smax = U32_MAX;
  }
}

/** The low 32 bits zero-extended, as a 32-bit move or ALU32 result leaves a register. */
export function zext(r: Reg): Reg {
  // a value already zero-extended (upper half known zero, 64-bit bounds those of the low half) is its own zero extension
  if (r.umax <= U32_MAX && r.var.value >> 32n === 0n && r.var.mask >> 32n === 0n && numOf(r.umin) === r.u32min && numOf(r.umax) === r.u32max && r.smin === r.umin && r.smax === r.umax) return r;
  const b = work(r);
  zext32to64(b);
  sync(b);
  return done(r, b);
}

// ---- arithmetic ----

const addOv = (x: bigint, lo: bigint, hi: bigint): boolean => x < lo || x > hi;
const addOv32 = (x: number): boolean => x < S32_MIN_N || x > S32_MAX_N;

// add, sub and mul come in a 32- and a 64-bit version with the fields named directly: one
// generic version indexing `b[name]` by a string made every access a keyed (megamorphic) lookup
// and allocated a tuple per call

// the 32-bit versions on numbers: sums and differences of 32-bit bounds are exact doubles, and
// `>>> 0` is `& U32_MAX` (u32()) of any of them

export function add32(b: B, s: B): void {
  const lo = b.s32min + s.s32min;
  const hi = b.s32max + s.s32max;
  if (addOv32(lo) || addOv32(hi)) {
    b.s32min = S32_MIN_N;
    b.s32max = S32_MAX_N;
  } else {
    b.s32min = lo;
    b.s32max = hi;
  }
  const ulo = b.u32min + s.u32min;
  const uhi = b.u32max + s.u32max;
  if (ulo <= U32_MAX_N && uhi > U32_MAX_N) {
    b.u32min = 0;
    b.u32max = U32_MAX_N;
  } else {
    b.u32min = ulo >>> 0;
    b.u32max = uhi >>> 0;
  }
}

export function add64(b: B, s: B): void {
  const lo = b.smin + s.smin;
  const hi = b.smax + s.smax;
  if (addOv(lo, S64_MIN, S64_MAX) || addOv(hi, S64_MIN, S64_MAX)) {
    b.smin = S64_MIN;
    b.smax = S64_MAX;
  } else {
    b.smin = lo;
    b.smax = hi;
  }
  const ulo = b.umin + s.umin;
  const uhi = b.umax + s.umax;
  if (ulo <= U64_MAX && uhi > U64_MAX) {
    b.umin = 0n;
    b.umax = U64_MAX;
  } else {
    b.umin = ulo & U64_MAX;
    b.umax = uhi & U64_MAX;
  }
}

export function sub32(b: B, s: B): void {
  const lo = b.s32min - s.s32max;
  const hi = b.s32max - s.s32min;
  if (addOv32(lo) || addOv32(hi)) {
    b.s32min = S32_MIN_N;
    b.s32max = S32_MAX_N;
  } else {
    b.s32min = lo;
    b.s32max = hi;
  }
  const ulo = b.u32min - s.u32max;
  const uhi = b.u32max - s.u32min;
  if (ulo < 0 && uhi >= 0) {
    b.u32min = 0;
    b.u32max = U32_MAX_N;
  } else {
    b.u32min = ulo >>> 0;
    b.u32max = uhi >>> 0;
  }
}

export function sub64(b: B, s: B): void {
  const lo = b.smin - s.smax;
  const hi = b.smax - s.smin;
  if (addOv(lo, S64_MIN, S64_MAX) || addOv(hi, S64_MIN, S64_MAX)) {
    b.smin = S64_MIN;
    b.smax = S64_MAX;
  } else {
    b.smin = lo;
    b.smax = hi;
  }
  const ulo = b.umin - s.umax;
  const uhi = b.umax - s.umin;
  if (ulo < 0n && uhi >= 0n) {
    b.umin = 0n;
    b.umax = U64_MAX;
  } else {
    b.umin = ulo & U64_MAX;
    b.umax = uhi & U64_MAX;
  }
}

/** Whether the four signed products stay in [lo, hi]; their least and greatest then in mulLo, mulHi (no array per call). */
function mulSigned(amin: bigint, amax: bigint, bmin: bigint, bmax: bigint, lo: bigint, hi: bigint): boolean {
  const p0 = amin * bmin;
  const p1 = amin * bmax;
  const p2 = amax * bmin;
  const p3 = amax * bmax;
  if (p0 < lo || p0 > hi || p1 < lo || p1 > hi || p2 < lo || p2 > hi || p3 < lo || p3 > hi) return false;
  mulLo = min(min(p0, p1), min(p2, p3));
  mulHi = max(max(p0, p1), max(p2, p3));
  return true;
}
let mulLo = 0n;
let mulHi = 0n;

// products of 32-bit bounds reach 2^64 and are then rounded, but a rounded product lies beyond
// the 32-bit limits exactly when the exact one does, and one within them is exact
export function mul32(b: B, s: B): void {
  const uhi = b.u32max * s.u32max;
  const ulo = b.u32min * s.u32min;
  if (uhi > U32_MAX_N || ulo > U32_MAX_N) {
    b.u32min = 0;
    b.u32max = U32_MAX_N;
  } else {
    b.u32min = ulo;
    b.u32max = uhi;
  }
  const p0 = b.s32min * s.s32min;
  const p1 = b.s32min * s.s32max;
  const p2 = b.s32max * s.s32min;
  const p3 = b.s32max * s.s32max;
  if (addOv32(p0) || addOv32(p1) || addOv32(p2) || addOv32(p3)) {
    b.s32min = S32_MIN_N;
    b.s32max = S32_MAX_N;
  } else {
    // `+ 0`: a product of zero and a negative bound is -0
    b.s32min = nmin(nmin(p0, p1), nmin(p2, p3)) + 0;
    b.s32max = nmax(nmax(p0, p1), nmax(p2, p3)) + 0;
  }
}

export function mul64(b: B, s: B): void {
  const uhi = b.umax * s.umax;
  const ulo = b.umin * s.umin;
  if (uhi > U64_MAX || ulo > U64_MAX) {
    b.umin = 0n;
    b.umax = U64_MAX;
  } else {
    b.umin = ulo;
    b.umax = uhi;
  }
  if (mulSigned(b.smin, b.smax, s.smin, s.smax, S64_MIN, S64_MAX)) {
    b.smin = mulLo;
    b.smax = mulHi;
  } else {
    b.smin = S64_MIN;
    b.smax = S64_MAX;
  }
}

function bitop(b: B, s: B, op: 'and' | 'or' | 'xor', bits: 32 | 64, srcKnown: boolean, dstKnown: boolean): void {
  if (bits === 32) {
    const t = tnumSubreg(b.var);
    if (srcKnown && dstKnown) {
      markKnown32(b, t.value);
      return;
    }
    if (op === 'and') {
      b.u32min = lowU32(t.value);
      b.u32max = nmin(b.u32max, s.u32max);
    } else if (op === 'or') {
      b.u32min = nmax(b.u32min, s.u32min);
      b.u32max = lowU32(t.value | t.mask);
    } else {
      b.u32min = lowU32(t.value);
      b.u32max = lowU32(t.value | t.mask);
    }
    if ((b.u32min | 0) <= (b.u32max | 0)) {
      b.s32min = b.u32min | 0;
      b.s32max = b.u32max | 0;
    } else {
      b.s32min = S32_MIN_N;
      b.s32max = S32_MAX_N;
    }
    return;
  }
  if (srcKnown && dstKnown) {
    markKnown(b, b.var.value);
    return;
  }
  if (op === 'and') {
    b.umin = b.var.value;
    b.umax = min(b.umax, s.umax);
  } else if (op === 'or') {
    b.umin = max(b.umin, s.umin);
    b.umax = b.var.value | b.var.mask;
  } else {
    b.umin = b.var.value;
    b.umax = b.var.value | b.var.mask;
  }
  if (s64(b.umin) <= s64(b.umax)) {
    b.smin = s64(b.umin);
    b.smax = s64(b.umax);
  } else {
    b.smin = S64_MIN;
    b.smax = S64_MAX;
  }
  updateBounds(b);
}

/** The shift counts are the source's bounds, below 64 (is_safe_to_compute_dst_reg_range). */
function lsh32(b: B, lo: number, hi: number): void {
  b.s32min = S32_MIN_N;
  b.s32max = S32_MAX_N;
  if (hi > 31 || b.u32max > 2 ** (31 - hi)) {
    b.u32min = 0;
    b.u32max = U32_MAX_N;
  } else {
    // int32 shifts: `x << k` is (x * 2^k) mod 2^32 for any integer x, k < 32
    b.u32min = (b.u32min << lo) >>> 0;
    b.u32max = (b.u32max << hi) >>> 0;
  }
}

function lsh64(b: B, lo: bigint, hi: bigint): void {
  // `<< 32` moves the signed 32-bit range into the upper half exactly (Linux 6.18)
  b.smax = lo === 32n && hi === 32n ? bigOf(b.s32max) << 32n : S64_MAX;
  b.smin = lo === 32n && hi === 32n ? bigOf(b.s32min) << 32n : S64_MIN;
  if (b.umax > 1n << (63n - hi)) {
    b.umin = 0n;
    b.umax = U64_MAX;
  } else {
    b.umin = u64(b.umin << lo);
    b.umax = u64(b.umax << hi);
  }
}

function shift(b: B, s: B, op: 'lsh' | 'rsh' | 'arsh', alu32: boolean): void {
  if (alu32) {
    const lo = s.u32min;
    const hi = s.u32max;
    const sub = tnumSubreg(b.var);
    if (op === 'lsh') {
      lsh32(b, lo, hi);
      b.var = tnumSubreg(tnumLshift(sub, lo));
    } else if (op === 'rsh') {
      b.s32min = S32_MIN_N;
      b.s32max = S32_MAX_N;
      b.var = tnumRshift(sub, lo);
      // BigInt `>>`: floor division by a power of two
      b.u32min = Math.floor(b.u32min / 2 ** hi);
      b.u32max = Math.floor(b.u32max / 2 ** lo);
    } else {
      // s32(u32(x >> lo)): the floor quotient's low 32 bits, signed
      b.s32min = Math.floor(b.s32min / 2 ** lo) | 0;
      b.s32max = Math.floor(b.s32max / 2 ** lo) | 0;
      b.var = tnumArshift(sub, lo, 32);
      b.u32min = 0;
      b.u32max = U32_MAX_N;
    }
    unbounded64(b);
    update32(b);
    return;
  }
  const lo = s.umin;
  const hi = s.umax;
  if (op === 'lsh') {
    lsh64(b, lo, hi);
    lsh32(b, numOf(lo), numOf(hi));
    b.var = tnumLshift(b.var, Number(lo));
  } else if (op === 'rsh') {
    b.smin = S64_MIN;
    b.smax = S64_MAX;
    b.var = tnumRshift(b.var, Number(lo));
    b.umin >>= hi;
    b.umax >>= lo;
    unbounded32(b);
  } else {
    b.smin >>= lo;
    b.smax >>= lo;
    b.var = tnumArshift(b.var, Number(lo), 64);
    b.umin = 0n;
    b.umax = U64_MAX;
    unbounded32(b);
  }
  updateBounds(b);
}

function srcIsConst(s: Reg, alu32: boolean): boolean {
  return alu32 ? tnumSubregIsConst(s.var) && s.s32min === s.s32max && s.u32min === s.u32max : tnumIsConst(s.var) && s.smin === s.smax && s.umin === s.umax;
}

/**
 * `x op y` on two constants as the bounds arithmetic below ends up with them: the operation's
 * exact result, of the low 32 bits zero-extended for ALU32 (the bounds rules are sound, so a
 * constant in gives the constant out). undefined where the result is not a constant.
 */
function constOp(op: AluName, x: bigint, y: bigint, alu32: boolean): bigint | undefined {
  if (alu32) {
    const a = x & U32_MAX;
    const c = y & U32_MAX;
    switch (op) {
      case 'add':
        return u32(a + c);
      case 'sub':
        return u32(a - c);
      case 'mul':
        return u32(a * c);
      case 'neg':
        return u32(-a);
      case 'and':
        return a & c;
      case 'or':
        return a | c;
      case 'xor':
        return a ^ c;
      case 'lsh':
        return c < 32n ? u32(a << c) : undefined;
      case 'rsh':
        return c < 32n ? a >> c : undefined;
      case 'arsh':
        return c < 32n ? u32(s32(a) >> c) : undefined;
      default:
        return undefined;
    }
  }
  switch (op) {
    case 'add':
      return u64(x + y);
    case 'sub':
      return u64(x - y);
    case 'mul':
      return u64(x * y);
    case 'neg':
      return u64(-x);
    case 'and':
      return x & y;
    case 'or':
      return x | y;
    case 'xor':
      return x ^ y;
    case 'lsh':
      return y < 64n ? u64(x << y) : undefined;
    case 'rsh':
      return y < 64n ? x >> y : undefined;
    case 'arsh':
      return y < 64n ? u64(s64(x) >> y) : undefined;
    default:
      return undefined;
  }
}

/** A scalar with only the fields of {@link known}'s registers (no link, no fixed offset, no other optional field). */
function plainScalar(r: Reg): boolean {
  return (
    r.off === 0 &&
    r.id === undefined &&
    r.addConst === undefined &&
    r.addConst32 === undefined &&
    r.frame === undefined &&
    r.map === undefined &&
    r.range === undefined &&
    r.refObjId === undefined &&
    r.memSize === undefined &&
    r.subprog === undefined &&
    r.allocLock === undefined &&
    r.nonOwn === undefined &&
    r.iter === undefined &&
    r.irqClass === undefined &&
    r.dynptr === undefined &&
    r.dynptrId === undefined &&
    r.pktSlice === undefined &&
    r.buf === undefined &&
    r.mapUid === undefined
  );
}

/** adjust_scalar_min_max_vals: `dst op= src` on two scalars. */
export function scalarAlu(op: AluName, dst: Reg, src: Reg, alu32: boolean): Reg {
  const srcConst = srcIsConst(src, alu32);
  // two constants (most ALU instructions of unrolled loops and straight-line code): the result
  // is the constant, without the bounds arithmetic's BigInts (scalar.test.ts checks both agree)
  if (srcConst && srcIsConst(dst, alu32)) {
    // `src.umax < bits` below for shifts: for a constant source the value itself
    const v = (op === 'lsh' || op === 'rsh' || op === 'arsh') && src.umax >= (alu32 ? 32n : 64n) ? undefined : constOp(op, dst.var.value, src.var.value, alu32);
    // a destination without a link or any other field is the constant register itself (shared
    // for small values): no copy of it per operation
    if (v !== undefined) return plainScalar(dst) ? known(v) : done(dst, known(v));
  }
  // both operands below 2^32 (most of real programs' arithmetic): on numbers (scalarlow.ts)
  return aluLow(op, dst, src, alu32, srcConst) ?? aluMid(op, dst, src, alu32) ?? aluWide(op, dst, src, alu32, srcConst) ?? scalarAluGeneric(op, dst, src, alu32, srcConst);
}

/** scalarAlu without the constant shortcut (exported for the tests comparing the two). */
export function scalarAluGeneric(op: AluName, dst: Reg, src: Reg, alu32: boolean, srcConst = srcIsConst(src, alu32)): Reg {
  const bits = alu32 ? 32 : 64;
  switch (op) {
    case 'add':
    case 'sub':
    case 'neg':
    case 'and':
    case 'or':
    case 'xor':
    case 'mul':
      break;
    case 'lsh':
    case 'rsh':
    case 'arsh':
      // is_safe_to_compute_dst_reg_range compares the 64-bit umax, also for 32-bit shifts
      if (srcConst && src.umax < BigInt(bits)) break;
      return UNKNOWN;
    default:
      // division and modulo are not tracked: the kernel marks the whole register unknown
      return UNKNOWN;
  }
  const b = work(dst);
  const s = work(src);
  switch (op) {
    case 'add':
      add32(b, s);
      add64(b, s);
      b.var = tnumAdd(b.var, s.var);
      break;
    case 'sub':
      sub32(b, s);
      sub64(b, s);
      b.var = tnumSub(b.var, s.var);
      break;
    case 'neg': {
      const old = work(dst);
      markKnown(b, 0n);
      sub32(b, old);
      sub64(b, old);
      b.var = tnumNeg(old.var);
      break;
    }
    case 'mul':
      b.var = tnumMul(b.var, s.var);
      mul32(b, s);
      mul64(b, s);
      break;
    case 'and':
    case 'or':
    case 'xor': {
      b.var = op === 'and' ? tnumAnd(b.var, s.var) : op === 'or' ? tnumOr(b.var, s.var) : tnumXor(b.var, s.var);
      const dstKnown32 = tnumSubregIsConst(b.var);
      const dstKnown64 = tnumIsConst(b.var);
      bitop(b, s, op, 32, tnumSubregIsConst(s.var), dstKnown32);
      bitop(b, s, op, 64, tnumIsConst(s.var), dstKnown64);
      break;
    }
    default:
      shift(b, s, op as 'lsh' | 'rsh' | 'arsh', alu32);
  }
  if (alu32) zext32to64(b);
  sync(b);
  return done(dst, b);
}

/** The kernel's concrete result of an ALU op on constants (for division and modulo, which it does not track). */
export function constAlu(op: AluName, x0: bigint, y0: bigint, alu32: boolean): bigint | undefined {
  const mask = alu32 ? U32_MAX : U64_MAX;
  const x = x0 & mask;
  const y = y0 & mask;
  const sx = alu32 ? s32(x) : s64(x);
  const sy = alu32 ? s32(y) : s64(y);
  switch (op) {
    case 'div':
      return y === 0n ? 0n : x / y;
    case 'sdiv':
      return (sy === 0n ? 0n : sx / sy) & mask;
    case 'mod':
      return y === 0n ? x : x % y;
    case 'smod':
      return (sy === 0n ? sx : sx % sy) & mask;
    default:
      return undefined;
  }
}

// ---- byte swaps ----

function swapBytes(x: bigint, bytes: number): bigint {
  let out = 0n;
  for (let k = 0; k < bytes; k++) out = (out << 8n) | ((x >> BigInt(8 * k)) & 0xffn);
  return out;
}

/** BPF_END on a scalar: swap the tnum where the operation swaps (little-endian host), then truncate. */
export function byteSwap(r: Reg, order: 'le' | 'be' | 'bswap', bits: 16 | 32 | 64): Reg {
  let out = r;
  if (order !== 'le') {
    const bytes = bits / 8;
    const m = bits === 64 ? U64_MAX : (1n << BigInt(bits)) - 1n;
    // a literal copy, not `{ ...UNKNOWN, var }` (a spread's copy takes V8's slow path; state.ts copyReg)
    const o = copyReg(UNKNOWN);
    o.var = tnum(swapBytes(r.var.value & m, bytes), swapBytes(r.var.mask & m, bytes));
    out = o;
  }
  if (bits === 16 || bits === 32) return coerceToSize(out, bits / 8);
  return boundsSync(out);
}

// ---- loads and moves ----

/** The low `size` bytes' mask, by size (no BigInt made per call). */
const SIZE_MASK: readonly (bigint | undefined)[] = [0n, 0xffn, 0xffffn, 0xffffffn, 0xffffffffn, 0xffffffffffn, 0xffffffffffffn, 0xffffffffffffffn];

/** coerceToSize of UNKNOWN by size (a load of a byte, half or word from a packet or the context): made once. */
const unknownSized: (Reg | undefined)[] = [];

/** coerce_reg_to_size: keep the low `size` bytes of a value. */
export function coerceToSize(r: Reg, size: number): Reg {
  if (size >= 8) return r;
  if (r === UNKNOWN && size >= 0 && size < 8 && Number.isInteger(size)) return (unknownSized[size] ??= coerceToSizeWork(r, size));
  // a register below 2^32 (most loaded values): on numbers (scalarlow.ts)
  return coerceLow(r, size) ?? coerceToSizeWork(r, size);
}

/** coerceToSize on BigInts, for any register (exported for the tests comparing the two). */
export function coerceToSizeWork(r: Reg, size: number): Reg {
  const b = work(r);
  b.var = tnumCast(b.var, size);
  const m = SIZE_MASK[size] ?? (1n << BigInt(size * 8)) - 1n;
  // both bounds already fit (a loaded byte, half or word kept as it is): `& m` changes neither
  if (b.umin <= m && b.umax <= m) {
    // nothing to mask
  } else if ((b.umin & ~m) === (b.umax & ~m)) {
    b.umin &= m;
    b.umax &= m;
  } else {
    b.umin = 0n;
    b.umax = m;
  }
  b.smin = b.umin;
  b.smax = b.umax;
  if (size < 4) unbounded32(b);
  sync(b);
  return done(r, b);
}

const SX_MIN = { 1: -0x80n, 2: -0x8000n, 4: S32_MIN } as const;
const SX_MAX = { 1: 0x7fn, 2: 0x7fffn, 4: S32_MAX } as const;
const SX_MIN_N = { 1: -0x80, 2: -0x8000, 4: S32_MIN_N } as const;
const SX_MAX_N = { 1: 0x7f, 2: 0x7fff, 4: S32_MAX_N } as const;

/** coerce_reg_to_size_sx: sign-extend the low `size` bytes into 64 bits (no bounds sync, as the kernel). */
export function coerceToSizeSx(r: Reg, size: 1 | 2 | 4): Reg {
  const bits = size * 8;
  if (tnumIsConst(r.var)) return { ...known(BigInt.asIntN(bits, r.var.value)), type: r.type, off: r.off };
  const b = work(r);
  const nb = BigInt(bits);
  if ((u64(b.smax) >> nb) << nb === (u64(b.smin) >> nb) << nb) {
    const x = BigInt.asIntN(bits, b.smax);
    const y = BigInt.asIntN(bits, b.smin);
    const hi = max(x, y);
    const lo = min(x, y);
    if (hi >= 0n === lo >= 0n) {
      b.smin = lo;
      b.s32min = lowS32(lo);
      b.smax = hi;
      b.s32max = lowS32(hi);
      b.umin = u64(lo);
      b.u32min = lowU32(lo);
      b.umax = u64(hi);
      b.u32max = lowU32(hi);
      b.var = tnumRange(u64(lo), u64(hi));
      return done(r, b);
    }
  }
  // the running 6.18 kernel (measured live, packages/verifier/src/movsx.test.ts) falls back on
  // the low 32 bits where they are known to hold a value of the size's signed range (all of them
  // for (s32)): their bounds stay, the 64-bit ones are their sign extension, and the bounds are
  // synced (a known low half gives a constant)
  if (size === 4 || (b.s32min >= SX_MIN_N[size] && b.s32max <= SX_MAX_N[size])) {
    b.smin = bigOf(b.s32min);
    b.smax = bigOf(b.s32max);
    b.umin = u64(bigOf(b.u32min | 0));
    b.umax = u64(bigOf(b.u32max | 0));
    b.var = TNUM_UNKNOWN;
    sync(b);
    return done(r, b);
  }
  b.smin = SX_MIN[size];
  b.s32min = SX_MIN_N[size];
  b.smax = SX_MAX[size];
  b.s32max = SX_MAX_N[size];
  b.umin = 0n;
  b.u32min = 0;
  b.umax = U64_MAX;
  b.u32max = U32_MAX_N;
  b.var = TNUM_UNKNOWN;
  return done(r, b);
}

/** coerce_subreg_to_size_sx: sign-extend the low `size` bytes into the low 32 bits. */
export function coerceSubregToSizeSx(r: Reg, size: 1 | 2): Reg {
  const bits = size * 8;
  const b = work(r);
  if (tnumIsConst(r.var)) {
    const v = BigInt.asIntN(bits, r.var.value);
    b.var = tnumConst(v);
    b.s32min = b.s32max = lowS32(v);
    b.u32min = b.u32max = lowU32(v);
    return done(r, b);
  }
  // int32 operations on the 32-bit bounds: `>>> bits` drops the low bits, `<< k >> k` sign-extends them
  const k = 32 - bits;
  if ((b.s32max >>> 0) >>> bits === (b.s32min >>> 0) >>> bits) {
    const x = (b.s32max << k) >> k;
    const y = (b.s32min << k) >> k;
    const hi = nmax(x, y);
    const lo = nmin(x, y);
    if (lo >= 0 === hi >= 0) {
      b.s32min = lo;
      b.s32max = hi;
      b.u32min = lo >>> 0;
      b.u32max = hi >>> 0;
      b.var = tnumSubreg(tnumRange(u64(bigOf(lo)), u64(bigOf(hi))));
      return done(r, b);
    }
  }
  b.s32min = SX_MIN_N[size];
  b.s32max = SX_MAX_N[size];
  b.u32min = 0;
  b.u32max = U32_MAX_N;
  b.var = tnumSubreg(TNUM_UNKNOWN);
  return done(r, b);
}


export { TNUM_UNKNOWN, tnum };
