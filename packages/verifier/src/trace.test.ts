import { assemble } from '@bpf/isa';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';

// r2 comes from the context, r3 = r2 + 8, then an out-of-bounds stack read indexed by r3
const REJECTED = `
r2 = *(u32 *)(r1 + 0)
r3 = r2
r3 += 8
r4 = r10
r4 += -16
r4 += r3
r0 = *(u64 *)(r4 + 0)
exit`;

const BRANCHY = `
r2 = *(u32 *)(r1 + 0)
r0 = 0
if r2 > 10 goto big
r0 = 1
goto out
big:
r0 = 2
out:
exit`;

describe('verify(p, { trace: true })', () => {
  it('is absent unless asked for', () => {
    expect(verify(assemble(BRANCHY)).trace).toBeUndefined();
  });

  it('records every processed instruction with its path and the state before and after', () => {
    const r = verify(assemble(BRANCHY), { trace: true });
    expect(r.accepted).toBe(true);
    const t = r.trace!;
    expect(t.source).toBe('verifier');
    expect(t.steps.length).toBe(r.stats.processedInsns);
    const first = t.steps[0]!;
    expect(first).toMatchObject({ index: 0, path: 0, pc: 0, frame: 0, next: 1, forks: [] });
    expect(first.before!.frames[0]!.regs[1]).toMatchObject({ type: 'ctx', text: 'ctx()' });
    expect(first.before!.frames[0]!.regs[2]).toBeNull();
    expect(first.after!.frames[0]!.regs[2]).toMatchObject({ type: 'scalar', umax: '4294967295' });
    const jump = t.steps.find((s) => s.pc === 2)!;
    expect(jump.forks).toEqual([1]);
    expect(t.paths[1]).toMatchObject({ id: 1, parent: 0, forkedAt: 2, start: 5 });
    // after `if r2 > 10` falls through, r2 is within 0..10
    expect(jump.after!.frames[0]!.regs[2]).toMatchObject({ umax: '10' });
    const mov = t.steps.find((s) => s.pc === 3)!;
    expect(mov.after!.frames[0]!.regs[0]).toMatchObject({ type: 'scalar', value: '1', text: '1' });
    expect(t.paths[0]!.end).toEqual({ pc: 6, how: 'exit' });
  });

  it('records where a path was pruned and against which checkpoint', () => {
    const r = verify(assemble(BRANCHY), { trace: { maxSteps: 1000 }, flags: 8 /* BPF_F_TEST_STATE_FREQ */ });
    const t = r.trace!;
    expect(t.prunes.length).toBeGreaterThan(0);
    const p = t.prunes[0]!;
    expect(t.checkpoints[p.against!]!.pc).toBe(p.pc);
    expect(t.paths[p.path]!.end).toEqual({ pc: p.pc, how: 'pruned' });
  });

  it('gives a rejection the chain of instructions its offending value came from', () => {
    const r = verify(assemble(REJECTED), { trace: true });
    expect(r.accepted).toBe(false);
    const rej = r.trace!.rejection!;
    expect(rej.pc).toBe(6);
    expect(rej.message).toBe(r.error!.message);
    expect(rej.regs).toEqual([4]);
    // r4 = fp-16 + r3, r3 = r2 + 8, r2 = *(ctx + 0): every link back to the load
    expect(rej.chain.map((l) => l.pc)).toEqual([5, 4, 3, 2, 1, 0]);
    expect(rej.chain.at(-1)!.regs).toEqual([]);
    expect(rej.state!.frames[0]!.regs[4]!.type).toBe('fp');
    // the last step is the rejected instruction, with the state before it only
    expect(r.trace!.steps.at(-1)).toMatchObject({ pc: 6, next: -1 });
    expect(r.trace!.steps.at(-1)!.after).toBeUndefined();
  });

  it('explains where any register at any step came from (explain), by the same backward walk', () => {
    // before insn 5 (r4 += r3): r3 = r2 + 8 and r2 = *(ctx + 0)
    const step = verify(assemble(REJECTED), { trace: true }).trace!.steps.findIndex((s) => s.pc === 5);
    const t = verify(assemble(REJECTED), { trace: { explain: { step, regs: [3] } } }).trace!;
    expect(t.explained).toMatchObject({ step, pc: 5, regs: [3] });
    expect(t.explained!.chain.map((l) => l.pc)).toEqual([2, 1, 0]);
    // in an accepted program, on the path that forked: r0 at the exit of `big:` came from insn 5
    const b = verify(assemble(BRANCHY), { trace: true }).trace!;
    const exitOnFork = b.steps.findIndex((s) => s.pc === 6 && s.path === 1);
    const e = verify(assemble(BRANCHY), { trace: { explain: { step: exitOnFork, regs: [0] } } }).trace!.explained!;
    expect(e.chain.map((l) => l.pc)).toEqual([5]);
    // a register nobody wrote has no chain; a step never reached gives no answer
    expect(verify(assemble(BRANCHY), { trace: { explain: { step: 0, regs: [1] } } }).trace!.explained!.chain).toEqual([]);
    expect(verify(assemble(BRANCHY), { trace: { explain: { step: 999, regs: [0] } } }).trace!.explained).toBeUndefined();
  });

  it('keeps at most maxSteps steps', () => {
    const t = verify(assemble(BRANCHY), { trace: { maxSteps: 2 } }).trace!;
    expect(t.steps.length).toBe(2);
    expect(t.truncated).toBe(true);
  });
});
