/**
 * Precision tracking (kernel/bpf/verifier.c __mark_chain_precision, backtrack_insn,
 * propagate_precision): a checkpoint's scalars only constrain later states once a safety
 * decision was found to depend on their value. What a value depended on is found by walking
 * the path's instructions backwards, frame by frame, through spills and fills, BPF-to-BPF
 * calls and callbacks, and registers linked by id at conditional jumps; each checkpoint met on
 * the way gets the registers and stack slots still needed marked precise. The level-2 log
 * shows the walk in the kernel's `mark_precise:` lines.
 */
import type { Insn, Op } from '@bpf/isa';
import { SlotType, type State } from './state.js';

/** One executed instruction of a path. */
export interface HistEntry {
  readonly pc: number;
  /** Frame the instruction ran in. */
  readonly depth: number;
  /** A register spill or fill: the stack slot and its frame. */
  readonly spi?: number;
  readonly spiFrame?: number;
  /** An exit from a callback (bpf_loop and friends). */
  readonly cb?: boolean;
  /** Scalars sharing an id at a conditional jump (the kernel's linked_regs). */
  readonly linked?: readonly LinkedReg[];
  /** A conditional jump's operands that were stack pointers (INSN_F_SRC_REG_STACK, _DST_REG_STACK): never precise. */
  readonly srcStack?: boolean;
  readonly dstStack?: boolean;
}

/**
 * A history entry: an object where the instruction left a note, otherwise its pc and frame as one
 * number, `pc * 8 + depth` (a straight-line program made an object per instruction, about a tenth
 * of its verification, issue 25). Frames are fewer than 8 (MAX_CALL_FRAMES).
 */
export type HistItem = HistEntry | number;

/** What a plain (numeric) history entry notes: nothing. */
const PLAIN: HistEntry = { pc: -1, depth: 0, spi: undefined, spiFrame: undefined, cb: undefined, linked: undefined, srcStack: undefined, dstStack: undefined };

export interface LinkedReg {
  readonly frame: number;
  /** A register number, or a stack slot when `slot` is set. */
  readonly n: number;
  readonly slot?: boolean;
}

/** A checkpoint: the state a path had at a prune point, with its precision marks. */
export interface Checkpoint {
  readonly pc: number;
  readonly state: State;
  /** Per frame: registers whose value a decision depended on. */
  readonly preciseRegs: number[];
  /**
   * Stack slots whose value a decision depended on: two 32-bit words per frame (slots 0-31 in
   * word 2k, 32-63 in word 2k+1); read with {@link slotPrecise}.
   */
  readonly preciseSlots: number[];
  /** Live paths running through this checkpoint: 0 once fully explored. */
  branches: number;
  readonly parent: Checkpoint | undefined;
  /** The instructions from the parent checkpoint to this one. */
  readonly hist: readonly HistItem[];
  /** The instruction before this one on the path (the kernel's last_insn_idx). */
  readonly lastIdx: number;
  /** Where the path segment leading here started (first_insn_idx). */
  readonly firstIdx: number;
  /** Exact key, for loop detection (computed when first needed). */
  key?: string;
  hits: number;
  misses: number;
  /** Dropped from its list (miss_cnt) while paths still ran through it. */
  evicted?: boolean;
  /** Dead registers and slots were forgotten (clean_verifier_state). */
  cleaned?: boolean;
  /** The slots still alive when it was cleaned, two words per frame (stacklive.ts); absent: all of them. */
  alive?: readonly number[];
  /** Checkpoints before this one on its path (the kernel's dfs_depth). */
  dfsDepth?: number;
  /** Where what a comparison with it looks at starts in its verification's PlanStore (prune.ts), -1 until its first comparison. */
  plan: number;
  /** Its loop's call chain (scc.ts), null outside loops; made on first use. */
  sccChain?: string | null;
}

/** Whether stack slot `slot` of frame `frame` of a checkpoint is precise. */
export const slotPrecise = (cp: Pick<Checkpoint, 'preciseSlots'>, frame: number, slot: number): boolean => ((cp.preciseSlots[2 * frame + (slot >> 5)]! >>> (slot & 31)) & 1) === 1;

