#!/usr/bin/env node
// One-shot commands, whole process, ours beside the C tool doing the same job, as build scripts
// call them (one file, one process, output to /dev/null):
//   bpf --version / --help                   vs  node -e 0 (Node's own start-up)
//   bpf btf dump vmlinux [--format c]        vs  bpftool btf dump file vmlinux [format c]
//   bpf disasm OBJ                           vs  llvm-objdump-19 -d OBJ
//   bpf verify OBJ                           vs  bpftool prog load OBJ PIN (the kernel's verdict)
//   bpf elf OBJ                              vs  llvm-readelf-19 -S -s OBJ
// `bpf` is the shipped command (apps/cli/dist/bpf/bin.cjs: bundles + V8 code cache), run once
// first so its code cache exists, as after any first use. OBJ is fixtures/c/progs/maps_hash.c
// (our own program: one XDP program and a hash map) built with clang-19 -O2 -g -mcpu=v3.
// The machine may be shared and busy, so each row is measured as pairs (ours, then the
// reference, the order swapped every round), and reports median wall times; the ratio is the
// median of the per-pair ratios. The CPU time of each side (user + system) is in the note: on a
// busy machine it moves less than wall time, which includes waiting for a core. Node's children run without NODE_EXTRA_CA_CERTS / NODE_OPTIONS, which
// make every Node process do more at start-up and are no part of the command.
// --quick: 2 pairs a row, no raw dump row. A full run adds "way:" rows: each way to a faster start alone (the bundles against the unbundled
// tsc output; the code cache against BPF_CODE_CACHE=0, the same bundle compiled every time).
// Usage: node bench/oneshot.mjs [--quick] [--runs N]   (build first: pnpm build)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : quick ? 2 : 21;
const bpf = join(root, 'apps/cli/dist/bpf/bin.cjs');
const vmlinux = '/sys/kernel/btf/vmlinux';
const nodeEnv = { ...process.env };
delete nodeEnv.NODE_EXTRA_CA_CERTS;
delete nodeEnv.NODE_OPTIONS;

const have = (cmd, args = ['--version']) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * One whole process, stdout to /dev/null: wall ms from fork to exit (bash's EPOCHREALTIME around
 * it) and the CPU ms it used (user + system, bash's `times` for its children). Throws on a bad
 * exit.
 */
const probe = 's=$EPOCHREALTIME; "$@" >/dev/null; rc=$?; e=$EPOCHREALTIME; echo "$s $e $rc"; times';
function time({ cmd, args, env, after }) {
  const r = spawnSync('bash', ['-c', probe, 'bash', cmd, ...args], { encoding: 'utf8', env: env ?? process.env, maxBuffer: 1 << 20 });
  after?.();
  const [line, , children] = r.stdout.trim().split('\n');
  const [s, e, rc] = (line ?? '').split(' ');
  if (r.status !== 0 || rc !== '0') throw new Error(`${cmd} ${args.join(' ')}: exit ${rc ?? r.status}: ${r.stderr.trim().split('\n')[0]}`);
  const secs = (t) => Number(/^(\d+)m([\d.]+)s$/.exec(t)[1]) * 60 + Number(/^(\d+)m([\d.]+)s$/.exec(t)[2]);
  const [user, sys] = children.split(' ');
  return { wall: (Number(e) - Number(s)) * 1e3, cpu: (secs(user) + secs(sys)) * 1e3 };
}

/**
 * ours and ref alternately, `runs` pairs after one warm-up each: median wall and CPU times, and
 * the medians of the per-pair ratios and differences of wall time.
 */
function pair(ours, ref) {
  time(ours);
  time(ref);
  const a = [];
  const b = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      a.push(time(ours));
      b.push(time(ref));
    } else {
      b.push(time(ref));
      a.push(time(ours));
    }
  }
  const wall = (xs) => xs.map((x) => x.wall);
  const cpu = (xs) => median(xs.map((x) => x.cpu));
  return {
    ours: median(wall(a)),
    reference: median(wall(b)),
    ratio: median(a.map((x, i) => x.wall / b[i].wall)),
    delta: median(a.map((x, i) => x.wall - b[i].wall)),
    cpu: { ours: cpu(a), reference: cpu(b) },
    samples: { ours: a.map((x) => [+x.wall.toFixed(2), +x.cpu.toFixed(0)]), reference: b.map((x) => [+x.wall.toFixed(2), +x.cpu.toFixed(0)]) },
  };
}

