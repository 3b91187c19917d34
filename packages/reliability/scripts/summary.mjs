#!/usr/bin/env node
// Prints the reliability summary from the last runs: inputs tried per target, crashes,
// unsound accepts, kernel disagreements and JIT mismatches (test-results/fuzz.json and
// test-results/differential.json, written by scripts/fuzz.mjs and the differential suite).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (f) => (existsSync(join(root, 'test-results', f)) ? JSON.parse(readFileSync(join(root, 'test-results', f), 'utf8')) : null);
const fz = read('fuzz.json');
const diff = read('differential.json');
console.log('Parser fuzzing' + (fz ? ` (seed ${fz.seed})` : ': no run yet (pnpm --filter @bpf/reliability fuzz)'));
for (const r of fz?.reports ?? []) console.log(`  ${r.target.padEnd(28)} ${String(r.inputs).padStart(9)} inputs  ${r.crashes} crashes  ${r.slow} slow`);
console.log('Generated programs' + (diff ? '' : ': no run yet (vitest --project @bpf/reliability)'));
if (diff) {
  console.log(`  programs: ${diff.programs}`);
  console.log(`  unsound accepts (verifier accepted, VM memory check fired): ${diff.unsound}`);
  console.log(`  kernel disagreements: ${diff.kernelDisagreements}`);
  console.log(`  JIT mismatches (x86-64 / arm64 vs VM): ${diff.x86Mismatches} / ${diff.arm64Mismatches}`);
}
