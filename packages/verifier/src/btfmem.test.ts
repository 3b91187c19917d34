import { BtfBuilder } from '@bpf/btf';
import { assemble } from '@bpf/isa';
import { comparableLines, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, haveVmlinux, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

/** A kernel BTF of our own whose task_struct has `__rcu`, `__user` and `__percpu` pointer members (as clang-built kernels carry them). */
function taggedBtf() {
  const b = new BtfBuilder();
  const int = b.int('int', 4, true);
  const task = b.add({ kind: 'STRUCT', nameOff: b.str('task_struct'), kindFlag: false, vlen: 4, sizeOrType: 32, members: [] });
  const tagged = (tag: string): number => b.ptr(b.add({ kind: 'TYPE_TAG', nameOff: b.str(tag), kindFlag: false, vlen: 0, sizeOrType: task }));
  const members = [
    { nameOff: b.str('pid'), type: int, offset: 0 },
    { nameOff: b.str('rcu_parent'), type: tagged('rcu'), offset: 64 },
    { nameOff: b.str('uptr'), type: tagged('user'), offset: 128 },
    { nameOff: b.str('pcpu'), type: tagged('percpu'), offset: 192 },
  ];
  (b as unknown as { types: unknown[] }).types[task - 1] = { kind: 'STRUCT', nameOff: b.str('task_struct'), kindFlag: false, vlen: 4, sizeOrType: 32, members };
  return b.build();
}

// only fentry/fexit/fmod_ret/iter tracing programs may sleep (check_attach_btf_id)
const walk = (field: number, sleepable = false, body = '') =>
  verify(assemble(`call bpf_get_current_task_btf\n${body}r1 = *(u64 *)(r0 + ${field})\nr0 = *(u32 *)(r1 + 0)\nr0 = 0\nexit`), { type: 'tracing', kernelBtf: taggedBtf(), logLevel: 2, sleepable, ...(sleepable ? { attachType: 'trace_fentry' } : {}) });

describe('type tags on the members a walk reads (btf_struct_walk, check_ptr_to_btf_access)', () => {
  it('__rcu inside an RCU read-side section (a non-sleepable program) is rcu_ptr_or_null_, to be null-checked', () => {
    const r = walk(8);
    expect(r.log).toContain('R1=rcu_ptr_or_null_task_struct(id=1)');
    expect(r.error?.message).toBe("R1 invalid mem access 'rcu_ptr_or_null_'");
  });
  it('__rcu outside one (sleepable, no bpf_rcu_read_lock) is untrusted', () => {
    const r = walk(8, true);
    expect(r.log).toContain('R1=untrusted_ptr_task_struct()');
    expect(r.accepted).toBe(true);
  });
  it('__user and __percpu pointers cannot be dereferenced', () => {
    const u = walk(16);
    expect(u.log).toContain('R1=user_ptr_task_struct()');
    expect(u.error?.message).toBe('R1 is ptr_task_struct access user memory: off=0');
    const p = walk(24);
    expect(p.log).toContain('R1=percpu_ptr_task_struct()');
    expect(p.error?.message).toBe('R1 is ptr_task_struct access percpu memory: off=0');
  });
});

/** Walks through kernel structs: the trust of each pointer read, against the running kernel. */
const WALK_C = `#include "bpf_defs.h"
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
struct task_struct;
extern struct task_struct *bpf_task_from_pid(__s32 pid) __ksym;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
struct mm_struct { unsigned long task_size; struct file *exe_file; } __attribute__((preserve_access_index));
struct file { void *f_inode; } __attribute__((preserve_access_index));
struct task_struct { int pid; struct task_struct *parent; struct task_struct *real_parent; struct task_struct *group_leader; struct mm_struct *mm; } __attribute__((preserve_access_index));
#define TP SEC("tp_btf/task_newtask")
TP int w_parent(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->parent->pid; }
TP int w_real_parent(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->real_parent->pid; }
TP int w_leader(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->group_leader->pid; }
TP int w_mm(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->mm->task_size; }
TP int w_cur_mm_exe(__u64 *ctx) { struct task_struct *t = bpf_get_current_task_btf(); return t->mm->exe_file != 0; }
TP int w_rp_rp(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->real_parent->real_parent->pid; }
TP int w_rp_parent(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->real_parent->parent->pid; }
TP int w_parent_rp(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->parent->real_parent->pid; }
TP int w_rp_acq(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; struct task_struct *p = bpf_task_acquire(t->real_parent); if (p) bpf_task_release(p); return 0; }
TP int w_unlock_acq(__u64 *ctx) {
  struct task_struct *t = (void *)ctx[0];
  bpf_rcu_read_lock();
  struct task_struct *p = t->real_parent;
  bpf_rcu_read_unlock();
  p = bpf_task_acquire(p);
  if (p) bpf_task_release(p);
  return 0;
}
SEC("syscall") int s_parent(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; int r = t->parent->pid; bpf_task_release(t); return r; }
SEC("syscall") int s_rp(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; int r = t->real_parent->pid; bpf_task_release(t); return r; }
SEC("syscall") int s_rcu_rp(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; bpf_rcu_read_lock(); int r = t->real_parent->pid; bpf_rcu_read_unlock(); bpf_task_release(t); return r; }
SEC("syscall") int s_rcu_parent(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; bpf_rcu_read_lock(); int r = t->parent->pid; bpf_rcu_read_unlock(); bpf_task_release(t); return r; }
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('pointers read from kernel structs: trusted, rcu, untrusted as the running kernel types them', () => {
  const programs = buildC(WALK_C);
  it.each(programs.map((p) => [p.name, p] as const))('%s', (_n, p) => {
    const kernel = kernelVerdict(p, { logLevel: 2 });
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
    const lines = (log: string): string[] =>
      log.split('\n').filter((l) => l !== '' && !/^( |;|Live regs|func#\d+ @|\(\d+\) |processed |arg#0 reference type\('UNKNOWN '\))/.test(l));
    expect(lines(ours.log)).toEqual(lines(kernel.log));
  });
  it('covers every program', () => {
    expect(programs.length).toBe(14);
  });
});

/**
 * Pointers walked from plain (old-compat) pointers: the `bpf_prog` and `bpf_link` iterators'
 * context pointers carry no PTR_TRUSTED, and a map pointer is read as its `struct bpf_map`.
 * The 6.18 sources give the pointers read through them a plain `ptr_`; the running 6.18.y
 * kernel gives `untrusted_ptr_` (as tetragon's bpf_prog_iter.o showed).
 */
const PLAIN_C = `#include "bpf_defs.h"
struct bpf_prog_aux { unsigned int id; } __attribute__((preserve_access_index));
struct bpf_prog { struct bpf_prog_aux *aux; } __attribute__((preserve_access_index));
struct bpf_map { struct bpf_map *inner_map_meta; unsigned int id; } __attribute__((preserve_access_index));
struct bpf_array { struct bpf_map map; } __attribute__((preserve_access_index));
struct bpf_link { struct bpf_prog *prog; } __attribute__((preserve_access_index));
struct bpf_iter__bpf_prog { void *meta; struct bpf_prog *prog; } __attribute__((preserve_access_index));
struct bpf_iter__bpf_map { void *meta; struct bpf_map *map; } __attribute__((preserve_access_index));
struct bpf_iter__bpf_link { void *meta; struct bpf_link *link; } __attribute__((preserve_access_index));
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, long); } arr SEC(".maps");
#define USE(x) asm volatile("" :: "r"(x))
SEC("iter/bpf_prog") int p_prog_aux(struct bpf_iter__bpf_prog *ctx) { struct bpf_prog *p = ctx->prog; if (!p) return 0; USE(p->aux->id); return 0; }
SEC("iter/bpf_link") int p_link_prog(struct bpf_iter__bpf_link *ctx) { struct bpf_link *l = ctx->link; if (!l) return 0; USE(l->prog->aux->id); return 0; }
SEC("iter.s/bpf_link") int p_link_prog_sleepable(struct bpf_iter__bpf_link *ctx) { struct bpf_link *l = ctx->link; if (!l) return 0; USE(l->prog->aux->id); return 0; }
SEC("iter/bpf_map") int p_map_inner(struct bpf_iter__bpf_map *ctx) { struct bpf_map *m = ctx->map; if (!m) return 0; struct bpf_map *i = m->inner_map_meta; if (!i) return 0; USE(i->inner_map_meta); return 0; }
SEC("kprobe/do_nanosleep") int p_map_ptr(void *ctx) { struct bpf_array *a = (void *)&arr; struct bpf_map *i = a->map.inner_map_meta; if (!i) return 0; USE(i->id); return 0; }
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('pointers walked from plain pointers, against the running kernel', () => {
  const programs = buildC(PLAIN_C);
  it.each(programs.map((p) => [p.name, p] as const))('%s', (_n, p) => {
    const kernel = kernelVerdict(p, { logLevel: 2 });
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
    const lines = (log: string): string[] => comparableLines(log, /^(mark_precise|verification time|stack depth)/);
    expect(lines(ours.log)).toEqual(lines(kernel.log));
  });
  it('covers every program', () => {
    expect(programs.length).toBe(5);
  });
});

