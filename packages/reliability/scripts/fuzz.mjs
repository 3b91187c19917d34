#!/usr/bin/env node
// Long fuzzing mode: `pnpm fuzz --iterations N [--seed S] [--target NAME]`. Runs every target
// (see src/all-targets.ts) on N inputs and writes test-results/fuzz.json, which
// scripts/summary.mjs prints. Build first (pnpm exec tsc -b).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allTargets, fuzz } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const arg = (name, dflt) => {
  const k = process.argv.indexOf(`--${name}`);
  return k >= 0 ? process.argv[k + 1] : dflt;
};
const iterations = Number(arg('iterations', 10_000));
const seed = Number(arg('seed', Date.now() % 1e9));
const only = arg('target', undefined);
const reports = [];
for (const t of allTargets.filter((t) => only === undefined || t.name === only)) {
  const t0 = performance.now();
  const r = fuzz(t, iterations, seed);
  reports.push({ ...r, seconds: (performance.now() - t0) / 1000 });
  console.log(`${t.name.padEnd(28)} ${String(r.inputs).padStart(9)} inputs  ${r.crashes} crashes  ${r.slow} slow  ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  if (r.firstCrash) console.log(`  first crash: ${r.firstCrash.error}\n  input: ${r.firstCrash.input}`);
}
mkdirSync(join(root, 'test-results'), { recursive: true });
writeFileSync(join(root, 'test-results/fuzz.json'), JSON.stringify({ seed, iterations, reports }, null, 2));
process.exit(reports.some((r) => r.crashes) ? 1 : 0);
