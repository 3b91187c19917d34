/**
 * Extern kfunc prototypes against the kernel's BTF (fixtures/c/elf-shapes/btf/kfunc_protos.c,
 * our own source): libbpf refuses the whole object over one prototype the kernel's does not
 * match ("func_proto [L] incompatible with ..."; bpftool prog loadall is the oracle, live) and
 * takes an incompatible __weak one as absent; cilium/ebpf refuses each program calling one,
 * __weak or not. The matching prototypes load and get the kernel's verdict.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Program } from '@bpf/isa';
import { fixturesDir, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { ElfError, loadPrograms } from './index.js';

interface KernelApi { loadWithMaps(p: Program, opts?: { logLevel?: number }): { accepted: boolean; error?: string; close(): void } }
const kernelModule = '@bpf/kernel';
const api: KernelApi | undefined = await import(/* @vite-ignore */ kernelModule).then(
  (m: Partial<KernelApi>) => (typeof m.loadWithMaps === 'function' ? (m as KernelApi) : undefined),
  () => undefined,
);

const source = join(fixturesDir, 'c/elf-shapes/btf/kfunc_protos.c');
function build(...defines: string[]): string {
  const out = join(tempDir('elf-kfproto-'), 'o.o');
  execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-Wall', '-Werror', ...defines, '-c', source, '-o', out]);
  return out;
}
const vmlinux = (): Uint8Array => new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'));

/** What libbpf (bpftool prog loadall) says of the object: loaded, or its incompatible extern and the two type ids. */
function bpftool(path: string): string {
  const fs = tempDir('bpffs-kfproto-');
  execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
  try {
    const r = spawnSync('bpftool', ['-d', 'prog', 'loadall', path, join(fs, 'p')], { encoding: 'utf8' });
    if (r.status === 0) return 'loaded';
    const m = /extern \(func ksym\) '(\w+)': func_proto \[(\d+)\] incompatible with \w+ \[(\d+)\]/.exec(r.stderr);
    return m ? `${m[1]} ${m[2]} ${m[3]}` : r.stderr.split('\n').filter((l) => !l.startsWith('libbpf: elf:')).slice(-8).join('\n');
  } finally {
    execFileSync('umount', [fs]);
    rmSync(fs, { recursive: true, force: true });
  }
}

/** Ours under libbpf's rules, in the same terms. */
function ours(path: string): string {
  try {
    loadPrograms(new Uint8Array(readFileSync(path)), { kernelBtf: vmlinux() });
    return 'loaded';
  } catch (e) {
    if (!(e instanceof ElfError)) throw e;
    const m = /extern \(func ksym\) '(\w+)': func_proto \[(\d+)\] incompatible with vmlinux \[(\d+)\]$/.exec(e.message);
    expect([e.code, e.extern]).toEqual(['UNRESOLVED_EXTERN', m?.[1]]);
    return m ? `${m[1]} ${m[2]} ${m[3]}` : e.message;
  }
}

describe.skipIf(api === undefined || skipWithout('clang-19', 'bpftool', 'kernel'))('kfunc prototypes against the kernel BTF', { timeout: 120_000 }, () => {
  it('libbpf: an incompatible prototype refuses the object, naming the extern and both func_protos, as bpftool does', () => {
    // FWD_TASK: a pointer to a forward-declared struct where the kernel's points to the struct
    for (const defines of [['-DWRONG_ARITY'], ['-DWRONG_RETURN'], ['-DWRONG_ARITY', '-DWRONG_RETURN'], ['-DFWD_TASK']]) {
      const path = build(...defines);
      const theirs = bpftool(path);
      expect(theirs, defines.join(' ')).toMatch(/^bpf_task_\w+ \d+ \d+$/);
      expect(ours(path), defines.join(' ')).toBe(theirs);
    }
  });

  it('matching prototypes: every program gets the kernel verdict libbpf gets', () => {
    // LOOSE: other integer types, a typedef, a const and another struct's name, all of which libbpf lets differ
    for (const defines of [[], ['-DLOOSE']]) {
      const path = build(...defines);
      // bpftool loads them all (syscall programs accepted)
      expect(bpftool(path), defines.join(' ')).toBe('loaded');
      for (const linker of ['libbpf', 'cilium/ebpf'] as const) {
        for (const p of loadPrograms(new Uint8Array(readFileSync(path)), { kernelBtf: vmlinux(), linker })) {
          expect([linker, p.name, p.unresolved]).toEqual([linker, p.name, undefined]);
          const l = api!.loadWithMaps(p, { logLevel: 1 });
          try {
            expect([p.name, l.accepted, l.error]).toEqual([p.name, true, undefined]);
          } finally {
            l.close();
          }
        }
      }
    }
  });

  it('libbpf takes an incompatible __weak kfunc as absent (its calls keep id 0); cilium/ebpf refuses the programs calling one', () => {
    const path = build('-DWRONG_ARITY', '-DWEAK');
    const bytes = new Uint8Array(readFileSync(path));
    const progs = loadPrograms(bytes, { kernelBtf: vmlinux() });
    const acquire = progs.find((p) => p.name === 'acquire_again')!;
    const call = acquire.relocs.find((r) => r.kind === 'kfunc' && r.name === 'bpf_task_acquire')!;
    expect(acquire.insns[call.insn]!.imm).toBe(0);
    expect(progs.find((p) => p.name === 'by_pid')!.unresolved).toBeUndefined();
    // the kernel refuses the call to id 0 only if it is reachable: here it is, as under libbpf
    const l = api!.loadWithMaps(acquire, { logLevel: 1 });
    try {
      expect(l.accepted).toBe(false);
    } finally {
      l.close();
    }
    const cilium = loadPrograms(bytes, { kernelBtf: vmlinux(), linker: 'cilium/ebpf' });
    expect(cilium.map((p) => [p.name, p.unresolved?.message])).toEqual([
      ['by_pid', undefined],
      ['acquire_again', 'section syscall, insn 17: kfunc "bpf_task_acquire": function param mismatch: incompatible types'],
    ]);
  });
});
