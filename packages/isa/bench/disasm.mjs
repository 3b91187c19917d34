#!/usr/bin/env node
// Decode + disassemble a large program with @bpf/isa, and llvm-objdump-19 on the same bytes
// (wrapped in an ELF object by llvm-objcopy), side by side.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, disassemble, encode } from '../dist/index.js';
import { randomProgram } from '../../reliability/dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quick = process.argv.includes('--quick');
const target = quick ? 100_000 : 1_000_000;
const parts = [];
let n = 0;
for (let seed = 1; n < target; seed++) {
  const p = randomProgram(seed, { size: 200, calls: false });
  parts.push(...p.insns);
  n += p.insns.length;
}
const bytes = encode(parts);
const t0 = performance.now();
const text = disassemble(decode(bytes));
const ours = performance.now() - t0;
const lines = text.split('\n').length - 1;

let reference;
let note = `${lines.toLocaleString('en')} lines`;
try {
  const dir = mkdtempSync(join(tmpdir(), 'isa-bench-'));
  writeFileSync(join(dir, 'prog.bin'), bytes);
  // a one-instruction object from llvm-mc, whose .text is then replaced by our bytes
  writeFileSync(join(dir, 'stub.s'), 'exit\n');
  execFileSync('llvm-mc-19', ['-triple', 'bpfel', '-filetype=obj', '-o', join(dir, 'stub.o'), join(dir, 'stub.s')]);
  execFileSync('llvm-objcopy-19', [`--update-section=.text=${join(dir, 'prog.bin')}`, join(dir, 'stub.o'), join(dir, 'prog.o')]);
  const t1 = performance.now();
  execFileSync('sh', ['-c', `llvm-objdump-19 -d --mcpu=v4 --no-show-raw-insn ${join(dir, 'prog.o')} > /dev/null`]);
  reference = performance.now() - t1;
} catch (e) {
  note += `; llvm-objdump-19 unavailable (${e.message.split('\n')[0]})`;
}
const rows = [{ benchmark: `decode + disassemble ${parts.length.toLocaleString('en')} insns vs llvm-objdump-19`, ours, reference, unit: 'ms', note }];
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/isa.json'), JSON.stringify({ rows }, null, 2));
console.table(rows.map((r) => ({ ...r, ours: r.ours.toFixed(1), reference: r.reference?.toFixed(1) ?? '—', ratio: r.reference ? (r.ours / r.reference).toFixed(2) : '—' })));
