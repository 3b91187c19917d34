/**
 * The verifier's trace (opt-in with `verify(p, { trace: true })`): for each processed
 * instruction the path that ran it, the register and stack state before and after it in
 * structured form, where paths forked, where a path was pruned and against which checkpoint,
 * and for a rejection the instructions its offending values came from, found by the same
 * backward walk the verifier uses for precision (precise.ts, the kernel's backtrack_insn).
 * A kernel log parsed by `parseKernelLog` (klog.ts) gives the same shape from text.
 *
 * Nothing here runs when tracing is off: the verifier holds no tracer and its loop tests one
 * field per instruction.
 */
import { decodeOp, type Insn } from '@bpf/isa';
import { backtrackChain, type Checkpoint, type Path, type PreciseEnv } from './precise.js';
import { formatReg, regTypeStr } from './print.js';
import { SLOT_CHAR, SLOTS, SlotType, type Frame, type Reg, type State } from './state.js';

/** One register's abstract value. Numbers that may exceed 2^53 are decimal strings. */
export interface TraceReg {
  /** The kernel's type name: `scalar`, `ctx`, `fp`, `map_value`, `trusted_ptr_task_struct`, ... */
  readonly type: string;
  /** As the kernel's level-2 log prints it: `scalar(smin=0,smax=255)`, `fp-8`, `ctx()`. */
  readonly text: string;
  /** Fixed offset of a pointer. */
  readonly off?: number;
  /** The value, when it is one known constant (scalars). */
  readonly value?: string;
  readonly smin?: string;
  readonly smax?: string;
  readonly umin?: string;
  readonly umax?: string;
  /** Known bits: `var_off=(value; mask)`, hex. */
  readonly varOff?: { readonly value: string; readonly mask: string };
  readonly id?: number;
  readonly refObjId?: number;
  /** Bytes known in bounds after a packet pointer. */
  readonly range?: number;
  /** Map a map pointer or map value points to. */
  readonly map?: string;
  /** Frame a stack pointer points into. */
  readonly frame?: number;
}

/** One 8-byte stack slot that is not all invalid. */
export interface TraceSlot {
  /** Offset from the frame pointer: -8, -16, ... */
  readonly off: number;
  /** The kernel's slot_type characters, highest byte first: `mmmm????`, `rrrrrrrr`, `00000000`. */
  readonly kinds: string;
  /** The register spilled there (a full or partial spill). */
  readonly spilled?: TraceReg;
}

export interface TraceFrame {
  readonly frame: number;
  readonly subprog: number;
  /** Instruction that called this frame (-1 for the entry frame). */
  readonly callsite: number;
  /** R0..R10; null where not initialised. */
  readonly regs: readonly (TraceReg | null)[];
  readonly stack: readonly TraceSlot[];
  /** Outgoing stack-argument slots (r11 - 8 .. r11 - 56), null where unwritten. */
  readonly stackArgs: readonly (TraceReg | null)[];
}

export interface TraceState {
  /** Innermost frame last. */
  readonly frames: readonly TraceFrame[];
  /** Acquired reference ids. */
  readonly refs: readonly number[];
}

/** One processed instruction. */
export interface TraceStep {
  /** Position in `Trace.steps` (the order the verifier processed instructions). */
  readonly index: number;
  readonly path: number;
  readonly pc: number;
  /** Call depth the instruction ran at (0: the entry frame). */
  readonly frame: number;
  /** State before the instruction (a kernel log has it only where it printed one). */
  readonly before?: TraceState;
  /** State after it, on the path that continues (absent when the path ended or was rejected). */
  readonly after?: TraceState;
  /** Next instruction of this path, or -1 when the path ends here. */
  readonly next: number;
  /** Paths forked here to be explored later (the other side of a branch, may_goto). */
  readonly forks: readonly number[];
}

export interface TracePath {
  readonly id: number;
  /** Path it was forked from, and at which instruction (absent for a path starting at an entry). */
  readonly parent?: number;
  readonly forkedAt?: number;
  /** First instruction the path runs. */
  readonly start: number;
  /** Where the path ended: an exit, pruned, or rejected. */
  readonly end?: { readonly pc: number; readonly how: 'exit' | 'pruned' | 'rejected' };
}

/** A checkpoint the verifier saved (the kernel's explored state). */
export interface TraceCheckpoint {
  readonly id: number;
  readonly pc: number;
  readonly path: number;
  /** The step that ran the instruction at `pc` after the checkpoint was made. */
  readonly step: number;
}

/** A path that reached a prune point in a state covered by a checkpoint. */
export interface TracePrune {
  readonly path: number;
  readonly pc: number;
  /** The checkpoint it was found equivalent to (absent in a kernel log, which does not say). */
  readonly against?: number;
  /** The state the path had when it was pruned. */
  readonly state?: TraceState;
}

