import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble, type AnalysedProgram, type Program } from '@bpf/isa';
import {
  acceptedThrowing,
  mapsOf,
  run,
  runnableThrowing,
  skipWithout,
  tempDir,
  THROW_AFTER_TAIL_CALL,
  THROW_DEEP,
  THROW_PACKETS,
  THROW_RUNNABLE_NAMES,
  throwingExpected,
  throwingLayers,
  THROWN,
} from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { formatX86, jitX86 } from './index.js';
import { runX86 } from './node.js';

/**
 * Programs that throw (bpf_throw), against the running kernel: the frames its JIT gives the
 * exception boundary and the exception callback, and BPF_PROG_TEST_RUN's retval beside ours.
 * The programs, their packets and the layers above @bpf/isa come from @bpf/testkit.
 */
const L = await throwingLayers<Program & { readonly name: string }, AnalysedProgram>();

/** Instruction texts of x86 code as llvm-objdump-19 prints them (Intel syntax, one space apart). */
function objdump(code: Uint8Array): string[] {
  const dir = tempDir('jit-x86-exc-');
  writeFileSync(join(dir, 'k.bin'), code);
  run('llvm-objcopy-19', ['-I', 'binary', '-O', 'elf64-x86-64', '--rename-section=.data=.text,code', join(dir, 'k.bin'), join(dir, 'k.o')]);
  return run('llvm-objdump-19', ['-d', '--no-show-raw-insn', '--no-leading-addr', '-M', 'intel', join(dir, 'k.o')])
    .split('\n')
    .filter((l) => l.startsWith('\t') || l.startsWith(' '))
    .map((l) => l.trim().replace(/\s+/g, ' ').replace(/ <.*$/, ''))
    .filter((l) => l !== '');
}

/** The kernel's exception frames (arch/x86/net/bpf_jit_comp.c), as instruction texts. */
const BOUNDARY_PUSH = ['push r12', 'push rbx', 'push r13', 'push r14', 'push r15'];
const BOUNDARY_POP = ['pop r15', 'pop r14', 'pop r13', 'pop rbx', 'pop r12', 'leave'];
const CALLBACK_ENTRY = ['mov rsp, rsi', 'mov rbp, rdx', 'pop r15', 'pop r14', 'pop r13', 'pop rbx', 'pop r12', 'mov rsp, rbp'];
const count = (texts: readonly string[], seq: readonly string[]): number => texts.filter((_, k) => seq.every((s, j) => texts[k + j] === s)).length;
const shape = (texts: readonly string[]): [number, number, number] => [count(texts, BOUNDARY_PUSH), count(texts, BOUNDARY_POP), count(texts, CALLBACK_ENTRY)];

describe.skipIf(process.arch !== 'x64' || skipWithout('clang-19', 'llvm-objdump-19', 'kernel'))('exceptions against the kernel x86-64 JIT and its test runs', () => {
  const accepted = acceptedThrowing(L);

  it("gives the exception boundary and the exception callback the kernel's frames, program by program", () => {
    let boundaries = 0;
    let callbacks = 0;
    const sizes = { ours: 0, kernel: 0 };
    for (const { p, xlated, kernelCode, kernelLen } of accepted) {
      const jit = jitX86(xlated);
      // the kernel's jited_prog_len leaves the hidden default callback out (func_cnt, not real_func_cnt)
      const hidden = xlated.subprogs.at(-1)!.name === 'bpf_default_exception_cb' ? jit.entries.at(-1)! : jit.code.length;
      const ours = formatX86(jit.listing.filter((l) => l.offset < hidden)).map((l) => l.replace(/^\s*[0-9a-f]+:\s+(?:[0-9a-f]{2} )+\s*/, ''));
      const kernel = objdump(kernelCode);
      expect(shape(ours), p.name).toEqual(shape(kernel));
      const [push, , entry] = shape(kernel);
      boundaries += push;
      callbacks += entry;
      sizes.ours += hidden;
      sizes.kernel += kernelLen;
    }
    expect(boundaries).toBeGreaterThanOrEqual(20);
    expect(callbacks).toBeGreaterThanOrEqual(6);
    // smaller in total, as on the rest of the corpus (README: what the kernel emits that we do not)
    expect(sizes.ours).toBeLessThan(sizes.kernel);
  });

  const runnable = runnableThrowing(accepted);

  it('throwing programs return what BPF_PROG_TEST_RUN returns, run natively and in @bpf/vm', () => {
    let thrown = 0;
    const bad: string[] = [];
    for (const c of runnable) {
      const jit = jitX86(c.xlated);
      for (const [n, pkt] of THROW_PACKETS.entries()) {
        const { kernel: want, vm } = throwingExpected(L, c, pkt);
        const got = Number(runX86(jit, { mem: pkt, maps: mapsOf(c.p), context: c.p.type as 'sched_cls' | 'xdp' }).r0 & 0xffffffffn);
        if (got !== want || vm !== want) bad.push(`${c.p.name} packet ${n}: native ${got}, @bpf/vm ${vm}, kernel ${want}`);
        if (want >= THROWN) thrown++;
      }
    }
    expect(bad).toEqual([]);
    expect(runnable.map(({ p }) => p.name)).toEqual(expect.arrayContaining([...THROW_RUNNABLE_NAMES, 'global_loop_named']));
    expect(thrown).toBeGreaterThanOrEqual(20);
  });
});

describe.skipIf(process.arch !== 'x64')('bpf_throw without the kernel', () => {
  const p = assemble(THROW_DEEP.asm);
  const subprogs = THROW_DEEP.subprogs;
  it('the callback returns for the program, its cookie 64 bits wide, and the caller goes on', () => {
    const jit = jitX86({ ...p, subprogs });
    expect(jit.exceptionCallback).toBe(2);
    for (let k = 0; k < 100; k++) expect(runX86(jit).r0).toBe(THROW_DEEP.result);
  });
  it('a program reached by a tail call throws into its own callback', () => {
    const jitA = jitX86(assemble(THROW_AFTER_TAIL_CALL.caller));
    const jitB = jitX86({ ...assemble(THROW_AFTER_TAIL_CALL.target), subprogs: THROW_AFTER_TAIL_CALL.targetSubprogs });
    expect(runX86(jitA, { mem: new Uint8Array(8), progArrays: { jt: [jitB, null, null, null] } }).r0).toBe(THROW_AFTER_TAIL_CALL.result);
  });
  it('a program that throws with no callback is refused by the runner', () => {
    expect(() => runX86(jitX86(p))).toThrow(/has no exception callback/);
  });
});
