#!/usr/bin/env node
// `pnpm bench [--quick]`: runs every package's benchmark script (packages/*/bench/*.mjs), each
// of which measures our figure and a reference side by side and writes bench/results/<name>.json.
// This collects them into bench/results.json and the table in bench/README.md, with the
// machine and tool versions, so numbers can be compared across commits.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const resultsDir = join(root, 'bench/results');
mkdirSync(resultsDir, { recursive: true });

const scripts = [];
for (const group of ['packages', 'apps']) {
  for (const pkg of readdirSync(join(root, group))) {
    const dir = join(root, group, pkg, 'bench');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.mjs')).sort()) scripts.push(join(dir, f));
  }
}
// cross-layer comparisons with the kernel live in bench/*.mjs: all but this runner, the rows'
// shared programs, the profiler (shares of CPU, not a benchmark) and the A/B of two builds
const notRows = new Set(['run.mjs', 'programs.mjs', 'profile.mjs', 'ab.mjs']);
for (const f of readdirSync(join(root, 'bench')).filter((f) => f.endsWith('.mjs') && !notRows.has(f)).sort()) scripts.push(join(root, 'bench', f));
const failures = [];
// --collect: only rebuild the table from bench/results/*.json
for (const s of process.argv.includes('--collect') ? [] : scripts) {
  const rel = s.slice(root.length + 1);
  console.log(`\n== ${rel}${quick ? ' (quick)' : ''}`);
  const r = spawnSync(process.execPath, [s, ...(quick ? ['--quick'] : [])], { stdio: 'inherit', cwd: root, timeout: quick ? 120_000 : 1_800_000 });
  if (r.status !== 0) failures.push(rel);
}

const version = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {
    return 'missing';
  }
};
const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  kernel: version('uname', ['-r']),
  llvm: version('llvm-mc-19', ['--version']).replace(/^.*version /, '') || 'missing',
  bpftool: version('bpftool', ['--version']),
  date: new Date().toISOString(),
  quick,
};

// Each result file: { rows: [{ benchmark, ours, reference?, unit, ratio?, note? }] } or an array of rows.
const rows = [];
for (const f of readdirSync(resultsDir).filter((f) => f.endsWith('.json')).sort()) {
  const j = JSON.parse(readFileSync(join(resultsDir, f), 'utf8'));
  const list = Array.isArray(j) ? j : Array.isArray(j.rows) ? j.rows : [];
  for (const r of list) rows.push({ suite: f.replace(/\.json$/, ''), ...r });
}
writeFileSync(join(root, 'bench/results.json'), JSON.stringify({ machine, rows, failures }, null, 2) + '\n');

const fmt = (v) => (v === undefined || v === null ? '—' : typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : String(v));
const table = [
  '| suite | benchmark | ours | reference | ratio (ours/ref) | unit | note |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.suite} | ${r.benchmark ?? r.name ?? ''} | ${fmt(r.ours)} | ${fmt(r.reference)} | ${fmt(r.ratio ?? (typeof r.ours === 'number' && typeof r.reference === 'number' && r.reference ? r.ours / r.reference : undefined))} | ${r.unit ?? ''} | ${r.note ?? ''} |`),
];
const readme = `# Benchmarks

\`pnpm bench\` runs every \`packages/*/bench/*.mjs\` (\`--quick\` for a CI smoke run under two
minutes) and writes this table and \`bench/results.json\`. Each row is our figure and the
reference's, measured in the same run on the same inputs; where a reference is missing the row
says so.

The \`oneshot\` rows (\`bench/oneshot.mjs\`) time whole processes as build scripts run them:
the shipped \`bpf\` command (after one first run, which makes its code cache) beside the C tool
doing the same job, in alternating pairs, median wall times, the ratio the median of the
per-pair ratios, each side's CPU time in the note (on a busy machine it moves less than wall
time); Node's children run without \`NODE_EXTRA_CA_CERTS\` / \`NODE_OPTIONS\`.

The \`verifier\` rows (\`bench/verifier.mjs\`) time our verifier beside the running kernel's on
generated loops, on a program that reaches the 1M processed-insn limit (peak memory) and on
\`bpf veristat\` over many objects; the real-world rows verify public objects others wrote, which
this repository does not hold: \`BPF_BENCH_CILIUM_LXC\` names cilium's \`bpf_lxc.o\` and
\`BPF_BENCH_TETRAGON_KPROBE\` tetragon's \`bpf_generic_kprobe.o\`, \`BPF_BENCH_OTEL_PROFILER\` the
OpenTelemetry eBPF profiler's \`support/ebpf/tracer.ebpf.amd64\` (without them those rows say so). The
real-world programs are verified in three passes: one row is each program's best of the second
and third (warm, after one pass over every program, as the corpus row), the next its time in the
first pass (V8 still compiling much of the verifier, as in a one-shot \`bpf verify\`).
\`bench/programs.mjs\` builds the programs of every verifier row, with their options, for
\`bench/compare.mjs\` and \`bench/verifier.mjs\`, and for two scripts that are not part of \`pnpm bench\`:
\`bench/profile.mjs\` splits each row's CPU time by part of the verifier, and \`bench/ab.mjs\`
verifies one row with two builds of the verifier in alternating rounds in one process, which is
how a change is measured on a busy machine.

The \`wasm\` rows against uBPF (iovisor/ubpf's interpreter and x86-64 JIT, called in-process
through koffi) appear when \`BPF_BENCH_UBPF\` names a \`libubpf.so\` you built yourself (e.g.
its \`vm\` library with gcc -O2, linked as a shared object); this repository builds and ships
no uBPF, and without the variable the row says it was not measured.

Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; Node ${machine.node}; Linux ${machine.kernel}; LLVM ${machine.llvm}; ${machine.bpftool}; ${machine.date}${quick ? ' (quick mode)' : ''}.

${table.join('\n')}
${failures.length ? `\nFailed scripts: ${failures.join(', ')}\n` : ''}`;
// Sections written by hand below the table ("## ...": profiles, before/after notes) are kept.
const readmePath = join(root, 'bench/README.md');
const previous = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '';
const kept = previous.indexOf('\n## ');
writeFileSync(readmePath, kept >= 0 ? `${readme.trimEnd()}\n${previous.slice(kept)}` : readme);
console.log('\n' + table.join('\n'));
if (failures.length) {
  console.error(`\nbench: ${failures.length} script(s) failed: ${failures.join(', ')}`);
  process.exit(1);
}
