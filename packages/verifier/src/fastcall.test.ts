/**
 * bpf_fastcall spill/fill pairs (fastcall.ts, kernel/bpf/verifier.c mark_fastcall_patterns,
 * check_fastcall_stack_contract, remove_fastcall_spills_fills): which pairs the kernel finds,
 * when it drops them, and what that does to the stack depth and to the xlated program —
 * fixtures/c/fastcall/fastcall.c compared program by program with the running kernel.
 */
import { assemble, type Insn } from '@bpf/isa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { markFastcallPatterns, removeFastcallSpillsFills } from './fastcall.js';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, haveVmlinux, kernelBtf, kernelXlated } from './kernel.test.helper.js';

/**
 * Programs calling bpf_get_smp_processor_id: the kernel bounds its result by this machine's CPU
 * count (do_refine_retval_range, nr_cpu_ids), which ours leaves unknown, so their level-2 logs
 * differ in R0 after the call (verdict, error and processed count are compared).
 */
const CPU_BOUNDED = new Set(['full_frame_then_pair', 'full_frame_then_broken_pair', 'full_frame_then_plain_pair', 'helper_writes_pair_slot', 'two_pairs', 'two_pairs_upside_down']);

/** The stack spills and fills left in a program. */
const spillsFills = (insns: readonly Insn[]): number => insns.filter((i) => (i.code === 0x7b && i.dst === 10) || (i.code === 0x79 && i.src === 10)).length;

describe('mark_fastcall_pattern_for_call: the pairs mirrored around a call', () => {
  const marks = (src: string, fastcall = true) => {
    const { insns } = assemble(src);
    return markFastcallPatterns(insns, [{ start: 0, end: insns.length }], (pc) => (insns[pc]!.src === 0 ? { params: 0, isVoid: false, fastcall } : undefined));
  };
  it('takes pairs outwards from the call, the nearest in the lowest slot, each a register the call leaves alone', () => {
    const fc = marks('*(u64 *)(r10 -8) = r1\n*(u64 *)(r10 -16) = r2\ncall 8\nr2 = *(u64 *)(r10 -16)\nr1 = *(u64 *)(r10 -8)\nexit');
    expect(Array.from(fc.pattern)).toEqual([1, 1, 0, 1, 1, 0]);
    expect(fc.spills[2]).toBe(2);
    expect(fc.stackOff[0]).toBe(0);
    const depth = [16];
    expect(removeFastcallSpillsFills(fc, depth).sort()).toEqual([0, 1, 3, 4]);
    expect(depth).toEqual([0]);
  });
  it('finds none when the nearest pair is not in the lowest slot, or r0 (which the call returns in) is kept', () => {
    expect(marks('*(u64 *)(r10 -16) = r1\n*(u64 *)(r10 -8) = r2\ncall 8\nr2 = *(u64 *)(r10 -8)\nr1 = *(u64 *)(r10 -16)\nexit').pattern.some(Boolean)).toBe(false);
    expect(marks('*(u64 *)(r10 -8) = r0\ncall 8\nr0 = *(u64 *)(r10 -8)\nexit').pattern.some(Boolean)).toBe(false);
  });
  it('keeps the stack depth when a pair is around a call this kernel does not inline', () => {
    const fc = marks('*(u64 *)(r10 -8) = r1\ncall 5\nr1 = *(u64 *)(r10 -8)\nexit', false);
    expect(fc.pattern[0]).toBe(1);
    expect(fc.spills[1]).toBe(0);
    expect(fc.keep[0]).toBe(true);
  });
  it('lets a program whose only deep slot is a dropped pair use the full stack below a 512-byte caller', () => {
    const src = ['r1 = 42', '*(u64 *)(r10 -512) = r1', 'call sub', 'r0 = 0', 'exit', 'sub:', '*(u64 *)(r10 -8) = r1', 'call bpf_get_smp_processor_id', 'r1 = *(u64 *)(r10 -8)', 'exit'];
    const ok = verify(assemble(src.join('\n')), { type: 'raw_tracepoint' });
    expect(ok.accepted).toBe(true);
    expect(ok.stats.stackDepth).toEqual([512, 0]);
    // the same pair with the slot read again afterwards: the contract is broken, the slot counts
    const broken = verify(assemble([...src.slice(0, -1), 'r0 = *(u64 *)(r10 -8)', 'exit'].join('\n')), { type: 'raw_tracepoint' });
    expect(broken.error?.message).toBe('combined stack size of 2 calls is 528. Too large');
    // interpreted (no JIT), bpf_get_smp_processor_id is not inlined and the pair stays
    expect(verify(assemble(src.join('\n')), { type: 'raw_tracepoint', jit: false }).error?.message).toBe('combined stack size of 2 calls is 528. Too large');
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('bpf_fastcall (fixtures/c/fastcall/fastcall.c): the kernel verdict, message, processed count, log and the pairs left in the xlated program', () => {
  const programs = buildC(readFileSync(join(fixturesDir, 'c/fastcall/fastcall.c'), 'utf8'));
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => {
    expectSameAsKernel(name, p, { logDiffers: CPU_BOUNDED });
    const k = kernelXlated(p);
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 0 });
    expect(ours.xlated && spillsFills(ours.xlated.insns)).toEqual(k && spillsFills(k));
  });
  it('covers dropped pairs, broken contracts, calls not inlined, helper writes and kfuncs', () => {
    expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['full_frame_then_pair', 'full_frame_then_broken_pair', 'full_frame_then_plain_pair', 'helper_writes_pair_slot', 'two_pairs', 'two_pairs_upside_down', 'kfunc_pair']));
  });
});
