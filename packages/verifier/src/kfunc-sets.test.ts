import { kfuncs } from '@bpf/btf';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { KFUNC_SETS } from './kfunc-sets.js';
import { KFUNC_FILTERS, kfuncInfo, kfuncPermitted } from './kfuncs.js';
import { haveVmlinux, kernelBtf } from './kernel.test.helper.js';

describe('kfunc-sets.ts (scripts/gen-kfuncs.mjs) against the running kernel', () => {
  it.skipIf(skipWithout('kernel') || !haveVmlinux())("covers every kfunc the kernel's BTF tags bpf_kfunc", () => {
    const tagged = [...kfuncs(kernelBtf()).keys()].sort();
    expect(tagged.length).toBeGreaterThan(100);
    expect(tagged.filter((n) => KFUNC_SETS[n] === undefined)).toEqual([]);
    // and the table names no kfunc this kernel lacks (the configuration was read right)
    // (an fmod_ret target only need not be a kfunc: net/socket.c's update_socket_protocol is a plain function)
    expect(Object.keys(KFUNC_SETS).filter((n) => !tagged.includes(n) && !(KFUNC_SETS[n]!.fmodret && KFUNC_SETS[n]!.types?.length === 0))).toEqual([]);
  });
});

describe('kfuncs.ts takes its kfuncs from the table', () => {
  const rows = Object.entries(KFUNC_SETS);
  it('models every set filter the table names (KFUNC_FILTERS)', () => {
    const named = [...new Set(rows.flatMap(([, r]) => (r.filter === undefined ? [] : typeof r.filter === 'string' ? [r.filter] : r.filter)))].sort();
    expect(named.filter((f) => KFUNC_FILTERS[f] === undefined)).toEqual([]);
    expect(named.length).toBeGreaterThanOrEqual(3);
  });
  it("the flags are the table's, the four special kfuncs aside", () => {
    for (const [name, r] of rows) expect(kfuncInfo(name)?.flags.filter((f) => !['rcu_lock', 'rcu_unlock', 'preempt_disable', 'preempt_enable'].includes(f))).toEqual(r.flags);
    expect(kfuncInfo('bpf_rcu_read_lock')?.flags).toEqual(['rcu_lock']);
    expect(kfuncInfo('bpf_no_such_kfunc')).toBeUndefined();
  });
  it('iterator kfuncs are flagged as their names say (btf_check_iter_kfuncs)', () => {
    for (const [name, r] of rows) {
      const op = /^bpf_iter_\w+_(new|next|destroy)$/.exec(name)?.[1];
      expect([name, r.flags.filter((f) => f.startsWith('iter_'))]).toEqual([name, op === undefined ? [] : [`iter_${op}`]]);
    }
  });
  it('program types by kfunc hook, then the filters (btf_kfunc_id_set_contains)', () => {
    const ok = (name: string, type: Parameters<typeof kfuncPermitted>[1], attach?: Parameters<typeof kfuncPermitted>[2]) => kfuncPermitted(kfuncInfo(name)!, type, attach);
    // the common hook: every type; the generic set: tracing's hook has LSM, tracepoint and perf_event programs
    expect(ok('bpf_rcu_read_lock', 'sk_msg')).toBe(true);
    expect(['tracepoint', 'perf_event', 'lsm', 'sched_cls', 'cgroup_sock'].every((t) => ok('bpf_task_from_pid', t as 'tracepoint'))).toBe(true);
    expect(['socket_filter', 'sk_msg', 'kprobe', 'sched_act', 'raw_tracepoint'].some((t) => ok('bpf_task_from_pid', t as 'kprobe'))).toBe(false);
    // a set registered for one cgroup type is in the cgroup hook, for all of them
    expect(ok('bpf_sock_addr_set_sun_path', 'cgroup_skb')).toBe(true);
    expect(ok('bpf_sock_ops_enable_tx_tstamp', 'cgroup_sysctl')).toBe(true);
    expect(ok('bpf_sock_ops_enable_tx_tstamp', 'sched_cls')).toBe(false);
    // net/bpf/test_run.c's fmod_ret targets (register_btf_fmodret_id_set): no program calls them
    expect(['tracing', 'kprobe', 'syscall', 'sched_cls'].some((t) => ok('bpf_fentry_test1', t as 'kprobe') || ok('bpf_modify_return_test', t as 'kprobe'))).toBe(false);
    expect(ok('bpf_modify_return_test_tp', 'xdp')).toBe(true);
    // filters
    expect([ok('bpf_sock_destroy', 'tracing', 'trace_iter'), ok('bpf_sock_destroy', 'tracing', 'trace_raw_tp')]).toEqual([true, false]);
    expect([ok('bpf_session_cookie', 'kprobe', 'trace_kprobe_session'), ok('bpf_session_cookie', 'kprobe', 'trace_uprobe_session'), ok('bpf_session_cookie', 'kprobe')]).toEqual([true, true, false]);
    expect([ok('bpf_get_task_exe_file', 'lsm'), ok('bpf_get_task_exe_file', 'tracing', 'trace_iter')]).toEqual([true, false]);
  });
});
