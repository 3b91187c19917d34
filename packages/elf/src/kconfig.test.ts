/**
 * `__kconfig` extern values. Live against libbpf (the system's libbpf.so.1, as bpftool uses it):
 * for our own programs, the `.kconfig` map libbpf makes from this machine's /proc/config.gz is
 * byte for byte ours, and an extern whose type cannot take its value is refused by both (libbpf's
 * errno, our typed error in libbpf's words). The cases this kernel's configuration cannot show
 * (an `m` value) and cilium/ebpf's rules (read from its internal/kconfig) are unit tests.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { clangBpfObject, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { typeTable, type BtfTypeInfo } from './btfview.js';
import { ElfError } from './errors.js';
import { writeKconfig, type KconfigValue } from './kconfig.js';
import { haveLibbpf, libbpfKconfig } from './libbpf.test.helper.js';
import { loadObject } from './load.js';

const HEAD = `
#define SEC(n) __attribute__((section(n), used))
#define __kconfig __attribute__((section(".kconfig")))
#define __weak __attribute__((weak))
enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 };
char _license[] SEC("license") = "GPL";
`;

/** Every extern kind libbpf knows, given this machine's values (weak: a machine without an option gets 0 from both). */
const ACCEPTED = `${HEAD}
extern _Bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig __weak;
extern char CONFIG_NET __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern unsigned short CONFIG_NR_CPUS __kconfig __weak;
extern long long CONFIG_LOG_BUF_SHIFT __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[4] __kconfig __weak;
extern char CONFIG_LOCALVERSION[32] __kconfig __weak;
extern unsigned int LINUX_KERNEL_VERSION __kconfig __weak;
extern int CONFIG_NOT_A_REAL_OPTION __kconfig __weak;
SEC("socket") int use(void *ctx) {
  return CONFIG_BPF_SYSCALL + CONFIG_BPF_JIT + CONFIG_NET + CONFIG_HZ + CONFIG_NR_CPUS + CONFIG_LOG_BUF_SHIFT +
         CONFIG_DEFAULT_HOSTNAME[0] + CONFIG_LOCALVERSION[1] + LINUX_KERNEL_VERSION + CONFIG_NOT_A_REAL_OPTION;
}
`;

