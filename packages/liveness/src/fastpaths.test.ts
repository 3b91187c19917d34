import { insn, type Insn, type Program } from '@bpf/isa';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCfg, computeScc, computeSccByChains, Slab } from './cfg.js';
import { computeLiveness } from './liveness.js';

/**
 * The CFG's and liveness's shortcuts for programs without loops (issue 25) against the full
 * computations they skip: random programs of fall-throughs, conditional jumps anywhere (loops
 * included), helper calls, ld_imm64 pairs, a rare exit or ja, and an exit at the end.
 */
const kind = fc.constantFrom('alu', 'alu', 'alu', 'alu', 'jcond', 'jcond', 'call', 'ldimm64', 'ja', 'exit');
/** Slots as kind and jump target (an index among the slots, so jumps land on a slot's start). */
const program = fc.array(fc.tuple(kind, fc.nat(), fc.integer({ min: 0, max: 9 })), { minLength: 1, maxLength: 40 }).map((slots): Program => {
  const starts: number[] = [];
  let pc = 0;
  for (const [k] of slots) {
    starts.push(pc);
    pc += k === 'ldimm64' ? 2 : 1;
  }
  starts.push(pc); // the final exit
  const insns: Insn[] = [];
  slots.forEach(([k, t, r], j) => {
    const at = starts[j]!;
    const off = starts[t % starts.length]! - at - 1;
    if (k === 'alu') insns.push(insn(0x07, r, 0, 0, 1));
    else if (k === 'jcond') insns.push(insn(0x15, r, 0, off, 0));
    else if (k === 'call') insns.push(insn(0x85, 0, 0, 0, 1 + (r % 5)));
    else if (k === 'ldimm64') insns.push(insn(0x18, r, 0, 0, 7), insn(0, 0, 0, 0, 0));
    else if (k === 'ja') insns.push(insn(0x05, 0, 0, off, 0));
    else insns.push(insn(0x95, 0, 0, 0, 0));
  });
  insns.push(insn(0x95, 0, 0, 0, 0));
  return { insns };
});

/** The CFG, or undefined for a program the CFG checks refuse. */
function cfgOf(p: Program, selfLoops?: (pc: number) => boolean): ReturnType<typeof buildCfg> | undefined {
  try {
    return buildCfg(p, selfLoops);
  } catch {
    return undefined;
  }
}

describe('CFG and liveness shortcuts equal the full computations', () => {
  it('generates programs with and without loops that the CFG accepts', () => {
    const seen = { loops: 0, none: 0 };
    fc.assert(
      fc.property(program, (p) => {
        const cfg = cfgOf(p);
        if (cfg) seen[cfg.backEdges.length > 0 ? 'loops' : 'none']++;
      }),
      { numRuns: 400, seed: 25 },
    );
    expect(seen.loops).toBeGreaterThan(20);
    expect(seen.none).toBeGreaterThan(20);
  });

  it('SCC ids: the same as Tarjan over every slot, self loops or not', () => {
    fc.assert(
      fc.property(program, fc.boolean(), (p, withSelf) => {
        const selfLoops = withSelf ? (pc: number): boolean => p.insns[pc]!.code === 0x85 && p.insns[pc]!.imm <= 2 : undefined;
        const cfg = cfgOf(p, selfLoops);
        if (!cfg) return;
        const full = computeScc(new Slab(0), p.insns.length, cfg.succStart, cfg.succTarget, selfLoops);
        expect([...cfg.scc]).toEqual([...full]);
      }),
      { numRuns: 1500 },
    );
  });

  it('SCC ids over contracted chains: the same as over every slot, for any set of self-loop slots', () => {
    fc.assert(
      fc.property(program, fc.nat(), (p, mask) => {
        const cfg = cfgOf(p);
        if (!cfg) return;
        const n = p.insns.length;
        const selfLoops = mask % 4 === 0 ? undefined : (pc: number): boolean => ((mask >>> (pc % 29)) & 1) === 1;
        const full = computeScc(new Slab(0), n, cfg.succStart, cfg.succTarget, selfLoops);
        const chains = computeSccByChains(new Slab(0), n, cfg.succStart, cfg.succTarget, selfLoops);
        expect([...chains]).toEqual([...full]);
      }),
      { numRuns: 3000 },
    );
  });

  it('the register fixpoint: the same as passes over every slot until nothing changes', () => {
    fc.assert(
      fc.property(program, (p) => {
        const cfg = cfgOf(p);
        if (!cfg) return;
        const n = p.insns.length;
        // the register fixpoint again, with the late slots computed and a pass over every slot until nothing changes
        const l = computeLiveness(p);
        const liveIn = new Uint32Array(n);
        for (let again = true; again; ) {
          again = false;
          for (const pc of cfg.postorder) {
            let out = 0;
            for (let e = cfg.succStart[pc]!; e < cfg.succStart[pc + 1]!; e++) out |= liveIn[cfg.succTarget[e]!]!;
            const inn = ((out & ~l.def[pc]!) | l.use[pc]!) >>> 0;
            if (inn !== liveIn[pc]) {
              liveIn[pc] = inn;
              again = true;
            }
          }
        }
        expect([...l.liveIn]).toEqual([...liveIn]);
      }),
      { numRuns: 1500 },
    );
  });

  it('arrays from a slab are zeroed, separate, and made fresh once it is used up', () => {
    const slab = new Slab(64);
    const a = slab.i32(5);
    const b = slab.u8(3);
    const c = slab.u32(20);
    a.fill(-1);
    b.fill(255);
    expect([...slab.i32(2)]).toEqual([0, 0]);
    expect(c.length).toBe(20);
    expect(c.buffer).not.toBe(a.buffer);
    expect(b.buffer).toBe(a.buffer);
    expect(a.byteOffset + a.byteLength).toBeLessThanOrEqual(b.byteOffset);
  });
});
