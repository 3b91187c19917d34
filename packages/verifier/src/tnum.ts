/**
 * Tristate numbers (kernel/bpf/tnum.c): a 64-bit value whose bits are each 0, 1 or unknown.
 * `value` holds the known-one bits, `mask` the unknown ones; a bit set in both never occurs.
 */
export interface Tnum {
  readonly value: bigint;
  readonly mask: bigint;
}

export const U64_MAX = 0xffffffffffffffffn;
export const U32_MAX = 0xffffffffn;
/** The low 64 bits; a value already in range is returned as it is (no new BigInt). */
const u64 = (x: bigint): bigint => (x >= 0n && x <= U64_MAX ? x : x & U64_MAX);

/**
 * BigInt <-> number through an 8-byte buffer (issue 25): Number() and BigInt() are calls into the
 * runtime (20-70 ns each), a typed-array store and load are compiled inline. The scalar fast paths
 * (scalarlow.ts) and the 32-bit bounds (numbers) convert through these.
 */
const cvt = new ArrayBuffer(8);
const cvtU64 = new BigUint64Array(cvt);
const cvtS64 = new BigInt64Array(cvt);
const cvtU32 = new Uint32Array(cvt);
const cvtS32 = new Int32Array(cvt);
/** Which 32-bit word of the buffer holds the low half (the platform's byte order). */
const LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;
/** The low 32 bits of x as an unsigned number (`(u32)x`). */
export function lowU32(x: bigint): number {
  cvtU64[0] = x;
  return cvtU32[LO]!;
}
/** The low 32 bits of x as a signed number (`(s32)x`). */
export function lowS32(x: bigint): number {
  cvtU64[0] = x;
  return cvtS32[LO]!;
}
/**
 * An unsigned 64-bit field (the tnum, umin/umax) as a number: Number(x)'s result (`hi * 2^32` is
 * exact and the sum rounds once). A value outside [0, 2^64) by less than 2^64 - 2^32 (an
 * inconsistent register of the property tests: -1 as a umin) reads as one outside the domain.
 */
export function unsignedNum(x: bigint): number {
  cvtU64[0] = x;
  return cvtU32[HI]! * 0x100000000 + cvtU32[LO]!;
}
/** A signed 64-bit field (smin/smax, in [-2^63, 2^63)) as a number, as unsignedNum. */
export function signedNum(x: bigint): number {
  cvtS64[0] = x;
  return cvtS32[HI]! * 0x100000000 + cvtU32[LO]!;
}
/** The high 32 bits of a u64 x as an unsigned number (`(u32)(x >> 32)`). */
export function highU32(x: bigint): number {
  cvtU64[0] = x;
  return cvtU32[HI]!;
}
/** The high 32 bits of an s64 x as a signed number (`(s32)(x >> 32)`). */
export function highS32(x: bigint): number {
  cvtS64[0] = x;
  return cvtS32[HI]!;
}
/** `(u64)h << 32` of an unsigned 32-bit number h, through the buffer. */
export function bigHighU(h: number): bigint {
  cvtU32[LO] = 0;
  cvtU32[HI] = h;
  return cvtU64[0]!;
}
/** `(s64)h << 32` of a signed 32-bit number h, through the buffer. */
export function bigHighS(h: number): bigint {
  cvtU32[LO] = 0;
  cvtS32[HI] = h;
  return cvtS64[0]!;
}
/** The u64 `(u64)h << 32 | l` of two unsigned 32-bit numbers, through the buffer. */
export function bigOfHalves(h: number, l: number): bigint {
  cvtU32[LO] = l;
  cvtU32[HI] = h;
  return cvtU64[0]!;
}
/** The s64 of the bits `(u64)h << 32 | l` of two unsigned 32-bit numbers, through the buffer. */
export function bigOfHalvesS(h: number, l: number): bigint {
  cvtU32[LO] = l;
  cvtU32[HI] = h;
  return cvtS64[0]!;
}
/** The two 32-bit halves of x's low 64 bits (two's complement for a negative x) into a[i] (high) and a[i + 1] (low). */
export function halvesInto(x: bigint, a: Uint32Array, i: number): void {
  cvtU64[0] = x;
  a[i] = cvtU32[HI]!;
  a[i + 1] = cvtU32[LO]!;
}
/** Number(x) for x in [-2^63, 2^64) (exact below 2^53 in magnitude, rounded once beyond). */
export function numOf(x: bigint): number {
  return x >= 0n ? unsignedNum(x) : signedNum(x);
}
/** BigInts of small numbers, made once (the bounds a sync writes are mostly small). */
const smallBig: bigint[] = [];
for (let k = 0; k < 1024; k++) smallBig.push(BigInt(k));
/**
 * BigInt(x) of an integer number: small ones shared, other 32-bit ones (a u32 or an s32) through
 * the buffer (BigInt() of a number is a runtime call, ~70 ns; the typed-array load is compiled inline).
 */
