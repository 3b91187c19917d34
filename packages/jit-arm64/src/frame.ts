/**
 * Function frames of the arm64 JIT, after arch/arm64/net/bpf_jit_comp.c (build_prologue,
 * prepare_bpf_tail_call_cnt, push_callee_regs, emit_bpf_tail_call). High to low:
 *
 *   incoming arguments 9..12 (the caller's outgoing area), read at [x29 + 16], [x29 + 24], ...
 *   x29/x30 pair                          <- x29
 *   tail-call pair: main [count, old x26], x26 = its address; subprogram [x26, x26]
 *   the callee-saved registers the function uses (x19..x22 for r6..r9, x25 for r10), in pairs
 *                                         <- x25 = BPF r10
 *   BPF stack (rounded to 16), the may_goto counter, padding
 *   outgoing arguments 9..12              <- sp at calls, 16-byte aligned
 *
 * A main program's first TAIL_CALL_OFFSET bytes (`stp x29, x30`, `mov x29, sp`, `stp xzr, x26`,
 * `mov x26, sp`) are where a tail call does not go: it lands after them, reusing the frame record
 * and the count slot of the program it replaces. x26 always points at the main program's count
 * (AAPCS64 preserves it across helpers, so callbacks a helper runs see it too).
 *
 * Exceptions (push_callee_regs, pop_callee_regs, build_prologue): the main function of a program
 * that calls bpf_throw is the exception boundary and pushes x19..x28 in five pairs whatever it
 * uses, so its pushes end 96 bytes below x29, as the kernel's; the exception callback pushes
 * nothing: the host's bpf_throw enters it with x0 = cookie and x2 = the boundary's x29, it sets
 * x29 from x2 and sp to x29 - 96, and its epilogue pops the boundary's registers, tail-call pair
 * and frame record, returning to the program's caller.
 */
import type { Insn, JitReloc } from '@bpf/isa';
import {
  A64, addImm, addSubImm, br, branch, CALLREG, cmp, cmpImm, FP, HS, LT, ldrScaled, ldrStr0, mem, mov, movImm, patchBranch, patchCbz, pop, push, ret, rr, SP, TMP, TMP2, TMP3, ZR, blr,
} from './a64.js';

/** BPF register -> AArch64 register. */
export const REG_MAP: readonly number[] = [8, 0, 1, 2, 3, 4, 19, 20, 21, 22, 25];
/** The tail-call count pointer (the kernel's TCCNT_PTR). */
export const TCC_PTR = 26;
const MAY_GOTO_LOOPS = 8_388_608;
/** The kernel's MAX_BPF_STACK. */
const MAX_BPF_STACK = 512;
/** The kernel's MAX_TAIL_CALL_CNT. */
export const MAX_TAIL_CALL_CNT = 33;
/** Bytes of every main program's entry a tail call skips: stp x29, x30 / mov x29, sp / stp xzr, x26 / mov x26, sp. */
export const TAIL_CALL_OFFSET = 16;
/** Native prog-array layout: `u32 max_entries; u32 pad; u64 entry[max_entries]` (entry addresses, 0 when empty). */
export const PROG_ARRAY_ENTRIES = 8;
/**
 * The functions ld_abs/ld_ind call, as the verifier rewrites them (net/core/filter.c
 * bpf_gen_ld_abs): (ctx, int offset) -> the big-endian value, or a negative error.
 */
export const LD_ABS_HELPERS: Readonly<Record<1 | 2 | 4, string>> = {
  1: 'bpf_skb_load_helper_8_no_cache',
  2: 'bpf_skb_load_helper_16_no_cache',
  4: 'bpf_skb_load_helper_32_no_cache',
};

/** What an exception boundary pushes (and its exception callback pops), pair by pair, as the kernel's push_callee_regs. */
const BOUNDARY_SAVED = [19, 20, 21, 22, 23, 24, 25, 26, 27, 28];

