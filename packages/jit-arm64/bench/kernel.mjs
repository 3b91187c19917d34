#!/usr/bin/env node
// arm64 code size vs the arm64 kernel's JIT, per corpus group (asm, conformance, random, C):
// ours compiles verify(p).xlated as the kernel compiles its xlated program; the kernel's
// jited_prog_len comes from Debian's arm64 kernel booted once under qemu-system-aarch64
// (src/node/kernel-oracle.ts). --quick takes every fourth program (a shorter boot).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble, decode } from '../../isa/dist/index.js';
import { verify } from '../../verifier/dist/index.js';
import { corpusSource, kernelCorpus } from '../../testkit/dist/index.js';
import { jitArm64 } from '../dist/index.js';
import { arm64KernelProblem, runArm64Kernel } from '../dist/node/kernel-oracle.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const quick = process.argv.includes('--quick');
const toProgram = (c) => {
  const s = corpusSource(c);
  if (s.kind === 'asm') return { ...assemble(s.text), type: c.type };
  return { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs, type: c.type, ...(s.expectedAttachType ? { expectedAttachType: s.expectedAttachType } : {}) };
};
const cases = kernelCorpus()
  .filter((c) => c.accepted)
  .map((c) => ({ c, program: toProgram(c) }))
  .filter(({ program }) => !program.insns.some((i) => i.code === 0x18 && i.src === 4))
  .filter((_, k) => !quick || k % 4 === 0)
  .map((x) => {
    const v = verify(x.program, { type: x.c.type, logLevel: 0 });
    return { ...x, ours: v.accepted ? jitArm64(v.xlated).code.length : undefined };
  });
const problem = arm64KernelProblem();
const boot = problem ? undefined : runArm64Kernel(cases.map(({ program }) => ({ program })));
const groups = new Map();
cases.forEach(({ c, ours }, k) => {
  const theirs = boot?.results[k]?.jitedLen;
  if (ours === undefined || (boot && !theirs)) return;
  for (const g of [c.name.split('/')[0], 'total']) {
    const t = groups.get(g) ?? { ours: 0, kernel: 0, n: 0 };
    groups.set(g, { ours: t.ours + ours, kernel: t.kernel + (theirs ?? 0), n: t.n + 1 });
  }
});
const rows = [...groups].map(([g, t]) => ({
  benchmark: `arm64 code size, ${g === 'total' ? 'all' : g} programs, vs arm64 kernel jited_prog_len`,
  ours: t.ours,
  reference: boot ? t.kernel : undefined,
  unit: 'bytes',
  note: boot ? `${t.n} programs; Linux ${boot.kernel} under qemu-system-aarch64 (boot and batch ${(boot.ms / 1000).toFixed(1)} s)` : `no arm64 kernel: ${problem}`,
}));
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/jit-arm64-kernel.json'), JSON.stringify({ rows }, null, 2));
console.table(rows.map((r) => ({ ...r, ratio: r.reference ? +(r.ours / r.reference).toFixed(3) : '—' })));
