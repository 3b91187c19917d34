// The programs the verifier rows of the bench measure, built in one place so that a row
// (bench/compare.mjs, bench/verifier.mjs) and its profile (bench/profile.mjs) always verify
// the same programs with the same options.
import { existsSync } from 'node:fs';
import { assemble, decode } from '../packages/isa/dist/index.js';
import { needsKernelBtf } from '../packages/verifier/dist/index.js';
import { corpusSource, kernelCorpus } from '../packages/testkit/dist/index.js';
import { kernelBtfFor, kernelSymbolsFor, loadProgram } from '../apps/cli/dist/input.js';

/** A corpus case as a Program: assembled, or decoded with its maps and relocations (C objects). */
export const corpusProgram = (c) => {
  const s = corpusSource(c);
  return s.kind === 'asm' ? assemble(s.text) : { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs, ...(s.funcInfo ? { funcInfo: s.funcInfo } : {}), type: c.type, ...(c.expectedAttachType ? { expectedAttachType: c.expectedAttachType } : {}) };
};

/**
 * The accepted corpus programs, in corpus order. Callback programs (ld_imm64 of a function)
 * need the BTF their func_info refers to, which the corpus doesn't record: the kernel can't
 * load them from it, so they are left out.
 */
export const corpusPrograms = () =>
  kernelCorpus()
    .filter((c) => c.accepted)
    .map((c) => ({ name: c.name, type: c.type, program: corpusProgram(c), dataIn: c.dataIn }))
    .filter((p) => !p.program.insns.some((i) => i.code === 0x18 && i.src === 4));

/** A straight line of `n` additions, then a 200-iteration loop: `n + 7` instructions. */
export const largeSource = (n) => ['r0 = 0', 'r1 = 0', ...Array.from({ length: n }, (_, k) => `r0 += ${k % 7}`), 'l:', 'r0 ^= r1', 'r1 += 1', 'if r1 < 200 goto l', 'exit'].join('\n');

/** One loop of `n` iterations, a branch in its body decided by the counter's low bits. */
export const loopProgram = (n) => assemble(['r0 = 0', 'r1 = 0', 'l:', 'r2 = r1', 'r2 &= 7', 'if r2 != 3 goto s', 'r0 += 1', 's:', 'r0 += r2', 'r1 += 1', `if r1 < ${n} goto l`, 'exit'].join('\n'));

/** Two nested loops, `m` outer iterations, the inner one's bound read from the outer counter. */
export const nestedProgram = (m) => assemble(['r0 = 0', 'r1 = 0', 'o:', 'r2 = 0', 'i:', 'r0 += r2', 'r2 += 1', 'if r2 < r1 goto i', 'r1 += 1', `if r1 < ${m} goto o`, 'exit'].join('\n'));

/**
 * The real-world objects: public programs others wrote, read from a path given in the
 * environment (never part of this repository), each opened as its authors' loader opens it.
 */
export const REALWORLD = [
  // cilium's bpf_lxc.o by cilium/ebpf's rules (its static tail-call programs, which libbpf 1.x refuses at open, load)
  { label: 'cilium bpf_lxc.o tail-call programs', short: 'cilium bpf_lxc.o', env: 'BPF_BENCH_CILIUM_LXC', opt: 'cilium-lxc', type: 'sched_cls', quickProg: 'tail_handle_ipv4', open: { linker: 'cilium/ebpf' } },
  { label: 'tetragon bpf_generic_kprobe.o programs', short: 'tetragon bpf_generic_kprobe.o', env: 'BPF_BENCH_TETRAGON_KPROBE', opt: 'tetragon-kprobe', type: 'kprobe', quickProg: 'generic_kprobe_filter_arg', open: {} },
  // the OpenTelemetry profiler's unwinders (support/ebpf/tracer.ebpf.amd64 as its authors commit
  // it), opened with cilium/ebpf's rules as the profiler opens it; its ring buffer, declared with
  // max_entries 0, sized as the profiler sizes it on a 2-CPU machine
  { label: 'OpenTelemetry eBPF profiler tracer.ebpf.amd64 programs', short: 'OpenTelemetry profiler', env: 'BPF_BENCH_OTEL_PROFILER', opt: 'otel-profiler', type: 'kprobe', quickProg: 'perf_unwind_beam', open: { linker: 'cilium/ebpf' }, mapMaxEntries: { trace_events: 1 << 20 } },
];

/** The object's path (from `--opt=FILE` or the environment) and why there is none. */
export function realworldFile(o, argv = process.argv) {
  const file = argv.find((a) => a.startsWith(`--${o.opt}=`))?.slice(o.opt.length + 3) ?? process.env[o.env];
  if (file && existsSync(file)) return { file };
  return { why: `set ${o.env} (or --${o.opt}=FILE) to the object; ${file ? `${file} does not exist` : 'not set'}` };
}

/** Every program of a real-world object, linked as the row links it, with its maps sized as its loader sizes them. */
export function realworldPrograms(o, file) {
  const sized = (p) => (o.mapMaxEntries && p.maps ? { ...p, maps: p.maps.map((m) => (Object.hasOwn(o.mapMaxEntries, m.name) ? { ...m, maxEntries: o.mapMaxEntries[m.name] } : m)) } : p);
  return loadProgram(file, o.open).all.map((p) => ({ name: p.name, type: p.type ?? o.type, program: sized(p) }));
}

/** verify() options as the real-world and generated rows give them: no log, the kernel's BTF and symbols where the program needs them. */
export const verifyOptions = (program, type) => ({ type, logLevel: 0, kernelBtf: kernelBtfFor(needsKernelBtf(program, type)), kernelSymbols: kernelSymbolsFor(program) });

/** verify() options as the corpus row gives them. */
export const corpusVerifyOptions = (type) => ({ type, logLevel: 0 });
