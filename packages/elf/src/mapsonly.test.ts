/**
 * An object of maps and no programs (fixtures/c/elf/maps_only.c, ours; cilium/ebpf's testdata
 * arena.c has the shape): `loadObject` gives its maps as a loader creates them, and
 * `@bpf/kernel`'s `createMaps` makes them in the running kernel exactly as libbpf does
 * (bpftool prog loadall ... pinmaps, read back with bpftool map show): type, key and value
 * sizes, max_entries, flags, BTF or none.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, run, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { loadObject, loadPrograms } from './index.js';

interface Info { type: string | number; keySize: number; valueSize: number; maxEntries: number; flags: number; btfId: number; mapExtra: bigint }
interface KernelApi {
  createMaps(defs: readonly unknown[], opts?: { btf?: { bytes: Uint8Array } }): { maps: readonly { name: string; map?: { fd: number }; error?: Error }[]; close(): void };
  mapInfo(fd: number): Info;
}
const kernelModule = '@bpf/kernel';
const api: KernelApi | undefined = await import(/* @vite-ignore */ kernelModule).then(
  (m: Partial<KernelApi>) => (typeof m.createMaps === 'function' && typeof m.mapInfo === 'function' ? (m as KernelApi) : undefined),
  () => undefined,
);

function build(): string {
  const out = join(tempDir('elf-mapsonly-'), 'maps_only.o');
  execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-Wall', '-Werror', '-c', join(fixturesDir, 'c/elf/maps_only.c'), '-o', out]);
  return out;
}

describe.skipIf(skipWithout('clang-19'))('an object of maps only', () => {
  it('loadObject: no programs, every map as its loader defines it, and the BTF for their types', () => {
    const bytes = new Uint8Array(readFileSync(build()));
    expect(loadPrograms(bytes)).toEqual([]);
    const o = loadObject(bytes);
    expect(o.programs).toEqual([]);
    expect(o.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags ?? 0, m.mapExtra ?? null, m.btfValueTypeId !== undefined])).toEqual([
      ['counters_by_flow', 'hash', 4, 16, 64, 0, null, true],
      ['shared_page', 'array', 4, 8, 16, 1024, null, true],
      ['events', 'ringbuf', 0, 0, 16384, 0, null, false],
      ['seen_addresses', 'bloom_filter', 0, 4, 128, 0, 5n, true],
      ['recent_peers', 'lru_hash', 8, 16, 32, 2, null, false],
      ['.rodata', 'array', 4, 4, 1, 0x480, null, true],
      ['.bss', 'array', 4, 8, 1, 1024, null, true],
    ]);
    expect(o.btf?.bytes.length).toBeGreaterThan(0);
  });

  it.skipIf(api === undefined || skipWithout('kernel', 'bpftool'))('createMaps in the running kernel: the maps libbpf creates (bpftool prog loadall pinmaps, map show)', () => {
    const path = build();
    const fs = tempDir('bpffs-mapsonly-');
    execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
    const theirs = new Map<string, string>();
    try {
      run('bpftool', ['prog', 'loadall', path, join(fs, 'p'), 'pinmaps', join(fs, 'm')]);
      for (const pin of readdirSync(join(fs, 'm'))) {
        const j = JSON.parse(run('bpftool', ['-j', 'map', 'show', 'pinned', join(fs, 'm', pin)])) as { type: string; name: string; flags: number; bytes_key: number; bytes_value: number; max_entries: number; btf_id?: number };
        // libbpf names global data maps after the object (maps_on.rodata): match by section
        const name = j.name.endsWith('.rodata') ? '.rodata' : j.name.endsWith('.bss') ? '.bss' : j.name;
        theirs.set(name, `${j.type} key ${j.bytes_key} value ${j.bytes_value} max ${j.max_entries} flags ${j.flags} btf ${(j.btf_id ?? 0) !== 0}`);
      }
    } finally {
      execFileSync('umount', [fs]);
      rmSync(fs, { recursive: true, force: true });
    }
    const o = loadObject(new Uint8Array(readFileSync(path)));
    const made = api!.createMaps(o.maps, o.btf ? { btf: o.btf } : {});
    const ours = new Map<string, string>();
    try {
      for (const m of made.maps) {
        expect([m.name, m.error]).toEqual([m.name, undefined]);
        const i = api!.mapInfo(m.map!.fd);
        // the kernel truncates names to 15 characters, as bpftool shows them
        ours.set(m.name.slice(0, 15), `${i.type} key ${i.keySize} value ${i.valueSize} max ${i.maxEntries} flags ${i.flags} btf ${i.btfId !== 0}`);
      }
    } finally {
      made.close();
    }
    expect(ours.size).toBe(7);
    expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs));
  });
});
