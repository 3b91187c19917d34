#!/usr/bin/env node
// BPF compiled to WebAssembly (@bpf/jit-wasm) against @bpf/vm and the kernel's JIT
// (BPF_PROG_TEST_RUN), side by side in one run, on the interpreter's bench programs
// (packages/vm/bench/vm.mjs): processed instructions per second (the interpreter's count of
// executed instructions over each engine's run time), with memory checks on and off; and
// compile time per 1,000 BPF instructions. uBPF is not measured here (this script builds nothing
// it would have to fetch); the reference figure for its interpreter is 263-295 M insns/s
// on the loop, with gcc -O2 on this machine.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../packages/isa/dist/index.js';
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
    reps: quick ? 200 : 2000,
  },
  // the same parse, 2,000 passes in one run: memory access without the per-run setup
  'packet parse x2000': {
    asm: `r6 = r1\nr0 = 0\nr9 = 0\no:\nr8 = 0\nl:\nr3 = r6\nr3 += r8\nr4 = *(u16 *)(r3 + 12)\nr4 = be16 r4\nif r4 != 0x800 goto skip\nr0 += 1\nskip:\nr8 += 14\nif r8 < 1400 goto l\nr9 += 1\nif r9 < ${quick ? 200 : 2000} goto o\nexit`,
    kernel: false,
  },
  arithmetic: { asm: `r0 = 1\nr1 = ${N}\nl:\nr0 *= 3\nr0 s/= 2\nr0 <<= 3\nr0 %= 1000003\nr1 -= 1\nif r1 != 0 goto l\nexit`, kernel: true },
};
const kernel = probe();
const rows = [];
const time = (f, reps) => {
  f();
  let best = Infinity;
  for (let k = 0; k < (quick ? 3 : 7); k++) {
    const t = process.hrtime.bigint();
    for (let r = 0; r < reps; r++) f();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / reps);
  }
  return best; // ns per run
};
for (const [name, spec] of Object.entries(programs)) {
  const p = assemble(spec.asm);
  const mem = new Uint8Array(1500);
  const reps = spec.reps ?? 1;
  const vmRun = run(p, { mem });
  const insns = vmRun.insns;
  const v = verify(p, { logLevel: 0 });
  const target = v.accepted ? v.program : p;
  const on = jitWasm(target, { checks: true });
  const off = jitWasm(target, { checks: false });
  for (const j of [on, off]) if (runWasm(j, { mem }).r0 !== vmRun.r0) throw new Error(`${name}: wasm r0 differs from @bpf/vm`);
  const vmNs = time(() => run(p, { mem }), quick ? 1 : reps);
  const onNs = time(() => runWasm(on, { mem }), reps);
  const offNs = time(() => runWasm(off, { mem }), reps);
  let kernelNs;
  if (spec.kernel && kernel.canLoad) {
    const k = loadProgram(p, { type: 'socket_filter', logLevel: 0 });
    if (k.accepted) {
      kernelNs = testRun(k.fd, { data: new Uint8Array(64), repeat: quick ? 10 : 100 }).duration;
      k.close();
    }
  }
  const mips = (ns) => (insns / ns) * 1e3;
  const note = (ns) => `${insns.toLocaleString('en')} insns/run in ${(ns / 1e6).toFixed(2)} ms`;
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
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/wasm.json'), JSON.stringify({ rows }, null, 2));
console.table(rows.map((r) => ({ benchmark: r.benchmark, ours: r.ours.toFixed(1), reference: r.reference?.toFixed(1) ?? '—', unit: r.unit, note: r.note })));
