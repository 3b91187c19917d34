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
import { bigHighS, bigHighU, bigOf, bigOfHalves, bigOfHalvesS, halvesInto, highS32, highU32, lowU32, signedNum, unsignedNum } from './tnum.js';

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

/**
 * The working register, the values it was loaded with and the source operand: module state
 * (one operation runs at a time, nothing allocated). The 64-bit signed and unsigned bounds may
 * hold ±Infinity for S64_MIN/S64_MAX/U64_MAX between the steps of a shift, which the tnum then
 * bounds. Fields of one object whose representation is a double (each starts as 0.5): a
 * module-level `let` holding a number outside the small-integer range (0xffffffff, 2^32,
 * ±Infinity) boxed a new heap number at every write.
 */
const W = {
  vv: 0.5,
  vm: 0.5,
  umin: 0.5,
  umax: 0.5,
  smin: 0.5,
  smax: 0.5,
  s32min: 0.5,
  s32max: 0.5,
  u32min: 0.5,
  u32max: 0.5,
  // the values loaded, to keep the BigInts of the fields an operation leaves as they were
  v0: 0.5,
  m0: 0.5,
  umin0: 0.5,
  umax0: 0.5,
  smin0: 0.5,
  smax0: 0.5,
  s32min0: 0.5,
  s32max0: 0.5,
  u32min0: 0.5,
  u32max0: 0.5,
  // the source operand
  rv: 0.5,
  rm: 0.5,
  rumin: 0.5,
  rumax: 0.5,
  rsmin: 0.5,
  rsmax: 0.5,
  rs32min: 0.5,
  rs32max: 0.5,
  ru32min: 0.5,
  ru32max: 0.5,
};

function load(b: Readonly<B>): void {
  W.vv = W.v0 = unsignedNum(b.var.value);
  W.vm = W.m0 = unsignedNum(b.var.mask);
  W.umin = W.umin0 = unsignedNum(b.umin);
  W.umax = W.umax0 = unsignedNum(b.umax);
  W.smin = W.smin0 = signedNum(b.smin);
  W.smax = W.smax0 = signedNum(b.smax);
  W.s32min = W.s32min0 = b.s32min;
  W.s32max = W.s32max0 = b.s32max;
  W.u32min = W.u32min0 = b.u32min;
  W.u32max = W.u32max0 = b.u32max;
}

/** Write back the fields that changed. */
function store(b: B): void {
  if (W.vv !== W.v0 || W.vm !== W.m0) b.var = { value: bigOf(W.vv), mask: bigOf(W.vm) };
  if (W.umin !== W.umin0) b.umin = bigOf(W.umin);
  if (W.umax !== W.umax0) b.umax = bigOf(W.umax);
  if (W.smin !== W.smin0) b.smin = bigOf(W.smin);
  if (W.smax !== W.smax0) b.smax = bigOf(W.smax);
  b.s32min = W.s32min;
  b.s32max = W.s32max;
  b.u32min = W.u32min;
  b.u32max = W.u32max;
}

/** The working register is again in the domain (the state inLow32 asks of a B). */
const lowOk = (): boolean =>
  W.vv >= 0 && W.vv < TWO32 && W.vm >= 0 && W.vm < TWO32 && W.umin >= 0 && W.umin < TWO32 && W.umax >= 0 && W.umax < TWO32 && W.smin >= 0 && W.smin < TWO32 && W.smax >= 0 && W.smax < TWO32 && W.u32min >= 0 && W.u32min <= U32 && W.u32max >= 0 && W.u32max <= U32 && W.s32min >= S32MIN && W.s32min <= S32MAX && W.s32max >= S32MIN && W.s32max <= S32MAX;

function markKnownLow(v: number): void {
  W.vv = v;
  W.vm = 0;
  W.umin = W.umax = W.smin = W.smax = v;
  W.s32min = W.s32max = v | 0;
  W.u32min = W.u32max = v;
}

/**
 * tnum_step of (vv; vm) above z, both below 2^32: beyond 2^32 every bit is outside the mask, so
 * the answer is none. tnum.ts tnumStep's closed form on int32 operations: the smallest s within
 * the mask with s > d = z - vv agrees with d above the lowest mask bit p that is 0 in d and lies
 * above every bit of d outside the mask, and is zero below p.
 */
function stepLow(z: number): number {
  if (z < W.vv) return W.vv;
  const d = z - W.vv;
  const bad = (d & ~W.vm) >>> 0;
  // the mask bits above d's highest bit outside the mask (all of them when there is none)
  const above = bad === 0 ? -1 : bad >= 0x80000000 ? 0 : -1 << (32 - Math.clz32(bad));
  const cand = W.vm & ~d & above;
  if (cand === 0) return NONE;
  const p = (cand & -cand) >>> 0;
  return W.vv + (((d & -(p * 2)) | p) >>> 0);
}

/** __update_reg32_bounds. */
function update32Low(): void {
  W.s32min = Math.max(W.s32min, W.vv | (W.vm & 0x80000000));
  W.s32max = Math.min(W.s32max, W.vv | (W.vm & 0x7fffffff));
  W.u32min = Math.max(W.u32min, W.vv);
  W.u32max = Math.min(W.u32max, (W.vv | W.vm) >>> 0);
}

/** __update_reg_bounds: the 32-bit and the 64-bit ones (the tnum's sign bit is zero). */
function updateLow(): void {
  update32Low();
  const tmax = (W.vv | W.vm) >>> 0;
  W.smin = Math.max(W.smin, W.vv);
  W.smax = Math.min(W.smax, tmax);
  W.umin = Math.max(W.umin, W.vv);
  W.umax = Math.min(W.umax, tmax);
  if (W.vm === 0) {
    if (W.umin !== W.vv || W.umax < W.vv) markKnownLow(W.vv);
    return;
  }
  const next = W.umin >= tmax ? tmax : stepLow(W.umin);
  const uminIn = ((W.umin & ~W.vm) >>> 0) === W.vv;
  if (uminIn && next > W.umax) markKnownLow(W.umin);
  else if (!uminIn && next === tmax) markKnownLow(tmax);
  else if (!uminIn && next <= W.umax && stepLow(next) > W.umax) markKnownLow(next);
}

/**
 * The 32-bit signed and unsigned bounds of the working register refined by each other, as the
 * kernel's __reg32_deduce_bounds does once the 64-bit bounds have been carried over.
 */
function crossBounds32(): void {
  if ((W.u32min | 0) <= (W.u32max | 0)) {
    W.s32min = Math.max(W.s32min, W.u32min | 0);
    W.s32max = Math.min(W.s32max, W.u32max | 0);
  }
  if (W.s32min >>> 0 <= W.s32max >>> 0) {
    W.u32min = Math.max(W.s32min >>> 0, W.u32min);
    W.u32max = Math.min(W.s32max >>> 0, W.u32max);
  } else if (W.u32max < W.s32min >>> 0) {
    W.s32min = W.u32min | 0;
    W.u32max = Math.min(W.u32max, W.s32max >>> 0);
  } else if (W.s32max >>> 0 < W.u32min) {
    W.s32max = W.u32max | 0;
    W.u32min = Math.max(W.u32min, W.s32min >>> 0);
  }
}

function deduce32Low(): void {
  // the upper halves of the 64-bit bounds are equal (zero), never consecutive
  W.u32min = Math.max(W.u32min, W.umin);
  W.u32max = Math.min(W.u32max, W.umax);
  if ((W.umin | 0) <= (W.umax | 0)) {
    W.s32min = Math.max(W.s32min, W.umin | 0);
    W.s32max = Math.min(W.s32max, W.umax | 0);
  }
  W.u32min = Math.max(W.u32min, W.smin);
  W.u32max = Math.min(W.u32max, W.smax);
  if ((W.smin | 0) <= (W.smax | 0)) {
    W.s32min = Math.max(W.s32min, W.smin | 0);
    W.s32max = Math.min(W.s32max, W.smax | 0);
  }
  crossBounds32();
}

function deduce64Low(): void {
  if (W.umin <= W.umax) {
    W.smin = Math.max(W.smin, W.umin);
    W.smax = Math.min(W.smax, W.umax);
  }
  if (W.smin <= W.smax) {
    W.umin = Math.max(W.smin, W.umin);
    W.umax = Math.min(W.smax, W.umax);
  } else if (W.umax < W.smin) {
    W.smin = W.umin;
    W.umax = Math.min(W.umax, W.smax);
  } else if (W.smax < W.umin) {
    W.smax = W.umax;
    W.umin = Math.max(W.umin, W.smin);
  }
}

/** The tnum covering [lo, hi] intersected into (vv; vm) (tnum_intersect(var, tnum_range(lo, hi))). */
function intersectRangeLow(lo: number, hi: number): void {
  const bits = 32 - Math.clz32((lo ^ hi) >>> 0);
  // int32 operations (`2 ** bits` is a Math.pow call): bits 1..32 ones, none for bits 0
  const delta = bits === 0 ? 0 : 0xffffffff >>> (32 - bits);
  const v = (W.vv | (lo & ~delta)) >>> 0;
  const mu = (W.vm & delta) >>> 0;
  W.vv = (v & ~mu) >>> 0;
  W.vm = mu;
}

/** false: a step would leave the domain (inconsistent bounds); the caller runs the generic sync. */
function deduceMixedLow(): boolean {
  W.umin = Math.max(W.umin, W.u32min);
  W.umax = Math.min(W.umax, W.u32max);
  W.smin = Math.max(W.smin, W.u32min);
  W.smax = Math.min(W.smax, W.u32max);
  if (W.s32min >= 0 && W.smax <= 0x7fffffff) {
    if (W.s32max < 0) return false;
    W.smin = W.umin = W.s32min;
    W.smax = W.umax = W.s32max;
    intersectRangeLow(W.umin, W.umax);
  }
  return true;
}

