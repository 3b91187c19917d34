import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux } from './kernel.test.helper.js';

/**
 * Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree):
 * the bpf_loop ones, where the kernel prints the caller's whole state after bpf_loop returns and
 * marks the callback context argument (R3) precise; we do neither yet (as loops.test.ts's cb_count).
 */
const LOG_DIFFERS = new Set<string>(['throw_in_loop_cb', 'throw_below_loop_cb', 'throw_beside_loop_cb']);

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('exceptions: the kernel verdict, message, processed count and log, program by program', () => {
  const programs = buildC(fixtureSource('exceptions', 'exceptions.c', 'exceptions.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: LOG_DIFFERS, ...(dump ? { dump } : {}) }));
  it('covers bpf_throw, exception callbacks, what a throw must release, callbacks and assertions', () => {
    expect(programs.length).toBeGreaterThanOrEqual(40);
    expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['throw_default', 'cgroup_cookie_out_of_range', 'throw_in_static', 'cb_named', 'cb_no_arg', 'cb_throws', 'cb_called_directly', 'cb_twice', 'throw_in_rcu', 'throw_holding_record', 'throw_in_loop_cb', 'throw_in_timer_cb', 'require_within_index']));
  });
});
