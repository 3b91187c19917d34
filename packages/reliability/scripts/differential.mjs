#!/usr/bin/env node
// Long differential mode: `node packages/reliability/scripts/differential.mjs --programs N`.
// Every seeded program goes through @bpf/verifier, @bpf/vm, the WebAssembly JIT (checks on, and
// off for what the verifier accepted), the x86-64 JIT (run natively) and the arm64 JIT (under
// qemu-aarch64, batched), and — without stack arguments — the running
// kernel. Counts: unsound accepts (the verifier accepted, the interpreter's memory checks fired),
// kernel disagreements (saved to fixtures/kernel/disagreements/), JIT mismatches.
// Writes test-results/differential.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { minimize, randomProgram } from '../dist/index.js';
import { run, VmError } from '../../vm/dist/index.js';
import { verify } from '../../verifier/dist/index.js';
import { jitX86 } from '../../jit-x86/dist/index.js';
import { runX86 } from '../../jit-x86/dist/node.js';
import { jitArm64 } from '../../jit-arm64/dist/index.js';
import { runArm64Batch } from '../../jit-arm64/dist/node.js';
import { jitWasm, runWasm } from '../../jit-wasm/dist/index.js';
import { loadProgram, probe } from '../../kernel/dist/index.js';
import { encode } from '../../isa/dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const arg = (n, d) => (process.argv.includes(`--${n}`) ? Number(process.argv[process.argv.indexOf(`--${n}`) + 1]) : d);
const N = arg('programs', 1000);
const first = arg('seed', 1);
let programs = 0, accepted = 0, unsound = 0, x86Mismatches = 0, arm64Mismatches = 0, wasmMismatches = 0, budget = 0;
let kernelChecked = 0, kernelDisagreements = 0;
const kernel = probe().canLoad && !process.argv.includes('--no-kernel');
const disagreementsDir = join(root, 'fixtures/kernel/disagreements');
const findings = [];
const BATCH = 500;
for (let base = first; base < first + N; base += BATCH) {
  const jobs = [];
  for (let seed = base; seed < Math.min(base + BATCH, first + N); seed++) {
    const p = randomProgram(seed, { size: 30 });
    const mem = new Uint8Array(64).map((_, k) => (k * 37 + seed) & 0xff);
    programs++;
    // soundness: the same seed as a socket filter (r1 = context); what the verifier accepts must
    // run in the interpreter without a memory violation
    const sp = randomProgram(seed, { size: 30, memSize: 0, calls: seed % 2 === 0 });
    const ours = verify(sp, { logLevel: 0 });
    // agreement: programs without stack arguments also go through the kernel; a disagreement is
    // saved as a fixture (a regression test reads that folder)
    if (kernel && !sp.insns.some((i) => i.dst === 11 || i.src === 11)) {
      const k = loadProgram(sp, { logLevel: 1 });
      k.close();
      kernelChecked++;
      if (k.accepted !== ours.accepted || (!k.accepted && k.error !== ours.error?.message)) {
        kernelDisagreements++;
        // minimise: keep removing instructions while the kernel and we still disagree the same way
        const disagree = (insns) => {
          const kk = loadProgram({ insns }, { logLevel: 1 });
          kk.close();
          const oo = verify({ insns }, { logLevel: 0 });
          return kk.accepted === k.accepted && oo.accepted === ours.accepted && (kk.accepted !== oo.accepted || kk.error !== oo.error?.message);
        };
        const small = minimize(sp.insns, disagree, 2000);
        const kernelSmall = loadProgram({ insns: small }, { logLevel: 1 });
        kernelSmall.close();
        mkdirSync(disagreementsDir, { recursive: true });
        writeFileSync(join(disagreementsDir, `seed-${seed}.json`), JSON.stringify({ generator: 'packages/reliability/scripts/differential.mjs', seed, originalInsns: sp.insns.length, insns: Buffer.from(encode(small)).toString('hex'), kernel: { accepted: kernelSmall.accepted, error: kernelSmall.error ?? null }, ours: { accepted: verify({ insns: small }, { logLevel: 0 }).accepted } }, null, 1) + '\n');
        findings.push({ seed, kind: 'kernel', kernel: k.error ?? 'accepted', ours: ours.error?.message ?? 'accepted' });
      }
    }
    if (ours.accepted) {
      accepted++;
      try {
        const want = run(sp, { ctx: new Uint8Array(192), budget: 200_000 });
        // the verified program compiled to WebAssembly without memory checks: the same result
        const w = runWasm(jitWasm(ours.program, { checks: false }), { ctx: new Uint8Array(192), budget: 200_000 });
        if (w.r0 !== want.r0 || w.insns !== want.insns) {
          wasmMismatches++;
          findings.push({ seed, kind: 'wasm-unchecked', r0: w.r0.toString(16), vm: want.r0.toString(16) });
        }
      } catch (e) {
        if (!(e instanceof VmError && e.code === 'BUDGET')) {
          unsound++;
          findings.push({ seed, kind: 'unsound', error: String(e) });
        }
      }
    }
    let vm;
    try {
      vm = run(p, { mem, budget: 200_000 });
    } catch (e) {
      if (e instanceof VmError && e.code === 'BUDGET') { budget++; continue; }
      unsound++;
      findings.push({ seed, kind: 'vm', error: String(e) });
      continue;
    }
    let w;
    try {
      w = runWasm(jitWasm(p), { mem, budget: 200_000 });
    } catch (e) {
      w = { r0: String(e), mem: new Uint8Array(0) };
    }
    if (w.r0 !== vm.r0 || w.insns !== vm.insns || Buffer.compare(Buffer.from(w.mem), Buffer.from(vm.mem)) !== 0) {
      wasmMismatches++;
      findings.push({ seed, kind: 'wasm', r0: String(w.r0), vm: vm.r0.toString(16) });
    }
    const x = runX86(jitX86(p), { mem });
    if (x.r0 !== vm.r0 || Buffer.compare(Buffer.from(x.mem), Buffer.from(vm.mem)) !== 0) {
      x86Mismatches++;
      findings.push({ seed, kind: 'x86', r0: x.r0.toString(16), vm: vm.r0.toString(16) });
    }
    jobs.push({ seed, result: jitArm64(p), mem, vm });
  }
  const results = runArm64Batch(jobs.map((j) => ({ result: j.result, mem: j.mem })));
  jobs.forEach((j, k) => {
    const r = results[k];
    if (r instanceof Error || r.r0 !== j.vm.r0 || Buffer.compare(Buffer.from(r.mem), Buffer.from(j.vm.mem)) !== 0) {
      arm64Mismatches++;
      findings.push({ seed: j.seed, kind: 'arm64', detail: r instanceof Error ? r.message : r.r0.toString(16) });
    }
  });
  process.stdout.write(`\r${programs}/${N} programs`);
}
const summary = { programs, accepted, unsound, kernelChecked, kernelDisagreements, wasmMismatches, x86Mismatches, arm64Mismatches, budgetExhausted: budget, findings: findings.slice(0, 50) };
mkdirSync(join(root, 'test-results'), { recursive: true });
writeFileSync(join(root, 'test-results/differential.json'), JSON.stringify(summary, null, 2));
console.log(`\nprograms ${programs}, verifier accepted ${accepted}, unsound ${unsound}, kernel checked ${kernelChecked} disagreements ${kernelDisagreements}, wasm mismatches ${wasmMismatches}, x86 mismatches ${x86Mismatches}, arm64 mismatches ${arm64Mismatches}, budget exhausted ${budget}`);
process.exit(unsound || wasmMismatches || x86Mismatches || arm64Mismatches || kernelDisagreements ? 1 : 0);
