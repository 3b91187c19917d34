/**
 * Externs resolved program by program, as cilium/ebpf resolves them (fixtures/c/elf-shapes/btf/
 * per_program_externs.c, our own source with the shape of cilium/ebpf's testdata ksym.c,
 * kfunc-kmod.c and fwd_decl.c): under its rules a program naming a kfunc, a kernel variable or
 * a kernel symbol this kernel lacks (or calling a function nobody defines) carries a typed
 * error and is refused alone, the others load and get the kernel's verdict; under libbpf's,
 * the object is refused whole, as bpftool prog loadall (libbpf 1.1) refuses it on this kernel.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Program } from '@bpf/isa';
import { fixturesDir, kallsyms, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { CILIUM_KFUNC_POISON, ElfError, loadPrograms } from './index.js';

interface KernelLoadLike { accepted: boolean; error?: string; close(): void }
interface KernelApi { loadWithMaps(p: Program, opts?: { logLevel?: number }): KernelLoadLike }
const kernelModule = '@bpf/kernel';
const api: KernelApi | undefined = await import(/* @vite-ignore */ kernelModule).then(
  (m: Partial<KernelApi>) => (typeof m.loadWithMaps === 'function' ? (m as KernelApi) : undefined),
  () => undefined,
);

const source = join(fixturesDir, 'c/elf-shapes/btf/per_program_externs.c');
function build(...defines: string[]): string {
  const out = join(tempDir('elf-perprog-'), 'o.o');
  execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-Wall', '-Werror', ...defines, '-c', source, '-o', out]);
  return out;
}
const vmlinux = (): Uint8Array => new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'));

describe.skipIf(skipWithout('clang-19', 'kernel'))('externs this kernel lacks, program by program (cilium/ebpf) or the whole object (libbpf)', () => {
  it('cilium/ebpf: a typed error on each program that names one (section, insn, extern), none on the others', () => {
    const bytes = new Uint8Array(readFileSync(build()));
    // opened without the kernel's BTF nothing is resolved yet: every program is there
    expect(loadPrograms(bytes, { linker: 'cilium/ebpf' }).map((p) => p.unresolved)).toEqual(Array(7).fill(undefined));
    const progs = loadPrograms(bytes, { kernelBtf: vmlinux(), kallsyms: kallsyms(), linker: 'cilium/ebpf' });
    expect(progs.map((p) => [p.name, p.unresolved?.code, p.unresolved?.section, p.unresolved?.insn, p.unresolved?.message])).toEqual([
      ['calls_absent_kfunc', 'UNRESOLVED_EXTERN', 'socket', 0, 'section socket, insn 0: kfunc absent_kfunc_for_tests is not in the kernel BTF'],
      ['reads_absent_variable', 'UNRESOLVED_EXTERN', 'socket', 3, 'section socket, insn 3: kernel variable absent_variable_for_tests is not in the kernel BTF'],
      ['reads_absent_symbol', 'UNRESOLVED_EXTERN', 'socket', 6, 'section socket, insn 6: typeless ksym absent_symbol_for_tests has no kallsyms address'],
      ['calls_absent_weak_kfunc', undefined, undefined, undefined, undefined],
      ['guards_absent_weak_kfunc', undefined, undefined, undefined, undefined],
      [
        'calls_undefined_function',
        'UNRESOLVED_EXTERN',
        'socket',
        19,
        'section socket, insn 19: call to declared_nowhere_defined, a function the object declares but does not define, and no __ksym kfunc: an unsatisfied reference',
      ],
      ['needs_nothing', undefined, undefined, undefined, undefined],
    ]);
    for (const p of progs) if (p.unresolved) expect(p.unresolved).toBeInstanceOf(ElfError);
    // a __weak kfunc the kernel lacks: cilium/ebpf's poisoned helper call (linker.go), no kfunc reloc left
    const weak = progs.find((p) => p.name === 'calls_absent_weak_kfunc')!;
    expect(weak.insns[0]).toEqual({ code: 0x85, dst: 0, src: 0, off: 0, imm: CILIUM_KFUNC_POISON });
    expect(weak.relocs.filter((r) => r.kind === 'kfunc')).toEqual([]);
  });

  it('libbpf: the object is refused at load by its first missing extern, as libbpf refuses it', () => {
    const bytes = new Uint8Array(readFileSync(build('-DNO_UNDEFINED_FUNCTION')));
    expect(() => loadPrograms(bytes, { kernelBtf: vmlinux(), kallsyms: kallsyms() })).toThrow(/^section socket, insn 0: kfunc absent_kfunc_for_tests is not in the kernel BTF$/);
  });

  it.skipIf(skipWithout('bpftool'))('libbpf (bpftool prog loadall) refuses the object whole, and will not open it with an undefined function', () => {
    const loadall = (path: string): { status: number | null; log: string } => {
      const fs = tempDir('bpffs-perprog-');
      execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
      try {
        const r = spawnSync('bpftool', ['-d', 'prog', 'loadall', path, join(fs, 'p')], { encoding: 'utf8' });
        return { status: r.status, log: r.stderr };
      } finally {
        execFileSync('umount', [fs]);
        rmSync(fs, { recursive: true, force: true });
      }
    };
    const without = loadall(build('-DNO_UNDEFINED_FUNCTION'));
    expect(without.status).not.toBe(0);
    expect(without.log).toContain("extern (func ksym) 'absent_kfunc_for_tests': not found in kernel or module BTFs");
    expect(without.log).toContain("failed to load object");
    // no program was sent to the kernel
    expect(without.log).not.toContain('BEGIN PROG LOAD LOG');
    const withFn = loadall(build());
    expect(withFn.status).not.toBe(0);
    expect(withFn.log).toContain("failed to find BTF for extern 'declared_nowhere_defined'");
  });

  it.skipIf(api === undefined)('in the running kernel: the refused ones throw their error before any syscall, the others get the kernel verdict', () => {
    const progs = loadPrograms(new Uint8Array(readFileSync(build())), { kernelBtf: vmlinux(), kallsyms: kallsyms(), linker: 'cilium/ebpf' });
    const verdicts = progs.map((p) => {
      try {
        const l = api!.loadWithMaps(p, { logLevel: 1 });
        l.close();
        return [p.name, l.accepted ? 'accepted' : `rejected: ${l.error}`];
      } catch (e) {
        return [p.name, e === p.unresolved ? 'refused by the loader' : `threw ${String(e)}`];
      }
    });
    expect(verdicts).toEqual([
      ['calls_absent_kfunc', 'refused by the loader'],
      ['reads_absent_variable', 'refused by the loader'],
      ['reads_absent_symbol', 'refused by the loader'],
      // reachable, the poisoned call is what the kernel names
      ['calls_absent_weak_kfunc', `rejected: invalid func unknown#${CILIUM_KFUNC_POISON}`],
      ['guards_absent_weak_kfunc', 'accepted'],
      ['calls_undefined_function', 'refused by the loader'],
      ['needs_nothing', 'accepted'],
    ]);
  });
});
