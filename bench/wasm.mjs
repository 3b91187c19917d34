#!/usr/bin/env node
// BPF compiled to WebAssembly (@bpf/jit-wasm) against @bpf/vm and the kernel's JIT
// (BPF_PROG_TEST_RUN), side by side in one run, on the interpreter's bench programs
// (packages/vm/bench/vm.mjs): processed instructions per second (the interpreter's count of
// executed instructions over each engine's run time), with memory checks on and off; and
// compile time per 1,000 BPF instructions; and, where `--ubpf LIB` (or BPF_BENCH_UBPF) names a
// shared library of uBPF (iovisor/ubpf) that you built yourself, uBPF's interpreter and x86-64
// JIT on the same programs, called in this process through koffi. This repository builds and
// ships no uBPF: the library is read from the path given, and without one the uBPF rows say so.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble, encode } from '../packages/isa/dist/index.js';
import { run } from '../packages/vm/dist/index.js';
import { verify } from '../packages/verifier/dist/index.js';
import { jitWasm, runWasm } from '../packages/jit-wasm/dist/index.js';
import { randomProgram } from '../packages/reliability/dist/index.js';
import { loadProgram, probe, testRun } from '../packages/kernel/dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
// iterations the kernel verifier can walk (it simulates each one, up to 1M processed insns)
const N = quick ? 20_000 : 100_000;
const programs = {
  loop: { asm: `r0 = 0\nr1 = 0\nl:\nr0 += r1\nr0 ^= 0x55\nr1 += 1\nif r1 < ${N} goto l\nexit`, kernel: true },
  'packet parse': {
    asm: `r6 = r1\nr7 = r2\nr0 = 0\nr8 = 0\nl:\nr3 = r6\nr3 += r8\nr4 = *(u16 *)(r3 + 12)\nr4 = be16 r4\nif r4 != 0x800 goto skip\nr0 += 1\nskip:\nr8 += 14\nif r8 < 1400 goto l\nexit`,
    kernel: false,
  },
  // the same parse, 2,000 passes in one run: memory access without the per-run setup
  'packet parse x2000': {
    asm: `r6 = r1\nr0 = 0\nr9 = 0\no:\nr8 = 0\nl:\nr3 = r6\nr3 += r8\nr4 = *(u16 *)(r3 + 12)\nr4 = be16 r4\nif r4 != 0x800 goto skip\nr0 += 1\nskip:\nr8 += 14\nif r8 < 1400 goto l\nr9 += 1\nif r9 < ${quick ? 200 : 2000} goto o\nexit`,
    kernel: false,
  },
  arithmetic: { asm: `r0 = 1\nr1 = ${N}\nl:\nr0 *= 3\nr0 s/= 2\nr0 <<= 3\nr0 %= 1000003\nr1 -= 1\nif r1 != 0 goto l\nexit`, kernel: true },
};
const kernel = probe();
const ubpfArg = process.argv.indexOf('--ubpf');
const ubpfLib = ubpfArg > 0 ? process.argv[ubpfArg + 1] : process.env.BPF_BENCH_UBPF;
const ubpf = ubpfLib && existsSync(ubpfLib) ? openUbpf(ubpfLib) : undefined;

/**
 * uBPF through its C API: ubpf_create, ubpf_load (raw 8-byte instructions), ubpf_exec (the
 * interpreter, bounds checks on as uBPF ships it) and ubpf_compile (its x86-64 JIT, called
 * through the returned function pointer).
 */
function openUbpf(path) {
  const koffi = createRequire(join(root, 'packages/kernel/package.json'))('koffi');
  const lib = koffi.load(path);
  const create = lib.func('void *ubpf_create()');
  const load = lib.func('int ubpf_load(void *vm, const void *code, uint32_t len, _Out_ char **err)');
  const exec = lib.func('int ubpf_exec(void *vm, void *mem, size_t len, _Out_ uint64_t *ret)');
  const compile = lib.func('void *ubpf_compile(void *vm, _Out_ char **err)');
  const destroy = lib.func('void ubpf_destroy(void *vm)');
  const JitFn = koffi.proto('uint64_t ubpf_jit_fn(void *mem, size_t len)');
  return {
    /** A loaded program: `interp(mem)` and `jit(mem)` each return r0. */
    open(bytes) {
      const vm = create();
      const err = [null];
      if (load(vm, bytes, bytes.length, err) !== 0) throw new Error(`uBPF refused the program: ${err[0]}`);
      const fn = compile(vm, err);
      if (!fn) throw new Error(`uBPF's JIT refused the program: ${err[0]}`);
      const ret = [0n];
      return {
        interp: (mem) => {
          if (exec(vm, mem, mem.length, ret) !== 0) throw new Error('uBPF interpreter failed');
          return BigInt(ret[0]);
        },
        jit: (mem) => BigInt(koffi.call(fn, JitFn, mem, mem.length)),
        close: () => destroy(vm),
      };
    },
  };
}
const rows = [];
/**
 * ns per run of `f`: warmed for a while first (V8 moves a hot wasm function to its optimising
 * tier in the background after some calls), then the fastest of many short trials of about
 * 0.5 ms (at least one run) — on a shared machine the shortest trial is the one least disturbed by others.
 * Every engine in this file is timed this way.
 */
