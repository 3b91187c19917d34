import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findByName } from '@bpf/btf';
import { assemble, type ProgType } from '@bpf/isa';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, haveVmlinux, kernelBtf, kernelHelpers, kernelVerdict } from './kernel.test.helper.js';

const DECLS = `
.kfunc bpf_task_from_pid(s32 pid) struct task_struct *
.kfunc bpf_task_acquire(struct task_struct *p) struct task_struct *
.kfunc bpf_task_release(struct task_struct *p) void
.kfunc bpf_rcu_read_lock() void
.kfunc bpf_rcu_read_unlock() void
`;
const run = (body: string, type: ProgType = 'tracing', license?: string) => verify(assemble(DECLS + body), { type, ...(license !== undefined ? { license } : {}) });

describe('kfuncs from the table (flags) with declared prototypes', () => {
  it('an acquired task released after its null check is accepted', () => {
    const r = run('r1 = 1\ncall bpf_task_from_pid\nif r0 == 0 goto out\nr1 = r0\ncall bpf_task_release\nout:\nr0 = 0\nexit');
    expect(r.error?.message).toBeUndefined();
  });
  it('a leak names the reference and where it was acquired', () => {
    const r = run('r1 = 1\ncall bpf_task_from_pid\nr0 = 0\nexit');
    expect(r.error?.message).toBe('BPF_EXIT instruction in main prog would lead to reference leak');
    expect(r.log).toContain('Unreleased reference id=2 alloc_insn=1\n');
  });
  it('a KF_RET_NULL pointer must be null-checked before a trusted argument', () => {
    expect(run('r1 = 1\ncall bpf_task_from_pid\nr1 = r0\ncall bpf_task_release\nr0 = 0\nexit').error?.message).toBe('Possibly NULL pointer passed to trusted arg0');
  });
  it('releasing twice: the released pointer is a scalar by then', () => {
    const r = run('r1 = 1\ncall bpf_task_from_pid\nif r0 == 0 goto out\nr6 = r0\nr1 = r6\ncall bpf_task_release\nr1 = r6\ncall bpf_task_release\nout:\nr0 = 0\nexit');
    expect(r.error?.message).toBe('arg#0 pointer type STRUCT task_struct must point to scalar, or struct with scalar');
  });
  it('releasing a pointer that was not acquired', () => {
    expect(run('call bpf_get_current_task_btf\nr1 = r0\ncall bpf_task_release\nr0 = 0\nexit').error?.message).toBe('release kernel function bpf_task_release expects refcounted PTR_TO_BTF_ID');
  });
  it('KF_RCU | KF_ACQUIRE on a trusted pointer, then release', () => {
    expect(run('call bpf_get_current_task_btf\nr1 = r0\ncall bpf_task_acquire\nif r0 == 0 goto out\nr1 = r0\ncall bpf_task_release\nout:\nr0 = 0\nexit').accepted).toBe(true);
  });
  it('the RCU read-side region: nested, unmatched, still held at exit', () => {
    expect(run('call bpf_rcu_read_lock\ncall bpf_rcu_read_unlock\nr0 = 0\nexit').accepted).toBe(true);
    expect(run('call bpf_rcu_read_lock\ncall bpf_rcu_read_lock\nr0 = 0\nexit').error?.message).toBe('nested rcu read lock (kernel function bpf_rcu_read_lock)');
    expect(run('call bpf_rcu_read_unlock\nr0 = 0\nexit').error?.message).toBe('unmatched rcu read unlock (kernel function bpf_rcu_read_unlock)');
    expect(run('call bpf_rcu_read_lock\nr0 = 0\nexit').error?.message).toBe('BPF_EXIT instruction in main prog cannot be used inside bpf_rcu_read_lock-ed region');
  });
  it('program types: the generic set is not for socket filters; the common set is', () => {
    expect(run('r1 = 1\ncall bpf_task_from_pid\nr0 = 0\nexit', 'socket_filter').error?.message).toBe('calling kernel function bpf_task_from_pid is not allowed');
    expect(run('call bpf_rcu_read_lock\ncall bpf_rcu_read_unlock\nr0 = 0\nexit', 'socket_filter').accepted).toBe(true);
  });
  it('a non-GPL program may not call kfuncs', () => {
    expect(run('call bpf_rcu_read_lock\ncall bpf_rcu_read_unlock\nr0 = 0\nexit', 'tracing', 'MIT').error?.message).toBe('cannot call kernel function from non-GPL compatible program');
  });
});

