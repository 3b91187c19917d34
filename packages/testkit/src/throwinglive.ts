/**
 * The compiled throwing programs (fixtures/c/exceptions: exceptions.c and unwind.c) as both JITs'
 * kernel comparisons use them: built with clang, loaded by the running kernel, verified by ours,
 * and the packets their test runs are made with. The layers above @bpf/isa (@bpf/elf, @bpf/btf,
 * @bpf/verifier, @bpf/kernel, @bpf/vm) are loaded by name at run time, so neither this package
 * nor the JIT packages depend on them; the test runner resolves them to their sources.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clangBpfObject, fixturesDir, kallsyms } from './index.js';

/** What these tests read of a program (structurally the @bpf/isa `Program` fields). */
export interface ThrowingProgram {
  readonly name: string;
  readonly type?: string;
  readonly maps?: readonly { readonly name: string; readonly type: string }[];
  readonly relocs?: readonly { readonly kind: string; readonly name: string }[];
}

/** What these tests read of a verified (xlated) program. */
export interface ThrowingXlated {
  readonly relocs?: readonly { readonly kind: string; readonly name: string }[];
}

/** The layers' entry points these tests call, typed by the caller's own program types. */
export interface ThrowingLayers<P extends ThrowingProgram, X extends ThrowingXlated> {
  loadPrograms(bytes: Uint8Array, o: { kernelBtf: Uint8Array; kallsyms?: ReadonlyMap<string, bigint> }): P[];
  parseBtf(bytes: Uint8Array): unknown;
  verify(p: P, o: { kernelBtf: unknown; logLevel: 0 }): { accepted: boolean; xlated?: X };
  loadWithMaps(p: P, o: { logLevel: 0 }): { accepted: boolean; fd?: number; jited?: Uint8Array; jitedLen?: number; close(): void };
  testRun(fd: number, o: { data: Uint8Array }): { retval: number };
  run(p: X, o: { data: Uint8Array; type: 'sched_cls' | 'xdp'; maps: P['maps'] }): { r0: bigint };
}

/** One program both verifiers accept: ours, its xlated form, and the kernel's jited code. */
export interface ThrowingCase<P, X> {
  readonly p: P;
  readonly xlated: X;
  readonly kernelCode: Uint8Array;
  readonly kernelLen: number;
}

const VMLINUX = '/sys/kernel/btf/vmlinux';

/** Every cookie and callback result of unwind.c is at least this; its normal returns are below. */
export const THROWN = 0x10000;

/** Packets of 80 bytes: an IPv4 frame's type, then a pattern per seed (the last: every throw taken). */
export const THROW_PACKETS: readonly Uint8Array[] = [1, 3, 5, 7, 11, 13, 101, 255, 0].map((seed) => {
  const p = new Uint8Array(80).fill(seed === 0 ? 0xff : 0);
  p[12] = 8;
  if (seed) for (let i = 14; i < p.length; i++) p[i] = (i * seed + (seed >> 2)) & 0xff;
  return p;
});

/** Programs every native runner must be able to run (the test asserts they are among the runnable). */
export const THROW_RUNNABLE_NAMES: readonly string[] = ['deep_default', 'deep_named', 'big_stack', 'throw_in_loop', 'global_loop', 'asserts', 'throw_always', 'cb_named'];

/** @bpf/elf, @bpf/btf, @bpf/verifier, @bpf/kernel and @bpf/vm, loaded by name. */
export async function throwingLayers<P extends ThrowingProgram, X extends ThrowingXlated>(): Promise<ThrowingLayers<P, X>> {
  const load = async (name: string): Promise<object> => (await import(/* @vite-ignore */ name)) as object;
  const parts = await Promise.all(['@bpf/elf', '@bpf/btf', '@bpf/verifier', '@bpf/kernel', '@bpf/vm'].map(load));
  return Object.assign({}, ...parts) as ThrowingLayers<P, X>;
}

/**
 * exceptions.c and unwind.c compiled, each program loaded by the running kernel; those it
 * accepts are verified by ours, which must accept them too (an Error names the one it refuses).
 */
export function acceptedThrowing<P extends ThrowingProgram, X extends ThrowingXlated>(L: ThrowingLayers<P, X>): ThrowingCase<P, X>[] {
  const vmlinux = new Uint8Array(readFileSync(VMLINUX));
  const kbtf = L.parseBtf(vmlinux);
  const programs = ['exceptions.c', 'unwind.c'].flatMap((file) => {
    const obj = clangBpfObject(readFileSync(join(fixturesDir, 'c/exceptions', file), 'utf8'), {
      args: ['-mcpu=v3', '-Wno-unused-variable', '-I', join(fixturesDir, 'c/elf'), '-I', join(fixturesDir, 'c/exceptions')],
    });
    return L.loadPrograms(obj, { kernelBtf: vmlinux, kallsyms: kallsyms() });
  });
  return programs.flatMap((p) => {
    const k = L.loadWithMaps(p, { logLevel: 0 });
    try {
      if (!k.accepted) return [];
      const v = L.verify(p, { kernelBtf: kbtf, logLevel: 0 });
      if (!v.accepted || !v.xlated) throw new Error(`${p.name}: the kernel accepts it, our verifier does not`);
      return [{ p, xlated: v.xlated, kernelCode: k.jited ?? new Uint8Array(), kernelLen: k.jitedLen ?? 0 }];
    } finally {
      k.close();
    }
  });
}

/** The maps a program refers to (the object's others may be of types the native runners lack). */
export function mapsOf<P extends ThrowingProgram>(p: P): NonNullable<P['maps']> {
  return (p.maps ?? []).filter((m) => (p.relocs ?? []).some((r) => r.kind !== 'kfunc' && r.name === m.name)) as NonNullable<P['maps']>;
}

/** Packet programs whose host functions the native runners have (no RCU, ringbuf or timer kfuncs). */
export function runnableThrowing<P extends ThrowingProgram, X extends ThrowingXlated>(cases: readonly ThrowingCase<P, X>[]): ThrowingCase<P, X>[] {
  return cases.filter(
    ({ p, xlated }) =>
      (p.type === 'sched_cls' || p.type === 'xdp') &&
      (xlated.relocs ?? []).every((r) => r.kind !== 'kfunc' || r.name === 'bpf_throw') &&
      mapsOf(p).every((m) => m.type === 'array' || m.type === 'hash' || m.type === 'prog_array'),
  );
}

/** BPF_PROG_TEST_RUN's retval (a fresh load: maps start empty) and @bpf/vm's, for one packet. */
export function throwingExpected<P extends ThrowingProgram, X extends ThrowingXlated>(L: ThrowingLayers<P, X>, c: ThrowingCase<P, X>, data: Uint8Array): { kernel: number; vm: number } {
  const k = L.loadWithMaps(c.p, { logLevel: 0 });
  try {
    const kernel = L.testRun(k.fd!, { data }).retval;
    const vm = Number(L.run(c.xlated, { data, type: c.p.type as 'sched_cls' | 'xdp', maps: mapsOf(c.p) }).r0 & 0xffffffffn);
    return { kernel, vm };
  } finally {
    k.close();
  }
}
