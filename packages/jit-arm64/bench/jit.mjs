#!/usr/bin/env node
// arm64 JIT: code size vs the x86-64 JIT and per BPF instruction; compile time per 1k insns.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomProgram } from '../../reliability/dist/index.js';
import { jitX86 } from '../../jit-x86/dist/index.js';
import { jitArm64 } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const progs = Array.from({ length: process.argv.includes('--quick') ? 200 : 2000 }, (_, k) => randomProgram(k + 1, { size: 60 }));
const insns = progs.reduce((n, p) => n + p.insns.length, 0);
let arm = 0, x86 = 0;
const t0 = performance.now();
for (const p of progs) arm += jitArm64(p).code.length;
const ms = performance.now() - t0;
for (const p of progs) x86 += jitX86(p).code.length;
const rows = [
  { benchmark: 'arm64 code size vs x86-64 (same programs)', ours: arm, reference: x86, unit: 'bytes', note: `${progs.length} random programs, ${insns} BPF insns` },
  { benchmark: 'arm64 code bytes per BPF insn', ours: arm / insns, unit: 'bytes' },
  { benchmark: 'arm64 JIT compile time per 1k BPF insns', ours: (ms / insns) * 1000, unit: 'ms' },
];
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/jit-arm64.json'), JSON.stringify({ rows }, null, 2));
console.table(rows);
