/**
 * The scalar domain of scalar.ts on numbers, for registers whose upper 32 bits are known zero
 * (issue 25): reg_bounds_sync and the common ALU operations (adjust_scalar_min_max_vals) without
 * a BigInt per step.
 *
 * Most scalars of real programs are loaded bytes, halves and words, lengths and offsets: the
 * tnum's and the 64-bit bounds' upper halves are zero (95% of reg_bounds_sync calls on the
 * kernel corpus, 91% on cilium's tail_handle_ipv4; of the ALU operations on two scalars that
 * are not both constants, 95% on cilium's bpf_lxc.o have both operands so). There the 64-bit
 * view is the value, the 32-bit signed view `x | 0`, the unsigned one `x >>> 0`, and every
 * step below is exact on doubles and int32 operations: the BigInt steps of scalar.ts with the
 * upper halves' terms (always equal, never consecutive) worked out. Where a step would leave
 * that domain (a 64-bit result at or above 2^32, a negative one, inconsistent bounds), nothing
 * is written and the caller runs the BigInt version; scalar.test.ts compares both on random,
 * edge and inconsistent inputs.
 *
 * Two shapes of full 64-bit registers run on numbers too: a value whose low 32 bits are known
 * zero (`x << 32` of a 32-bit value, before the `>> 32` or `s>> 32` of a zero or sign extension:
 * synced on its high halves, syncHigh32), and an operation whose result lies below 2^32 whatever
 * the destination (`>>` by 32 and more, `&` with a source below 2^32: wideDst).
 */
import type { AluName } from '@bpf/isa';
import type { B } from './scalar.js';
import { copyReg, type Reg } from './state.js';
import { bigHighS, bigHighU, bigOf, highS32, highU32, lowU32, signedNum, unsignedNum } from './tnum.js';

const P32 = 0x100000000n;
const TWO32 = 0x100000000;
const U32 = 0xffffffff;
const S32MIN = -0x80000000;
const S32MAX = 0x7fffffff;
const U64MAX = 0xffffffffffffffffn;
const S64MIN = -0x8000000000000000n;
const S64MAX = 0x7fffffffffffffffn;
/** tnum_step's "none": 2^64. */
const NONE = 2 ** 64;

/** Whether the tnum and the 64-bit bounds lie in [0, 2^32) and the 32-bit ones in their ranges. */
export const inLow32 = (b: Readonly<B>): boolean =>
  b.var.value < P32 &&
  b.var.mask < P32 &&
  b.umin >= 0n &&
  b.umin < P32 &&
  b.umax >= 0n &&
  b.umax < P32 &&
  b.smin >= 0n &&
  b.smin < P32 &&
  b.smax >= 0n &&
  b.smax < P32 &&
  b.u32min >= 0 &&
  b.u32min <= U32 &&
  b.u32max >= 0 &&
  b.u32max <= U32 &&
  b.s32min >= S32MIN &&
  b.s32min <= S32MAX &&
  b.s32max >= S32MIN &&
  b.s32max <= S32MAX;

/**
 * The domain tests as the fast paths make them, on the numbers loaded from `r`: the working
 * register's (syncLow32, aluLow's destination), the source's (aluLow) and a pair slot's
 * (refineLow). Each must answer as {@link inLow32} (scalar.test.ts).
 */
export function domainTests(r: Reg): [boolean, boolean, boolean] {
  load(r);
  loadSrc(r);
  loadAt(r, F);
  return [lowOk(), srcLowOk(), lowOkAt(F)];
}

// the working register (module state: one operation runs at a time, nothing allocated); the
// 64-bit signed and unsigned bounds may hold ±Infinity for S64_MIN/S64_MAX/U64_MAX between the
// steps of a shift, which the tnum then bounds
let vv = 0;
let vm = 0;
let umin = 0;
let umax = 0;
let smin = 0;
let smax = 0;
let s32min = 0;
let s32max = 0;
let u32min = 0;
let u32max = 0;
// the values loaded, to keep the BigInts of the fields an operation leaves as they were
let v0 = 0;
let m0 = 0;
let umin0 = 0;
let umax0 = 0;
let smin0 = 0;
let smax0 = 0;
let s32min0 = 0;
let s32max0 = 0;
let u32min0 = 0;
let u32max0 = 0;

function load(b: Readonly<B>): void {
  vv = v0 = unsignedNum(b.var.value);
  vm = m0 = unsignedNum(b.var.mask);
  umin = umin0 = unsignedNum(b.umin);
  umax = umax0 = unsignedNum(b.umax);
  smin = smin0 = signedNum(b.smin);
  smax = smax0 = signedNum(b.smax);
  s32min = s32min0 = b.s32min;
  s32max = s32max0 = b.s32max;
  u32min = u32min0 = b.u32min;
  u32max = u32max0 = b.u32max;
}

/** Write back the fields that changed. */
function store(b: B): void {
  if (vv !== v0 || vm !== m0) b.var = { value: bigOf(vv), mask: bigOf(vm) };
  if (umin !== umin0) b.umin = bigOf(umin);
  if (umax !== umax0) b.umax = bigOf(umax);
  if (smin !== smin0) b.smin = bigOf(smin);
  if (smax !== smax0) b.smax = bigOf(smax);
  b.s32min = s32min;
  b.s32max = s32max;
  b.u32min = u32min;
  b.u32max = u32max;
}

