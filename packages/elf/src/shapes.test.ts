/**
 * Old object shapes, each proven on objects we build from our own sources
 * (fixtures/c/elf-shapes, by its build.sh with clang-19 / llvm-mc-19) and then rewrite the way
 * older toolchains wrote them: `NOTYPE` function symbols (old clang), no function symbols at
 * all (only section symbols), `e_machine` 0 (LLVM before 3.9). Every shape must link to the
 * instructions of the object it came from, and load in the running kernel with the verdict
 * the kernel gives the original.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Program } from '@bpf/isa';
import { fixturesDir, skipWithout, tempDir } from '@bpf/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ElfProgram } from './index.js';
import { ElfError, loadPrograms, parseElf, parseElfFile } from './index.js';

interface KernelLoadLike { accepted: boolean; error?: string; close(): void }
interface KernelApi { loadWithMaps(p: Program, opts?: { type?: string; logLevel?: number }): KernelLoadLike }
const kernelModule = '@bpf/kernel';
const api: KernelApi | undefined = await import(/* @vite-ignore */ kernelModule).then(
  (m: Partial<KernelApi>) => (typeof m.loadWithMaps === 'function' ? (m as KernelApi) : undefined),
  () => undefined,
);

/** Rewrite an object's bytes as an older toolchain would have written them. */
export function rewrite(bytes: Uint8Array, how: 'notype' | 'nosyms' | 'em_none'): Uint8Array {
  const out = bytes.slice();
  const f = parseElfFile(out);
  const v = new DataView(out.buffer);
  const le = f.header.endian === 'little';
  if (how === 'em_none') {
    v.setUint16(18, 0, le);
    return out;
  }
  const symtab = f.sections.find((s) => s.type === 2)!;
  for (const sym of f.symbols) {
    if (sym.type !== 'func') continue;
    const at = symtab.offset + sym.index * 24;
    // notype: STT_NOTYPE, binding kept (old clang); nosyms: a local label, as if absent.
    out[at + 4] = how === 'notype' ? out[at + 4]! & 0xf0 : 0x00;
    if (how === 'nosyms') v.setBigUint64(at + 16, 0n, le);
  }
  return out;
}

const shapes = ['notype', 'nosyms', 'em_none'] as const;
const insnsOf = (ps: readonly ElfProgram[]): unknown[] => ps.map((p) => [p.section, p.insns, p.maps.map((m) => [m.name, m.type, m.valueSize, m.inner?.name ?? null, m.initSlots ?? null])]);