const rows = [];
const node = (args) => ({ cmd: process.execPath, args, env: nodeEnv });
const ours = (...args) => node([bpf, ...args]);
function row(benchmark, o, r, note, missing) {
  if (missing) return rows.push({ benchmark, oneShot: true, note: `skipped: ${missing}` });
  try {
    const m = pair(o, r);
    rows.push({ benchmark, ours: m.ours, reference: m.reference, unit: 'ms', ratio: m.ratio, note: `${note}; CPU ${m.cpu.ours.toFixed(0)} vs ${m.cpu.reference.toFixed(0)} ms; ${runs} alternating pairs`, oneShot: true, deltaMs: m.delta, cpuMs: m.cpu, samples: m.samples });
  } catch (e) {
    rows.push({ benchmark, oneShot: true, note: `FAILED: ${e.message}` });
  }
}

if (!existsSync(bpf)) {
  rows.push({ benchmark: 'one-shot commands', note: 'skipped: apps/cli/dist/bpf/bin.cjs is missing (pnpm build)' });
} else {
  const tmp = mkdtempSync(join(tmpdir(), 'bpf-oneshot-'));
  const startup = (flag) => {
    const m = pair(ours(flag), node(['-e', '0']));
    rows.push({ benchmark: `start-up: bpf ${flag} vs node -e 0`, ours: m.ours, reference: m.reference, unit: 'ms', ratio: m.ratio, note: `${m.delta >= 0 ? "+" : "−"}${Math.abs(m.delta).toFixed(1)} ms over Node's own start-up (median of paired differences; target ≤ +20); CPU ${m.cpu.ours.toFixed(0)} vs ${m.cpu.reference.toFixed(0)} ms; ${runs} alternating pairs`, oneShot: true, deltaMs: m.delta, cpuMs: m.cpu, samples: m.samples });
  };
  startup('--version');
  startup('--help');

  const noBtf = existsSync(vmlinux) ? (have('bpftool') ? undefined : 'bpftool is missing') : `no ${vmlinux}`;
  // --quick (CI's smoke run) leaves out the longest row, the 12 MB raw dump
  if (!quick) row('bpf btf dump vmlinux vs bpftool btf dump file vmlinux', ours('btf', 'dump', vmlinux), { cmd: 'bpftool', args: ['btf', 'dump', 'file', vmlinux] }, 'the same text (tests compare it byte for byte)', noBtf);
  row('bpf btf dump vmlinux --format c vs bpftool ... format c', ours('btf', 'dump', vmlinux, '--format', 'c'), { cmd: 'bpftool', args: ['btf', 'dump', 'file', vmlinux, 'format', 'c'] }, 'vmlinux.h, the same text', noBtf);

  const obj = join(tmp, 'maps_hash.o');
  const multiarch = spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout?.trim() || 'x86_64-linux-gnu';
  const cc = spawnSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', `-I/usr/include/${multiarch}`, '-c', join(root, 'fixtures/c/progs/maps_hash.c'), '-o', obj], { encoding: 'utf8' });
  const noObj = cc.status === 0 ? undefined : `clang-19 could not build fixtures/c/progs/maps_hash.c (${(cc.stderr || cc.error?.message || '').split('\n')[0]})`;
  row('bpf disasm OBJ vs llvm-objdump-19 -d OBJ', ours('disasm', obj), { cmd: 'llvm-objdump-19', args: ['-d', obj] }, 'one XDP program of 75 insns', noObj ?? (have('llvm-objdump-19') ? undefined : 'llvm-objdump-19 is missing'));
  row('bpf elf OBJ vs llvm-readelf-19 -S -s OBJ', ours('elf', obj), { cmd: 'llvm-readelf-19', args: ['-S', '-s', obj] }, 'sections, symbols (ours: programs, maps, relocations)', noObj ?? (have('llvm-readelf-19') ? undefined : 'llvm-readelf-19 is missing'));
  const pin = `/sys/fs/bpf/bpf-oneshot-${process.pid}`;
  const unpin = () => {
    try {
      unlinkSync(pin);
    } catch {
      // not pinned: the load failed, and time() says so
    }
  };
  const noLoad = noObj ?? (!have('bpftool') ? 'bpftool is missing' : !existsSync('/sys/fs/bpf') ? 'no bpffs at /sys/fs/bpf' : process.getuid?.() !== 0 ? 'not root (bpftool prog load needs it)' : undefined);
  row('bpf verify OBJ vs bpftool prog load OBJ (kernel verdict)', ours('verify', obj), { cmd: 'bpftool', args: ['prog', 'load', obj, pin], after: unpin }, 'ours: our verifier, log level 1; bpftool: map, BTF and program loaded by the kernel, then unpinned', noLoad);
  // each way to a faster start, measured alone on the same command (full runs only): the shipped
  // bundles against the unbundled tsc output, and the code cache against compiling every time
  if (!quick && !noObj) {
    const way = (benchmark, o, r, note) => {
      try {
        const m = pair(o, r);
        rows.push({ benchmark, ours: m.ours, reference: m.reference, unit: 'ms', ratio: m.ratio, note: `${note}; CPU ${m.cpu.ours.toFixed(0)} vs ${m.cpu.reference.toFixed(0)} ms; ${runs} alternating pairs`, deltaMs: m.delta, cpuMs: m.cpu, samples: m.samples });
      } catch (e) {
        rows.push({ benchmark, note: `FAILED: ${e.message}` });
      }
    };
    const unbundled = join(root, 'apps/cli/dist/bin.js');
    const noCache = (args) => ({ ...node([bpf, ...args]), env: { ...nodeEnv, BPF_CODE_CACHE: '0' } });
    way('way: bundles, bpf --version (shipped vs unbundled dist/bin.js)', ours('--version'), node([unbundled, '--version']), 'reference: the same CLI as tsc wrote it, every module resolved at start');
    way('way: bundles, bpf disasm OBJ (shipped vs unbundled dist/bin.js)', ours('disasm', obj), node([unbundled, 'disasm', obj]), 'reference: unbundled');
    way('way: code cache, bpf verify OBJ (with vs BPF_CODE_CACHE=0)', ours('verify', obj), noCache(['verify', obj]), 'reference: the same bundle compiled at every start');
    way('way: code cache, bpf disasm OBJ (with vs BPF_CODE_CACHE=0)', ours('disasm', obj), noCache(['disasm', obj]), 'reference: compiled at every start');
    if (!noBtf) way('way: code cache, bpf btf dump vmlinux --format c (with vs BPF_CODE_CACHE=0)', ours('btf', 'dump', vmlinux, '--format', 'c'), noCache(['btf', 'dump', vmlinux, '--format', 'c']), 'reference: compiled at every start');
  }
  rmSync(tmp, { recursive: true, force: true });
}

mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/oneshot.json'), JSON.stringify({ runs, quick, rows }, null, 2));
const f = (v) => (typeof v === 'number' ? v.toFixed(v >= 100 ? 0 : 1) : '—');
console.log('| benchmark | ours ms | reference ms | ratio | note |\n|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.benchmark} | ${f(r.ours)} | ${f(r.reference)} | ${typeof r.ratio === 'number' ? r.ratio.toFixed(2) : '—'} | ${r.note} |`);
if (rows.some((r) => String(r.note).startsWith('FAILED'))) process.exit(1);