/** The working register is again in the domain (the state inLow32 asks of a B). */
const lowOk = (): boolean =>
  vv >= 0 && vv < TWO32 && vm >= 0 && vm < TWO32 && umin >= 0 && umin < TWO32 && umax >= 0 && umax < TWO32 && smin >= 0 && smin < TWO32 && smax >= 0 && smax < TWO32 && u32min >= 0 && u32min <= U32 && u32max >= 0 && u32max <= U32 && s32min >= S32MIN && s32min <= S32MAX && s32max >= S32MIN && s32max <= S32MAX;

function markKnownLow(v: number): void {
  vv = v;
  vm = 0;
  umin = umax = smin = smax = v;
  s32min = s32max = v | 0;
  u32min = u32max = v;
}

/**
 * tnum_step of (vv; vm) above z, both below 2^32: beyond 2^32 every bit is outside the mask, so
 * the answer is none. tnum.ts tnumStep's closed form on int32 operations: the smallest s within
 * the mask with s > d = z - vv agrees with d above the lowest mask bit p that is 0 in d and lies
 * above every bit of d outside the mask, and is zero below p.
 */
function stepLow(z: number): number {
  if (z < vv) return vv;
  const d = z - vv;
  const bad = (d & ~vm) >>> 0;
  // the mask bits above d's highest bit outside the mask (all of them when there is none)
  const above = bad === 0 ? -1 : bad >= 0x80000000 ? 0 : -1 << (32 - Math.clz32(bad));
  const cand = vm & ~d & above;
  if (cand === 0) return NONE;
  const p = (cand & -cand) >>> 0;
  return vv + (((d & -(p * 2)) | p) >>> 0);
}

/** __update_reg32_bounds. */
function update32Low(): void {
  s32min = Math.max(s32min, vv | (vm & 0x80000000));
  s32max = Math.min(s32max, vv | (vm & 0x7fffffff));
  u32min = Math.max(u32min, vv);
  u32max = Math.min(u32max, (vv | vm) >>> 0);
}

/** __update_reg_bounds: the 32-bit and the 64-bit ones (the tnum's sign bit is zero). */
function updateLow(): void {
  update32Low();
  const tmax = (vv | vm) >>> 0;
  smin = Math.max(smin, vv);
  smax = Math.min(smax, tmax);
  umin = Math.max(umin, vv);
  umax = Math.min(umax, tmax);
  if (vm === 0) {
    if (umin !== vv || umax < vv) markKnownLow(vv);
    return;
  }
  const next = umin >= tmax ? tmax : stepLow(umin);
  const uminIn = ((umin & ~vm) >>> 0) === vv;
  if (uminIn && next > umax) markKnownLow(umin);
  else if (!uminIn && next === tmax) markKnownLow(tmax);
  else if (!uminIn && next <= umax && stepLow(next) > umax) markKnownLow(next);
}

function deduce32Low(): void {
  // the upper halves of the 64-bit bounds are equal (zero), never consecutive
  u32min = Math.max(u32min, umin);
  u32max = Math.min(u32max, umax);
  if ((umin | 0) <= (umax | 0)) {
    s32min = Math.max(s32min, umin | 0);
    s32max = Math.min(s32max, umax | 0);
  }
  u32min = Math.max(u32min, smin);
  u32max = Math.min(u32max, smax);
  if ((smin | 0) <= (smax | 0)) {
    s32min = Math.max(s32min, smin | 0);
    s32max = Math.min(s32max, smax | 0);
  }
  if ((u32min | 0) <= (u32max | 0)) {
    s32min = Math.max(s32min, u32min | 0);
    s32max = Math.min(s32max, u32max | 0);
  }
  if (s32min >>> 0 <= s32max >>> 0) {
    u32min = Math.max(s32min >>> 0, u32min);
    u32max = Math.min(s32max >>> 0, u32max);
  } else if (u32max < s32min >>> 0) {
    s32min = u32min | 0;
    u32max = Math.min(u32max, s32max >>> 0);
  } else if (s32max >>> 0 < u32min) {
    s32max = u32max | 0;
    u32min = Math.max(u32min, s32min >>> 0);
  }
}

function deduce64Low(): void {
  if (umin <= umax) {
    smin = Math.max(smin, umin);
    smax = Math.min(smax, umax);
  }
  if (smin <= smax) {
    umin = Math.max(smin, umin);
    umax = Math.min(smax, umax);
  } else if (umax < smin) {
    smin = umin;
    umax = Math.min(umax, smax);
  } else if (smax < umin) {
    smax = umax;
    umin = Math.max(umin, smin);
  }
}

/** The tnum covering [lo, hi] intersected into (vv; vm) (tnum_intersect(var, tnum_range(lo, hi))). */
function intersectRangeLow(lo: number, hi: number): void {
  const bits = 32 - Math.clz32((lo ^ hi) >>> 0);
  const delta = bits === 32 ? 0xffffffff : 2 ** bits - 1;
  const v = (vv | (lo & ~delta)) >>> 0;
  const mu = (vm & delta) >>> 0;
  vv = (v & ~mu) >>> 0;
  vm = mu;
}