describe.skipIf(skipWithout('clang-19', 'llvm-mc-19'))('old object shapes (fixtures/c/elf-shapes)', () => {
  let dir = '';
  const obj = (name: string): Uint8Array => new Uint8Array(readFileSync(join(dir, name)));
  beforeAll(() => {
    dir = tempDir('elf-shapes-');
    execFileSync('sh', [join(fixturesDir, 'c/elf-shapes/build.sh'), dir], { stdio: 'pipe' });
  });

  it('samples/bpf bpf_map_def (7 words): prefix sections, map-in-map by inner_map_idx, version', () => {
    for (const end of ['el', 'eb']) {
      const o = parseElf(obj(`bpf_load_maps.${end}.o`));
      expect(o.programs.map((p) => [p.name, p.section, p.secDef?.progType, p.secDef?.legacy])).toEqual([
        ['count_len', 'socket1', 'socket_filter', true],
        ['pass', 'xdp_pass', 'xdp', true],
      ]);
      expect(o.kernVersion).toBe(0x060000);
      expect(o.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.inner?.name])).toEqual([
        ['counters', 'array', 4, 8, 4, undefined],
        // value_size 0 in the source: bpf_load.c creates map-in-maps with a 4-byte value.
        ['outer', 'array_of_maps', 4, 4, 2, 'counters'],
      ]);
    }
  });

  it('iproute2 bpf_elf_map (9 words): id / inner_id / inner_idx, pinning, numbered tail section', () => {
    const o = parseElf(obj('iproute2_maps.el.o'));
    expect(o.programs.map((p) => [p.name, p.section, p.secDef?.progType ?? null])).toEqual([
      ['tail', '1/0', null],
      ['entry', 'classifier', 'sched_cls'],
    ]);
    expect(o.maps.map((m) => [m.name, m.type, m.inner?.name ?? null, m.initSlots ?? null, m.pinning ?? null])).toEqual([
      ['inner_a', 'array', null, null, null],
      ['outer', 'array_of_maps', 'inner_a', [null, 'inner_a'], null],
      ['jumps', 'prog_array', null, null, 2],
    ]);
  });

  it('unknown non-zero words past the known ones are a typed BAD_MAP, placed', () => {
    const b = obj('iproute2_maps.el.o');
    const maps = parseElfFile(b).sections.find((s) => s.name === 'maps')!;
    let err: unknown;
    try {
      // read as bpf_map_def (7 words), inner_idx (word 8 of inner_a) is not understood
      parseElf(b, { legacyMaps: 'bpf_map_def' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ElfError);
    expect((err as ElfError).code).toBe('BAD_MAP');
    expect((err as ElfError).byteOffset).toBe(maps.offset + 32);
  });

  it.each(shapes)('%s: the same programs, named and linked as the original', (how) => {
    for (const name of ['bpf_load_maps.el.o', 'bpf_load_maps.eb.o', 'iproute2_maps.el.o']) {
      const original = loadPrograms(obj(name));
      const old = loadPrograms(rewrite(obj(name), how));
      expect(insnsOf(old)).toEqual(insnsOf(original));
      // Without function symbols a program is named by its section (libbpf 0.x's rule).
      expect(old.map((p) => p.name)).toEqual(how === 'nosyms' ? original.map((p) => p.section) : original.map((p) => p.name));
    }
    expect(() => parseElf(rewrite(obj('bpf_load_maps.el.o'), how))).not.toThrow();
  });

  it('e_machine other than EM_BPF or EM_NONE stays UNSUPPORTED at byte 18', () => {
    const b = obj('bpf_load_maps.el.o');
    new DataView(b.buffer).setUint16(18, 62, true);
    expect(() => parseElf(b)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', byteOffset: 18 }));
  });

  it('llvm-mc .text-only object: every global label is a program, call targets subprograms', () => {
    const o = parseElf(obj('text_only.el.o'));
    expect(o.programs.map((p) => [p.name, p.start, p.end])).toEqual([
      ['first', 0, 3],
      ['second', 5, 7],
      ['indirect', 7, 11],
    ]);
    expect(o.subprograms.map((p) => p.name)).toEqual(['helper']);
    const [first] = loadPrograms(obj('text_only.el.o'));
    expect(first!.subprogs.map((s) => [s.name, s.start, s.end])).toEqual([
      ['first', 0, 3],
      ['helper', 3, 5],
    ]);
  });

  it.skipIf(skipWithout('bpftool'))("a linked object's legacy maps (bpftool gen object keeps overridden __weak definitions): each is its symbol's size", () => {
    const d = tempDir('elf-linked-');
    for (const f of ['weak1', 'weak2']) execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-c', join(fixturesDir, `c/elf-shapes/linked/${f}.c`), '-o', join(d, `${f}.o`)]);
    execFileSync('bpftool', ['gen', 'object', join(d, 'linked.o'), join(d, 'weak1.o'), join(d, 'weak2.o')], { stdio: 'pipe' });
    const bytes = new Uint8Array(readFileSync(join(d, 'linked.o')));
    // libbpf's linker wrote four definitions and two symbols: 80 bytes, `second` at 60
    const f = parseElfFile(bytes);
    const maps = f.sections.find((x) => x.name === 'maps')!;
    expect([maps.size, f.symbols.filter((x) => x.shndx === maps.index).map((x) => [x.name, x.value, x.size])]).toEqual([80, [['first', 0, 20], ['second', 60, 20]]]);
    // the strong definitions win, as the linker resolved them
    const progs = loadPrograms(bytes);
    expect(progs[0]!.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries])).toEqual([
      ['first', 'hash', 4, 4, 1],
      ['second', 'array', 4, 8, 3],
    ]);
    if (api !== undefined && !skipWithout('kernel')) {
      for (const p of progs) {
        const l = api.loadWithMaps(p, { logLevel: 1 });
        l.close();
        expect([p.name, l.accepted, l.error]).toEqual([p.name, true, undefined]);
      }
    }
  });

  describe('BTF objects (fixtures/c/elf-shapes/btf, clang-19 -g)', () => {
    const built = (name: string): Uint8Array => {
      const out = join(dir, `${name}.btf.o`);
      execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-Wall', '-Werror', '-c', join(fixturesDir, `c/elf-shapes/btf/${name}.c`), '-o', out]);
      return new Uint8Array(readFileSync(out));
    };

    it('calls into other executable sections: libbpf refuses (placed), cilium/ebpf links breadth first, callees by name', () => {
      const bytes = built('cross_section');
      const o = parseElf(bytes);
      // every function outside .text is a program of its section, as cilium/ebpf lists them
      expect(o.programs.map((p) => `${p.section}:${p.name}`)).toEqual(['helpers:minus_one', 'more:plus_one', 'xdp:entry']);
      expect(o.subprograms.map((p) => p.name)).toEqual(['sum_both']);
      // libbpf 1.x refuses it when it opens it: minus_one is a static entry program of its section
      expect(() => loadPrograms(bytes, { linker: 'libbpf' })).toThrow("section helpers, byte 120: program minus_one is static, so libbpf refuses the object when it opens it (libbpf: sec 'helpers': program 'minus_one' is static and not supported)");
      // opened by a loader that takes it, libbpf's linker still refuses the call
      let err: unknown;
      try {
        loadPrograms(bytes, { linker: 'libbpf', opener: 'raw' });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ElfError);
      const e = err as ElfError;
      // sum_both's call to the static minus_one is a relocation against the section symbol
      expect([e.code, e.section, e.insn, e.message]).toEqual([
        'BAD_RELOC',
        '.text',
        1,
        `section .text, insn 1, byte ${e.byteOffset}: call relocation against helpers in helpers; libbpf links subprograms from .text only (cilium/ebpf links this object)`,
      ]);
      const auto = loadPrograms(bytes);
      expect(loadPrograms(bytes, { linker: 'cilium/ebpf' })).toEqual(auto);
      const entry = auto.find((p) => p.name === 'entry')!;
      // linker.go: entry's callees sorted (minus_one, sum_both), then sum_both's new one (plus_one)
      expect(entry.subprogs.map((s) => [s.name, s.start, s.end])).toEqual([
        ['entry', 0, 16],
        ['minus_one', 16, 19],
        ['sum_both', 19, 26],
        ['plus_one', 26, 29],
      ]);
      // the calls reach their functions' first slots
      const calls = entry.insns.flatMap((i, pc) => (i.code === 0x85 && i.src === 1 ? [[pc, pc + 1 + i.imm]] : []));
      expect(calls).toEqual([[4, 19], [14, 16], [20, 16], [23, 26]]);
      expect(entry.funcInfo?.map((f) => f.insnOff)).toEqual([0, 16, 19, 26]);
    });

    it('map_extra as __uint (pointer to array) or __ulong (enum of one value, 64 bits)', () => {
      const o = parseElf(built('map_extra'));
      expect(o.maps.map((m) => [m.name, m.type, m.mapExtra])).toEqual([
        ['bloom_small', 'bloom_filter', 3n],
        ['bloom_enum', 'bloom_filter', 5n],
        ['bloom_wide', 'bloom_filter', 1n << 40n],
        ['arena', 'arena', 1n << 44n],
      ]);
    });

    it('map_extra as an enum of two values is a typed BAD_MAP naming the map', () => {
      let err: unknown;
      try {
        parseElf(built('bad_map_extra'));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ElfError);
      expect([(err as ElfError).code, (err as ElfError).section, (err as ElfError).message]).toEqual([
        'BAD_MAP',
        '.maps',
        'section .maps: map two_values: member map_extra is an enum of 2 values, not __ulong(map_extra, V)',
      ]);
    });

    it.skipIf(api === undefined || skipWithout('kernel'))('in the running kernel: cross-section calls load and run; map_extra reaches BPF_MAP_CREATE', async () => {
      const { testRun } = (await import(/* @vite-ignore */ kernelModule)) as { testRun(fd: number, o: { data: Uint8Array }): { retval: number } };
      const progs = loadPrograms(built('cross_section'));
      const entry = progs.find((p) => p.name === 'entry')!;
      const l = api!.loadWithMaps(entry, { logLevel: 1 }) as KernelLoadLike & { fd?: number };
      try {
        expect([l.accepted, l.error]).toEqual([true, undefined]);
        // sum_both(n) == 2n: XDP_PASS, which needs every call to reach its own function
        expect(testRun(l.fd!, { data: new Uint8Array(64) }).retval).toBe(2);
      } finally {
        l.close();
      }
      const ext = loadPrograms(built('map_extra'));
      const verdict = (name: string, drop = false): string => {
        const p = ext.find((x) => x.name === name)!;
        const q = drop ? { ...p, maps: p.maps.map(({ mapExtra: _x, ...m }) => m) } : p;
        try {
          const k = api!.loadWithMaps(q, { logLevel: 1 });
          k.close();
          return k.accepted ? 'accepted' : `rejected: ${k.error}`;
        } catch (e) {
          return (e as Error).message;
        }
      };
      expect([verdict('peek_small'), verdict('peek_enum')]).toEqual(['accepted', 'accepted']);
      // 2^40 hash functions: the kernel refuses the map, so the value reached it; without it the map is fine
      expect([verdict('peek_wide'), verdict('peek_wide', true)]).toEqual(['MAP_CREATE: EINVAL: create bloom_filter map', 'accepted']);
    });
  });

  describe.skipIf(api === undefined || skipWithout('kernel'))('in the running kernel', () => {
    const verdicts = (bytes: Uint8Array, type?: string): [string, boolean, string][] =>
      loadPrograms(bytes).map((p) => {
        const l = api!.loadWithMaps(p, { logLevel: 1, ...(type && !p.type ? { type } : {}) });
        l.close();
        return [p.name, l.accepted, l.error ?? ''];
      });

    it.each(['original', ...shapes])('%s shapes get the kernel verdict of the original', (how) => {
      const edit = (b: Uint8Array): Uint8Array => (how === 'original' ? b : rewrite(b, how as (typeof shapes)[number]));
      const samples = verdicts(edit(obj('bpf_load_maps.el.o')));
      const tc = verdicts(edit(obj('iproute2_maps.el.o')), 'sched_cls');
      expect(samples.map((v) => v[1])).toEqual([true, true]);
      // The tail program is typed as tc loads it (the type of the whole object).
      expect(tc.map((v) => v[1])).toEqual([true, true]);
    });

    it('.text-only: the kernel accepts first and second and refuses callx', () => {
      const v = verdicts(obj('text_only.el.o'));
      expect(v.map(([n, ok]) => [n, ok])).toEqual([
        ['first', true],
        ['second', true],
        ['indirect', false],
      ]);
    });
  });
});
