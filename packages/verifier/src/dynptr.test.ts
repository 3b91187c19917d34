import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

/** Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree). */
const LOG_DIFFERS = new Set<string>([]);

/**
 * bpf_user_ringbuf_drain programs the kernel accepts by converging the callback loop (the
 * callback returns to the drain call, which calls it again): verdict and first error agree, the
 * processed count not yet (drain_read: 62 against the kernel's 63).
 */
const DRAIN_LOOPS = new Set<string>(['drain_read', 'drain_data', 'drain_size', 'drain_clone', 'drain_adjust', 'drain_slice', 'drain_in_tc']);
/**
 * The rejected ones agree in verdict, first error and processed count; their logs differ at the
 * drain call, where the kernel prints `SCC enter` and a checkpoint with R3's precision walk.
 */
const DRAIN_LOG_DIFFERS = new Set<string>(['drain_bad_ret', 'drain_data_unchecked', 'drain_deref', 'drain_reinit', 'drain_release']);

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('dynptrs: the kernel verdict, message, processed count and log, program by program', () => {
  const programs = buildC(fixtureSource('dynptr', 'dynptr.c', 'dynptr.h'));
  // DYNPTR_DUMP=DIR writes both logs of each program there
  const dump = process.env.DYNPTR_DUMP;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: LOG_DIFFERS, ...(dump ? { dump } : {}) }));
  it('covers local, ringbuf, skb and xdp dynptrs, accepted and rejected', () => {
    expect(programs.length).toBeGreaterThanOrEqual(40);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('bpf_user_ringbuf_drain callbacks and their const dynptr (fixtures/c/dynptr/user_ringbuf.c)', () => {
  const programs = buildC(fixtureSource('dynptr', 'user_ringbuf.c', 'dynptr.h'));
  const dump = process.env.DYNPTR_DUMP;
  const compared = programs.filter((p) => !DRAIN_LOOPS.has(p.name));
  it.each(compared.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: DRAIN_LOG_DIFFERS, ...(dump ? { dump } : {}) }));
  it.each(programs.filter((p) => DRAIN_LOOPS.has(p.name)).map((p) => [p.name, p] as const))('%s: verdict and first error (processed count differs)', (_n, p) => {
    const kernel = kernelVerdict(p);
    const ours = verify(p, { kernelBtf: kernelBtf() });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
  });
});