/** false: a step would leave the domain (inconsistent bounds); the caller runs the generic sync. */
function deduceMixedLow(): boolean {
  umin = Math.max(umin, u32min);
  umax = Math.min(umax, u32max);
  smin = Math.max(smin, u32min);
  smax = Math.min(smax, u32max);
  if (s32min >= 0 && smax <= 0x7fffffff) {
    if (s32max < 0) return false;
    smin = umin = s32min;
    smax = umax = s32max;
    intersectRangeLow(umin, umax);
  }
  return true;
}

/** reg_bounds_sync on the working register (in the domain); false where it cannot be done exactly so. */
function syncSteps(): boolean {
  // already exact: a constant whose bounds are that constant
  if (vm === 0 && umin === vv && umax === vv && smin === vv && smax === vv && u32min === vv && u32max === vv && s32min === (vv | 0) && s32max === s32min) return true;
  updateLow();
  deduce32Low();
  deduce64Low();
  if (!deduceMixedLow()) return false;
  deduce32Low();
  deduce64Low();
  if (!deduceMixedLow()) return false;
  // boundOffset: the upper half of the tnum is zero, so the 64- and 32-bit ranges both intersect the low half
  intersectRangeLow(umin, umax);
  intersectRangeLow(u32min, u32max);
  updateLow();
  return true;
}

/** scalar.ts syncGeneric on numbers, for a `b` in the domain (inLow32); false (nothing written) where it cannot be done exactly so. */
export function syncLow32(b: B): boolean {
  // the domain test on the numbers loaded (inLow32 without its 18 BigInt comparisons): Number()
  // rounds monotonically and 0, 2^32 and the int32 limits are exact, so each comparison answers
  // as on the BigInt
  load(b);
  if (!lowOk() || !syncSteps()) return false;
  store(b);
  return true;
}

// ---- adjust_scalar_min_max_vals on numbers ----

// the source operand
let rv = 0;
let rm = 0;
let rumin = 0;
let rumax = 0;
let rsmin = 0;
let rsmax = 0;
let rs32min = 0;
let rs32max = 0;
let ru32min = 0;
let ru32max = 0;

function loadSrc(s: Reg): void {
  rv = unsignedNum(s.var.value);
  rm = unsignedNum(s.var.mask);
  rumin = unsignedNum(s.umin);
  rumax = unsignedNum(s.umax);
  rsmin = signedNum(s.smin);
  rsmax = signedNum(s.smax);
  rs32min = s.s32min;
  rs32max = s.s32max;
  ru32min = s.u32min;
  ru32max = s.u32max;
}

/** The source loaded is in the domain (lowOk of the source registers). */
const srcLowOk = (): boolean =>
  rv >= 0 && rv < TWO32 && rm >= 0 && rm < TWO32 && rumin >= 0 && rumin < TWO32 && rumax >= 0 && rumax < TWO32 && rsmin >= 0 && rsmin < TWO32 && rsmax >= 0 && rsmax < TWO32 && ru32min >= 0 && ru32min <= U32 && ru32max >= 0 && ru32max <= U32 && rs32min >= S32MIN && rs32min <= S32MAX && rs32max >= S32MIN && rs32max <= S32MAX;

/** scalar32_min_max_add and, for ALU64, scalar_min_max_add and tnum_add. */
function addLow(alu32: boolean): boolean {
  let lo = s32min + rs32min;
  let hi = s32max + rs32max;
  if (lo < S32MIN || lo > S32MAX || hi < S32MIN || hi > S32MAX) {
    s32min = S32MIN;
    s32max = S32MAX;
  } else {
    s32min = lo;
    s32max = hi;
  }
  lo = u32min + ru32min;
  hi = u32max + ru32max;
  if (lo <= U32 && hi > U32) {
    u32min = 0;
    u32max = U32;
  } else {
    u32min = lo >>> 0;
    u32max = hi >>> 0;
  }
  // operands below 2^32: the signed and unsigned 64-bit sums neither overflow nor wrap (ALU32
  // drops them: the zero extension sets every 64-bit bound from the 32-bit ones)
  if (!alu32) {
    smin += rsmin;
    smax += rsmax;
    umin += rumin;
    umax += rumax;
  }
  // tnum_add; for ALU32 only the low half is kept, and it is the sum's low half mod 2^32
  const sm = vm + rm;
  const sv = vv + rv;
  const sigma = sm + sv;
  if (!alu32 && sigma >= TWO32) return false;
  const chi = ((sigma >>> 0) ^ (sv >>> 0)) >>> 0;
  const mu = (chi | vm | rm) >>> 0;
  vv = (sv & ~mu) >>> 0;
  vm = mu;
  return true;
}

/** scalar32_min_max_sub and, for ALU64, scalar_min_max_sub and tnum_sub. */
function subLow(alu32: boolean): boolean {
  let lo = s32min - rs32max;
  let hi = s32max - rs32min;
  if (lo < S32MIN || lo > S32MAX || hi < S32MIN || hi > S32MAX) {
    s32min = S32MIN;
    s32max = S32MAX;
  } else {
    s32min = lo;
    s32max = hi;
  }
  lo = u32min - ru32max;
  hi = u32max - ru32min;
  if (lo < 0 && hi >= 0) {
    u32min = 0;
    u32max = U32;
  } else {
    u32min = lo >>> 0;
    u32max = hi >>> 0;
  }
  let dv: number;
  let alpha: number;
  let beta: number;
  if (alu32) {
    dv = (vv - rv) >>> 0;
    alpha = (dv + vm) >>> 0;
    beta = (dv - rm) >>> 0;
  } else {
    // a difference below zero wraps: out of the domain (the signed bounds are checked after)
    smin -= rsmax;
    smax -= rsmin;
    lo = umin - rumax;
    if (lo < 0) return false;
    umin = lo;
    umax -= rumin;
    dv = vv - rv;
    alpha = dv + vm;
    beta = dv - rm;
    if (dv < 0 || beta < 0 || alpha >= TWO32) return false;
  }
  const mu = ((alpha ^ beta) | vm | rm) >>> 0;
  vv = (dv & ~mu) >>> 0;
  vm = mu;
  return true;
}

