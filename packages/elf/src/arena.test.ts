/**
 * `__arena` global variables (fixtures/c/arena, our own program): the `.addr_space.1` section is
 * data of the object's ARENA map, as libbpf (1.4 and later) places it. The oracle for the bytes
 * and offsets is the object itself as llvm-readelf-19 (installed with llvm-objdump-19) reads it; the live part loads through
 * @bpf/kernel, which must give the kernel's own answer to creating the arena and, where the
 * kernel makes arenas, run the programs on the copied-in values.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Program } from '@bpf/isa';
import { clangBpfObject, fixturesDir, run, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { ElfError, loadObject, parseElf } from './index.js';

interface KernelApi {
  loadWithMaps(p: Program, opts?: { logLevel?: number }): { fd?: number; accepted: boolean; error?: string; close(): void };
  createMap(spec: { type: string; keySize: number; valueSize: number; maxEntries: number; flags?: number; mapExtra?: bigint }): { close(): void };
  testRun(fd: number, opts: { ctx?: Uint8Array }): { retval: number };
  ldimm64FullRangeOffsets(): boolean;
}
const kernelModule = '@bpf/kernel';
const api: KernelApi | undefined = await import(/* @vite-ignore */ kernelModule).then(
  (m: Partial<KernelApi>) => (typeof m.ldimm64FullRangeOffsets === 'function' ? (m as KernelApi) : undefined),
  () => undefined,
);

const SOURCE = join(fixturesDir, 'c/arena/arena_globals.c');
const build = (args: readonly string[] = [], source = readFileSync(SOURCE, 'utf8')): Uint8Array => clangBpfObject(source, { args: ['-mcpu=v3', ...args] });

/** The section's bytes and the symbols' offsets as llvm-readelf-19 prints them. */
function readelf(bytes: Uint8Array): { data: string; symbols: Map<string, number> } {
  const path = join(run('mktemp', ['-d']).trim(), 'a.o');
  run('sh', ['-c', `cat > ${path}`], bytes);
  const hex = run('llvm-readelf-19', ['-x', '.addr_space.1', path]);
  const data = [...hex.matchAll(/^\s*0x[0-9a-f]+ ((?:[0-9a-f]{2,8} ?){1,4})/gm)].map((m) => m[1]!.replace(/ /g, '')).join('');
  const symbols = new Map<string, number>();
  for (const line of run('llvm-readelf-19', ['-s', path]).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 8 && f[3] === 'OBJECT') symbols.set(f[7]!, parseInt(f[1]!, 16));
  }
  return { data, symbols };
}

