/**
 * The x86-64 JIT: a `Program` to machine code with the kernel's register mapping
 * (arch/x86/net/bpf_jit_comp.c) and stack arguments per apps/docs/stack-args.md §5.1:
 * argument 6 lives in r9, arguments 7..12 in an outgoing area at the bottom of the caller's
 * frame (argument M at [rsp + (M-7)*8] at the call — exactly System V's placement, so kfuncs
 * and BPF-to-BPF calls share one layout), and a callee reads argument M at
 * [rbp + 16 + (M-7)*8].
 *
 * Frame, high to low: incoming arguments 7..N (the caller's area), return address, saved rbp
 * (= BPF r10), the BPF stack, the tail-call count and its pointer (programs with tail calls),
 * the may_goto counter (functions with may_goto), the callee-saved registers the function uses
 * (pushed, as the kernel's detect_reg_usage picks them; a tail call pops them before its jump),
 * the outgoing area at rsp; rsp stays 16-byte aligned at every call.
 *
 * Exceptions (arch/x86/net/bpf_jit_comp.c, emit_prologue and do_jit): the main function of a
 * program that calls `bpf_throw` is the exception boundary (aux->exception_boundary) and pushes
 * r12, rbx, r13, r14, r15 whatever it uses (its alignment padding sits above them, with its
 * stack); the exception callback (aux->exception_cb) is entered by the host's bpf_throw with
 * (cookie, sp, bp) of the boundary's frame at its call, takes that frame over (`mov rsp, rsi`,
 * `mov rbp, rdx`), pops the five registers the boundary saved and returns, from the boundary's
 * frame, to the program's caller.
 *
 * Tail calls (arch/x86/net/bpf_jit_comp.c emit_bpf_tail_call_indirect): a prog array is, natively,
 * `u32 max_entries; u32 pad; u64 entry[max_entries]` (entry addresses, 0 = empty); the call site
 * checks the index, the count (MAX_TAIL_CALL_CNT = 33) and the slot, counts, unwinds its own
 * frame but for the saved rbp, and jumps TAIL_CALL_OFFSET bytes into the target, past
 * `xor eax, eax; push rbp; mov rbp, rsp`. rax carries the count (from a main program) or a
 * pointer to it (from a subprogram, whose frame dies with the jump), as the kernel does.
 */
import { analyseFrames, decodeOp, JitError, type AnalysedProgram, type Insn, type JitReloc, type JitResult, type Program } from '@bpf/isa';
import { Asm, X, type Cond, type Listed } from './emit.js';

/** BPF register -> x86 register: r0 rax, r1..r5 rdi rsi rdx rcx r8, r6..r9 rbx r13 r14 r15, r10 rbp. */
export const REG_MAP: readonly number[] = [X.rax, X.rdi, X.rsi, X.rdx, X.rcx, X.r8, X.rbx, X.r13, X.r14, X.r15, X.rbp];
/** Scratch registers the JIT keeps for itself (r9 carries argument 6). */
const AUX = X.r10;
const TMP = X.r11;
const TMP2 = X.r12;
const SAVED = [X.rbx, X.r12, X.r13, X.r14, X.r15] as const;
/** What an exception boundary pushes, in the kernel's order (push_r12, then push_callee_regs of all four). */
const BOUNDARY_SAVED = [X.r12, X.rbx, X.r13, X.r14, X.r15] as const;
/** The kfunc that throws (kernel/bpf/helpers.c). */
export const BPF_THROW = 'bpf_throw';
const MAY_GOTO_LOOPS = 8_388_608;
/** The kernel's MAX_TAIL_CALL_CNT. */
const MAX_TAIL_CALL_CNT = 33;
/** Bytes of every main program's entry a tail call skips: `xor eax, eax` (or a 2-byte nop), `push rbp`, `mov rbp, rsp`. */
export const TAIL_CALL_OFFSET = 6;
/** Native prog-array layout: max_entries at 0, the entry addresses from 8. */
export const PROG_ARRAY_ENTRIES = 8;
/** bpf_tail_call and bpf_loop helper ids. */
const TAIL_CALL = 12;
/**
 * The functions ld_abs/ld_ind call, as the verifier rewrites them (net/core/filter.c
 * bpf_gen_ld_abs): (ctx, int offset) -> the big-endian value, or a negative error.
 */
