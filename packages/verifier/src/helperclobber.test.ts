import { assemble } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { expectSameAsKernel, haveVmlinux, kernelBtf } from './kernel.test.helper.js';

/**
 * A helper that writes stack memory of a size it is given in a register that is not a constant
 * (bpf_probe_read_kernel_str's ARG_PTR_TO_UNINIT_MEM, ARG_CONST_SIZE_OR_ZERO): no raw mode, so the
 * kernel clobbers the bytes in check_stack_range_initialized instead of writing them one by one.
 * A byte that is already STACK_MISC stays so, and the narrow spill beside it (the `4` of
 * fp-16=mmmmmmm4) survives; only a byte of a spill scrubs the slot. tracee's trace_security_bpf
 * (prog_name written from fp-71, a one-byte spill at fp-72) first showed it.
 */
const program = (dst: number) => ({
  ...assemble(`
    call 7
    *(u64 *)(r10 -16) = r0
    r7 = 4
    *(u8 *)(r10 -16) = r7
    r2 = r0
    r2 &= 7
    r2 += 1
    r1 = r10
    r1 += ${dst}
    r3 = 0
    call 115
    r1 = *(u8 *)(r10 -16)
    if r1 == 4 goto +2
    r0 = *(u64 *)(r1 +0)
    exit
    r0 = 0
    exit`),
  type: 'kprobe' as const,
  license: 'GPL',
});

describe('a helper write of variable size beside a narrow spill', () => {
  it('keeps the spill when the bytes written are not its own, and scrubs it when they are', () => {
    const opts = { kernelBtf: haveVmlinux() ? kernelBtf() : undefined };
    // fp-15..fp-8: the slot's bytes other than the spilled one
    expect(verify(program(-15), opts).accepted).toBe(true);
    // fp-16..fp-9: the spilled byte too
    expect(verify(program(-16), opts).error?.message).toBe("R1 invalid mem access 'scalar'");
  });
  describe.skipIf(skipWithout('kernel') || !haveVmlinux())('against the running kernel', () => {
    it.each([
      ['beside the spill', -15],
      ['over the spill', -16],
    ])('%s: verdict, first error, processed count and level-2 log', (_n, dst) => {
      expectSameAsKernel('clobber', program(dst));
    });
  });
});
