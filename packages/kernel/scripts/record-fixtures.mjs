#!/usr/bin/env node
// Runs the corpus through the running kernel and writes fixtures/kernel/corpus.json: for each
// program its verdict, errno, first error, full log at level 2, stats, xlated instructions
// (hex), jited length and, for accepted programs, a test-run retval. The corpus: the assembly
// of fixtures/asm/kernel and every conformance case that uses no test kfunc.
// Usage (root, Linux): pnpm fixtures:kernel   (build first: pnpm exec tsc -b)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble, encode } from '../../isa/dist/index.js';
import { createMap, loadProgram, probe, testRun } from '../dist/index.js';
import { randomProgram } from '../../reliability/dist/index.js';
import { disassemble } from '../../isa/dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const p = probe();
if (!p.canLoad) {
  console.error(`cannot record: ${p.reason}`);
  process.exit(1);
}
const sources = [];
const asmDir = join(root, 'fixtures/asm/kernel');
for (const f of readdirSync(asmDir).filter((f) => f.endsWith('.s')).sort()) sources.push({ name: `asm/kernel/${f}`, text: readFileSync(join(asmDir, f), 'utf8') });
const confDir = join(root, 'fixtures/conformance');
for (const f of readdirSync(confDir).filter((f) => f.endsWith('.data')).sort()) {
  const text = readFileSync(join(confDir, f), 'utf8');
  if (/\.kfunc|r11/.test(text)) continue; // stack arguments and test kfuncs are newer than this kernel
  const asm = text.split('-- asm\n')[1].split(/^-- /m)[0];
  sources.push({ name: `conformance/${f}`, text: asm });
}
// seeded random programs without stack arguments (this kernel predates them) or buffer accesses
for (let seed = 1; seed <= 200; seed++) {
  const p = randomProgram(seed, { size: 25, calls: seed % 2 === 0, memSize: 0 });
  if (p.insns.some((i) => i.dst === 11 || i.src === 11)) continue;
  sources.push({ name: `random/${seed}`, text: disassemble(p.insns, { syntax: 'kernel' }) });
}
const cases = [];
for (const s of sources) {
  const program = assemble(s.text);
  const maps = (program.maps ?? []).map((m) => createMap({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, name: m.name }));
  const mapFds = Object.fromEntries((program.maps ?? []).map((m, k) => [m.name, maps[k].fd]));
  const load = loadProgram(program, { logLevel: 2, mapFds });
  let retval;
  if (load.accepted && (program.type ?? 'socket_filter') !== 'kprobe') {
    try {
      retval = testRun(load.fd, { data: new Uint8Array(64) }).retval;
    } catch {
      retval = null;
    }
  }
  cases.push({
    name: s.name,
    type: program.type ?? 'socket_filter',
    insns: Buffer.from(encode(program.insns)).toString('hex'),
    accepted: load.accepted,
    errno: load.errno,
    error: load.error ?? null,
    stats: load.stats ?? null,
    xlated: load.xlated ? Buffer.from(encode(load.xlated)).toString('hex') : null,
    jitedLen: load.jitedLen ?? null,
    retval: retval ?? null,
    log: load.log,
  });
  load.close();
  for (const m of maps) m.close();
}
writeFileSync(
  join(root, 'fixtures/kernel/corpus.json'),
  JSON.stringify({ generator: 'packages/kernel/scripts/record-fixtures.mjs', kernel: p.kernelRelease, jit: p.jitEnabled, cases }, null, 1) + '\n',
);
const acc = cases.filter((c) => c.accepted).length;
console.log(`recorded ${cases.length} programs (${acc} accepted, ${cases.length - acc} rejected) from Linux ${p.kernelRelease}`);
