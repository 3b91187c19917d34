import { assemble, type AnalysedProgram, type Program } from '@bpf/isa';
import {
  acceptedThrowing,
  mapsOf,
  runnableThrowing,
  skipWithout,
  THROW_AFTER_TAIL_CALL,
  THROW_DEEP,
  THROW_PACKETS,
  THROW_RUNNABLE_NAMES,
  throwingExpected,
  throwingLayers,
  THROWN,
} from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { jitArm64, type Arm64JitResult } from './index.js';
import { runArm64, runArm64Batch, type Arm64Job } from './node.js';

/**
 * Programs that throw (bpf_throw) under qemu-aarch64. No arm64 kernel here runs them (the booted
 * one of kernel.test.ts loads no BTF, which exception callbacks need): the frames are checked
 * against the rules of arch/arm64/net/bpf_jit_comp.c, and the results against the running
 * kernel's BPF_PROG_TEST_RUN (what a program returns does not depend on the architecture) and
 * @bpf/vm. The programs, their packets and the layers above @bpf/isa come from @bpf/testkit.
 */
const L = await throwingLayers<Program & { readonly name: string }, AnalysedProgram>();

/** The listing's texts of one function (entries[k] up to the next entry). */
const fn = (jit: Arm64JitResult, k: number): string[] => jit.listing.filter((l) => l.offset >= jit.entries[k]! && l.offset < (jit.entries[k + 1] ?? jit.code.length)).map((l) => l.text);
/** push_callee_regs / pop_callee_regs of an exception boundary, and build_prologue of the callback. */
const PUSH_ALL = ['stp x19, x20, [sp, #-0x10]!', 'stp x21, x22, [sp, #-0x10]!', 'stp x23, x24, [sp, #-0x10]!', 'stp x25, x26, [sp, #-0x10]!', 'stp x27, x28, [sp, #-0x10]!'];
const POP_ALL = ['ldp x27, x28, [sp], #0x10', 'ldp x25, x26, [sp], #0x10', 'ldp x23, x24, [sp], #0x10', 'ldp x21, x22, [sp], #0x10', 'ldp x19, x20, [sp], #0x10', 'ldp xzr, x26, [sp], #0x10', 'ldp x29, x30, [sp], #0x10'];
const CALLBACK_ENTRY = ['mov x29, x2', 'sub sp, x29, #0x60', 'mov x25, sp'];
const has = (texts: readonly string[], seq: readonly string[]): boolean => texts.some((_, k) => seq.every((s, j) => texts[k + j] === s));

describe.skipIf(skipWithout('clang-19', 'kernel', 'qemu-aarch64', 'aarch64-linux-gnu-gcc'))('exceptions under qemu-aarch64, against the running kernel', () => {
  const accepted = acceptedThrowing(L);

  it("gives the boundary and the exception callback the arm64 kernel JIT's frames", () => {
    let boundaries = 0;
    for (const { p, xlated } of accepted) {
      const jit = jitArm64(xlated);
      const throws = (xlated.relocs ?? []).some((r) => r.kind === 'kfunc' && r.name === 'bpf_throw');
      const cb = xlated.subprogs.findIndex((s) => s.exceptionCallback === true);
      expect(jit.exceptionCallback, p.name).toBe(throws ? cb : undefined);
      const main = fn(jit, 0);
      expect(has(main, ['stp x29, x30, [sp, #-0x10]!', 'mov x29, sp', 'stp xzr, x26, [sp, #-0x10]!', 'mov x26, sp', ...PUSH_ALL, 'mov x25, sp']), p.name).toBe(throws);
      expect(has(main, POP_ALL), p.name).toBe(throws);
      if (throws) boundaries++;
      if (cb > 0) {
        const texts = fn(jit, cb);
        expect(texts.slice(0, 3), p.name).toEqual(CALLBACK_ENTRY);
        expect(has(texts, POP_ALL), p.name).toBe(true);
      }
    }
    expect(boundaries).toBeGreaterThanOrEqual(30);
  });

  it('throwing programs return what BPF_PROG_TEST_RUN returns (and @bpf/vm)', () => {
    const runnable = runnableThrowing(accepted);
    const jobs: Arm64Job[] = [];
    const want: { name: string; n: number; kernel: number; vm: number }[] = [];
    for (const c of runnable) {
      const result = jitArm64(c.xlated);
      for (const [n, pkt] of THROW_PACKETS.entries()) {
        jobs.push({ result, mem: pkt, maps: mapsOf(c.p), context: c.p.type as 'sched_cls' | 'xdp' });
        want.push({ name: c.p.name, n, ...throwingExpected(L, c, pkt) });
      }
    }
    const bad = runArm64Batch(jobs).flatMap((r, k) => {
      const w = want[k]!;
      const got = r instanceof Error ? r.message : Number(r.r0 & 0xffffffffn);
      return got === w.kernel && w.vm === w.kernel ? [] : [`${w.name} packet ${w.n}: arm64 ${got}, @bpf/vm ${w.vm}, kernel ${w.kernel}`];
    });
    expect(bad).toEqual([]);
    expect(runnable.map(({ p }) => p.name)).toEqual(expect.arrayContaining([...THROW_RUNNABLE_NAMES]));
    expect(want.filter((w) => w.kernel >= THROWN).length).toBeGreaterThanOrEqual(20);
  });
});

describe.skipIf(skipWithout('qemu-aarch64', 'aarch64-linux-gnu-gcc'))('bpf_throw without the kernel', () => {
  const p = assemble(THROW_DEEP.asm);
  const subprogs = THROW_DEEP.subprogs;
  it('the callback returns for the program, its cookie 64 bits wide', () => {
    const jit = jitArm64({ ...p, subprogs });
    expect(jit.exceptionCallback).toBe(2);
    expect(runArm64(jit).r0).toBe(THROW_DEEP.result);
  });
  it('a program reached by a tail call throws into its own callback', () => {
    const jitA = jitArm64(assemble(THROW_AFTER_TAIL_CALL.caller));
    const jitB = jitArm64({ ...assemble(THROW_AFTER_TAIL_CALL.target), subprogs: THROW_AFTER_TAIL_CALL.targetSubprogs });
    expect(runArm64(jitA, { mem: new Uint8Array(8), progArrays: { jt: [jitB, null, null, null] } }).r0).toBe(THROW_AFTER_TAIL_CALL.result);
  });
  it('a program that throws with no callback is refused by the runner', () => {
    expect(() => runArm64(jitArm64(p))).toThrow(/has no exception callback/);
  });
});
