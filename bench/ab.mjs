#!/usr/bin/env node
// Two builds of the verifier on the same bench row, in one process, in alternating rounds: the
// way to tell whether a change made the verifier faster on a busy machine, where two runs of
// `pnpm bench` minutes apart differ by more than most changes do. Each side is a built checkout
// (`pnpm exec tsc -b` and the CLI's dist); each builds the row's programs with its own
// bench/programs.mjs and verifies them with its own @bpf/verifier, so a change to the loader or
// to the BTF reader is measured too. Every round verifies the row on each side, A then B in odd
// rounds and B then A in even ones, and counts the process's CPU time (user + system) and wall
// time of each side's passes (as many passes as make about 300 ms of CPU). Both sides must give
// the same verdicts and processed counts, or the script says so and exits 2: a speed change that
// moves an answer is a bug. No collection is forced between passes: on Node 20 a forced full
// collection made the next pass 1.5-3x slower (measured on the loop row), far more than the
// changes this script is for.
//
//   node bench/ab.mjs --a DIR --b DIR [--row ROW] [--rounds 8] [--program NAME] [--json]
//
// ROW: corpus (the accepted corpus programs and generated/large-20006), large, loop, nested,
// lxc, tetragon, otel (the real-world rows of bench/verifier.mjs, with the same variables:
// BPF_BENCH_CILIUM_LXC, BPF_BENCH_TETRAGON_KPROBE, BPF_BENCH_OTEL_PROFILER, or --file FILE).
// --program keeps the real-world programs whose name contains NAME.
// Prints each round and then the median of the per-round ratios B / A (below 1: B is faster).
import { resolve, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    row: { type: 'string', default: 'corpus' },
    rounds: { type: 'string', default: '8' },
    program: { type: 'string' },
    file: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
if (!opt.a || !opt.b) {
  console.error('usage: node bench/ab.mjs --a DIR --b DIR [--row corpus|large|loop|nested|lxc|tetragon|otel] [--rounds N] [--program NAME] [--file FILE] [--json]');
  process.exit(1);
}
const rounds = Number(opt.rounds);
const REAL = { lxc: 'cilium-lxc', tetragon: 'tetragon-kprobe', otel: 'otel-profiler' };
const ROWS = ['corpus', 'large', 'loop', 'nested', ...Object.keys(REAL)];
if (!ROWS.includes(opt.row)) {
  console.error(`unknown row ${opt.row}: one of ${ROWS.join(', ')}`);
  process.exit(1);
}

/** One side: its verify() and the row's jobs, built by its own bench/programs.mjs. */
async function side(dir) {
  const root = resolve(dir);
  const programs = await import(pathToFileURL(join(root, 'bench/programs.mjs')).href);
  const { verify } = await import(pathToFileURL(join(root, 'packages/verifier/dist/index.js')).href);
  const { assemble } = await import(pathToFileURL(join(root, 'packages/isa/dist/index.js')).href);
  let jobs;
  if (opt.row === 'corpus' || opt.row === 'large') {
    const big = { name: 'generated/large', program: assemble(programs.largeSource(20000)), opts: programs.corpusVerifyOptions('socket_filter') };
    jobs = opt.row === 'large' ? [big] : [...programs.corpusPrograms().map((p) => ({ name: p.name, program: p.program, opts: programs.corpusVerifyOptions(p.type) })), big];
  } else if (opt.row === 'loop' || opt.row === 'nested') {
    const program = opt.row === 'loop' ? programs.loopProgram(20000) : programs.nestedProgram(150);
    jobs = [{ name: opt.row, program, opts: programs.verifyOptions(program, 'socket_filter') }];
  } else {
    const o = programs.REALWORLD.find((r) => r.opt === REAL[opt.row]);
    const { file, why } = programs.realworldFile(o, opt.file ? [`--${o.opt}=${opt.file}`] : []);
    if (!file) {
      console.error(`${opt.row}: ${why}`);
      process.exit(1);
    }
    jobs = programs
      .realworldPrograms(o, file)
      .filter((p) => !opt.program || p.name.includes(opt.program))
      .map((p) => ({ name: p.name, program: p.program, opts: programs.verifyOptions(p.program, p.type) }));
  }
  if (jobs.length === 0) {
    console.error(`${dir}: no program of row ${opt.row}${opt.program ? ` matches ${opt.program}` : ''}`);
    process.exit(1);
  }
  return { dir, verify, jobs };
}

/** `reps` passes over the row: CPU and wall milliseconds, and what the verifier answered. */
function pass(s, reps = 1) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let answers;
  for (let k = 0; k < reps; k++)
    answers = s.jobs.map((j) => {
      const r = s.verify(j.program, j.opts);
      return `${j.name}: ${r.accepted ? 'accept' : `reject at ${r.error?.insn ?? '?'}`} ${r.stats?.processedInsns ?? '?'}`;
    });
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / 1000, wall, answers };
}