export const LD_ABS_HELPERS: Readonly<Record<1 | 2 | 4, string>> = {
  1: 'bpf_skb_load_helper_8_no_cache',
  2: 'bpf_skb_load_helper_16_no_cache',
  4: 'bpf_skb_load_helper_32_no_cache',
};


export interface X86JitResult extends JitResult {
  /** Every native instruction with its offset, bytes and Intel-syntax text. */
  readonly listing: readonly Listed[];
}

const COND: Record<string, Cond> = {
  jeq: 'e', jne: 'ne', jgt: 'a', jge: 'ae', jlt: 'b', jle: 'be', jsgt: 'g', jsge: 'ge', jslt: 'l', jsle: 'le', jset: 'ne',
};

interface Frame {
  readonly isMain: boolean;
  /** The main function of a program that throws: it saves every callee-saved register. */
  readonly boundary: boolean;
  /** The exception callback: it starts in the boundary's frame. */
  readonly exceptionCb: boolean;
  /** Bytes below rbp for the BPF stack, the tail-call slots and the may_goto counter (and a boundary's padding). */
  readonly local: number;
  /** A boundary with nothing else below rbp but 8 bytes of padding: one `push rax` makes them. */
  readonly padPush: boolean;
  /** Callee-saved registers pushed below that, in push order. */
  readonly saved: readonly number[];
  /** Outgoing area plus alignment, below the pushes. */
  readonly below: number;
  /** rbp-relative slots (0 when absent). */
  readonly tccAt: number;
  readonly tccPtrAt: number;
  readonly counterAt: number;
  /** The subprogram's last instruction when it is an exit (other exits jump to its epilogue), else -1. */
  readonly lastExit: number;
}

/** Code generation choices. */
export interface JitX86Options {
  /**
   * Use BMI2's shlx/shrx/sarx for shifts by a register, as the kernel does on CPUs that have
   * it (Intel Haswell, AMD Excavator and later). Default true; pass false for older CPUs.
   */
  readonly bmi2?: boolean;
}

function frameOf(
  sp: { readonly stackDepth: number; readonly outgoingStackArgs: number },
  role: { readonly isMain: boolean; readonly boundary: boolean; readonly exceptionCb: boolean },
  used: readonly number[],
  tailCalls: boolean,
  mayGoto: boolean,
  lastExit: number,
  leaf: boolean,
): Frame {
  const d = (sp.stackDepth + 7) & ~7;
  const tccAt = tailCalls ? -d - 8 : 0;
  const tccPtrAt = tailCalls ? -d - 16 : 0;
  const local = d + (tailCalls ? 16 : 0) + (mayGoto ? 8 : 0);
  const counterAt = mayGoto ? -local : 0;
  const outArea = Math.max(0, sp.outgoingStackArgs - 1) * 8; // argument 6 travels in r9
  const saved = role.boundary ? BOUNDARY_SAVED : used;
  const total = local + saved.length * 8 + outArea;
  // rsp is 16-byte aligned at calls: a function that makes none needs no padding
  const pad = leaf ? 0 : ((total + 15) & ~15) - total;
  // a boundary keeps its pushes next to the outgoing area (its rsp at a call, which bpf_throw
  // hands the exception callback): its padding goes with its stack, above them
  if (role.boundary) return { ...role, local: local + pad, padPush: local === 0 && pad === 8, saved, below: outArea, tccAt, tccPtrAt, counterAt, lastExit };
  return { ...role, local, padPush: false, saved, below: outArea + pad, tccAt, tccPtrAt, counterAt, lastExit };
}

/** The callee-saved registers a function touches (the kernel's detect_reg_usage): BPF r6..r9 as dst or src, and r12 for the fetch-or/and/xor loops. */
function usedSaved(insns: readonly Insn[], start: number, end: number): number[] {
  const bpf = new Set<number>();
  let r12 = false;
  for (let pc = start; pc < end; pc++) {
    const i = insns[pc]!;
    bpf.add(i.dst).add(i.src);
    if ((i.code & 0xe7) === 0xc3 && (i.imm === 0x41 || i.imm === 0x51 || i.imm === 0xa1)) r12 = true;
  }
  return SAVED.filter((r) => (r === X.r12 ? r12 : REG_MAP.slice(6, 10).includes(r) && bpf.has(REG_MAP.indexOf(r))));
}

