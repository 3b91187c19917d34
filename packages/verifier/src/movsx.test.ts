/**
 * Sign-extending moves (BPF_MOVSX: `r2 = (s8|s16|s32)r1`, `w2 = (s8|s16)w1`) on scalars the
 * tnum and the bounds only partly know, compared with the running kernel's level-2 log line
 * for each move (kernel/bpf/verifier.c coerce_reg_to_size_sx, coerce_subreg_to_size_sx).
 */
import { assemble } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { kernelApi, kernelVerdict } from './kernel.test.helper.js';

const hex = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}`;

/** A 64-bit unknown made of two random halves, masked to `mask`, `value` or'ed in, optionally narrowed by signed bounds around `value`. */
function program(mask: bigint, value: bigint, around: readonly [bigint, bigint] | undefined): string {
  const v = BigInt.asIntN(64, value);
  const clamp = (x: bigint): bigint => (x < -(1n << 63n) ? -(1n << 63n) : x >= 1n << 63n ? (1n << 63n) - 1n : x);
  const narrow = around ? [`r1 = ${hex(clamp(v - around[0]))} ll`, 'if r6 s< r1 goto out', `r1 = ${hex(clamp(v + around[1]))} ll`, 'if r6 s> r1 goto out'] : [];
  return [
    'call bpf_get_prandom_u32',
    'r6 = r0',
    'call bpf_get_prandom_u32',
    'r6 <<= 32',
    'r6 |= r0',
    `r1 = ${hex(mask)} ll`,
    'r6 &= r1',
    `r1 = ${hex(value)} ll`,
    'r6 |= r1',
    ...narrow,
    'r2 = (s8)r6',
    'r3 = (s16)r6',
    'r4 = (s32)r6',
    'w5 = (s8)w6',
    'w7 = (s16)w6',
    'out:',
    'r0 = 0',
    'exit',
  ].join('\n');
}

/** The log lines of the sign-extending moves. */
const movsxLines = (log: string): string[] => log.split('\n').filter((l) => /^\d+: \((bf|bc)\) [rw]\d = \(s(8|16|32)\)/.test(l));

const bit = fc.bigInt({ min: 0n, max: 63n }).map((b) => 1n << b);
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
// masks that leave the low bits known (the interesting case), arbitrary ones, and contiguous ones
const mask = fc.oneof(
  u64.map((m) => m & ~0xffn),
  u64.map((m) => m & ~0xffffn),
  // the low half known, or all of it but its low byte: its bounds decide what the upper half cannot
  u64.map((m) => m & ~0xffff_ffffn),
  u64.map((m) => m & ~0xffff_ff00n),
  u64,
  fc.tuple(bit, bit).map(([a, b]) => (a > b ? a - b : b - a)),
  fc.constantFrom(0xf0n, 0xff00n, 0x7fn, 0x80n, 0xffff_0000n),
);
const value = fc.oneof(u64, fc.constantFrom(0x80n, 0x7fn, 0x8000n, 0x7fffn, 0x8000_0000n, 0xffn, 0x1234n));
// signed bounds around a value the register may hold (the masked-in value itself), so the
// narrowed state is never empty: [v - below, v + above]
const bounds = fc.option(fc.tuple(fc.bigInt({ min: 0n, max: 1n << 36n }), fc.bigInt({ min: 0n, max: 1n << 36n })), { nil: undefined });

describe.skipIf(skipWithout('kernel') || kernelApi === undefined)('movsx on partly known scalars: the kernel log line of every move', () => {
  const samples = fc.sample(fc.tuple(mask, value, bounds), { seed: 23, numRuns: 100 });
  it.each(samples.map((s, k) => [k, ...s] as const))('sample %i', (_k, m, v, b) => {
    const p = assemble(program(m, v, b));
    const kernel = kernelVerdict(p, { logLevel: 2 });
    const ours = verify(p, { logLevel: 2 });
    expect(ours.accepted).toBe(kernel.accepted);
    expect(movsxLines(ours.log)).toEqual(movsxLines(kernel.log));
  });
});
