import { assemble } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { parseKernelLog, parseRegText, verify } from './index.js';
import { kernelApi } from './kernel.test.helper.js';

// our own programs: a rejection whose offending pointer is built over several instructions,
// a branch with both sides explored, a spill and fill, and a loop the kernel prunes
const PROGRAMS: Record<string, string> = {
  rejected: `
r2 = *(u32 *)(r1 + 0)
r2 &= 0xff
r3 = r2
r3 += 8
r4 = r10
r4 += -16
r4 += r3
r0 = *(u64 *)(r4 + 0)
exit`,
  branchy: `
r2 = *(u32 *)(r1 + 0)
r0 = 0
if r2 > 10 goto big
r0 = 1
goto out
big:
r0 = 2
out:
exit`,
  spill: `
r2 = *(u32 *)(r1 + 0)
*(u64 *)(r10 - 8) = r2
*(u32 *)(r10 - 16) = 7
r3 = *(u64 *)(r10 - 8)
if r3 > 100 goto out
r0 = r3
exit
out:
r0 = 0
exit`,
  loop: `
r1 = 0
r0 = 0
loop:
r0 += r1
r1 += 1
if r1 < 4 goto loop
exit`,
};

/** A state's items, split at spaces outside parentheses. */
const topLevel = (s: string): string[] => {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
    if (ch === ' ' && depth === 0) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  return cur ? [...out, cur] : out;
};

describe('parseRegText', () => {
  it('reads the kernel print of scalars and pointers', () => {
    expect(parseRegText('scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))')).toMatchObject({ type: 'scalar', smin: '0', smax: '255', umax: '255', varOff: { value: '0x0', mask: '0xff' } });
    expect(parseRegText('P-1')).toMatchObject({ type: 'scalar', value: '-1' });
    expect(parseRegText('fp-16')).toMatchObject({ type: 'fp', off: -16 });
    expect(parseRegText('map_value(map=m,ks=4,vs=8,off=4)')).toMatchObject({ type: 'map_value', map: 'm', off: 4 });
  });
});

describe.skipIf(skipWithout('kernel') || kernelApi === undefined)('kernel logs recorded from the running kernel', () => {
  const record = (src: string, level: 1 | 2): { log: string; accepted: boolean } => {
    const k = kernelApi!.loadWithMaps(assemble(src), { logLevel: level });
    k.close();
    return { log: k.log, accepted: k.accepted };
  };

  it.each(Object.keys(PROGRAMS))('%s: level 2 gives the instructions, paths and states the kernel printed', (name) => {
    const src = PROGRAMS[name]!;
    const k = record(src, 2);
    const t = parseKernelLog(k.log);
    expect(t.source).toBe('kernel-log');
    expect(t.processed).toBe(t.steps.length);
    // our own verifier's trace of the same program walks the same instructions in the same order
    const ours = verify(assemble(src), { trace: true, logLevel: 2 });
    expect(ours.accepted).toBe(k.accepted);
    expect(t.steps.map((s) => s.pc)).toEqual(ours.trace!.steps.map((s) => s.pc));
    expect(t.paths.length).toBe(ours.trace!.paths.length);
    // every register the kernel printed after an instruction reads back with the kernel's own text
    const printed = k.log.split('\n').flatMap((l) => /^\d+: \([0-9a-f]{2}\) .*? {2,}; (.*)$/.exec(l)?.[1] ?? (/^\d+: \([0-9a-f]{2}\) /.test(l) ? [''] : []));
    expect(printed.length).toBe(t.steps.length);
    let checked = 0;
    t.steps.forEach((s, n) => {
      if (!s.after) return;
      for (const tok of topLevel(printed[n]!)) {
        const m = /^R(\d+)(?:_w)?=(.*)$/.exec(tok);
        if (!m) continue;
        expect(s.after.frames[s.frame]!.regs[Number(m[1])]!.text).toBe(m[2]);
        checked++;
      }
    });
    expect(checked).toBeGreaterThan(0);
    if (!k.accepted) {
      expect(t.rejection!.pc).toBe(ours.error!.insn);
      expect(t.rejection!.message).toBe(ours.error!.message);
      expect(t.steps.at(-1)!.after).toBeUndefined();
      expect(t.paths[t.rejection!.path!]!.end!.how).toBe('rejected');
    }
  });

  it('the rejected program: the failing instruction, the state that failed and the listing', () => {
    const t = parseKernelLog(record(PROGRAMS.rejected!, 2).log);
    const rej = t.rejection!;
    expect(rej.pc).toBe(7);
    expect(rej.state!.frames[0]!.regs[4]!.type).toBe('fp');
    expect(t.listing.find((l) => l.pc === 7)).toMatchObject({ code: 0x79, text: 'r0 = *(u64 *)(r4 +0)' });
  });

  it('the branch: the path the kernel resumed is a fork of the jump', () => {
    const t = parseKernelLog(record(PROGRAMS.branchy!, 2).log);
    expect(t.paths[1]).toMatchObject({ parent: 0, forkedAt: 2, start: 5 });
    expect(t.steps.find((s) => s.pc === 2)!.forks).toEqual([1]);
    // the state where the kernel resumed the path: r2 > 10
    expect(t.steps.find((s) => s.path === 1)!.before!.frames[0]!.regs[2]).toMatchObject({ type: 'scalar', umin: '11' });
  });

  it('the spill: the stack slot and its spilled register', () => {
    const t = parseKernelLog(record(PROGRAMS.spill!, 2).log);
    const st = t.steps.find((s) => s.pc === 1)!.after!.frames[0]!;
    expect(st.stack.find((x) => x.off === -8)).toMatchObject({ kinds: 'rrrrrrrr', spilled: { type: 'scalar' } });
  });

  it('level 1: instructions, paths and the error without states', () => {
    const k = record(PROGRAMS.rejected!, 1);
    const t = parseKernelLog(k.log);
    expect(t.steps.map((s) => s.pc)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(t.rejection!.pc).toBe(7);
  });
});
