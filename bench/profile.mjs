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
import { existsSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { assemble, decode } from '../packages/isa/dist/index.js';
import { needsKernelBtf, verify } from '../packages/verifier/dist/index.js';
import { corpusSource, kernelCorpus } from '../packages/testkit/dist/index.js';
import { kernelBtfFor, kernelSymbolsFor, loadProgram } from '../apps/cli/dist/input.js';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const budgetMs = Number(arg('ms') ?? 1500);
const top = Number(arg('top') ?? 8);

// ---- the rows' programs, built as bench/compare.mjs and bench/verifier.mjs build them ----
const rows = [];
const job = (program, type) => ({ program, opts: { type, logLevel: 0, kernelBtf: kernelBtfFor(needsKernelBtf(program, type)), kernelSymbols: kernelSymbolsFor(program) } });
{
  const toProgram = (c) => {
    const s = corpusSource(c);
    return s.kind === 'asm' ? assemble(s.text) : { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs, ...(s.funcInfo ? { funcInfo: s.funcInfo } : {}), type: c.type, ...(c.expectedAttachType ? { expectedAttachType: c.expectedAttachType } : {}) };
  };
  const corpus = kernelCorpus()
    .filter((c) => c.accepted)
    .map((c) => ({ c, p: toProgram(c) }))
    .filter(({ p }) => !p.insns.some((i) => i.code === 0x18 && i.src === 4));
  rows.push({ name: `corpus (${corpus.length} accepted programs)`, jobs: corpus.map(({ c, p }) => job(p, c.type)) });
  const big = assemble(['r0 = 0', 'r1 = 0', ...Array.from({ length: 20000 }, (_, k) => `r0 += ${k % 7}`), 'l:', 'r0 ^= r1', 'r1 += 1', 'if r1 < 200 goto l', 'exit'].join('\n'));
  rows.push({ name: `generated/large-${big.insns.length}`, jobs: [job(big, 'socket_filter')] });
  const loop = assemble(['r0 = 0', 'r1 = 0', 'l:', 'r2 = r1', 'r2 &= 7', 'if r2 != 3 goto s', 'r0 += 1', 's:', 'r0 += r2', 'r1 += 1', 'if r1 < 20000 goto l', 'exit'].join('\n'));
  rows.push({ name: 'generated loop, 20000 iterations', jobs: [job(loop, 'socket_filter')] });
  const nested = assemble(['r0 = 0', 'r1 = 0', 'o:', 'r2 = 0', 'i:', 'r0 += r2', 'r2 += 1', 'if r2 < r1 goto i', 'r1 += 1', 'if r1 < 150 goto o', 'exit'].join('\n'));
  rows.push({ name: 'generated nested loops, 150 outer', jobs: [job(nested, 'socket_filter')] });
  for (const o of [
    { name: 'cilium bpf_lxc.o', env: 'BPF_BENCH_CILIUM_LXC', type: 'sched_cls', open: { linker: 'cilium/ebpf' } },
    { name: 'tetragon bpf_generic_kprobe.o', env: 'BPF_BENCH_TETRAGON_KPROBE', type: 'kprobe', open: {} },
    { name: 'OpenTelemetry profiler', env: 'BPF_BENCH_OTEL_PROFILER', type: 'kprobe', open: { linker: 'cilium/ebpf' }, mapMaxEntries: { trace_events: 1 << 20 } },
  ]) {
    const file = process.env[o.env];
    if (!file || !existsSync(file)) continue;
    const sized = (p) => (o.mapMaxEntries && p.maps ? { ...p, maps: p.maps.map((m) => (Object.hasOwn(o.mapMaxEntries, m.name) ? { ...m, maxEntries: o.mapMaxEntries[m.name] } : m)) } : p);
    rows.push({ name: o.name, jobs: loadProgram(file, o.open).all.map((p) => job(sized(p), p.type ?? o.type)) });
  }
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
