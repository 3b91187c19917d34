#!/usr/bin/env node
// Liveness throughput on large programs, and whether it stays linear: the register part is
// computed for straight-line code, branchy code and nested loops at 10k, 100k and 1M slots.
// Reference: the kernel does not report its liveness time, so the reference column is the
// time at 1/10 of the size times 10 (a linear extrapolation): a ratio near 1 means linear.
import { computeLiveness } from '../dist/index.js';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quick = process.argv.includes('--quick');
const ins = (code, dst, src, off, imm) => ({ code, dst, src, off, imm });

function program(kind, n) {
  const insns = [];
  for (let i = 0; i < n - 1; i++) {
    const r = (i * 7) % 10;
    if (kind === 'branchy' && i % 5 === 4 && i + 3 < n - 1) insns.push(ins(0x25, r, 0, 2, 7));
    else if (kind === 'loops' && i % 50 === 49) insns.push(ins(0xa5, 1, 0, -40, 1000));
    else if (i % 3 === 0) insns.push(ins(0x7b, 10, r, -8 * (1 + (i % 8)), 0));
    else if (i % 3 === 1) insns.push(ins(0x79, r, 10, -8 * (1 + ((i + 3) % 8)), 0));
    else insns.push(ins(0x0f, r, (r + 1) % 10, 0, 0));
  }
  insns.push(ins(0x95, 0, 0, 0, 0));
  return { insns };
}

function time(p) {
  const reps = p.insns.length >= 1e6 ? 1 : p.insns.length >= 1e5 ? 3 : 20;
  computeLiveness(p); // warm up
  const t0 = performance.now();
  for (let k = 0; k < reps; k++) computeLiveness(p);
  return (performance.now() - t0) / reps;
}

const sizes = quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
const rows = [];
for (const kind of ['straight', 'branchy', 'loops']) {
  let prev;
  for (const n of sizes) {
    const ms = time(program(kind, n));
    rows.push({
      benchmark: `liveness ${kind} ${n.toLocaleString('en')} insns`,
      ours: ms,
      reference: prev === undefined ? undefined : prev * 10,
      unit: 'ms',
      note: `${((n / ms) * 1000 / 1e6).toFixed(2)} M insns/s${prev === undefined ? '' : '; reference = 10x the previous size (linear)'}`,
    });
    prev = ms;
  }
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/liveness.json'), JSON.stringify({ rows }, null, 2));
console.table(rows.map((r) => ({ benchmark: r.benchmark, 'ours (ms)': r.ours.toFixed(2), 'linear (ms)': r.reference?.toFixed(2) ?? '—', note: r.note })));