/** tnum_and/or/xor, then scalar32_min_max_* and scalar_min_max_* (both widths run, as in the kernel). */
function bitopLow(op: 'and' | 'or' | 'xor'): boolean {
  if (op === 'and') {
    const v = (vv & rv) >>> 0;
    vm = ((vv | vm) & (rv | rm) & ~v) >>> 0;
    vv = v;
  } else if (op === 'or') {
    vv = (vv | rv) >>> 0;
    vm = ((vm | rm) & ~vv) >>> 0;
  } else {
    const mu = (vm | rm) >>> 0;
    vv = ((vv ^ rv) & ~mu) >>> 0;
    vm = mu;
  }
  // the upper halves are zero: the 32- and 64-bit tnums are known together
  const both = vm === 0 && rm === 0;
  if (both) {
    // markKnown32, then markKnown of the same value
    markKnownLow(vv);
    return true;
  }
  if (op === 'and') {
    u32min = vv;
    u32max = Math.min(u32max, ru32max);
  } else if (op === 'or') {
    u32min = Math.max(u32min, ru32min);
    u32max = (vv | vm) >>> 0;
  } else {
    u32min = vv;
    u32max = (vv | vm) >>> 0;
  }
  if ((u32min | 0) <= (u32max | 0)) {
    s32min = u32min | 0;
    s32max = u32max | 0;
  } else {
    s32min = S32MIN;
    s32max = S32MAX;
  }
  if (op === 'and') {
    umin = vv;
    umax = Math.min(umax, rumax);
  } else if (op === 'or') {
    umin = Math.max(umin, rumin);
    umax = (vv | vm) >>> 0;
  } else {
    umin = vv;
    umax = (vv | vm) >>> 0;
  }
  // both below 2^63: the signed view is the unsigned one
  if (umin > umax) return false;
  smin = umin;
  smax = umax;
  updateLow();
  return true;
}

/** `>>` by 0..63 of a value below 2^32 (JS shifts take the count mod 32). */
const shr = (x: number, k: number): number => (k >= 32 ? 0 : x >>> k);

/** A shift by a constant (lo == hi for a constant source; the fields are read as the BigInt version reads them). */
function shiftLow(op: 'lsh' | 'rsh' | 'arsh', alu32: boolean): boolean {
  if (alu32) {
    const lo = ru32min;
    const hi = ru32max;
    if (lo > 31 || hi > 31) return false;
    if (op === 'lsh') {
      s32min = S32MIN;
      s32max = S32MAX;
      if (u32max > 2 ** (31 - hi)) {
        u32min = 0;
        u32max = U32;
      } else {
        u32min = (u32min << lo) >>> 0;
        u32max = (u32max << hi) >>> 0;
      }
      vv = (vv << lo) >>> 0;
      vm = (vm << lo) >>> 0;
    } else if (op === 'rsh') {
      s32min = S32MIN;
      s32max = S32MAX;
      vv = vv >>> lo;
      vm = vm >>> lo;
      u32min = u32min >>> hi;
      u32max = u32max >>> lo;
    } else {
      s32min = s32min >> lo;
      s32max = s32max >> lo;
      vv = ((vv | 0) >> lo) >>> 0;
      vm = ((vm | 0) >> lo) >>> 0;
      u32min = 0;
      u32max = U32;
    }
    // the 64-bit bounds made unbounded here are all set again by the zero extension
    update32Low();
    return true;
  }
  const lo = rumin;
  const hi = rumax;
  if (lo > 63 || hi > 63) return false;
  if (op === 'lsh') {
    // past 2^32 (a shift by 32 and more, or bits moved past bit 31): out of the domain
    if (lo >= 32 || hi >= 32 || umax * 2 ** hi >= TWO32 || ((vv | vm) >>> 0) * 2 ** lo >= TWO32) return false;
    smin = -Infinity;
    smax = Infinity;
    umin = umin * 2 ** lo;
    umax = umax * 2 ** hi;
    s32min = S32MIN;
    s32max = S32MAX;
    if (u32max > 2 ** (31 - hi)) {
      u32min = 0;
      u32max = U32;
    } else {
      u32min = (u32min << lo) >>> 0;
      u32max = (u32max << hi) >>> 0;
    }
    vv = (vv << lo) >>> 0;
    vm = (vm << lo) >>> 0;
  } else {
    if (op === 'rsh') {
      smin = -Infinity;
      smax = Infinity;
      umin = shr(umin, hi);
      umax = shr(umax, lo);
    } else {
      // non-negative: an arithmetic shift is a logical one
      smin = shr(smin, lo);
      smax = shr(smax, lo);
      umin = 0;
      umax = Infinity;
    }
    vv = shr(vv, lo);
    vm = shr(vm, lo);
    s32min = S32MIN;
    s32max = S32MAX;
    u32min = 0;
    u32max = U32;
  }
  updateLow();
  return true;
}