export interface Frame {
  readonly isMain: boolean;
  /** The main function of a program that throws: it saves x19..x28. */
  readonly boundary: boolean;
  /** The exception callback: it runs in the boundary's frame. */
  readonly exceptionCb: boolean;
  /** Callee-saved registers pushed after the tail-call pair, in push order. */
  readonly saved: readonly number[];
  /**
   * Whether the function uses r10 as a value (x25 is then set up, and saved); otherwise its
   * loads and stores through r10 are sp-relative: r10 is sp + rest.
   */
  readonly usesR10: boolean;
  /** Bytes below the pushes: BPF stack, may_goto counter, outgoing area (a multiple of 16). */
  readonly rest: number;
  /** x29-relative offset of the may_goto counter (0 when the function has none). */
  readonly counterAt: number;
}

/** x29 minus this is where the callee-saved pushes end (BPF r10). */
const pushed = (f: Frame): number => 16 + ((f.saved.length + 1) >> 1) * 16;

/** The callee-saved registers a function writes or reads, as the kernel's find_used_callee_regs. */
function usedCalleeSaved(insns: readonly Insn[], start: number, end: number): number[] {
  const used = new Set<number>();
  let r10Value = false;
  for (let pc = start; pc < end; pc++) {
    const i = insns[pc]!;
    used.add(i.dst).add(i.src);
    const cls = i.code & 7;
    // r10 as the base of a load or store is sp plus a constant; anything else needs it in x25
    if (i.src === 10 && cls !== 1 /* LDX */) r10Value = true;
    if (i.dst === 10 && (cls < 2 || cls > 3 || (i.code & 0xe0) === 0xc0 /* ATOMIC */)) r10Value = true;
    if (i.code === 0x18) pc++;
  }
  return [6, 7, 8, 9, 10].filter((r) => used.has(r) && (r !== 10 || r10Value)).map((r) => REG_MAP[r]!);
}

/**
 * Whether r10 is copied or computed with (`r6 = r10; r6 += -32`) rather than only used as the
 * base of loads and stores: then a syntactic stack depth (deepest r10-relative access) says
 * nothing about the accesses through the copy.
 */
function r10Escapes(insns: readonly Insn[], start: number, end: number): boolean {
  for (let pc = start; pc < end; pc++) {
    const i = insns[pc]!;
    if (i.src === 10 && (i.code & 7) !== 1 /* LDX */) return true;
    if (i.code === 0x18) pc++;
  }
  return false;
}

/**
 * The frame of one function. `depthKnown`: the stack depth is the verifier's; otherwise it is
 * syntactic (@bpf/isa analyseFrames) and a function whose r10 escapes gets MAX_BPF_STACK.
 */
export function frameOf(
  insns: readonly Insn[],
  sp: { readonly start: number; readonly end: number; readonly stackDepth: number; readonly outgoingStackArgs: number },
  role: { readonly isMain: boolean; readonly boundary: boolean; readonly exceptionCb: boolean },
  depthKnown: boolean,
): Frame {
  // the callback pushes nothing, but pops what the boundary pushed; both set up x25 (fp_used)
  const saved = role.boundary || role.exceptionCb ? BOUNDARY_SAVED : usedCalleeSaved(insns, sp.start, sp.end);
  let mayGoto = false;
  for (let pc = sp.start; pc < sp.end; pc++) if (insns[pc]!.code === 0xe5) mayGoto = true;
  const stackDepth = depthKnown || !r10Escapes(insns, sp.start, sp.end) ? sp.stackDepth : Math.max(sp.stackDepth, MAX_BPF_STACK);
  const depth = (stackDepth + 15) & ~15;
  const outArea = Math.max(0, sp.outgoingStackArgs - 3) * 8; // arguments 6..8 travel in x5..x7
  const rest = (depth + (mayGoto ? 8 : 0) + outArea + 15) & ~15;
  const f = { ...role, saved, usesR10: saved.includes(REG_MAP[10]!), rest, counterAt: 0 };
  return { ...f, counterAt: mayGoto ? -(pushed(f) + depth + 8) : 0 };
}