function markSlotPrecise(cp: Checkpoint, frame: number, slot: number): void {
  cp.preciseSlots[2 * frame + (slot >> 5)]! |= 1 << (slot & 31);
}

/** A path: a state with the checkpoint it last passed and the instructions since. */
export type Path = State & { cp?: Checkpoint; hist: HistItem[]; histCnt?: number };

/** What precision tracking needs from the verifier. */
export interface PreciseEnv {
  readonly insns: readonly Insn[];
  /** decodeOp of instruction `pc`, decoded once per program. */
  opAt(pc: number): Op;
  /** Level-2 log line, or undefined when not logging. */
  readonly trace: ((line: string) => void) | undefined;
  /**
   * Level 1: the newline propagate_precision ends a frame's `propagating` list with, printed
   * at every log level (at level 1 it is an empty line; it counts in log_true_size).
   */
  readonly level1Newline?: (() => void) | undefined;
  /** `pc: (code) insn` as the kernel prints it. */
  insnText(pc: number): string;
  /** ` R0=... fp-8=...` of one frame of a checkpoint, precision marks included. */
  checkpointText(cp: Checkpoint, frame: number): string;
  /** Whether the subprogram starting at `pc` is global (verified on its own). */
  isGlobalAt(pc: number): boolean;
  /** Whether the instruction at `pc` calls a callback synchronously (bpf_loop and friends). */
  callsCallback(pc: number): boolean;
  /** First instruction of a subprogram (where a path verifying it on its own starts). */
  subprogStart(subprog: number): number;
}

const ARGS = 0x3e;
const MAX_FRAMES = 9;

/** backtrack_state: the registers and stack slots still needed, per frame. */
class Bt {
  frame = 0;
  readonly regs = new Int32Array(MAX_FRAMES);
  /**
   * Per frame, the 64 stack slots as two 32-bit words (slots 0-31, then 32-63): bit operations on
   * numbers, where a BigInt mask made a new BigInt per change (~100 MB per verification of cilium's
   * bpf_lxc.o tail calls, issue 25).
   */
  readonly slots = new Int32Array(MAX_FRAMES * 2);
  /** Outgoing stack-argument slots (bit k: `r11 - 8(k+1)`) whose stored value is needed. */
  readonly args = new Int32Array(MAX_FRAMES);
  /** Nothing needed, frame 0 (plain stores: `fill` is a builtin call, ~5% of a loop's verification). */
  reset(): this {
    this.frame = 0;
    const { regs, slots, args } = this;
    for (let f = 0; f < MAX_FRAMES; f++) {
      regs[f] = 0;
      args[f] = 0;
      slots[2 * f] = 0;
      slots[2 * f + 1] = 0;
    }
    return this;
  }
  empty(): boolean {
    if (this.frame === 0) return this.regs[0] === 0 && this.slots[0] === 0 && this.slots[1] === 0 && this.args[0] === 0;
    for (let f = 0; f <= this.frame; f++) if (this.regs[f] || this.slots[2 * f] || this.slots[2 * f + 1] || this.args[f]) return false;
    return true;
  }
  has(r: number, f = this.frame): boolean {
    return (this.regs[f]! & (1 << r)) !== 0;
  }
  set(r: number, f = this.frame): void {
    this.regs[f]! |= 1 << r;
  }
  clear(r: number, f = this.frame): void {
    this.regs[f]! &= ~(1 << r);
  }
  hasSlot(s: number, f: number): boolean {
    return (this.slots[2 * f + (s >> 5)]! & (1 << (s & 31))) !== 0;
  }
  setSlot(s: number, f: number): void {
    this.slots[2 * f + (s >> 5)]! |= 1 << (s & 31);
  }
  clearSlot(s: number, f: number): void {
    this.slots[2 * f + (s >> 5)]! &= ~(1 << (s & 31));
  }
  /** Whether frame `f` needs any stack slot. */
  anySlot(f: number): boolean {
    return this.slots[2 * f] !== 0 || this.slots[2 * f + 1] !== 0;
  }
  /** bpf_fmt_stack_mask of frame `f`: `-8,-24`. */
  fmtSlots(f: number): string {
    const out: string[] = [];
    for (let s = 0; s < 64; s++) if (this.hasSlot(s, f)) out.push(`-${(s + 1) * 8}`);
    return out.join(',');
  }
}