const isTailCall = (i: Insn): boolean => i.code === 0x85 && i.src === 0 && i.imm === TAIL_CALL;

/**
 * Subprograms whose address a program takes (ld_imm64 src=4): callbacks, which a helper calls
 * natively without the tail-call count pointer, so no tail call may be reachable from them.
 */
function checkCallbacks(ap: AnalysedProgram): void {
  const insns = ap.insns;
  const indexOf = (start: number): number => ap.subprogs.findIndex((sp) => sp.start === start);
  // the exception callback too: the host's bpf_throw enters it without the count pointer
  const todo: number[] = ap.subprogs.flatMap((sp, k) => (sp.exceptionCallback ? [k] : []));
  insns.forEach((i, pc) => {
    if (i.code === 0x18 && i.src === 4) todo.push(indexOf(pc + i.imm + 1));
  });
  const seen = new Set<number>();
  while (todo.length) {
    const k = todo.pop()!;
    if (k < 0 || seen.has(k)) continue;
    seen.add(k);
    const sp = ap.subprogs[k]!;
    for (let pc = sp.start; pc < sp.end; pc++) {
      const i = insns[pc]!;
      if (isTailCall(i)) throw new JitError('UNSUPPORTED', 'a tail call reachable from a callback (the helper that calls it passes no tail-call count)', pc);
      if (i.code === 0x85 && i.src === 1) todo.push(indexOf(pc + i.imm + 1));
    }
  }
}

/** Compile a program. Frame facts come from `program.subprogs` when analysed (the verifier's), else from a syntactic analysis. */
export function jitX86(program: Program, opts: JitX86Options = {}): X86JitResult {
  const bmi2 = opts.bmi2 ?? true;
  const ap: AnalysedProgram = analyseFrames(program);
  const insns = ap.insns;
  const kfuncAt = new Map((ap.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => [r.insn, r.name]));
  const mapAt = new Map((ap.relocs ?? []).filter((r) => r.kind === 'map' || r.kind === 'map_value').map((r) => [r.insn, r]));
  const tailCalls = insns.some(isTailCall);
  if (tailCalls) checkCallbacks(ap);
  // the verifier's seen_exception: a bpf_throw it kept makes the main function the boundary
  const throws = [...kfuncAt.values()].includes(BPF_THROW);
  const exceptionCallback = ap.subprogs.findIndex((sp) => sp.exceptionCallback === true);
  if (exceptionCallback === 0) throw new JitError('BAD_PROGRAM', 'the main function cannot be the exception callback', 0);
  const frames = ap.subprogs.map((sp, k) => {
    const mayGoto = usesMayGoto(insns, sp.start, sp.end);
    const lastExit = insns[sp.end - 1]?.code === 0x95 ? sp.end - 1 : -1;
    const role = { isMain: k === 0, boundary: k === 0 && throws, exceptionCb: k === exceptionCallback };
    // a tail call pops this function's registers before the jump and the target pushes its own
    return frameOf(sp, role, usedSaved(insns, sp.start, sp.end), tailCalls, mayGoto, lastExit, !makesCalls(insns, sp.start, sp.end));
  });
  const near = new Uint8Array(insns.length);
  let offsets = new Int32Array(insns.length + 1);
  let entries: number[] = ap.subprogs.map(() => 0);
  for (let pass = 1; ; pass++) {
    const a = new Asm();
    const relocs: JitReloc[] = [];
    const newOffsets = new Int32Array(insns.length + 1).fill(-1);
    const newEntries: number[] = [];
    let grew = false;
    for (const [k, sp] of ap.subprogs.entries()) {
      const f = frames[k]!;
      newEntries.push(a.offset);
      prologue(a, f, tailCalls, frames[0]!);
      for (let pc = sp.start; pc < sp.end; pc++) {
        newOffsets[pc] = a.offset;
        const i = insns[pc]!;
        const jumpTo = (target: number, cond: Cond | null): void => {
          // a target behind is where this pass put it; one ahead, where the last pass did
          const dest = target <= pc ? newOffsets[target]! : (offsets[target] ?? 0);
          const isNear = near[pc] === 1;
          a.jump(cond, dest, isNear);
          // ahead, the last pass's offset may lag behind this pass's growth: only the far side counts
          const rel = dest - a.offset;
          if (!isNear && pass > 1 && (target <= pc ? rel < -128 : rel > 127)) {
            near[pc] = 1;
            grew = true;
          }
        };
        lower(a, i, pc, insns, f, jumpTo, relocs, entries, ap, kfuncAt, mapAt, bmi2);
        if (i.code === 0x18) {
          pc++;
          newOffsets[pc] = -1;
        }
      }
    }
    newOffsets[insns.length] = a.offset;
    const stable = !grew && pass > 1 && newOffsets.every((v, k) => v === offsets[k]) && newEntries.every((v, k) => v === entries[k]);
    offsets = newOffsets;
    entries = newEntries;
    if (stable || pass > 20) {
      if (!stable) throw new Error('internal: x86 JIT did not converge');
      return {
        arch: 'x86_64',
        code: Uint8Array.from(a.bytes),
        entries,
        lineTable: Array.from(offsets.subarray(0, insns.length)),
        relocs,
        passes: pass,
        listing: a.listing,
        ...(throws && exceptionCallback > 0 ? { exceptionCallback } : {}),
      };
    }
  }
}

