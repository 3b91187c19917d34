import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux } from './kernel.test.helper.js';

/** Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree): none. */
const LOG_DIFFERS = new Set<string>([]);

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('may_goto loops: the kernel verdict, message, processed count and log, program by program', () => {
  const programs = buildC(fixtureSource('loops', 'loops.c', 'loops.h'));
  const dump = process.env.LOOPS_DUMP;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: LOG_DIFFERS, ...(dump ? { dump } : {}) }));
  it('covers can_loop, cond_break, cond_break_label and may_goto for-loops', () => {
    expect(programs.length).toBeGreaterThanOrEqual(15);
    expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['while_can_loop', 'cond_break_for', 'label_break', 'may_for_array', 'index_unchecked']));
  });
});