/** reg_bounds_sync on the working register (in the domain); false where it cannot be done exactly so. */
function syncSteps(): boolean {
  // already exact: a constant whose bounds are that constant
  if (W.vm === 0 && W.umin === W.vv && W.umax === W.vv && W.smin === W.vv && W.smax === W.vv && W.u32min === W.vv && W.u32max === W.vv && W.s32min === (W.vv | 0) && W.s32max === W.s32min) return true;
  updateLow();
  deduce32Low();
  deduce64Low();
  if (!deduceMixedLow()) return false;
  deduce32Low();
  deduce64Low();
  if (!deduceMixedLow()) return false;
  // boundOffset: the upper half of the tnum is zero, so the 64- and 32-bit ranges both intersect the low half
  intersectRangeLow(W.umin, W.umax);
  intersectRangeLow(W.u32min, W.u32max);
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

/**
 * scalar.ts coerceToSizeWork on numbers for a size of 1, 2 or 4 bytes and a register in the
 * domain (a loaded byte, half or word: 26k per OpenTelemetry profiler pass): the tnum and the
 * unsigned bounds cut to the size, the signed ones the unsigned ones, the 32-bit ones open below
 * 4 bytes, then reg_bounds_sync. undefined (nothing kept) for any other register or size, or
 * where the sync cannot be done on numbers.
 */
export function coerceLow(r: Reg, size: number): Reg | undefined {
  if (size !== 4 && size !== 2 && size !== 1) return undefined;
  load(r);
  if (!lowOk()) return undefined;
  const m = size === 4 ? U32 : size === 2 ? 0xffff : 0xff;
  W.vv = (W.vv & m) >>> 0;
  W.vm = (W.vm & m) >>> 0;
  if (W.umin > m || W.umax > m) {
    if (((W.umin & ~m) >>> 0) === ((W.umax & ~m) >>> 0)) {
      W.umin = (W.umin & m) >>> 0;
      W.umax = (W.umax & m) >>> 0;
    } else {
      W.umin = 0;
      W.umax = m;
    }
  }
  W.smin = W.umin;
  W.smax = W.umax;
  if (size < 4) {
    W.s32min = S32MIN;
    W.s32max = S32MAX;
    W.u32min = 0;
    W.u32max = U32;
  }
  if (!syncSteps()) return undefined;
  return finish(r);
}

// ---- values below 2^53: the 64-bit fields as exact doubles ----

// A register whose 64-bit fields (the tnum, umin, umax, smin, smax) all lie in [0, 2^53) (a u32
// plus a u32, a length shifted by a few bits): every field is an exact double, the signed and
// unsigned views of a 64-bit value are the value, and a bitwise operation works on the two
// halves (`hi` below 2^21, `lo` the low 32 bits, ToUint32 of the double).

const TWO53 = 2 ** 53;
const hi = (x: number): number => Math.floor(x / TWO32);
const and53 = (a: number, b: number): number => (hi(a) & hi(b)) * TWO32 + ((a & b) >>> 0);
const or53 = (a: number, b: number): number => (hi(a) | hi(b)) * TWO32 + ((a | b) >>> 0);
const xor53 = (a: number, b: number): number => (hi(a) ^ hi(b)) * TWO32 + ((a ^ b) >>> 0);
/** a & ~b. */
const andn53 = (a: number, b: number): number => (hi(a) & ~hi(b)) * TWO32 + ((a & ~b) >>> 0);
/** fls64 of a value below 2^53. */
function fls53(x: number): number {
  const h = hi(x);
  return h !== 0 ? 64 - Math.clz32(h) : 32 - Math.clz32(x >>> 0);
}

/** The working register lies in [0, 2^53) (its 64-bit fields) and its 32-bit bounds in their ranges. */
const midOk = (): boolean =>
  W.vv >= 0 && W.vv < TWO53 && W.vm >= 0 && W.vm < TWO53 && W.umin >= 0 && W.umin < TWO53 && W.umax >= 0 && W.umax < TWO53 && W.smin >= 0 && W.smin < TWO53 && W.smax >= 0 && W.smax < TWO53 && W.u32min >= 0 && W.u32min <= U32 && W.u32max >= 0 && W.u32max <= U32 && W.s32min >= S32MIN && W.s32min <= S32MAX && W.s32max >= S32MIN && W.s32max <= S32MAX;

/** markKnown: the constant v in every field. */
function markKnownMid(v: number): void {
  W.vv = v;
  W.vm = 0;
  W.umin = W.umax = W.smin = W.smax = v;
  W.s32min = W.s32max = v | 0;
  W.u32min = W.u32max = v >>> 0;
}

/** tnum_step of (vv; vm) above z (tnum.ts tnumStep), all below 2^53. */
function stepMid(z: number): number {
  if (z < W.vv) return W.vv;
  const d = z - W.vv;
  const bad = andn53(d, W.vm);
  let cand = andn53(W.vm, d);
  // `& -(1 << fls64(bad))`: the bits below fls64(bad) cleared
  if (bad !== 0) {
    const k = 2 ** fls53(bad);
    cand -= cand % k;
  }
  if (cand === 0) return NONE;
  const l = cand >>> 0;
  const h = hi(cand);
  const p = l !== 0 ? (l & -l) >>> 0 : ((h & -h) >>> 0) * TWO32;
  // (d & -(p << 1)) | p: d with its bits below 2p cleared, plus p
  return W.vv + (d - (d % (2 * p)) + p);
}

/** __update_reg_bounds (the tnum's sign bit is zero). */
function updateMid(): void {
  const v = W.vv >>> 0;
  const m = W.vm >>> 0;
  W.s32min = Math.max(W.s32min, v | (m & 0x80000000));
  W.s32max = Math.min(W.s32max, v | (m & 0x7fffffff));
  W.u32min = Math.max(W.u32min, v);
  W.u32max = Math.min(W.u32max, (v | m) >>> 0);
  const tmax = or53(W.vv, W.vm);
  W.smin = Math.max(W.smin, W.vv);
  W.smax = Math.min(W.smax, tmax);
  W.umin = Math.max(W.umin, W.vv);
  W.umax = Math.min(W.umax, tmax);
  if (W.vm === 0) {
    if (W.umin !== W.vv || W.umax < W.vv) markKnownMid(W.vv);
    return;
  }
  const next = W.umin >= tmax ? tmax : stepMid(W.umin);
  const uminIn = andn53(W.umin, W.vm) === W.vv;
  if (uminIn && next > W.umax) markKnownMid(W.umin);
  else if (!uminIn && next === tmax) markKnownMid(tmax);
  else if (!uminIn && next <= W.umax && stepMid(next) > W.umax) markKnownMid(next);
}

/** __reg32_deduce_bounds: the 64-bit bounds' halves (`>>> 0` the low one, hi the high one). */
function deduce32Mid(): void {
  const uminLo = W.umin >>> 0;
  const umaxLo = W.umax >>> 0;
  const sminLo = W.smin >>> 0;
  const smaxLo = W.smax >>> 0;
  const uminHi = hi(W.umin);
  const umaxHi = hi(W.umax);
  const sminHi = hi(W.smin);
  const smaxHi = hi(W.smax);
  if (uminHi === umaxHi) {
    W.u32min = Math.max(W.u32min, uminLo);
    W.u32max = Math.min(W.u32max, umaxLo);
    if ((uminLo | 0) <= (umaxLo | 0)) {
      W.s32min = Math.max(W.s32min, uminLo | 0);
      W.s32max = Math.min(W.s32max, umaxLo | 0);
    }
  }
  if (sminHi === smaxHi) {
    W.u32min = Math.max(W.u32min, sminLo);
    W.u32max = Math.min(W.u32max, smaxLo);
    if ((sminLo | 0) <= (smaxLo | 0)) {
      W.s32min = Math.max(W.s32min, sminLo | 0);
      W.s32max = Math.min(W.s32max, smaxLo | 0);
    }
  }
  // the high halves lie below 2^21: `+ 1` does not wrap
  if (uminHi + 1 === umaxHi && (uminLo | 0) < 0 && (umaxLo | 0) >= 0) {
    W.s32min = Math.max(W.s32min, uminLo | 0);
    W.s32max = Math.min(W.s32max, umaxLo | 0);
  }
  if (sminHi + 1 === smaxHi && (sminLo | 0) < 0 && (smaxLo | 0) >= 0) {
    W.s32min = Math.max(W.s32min, sminLo | 0);
    W.s32max = Math.min(W.s32max, smaxLo | 0);
  }
  crossBounds32();
}

/** tnum_intersect(var, tnum_range(lo, hi)) of values below 2^53. */
function intersectRangeMid(lo: number, hi2: number): void {
  const bits = fls53(xor53(lo, hi2));
  const delta = 2 ** bits - 1;
  const v = or53(W.vv, lo - (lo % (delta + 1)));
  const mu = and53(W.vm, delta);
  W.vv = andn53(v, mu);
  W.vm = mu;
}

/** __reg_deduce_mixed_bounds; false where a step leaves the domain. */
function deduceMixedMid(): boolean {
  // (x & ~0xffffffff) | u32: x's high half and the 32-bit bound
  W.umin = Math.max(W.umin, W.umin - (W.umin >>> 0) + W.u32min);
  W.umax = Math.min(W.umax, W.umax - (W.umax >>> 0) + W.u32max);
  W.smin = Math.max(W.smin, W.smin - (W.smin >>> 0) + W.u32min);
  W.smax = Math.min(W.smax, W.smax - (W.smax >>> 0) + W.u32max);
  if (W.s32min >= 0 && W.smax <= 0x7fffffff) {
    if (W.s32max < 0) return false;
    W.smin = W.umin = W.s32min;
    W.smax = W.umax = W.s32max;
    intersectRangeMid(W.umin, W.umax);
  }
  return true;
}

/** reg_bounds_sync of the working register in [0, 2^53); false where it cannot be done exactly so. */
function syncMidSteps(): boolean {
  // already exact: a constant whose bounds are that constant
  if (W.vm === 0 && W.umin === W.vv && W.umax === W.vv && W.smin === W.vv && W.smax === W.vv && W.u32min === W.vv >>> 0 && W.u32max === W.u32min && W.s32min === (W.vv | 0) && W.s32max === W.s32min) return true;
  updateMid();
  deduce32Mid();
  deduce64Low();
  if (!deduceMixedMid()) return false;
  deduce32Mid();
  deduce64Low();
  if (!deduceMixedMid()) return false;
  // boundOffset: the 64-bit range into the tnum, then the 32-bit range into its low half
  intersectRangeMid(W.umin, W.umax);
  const lo = W.u32min;
  const bits = 32 - Math.clz32((lo ^ W.u32max) >>> 0);
  const delta = bits === 0 ? 0 : 0xffffffff >>> (32 - bits);
  const v = ((W.vv >>> 0) | (lo & ~delta)) >>> 0;
  const mu = (W.vm & delta) >>> 0;
  W.vv = W.vv - (W.vv >>> 0) + ((v & ~mu) >>> 0);
  W.vm = W.vm - (W.vm >>> 0) + mu;
  updateMid();
  return true;
}

/**
 * scalar.ts syncGeneric on numbers for a `b` whose 64-bit fields lie in [0, 2^53) (loaded as
 * syncLow32 loads them: a value at or above 2^53 reads as one, 2^53 being exact); false (nothing
 * written) for any other register or where a step leaves the domain.
 */
export function syncMid(b: B): boolean {
  load(b);
  if (!midOk() || !syncMidSteps() || !midOk()) return false;
  store(b);
  return true;
}

// ---- adjust_scalar_min_max_vals on numbers ----

function loadSrc(s: Reg): void {
  W.rv = unsignedNum(s.var.value);
  W.rm = unsignedNum(s.var.mask);
  W.rumin = unsignedNum(s.umin);
  W.rumax = unsignedNum(s.umax);
  W.rsmin = signedNum(s.smin);
  W.rsmax = signedNum(s.smax);
  W.rs32min = s.s32min;
  W.rs32max = s.s32max;
  W.ru32min = s.u32min;
  W.ru32max = s.u32max;
}

/** The source loaded is in the domain (lowOk of the source registers). */
const srcLowOk = (): boolean =>
  W.rv >= 0 && W.rv < TWO32 && W.rm >= 0 && W.rm < TWO32 && W.rumin >= 0 && W.rumin < TWO32 && W.rumax >= 0 && W.rumax < TWO32 && W.rsmin >= 0 && W.rsmin < TWO32 && W.rsmax >= 0 && W.rsmax < TWO32 && W.ru32min >= 0 && W.ru32min <= U32 && W.ru32max >= 0 && W.ru32max <= U32 && W.rs32min >= S32MIN && W.rs32min <= S32MAX && W.rs32max >= S32MIN && W.rs32max <= S32MAX;

/** scalar32_min_max_add and, for ALU64, scalar_min_max_add and tnum_add. */
function addLow(alu32: boolean): boolean {
  let lo = W.s32min + W.rs32min;
  let hi = W.s32max + W.rs32max;
  if (lo < S32MIN || lo > S32MAX || hi < S32MIN || hi > S32MAX) {
    W.s32min = S32MIN;
    W.s32max = S32MAX;
  } else {
    W.s32min = lo;
    W.s32max = hi;
  }
  lo = W.u32min + W.ru32min;
  hi = W.u32max + W.ru32max;
  if (lo <= U32 && hi > U32) {
    W.u32min = 0;
    W.u32max = U32;
  } else {
    W.u32min = lo >>> 0;
    W.u32max = hi >>> 0;
  }
  // operands below 2^32: the signed and unsigned 64-bit sums neither overflow nor wrap (ALU32
  // drops them: the zero extension sets every 64-bit bound from the 32-bit ones)
  if (!alu32) {
    W.smin += W.rsmin;
    W.smax += W.rsmax;
    W.umin += W.rumin;
    W.umax += W.rumax;
  }
  // tnum_add; for ALU32 only the low half is kept, and it is the sum's low half mod 2^32
  const sm = W.vm + W.rm;
  const sv = W.vv + W.rv;
  const sigma = sm + sv;
  if (!alu32 && sigma >= TWO32) return false;
  const chi = ((sigma >>> 0) ^ (sv >>> 0)) >>> 0;
  const mu = (chi | W.vm | W.rm) >>> 0;
  W.vv = (sv & ~mu) >>> 0;
  W.vm = mu;
  return true;
}

/** scalar32_min_max_sub and, for ALU64, scalar_min_max_sub and tnum_sub. */
function subLow(alu32: boolean): boolean {
  let lo = W.s32min - W.rs32max;
  let hi = W.s32max - W.rs32min;
  if (lo < S32MIN || lo > S32MAX || hi < S32MIN || hi > S32MAX) {
    W.s32min = S32MIN;
    W.s32max = S32MAX;
  } else {
    W.s32min = lo;
    W.s32max = hi;
  }
  lo = W.u32min - W.ru32max;
  hi = W.u32max - W.ru32min;
  if (lo < 0 && hi >= 0) {
    W.u32min = 0;
    W.u32max = U32;
  } else {
    W.u32min = lo >>> 0;
    W.u32max = hi >>> 0;
  }
  let dv: number;
  let alpha: number;
  let beta: number;
  if (alu32) {
    dv = (W.vv - W.rv) >>> 0;
    alpha = (dv + W.vm) >>> 0;
    beta = (dv - W.rm) >>> 0;
  } else {
    // a difference below zero wraps: out of the domain (the signed bounds are checked after)
    W.smin -= W.rsmax;
    W.smax -= W.rsmin;
    lo = W.umin - W.rumax;
    if (lo < 0) return false;
    W.umin = lo;
    W.umax -= W.rumin;
    dv = W.vv - W.rv;
    alpha = dv + W.vm;
    beta = dv - W.rm;
    if (dv < 0 || beta < 0 || alpha >= TWO32) return false;
  }
  const mu = ((alpha ^ beta) | W.vm | W.rm) >>> 0;
  W.vv = (dv & ~mu) >>> 0;
  W.vm = mu;
  return true;
}

/** tnum_and/or/xor, then scalar32_min_max_* and scalar_min_max_* (both widths run, as in the kernel). */
function bitopLow(op: 'and' | 'or' | 'xor'): boolean {
  if (op === 'and') {
    const v = (W.vv & W.rv) >>> 0;
    W.vm = ((W.vv | W.vm) & (W.rv | W.rm) & ~v) >>> 0;
    W.vv = v;
  } else if (op === 'or') {
    W.vv = (W.vv | W.rv) >>> 0;
    W.vm = ((W.vm | W.rm) & ~W.vv) >>> 0;
  } else {
    const mu = (W.vm | W.rm) >>> 0;
    W.vv = ((W.vv ^ W.rv) & ~mu) >>> 0;
    W.vm = mu;
  }
  // the upper halves are zero: the 32- and 64-bit tnums are known together
  const both = W.vm === 0 && W.rm === 0;
  if (both) {
    // markKnown32, then markKnown of the same value
    markKnownLow(W.vv);
    return true;
  }
  if (op === 'and') {
    W.u32min = W.vv;
    W.u32max = Math.min(W.u32max, W.ru32max);
  } else if (op === 'or') {
    W.u32min = Math.max(W.u32min, W.ru32min);
    W.u32max = (W.vv | W.vm) >>> 0;
  } else {
    W.u32min = W.vv;
    W.u32max = (W.vv | W.vm) >>> 0;
  }
  if ((W.u32min | 0) <= (W.u32max | 0)) {
    W.s32min = W.u32min | 0;
    W.s32max = W.u32max | 0;
  } else {
    W.s32min = S32MIN;
    W.s32max = S32MAX;
  }
  if (op === 'and') {
    W.umin = W.vv;
    W.umax = Math.min(W.umax, W.rumax);
  } else if (op === 'or') {
    W.umin = Math.max(W.umin, W.rumin);
    W.umax = (W.vv | W.vm) >>> 0;
  } else {
    W.umin = W.vv;
    W.umax = (W.vv | W.vm) >>> 0;
  }
  // both below 2^63: the signed view is the unsigned one
  if (W.umin > W.umax) return false;
  W.smin = W.umin;
  W.smax = W.umax;
  updateLow();
  return true;
}

/** `>>` by 0..63 of a value below 2^32 (JS shifts take the count mod 32). */
const shr = (x: number, k: number): number => (k >= 32 ? 0 : x >>> k);

/** A shift by a constant (lo == hi for a constant source; the fields are read as the BigInt version reads them). */
function shiftLow(op: 'lsh' | 'rsh' | 'arsh', alu32: boolean): boolean {
  if (alu32) {
    const lo = W.ru32min;
    const hi = W.ru32max;
    if (lo > 31 || hi > 31) return false;
    if (op === 'lsh') {
      W.s32min = S32MIN;
      W.s32max = S32MAX;
      if (W.u32max > 2 ** (31 - hi)) {
        W.u32min = 0;
        W.u32max = U32;
      } else {
        W.u32min = (W.u32min << lo) >>> 0;
        W.u32max = (W.u32max << hi) >>> 0;
      }
      W.vv = (W.vv << lo) >>> 0;
      W.vm = (W.vm << lo) >>> 0;
    } else if (op === 'rsh') {
      W.s32min = S32MIN;
      W.s32max = S32MAX;
      W.vv = W.vv >>> lo;
      W.vm = W.vm >>> lo;
      W.u32min = W.u32min >>> hi;
      W.u32max = W.u32max >>> lo;
    } else {
      W.s32min = W.s32min >> lo;
      W.s32max = W.s32max >> lo;
      W.vv = ((W.vv | 0) >> lo) >>> 0;
      W.vm = ((W.vm | 0) >> lo) >>> 0;
      W.u32min = 0;
      W.u32max = U32;
    }
    // the 64-bit bounds made unbounded here are all set again by the zero extension
    update32Low();
    return true;
  }
  const lo = W.rumin;
  const hi = W.rumax;
  if (lo > 63 || hi > 63) return false;
  if (op === 'lsh') {
    // past 2^32 (a shift by 32 and more, or bits moved past bit 31): out of the domain
    if (lo >= 32 || hi >= 32 || W.umax * 2 ** hi >= TWO32 || ((W.vv | W.vm) >>> 0) * 2 ** lo >= TWO32) return false;
    W.smin = -Infinity;
    W.smax = Infinity;
    W.umin = W.umin * 2 ** lo;
    W.umax = W.umax * 2 ** hi;
    W.s32min = S32MIN;
    W.s32max = S32MAX;
    if (W.u32max > 2 ** (31 - hi)) {
      W.u32min = 0;
      W.u32max = U32;
    } else {
      W.u32min = (W.u32min << lo) >>> 0;
      W.u32max = (W.u32max << hi) >>> 0;
    }
    W.vv = (W.vv << lo) >>> 0;
    W.vm = (W.vm << lo) >>> 0;
  } else {
    if (op === 'rsh') {
      W.smin = -Infinity;
      W.smax = Infinity;
      W.umin = shr(W.umin, hi);
      W.umax = shr(W.umax, lo);
    } else {
      // non-negative: an arithmetic shift is a logical one
      W.smin = shr(W.smin, lo);
      W.smax = shr(W.smax, lo);
      W.umin = 0;
      W.umax = Infinity;
    }
    W.vv = shr(W.vv, lo);
    W.vm = shr(W.vm, lo);
    W.s32min = S32MIN;
    W.s32max = S32MAX;
    W.u32min = 0;
    W.u32max = U32;
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
  if (op === 'lsh' && !alu32 && W.rumin === 32 && W.rumax === 32) return lshHigh(dst);
  load(dst);
  if (!lowOk() && !wideDst(op, dst, alu32)) return undefined;
  const ok = op === 'add' ? addLow(alu32) : op === 'sub' ? subLow(alu32) : op === 'and' || op === 'or' || op === 'xor' ? bitopLow(op) : shiftLow(op, alu32);
  if (!ok) return undefined;
  if (alu32) {
    // zext_32_to_64: the tnum is the low half already
    W.umin = W.u32min;
    W.umax = W.u32max;
    if (W.s32min >= 0 && W.s32max >= 0) {
      W.smin = W.s32min;
      W.smax = W.s32max;
    } else {
      W.smin = 0;
      W.smax = U32;
    }
  }
  if (!lowOk() || !syncSteps()) return undefined;
  // dst itself when the operation learns nothing (as scalar.ts `done`)
  return finish(dst);
}

/** The source loaded lies in [0, 2^53) (its 64-bit fields) and its 32-bit bounds in their ranges. */
const srcMidOk = (): boolean =>
  W.rv >= 0 && W.rv < TWO53 && W.rm >= 0 && W.rm < TWO53 && W.rumin >= 0 && W.rumin < TWO53 && W.rumax >= 0 && W.rumax < TWO53 && W.rsmin >= 0 && W.rsmin < TWO53 && W.rsmax >= 0 && W.rsmax < TWO53 && W.ru32min >= 0 && W.ru32min <= U32 && W.ru32max >= 0 && W.ru32max <= U32 && W.rs32min >= S32MIN && W.rs32min <= S32MAX && W.rs32max >= S32MIN && W.rs32max <= S32MAX;

/**
 * scalar.ts scalarAluGeneric for a 64-bit `+=` or `-=` of two registers whose 64-bit fields lie in
 * [0, 2^53) (a sum of two values below 2^32, an add to one): the 32-bit bounds as addLow and
 * subLow compute them, the 64-bit sums and differences exact (every one checked to lie in the
 * domain before the sync: a sum at or above 2^53 reads as one, a difference below zero, which
 * wraps, as itself), tnum_add and tnum_sub on the two halves. undefined (nothing kept) for any
 * other operation or register, or where a step leaves the domain.
 */
export function aluMid(op: AluName, dst: Reg, src: Reg, alu32: boolean): Reg | undefined {
  if (alu32 || (op !== 'add' && op !== 'sub')) return undefined;
  loadSrc(src);
  if (!srcMidOk()) return undefined;
  load(dst);
  if (!midOk()) return undefined;
  const add = op === 'add';
  let lo = add ? W.s32min + W.rs32min : W.s32min - W.rs32max;
  let up = add ? W.s32max + W.rs32max : W.s32max - W.rs32min;
  if (lo < S32MIN || lo > S32MAX || up < S32MIN || up > S32MAX) {
    W.s32min = S32MIN;
    W.s32max = S32MAX;
  } else {
    W.s32min = lo;
    W.s32max = up;
  }
  lo = add ? W.u32min + W.ru32min : W.u32min - W.ru32max;
  up = add ? W.u32max + W.ru32max : W.u32max - W.ru32min;
  if (add ? lo <= U32 && up > U32 : lo < 0 && up >= 0) {
    W.u32min = 0;
    W.u32max = U32;
  } else {
    W.u32min = lo >>> 0;
    W.u32max = up >>> 0;
  }
  let v: number;
  let mu: number;
  if (add) {
    W.smin += W.rsmin;
    W.smax += W.rsmax;
    W.umin += W.rumin;
    W.umax += W.rumax;
    const sv = W.vv + W.rv;
    const sigma = W.vm + W.rm + sv;
    if (sigma >= TWO53) return undefined;
    mu = or53(or53(xor53(sigma, sv), W.vm), W.rm);
    v = sv;
  } else {
    W.smin -= W.rsmax;
    W.smax -= W.rsmin;
    W.umin -= W.rumax;
    W.umax -= W.rumin;
    const dv = W.vv - W.rv;
    const alpha = dv + W.vm;
    const beta = dv - W.rm;
    if (dv < 0 || beta < 0 || alpha >= TWO53) return undefined;
    mu = or53(or53(xor53(alpha, beta), W.vm), W.rm);
    v = dv;
  }
  W.vv = andn53(v, mu);
  W.vm = mu;
  if (!midOk() || !syncMidSteps() || !midOk()) return undefined;
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
    if (W.rumin < 32 || W.rumax < 32 || W.rumin > 63 || W.rumax > 63 || !u64ok(dst.umin)) return false;
    W.vv = highU32(t.value);
    W.vm = highU32(t.mask);
    W.umin = highU32(dst.umin);
    W.umax = highU32(dst.umax);
    W.rumin -= 32;
    W.rumax -= 32;
  } else if (op === 'and') {
    W.vv = lowU32(t.value);
    W.vm = lowU32(t.mask);
    W.umax = Math.min(unsignedNum(dst.umax), TWO32);
    W.umin = 0;
    W.u32max = dst.u32max;
  } else return false;
  W.smin = W.smax = W.s32min = W.s32max = W.u32min = 0;
  if (op === 'rsh') W.u32max = 0;
  W.v0 = W.m0 = W.umin0 = W.umax0 = W.smin0 = W.smax0 = W.s32min0 = W.s32max0 = W.u32min0 = W.u32max0 = NaN;
  return true;
}

// ---- the high half: values whose low 32 bits are known zero ----

/** __update_reg_bounds' 64-bit steps on the high halves (the low ones and the 32-bit bounds are zero). */
function updateHigh(): void {
  W.smin = Math.max(W.smin, W.vv | (W.vm & 0x80000000));
  W.smax = Math.min(W.smax, W.vv | (W.vm & 0x7fffffff));
  W.umin = Math.max(W.umin, W.vv);
  W.umax = Math.min(W.umax, (W.vv | W.vm) >>> 0);
  if (W.vm === 0) {
    if (W.umin !== W.vv || W.umax < W.vv) markKnownHigh(W.vv);
    return;
  }
  const tmax = (W.vv | W.vm) >>> 0;
  // tnum_step of the whole value is that of its high half, times 2^32
  const next = W.umin >= tmax ? tmax : stepLow(W.umin);
  const uminIn = ((W.umin & ~W.vm) >>> 0) === W.vv;
  if (uminIn && next > W.umax) markKnownHigh(W.umin);
  else if (!uminIn && next === tmax) markKnownHigh(tmax);
  else if (!uminIn && next <= W.umax && stepLow(next) > W.umax) markKnownHigh(next);
}

function markKnownHigh(v: number): void {
  W.vv = v;
  W.vm = 0;
  W.umin = W.umax = v;
  W.smin = W.smax = v | 0;
}

/** __reg64_deduce_bounds on the high halves: s64() and u64() of a multiple of 2^32 are `| 0` and `>>> 0` of its high half. */
function deduce64High(): void {
  if ((W.umin | 0) <= (W.umax | 0)) {
    W.smin = Math.max(W.smin, W.umin | 0);
    W.smax = Math.min(W.smax, W.umax | 0);
  }
  if (W.smin >>> 0 <= W.smax >>> 0) {
    W.umin = Math.max(W.smin >>> 0, W.umin);
    W.umax = Math.min(W.smax >>> 0, W.umax);
  } else if (W.umax < W.smin >>> 0) {
    W.smin = W.umin | 0;
    W.umax = Math.min(W.umax, W.smax >>> 0);
  } else if (W.smax >>> 0 < W.umin) {
    W.smax = W.umax | 0;
    W.umin = Math.max(W.umin, W.smin >>> 0);
  }
}

/**
 * __reg_deduce_mixed_bounds: with the 32-bit bounds [0, 0] its first steps keep every bound; the
 * last applies where the signed range lies in [S32_MIN, S32_MAX], for multiples of 2^32 only at 0.
 */
function deduceMixedHigh(): void {
  if (W.smin >= 0 && W.smax <= 0) {
    W.smin = W.smax = W.umin = W.umax = 0;
    W.vm = 0;
  }
}

/** syncHigh32 on the working register's high halves. */
function syncHighSteps(): void {
  // already exact: a constant whose bounds are that constant
  if (W.vm === 0 && W.umin === W.vv && W.umax === W.vv && W.smin === (W.vv | 0) && W.smax === W.smin) return;
  updateHigh();
  deduce64High();
  deduceMixedHigh();
  deduce64High();
  deduceMixedHigh();
  // boundOffset: the 32-bit range [0, 0] meets the tnum's low half (0; 0) as it is
  intersectRangeLow(W.umin, W.umax);
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
  W.vv = lowU32(t.value);
  W.vm = lowU32(t.mask);
  W.smin = dst.s32min;
  W.smax = dst.s32max;
  if (dst.umax > 0x80000000n) {
    W.umin = 0;
    W.umax = Infinity;
  } else {
    // umin << 32 of an inconsistent umin above umax would lose its high bits
    if (dst.umin > 0xffffffffn) return undefined;
    W.umin = lowU32(dst.umin);
    W.umax = lowU32(dst.umax);
  }
  updateHigh();
  syncHighSteps();
  const o = copyReg(dst);
  o.var = { value: bigHighU(W.vv), mask: bigHighU(W.vm) };
  o.umin = bigHighU(W.umin);
  o.umax = bigHighU(W.umax);
  o.smin = bigHighS(W.smin);
  o.smax = bigHighS(W.smax);
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
  W.vv = W.v0 = highU32(t.value);
  W.vm = W.m0 = highU32(t.mask);
  W.umin = W.umin0 = highU32(b.umin);
  W.umax = W.umax0 = highU32(b.umax);
  W.smin = W.smin0 = highS32(b.smin);
  W.smax = W.smax0 = highS32(b.smax);
  syncHighSteps();
  if (W.vv !== W.v0 || W.vm !== W.m0) b.var = { value: bigHighU(W.vv), mask: bigHighU(W.vm) };
  if (W.umin !== W.umin0) b.umin = bigHighU(W.umin);
  if (W.umax !== W.umax0) b.umax = bigHighU(W.umax);
  if (W.smin !== W.smin0) b.smin = bigHighS(W.smin);
  if (W.smax !== W.smax0) b.smax = bigHighS(W.smax);
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
  W.vv = pair[o + TV]!;
  W.vm = pair[o + TM]!;
  W.umin = pair[o + UMIN]!;
  W.umax = pair[o + UMAX]!;
  W.smin = pair[o + SMIN]!;
  W.smax = pair[o + SMAX]!;
  W.s32min = pair[o + S32MIN_]!;
  W.s32max = pair[o + S32MAX_]!;
  W.u32min = pair[o + U32MIN_]!;
  W.u32max = pair[o + U32MAX_]!;
  W.v0 = pair0[o + TV]!;
  W.m0 = pair0[o + TM]!;
  W.umin0 = pair0[o + UMIN]!;
  W.umax0 = pair0[o + UMAX]!;
  W.smin0 = pair0[o + SMIN]!;
  W.smax0 = pair0[o + SMAX]!;
  W.s32min0 = pair0[o + S32MIN_]!;
  W.s32max0 = pair0[o + S32MAX_]!;
  W.u32min0 = pair0[o + U32MIN_]!;
  W.u32max0 = pair0[o + U32MAX_]!;
}

/** The working register, synced, as a register: `r` itself when nothing changed (as scalar.ts `done`). */
function finish(r: Reg): Reg {
  if (W.vv === W.v0 && W.vm === W.m0 && W.umin === W.umin0 && W.umax === W.umax0 && W.smin === W.smin0 && W.smax === W.smax0 && W.s32min === W.s32min0 && W.s32max === W.s32max0 && W.u32min === W.u32min0 && W.u32max === W.u32max0) return r;
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
  const ok1 = lowOkAt(0);
  // a 64-bit jeq/jne of a register in the domain and one that is open (refineOpen)
  const eqne = !is32 && (cond0 === 'jeq' || cond0 === 'jne');
  if (!ok1 && !eqne) return undefined;
  loadAt(r2, F);
  const ok2 = lowOkAt(F);
  if (!ok1 || !ok2) return eqne && ok1 !== ok2 ? refineOpen(ok1 ? r2 : r1, ok1 ? F : 0, cond0 === 'jeq', r1, r2) : undefined;
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

/**
 * A register of which nothing is known but a umin below 2^32 (a value loaded as a u64, `x != 0`
 * of one): the tnum unknown, every other bound open. What reg_bounds_sync keeps as it is
 * (scalar.ts unknownAboveUmin).
 */
const isOpen = (r: Reg): boolean =>
  r.var.mask === U64MAX &&
  r.var.value === 0n &&
  r.umax === U64MAX &&
  r.smin === S64MIN &&
  r.smax === S64MAX &&
  r.u32min === 0 &&
  r.u32max === U32 &&
  r.s32min === S32MIN &&
  r.s32max === S32MAX &&
  r.umin >= 0n &&
  r.umin < P32;

/**
 * refineLow of a 64-bit `==` or `!=` between an open register (isOpen, `r`, loaded at `o`) and
 * one in the domain (the other slot): undefined for any other register at `o`.
 * - jeq: the open side takes the other's tnum (tnum_intersect with an unknown tnum) and 64-bit
 *   bounds (the open ones only meet them), both the greater umin; the open side's 32-bit bounds
 *   stay open. Both are then in the domain and synced there.
 * - jne: only a constant other side at the open side's umin moves it (umin + 1; its umax and
 *   signed bounds are the 64-bit limits, never a value below 2^32); the sync keeps an open
 *   register as it is and syncs the other in the domain.
 */
function refineOpen(r: Reg, o: number, eq: boolean, r1: Reg, r2: Reg): [Reg, Reg] | undefined {
  if (!isOpen(r)) return undefined;
  const p = pair;
  const q = F - o;
  if (eq) {
    p[o + TV] = p[q + TV]!;
    p[o + TM] = p[q + TM]!;
    p[o + UMIN] = p[q + UMIN] = Math.max(p[o + UMIN]!, p[q + UMIN]!);
    p[o + UMAX] = p[q + UMAX]!;
    p[o + SMIN] = p[q + SMIN]!;
    p[o + SMAX] = p[q + SMAX]!;
    // the open side changed: every field written back
    for (let k = o; k < o + F; k++) pair0[k] = NaN;
    if (!pairOk(0, false) || !pairOk(F, false)) return undefined;
    workFrom(0);
    if (!syncSteps()) return undefined;
    const o1 = finish(r1);
    workFrom(F);
    if (!syncSteps()) return undefined;
    return [o1, finish(r2)];
  }
  workFrom(q);
  if (!syncSteps()) return undefined;
  const other = finish(q === 0 ? r1 : r2);
  let open = r;
  if (p[q + TM] === 0 && p[q + TV] === p[o + UMIN]) {
    const c = copyReg(r);
    c.umin = bigOf(p[o + UMIN]! + 1);
    open = c;
  }
  return o === 0 ? [open, other] : [other, open];
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

// ---- any register: the 64-bit fields as two 32-bit halves ----

// A register of any shape (an unknown masked with -8, bounds at or above 2^63, negative signed
// bounds): every 64-bit field as its high and low 32 bits, unsigned (smin and smax as their
// two's-complement bits), in a Uint32Array (every write is ToUint32); the 32-bit bounds in W.
// Every step of scalar.ts syncGeneric is exact on them: an unsigned comparison compares the high
// halves and then the low ones, a signed one the high halves as int32 first.
const VH = 0;
const VL = 1;
const MH = 2;
const ML = 3;
const UNH = 4;
const UNL = 5;
const UXH = 6;
const UXL = 7;
const SNH = 8;
const SNL = 9;
const SXH = 10;
const SXL = 11;
/** tnum_step's answer (stepW). */
const RH = 12;
const RL = 13;
const X = new Uint32Array(14);
/** The fields as loaded: store writes back the ones that changed. */
const X0 = new Uint32Array(12);

/** The pair at i becomes max_u(itself, (h, l)). */
function maxU(i: number, h0: number, l0: number): void {
  const h = h0 >>> 0;
  const l = l0 >>> 0;
  const xh = X[i]!;
  if (h > xh || (h === xh && l > X[i + 1]!)) {
    X[i] = h;
    X[i + 1] = l;
  }
}
function minU(i: number, h0: number, l0: number): void {
  const h = h0 >>> 0;
  const l = l0 >>> 0;
  const xh = X[i]!;
  if (h < xh || (h === xh && l < X[i + 1]!)) {
    X[i] = h;
    X[i + 1] = l;
  }
}
/** The pair at i becomes max_s(itself, (h, l)) (the high halves compared as int32). */
function maxS(i: number, h0: number, l0: number): void {
  const h = h0 >>> 0;
  const l = l0 >>> 0;
  const xh = X[i]!;
  if ((h | 0) > (xh | 0) || (h === xh && l > X[i + 1]!)) {
    X[i] = h;
    X[i + 1] = l;
  }
}
function minS(i: number, h0: number, l0: number): void {
  const h = h0 >>> 0;
  const l = l0 >>> 0;
  const xh = X[i]!;
  if ((h | 0) < (xh | 0) || (h === xh && l < X[i + 1]!)) {
    X[i] = h;
    X[i + 1] = l;
  }
}
/** (ah, al) < (bh, bl), unsigned (all four unsigned 32-bit numbers). */
const ltU = (ah: number, al: number, bh: number, bl: number): boolean => ah < bh || (ah === bh && al < bl);
/** (ah, al) <= (bh, bl), signed (the high halves as int32). */
const leS = (ah: number, al: number, bh: number, bl: number): boolean => (ah | 0) < (bh | 0) || (ah === bh && al <= bl);

/** markKnown: the constant (h, l) in every field. */
function markKnownW(h: number, l: number): void {
  X[VH] = X[UNH] = X[UXH] = X[SNH] = X[SXH] = h;
  X[VL] = X[UNL] = X[UXL] = X[SNL] = X[SXL] = l;
  X[MH] = X[ML] = 0;
  W.s32min = W.s32max = l | 0;
  W.u32min = W.u32max = l >>> 0;
}

/**
 * tnum_step of the working tnum above z = (zh, zl) (tnum.ts tnumStep): false for none (2^64),
 * else the answer in X[RH], X[RL]. The tnum's value and mask are disjoint (syncWide checks), so
 * `value + s` of an s within the mask is `value | s`.
 */
function stepW(zh: number, zl: number): boolean {
  if (zh === U32 && zl === U32) return false;
  const vh = X[VH]!;
  const vl = X[VL]!;
  if (ltU(zh, zl, vh, vl)) {
    X[RH] = vh;
    X[RL] = vl;
    return true;
  }
  // d = z - value (no borrow out: z >= value)
  let dl = zl - vl;
  let dh = zh - vh;
  if (dl < 0) {
    dl += TWO32;
    dh -= 1;
  }
  const mh = X[MH]!;
  const ml = X[ML]!;
  const badh = (dh & ~mh) >>> 0;
  const badl = (dl & ~ml) >>> 0;
  let ch = (mh & ~dh) >>> 0;
  let cl = (ml & ~dl) >>> 0;
  // cand & -(1 << fls64(bad)): the bits below fls64(bad) cleared (JS shifts take the count mod 32)
  if (badh !== 0) {
    const k = 32 - Math.clz32(badh);
    cl = 0;
    ch = k === 32 ? 0 : (ch & (-1 << k)) >>> 0;
  } else if (badl !== 0) {
    const k = 32 - Math.clz32(badl);
    cl = k === 32 ? 0 : (cl & (-1 << k)) >>> 0;
  }
  if (ch === 0 && cl === 0) return false;
  // p the lowest bit of cand; s = (d & -(p << 1)) | p: d's bits above p, and p
  let sh: number;
  let sl: number;
  if (cl !== 0) {
    const p = (cl & -cl) >>> 0;
    sl = ((dl & (p === 0x80000000 ? 0 : -(p * 2))) | p) >>> 0;
    sh = dh;
  } else {
    const p = (ch & -ch) >>> 0;
    sl = 0;
    sh = ((dh & (p === 0x80000000 ? 0 : -(p * 2))) | p) >>> 0;
  }
  X[RH] = (vh | sh) >>> 0;
  X[RL] = (vl | sl) >>> 0;
  return true;
}

/** __update_reg_bounds (scalar.ts update32 and update64). */
function updateW(): void {
  const vh = X[VH]!;
  const vl = X[VL]!;
  const mh = X[MH]!;
  const ml = X[ML]!;
  W.s32min = Math.max(W.s32min, vl | (ml & 0x80000000));
  W.s32max = Math.min(W.s32max, vl | (ml & 0x7fffffff));
  W.u32min = Math.max(W.u32min, vl);
  W.u32max = Math.min(W.u32max, (vl | ml) >>> 0);
  // nothing known: the meets with the full ranges keep every bound, tnum_step(umin) is umin + 1
  if (mh === U32 && ml === U32 && vh === 0 && vl === 0 && !(X[UNH] === U32 && X[UNL] === U32)) {
    if (!ltU(X[UNH]!, X[UNL]!, X[UXH]!, X[UXL]!)) markKnownW(X[UNH]!, X[UNL]!);
    return;
  }
  maxS(SNH, vh | (mh & 0x80000000), vl);
  minS(SXH, vh | (mh & 0x7fffffff), vl | ml);
  maxU(UNH, vh, vl);
  minU(UXH, vh | mh, vl | ml);
  if (mh === 0 && ml === 0) {
    if (X[UNH] !== vh || X[UNL] !== vl || ltU(X[UXH]!, X[UXL]!, vh, vl)) markKnownW(vh, vl);
    return;
  }
  const th = (vh | mh) >>> 0;
  const tl = (vl | ml) >>> 0;
  const uh = X[UNH]!;
  const ul = X[UNL]!;
  let nh = th;
  let nl = tl;
  let none = false;
  if (ltU(uh, ul, th, tl)) {
    if (stepW(uh, ul)) {
      nh = X[RH]!;
      nl = X[RL]!;
    } else none = true;
  }
  const uminIn = ((uh & ~mh) >>> 0) === vh && ((ul & ~ml) >>> 0) === vl;
  const xh = X[UXH]!;
  const xl = X[UXL]!;
  if (uminIn) {
    if (none || ltU(xh, xl, nh, nl)) markKnownW(uh, ul);
  } else if (!none) {
    if (nh === th && nl === tl) markKnownW(th, tl);
    else if (!ltU(xh, xl, nh, nl) && (!stepW(nh, nl) || ltU(xh, xl, X[RH]!, X[RL]!))) markKnownW(nh, nl);
  }
}

/** __reg32_deduce_bounds (scalar.ts deduce32) on the halves. */
function deduce32W(): void {
  const uminH = X[UNH]!;
  const umaxH = X[UXH]!;
  const sminH = X[SNH]!;
  const smaxH = X[SXH]!;
  const uminLo = X[UNL]!;
  const umaxLo = X[UXL]!;
  const sminLo = X[SNL]!;
  const smaxLo = X[SXL]!;
  if (uminH === umaxH) {
    W.u32min = Math.max(W.u32min, uminLo);
    W.u32max = Math.min(W.u32max, umaxLo);
    if ((uminLo | 0) <= (umaxLo | 0)) {
      W.s32min = Math.max(W.s32min, uminLo | 0);
      W.s32max = Math.min(W.s32max, umaxLo | 0);
    }
  }
  if (sminH === smaxH) {
    W.u32min = Math.max(W.u32min, sminLo);
    W.u32max = Math.min(W.u32max, smaxLo);
    if ((sminLo | 0) <= (smaxLo | 0)) {
      W.s32min = Math.max(W.s32min, sminLo | 0);
      W.s32max = Math.min(W.s32max, smaxLo | 0);
    }
  }
  if ((uminH + 1) >>> 0 === umaxH && (uminLo | 0) < 0 && (umaxLo | 0) >= 0) {
    W.s32min = Math.max(W.s32min, uminLo | 0);
    W.s32max = Math.min(W.s32max, umaxLo | 0);
  }
  if ((sminH + 1) >>> 0 === smaxH && (sminLo | 0) < 0 && (smaxLo | 0) >= 0) {
    W.s32min = Math.max(W.s32min, sminLo | 0);
    W.s32max = Math.min(W.s32max, smaxLo | 0);
  }
  crossBounds32();
}

/** __reg64_deduce_bounds (scalar.ts deduce64) on the halves. */
function deduce64W(): void {
  if (leS(X[UNH]!, X[UNL]!, X[UXH]!, X[UXL]!)) {
    maxS(SNH, X[UNH]!, X[UNL]!);
    minS(SXH, X[UXH]!, X[UXL]!);
  }
  if (!ltU(X[SXH]!, X[SXL]!, X[SNH]!, X[SNL]!)) {
    maxU(UNH, X[SNH]!, X[SNL]!);
    minU(UXH, X[SXH]!, X[SXL]!);
  } else if (ltU(X[UXH]!, X[UXL]!, X[SNH]!, X[SNL]!)) {
    X[SNH] = X[UNH]!;
    X[SNL] = X[UNL]!;
    minU(UXH, X[SXH]!, X[SXL]!);
  } else if (ltU(X[SXH]!, X[SXL]!, X[UNH]!, X[UNL]!)) {
    X[SXH] = X[UXH]!;
    X[SXL] = X[UXL]!;
    maxU(UNH, X[SNH]!, X[SNL]!);
  }
}

/** tnum_intersect(var, tnum_range(lo, hi)) on the halves (the tnum's value and mask disjoint). */
function intersectRangeW(lh: number, ll: number, hh: number, hl: number): void {
  const xh = (lh ^ hh) >>> 0;
  const xl = (ll ^ hl) >>> 0;
  // fls64(lo ^ hi) > 63: tnum_range is unknown, which the intersection keeps the tnum as it is
  if (xh >= 0x80000000) return;
  let dh = 0;
  let dl = 0;
  if (xh !== 0) {
    dh = 0xffffffff >>> Math.clz32(xh);
    dl = U32;
  } else if (xl !== 0) dl = 0xffffffff >>> Math.clz32(xl);
  const mh = (X[MH]! & dh) >>> 0;
  const ml = (X[ML]! & dl) >>> 0;
  X[VH] = (X[VH]! | (lh & ~dh)) & ~mh;
  X[VL] = (X[VL]! | (ll & ~dl)) & ~ml;
  X[MH] = mh;
  X[ML] = ml;
}

/** __reg_deduce_mixed_bounds (scalar.ts deduceMixed) on the halves. */
function deduceMixedW(): void {
  maxU(UNH, X[UNH]!, W.u32min);
  minU(UXH, X[UXH]!, W.u32max);
  maxS(SNH, X[SNH]!, W.u32min);
  minS(SXH, X[SXH]!, W.u32max);
  // smin >= S32_MIN and smax <= S32_MAX
  if (W.s32min >= 0 && !leS(X[SNH]!, X[SNL]!, U32, 0x7fffffff) && leS(X[SXH]!, X[SXL]!, 0, 0x7fffffff)) {
    const lo = W.s32min;
    const hi = W.s32max;
    X[SNH] = X[UNH] = 0;
    X[SNL] = X[UNL] = lo;
    X[SXH] = X[UXH] = hi < 0 ? U32 : 0;
    X[SXL] = X[UXL] = hi;
    intersectRangeW(X[UNH]!, X[UNL]!, X[UXH]!, X[UXL]!);
  }
}

/** The 32-bit fields in their types' ranges. */
const ok32 = (b: Readonly<B>): boolean => b.u32min >= 0 && b.u32min <= U32 && b.u32max >= 0 && b.u32max <= U32 && b.s32min >= S32MIN && b.s32min <= S32MAX && b.s32max >= S32MIN && b.s32max <= S32MAX;

/** Loads `b` as the working register on halves: false where it is outside syncWide's domain. */
function loadW(b: Readonly<B>): boolean {
  const t = b.var;
  if (!(u64ok(t.value) && u64ok(t.mask) && u64ok(b.umin) && u64ok(b.umax) && b.smin >= S64MIN && b.smin <= S64MAX && b.smax >= S64MIN && b.smax <= S64MAX && ok32(b))) return false;
  halvesInto(t.value, X, VH);
  halvesInto(t.mask, X, MH);
  if ((X[VH]! & X[MH]!) !== 0 || (X[VL]! & X[ML]!) !== 0) return false;
  halvesInto(b.umin, X, UNH);
  halvesInto(b.umax, X, UXH);
  halvesInto(b.smin, X, SNH);
  halvesInto(b.smax, X, SXH);
  for (let k = 0; k < 12; k++) X0[k] = X[k]!;
  W.s32min = W.s32min0 = b.s32min;
  W.s32max = W.s32max0 = b.s32max;
  W.u32min = W.u32min0 = b.u32min;
  W.u32max = W.u32max0 = b.u32max;
  return true;
}

/** reg_bounds_sync of the working register on halves (scalar.ts syncGeneric's steps). */
function syncWSteps(): void {
  // already exact: a constant whose bounds are that constant, or nothing known at all (as syncGeneric)
  if (X[MH] === 0 && X[ML] === 0) {
    const h = X[VH]!;
    const l = X[VL]!;
    if (X[UNH] === h && X[UNL] === l && X[UXH] === h && X[UXL] === l && X[SNH] === h && X[SNL] === l && X[SXH] === h && X[SXL] === l && W.u32min === l && W.u32max === l && W.s32min === (l | 0) && W.s32max === W.s32min) return;
  } else if (X[MH] === U32 && X[ML] === U32 && X[UNH] === 0 && X[UNL] === 0 && X[UXH] === U32 && X[UXL] === U32 && X[SNH] === 0x80000000 && X[SNL] === 0 && X[SXH] === 0x7fffffff && X[SXL] === U32 && W.u32min === 0 && W.u32max === U32 && W.s32min === S32MIN && W.s32max === S32MAX) return;
  updateW();
  deduce32W();
  deduce64W();
  deduceMixedW();
  deduce32W();
  deduce64W();
  deduceMixedW();
  // boundOffset: the 64-bit range into the tnum, then the 32-bit range into its low half
  intersectRangeW(X[UNH]!, X[UNL]!, X[UXH]!, X[UXL]!);
  const lo = W.u32min;
  const bits = 32 - Math.clz32((lo ^ W.u32max) >>> 0);
  const delta = bits === 0 ? 0 : 0xffffffff >>> (32 - bits);
  const mu = (X[ML]! & delta) >>> 0;
  X[VL] = (X[VL]! | (lo & ~delta)) & ~mu;
  X[ML] = mu;
  updateW();
}

/** Writes back the fields of the working register that changed. */
function storeW(b: B): void {
  if (X[VH] !== X0[VH] || X[VL] !== X0[VL] || X[MH] !== X0[MH] || X[ML] !== X0[ML]) b.var = { value: bigOfHalves(X[VH]!, X[VL]!), mask: bigOfHalves(X[MH]!, X[ML]!) };
  if (X[UNH] !== X0[UNH] || X[UNL] !== X0[UNL]) b.umin = bigOfHalves(X[UNH]!, X[UNL]!);
  if (X[UXH] !== X0[UXH] || X[UXL] !== X0[UXL]) b.umax = bigOfHalves(X[UXH]!, X[UXL]!);
  if (X[SNH] !== X0[SNH] || X[SNL] !== X0[SNL]) b.smin = bigOfHalvesS(X[SNH]!, X[SNL]!);
  if (X[SXH] !== X0[SXH] || X[SXL] !== X0[SXL]) b.smax = bigOfHalvesS(X[SXH]!, X[SXL]!);
  b.s32min = W.s32min;
  b.s32max = W.s32max;
  b.u32min = W.u32min;
  b.u32max = W.u32max;
}

/**
 * scalar.ts syncGeneric on two 32-bit halves per 64-bit field, for a `b` whose fields all lie in
 * their types' ranges (a register's always do) and whose tnum's value and mask are disjoint:
 * false (nothing written) for any other.
 */
export function syncWide(b: B): boolean {
  if (!loadW(b)) return false;
  syncWSteps();
  storeW(b);
  return true;
}

// ---- adjust_scalar_min_max_vals on halves ----

/** The source operand on halves (the layout of X); its 32-bit bounds are W.rs32min and the others. */
const Y = new Uint32Array(12);
/** A 64-bit result (hi, lo) of addH, subH and the shifts. */
const T = new Uint32Array(2);

/** (ah, al) + (bh, bl) mod 2^64 into T; the carry out. */
function addH(ah: number, al: number, bh: number, bl: number): boolean {
  const l = al + bl;
  const h = ah + bh + (l >= TWO32 ? 1 : 0);
  T[0] = h;
  T[1] = l;
  return h >= TWO32;
}
/** (ah, al) - (bh, bl) mod 2^64 into T; the borrow out (a < b). */
function subH(ah: number, al: number, bh: number, bl: number): boolean {
  const l = al - bl;
  const h = ah - bh - (l < 0 ? 1 : 0);
  T[0] = h;
  T[1] = l;
  return h < 0;
}
/** (h, l) << k mod 2^64 into T, k in 0..63. */
function shlH(h: number, l: number, k: number): void {
  if (k === 0) {
    T[0] = h;
    T[1] = l;
  } else if (k >= 32) {
    T[0] = l << (k - 32);
    T[1] = 0;
  } else {
    T[0] = (h << k) | (l >>> (32 - k));
    T[1] = l << k;
  }
}
/** (h, l) >> k (logical, or arithmetic: `signed`) into T, k in 0..63. */
function shrH(h: number, l: number, k: number, signed: boolean): void {
  if (k === 0) {
    T[0] = h;
    T[1] = l;
  } else if (k >= 32) {
    T[0] = signed ? (h | 0) >> 31 : 0;
    T[1] = signed ? (h | 0) >> (k - 32) : h >>> (k - 32);
  } else {
    T[0] = signed ? (h | 0) >> k : h >>> k;
    T[1] = (l >>> k) | (h << (32 - k));
  }
}

function loadY(s: Readonly<B>): boolean {
  const t = s.var;
  if (!(u64ok(t.value) && u64ok(t.mask) && u64ok(s.umin) && u64ok(s.umax) && s.smin >= S64MIN && s.smin <= S64MAX && s.smax >= S64MIN && s.smax <= S64MAX && ok32(s))) return false;
  halvesInto(t.value, Y, VH);
  halvesInto(t.mask, Y, MH);
  if ((Y[VH]! & Y[MH]!) !== 0 || (Y[VL]! & Y[ML]!) !== 0) return false;
  halvesInto(s.umin, Y, UNH);
  halvesInto(s.umax, Y, UXH);
  halvesInto(s.smin, Y, SNH);
  halvesInto(s.smax, Y, SXH);
  W.rs32min = s.s32min;
  W.rs32max = s.s32max;
  W.ru32min = s.u32min;
  W.ru32max = s.u32max;
  return true;
}

/** scalar32_min_max_add or _sub on the 32-bit bounds (scalar.ts add32, sub32). */
function addSub32W(add: boolean): void {
  const lo = add ? W.s32min + W.rs32min : W.s32min - W.rs32max;
  const up = add ? W.s32max + W.rs32max : W.s32max - W.rs32min;
  if (lo < S32MIN || lo > S32MAX || up < S32MIN || up > S32MAX) {
    W.s32min = S32MIN;
    W.s32max = S32MAX;
  } else {
    W.s32min = lo;
    W.s32max = up;
  }
  const ulo = add ? W.u32min + W.ru32min : W.u32min - W.ru32max;
  const uhi = add ? W.u32max + W.ru32max : W.u32max - W.ru32min;
  if (add ? ulo <= U32 && uhi > U32 : ulo < 0 && uhi >= 0) {
    W.u32min = 0;
    W.u32max = U32;
  } else {
    W.u32min = ulo >>> 0;
    W.u32max = uhi >>> 0;
  }
}

/** scalar_min_max_add and tnum_add (scalar.ts add64, tnumAdd): a signed sum overflows where both operands' signs differ from the result's. */
function add64W(): void {
  addH(X[SNH]!, X[SNL]!, Y[SNH]!, Y[SNL]!);
  const loH = T[0]!;
  const loL = T[1]!;
  const ov = ((X[SNH]! ^ loH) & (Y[SNH]! ^ loH)) | 0;
  addH(X[SXH]!, X[SXL]!, Y[SXH]!, Y[SXL]!);
  if (ov < 0 || ((X[SXH]! ^ T[0]!) & (Y[SXH]! ^ T[0]!)) < 0) {
    X[SNH] = 0x80000000;
    X[SNL] = 0;
    X[SXH] = 0x7fffffff;
    X[SXL] = U32;
  } else {
    X[SNH] = loH;
    X[SNL] = loL;
    X[SXH] = T[0]!;
    X[SXL] = T[1]!;
  }
  const c1 = addH(X[UNH]!, X[UNL]!, Y[UNH]!, Y[UNL]!);
  const ulH = T[0]!;
  const ulL = T[1]!;
  const c2 = addH(X[UXH]!, X[UXL]!, Y[UXH]!, Y[UXL]!);
  if (!c1 && c2) {
    X[UNH] = X[UNL] = 0;
    X[UXH] = X[UXL] = U32;
  } else {
    X[UNH] = ulH;
    X[UNL] = ulL;
    X[UXH] = T[0]!;
    X[UXL] = T[1]!;
  }
  // tnum_add
  addH(X[MH]!, X[ML]!, Y[MH]!, Y[ML]!);
  const smH = T[0]!;
  const smL = T[1]!;
  addH(X[VH]!, X[VL]!, Y[VH]!, Y[VL]!);
  const svH = T[0]!;
  const svL = T[1]!;
  addH(smH, smL, svH, svL);
  const muH = (T[0]! ^ svH) | X[MH]! | Y[MH]!;
  const muL = (T[1]! ^ svL) | X[ML]! | Y[ML]!;
  X[VH] = svH & ~muH;
  X[VL] = svL & ~muL;
  X[MH] = muH;
  X[ML] = muL;
}

/** scalar_min_max_sub and tnum_sub (scalar.ts sub64, tnumSub): a signed difference overflows where the operands' signs differ and the result's differs from the first's. */
function sub64W(): void {
  subH(X[SNH]!, X[SNL]!, Y[SXH]!, Y[SXL]!);
  const loH = T[0]!;
  const loL = T[1]!;
  const ov = ((X[SNH]! ^ Y[SXH]!) & (X[SNH]! ^ loH)) | 0;
  subH(X[SXH]!, X[SXL]!, Y[SNH]!, Y[SNL]!);
  if (ov < 0 || ((X[SXH]! ^ Y[SNH]!) & (X[SXH]! ^ T[0]!)) < 0) {
    X[SNH] = 0x80000000;
    X[SNL] = 0;
    X[SXH] = 0x7fffffff;
    X[SXL] = U32;
  } else {
    X[SNH] = loH;
    X[SNL] = loL;
    X[SXH] = T[0]!;
    X[SXL] = T[1]!;
  }
  const b1 = subH(X[UNH]!, X[UNL]!, Y[UXH]!, Y[UXL]!);
  const ulH = T[0]!;
  const ulL = T[1]!;
  const b2 = subH(X[UXH]!, X[UXL]!, Y[UNH]!, Y[UNL]!);
  if (b1 && !b2) {
    X[UNH] = X[UNL] = 0;
    X[UXH] = X[UXL] = U32;
  } else {
    X[UNH] = ulH;
    X[UNL] = ulL;
    X[UXH] = T[0]!;
    X[UXL] = T[1]!;
  }
  // tnum_sub
  subH(X[VH]!, X[VL]!, Y[VH]!, Y[VL]!);
  const dvH = T[0]!;
  const dvL = T[1]!;
  addH(dvH, dvL, X[MH]!, X[ML]!);
  const alH = T[0]!;
  const alL = T[1]!;
  subH(dvH, dvL, Y[MH]!, Y[ML]!);
  const muH = (alH ^ T[0]!) | X[MH]! | Y[MH]!;
  const muL = (alL ^ T[1]!) | X[ML]! | Y[ML]!;
  X[VH] = dvH & ~muH;
  X[VL] = dvL & ~muL;
  X[MH] = muH;
  X[ML] = muL;
}

/** tnum_and/or/xor, then scalar32_min_max_* and scalar_min_max_* (scalar.ts bitop, both widths). */
function bitopW(op: 'and' | 'or' | 'xor'): void {
  const av = X[VH]!;
  const al = X[VL]!;
  const amh = X[MH]!;
  const aml = X[ML]!;
  if (op === 'and') {
    const vh = av & Y[VH]!;
    const vl = al & Y[VL]!;
    X[MH] = (av | amh) & (Y[VH]! | Y[MH]!) & ~vh;
    X[ML] = (al | aml) & (Y[VL]! | Y[ML]!) & ~vl;
    X[VH] = vh;
    X[VL] = vl;
  } else if (op === 'or') {
    X[VH] = av | Y[VH]!;
    X[VL] = al | Y[VL]!;
    X[MH] = (amh | Y[MH]!) & ~X[VH]!;
    X[ML] = (aml | Y[ML]!) & ~X[VL]!;
  } else {
    const muh = amh | Y[MH]!;
    const mul = aml | Y[ML]!;
    X[VH] = (av ^ Y[VH]!) & ~muh;
    X[VL] = (al ^ Y[VL]!) & ~mul;
    X[MH] = muh;
    X[ML] = mul;
  }
  const vh = X[VH]!;
  const vl = X[VL]!;
  const mh = X[MH]!;
  const ml = X[ML]!;
  // 32 bits: both subregisters known, markKnown32 (the tnum's low half is the constant already)
  if (Y[ML] === 0 && ml === 0) {
    W.s32min = W.s32max = vl | 0;
    W.u32min = W.u32max = vl;
  } else {
    if (op === 'and') {
      W.u32min = vl;
      W.u32max = Math.min(W.u32max, W.ru32max);
    } else if (op === 'or') {
      W.u32min = Math.max(W.u32min, W.ru32min);
      W.u32max = (vl | ml) >>> 0;
    } else {
      W.u32min = vl;
      W.u32max = (vl | ml) >>> 0;
    }
    if ((W.u32min | 0) <= (W.u32max | 0)) {
      W.s32min = W.u32min | 0;
      W.s32max = W.u32max | 0;
    } else {
      W.s32min = S32MIN;
      W.s32max = S32MAX;
    }
  }
  // 64 bits
  if (Y[MH] === 0 && Y[ML] === 0 && mh === 0 && ml === 0) {
    markKnownW(vh, vl);
    return;
  }
  if (op === 'and') {
    X[UNH] = vh;
    X[UNL] = vl;
    minU(UXH, Y[UXH]!, Y[UXL]!);
  } else if (op === 'or') {
    maxU(UNH, Y[UNH]!, Y[UNL]!);
    X[UXH] = vh | mh;
    X[UXL] = vl | ml;
  } else {
    X[UNH] = vh;
    X[UNL] = vl;
    X[UXH] = vh | mh;
    X[UXL] = vl | ml;
  }
  if (leS(X[UNH]!, X[UNL]!, X[UXH]!, X[UXL]!)) {
    X[SNH] = X[UNH]!;
    X[SNL] = X[UNL]!;
    X[SXH] = X[UXH]!;
    X[SXL] = X[UXL]!;
  } else {
    X[SNH] = 0x80000000;
    X[SNL] = 0;
    X[SXH] = 0x7fffffff;
    X[SXL] = U32;
  }
  updateW();
}

/** A 64-bit shift by the source's bounds lo..hi, below 64 (scalar.ts shift, lsh64, lsh32). */
function shiftW(op: 'lsh' | 'rsh' | 'arsh', lo: number, hi: number): void {
  if (op === 'lsh') {
    if (lo === 32 && hi === 32) {
      X[SXH] = W.s32max;
      X[SNH] = W.s32min;
      X[SXL] = X[SNL] = 0;
    } else {
      X[SXH] = 0x7fffffff;
      X[SXL] = U32;
      X[SNH] = 0x80000000;
      X[SNL] = 0;
    }
    // umax > 1 << (63 - hi)
    const ph = hi <= 31 ? 2 ** (31 - hi) : 0;
    const pl = hi <= 31 ? 0 : 2 ** (63 - hi);
    if (ltU(ph, pl, X[UXH]!, X[UXL]!)) {
      X[UNH] = X[UNL] = 0;
      X[UXH] = X[UXL] = U32;
    } else {
      shlH(X[UNH]!, X[UNL]!, lo);
      X[UNH] = T[0]!;
      X[UNL] = T[1]!;
      shlH(X[UXH]!, X[UXL]!, hi);
      X[UXH] = T[0]!;
      X[UXL] = T[1]!;
    }
    W.s32min = S32MIN;
    W.s32max = S32MAX;
    if (hi > 31 || W.u32max > 2 ** (31 - hi)) {
      W.u32min = 0;
      W.u32max = U32;
    } else {
      W.u32min = (W.u32min << lo) >>> 0;
      W.u32max = (W.u32max << hi) >>> 0;
    }
    shlH(X[VH]!, X[VL]!, lo);
    X[VH] = T[0]!;
    X[VL] = T[1]!;
    shlH(X[MH]!, X[ML]!, lo);
    X[MH] = T[0]!;
    X[ML] = T[1]!;
  } else {
    const signed = op === 'arsh';
    if (signed) {
      shrH(X[SNH]!, X[SNL]!, lo, true);
      X[SNH] = T[0]!;
      X[SNL] = T[1]!;
      shrH(X[SXH]!, X[SXL]!, lo, true);
      X[SXH] = T[0]!;
      X[SXL] = T[1]!;
      X[UNH] = X[UNL] = 0;
      X[UXH] = X[UXL] = U32;
    } else {
      X[SNH] = 0x80000000;
      X[SNL] = 0;
      X[SXH] = 0x7fffffff;
      X[SXL] = U32;
      shrH(X[UNH]!, X[UNL]!, hi, false);
      X[UNH] = T[0]!;
      X[UNL] = T[1]!;
      shrH(X[UXH]!, X[UXL]!, lo, false);
      X[UXH] = T[0]!;
      X[UXL] = T[1]!;
    }
    shrH(X[VH]!, X[VL]!, lo, signed);
    X[VH] = T[0]!;
    X[VL] = T[1]!;
    shrH(X[MH]!, X[ML]!, lo, signed);
    X[MH] = T[0]!;
    X[ML] = T[1]!;
    W.s32min = S32MIN;
    W.s32max = S32MAX;
    W.u32min = 0;
    W.u32max = U32;
  }
  updateW();
}

/**
 * scalar.ts scalarAluGeneric on halves for `dst op= src` of any two registers (their fields in
 * their types' ranges, their tnums' value and mask disjoint): add, sub, and, or, xor (ALU64 and
 * ALU32) and 64-bit shifts by a constant below 64. undefined (nothing computed is kept) for any other
 * operation or register; the caller then runs the BigInt version.
 */
export function aluWide(op: AluName, dst: Reg, src: Reg, alu32: boolean, srcConst: boolean): Reg | undefined {
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
      // ALU32 shifts (scalar.ts shift's 32-bit steps) stay on BigInts
      if (!alu32 && srcConst && src.umax < 64n) break;
      return undefined;
    default:
      return undefined;
  }
  if (!loadY(src) || !loadW(dst)) return undefined;
  if (op === 'add' || op === 'sub') {
    addSub32W(op === 'add');
    if (op === 'add') add64W();
    else sub64W();
  } else if (op === 'and' || op === 'or' || op === 'xor') bitopW(op);
  // the counts: a constant source's umin and umax (equal, below 64)
  else shiftW(op, Y[UNL]!, Y[UXL]!);
  // ALU32 (scalar.ts scalarAluGeneric runs the 64-bit steps too, whose bitop updates the 32-bit
  // bounds): zext_32_to_64, the tnum's low half and the 64-bit bounds from the 32-bit ones
  if (alu32) {
    X[VH] = X[MH] = X[UNH] = X[UXH] = X[SNH] = X[SXH] = 0;
    X[UNL] = W.u32min;
    X[UXL] = W.u32max;
    if (W.s32min >= 0 && W.s32max >= 0) {
      X[SNL] = W.s32min;
      X[SXL] = W.s32max;
    } else {
      X[SNL] = 0;
      X[SXL] = U32;
    }
  }
  syncWSteps();
  if (X[VH] === X0[VH] && X[VL] === X0[VL] && X[MH] === X0[MH] && X[ML] === X0[ML] && X[UNH] === X0[UNH] && X[UNL] === X0[UNL] && X[UXH] === X0[UXH] && X[UXL] === X0[UXL] && X[SNH] === X0[SNH] && X[SNL] === X0[SNL] && X[SXH] === X0[SXH] && X[SXL] === X0[SXL] && W.s32min === W.s32min0 && W.s32max === W.s32max0 && W.u32min === W.u32min0 && W.u32max === W.u32max0) return dst;
  const o = copyReg(dst);
  storeW(o);
  return o;
}

// ---- regs_refine_cond_op on halves: 64-bit ordered comparisons ----

/** The second register of a refinement on halves as loaded (Y holds it as refined). */
const Y0 = new Uint32Array(12);

/** a[i] pair = min_u / max_u / min_s / max_s of itself and (h, l). */
function pairMin(a: Uint32Array, i: number, h0: number, l0: number, signed: boolean): void {
  const h = h0 >>> 0;
  const l = l0 >>> 0;
  const xh = a[i]!;
  if ((signed ? (h | 0) < (xh | 0) : h < xh) || (h === xh && l < a[i + 1]!)) {
    a[i] = h;
    a[i + 1] = l;
  }
}
function pairMax(a: Uint32Array, i: number, h0: number, l0: number, signed: boolean): void {
  const h = h0 >>> 0;
  const l = l0 >>> 0;
  const xh = a[i]!;
  if ((signed ? (h | 0) > (xh | 0) : h > xh) || (h === xh && l > a[i + 1]!)) {
    a[i] = h;
    a[i + 1] = l;
  }
}

/**
 * `a < b` (lt) or `a <= b` of two registers on halves, a and b each X or Y: the unsigned
 * (umin/umax) or signed (smin/smax) bounds of cond.ts refineCondGeneric's jlt/jle/jslt/jsle,
 * `- 1` and `+ 1` wrapping as u64()/s64() wrap them.
 */
function refineOrderW(a: Uint32Array, b: Uint32Array, lt: boolean, signed: boolean): void {
  const mn = signed ? SNH : UNH;
  const mx = signed ? SXH : UXH;
  if (lt) {
    subH(b[mx]!, b[mx + 1]!, 0, 1);
    pairMin(a, mx, T[0]!, T[1]!, signed);
    addH(a[mn]!, a[mn + 1]!, 0, 1);
    pairMax(b, mn, T[0]!, T[1]!, signed);
  } else {
    pairMin(a, mx, b[mx]!, b[mx + 1]!, signed);
    pairMax(b, mn, a[mn]!, a[mn + 1]!, signed);
  }
}

/** The working register (X, W) synced, as a register: `r` itself when nothing changed. */
function finishW(r: Reg): Reg {
  syncWSteps();
  if (X[VH] === X0[VH] && X[VL] === X0[VL] && X[MH] === X0[MH] && X[ML] === X0[ML] && X[UNH] === X0[UNH] && X[UNL] === X0[UNL] && X[UXH] === X0[UXH] && X[UXL] === X0[UXL] && X[SNH] === X0[SNH] && X[SNL] === X0[SNL] && X[SXH] === X0[SXH] && X[SXL] === X0[SXL] && W.s32min === W.s32min0 && W.s32max === W.s32max0 && W.u32min === W.u32min0 && W.u32max === W.u32max0) return r;
  const o = copyReg(r);
  storeW(o);
  return o;
}

/** The 32-bit bounds of the two registers of a refinement on halves: s32min, s32max, u32min, u32max of the first at 0, of the second at 4. */
const Q = new Float64Array(8);
/** Q as loaded. */
const Q0 = new Float64Array(8);
const QS32MIN = 0;
const QS32MAX = 1;
const QU32MIN = 2;
const QU32MAX = 3;

/** Whether the register on halves `a` is a constant: its whole tnum, or its low half for 32 bits. */
const constW = (a: Uint32Array, is32: boolean): boolean => a[ML] === 0 && (is32 || a[MH] === 0);

/** The 32-bit bounds at `q` lie in their types' ranges. */
const qOk = (q: number): boolean => Q[q + QU32MIN]! >= 0 && Q[q + QU32MIN]! <= U32 && Q[q + QU32MAX]! >= 0 && Q[q + QU32MAX]! <= U32 && Q[q + QS32MIN]! >= S32MIN && Q[q + QS32MIN]! <= S32MAX && Q[q + QS32MAX]! >= S32MIN && Q[q + QS32MAX]! <= S32MAX;

/**
 * cond.ts refineCondGeneric on halves for any condition of two different registers of any shape
 * (fields in their types' ranges, tnums' value and mask disjoint), 64- or 32-bit: the refinement
 * of regs_refine_cond_op, then reg_bounds_sync of each. undefined (nothing kept) for any other
 * register, or where a step leaves a field's range (jne's `+ 1` at a bound's limit); the caller
 * then runs the BigInt version.
 */
export function refineWide(r1: Reg, r2: Reg, cond0: string, is32: boolean): [Reg, Reg] | undefined {
  let cond = cond0;
  let swapped = false;
  switch (cond) {
    case 'jgt':
      cond = 'jlt';
      swapped = true;
      break;
    case 'jge':
      cond = 'jle';
      swapped = true;
      break;
    case 'jsgt':
      cond = 'jslt';
      swapped = true;
      break;
    case 'jsge':
      cond = 'jsle';
      swapped = true;
      break;
    case 'jlt':
    case 'jle':
    case 'jslt':
    case 'jsle':
    case 'jeq':
    case 'jne':
    case 'jset':
    case 'jset_not':
      break;
    default:
      return undefined;
  }
  if (!loadY(r2) || !loadW(r1)) return undefined;
  for (let k = 0; k < 12; k++) Y0[k] = Y[k]!;
  Q[0] = Q0[0] = W.s32min;
  Q[1] = Q0[1] = W.s32max;
  Q[2] = Q0[2] = W.u32min;
  Q[3] = Q0[3] = W.u32max;
  Q[4] = Q0[4] = W.rs32min;
  Q[5] = Q0[5] = W.rs32max;
  Q[6] = Q0[6] = W.ru32min;
  Q[7] = Q0[7] = W.ru32max;
  // a and b as refineCondGeneric has them after its swaps: the registers on halves and their 32-bit bounds at qa, qb
  let a = swapped ? Y : X;
  let b = swapped ? X : Y;
  let qa = swapped ? 4 : 0;
  const qb = 4 - qa;
  switch (cond) {
    case 'jeq':
      if (is32) {
        Q[qa + QU32MIN] = Math.max(Q[qa + QU32MIN]!, Q[qb + QU32MIN]!);
        Q[qa + QU32MAX] = Math.min(Q[qa + QU32MAX]!, Q[qb + QU32MAX]!);
        Q[qa + QS32MIN] = Math.max(Q[qa + QS32MIN]!, Q[qb + QS32MIN]!);
        Q[qa + QS32MAX] = Math.min(Q[qa + QS32MAX]!, Q[qb + QS32MAX]!);
        for (let k = 0; k < 4; k++) Q[qb + k] = Q[qa + k]!;
        // tnum_intersect of the low halves, each register keeping its high half
        const mu = (a[ML]! & b[ML]!) >>> 0;
        a[VL] = b[VL] = (a[VL]! | b[VL]!) & ~mu;
        a[ML] = b[ML] = mu;
      } else {
        pairMax(a, UNH, b[UNH]!, b[UNL]!, false);
        pairMin(a, UXH, b[UXH]!, b[UXL]!, false);
        pairMax(a, SNH, b[SNH]!, b[SNL]!, true);
        pairMin(a, SXH, b[SXH]!, b[SXL]!, true);
        for (let k = UNH; k <= SXL; k++) b[k] = a[k]!;
        const mh = (a[MH]! & b[MH]!) >>> 0;
        const ml = (a[ML]! & b[ML]!) >>> 0;
        a[VH] = b[VH] = (a[VH]! | b[VH]!) & ~mh;
        a[VL] = b[VL] = (a[VL]! | b[VL]!) & ~ml;
        a[MH] = b[MH] = mh;
        a[ML] = b[ML] = ml;
      }
      break;
    case 'jne':
    case 'jset':
    case 'jset_not': {
      if (!constW(b, is32)) {
        const t = a;
        a = b;
        b = t;
        // only the first one's 32-bit bounds are refined below
        qa = 4 - qa;
      }
      if (!constW(b, is32)) break;
      // the constant: its low half for 32 bits
      const vh = is32 ? 0 : b[VH]!;
      const vl = b[VL]!;
      if (cond === 'jne') {
        if (is32) {
          if (Q[qa + QU32MIN] === vl) Q[qa + QU32MIN]!++;
          if (Q[qa + QU32MAX] === vl) Q[qa + QU32MAX]!--;
          if (Q[qa + QS32MIN] === (vl | 0)) Q[qa + QS32MIN]!++;
          if (Q[qa + QS32MAX] === (vl | 0)) Q[qa + QS32MAX]!--;
        } else {
          // `+ 1` at U64_MAX or S64_MAX and `- 1` at 0 or S64_MIN leave the range: the BigInt version
          if (a[UNH] === vh && a[UNL] === vl) {
            if (addH(vh, vl, 0, 1)) return undefined;
            a[UNH] = T[0]!;
            a[UNL] = T[1]!;
          }
          if (a[UXH] === vh && a[UXL] === vl) {
            if (subH(vh, vl, 0, 1)) return undefined;
            a[UXH] = T[0]!;
            a[UXL] = T[1]!;
          }
          if (a[SNH] === vh && a[SNL] === vl) {
            if (vh === 0x7fffffff && vl === U32) return undefined;
            addH(vh, vl, 0, 1);
            a[SNH] = T[0]!;
            a[SNL] = T[1]!;
          }
          if (a[SXH] === vh && a[SXL] === vl) {
            if (vh === 0x80000000 && vl === 0) return undefined;
            subH(vh, vl, 0, 1);
            a[SXH] = T[0]!;
            a[SXL] = T[1]!;
          }
        }
      } else if (cond === 'jset') {
        // a single bit: tnum_or
        if ((vh | vl) === 0 || (vh !== 0 && vl !== 0) || (vh & (vh - 1)) !== 0 || (vl & (vl - 1)) !== 0) break;
        a[VH] = a[VH]! | vh;
        a[VL] = a[VL]! | vl;
        a[MH] = a[MH]! & ~a[VH]!;
        a[ML] = a[ML]! & ~a[VL]!;
      } else {
        // every bound open, then tnum_and with ~v (for 32 bits the high half's mask all ones: kept as it is)
        a[UNH] = a[UNL] = 0;
        a[UXH] = a[UXL] = U32;
        a[SNH] = 0x80000000;
        a[SNL] = 0;
        a[SXH] = 0x7fffffff;
        a[SXL] = U32;
        Q[qa + QS32MIN] = S32MIN;
        Q[qa + QS32MAX] = S32MAX;
        Q[qa + QU32MIN] = 0;
        Q[qa + QU32MAX] = U32;
        const th = a[VH]! & ~vh;
        const tl = a[VL]! & ~vl;
        a[MH] = (a[VH]! | a[MH]!) & ~vh & ~th;
        a[ML] = (a[VL]! | a[ML]!) & ~vl & ~tl;
        a[VH] = th;
        a[VL] = tl;
      }
      break;
    }
    case 'jle':
      if (is32) {
        Q[qa + QU32MAX] = Math.min(Q[qa + QU32MAX]!, Q[qb + QU32MAX]!);
        Q[qb + QU32MIN] = Math.max(Q[qa + QU32MIN]!, Q[qb + QU32MIN]!);
      } else refineOrderW(a, b, false, false);
      break;
    case 'jlt':
      if (is32) {
        Q[qa + QU32MAX] = Math.min(Q[qa + QU32MAX]!, (Q[qb + QU32MAX]! - 1) >>> 0);
        Q[qb + QU32MIN] = Math.max((Q[qa + QU32MIN]! + 1) >>> 0, Q[qb + QU32MIN]!);
      } else refineOrderW(a, b, true, false);
      break;
    case 'jsle':
      if (is32) {
        Q[qa + QS32MAX] = Math.min(Q[qa + QS32MAX]!, Q[qb + QS32MAX]!);
        Q[qb + QS32MIN] = Math.max(Q[qa + QS32MIN]!, Q[qb + QS32MIN]!);
      } else refineOrderW(a, b, false, true);
      break;
    default:
      // jslt
      if (is32) {
        Q[qa + QS32MAX] = Math.min(Q[qa + QS32MAX]!, (Q[qb + QS32MAX]! - 1) | 0);
        Q[qb + QS32MIN] = Math.max((Q[qa + QS32MIN]! + 1) | 0, Q[qb + QS32MIN]!);
      } else refineOrderW(a, b, true, true);
      break;
  }
  // jne's steps on the 32-bit bounds may leave their ranges: the BigInt version
  if (!qOk(0) || !qOk(4)) return undefined;
  W.s32min = Q[0]!;
  W.s32max = Q[1]!;
  W.u32min = Q[2]!;
  W.u32max = Q[3]!;
  const o1 = finishW(r1);
  // the second register as the working one: its fields as refined, its loaded values to compare with
  for (let k = 0; k < 12; k++) {
    X[k] = Y[k]!;
    X0[k] = Y0[k]!;
  }
  W.s32min = Q[4]!;
  W.s32max = Q[5]!;
  W.u32min = Q[6]!;
  W.u32max = Q[7]!;
  W.s32min0 = Q0[4]!;
  W.s32max0 = Q0[5]!;
  W.u32min0 = Q0[6]!;
  W.u32max0 = Q0[7]!;
  return [o1, finishW(r2)];
}
