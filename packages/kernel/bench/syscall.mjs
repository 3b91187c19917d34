#!/usr/bin/env node
// The cost of asking the kernel, through koffi: BPF_PROG_LOAD of a two-instruction program
// (the kernel's own "verification time" is the reference: the rest is syscall, JIT and our
// marshalling), a map update + lookup round trip, and one BPF_PROG_TEST_RUN call from Node
// beside the kernel's reported run duration.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../../isa/dist/index.js';
import { createMap, loadProgram, probe, testRun } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quick = process.argv.includes('--quick');
const reps = quick ? 50 : 500;
const rows = [];
const p = probe();
if (!p.canLoad) {
  rows.push({ benchmark: 'bpf() syscall costs', note: `skipped: ${p.reason}` });
} else {
  const hello = assemble('r0 = 42\nexit');
  let verifyUs = 0;
  const t0 = performance.now();
  for (let k = 0; k < reps; k++) {
    const l = loadProgram(hello, { type: 'socket_filter', logLevel: 4 });
    verifyUs += l.stats?.verificationTimeUsec ?? 0;
    l.close();
  }
  rows.push({ benchmark: 'BPF_PROG_LOAD of a 2-insn program, from Node', ours: ((performance.now() - t0) / reps) * 1000, reference: verifyUs / reps, unit: 'µs', note: 'reference: the kernel-reported verification time alone' });
  const m = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1024 });
  const key = new Uint8Array(4);
  const value = new Uint8Array(8);
  const t1 = performance.now();
  for (let k = 0; k < reps * 10; k++) {
    new DataView(key.buffer).setUint32(0, k % 1024, true);
    m.update(key, value);
    m.lookup(key);
  }
  rows.push({ benchmark: 'hash map update + lookup round trip, from Node', ours: ((performance.now() - t1) / (reps * 10)) * 1000, unit: 'µs' });
  m.close();
  const l = loadProgram(hello, { type: 'socket_filter' });
  const data = new Uint8Array(64);
  let kernelNs = 0;
  const t2 = performance.now();
  for (let k = 0; k < reps; k++) kernelNs += testRun(l.fd, { data, repeat: 1 }).duration;
  rows.push({ benchmark: 'BPF_PROG_TEST_RUN call from Node vs the run duration it reports', ours: ((performance.now() - t2) / reps) * 1e6, reference: kernelNs / reps, unit: 'ns' });
  l.close();
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/kernel.json'), JSON.stringify({ rows }, null, 2));
console.table(rows);