/** C programs: each one's verdict and message against the running kernel's. */
const KFUNC_C = `#include "bpf_defs.h"
/* the kernel's structs as complete types (members unused, task_struct's given below): a
   kfunc's prototype matches the kernel's only through pointers to structs, not to forward
   declarations (libbpf and cilium/ebpf refuse the object or program otherwise) */
struct task_struct;
struct cgroup {};
struct bpf_cpumask {};
extern struct task_struct *bpf_task_from_pid(__s32 pid) __ksym;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern struct cgroup *bpf_cgroup_from_id(__u64 cgid) __ksym;
extern void bpf_cgroup_release(struct cgroup *cgrp) __ksym;
extern struct cgroup *bpf_cgroup_acquire(struct cgroup *cgrp) __ksym;
extern struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
extern void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern int bpf_copy_from_user_str(void *dst, __u32 dst__sz, const void *unsafe_ptr__ign, __u64 flags) __ksym;
extern void *bpf_obj_new_impl(__u64 local_type_id__k, void *meta__ign) __ksym;
extern void bpf_obj_drop_impl(void *p__alloc, void *meta__ign) __ksym;
struct foo { int a; long b; };
#define bpf_obj_new(type) ((type *)bpf_obj_new_impl(__builtin_btf_type_id(*(type *)0, 0), 0))
#define TP SEC("tp_btf/task_newtask")
TP int task_ok(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; bpf_task_release(t); return 1; }
TP int task_leak(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; return 1; }
TP int task_nocheck(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); bpf_task_release(t); return 1; }
TP int task_double(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; bpf_task_release(t); bpf_task_release(t); return 1; }
TP int cur_release(void *ctx) { bpf_task_release(bpf_get_current_task_btf()); return 0; }
TP int cur_acquire(void *ctx) { struct task_struct *t = bpf_task_acquire(bpf_get_current_task_btf()); if (t) bpf_task_release(t); return 0; }
TP int cg_ok(void *ctx) {
  struct cgroup *c = bpf_cgroup_from_id(1);
  if (!c) return 0;
  struct cgroup *d = bpf_cgroup_acquire(c);
  bpf_cgroup_release(c);
  if (d) bpf_cgroup_release(d);
  return 0;
}
TP int cg_leak2(void *ctx) {
  struct cgroup *c = bpf_cgroup_from_id(1);
  if (!c) return 0;
  struct cgroup *d = bpf_cgroup_acquire(c);
  bpf_cgroup_release(c);
  return d != 0;
}
TP int cg_wrong_type(void *ctx) { struct cgroup *c = bpf_cgroup_from_id(1); if (c) bpf_task_release((void *)c); return 0; }
TP int mask_ok(void *ctx) { struct bpf_cpumask *m = bpf_cpumask_create(); if (m) bpf_cpumask_release(m); return 0; }
TP int mask_leak(void *ctx) { struct bpf_cpumask *m = bpf_cpumask_create(); return m != 0; }
TP int rcu_ok(void *ctx) { bpf_rcu_read_lock(); bpf_rcu_read_unlock(); return 0; }
TP int rcu_unmatched(void *ctx) { bpf_rcu_read_unlock(); return 0; }
TP int rcu_nested(void *ctx) { bpf_rcu_read_lock(); bpf_rcu_read_lock(); bpf_rcu_read_unlock(); bpf_rcu_read_unlock(); return 0; }
TP int rcu_noexit(void *ctx) { bpf_rcu_read_lock(); return 0; }
SEC("socket") int sock_kfunc(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (t) bpf_task_release(t); return 0; }
SEC("socket") int sock_rcu(void *ctx) { bpf_rcu_read_lock(); bpf_rcu_read_unlock(); return 0; }
SEC("syscall") int sys_task(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (t) bpf_task_release(t); return 0; }
SEC("syscall") int sys_mask(void *ctx) { struct bpf_cpumask *m = bpf_cpumask_create(); if (m) bpf_cpumask_release(m); return 0; }
SEC("tc") int tc_task(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (t) bpf_task_release(t); return 0; }
SEC("tc") int tc_mask(void *ctx) { struct bpf_cpumask *m = bpf_cpumask_create(); if (m) bpf_cpumask_release(m); return 0; }
SEC("xdp") int xdp_cg(void *ctx) { struct cgroup *c = bpf_cgroup_from_id(1); if (c) bpf_cgroup_release(c); return 0; }
SEC("kprobe/do_nanosleep") int kp_task(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (t) bpf_task_release(t); return 0; }
SEC("cgroup_skb/ingress") int cgskb_task(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (t) bpf_task_release(t); return 1; }
TP int sl_nonsleep(void *ctx) { char buf[16]; return bpf_copy_from_user_str(buf, sizeof(buf), (void *)0x1000, 0); }
SEC("syscall") int sl_ok(void *ctx) { char buf[16]; return bpf_copy_from_user_str(buf, sizeof(buf), (void *)0x1000, 0); }
SEC("syscall") int sl_in_rcu(void *ctx) { char buf[16]; bpf_rcu_read_lock(); int r = bpf_copy_from_user_str(buf, sizeof(buf), (void *)0x1000, 0); bpf_rcu_read_unlock(); return r; }
SEC("syscall") int sl_bigsz(void *ctx) { char buf[16]; return bpf_copy_from_user_str(buf, 32, (void *)0x1000, 0); }
struct task_struct { int pid; struct task_struct *parent; } __attribute__((preserve_access_index));
TP int tr_pid(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->pid; }
TP int tr_acq(__u64 *ctx) { struct task_struct *t = bpf_task_acquire((void *)ctx[0]); if (t) bpf_task_release(t); return 0; }
TP int tr_parent_acq(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; struct task_struct *p = bpf_task_acquire(t->parent); if (p) bpf_task_release(p); return 0; }
enum pid_type { PIDTYPE_PID };
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type, __u64 value) __ksym;
TP int sig_untrusted(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return bpf_send_signal_task(t->parent, 9, PIDTYPE_PID, 0); }
TP int sig_trusted(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return bpf_send_signal_task(t, 9, PIDTYPE_PID, 0); }
TP int sig_ref(__u64 *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; int r = bpf_send_signal_task(t, 9, PIDTYPE_PID, 0); bpf_task_release(t); return r; }
TP int sig_scalar(__u64 *ctx) { return bpf_send_signal_task((void *)ctx[1], 9, PIDTYPE_PID, 0); }
TP int rcu_parent(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; bpf_rcu_read_lock(); struct task_struct *p = bpf_task_acquire(t->parent); bpf_rcu_read_unlock(); if (p) bpf_task_release(p); return 0; }
TP int tr_write(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; t->pid = 1; return 0; }
TP int tr_parent_pid(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->parent->pid; }
struct sk_buff { unsigned int len; } __attribute__((preserve_access_index));
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
SEC("tc") int cast_ok(struct __sk_buff *skb) { struct sk_buff *k = bpf_cast_to_kern_ctx(skb); return k->len; }
SEC("tc") int cast_bad(struct __sk_buff *skb) { int x = 0; struct sk_buff *k = bpf_cast_to_kern_ctx(&x); return k->len; }
SEC("socket") int cast_sock(struct __sk_buff *skb) { struct sk_buff *k = bpf_cast_to_kern_ctx(skb); return k->len; }
SEC("tc") int obj_ok(void *ctx) { struct foo *f = bpf_obj_new(struct foo); if (!f) return 0; f->a = 1; bpf_obj_drop_impl(f, 0); return 0; }
SEC("tc") int obj_leak(void *ctx) { struct foo *f = bpf_obj_new(struct foo); if (!f) return 0; f->a = 1; return 0; }
SEC("tc") int obj_nocheck(void *ctx) { struct foo *f = bpf_obj_new(struct foo); bpf_obj_drop_impl(f, 0); return 0; }
SEC("tc") int obj_drop_task(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (t) bpf_obj_drop_impl(t, 0); return 0; }
/* cilium/ebpf's testdata/kfunc.c shape: struct bpf_sock_tuple is a union of scalar structs,
   which __btf_type_is_scalar_struct takes as memory (btf_type_is_struct covers unions) */
struct bpf_sock_tuple {};
struct bpf_ct_opts {};
struct nf_conn {};
extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *t, __u32 t__sz, struct bpf_ct_opts *o, __u32 o__sz) __ksym;
extern void bpf_ct_release(struct nf_conn *c) __ksym;
SEC("tc") int ct_union_tuple(void *ctx) { char buf[64] = {}; struct nf_conn *c = bpf_skb_ct_lookup(ctx, (void *)buf, 0, (void *)buf, 0); if (c) bpf_ct_release(c); return 0; }
SEC("tc") int ct_union_sized(void *ctx) { char buf[64] = {}; struct nf_conn *c = bpf_skb_ct_lookup(ctx, (void *)buf, 12, (void *)buf, 16); if (c) bpf_ct_release(c); return 0; }
SEC("tc") int ct_leak(void *ctx) { char buf[64] = {}; struct nf_conn *c = bpf_skb_ct_lookup(ctx, (void *)buf, 12, (void *)buf, 16); return c != 0; }
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('kfuncs with prototypes from vmlinux BTF, tp_btf arguments typed from BTF: the kernel verdict and message, program by program', () => {
  const programs = buildC(KFUNC_C);
  it.each(programs.map((p) => [p.name, p] as const))('%s', (_n, p) => {
    const kernel = kernelVerdict(p, { logLevel: 2 });
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
    // the level-2 log line for line, byte for byte
    const lines = (log: string): string[] =>
      log.split('\n').filter((l) => l !== '' && !/^( |;|Live regs|func#\d+ @|\(\d+\) |processed |arg#0 reference type\('UNKNOWN '\))/.test(l));
    expect(lines(ours.log)).toEqual(lines(kernel.log));
    // a leak lists the same unreleased references
    const leaks = (log: string): string[] => log.split('\n').filter((l) => l.startsWith('Unreleased reference'));
    expect(leaks(ours.log)).toEqual(leaks(kernel.log));
  });
  it('covers accepted and rejected programs', () => {
    expect(programs.length).toBeGreaterThanOrEqual(20);
  });
  it('a non-GPL program may not call kfuncs (the kernel agrees)', () => {
    const p = programs.find((x) => x.name === 'rcu_ok')!;
    const kernel = kernelVerdict(p, { license: 'Proprietary' });
    expect(verify({ ...p, license: 'Proprietary' }, { kernelBtf: kernelBtf() }).error?.message).toBe(kernel.error);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('kfunc sets with a filter (fixtures/c/kfuncs/filters.c): refused before the arguments, as the running kernel refuses them', () => {
  const programs = buildC(readFileSync(join(fixturesDir, 'c/kfuncs/filters.c'), 'utf8'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p));
  it('covers the fs, session and socket-destroy filters, refusing and letting through', () => {
    expect(programs.map((p) => p.name).sort()).toEqual(['cookie_in_kprobe', 'cookie_in_session', 'destroy_in_iter', 'destroy_in_tp_btf', 'exe_file_in_iter']);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('registers that stand for kernel structs (fixtures/c/kfuncs/regbtf.c): map pointers and sockets as kfunc arguments, as the running kernel takes them', () => {
  const programs = buildC(readFileSync(join(fixturesDir, 'c/kfuncs/regbtf.c'), 'utf8'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p));
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('kfunc arguments kind by kind (fixtures/c/kfuncs/args.c): offsets, constant strings, maps, untrusted BTF pointers, as the running kernel checks them', () => {
  const programs = buildC(readFileSync(join(fixturesDir, 'c/kfuncs/args.c'), 'utf8'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p));
  it('covers every argument kind it names, refusing and accepting', () => {
    expect(programs.length).toBeGreaterThanOrEqual(60);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('kfunc hooks by program type (fixtures/c/kfuncs/hooks.c): the generated table\'s registrations, as the running kernel looks them up', () => {
  const programs = buildC(readFileSync(join(fixturesDir, 'c/kfuncs/hooks.c'), 'utf8'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p));
  it('refuses in types a set is not registered for and fmod_ret targets everywhere, lets through types sharing a hook, and a filter refuses', () => {
    expect(programs.length).toBe(13);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('every kfunc argument trusted on the running kernel (fixtures/c/kfuncs/trusted.c), unlike its 6.18 sources', () => {
  const programs = buildC(readFileSync(join(fixturesDir, 'c/kfuncs/trusted.c'), 'utf8'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p));
});

describe.skipIf(!haveVmlinux())('kfuncAvailable: a kernel that does not let the program type call a kfunc its sources allow', () => {
  it('refuses the call before any argument, as fetch_kfunc_meta does, and asks only of kfuncs the tables allow', () => {
    const btf = kernelBtf();
    const id = findByName(btf, 'bpf_task_acquire', 'FUNC')[0]!;
    const insns = [
      { code: 0x85, dst: 0, src: 2, off: 0, imm: id },
      { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 },
      { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
    ];
    const asked: number[] = [];
    const refused = verify({ insns }, { type: 'syscall', sleepable: true, kernelBtf: btf, kfuncAvailable: (k) => (asked.push(k), false) });
    expect(refused.error).toMatchObject({ insn: 0, message: 'calling kernel function bpf_task_acquire is not allowed' });
    expect(asked).toEqual([id]);
    // allowed, the call goes on to its argument (R1 was never written)
    const allowed = verify({ insns }, { type: 'syscall', sleepable: true, kernelBtf: btf, kfuncAvailable: () => true });
    expect(allowed.error?.message).not.toContain('is not allowed');
    expect(allowed.error?.message).toBe(verify({ insns }, { type: 'syscall', sleepable: true, kernelBtf: btf }).error?.message);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('a kfunc the running kernel keeps from the program type: ours asked as bpf verify asks', () => {
  // the arena kfuncs, which Linux 6.18's sources register for every program type; this machine
  // kind's kernel refuses them to all (`calling kernel function ... is not allowed`), and where a
  // kernel allows them the call goes on to its arguments, ours as the kernel's
  const programs = buildC(`#include "bpf_defs.h"
struct bpf_map;
extern void *bpf_arena_alloc_pages(void *map, void *addr, __u32 page_cnt, int node_id, __u64 flags) __attribute__((section(".ksyms")));
char _license[] SEC("license") = "GPL";
SEC("syscall") int arena_without_map(void *ctx) { return bpf_arena_alloc_pages(0, 0, 1, -1, 0) != 0; }
`);
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => {
    const kernel = kernelVerdict(p);
    const ours = verify(p, { kernelBtf: kernelBtf(), ...kernelHelpers(p) });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
  });
});