/**
 * The backtrack state markPrecise and propagatePrecision work in, made once (a new one per call
 * was 2% of the time of a verification of cilium's bpf_lxc.o; chain() is not re-entrant).
 */
const sharedBt = new Bt();

/** fmt_reg_mask: `r1,r6`. */
export const fmtRegs = (mask: number): string => {
  const out: string[] = [];
  for (let r = 0; r < 11; r++) if (mask & (1 << r)) out.push(`r${r}`);
  return out.join(',');
};
type Outcome = 'ok' | 'fallback';

/**
 * bt_sync_linked_regs: one needed register of a linked set makes them all needed. Plain loops:
 * a closure over `bt` made V8 allocate a context on every call, linked or not (~54 MB per
 * verification of cilium's bpf_lxc.o tail calls, issue 25).
 */
function syncLinked(bt: Bt, e: HistEntry): void {
  const linked = e.linked;
  if (linked === undefined) return;
  let any = false;
  for (let k = 0; k < linked.length && !any; k++) {
    const l = linked[k]!;
    any = l.slot ? bt.hasSlot(l.n, l.frame) : bt.has(l.n, l.frame);
  }
  if (!any) return;
  for (let k = 0; k < linked.length; k++) {
    const l = linked[k]!;
    if (l.slot) bt.setSlot(l.n, l.frame);
    else bt.set(l.n, l.frame);
  }
}

// What backtrack_insn needs of an instruction, as a number per pc (kinds below, USE_REG for a
// register source): the decoded ops have a dozen object shapes, so `op.kind` was a megamorphic
// load on every history entry walked (a fifth of a generated loop's verification was precision
// backtracking, issue 25).
const K_NONE = 1;
const K_MOV = 2;
const K_NEG = 3;
const K_ALU = 4;
const K_LDX = 5;
const K_LOAD_ACQ = 6;
const K_ATOMIC = 7;
const K_ST = 8;
const K_STX = 9;
const K_CALL_SUBPROG = 10;
const K_CALL_HELPER = 11;
const K_CALL_KFUNC = 12;
const K_EXIT = 13;
const K_JMP_REG = 14;
const K_LD_IMM64 = 15;
const K_LD_PKT = 16;
const USE_REG = 0x20;

function kindOf(op: Op): number {
  switch (op.kind) {
    case 'alu':
      return (op.op === 'mov' || op.op === 'movsx' ? K_MOV : op.op === 'neg' ? K_NEG : K_ALU) | (op.useReg ? USE_REG : 0);
    case 'ldx':
      return K_LDX;
    case 'atomic':
      return op.op === 'load_acquire' ? K_LOAD_ACQ : K_ATOMIC;
    case 'st':
      return K_ST;
    case 'stx':
      return K_STX;
    case 'call':
      return op.target === 'subprog' ? K_CALL_SUBPROG : op.target === 'kfunc' ? K_CALL_KFUNC : K_CALL_HELPER;
    case 'exit':
      return K_EXIT;
    case 'jmp':
      return op.useReg && op.cond !== 'ja' ? K_JMP_REG : K_NONE;
    case 'ld_imm64':
      return K_LD_IMM64;
    case 'ld_abs':
    case 'ld_ind':
      return K_LD_PKT;
    default:
      return K_NONE;
  }
}

/** Per verification (the env): the kinds of the instructions walked so far, 0 where not yet decoded. */
const kindTables = new WeakMap<PreciseEnv, Int32Array>();

function kindTable(env: PreciseEnv): Int32Array {
  let t = kindTables.get(env);
  if (t === undefined) kindTables.set(env, (t = new Int32Array(env.insns.length)));
  return t;
}

/**
 * Whether backtrackInsn would leave `bt` as it is for an entry without notes of an instruction
 * of kind `k` (0: not decoded yet, no), `regs` the needed registers of the frame: an instruction
 * that writes none of them, a jump comparing none of them, or one that needs nothing.
 */
