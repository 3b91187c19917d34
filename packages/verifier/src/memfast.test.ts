/**
 * The allocation-free fast paths of issue 25 against the paths they skip: memRegion's and
 * packetAccess's tests in numbers against the BigInt tests (same verdict, same message), and a
 * frame's spilled registers copied only up to the last one set (every slot reads as before).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Env } from './env.js';
import { memRegion, packetAccess } from './mem.js';
import { cloneFrame, copyReg, known, newFrame, S64_MIN, setSpilled, UNKNOWN, type Reg } from './state.js';

const BPF_MAX_VAR_OFF = 1n << 29n;

/** An Env whose reject throws its lines (all memRegion and packetAccess use). */
const env = { reject: (_pc: number, ...lines: string[]): never => { throw new Error(lines.join('\n')); } } as unknown as Env;

const outcome = (f: () => void): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as Error).message;
  }
};

/** check_mem_region_access all in BigInts (the path before the fast one). */
function memRegionSlow(r: Reg, regno: number, off: number, size: number, memSize: number, zeroOk: boolean): void {
  const memOk = (o: bigint): boolean => o >= 0n && (size > 0 || (size === 0 && zeroOk)) && o + BigInt(size) <= BigInt(memSize);
  const msg = (o: bigint): string => `invalid access to map value, value_size=${memSize} off=${o} size=${size}`;
  const o = BigInt(off);
  if (r.smin < 0n && (r.smin === S64_MIN || BigInt.asIntN(32, o + r.smin) !== o + r.smin || r.smin + o < 0n))
    env.reject(0, `R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
  if (!memOk(r.smin + o)) env.reject(0, msg(r.smin + o), `R${regno} min value is outside of the allowed memory range`);
  if (r.umax >= BPF_MAX_VAR_OFF) env.reject(0, `R${regno} unbounded memory access, make sure to bounds check any such access`);
  if (!memOk(r.umax + o)) env.reject(0, msg(r.umax + o), `R${regno} max value is outside of the allowed memory range`);
}

// bounds near the fast path's edges: negative, zero, around the region's end, around BPF_MAX_VAR_OFF
const bound = fc.oneof(fc.bigInt({ min: -70n, max: 600n }), fc.constantFrom(S64_MIN, -1n, 0n, BPF_MAX_VAR_OFF - 1n, BPF_MAX_VAR_OFF, 1n << 53n, (1n << 64n) - 1n));

describe('memory access fast paths (issue 25)', () => {
  it('memRegion gives the verdict and message of the BigInt tests', () => {
    fc.assert(
      fc.property(bound, bound, fc.integer({ min: -600, max: 600 }), fc.constantFrom(0, 1, 2, 4, 8, 16), fc.integer({ min: 0, max: 520 }), fc.integer({ min: -2, max: 2 }), fc.boolean(), (a, b, off, size, anySize, edge, zeroOk) => {
        const [smin, umax] = a <= b ? [a, b] : [b, a];
        // half the time a region ending next to the access's far or near end
        const end = anySize % 3 === 0 ? umax : smin;
        const memSize = anySize % 3 === 2 || end > 1000n || end < -1000n ? anySize : Math.max(0, Number(end) + off + size + edge);
        const r: Reg = { ...copyReg(UNKNOWN), type: 'map_value', smin, umax: umax < 0n ? BigInt.asUintN(64, umax) : umax };
        expect(outcome(() => memRegion(env, 0, r, 3, off, size, memSize, zeroOk))).toBe(outcome(() => memRegionSlow(r, 3, off, size, memSize, zeroOk)));
      }),
      { numRuns: 5000 },
    );
  });

  it('packetAccess gives the verdict and message of the BigInt test', () => {
    fc.assert(
      fc.property(fc.integer({ min: -40, max: 80 }), fc.constantFrom(0, 1, 2, 4, 8), fc.integer({ min: -2, max: 80 }), fc.boolean(), (off, size, range, zeroOk) => {
        const r: Reg = { ...copyReg(UNKNOWN, false, true), type: 'pkt', smin: 0n, range };
        const slow = (): void => {
          if (range < 0) env.reject(0, 'R2 offset is outside of the packet');
          const o = BigInt(off);
          if (!(o >= 0n && (size > 0 || (size === 0 && zeroOk)) && o + BigInt(size) <= BigInt(range)))
            env.reject(0, `invalid access to packet, off=${off} size=${size}, R2(id=0,off=${off},r=${range})`, 'R2 offset is outside of the packet');
        };
        expect(outcome(() => packetAccess(env, 0, r, 2, off, size, zeroOk))).toBe(outcome(slow));
      }),
      { numRuns: 3000 },
    );
  });

  it('a frame copy written once reads every spilled slot as before the write, and its copy does not change', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined })), { maxLength: 12 }), fc.integer({ min: 0, max: 63 }), (writes, last) => {
        const f = newFrame(0, -1);
        for (const [slot, v] of writes) setSpilled(f, slot, v === undefined ? undefined : known(BigInt(v)));
        const before = Array.from({ length: 64 }, (_, s) => f.spilled[s]);
        const c = cloneFrame(f);
        setSpilled(c, last, known(100n));
        let same = true;
        for (let s = 0; s < 64; s++) if (f.spilled[s] !== before[s] || c.spilled[s] !== (s === last ? known(100n) : before[s])) same = false;
        expect(same).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
