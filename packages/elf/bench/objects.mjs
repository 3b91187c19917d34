#!/usr/bin/env node
// Object loading: the C corpus (fixtures/c/progs, clang-19 at -mcpu v2/v3/v4) parsed and
// turned into Programs (sections, symbols, relocations, maps, BTF and BTF.ext) by @bpf/elf,
// beside llvm-objdump-19 disassembling the same objects (-d -r: sections, symbols and
// relocations), the closest oracle that reads them all.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPrograms } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quick = process.argv.includes('--quick');
const rows = [];
const out = mkdtempSync(join(tmpdir(), 'bpf-elf-bench-'));
const built = spawnSync('bash', [join(root, 'fixtures/c/progs/build.sh'), out], { encoding: 'utf8' });
if (built.status !== 0) {
  rows.push({ benchmark: 'load the C corpus objects', note: `skipped: clang-19 could not build fixtures/c/progs (${(built.stderr || built.error?.message || '').split('\n')[0]})` });
} else {
  const files = readdirSync(out).filter((f) => f.endsWith('.o')).map((f) => join(out, f));
  const bytes = files.map((f) => new Uint8Array(readFileSync(f)));
  const reps = quick ? 5 : 50;
  let programs = 0;
  for (const b of bytes) programs += loadPrograms(b).length; // warm up
  const t0 = performance.now();
  for (let k = 0; k < reps; k++) for (const b of bytes) loadPrograms(b);
  const ours = (performance.now() - t0) / reps;
  let reference;
  try {
    const t1 = performance.now();
    for (let k = 0; k < Math.min(reps, 5); k++) execFileSync('llvm-objdump-19', ['-d', '-r', ...files], { stdio: ['ignore', 'ignore', 'ignore'] });
    reference = (performance.now() - t1) / Math.min(reps, 5);
  } catch {
    reference = undefined;
  }
  const kib = bytes.reduce((s, b) => s + b.length, 0) / 1024;
  rows.push({ benchmark: `load ${files.length} clang objects (${programs} programs) vs llvm-objdump-19 -d -r`, ours, reference, unit: 'ms', note: `${kib.toFixed(0)} KiB of ELF; ours in-process, llvm-objdump includes process start` });
}
rmSync(out, { recursive: true, force: true });
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/elf.json'), JSON.stringify({ rows }, null, 2));
console.table(rows);