function passesThrough(k: number, regs: number): boolean {
  const d = 1 << ((k >> 8) & 0xf);
  switch (k & 0x1f) {
    case K_NONE:
    case K_NEG:
      return true;
    case K_MOV:
    case K_ALU:
    case K_LDX:
    case K_LOAD_ACQ:
    case K_ATOMIC:
    case K_LD_IMM64:
      return (regs & d) === 0;
    case K_ST:
    case K_STX:
      return ((k >> 8) & 0xf) !== 11 && (regs & d) === 0;
    case K_JMP_REG:
      return (regs & (d | (1 << ((k >> 12) & 0xf)))) === 0;
    default:
      return false;
  }
}

/** backtrack_insn: what the needed values depended on before `e` ran. */
function backtrackInsn(env: PreciseEnv, kinds: Int32Array, pc: number, e: HistEntry, subseq: number, bt: Bt): Outcome {
  if (env.trace) env.trace(`mark_precise: frame${bt.frame}: regs=${fmtRegs(bt.regs[bt.frame]!)} stack=${bt.fmtSlots(bt.frame)} before ${env.insnText(pc)}`);
  if (e.linked !== undefined) syncLinked(bt, e);
  let k = kinds[pc]!;
  if (k === 0) {
    const i = env.insns[pc]!;
    kinds[pc] = k = kindOf(env.opAt(pc)) | (i.dst << 8) | (i.src << 12);
  }
  // the registers from the table too: the instruction object is read only for an offset or immediate
  const d = (k >> 8) & 0xf;
  const s = (k >> 12) & 0xf;
  switch (k & 0x1f) {
    case K_MOV:
      if (!bt.has(d)) break;
      bt.clear(d);
      if (k & USE_REG && s !== 10) bt.set(s);
      break;
    case K_NEG:
      break;
    case K_ALU:
      if (!bt.has(d)) break;
      if (k & USE_REG && s !== 10) bt.set(s);
      break;
    case K_LDX:
      if (!bt.has(d)) break;
      bt.clear(d);
      // apps/docs/stack-args.md §4.9: an incoming stack argument is the caller's outgoing slot;
      // in a function verified on its own (frame 0) it is an input, and the chain ends
      if (s === 11) {
        if (bt.frame > 0) bt.args[bt.frame - 1]! |= 1 << (env.insns[pc]!.off / 8 - 1);
      } else if (e.spi !== undefined) bt.setSlot(e.spi, e.spiFrame!);
      break;
    case K_LOAD_ACQ:
      if (!bt.has(d)) break;
      bt.clear(d);
      if (e.spi !== undefined) bt.setSlot(e.spi, e.spiFrame!);
      break;
    case K_ATOMIC:
      if (bt.has(d)) return 'fallback';
      if (e.spi === undefined || !bt.hasSlot(e.spi, e.spiFrame!)) break;
      bt.clearSlot(e.spi, e.spiFrame!);
      bt.set(s);
      break;
    case K_ST:
    case K_STX:
      if (d === 11) {
        // the caller's store of a needed stack argument: the stored register is needed (an immediate ends the chain)
        const bit = 1 << (-env.insns[pc]!.off / 8 - 1);
        if (!(bt.args[bt.frame]! & bit)) break;
        bt.args[bt.frame]! &= ~bit;
        if ((k & 0x1f) === K_STX) bt.set(s);
        break;
      }
      if (bt.has(d)) return 'fallback';
      if (e.spi === undefined || !bt.hasSlot(e.spi, e.spiFrame!)) break;
      bt.clearSlot(e.spi, e.spiFrame!);
      if ((k & 0x1f) === K_STX) bt.set(s);
      break;
    case K_CALL_SUBPROG:
      if (env.isGlobalAt(pc + env.insns[pc]!.imm + 1)) {
        if (bt.regs[bt.frame]! & ARGS) return 'fallback';
        bt.clear(0);
        break;
      }
      // the first instruction of a static subprogram: what is still needed are its arguments
      if (bt.regs[bt.frame]! & ~ARGS || bt.anySlot(bt.frame) || bt.args[bt.frame]) return 'fallback';
      if (bt.frame === 0) return 'fallback';
      for (let r = 1; r <= 5; r++)
        if (bt.has(r)) {
          bt.clear(r);
          bt.set(r, bt.frame - 1);
        }
      bt.frame--;
      break;
    case K_CALL_HELPER:
    case K_CALL_KFUNC:
      if (env.callsCallback(pc) && pc !== subseq - 1) {
        // entering a callback's body from its caller: r1-r5 were set by the helper
        if (bt.regs[bt.frame]! & ~ARGS || bt.anySlot(bt.frame)) return 'fallback';
        bt.regs[bt.frame]! &= ~ARGS;
        if (bt.frame === 0) return 'fallback';
        bt.frame--;
        break;
      }
      if ((k & 0x1f) === K_CALL_KFUNC && env.insns[pc]!.imm === 0) return 'fallback';
      bt.clear(0);
      if (bt.regs[bt.frame]! & ARGS) return 'fallback';
      break;
    case K_EXIT: {
      // a callback returns to its call, which reads the caller's r1-r5 again when it calls the
      // callback once more: the running 6.18 kernel keeps them needed in the caller's frame, so
      // the walk goes on through the callback's body to the state before the call
      if (!(e.cb || (subseq >= 0 && env.callsCallback(subseq))) && bt.regs[bt.frame]! & ARGS) return 'fallback';
      const prev = subseq >= 1 ? env.insns[subseq - 1] : undefined;
      const r0 = !e.cb && prev !== undefined && prev.code === 0x85 && prev.src === 1 && bt.has(0);
      bt.clear(0);
      if (bt.frame + 1 >= MAX_FRAMES) return 'fallback';
      bt.frame++;
      bt.regs[bt.frame] = 0;
      bt.slots[2 * bt.frame] = 0;
      bt.slots[2 * bt.frame + 1] = 0;
      bt.args[bt.frame] = 0;
      if (r0) bt.set(0);
      break;
    }
    case K_JMP_REG:
      if (!bt.has(d) && !bt.has(s)) break;
      // a stack pointer compared needs no precision (its history entry says which it was)
      if (!e.srcStack) bt.set(s);
      if (!e.dstStack) bt.set(d);
      break;
    case K_LD_IMM64:
      if (bt.has(d)) bt.clear(d);
      break;
    case K_LD_PKT:
      if (!bt.has(d)) break;
      bt.clear(d);
      return 'fallback';
    default:
      break;
  }
  if (e.linked !== undefined) syncLinked(bt, e);
  return 'ok';
}

