/**
 * Global variables set before loading (`LoadOptions.globals`): integers, and a variable's bytes
 * given whole, as cilium/ebpf's `VariableSpec.Set` writes a Go struct into `.rodata` (pwru sets
 * its `volatile const struct config CFG` this way). The real-world recorder's pwru row loads
 * pwru's object with its default CFG and compares it with the running kernel.
 */
import { clangBpfObject, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { ElfError } from './errors.js';
import { loadObject } from './load.js';

const SRC = `
#define SEC(n) __attribute__((section(n), used))
struct config { unsigned int netns; unsigned char flags; unsigned char pad; unsigned int id; } __attribute__((packed));
volatile const struct config CFG;
volatile const unsigned short N = 7;
char _license[] SEC("license") = "GPL";
SEC("socket") int prog(void *ctx) { return CFG.flags & 1 ? CFG.id + N : 0; }
`;

describe.skipIf(skipWithout('clang-19'))('global variables set before loading', () => {
  const bytes = clangBpfObject(SRC, { args: ['-g'] });
  const rodata = (given: Parameters<typeof loadObject>[1]) => loadObject(bytes, given).maps.find((m) => m.section === '.rodata')!;
  const cfg = Uint8Array.of(1, 0, 0, 0, 0x81, 0, 5, 0, 0, 0);

  it('writes a struct variable given as its bytes, and an integer in the byte order, each at its symbol', () => {
    const before = rodata({});
    const m = rodata({ globals: { CFG: cfg, N: 0x1234 } });
    expect(m.data!.length).toBe(before.data!.length);
    const at = (s: Uint8Array) => [...m.data!].join(',').indexOf([...s].join(','));
    expect(at(cfg)).toBeGreaterThanOrEqual(0);
    expect(at(Uint8Array.of(0x34, 0x12))).toBeGreaterThanOrEqual(0);
  });

  it('refuses bytes of another size than the variable, naming the section and byte offset', () => {
    let err: unknown;
    try {
      rodata({ globals: { CFG: cfg.subarray(0, 9) } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ElfError);
    expect((err as ElfError).message).toMatch(/CFG is 10 bytes; 9 bytes given/);
    expect((err as ElfError).section).toBe('.rodata');
    expect(typeof (err as ElfError).byteOffset).toBe('number');
  });

  it('still refuses a struct given as an integer', () => {
    expect(() => rodata({ globals: { CFG: 1 } })).toThrow(/CFG is 10 bytes; only integers of 1, 2, 4 or 8 bytes can be set \(or give its bytes\)/);
  });
});
