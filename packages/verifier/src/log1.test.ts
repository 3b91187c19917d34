/**
 * Log level 1 against the running kernel: the path that failed, each instruction with the
 * registers it changed, the log cut back to where a queued path was pushed each time one is
 * taken up, and to the start when a function verifies (an accepted program logs its stats line
 * only). This is the log libbpf prints when a load fails, so it is the one users read most.
 */
import { assemble, decode, type Program } from '@bpf/isa';
import { comparableLines, corpusSource, kernelCorpus, skipWithout, type KernelCase } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { mapAddressesFromLog, verify } from './index.js';
import { kernelApi } from './kernel.test.helper.js';

const level1 = (p: Program): { ours: string; kernel: string; oursSize: number; kernelSize: number } => {
  const k = kernelApi!.loadWithMaps(p, { logLevel: 1 });
  k.close();
  const o = verify(p, { logLevel: 1, nrCpuIds: kernelApi!.possibleCpus() });
  return { ours: o.log, kernel: k.log, oursSize: o.logTrueSize, kernelSize: k.logTrueSize };
};

/** One load with a log buffer of `size` bytes, kept as the kernel keeps it (no retry): ours beside the kernel's. */
const sized = (p: Program, size: number, fixed: boolean): { ours: unknown; kernel: unknown } => {
  const k = kernelApi!.loadWithMaps(p, { logLevel: fixed ? 1 | 8 : 1, logSize: size, logGrow: false });
  k.close();
  const o = verify(p, { logLevel: 1, logSize: size, logFixed: fixed, nrCpuIds: kernelApi!.possibleCpus() });
  return {
    ours: { accepted: o.accepted, enospc: o.logTruncated === true, log: o.log, trueSize: o.logTrueSize },
    kernel: { accepted: k.accepted, enospc: k.errno === 28, log: k.log, trueSize: k.logTrueSize },
  };
};

