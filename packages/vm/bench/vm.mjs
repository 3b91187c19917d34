#!/usr/bin/env node
// Interpreter throughput (instructions per second) on three representative programs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../../isa/dist/index.js';
import { run } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quick = process.argv.includes('--quick');
const N = quick ? 20_000 : 200_000;
const programs = {
  loop: assemble(`r0 = 0\nr1 = 0\nl:\nr0 += r1\nr0 ^= 0x55\nr1 += 1\nif r1 < ${N} goto l\nexit`),
  'packet parse': assemble(`
    r6 = r1
    r7 = r2
    r0 = 0
    r8 = 0
    l:
    r3 = r6
    r3 += r8
    r4 = *(u16 *)(r3 + 12)
    r4 = be16 r4
    if r4 != 0x800 goto skip
    r0 += 1
    skip:
    r8 += 14
    if r8 < 1400 goto l
    exit`),
  arithmetic: assemble(`r0 = 1\nr1 = ${N}\nl:\nr0 *= 3\nr0 s/= 2\nr0 <<= 3\nr0 %= 1000003\nr1 -= 1\nif r1 != 0 goto l\nexit`),
};
const rows = [];
for (const [name, p] of Object.entries(programs)) {
  const mem = new Uint8Array(1500);
  const reps = name === 'packet parse' ? (quick ? 50 : 500) : 1;
  let insns = 0;
  const t0 = performance.now();
  for (let k = 0; k < reps; k++) insns += run(p, { mem }).insns;
  const ms = performance.now() - t0;
  rows.push({ benchmark: `vm ${name}`, ours: (insns / ms) * 1000, unit: 'insns/s', note: `${insns.toLocaleString('en')} insns in ${ms.toFixed(0)} ms; kernel test-run comparison: bench/compare.mjs` });
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/vm.json'), JSON.stringify({ rows }, null, 2));
console.table(rows.map((r) => ({ benchmark: r.benchmark, 'M insns/s': (r.ours / 1e6).toFixed(2), note: r.note })));