/** Whether a function calls anything: helpers, kfuncs, subprograms, or the ld_abs/ld_ind load helpers. */
function makesCalls(insns: readonly Insn[], start: number, end: number): boolean {
  for (let pc = start; pc < end; pc++) {
    const c = insns[pc]!.code;
    if (c === 0x85 || ((c & 0x07) === 0 && ((c & 0xe0) === 0x20 || (c & 0xe0) === 0x40))) return true;
  }
  return false;
}

function usesMayGoto(insns: readonly Insn[], start: number, end: number): boolean {
  for (let pc = start; pc < end; pc++) if (insns[pc]!.code === 0xe5) return true;
  return false;
}

function prologue(a: Asm, f: Frame, tailCalls: boolean, main: Frame): void {
  // a main program's first TAIL_CALL_OFFSET bytes are fixed: a tail call lands after them
  if (f.isMain) {
    if (tailCalls) a.rr('xor', X.rax, X.rax, 32);
    else a.nop2();
  }
  if (f.exceptionCb) {
    // bpf_throw(cookie) enters here with rsi = the boundary's rsp at its call, rdx = its rbp:
    // restore what the boundary saved and take its frame over (emit_prologue, is_exception_cb)
    a.rr('mov', X.rsp, X.rsi, 64);
    if (main.below) a.ri('add', X.rsp, main.below, 64);
    a.rr('mov', X.rbp, X.rdx, 64);
    for (const r of [...BOUNDARY_SAVED].reverse()) a.pop(r);
    a.rr('mov', X.rsp, X.rbp, 64);
  } else {
    a.push(X.rbp);
    a.rr('mov', X.rbp, X.rsp, 64);
  }
  if (f.padPush) a.push(X.rax);
  else if (f.local) a.ri('sub', X.rsp, f.local, 64);
  if (tailCalls) {
    if (f.isMain) {
      // rax: the count (<= 33: the program's entry, or a tail call from a main program), or a
      // pointer to it (a tail call from a subprogram)
      a.ri('cmp', X.rax, MAX_TAIL_CALL_CNT, 64);
      const j = a.offset;
      a.jump('a', j, false);
      a.store(X.rbp, f.tccAt, X.rax, 8);
      a.lea(X.rax, X.rbp, f.tccAt);
      a.patchShort(j, a.offset);
    }
    // a subprogram gets the pointer from its caller
    a.store(X.rbp, f.tccPtrAt, X.rax, 8);
  }
  for (const r of f.saved) a.push(r);
  if (f.below) a.ri('sub', X.rsp, f.below, 64);
  if (f.counterAt) a.storeImm(X.rbp, f.counterAt, MAY_GOTO_LOOPS, 8);
}

/** Back to rbp: pop the callee-saved registers and drop the frame, leaving the saved rbp on top. */
function unwind(a: Asm, f: Frame): void {
  if (f.saved.length) {
    if (f.below) a.ri('add', X.rsp, f.below, 64);
    for (const r of [...f.saved].reverse()) a.pop(r);
  }
}

