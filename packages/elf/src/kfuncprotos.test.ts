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
import { ElfError, loadPrograms, parseElf } from './index.js';

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

/**
 * Floating-point types (fixtures/c/elf-shapes/btf/float_core.c against float_target.c's BTF):
 * libbpf's bpf_core_types_are_compat has no case for FLOAT, so a float is compatible with
 * nothing, not even a float. The running kernel's BTF has a FLOAT no type refers to, so the
 * target is our own object's BTF; libbpf's answer for the CO-RE relocations is read live from
 * `bpftool -d gen min_core_btf`, which runs libbpf's relocation matching against a given BTF and
 * logs each relocation's candidates. For the kfunc no tool loads against a BTF of our making:
 * ours refuses the prototype in the words libbpf uses for an incompatible one.
 */
describe.skipIf(skipWithout('clang-19', 'bpftool'))('float types are never CO-RE compatible (libbpf)', () => {
  const dir = join(fixturesDir, 'c/elf-shapes/btf');
  const compile = (file: string, ...defines: string[]): string => {
    const out = join(tempDir('elf-float-'), 'o.o');
    execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', ...defines, '-c', join(dir, file), '-o', out]);
    return out;
  };

  it("type_exists of a typedef of double is 0, of a typedef of int 1, as libbpf's relocation log says", () => {
    const target = compile('float_target.c');
    const obj = compile('float_core.c');
    const r = spawnSync('bpftool', ['-d', 'gen', 'min_core_btf', target, join(tempDir('elf-float-'), 'min.btf'), obj], { encoding: 'utf8' });
    // "relo #0: <type_exists> [5] typedef dbl" then "relo #0: no matching targets found" or "relo #0: matching candidate #0 ..."
    const theirs: Record<string, number> = {};
    const names = new Map<string, string>();
    for (const m of r.stderr.matchAll(/relo #(\d+): (?:<type_exists> \[\d+\] typedef (\w+)|(no matching targets found)|(matching candidate))/g)) {
      if (m[2]) names.set(m[1]!, m[2]);
      else theirs[names.get(m[1]!)!] ??= m[3] ? 0 : 1;
    }
    expect(r.stderr).toContain('unexpected kind float relocated');
    const ours: Record<string, number> = {};
    for (const p of loadPrograms(new Uint8Array(readFileSync(obj)), { kernelBtf: parseElf(new Uint8Array(readFileSync(target))).btf! }))
      ours[p.name.replace(/_exists$/, '')] = p.insns[0]!.imm;
    expect(theirs).toEqual({ dbl: 0, whole: 1 });
    expect(ours).toEqual(theirs);
  });

  it('an extern kfunc with a double parameter is incompatible with the same prototype in the target', () => {
    const target = parseElf(new Uint8Array(readFileSync(compile('float_target.c')))).btf!;
    const bytes = new Uint8Array(readFileSync(compile('float_core.c', '-DKFUNC')));
    let err: unknown;
    try {
      loadPrograms(bytes, { kernelBtf: target });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ElfError);
    expect((err as ElfError).message).toMatch(/extern \(func ksym\) 'bpf_scale': func_proto \[\d+\] incompatible with vmlinux \[5\]$/);
    expect(loadPrograms(bytes, { kernelBtf: target, linker: 'cilium/ebpf' }).find((p) => p.name === 'scale')!.unresolved?.message).toMatch(/kfunc "bpf_scale": type mismatch between the prototypes/);
  });
});
