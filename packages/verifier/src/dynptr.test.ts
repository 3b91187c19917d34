import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux, kernelBtf } from './kernel.test.helper.js';

/** Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree). */
const LOG_DIFFERS = new Set<string>([]);

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
  // the drain call is a loop of its own: the callback returns to it, and a state there that ran the
  // callback more often does not cover one that ran it less (func_states_equal's callback_depth)
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
  it('covers callbacks the kernel accepts after converging the loop, and ones it refuses', () => {
    const accepted = programs.filter((p) => verify(p, { kernelBtf: kernelBtf(), logLevel: 0 }).accepted).map((p) => p.name);
    expect(accepted).toEqual(['drain_read', 'drain_data', 'drain_size', 'drain_clone', 'drain_adjust', 'drain_slice', 'drain_in_tc']);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('dynptr kfuncs of 6.14-6.18 (fixtures/c/dynptr/fill.c): memset, probe reads, user copies, skb metadata', () => {
  const programs = buildC(fixtureSource('dynptr', 'fill.c', 'dynptr.h'));
  const dump = process.env.DYNPTR_DUMP;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
});
