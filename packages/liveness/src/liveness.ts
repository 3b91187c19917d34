/**
 * Liveness of registers, r10 stack slots and r11 stack-argument slots, per instruction.
 *
 * Registers follow the kernel's compute_live_registers (kernel/bpf/verifier.c): per-slot use
 * and def sets, then `in = (out \ def) ∪ use` iterated over the postorder until nothing
 * changes. Stack-argument slots follow apps/docs/stack-args.md §6: outgoing slots sa0..sa6 are
 * bits 11..17 of the same mask, defined by `*(u64 *)(r11 - 8k) = x`, used by the call that
 * passes them and dead after it.
 */
import { decodeOp, stackArgAccess, type Insn, type Program, type ProgType } from './deps.js';
import { buildCfgIn, cfgSlabBytes, scratchI32, Slab, SLAB_MAX, type Cfg } from './cfg.js';
import { HELPER_ARGS_BY_PROG_TYPE, HELPER_ARGS_DOCUMENTED } from './helper-table.js';

/** Bit of outgoing stack-argument slot `k` (0-based) in a register mask. */
export const stackArgBit = (k: number): number => 1 << (11 + k);
const ALL_CALLER_SAVED = 0x3f; // r0..r5
const ALL_STACK_ARGS = 0x7f << 11;
const R0 = 1;

export interface LivenessOptions {
  /** Program type, for which helpers exist (a helper the type lacks reads r1..r5). */
  readonly progType?: ProgType;
  /**
   * Parameter count of the function a call slot calls, when known. Defaults: helpers from the
   * kernel-recorded table; kfuncs and subprograms from `Program.protos`; else unknown.
   */
  readonly callArgCount?: (pc: number, insn: Insn) => number | undefined;
  /** Instructions that are loops of their own for the SCCs (calls of synchronous callbacks). */
  readonly selfLoops?: (pc: number) => boolean;
  /** More entry points of the CFG walk (the exception callback: see buildCfg). */
  readonly entries?: readonly number[];
}

export interface Liveness {
  readonly cfg: Cfg;
  /** Per slot: registers used (bits 0..10) and stack-arg slots passed (bits 11..17). */
  readonly use: Uint32Array;
  readonly def: Uint32Array;
  /** Per slot: live-in mask, same layout. */
  readonly liveIn: Uint32Array;
  /** Per slot: live-in r10 stack slots; slot k is `fp-8(k+1)`; 64 slots as two 32-bit words. */
  readonly stackLiveIn: Uint32Array;
  /** Per slot: incoming stack-argument slots it reads (`r11 + 8(k+1)`), as a bit mask. */
  readonly incomingReads: Uint8Array;
  /** Subprograms whose frame address escapes (then stack liveness is conservative). */
  readonly escapes: readonly boolean[];
  /** Fixpoint passes over the postorder. */
  readonly passes: number;
}

/** Parameters a helper call reads for this program type (r1..r5 when the type lacks it). */
export function helperArgCount(id: number, progType: ProgType | undefined): number {
  const row = HELPER_ARGS_BY_PROG_TYPE[progType ?? 'socket_filter'] ?? HELPER_ARGS_DOCUMENTED;
  const c = row.charCodeAt(id) - 48;
  return id >= 0 && id < row.length && c >= 0 && c <= 5 ? c : 5;
}

/** Registers (and stack-arg slots) a call reads: r1..r(min(n,5)), sa0..sa(n-6). */
function callUse(n: number): number {
  const regs = ((1 << (Math.min(n, 5) + 1)) - 1) & ~1;
  const slots = n > 5 ? ((1 << (n - 5)) - 1) << 11 : 0;
  return regs | slots;
}

/** The use and def masks useDef found (two module variables: no object or packed number per slot, issue 25). */
let udUse = 0;
let udDef = 0;
const ud = (use: number, def: number): void => {
  udUse = use;
  udDef = def;
};

/**
 * Use/def of one slot (into udUse/udDef), from the raw class/op/mode fields exactly as the
 * kernel's compute_insn_live_regs does (so malformed encodings get the kernel's sets too), plus
 * the r11 forms of apps/docs/stack-args.md §6.
 */
