/**
 * The bounds arithmetic of scalar.ts against a plain BigInt reference: the add, sub and mul
 * bounds rules of adjust_scalar_min_max_vals (kernel/bpf/verifier.c scalar_min_max_add, _sub,
 * _mul and their 32-bit twins) written once, generically over the width, as scalar.ts first had
 * them. scalar.ts now has one function per width with the fields named directly (no keyed
 * access, no tuple per call): on random and edge values (0, ±1, 2^31, 2^32 boundaries,
 * INT64_MIN/MAX, U64_MAX) both must give the same bounds, field by field.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { add32, add64, coerceToSize, coerceToSizeWork, done, mul32, mul64, scalarAlu, scalarAluGeneric, sub32, sub64, sync, syncGeneric, updateBounds, type B } from './scalar.js';
import { aluLow, aluMid, aluWide, coerceLow, domainTests, inLow32, syncHigh32, syncMid, syncWide } from './scalarlow.js';
import { lowRegs, pair, reg, show, UNBOUNDED_B } from './lowregs.test.helper.js';
import { known, knownImm, REG_OPTIONAL_FIELDS, S32_MAX, S32_MIN, S64_MAX, S64_MIN, UNKNOWN, type Reg } from './state.js';
import { fls64, tnum, tnumClearSubreg, tnumIn, tnumLshift, tnumMul, tnumMulGeneric, tnumRshift, tnumStep, tnumStepLoop, tnumSubreg, U32_MAX, U64_MAX, type Tnum } from './tnum.js';

type Field = 'smin' | 'smax' | 'umin' | 'umax';
const F32 = { smin: 's32min', smax: 's32max', umin: 'u32min', umax: 'u32max' } as const;
const F64 = { smin: 'smin', smax: 'smax', umin: 'umin', umax: 'umax' } as const;

/** The reference: one generic function per operation, the width's field names and limits looked up. */
function refOp(op: 'add' | 'sub' | 'mul', b: B, s: B, bits: 32 | 64): void {
  const f: Record<Field, keyof B> = bits === 32 ? F32 : F64;
  const [SMIN, SMAX, UMAX] = bits === 32 ? [S32_MIN, S32_MAX, U32_MAX] : [S64_MIN, S64_MAX, U64_MAX];
  // the 32-bit bounds are numbers: computed here on BigInts, stored back as numbers
  const g = (k: Field): bigint => BigInt(b[f[k]] as bigint | number);
  const h = (k: Field): bigint => BigInt(s[f[k]] as bigint | number);
  const set = (k: Field, v: bigint): void => {
    (b as unknown as Record<string, bigint | number>)[f[k]] = bits === 32 ? Number(v) : v;
  };
  const out = (x: bigint): boolean => x < SMIN || x > SMAX;
  const both = (lo: bigint, hi: bigint, k: 's' | 'u'): void => {
    set(`${k}min`, lo);
    set(`${k}max`, hi);
  };
  if (op === 'mul') {
    const uhi = g('umax') * h('umax');
    const ulo = g('umin') * h('umin');
    if (uhi > UMAX || ulo > UMAX) both(0n, UMAX, 'u');
    else both(ulo, uhi, 'u');
    const p = [g('smin') * h('smin'), g('smin') * h('smax'), g('smax') * h('smin'), g('smax') * h('smax')];
    if (p.some(out)) both(SMIN, SMAX, 's');
    else
      both(
        p.reduce((x, y) => (x < y ? x : y)),
        p.reduce((x, y) => (x > y ? x : y)),
        's',
      );
    return;
  }
  const add = op === 'add';
  const lo = add ? g('smin') + h('smin') : g('smin') - h('smax');
  const hi = add ? g('smax') + h('smax') : g('smax') - h('smin');
  if (out(lo) || out(hi)) both(SMIN, SMAX, 's');
  else both(lo, hi, 's');
  const ulo = add ? g('umin') + h('umin') : g('umin') - h('umax');
  const uhi = add ? g('umax') + h('umax') : g('umax') - h('umin');
  const wrapLo = add ? ulo > UMAX : ulo < 0n;
  const wrapHi = add ? uhi > UMAX : uhi < 0n;
  both(ulo & UMAX, uhi & UMAX, 'u');
  if (add ? !wrapLo && wrapHi : wrapLo && !wrapHi) both(0n, UMAX, 'u');
}

const P32 = 1n << 32n;
const edges64 = [0n, 1n, -1n, 2n, 7n, S64_MIN, S64_MIN + 1n, S64_MAX, S64_MAX - 1n, U64_MAX, U64_MAX - 1n, P32 - 1n, P32, P32 + 1n, -P32, -P32 + 1n, S32_MAX, S32_MIN, S32_MAX + 1n, U32_MAX, 1n << 62n, 1n << 63n];
const edges32 = [0n, 1n, -1n, 2n, S32_MIN, S32_MIN + 1n, S32_MAX, S32_MAX - 1n, U32_MAX, U32_MAX - 1n, 1n << 31n, 0x10000n, 0xffffn];
/** Signed and unsigned values of a width: edges, small numbers, anything in range. */
const signed = (bits: 32 | 64): fc.Arbitrary<bigint> => {
  const [lo, hi] = bits === 32 ? [S32_MIN, S32_MAX] : [S64_MIN, S64_MAX];
  const e = (bits === 32 ? edges32 : edges64).filter((x) => x >= lo && x <= hi);
  return fc.oneof(fc.constantFrom(...e), fc.bigInt({ min: -300n, max: 300n }), fc.bigInt({ min: lo, max: hi }));
};
const unsigned = (bits: 32 | 64): fc.Arbitrary<bigint> => {
  const hi = bits === 32 ? U32_MAX : U64_MAX;
  const e = (bits === 32 ? edges32 : edges64).filter((x) => x >= 0n && x <= hi);
  return fc.oneof(fc.constantFrom(...e), fc.bigInt({ min: 0n, max: 600n }), fc.bigInt({ min: 0n, max: hi }));
};
const bounds: fc.Arbitrary<B> = fc
  .record({ s: pair(signed(64)), u: pair(unsigned(64)), s32: pair(signed(32)), u32: pair(unsigned(32)), v: unsigned(64), m: unsigned(64) })
  .map(({ s, u, s32, u32, v, m }) => ({ var: tnum(v & ~m, m), smin: s[0], smax: s[1], umin: u[0], umax: u[1], s32min: Number(s32[0]), s32max: Number(s32[1]), u32min: Number(u32[0]), u32max: Number(u32[1]) }));

