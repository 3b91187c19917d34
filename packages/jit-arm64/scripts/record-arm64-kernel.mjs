#!/usr/bin/env node
// Boots Debian's arm64 kernel under qemu-system-aarch64 once (src/node/kernel-oracle.ts) with every
// accepted program of fixtures/kernel/corpus.json (callbacks aside: their func_info needs BTF
// the corpus lacks) and writes fixtures/kernel/arm64-corpus.json: per program the arm64
// kernel's verdict, errno, the tail of its log when it rejects, jited_prog_len, the JIT image
// and the xlated program (hex), and the BPF_PROG_TEST_RUN retval and packet where the corpus
// recorded a run (64 zero bytes, or the recorded frame of C programs).
// A record to read, not an expected answer: the tests boot the kernel themselves.
// Usage: pnpm --filter @bpf/jit-arm64 run fixtures:kernel   (build first: pnpm exec tsc -b;
// the kernel image comes from scripts/setup.sh)
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble, decode } from '../../isa/dist/index.js';
import { corpusSource, kernelCorpus } from '../../testkit/dist/index.js';
import { ORACLE_CPU, runArm64Kernel } from '../dist/node/kernel-oracle.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const toProgram = (c) => {
  const s = corpusSource(c);
  if (s.kind === 'asm') return { ...assemble(s.text), type: c.type };
  return { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs, type: c.type, ...(s.expectedAttachType ? { expectedAttachType: s.expectedAttachType } : {}) };
};
const cases = kernelCorpus()
  .filter((c) => c.accepted)
  .map((c) => ({ c, program: toProgram(c) }))
  .filter(({ program }) => !program.insns.some((i) => i.code === 0x18 && i.src === 4));
const boot = runArm64Kernel(
  cases.map(({ c, program }) => ({ program, ...(c.retval !== null ? { run: { data: c.dataIn !== undefined ? Buffer.from(c.dataIn, 'hex') : new Uint8Array(64) } } : {}) })),
);
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null);
const out = cases.map(({ c }, k) => {
  const r = boot.results[k];
  return {
    name: c.name,
    type: c.type,
    accepted: r.accepted,
    errno: r.errno,
    ...(r.log ? { error: r.log.split('\n').filter((l) => l.trim() && !/^processed \d+ insns/.test(l)).pop() ?? null } : {}),
    jitedLen: r.jitedLen ?? null,
    jited: hex(r.jited),
    xlated: hex(r.xlated),
    retval: r.retval ?? null,
    ...(c.dataIn !== undefined && r.dataOut ? { dataOut: hex(r.dataOut) } : {}),
  };
});
writeFileSync(
  join(root, 'fixtures/kernel/arm64-corpus.json'),
  JSON.stringify({ generator: 'packages/jit-arm64/scripts/record-arm64-kernel.mjs', kernel: boot.kernel, machine: `qemu-system-aarch64 -M virt -cpu ${ORACLE_CPU}`, cases: out }, null, 1) + '\n',
);
const acc = out.filter((c) => c.accepted).length;
console.log(`recorded ${out.length} programs (${acc} accepted) from Linux ${boot.kernel} (arm64) in ${(boot.ms / 1000).toFixed(1)} s`);
