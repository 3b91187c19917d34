import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, formatInsn, insn, type Insn, type Program } from '@bpf/isa';
import { fixturesDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildCfg, CfgError, computeLiveness, formatLiveRegs, livenessToJson, regMask, stackArgBit } from './index.js';

interface Recorded {
  readonly name: string;
  readonly type: 'socket_filter' | 'xdp' | 'kprobe' | 'sched_cls';
  readonly hex: string;
  readonly block: string | null;
  readonly firstError: string | null;
}
const recorded = (JSON.parse(readFileSync(join(fixturesDir, 'kernel/liveness.json'), 'utf8')) as { cases: Recorded[] }).cases;

describe('liveness agrees with the kernel (fixtures/kernel/liveness.json)', () => {
  it('has a corpus of hand-written and random programs', () => {
    expect(recorded.length).toBeGreaterThanOrEqual(300);
  });
  it.each(recorded.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const program: Program = { insns: decode(Uint8Array.from(Buffer.from(c.hex, 'hex')), { strict: false }), type: c.type };
    if (c.block === null) {
      // the kernel rejected it before liveness: we must reject it the same way
      expect(() => computeLiveness(program)).toThrow(CfgError);
      try {
        computeLiveness(program);
      } catch (e) {
        expect((e as CfgError).kernelMessage).toBe(c.firstError);
      }
      return;
    }
    // line for line, instruction text included (@bpf/isa's kernel-syntax printer)
    const ours = formatLiveRegs(computeLiveness(program), (insns, i) => formatInsn(insns, i, { syntax: 'kernel' }));
    expect(ours.split('\n')).toEqual(c.block.split('\n'));
  });
});

const p = (...insns: Insn[]): Program => ({ insns });
// r11 forms (apps/docs/stack-args.md §2)
const storeArg = (k: number, src: number): Insn => insn(0x7b, 11, src, -8 * k, 0);
const storeArgImm = (k: number, imm: number): Insn => insn(0x7a, 11, 0, -8 * k, imm);
const loadArg = (dst: number, k: number): Insn => insn(0x79, dst, 11, 8 * k, 0);
const mov = (dst: number, imm: number): Insn => insn(0xb7, dst, 0, 0, imm);
const call = (rel: number): Insn => insn(0x85, 0, 1, 0, rel);
const exit = insn(0x95, 0, 0, 0, 0);

describe('stack-argument slots (stack-args §6)', () => {
  // main: r1..r5 = 1..5; *(r11-8) = r6(6); *(r11-16) = 7; call f; exit
  // f(a..g): r0 = *(r11+8); r1 = *(r11+16); r0 += r1; exit
  const main = [mov(1, 1), mov(2, 2), mov(3, 3), mov(4, 4), mov(5, 5), mov(6, 6), storeArg(1, 6), storeArgImm(2, 7), call(1), exit];
  const f = [loadArg(0, 1), loadArg(1, 2), insn(0x0f, 0, 1, 0, 0), exit];
  const program: Program = {
    insns: [...main, ...f],
    subprogs: [
      { start: 0, end: 10, name: 'main' },
      { start: 10, end: 14, name: 'f', argCount: 7 },
    ],
  };
  const l = computeLiveness(program);
  it('an outgoing slot is live from its store until the call that passes it', () => {
    // before the store of sa0 (insn 6) sa0 is dead: the store defines it
    expect(l.liveIn[6]! & stackArgBit(0)).toBe(0);
    // between the stores and the call both slots are live (the 7-arg callee reads sa0, sa1)
    expect(l.liveIn[8]! & (stackArgBit(0) | stackArgBit(1))).toBe(stackArgBit(0) | stackArgBit(1));
    // sa1 is stored at insn 7, so it is not live before it; sa0 is
    expect(l.liveIn[7]! & stackArgBit(1)).toBe(0);
    expect(l.liveIn[7]! & stackArgBit(0)).toBe(stackArgBit(0));
  });
  it('after the call every outgoing slot is dead', () => {
    expect(l.liveIn[9]! >> 11).toBe(0);
  });
  it('the r6 stored as argument 6 is live until its store, and r1..r5 until the call', () => {
    expect(regMask(l.liveIn[6]!)).toBe('.123456...');
    expect(regMask(l.liveIn[8]!)).toBe('.12345....');
  });
  it('callee loads read incoming slots, not registers', () => {
    const json = livenessToJson(l);
    expect(json.insns.find((r) => r.index === 10)?.reads).toEqual(['arg6']);
    expect(json.insns.find((r) => r.index === 11)?.reads).toEqual(['arg7']);
    // r0 is written by the first load, so nothing is live before it
    expect(json.insns.find((r) => r.index === 10)?.regs).toEqual([]);
  });
});