describe.skipIf(skipWithout('kernel') || kernelApi === undefined)('log level 1, as the running kernel prints it', () => {
  it('a rejected program: only the failing path, from where its branch was queued, with the registers each instruction changed', () => {
    const p = {
      ...assemble(['r0 = 0', 'r2 = *(u32 *)(r1 + 0)', 'if r2 > 10 goto l1', 'r0 = 1', 'l1:', 'r3 = 5', 'if r2 > 20 goto l2', 'r0 = 2', 'exit', 'l2:', 'r0 = *(u32 *)(r3 + 0)', 'exit'].join('\n')),
      type: 'socket_filter' as const,
    };
    const { ours, kernel } = level1(p);
    expect(ours).toBe(kernel);
    // the branch at 2 had its fall-through state appended when the path at 4 was queued: the
    // cut keeps the space before that ';' and the queued path's state runs on from it
    expect(ours.split('\n').slice(0, 5)).toEqual([
      '0: R1=ctx() R10=fp0',
      '0: (b7) r0 = 0                        ; R0=0',
      '1: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2=scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))',
      '2: (25) if r2 > 0xa goto pc+1 4: R0=0 R1=ctx() R2=scalar(smin=umin=umin32=11,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff)) R10=fp0',
      '4: (b7) r3 = 5                        ; R3=5',
    ]);
  });

  it('an accepted program: the stats line only', () => {
    const p = { ...assemble('r0 = 0\nif r1 == 0 goto l\nr0 = 1\nl:\nexit'), type: 'socket_filter' as const };
    const { ours, kernel } = level1(p);
    expect(ours).toBe(kernel);
    expect(ours.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('log_true_size and a buffer too small: the largest the log grew, ENOSPC for an accepted program, its end kept (or its start, BPF_LOG_FIXED)', () => {
    const accepted = { ...assemble('r0 = 0\nr1 = *(u32 *)(r1 + 0)\nif r1 > 10 goto l1\nr0 = 1\nl1:\nif r1 > 20 goto l2\nr0 = 2\nl2:\nexit'), type: 'socket_filter' as const };
    const rejected = {
      ...assemble(['r0 = 0', 'r2 = *(u32 *)(r1 + 0)', 'if r2 > 10 goto l1', 'r0 = 1', 'l1:', 'r3 = 5', 'if r2 > 20 goto l2', 'r0 = 2', 'exit', 'l2:', 'r0 = *(u32 *)(r3 + 0)', 'exit'].join('\n')),
      type: 'socket_filter' as const,
    };
    for (const p of [accepted, rejected]) {
      const { ours, kernel, oursSize, kernelSize } = level1(p);
      expect(ours).toBe(kernel);
      expect(oursSize).toBe(kernelSize);
      // an accepted program's log is its stats line, but the paths cut from it counted
      if (p === accepted) expect(kernelSize).toBeGreaterThan(ours.length + 1);
      for (const size of [0, 1, 2, 40, 97, 98, 99, 100, kernelSize - 1, kernelSize, kernelSize + 1])
        for (const fixed of [false, true]) {
          const { ours: o, kernel: k } = sized(p, size, fixed);
          expect(o, `${p === accepted ? 'accepted' : 'rejected'} size ${size}${fixed ? ' fixed' : ''}`).toEqual(k);
        }
    }
  });

  it('level 2 byte for byte, its opening func# lines and live-registers table included (a program with a subprogram and a loop)', () => {
    const p = {
      ...assemble(['r6 = 0', 'l:', 'r1 = r6', 'call f', 'r6 += 1', 'if r6 < 3 goto l', 'r0 = 0', 'exit', 'f:', 'r0 = r1', 'r0 += 1', 'exit'].join('\n')),
      type: 'socket_filter' as const,
    };
    const k = kernelApi!.loadWithMaps(p, { logLevel: 2 });
    k.close();
    const o = verify(p, { logLevel: 2, nrCpuIds: kernelApi!.possibleCpus() });
    expect(o.log.split('\n').slice(0, 2)).toEqual(['func#0 @0', 'func#1 @7']);
    expect(o.log).toBe(k.log);
    expect(o.logTrueSize).toBe(k.logTrueSize);
  });

  it("level 2 byte for byte with the stack liveness trace: liveness.c's mask changes per call chain and its pass counts", () => {
    // a subprogram called from two places writes and reads its own and its caller's slots: two
    // call chains, marks passed out to the callers, a branch inside (a prune point traced)
    const p = {
      ...assemble(
        [
          'r1 = 1',
          '*(u64 *)(r10 - 8) = r1',
          '*(u64 *)(r10 - 16) = r1',
          'r1 = r10',
          'r1 += -8',
          'call f',
          'r6 = r0',
          'r1 = r10',
          'r1 += -16',
          'call f',
          'r0 += r6',
          'r1 = *(u64 *)(r10 - 8)',
          'r0 += r1',
          'exit',
          'f:',
          'r2 = *(u64 *)(r1 + 0)',
          '*(u64 *)(r10 - 24) = r2',
          'if r2 > 3 goto big',
          'r0 = *(u64 *)(r10 - 24)',
          'exit',
          'big:',
          'r0 = 0',
          'exit',
        ].join('\n'),
      ),
      type: 'socket_filter' as const,
    };
    const k = kernelApi!.loadWithMaps(p, { logLevel: 2 });
    k.close();
    const o = verify(p, { logLevel: 2, nrCpuIds: kernelApi!.possibleCpus() });
    expect(o.log).toMatch(/^\(5,14\) frame 1 insn 15 \+written -24 $/m);
    expect(o.log).toMatch(/^\(0\) live stack update done in \d+ iterations$/m);
    expect(o.log).toBe(k.log);
    expect(o.logTrueSize).toBe(k.logTrueSize);
  });

  it("level 2 byte for byte with the kernel's map addresses read back from its log (a map's, its value's plus the offset)", () => {
    const base = assemble(['.map m array 4 48 1', 'r6 = m ll', 'r7 = m ll', 'r0 = *(u64 *)(r7 + 0)', '*(u32 *)(r10 - 4) = 0', 'r1 = r6', 'r2 = r10', 'r2 += -4', 'call bpf_map_lookup_elem', 'r0 = 0', 'exit'].join('\n'));
    // the second reference loads the map's value at offset 8 (BPF_PSEUDO_MAP_VALUE), as global data is loaded
    const insns = base.insns.map((i, k) => (k === 2 ? { ...i, src: 2 } : k === 3 ? { ...i, imm: 8 } : i));
    const relocs = (base.relocs ?? []).map((r) => (r.insn === 2 ? { ...r, kind: 'map_value' as const, offset: 8 } : r));
    const p = { ...base, insns, relocs, type: 'socket_filter' as const };
    const k = kernelApi!.loadWithMaps(p, { logLevel: 2 });
    k.close();
    expect(k.accepted).toBe(true);
    const addrs = mapAddressesFromLog(p, k.log);
    expect(addrs.m?.map).toBeGreaterThan(0n);
    expect(addrs.m?.value).toBeGreaterThan(0n);
    const plain = verify(p, { logLevel: 2, nrCpuIds: kernelApi!.possibleCpus() });
    expect(plain.log).not.toBe(k.log);
    const o = verify(p, { logLevel: 2, nrCpuIds: kernelApi!.possibleCpus(), mapAddresses: addrs });
    expect(o.log).toBe(k.log);
    expect(o.logTrueSize).toBe(k.logTrueSize);
  });

  it("log_true_size counts what a path printed before it was cut: propagate_precision's newline, a queued branch's state on its jump's line", () => {
    // a second path pruned where a scalar offsetting a stack pointer is precise (the real-world
    // cases that needed both rules: libbpf-bootstrap's usdt programs and xdp-tutorial's
    // _xdp_end_loop a queued branch's state, katran's balancer_ingress the newline)
    const prune = ['r0 = 0', 'r1 = *(u32 *)(r1 + 0)', 'if r1 > 10 goto l1', 'r2 = 8', 'goto l2', 'l1:', 'r2 = 8', 'l2:', 'r3 = r10', 'r3 += -16', 'r3 += r2', '*(u64 *)(r3 + 0) = r0', 'exit'];
    // the fall-through of 2 is pruned at once (3 is a prune point with an equal state): the
    // branch queued at 2 prints its state on 2's line, at its column, where 2's own state was
    const queued = ['r0 = 0', 'r1 = *(u32 *)(r1 + 0)', 'if r1 > 10 goto l1', 'l1:', 'r0 = 1', 'exit'];
    for (const text of [prune, queued]) {
      const p = { ...assemble(text.join('\n')), type: 'socket_filter' as const };
      const { ours, kernel, oursSize, kernelSize } = level1(p);
      expect(ours).toBe(kernel);
      expect(oursSize, text.join('; ')).toBe(kernelSize);
    }
  });

  it('the kernel corpus (asm, conformance, random and C programs): line for line', () => {
    const source = (c: KernelCase): Program => {
      const s = corpusSource(c);
      const base =
        s.kind === 'asm'
          ? assemble(s.text)
          : { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs as Program['relocs'], ...(s.funcInfo ? { funcInfo: s.funcInfo } : {}), ...(s.btf ? { btf: { bytes: s.btf } } : {}) };
      return { ...base, type: c.type as Program['type'] } as Program;
    };
    // the complexity-limit programs are left out (megabytes of log) and those that need an
    // expected attach type; the C programs with func_info are loaded with their object's BTF
    const cases = kernelCorpus().filter((c) => (c.stats?.processedInsns ?? 0) < 200_000 && c.expectedAttachType === undefined);
    const differ: string[] = [];
    let sizes = 0;
    const sizeDiffer: string[] = [];
    for (const c of cases) {
      const { ours, kernel, oursSize, kernelSize } = level1(source(c));
      if (JSON.stringify(comparableLines(ours)) !== JSON.stringify(comparableLines(kernel))) differ.push(c.name);
      // log_true_size too, where the two logs are the same bytes (map addresses in ld_imm64 lines differ in length)
      else if (ours === kernel && !/\(18\) r\d+ = map/.test(ours)) {
        sizes++;
        if (oursSize !== kernelSize) sizeDiffer.push(`${c.name}: log_true_size ${oursSize}, kernel ${kernelSize}`);
      }
    }
    expect(cases.length).toBeGreaterThan(250);
    expect(differ).toEqual([]);
    // log_true_size counts the paths cut from the log too (what they printed before the cut:
    // a queued branch's state on its jump's line, propagate_precision's newline): all the same
    expect(sizes).toBeGreaterThan(100);
    expect(sizeDiffer).toEqual([]);
  }, 300_000);
});