function useDef(i: Insn, pc: number, argCount: (pc: number, i: Insn) => number | undefined): void {
  const code8 = i.code;
  // stackArgAccess's forms (`*(u64 *)(r11 - 8k) = x`, `rX = *(u64 *)(r11 + 8k)`), tested inline
  if ((code8 === 0x79 && i.src === 11) || ((code8 === 0x7b || code8 === 0x7a) && i.dst === 11)) {
    const sa = stackArgAccess(i);
    if (sa) return sa.dir === 'store' ? ud(code8 === 0x7a ? 0 : 1 << i.src, stackArgBit(sa.slot)) : ud(0, 1 << i.dst);
  }
  const cls = code8 & 0x07;
  const code = code8 & 0xf0;
  const mode = code8 & 0xe0;
  const x = (code8 & 0x08) !== 0;
  const dst = 1 << i.dst;
  const src = 1 << i.src;
  switch (cls) {
    case 0x00: // LD: only ld_imm64 has sets of its own; ABS/IND keep the defaults
      return mode === 0x00 && (code8 & 0x18) === 0x18 ? ud(0, dst) : ud(0xffff, 0);
    case 0x01: // LDX
      return mode === 0x60 || mode === 0x80 ? ud(src, dst) : ud(0xffff, 0);
    case 0x02: // ST
      return mode === 0x60 ? ud(dst, 0) : ud(0xffff, 0);
    case 0x03: // STX
      if (mode === 0x60) return ud(dst | src, 0);
      if (mode !== 0xc0) return ud(0xffff, 0);
      if (i.imm === 0xf1) return ud(R0 | dst | src, R0);
      if (i.imm === 0x100) return ud(src, dst);
      if (i.imm === 0x110) return ud(dst | src, 0);
      return ud(dst | src, i.imm & 1 ? src : 0);
    case 0x04:
    case 0x07: // ALU, ALU64
      if (code === 0xd0) return ud(dst, dst);
      if (code === 0xb0) return ud(x ? src : 0, dst);
      return ud(x ? dst | src : dst, dst);
    default: // JMP, JMP32
      switch (code) {
        case 0x00:
          return ud(x ? dst : 0, 0);
        case 0xe0:
          return ud(0, 0);
        case 0x90:
          return ud(R0, 0);
        case 0x80: {
          const n = argCount(pc, i);
          return ud(n === undefined ? ALL_CALLER_SAVED & ~R0 : callUse(n), ALL_CALLER_SAVED | ALL_STACK_ARGS);
        }
        default:
          return ud(x ? dst | src : dst, 0);
      }
  }
}

/** Default call-argument counts: helpers from the table, kfuncs and subprograms from protos. */
export function defaultCallArgCount(program: Program, progType?: ProgType): (pc: number, i: Insn) => number | undefined {
  const protos = new Map((program.protos ?? []).map((p) => [p.name, p.params.length]));
  const kfuncAt = new Map((program.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => [r.insn, r.name]));
  const subByStart = new Map((program.subprogs ?? []).map((s) => [s.start, s]));
  return (pc, i) => {
    if (i.src === 0) return helperArgCount(i.imm, progType);
    if (i.src === 2) {
      const name = kfuncAt.get(pc);
      return name === undefined ? undefined : protos.get(name);
    }
    // BPF-to-BPF: the kernel summarises only helpers and kfuncs, so r1..r5 are read; stack
    // arguments come from the callee's declared count.
    const callee = subByStart.get(pc + i.imm + 1);
    const n = callee?.argCount ?? (callee ? protos.get(callee.name) : undefined);
    return n === undefined || n <= 5 ? undefined : n;
  };
}

