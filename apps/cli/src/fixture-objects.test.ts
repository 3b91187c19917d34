/**
 * `bpf elf`, `bpf disasm`, `bpf verify` and `bpf kernel load` on every object of our own
 * fixtures (fixtures/c/elf and fixtures/c/elf-shapes, built by their build.sh with clang-19 /
 * llvm-mc-19), through the CLI's own entry point, against the oracles:
 *   elf         — its relocations are llvm-readelf-19 -r's, its programs sit in executable sections;
 *   disasm      — the listing is llvm-objdump-19 -d --mcpu=v4's;
 *   kernel load — accepted exactly when libbpf (bpftool prog loadall) loads the object, a
 *                 big-endian object refused before any syscall (as libbpf refuses it);
 *   verify      — the running kernel's verdict (`bpf kernel load`), program by program, and the
 *                 same for the big-endian twin.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, run, skipWithout, tempDir } from '@bpf/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from './cli.js';

/** Run the CLI in this process (the code path of the `bpf` binary), output captured. */
async function bpf(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => (out.push(String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/**
 * Known differences between `bpf verify` and the kernel, left open (none today: externs'
 * read_kernel_var, refused where the kernel has no kallsyms address for its typed ksym, is
 * refused by `bpf verify` too since it passes the kernel's symbols).
 */
const VERIFY_GAPS = new Set<string>();

interface ElfDoc {
  readonly endian: string;
  readonly programs: readonly { readonly name: string; readonly section: string; readonly autoload?: boolean }[];
  readonly maps: readonly { readonly name: string }[];
  readonly relocations: readonly { readonly section: string; readonly offset: number; readonly type: string; readonly symbol: string }[];
}

/** llvm-readelf-19 -r: (relocated section, offset, type, symbol) per entry. */
function readelfRelocs(file: string): string[] {
  const out: string[] = [];
  let sec = '';
  for (const line of run('llvm-readelf-19', ['-r', file]).split('\n')) {
    const h = /^Relocation section '\.rel(.*)' at offset/.exec(line);
    if (h) sec = h[1]!;
    const m = /^([0-9a-f]{16})\s+[0-9a-f]{16}\s+(\S+)\s+[0-9a-f]{16}\s+(\S+)/.exec(line);
    if (m) out.push(`${sec} ${Number.parseInt(m[1]!, 16)} ${m[2]} ${m[3]}`);
  }
  return out.sort();
}

/** Executable sections (SHF_EXECINSTR) by llvm-readelf-19 -S. */
function execSections(file: string): Set<string> {
  const names = new Set<string>();
  for (const line of run('llvm-readelf-19', ['-S', '-W', file]).split('\n')) {
    const m = /^\s*\[\s*\d+\]\s+(\S+)\s+PROGBITS\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)/.exec(line);
    if (m && m[2]!.includes('X')) names.add(m[1]!);
  }
  return names;
}

/**
 * Whether libbpf loads every program of the object (bpftool prog loadall); undefined when
 * libbpf (1.1) will not open it at all (legacy `maps` sections).
 */
function libbpfLoadsAll(file: string): boolean | undefined {
  const fs = tempDir('bpffs-cli-');
  execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
  try {
    const r = spawnSync('bpftool', ['prog', 'loadall', file, join(fs, 'p')], { encoding: 'utf8' });
    if (r.status !== 0 && /legacy map definitions/.test(r.stderr)) return undefined;
    return r.status === 0;
  } finally {
    execFileSync('umount', [fs]);
    rmSync(fs, { recursive: true, force: true });
  }
}

// llvm-readelf-19 ships with llvm-objdump-19 (Debian's llvm-19)
describe.skipIf(skipWithout('clang-19', 'llvm-mc-19', 'llvm-objdump-19'))('every fixture object through bpf elf, disasm, verify, kernel load', () => {
  const dir = tempDir('bpf-cli-fixtures-');
  beforeAll(() => {
    execFileSync('sh', [join(fixturesDir, 'c/elf/build.sh'), dir], { stdio: 'pipe' });
    execFileSync('sh', [join(fixturesDir, 'c/elf-shapes/build.sh'), dir], { stdio: 'pipe' });
  }, 600_000);
  // named from the sources, as the build names them (this runs while collecting)
  const elfSources = readdirSync(join(fixturesDir, 'c/elf')).filter((f) => f.endsWith('.c')).map((f) => f.slice(0, -2));
  const shapeSources = readdirSync(join(fixturesDir, 'c/elf-shapes')).filter((f) => f.endsWith('.c')).map((f) => f.slice(0, -2));
  const objects = [
    // -mcpu=v3, both byte orders (the v2 / v4 builds differ only in encodings, which
    // @bpf/elf's own objdump and kernel tests cover)
    ...elfSources.flatMap((s) => [`${s}.v3.el.o`, `${s}.v3.eb.o`]),
    ...shapeSources.flatMap((s) => [`${s}.el.o`, `${s}.eb.o`]),
    'text_only.el.o',
  ].sort();

  it.each(objects)('%s: elf and disasm as llvm-readelf-19 and llvm-objdump-19', async (name) => {
    const file = join(dir, name);
    expect(existsSync(file)).toBe(true);
    const elf = await bpf(['elf', file, '--json']);
    expect([elf.code, elf.stderr]).toEqual([0, '']);
    const doc = JSON.parse(elf.stdout) as ElfDoc;
    expect(doc.endian).toBe(name.includes('.eb.') ? 'big' : 'little');
    expect(doc.relocations.map((r) => `${r.section} ${r.offset} ${r.type} ${r.symbol}`).sort()).toEqual(readelfRelocs(file));
    const exec = execSections(file);
    // an object of maps only (maps_only.c) holds maps instead
    expect(doc.programs.length + (doc.programs.length ? 0 : doc.maps.length)).toBeGreaterThan(0);
    for (const p of doc.programs) expect(exec.has(p.section), `${p.name} in ${p.section}`).toBe(true);
    const dis = await bpf(['disasm', file]);
    expect([dis.code, dis.stderr]).toEqual([0, '']);
    expect(dis.stdout.replace(/^\n/, '')).toBe(run('llvm-objdump-19', ['-d', '--mcpu=v4', file]).replace(/^\n/, ''));
  }, 120_000);

  // verify and kernel load: program by program, little-endian objects against the kernel
  const el = objects.filter((o) => o.includes('.el.'));
  it.skipIf(skipWithout('kernel', 'bpftool')).each(el)('%s: kernel load as libbpf, verify as the kernel', async (name) => {
    const file = join(dir, name);
    const doc = JSON.parse((await bpf(['elf', file, '--json'])).stdout) as ElfDoc;
    const eb = join(dir, name.replace('.el.', '.eb.'));
    const verdicts: boolean[] = [];
    if (doc.programs.length === 0) {
      // an object of maps only: kernel load creates them as libbpf does, verify says there is nothing to verify
      const load = await bpf(['kernel', 'load', file, '--json']);
      expect([load.code, load.stderr]).toEqual([0, '']);
      const k = JSON.parse(load.stdout) as { accepted: boolean; maps: readonly { name: string; created: boolean }[] };
      expect(k.maps.map((m) => [m.name, m.created])).toEqual(doc.maps.map((m) => [m.name, true]));
      expect(libbpfLoadsAll(file)).toBe(true);
      const ours = await bpf(['verify', file]);
      expect([ours.code, ours.stderr]).toEqual([3, `bpf: ${file}: the object holds maps and no programs (${doc.maps.length} maps: ${doc.maps.map((m) => m.name).join(', ')}); \`bpf kernel load\` creates them\n`]);
      return;
    }
    for (const p of doc.programs) {
      const pick = ['--section', p.section, '--prog', p.name];
      const load = await bpf(['kernel', 'load', file, ...pick, '--json']);
      expect([p.name, load.code, load.stderr], load.stdout.slice(0, 2000)).toEqual([p.name, expect.any(Number), '']);
      const k = JSON.parse(load.stdout) as { accepted: boolean; refusedBeforeVerifier: boolean; error: string | null };
      expect([p.name, load.code]).toEqual([p.name, k.accepted ? 0 : 1]);
      verdicts.push(k.accepted);
      // the big-endian twin is not this host's: refused before any syscall, as libbpf refuses it
      if (existsSync(eb)) {
        const foreign = await bpf(['kernel', 'load', eb, ...pick]);
        expect([p.name, foreign.code]).toEqual([p.name, 4]);
        expect(foreign.stderr).toContain('comes from a big-endian object; this host is little-endian');
      }
      if (k.refusedBeforeVerifier) continue; // no verdict on the code to compare with
      const ours = await bpf(['verify', file, ...pick]);
      if (VERIFY_GAPS.has(`${name}#${p.name}`)) {
        expect([p.name, ours.code], 'a known difference is gone: take it off VERIFY_GAPS').toEqual([p.name, k.accepted ? 1 : 0]);
        continue;
      }
      expect([p.name, ours.code], ours.stdout.slice(-2000)).toEqual([p.name, k.accepted ? 0 : 1]);
      // the big-endian twin, its CO-RE and BTF ids resolved against this kernel's BTF too,
      // verifies as the little-endian object does
      if (existsSync(eb)) expect([p.name, (await bpf(['verify', eb, ...pick])).code]).toEqual([p.name, ours.code]);
    }
    // libbpf loads the whole object exactly when every program is accepted
    // (libbpf loads neither `.text`-only objects' functions nor `SEC("?...")` programs)
    const comparable = doc.programs.every((p) => p.section !== '.text' && p.autoload !== false);
    const theirs = comparable ? libbpfLoadsAll(file) : undefined;
    if (theirs !== undefined) expect(verdicts.every(Boolean)).toBe(theirs);
  }, 600_000);
});
