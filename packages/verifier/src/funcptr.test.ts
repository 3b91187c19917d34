import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, haveVmlinux } from './kernel.test.helper.js';

/**
 * Arithmetic on a callback pointer (PTR_TO_FUNC, `r2 = cb ll`): 6.18's adjust_ptr_min_max_vals
 * lets 64-bit additions and subtractions move it like any other pointer; what refuses a moved
 * one is the check of the argument it is passed as (check_func_arg_reg_off: a fixed offset, a
 * variable one). Program by program against the running kernel: verdict, error, processed
 * count and level-2 log.
 */
const SOURCE = `
#define SEC(name) __attribute__((section(name), used))

static __attribute__((naked, noinline, used)) int fp_cb(void)
{
  asm volatile ("r0 = 0;" "exit;" ::: "memory");
}

/* a callback pointer moved by zero: bpf_loop takes it */
SEC("socket") __attribute__((naked)) int func_add_zero(void)
{
  asm volatile ("r1 = 4;" "r2 = fp_cb ll;" "r2 += 0;" "r3 = 0;" "r4 = 0;" "call 181;" "r0 = 0;" "exit;" ::: "memory");
}

/* moved by 8: its offset is refused where the callback is passed */
SEC("socket") __attribute__((naked)) int func_add_const(void)
{
  asm volatile ("r1 = 4;" "r2 = fp_cb ll;" "r2 += 8;" "r3 = 0;" "r4 = 0;" "call 181;" "r0 = 0;" "exit;" ::: "memory");
}

/* moved there and back: offset 0 again */
SEC("socket") __attribute__((naked)) int func_add_sub(void)
{
  asm volatile ("r1 = 4;" "r2 = fp_cb ll;" "r2 += 16;" "r2 -= 16;" "r3 = 0;" "r4 = 0;" "call 181;" "r0 = 0;" "exit;" ::: "memory");
}

/* moved by an unknown amount */
SEC("socket") __attribute__((naked)) int func_add_var(void)
{
  asm volatile ("call 7;" "r0 &= 8;" "r1 = 4;" "r2 = fp_cb ll;" "r2 += r0;" "r3 = 0;" "r4 = 0;" "call 181;" "r0 = 0;" "exit;" ::: "memory");
}

/* scalar += pointer */
SEC("socket") __attribute__((naked)) int func_scalar_plus(void)
{
  asm volatile ("r1 = 4;" "r3 = fp_cb ll;" "r2 = 0;" "r2 += r3;" "r3 = 0;" "r4 = 0;" "call 181;" "r0 = 0;" "exit;" ::: "memory");
}

/* 32-bit arithmetic */
SEC("socket") __attribute__((naked)) int func_alu32(void)
{
  asm volatile ("r1 = 4;" "r2 = fp_cb ll;" "w2 += 0;" "r3 = 0;" "r4 = 0;" "call 181;" "r0 = 0;" "exit;" ::: "memory");
}

/* the difference of two callback pointers: a scalar for a privileged program */
SEC("socket") __attribute__((naked)) int func_sub_ptrs(void)
{
  asm volatile ("r2 = fp_cb ll;" "r3 = fp_cb ll;" "r2 -= r3;" "r0 = r2;" "exit;" ::: "memory");
}

/* other operators on a callback pointer */
SEC("socket") __attribute__((naked)) int func_mul(void)
{
  asm volatile ("r2 = fp_cb ll;" "r2 *= 2;" "r0 = 0;" "exit;" ::: "memory");
}

/* moved, then returned: the pointer leaks as it would unmoved */
SEC("socket") __attribute__((naked)) int func_moved_return(void)
{
  asm volatile ("r0 = fp_cb ll;" "r0 += 8;" "exit;" ::: "memory");
}

/* moved, spilled and filled back, then passed */
SEC("socket") __attribute__((naked)) int func_moved_spill(void)
{
  asm volatile ("r2 = fp_cb ll;" "r2 += 8;" "*(u64 *)(r10 - 8) = r2;" "r2 = *(u64 *)(r10 - 8);" "r2 += -8;" "r1 = 4;" "r3 = 0;" "r4 = 0;" "call 181;" "r0 = 0;" "exit;" ::: "memory");
}
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('callback pointers moved by ALU instructions, against the kernel', () => {
  const programs = buildC(SOURCE);
  it('builds ten programs', () => expect(programs).toHaveLength(10));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p));
});
