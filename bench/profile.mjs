#!/usr/bin/env node
// Where our verifier's time goes, per verifier row of the bench (issue 25): each row's programs
// verified once to warm up, then verified again under V8's sampling CPU profiler until about
// `--ms` (default 1500) of CPU has been sampled; the self time of every sample is put in one
// of a few parts of the verifier by the file (and for verify.js the function) it ran in.
// Prints a markdown table (--json for the raw figures and each row's top functions).
//
//   node bench/profile.mjs [--ms=1500] [--json] [--top=8]
//
// The real-world rows need the same variables as bench/verifier.mjs (BPF_BENCH_CILIUM_LXC,
// BPF_BENCH_TETRAGON_KPROBE, BPF_BENCH_OTEL_PROFILER); without them those rows are left out.
// Not part of `pnpm bench`: profiling slows the code it samples, so these are shares, not times.
import { Session } from 'node:inspector/promises';
import { assemble } from '../packages/isa/dist/index.js';
import { verify } from '../packages/verifier/dist/index.js';
import { REALWORLD, corpusPrograms, corpusVerifyOptions, largeSource, loopProgram, nestedProgram, realworldFile, realworldPrograms, verifyOptions } from './programs.mjs';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const budgetMs = Number(arg('ms') ?? 1500);
const top = Number(arg('top') ?? 8);

// ---- the rows' programs and options: bench/programs.mjs, as compare.mjs and verifier.mjs use them ----
const rows = [];
// the corpus row of compare.mjs totals the accepted corpus programs and the large program
const big = { program: assemble(largeSource(20000)), opts: corpusVerifyOptions('socket_filter') };
const corpus = corpusPrograms().map((p) => ({ program: p.program, opts: corpusVerifyOptions(p.type) }));
rows.push({ name: `corpus (${corpus.length} accepted programs and generated/large-${big.program.insns.length})`, jobs: [...corpus, big] });
rows.push({ name: `generated/large-${big.program.insns.length}`, jobs: [big] });
for (const [name, program] of [['generated loop, 20000 iterations', loopProgram(20000)], ['generated nested loops, 150 outer', nestedProgram(150)]]) rows.push({ name, jobs: [{ program, opts: verifyOptions(program, 'socket_filter') }] });
for (const o of REALWORLD) {
  const { file } = realworldFile(o);
  if (file) rows.push({ name: o.short, jobs: realworldPrograms(o, file).map((p) => ({ program: p.program, opts: verifyOptions(p.program, p.type) })) });
}

// ---- the parts of the verifier, by the dist file a sample's function lives in ----
const PARTS = {
  gc: 'garbage collector',
  loop: 'main loop',
  prune: 'state comparison',
  state: 'state copies',
  scalar: 'scalar domain',
  mem: 'memory access',
  calls: 'calls, helpers, kfuncs',
  live: 'liveness',
  precise: 'precision',
  other: 'other',
};
const byFile = {
  'prune.js': 'prune',
  'state.js': 'state',
  'precise.js': 'precise',
  'stacklive.js': 'live',
  'scc.js': 'live',
  'graph.js': 'live',
  'subprogwalk.js': 'live',
  'trace.js': 'loop',
  'xlate.js': 'loop',
  'env.js': 'loop',
};
for (const f of ['scalar', 'scalarlow', 'tnum', 'cond', 'alu', 'branch']) byFile[`${f}.js`] = 'scalar';
for (const f of ['mem', 'ctx', 'ctxlayout', 'btfmem', 'sockmem', 'mapfields', 'arena', 'btfctx', 'btffields']) byFile[`${f}.js`] = 'mem';
for (const f of ['calls', 'callargs', 'helpers', 'helperargs', 'helperret', 'helper-protos', 'kfuncs', 'kfunc-sets', 'dynptr', 'iter', 'kptr', 'locks', 'btfproto', 'global', 'fastcall', 'nullable', 'exceptions', 'freplace']) byFile[`${f}.js`] = 'calls';
// verify.js holds the main loop and a few functions of other parts
const verifyFns = { visited: 'prune', bucketOf: 'prune', key: 'prune', fork: 'state', cloneState: 'state', propagateFrom: 'precise', totalPrecise: 'precise', loopHit: 'precise' };
const partOf = (cf) => {
  if (cf.functionName === '(garbage collector)') return 'gc';
  const file = cf.url.split('/').pop();
  if (cf.url.includes('/liveness/dist/')) return 'live';
  if (file === 'verify.js') return verifyFns[cf.functionName] ?? 'loop';
  return byFile[file] ?? 'other';
};

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
const results = [];
for (const row of rows) {
  const pass = () => {
    let n = 0;
    for (const { program, opts } of row.jobs) n += verify(program, opts).stats.processedInsns;
    return n;
  };
  pass();
  await session.post('Profiler.start');
  const c0 = process.cpuUsage();
  let passes = 0, cpuMs = 0, processed = 0;
  do {
    processed += pass();
    passes++;
    const c = process.cpuUsage(c0);
    cpuMs = (c.user + c.system) / 1000;
  } while (cpuMs < budgetMs);
  const { profile } = await session.post('Profiler.stop');
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  }
  const parts = Object.fromEntries(Object.keys(PARTS).map((k) => [k, 0]));
  const fns = new Map();
  for (const [id, dt] of self) {
    const cf = nodes.get(id).callFrame;
    // the profiler's own stop (node:inspector's dispatch into V8) and idle time are not ours
    if (cf.functionName === '(idle)' || (cf.functionName === 'dispatch' && cf.url === '') || cf.url.startsWith('node:inspector')) continue;
    total += dt;
    parts[partOf(cf)] += dt;
    const k = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').pop()}`.trim();
    fns.set(k, (fns.get(k) ?? 0) + dt);
  }
  const share = (x) => (total ? (100 * x) / total : 0);
  results.push({
    row: row.name,
    programs: row.jobs.length,
    msPerPass: cpuMs / passes,
    processedPerPass: processed / passes,
    parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, share(v)])),
    top: [...fns].sort((a, b) => b[1] - a[1]).slice(0, top).map(([f, v]) => ({ fn: f, share: share(v) })),
  });
}
await session.post('Profiler.disable');

if (process.argv.includes('--json')) console.log(JSON.stringify(results, null, 2));
else {
  const keys = Object.keys(PARTS);
  console.log(`| row | CPU per pass (profiled) | ${keys.map((k) => PARTS[k]).join(' | ')} |`);
  console.log(`|---|---|${keys.map(() => '---|').join('')}`);
  for (const r of results) console.log(`| ${r.row} | ${r.msPerPass.toFixed(1)} ms | ${keys.map((k) => `${r.parts[k].toFixed(0)}%`).join(' | ')} |`);
  console.log();
  for (const r of results) console.log(`- ${r.row}: ${r.top.map((t) => `${t.fn} ${t.share.toFixed(1)}%`).join(', ')}`);
}