/**
 * BPF_PROBE_MEM loads through BTF pointers (check_ptr_to_btf_access, btf_struct_walk): chains
 * such as task->group_leader->mm, bpf_get_current_task_btf and bpf_task_pt_regs, in tp_btf and
 * (sleepable) iterator programs; constant and variable offsets, negative and out-of-struct
 * reads, holes in anonymous structs, pointer members to non-structs (untrusted read-only
 * memory), null checks on trusted and untrusted pointers, pointer comparisons and subtraction.
 */
const PROBE_C = `#include "bpf_defs.h"
struct linux_binprm { const char *filename; } __attribute__((preserve_access_index));
struct pt_regs { unsigned long di; unsigned long ip; } __attribute__((preserve_access_index));
struct mm_struct { unsigned long task_size; unsigned long start_stack; } __attribute__((preserve_access_index));
struct file { unsigned int f_mode; } __attribute__((preserve_access_index));
struct task_struct { int pid; int tgid; struct task_struct *real_parent; struct task_struct *group_leader; struct mm_struct *mm; struct file *exe_file; } __attribute__((preserve_access_index));
static struct pt_regs *(*bpf_task_pt_regs)(struct task_struct *task) = (void *)175;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
#define TP SEC("tp_btf/task_newtask")
#define USE(x) asm volatile("" :: "r"(x))
TP int a_regs(__u64 *ctx) { struct task_struct *t = bpf_get_current_task_btf(); struct pt_regs *r = bpf_task_pt_regs(t); return r->ip & 1; }
TP int a_regs_untrusted(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; struct pt_regs *r = bpf_task_pt_regs(t->real_parent); return r->ip & 1; }
TP int a_chain(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->group_leader->mm->task_size & 1; }
TP int a_arith(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; char *p = (char *)t; p += 4; return *(int *)p; }
TP int a_arith_var(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; char *p = (char *)t; p += ctx[1] & 0xf; return *(char *)p; }
TP int a_sub(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; char *p = (char *)t; p -= 8; return *(int *)p; }
TP int a_null_cmp(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; struct mm_struct *mm = t->mm; if (!mm) return 0; return mm->task_size & 1; }
TP int a_ptr_cmp(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->real_parent == t->group_leader; }
TP int a_neg(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return *(int *)((char *)t - 100000); }
TP int a_big(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return *(int *)((char *)t + 100000); }
TP int a_probe(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; int pid = 0; bpf_probe_read_kernel(&pid, 4, &t->real_parent->pid); return pid; }
SEC("iter/task") int i_chain(__u64 *ctx) { struct task_struct *t = (void *)ctx[1]; if (!t) return 0; struct mm_struct *mm = t->mm; USE(mm ? mm->start_stack : 0); return 0; }
SEC("iter.s/task") int is_chain(__u64 *ctx) { struct task_struct *t = (void *)ctx[1]; if (!t) return 0; USE(t->real_parent->pid); return 0; }
SEC("iter.s/task") int is_regs(__u64 *ctx) { struct task_struct *t = (void *)ctx[1]; if (!t) return 0; struct pt_regs *r = bpf_task_pt_regs(t); USE(r->ip); return 0; }
SEC("iter/task_file") int i_file(__u64 *ctx) { struct task_struct *t = (void *)ctx[1]; struct file *f = (void *)ctx[3]; if (!t || !f) return 0; USE(t->exe_file == f); return 0; }
TP int b_null_arith(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; struct mm_struct *mm = t->mm; char *p = (char *)mm + 8; return *(long *)p & 1; }
TP int b_trusted_null(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; if (!t) return 1; return t->pid & 1; }
TP int b_untrusted_null(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; struct task_struct *p = t->real_parent; if (!p) return 1; return p->pid & 1; }
TP int b_write(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; t->pid = 0; return 0; }
TP int b_leak(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return (long)t->real_parent; }
TP int b_sub_ptrs(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return (char *)t->real_parent - (char *)t; }
TP int b_curr_mm(__u64 *ctx) { struct task_struct *t = bpf_get_current_task_btf(); if (t->mm == 0) return 0; return t->mm->start_stack & 1; }
SEC("tp_btf/sched_process_exec") int c_charp_member(__u64 *ctx) { struct linux_binprm *b = (void *)ctx[2]; return b->filename[3]; }
SEC("tp_btf/sched_process_exec") int c_charp_member_write(__u64 *ctx) { struct linux_binprm *b = (void *)ctx[2]; ((char *)b->filename)[0] = 0; return 0; }
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('BPF_PROBE_MEM loads and chains against the running kernel', () => {
  const programs = buildC(PROBE_C);
  it.each(programs.map((p) => [p.name, p] as const))('%s', (_n, p) => {
    const kernel = kernelVerdict(p, { logLevel: 2 });
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
    const processed = (log: string): string | undefined => /processed (\d+) insns/.exec(log)?.[1];
    expect({ accepted: ours.accepted, error: ours.error?.message, processed: String(ours.stats.processedInsns) }).toEqual({
      accepted: kernel.accepted,
      error: kernel.error,
      processed: processed(kernel.log),
    });
    const lines = (log: string): string[] =>
      log.split('\n').filter((l) => l !== '' && !/^( |;|Live regs|func#\d+ @|\(\d+\) |processed |arg#0 reference type\('UNKNOWN '\)|mark_precise|verification time|stack depth)/.test(l));
    expect(lines(ours.log)).toEqual(lines(kernel.log));
  });
  it('covers every program', () => {
    expect(programs.length).toBe(24);
  });
});
