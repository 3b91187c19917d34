import { assemble } from '@bpf/isa';
import { buildCfg } from '@bpf/liveness';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { orderBySlot, orderBySubprog, successorsOf } from './stacklive.js';

/**
 * stacklive.ts's setup shortcuts (issue 25) against what they replace: the order split by
 * subprogram as views of the CFG's postorder, and the CFG's successor lists in place of its own.
 */
describe('stack liveness setup shortcuts', () => {
  // subprogram starts (ascending, the first maybe above 0) and an order of some slots: grouped
  // by subprogram in ascending order (the CFG's postorder) or shuffled
  const layout = fc
    .tuple(fc.integer({ min: 1, max: 60 }), fc.uniqueArray(fc.integer({ min: 0, max: 59 }), { maxLength: 6 }), fc.boolean(), fc.boolean(), fc.nat())
    .map(([n, cuts, grouped, some, seed]) => {
      const starts = [...new Set([0, ...cuts.filter((c) => c < n)])].sort((a, b) => a - b);
      if (seed % 5 === 0 && starts.length > 1) starts[0] = 1; // a slot before the first start
      let slots = Array.from({ length: n }, (_, pc) => pc).filter((pc) => !some || (pc * 7 + seed) % 3 !== 0);
      let x = seed;
      const rnd = (): number => (x = (x * 1103515245 + 12345) >>> 0);
      slots = slots.map((pc) => [rnd(), pc] as const).sort((a, b) => a[0] - b[0]).map(([, pc]) => pc);
      if (grouped) {
        const sub = (pc: number): number => {
          let k = starts.length - 1;
          while (k > 0 && starts[k]! > pc) k--;
          return k;
        };
        slots.sort((a, b) => sub(a) - sub(b));
      }
      return { n, starts, src: Int32Array.from(slots) };
    });

  it('splits an order by subprogram as slot by slot does, grouped or not', () => {
    fc.assert(
      fc.property(layout, ({ n, starts, src }) => {
        const fast = orderBySubprog(src, n, starts).map((a) => [...a]);
        const slow = orderBySlot(src, n, starts).map((a) => [...a]);
        expect(fast).toEqual(slow);
      }),
      { numRuns: 3000 },
    );
  });

  it('the CFG successors are bpf_insn_successors', () => {
    const programs = [
      'r0 = 0\nr1 = 1\nif r1 > 2 goto l\nr0 += 1\nl:\nr0 += 2\nexit',
      'r0 = 0\nl:\nr0 += 1\nif r0 < 10 goto l\nif r0 > 5 goto m\nr0 = 1\ngoto m\nm:\nexit',
      'r1 = 0\ncall 5\nr6 = 0 ll\nif r0 == r1 goto +0\nexit',
      'r0 = 0\ncall f\nexit\nf:\nr0 = 1\nif r0 == 1 goto +1\nr0 = 2\nexit',
    ];
    for (const src of programs) {
      const program = assemble(src);
      const cfg = buildCfg(program);
      const [start, target] = successorsOf(program.insns);
      expect([...start]).toEqual([...cfg.succStart]);
      expect([...target]).toEqual([...cfg.succTarget]);
    }
  });
});