/** Registers whose 64-bit fields lie in [0, 2^53) (scalarlow.ts syncMid, aluMid), field by field, implied by a tnum or a range, synced; now and then a field just outside. */
const mid53 = (() => {
  const P53 = 1n << 53n;
  // edges of both halves: around 2^31, 2^32, 2^33, 2^52, 2^53, and the low half's sign boundary above 2^32
  const e53 = [0n, 1n, 2n, 7n, 0xffn, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn, P32, P32 + 1n, P32 + 0x7fffffffn, P32 + 0x80000000n, 2n * P32 - 1n, 2n * P32, 3n * P32 + 5n, (1n << 40n) - 1n, 1n << 52n, P53 - P32, P53 - 2n, P53 - 1n];
  const v53 = fc.oneof(fc.constantFrom(...e53), fc.bigInt({ min: 0n, max: 600n }), fc.bigInt({ min: 0n, max: 3n * P32 }), fc.bigInt({ min: 0n, max: P53 - 1n }));
  // now and then a value just outside (the generic path must then run)
  const w53 = fc.oneof({ weight: 19, arbitrary: v53 }, { weight: 1, arbitrary: fc.constantFrom(P53, P53 + 1n, U64_MAX, S64_MIN, -1n) });
  const s32v = fc.oneof(fc.constantFrom(...edges32.filter((x) => x >= S32_MIN && x <= S32_MAX)), fc.bigInt({ min: -300n, max: 300n }), fc.bigInt({ min: S32_MIN, max: S32_MAX }));
  const u32v = fc.oneof(fc.constantFrom(0n, 1n, 0x7fffffffn, 0x80000000n, U32_MAX), fc.bigInt({ min: 0n, max: 600n }), fc.bigInt({ min: 0n, max: U32_MAX }));
  const tn = fc.tuple(v53, v53).map(([v, m]) => tnum(v & ~m, m));
  const raw: fc.Arbitrary<B> = fc
    .record({ t: fc.oneof({ weight: 19, arbitrary: tn }, { weight: 1, arbitrary: fc.tuple(w53, w53).map(([v, m]) => tnum(v & ~m, m)) }), u: pair(w53), s: pair(w53), s32: pair(s32v), u32: pair(u32v) })
    .map(({ t, u, s, s32, u32 }) => ({ var: t, umin: u[0], umax: u[1], smin: s[0], smax: s[1], s32min: Number(s32[0]), s32max: Number(s32[1]), u32min: Number(u32[0]), u32max: Number(u32[1]) }));
  // as the verifier has them: a tnum's own bounds, an unsigned range, a sync's result
  const implied: fc.Arbitrary<B> = fc.oneof(tn.map((t) => ({ var: t, ...UNBOUNDED_B })), pair(v53).map(([lo, h]) => ({ var: tnum(0n, P53 - 1n), ...UNBOUNDED_B, umin: lo, umax: h, smin: lo, smax: h })));
  const synced = fc.oneof(raw, implied).map((b0) => {
    const b = { ...b0 };
    syncGeneric(b);
    return b;
  });
  return { raw, implied, synced, e53, v53, P53 };
})();

const OPS = { add: [add32, add64], sub: [sub32, sub64], mul: [mul32, mul64] } as const;

/** srcIsConst of scalar.ts, as scalarAlu passes it to aluLow. */
const scalarAluGenericSrcConst = (s: Reg, alu32: boolean): boolean =>
  alu32 ? (s.var.mask & U32_MAX) === 0n && s.s32min === s.s32max && s.u32min === s.u32max : s.var.mask === 0n && s.smin === s.smax && s.umin === s.umax;

