import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, haveVmlinux } from './kernel.test.helper.js';

/**
 * State pruning rules found where our counts left the kernel's on public programs, each pinned by
 * programs of our own compared with the running kernel (verdict, error, processed count, level-2
 * log):
 * - sync_linked_regs after comparing two scalars linked to one id (`r2 = r4 - 8; if r2 > r4`):
 *   the kernel syncs from the source register, then from the destination as that first sync left
 *   it, so nothing is learnt about r4. We synced from the destination's refined bounds, knew
 *   r4 >= 8 on the fall-through, and accepted a stack read beyond the frame in the branch after it
 *   that the kernel reaches and refuses (tetragon's event_execve, v6.1 build: 43 insns fewer).
 * - a checkpoint's slot the current path never touched (beyond its allocated_stack) does not
 *   cover it, even an imprecise scalar spill (cilium's tail_nodeport_nat_ingress_ipv4: 1 fewer).
 * - a may_goto loop converges over slot types that differ where the old bytes are misc or
 *   invalid: the running kernel compares the stack as for ordinary pruning there.
 * - and over a live register the old state never wrote (NOT_INIT) that the current one has
 *   written (tetragon's generic_kprobe_filter_arg: 3,110 insns more before, its 800 MB level-2
 *   log now the kernel's line for line).
 */
const SOURCE = `
#define SEC(name) __attribute__((section(name), used))

/* dst linked to src by an add: the fall-through branch learns nothing about r4 */
SEC("tc") __attribute__((naked)) int linked_add_dst(void) {
  asm volatile(
    "r4 = *(u32 *)(r1 + 0);"
    "r2 = r4;"
    "r2 += -8;"
    "if r2 > r4 goto l0_%=;"
    "if r4 < 8 goto l1_%=;"
    "r0 = 0;"
    "exit;"
    "l1_%=: r0 = *(u64 *)(r10 + 8);"
    "exit;"
    "l0_%=: r0 = 2;"
    "exit;" ::: "memory");
}

/* the same with a subtraction of a known register, as clang emits it in tetragon */
SEC("tc") __attribute__((naked)) int linked_sub_reg(void) {
  asm volatile(
    "r4 = *(u32 *)(r1 + 0);"
    "r1 = 4086;"
    "r2 = r4;"
    "r2 -= r1;"
    "if r2 > r4 goto l0_%=;"
    "if r1 > r4 goto l1_%=;"
    "r0 = 0;"
    "exit;"
    "l1_%=: r0 = *(u64 *)(r10 + 8);"
    "exit;"
    "l0_%=: r0 = 2;"
    "exit;" ::: "memory");
}

/* the linked registers the other way round: src is the one with the offset */
SEC("tc") __attribute__((naked)) int linked_add_src(void) {
  asm volatile(
    "r4 = *(u32 *)(r1 + 0);"
    "r2 = r4;"
    "r2 += -8;"
    "if r4 < r2 goto l0_%=;"
    "if r4 < 8 goto l1_%=;"
    "r0 = 0;"
    "exit;"
    "l1_%=: r0 = *(u64 *)(r10 + 8);"
    "exit;"
    "l0_%=: r0 = 2;"
    "exit;" ::: "memory");
}
/* a deeper slot written on one path only: at the join the other path's stack never reached it */
SEC("tc") __attribute__((naked)) int alloc_deeper(void) {
  asm volatile(
    "call 7;"
    "r6 = r0;"
    "r2 = 0;"
    "r3 = 0;"
    "r4 = 0;"
    "r5 = 0;"
    "r7 = 0;"
    "r8 = 0;"
    "if r6 > 5 goto l0_%=;"
    "*(u64 *)(r10 - 16) = r6;"
    "goto l1_%=;"
    "l0_%=: r1 = 1;"
    "l1_%=: r0 = *(u64 *)(r10 - 16);"
    "r0 &= 1;"
    "exit;" ::: "memory");
}

/* a may_goto loop whose head sees misc and invalid bytes in a slot, then a spill there */
SEC("tc") __attribute__((naked)) int loop_slot_types(void) {
  asm volatile(
    "*(u32 *)(r10 - 4) = 5;"
    "r6 = 0;"
    "l0_%=: .8byte 0x00000000000400e5;" /* may_goto +4 */
    "r1 = 7;"
    "*(u64 *)(r10 - 8) = r1;"
    "r6 += 0;"
    "goto l0_%=;"
    "r0 = 0;"
    "exit;" ::: "memory");
}
/* a may_goto loop's body: a checkpoint at l2 reached first with r5 never written (the call
   cleared it), then, while the loop has a backedge pending (RANGE_WITHIN), with r5 written; r5
   is live at l2 only because the static call counts r1-r5 as read */
static __attribute__((naked, noinline, used)) void loop_reg_not_init_sub(void) {
  asm volatile("r0 = 0;" "exit;" ::: "memory");
}
SEC("tc") __attribute__((naked)) int loop_reg_not_init(void) {
  asm volatile(
    "r6 = 0;"
    "l0_%=: .8byte 0x00000000000e00e5;" /* may_goto +14 */
    "call 7;" /* bpf_get_prandom_u32 */
    "if r0 > 5 goto l1_%=;"
    "r7 = 1;"
    "r7 = 2;"
    "r7 = 3;"
    "r7 = 4;"
    "r7 = 5;"
    "r7 = 6;"
    "goto l2_%=;"
    "l1_%=: r5 = r0;"
    "l2_%=: r1 = 0;"
    "call loop_reg_not_init_sub;"
    "r6 += 0;"
    "goto l0_%=;"
    "r0 = 0;"
    "exit;"
    ::: "memory");
}
char LICENSE[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('pruning and linked registers, program by program against the kernel', () => {
  const programs = buildC(SOURCE);
  it('builds six programs', () => expect(programs.map((p) => p.name)).toEqual(['linked_add_dst', 'linked_sub_reg', 'linked_add_src', 'alloc_deeper', 'loop_slot_types', 'loop_reg_not_init']));
  it.each(programs.map((p) => [p.name, p] as const))('%s: the same states, verdict and log as the kernel', (name, p) => expectSameAsKernel(name, p));
});