export function bigOf(x: number): bigint {
  if (x >= 0 && x < 1024) return smallBig[x]!;
  if (x === x >>> 0) {
    cvtU32[LO] = x;
    cvtU32[HI] = 0;
    return cvtU64[0]!;
  }
  if (x === (x | 0)) {
    cvtS32[LO] = x;
    cvtS32[HI] = -1;
    return cvtS64[0]!;
  }
  // an integer in [2^32, 2^64): its two halves
  if (x >= 0 && x < 2 ** 64 && Number.isInteger(x)) {
    cvtU32[LO] = x >>> 0;
    cvtU32[HI] = Math.floor(x / 0x100000000);
    return cvtU64[0]!;
  }
  return BigInt(x);
}

export const tnum = (value: bigint, mask: bigint): Tnum => ({ value: u64(value), mask: u64(mask) });
export const tnumConst = (v: bigint): Tnum => ({ value: u64(v), mask: 0n });
export const TNUM_UNKNOWN: Tnum = { value: 0n, mask: U64_MAX };
/** tnum_step's answer when no value lies above: 2^64. */
export const TNUM_STEP_NONE = 1n << 64n;

export const tnumIsConst = (a: Tnum): boolean => a.mask === 0n;
export const tnumIsUnknown = (a: Tnum): boolean => a.mask === U64_MAX;

/** Number of significant bits of x (the kernel's fls64). */
export function fls64(x: bigint): number {
  if (x === 0n) return 0;
  // the halves through the buffer (no BigInt made); a value outside [0, 2^64) as before
  if (x < 0n || x > U64_MAX) {
    const h = Number(x >> 32n);
    return h ? 64 - Math.clz32(h) : 32 - Math.clz32(Number(x & 0xffffffffn));
  }
  cvtU64[0] = x;
  const hi = cvtU32[HI]!;
  return hi ? 64 - Math.clz32(hi) : 32 - Math.clz32(cvtU32[LO]!);
}

/** The tnum covering every value in [min, max]. */
export function tnumRange(min: bigint, max: bigint): Tnum {
  const chi = min ^ max;
  const bits = fls64(chi);
  if (bits > 63) return TNUM_UNKNOWN;
  const delta = (1n << BigInt(bits)) - 1n;
  return tnum(min & ~delta, delta);
}

// The kernel's tnum shifts take a u8 count and the CPU then uses its low six bits; a count of 64
// and more only reaches here from bounds no real register has, and must not build a huge BigInt.
export const tnumLshift = (a: Tnum, s: number): Tnum => tnum(a.value << BigInt(s & 63), a.mask << BigInt(s & 63));
export const tnumRshift = (a: Tnum, s: number): Tnum => tnum(a.value >> BigInt(s & 63), a.mask >> BigInt(s & 63));

/** Arithmetic shift right of the low `bits` bits (32 or 64). */
export function tnumArshift(a: Tnum, sh: number, bits: 32 | 64): Tnum {
  const s = sh & 63;
  if (bits === 32) {
    const v = BigInt.asIntN(32, a.value) >> BigInt(s);
    const m = BigInt.asIntN(32, a.mask) >> BigInt(s);
    return tnum(BigInt.asUintN(32, v), BigInt.asUintN(32, m));
  }
  return tnum(BigInt.asIntN(64, a.value) >> BigInt(s), BigInt.asIntN(64, a.mask) >> BigInt(s));
}

export function tnumAdd(a: Tnum, b: Tnum): Tnum {
  const sm = u64(a.mask + b.mask);
  const sv = u64(a.value + b.value);
  const sigma = u64(sm + sv);
  const chi = sigma ^ sv;
  const mu = chi | a.mask | b.mask;
  return tnum(sv & ~mu, mu);
}

export function tnumSub(a: Tnum, b: Tnum): Tnum {
  const dv = u64(a.value - b.value);
  const alpha = u64(dv + a.mask);
  const beta = u64(dv - b.mask);
  const chi = alpha ^ beta;
  const mu = chi | a.mask | b.mask;
  return tnum(dv & ~mu, mu);
}

export const tnumNeg = (a: Tnum): Tnum => tnumSub(tnumConst(0n), a);

