#!/usr/bin/env node
// Verifier speed beside the running kernel's, on the same programs in the same run (issue 25):
// wall time of our verify() (no log) against the kernel's "verification time" (log level 4,
// stats only), with processed instructions per second on both sides, for
//  - generated loop programs (bounded loops the verifier walks iteration by iteration);
//  - the largest real-world programs, public objects others wrote, read from paths given here
//    (never part of this repository): cilium's bpf_lxc.o tail-call programs
//    (BPF_BENCH_CILIUM_LXC or --cilium-lxc=FILE) and tetragon's generic kprobe programs
//    (BPF_BENCH_TETRAGON_KPROBE or --tetragon-kprobe=FILE), the OpenTelemetry eBPF profiler's
//    unwinders (BPF_BENCH_OTEL_PROFILER or --otel-profiler=FILE: support/ebpf/tracer.ebpf.amd64
//    of open-telemetry/opentelemetry-ebpf-profiler); a row says why when a path is absent;
//  - peak memory while verifying a program that reaches the 1M processed-insn limit;
//  - `bpf veristat` over many objects (worker threads, one per core) against the kernel loading
//    the same programs one after another.
// --quick verifies one small program of each real-world object, smaller loops, the -mcpu=v3
// objects only in the veristat row, and the 1M-insn program once (under the 256 MiB cap).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../packages/isa/dist/index.js';
import { verify } from '../packages/verifier/dist/index.js';
import { loadWithMaps, probe } from '../packages/kernel/dist/index.js';
import { loadProgram } from '../apps/cli/dist/input.js';
import { REALWORLD, loopProgram, nestedProgram, realworldFile, realworldPrograms, verifyOptions } from './programs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const kernel = probe();
const rows = [];
const mips = (insns, us) => (us > 0 ? `${(insns / us).toPrecision(3)} M insns/s` : '—');

/**
 * Verify each program (best of `reps` wall times) and load it into the kernel; totals over the
 * programs both sides accept, so the two times cover the same programs. With `afterPass`, one
 * pass over every program comes first (each program's first time, kept as `oursFirstUs`) and the
 * best is of the passes after it, as the corpus row of compare.mjs measures a warm verifier.
 */
function measure(programs, reps, loadOpts = {}, afterPass = false) {
  const t = { programs: 0, oursUs: 0, oursFirstUs: 0, kernelUs: 0, oursInsns: 0, kernelInsns: 0, skipped: [] };
  const jobs = programs.map(({ name, program, type }) => ({ name, program, type, best: Infinity, first: 0, r: undefined, opts: verifyOptions(program, type) }));
  const run = (j) => {
    const t0 = process.hrtime.bigint();
    const r = verify(j.program, j.opts);
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    // only what the row needs: a result kept for every program (its xlated program, states)
    // would leave the later passes collecting a larger heap than one verification leaves
    j.r = { accepted: r.accepted, error: r.error, stats: { processedInsns: r.stats.processedInsns } };
    return us;
  };
  if (afterPass) {
    for (const j of jobs) j.first = run(j);
    for (let k = 1; k < reps; k++) for (const j of jobs) j.best = Math.min(j.best, run(j));
  } else
    for (const j of jobs)
      for (let k = 0; k < reps; k++) {
        const us = run(j);
        if (k === 0) j.first = us;
        j.best = Math.min(j.best, us);
      }
  for (const { name, program, type, best, first, r } of jobs) {
    let load;
    try {
      load = loadWithMaps(program, { type, logLevel: 4, ...loadOpts });
    } catch (e) {
      t.skipped.push(`${name}: the kernel refused it before verifying (${String(e.message).split('\n')[0].slice(0, 80)})`);
      continue;
    }
    const accepted = load.accepted;
    const stats = load.stats;
    load.close();
    if (!accepted || !r.accepted) {
      t.skipped.push(`${name}: ${accepted ? '' : 'kernel rejects'}${!accepted && !r.accepted ? ', ' : ''}${r.accepted ? '' : `ours rejects (${r.error?.message})`}`);
      continue;
    }
    t.programs++;
    t.oursUs += best;
    t.oursFirstUs += first;
    t.oursInsns += r.stats.processedInsns;
    t.kernelUs += stats?.verificationTimeUsec ?? 0;
    t.kernelInsns += stats?.processedInsns ?? 0;
  }
  return t;
}