/**
 * scalar.ts scalarAluGeneric on numbers for `dst op= src` with both operands in the domain:
 * add, sub, and, or, xor and shifts by a constant. undefined where it does not apply or a step
 * leaves the domain (nothing computed is kept; the caller runs the BigInt version).
 */
export function aluLow(op: AluName, dst: Reg, src: Reg, alu32: boolean, srcConst: boolean): Reg | undefined {
  switch (op) {
    case 'add':
    case 'sub':
    case 'and':
    case 'or':
    case 'xor':
      break;
    case 'lsh':
    case 'rsh':
    case 'arsh':
      // is_safe_to_compute_dst_reg_range compares the 64-bit umax, also for 32-bit shifts
      if (srcConst && src.umax < (alu32 ? 32n : 64n)) break;
      return undefined;
    default:
      return undefined;
  }
  // inLow32 of both, on the numbers loaded (see syncLow32); a destination outside the domain
  // whose result lies in it is loaded as the operation reads it (wideDst)
  loadSrc(src);
  if (!srcLowOk()) return undefined;
  // 64-bit `<< 32`: the result is a multiple of 2^32, synced on its high halves
  if (op === 'lsh' && !alu32 && rumin === 32 && rumax === 32) return lshHigh(dst);
  load(dst);
  if (!lowOk() && !wideDst(op, dst, alu32)) return undefined;
  const ok = op === 'add' ? addLow(alu32) : op === 'sub' ? subLow(alu32) : op === 'and' || op === 'or' || op === 'xor' ? bitopLow(op) : shiftLow(op, alu32);
  if (!ok) return undefined;
  if (alu32) {
    // zext_32_to_64: the tnum is the low half already
    umin = u32min;
    umax = u32max;
    if (s32min >= 0 && s32max >= 0) {
      smin = s32min;
      smax = s32max;
    } else {
      smin = 0;
      smax = U32;
    }
  }
  if (!lowOk() || !syncSteps()) return undefined;
  // dst itself when the operation learns nothing (as scalar.ts `done`)
  return finish(dst);
}

/** A u64 field in [0, 2^64) (registers' are; the property tests' inconsistent ones need not be). */
const u64ok = (x: bigint): boolean => x >= 0n && x <= U64MAX;

/**
 * aluLow of a destination outside the domain (a full 64-bit value) where the result lies in it,
 * with the fields the operation reads loaded (the others it sets): false where neither case applies.
 * - 64-bit `>>` by 32 to 63 (the `<< 32` / `>> 32` zero extension compilers emit): the high
 *   halves of the tnum and the unsigned bounds, shifted by the count less 32 (the source's
 *   bounds are lowered by 32);
 * - `&` with a source below 2^32: the tnum's low half (the source's tnum has no bit above), the
 *   32-bit umax, and the 64-bit umax, which only meets the source's below 2^32.
 * Every field is then written back (the result differs from the destination).
 */
function wideDst(op: AluName, dst: Reg, alu32: boolean): boolean {
  const t = dst.var;
  if (!u64ok(t.value) || !u64ok(t.mask) || !u64ok(dst.umax)) return false;
  if (op === 'rsh' && !alu32) {
    if (rumin < 32 || rumax < 32 || rumin > 63 || rumax > 63 || !u64ok(dst.umin)) return false;
    vv = highU32(t.value);
    vm = highU32(t.mask);
    umin = highU32(dst.umin);
    umax = highU32(dst.umax);
    rumin -= 32;
    rumax -= 32;
  } else if (op === 'and') {
    vv = lowU32(t.value);
    vm = lowU32(t.mask);
    umax = Math.min(unsignedNum(dst.umax), TWO32);
    umin = 0;
    u32max = dst.u32max;
  } else return false;
  smin = smax = s32min = s32max = u32min = 0;
  if (op === 'rsh') u32max = 0;
  v0 = m0 = umin0 = umax0 = smin0 = smax0 = s32min0 = s32max0 = u32min0 = u32max0 = NaN;
  return true;
}

// ---- the high half: values whose low 32 bits are known zero ----

/** __update_reg_bounds' 64-bit steps on the high halves (the low ones and the 32-bit bounds are zero). */
function updateHigh(): void {
  smin = Math.max(smin, vv | (vm & 0x80000000));
  smax = Math.min(smax, vv | (vm & 0x7fffffff));
  umin = Math.max(umin, vv);
  umax = Math.min(umax, (vv | vm) >>> 0);
  if (vm === 0) {
    if (umin !== vv || umax < vv) markKnownHigh(vv);
    return;
  }
  const tmax = (vv | vm) >>> 0;
  // tnum_step of the whole value is that of its high half, times 2^32
  const next = umin >= tmax ? tmax : stepLow(umin);
  const uminIn = ((umin & ~vm) >>> 0) === vv;
  if (uminIn && next > umax) markKnownHigh(umin);
  else if (!uminIn && next === tmax) markKnownHigh(tmax);
  else if (!uminIn && next <= umax && stepLow(next) > umax) markKnownHigh(next);
}

function markKnownHigh(v: number): void {
  vv = v;
  vm = 0;
  umin = umax = v;
  smin = smax = v | 0;
}