/** Bytes of {@link epilogue}. */
function epilogueSize(f: Frame): number {
  if (!f.saved.length) return 2;
  const below = f.below ? (f.below <= 127 ? 4 : 7) : 0;
  return below + f.saved.reduce((n, r) => n + (r >= 8 ? 2 : 1), 0) + 2;
}

function epilogue(a: Asm, f: Frame): void {
  unwind(a, f);
  a.leave();
  a.ret();
}

/**
 * bpf_tail_call(r1 = ctx, r2 = prog array, r3 = index): as emit_bpf_tail_call_indirect, a
 * failed check falls through with r0..r5 clobbered.
 */
function tailCall(a: Asm, f: Frame): void {
  const outs: number[] = [];
  const out = (cond: Cond): void => {
    outs.push(a.offset);
    a.jump(cond, a.offset, false);
  };
  a.rr('mov', X.rdx, X.rdx, 32); // the index is a u32
  a.cmpMem(X.rdx, X.rsi, 0, 32);
  out('ae');
  a.load(X.rax, X.rbp, f.tccPtrAt, 8, false);
  a.memImm8('cmp', X.rax, 0, MAX_TAIL_CALL_CNT);
  out('ae');
  a.loadIndexed(X.rcx, X.rsi, X.rdx, PROG_ARRAY_ENTRIES);
  a.rr('test', X.rcx, X.rcx, 64);
  out('e');
  a.memImm8('add', X.rax, 0, 1);
  // from a main program the target gets the count (this frame's slot is about to be reused)
  if (f.isMain) a.load(X.rax, X.rax, 0, 8, false);
  unwind(a, f);
  a.rr('mov', X.rsp, X.rbp, 64);
  a.ri('add', X.rcx, TAIL_CALL_OFFSET, 64);
  a.jmpReg(X.rcx);
  // the sequence is at most ~80 bytes: short jumps reach past it
  for (const at of outs) a.patchShort(at, a.offset);
}

/** ld_abs / ld_ind as the verifier rewrites them: r2 = offset, r1 = r6 (ctx), call the load helper, exit with 0 on an error. */
function ldAbs(a: Asm, i: Insn, size: 1 | 2 | 4, indirect: boolean, f: Frame, relocs: JitReloc[], jumpTo: (target: number, cond: Cond | null) => void): void {
  if (indirect) {
    a.rr('mov', X.rsi, REG_MAP[i.src]!, 64);
    if (i.imm !== 0) a.ri('add', X.rsi, i.imm, 64);
  } else a.movImm(X.rsi, BigInt(i.imm), 64);
  a.rr('mov', X.rdi, REG_MAP[6]!, 64);
  relocs.push({ offset: a.movabs(X.rax, 0n), kind: 'abs64', symbol: { kind: 'kfunc', name: LD_ABS_HELPERS[size] } });
  a.callReg(X.rax);
  a.rr('test', X.rax, X.rax, 64);
  const j = a.offset;
  a.jump('ge', j, false);
  a.rr('xor', X.rax, X.rax, 32);
  // the function's last exit has the epilogue: a jump there, when shorter
  if (f.lastExit >= 0 && epilogueSize(f) > 2) jumpTo(f.lastExit, null);
  else epilogue(a, f);
  a.patchShort(j, a.offset);
}

/** An immediate that leaves the destination as it is. */
const identity = (op: 'add' | 'sub' | 'and' | 'or' | 'xor', imm: number): boolean => (op === 'and' ? imm === -1 : imm === 0);