/** mark_all_scalars_precise: every scalar of every checkpoint from `cp` up. */
function markAllPrecise(env: PreciseEnv, frame: number, cp: Checkpoint | undefined): void {
  env.trace?.(`mark_precise: frame${frame}: falling back to forcing all scalars precise`);
  for (let c = cp; c; c = c.parent) {
    c.state.frames.forEach((f, k) => {
      f.regs.forEach((r, n) => {
        if (n === 10 || r.type !== 'scalar' || c.preciseRegs[k]! & (1 << n)) return;
        c.preciseRegs[k]! |= 1 << n;
        env.trace?.(`force_precise: frame${k}: forcing r${n} to be precise`);
      });
      f.spilled.forEach((r, s) => {
        if (r?.type !== 'scalar' || f.slotTypes[s * 8 + 7] !== SlotType.Spill || slotPrecise(c, k, s)) return;
        markSlotPrecise(c, k, s);
        env.trace?.(`force_precise: frame${k}: forcing fp${-(s + 1) * 8} to be precise`);
      });
    });
  }
}

/** Every scalar of the path's checkpoints becomes precise (after a callback loop converged on a state still being explored). */
export function markPathPrecise(env: PreciseEnv, path: Path): void {
  markAllPrecise(env, path.frames.length - 1, path.cp);
}

