import { kallsyms, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, haveVmlinux, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

// (a ksym's ld_imm64 prints the address the kernel resolved it to: not compared)
const lines = (log: string): string[] =>
  log.replace(/^(\d+: \(18\) r\d+ = )0x[0-9a-f]+/gm, '$1ADDR').split('\n').filter((l) => l !== '' && !/^( |;|Live regs|func#\d+ @|\(\d+\) |processed |arg#0 reference type\('UNKNOWN '\)|mark_precise|verification time|stack depth)/.test(l));
const processed = (log: string): string | undefined => /processed (\d+) insns/.exec(log)?.[1];

/**
 * bpf_rdonly_cast (untrusted BTF pointers and untrusted read-only memory), per-CPU ksyms
 * through bpf_this_cpu_ptr / bpf_per_cpu_ptr (a struct: `ptr_rq`; an int: read-only memory of
 * its size) and their misuses, in tp_btf programs: each one's verdict, first error, processed
 * instructions and level-2 log against the running kernel's.
 */
const KSYM_C = `#include "bpf_defs.h"
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id__k) __ksym;
static void *(*bpf_per_cpu_ptr)(const void *percpu_ptr, __u32 cpu) = (void *)153;
static __u64 (*bpf_get_current_task)(void) = (void *)35;
#define TYPE_ID(T) __builtin_btf_type_id(*(T *)0, 1)
struct mm_struct { unsigned long task_size; } __attribute__((preserve_access_index));
struct task_struct { int pid; struct task_struct *real_parent; struct mm_struct *mm; } __attribute__((preserve_access_index));
struct rq { int cpu; unsigned int nr_running; } __attribute__((preserve_access_index));
extern const struct rq runqueues __ksym;
extern const int bpf_prog_active __ksym;
#define TP SEC("tp_btf/task_newtask")
TP int rc_task(__u64 *ctx) { struct task_struct *t = bpf_rdonly_cast((void *)ctx[0], TYPE_ID(struct task_struct)); return t->pid; }
TP int rc_chain(__u64 *ctx) { struct task_struct *t = bpf_rdonly_cast((void *)ctx[0], TYPE_ID(struct task_struct)); return t->real_parent->mm->task_size; }
TP int rc_current(__u64 *ctx) { struct task_struct *t = bpf_rdonly_cast((void *)bpf_get_current_task(), TYPE_ID(struct task_struct)); return t->pid; }
TP int rc_write(__u64 *ctx) { struct task_struct *t = bpf_rdonly_cast((void *)ctx[0], TYPE_ID(struct task_struct)); t->pid = 1; return 0; }
TP int rc_void(__u64 *ctx) { const char *p = bpf_rdonly_cast((void *)ctx[0], 0); return p[100]; }
TP int rc_void_arith(__u64 *ctx) { const char *p = bpf_rdonly_cast((void *)ctx[0], 0); p += ctx[1] & 0xff; return p[-7]; }
TP int rc_void_write(__u64 *ctx) { char *p = bpf_rdonly_cast((void *)ctx[0], 0); p[0] = 1; return 0; }
TP int rc_int(__u64 *ctx) { int *p = bpf_rdonly_cast((void *)ctx[0], TYPE_ID(int)); return *p; }
TP int rc_var_id(__u64 *ctx) { struct task_struct *t = bpf_rdonly_cast((void *)ctx[0], ctx[1] & 1); return t->pid; }
TP int pc_this(__u64 *ctx) { struct rq *rq = bpf_this_cpu_ptr(&runqueues); return rq->nr_running; }
TP int pc_per(__u64 *ctx) { struct rq *rq = bpf_per_cpu_ptr(&runqueues, 0); if (!rq) return 0; return rq->cpu; }
TP int pc_per_nonnull(__u64 *ctx) { struct rq *rq = bpf_per_cpu_ptr(&runqueues, 1); return rq->cpu; }
TP int pc_int(__u64 *ctx) { const int *a = bpf_this_cpu_ptr(&bpf_prog_active); return *a; }
TP int pc_int_oob(__u64 *ctx) { const int *a = bpf_this_cpu_ptr(&bpf_prog_active); return a[1]; }
TP int pc_int_per(__u64 *ctx) { const int *a = bpf_per_cpu_ptr(&bpf_prog_active, 0); return a ? *a : 0; }
TP int pc_int_write(__u64 *ctx) { int *a = bpf_this_cpu_ptr(&bpf_prog_active); *a = 0; return 0; }
TP int pc_direct(__u64 *ctx) { return runqueues.cpu; }
TP int pc_not_percpu(__u64 *ctx) { struct task_struct *t = (void *)ctx[0]; return bpf_this_cpu_ptr(t) != 0; }
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('bpf_rdonly_cast and per-CPU ksyms against the running kernel', () => {
  const programs = buildC(KSYM_C);
  it.each(programs.map((p) => [p.name, p] as const))('%s', (_n, p) => {
    const kernel = kernelVerdict(p, { logLevel: 2 });
    // the kernel refuses a ksym it has no address for (kallsyms without CONFIG_KALLSYMS_ALL has no data symbols)
    const ours = verify(p, { kernelBtf: kernelBtf(), kernelSymbols: kallsyms(), logLevel: 2 });
    expect({ accepted: ours.accepted, error: ours.error?.message, processed: String(ours.stats.processedInsns) }).toEqual({
      accepted: kernel.accepted,
      error: kernel.error,
      processed: processed(kernel.log),
    });
    expect(lines(ours.log)).toEqual(lines(kernel.log));
  });
  it('covers every program', () => {
    expect(programs.length).toBe(18);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('per-CPU ksyms where the kernel has their addresses (kernel/bpf/verifier.c check_pseudo_btf_id, RET_PTR_TO_MEM_OR_BTF_ID)', () => {
  // Kernels built without CONFIG_KALLSYMS_ALL (as this machine's may be) refuse every data ksym
  // above; here the same programs are verified as if the addresses were there.
  const programs = new Map(buildC(KSYM_C).map((p) => [p.name, verify(p, { kernelBtf: kernelBtf(), logLevel: 2 })]));
  const r = (n: string) => programs.get(n)!;
  it('a per-CPU struct: percpu_ptr_rq, then ptr_rq from bpf_this_cpu_ptr, ptr_or_null_rq from bpf_per_cpu_ptr', () => {
    expect(r('pc_this').log).toMatch(/R1=percpu_ptr_rq\(\)\n.*call bpf_this_cpu_ptr#154 +; R0=ptr_rq\(\)/);
    expect(r('pc_this').accepted).toBe(true);
    expect(r('pc_per').log).toContain('R0=ptr_or_null_rq(id=1)');
    expect(r('pc_per').accepted).toBe(true);
    expect(r('pc_per_nonnull').error?.message).toBe("R0 invalid mem access 'ptr_or_null_'");
    expect(r('pc_direct').error?.message).toMatch(/^R1 is ptr_rq access percpu memory: off=\d+$/);
  });
  it('a per-CPU int: read-only memory of its size', () => {
    expect(r('pc_int').log).toContain('R0=rdonly_mem(sz=4)');
    expect(r('pc_int').accepted).toBe(true);
    expect(r('pc_int_per').log).toContain('R0=rdonly_mem_or_null(id=1,sz=4)');
    expect(r('pc_int_oob').log).toContain('invalid access to memory, mem_size=4 off=4 size=4\nR0 min value is outside of the allowed memory range');
    expect(r('pc_int_write').error?.message).toBe('R0 cannot write into rdonly_mem');
  });
});
