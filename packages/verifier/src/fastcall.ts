/**
 * bpf_fastcall (kernel/bpf/verifier.c mark_fastcall_patterns, check_fastcall_stack_contract,
 * remove_fastcall_spills_fills, 6.18). clang spills the caller-saved registers a bpf_fastcall
 * function does not clobber around a call to it, in the lowest stack slots of the subprogram:
 *
 *   *(u64 *)(r10 -16) = r1      a spill ...
 *   call bpf_get_smp_processor_id
 *   r1 = *(u64 *)(r10 -16)      ... and its fill, the same register and slot, mirrored
 *
 * Before verifying, the kernel marks these pairs (for any helper or kfunc call: the pattern is
 * recognised whether or not this kernel inlines the callee). While verifying, a stack access
 * below the patterns' slots by an instruction outside a pattern breaks the contract: the
 * subprogram's patterns are forgotten. After verifying, around a call this kernel does inline
 * (bpf_get_smp_processor_id under the x86-64 JIT, the kfuncs marked KF_FASTCALL) the pairs
 * become no-ops, and a subprogram whose pairs all went has its stack depth cut to the slots above
 * them before check_max_stack_depth adds up the frames.
 */
import type { Insn } from '@bpf/isa';

/** What get_call_summary learns of a call: its parameter count, whether it returns void, whether this kernel inlines it. */
export interface CallSummary {
  readonly params: number;
  readonly isVoid: boolean;
  readonly fastcall: boolean;
}

/** The per-instruction and per-subprogram marks (insn_aux_data, bpf_subprog_info). */
export interface Fastcall {
  /** fastcall_pattern: the instruction is a spill or fill of a pattern. */
  readonly pattern: Uint8Array;
  /** fastcall_spills_num: at a call whose pairs may go, how many there are. */
  readonly spills: Uint8Array;
  /** fastcall_stack_off: the top of the lowest slots the patterns use, per subprogram. */
  readonly stackOff: number[];
  /** keep_fastcall_stack: a pattern around a call this kernel does not inline keeps the depth. */
  readonly keep: boolean[];
  readonly bounds: readonly { readonly start: number; readonly end: number }[];
}

const STX_MEM_DW = 0x7b;
const LDX_MEM_DW = 0x79;
const CALL = 0x85;
/** BPF_REG_0..5: caller-saved. */
const CALLER_SAVED = 0x3f;
const S16_MIN = -32768;

/** mark_fastcall_patterns: every call of every subprogram, against its lowest spill offset. */
export function markFastcallPatterns(insns: readonly Insn[], bounds: readonly { readonly start: number; readonly end: number }[], summary: (pc: number) => CallSummary | undefined): Fastcall {
  // both marks in one buffer (one backing store, not two: issue 25)
  const n = insns.length;
  const buf = new ArrayBuffer(2 * n);
  const fc: Fastcall = { pattern: new Uint8Array(buf, 0, n), spills: new Uint8Array(buf, n, n), stackOff: bounds.map(() => 0), keep: bounds.map(() => false), bounds };
  const calls: number[] = [];
  for (let k = 0; k < bounds.length; k++) {
    const s = bounds[k]!;
    // the lowest spill offset and the calls, in one pass over the subprogram
    let lowest = 0;
    calls.length = 0;
    for (let pc = s.start; pc < s.end; pc++) {
      const i = insns[pc]!;
      if (i.code === STX_MEM_DW && i.dst === 10) lowest = Math.min(lowest, i.off);
      else if (i.code === CALL) calls.push(pc);
    }
    for (const pc of calls) markCall(fc, insns, k, pc, lowest, summary);
  }
  return fc;
}

/** mark_fastcall_pattern_for_call: the spill/fill pairs mirrored around one call. */
function markCall(fc: Fastcall, insns: readonly Insn[], sub: number, pc: number, lowest: number, summary: (pc: number) => CallSummary | undefined): void {
  const cs = summary(pc);
  if (!cs) return;
  // the registers the call clobbers as if it kept the contract: r0 unless void, r1..rN for N parameters
  let clobbered = 0;
  for (let r = cs.isVoid ? 1 : 0; r <= cs.params; r++) clobbered |= 1 << r;
  let expected = ~clobbered & CALLER_SAVED;
  let k = 1;
  let off = lowest;
  for (; k <= 6; k++, off += 8) {
    if (pc - k < 0 || pc + k >= insns.length) break;
    const stx = insns[pc - k]!;
    const ldx = insns[pc + k]!;
    if (stx.code !== STX_MEM_DW || ldx.code !== LDX_MEM_DW || stx.dst !== 10 || ldx.src !== 10) break;
    if (stx.src !== ldx.dst) break;
    if (((1 << stx.src) & expected) === 0) break;
    if (stx.off !== off || ldx.off !== off) break;
    expected &= ~(1 << stx.src);
    fc.pattern[pc - k] = 1;
    fc.pattern[pc + k] = 1;
  }
  if (k === 1) return;
  if (cs.fastcall) fc.spills[pc] = k - 1;
  else fc.keep[sub] = true;
  fc.stackOff[sub] = Math.min(fc.stackOff[sub]!, off);
}

/**
 * check_fastcall_stack_contract: an access at `off` (its lowest byte) to the stack of subprogram
 * `sub`, by the instruction at `pc`. Below the patterns' slots and outside a pattern, it forgets
 * the subprogram's patterns (once).
 */
export function fastcallContract(fc: Fastcall, sub: number, pc: number, off: number): void {
  if (fc.stackOff[sub]! <= off || fc.pattern[pc]) return;
  fc.stackOff[sub] = S16_MIN;
  const s = fc.bounds[sub]!;
  fc.pattern.fill(0, s.start, s.end);
  fc.spills.fill(0, s.start, s.end);
}

/**
 * remove_fastcall_spills_fills: the instructions that become no-ops, and each subprogram's stack
 * depth as check_max_stack_depth then takes it (`depth` updated in place).
 */
export function removeFastcallSpillsFills(fc: Fastcall, depth: number[]): number[] {
  const nops: number[] = [];
  fc.bounds.forEach((s, k) => {
    let modified = false;
    for (let pc = s.start; pc < s.end; pc++) {
      const n = fc.spills[pc]!;
      if (n === 0) continue;
      for (let j = 1; j <= n; j++) nops.push(pc - j, pc + j);
      modified = true;
    }
    if (modified && !fc.keep[k]) depth[k] = Math.max(0, -fc.stackOff[k]!);
  });
  return nops;
}
