import { assemble, decode, type AnalysedProgram, type MapDef, type ProgType, type Program } from '@bpf/isa';
import { corpusSource, kernelCorpus, requireOracles, type KernelCase } from '@bpf/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { jitArm64 } from './index.js';
import { arm64KernelProblem, runArm64Kernel, type Arm64KernelBoot } from './node/kernel-oracle.js';
import { runArm64Batch, type Arm64Job } from './node.js';

/**
 * @bpf/verifier is no dependency of this package; the test runner resolves workspace packages
 * to their sources, so its `verify` is loaded by name here, typed as far as this test uses it.
 */
interface VerifierModule {
  verify(p: Program, o: { type?: ProgType; logLevel?: 0 }): { accepted: boolean; xlated?: AnalysedProgram };
}
const VERIFIER: string = '@bpf/verifier';
const { verify } = (await import(VERIFIER)) as VerifierModule;

/** The arm64 kernel boots under qemu-system-aarch64: skip without it, fail without it in CI. */
function skipWithoutArm64Kernel(): boolean {
  const p = arm64KernelProblem();
  if (p === null) return false;
  if (requireOracles) throw new Error(`oracle arm64-kernel is required (REQUIRE_ORACLES=1): ${p}`);
  console.warn(`skipping: oracle arm64-kernel unavailable: ${p}`);
  return true;
}

/** A corpus case's program, as bench/compare.mjs builds it. */
const toProgram = (c: KernelCase): Program => {
  const s = corpusSource(c);
  if (s.kind === 'asm') return { ...assemble(s.text), type: c.type as ProgType };
  return {
    insns: decode(s.bytes, { strict: false }),
    maps: s.maps,
    relocs: s.relocs as Program['relocs'],
    type: c.type as ProgType,
    ...(s.expectedAttachType ? { expectedAttachType: s.expectedAttachType } : {}),
  };
};
/** Results that depend on time, kernel pointers or uninitialised stack. */
const NONDETERMINISTIC = /ktime|ptr-leak|uninit-stack|uninit_stack/;
const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');

describe.skipIf(skipWithoutArm64Kernel())('against the arm64 kernel booted under qemu-system-aarch64 (its JIT, its test runs)', () => {
  // every accepted corpus program but callbacks (their func_info needs BTF the corpus lacks);
  // one boot for all of them
  const cases = kernelCorpus()
    .filter((c) => c.accepted)
    .map((c) => ({ c, program: toProgram(c) }))
    .filter(({ program }) => !program.insns.some((i) => i.code === 0x18 && i.src === 4));
  let boot: Arm64KernelBoot;
  beforeAll(() => {
    boot = runArm64Kernel(
      cases.map(({ c, program }) => ({
        program,
        ...(c.retval !== null ? { run: { data: c.dataIn !== undefined ? Buffer.from(c.dataIn, 'hex') : new Uint8Array(64) } } : {}),
      })),
    );
  }, 600_000);

  it('loads and JITs the corpus: jited_prog_len, the image and the xlated program come back', () => {
    expect(boot.kernel).toMatch(/arm64$/);
    const accepted = boot.results.filter((r) => r.accepted);
    expect(accepted.length).toBeGreaterThanOrEqual(240);
    for (const r of accepted) {
      expect(r.jitedLen).toBeGreaterThan(0);
      expect(r.jited?.length).toBe(r.jitedLen);
      expect(decode(r.xlated!, { strict: false }).length).toBeGreaterThan(0);
    }
  });

  it('our code is no larger than its jited_prog_len in every group (asm, conformance, random, C) and in total', () => {
    // like with like: the kernel JITs its xlated program, we the one our verifier leaves
    const groups = new Map<string, { ours: number; kernel: number }>();
    cases.forEach(({ c, program }, k) => {
      const theirs = boot.results[k]!.jitedLen;
      const v = verify(program, { type: c.type as ProgType, logLevel: 0 });
      if (!theirs || !v.accepted || !v.xlated) return;
      const ours = jitArm64(v.xlated).code.length;
      for (const g of [c.name.split('/')[0]!, 'total']) {
        const t = groups.get(g) ?? { ours: 0, kernel: 0 };
        groups.set(g, { ours: t.ours + ours, kernel: t.kernel + theirs });
      }
    });
    const ratios = Object.fromEntries([...groups].map(([g, t]) => [g, +(t.ours / t.kernel).toFixed(3)]));
    expect(Object.keys(ratios).sort()).toEqual(['asm', 'c', 'conformance', 'random', 'total']);
    for (const [g, r] of Object.entries(ratios)) expect(r, `${g}: ${JSON.stringify(ratios)}`).toBeLessThanOrEqual(1);
  });

  it('our code of verify(p).xlated gives the arm64 kernel test-run retval (and packet) under qemu-aarch64', () => {
    const m: MapDef = { name: 'm', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 };
    const runs = cases.flatMap(({ c, program }, k) => {
      const theirs = boot.results[k]!;
      if (!theirs.accepted || theirs.retval === undefined || NONDETERMINISTIC.test(c.name)) return [];
      const v = verify(program, { type: c.type as ProgType, logLevel: 0 });
      if (!v.accepted || !v.xlated) return [];
      const jit = jitArm64(v.xlated);
      let job: Arm64Job;
      if (c.dataIn !== undefined) {
        job = { result: jit, mem: Buffer.from(c.dataIn, 'hex'), maps: program.maps ?? [], context: c.type as 'socket_filter' | 'sched_cls' | 'xdp' };
      } else {
        // programs that reach no packet, as the qemu differential of jit.test.ts runs them
        if (c.type !== 'socket_filter' || v.xlated.insns.some((i) => (i.code & 7) === 0 && (i.code & 0xe0) !== 0)) return [];
        if (v.xlated.relocs?.length || (v.xlated.maps?.length ?? 0) > 0) return [];
        const tail = v.xlated.insns.some((i) => i.code === 0x85 && i.src === 0 && i.imm === 12);
        job = { result: jit, mem: new Uint8Array(64), maps: [tail ? { ...m, type: 'prog_array' } : m] };
      }
      return [{ c, theirs, job }];
    });
    const ours = runArm64Batch(runs.map((r) => r.job));
    const bad = runs.flatMap(({ c, theirs, job }, k) => {
      const r = ours[k]!;
      if (r instanceof Error) return [`${c.name}: ${r.message}`];
      const retval = Number(r.r0 & 0xffffffffn);
      if (retval !== theirs.retval) return [`${c.name}: ours ${retval}, arm64 kernel ${theirs.retval}`];
      if (job.context && hex(r.mem) !== hex(theirs.dataOut)) return [`${c.name}: packets differ`];
      return [];
    });
    expect(bad).toEqual([]);
    expect(runs.length).toBeGreaterThanOrEqual(200);
  });
});