export function prologue(a: A64, f: Frame): void {
  if (f.exceptionCb) {
    // bpf_throw(cookie) enters with x2 = the boundary's x29: its frame, pushes included, are ours
    mov(a, FP, 2, 64);
    addImm(a, SP, FP, pushed(f), true);
  } else {
    push(a, FP, 30);
    addImm(a, FP, SP, 0);
    if (f.isMain) {
      // the count starts at 0 in the slot x26 points to; the native caller's x26 sits next to it
      push(a, ZR, TCC_PTR);
      addImm(a, TCC_PTR, SP, 0);
    } else push(a, TCC_PTR, TCC_PTR);
    for (let k = 0; k < f.saved.length; k += 2) push(a, f.saved[k]!, f.saved[k + 1] ?? ZR);
  }
  if (f.usesR10) addImm(a, 25, SP, 0);
  if (f.rest) addImm(a, SP, SP, f.rest, true);
  if (f.counterAt) {
    movImm(a, TMP3, BigInt(MAY_GOTO_LOOPS));
    mem(a, false, 8, false, TMP3, FP, f.counterAt);
  }
}

/** Drop the function's stack and pop its callee-saved registers: sp is back at the tail-call pair. */
function unwind(a: A64, f: Frame): void {
  if (f.rest) addImm(a, SP, FP, pushed(f), true);
  const pairs: [number, number][] = [];
  for (let k = 0; k < f.saved.length; k += 2) pairs.push([f.saved[k]!, f.saved[k + 1] ?? ZR]);
  for (const [r1, r2] of pairs.reverse()) pop(a, r1, r2);
}

export function epilogue(a: A64, f: Frame): void {
  unwind(a, f);
  pop(a, ZR, TCC_PTR);
  pop(a, FP, 30);
  mov(a, 0, 8, 64); // r0 (x8) is the AAPCS64 return value in x0
  ret(a);
}

/**
 * bpf_tail_call(r1 = ctx, r2 = prog array, r3 = index), as emit_bpf_tail_call: an index past
 * max_entries, MAX_TAIL_CALL_CNT calls taken or an empty slot fall through; otherwise the count
 * grows, this function's frame goes but for its frame record and tail-call pair, and the target
 * runs from TAIL_CALL_OFFSET with x0 = ctx.
 */
export function tailCall(a: A64, f: Frame): void {
  const [r2, r3] = [REG_MAP[2]!, REG_MAP[3]!];
  ldrStr0(a, true, 4, TMP, r2);
  mov(a, r3, r3, 32); // the index is a u32
  cmp(a, r3, TMP, 32);
  const b1 = a.offset;
  a.put(0, 'b.hs out');
  ldrStr0(a, true, 8, TMP3, TCC_PTR);
  cmpImm(a, TMP3, MAX_TAIL_CALL_CNT, 64);
  const b2 = a.offset;
  a.put(0, 'b.hs out');
  addImm(a, TMP3, TMP3, 1);
  addImm(a, TMP, r2, PROG_ARRAY_ENTRIES);
  ldrScaled(a, TMP2, TMP, r3);
  const b3 = a.offset;
  a.put(0, 'cbz out');
  ldrStr0(a, false, 8, TMP3, TCC_PTR); // counted only when the slot holds a program
  unwind(a, f);
  addImm(a, TMP2, TMP2, TAIL_CALL_OFFSET);
  br(a, TMP2);
  patchBranch(a, b1, HS, a.offset);
  patchBranch(a, b2, HS, a.offset);
  patchCbz(a, b3, TMP2, a.offset);
}

/**
 * ld_abs / ld_ind as the verifier rewrites them: r2 = offset (imm, or src + imm), r1 = r6 (ctx),
 * call the load helper (`load` puts its address in CALLREG); a negative result goes to the
 * function's `r0 = 0` exit.
 */
export function ldAbs(a: A64, i: Insn, size: 1 | 2 | 4, indirect: boolean, load: (symbol: JitReloc['symbol']) => void, zeroExit: number): void {
  const [r1, r2] = [REG_MAP[1]!, REG_MAP[2]!];
  if (indirect) {
    const src = REG_MAP[i.src]!;
    if (i.imm === 0) {
      if (src !== r2) mov(a, r2, src, 64);
    } else if (!addSubImm(a, r2, src, i.imm, 64)) {
      movImm(a, TMP, BigInt(i.imm));
      rr(a, 'add', r2, src, TMP, 64);
    }
  } else movImm(a, r2, BigInt(i.imm));
  mov(a, r1, REG_MAP[6]!, 64);
  load({ kind: 'kfunc', name: LD_ABS_HELPERS[size] });
  blr(a, CALLREG);
  cmpImm(a, 0, 0, 64);
  branch(a, LT, zeroExit);
  mov(a, 8, 0, 64);
}
