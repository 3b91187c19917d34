import { assemble, decode, type AnalysedProgram, type MapDef, type Program, type ProgType } from '@bpf/isa';
import { corpusSource, kernelCorpus, type KernelCase } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { jitX86 } from './index.js';
import { runX86 } from './node.js';

/**
 * @bpf/verifier is no dependency of this package; the test runner resolves workspace packages
 * to their sources, so its `verify` is loaded by name here, typed as far as this test uses it.
 */
interface VerifierModule {
  verify(p: Program, o: { type?: ProgType; logLevel?: 0 }): { accepted: boolean; xlated?: AnalysedProgram };
}
const VERIFIER: string = '@bpf/verifier';
const { verify } = (await import(VERIFIER)) as VerifierModule;

/** A corpus case's program, as bench/compare.mjs builds it. */
const toProgram = (c: KernelCase): Program => {
  const s = corpusSource(c);
  if (s.kind === 'asm') return assemble(s.text);
  return { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs as Program['relocs'], ...(s.funcInfo ? { funcInfo: s.funcInfo } : {}), type: c.type as ProgType };
};

describe('code size vs the kernel JIT (jited_prog_len recorded in fixtures/kernel/corpus.json)', () => {
  // as the kernel, we compile the program its verifier leaves: dead code removed, one-way branches hard-wired
  const compiled = kernelCorpus().flatMap((c) => {
    if (!c.accepted || !c.jitedLen) return [];
    const r = verify(toProgram(c), { type: c.type as ProgType, logLevel: 0 });
    return r.accepted && r.xlated ? [{ c, xlated: r.xlated, code: jitX86(r.xlated).code.length }] : [];
  });

  it('is smaller in total and in every group of the corpus (asm, conformance, random, C)', () => {
    const groups = new Map<string, { ours: number; kernel: number }>();
    for (const { c, code } of compiled) {
      for (const g of [c.name.split('/')[0]!, 'total']) {
        const t = groups.get(g) ?? { ours: 0, kernel: 0 };
        groups.set(g, { ours: t.ours + code, kernel: t.kernel + c.jitedLen! });
      }
    }
    const ratios = Object.fromEntries([...groups].map(([g, t]) => [g, +(t.ours / t.kernel).toFixed(3)]));
    expect(Object.keys(ratios).sort()).toEqual(['asm', 'c', 'conformance', 'random', 'total']);
    for (const [g, r] of Object.entries(ratios)) expect(r, `${g}: ${JSON.stringify(ratios)}`).toBeLessThan(1);
    expect(compiled.length).toBeGreaterThanOrEqual(250);
  });

  it.skipIf(process.arch !== 'x64')('the compiled xlated programs give the kernel retval (and packet) when run natively', () => {
    const m: MapDef = { name: 'm', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 };
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    let ran = 0;
    const bad = compiled.flatMap(({ c, xlated }) => {
      if (c.retval === null || /ktime|ptr-leak|uninit-stack|uninit_stack/.test(c.name)) return [];
      const jit = jitX86(xlated);
      if (c.dataIn !== undefined) {
        const s = corpusSource(c);
        if (s.kind !== 'insns') return [];
        const r = runX86(jit, { mem: Buffer.from(c.dataIn, 'hex'), maps: s.maps, context: c.type as 'socket_filter' | 'sched_cls' | 'xdp' });
        ran++;
        const ours = { retval: Number(r.r0 & 0xffffffffn), data: hex(r.mem) };
        return ours.retval !== c.retval || ours.data !== c.dataOut ? [`${c.name}: ${JSON.stringify(ours)}`] : [];
      }
      if (c.type !== 'socket_filter' || xlated.insns.some((i) => (i.code & 7) === 0 && (i.code & 0xe0) !== 0)) return [];
      const tail = xlated.insns.some((i) => i.code === 0x85 && i.src === 0 && i.imm === 12);
      if (xlated.relocs?.length || (xlated.maps?.length ?? 0) > 0) return [];
      const r = runX86(jit, { mem: new Uint8Array(64), maps: [tail ? { ...m, type: 'prog_array' } : m] });
      ran++;
      return Number(r.r0 & 0xffffffffn) !== c.retval ? [`${c.name}: r0 0x${r.r0.toString(16)}, kernel ${c.retval}`] : [];
    });
    expect(bad).toEqual([]);
    expect(ran).toBeGreaterThanOrEqual(150);
  });
});
