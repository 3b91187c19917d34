import { decode, type Program, type ProgType } from '@bpf/isa';
import { corpusSource, kernelCorpus, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { PROG_FLAGS } from './loadflags.js';
import { buildC, expectSameAsKernel, haveVmlinux, kernelApi } from './kernel.test.helper.js';
import { verify } from './index.js';

/**
 * Range tracking found where our counts left the kernel's on the seeded random corpus, each
 * pinned by programs of our own compared with the running kernel (verdict, error, processed
 * count, level-2 log):
 * - __reg32_deduce_bounds: an s32 range crossing the sign boundary (`w1 s<= 0x100`) meets a u32
 *   range on one side only (`r1 >= 0x1000`): the value is in [0x80000000, 0xffffffff], so the
 *   last compare is decided and the stack read after it never reached (random/185).
 * - __update_reg64_bounds with the kernel's tnum_step (tmax from tmax on): a tnum of multiples
 *   of 16 and a range [5, 15] leave a constant tnum 0 with bounds [5, 0]; the kernel makes the
 *   register that constant (no bounds violation), so `r0 > 0xf0` is decided after it.
 * - reg_bounds_sanity_check after a branch's refinement (random/79 of our seeded random corpus,
 *   loaded live here): the kernel prints "verifier bug: REG INVARIANTS VIOLATION" and opens the
 *   register's bounds (keeping its tnum), and with BPF_F_TEST_REG_INVARIANTS stops the load.
 */
const SOURCE = `
#define SEC(name) __attribute__((section(name), used))

SEC("socket") __attribute__((naked)) int s32_cross(void) {
  asm volatile(
    "call 7;"
    "r1 = r0;"
    "if w1 s> 0x100 goto l0_%=;"
    "if r1 < 0x1000 goto l0_%=;"
    "if r1 > 0x7fffffff goto l0_%=;"
    "r0 = *(u64 *)(r10 + 8);"
    "exit;"
    "l0_%=: r0 = 0;"
    "exit;" ::: "memory");
}

SEC("socket") __attribute__((naked)) int const_tnum_range(void) {
  asm volatile(
    "call 7;"
    "r0 &= 0xf0;"
    "if r0 > 4 goto l0_%=;"
    "r0 = 0;"
    "exit;"
    "l0_%=: if r0 < 16 goto l1_%=;"
    "r0 = 0;"
    "exit;"
    "l1_%=: if r0 > 0xf0 goto l2_%=;"
    "r0 = 0;"
    "exit;"
    "l2_%=: r0 = 1;"
    "exit;" ::: "memory");
}
char LICENSE[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('scalar bounds, program by program against the kernel', () => {
  const programs = buildC(SOURCE);
  it('builds two programs', () => expect(programs.map((p) => p.name)).toEqual(['s32_cross', 'const_tnum_range']));
  it.each(programs.map((p) => [p.name, p] as const))('%s: the same states, verdict and log as the kernel', (name, p) => expectSameAsKernel(name, p));

  const c = kernelCorpus().find((x) => x.name === 'random/79')!;
  const s = corpusSource(c);
  if (s.kind !== 'insns') throw new Error('random/79 is a program of instructions');
  const p: Program = { insns: decode(s.bytes, { strict: false }), type: c.type as ProgType };
  it.each([0, PROG_FLAGS.test_reg_invariants])('random/79 with prog_flags %i: the kernel\'s verdict, error, count and violation lines', (flags) => {
    const k = kernelApi!.loadWithMaps(p, { logLevel: 2, flags });
    k.close();
    const ours = verify(p, { type: c.type as ProgType, logLevel: 2, flags });
    const violations = (log: string): string[] => log.split('\n').filter((l) => l.startsWith('verifier bug:'));
    expect(violations(k.log).length).toBeGreaterThan(0);
    expect({ accepted: ours.accepted, error: ours.error?.message, violations: violations(ours.log) }).toEqual({
      accepted: k.accepted,
      error: k.accepted ? undefined : k.error,
      violations: violations(k.log),
    });
    if (k.accepted) expect(String(ours.stats.processedInsns)).toBe(/processed (\d+) insns/.exec(k.log)?.[1]);
  });
});
