import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble, type AnalysedProgram, type MapDef, type Program } from '@bpf/isa';
import { clangBpfObject, fixturesDir, kallsyms, skipWithout, THROW_AFTER_TAIL_CALL, THROW_DEEP } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { jitArm64, type Arm64JitResult } from './index.js';
import { runArm64, runArm64Batch, type Arm64Job } from './node.js';

/**
 * Programs that throw (bpf_throw) under qemu-aarch64. No arm64 kernel here runs them (the booted
 * one of kernel.test.ts loads no BTF, which exception callbacks need): the frames are checked
 * against the rules of arch/arm64/net/bpf_jit_comp.c, and the results against the running
 * kernel's BPF_PROG_TEST_RUN (what a program returns does not depend on the architecture) and
 * @bpf/vm. @bpf/elf, @bpf/btf, @bpf/verifier, @bpf/kernel and @bpf/vm are loaded by name.
 */
type Named = Program & { readonly name: string };
interface Layers {
  loadPrograms(bytes: Uint8Array, o: { kernelBtf: Uint8Array; kallsyms?: ReadonlyMap<string, bigint> }): Named[];
  parseBtf(bytes: Uint8Array): unknown;
  verify(p: Program, o: { kernelBtf: unknown; logLevel: 0 }): { accepted: boolean; xlated?: AnalysedProgram };
  loadWithMaps(p: Program, o: { logLevel: 0 }): { accepted: boolean; fd?: number; close(): void };
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
const mapsOf = (p: Program): MapDef[] => (p.maps ?? []).filter((m) => (p.relocs ?? []).some((r) => r.kind !== 'kfunc' && r.name === m.name));
const PACKETS = [1, 3, 5, 7, 11, 13, 101, 255, 0].map((seed) => {
  const p = new Uint8Array(80).fill(seed === 0 ? 0xff : 0);
  p[12] = 8;
  if (seed) for (let i = 14; i < p.length; i++) p[i] = (i * seed + (seed >> 2)) & 0xff;
  return p;
});

/** The listing's texts of one function (entries[k] up to the next entry). */
const fn = (jit: Arm64JitResult, k: number): string[] => jit.listing.filter((l) => l.offset >= jit.entries[k]! && l.offset < (jit.entries[k + 1] ?? jit.code.length)).map((l) => l.text);
/** push_callee_regs / pop_callee_regs of an exception boundary, and build_prologue of the callback. */
const PUSH_ALL = ['stp x19, x20, [sp, #-0x10]!', 'stp x21, x22, [sp, #-0x10]!', 'stp x23, x24, [sp, #-0x10]!', 'stp x25, x26, [sp, #-0x10]!', 'stp x27, x28, [sp, #-0x10]!'];
const POP_ALL = ['ldp x27, x28, [sp], #0x10', 'ldp x25, x26, [sp], #0x10', 'ldp x23, x24, [sp], #0x10', 'ldp x21, x22, [sp], #0x10', 'ldp x19, x20, [sp], #0x10', 'ldp xzr, x26, [sp], #0x10', 'ldp x29, x30, [sp], #0x10'];
const CALLBACK_ENTRY = ['mov x29, x2', 'sub sp, x29, #0x60', 'mov x25, sp'];
const has = (texts: readonly string[], seq: readonly string[]): boolean => texts.some((_, k) => seq.every((s, j) => texts[k + j] === s));

describe.skipIf(skipWithout('clang-19', 'kernel', 'qemu-aarch64', 'aarch64-linux-gnu-gcc'))('exceptions under qemu-aarch64, against the running kernel', () => {
  const kbtf = L.parseBtf(new Uint8Array(readFileSync(VMLINUX)));
  const accepted = [...build('exceptions.c'), ...build('unwind.c')].flatMap((p) => {
    const k = L.loadWithMaps(p, { logLevel: 0 });
    const ok = k.accepted;
    k.close();
    if (!ok) return [];
    const v = L.verify(p, { kernelBtf: kbtf, logLevel: 0 });
    expect(v.accepted, p.name).toBe(true);
    return [{ p, xlated: v.xlated! }];
  });

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
    const runnable = accepted.filter(
      ({ p, xlated }) =>
        (p.type === 'sched_cls' || p.type === 'xdp') &&
        (xlated.relocs ?? []).every((r) => r.kind !== 'kfunc' || r.name === 'bpf_throw') &&
        mapsOf(p).every((m) => m.type === 'array' || m.type === 'hash' || m.type === 'prog_array'),
    );
    const jobs: Arm64Job[] = [];
    const want: { name: string; n: number; kernel: number; vm: number }[] = [];
    for (const { p, xlated } of runnable) {
      const result = jitArm64(xlated);
      const type = p.type as 'sched_cls' | 'xdp';
      for (const [n, pkt] of PACKETS.entries()) {
        const k = L.loadWithMaps(p, { logLevel: 0 });
        const kernel = L.testRun(k.fd!, { data: pkt }).retval;
        k.close();
        const vm = Number(L.run(xlated, { data: pkt, type, maps: mapsOf(p) }).r0 & 0xffffffffn);
        jobs.push({ result, mem: pkt, maps: mapsOf(p), context: type });
        want.push({ name: p.name, n, kernel, vm });
      }
    }
    const bad = runArm64Batch(jobs).flatMap((r, k) => {
      const w = want[k]!;
      const got = r instanceof Error ? r.message : Number(r.r0 & 0xffffffffn);
      return got === w.kernel && w.vm === w.kernel ? [] : [`${w.name} packet ${w.n}: arm64 ${got}, @bpf/vm ${w.vm}, kernel ${w.kernel}`];
    });
    expect(bad).toEqual([]);
    expect(runnable.map(({ p }) => p.name)).toEqual(expect.arrayContaining(['deep_default', 'deep_named', 'big_stack', 'throw_in_loop', 'global_loop', 'asserts', 'throw_always', 'cb_named']));
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
