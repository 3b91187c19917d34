/**
 * The kernel's "Live regs before insn:" block (log level 2), and a JSON form.
 *
 * Each line: the loop (SCC) id in `%3d ` or four spaces, the index in `%3d: `, one character
 * per register r0..r9 (its digit when live, '.' otherwise), a space, and the instruction as
 * the verifier prints it (kernel/bpf/verifier.c: compute_live_registers).
 */
import type { Insn } from '@bpf/isa';
import type { Liveness } from './liveness.js';
import { liveStackOffsets } from './liveness.js';

/** Formats one instruction in the kernel's log syntax, e.g. `(b7) r1 = 1`. */
export type KernelInsnPrinter = (insns: readonly Insn[], index: number) => string;

export function regMask(mask: number): string {
  let s = '';
  for (let r = 0; r < 10; r++) s += mask & (1 << r) ? String(r) : '.';
  return s;
}

export function formatLiveRegs(l: Liveness, printInsn: KernelInsnPrinter): string {
  const insns = l.cfg.insns;
  const lines = ['Live regs before insn:'];
  for (let i = 0; i < insns.length; i++) {
    const scc = l.cfg.scc[i]!;
    const prefix = scc ? String(scc).padStart(3) + ' ' : '    ';
    lines.push(`${prefix}${String(i).padStart(3)}: ${regMask(l.liveIn[i]!)} ${printInsn(insns, i)}`);
    if (insns[i]!.code === 0x18) i++;
  }
  return lines.join('\n') + '\n';
}

export interface LivenessJson {
  readonly subprogs: readonly { readonly name: string; readonly start: number; readonly end: number; readonly frameEscapes: boolean }[];
  readonly insns: readonly {
    readonly index: number;
    readonly scc: number;
    /** Live registers before the instruction, e.g. ["r1", "r2"]. */
    readonly regs: readonly string[];
    /** Live outgoing stack-argument slots, e.g. ["sa0"]. */
    readonly stackArgs: readonly string[];
    /** Live r10 stack slots as offsets, e.g. [-8, -16]. */
    readonly stack: readonly number[];
    /** Incoming stack-argument slots this instruction reads. */
    readonly reads: readonly string[];
  }[];
  readonly backEdges: readonly (readonly [number, number])[];
}

export function livenessToJson(l: Liveness): LivenessJson {
  const insns = l.cfg.insns;
  const rows: LivenessJson['insns'][number][] = [];
  for (let i = 0; i < insns.length; i++) {
    const m = l.liveIn[i]!;
    const regs: string[] = [];
    for (let r = 0; r <= 10; r++) if (m & (1 << r)) regs.push(`r${r}`);
    const stackArgs: string[] = [];
    for (let k = 0; k < 7; k++) if (m & (1 << (11 + k))) stackArgs.push(`sa${k}`);
    const reads: string[] = [];
    for (let k = 0; k < 7; k++) if (l.incomingReads[i]! & (1 << k)) reads.push(`arg${k + 6}`);
    rows.push({ index: i, scc: l.cfg.scc[i]!, regs, stackArgs, stack: liveStackOffsets(l, i), reads });
    if (insns[i]!.code === 0x18) i++;
  }
  return {
    subprogs: l.cfg.subprogs.map((s, k) => ({ name: s.name, start: s.start, end: s.end, frameEscapes: l.escapes[k]! })),
    insns: rows,
    backEdges: l.cfg.backEdges,
  };
}
