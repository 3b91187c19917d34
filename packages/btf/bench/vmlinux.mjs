#!/usr/bin/env node
// Parse + raw dump of vmlinux BTF vs `bpftool btf dump file /sys/kernel/btf/vmlinux`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpRaw, parseBtf } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const file = '/sys/kernel/btf/vmlinux';
const rows = [];
if (!existsSync(file)) rows.push({ benchmark: 'BTF parse + raw dump of vmlinux', note: 'no /sys/kernel/btf/vmlinux here' });
else {
  const bytes = new Uint8Array(readFileSync(file));
  const runs = process.argv.includes('--quick') ? 2 : 5;
  let ours = Infinity;
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    dumpRaw(parseBtf(bytes));
    ours = Math.min(ours, performance.now() - t0);
  }
  let reference;
  try {
    for (let k = 0; k < runs; k++) {
      const t1 = performance.now();
      execFileSync('sh', ['-c', `bpftool btf dump file ${file} > /dev/null`]);
      reference = Math.min(reference ?? Infinity, performance.now() - t1);
    }
  } catch {
    reference = undefined;
  }
  rows.push({ benchmark: 'BTF parse + raw dump of vmlinux vs bpftool', ours, reference, unit: 'ms', note: `${bytes.length} bytes; best of ${runs}${reference === undefined ? '; bpftool missing' : ''}` });
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/btf.json'), JSON.stringify({ rows }, null, 2));
console.table(rows);
