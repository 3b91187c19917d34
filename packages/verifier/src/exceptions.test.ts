import { btfString, parseBtf, writeBtf, type Btf } from '@bpf/btf';
import type { Program } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux } from './kernel.test.helper.js';

/** A copy of `p` whose BTF has `from` (a whole string of its string section) renamed `to`, of the same length. */
function renamed(p: Program, from: string, to: string): Program {
  const bytes = p.btf!.bytes.slice();
  const at = Buffer.from(bytes).indexOf(Buffer.from(`${from}\0`));
  expect(at).toBeGreaterThan(0);
  bytes.set(Buffer.from(to), at);
  return { ...p, btf: { bytes } };
}

/** A copy of `p` whose BTF FUNC `name` has static linkage. */
function madeStatic(p: Program, name: string): Program {
  const btf = parseBtf(p.btf!.bytes);
  const types = btf.types.map((t) => (t?.kind === 'FUNC' && btfString(btf, t.nameOff) === name ? { ...t, vlen: 0 } : t));
  return { ...p, btf: { bytes: writeBtf({ ...btf, types } as Btf) } };
}

/** Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree): none. */
const LOG_DIFFERS = new Set<string>([]);

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('exceptions: the kernel verdict, message, processed count and log, program by program', () => {
  const programs = buildC(fixtureSource('exceptions', 'exceptions.c', 'exceptions.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: LOG_DIFFERS, ...(dump ? { dump } : {}) }));
  // the tag's own checks (bpf_find_exception_callback_insn_off), which a libbpf-style loader
  // never lets through: the BTF is edited after linking, and the kernel judges the result
  it.each([
    ['a callback no FUNC has', (p: Program) => renamed(p, 'exception_callback:catch_low_bit', 'exception_callback:catch_low_bix')],
    ['a FUNC of no func_info entry', (p: Program) => renamed(p, 'exception_callback:catch_low_bit', 'exception_callback:catch_rethrow')],
    ['a static callback', (p: Program) => madeStatic(p, 'catch_low_bit')],
  ] as const)('cb_named with %s', (what, edit) => {
    const p = programs.find((x) => x.name === 'cb_named')!;
    expectSameAsKernel(`cb_named (${what})`, edit(p), dump ? { dump } : {});
  });
  it('covers bpf_throw, exception callbacks, what a throw must release, callbacks and assertions', () => {
    expect(programs.length).toBeGreaterThanOrEqual(40);
    expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['throw_default', 'cgroup_cookie_out_of_range', 'throw_in_static', 'cb_named', 'cb_no_arg', 'cb_throws', 'cb_called_directly', 'cb_twice', 'throw_in_rcu', 'throw_holding_record', 'throw_in_loop_cb', 'throw_in_timer_cb', 'require_within_index']));
  });
});