/** One extern each whose type cannot take this machine's value: [declaration, option it needs, libbpf's errno (EINVAL for every kconfig failure), libbpf's words]. */
const REFUSED: readonly (readonly [string, string, number, RegExp])[] = [
  ['int CONFIG_BPF_SYSCALL', 'CONFIG_BPF_SYSCALL', 22, /value 'y' implies bool, tristate, or char type/],
  ['int CONFIG_DEFAULT_HOSTNAME', 'CONFIG_DEFAULT_HOSTNAME', 22, /value '"\(none\)"' implies char array type/],
  ['char CONFIG_HZ[8]', 'CONFIG_HZ', 22, /value '250' implies integer type/],
  ['_Bool CONFIG_HZ', 'CONFIG_HZ', 22, /value '250' implies integer type/],
  ['unsigned char CONFIG_NR_CPUS', 'CONFIG_NR_CPUS', 22, /value '256' doesn't fit in 1 bytes/],
  ['signed char CONFIG_HZ', 'CONFIG_HZ', 22, /value '250' doesn't fit in 1 bytes/],
];

/** This machine's kernel configuration as libbpf reads it, plus the LINUX_KERNEL_VERSION it computes. */
function machineKconfig(): Record<string, KconfigValue> {
  const out: Record<string, KconfigValue> = {};
  for (const line of gunzipSync(readFileSync('/proc/config.gz')).toString('utf8').split('\n')) {
    const m = /^(CONFIG_\w+)=(.+)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  const v = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release());
  if (v) out.LINUX_KERNEL_VERSION = (Number(v[1]) << 16) + (Number(v[2]) << 8) + Math.min(Number(v[3] ?? 0), 255);
  return out;
}

const live = !skipWithout('clang-19', 'kernel') && existsSync('/proc/config.gz') && haveLibbpf();
describe.skipIf(!live)('kconfig externs, live against libbpf', () => {
  const dir = tempDir('bpf-elf-kconfig-');
  const config = live ? machineKconfig() : {};
  const build = (name: string, source: string): { path: string; bytes: Uint8Array } => {
    const bytes = clangBpfObject(source, { args: ['-mcpu=v3'] });
    const path = join(dir, `${name}.o`);
    writeFileSync(path, bytes);
    return { path, bytes };
  };

  it("every kind of extern: the .kconfig map's bytes are libbpf's", () => {
    const { path, bytes } = build('accepted', ACCEPTED);
    const ours = loadObject(bytes, { kconfig: config }).maps.find((m) => m.kind === 'kconfig')!.data!;
    const theirs = libbpfKconfig(path, ours.length);
    expect(theirs?.errno).toBe(0);
    expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(theirs!.data!).toString('hex'));
    // the truncated string keeps a NUL, as libbpf writes it
    expect(ours.some((b) => b === '('.charCodeAt(0))).toBe(config.CONFIG_DEFAULT_HOSTNAME === '"(none)"');
  });

  for (const [decl, option, errno, words] of REFUSED)
    it(`extern ${decl} __kconfig (${option}=${String(config[option] ?? '')}): both refuse`, () => {
      if (config[option] === undefined) return;
      const name = decl.replace(/\W+/g, '_');
      const { path, bytes } = build(name, `${HEAD}\nextern ${decl} __kconfig;\nSEC("socket") int use(void *ctx) { return *(volatile char *)&${option.trim()}; }\n`);
      expect(libbpfKconfig(path, 64)?.errno).toBe(errno);
      let err: unknown;
      try {
        loadObject(bytes, { kconfig: config });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ElfError);
      expect((err as ElfError).code).toBe('UNRESOLVED_EXTERN');
      expect((err as ElfError).extern).toBe(option);
      expect((err as ElfError).message).toMatch(words);
    });
});

describe('kconfig values by extern type (the rules of libbpf and cilium/ebpf)', () => {
  // [0] void, then: _Bool, char, signed char, int, unsigned short, long long, enum libbpf_tristate, char[4], enum other, int[2]
  const types: BtfTypeInfo[] = [
    { kind: 'void' },
    { kind: 'int', name: '_Bool', size: 1, signed: false, bits: 8, bitOffset: 0, bool: true },
    { kind: 'int', name: 'char', size: 1, signed: false, bits: 8, bitOffset: 0 },
    { kind: 'int', name: 'signed char', size: 1, signed: true, bits: 8, bitOffset: 0 },
    { kind: 'int', name: 'int', size: 4, signed: true, bits: 32, bitOffset: 0 },
    { kind: 'int', name: 'unsigned short', size: 2, signed: false, bits: 16, bitOffset: 0 },
    { kind: 'int', name: 'long long', size: 8, signed: true, bits: 64, bitOffset: 0 },
    { kind: 'enum', name: 'libbpf_tristate', size: 4, signed: false, values: [] },
    { kind: 'array', elemType: 2, nelems: 4 },
    { kind: 'enum', name: 'other', size: 4, signed: false, values: [] },
    { kind: 'array', elemType: 4, nelems: 2 },
  ];
  const btf = typeTable(types);
  const SIZE = [0, 1, 1, 1, 4, 2, 8, 4, 4, 4, 8];
  const put = (type: number, value: KconfigValue, linker: 'libbpf' | 'cilium/ebpf' = 'libbpf'): string => {
    const data = new Uint8Array(SIZE[type]!).fill(0xaa);
    writeKconfig(btf, { name: 'CONFIG_X', type, offset: 0, size: SIZE[type]! }, value, new DataView(data.buffer), true, linker);
    return Buffer.from(data).toString('hex');
  };
  const refusal = (type: number, value: KconfigValue, linker: 'libbpf' | 'cilium/ebpf' = 'libbpf'): string => {
    try {
      put(type, value, linker);
    } catch (e) {
      expect(e).toBeInstanceOf(ElfError);
      return (e as Error).message;
    }
    return 'accepted';
  };

  it('y, n and m', () => {
    expect([put(1, 'y'), put(1, 'n'), put(7, 'y'), put(7, 'm'), put(7, 'n'), put(2, 'y'), put(2, 'm')]).toEqual(['01', '00', '01000000', '02000000', '00000000', '79', '6d']);
    expect(refusal(1, 'm')).toMatch(/'CONFIG_X': value 'm' implies tristate or char type/);
    for (const t of [4, 8, 9]) expect(refusal(t, 'y')).toMatch(/value 'y' implies bool, tristate, or char type/);
    // cilium/ebpf takes y/n for a _Bool and y/m/n for libbpf_tristate only
    expect(refusal(2, 'y', 'cilium/ebpf')).toMatch(/implies bool, tristate, or char type/);
    expect(put(7, 'm', 'cilium/ebpf')).toBe('02000000');
  });

  it('strings: libbpf keeps a NUL in the array, cilium/ebpf fills it', () => {
    expect(put(8, '"ab"')).toBe('616200aa');
    expect(put(8, '"(none)"')).toBe('286e6f00');
    expect(put(8, '"(none)"', 'cilium/ebpf')).toBe('286e6f6e');
    expect(put(8, '""')).toBe('00aaaaaa');
    expect(refusal(4, '"ab"')).toMatch(/value '"ab"' implies char array type/);
    expect(refusal(10, '"ab"')).toMatch(/implies char array type/);
    expect(refusal(8, '"ab')).toMatch(/invalid string config/);
  });

  it('numbers: C syntax, the extern\'s size, libbpf\'s unsigned parse and cilium/ebpf\'s signed one', () => {
    expect([put(4, '250'), put(4, '0x1f'), put(4, '010'), put(5, '65535'), put(6, '-1'), put(2, '255')]).toEqual(['fa000000', '1f000000', '08000000', 'ffff', 'ffffffffffffffff', 'ff']);
    expect(refusal(5, '65536')).toMatch(/value '65536' doesn't fit in 2 bytes/);
    expect(refusal(3, '128')).toMatch(/value '128' doesn't fit in 1 bytes/);
    // strtoull("-1") is 2^64 - 1, which a signed int holds as -1 and an unsigned short cannot
    expect([put(4, '-1'), put(4, '-1', 'cilium/ebpf')]).toEqual(['ffffffff', 'ffffffff']);
    expect(refusal(5, '-1')).toMatch(/value '18446744073709551615' doesn't fit in 2 bytes/);
    expect(refusal(5, '-1', 'cilium/ebpf')).toMatch(/value '-1' doesn't fit in 2 bytes/);
    expect(refusal(4, '0xffffffff', 'cilium/ebpf')).toMatch(/doesn't fit in 4 bytes/);
    expect(refusal(4, '12abc')).toMatch(/value '12abc' isn't a valid integer/);
    expect(refusal(1, '1')).toMatch(/value '1' implies integer type/);
    expect(refusal(7, '1')).toMatch(/implies integer type/);
  });

  it("a host's numbers and booleans: libbpf's own values (LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE)", () => {
    expect([put(4, 0x61200), put(1, true), put(1, false), put(1, 1), put(6, 5n)]).toEqual(['00120600', '01', '00', '01', '0500000000000000']);
    expect(refusal(1, 2)).toMatch(/value '2' isn't boolean compatible/);
    expect(refusal(7, 3)).toMatch(/implies integer, char, or boolean type/);
    expect(refusal(4, 1.5)).toMatch(/is not an integer/);
    // libbpf sets its booleans as y/n (a libbpf_tristate takes them); cilium/ebpf as integers (any int takes them)
    expect(put(7, true)).toBe('01000000');
    expect(put(4, true, 'cilium/ebpf')).toBe('01000000');
  });
});