describe('scalar bounds arithmetic', () => {
  for (const op of ['add', 'sub', 'mul'] as const)
    for (const bits of [32, 64] as const)
      it(`${op}${bits} equals the generic BigInt reference`, () => {
        fc.assert(
          fc.property(bounds, bounds, (b0, s) => {
            const ours = { ...b0 };
            const ref = { ...b0 };
            OPS[op][bits === 32 ? 0 : 1](ours, s);
            refOp(op, ref, s, bits);
            expect(ours).toEqual(ref);
          }),
          { numRuns: 1000 },
        );
      });

  it('edge values pairwise, every op and width', () => {
    for (const x of edges64)
      for (const y of edges64) {
        const mk = (v: bigint): B => ({ var: tnum(v, 0n), smin: BigInt.asIntN(64, v), smax: BigInt.asIntN(64, v), umin: BigInt.asUintN(64, v), umax: BigInt.asUintN(64, v), s32min: Number(BigInt.asIntN(32, v)), s32max: Number(BigInt.asIntN(32, v)), u32min: Number(BigInt.asUintN(32, v)), u32max: Number(BigInt.asUintN(32, v)) });
        for (const op of ['add', 'sub', 'mul'] as const)
          for (const bits of [32, 64] as const) {
            const ours = mk(x);
            const ref = mk(x);
            OPS[op][bits === 32 ? 0 : 1](ours, mk(y));
            refOp(op, ref, mk(y), bits);
            expect(ours, `${op}${bits} ${x} ${y}`).toEqual(ref);
          }
      }
  });

  it('scalarAlu on constants gives the constant result (add, sub, mul, neg; 32 and 64 bits)', () => {
    const c = fc.oneof(fc.constantFrom(...edges64), fc.bigInt({ min: -1000n, max: 1000n }), fc.bigInt({ min: S64_MIN, max: U64_MAX }));
    const exact: Record<'add' | 'sub' | 'mul' | 'neg', (x: bigint, y: bigint) => bigint> = { add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, neg: (x) => -x };
    fc.assert(
      fc.property(c, c, fc.constantFrom('add', 'sub', 'mul', 'neg') as fc.Arbitrary<'add' | 'sub' | 'mul' | 'neg'>, fc.boolean(), (x, y, op, alu32) => {
        const r = scalarAlu(op, known(x), known(y), alu32);
        const want = alu32 ? BigInt.asUintN(32, exact[op](BigInt.asUintN(32, x), BigInt.asUintN(32, y))) : BigInt.asUintN(64, exact[op](x, y));
        expect(r).toEqual(known(want));
      }),
      { numRuns: 2000 },
    );
  });

  it('the constant shortcut of scalarAlu equals the bounds arithmetic on every op, width and edge value', () => {
    // known() builds constants without BigInt.asIntN for 0 <= v < 2^31 and shares small ones: both views must be the generic ones
    const mk = (v: bigint): Reg => {
      const u = BigInt.asUintN(64, v);
      const l = BigInt.asUintN(32, v);
      return { type: 'scalar', off: 0, var: tnum(u, 0n), smin: BigInt.asIntN(64, v), smax: BigInt.asIntN(64, v), umin: u, umax: u, s32min: Number(BigInt.asIntN(32, l)), s32max: Number(BigInt.asIntN(32, l)), u32min: Number(l), u32max: Number(l) };
    };
    const ops = ['add', 'sub', 'mul', 'neg', 'and', 'or', 'xor', 'lsh', 'rsh', 'arsh', 'div', 'mod', 'sdiv', 'smod'] as const;
    const c = fc.oneof(fc.constantFrom(...edges64), fc.bigInt({ min: -5000n, max: 70000n }), fc.bigInt({ min: 0n, max: 70n }), fc.bigInt({ min: S64_MIN, max: U64_MAX }));
    const extra = fc.constantFrom<Partial<Reg>>({}, { id: 4 }, { id: 9, addConst: true, off: 3 });
    const check = (x: bigint, y: bigint, op: (typeof ops)[number], alu32: boolean, e: Partial<Reg>): void => {
      expect(known(x)).toEqual(mk(x));
      const dst = { ...known(x), ...e };
      const ours = scalarAlu(op, dst, known(y), alu32);
      const ref = scalarAluGeneric(op, dst, mk(y), alu32);
      expect(Object.keys(ours), `${op}${alu32 ? 32 : 64} ${x} ${y}`).toEqual(Object.keys(ref));
      expect(ours, `${op}${alu32 ? 32 : 64} ${x} ${y}`).toEqual(ref);
    };
    for (const x of edges64) for (const y of [...edges64, 31n, 32n, 33n, 63n, 64n]) for (const op of ops) for (const alu32 of [false, true]) check(x, y, op, alu32, {});
    fc.assert(fc.property(c, c, fc.constantFrom(...ops), fc.boolean(), extra, (x, y, op, alu32, e) => check(x, y, op, alu32, e)), { numRuns: 2000 });
    for (const imm of [-4097, -4096, -1, 0, 1, 0x7fffffff, -0x80000000, 65535, 65536, 0xffffffff]) expect(knownImm(imm)).toEqual(mk(BigInt(imm)));
  });

  it('tnumIn on numbers (both tnums below 2^32) equals the BigInt steps, on random, edge and subset tnums', () => {
    const ref = (a: Tnum, b: Tnum): boolean => (a.mask === 0n ? b.mask === 0n && b.value === a.value : (b.mask & ~a.mask) === 0n && (b.value & ~a.mask) === a.value);
    const e = [0n, 1n, 2n, 3n, 0x7fn, 0x80n, 0xffn, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn, 0x100000000n, 0x1ffffffffn, U64_MAX];
    const mk = (v: bigint, m: bigint): Tnum => tnum(v & ~m & U64_MAX, m & U64_MAX);
    for (const v1 of e) for (const m1 of e) for (const v2 of e) for (const m2 of e) {
      const a = mk(v1, m1);
      const b = mk(v2, m2);
      expect(tnumIn(a, b), `${a.value} ${a.mask} ${b.value} ${b.mask}`).toBe(ref(a, b));
    }
    const w = fc.oneof(fc.bigInt({ min: 0n, max: U32_MAX }), fc.bigInt({ min: 0n, max: 0x1ffffffffn }), fc.constantFrom(...e));
    fc.assert(
      fc.property(w, w, w, w, fc.boolean(), (v1, m1, v2, m2, sub) => {
        const a = mk(v1, m1);
        // half the time b a subset of a (the case that answers true)
        const b = sub ? mk((a.value | (v2 & a.mask)) & ~(m2 & a.mask), m2 & a.mask) : mk(v2, m2);
        expect(tnumIn(a, b)).toBe(ref(a, b));
      }),
      { numRuns: 20000 },
    );
  });

  it('the fast paths\' domain tests on loaded numbers answer as inLow32 on the BigInts, field by field at every edge', () => {
    const e = [S64_MIN, -(2n ** 53n) - 1n, -0x80000001n, -0x80000000n, -0x7fffffffn, -1n, 0n, 1n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn, 0x100000000n, 0x100000001n, 2n ** 53n + 1n, S64_MAX, U64_MAX];
    const fields = ['value', 'mask', 'smin', 'smax', 'umin', 'umax', 's32min', 's32max', 'u32min', 'u32max'] as const;
    const base = (): Reg => ({ ...known(5n) });
    // a tnum's value and mask are u64 (tnum() makes them so): the negative edges become their two's complement
    // the 32-bit bounds are numbers (Number() of the edge)
    const put = (r: Reg, f: (typeof fields)[number], v: bigint): Reg =>
      f === 'value' || f === 'mask' ? { ...r, var: { ...r.var, [f]: BigInt.asUintN(64, v) } } : { ...r, [f]: f.includes('32') ? Number(v) : v };
    for (const f of fields)
      for (const v of e) {
        const r = put(base(), f, v);
        const want = inLow32(r);
        expect(domainTests(r), `${f}=${v}`).toEqual([want, want, want]);
      }
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...fields), fc.oneof(fc.constantFrom(...e), fc.bigInt({ min: -(2n ** 33n), max: 2n ** 33n }))), { maxLength: 6 }), (puts) => {
        let r = base();
        for (const [f, v] of puts) r = put(r, f, v);
        const want = inLow32(r);
        expect(domainTests(r)).toEqual([want, want, want]);
      }),
      { numRuns: 5000 },
    );
  });

  it('the constant shortcut keeps every optional field of the destination (a plain one gives the shared constant)', () => {
    for (const k of REG_OPTIONAL_FIELDS) {
      const dst = { ...known(70000n), [k]: 1 } as Reg;
      const out = scalarAlu('add', dst, known(2n), false);
      expect(out, k).toEqual({ ...known(70002n), [k]: 1 });
    }
    const moved = scalarAlu('add', { ...known(70000n), off: 4 }, known(2n), false);
    expect(moved).toEqual({ ...known(70002n), off: 4 });
    expect(scalarAlu('add', known(3n), known(2n), false)).toBe(known(5n));
  });

  it('reg_bounds_sync on numbers (upper halves zero) equals the BigInt one, on random, edge and inconsistent bounds', () => {
    const e32 = [0n, 1n, 2n, 7n, 8n, 0xffn, 0x100n, 0xffffn, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffffen, 0xffffffffn];
    // a tnum of the low half, and now and then a value or bound just outside the domain (the generic path must then run)
    const wideTnum = fc.tuple(unsigned(64), unsigned(64)).map(([v, m]) => tnum(v & ~m, m));
    const { low, tn, raw: b } = lowRegs({ edges: e32, small: 300n, pow2: false, outside: { values: [1n << 32n, U64_MAX, S64_MIN, -1n], weight: 19 }, wideTnum });
    // realistic ones too: a tnum and the bounds it implies, or a constant
    const implied: fc.Arbitrary<B> = fc.oneof(tn, low.map((v) => tnum(v, 0n))).map((t) => ({ var: t, ...UNBOUNDED_B }));
    const check = (b0: B): void => {
      const ours = { ...b0 };
      const ref = { ...b0 };
      sync(ours);
      syncGeneric(ref);
      expect(ours, show(b0)).toEqual(ref);
    };
    fc.assert(fc.property(fc.oneof(b, implied), check), { numRuns: 20000 });
    // every pair of edge values as the unsigned 64-bit and 32-bit ranges of an unknown tnum of the low half
    for (const lo of e32) for (const hi of e32) check({ var: tnum(0n, U32_MAX), umin: lo, umax: hi, smin: lo, smax: hi, s32min: Number(S32_MIN), s32max: Number(S32_MAX), u32min: Number(lo), u32max: Number(hi) });
  });

  it('a shift whose 64-bit bounds say 0 but whose 32-bit bounds say 2^30 (no real register) gives a register, not a RangeError', () => {
    // found by the property below (seed -662648226): the kernel's tnum shifts take a u8 count, the CPU its low six bits
    const dst = known(1n);
    const bad: Reg = { ...known(0n), u32min: 2 ** 30, u32max: 2 ** 30 };
    const huge: Reg = { ...known(0n), umin: 1n << 62n, umax: 1n << 62n, smin: 1n << 62n, smax: 1n << 62n };
    for (const src of [bad, huge]) for (const op of ['lsh', 'rsh', 'arsh'] as const) for (const alu32 of [true, false]) expect(scalarAluGeneric(op, dst, src, alu32).type).toBe('scalar');
  });

  it('ALU operations on numbers (both operands below 2^32) equal the BigInt ones, on random, edge, synced and inconsistent registers', () => {
    const e32 = [0n, 1n, 2n, 3n, 7n, 8n, 31n, 32n, 33n, 63n, 64n, 0xffn, 0x100n, 0xffffn, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffffen, 0xffffffffn];
    // powers of two and their neighbours: where shifts and carries change their answer
    const { low, raw, synced } = lowRegs({ edges: e32, small: 300n, pow2: true });
    const operand = fc.oneof({ weight: 2, arbitrary: raw.map(reg) }, { weight: 5, arbitrary: synced.map(reg) }, { weight: 2, arbitrary: low.map((v) => known(v)) });
    const ops = ['add', 'sub', 'and', 'or', 'xor', 'lsh', 'rsh', 'arsh', 'mul', 'neg', 'div'] as const;
    let used = 0;
    const check = (op: (typeof ops)[number], dst: Reg, src: Reg, alu32: boolean): void => {
      const ref = scalarAluGeneric(op, dst, src, alu32);
      const ours = aluLow(op, dst, src, alu32, scalarAluGenericSrcConst(src, alu32));
      if (ours === undefined) return;
      used++;
      expect(ours, `${op}${alu32 ? 32 : 64} ${show([dst, src])}`).toEqual(ref);
    };
    fc.assert(
      fc.property(fc.constantFrom(...ops), operand, operand, fc.boolean(), (op, dst, src, alu32) => check(op, dst, src, alu32)),
      { numRuns: 20000 },
    );
    // shifts by every constant amount, of synced and raw registers
    fc.assert(
      fc.property(fc.constantFrom('lsh', 'rsh', 'arsh') as fc.Arbitrary<'lsh' | 'rsh' | 'arsh'>, operand, fc.integer({ min: 0, max: 65 }), fc.boolean(), (op, dst, k, alu32) => check(op, dst, known(BigInt(k)), alu32)),
      { numRuns: 5000 },
    );
    // every shift amount on ranges ending at a power of two or next to one, synced and not
    const edgeRegs: Reg[] = [];
    for (let j = 0; j <= 32; j++)
      for (const d of [-1n, 0n, 1n]) {
        const hi = BigInt.asUintN(32, (1n << BigInt(j)) + d);
        const wide = tnum(0n, (1n << BigInt(Math.min(j + 1, 32))) - 1n);
        const rawB = { var: wide, umin: 0n, umax: hi, smin: 0n, smax: hi, s32min: Number(S32_MIN), s32max: Number(S32_MAX), u32min: 0, u32max: Number(hi) };
        const syncedB = { ...rawB };
        syncGeneric(syncedB);
        edgeRegs.push(reg(rawB), reg(syncedB));
      }
    for (const dst of edgeRegs) for (let k = 0; k <= 64; k++) for (const op of ['lsh', 'rsh', 'arsh'] as const) for (const alu32 of [false, true]) check(op, dst, known(BigInt(k)), alu32);
    // the numbers path ran on most of them (a test of nothing would pass too)
    expect(used).toBeGreaterThan(10000);
  });

  it('coerce_reg_to_size on numbers (a register below 2^32) equals the BigInt one, on random, edge, synced and inconsistent registers', () => {
    const e32 = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x101n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n, 0x1ffffn, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn];
    const { raw, synced } = lowRegs({ edges: e32, small: 600n, pow2: true, outside: { values: [1n << 32n, U64_MAX, S64_MIN, -1n], weight: 19 } });
    const r = fc.oneof({ weight: 2, arbitrary: raw.map(reg) }, { weight: 5, arbitrary: synced.map(reg) });
    let used = 0;
    const check = (x: Reg, size: number): void => {
      const ref = coerceToSizeWork(x, size);
      const ours = coerceLow(x, size);
      // what coerceToSize runs
      expect(coerceToSize(x, size)).toEqual(ref);
      if (ours === undefined) return;
      used++;
      expect(ours, `${size} ${show(x)}`).toEqual(ref);
      expect(ours === x).toBe(ref === x);
    };
    fc.assert(fc.property(r, fc.constantFrom(1, 2, 4, 3), check), { numRuns: 20000 });
    for (const lo of e32) for (const hi of e32) for (const size of [1, 2, 4]) check(reg({ var: tnum(0n, U32_MAX), ...UNBOUNDED_B, umin: lo, umax: hi, smin: lo, smax: hi }), size);
    expect(used).toBeGreaterThan(10000);
  });

  it('reg_bounds_sync of a multiple of 2^32 on its high halves equals the BigInt one, on random, edge and inconsistent bounds', () => {
    const e32 = [0n, 1n, 2n, 7n, 8n, 0xffn, 0x100n, 0xffffn, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffffen, 0xffffffffn];
    const { low, s32v, tn } = lowRegs({ edges: e32, small: 300n, pow2: true });
    const hi = (x: bigint): bigint => BigInt.asUintN(64, x << 32n);
    // now and then a field just off a multiple of 2^32, or a 32-bit bound not zero (the generic path must then run)
    const off = fc.oneof({ weight: 12, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.constantFrom(1n, 0x80000000n, 0xffffffffn) });
    const b32 = fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, -1, 0xffffffff) });
    const raw: fc.Arbitrary<B> = fc
      .record({ t: tn, u: pair(low), s: pair(s32v), o: fc.tuple(off, off, off), z: fc.tuple(b32, b32, b32, b32) })
      .map(({ t, u, s, o, z }) => ({
        var: tnum(hi(t.value) | (o[0] & ~hi(t.mask)), hi(t.mask)),
        umin: hi(u[0]) | o[1],
        umax: hi(u[1]),
        smin: BigInt.asIntN(64, hi(s[0])) + o[2],
        smax: BigInt.asIntN(64, hi(s[1])),
        s32min: z[0],
        s32max: z[1],
        u32min: Math.abs(z[2]),
        u32max: Math.abs(z[3]),
      }));
    // as the verifier makes them: `x << 32` of a low register (bounds from its tnum or an unsigned range)
    const shifted: fc.Arbitrary<B> = fc.oneof(tn.map((t) => ({ var: t, ...UNBOUNDED_B })), pair(low).map(([lo, h]) => ({ var: tnum(0n, U32_MAX), ...UNBOUNDED_B, umin: lo, umax: h })), raw).map((b0) => {
      const r = scalarAluGeneric('lsh', reg(b0), known(32n), false);
      return { var: r.var, umin: r.umin, umax: r.umax, smin: r.smin, smax: r.smax, s32min: r.s32min, s32max: r.s32max, u32min: r.u32min, u32max: r.u32max };
    });
    let used = 0;
    const check = (b0: B): void => {
      const ours = { ...b0 };
      const ref = { ...b0 };
      if (syncHigh32(ours)) used++;
      else sync(ours);
      syncGeneric(ref);
      expect(ours, show(b0)).toEqual(ref);
    };
    fc.assert(fc.property(fc.oneof(raw, shifted), check), { numRuns: 20000 });
    for (const lo of e32) for (const h of e32) check({ var: tnum(0n, hi(U32_MAX)), umin: hi(lo), umax: hi(h), smin: BigInt.asIntN(64, hi(lo)), smax: BigInt.asIntN(64, hi(h)), s32min: 0, s32max: 0, u32min: 0, u32max: 0 });
    expect(used).toBeGreaterThan(10000);
  });

  it('reg_bounds_sync of 64-bit fields below 2^53 on numbers equals the BigInt one, on random, edge, synced and inconsistent bounds', () => {
    const { raw, implied, synced, e53, P53 } = mid53;
    let used = 0;
    const check = (b0: B): void => {
      const ours = { ...b0 };
      const ref = { ...b0 };
      if (syncMid(ours)) used++;
      else sync(ours);
      syncGeneric(ref);
      expect(ours, show(b0)).toEqual(ref);
      // what the verifier runs
      const viaSync = { ...b0 };
      sync(viaSync);
      expect(viaSync).toEqual(ref);
    };
    fc.assert(fc.property(fc.oneof(raw, implied, synced), check), { numRuns: 20000 });
    // every pair of edges as the unsigned range of an unknown tnum of 53 bits, and of one of 33
    for (const lo of e53) for (const h of e53) for (const m of [P53 - 1n, 2n * P32 - 1n]) check({ var: tnum(0n, m), ...UNBOUNDED_B, umin: lo, umax: h, smin: lo, smax: h });
    expect(used).toBeGreaterThan(10000);
  });

  it('64-bit add and sub of registers below 2^53 on numbers equal the BigInt ones, on random, edge, synced and inconsistent registers', () => {
    const { raw, synced, v53 } = mid53;
    const operand = fc.oneof({ weight: 2, arbitrary: raw.map(reg) }, { weight: 4, arbitrary: synced.map(reg) }, { weight: 2, arbitrary: v53.map((v) => known(v)) });
    let used = 0;
    let runs = 0;
    const check = (op: 'add' | 'sub', dst: Reg, src: Reg, alu32: boolean): void => {
      runs++;
      const ref = scalarAluGeneric(op, dst, src, alu32);
      const ours = aluMid(op, dst, src, alu32);
      // what scalarAlu runs after its constant shortcut
      expect(aluLow(op, dst, src, alu32, scalarAluGenericSrcConst(src, alu32)) ?? ours ?? ref).toEqual(ref);
      if (ours === undefined) return;
      used++;
      expect(ours, `${op} ${show([dst, src])}`).toEqual(ref);
      expect(ours === dst).toBe(ref === dst);
    };
    fc.assert(
      fc.property(fc.constantFrom<'add' | 'sub'>('add', 'sub'), operand, operand, fc.boolean(), (op, d, s2, alu32) => check(op, d, s2, alu32)),
      { numRuns: 20000 },
    );
    const edges = mid53.e53.map((v) => known(v));
    for (const d of edges) for (const s2 of edges) for (const op of ['add', 'sub'] as const) check(op, d, s2, false);
    expect(used).toBeGreaterThan(runs / 8);
  });

  it('ALU operations of a full 64-bit destination on numbers (`>>` by 32 to 63, `&` with a low source, `<< 32`) equal the BigInt ones', () => {
    const e32 = [0n, 1n, 2n, 3n, 7n, 8n, 31n, 32n, 33n, 63n, 64n, 0xffn, 0x100n, 0xffffn, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffffen, 0xffffffffn];
    const { low, raw, synced } = lowRegs({ edges: e32, small: 300n, pow2: true });
    const lowOperand = fc.oneof({ weight: 2, arbitrary: raw.map(reg) }, { weight: 5, arbitrary: synced.map(reg) }, { weight: 2, arbitrary: low.map((v) => known(v)) });
    // wide destinations: bounds of the whole 64 bits field by field (consistent or not), the same synced, `x << 32` of a low one, unknown with a range
    const syncedWide = bounds.map((b0) => {
      const b = { ...b0 };
      syncGeneric(b);
      return b;
    });
    const wide = fc.oneof(
      { weight: 2, arbitrary: bounds.map(reg) },
      { weight: 3, arbitrary: syncedWide.map(reg) },
      { weight: 3, arbitrary: lowOperand.map((r) => scalarAluGeneric('lsh', r, known(32n), false)) },
      { weight: 2, arbitrary: pair(unsigned(64)).map(([lo, hi]) => reg({ var: tnum(0n, U64_MAX), ...UNBOUNDED_B, umin: lo, umax: hi })) },
      { weight: 1, arbitrary: lowOperand },
    );
    let used = 0;
    const check = (op: 'rsh' | 'and' | 'lsh', dst: Reg, src: Reg, alu32: boolean): void => {
      const ref = scalarAluGeneric(op, dst, src, alu32);
      const ours = aluLow(op, dst, src, alu32, scalarAluGenericSrcConst(src, alu32));
      if (ours === undefined) return;
      used++;
      expect(ours, `${op}${alu32 ? 32 : 64} ${show([dst, src])}`).toEqual(ref);
    };
    fc.assert(fc.property(wide, fc.integer({ min: 0, max: 65 }), fc.boolean(), (dst, k, alu32) => check('rsh', dst, known(BigInt(k)), alu32)), { numRuns: 10000 });
    fc.assert(fc.property(wide, lowOperand, fc.boolean(), (dst, src, alu32) => check('and', dst, src, alu32)), { numRuns: 10000 });
    // `<< 32` of any register (and counts next to it, which stay on BigInts)
    fc.assert(fc.property(wide, fc.integer({ min: 31, max: 33 }), fc.boolean(), (dst, k, alu32) => check('lsh', dst, known(BigInt(k)), alu32)), { numRuns: 10000 });
    // unknown and edge-bounded destinations by every count
    for (const x of edges64) for (const y of edges64) for (let k = 30; k <= 64; k++) check('rsh', reg({ var: tnum(0n, U64_MAX), ...UNBOUNDED_B, umin: BigInt.asUintN(64, x), umax: BigInt.asUintN(64, y) }), known(BigInt(k)), false);
    expect(used).toBeGreaterThan(10000);
  });

  it('reg_bounds_sync on two 32-bit halves per 64-bit field equals the BigInt one, on random, edge, synced, masked and inconsistent bounds', () => {
    // 64-bit values of edge halves (around 0, 2^31, 2^32 in either half), powers of two and runs of bits
    const halves = [0n, 1n, 7n, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffff8n, 0xfffffffen, 0xffffffffn];
    const e64 = halves.flatMap((h) => halves.map((l) => (h << 32n) | l));
    const runs = fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 64 })), { maxLength: 3 }).map((rs) => rs.reduce((m, [lo, n]) => m | BigInt.asUintN(64, ((1n << BigInt(n)) - 1n) << BigInt(lo)), 0n));
    const v64 = fc.oneof(fc.constantFrom(...e64), unsigned(64), runs, fc.integer({ min: 0, max: 63 }).map((k) => 1n << BigInt(k)), fc.bigInt({ min: 1n, max: 4096n }).map((x) => U64_MAX + 1n - x));
    const s64v = v64.map((x) => BigInt.asIntN(64, x));
    const tn = fc.tuple(v64, v64).map(([v, m]) => tnum(v & ~m, m));
    const raw: fc.Arbitrary<B> = fc
      .record({ t: tn, u: pair(v64), s: pair(fc.oneof(s64v, signed(64))), s32: pair(signed(32)), u32: pair(unsigned(32)) })
      .map(({ t, u, s, s32, u32 }) => ({ var: t, umin: u[0], umax: u[1], smin: s[0], smax: s[1], s32min: Number(s32[0]), s32max: Number(s32[1]), u32min: Number(u32[0]), u32max: Number(u32[1]) }));
    // as the verifier has them: an unknown masked by a constant (`x &= -8`), an unsigned or signed range of an unknown, a tnum's own bounds
    const implied: fc.Arbitrary<B> = fc.oneof(
      tn.map((t) => ({ var: t, ...UNBOUNDED_B })),
      v64.map((m) => ({ var: tnum(0n, m), ...UNBOUNDED_B, umax: m, smax: BigInt.asIntN(64, m & S64_MAX) })),
      pair(v64).map(([lo, h]) => ({ var: tnum(0n, U64_MAX), ...UNBOUNDED_B, umin: lo, umax: h })),
      pair(s64v).map(([lo, h]) => ({ var: tnum(0n, U64_MAX), ...UNBOUNDED_B, smin: lo, smax: h })),
    );
    const synced = fc.oneof(raw, implied, bounds).map((b0) => {
      const b = { ...b0 };
      syncGeneric(b);
      return b;
    });
    let used = 0;
    const check = (b0: B): void => {
      const ours = { ...b0 };
      const ref = { ...b0 };
      if (syncWide(ours)) used++;
      else sync(ours);
      syncGeneric(ref);
      expect(ours, show(b0)).toEqual(ref);
      const viaSync = { ...b0 };
      sync(viaSync);
      expect(viaSync).toEqual(ref);
    };
    fc.assert(fc.property(fc.oneof(raw, implied, synced, bounds), check), { numRuns: 30000 });
    // every pair of edges as the unsigned and as the signed range of an unknown tnum and of one masked by -8
    for (const lo of e64)
      for (const h of e64)
        for (const m of [U64_MAX, U64_MAX - 7n, S64_MAX]) {
          check({ var: tnum(0n, m), ...UNBOUNDED_B, umin: lo, umax: h });
          check({ var: tnum(0n, m), ...UNBOUNDED_B, smin: BigInt.asIntN(64, lo), smax: BigInt.asIntN(64, h) });
        }
    expect(used).toBeGreaterThan(30000);
  });

  it('ALU operations of any two registers on two 32-bit halves per field equal the BigInt ones, on random, edge, synced, masked and inconsistent registers', () => {
    const halves = [0n, 1n, 7n, 0x7fffffffn, 0x80000000n, 0x80000001n, 0xfffffff8n, 0xfffffffen, 0xffffffffn];
    const e64 = halves.flatMap((h) => halves.map((l) => (h << 32n) | l));
    const runs = fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 64 })), { maxLength: 3 }).map((rs) => rs.reduce((m, [lo, n]) => m | BigInt.asUintN(64, ((1n << BigInt(n)) - 1n) << BigInt(lo)), 0n));
    const v64 = fc.oneof(fc.constantFrom(...e64), unsigned(64), runs, fc.integer({ min: 0, max: 63 }).map((k) => 1n << BigInt(k)), fc.bigInt({ min: 1n, max: 4096n }).map((x) => U64_MAX + 1n - x));
    const s64v = v64.map((x) => BigInt.asIntN(64, x));
    const tn = fc.tuple(v64, v64).map(([v, m]) => tnum(v & ~m, m));
    const raw: fc.Arbitrary<B> = fc
      .record({ t: tn, u: pair(v64), s: pair(fc.oneof(s64v, signed(64))), s32: pair(signed(32)), u32: pair(unsigned(32)) })
      .map(({ t, u, s, s32, u32 }) => ({ var: t, umin: u[0], umax: u[1], smin: s[0], smax: s[1], s32min: Number(s32[0]), s32max: Number(s32[1]), u32min: Number(u32[0]), u32max: Number(u32[1]) }));
    const implied: fc.Arbitrary<B> = fc.oneof(
      tn.map((t) => ({ var: t, ...UNBOUNDED_B })),
      v64.map((m) => ({ var: tnum(0n, m), ...UNBOUNDED_B, umax: m, smax: BigInt.asIntN(64, m & S64_MAX) })),
      pair(v64).map(([lo, h]) => ({ var: tnum(0n, U64_MAX), ...UNBOUNDED_B, umin: lo, umax: h })),
      pair(s64v).map(([lo, h]) => ({ var: tnum(0n, U64_MAX), ...UNBOUNDED_B, smin: lo, smax: h })),
    );
    const synced = fc.oneof(raw, implied, bounds).map((b0) => {
      const b = { ...b0 };
      syncGeneric(b);
      return b;
    });
    const operand = fc.oneof({ weight: 2, arbitrary: raw.map(reg) }, { weight: 5, arbitrary: synced.map(reg) }, { weight: 1, arbitrary: bounds.map(reg) }, { weight: 1, arbitrary: fc.constant(UNKNOWN) }, { weight: 3, arbitrary: v64.map((v) => known(v)) });
    let used = 0;
    let runs2 = 0;
    const check = (op: 'add' | 'sub' | 'and' | 'or' | 'xor' | 'lsh' | 'rsh' | 'arsh', dst: Reg, src: Reg, alu32 = false): void => {
      runs2++;
      const srcConst = scalarAluGenericSrcConst(src, alu32);
      const ref = scalarAluGeneric(op, dst, src, alu32);
      const ours = aluWide(op, dst, src, alu32, srcConst);
      // what scalarAlu runs after its constant shortcut
      expect(aluLow(op, dst, src, alu32, srcConst) ?? aluMid(op, dst, src, alu32) ?? ours ?? ref).toEqual(ref);
      if (ours === undefined) return;
      used++;
      expect(ours, `${op}${alu32 ? 32 : 64} ${show([dst, src])}`).toEqual(ref);
      expect(ours === dst).toBe(ref === dst);
    };
    const bin = fc.constantFrom<'add' | 'sub' | 'and' | 'or' | 'xor'>('add', 'sub', 'and', 'or', 'xor');
    const sh = fc.constantFrom<'lsh' | 'rsh' | 'arsh'>('lsh', 'rsh', 'arsh');
    fc.assert(fc.property(bin, operand, operand, fc.boolean(), (op, d, s2, alu32) => check(op, d, s2, alu32)), { numRuns: 30000 });
    fc.assert(fc.property(sh, operand, fc.integer({ min: 0, max: 64 }), fc.boolean(), (op, d, k, alu32) => check(op, d, known(BigInt(k)), alu32)), { numRuns: 10000 });
    // every op on edge constants and the shapes real programs have: an unknown, one masked by -8, an unknown with a range
    const shapes = [UNKNOWN, reg({ var: tnum(0n, U64_MAX - 7n), ...UNBOUNDED_B, umax: U64_MAX - 7n, smax: S64_MAX - 7n }), reg({ var: tnum(0n, U64_MAX), ...UNBOUNDED_B, umin: 1n })];
    for (const d of [...shapes, ...e64.map((v) => known(v))])
      for (const v of e64) {
        for (const op of ['add', 'sub', 'and', 'or', 'xor'] as const) for (const alu32 of [false, true]) check(op, d, known(v), alu32);
      }
    for (const d of shapes) for (let k = 0; k < 64; k++) for (const op of ['lsh', 'rsh', 'arsh'] as const) check(op, d, known(BigInt(k)));
    expect(used).toBeGreaterThan(runs2 / 2);
  });

  it('fls64 through the buffer and tnumClearSubreg by a mask equal the shifts they replace', () => {
    const runs = fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 64 })), { maxLength: 3 }).map((rs) => rs.reduce((m, [lo, n]) => m | BigInt.asUintN(64, ((1n << BigInt(n)) - 1n) << BigInt(lo)), 0n));
    const v = fc.oneof(unsigned(64), runs, fc.integer({ min: 0, max: 63 }).map((k) => 1n << BigInt(k)), fc.constantFrom(-1n, -(1n << 40n), 1n << 64n, (1n << 70n) + 5n));
    const fls = (x: bigint): number => (x === 0n ? 0 : Number(x >> 32n) ? 64 - Math.clz32(Number(x >> 32n)) : 32 - Math.clz32(Number(x & 0xffffffffn)));
    fc.assert(
      fc.property(v, v, (x, m) => {
        expect(fls64(x), String(x)).toBe(fls(x));
        const t = tnum(x & ~m, m);
        expect(tnumClearSubreg(t)).toEqual(tnumLshift(tnumRshift(t, 32), 32));
      }),
      { numRuns: 20000 },
    );
    for (let k = 0; k < 64; k++) for (const d of [-1n, 0n, 1n]) expect(fls64(BigInt.asUintN(64, (1n << BigInt(k)) + d))).toBe(fls(BigInt.asUintN(64, (1n << BigInt(k)) + d)));
  });

  it('reg_bounds_sync of an unknown tnum with only a umin keeps it, as the BigInt steps do', () => {
    const check = (umin: bigint, f: Partial<B> = {}): void => {
      const b0: B = { var: tnum(0n, U64_MAX), ...UNBOUNDED_B, umin, ...f };
      const ours = { ...b0 };
      const ref = { ...b0 };
      sync(ours);
      syncGeneric(ref);
      expect(ours, show(b0)).toEqual(ref);
    };
    for (const x of edges64) {
      const u = BigInt.asUintN(64, x);
      check(u);
      // one other field off the open range: the generic steps run
      check(u, { umax: U64_MAX - 1n });
      check(u, { smax: S64_MAX - 1n });
      check(u, { u32min: 1 });
      check(u, { var: tnum(0n, U64_MAX - 1n) });
    }
    fc.assert(fc.property(unsigned(64), (u) => check(u)), { numRuns: 2000 });
  });

  it('tnum_step without the loop equals the kernel\'s loop, on random, edge and power-of-two tnums and points', () => {
    const v64 = fc.oneof(fc.constantFrom(...edges64.map((x) => BigInt.asUintN(64, x))), fc.bigInt({ min: 0n, max: 600n }), fc.bigInt({ min: 0n, max: U64_MAX }), fc.integer({ min: 0, max: 63 }).map((k) => 1n << BigInt(k)), fc.integer({ min: 0, max: 64 }).map((k) => (1n << BigInt(k)) - 1n));
    // masks of a few runs of bits, as alignment and ranges give them
    const runs = fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 64 })), { maxLength: 3 }).map((rs) => rs.reduce((m, [lo, n]) => m | (BigInt.asUintN(64, ((1n << BigInt(n)) - 1n) << BigInt(lo))), 0n));
    const check = (v: bigint, m: bigint, z: bigint): void => {
      const t = tnum(v & ~m, m);
      expect(tnumStep(t, z), `${t.value} ${t.mask} ${z}`).toBe(tnumStepLoop(t, z));
    };
    fc.assert(fc.property(v64, fc.oneof(v64, runs), v64, check), { numRuns: 20000 });
    for (const m of [0n, 1n, 0xf0n, U32_MAX, U64_MAX, U64_MAX - 1n, 1n << 63n, U64_MAX ^ 0xffn]) for (const z of edges64) for (const v of [0n, 1n, 0x100n, 1n << 63n]) check(v, m, BigInt.asUintN(64, z));
  });

  it('tnum_mul on two 32-bit halves per field equals the BigInt loop, on random, edge, run and power-of-two tnums', () => {
    const halves = [0n, 1n, 3n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn];
    const e64 = halves.flatMap((h) => halves.map((l) => (h << 32n) | l));
    const runs = fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 64 })), { maxLength: 3 }).map((rs) => rs.reduce((m, [lo, n]) => m | BigInt.asUintN(64, ((1n << BigInt(n)) - 1n) << BigInt(lo)), 0n));
    const v64 = fc.oneof(fc.constantFrom(...e64), fc.bigInt({ min: 0n, max: 600n }), fc.bigInt({ min: 0n, max: U32_MAX }), fc.bigInt({ min: 0n, max: U64_MAX }), runs, fc.integer({ min: 0, max: 63 }).map((k) => 1n << BigInt(k)));
    const tn = fc.oneof(fc.tuple(v64, v64).map(([v, m]) => tnum(v & ~m, m)), fc.tuple(v64, fc.constant(0n)).map(([v, m]) => tnum(v, m)), fc.tuple(fc.constant(0n), v64).map(([v, m]) => tnum(v, m)));
    const check = (a: Tnum, b: Tnum): void => {
      const want = tnumMulGeneric(a, b);
      expect(tnumMul(a, b), `${a.value} ${a.mask} * ${b.value} ${b.mask}`).toEqual(want);
    };
    fc.assert(fc.property(tn, tn, check), { numRuns: 20000 });
    for (const x of e64) for (const y of e64) for (const m of [0n, 1n, 0xffn, U32_MAX, U64_MAX]) check(tnum(x & ~m, m), tnum(y, 0n));
  });

  it('__update_reg_bounds of a tnum that knows nothing equals the kernel steps', () => {
    // the reference: the BigInt steps as the kernel writes them, tnum_step's loop included
    const ref = (b: B): void => {
      const s = tnumSubreg(b.var);
      const mx = (x: bigint, y: bigint): bigint => (x > y ? x : y);
      const mn = (x: bigint, y: bigint): bigint => (x < y ? x : y);
      // on BigInts, stored back as the numbers the 32-bit bounds are
      b.s32min = Number(mx(BigInt(b.s32min), BigInt.asIntN(32, s.value | (s.mask & 0x80000000n))));
      b.s32max = Number(mn(BigInt(b.s32max), BigInt.asIntN(32, s.value | (s.mask & 0x7fffffffn))));
      b.u32min = Number(mx(BigInt(b.u32min), s.value));
      b.u32max = Number(mn(BigInt(b.u32max), s.value | s.mask));
      const t = b.var;
      b.smin = mx(b.smin, BigInt.asIntN(64, t.value | (t.mask & (1n << 63n))));
      b.smax = mn(b.smax, BigInt.asIntN(64, t.value | (t.mask & S64_MAX)));
      b.umin = mx(b.umin, t.value);
      b.umax = mn(b.umax, t.value | t.mask);
      const k = (x: bigint): void => {
        Object.assign(b, { var: tnum(x, 0n), smin: BigInt.asIntN(64, x), smax: BigInt.asIntN(64, x), umin: x, umax: x, s32min: Number(BigInt.asIntN(32, x)), s32max: Number(BigInt.asIntN(32, x)), u32min: Number(BigInt.asUintN(32, x)), u32max: Number(BigInt.asUintN(32, x)) });
      };
      if (t.mask === 0n) {
        if (b.umin !== t.value || b.umax < t.value) k(t.value);
        return;
      }
      const tmax = t.value | t.mask;
      const next = b.umin >= tmax ? tmax : tnumStepLoop(t, b.umin);
      const uminIn = (b.umin & ~t.mask) === t.value;
      if (uminIn && next > b.umax) k(b.umin);
      else if (!uminIn && next === tmax) k(tmax);
      else if (!uminIn && next <= b.umax && tnumStepLoop(t, next) > b.umax) k(next);
    };
    const b: fc.Arbitrary<B> = fc
      .record({ s: pair(signed(64)), u: pair(unsigned(64)), s32: pair(signed(32)), u32: pair(unsigned(32)), t: fc.oneof({ weight: 3, arbitrary: fc.constant(tnum(0n, U64_MAX)) }, { weight: 1, arbitrary: fc.tuple(unsigned(64), unsigned(64)).map(([v, m]) => tnum(v & ~m, m)) }) })
      .map(({ s, u, s32, u32, t }) => ({ var: t, smin: s[0], smax: s[1], umin: u[0], umax: u[1], s32min: Number(s32[0]), s32max: Number(s32[1]), u32min: Number(u32[0]), u32max: Number(u32[1]) }));
    const check = (b0: B): void => {
      const ours = { ...b0 };
      const want = { ...b0 };
      updateBounds(ours);
      ref(want);
      expect(ours).toEqual(want);
    };
    fc.assert(fc.property(b, check), { numRuns: 20000 });
    for (const lo of edges64) for (const hi of edges64) check({ var: tnum(0n, U64_MAX), ...UNBOUNDED_B, umin: BigInt.asUintN(64, lo), umax: BigInt.asUintN(64, hi) });
  });

  // the same defined fields, not their order nor the undefined ones: done() copies with state.ts
  // copyReg, whose wide shape has every optional field (nothing reads a register's keys)
  it('done() makes { ...r, ...b }: the same fields, optional ones kept', () => {
    const regs: Reg[] = [UNKNOWN, known(5n), { ...known(7n), id: 3, addConst: true }, { ...UNKNOWN, type: 'map_value', off: 8, id: 2, map: { name: 'm', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 } as never }];
    fc.assert(
      fc.property(fc.constantFrom(...regs), bounds, (r, b) => {
        const ours = done(r, b);
        const ref = { ...r, ...b };
        const defined = (o: object): string[] => Object.entries(o).filter(([, v]) => v !== undefined).map(([k]) => k).sort();
        expect(defined(ours)).toEqual(defined(ref));
        expect(ours).toEqual(ref);
      }),
    );
  });
});
