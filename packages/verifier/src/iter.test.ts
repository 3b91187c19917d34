import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux } from './kernel.test.helper.js';

/** Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree): none. */
const LOG_DIFFERS = new Set<string>([]);

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('open-coded iterators: the kernel verdict, message, processed count and log, program by program', () => {
  const programs = buildC(fixtureSource('iters', 'iters.c', 'iters.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: LOG_DIFFERS, ...(dump ? { dump } : {}) }));
  it('covers bpf_for, bpf_repeat, bpf_for_each over num, task and bits, and rejections', () => {
    expect(programs.length).toBeGreaterThanOrEqual(20);
    expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['for_sum', 'repeat5', 'tasks', 'bits', 'leak', 'double_destroy']));
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('the sleepable kmem_cache and dmabuf iterators (fixtures/c/iters/sleepable.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('iters', 'sleepable.c', 'iters.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
});
