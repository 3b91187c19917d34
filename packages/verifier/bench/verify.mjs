#!/usr/bin/env node
// Verifier throughput without a log: processed instructions per second on every program of
// the kernel corpus (fixtures/kernel/corpus.json) and on a large generated program. The
// kernel's own times for the same programs are in bench/compare.mjs (it needs the kernel).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble, decode } from '../../isa/dist/index.js';
import { corpusSource, kernelCorpus } from '../../testkit/dist/index.js';
import { verify } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quick = process.argv.includes('--quick');
const toProgram = (c) => {
  const s = corpusSource(c);
  return s.kind === 'asm' ? assemble(s.text) : { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs, ...(s.funcInfo ? { funcInfo: s.funcInfo } : {}), type: c.type };
};
// the complexity-limit programs take seconds each; they are measured on their own below
const all = kernelCorpus();
const limitCase = (c) => /unbounded_loop|infinite-loop/.test(c.name);
const corpus = all.filter((c) => !limitCase(c)).map((c) => ({ type: c.type, program: toProgram(c) }));
// the programs that run into the 1M processed-instruction limit, one by one
const limits = all.filter(limitCase).slice(0, quick ? 1 : undefined).map((c) => ({ name: c.name, type: c.type, program: toProgram(c) }));
const big = assemble(['r0 = 0', 'r1 = 0', ...Array.from({ length: quick ? 2000 : 20000 }, (_, k) => `r0 += ${k % 7}`), 'l:', 'r0 ^= r1', 'r1 += 1', 'if r1 < 200 goto l', 'exit'].join('\n'));

function measure(items, reps) {
  let insns = 0;
  for (const it of items) verify(it.program, { type: it.type, logLevel: 0 }); // warm up
  const t0 = performance.now();
  for (let k = 0; k < reps; k++) for (const it of items) insns += verify(it.program, { type: it.type, logLevel: 0 }).stats.processedInsns;
  const ms = performance.now() - t0;
  return { ms: ms / reps, insnsPerSec: (insns / ms) * 1000, insns: insns / reps };
}
const rows = [];
const a = measure(corpus, quick ? 1 : 5);
rows.push({ benchmark: `verify ${corpus.length} corpus programs (no log)`, ours: a.ms, unit: 'ms', note: `${Math.round(a.insns)} processed insns; ${(a.insnsPerSec / 1e6).toFixed(2)} M insns/s` });
const b = measure([{ type: 'socket_filter', program: big }], quick ? 2 : 10);
rows.push({ benchmark: `verify generated/large-${big.insns.length} (no log)`, ours: b.ms, unit: 'ms', note: `${Math.round(b.insns)} processed insns; ${(b.insnsPerSec / 1e6).toFixed(2)} M insns/s` });
for (const it of limits) {
  const t0 = performance.now();
  const r = verify(it.program, { type: it.type, logLevel: 0 });
  const ms = performance.now() - t0;
  rows.push({ benchmark: `verify ${it.name} (complexity limit, no log)`, ours: ms, unit: 'ms', note: `${r.stats.processedInsns} processed insns, ${r.stats.totalStates} states; ${(r.stats.processedInsns / ms / 1e3).toFixed(2)} M insns/s` });
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/verifier.json'), JSON.stringify({ rows }, null, 2));
console.table(rows);
