import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux } from './kernel.test.helper.js';

/** Programs of locks.c whose level-2 logs still differ somewhere (verdict, error and processed count agree): none. */
const LOG_DIFFERS = new Set<string>([]);

/** Programs of wq.c whose level-2 logs differ (verdict, error and processed count agree). */
const WQ_LOG_DIFFERS = new Set<string>([]);

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('locks: the kernel verdict, message, processed count and log, program by program', () => {
  const programs = buildC(fixtureSource('locks', 'locks.c', 'locks.h'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: LOG_DIFFERS }));
  it('covers spin locks, resilient locks, IRQ flags and preemption, held, leaked and misused', () => {
    expect(programs.length).toBeGreaterThanOrEqual(38);
    expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['lock_hash', 'exit_locked', 'unlock_other', 'helper_while_locked', 'preempt_missing', 'irq_out_of_order', 'res_lock_ok', 'res_lock_unchecked']));
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('workqueues and task work (fixtures/c/locks/wq.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('locks', 'wq.c', 'locks.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  // the call that sets up an async callback is a prune point (visit_insn), so wq_hash's NULL branch
  // meets no checkpoint after it and is walked, as the kernel walks it (26 processed, 3 states)
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: WQ_LOG_DIFFERS, ...(dump ? { dump } : {}) }));
  it('covers workqueues and task work, set up, misused and their sleepable callbacks', () => {
    expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['wq_ok', 'wq_cb_may_sleep', 'wq_bad_ret', 'wq_in_tc', 'wq_other_map', 'task_work_ok', 'task_work_resume_sleeps', 'task_work_other_map']));
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('locks as global variables and in allocated objects (fixtures/c/locks/globals.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('locks', 'globals.c', 'locks.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('which value members are special fields (fixtures/c/locks/fields.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('locks', 'fields.c', 'locks.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
  it('covers nesting, typedefs, arrays and node kinds', () => {
    expect(programs.map((p) => p.name).sort()).toEqual(
      ['field_lock_array', 'field_lock_in_struct_array', 'field_list_node_in_map', 'field_nested_lock', 'field_typedef_lock', 'field_typedef_lock_read'].sort(),
    );
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('resilient locks held together, mixed and misused (fixtures/c/locks/reslocks.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('locks', 'reslocks.c', 'locks.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('task work by program type, task, field, map and callback (fixtures/c/locks/taskwork.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('locks', 'taskwork.c', 'locks.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('timers, workqueues and task work in inner maps (fixtures/c/locks/innermaps.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('locks', 'innermaps.c', 'locks.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('timer callbacks that arm timers and loop over their map (fixtures/c/locks/timers.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('locks', 'timers.c', 'locks.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
});
