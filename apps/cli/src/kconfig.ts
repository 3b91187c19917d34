/**
 * Values for `__kconfig` externs as libbpf fills them in for the running kernel
 * (tools/lib/bpf/libbpf.c: bpf_object__read_kconfig_file, bpf_object__resolve_externs):
 * every `CONFIG_X=...` line of /proc/config.gz (or /boot/config-RELEASE), plus the
 * libbpf-provided LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE and LINUX_HAS_SYSCALL_WRAPPER.
 * Lines `# CONFIG_X is not set` are comments to libbpf too: such externs stay unset (0 when
 * `__weak`, an error otherwise). Values are kept as the configuration writes them (`y`, `m`,
 * `250`, `"text"`): @bpf/elf reads each by its extern's type, as the object's loader does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';

/** Parse the text of a kernel .config into extern values: every `CONFIG_X=value` line, the value as written. */
export function parseKconfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_\w+)=(.+)$/.exec(line.trim());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** KERNEL_VERSION(a, b, c) of a release string such as 6.18.44-foo, c capped at 255 as libbpf does. */
export function kernelVersionCode(rel: string): number | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel);
  if (!m) return undefined;
  return (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(Number(m[3] ?? 0), 255);
}

let cached: Readonly<Record<string, string | number | boolean>> | null | undefined;

/** The running kernel's values, read once; undefined when no kernel configuration can be read. */
export function kernelKconfig(): Readonly<Record<string, string | number | boolean>> | undefined {
  if (cached !== undefined) return cached ?? undefined;
  let text: string | undefined;
  try {
    if (existsSync('/proc/config.gz')) text = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
    else if (existsSync(`/boot/config-${release()}`)) text = readFileSync(`/boot/config-${release()}`, 'utf8');
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    cached = null;
    return undefined;
  }
  const values: Record<string, string | number | boolean> = Object.fromEntries(parseKconfig(text));
  const version = kernelVersionCode(release());
  if (version !== undefined) values.LINUX_KERNEL_VERSION = version;
  // libbpf probes these by loading and attaching; the kernel's own symbols answer the same
  // question: the bpf_get_attach_cookie helper's implementations, and the arch's syscall
  // wrapper for bpf() (__x64_sys_bpf, __arm64_sys_bpf, ...). /proc/kallsyms is read when an
  // object asks for one of them (most never do: reading it costs ~100 ms): both are getters
  let syms: string | undefined;
  const kallsyms = (): string => {
    if (syms === undefined) {
      try {
        syms = readFileSync('/proc/kallsyms', 'utf8');
      } catch {
        syms = ''; // without kallsyms both probes answer no
      }
    }
    return syms;
  };
  const probe = (name: string, test: (syms: string) => boolean): void => {
    let answer: boolean | undefined;
    Object.defineProperty(values, name, { enumerable: true, configurable: true, get: () => (answer ??= test(kallsyms())) });
  };
  probe('LINUX_HAS_BPF_COOKIE', (t) => /\sbpf_get_attach_cookie/.test(t));
  probe('LINUX_HAS_SYSCALL_WRAPPER', (t) => /\s__[a-z0-9]+_sys_bpf\n/.test(t));
  cached = values;
  return values;
}
