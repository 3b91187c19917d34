/**
 * `__kconfig` externs get the running kernel's values, as libbpf gives them: parsing a .config,
 * and end to end a clang-built program whose return value is computed from the externs, run by
 * the kernel (`bpf kernel run`), against what the kernel itself says (uname, /proc/config.gz,
 * and whether it loads a program calling bpf_get_attach_cookie).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { repoRoot, skipWithout, tempDir } from '@bpf/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelKconfig, kernelVersionCode, parseKconfig } from './kconfig.js';

describe('parseKconfig', () => {
  it('keeps every CONFIG_X=value line as written (each extern reads it by its type); skips "is not set" comments', () => {
    const v = parseKconfig(['# comment', 'CONFIG_A=y', 'CONFIG_B=m', 'CONFIG_C=n', 'CONFIG_HZ=250', 'CONFIG_MASK=0x1f', 'CONFIG_S="gcc"', '# CONFIG_D is not set', 'CONFIG_NEG=-3'].join('\n'));
    expect(Object.fromEntries(v)).toEqual({ CONFIG_A: 'y', CONFIG_B: 'm', CONFIG_C: 'n', CONFIG_HZ: '250', CONFIG_MASK: '0x1f', CONFIG_S: '"gcc"', CONFIG_NEG: '-3' });
  });
  it('KERNEL_VERSION caps the patch level at 255', () => {
    expect(kernelVersionCode('6.18.44-fc')).toBe((6 << 16) + (18 << 8) + 44);
    expect(kernelVersionCode('5.4.300')).toBe((5 << 16) + (4 << 8) + 255);
    expect(kernelVersionCode('x')).toBeUndefined();
  });
});

const SRC = `
typedef unsigned int u32;
#define SEC(n) __attribute__((section(n), used))
#define __kconfig __attribute__((section(".kconfig")))
#define __weak __attribute__((weak))
enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 };
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern u32 LINUX_KERNEL_VERSION __kconfig;
extern enum libbpf_tristate CONFIG_BPF_SYSCALL __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern int CONFIG_NOT_A_REAL_OPTION __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig __weak;
SEC("socket") int version(void *ctx) { return LINUX_KERNEL_VERSION; }
SEC("socket") int flags(void *ctx) {
  return LINUX_HAS_BPF_COOKIE | LINUX_HAS_SYSCALL_WRAPPER << 1 | CONFIG_BPF_SYSCALL << 2 | (CONFIG_NOT_A_REAL_OPTION != 0) << 3;
}
SEC("socket") int hz(void *ctx) { return CONFIG_HZ; }
SEC("socket") int hostname(void *ctx) { return CONFIG_DEFAULT_HOSTNAME[0] | CONFIG_DEFAULT_HOSTNAME[1] << 8; }
char _license[] SEC("license") = "GPL";
`;

const haveConfig = existsSync('/proc/config.gz');
describe.skipIf(skipWithout('clang-19', 'kernel') || !haveConfig)('kconfig externs, live', () => {
  const dir = tempDir('bpf-kconfig-');
  const obj = join(dir, 'kconfig.o');
  const config = haveConfig ? parseKconfig(gunzipSync(readFileSync('/proc/config.gz')).toString('utf8')) : new Map<string, string>();
  beforeAll(() => {
    writeFileSync(join(dir, 'kconfig.c'), SRC);
    execFileSync('clang-19', ['-target', 'bpf', '-O2', '-g', '-c', join(dir, 'kconfig.c'), '-o', obj]);
    execFileSync('pnpm', ['exec', 'tsc', '-b', 'apps/cli'], { cwd: repoRoot, stdio: 'inherit' });
  }, 300_000);
  const run = (prog: string): number => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'apps/cli/dist/bin.js'), 'kernel', 'run', obj, '--prog', prog, '--type', 'socket_filter', '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { retval: number }).retval;
  };

  it('LINUX_KERNEL_VERSION is KERNEL_VERSION() of uname -r', () => {
    expect(run('version')).toBe(kernelVersionCode(release()));
  });
  it('LINUX_HAS_BPF_COOKIE says whether the kernel loads a program calling bpf_get_attach_cookie; CONFIG_* from /proc/config.gz; a missing weak option is 0', async () => {
    const { loadProgram } = await import('@bpf/kernel');
    const { assemble } = await import('@bpf/isa');
    const probe = loadProgram(assemble('call 174\nexit'), { type: 'kprobe', license: 'GPL' });
    const cookie = probe.accepted ? 1 : 0;
    probe.close();
    const wrapper = /\s__[a-z0-9]+_sys_bpf\n/.test(readFileSync('/proc/kallsyms', 'utf8')) ? 1 : 0;
    const tri = { y: 1, m: 2, n: 0 } as Record<string, number>;
    expect(run('flags')).toBe(cookie | (wrapper << 1) | ((tri[config.get('CONFIG_BPF_SYSCALL') ?? 'n'] ?? 0) << 2));
    expect(kernelKconfig()?.LINUX_HAS_BPF_COOKIE).toBe(cookie === 1);
  });
  it('a numeric option (CONFIG_HZ) is the configuration\'s number', () => {
    expect(run('hz')).toBe(Number(config.get('CONFIG_HZ') ?? 0));
  });
  it('a string option (CONFIG_DEFAULT_HOSTNAME) is its text, cut to the array with a NUL kept', () => {
    const text = JSON.parse(config.get('CONFIG_DEFAULT_HOSTNAME') ?? '""') as string;
    expect(run('hostname')).toBe((text.charCodeAt(0) || 0) | ((text.length > 1 ? text.charCodeAt(1) : 0) << 8));
  });
});
