/**
 * Branch refinement on numbers (scalarlow.ts refineLow, what cond.ts refineCond runs first)
 * against the BigInt reference (refineCondGeneric): for every condition of both widths, on
 * random, edge (0, 1, 2^31, 2^32 - 1, ...), synced, inconsistent and constant registers, and
 * registers just outside the domain (2^32, U64_MAX, S64_MIN, -1), both give the same two
 * registers field by field, and the number path ran on most of them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { refineCond, refineCondGeneric, scalarBranchTaken, type Cond } from './cond.js';
import { syncGeneric, type B } from './scalar.js';
import { refineLow, refineWide } from './scalarlow.js';
import { lowRegs, reg, show, UNBOUNDED_B } from './lowregs.test.helper.js';
import { known, S64_MAX, S64_MIN, UNKNOWN, type Reg } from './state.js';
import { tnum, tnumIsConst, tnumOverlap, tnumSubreg, U32_MAX, U64_MAX } from './tnum.js';

const CONDS: readonly Cond[] = ['jeq', 'jne', 'jset', 'jset_not', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle'];
const e32 = [0n, 1n, 2n, 3n, 7n, 8n, 0xffn, 0x100n, 0xffffn, 0x7ffffffen, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffffen, 0xffffffffn];
const OUTSIDE = [1n << 32n, (1n << 32n) + 1n, U64_MAX, S64_MIN, S64_MAX, -1n];
const { low, raw, synced } = lowRegs({ edges: e32, small: 20n, pow2: true, outside: { values: OUTSIDE, weight: 29 } });
const outside = fc.constantFrom(...OUTSIDE);
/**
 * Registers of which nothing is known but a umin (refineOpen's 64-bit jeq/jne), and ones that
 * differ from that shape in one field (the BigInt path must then run).
 */
const OPEN = { ...UNKNOWN, var: tnum(0n, U64_MAX) };
const openReg = fc.tuple(fc.oneof(low, outside), fc.integer({ min: 0, max: 6 }), low).map(([umin, k, x]): Reg => {
  const r = { ...OPEN, umin };
  const n = Number(x);
  // k 0-2: open; k 3-6: one other field narrowed
  return k === 3 ? { ...r, umax: U64_MAX - 1n } : k === 4 ? { ...r, u32max: n } : k === 5 ? { ...r, s32min: n | 0 } : k === 6 ? { ...r, smax: S64_MAX - x } : r;
});
const operand = fc.oneof(
  { weight: 2, arbitrary: raw.map(reg) },
  { weight: 5, arbitrary: synced.map(reg) },
  { weight: 3, arbitrary: low.map((v) => known(v)) },
  { weight: 1, arbitrary: outside.map((v) => known(v)) },
  { weight: 2, arbitrary: openReg },
);

/**
 * A check of a refinement on numbers (`fast`) against the BigInt one, and of what the verifier
 * runs (refineCond: the number path or the reference) against it too; `count` says how often
 * `fast` answered, so a test can ask that its cases reached it.
 */
function againstBigInts(fast: typeof refineLow): { check: (cond: Cond, r1: Reg, r2: Reg, is32: boolean) => void; count: { runs: number; used: number } } {
  const count = { runs: 0, used: 0 };
  const check = (cond: Cond, r1: Reg, r2: Reg, is32: boolean): void => {
    count.runs++;
    const ref = refineCondGeneric(r1, r2, cond, is32);
    const ours = fast(r1, r2, cond, is32);
    expect(refineCond(r1, r2, cond, is32)).toEqual(ref);
    if (ours === undefined) return;
    count.used++;
    expect(ours, `${cond}${is32 ? 32 : 64} ${show([r1, r2])}`).toEqual(ref);
    // a register that learns nothing is returned as it is, as the BigInt version returns it
    expect(ours[0] === r1).toBe(ref[0] === r1);
    expect(ours[1] === r2).toBe(ref[1] === r2);
  };
  return { check, count };
}