describe.skipIf(skipWithout('clang-19', 'llvm-objdump-19'))('arena globals (.addr_space.1)', () => {
  it('the arena map carries the section bytes; each access is a value of the arena at the symbol offset plus the addend', () => {
    const bytes = build();
    const { data, symbols } = readelf(bytes);
    const obj = loadObject(bytes);
    const arena = obj.maps.find((m) => m.type === 'arena')!;
    expect([arena.name, arena.maxEntries, arena.arenaGlobals?.offset]).toEqual(['arena', 4, 0]);
    expect(Buffer.from(arena.arenaGlobals!.data).toString('hex')).toBe(data);
    const countHit = obj.programs.find((p) => p.name === 'count_hit')!;
    // every ld_imm64 the object relocates against hits/ladder/label, now arena values
    const parsed = parseElf(bytes);
    const relocs = [...parsed.insnRelocs.values()].flatMap((m) => [...m.values()]).filter((r) => r.sectionIndex === parsed.sections.find((s) => s.name === 'syscall')!.index);
    expect(relocs.map((r) => r.kind)).toEqual(relocs.map(() => 'arena'));
    const expected = relocs
      .filter((r) => r.insn < countHit.insns.length)
      .map((r) => ({ insn: r.insn, kind: 'map_value', name: 'arena', offset: symbols.get(r.name)! + parsed.code.get(r.sectionIndex)![r.insn]!.imm }));
    expect(countHit.relocs).toEqual(expected);
    for (const r of expected) expect([countHit.insns[r.insn]!.src, countHit.insns[r.insn + 1]!.imm]).toEqual([6, r.offset]);
  });

  it('where the kernel takes full-range ld_imm64 offsets, libbpf puts the globals in the last pages', () => {
    const obj = loadObject(build(), { arena: { fullRangeOffsets: true, pageSize: 4096 } });
    const arena = obj.maps.find((m) => m.type === 'arena')!;
    expect(arena.arenaGlobals?.offset).toBe(3 * 4096);
    expect(obj.programs[0]!.relocs[0]).toMatchObject({ kind: 'map_value', offset: 3 * 4096 });
  });

  it('map_extra (the user address) comes from the BTF enum64', () => {
    const arena = loadObject(build(['-DUSER_START=0x100000000ULL'])).maps.find((m) => m.type === 'arena')!;
    expect(arena.mapExtra).toBe(0x100000000n);
  });

  it("libbpf's refusals: no arena map, two arena maps, globals larger than the arena", () => {
    const src = readFileSync(SOURCE, 'utf8');
    const refusal = (text: string): unknown => {
      try {
        loadObject(build([], text));
      } catch (e) {
        return e instanceof ElfError ? [e.code, e.message] : e;
      }
      return 'loaded';
    };
    expect(refusal(src.replace('} arena SEC(".maps");', '} arena SEC(".data.unused");'))).toEqual([
      'BAD_MAP',
      'section .addr_space.1: to use global __arena variables the ARENA map should be explicitly declared in SEC(".maps")',
    ]);
    expect(refusal(src.replace('} arena SEC(".maps");', '} arena SEC(".maps"), second SEC(".maps");'))).toEqual(['BAD_MAP', 'section .maps: map second: only a single ARENA map is supported (map arena is also ARENA)']);
    expect(refusal(src.replace('long __arena ladder[5]', 'long __arena ladder[5000]'))).toEqual([
      'BAD_MAP',
      'section .addr_space.1: declared ARENA map size (16384) is too small to hold global __arena variables of size 40016',
    ]);
  });

  it('the Linux selftests arena objects open (BPF_REALWORLD_OBJECTS)', (ctx) => {
    const root = process.env.BPF_REALWORLD_OBJECTS;
    if (root === undefined) return ctx.skip('BPF_REALWORLD_OBJECTS is not set');
    const path = join(root, 'linux-selftests-verifier/verifier_arena_large.o');
    const obj = loadObject(new Uint8Array(readFileSync(path)));
    const arena = obj.maps.find((m) => m.type === 'arena')!;
    expect(arena.arenaGlobals?.data.length).toBe(readelf(new Uint8Array(readFileSync(path))).data.length / 2);
    expect(obj.programs.length).toBeGreaterThan(0);
  });
});

describe.skipIf(api === undefined || skipWithout('clang-19', 'kernel'))('arena globals in the running kernel', () => {
  it("creating the arena gets the kernel's answer; where it makes arenas, the programs read the copied values", (ctx) => {
    const obj = loadObject(build(), { arena: { fullRangeOffsets: api!.ldimm64FullRangeOffsets() } });
    const direct = (() => {
      try {
        api!.createMap({ type: 'arena', keySize: 0, valueSize: 0, maxEntries: 4, flags: 1 << 10 }).close();
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    })();
    const results: unknown[] = [];
    for (const p of obj.programs) {
      let load;
      try {
        load = api!.loadWithMaps(p, { logLevel: 1 });
      } catch (e) {
        // the kernel refused the arena itself: the same answer as creating one directly
        expect(direct).toBeDefined();
        expect((e as Error).message).toBe(direct);
        results.push('refused');
        continue;
      }
      try {
        expect([load.accepted, load.error]).toEqual([true, undefined]);
        results.push(api!.testRun(load.fd!, { ctx: new Uint8Array(0) }).retval);
      } finally {
        load.close();
      }
    }
    if (direct !== undefined) return ctx.skip(`this kernel refuses arena maps (${direct}); the programs could not run`);
    // count_hit: 40 + 2, + ladder[2] (30), + 'a'; sum_ladder: 10 + 20 + 30 (each load has its own arena)
    expect(results).toEqual([42 + 30 + 97, 60]);
  });
});
