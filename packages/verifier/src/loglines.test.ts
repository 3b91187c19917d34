import { nrCpuIds, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, haveVmlinux, kernelBtf } from './kernel.test.helper.js';

/**
 * Level-2 log lines the kernel prints in particular places, program by program against the
 * running kernel (verdict, first error, processed count and the log line for line): the bounds
 * of bpf_get_smp_processor_id, both states after "infinite loop detected", an SCC call chain
 * whose call sits at insn 0, and an object whose BTF the kernel refuses (loaded without
 * func_info, as libbpf loads it).
 */
const PROGRAMS = `
#include "bpf_defs.h"

/* below nr_cpu_ids: the kernel knows this branch is never taken */
SEC("tc") int cpu_below_nr_cpu_ids(struct __sk_buff *skb)
{
  __u32 cpu = bpf_get_smp_processor_id();
  if (cpu >= 8192)
    return 1;
  return cpu == 0 ? 2 : 0;
}

/* the same state comes back to insn 3 */
SEC("socket") __attribute__((naked)) void loop_same_state(void)
{
  asm volatile ("r0 = r1;"
                "l0_%=: r2 = r0;"
                "r3 = r0;"
                "if r0 != 0 goto l0_%=;"
                "r0 = 0;"
                "exit;" ::: "memory");
}

/* a precise scalar in the old state */
SEC("socket") __attribute__((naked)) void loop_precise_old_state(void)
{
  asm volatile ("r0 = 0;"
                "l0_%=: r2 = 1;"
                "r2 += r0;"
                "r1 = r10;"
                "r1 += -8;"
                "*(u64 *)(r1 + 0) = r2;"
                "if r0 == 0 goto l0_%=;"
                "exit;" ::: "memory");
}

static __attribute__((naked, noinline, used)) void loop_in_subprog_body(void)
{
  asm volatile ("r0 = 0;"
                "l0_%=: r0 += 1;"
                "if r0 < 4 goto l0_%=;"
                "r1 = 0;"
                "l1_%=: if r1 != 0 goto l1_%=;"
                "r0 = 0;"
                "exit;" ::: "memory");
}

/* a loop in a function called at insn 0: the kernel's SCC call chain drops that call site */
SEC("socket") __attribute__((naked)) void loop_in_subprog_called_first(void)
{
  asm volatile ("call loop_in_subprog_body;"
                "r0 = 0;"
                "exit;" ::: "memory");
}

static __attribute__((naked, noinline, used)) void loop_forever_body(void)
{
  asm volatile ("r0 = 0;"
                "if r0 > 0 goto +1;"
                "l0_%=: goto l0_%=;"
                "exit;" ::: "memory");
}

/* an infinite loop one frame down: the states are printed as frame1's */
SEC("socket") __attribute__((naked)) void loop_forever_in_subprog(void)
{
  asm volatile ("r1 = 1;"
                "call loop_forever_body;"
                "exit;" ::: "memory");
}
char _license[] SEC("license") = "GPL";
`;

/*
 * A naked function with a parameter has it unnamed in BTF, which BPF_BTF_LOAD refuses
 * (btf_func_check: "Invalid arg#1"): libbpf then loads every program of the object without
 * func_info, so a global function is verified as a static one and the main program's prototype
 * is not read.
 */
const REFUSED_BTF = `
#include "bpf_defs.h"

__noinline int add_one(int x)
{
  return x + 1;
}

SEC("socket") __attribute__((naked)) void refused_btf_calls_global(void *ctx)
{
  asm volatile ("r1 = 1;"
                "call add_one;"
                "exit;" ::: "memory");
}
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('level-2 log lines in particular places: the kernel, program by program', () => {
  const programs = [...buildC(PROGRAMS), ...buildC(REFUSED_BTF)];
  const dump = process.env.LOGLINES_DUMP;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));

  it('bounds bpf_get_smp_processor_id by nr_cpu_ids only when told it', () => {
    const p = programs.find((x) => x.name === 'cpu_below_nr_cpu_ids')!;
    const n = nrCpuIds()!;
    const told = verify(p, { kernelBtf: kernelBtf(), logLevel: 2, nrCpuIds: n }).log;
    const line = (log: string): string | undefined => log.split('\n').find((l) => /^\d+: \(85\) call bpf_get_smp_processor_id/.test(l));
    expect(line(told)).toMatch(n === 1 ? /; R0=0$/ : new RegExp(`R0=scalar\\(smin=smin32=0,smax=umax=smax32=umax32=${n - 1},`));
    expect(line(verify(p, { kernelBtf: kernelBtf(), logLevel: 2 }).log)).toMatch(/; R0=scalar\(\)$/);
  });

  it('prints both states after an infinite loop and the shortened call chain', () => {
    const log = (name: string): string => verify(programs.find((x) => x.name === name)!, { kernelBtf: kernelBtf(), logLevel: 2 }).log;
    expect(log('loop_same_state')).toMatch(/infinite loop detected at insn \d+\ncur state: R0=ctx\(\).*\nold state: R0=ctx\(\)/);
    expect(log('loop_forever_in_subprog')).toMatch(/\ncur state: frame1: /);
    expect(log('loop_in_subprog_called_first')).toMatch(/\nSCC enter \(\d+\)\n/);
  });

  it('verifies a global function of an object whose BTF the kernel refuses as a static one', () => {
    const p = programs.find((x) => x.name === 'refused_btf_calls_global')!;
    const r = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
    expect(r.accepted).toBe(true);
    expect(r.log).not.toMatch(/Validating add_one\(\)|Global function/);
  });
});