export function tnumAnd(a: Tnum, b: Tnum): Tnum {
  const alpha = a.value | a.mask;
  const beta = b.value | b.mask;
  const v = a.value & b.value;
  return tnum(v, alpha & beta & ~v);
}

export function tnumOr(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask | b.mask;
  return tnum(v, mu & ~v);
}

export function tnumXor(a: Tnum, b: Tnum): Tnum {
  const v = a.value ^ b.value;
  const mu = a.mask | b.mask;
  return tnum(v & ~mu, mu);
}

/** tnum_step: the smallest value above `z` that `t` may take, or 2^64 when there is none. */
export function tnumStep(t: Tnum, z: bigint): bigint {
  if (z >= U64_MAX) return TNUM_STEP_NONE;
  if (z < t.value) return t.value;
  // the smallest s within the mask with s > d: it agrees with d above some bit i where the mask
  // has a 1 and d a 0, and has zeros below; above i, d may have no bit outside the mask, so i
  // lies above d's highest such bit, and the lowest i that does gives the smallest s
  const d = z - t.value;
  const bad = d & ~t.mask;
  const cand = bad === 0n ? t.mask & ~d : t.mask & ~d & -(1n << BigInt(fls64(bad)));
  if (cand === 0n) return TNUM_STEP_NONE;
  const p = cand & -cand;
  return t.value + ((d & -(p << 1n)) | p);
}

/** tnumStep as the kernel writes it (a loop over the bits outside the mask): scalar.test.ts compares the two. */
export function tnumStepLoop(t: Tnum, z: bigint): bigint {
  if (z >= U64_MAX) return TNUM_STEP_NONE;
  if (z + 1n <= t.value) return t.value;
  // the smallest s within the mask with value + s > z
  let x = z + 1n - t.value;
  for (;;) {
    const bad = x & ~t.mask;
    if (bad === 0n) break;
    const hb = BigInt(fls64(bad) - 1);
    x = ((x >> hb) + 1n) << hb;
    if (x > U64_MAX) return TNUM_STEP_NONE;
  }
  return t.value + x;
}

/** tnum_union: every value either may take. */
export function tnumUnion(a: Tnum, b: Tnum): Tnum {
  const mu = (a.value ^ b.value) | a.mask | b.mask;
  return tnum(a.value & b.value & ~mu, mu);
}

/**
 * Multiplication by shift-and-add over the bits of `a` (kernel tnum_mul, Linux 6.17+): a
 * certain 1 adds `b`, an unknown bit takes the union of adding it and not. On the fields' two
 * 32-bit halves (issue 25: the BigInt loop made ~10 BigInts per bit of `a`, 6% of the corpus
 * row's CPU); scalar.test.ts holds it to {@link tnumMulGeneric}.
 */
export function tnumMul(a0: Tnum, b0: Tnum): Tnum {
  cvtU64[0] = a0.value;
  let avh = cvtU32[HI]!;
  let avl = cvtU32[LO]!;
  cvtU64[0] = a0.mask;
  let amh = cvtU32[HI]!;
  let aml = cvtU32[LO]!;
  cvtU64[0] = b0.value;
  let bvh = cvtU32[HI]!;
  let bvl = cvtU32[LO]!;
  cvtU64[0] = b0.mask;
  let bmh = cvtU32[HI]!;
  let bml = cvtU32[LO]!;
  // acc (unsigned 32-bit numbers throughout)
  let vh = 0;
  let vl = 0;
  let mh = 0;
  let ml = 0;
  while ((avh | avl | amh | aml) !== 0) {
    if ((avl & 1) !== 0 || (aml & 1) !== 0) {
      // tnum_add(acc, b): sm = acc.m + b.m, sv = acc.v + b.v, sigma = sm + sv, chi = sigma ^ sv
      let l = ml + bml;
      const smh = (mh + bmh + (l > 0xffffffff ? 1 : 0)) >>> 0;
      const sml = l >>> 0;
      l = vl + bvl;
      const svh = (vh + bvh + (l > 0xffffffff ? 1 : 0)) >>> 0;
      const svl = l >>> 0;
      l = sml + svl;
      const sgh = (smh + svh + (l > 0xffffffff ? 1 : 0)) >>> 0;
      const sgl = l >>> 0;
      const muh = (sgh ^ svh) | mh | bmh;
      const mul = (sgl ^ svl) | ml | bml;
      const nvh = (svh & ~muh) >>> 0;
      const nvl = (svl & ~mul) >>> 0;
      if ((avl & 1) !== 0) {
        vh = nvh;
        vl = nvl;
        mh = muh >>> 0;
        ml = mul >>> 0;
      } else {
        // tnum_union(acc, sum)
        const uh = (vh ^ nvh) | mh | muh;
        const ul = (vl ^ nvl) | ml | mul;
        vh = (vh & nvh & ~uh) >>> 0;
        vl = (vl & nvl & ~ul) >>> 0;
        mh = uh >>> 0;
        ml = ul >>> 0;
      }
    }
    // a >>= 1, b <<= 1
    avl = ((avl >>> 1) | (avh << 31)) >>> 0;
    avh >>>= 1;
    aml = ((aml >>> 1) | (amh << 31)) >>> 0;
    amh >>>= 1;
    bvh = ((bvh << 1) | (bvl >>> 31)) >>> 0;
    bvl = (bvl << 1) >>> 0;
    bmh = ((bmh << 1) | (bml >>> 31)) >>> 0;
    bml = (bml << 1) >>> 0;
  }
  return { value: bigOfHalves(vh, vl), mask: bigOfHalves(mh, ml) };
}

