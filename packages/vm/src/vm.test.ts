import { assemble, decode, insn, type Program, type ProgType } from '@bpf/isa';
import { conformanceTailCalls, corpusSource, kernelCorpus, loadConformance, THROW_AFTER_TAIL_CALL, THROW_DEEP, type ConformanceCase } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { run, VmError, type RunOptions } from './index.js';

const cases = loadConformance();

/** Run options of a conformance case: its memory and, for tail calls, its programs and prog arrays. */
function caseOptions(c: ConformanceCase): RunOptions {
  const { progArrays } = conformanceTailCalls(c);
  return {
    ...(c.mem ? { mem: c.mem } : {}),
    ...(c.progArrays ? { tailCallTargets: [assemble(c.asm), ...(c.progs ?? []).map((p) => assemble(p.asm))], progArrays } : {}),
  };
}

describe('conformance suite (fixtures/conformance)', () => {
  it('has the cases', () => expect(cases.length).toBeGreaterThanOrEqual(25));
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const program = assemble(c.asm);
    if (c.error !== undefined) {
      expect(() => run(program, caseOptions(c))).toThrow(VmError);
      try {
        run(program, caseOptions(c));
      } catch (e) {
        expect((e as VmError).code).toBe(c.error);
      }
      return;
    }
    const r = run(program, caseOptions(c));
    expect(`0x${r.r0.toString(16)}`).toBe(`0x${c.result!.toString(16)}`);
    if (c.memAfter) expect([...r.mem]).toEqual([...c.memAfter]);
  });
});

describe('errors name the instruction and the address', () => {
  it('out-of-bounds stack access', () => {
    const p = { insns: [insn(0x79, 0, 10, -520, 0), insn(0x95, 0, 0, 0, 0)] };
    try {
      run(p);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VmError);
      expect((e as VmError).insn).toBe(0);
      expect((e as VmError).message).toMatch(/^insn 0: read of 8 bytes at stack of frame 0\+-?\d+/);
    }
  });
  it('budget exhausted in an infinite loop', () => {
    const p = { insns: [insn(0x05, 0, 0, -1, 0), insn(0x95, 0, 0, 0, 0)] };
    expect(() => run(p, { budget: 1000 })).toThrow('instruction budget of 1000 exhausted');
  });
  it('a stack argument the caller never stored', () => {
    const p = assemble('.func f(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f) u64\ncall f\nexit\nf:\nr0 = *(u64 *)(r11 + 8)\nexit');
    expect(() => run(p)).toThrow('insn 2: read of stack arg 6 that the caller did not store');
  });
  it('a stack argument stored for an earlier call (a return consumes the slots)', () => {
    const p = assemble('.func f(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f) u64\n*(u64 *)(r11 - 8) = 6\ncall f\ncall f\nexit\nf:\nr0 = *(u64 *)(r11 + 8)\nexit');
    expect(() => run(p)).toThrow('insn 4: read of stack arg 6 that the caller did not store');
  });
  it('writes to a null pointer', () => {
    const p = { insns: [insn(0xb7, 1, 0, 0, 0), insn(0x7a, 1, 0, 0, 1), insn(0x95, 0, 0, 0, 0)] };
    expect(() => run(p)).toThrow(/insn 1: write to 0x0, which is not a pointer/);
  });
});

describe('tail calls', () => {
  const caller = assemble(`
    .map jt prog_array 4 4 2
    r6 = r1
    r1 = r6
    r2 = jt ll
    r3 = 1
    call bpf_tail_call
    r0 = 99
    exit`);
  const target = assemble('r0 = 42\nexit');
  it('jumps to the program in the prog array slot and does not return', () => {
    expect(run(caller, { tailCallTargets: [target], progArrays: { jt: [0, 0] } }).r0).toBe(42n);
  });
  it('falls through when the slot is empty', () => {
    expect(run(caller, { tailCallTargets: [target], progArrays: { jt: [0] } }).r0).toBe(99n);
  });
  it('falls through once 33 tail calls were taken (MAX_TAIL_CALL_CNT), as the kernel does', () => {
    // the caller tail-calls itself: 34 runs, the last call falls through to r0 = 99
    const r = run(caller, { tailCallTargets: [caller], progArrays: { jt: [0, 0] } });
    expect(r.r0).toBe(99n);
  });
});