/** Compute liveness. Throws `CfgError` for structurally invalid programs. */
export function computeLiveness(program: Program, opts: LivenessOptions = {}): Liveness {
  const n = program.insns.length;
  // one buffer for the CFG's arrays and these (use, def, liveIn, incomingReads, late)
  const slab = new Slab(n > SLAB_MAX ? 0 : cfgSlabBytes(n) + 4 * (3 * n) + 2 * n + 3 * 8);
  const cfg = buildCfgIn(slab, program, opts.selfLoops, opts.entries ?? []);
  const argCount = opts.callArgCount ?? defaultCallArgCount({ ...program, subprogs: cfg.subprogs }, opts.progType ?? program.type);
  const use = slab.u32(n);
  const def = slab.u32(n);
  const incomingReads = slab.u8(n);
  useDefs(program.insns, n, argCount, use, def, incomingReads);
  const liveIn = slab.u32(n);
  // (the kernel's postorder may list a successor after its slot even without a loop: a slot
  // pushed by one branch and reached first by the other, so the late slots are always found)
  const late = lateSlots(slab, cfg, n);
  const passes = registerFixpoint(cfg, use, def, liveIn, late);
  return new Computed(program, cfg, use, def, liveIn, incomingReads, passes, late);
}

/** Per slot: the registers it uses and defines, and the incoming stack-argument slots it reads. */
function useDefs(
  insns: readonly Insn[],
  n: number,
  argCount: (pc: number, i: Insn) => number | undefined,
  use: Uint32Array,
  def: Uint32Array,
  incomingReads: Uint8Array,
): void {
  for (let pc = 0; pc < n; pc++) {
    const i = insns[pc]!;
    useDef(i, pc, argCount);
    // subprogram calls with more than five arguments still read r1..r5 like the kernel's
    use[pc] = i.code === 0x85 && i.src === 1 ? (udUse & ~0x3f) | 0x3e : udUse;
    def[pc] = udDef;
    if (i.code === 0x79 && i.src === 11) {
      const sa = stackArgAccess(i);
      if (sa?.dir === 'load') incomingReads[pc] = 1 << sa.slot;
    }
    if (i.code === 0x18) pc++;
  }
}

/** `in = (out \ def) ∪ use` over the postorder until no late slot changes; returns the passes made. */
function registerFixpoint(cfg: Cfg, use: Uint32Array, def: Uint32Array, liveIn: Uint32Array, late: Uint8Array): number {
  const post = cfg.postorder;
  const { succStart, succTarget } = cfg;
  let passes = 0;
  for (let again = true; again; ) {
    again = false;
    passes++;
    for (let k = 0; k < post.length; k++) {
      const pc = post[k]!;
      let out = 0;
      const to = succStart[pc + 1]!;
      for (let e = succStart[pc]!; e < to; e++) out |= liveIn[succTarget[e]!]!;
      const inn = ((out & ~def[pc]!) | use[pc]!) >>> 0;
      if (inn !== liveIn[pc]) {
        liveIn[pc] = inn;
        if (late[pc] === 1) again = true;
      }
    }
  }
  return passes;
}

/**
 * computeLiveness's result: the stack slots' liveness is computed on first use (the verifier,
 * which reads the registers' only, made it for every program: issue 25).
 */
class Computed implements Liveness {
  private stack: { stackLiveIn: Uint32Array; escapes: boolean[] } | undefined;
  constructor(
    private readonly program: Program,
    readonly cfg: Cfg,
    readonly use: Uint32Array,
    readonly def: Uint32Array,
    readonly liveIn: Uint32Array,
    readonly incomingReads: Uint8Array,
    readonly passes: number,
    private readonly late: Uint8Array,
  ) {}
  get stackLiveIn(): Uint32Array {
    return (this.stack ??= stackLiveness(this.program, this.cfg, this.late)).stackLiveIn;
  }
  get escapes(): readonly boolean[] {
    return (this.stack ??= stackLiveness(this.program, this.cfg, this.late)).escapes;
  }
}

/**
 * The slots a pass over the postorder reads before it computes them (1): the targets of edges
 * that go forward in the postorder (a loop's back edge, a self loop). A pass in which none of
 * them changed reached the fixpoint, as a further pass would find (the same least fixpoint,
 * one pass fewer: a program without loops takes one pass, not two).
 */
