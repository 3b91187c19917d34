import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux } from './kernel.test.helper.js';

/** Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree): none. */
const LOG_DIFFERS = new Set<string>([]);

const DUMP = process.env.KPTR_DUMP;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('allocated objects and kptrs: the kernel verdict, message, processed count and log, program by program', () => {
  for (const file of ['kptr.c', 'graph.c']) {
    const programs = buildC(fixtureSource('kptr', file, 'kptr.h'));
    it.each(programs.map((p) => [p.name, p] as const))(`${file} %s`, (name, p) => expectSameAsKernel(name, p, { logDiffers: LOG_DIFFERS, ...(DUMP ? { dump: DUMP } : {}) }));
    it(`${file}: covers its accepting and rejecting programs`, () => {
      expect(programs.length).toBeGreaterThanOrEqual(file === 'kptr.c' ? 31 : 13);
    });
  }
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('one kfunc call instruction reached with two object types (fixtures/c/kptr/shared_call.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('kptr', 'shared_call.c', 'kptr.h'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, DUMP ? { dump: DUMP } : {}));
  it('covers plain and field-holding types, equal and different records, drop and refcount_acquire', () => {
    expect(programs.map((p) => p.name)).toEqual(
      expect.arrayContaining(['shared_drop_plain', 'shared_drop_plain_then_node', 'shared_drop_node_then_plain', 'shared_drop_same_fields', 'shared_drop_other_fields', 'shared_acquire_same_fields', 'shared_acquire_other_fields']),
    );
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('rules beside the graph API (fixtures/c/kptr/graph_rules.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('kptr', 'graph_rules.c', 'kptr.h'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, DUMP ? { dump: DUMP } : {}));
  it('covers variable offsets, unchecked nodes, less() calls, anonymous structs and pointer walks', () => {
    expect(programs.map((p) => p.name)).toEqual(
      expect.arrayContaining(['node_var_off', 'head_var_off', 'remove_arith_unchecked', 'add_maybe_null', 'push_maybe_null', 'push_popped_unchecked', 'remove_first_unchecked', 'cb_remove', 'cb_unlock', 'cb_lock', 'anon_lock', 'anon_lock_off', 'walk_struct_ptr', 'walk_fwd_ptr', 'walk_int_ptr']),
    );
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('bpf_list_front/back and bpf_rbtree_root/left/right (fixtures/c/kptr/graph_peek.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('kptr', 'graph_peek.c', 'kptr.h'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, DUMP ? { dump: DUMP } : {}));
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('per-CPU kptrs through bpf_per_cpu_ptr and bpf_this_cpu_ptr (fixtures/c/kptr/percpu.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('kptr', 'percpu.c', 'kptr.h'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, DUMP ? { dump: DUMP } : {}));
});