const row = (benchmark, t, extra = '') =>
  rows.push({
    benchmark,
    ours: t.programs ? t.oursUs / 1000 : undefined,
    reference: t.programs ? t.kernelUs / 1000 : undefined,
    unit: 'ms',
    note: t.programs
      ? `${t.programs} programs; processed ${t.oursInsns} ours (${mips(t.oursInsns, t.oursUs)}), ${t.kernelInsns} kernel (${mips(t.kernelInsns, t.kernelUs)})${extra}${t.skipped.length ? `; left out: ${t.skipped.join('; ')}` : ''}`
      : `not measured: ${t.skipped.join('; ') || 'no program'}`,
  });

if (!kernel.canLoad) rows.push({ benchmark: 'verifier speed beside the kernel', unit: 'ms', note: `not measured: no kernel (${kernel.reason})` });
else {
  // ---- generated loops: the verifier walks every iteration (the counter is precise) ----
  const n = quick ? 1000 : 20000;
  const loop = loopProgram(n);
  const m = quick ? 30 : 150;
  const nested = nestedProgram(m);
  for (const [name, program] of [
    [`generated loop, ${n} iterations (${loop.insns.length} insns)`, loop],
    [`generated nested loops, ${m} outer iterations (${nested.insns.length} insns)`, nested],
  ])
    row(`verify ${name}`, measure([{ name, program, type: 'socket_filter' }], quick ? 3 : 5));

  // ---- real-world objects: public programs others wrote, read from a path given here ----
  for (const o of REALWORLD) {
    const { file, why } = realworldFile(o);
    if (!file) {
      rows.push({ benchmark: `verify ${o.label}`, unit: 'ms', note: `not measured: ${why}` });
      continue;
    }
    const chosen = realworldPrograms(o, file).filter((p) => !quick || p.name === o.quickProg);
    // three passes over the programs: the row is each program's best of the second and third
    // (warm, after one pass over every program, as the corpus row), the next row each program's
    // time in the first pass (V8 still compiling and optimising much of the verifier; the
    // process has only run the generated rows before)
    const t = measure(chosen, 3, o.mapMaxEntries ? { mapMaxEntries: o.mapMaxEntries } : {}, true);
    const label = `verify ${o.label}${quick ? ` (${o.quickProg})` : ` (${chosen.length} programs)`}`;
    row(`${label}, warm (after one pass, best of 2)`, t, '; public object others wrote, not in this repository');
    if (!quick) row(`${label}, first pass, in order`, { ...t, oursUs: t.oursFirstUs }, '; the same programs, each one\'s first verify() in this process');
  }

  // ---- memory: a program that reaches the 1M processed-insn limit ----
  // the max RSS growth of a child that loads everything first, then verifies; and the smallest
  // V8 old-space cap (of 64/128/256 MiB) under which the verification completes
  const infinite = readFileSync(join(root, 'fixtures/asm/kernel/reject-infinite-loop.s'), 'utf8');
  const child = (cap) =>
    spawnSync(process.execPath, [...(cap ? [`--max-old-space-size=${cap}`] : []), '--input-type=module'], {
      encoding: 'utf8',
      input: `
  const { assemble } = await import(${JSON.stringify(join(root, 'packages/isa/dist/index.js'))});
  const { verify } = await import(${JSON.stringify(join(root, 'packages/verifier/dist/index.js'))});
  const p = assemble(${JSON.stringify(infinite)});
  const before = process.resourceUsage().maxRSS;
  const t = process.hrtime.bigint();
  const r = verify(p, { logLevel: 0 });
  const us = Number(process.hrtime.bigint() - t) / 1000;
  console.log(JSON.stringify({ before, after: process.resourceUsage().maxRSS, processed: r.stats.processedInsns, us, error: r.error?.message }));`,
    });
  // quick: one child, capped at 256 MiB, measured as it runs
  const free = child(quick ? 256 : undefined);
  const res = free.status === 0 ? JSON.parse(free.stdout) : undefined;
  let cap = quick && res ? 256 : undefined;
  for (const c of quick ? [] : [64, 128, 256]) {
    if (child(c).status === 0) {
      cap = c;
      break;
    }
  }
  const load = loadWithMaps(assemble(infinite), { type: 'socket_filter', logLevel: 4 });
  load.close();
  rows.push({
    benchmark: `peak memory verifying asm/kernel/reject-infinite-loop.s (1M processed-insn limit), max RSS growth`,
    ours: res ? (res.after - res.before) / 1024 : undefined,
    unit: 'MiB',
    note: res
      ? `${res.processed} processed (${mips(res.processed, res.us)}; kernel ${load.stats?.processedInsns} in ${((load.stats?.verificationTimeUsec ?? 0) / 1000).toFixed(0)} ms, ${mips(load.stats?.processedInsns ?? 0, load.stats?.verificationTimeUsec ?? 0)}); max RSS ${(res.after / 1024).toFixed(0)} MiB in all; ${cap ? `completes with V8's heap capped at ${cap} MiB (--max-old-space-size${quick ? '; only 256 tried in quick mode' : ', 64/128/256 tried'})` : 'does not complete with the heap capped at 256 MiB'}; target < 256 MiB; no kernel memory figure`
      : `measurement failed: ${free.stderr.slice(0, 200)}`,
  });

  // ---- bpf veristat over many objects against the kernel loading the same programs ----
  const bin = join(root, 'apps/cli/dist/bpf/bin.cjs');
  const clang = spawnSync('clang-19', ['--version']).status === 0;
  if (!clang || !existsSync(bin)) rows.push({ benchmark: 'bpf veristat throughput', unit: 'ms', note: `not measured: ${clang ? 'the CLI is not built (pnpm --filter @bpf/cli build)' : 'clang-19 missing (builds the objects)'}` });
  else {
    const dir = mkdtempSync(join(tmpdir(), 'bpf-bench-veristat-'));
    try {
      execFileSync('sh', [join(root, 'fixtures/c/progs/build.sh'), dir]);
      // quick: the -mcpu=v3 builds only
      const objects = readdirSync(dir).filter((f) => f.endsWith(quick ? '.v3.o' : '.o')).sort().map((f) => join(dir, f));
      const run = (jobs) => {
        const t = process.hrtime.bigint();
        const out = execFileSync(process.execPath, [bin, 'veristat', '--no-kernel', '--json', '--jobs', String(jobs), ...objects], { encoding: 'utf8', maxBuffer: 1 << 28 });
        return { ms: Number(process.hrtime.bigint() - t) / 1e6, doc: JSON.parse(out) };
      };
      execFileSync(process.execPath, [bin, '--version']); // the code cache, as a user's second run has it
      const par = run(availableParallelism());
      const seq = quick ? undefined : run(1);
      const ours = par.doc.programs;
      const oursInsns = ours.reduce((s, r) => s + r.insns, 0);
      // the kernel: the same programs loaded one after another (map creation included), in this process
      let kMs = 0, kInsns = 0, kProgs = 0;
      for (const f of objects) {
        for (const p of loadProgram(f, {}).all) {
          const t = process.hrtime.bigint();
          try {
            const l = loadWithMaps(p, { type: p.type ?? 'socket_filter', logLevel: 4 });
            kMs += Number(process.hrtime.bigint() - t) / 1e6;
            kInsns += l.stats?.processedInsns ?? 0;
            kProgs++;
            l.close();
          } catch {
            kMs += Number(process.hrtime.bigint() - t) / 1e6;
          }
        }
      }
      rows.push({
        benchmark: `bpf veristat over ${objects.length} objects (${ours.length} programs) vs the kernel loading them one by one, wall time`,
        ours: par.ms,
        reference: kMs,
        unit: 'ms',
        note: `ours ${(ours.length / (par.ms / 1000)).toFixed(1)} programs/s, ${(oursInsns / (par.ms / 1000) / 1e6).toFixed(3)} M processed insns/s with ${availableParallelism()} worker threads${seq ? ` (--jobs 1: ${seq.ms.toFixed(0)} ms)` : ''}, whole process; kernel ${(kProgs / (kMs / 1000)).toFixed(1)} programs/s, ${(kInsns / (kMs / 1000) / 1e6).toFixed(3)} M processed insns/s (BPF_PROG_LOAD with its maps, in-process); objects: fixtures/c/progs built with clang-19`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/verifier.json'), JSON.stringify({ rows }, null, 2));
console.table(rows.map((r) => ({ ...r, ours: typeof r.ours === 'number' ? +r.ours.toFixed(1) : r.ours, ratio: r.reference ? +(r.ours / r.reference).toFixed(2) : '—' })));
