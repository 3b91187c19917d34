#!/usr/bin/env node
// Side by side with the running kernel, on the same programs (fixtures/kernel/corpus.json
// sources plus a large generated program): verification time (ours without a log vs the
// kernel's "verification time" at log level 4, stats only), processed instructions, x86-64
// code size vs jited_prog_len, run time of our native code and of @bpf/vm vs the kernel's
// BPF_PROG_TEST_RUN duration, and peak heap while verifying the largest program.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../packages/isa/dist/index.js';
import { verify } from '../packages/verifier/dist/index.js';
import { run } from '../packages/vm/dist/index.js';
import { jitX86 } from '../packages/jit-x86/dist/index.js';
import { runX86 } from '../packages/jit-x86/dist/node.js';
import { loadWithMaps, probe, testRun } from '../packages/kernel/dist/index.js';
import { corpusPrograms, corpusVerifyOptions, largeSource } from './programs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const kernel = probe();
const rows = [];
// the accepted corpus programs and a large straight-line + loop program
const programs = corpusPrograms();
const big = assemble(largeSource(quick ? 2000 : 20000));
programs.push({ name: `generated/large-${big.insns.length}`, type: 'socket_filter', program: big });

// one pass over every program first, timed as the cold row: V8 runs a fresh process's first
// verifications in its interpreter and baseline code (accept-loop.s, the third program, took
// 64 ms that way against ~0.3 ms warm), while the rows below compare a warm verifier — as an
// editor, a test runner or `bpf veristat` over many objects has it — with the kernel's
let coldUs = 0;
for (const p of programs) {
  const t0 = process.hrtime.bigint();
  verify(p.program, corpusVerifyOptions(p.type));
  coldUs += Number(process.hrtime.bigint() - t0) / 1000;
}
let oursUs = 0, kernelUs = 0, oursInsns = 0, kernelInsns = 0, oursBytes = 0, kernelBytes = 0, compiled = 0;
let packetRuns = 0, vmNs = 0, kernelRunNs = 0;
/** Code bytes per corpus group (asm, conformance, random, c, generated): ours and the kernel's. */
const sizeBy = new Map();
for (const p of programs) {
  const reps = quick ? 3 : 10;
  let best = Infinity, r;
  for (let k = 0; k < reps; k++) {
    const t0 = process.hrtime.bigint();
    r = verify(p.program, corpusVerifyOptions(p.type));
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000);
  }
  oursUs += best;
  oursInsns += r.stats.processedInsns;
  // code size is compared on the programs both sides accept and compile; like the kernel's JIT,
  // ours compiles the program the verifier leaves (dead code removed, one-way branches hard-wired)
  let jit;
  try {
    jit = r.accepted ? jitX86(r.xlated) : undefined;
  } catch {
    jit = undefined;
  }
  if (kernel.canLoad) {
    const { funcInfo: _funcInfo, ...withoutBtf } = p.program;
    const load = loadWithMaps(withoutBtf, { type: p.type, logLevel: 4 });
    kernelUs += load.stats?.verificationTimeUsec ?? 0;
    kernelInsns += load.stats?.processedInsns ?? 0;
    if (jit && load.jitedLen) {
      oursBytes += jit.code.length;
      kernelBytes += load.jitedLen;
      compiled++;
      const g = sizeBy.get(p.name.split('/')[0]) ?? { ours: 0, kernel: 0, n: 0 };
      sizeBy.set(p.name.split('/')[0], { ours: g.ours + jit.code.length, kernel: g.kernel + load.jitedLen, n: g.n + 1 });
    }
    if (p.dataIn !== undefined && packetRuns < (quick ? 3 : 40)) {
      // a C packet program on its recorded frame: @bpf/vm (warm, best of several) vs the kernel's test run
      packetRuns++;
      const data = Buffer.from(p.dataIn, 'hex');
      const tr = testRun(load.fd, { data, repeat: 1000 });
      let vr;
      const reps = quick ? 20 : 200;
      for (let k = 0; k < 5; k++) vr = run(p.program, { data, type: p.type });
      const t = performance.now();
      for (let k = 0; k < reps; k++) vr = run(p.program, { data, type: p.type });
      const ns = ((performance.now() - t) / reps) * 1e6;
      vmNs += ns;
      kernelRunNs += tr.duration;
      rows.push({ benchmark: `run ${p.name}: @bpf/vm vs kernel test-run`, ours: ns, reference: tr.duration, unit: 'ns/run', note: `${vr.insns} insns; ${((vr.insns / ns) * 1e3).toFixed(1)} M insns/s` });
    }
    if (p.name.startsWith('asm/')) {
      rows.push({ benchmark: `verify ${p.name}`, ours: best, reference: load.stats?.verificationTimeUsec, unit: 'µs', note: `processed insns ${r.stats.processedInsns} ours, ${load.stats?.processedInsns} kernel; x86 code ${jit.code.length} bytes ours, ${load.jitedLen} kernel` });
    }
    if (p.name.startsWith('generated/')) {
      rows.push({ benchmark: `verify ${p.name}`, ours: best, reference: load.stats?.verificationTimeUsec, unit: 'µs', note: `processed insns ${r.stats.processedInsns} ours, ${load.stats?.processedInsns} kernel` });
      rows.push({ benchmark: `x86-64 code size ${p.name}`, ours: jit.code.length, reference: load.jitedLen, unit: 'bytes' });
      const data = new Uint8Array(64);
      const tr = testRun(load.fd, { data, repeat: 1000 });
      // the kernel's duration is the mean of `repeat` runs inside one syscall; ours the mean of
      // `repeat` native calls inside one runX86 (koffi's ~0.2 µs per call included), after a
      // first run that maps the code; beside it, one whole runX86 call (copies, code check, call)
      runX86(jit, { mem: data });
      const net = runX86(jit, { mem: data, repeat: 1000 }).duration;
      const whole = [];
      for (let k = 0; k < 100; k++) {
        const t = process.hrtime.bigint();
        runX86(jit, { mem: data });
        whole.push(Number(process.hrtime.bigint() - t));
      }
      rows.push({ benchmark: `run ${p.name}: our x86-64 code vs kernel test-run (both: mean of 1000 repeats)`, ours: net, reference: tr.duration, unit: 'ns/run', note: 'runX86 { repeat: 1000 }.duration vs BPF_PROG_TEST_RUN repeat 1000' });
      rows.push({ benchmark: `run ${p.name}: one whole runX86 call vs kernel test-run`, ours: whole.sort((x, y) => x - y)[50], reference: tr.duration, unit: 'ns/run', note: 'median of 100 calls: memory copy, code check, koffi call and the run' });
      const t2 = performance.now();
      const vr = run(p.program, { ctx: new Uint8Array(192) });
      rows.push({ benchmark: `run ${p.name}: @bpf/vm vs kernel test-run`, ours: (performance.now() - t2) * 1e6, reference: tr.duration, unit: 'ns/run', note: `${vr.insns} insns` });
    }
    load.close();
  } else if (jit) {
    oursBytes += jit.code.length;
    compiled++;
  }
}
rows.unshift(
  { benchmark: `verifier wall time, ${programs.length} accepted corpus programs (total)`, ours: oursUs, reference: kernel.canLoad ? kernelUs : undefined, unit: 'µs', note: `${kernel.canLoad ? 'kernel: "verification time" at log level 4' : `no kernel: ${kernel.reason}`}; ours warm (after one pass over every program), best of ${quick ? 3 : 10} per program` },
  { benchmark: `verifier wall time, the same programs, first pass in a fresh process (V8 warming up)`, ours: coldUs, reference: kernel.canLoad ? kernelUs : undefined, unit: 'µs', note: 'each program verified once, in corpus order, before any other verification in the process' },
  { benchmark: 'processed instructions (total)', ours: oursInsns, reference: kernel.canLoad ? kernelInsns : undefined, unit: 'insns' },
  { benchmark: 'x86-64 code size (total) vs kernel jited_prog_len', ours: oursBytes, reference: kernel.canLoad ? kernelBytes : undefined, unit: 'bytes', note: `${compiled} programs accepted and compiled by both; ours compiles verify(p).xlated as the kernel compiles its xlated program` },
  ...[...sizeBy].map(([g, t]) => ({ benchmark: `x86-64 code size, ${g} programs, vs kernel jited_prog_len`, ours: t.ours, reference: t.kernel, unit: 'bytes', note: `${t.n} programs` })),
  ...(packetRuns ? [{ benchmark: `run ${packetRuns} C packet programs: @bpf/vm vs kernel test-run (total)`, ours: vmNs, reference: kernelRunNs, unit: 'ns/run', note: 'socket filter / tc / XDP on the recorded frame' }] : []),
);
// peak memory while verifying the largest program: the max RSS of a child that loads
// everything first (baseline), then verifies
const probeScript = `
  const { assemble } = await import(${JSON.stringify(join(root, 'packages/isa/dist/index.js'))});
  const { verify } = await import(${JSON.stringify(join(root, 'packages/verifier/dist/index.js'))});
  const { largeSource } = await import(${JSON.stringify(join(root, 'bench/programs.mjs'))});
  const p = assemble(largeSource(${quick ? 2000 : 20000}));
  const before = process.resourceUsage().maxRSS;
  verify(p, { logLevel: 0 });
  console.log(JSON.stringify({ before, after: process.resourceUsage().maxRSS }));`;
const child = spawnSync(process.execPath, ['--input-type=module'], { input: probeScript, encoding: 'utf8' });
const rss = child.status === 0 ? JSON.parse(child.stdout) : undefined;
rows.push({ benchmark: `peak memory verifying ${big.insns.length} insns (max RSS growth)`, ours: rss ? (rss.after - rss.before) / 1024 : undefined, unit: 'MiB', note: rss ? `max RSS ${(rss.after / 1024).toFixed(0)} MiB in all; no kernel reference` : 'measurement failed' });
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/compare.json'), JSON.stringify({ rows }, null, 2));
console.table(rows.map((r) => ({ ...r, ours: typeof r.ours === 'number' ? +r.ours.toFixed(1) : r.ours, ratio: r.reference ? +(r.ours / r.reference).toFixed(2) : '—' })));