/** One instruction of a rejection's why-chain, newest first. */
export interface TraceLink {
  readonly pc: number;
  /** Frame the instruction ran in. */
  readonly frame: number;
  /** Registers still needed before this instruction ran (the ones its result came from). */
  readonly regs: readonly number[];
  /** Stack slots (fp offsets) still needed. */
  readonly slots: readonly number[];
}

export interface TraceRejection {
  readonly pc: number;
  readonly message: string;
  readonly path?: number;
  /** State before the rejected instruction. */
  readonly state?: TraceState;
  /** Registers of the rejected instruction whose origin the chain follows. */
  readonly regs: readonly number[];
  /** The instructions the offending values came from, newest first. */
  readonly chain: readonly TraceLink[];
}

/** Where the values of some registers at one step came from (`TraceOptions.explain`). */
export interface TraceExplained {
  readonly step: number;
  readonly pc: number;
  /** The registers asked about, of the step's innermost frame. */
  readonly regs: readonly number[];
  /** The instructions their values came from, newest first (the rejection's chain, for any step). */
  readonly chain: readonly TraceLink[];
}

export interface Trace {
  readonly source: 'verifier' | 'kernel-log';
  readonly steps: readonly TraceStep[];
  readonly paths: readonly TracePath[];
  readonly checkpoints: readonly TraceCheckpoint[];
  readonly prunes: readonly TracePrune[];
  readonly rejection?: TraceRejection;
  /** The answer to `TraceOptions.explain`, when that step was reached. */
  readonly explained?: TraceExplained;
  /** Steps were dropped beyond `maxSteps`. */
  readonly truncated: boolean;
}

export interface TraceOptions {
  /** Keep at most this many steps (default 200 000); paths, prunes and the rejection are always kept. */
  readonly maxSteps?: number;
  /**
   * "Where did this value come from": for the registers `regs` (of the innermost frame) as they
   * are before step `step` runs, the instructions their values came from, found by the same
   * backward walk as a rejection's chain; answered in `Trace.explained`.
   */
  readonly explain?: { readonly step: number; readonly regs: readonly number[] };
}

const str = (n: bigint): string => n.toString();
const hex = (n: bigint): string => `0x${n.toString(16)}`;

/** A register in structured form. */
export function traceReg(r: Reg, frame: number): TraceReg | null {
  if (r.type === 'not_init') return null;
  const out: { -readonly [K in keyof TraceReg]: TraceReg[K] } = { type: regTypeStr(r), text: formatReg(r, frame) };
  if (r.off) out.off = r.off;
  if (r.var.mask === 0n) out.value = str(BigInt.asIntN(64, r.var.value));
  else {
    out.smin = str(r.smin);
    out.smax = str(r.smax);
    out.umin = str(r.umin);
    out.umax = str(r.umax);
    out.varOff = { value: hex(r.var.value), mask: hex(r.var.mask) };
  }
  if (r.id) out.id = r.id;
  if (r.refObjId) out.refObjId = r.refObjId;
  if (r.range !== undefined) out.range = r.range;
  if (r.map) out.map = r.map.name;
  if (r.frame !== undefined) out.frame = r.frame;
  return out;
}

function traceFrame(f: Frame, k: number): TraceFrame {
  const stack: TraceSlot[] = [];
  for (let s = 0; s < SLOTS; s++) {
    const b = s * 8;
    let kinds = '';
    let any = false;
    for (let j = 7; j >= 0; j--) {
      const t = f.slotTypes[b + j]!;
      if (t !== SlotType.Invalid) any = true;
      kinds += SLOT_CHAR[t];
    }
    if (!any) continue;
    const sp = f.slotTypes[b + 7] === SlotType.Spill ? f.spilled[s] : undefined;
    const spilled = sp ? traceReg(sp, k) : null;
    stack.push({ off: -(s + 1) * 8, kinds, ...(spilled ? { spilled } : {}) });
  }
  return {
    frame: k,
    subprog: f.subprog,
    callsite: f.callsite,
    regs: f.regs.map((r) => traceReg(r, k)),
    stack,
    stackArgs: f.out.map((r) => (r ? traceReg(r, k) : null)),
  };
}

/** A state in structured form. */
export function traceState(st: State): TraceState {
  return { frames: st.frames.map(traceFrame), refs: st.refs.map((r) => r.id) };
}

/** Registers an instruction reads (what a rejection at it may be about). */
export function regsRead(i: Insn): number[] {
  const op = decodeOp(i);
  switch (op.kind) {
    case 'alu':
      return op.op === 'mov' || op.op === 'movsx' ? (op.useReg ? [i.src] : []) : op.useReg ? [i.dst, i.src] : [i.dst];
    case 'endian':
      return [i.dst];
    case 'ldx':
      return [i.src];
    case 'st':
      return [i.dst];
    case 'stx':
    case 'atomic':
      return [i.dst, i.src];
    case 'jmp':
      return op.cond === 'ja' ? [] : op.useReg ? [i.dst, i.src] : [i.dst];
    case 'call':
      return [1, 2, 3, 4, 5];
    case 'exit':
      return [0];
    case 'ld_ind':
      return [6, i.src];
    case 'ld_abs':
      return [6];
    default:
      return [];
  }
}