/** tnumMul on BigInts, as it was written first (scalar.test.ts compares the two). */
export function tnumMulGeneric(a0: Tnum, b0: Tnum): Tnum {
  let a = a0;
  let b = b0;
  let acc = tnumConst(0n);
  while (a.value !== 0n || a.mask !== 0n) {
    if ((a.value & 1n) !== 0n) acc = tnumAdd(acc, b);
    else if ((a.mask & 1n) !== 0n) acc = tnumUnion(acc, tnumAdd(acc, b));
    a = tnumRshift(a, 1);
    b = tnumLshift(b, 1);
  }
  return acc;
}

export function tnumIntersect(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask & b.mask;
  return tnum(v & ~mu, mu);
}

/** The low `size` bytes. */
const CAST_MASK = [0n, 0xffn, 0xffffn, 0xffffffn, 0xffffffffn, 0xffffffffffn, 0xffffffffffffn, 0xffffffffffffffn] as const;
export function tnumCast(a: Tnum, size: number): Tnum {
  const m = size >= 8 ? U64_MAX : size >= 0 && Number.isInteger(size) ? CAST_MASK[size]! : (1n << BigInt(size * 8)) - 1n;
  return tnum(a.value & m, a.mask & m);
}

export const tnumSubreg = (a: Tnum): Tnum => tnumCast(a, 4);
const HIGH_HALF = 0xffffffff00000000n;
/** `(a >> 32) << 32`: the low half cleared (one `&` per field instead of four shifts). */
export const tnumClearSubreg = (a: Tnum): Tnum => tnum(a.value & HIGH_HALF, a.mask & HIGH_HALF);
export const tnumWithSubreg = (reg: Tnum, subreg: Tnum): Tnum => tnumOr(tnumClearSubreg(reg), tnumSubreg(subreg));
export const tnumConstSubreg = (a: Tnum, v: bigint): Tnum => tnumWithSubreg(a, tnumConst(v & U32_MAX));
export const tnumSubregIsConst = (a: Tnum): boolean => (a.mask & U32_MAX) === 0n;

/** tnum_overlap: whether some value fits both `a` and `b`. */
export function tnumOverlap(a: Tnum, b: Tnum): boolean {
  const mu = a.mask | b.mask;
  return (a.value & ~mu) === (b.value & ~mu);
}

/** Whether every value `b` may take is one `a` may take. */
export function tnumIn(a: Tnum, b: Tnum): boolean {
  // a constant `a` (most precise scalars at prune points): the same, without a BigInt made
  if (a.mask === 0n) return b.mask === 0n && b.value === a.value;
  // both below 2^32 (loaded bytes, words, offsets): on int32 operations, without the three BigInts
  // the steps below make (prune comparisons of tetragon's generic kprobe, issue 25)
  if (a.mask <= U32_MAX && a.value <= U32_MAX && b.mask <= U32_MAX && b.value <= U32_MAX && a.value >= 0n && a.mask >= 0n && b.value >= 0n && b.mask >= 0n) {
    const am = Number(a.mask);
    if ((Number(b.mask) & ~am) !== 0) return false;
    return (Number(b.value) & ~am) >>> 0 === Number(a.value);
  }
  if ((b.mask & ~a.mask) !== 0n) return false;
  return (b.value & ~a.mask) === a.value;
}

/** `(0x0; 0xff)`, as the kernel log prints a tnum. */
export const tnumStr = (a: Tnum): string => `(0x${a.value.toString(16)}; 0x${a.mask.toString(16)})`;