describe('stack slots', () => {
  it('a full 8-byte store kills the slot; a read keeps it live', () => {
    const prog = p(mov(1, 1), insn(0x7b, 10, 1, -8, 0), insn(0x79, 0, 10, -8, 0), exit);
    const json = livenessToJson(computeLiveness(prog));
    expect(json.insns.map((r) => r.stack)).toEqual([[], [], [-8], []]);
  });
  it('a partial store does not kill the slot', () => {
    const prog = p(mov(1, 1), insn(0x63, 10, 1, -8, 0), insn(0x79, 0, 10, -8, 0), exit);
    const json = livenessToJson(computeLiveness(prog));
    expect(json.insns[1]!.stack).toEqual([-8]);
  });
});

describe('CFG', () => {
  it('marks back edges and basic blocks of a loop', () => {
    // 0: r0 = 0; 1: r0 += 1; 2: if r0 < 10 goto -2; 3: exit
    const cfg = buildCfg(p(mov(0, 0), insn(0x07, 0, 0, 0, 1), insn(0xa5, 0, 0, -2, 10), exit));
    expect(cfg.backEdges).toEqual([[2, 1]]);
    expect(cfg.blocks.map((b) => [b.start, b.end, b.succs])).toEqual([
      [0, 1, [1]],
      [1, 3, [2, 1]],
      [3, 4, []],
    ]);
    expect([...cfg.scc]).toEqual([0, 1, 1, 0]);
  });
  it('rejects a call outside the program with the kernel message', () => {
    expect(() => buildCfg(p(call(5), exit))).toThrow('call to invalid destination');
  });
  it('formats the kernel block with the instruction printer given', () => {
    const text = formatLiveRegs(computeLiveness(p(mov(0, 0), exit)), (insns, i) => `(${insns[i]!.code.toString(16)})`);
    expect(text).toBe('Live regs before insn:\n      0: .......... (b7)\n      1: 0......... (95)\n');
  });
});

describe('liveness blocks in the recorded kernel corpus (fixtures/kernel/corpus.json, log level 2)', () => {
  const corpus = (JSON.parse(readFileSync(join(fixturesDir, 'kernel/corpus.json'), 'utf8')) as {
    cases: { name: string; type: 'socket_filter' | 'xdp'; insns: string; log: string }[];
  }).cases.filter((c) => c.log.includes('Live regs before insn:'));
  it('has programs with a recorded block', () => expect(corpus.length).toBeGreaterThan(100));
  it.each(corpus.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const lines = c.log.split('\n');
    const at = lines.indexOf('Live regs before insn:');
    let end = at + 1;
    while (end < lines.length && /^[ 0-9]{4}[ 0-9]{3}: [.0-9]{10} /.test(lines[end]!)) end++;
    const theirs = lines.slice(at, end).join('\n') + '\n';
    const program: Program = { insns: decode(Uint8Array.from(Buffer.from(c.insns, 'hex')), { strict: false }), type: c.type };
    // the running kernel (6.18.44-fc-v1272, which recorded this corpus) counts a bpf_loop call as a
    // loop of its own once the verifier has pushed its callback: its SCC column shows it
    const selfLoops = (pc: number): boolean => {
      const i = program.insns[pc]!;
      return i.code === 0x85 && i.src === 0 && i.imm === 181;
    };
    const ours = formatLiveRegs(computeLiveness(program, { selfLoops }), (insns, i) => formatInsn(insns, i, { syntax: 'kernel' }));
    // the kernel prints map addresses where we print the map fd placeholder: compare ld_imm64 lines by shape
    const norm = (s: string): string => s.replace(/\(18\) (r\d+) = 0x[0-9a-f]+/g, '(18) $1 = IMM');
    expect(norm(ours)).toBe(norm(theirs));
  });
});