const A = await side(opt.a);
const B = await side(opt.b);
// two passes each to warm V8 up, and the answers of both sides compared
let a0, b0;
for (let k = 0; k < 2; k++) {
  a0 = pass(A);
  b0 = pass(B);
}
const differ = a0.answers.filter((x, k) => x !== b0.answers[k] || a0.answers.length !== b0.answers.length);
if (differ.length > 0 || a0.answers.length !== b0.answers.length) {
  console.error(`the two sides answer differently (${differ.length} of ${a0.answers.length} programs), e.g.:`);
  for (const x of differ.slice(0, 5)) console.error(`  A ${x}\n  B ${b0.answers[a0.answers.indexOf(x)]}`);
  process.exit(2);
}

// a short row is verified several times a round, so that a round is ~300 ms of CPU, not a few
// milliseconds that one collection or one tick of the other core's load decides
const reps = Math.max(1, Math.round(300 / Math.max(1, Math.min(a0.cpu, b0.cpu))));

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = [];
for (let r = 0; r < rounds; r++) {
  const [first, second] = r % 2 === 0 ? [A, B] : [B, A];
  const x = pass(first, reps);
  const y = pass(second, reps);
  const [a, b] = first === A ? [x, y] : [y, x];
  results.push({ round: r + 1, aCpu: a.cpu, bCpu: b.cpu, aWall: a.wall, bWall: b.wall, ratio: b.cpu / a.cpu });
  if (!opt.json) console.log(`round ${r + 1}: A ${a.cpu.toFixed(0)} ms CPU, B ${b.cpu.toFixed(0)} ms CPU, B/A ${(b.cpu / a.cpu).toFixed(3)}`);
}
const ratios = results.map((x) => x.ratio);
const summary = {
  row: opt.row,
  programs: A.jobs.length,
  rounds,
  passesPerRound: reps,
  a: resolve(opt.a),
  b: resolve(opt.b),
  medianCpuA: median(results.map((x) => x.aCpu)),
  medianCpuB: median(results.map((x) => x.bCpu)),
  medianRatio: median(ratios),
  minRatio: Math.min(...ratios),
  maxRatio: Math.max(...ratios),
  medianWallRatio: median(results.map((x) => x.bWall / x.aWall)),
};
if (opt.json) console.log(JSON.stringify({ ...summary, results }, null, 2));
else
  console.log(
    `${opt.row} (${summary.programs} programs, ${rounds} rounds of ${reps} pass${reps > 1 ? 'es' : ''} a side): CPU B/A median ${summary.medianRatio.toFixed(3)} (${summary.minRatio.toFixed(3)}–${summary.maxRatio.toFixed(3)}), ` +
      `A ${summary.medianCpuA.toFixed(0)} ms, B ${summary.medianCpuB.toFixed(0)} ms; wall B/A median ${summary.medianWallRatio.toFixed(3)}; same answers on every program`,
  );