function lower(
  a: Asm,
  i: Insn,
  pc: number,
  insns: readonly Insn[],
  f: Frame,
  jumpTo: (target: number, cond: Cond | null) => void,
  relocs: JitReloc[],
  entries: readonly number[],
  ap: AnalysedProgram,
  kfuncAt: ReadonlyMap<number, string>,
  mapAt: ReadonlyMap<number, { readonly kind: string; readonly name: string; readonly offset?: number }>,
  bmi2: boolean,
): void {
  const op = decodeOp(i);
  const d = REG_MAP[i.dst] ?? -1;
  const s = REG_MAP[i.src] ?? -1;
  const fail = (msg: string): never => {
    throw new JitError('UNSUPPORTED', msg, pc);
  };
  switch (op.kind) {
    case 'alu': {
      const w = op.is64 ? 64 : 32;
      const imm = i.imm;
      switch (op.op) {
        case 'mov':
          if (op.useReg) a.rr('mov', d, s, w);
          else a.movImm(d, BigInt(imm), w);
          return;
        case 'movsx':
          if (op.sxBits === 32) a.extend('movsxd', d, s, 32, 64);
          else a.extend('movsx', d, s, op.sxBits!, w);
          return;
        case 'add':
        case 'sub':
        case 'and':
        case 'or':
        case 'xor':
          if (op.useReg) a.rr(op.op, d, s, w);
          else if (identity(op.op, imm)) {
            // x+0, x-0, x|0, x^0, x&-1: nothing to do but the 32-bit zero extension
            if (w === 32) a.rr('mov', d, d, 32);
          } else a.ri(op.op, d, imm, w);
          return;
        case 'mul':
          if (op.useReg) a.imul(d, s, w);
          else if (imm === 1) {
            if (w === 32) a.rr('mov', d, d, 32);
          } else a.imulImm(d, imm, w);
          return;
        case 'neg':
          a.unary('neg', d, w);
          return;
        case 'lsh':
        case 'rsh':
        case 'arsh': {
          const m = op.op === 'lsh' ? 'shl' : op.op === 'rsh' ? 'shr' : 'sar';
          if (!op.useReg) {
            const n = imm & (w - 1);
            if (n !== 0 || w === 32) {
              if (n === 0) a.rr('mov', d, d, 32);
              else a.shift(m, d, n, w);
            }
            return;
          }
          // r4 (rcx) already holds the count in cl
          if (s === X.rcx) return a.shift(m, d, 'cl', w);
          if (bmi2) return a.shiftx(`${m}x` as 'shlx' | 'shrx' | 'sarx', d, d, s, w);
          // the count must be in cl; rcx is BPF r4
          a.rr('mov', TMP, X.rcx, 64);
          a.rr('mov', X.rcx, s, 64);
          const target = d === X.rcx ? TMP : d;
          a.shift(m, target, 'cl', w);
          // rcx gets back r4, or the result when r4 was the destination
          a.rr('mov', X.rcx, TMP, 64);
          return;
        }
        case 'div':
        case 'mod':
        case 'sdiv':
        case 'smod':
          return divmod(a, op.op, d, op.useReg ? s : null, imm, w);
        default:
          return fail('unknown ALU operation');
      }
    }
    case 'endian': {
      if (op.order === 'le') {
        if (op.bits === 16) a.extend('movzx', d, d, 16, 32);
        else if (op.bits === 32) a.rr('mov', d, d, 32);
        return;
      }
      if (op.bits === 16) {
        a.rol16by8(d);
        a.extend('movzx', d, d, 16, 32);
      } else a.bswap(d, op.bits === 32 ? 32 : 64);
      return;
    }
    case 'ldx':
      if (i.src === 11) {
        const k = i.off / 8;
        if (k === 1) a.rr('mov', d, X.r9, 64);
        else a.load(d, X.rbp, 16 + (k - 2) * 8, 8, false);
        return;
      }
      a.load(d, s, i.off, op.size, op.signed);
      return;
    case 'st':
      if (i.dst === 11) {
        const k = -i.off / 8;
        if (k === 1) a.movImm(X.r9, BigInt(i.imm), 64);
        else a.storeImm(X.rsp, (k - 2) * 8, i.imm, 8);
        return;
      }
      a.storeImm(d, i.off, i.imm, op.size);
      return;
    case 'stx':
      if (i.dst === 11) {
        const k = -i.off / 8;
        if (k === 1) a.rr('mov', X.r9, s, 64);
        else a.store(X.rsp, (k - 2) * 8, s, 8);
        return;
      }
      a.store(d, i.off, s, op.size);
      return;
    case 'atomic': {
      if (op.op === 'load_acquire') return a.load(d, s, i.off, op.size, false);
      if (op.op === 'store_release') return a.store(d, i.off, s, op.size);
      const w = op.size === 8 ? 64 : 32;
      if (op.op === 'xchg') return a.lockOp('xchg', d, i.off, s, w);
      if (op.op === 'cmpxchg') {
        a.lockOp('cmpxchg', d, i.off, s, w);
        if (w === 32) a.rr('mov', X.rax, X.rax, 32);
        return;
      }
      if (!op.fetch) return a.lockAlu(op.op as 'add' | 'or' | 'and' | 'xor', d, i.off, s, w);
      if (op.op === 'add') return a.lockOp('xadd', d, i.off, s, w);
      // fetch or/and/xor: a cmpxchg loop (rax is BPF r0: keep it)
      a.rr('mov', AUX, s, 64);
      a.lea(TMP2, d, i.off);
      a.push(X.rax);
      a.load(X.rax, TMP2, 0, op.size, false);
      const loop = a.offset;
      a.rr('mov', TMP, X.rax, w);
      a.rr(op.op as 'or' | 'and' | 'xor', TMP, AUX, w);
      a.lockOp('cmpxchg', TMP2, 0, TMP, w);
      a.jump('ne', loop, false);
      a.rr('mov', TMP, X.rax, w);
      a.pop(X.rax);
      a.rr('mov', s, TMP, 64);
      return;
    }
    case 'jmp': {
      const target = pc + i.off + 1;
      if (op.cond === 'ja') return jumpTo(target, null);
      const w = op.is64 ? 64 : 32;
      if (op.cond === 'jset') {
        if (op.useReg) a.rr('test', d, s, w);
        else a.testImm(d, i.imm, w);
      } else if (op.useReg) a.rr('cmp', d, s, w);
      // against 0, test sets ZF/SF as cmp does and clears CF/OF as cmp with 0 leaves them: one byte less
      else if (i.imm === 0) a.rr('test', d, d, w);
      else a.ri('cmp', d, i.imm, w);
      return jumpTo(target, COND[op.cond]!);
    }
    case 'gotol':
      return jumpTo(pc + i.imm + 1, null);
    case 'may_goto':
      a.load(TMP, X.rbp, f.counterAt, 8, false);
      a.rr('test', TMP, TMP, 64);
      jumpTo(pc + i.off + 1, 'e');
      a.ri('sub', TMP, 1, 64);
      a.store(X.rbp, f.counterAt, TMP, 8);
      return;
    case 'call': {
      if (op.target === 'subprog') {
        const target = pc + i.imm + 1;
        const k = ap.subprogs.findIndex((sp) => sp.start === target);
        if (k < 0) throw new JitError('BAD_PROGRAM', `call to ${target}, which starts no subprogram`, pc);
        if (f.tccPtrAt) a.load(X.rax, X.rbp, f.tccPtrAt, 8, false);
        return a.callRel(entries[k] ?? 0);
      }
      if (op.target === 'helper' && i.imm === TAIL_CALL) return tailCall(a, f);
      const symbol =
        op.target === 'helper'
          ? ({ kind: 'helper', id: i.imm } as const)
          : ({ kind: 'kfunc', name: kfuncAt.get(pc) ?? `btf#${i.imm}`, ...(kfuncAt.has(pc) ? {} : { btfId: i.imm }) } as const);
      relocs.push({ offset: a.movabs(X.rax, 0n), kind: 'abs64', symbol });
      a.callReg(X.rax);
      return;
    }
    case 'exit':
      // a shared epilogue: the function's last exit, when a jump there is shorter
      if (f.lastExit >= 0 && pc !== f.lastExit && epilogueSize(f) > 2) return jumpTo(f.lastExit, null);
      return epilogue(a, f);
    case 'ld_imm64': {
      const hi = insns[pc + 1]!;
      if (op.pseudo === 0) return a.movImm(d, (BigInt(hi.imm >>> 0) << 32n) | BigInt(i.imm >>> 0), 64);
      if (op.pseudo === 1 || op.pseudo === 2 || op.pseudo === 5 || op.pseudo === 6) {
        const r = mapAt.get(pc);
        const name = r?.name ?? `map#${i.imm}`;
        const symbol =
          op.pseudo === 2 || op.pseudo === 6
            ? ({ kind: 'map_value', name, offset: r?.offset ?? hi.imm } as const)
            : ({ kind: 'map', name } as const);
        relocs.push({ offset: a.movabs(d, 0n), kind: 'abs64', symbol });
        return;
      }
      if (op.pseudo === 4) {
        // a function pointer (BPF_PSEUDO_FUNC): the subprogram's native entry
        const k = ap.subprogs.findIndex((sp) => sp.start === pc + i.imm + 1);
        if (k < 0) throw new JitError('BAD_PROGRAM', `function pointer to ${pc + i.imm + 1}, which starts no subprogram`, pc);
        return a.leaRip(d, entries[k] ?? 0);
      }
      return fail(`ld_imm64 with pseudo source ${op.pseudo}`);
    }
    case 'ld_abs':
    case 'ld_ind':
      if (op.size === 8) throw new JitError('BAD_PROGRAM', 'ld_abs/ld_ind of 8 bytes', pc);
      return ldAbs(a, i, op.size, op.kind === 'ld_ind', f, relocs, jumpTo);
    default:
      throw new JitError('BAD_PROGRAM', `invalid instruction (code 0x${i.code.toString(16)})`, pc);
  }
}