/** __reg64_deduce_bounds on the high halves: s64() and u64() of a multiple of 2^32 are `| 0` and `>>> 0` of its high half. */
function deduce64High(): void {
  if ((umin | 0) <= (umax | 0)) {
    smin = Math.max(smin, umin | 0);
    smax = Math.min(smax, umax | 0);
  }
  if (smin >>> 0 <= smax >>> 0) {
    umin = Math.max(smin >>> 0, umin);
    umax = Math.min(smax >>> 0, umax);
  } else if (umax < smin >>> 0) {
    smin = umin | 0;
    umax = Math.min(umax, smax >>> 0);
  } else if (smax >>> 0 < umin) {
    smax = umax | 0;
    umin = Math.max(umin, smin >>> 0);
  }
}

/**
 * __reg_deduce_mixed_bounds: with the 32-bit bounds [0, 0] its first steps keep every bound; the
 * last applies where the signed range lies in [S32_MIN, S32_MAX], for multiples of 2^32 only at 0.
 */
function deduceMixedHigh(): void {
  if (smin >= 0 && smax <= 0) {
    smin = smax = umin = umax = 0;
    vm = 0;
  }
}

/** syncHigh32 on the working register's high halves. */
function syncHighSteps(): void {
  // already exact: a constant whose bounds are that constant
  if (vm === 0 && umin === vv && umax === vv && smin === (vv | 0) && smax === smin) return;
  updateHigh();
  deduce64High();
  deduceMixedHigh();
  deduce64High();
  deduceMixedHigh();
  // boundOffset: the 32-bit range [0, 0] meets the tnum's low half (0; 0) as it is
  intersectRangeLow(umin, umax);
  updateHigh();
}

/**
 * 64-bit `<< 32` of any register: scalar_min_max_lsh moves the signed 32-bit range and, up to
 * 2^31, the unsigned range into the high half (beyond, the unsigned range is open), the tnum's
 * low half becomes its high half and its low half zero, and so do the 32-bit bounds
 * (__update_reg32_bounds of that tnum); the sync is then that of the high halves. undefined
 * for fields outside their types' ranges (the property tests' inconsistent registers).
 */
function lshHigh(dst: Reg): Reg | undefined {
  const t = dst.var;
  if (!u64ok(t.value) || !u64ok(t.mask) || !u64ok(dst.umax) || !u64ok(dst.umin)) return undefined;
  if (!(dst.s32min >= S32MIN && dst.s32min <= S32MAX && dst.s32max >= S32MIN && dst.s32max <= S32MAX)) return undefined;
  vv = lowU32(t.value);
  vm = lowU32(t.mask);
  smin = dst.s32min;
  smax = dst.s32max;
  if (dst.umax > 0x80000000n) {
    umin = 0;
    umax = Infinity;
  } else {
    // umin << 32 of an inconsistent umin above umax would lose its high bits
    if (dst.umin > 0xffffffffn) return undefined;
    umin = lowU32(dst.umin);
    umax = lowU32(dst.umax);
  }
  updateHigh();
  syncHighSteps();
  const o = copyReg(dst);
  o.var = { value: bigHighU(vv), mask: bigHighU(vm) };
  o.umin = bigHighU(umin);
  o.umax = bigHighU(umax);
  o.smin = bigHighS(smin);
  o.smax = bigHighS(smax);
  o.s32min = o.s32max = o.u32min = o.u32max = 0;
  return o;
}

/**
 * scalar.ts syncGeneric for a register whose value is a multiple of 2^32 (`x << 32` of a 32-bit
 * value, which `>> 32` or `s>> 32` then turns back: the zero and sign extensions compilers emit):
 * the tnum's low half known zero, every 64-bit bound a multiple of 2^32 and the 32-bit bounds
 * [0, 0]. The 32-bit steps then learn nothing and the 64-bit ones are the same steps on the high
 * halves, as numbers: vv, vm, umin, umax hold the unsigned high halves, smin, smax the signed
 * ones. false (nothing written) for any other register.
 */
export function syncHigh32(b: B): boolean {
  if (b.u32min !== 0 || b.u32max !== 0 || b.s32min !== 0 || b.s32max !== 0) return false;
  const t = b.var;
  if (!u64ok(t.value) || !u64ok(t.mask) || !u64ok(b.umin) || !u64ok(b.umax) || !(b.smin >= S64MIN && b.smin <= S64MAX && b.smax >= S64MIN && b.smax <= S64MAX)) return false;
  if (lowU32(t.value) !== 0 || lowU32(t.mask) !== 0 || lowU32(b.umin) !== 0 || lowU32(b.umax) !== 0 || lowU32(b.smin) !== 0 || lowU32(b.smax) !== 0) return false;
  vv = v0 = highU32(t.value);
  vm = m0 = highU32(t.mask);
  umin = umin0 = highU32(b.umin);
  umax = umax0 = highU32(b.umax);
  smin = smin0 = highS32(b.smin);
  smax = smax0 = highS32(b.smax);
  syncHighSteps();
  if (vv !== v0 || vm !== m0) b.var = { value: bigHighU(vv), mask: bigHighU(vm) };
  if (umin !== umin0) b.umin = bigHighU(umin);
  if (umax !== umax0) b.umax = bigHighU(umax);
  if (smin !== smin0) b.smin = bigHighS(smin);
  if (smax !== smax0) b.smax = bigHighS(smax);
  return true;
}

// ---- regs_refine_cond_op on numbers ----