function lateSlots(slab: Slab, cfg: Cfg, n: number): Uint8Array {
  const { postorder: post, succStart, succTarget } = cfg;
  const index = scratchI32(11, n);
  for (let k = 0; k < post.length; k++) index[post[k]!] = k;
  const late = slab.u8(n);
  for (let k = 0; k < post.length; k++) {
    const pc = post[k]!;
    for (let e = succStart[pc]!; e < succStart[pc + 1]!; e++) if (index[succTarget[e]!]! >= k) late[succTarget[e]!] = 1;
  }
  return late;
}

/**
 * r10 stack-slot liveness per frame: loads from `fp-off` use the 8-byte slots they touch, a
 * full aligned 8-byte store defines one. When a subprogram lets its frame address escape
 * (`rX = r10`), calls and accesses through other registers are taken to read every slot.
 */
function stackLiveness(program: Program, cfg: Cfg, late: Uint8Array): { stackLiveIn: Uint32Array; escapes: boolean[] } {
  const insns = program.insns;
  const n = insns.length;
  const escapes = cfg.subprogs.map((s) => {
    for (let pc = s.start; pc < s.end; pc++) {
      const i = insns[pc]!;
      const op = decodeOp(i);
      if (op.kind === 'alu' && op.useReg && i.src === 10) return true;
      if (op.kind === 'stx' && i.src === 10) return true;
    }
    return false;
  });
  const use = new Uint32Array(n * 2);
  const def = new Uint32Array(n * 2);
  for (let pc = 0; pc < n; pc++) {
    const i = insns[pc]!;
    const op = decodeOp(i);
    const esc = escapes[cfg.subprogOf[pc]!]!;
    if (op.kind === 'ldx') {
      if (i.src === 10 && i.off < 0) setBits(use, pc, slotOf(i.off + op.size - 1), slotOf(i.off));
      else if (esc && i.src !== 11) setBits(use, pc, 0, 63);
    } else if (op.kind === 'st' || op.kind === 'stx') {
      if (i.dst === 10 && i.off < 0) {
        if (op.size === 8 && i.off % 8 === 0) setBits(def, pc, slotOf(i.off), slotOf(i.off));
      }
    } else if (op.kind === 'atomic') {
      if (i.dst === 10 && i.off < 0) setBits(use, pc, slotOf(i.off + op.size - 1), slotOf(i.off));
      else if (esc) setBits(use, pc, 0, 63);
    } else if (op.kind === 'call' && esc) setBits(use, pc, 0, 63);
    if (op.kind === 'ld_imm64') pc++;
  }
  const liveIn = new Uint32Array(n * 2);
  const post = cfg.postorder;
  const { succStart, succTarget } = cfg;
  // as the registers' fixpoint: another pass only when a slot read before it was computed changed
  for (let again = true; again; ) {
    again = false;
    for (let k = 0; k < post.length; k++) {
      const pc = post[k]!;
      for (let w = 0; w < 2; w++) {
        let out = 0;
        for (let e = succStart[pc]!; e < succStart[pc + 1]!; e++) out |= liveIn[succTarget[e]! * 2 + w]!;
        const inn = ((out & ~def[pc * 2 + w]!) | use[pc * 2 + w]!) >>> 0;
        if (inn !== liveIn[pc * 2 + w]) {
          liveIn[pc * 2 + w] = inn;
          if (late[pc] === 1) again = true;
        }
      }
    }
  }
  return { stackLiveIn: liveIn, escapes };
}

/** Stack slots `lo..hi` of `pc` set in `arr` (two words per slot); slot k covers fp-8(k+1) .. fp-8k-1. */
function setBits(arr: Uint32Array, pc: number, lo: number, hi: number): void {
  for (let k = lo; k <= hi; k++) if (k >= 0 && k < 64) arr[pc * 2 + (k >> 5)]! |= 1 << (k & 31);
}

const slotOf = (off: number): number => Math.floor((-off - 1) / 8);

/** Live stack slots before `pc` as frame offsets (-8, -16, ...). */
export function liveStackOffsets(l: Liveness, pc: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < 64; k++) if (l.stackLiveIn[pc * 2 + (k >> 5)]! & (1 << (k & 31))) out.push(-8 * (k + 1));
  return out;
}