/** Collects a trace from the verifier's hooks (verify.ts calls these only when tracing). */
export class Tracer {
  private readonly steps: TraceStep[] = [];
  private readonly paths: { id: number; parent?: number; forkedAt?: number; start: number; end?: TracePath['end'] }[] = [];
  private readonly checkpoints: TraceCheckpoint[] = [];
  private readonly prunes: TracePrune[] = [];
  private rejection?: TraceRejection;
  private truncated = false;
  private readonly pathOf = new WeakMap<object, number>();
  private readonly cpOf = new WeakMap<Checkpoint, number>();
  private readonly max: number;
  private before?: TraceState;
  private readonly explain: TraceOptions['explain'];
  private explained?: TraceExplained;

  constructor(opts: TraceOptions = {}) {
    this.max = opts.maxSteps ?? 200_000;
    this.explain = opts.explain;
  }

  private idOf(st: object, start: number): number {
    let id = this.pathOf.get(st);
    if (id === undefined) {
      id = this.paths.length;
      this.paths.push({ id, start });
      this.pathOf.set(st, id);
    }
    return id;
  }

  /** A path reached a prune point and was found safe against checkpoint `cp`. */
  pruned(st: Path, cp: Checkpoint | undefined): void {
    const path = this.idOf(st, st.pc);
    const against = cp ? this.cpOf.get(cp) : undefined;
    this.prunes.push({ path, pc: st.pc, ...(against !== undefined ? { against } : {}), state: traceState(st) });
    this.paths[path]!.end = { pc: st.pc, how: 'pruned' };
  }

  /** Before the instruction at `st.pc` runs. */
  step(st: Path, env: PreciseEnv): void {
    const ex = this.explain;
    if (ex && this.steps.length === ex.step && !this.explained) {
      const regs = ex.regs.filter((r) => r >= 0 && r <= 10);
      this.explained = { step: ex.step, pc: st.pc, regs, chain: regs.length ? backtrackChain(env, st, regs.reduce((m, r) => m | (1 << r), 0)) : [] };
    }
    if (st.cp && !this.cpOf.has(st.cp)) {
      const path = this.idOf(st, st.pc);
      const id = this.checkpoints.length;
      this.cpOf.set(st.cp, id);
      this.checkpoints.push({ id, pc: st.cp.pc, path, step: this.steps.length });
    }
    this.before = this.steps.length < this.max ? traceState(st) : undefined;
  }

  /** After it ran: `next` continues the path (null: it ended); `pushed` are paths forked by it. */
  stepped(st: Path, at: number, depth: number, next: State | null, pushed: readonly State[]): void {
    const path = this.idOf(st, at);
    const forks: number[] = [];
    for (const p of pushed) {
      if (p === st) continue;
      const id = this.paths.length;
      this.paths.push({ id, parent: path, forkedAt: at, start: p.pc });
      this.pathOf.set(p, id);
      forks.push(id);
    }
    if (next && next !== st) this.pathOf.set(next, path);
    if (next === null) this.paths[path]!.end = { pc: at, how: 'exit' };
    if (this.steps.length >= this.max) {
      this.truncated = true;
      return;
    }
    this.steps.push({
      index: this.steps.length,
      path,
      pc: at,
      frame: depth,
      ...(this.before ? { before: this.before } : {}),
      ...(next ? { after: traceState(next) } : {}),
      next: next ? next.pc : -1,
      forks,
    });
  }

  /** The verifier rejected the program at `pc`; `st` is the path that was running, if any. */
  rejected(env: PreciseEnv, pc: number, message: string, st: Path | undefined): void {
    const i = env.insns[pc];
    const regs = i && st && st.pc === pc ? regsRead(i) : [];
    const path = st ? this.idOf(st, pc) : undefined;
    if (path !== undefined) this.paths[path]!.end = { pc, how: 'rejected' };
    // the rejected instruction is the path's last step, with no state after it
    if (st && st.pc === pc && this.steps.length < this.max)
      this.steps.push({ index: this.steps.length, path: path!, pc, frame: st.frames.length - 1, before: traceState(st), next: -1, forks: [] });
    const chain = st && regs.length ? backtrackChain(env, st, regs.reduce((m, r) => m | (1 << r), 0)) : [];
    this.rejection = {
      pc,
      message,
      ...(path !== undefined ? { path } : {}),
      ...(st && st.pc === pc ? { state: traceState(st) } : {}),
      regs,
      chain,
    };
  }

  result(): Trace {
    return {
      source: 'verifier',
      steps: this.steps,
      paths: this.paths,
      checkpoints: this.checkpoints,
      prunes: this.prunes,
      ...(this.rejection ? { rejection: this.rejection } : {}),
      ...(this.explained ? { explained: this.explained } : {}),
      truncated: this.truncated,
    };
  }
}