// two registers side by side, swapped by swapping their offsets (0 and F): the fields in the order below
const TV = 0;
const TM = 1;
const UMIN = 2;
const UMAX = 3;
const SMIN = 4;
const SMAX = 5;
const S32MIN_ = 6;
const S32MAX_ = 7;
const U32MIN_ = 8;
const U32MAX_ = 9;
const F = 10;
const pair = new Float64Array(2 * F);
/** The pair as loaded: the registers' own values, which `finish` compares with (no second Number() of each BigInt). */
const pair0 = new Float64Array(2 * F);

function loadAt(r: Reg, o: number): void {
  pair[o + TV] = pair0[o + TV] = unsignedNum(r.var.value);
  pair[o + TM] = pair0[o + TM] = unsignedNum(r.var.mask);
  pair[o + UMIN] = pair0[o + UMIN] = unsignedNum(r.umin);
  pair[o + UMAX] = pair0[o + UMAX] = unsignedNum(r.umax);
  pair[o + SMIN] = pair0[o + SMIN] = signedNum(r.smin);
  pair[o + SMAX] = pair0[o + SMAX] = signedNum(r.smax);
  pair[o + S32MIN_] = pair0[o + S32MIN_] = r.s32min;
  pair[o + S32MAX_] = pair0[o + S32MAX_] = r.s32max;
  pair[o + U32MIN_] = pair0[o + U32MIN_] = r.u32min;
  pair[o + U32MAX_] = pair0[o + U32MAX_] = r.u32max;
}

/** The register loaded at `o` is in the domain (lowOk of a pair slot). */
function lowOkAt(o: number): boolean {
  const p = pair;
  for (let k = o; k < o + SMAX + 1; k++) if (!(p[k]! >= 0 && p[k]! < TWO32)) return false;
  for (let k = o + S32MIN_; k <= o + S32MAX_; k++) if (!(p[k]! >= S32MIN && p[k]! <= S32MAX)) return false;
  for (let k = o + U32MIN_; k <= o + U32MAX_; k++) if (!(p[k]! >= 0 && p[k]! <= U32)) return false;
  return true;
}

/** The register at `o` as the working register, as loadAt left it (its BigInts are kept by store where unchanged). */
function workFrom(o: number): void {
  vv = pair[o + TV]!;
  vm = pair[o + TM]!;
  umin = pair[o + UMIN]!;
  umax = pair[o + UMAX]!;
  smin = pair[o + SMIN]!;
  smax = pair[o + SMAX]!;
  s32min = pair[o + S32MIN_]!;
  s32max = pair[o + S32MAX_]!;
  u32min = pair[o + U32MIN_]!;
  u32max = pair[o + U32MAX_]!;
  v0 = pair0[o + TV]!;
  m0 = pair0[o + TM]!;
  umin0 = pair0[o + UMIN]!;
  umax0 = pair0[o + UMAX]!;
  smin0 = pair0[o + SMIN]!;
  smax0 = pair0[o + SMAX]!;
  s32min0 = pair0[o + S32MIN_]!;
  s32max0 = pair0[o + S32MAX_]!;
  u32min0 = pair0[o + U32MIN_]!;
  u32max0 = pair0[o + U32MAX_]!;
}

/** The working register, synced, as a register: `r` itself when nothing changed (as scalar.ts `done`). */
function finish(r: Reg): Reg {
  if (vv === v0 && vm === m0 && umin === umin0 && umax === umax0 && smin === smin0 && smax === smax0 && s32min === s32min0 && s32max === s32max0 && u32min === u32min0 && u32max === u32max0) return r;
  const o = copyReg(r);
  store(o);
  return o;
}

/**
 * cond.ts refineCondGeneric on numbers, for two different registers both in the domain
 * (inLow32): the refinement of regs_refine_cond_op, then reg_bounds_sync of each. undefined
 * (nothing kept) where a step leaves the domain; the caller then runs the BigInt version.
 * With the upper halves zero, a constant is one in both widths, the tnum is its own subregister,
 * and `x - 1` wraps only at zero.
 */