/** __mark_chain_precision from the path's current instruction with `bt` preset. */
function chain(env: PreciseEnv, path: Path, bt: Bt): void {
  if (bt.empty()) return;
  let hist: readonly HistItem[] = path.hist;
  let cp = path.cp;
  let lastIdx = path.pc;
  // an async callback's state starts at instruction 0 (push_async_cb zeroes it)
  let firstIdx = cp ? cp.pc : path.frames[0]!.asyncCb ? 0 : env.subprogStart(path.frames[0]!.subprog);
  let subseq = -1;
  let skipFirst = true;
  const kinds = kindTable(env);
  for (;;) {
    env.trace?.(`mark_precise: frame${bt.frame}: last_idx ${lastIdx} first_idx ${firstIdx} subseq_idx ${subseq} `);
    if (lastIdx < 0) {
      // the entry of a function verified on its own: only its arguments can be left, and they are inputs
      const f0 = path.frames[0]!;
      if (bt.frame === 0 && f0.subprog > 0 && f0.callsite < 0 && !bt.anySlot(0) && !(bt.regs[0]! & ~ARGS)) return;
      markAllPrecise(env, path.frames.length - 1, path.cp);
      return;
    }
    if (skipFirst) {
      skipFirst = false;
      subseq = lastIdx;
    }
    const quiet = env.trace === undefined;
    for (let k = hist.length - 1; k >= 0; k--) {
      const h = hist[k]!;
      const plain = typeof h === 'number';
      const pc = plain ? h >>> 3 : h.pc;
      // an entry without notes whose instruction leaves the needed set as it is (most of a walk:
      // it writes no needed register), skipped without backtrackInsn's call (issue 25)
      if (plain && quiet && passesThrough(kinds[pc]!, bt.regs[bt.frame]!)) {
        subseq = pc;
        continue;
      }
      if (backtrackInsn(env, kinds, pc, plain ? PLAIN : h, subseq, bt) === 'fallback') {
        markAllPrecise(env, path.frames.length - 1, path.cp);
        return;
      }
      if (bt.empty()) return;
      subseq = pc;
    }
    if (!cp) break;
    for (let fr = bt.frame; fr >= 0; fr--) {
      const f = cp.state.frames[fr];
      if (!f) {
        markAllPrecise(env, path.frames.length - 1, path.cp);
        return;
      }
      // the needed registers and slots, set bits only (a scan of 11 registers and 64 slots per
      // frame and checkpoint was most of chain()'s own time)
      for (let m = bt.regs[fr]! & 0x7ff; m !== 0; m &= m - 1) {
        const r = 31 - Math.clz32(m & -m);
        if (f.regs[r]!.type !== 'scalar' || cp.preciseRegs[fr]! & (1 << r)) bt.clear(r, fr);
        else cp.preciseRegs[fr]! |= 1 << r;
      }
      for (let w = 0; w < 2; w++)
        for (let m = bt.slots[2 * fr + w]!; m !== 0; m &= m - 1) {
          const s = 32 * w + 31 - Math.clz32(m & -m);
          const sp = f.slotTypes[s * 8 + 7] === SlotType.Spill ? f.spilled[s] : undefined;
          if (sp?.type !== 'scalar' || slotPrecise(cp, fr, s)) bt.clearSlot(s, fr);
          else markSlotPrecise(cp, fr, s);
        }
      if (env.trace) env.trace(`mark_precise: frame${fr}: parent state regs=${fmtRegs(bt.regs[fr]!)} stack=${bt.fmtSlots(fr)}: ${env.checkpointText(cp, fr)}`);
    }
    if (bt.empty()) return;
    subseq = firstIdx;
    lastIdx = cp.lastIdx;
    firstIdx = cp.firstIdx;
    hist = cp.hist;
    cp = cp.parent;
  }
  if (!bt.empty()) markAllPrecise(env, path.frames.length - 1, path.cp);
}

/** mark_chain_precision: register `regno` of the path's top frame (or some stack slots of a frame) matters. */
export function markPrecise(env: PreciseEnv, path: Path, regs: number, slots: readonly number[] = [], slotFrame = path.frames.length - 1): void {
  const bt = sharedBt.reset();
  bt.frame = path.frames.length - 1;
  bt.regs[bt.frame] = regs & 0x3ff;
  for (const s of slots) bt.setSlot(s, slotFrame);
  chain(env, path, bt);
}

/**
 * propagate_precision: after a prune, what the old state relied on matters on this path
 * too; `live` tells which registers and slots the old state still had.
 */
