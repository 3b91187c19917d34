/**
 * `__arena` globals through the CLI's loader: where they go in the arena map is asked of the
 * caller (for `bpf kernel load`, @bpf/kernel's probe of the running kernel, as libbpf probes
 * FEAT_LDIMM64_FULL_RANGE_OFF) only when the object has them. Our own program
 * (fixtures/c/arena/arena_globals.c); the oracle for where libbpf puts them is libbpf's rule
 * (end of the arena when the kernel takes full-range ld_imm64 offsets, else its start).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clangBpfObject, fixturesDir, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { loadProgram } from './input.js';

describe.skipIf(skipWithout('clang-19'))('arena globals in the CLI loader', () => {
  const dir = tempDir('bpf-cli-arena-');
  const arenaObj = join(dir, 'arena_globals.o');
  writeFileSync(arenaObj, clangBpfObject(readFileSync(join(fixturesDir, 'c/arena/arena_globals.c'), 'utf8'), { args: ['-mcpu=v3'] }));
  const plainObj = join(dir, 'plain.o');
  writeFileSync(plainObj, clangBpfObject('__attribute__((section("socket"), used)) int f(void *c) { return 0; }\nchar _license[] __attribute__((section("license"), used)) = "GPL";\n'));
  const arenaOffsets = (file: string, fullRangeOffsets: boolean | undefined): { asked: number; offsets: number[] } => {
    let asked = 0;
    const opts = fullRangeOffsets === undefined ? {} : { arena: () => (asked++, { fullRangeOffsets }) };
    const { all } = loadProgram(file, opts);
    const offsets = all.flatMap((p) => (p.relocs ?? []).filter((r) => r.kind === 'map_value' && r.name === 'arena').map((r) => (r as { offset: number }).offset));
    return { asked, offsets };
  };

  it('a kernel that takes full-range offsets gets the globals at the end of the arena; one that does not, or no probe, at its start', () => {
    const start = arenaOffsets(arenaObj, undefined);
    const limited = arenaOffsets(arenaObj, false);
    const full = arenaOffsets(arenaObj, true);
    expect(start.offsets.length).toBeGreaterThan(0);
    expect(limited).toEqual({ asked: 1, offsets: start.offsets });
    // the arena has 4 pages and its globals fit one: libbpf puts them in the last page
    expect(full.asked).toBe(1);
    expect(full.offsets).toEqual(start.offsets.map((o) => o + 3 * 4096));
  });

  it('an object without __arena globals is not probed', () => {
    expect(arenaOffsets(plainObj, true)).toEqual({ asked: 0, offsets: [] });
  });
});
