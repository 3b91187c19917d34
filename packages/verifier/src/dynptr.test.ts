import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux } from './kernel.test.helper.js';

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