export function propagatePrecision(env: PreciseEnv, old: Checkpoint, path: Path, liveReg: (frame: number, r: number) => boolean, liveSlot: (frame: number, s: number) => boolean): void {
  const bt = sharedBt.reset();
  bt.frame = path.frames.length - 1;
  // the names for the log only when logging (an array per frame and call was ~1% of the
  // allocation of a bpf_lxc.o verification); the precise bits only, not every register and slot
  const names: string[] | undefined = env.trace ? [] : undefined;
  for (let fr = old.state.frames.length - 1; fr >= 0; fr--) {
    const f = old.state.frames[fr]!;
    if (names) names.length = 0;
    let any = false;
    for (let m = old.preciseRegs[fr]! & 0x3ff; m !== 0; m &= m - 1) {
      const r = 31 - Math.clz32(m & -m);
      if (f.regs[r]!.type !== 'scalar' || !liveReg(fr, r)) continue;
      bt.set(r, fr);
      any = true;
      names?.push(`r${r}`);
    }
    for (let w = 0; w < 2; w++)
      for (let m = old.preciseSlots[2 * fr + w]!; m !== 0; m &= m - 1) {
        const s = 32 * w + 31 - Math.clz32(m & -m);
        if (f.slotTypes[s * 8 + 7] !== SlotType.Spill || f.spilled[s]?.type !== 'scalar' || !liveSlot(fr, s)) continue;
        bt.setSlot(s, fr);
        any = true;
        names?.push(`fp${-(s + 1) * 8}`);
      }
    if (names?.length) env.trace!(`frame ${fr}: propagating ${names.join(',')}`);
    else if (any) env.level1Newline?.();
  }
  chain(env, path, bt);
}

/** One instruction a value depended on, found walking a path backwards (trace.ts). */
export interface ChainLink {
  readonly pc: number;
  readonly frame: number;
  readonly regs: readonly number[];
  readonly slots: readonly number[];
}

/**
 * The instructions the registers `regs` of the path's top frame came from: backtrack_insn's
 * walk over the path's history and its checkpoints' histories, without marking anything
 * precise and without logging. Stops where the walk would fall back to "everything precise".
 */
export function backtrackChain(env: PreciseEnv, path: Path, regs: number): ChainLink[] {
  const quiet = Object.create(env, { trace: { value: undefined } }) as PreciseEnv;
  const bt = new Bt();
  bt.frame = path.frames.length - 1;
  bt.regs[bt.frame] = regs & 0x3ff;
  const kinds = kindTable(quiet);
  const out: ChainLink[] = [];
  let hist: readonly HistItem[] = path.hist;
  let cp = path.cp;
  let subseq = path.pc;
  for (;;) {
    for (let k = hist.length - 1; k >= 0; k--) {
      const h = hist[k]!;
      const plain = typeof h === 'number';
      const pc = plain ? h >>> 3 : h.pc;
      const i = env.insns[pc]!;
      const frame = bt.frame;
      const beforeRegs = bt.regs.slice();
      const beforeSlots = bt.slots.slice();
      const cls = i.code & 7;
      const writes = (cls === 4 || cls === 7 || cls === 1 || i.code === 0x18) && bt.has(i.dst);
      const call = i.code === 0x85 && bt.has(0);
      if (backtrackInsn(quiet, kinds, pc, plain ? PLAIN : h, subseq, bt) === 'fallback') return out;
      const changed = bt.regs.some((r, f) => r !== beforeRegs[f]) || bt.slots.some((s, k) => s !== beforeSlots[k]);
      if (changed || writes || call) {
        const needRegs: number[] = [];
        for (let r = 0; r < 11; r++) if (bt.has(r, frame)) needRegs.push(r);
        const needSlots: number[] = [];
        for (let s = 0; s < 64; s++) if (bt.hasSlot(s, frame)) needSlots.push(-(s + 1) * 8);
        out.push({ pc, frame: plain ? h & 7 : h.depth, regs: needRegs, slots: needSlots });
      }
      if (bt.empty()) return out;
      subseq = pc;
    }
    if (!cp) return out;
    subseq = cp.pc;
    hist = cp.hist;
    cp = cp.parent;
  }
}