describe('branch refinement on numbers', () => {
  it('equals the BigInt refinement for every condition and width, on random, edge, synced, inconsistent and constant registers', () => {
    const { check, count } = againstBigInts(refineLow);
    fc.assert(
      fc.property(fc.constantFrom(...CONDS), operand, operand, fc.boolean(), (cond, r1, r2, is32) => check(cond, r1, r2, is32)),
      { numRuns: 10000 },
    );
    // every pair of edge constants and edge ranges, every condition
    const edges: Reg[] = [];
    for (const v of e32) edges.push(known(v));
    for (const hi of e32) {
      const b = { var: tnum(0n, U32_MAX), ...UNBOUNDED_B, umin: 0n, umax: hi };
      syncGeneric(b);
      edges.push(reg(b));
    }
    for (const r1 of edges) for (const r2 of edges) for (const cond of CONDS) for (const is32 of [false, true]) check(cond, r1, r2, is32);
    expect(count.used).toBeGreaterThan(count.runs / 2);
  });

  it('refines a 64-bit == or != between an open register and one in the domain on numbers, as the BigInt version', () => {
    const { check, count } = againstBigInts(refineLow);
    const inDomain = fc.oneof({ weight: 2, arbitrary: raw.map(reg) }, { weight: 5, arbitrary: synced.map(reg) }, { weight: 3, arbitrary: low.map((v) => known(v)) });
    fc.assert(
      fc.property(fc.constantFrom<Cond>('jeq', 'jne'), openReg, inDomain, fc.boolean(), fc.boolean(), (cond, open, other, first, is32) => {
        if (first) check(cond, open, other, is32);
        else check(cond, other, open, is32);
      }),
      { numRuns: 5000 },
    );
    // every edge umin of the open side against every edge constant and range, both orders
    const others: Reg[] = [];
    for (const v of e32) others.push(known(v));
    for (const hi of e32) {
      const b = { var: tnum(0n, U32_MAX), ...UNBOUNDED_B, umin: 1n, umax: hi };
      syncGeneric(b);
      others.push(reg(b));
    }
    for (const umin of [...e32, 1n << 32n]) {
      const open = { ...OPEN, umin };
      for (const other of others)
        for (const cond of ['jeq', 'jne'] as const) {
          check(cond, open, other, false);
          check(cond, other, open, false);
        }
    }
    expect(count.used).toBeGreaterThan(count.runs / 3);
  });

  it('a 32-bit == or != is decided on the tnums\' low halves as numbers as on BigInts', () => {
    // the reference: is_scalar_branch_taken's 32-bit jeq/jne on tnumSubreg's BigInts
    const ref = (a: Reg, b: Reg, ne: 0 | 1): 1 | 0 | -1 => {
      const t1 = tnumSubreg(a.var);
      const t2 = tnumSubreg(b.var);
      if (tnumIsConst(t1) && tnumIsConst(t2)) return t1.value === t2.value ? (ne ? 0 : 1) : ne;
      if (!tnumOverlap(t1, t2)) return ne;
      if (a.u32min > b.u32max || a.u32max < b.u32min || a.s32min > b.s32max || a.s32max < b.s32min) return ne;
      return -1;
    };
    const wide = fc.tuple(fc.oneof(low, outside, fc.bigInt({ min: 0n, max: U64_MAX })), fc.oneof(low, outside, fc.bigInt({ min: 0n, max: U64_MAX }))).map(([v, m]) => ({ ...UNKNOWN, var: tnum(v & ~m, m) }));
    const operand = fc.oneof(raw.map(reg), synced.map(reg), low.map((v) => known(v)), wide);
    let decided = 0;
    const check = (a: Reg, b: Reg, cond: 'jeq' | 'jne'): void => {
      const want = ref(a, b, cond === 'jne' ? 1 : 0);
      if (want !== -1) decided++;
      expect(scalarBranchTaken(a, b, cond, true), `${cond} ${show([a, b])}`).toBe(want);
    };
    fc.assert(fc.property(operand, operand, fc.constantFrom<'jeq' | 'jne'>('jeq', 'jne'), check), { numRuns: 20000 });
    for (const x of e32) for (const y of e32) for (const cond of ['jeq', 'jne'] as const) check(known(x), reg({ var: tnum(y & ~0xf0n, 0xf0n), ...UNBOUNDED_B }), cond);
    expect(decided).toBeGreaterThan(2000);
  });

  it('every condition of both widths between registers of any shape refined on two 32-bit halves per field equals the BigInt refinement', () => {
    const halves = [0n, 1n, 7n, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffff8n, 0xfffffffen, 0xffffffffn];
    const e64 = halves.flatMap((h) => halves.map((l) => (h << 32n) | l));
    const v64 = fc.oneof(fc.constantFrom(...e64), fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 0n, max: 600n }), fc.bigInt({ min: 1n, max: 4096n }).map((x) => U64_MAX + 1n - x));
    const s64v = v64.map((x) => BigInt.asIntN(64, x));
    const s32v = fc.oneof(fc.constantFrom(0, 1, -1, 0x7fffffff, -0x80000000), fc.integer({ min: -0x80000000, max: 0x7fffffff }));
    const u32v = fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
    const ord = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<[T, T]> => fc.tuple(a, a).map(([x, y]) => (x <= y ? [x, y] : [y, x]));
    const any = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<[T, T]> => fc.oneof({ weight: 4, arbitrary: ord(a) }, { weight: 1, arbitrary: fc.tuple(a, a) });
    const raw: fc.Arbitrary<B> = fc
      .record({ v: v64, m: v64, u: any(v64), s: any(s64v), s32: any(s32v), u32: any(u32v) })
      .map(({ v, m, u, s, s32, u32 }) => ({ var: tnum(v & ~m, m), umin: u[0], umax: u[1], smin: s[0], smax: s[1], s32min: s32[0], s32max: s32[1], u32min: u32[0], u32max: u32[1] }));
    const shaped: fc.Arbitrary<B> = fc.oneof(
      v64.map((c) => ({ ...UNBOUNDED_B, var: tnum(c, 0n), umin: c, umax: c, smin: BigInt.asIntN(64, c), smax: BigInt.asIntN(64, c), u32min: Number(c & U32_MAX), u32max: Number(c & U32_MAX), s32min: Number(BigInt.asIntN(32, c)), s32max: Number(BigInt.asIntN(32, c)) })),
      fc.constant({ ...UNBOUNDED_B, var: tnum(0n, U64_MAX) }),
      ord(v64).map(([lo, h]) => ({ ...UNBOUNDED_B, var: tnum(0n, U64_MAX), umin: lo, umax: h })),
      ord(s64v).map(([lo, h]) => ({ ...UNBOUNDED_B, var: tnum(0n, U64_MAX), smin: lo, smax: h })),
      // a known low half under an unknown high one (a 32-bit constant), and single bits (jset)
      fc.tuple(v64, v64).map(([c, m]) => ({ ...UNBOUNDED_B, var: tnum(c & ~(m & ~U32_MAX), m & ~U32_MAX) })),
      fc.integer({ min: 0, max: 63 }).map((k) => ({ ...UNBOUNDED_B, var: tnum(1n << BigInt(k), 0n) })),
    );
    const synced = fc.oneof(raw, shaped).map((b0) => {
      const b = { ...b0 };
      syncGeneric(b);
      return b;
    });
    const operand = fc.oneof(raw, shaped, synced, synced).map(reg);
    const operand2 = fc.oneof({ weight: 4, arbitrary: operand }, { weight: 1, arbitrary: v64.map((x) => known(x)) });
    const { check, count } = againstBigInts(refineWide);
    fc.assert(fc.property(operand2, operand2, fc.constantFrom(...CONDS), fc.boolean(), (r1, r2, cond, is32) => check(cond, r1, r2, is32)), { numRuns: 40000 });
    for (const x of e64) for (const cond of CONDS) for (const is32 of [false, true]) {
      check(cond, UNKNOWN, known(x), is32);
      check(cond, known(x), reg({ ...UNBOUNDED_B, var: tnum(0n, U64_MAX - 7n) }), is32);
      for (const y of [0n, 1n, U64_MAX, S64_MAX, S64_MIN, x]) check(cond, reg({ ...UNBOUNDED_B, var: tnum(0n, U64_MAX), umin: BigInt.asUintN(64, y), umax: x }), known(x), is32);
      // a bound at the constant and at a limit of its type: jne's `+ 1` and `- 1` leave the range
      for (const y of [S64_MAX, S64_MIN, BigInt.asIntN(64, x)]) check(cond, reg({ ...UNBOUNDED_B, var: tnum(0n, U64_MAX), smin: BigInt.asIntN(64, x), smax: y >= BigInt.asIntN(64, x) ? y : BigInt.asIntN(64, x) }), known(x), is32);
    }
    expect(count.used).toBeGreaterThan(count.runs * 0.9);
  });
});
