#!/usr/bin/env node
// x86-64 JIT: compile time per 1k instructions, code size per BPF instruction, and run time of
// the native code vs @bpf/vm on the same programs, and vs the kernel's own JIT (the duration
// BPF_PROG_TEST_RUN reports) when this machine can load programs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../../isa/dist/index.js';
import { loadProgram, probe, testRun } from '../../kernel/dist/index.js';
import { randomProgram } from '../../reliability/dist/index.js';
import { run } from '../../vm/dist/index.js';
import { jitX86 } from '../dist/index.js';
import { runX86 } from '../dist/node.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quick = process.argv.includes('--quick');
const progs = Array.from({ length: quick ? 200 : 2000 }, (_, k) => randomProgram(k + 1, { size: 60 }));
const total = progs.reduce((n, p) => n + p.insns.length, 0);
const t0 = performance.now();
let bytes = 0;
for (const p of progs) bytes += jitX86(p).code.length;
const compileMs = performance.now() - t0;
const loop = assemble(`r0 = 0\nr1 = 0\nl:\nr0 += r1\nr0 ^= 0x55\nr1 += 1\nif r1 < ${quick ? 100_000 : 1_000_000} goto l\nexit`);
const jit = jitX86(loop);
const t1 = performance.now();
const native = runX86(jit);
const nativeMs = performance.now() - t1;
const t2 = performance.now();
const vm = run(loop, { budget: 1e8 });
const vmMs = performance.now() - t2;
if (native.r0 !== vm.r0) throw new Error('JIT and VM disagree');
const rows = [
  { benchmark: 'x86 JIT compile time per 1k BPF insns', ours: (compileMs / total) * 1000, unit: 'ms', note: `${progs.length} random programs, ${total} insns` },
  { benchmark: 'x86 code bytes per BPF insn', ours: bytes / total, unit: 'bytes', note: 'random programs; the corpus total vs jited_prog_len is in bench/compare.mjs' },
  { benchmark: `x86 native run, loop of ${vm.insns} insns, vs @bpf/vm`, ours: nativeMs, reference: vmMs, unit: 'ms', note: 'ratio < 1: native is faster; the kernel reference is the next row' },
];

// The same loop, short enough for the kernel verifier (4 insns per iteration, 1M processed at
// most): our runX86 call (mmap, link, call, unmap) beside the run duration the kernel measures
// for its JIT output, and the fixed cost of a run on a 2-insn program beside the kernel's.
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
const kernel = probe();
if (!kernel.canLoad) {
  rows.push({ benchmark: 'x86 native run vs kernel BPF_PROG_TEST_RUN', note: `skipped: ${kernel.reason}` });
} else {
  const n = quick ? 20_000 : 200_000;
  const reps = quick ? 5 : 21;
  const cases = [
    { name: `x86 native run, loop of ${4 * n + 3} insns, vs kernel test run`, p: assemble(`r0 = 0\nr1 = 0\nl:\nr0 += r1\nr0 ^= 0x55\nr1 += 1\nif r1 < ${n} goto l\nexit`) },
    { name: 'x86 native run of a 2-insn program (the per-call cost) vs kernel test run', p: assemble('r0 = 42\nexit') },
  ];
  for (const c of cases) {
    const j = jitX86(c.p);
    const times = [];
    let r0 = 0n;
    for (let k = 0; k < reps; k++) {
      const t = performance.now();
      r0 = runX86(j).r0;
      times.push((performance.now() - t) * 1000);
    }
    const l = loadProgram(c.p, { type: 'socket_filter' });
    try {
      // a socket filter's test run needs an Ethernet frame; the kernel averages over `repeat`
      const k = testRun(l.fd, { data: new Uint8Array(64), repeat: reps });
      if (k.retval !== Number(r0 & 0xffffffffn)) throw new Error(`${c.name}: kernel retval ${k.retval}, native r0 ${r0}`);
      rows.push({ benchmark: c.name, ours: median(times), reference: k.duration / 1000, unit: 'µs', note: `median of ${reps} runX86 calls (the first maps the code, repeats reuse the mapping) vs the kernel-reported mean over ${reps} repeats (kernel ${kernel.kernelRelease}, JIT ${kernel.jitEnabled ? 'on' : 'off'})` });
    } finally {
      l.close();
    }
  }
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/jit-x86.json'), JSON.stringify({ rows }, null, 2));
console.table(rows);
