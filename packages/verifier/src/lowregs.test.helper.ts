/**
 * Test-only: fast-check generators of registers whose bounds lie in the low 32 bits (the domain of
 * scalarlow.ts's number paths), for the property tests that hold a number path against its BigInt
 * reference (scalar.test.ts: sync and ALU; cond.test.ts: branch refinement). Each test picks its
 * edge values, the size of its small numbers, whether powers of two and their neighbours are drawn
 * (where shifts, carries and comparisons change their answer), and how often a bound falls just
 * outside the domain (the reference path must then run).
 */
import fc from 'fast-check';
import { syncGeneric, type B } from './scalar.js';
import { S32_MAX, S32_MIN, S64_MAX, S64_MIN, UNKNOWN, type Reg } from './state.js';
import { tnum, U32_MAX, U64_MAX, type Tnum } from './tnum.js';

/** Bounds that say nothing (a tnum's own bounds come from a sync). */
export const UNBOUNDED_B = { smin: S64_MIN, smax: S64_MAX, umin: 0n, umax: U64_MAX, s32min: -0x80000000, s32max: 0x7fffffff, u32min: 0, u32max: 0xffffffff };

/** A pair of ordered bounds (min <= max), as registers have, and sometimes not (the paths must agree on any input). */
export const pair = (a: fc.Arbitrary<bigint>): fc.Arbitrary<[bigint, bigint]> =>
  fc.oneof(
    fc.tuple(a, a).map(([x, y]): [bigint, bigint] => (x <= y ? [x, y] : [y, x])),
    a.map((x): [bigint, bigint] => [x, x]),
    fc.tuple(a, a),
  );

/** JSON with BigInts as decimal strings, for assertion messages. */
export const show = (x: unknown): string => JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

/** A scalar register of these bounds. */
export const reg = (b: B): Reg => ({ ...UNKNOWN, ...b });

export interface LowRegsOptions {
  /** Edge values of the low half (unsigned), drawn as they are and, for the 32-bit signed bounds, as signed. */
  readonly edges: readonly bigint[];
  /** Small numbers: 0..small unsigned, -small..small signed. */
  readonly small: bigint;
  /** Also draw 2^k - 1, 2^k, 2^k + 1 (k = 0..32). */
  readonly pow2: boolean;
  /** Values just outside the domain for the 64-bit bounds, and their weight against `weight` in-domain draws. */
  readonly outside?: { readonly values: readonly bigint[]; readonly weight: number };
  /** Now and then (1 in 10) a tnum of the whole 64 bits instead of one of the low half. */
  readonly wideTnum?: fc.Arbitrary<Tnum>;
}

export interface LowRegs {
  /** Unsigned values of the low half. */
  readonly low: fc.Arbitrary<bigint>;
  /** Signed 32-bit values. */
  readonly s32v: fc.Arbitrary<bigint>;
  /** A tnum of the low half. */
  readonly tn: fc.Arbitrary<Tnum>;
  /** Bounds drawn field by field, consistent or not. */
  readonly raw: fc.Arbitrary<B>;
  /** Bounds as the verifier has them: raw, a tnum, or an unsigned range, made consistent by a sync. */
  readonly synced: fc.Arbitrary<B>;
}

export function lowRegs(o: LowRegsOptions): LowRegs {
  const pow2 = fc.tuple(fc.integer({ min: 0, max: 32 }), fc.constantFrom(-1n, 0n, 1n)).map(([k, d]) => BigInt.asUintN(32, (1n << BigInt(k)) + d));
  const low = fc.oneof(fc.constantFrom(...o.edges), ...(o.pow2 ? [pow2] : []), fc.bigInt({ min: 0n, max: o.small }), fc.bigInt({ min: 0n, max: U32_MAX }));
  const s32v = fc.oneof(
    fc.constantFrom(...o.edges.map((x) => BigInt.asIntN(32, x))),
    ...(o.pow2 ? [pow2.map((x) => BigInt.asIntN(32, x))] : []),
    fc.bigInt({ min: -o.small, max: o.small }),
    fc.bigInt({ min: S32_MIN, max: S32_MAX }),
  );
  const tn = fc.tuple(low, low).map(([v, m]) => tnum(v & ~m, m));
  const out = o.outside;
  const wide = out ? fc.oneof({ weight: out.weight, arbitrary: low }, { weight: 1, arbitrary: fc.constantFrom(...out.values) }) : low;
  const t = o.wideTnum ? fc.oneof({ weight: 9, arbitrary: tn }, { weight: 1, arbitrary: o.wideTnum }) : tn;
  const raw: fc.Arbitrary<B> = fc
    .record({ t, u: pair(wide), s: pair(wide), s32: pair(s32v), u32: pair(low) })
    .map(({ t, u, s, s32, u32 }) => ({ var: t, umin: u[0], umax: u[1], smin: s[0], smax: s[1], s32min: Number(s32[0]), s32max: Number(s32[1]), u32min: Number(u32[0]), u32max: Number(u32[1]) }));
  const synced = fc.oneof(raw, tn.map((v) => ({ var: v, ...UNBOUNDED_B })), pair(low).map(([lo, hi]) => ({ var: tnum(0n, U32_MAX), ...UNBOUNDED_B, umin: lo, umax: hi }))).map((b0) => {
    const b = { ...b0 };
    syncGeneric(b);
    return b;
  });
  return { low, s32v, tn, raw, synced };
}
