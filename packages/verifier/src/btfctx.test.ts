import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, haveVmlinux, kernelApi, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

/** The kernel's log lines both sides print (the listing, liveness and source lines left out). */
const lines = (log: string): string[] =>
  log.split('\n').filter((l) => l !== '' && !/^( |;|Live regs|func#\d+ @|\(\d+\) |processed |arg#0 reference type\('UNKNOWN '\)|mark_precise|verification time|stack depth)/.test(l));
const processed = (log: string): string | undefined => /processed (\d+) insns/.exec(log)?.[1];

type Built = ReturnType<typeof buildC>[number];

/** Verdict, first error, processed instructions and the level-2 log, ours against the kernel's. */
function compare(p: Built): void {
  const kernel = kernelVerdict(p, { logLevel: 2 });
  const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
  expect({ accepted: ours.accepted, error: ours.error?.message, processed: String(ours.stats.processedInsns) }).toEqual({
    accepted: kernel.accepted,
    error: kernel.error,
    processed: processed(kernel.log),
  });
  expect(lines(ours.log)).toEqual(lines(kernel.log));
}

/**
 * tp_btf and iterator programs: every context slot as btf_ctx_access types it — pointers to
 * structs (trusted, nullable per raw_tp_null_args or the iterator's ctx_arg_info), pointers to
 * integers or void (scalars), integers, bools, enums and unions by value, function pointers
 * (refused), the sizes and offsets the kernel allows, and the return ranges.
 */
const CTX_C = `#include "bpf_defs.h"
struct task_struct { int pid; } __attribute__((preserve_access_index));
struct file { unsigned int f_mode; } __attribute__((preserve_access_index));
struct bpf_iter_meta { __u64 seq_num; } __attribute__((preserve_access_index));
#define TP(name) SEC("tp_btf/" #name)
TP(task_newtask) int c_ptr(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return t->pid; }
TP(task_newtask) int c_scalar(__u64 *ctx) { return ctx[1] & 7; }
TP(task_newtask) int c_scalar32(__u64 *ctx) { return *(__u32 *)&ctx[1]; }
TP(task_newtask) int c_scalar8(__u64 *ctx) { return *(__u8 *)&ctx[1]; }
TP(task_newtask) int c_ptr32(__u64 *ctx) { return *(__u32 *)&ctx[0]; }
TP(task_newtask) int c_off12(__u64 *ctx) { return *(__u32 *)((char *)ctx + 12); }
TP(task_newtask) int c_third(__u64 *ctx) { return ctx[2]; }
TP(task_newtask) int c_far(__u64 *ctx) { return ctx[12]; }
TP(task_newtask) int c_ret(__u64 *ctx) { return 3; }
TP(task_newtask) int c_write(__u64 *ctx) { ctx[1] = 0; return 0; }
TP(sched_switch) int c_bool(__u64 *ctx) { struct task_struct *n = (void *)ctx[2]; return (ctx[0] & 1) + n->pid + (ctx[3] & 1); }
TP(sched_pi_setprio) int c_nullable(__u64 *ctx) { struct task_struct *p = (void *)ctx[1]; return p->pid; }
TP(sched_pi_setprio) int c_nullable_ok(__u64 *ctx) { struct task_struct *p = (void *)ctx[1]; return p ? p->pid : 0; }
TP(task_rename) int c_charp(__u64 *ctx) { const char *comm = (void *)ctx[1]; return comm[0]; }
TP(task_rename) int c_charp_scalar(__u64 *ctx) { return ctx[1] != 0; }
TP(initcall_start) int c_funcptr(__u64 *ctx) { return ctx[0] != 0; }
TP(tasklet_entry) int c_voidp(__u64 *ctx) { return ctx[1] != 0; }
TP(tmigr_update_events) int c_union(__u64 *ctx) { return ctx[2] & 1; }
TP(dma_alloc) int c_enum(__u64 *ctx) { return ctx[4] & 1; }
SEC("iter/task") int i_task(__u64 *ctx) { struct task_struct *t = (void *)ctx[1]; return t->pid == 1; }
SEC("iter/task") int i_task_ok(__u64 *ctx) { struct task_struct *t = (void *)ctx[1]; if (!t) return 0; return t->pid == 1; }
SEC("iter/task") int i_meta(__u64 *ctx) { struct bpf_iter_meta *m = (void *)ctx[0]; return m->seq_num & 1; }
SEC("iter/task") int i_ret2(__u64 *ctx) { return 2; }
SEC("iter/task") int i_third(__u64 *ctx) { return ctx[2] & 1; }
SEC("iter/task_file") int i_file(__u64 *ctx) { struct file *f = (void *)ctx[3]; if (!f) return 0; return f->f_mode == 1; }
SEC("iter/task_file") int i_file_null(__u64 *ctx) { struct file *f = (void *)ctx[3]; return f->f_mode == 1; }
SEC("iter/task_file") int i_fd(__u64 *ctx) { return ctx[2] & 1; }
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('tp_btf and iterator context (btf_ctx_access) against the running kernel', () => {
  const programs = buildC(CTX_C);
  it.each(programs.map((p) => [p.name, p] as const))('%s', (_n, p) => compare(p));
  it('covers every program', () => {
    expect(programs.length).toBe(27);
  });
});

/**
 * fentry, fexit, fmod_ret and LSM programs go through the same btf_ctx_access with other
 * trust and return rules. Some machines refuse to load them at all (a security policy answers
 * EPERM before the verifier runs, with an empty log); there the comparison is skipped.
 */
const TRAMP_C = `#include "bpf_defs.h"
struct task_struct { int pid; } __attribute__((preserve_access_index));
struct file { unsigned int f_mode; } __attribute__((preserve_access_index));
#define USE(x) asm volatile("" :: "r"(x))
SEC("fentry/wake_up_new_task") int f_ptr(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; USE(t->pid); return 0; }
SEC("fentry/wake_up_new_task") int f_ret1(__u64 *ctx) { return 1; }
SEC("fentry/wake_up_new_task") int f_second(__u64 *ctx) { USE(ctx[1]); return 0; }
SEC("fexit/do_exit") int x_retslot(__u64 *ctx) { USE(ctx[1]); return 0; }
SEC("fexit/security_file_open") int x_ret(__u64 *ctx) { int r = ctx[1]; USE(r); return 0; }
SEC("fmod_ret/security_file_open") int m_ret(__u64 *ctx) { return -1; }
SEC("lsm/file_open") int l_ok(__u64 *ctx) { struct file *f = (void *)ctx[0]; return f->f_mode == 7 ? -1 : 0; }
SEC("lsm/file_open") int l_pos(__u64 *ctx) { return 1; }
SEC("lsm/file_open") int l_prev(__u64 *ctx) { int prev = ctx[1]; return prev; }
SEC("lsm/file_open") int l_write(__u64 *ctx) { ctx[0] = 0; return 0; }
SEC("lsm/task_free") int l_untrusted(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; USE(t->pid); return 0; }
char _license[] SEC("license") = "GPL";
`;

/** Whether this kernel loads fentry programs (why not, when it does not). */
function trampolinesRefused(p: Built): string | undefined {
  const k = kernelApi!.loadWithMaps(p, { logLevel: 1 });
  const e = k as { errno?: number };
  k.close();
  return !k.accepted && e.errno === 1 && k.log === '' ? 'this machine refuses fentry/fexit/LSM loads (EPERM, empty log) before the verifier runs' : undefined;
}

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('fentry, fexit, fmod_ret and LSM context and return values against the running kernel', () => {
  const programs = buildC(TRAMP_C);
  const refused = trampolinesRefused(programs[0]!);
  it.skipIf(refused !== undefined).each(programs.map((p) => [p.name, p] as const))('%s', (_n, p) => compare(p));
  it('what the verifier answers where the kernel cannot be asked (kernel/bpf/btf.c btf_ctx_access, check_return_code)', () => {
    if (refused) console.warn(`skipping the live comparison: ${refused}`);
    const ours = Object.fromEntries(programs.map((p) => [p.name, verify(p, { kernelBtf: kernelBtf(), logLevel: 2 })]));
    const err = (n: string): string | undefined => ours[n]!.error?.message;
    // fentry arguments are PTR_TO_BTF_ID without PTR_TRUSTED; fentry/fexit return 0
    expect(ours.f_ptr!.log).toMatch(/R\d=ptr_task_struct\(\)/);
    expect(err('f_ptr')).toBeUndefined();
    expect(err('f_ret1')).toBe('At program exit the register R0 has smin=1 smax=1 should have been in [0, 0]');
    // btf_ctx_arg_idx counts a void return as 0 bytes: slot 1 of a one-argument void function is 'the 3-th'
    expect(ours.f_second!.log).toContain("func 'wake_up_new_task' doesn't have 3-th argument\ninvalid bpf_context access off=8 size=8");
    // fexit's slot after the arguments is the return value: none for a void function
    expect(ours.x_retslot!.log).toContain("func 'do_exit' doesn't have 3-th argument");
    expect(err('x_ret')).toBeUndefined();
    expect(err('m_ret')).toBeUndefined();
    // LSM: trusted arguments, 0 or -errno (32-bit), the previous program's return value in [-4095, 0]
    expect(ours.l_ok!.log).toMatch(/R\d=trusted_ptr_file\(\)/);
    expect(err('l_ok')).toBeUndefined();
    expect(err('l_pos')).toBe('At program exit the register R0 has smin=1 smax=1 should have been in [-4095, 0]');
    expect(err('l_prev')).toBeUndefined();
    expect(err('l_write')).toBeUndefined();
    expect(ours.l_untrusted!.log).toMatch(/R\d=ptr_task_struct\(\)/);
  });
});
