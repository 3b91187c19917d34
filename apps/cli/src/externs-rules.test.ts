/**
 * Externs under the chosen loader's rules, live: libbpf resolves every extern of an object
 * before loading any program and refuses the whole object over one the kernel lacks
 * (`bpftool prog loadall` is the oracle), cilium/ebpf resolves them per program. Our own
 * object: one program calls a kfunc no kernel has, the other needs nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, skipWithout, tempDir } from '@bpf/testkit';
import { beforeAll, describe, expect, it } from 'vitest';

const SRC = `
#define SEC(n) __attribute__((section(n), used))
extern int no_such_kfunc_for_cli_tests(int x) __attribute__((section(".ksyms")));
SEC("tc") int uses_missing(void *ctx) { return no_such_kfunc_for_cli_tests(1); }
SEC("tc") int needs_nothing(void *ctx) { return 3; }
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'bpftool', 'kernel'))('externs: the loader\'s rules, live', { timeout: 300_000 }, () => {
  const dir = tempDir('bpf-externs-');
  const obj = join(dir, 'externs.o');
  beforeAll(() => {
    writeFileSync(join(dir, 'externs.c'), SRC);
    execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-c', join(dir, 'externs.c'), '-o', obj]);
    execFileSync('pnpm', ['exec', 'tsc', '-b', 'apps/cli'], { cwd: repoRoot, stdio: 'inherit' });
  }, 300_000);
  const bpf = (...args: string[]): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'apps/cli/dist/bin.js'), ...args], { encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  it('libbpf (the default) refuses the object whole, naming the extern, as bpftool does; cilium/ebpf loads the other program', () => {
    const fs = join(dir, 'bpffs');
    mkdirSync(fs);
    execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
    let libbpf;
    try {
      libbpf = spawnSync('bpftool', ['-d', 'prog', 'loadall', obj, join(fs, 'p')], { encoding: 'utf8' });
    } finally {
      execFileSync('umount', [fs]);
      rmSync(fs, { recursive: true, force: true });
    }
    expect(libbpf.status).not.toBe(0);
    expect(libbpf.stderr).toContain("extern (func ksym) 'no_such_kfunc_for_cli_tests': not found in kernel or module BTFs");
    // each spawn reads the kernel's BTF: kernel load for both programs, verify for one
    for (const [cmd, prog] of [['kernel load', 'uses_missing'], ['kernel load', 'needs_nothing'], ['verify', 'needs_nothing']] as const) {
      const r = bpf(...cmd.split(' '), obj, '--prog', prog);
      expect(r.code, `${cmd} ${prog}`).not.toBe(0);
      expect(r.stderr).toContain('section tc, insn 1: kfunc no_such_kfunc_for_cli_tests is not in the kernel BTF');
    }
    const cilium = (prog: string): ReturnType<typeof bpf> => bpf('kernel', 'load', obj, '--prog', prog, '--linker', 'cilium/ebpf');
    const other = cilium('needs_nothing');
    expect(other.code, other.stderr).toBe(0);
    const missing = cilium('uses_missing');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('kfunc no_such_kfunc_for_cli_tests is not in the kernel BTF');
    // reading the object needs no kernel: it still disassembles
    expect(bpf('disasm', obj).code).toBe(0);
  });
});