describe('maps and helpers', () => {
  it('array map lookup, update through the pointer, and read back', () => {
    const p = assemble(`
      .map counts array 4 8 4
      r1 = 2
      *(u32 *)(r10 - 4) = r1
      r1 = counts ll
      r2 = r10
      r2 += -4
      call bpf_map_lookup_elem
      if r0 == 0 goto out
      r1 = 41
      *(u64 *)(r0 + 0) = r1
      lock *(u64 *)(r0 + 0) += r1
      r0 = *(u64 *)(r0 + 0)
      out:
      exit`);
    expect(run(p).r0).toBe(82n);
  });
  it('ring buffer: reserve, fill and submit a record; a discarded one never appears', () => {
    const p = assemble(`
      .map rb ringbuf 0 0 4096
      r1 = rb ll
      r2 = 8
      r3 = 0
      call bpf_ringbuf_reserve
      if r0 == 0 goto out
      r1 = 0x1122334455667788 ll
      *(u64 *)(r0 + 0) = r1
      r1 = r0
      r2 = 0
      call bpf_ringbuf_submit
      r1 = rb ll
      r2 = 4
      r3 = 0
      call bpf_ringbuf_reserve
      if r0 == 0 goto out
      r1 = r0
      r2 = 0
      call bpf_ringbuf_discard
      out:
      r0 = 0
      exit`);
    const r = run(p);
    expect(r.maps[0]!.records.map((x) => Buffer.from(x).toString('hex'))).toEqual(['8877665544332211']);
  });
  it('trace_printk writes into the host buffer', () => {
    const p = assemble(`
      r1 = 0x0a64253d78 ll
      *(u64 *)(r10 - 8) = r1
      r1 = r10
      r1 += -8
      r2 = 6
      r3 = 42
      call bpf_trace_printk
      exit`);
    expect(run(p).printk).toEqual(['x=42']);
  });
});

describe('differential with the kernel (fixtures/kernel/corpus.json, BPF_PROG_TEST_RUN)', () => {
  const corpus = kernelCorpus();
  // nondeterministic on the kernel side (time, pointers, uninitialised stack)
  const skip = /ktime|ptr-leak|uninit-stack|uninit_stack|xdp/;
  const comparable = corpus.filter((c) => c.accepted && c.retval !== null && c.dataIn === undefined && !skip.test(c.name));
  it('has accepted programs with a recorded retval', () => expect(comparable.length).toBeGreaterThanOrEqual(20));
  it.each(comparable.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const program = { insns: decode(Uint8Array.from(Buffer.from(c.insns, 'hex'))) };
    const maps = [{ name: 'm', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 }];
    // socket filters return a u32
    expect(Number(run(program, { maps, mem: new Uint8Array(64) }).r0 & 0xffffffffn)).toBe(c.retval);
  });

  // C programs (socket filter, tc, XDP) run on a real packet: same retval and same data_out
  const packets = corpus.filter((c) => c.accepted && c.dataIn !== undefined && !/uninit_stack/.test(c.name));
  it('has C packet programs of every packet type', () => {
    expect(new Set(packets.map((c) => c.type))).toEqual(new Set(['socket_filter', 'sched_cls', 'xdp']));
    expect(packets.length).toBeGreaterThanOrEqual(50);
  });
  it.each(packets.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const s = corpusSource(c);
    if (s.kind !== 'insns') throw new Error('C cases carry their instructions');
    const program = { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs as Program['relocs'], type: c.type as ProgType };
    const r = run(program, { data: Buffer.from(c.dataIn!, 'hex') });
    expect({ retval: Number(r.r0 & 0xffffffffn), data: Buffer.from(r.packet!).toString('hex') }).toEqual({ retval: c.retval, data: c.dataOut });
  });
});

describe('bpf_throw', () => {
  // main keeps r6 live across a call into f, which throws from below; the callback (cb) gets the cookie
  const p = assemble(THROW_DEEP.asm);
  // nothing calls cb: its bounds are given, as the verifier's xlated program gives them
  const marked = (k: number): Program => ({
    ...p,
    subprogs: THROW_DEEP.subprogs.map((s, j) => ({ start: s.start, end: s.end, name: s.name, ...(j === k ? { exceptionCallback: true } : {}) })),
  });
  it('ends the program in its exception callback, whatever the depth, with r1 = the cookie', () => {
    expect(run(marked(2)).r0).toBe(THROW_DEEP.result);
  });
  it('a program reached by a tail call throws into its own callback', () => {
    const a = assemble(THROW_AFTER_TAIL_CALL.caller);
    const b = assemble(THROW_AFTER_TAIL_CALL.target);
    expect(run(a, { tailCallTargets: [{ ...b, subprogs: THROW_AFTER_TAIL_CALL.targetSubprogs }], progArrays: { jt: [0] } }).r0).toBe(THROW_AFTER_TAIL_CALL.result);
  });
  it('without an exception callback is an error naming the call', () => {
    expect(() => run(marked(-1))).toThrow(expect.objectContaining({ code: 'NO_EXCEPTION_CB', insn: THROW_DEEP.throwAt }));
  });
});