/**
 * div/mod with the kernel's semantics: x/0 = 0, x%0 = x (zero-extended in 32-bit form),
 * INT_MIN/-1 = INT_MIN and INT_MIN%-1 = 0 (x86 would fault on those). An immediate divisor
 * is known: 0 and -1 need no division, an unsigned power of two is a shift or a mask. A
 * register divisor is tested first, its 0 (and signed -1) cases kept out of line; rax and rdx
 * are saved around the division unless they hold the destination.
 */
function divmod(a: Asm, op: 'div' | 'mod' | 'sdiv' | 'smod', d: number, s: number | null, imm: number, w: 32 | 64): void {
  const signed = op === 'sdiv' || op === 'smod';
  const isDiv = op === 'div' || op === 'sdiv';
  // results for a zero divisor and for a signed -1 divisor; null when d already holds it
  const byZero = (): (() => void) | null => (isDiv ? () => a.rr('xor', d, d, 32) : w === 32 ? () => a.rr('mov', d, d, 32) : null);
  const byMinusOne = (): (() => void) => (isDiv ? () => a.unary('neg', d, w) : () => a.rr('xor', d, d, 32));
  if (s === null) {
    if (imm === 0) return byZero()?.();
    if (signed && imm === -1) return byMinusOne()();
    const v = w === 32 ? imm >>> 0 : imm;
    if (!signed && v > 0 && (v & (v - 1)) === 0) {
      const k = Math.log2(v);
      if (isDiv) {
        if (k > 0) a.shift('shr', d, k, w);
        else if (w === 32) a.rr('mov', d, d, 32);
      } else if (k === 0) a.rr('xor', d, d, 32);
      else a.ri('and', d, v - 1, w);
      return;
    }
  }
  const cases: { readonly jumps: number[]; readonly emit: (() => void) | null }[] = [];
  let divisor = s ?? TMP;
  if (s !== null) {
    a.rr('test', s, s, w);
    cases.push({ jumps: [a.offset], emit: byZero() });
    a.jump('e', a.offset, false);
    if (signed) {
      a.ri('cmp', s, -1, w);
      cases.push({ jumps: [a.offset], emit: byMinusOne() });
      a.jump('e', a.offset, false);
    }
  }
  if (d !== X.rax) a.push(X.rax);
  if (d !== X.rdx) a.push(X.rdx);
  if (s === null) a.movImm(TMP, BigInt(imm), w);
  else if (s === X.rax || s === X.rdx) {
    a.rr('mov', TMP, s, 64);
    divisor = TMP;
  }
  if (d !== X.rax) a.rr('mov', X.rax, d, w);
  if (signed) a.cqo(w);
  else a.rr('xor', X.rdx, X.rdx, 32);
  a.unary(signed ? 'idiv' : 'div', divisor, w);
  const result = isDiv ? X.rax : X.rdx;
  if (d !== result) a.rr('mov', d, result, w);
  if (d !== X.rdx) a.pop(X.rdx);
  if (d !== X.rax) a.pop(X.rax);
  // the out-of-line cases, each ending at the common end
  const ends: number[] = [];
  const emitted = cases.filter((c) => c.emit !== null);
  for (const c of cases) {
    if (c.emit === null) {
      ends.push(...c.jumps);
      continue;
    }
    if (c === emitted[0]) {
      ends.push(a.offset);
      a.jump(null, a.offset, false);
    }
    for (const j of c.jumps) a.patchShort(j, a.offset);
    c.emit();
    if (c !== emitted[emitted.length - 1]) {
      ends.push(a.offset);
      a.jump(null, a.offset, false);
    }
  }
  for (const j of ends) a.patchShort(j, a.offset);
}