export function refineLow(r1: Reg, r2: Reg, cond0: string, is32: boolean): [Reg, Reg] | undefined {
  const p = pair;
  // inLow32 of both, on the numbers loaded (see syncLow32)
  loadAt(r1, 0);
  if (!lowOkAt(0)) return undefined;
  loadAt(r2, F);
  if (!lowOkAt(F)) return undefined;
  let a = 0;
  let b = F;
  let cond = cond0;
  if (cond === 'jge' || cond === 'jgt' || cond === 'jsge' || cond === 'jsgt') {
    cond = cond === 'jge' ? 'jle' : cond === 'jgt' ? 'jlt' : cond === 'jsge' ? 'jsle' : 'jslt';
    a = F;
    b = 0;
  }
  // the 64- or the 32-bit fields
  const umn = is32 ? U32MIN_ : UMIN;
  const umx = is32 ? U32MAX_ : UMAX;
  const smn = is32 ? S32MIN_ : SMIN;
  const smx = is32 ? S32MAX_ : SMAX;
  let unbounded = false;
  switch (cond) {
    case 'jeq': {
      p[a + umn] = Math.max(p[a + umn]!, p[b + umn]!);
      p[a + umx] = Math.min(p[a + umx]!, p[b + umx]!);
      p[a + smn] = Math.max(p[a + smn]!, p[b + smn]!);
      p[a + smx] = Math.min(p[a + smx]!, p[b + smx]!);
      p[b + umn] = p[a + umn]!;
      p[b + umx] = p[a + umx]!;
      p[b + smn] = p[a + smn]!;
      p[b + smx] = p[a + smx]!;
      // tnum_intersect (of the subregisters, which are the tnums)
      const mu = (p[a + TM]! & p[b + TM]!) >>> 0;
      const v = ((p[a + TV]! | p[b + TV]!) & ~mu) >>> 0;
      p[a + TV] = p[b + TV] = v;
      p[a + TM] = p[b + TM] = mu;
      break;
    }
    case 'jne':
    case 'jset':
    case 'jset_not': {
      if (p[b + TM] !== 0) {
        const t = a;
        a = b;
        b = t;
      }
      if (p[b + TM] !== 0) break;
      const v = p[b + TV]!;
      if (cond === 'jne') {
        // the signed view of v: itself for 64 bits (below 2^32), `v | 0` for 32
        const sv = is32 ? v | 0 : v;
        if (p[a + umn] === v) p[a + umn]!++;
        if (p[a + umx] === v) p[a + umx]!--;
        if (p[a + smn] === sv) p[a + smn]!++;
        if (p[a + smx] === sv) p[a + smx]!--;
      } else if (cond === 'jset') {
        // a single bit: tnum_or
        if (v === 0 || (v & (v - 1)) !== 0) break;
        const tv = (p[a + TV]! | v) >>> 0;
        p[a + TV] = tv;
        p[a + TM] = (p[a + TM]! & ~tv) >>> 0;
      } else {
        // every bound open (the 64-bit ones as ±Infinity, which the tnum bounds again in the sync), then tnum_and with ~v
        unbounded = true;
        p[a + UMIN] = 0;
        p[a + UMAX] = Infinity;
        p[a + SMIN] = -Infinity;
        p[a + SMAX] = Infinity;
        p[a + U32MIN_] = 0;
        p[a + U32MAX_] = U32;
        p[a + S32MIN_] = S32MIN;
        p[a + S32MAX_] = S32MAX;
        const tv = (p[a + TV]! & ~v) >>> 0;
        p[a + TM] = ((p[a + TV]! | p[a + TM]!) & ~v & ~tv) >>> 0;
        p[a + TV] = tv;
      }
      break;
    }
    case 'jle':
      p[a + umx] = Math.min(p[a + umx]!, p[b + umx]!);
      p[b + umn] = Math.max(p[a + umn]!, p[b + umn]!);
      break;
    case 'jlt': {
      // u32(x - 1) / u64(x - 1): at zero the maximum, which the min leaves as it was
      const bm = p[b + umx]!;
      if (bm !== 0) p[a + umx] = Math.min(p[a + umx]!, bm - 1);
      else if (is32) p[a + umx] = Math.min(p[a + umx]!, U32);
      // a.umin + 1 reaches 2^32 at most: out of the domain, checked below (u32 wraps it to zero)
      const am = p[a + umn]! + 1;
      p[b + umn] = Math.max(is32 ? am >>> 0 : am, p[b + umn]!);
      break;
    }
    case 'jsle':
      p[a + smx] = Math.min(p[a + smx]!, p[b + smx]!);
      p[b + smn] = Math.max(p[a + smn]!, p[b + smn]!);
      break;
    case 'jslt':
      // s32 wraps S32_MIN - 1 and S32_MAX + 1; the 64-bit ones lie in [0, 2^32) and cannot wrap
      p[a + smx] = Math.min(p[a + smx]!, is32 ? (p[b + smx]! - 1) | 0 : p[b + smx]! - 1);
      p[b + smn] = Math.max(is32 ? (p[a + smn]! + 1) | 0 : p[a + smn]! + 1, p[b + smn]!);
      break;
    default:
      break;
  }
  // r1 at offset 0, r2 at F whatever the swaps: both must be in the domain again before their syncs
  if (!pairOk(0, unbounded && a === 0) || !pairOk(F, unbounded && a === F)) return undefined;
  workFrom(0);
  if (!syncSteps()) return undefined;
  // the first result is kept in a copy before the working register is reused
  const o1 = finish(r1);
  workFrom(F);
  if (!syncSteps()) return undefined;
  return [o1, finish(r2)];
}

/** The register at `o` lies in the domain (lowOk), its 64-bit bounds possibly all open (`open64`). */
function pairOk(o: number, open64: boolean): boolean {
  const p = pair;
  const v = p[o + TV]!;
  const m = p[o + TM]!;
  if (!(v >= 0 && v < TWO32 && m >= 0 && m < TWO32)) return false;
  if (!(p[o + U32MIN_]! >= 0 && p[o + U32MIN_]! <= U32 && p[o + U32MAX_]! >= 0 && p[o + U32MAX_]! <= U32)) return false;
  if (!(p[o + S32MIN_]! >= S32MIN && p[o + S32MIN_]! <= S32MAX && p[o + S32MAX_]! >= S32MIN && p[o + S32MAX_]! <= S32MAX)) return false;
  if (open64) return true;
  const a = p[o + UMIN]!;
  const b = p[o + UMAX]!;
  const c = p[o + SMIN]!;
  const d = p[o + SMAX]!;
  return a >= 0 && a < TWO32 && b >= 0 && b < TWO32 && c >= 0 && c < TWO32 && d >= 0 && d < TWO32;
}