const time = (f) => {
  const warm = performance.now() + (quick ? 40 : 200);
  let calls = 0;
  while (calls < 2 || performance.now() < warm) {
    f();
    calls++;
  }
  const t0 = performance.now();
  for (let r = 0; r < 3; r++) f();
  const perTrial = Math.max(1, Math.ceil(0.5 / Math.max((performance.now() - t0) / 3, 1e-6)));
  const until = performance.now() + (quick ? 150 : 1000);
  let best = Infinity;
  for (let k = 0; k < 5 || (k < 1000 && performance.now() < until); k++) {
    const t = process.hrtime.bigint();
    for (let r = 0; r < perTrial; r++) f();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / perTrial);
  }
  return best;
};
for (const [name, spec] of Object.entries(programs)) {
  const p = assemble(spec.asm);
  const mem = new Uint8Array(1500);
  const vmRun = run(p, { mem });
  const insns = vmRun.insns;
  const v = verify(p, { logLevel: 0 });
  const target = v.accepted ? v.program : p;
  const on = jitWasm(target, { checks: true });
  const off = jitWasm(target, { checks: false });
  for (const j of [on, off]) if (runWasm(j, { mem }).r0 !== vmRun.r0) throw new Error(`${name}: wasm r0 differs from @bpf/vm`);
  const vmNs = time(() => run(p, { mem }));
  const onNs = time(() => runWasm(on, { mem }));
  const offNs = time(() => runWasm(off, { mem }));
  let kernelNs;
  if (spec.kernel && kernel.canLoad) {
    const k = loadProgram(p, { type: 'socket_filter', logLevel: 0 });
    if (k.accepted) {
      // the fastest of several test runs (each the kernel's mean over `repeat`), as the other engines' trials
      kernelNs = Infinity;
      for (let t = 0; t < (quick ? 10 : 30); t++) kernelNs = Math.min(kernelNs, testRun(k.fd, { data: new Uint8Array(64), repeat: quick ? 10 : 100 }).duration);
      k.close();
    }
  }
  const mips = (ns) => (insns / ns) * 1e3;
  const note = (ns) => `${insns.toLocaleString('en')} insns/run in ${ns < 1e5 ? `${(ns / 1e3).toFixed(2)} µs` : `${(ns / 1e6).toFixed(2)} ms`}`;
  if (ubpf) {
    const u = ubpf.open(encode(p.insns));
    for (const f of [u.interp, u.jit]) if (f(mem) !== vmRun.r0) throw new Error(`${name}: uBPF r0 differs from @bpf/vm`);
    const interpNs = time(() => u.interp(mem));
    const jitNs = time(() => u.jit(mem));
    u.close();
    rows.push({ benchmark: `wasm ${name}, checks on, vs uBPF interpreter`, ours: mips(onNs), reference: mips(interpNs), unit: 'M insns/s', note: `uBPF interpreter ${note(interpNs)}` });
    rows.push({ benchmark: `wasm ${name}, checks off (verified), vs uBPF JIT`, ours: mips(offNs), reference: mips(jitNs), unit: 'M insns/s', note: `uBPF x86-64 JIT ${note(jitNs)}` });
  }
  rows.push({ benchmark: `wasm ${name}, checks on, vs @bpf/vm`, ours: mips(onNs), reference: mips(vmNs), unit: 'M insns/s', note: `${note(onNs)}; vm ${note(vmNs)}` });
  if (kernelNs !== undefined) {
    rows.push({ benchmark: `wasm ${name}, checks on, vs kernel JIT test-run`, ours: mips(onNs), reference: mips(kernelNs), unit: 'M insns/s', note: `kernel ${note(kernelNs)}` });
    rows.push({ benchmark: `wasm ${name}, checks off (verified), vs kernel JIT test-run`, ours: mips(offNs), reference: mips(kernelNs), unit: 'M insns/s', note: note(offNs) });
  } else rows.push({ benchmark: `wasm ${name}, checks off (verified), vs @bpf/vm`, ours: mips(offNs), reference: mips(vmNs), unit: 'M insns/s', note: `${note(offNs)}${spec.kernel ? '; kernel reference: cannot load programs here' : '; no kernel reference (reads r1 as a raw buffer)'}` });
}
// compile time per 1,000 BPF instructions, on generated programs
{
  const ps = Array.from({ length: quick ? 200 : 2000 }, (_, k) => randomProgram(k + 1, { size: 60 }));
  // warm: the compiler's own code is compiled by V8 on first use
  for (const p of ps.slice(0, 200)) jitWasm(p);
  let total = 0;
  const t = performance.now();
  for (const p of ps) {
    jitWasm(p);
    total += p.insns.length;
  }
  const ms = performance.now() - t;
  rows.push({ benchmark: 'wasm JIT compile time per 1k BPF insns (to module bytes)', ours: (ms / total) * 1000, unit: 'ms', note: `${ps.length} random programs, ${total.toLocaleString('en')} insns` });
}
if (!ubpf) rows.push({ benchmark: 'wasm vs uBPF interpreter and JIT', ours: NaN, unit: 'M insns/s', note: ubpfLib ? `not measured: no library at ${ubpfLib}` : 'not measured: pass --ubpf LIB (a libubpf.so you built from iovisor/ubpf) or set BPF_BENCH_UBPF' });
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/wasm.json'), JSON.stringify({ rows }, null, 2));
console.table(rows.map((r) => ({ benchmark: r.benchmark, ours: Number.isNaN(r.ours) ? '—' : r.ours.toFixed(1), reference: r.reference?.toFixed(1) ?? '—', unit: r.unit, note: r.note })));
