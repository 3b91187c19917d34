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

const ATTACH_SRC = `
typedef unsigned long long __u64;
#define SEC(n) __attribute__((section(n), used))
struct task_struct { int pid; } __attribute__((preserve_access_index));
SEC("fentry/no_such_kernel_function_for_cli_tests") int later(__u64 *ctx) { return ctx[0] != 0; }
SEC("tc") int now(void *ctx) { return __builtin_preserve_field_info(((struct task_struct *)0)->pid, 0); }
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

  // bcc's libbpf-tools have both an fentry program and its kprobe twin and turn one off at run
  // time (bpf_program__set_autoload): libbpf looks up attach targets only for the programs it
  // loads. --prog picks the program loaded alone, so the other's missing target costs nothing,
  // and the chosen one is linked against the kernel's BTF (its CO-RE offset is the kernel's).
  it('--prog loads that program alone: an fentry target this kernel lacks refuses only its own program', () => {
    const src = join(dir, 'attach.c');
    const attach = join(dir, 'attach.o');
    writeFileSync(src, ATTACH_SRC);
    execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-c', src, '-o', attach]);
    const dump = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const struct = dump.slice(dump.search(/^\[\d+\] STRUCT 'task_struct' /m));
    const pid = Number(/^\s+'pid' type_id=\d+ bits_offset=(\d+)/m.exec(struct.slice(0, struct.indexOf('\n[')))![1]) / 8;
    const verified = bpf('verify', attach, '--prog', 'now', '--log-level', '2');
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`0: (b7) r0 = ${pid} `);
    const loaded = bpf('kernel', 'load', attach, '--prog', 'now');
    expect(loaded.code, loaded.stderr).toBe(0);
    // the program whose target is missing: refused before any syscall, as libbpf refuses it
    const missing = bpf('kernel', 'load', attach, '--prog', 'later');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('attach target func no_such_kernel_function_for_cli_tests of later is not in the kernel BTF');
  });
});
