import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble, type AnalysedProgram, type MapDef, type Program } from '@bpf/isa';
import { clangBpfObject, fixturesDir, kallsyms, run, skipWithout, tempDir, THROW_AFTER_TAIL_CALL, THROW_DEEP } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { formatX86, jitX86 } from './index.js';
import { runX86 } from './node.js';

/**
 * Programs that throw (bpf_throw), against the running kernel: the frames its JIT gives the
 * exception boundary and the exception callback, and BPF_PROG_TEST_RUN's retval beside ours.
 * @bpf/elf, @bpf/btf, @bpf/verifier, @bpf/kernel and @bpf/vm are no dependencies of this
 * package: the test runner resolves them by name to their sources.
 */
type Named = Program & { readonly name: string };
interface Layers {
  loadPrograms(bytes: Uint8Array, o: { kernelBtf: Uint8Array; kallsyms?: ReadonlyMap<string, bigint> }): Named[];
  parseBtf(bytes: Uint8Array): unknown;
  verify(p: Program, o: { kernelBtf: unknown; logLevel: 0 }): { accepted: boolean; xlated?: AnalysedProgram };
  loadWithMaps(p: Program, o: { logLevel: 0 }): { accepted: boolean; fd?: number; jited?: Uint8Array; jitedLen?: number; close(): void };
  testRun(fd: number, o: { data: Uint8Array }): { retval: number };
  run(p: Program, o: { data: Uint8Array; type: 'sched_cls' | 'xdp'; maps: readonly MapDef[] }): { r0: bigint };
}
const load = async (name: string): Promise<Partial<Layers>> => (await import(/* @vite-ignore */ name)) as Partial<Layers>;
const L = { ...(await load('@bpf/elf')), ...(await load('@bpf/btf')), ...(await load('@bpf/verifier')), ...(await load('@bpf/kernel')), ...(await load('@bpf/vm')) } as Layers;

const VMLINUX = '/sys/kernel/btf/vmlinux';
/** Every cookie and callback result of unwind.c is at least this; its normal returns are below. */
const THROWN = 0x10000;

function build(file: string): Named[] {
  const obj = clangBpfObject(readFileSync(join(fixturesDir, 'c/exceptions', file), 'utf8'), {
    args: ['-mcpu=v3', '-Wno-unused-variable', '-I', join(fixturesDir, 'c/elf'), '-I', join(fixturesDir, 'c/exceptions')],
  });
  return L.loadPrograms(obj, { kernelBtf: new Uint8Array(readFileSync(VMLINUX)), kallsyms: kallsyms() });
}

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

/** The maps a program refers to (the object's others may be of types the native runner lacks). */
const mapsOf = (p: Program): MapDef[] => (p.maps ?? []).filter((m) => (p.relocs ?? []).some((r) => r.kind !== 'kfunc' && r.name === m.name));

/** Packets of 80 bytes: an IPv4 frame's type, then a pattern per seed (0xff: every throw taken). */
const PACKETS = [1, 3, 5, 7, 11, 13, 101, 255, 0].map((seed) => {
  const p = new Uint8Array(80).fill(seed === 0 ? 0xff : 0);
  p[12] = 8;
  if (seed) for (let i = 14; i < p.length; i++) p[i] = (i * seed + (seed >> 2)) & 0xff;
  return p;
});

describe.skipIf(process.arch !== 'x64' || skipWithout('clang-19', 'llvm-objdump-19', 'kernel'))('exceptions against the kernel x86-64 JIT and its test runs', () => {
  const programs = [...build('exceptions.c'), ...build('unwind.c')];
  const kbtf = L.parseBtf(new Uint8Array(readFileSync(VMLINUX)));
  const accepted = programs.flatMap((p) => {
    const k = L.loadWithMaps(p, { logLevel: 0 });
    try {
      if (!k.accepted) return [];
      const v = L.verify(p, { kernelBtf: kbtf, logLevel: 0 });
      expect(v.accepted, p.name).toBe(true);
      return [{ p, xlated: v.xlated!, kernelCode: k.jited!, kernelLen: k.jitedLen! }];
    } finally {
      k.close();
    }
  });

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

  // the packet programs whose host functions the native runner has (no RCU, ringbuf or timer kfuncs)
  const runnable = accepted.filter(({ p, xlated }) => {
    if (p.type !== 'sched_cls' && p.type !== 'xdp') return false;
    const kfuncs = (xlated.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => r.name);
    return kfuncs.every((n) => n === 'bpf_throw') && mapsOf(p).every((m) => m.type === 'array' || m.type === 'hash' || m.type === 'prog_array');
  });

  it('throwing programs return what BPF_PROG_TEST_RUN returns, run natively and in @bpf/vm', () => {
    let thrown = 0;
    const bad: string[] = [];
    for (const { p, xlated } of runnable) {
      const jit = jitX86(xlated);
      for (const [n, pkt] of PACKETS.entries()) {
        // a fresh load per run: maps start empty on both sides
        const k = L.loadWithMaps(p, { logLevel: 0 });
        const want = L.testRun(k.fd!, { data: pkt }).retval;
        k.close();
        const type = p.type as 'sched_cls' | 'xdp';
        const got = Number(runX86(jit, { mem: pkt, maps: mapsOf(p), context: type }).r0 & 0xffffffffn);
        // and the interpreter, on the same xlated program
        const vm = Number(L.run(xlated, { data: pkt, type, maps: mapsOf(p) }).r0 & 0xffffffffn);
        if (got !== want || vm !== want) bad.push(`${p.name} packet ${n}: native ${got}, @bpf/vm ${vm}, kernel ${want}`);
        if (want >= THROWN) thrown++;
      }
    }
    expect(bad).toEqual([]);
    expect(runnable.map(({ p }) => p.name)).toEqual(expect.arrayContaining(['deep_default', 'deep_named', 'big_stack', 'throw_in_loop', 'global_loop', 'global_loop_named', 'asserts', 'throw_always', 'cb_named']));
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
