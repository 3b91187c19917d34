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
import { JumpHist, NOTE_CB, NOTE_DST_STACK, NOTE_LINKED_SHIFT, NOTE_SPI_FRAME_SHIFT, NOTE_SPI_MASK, NOTE_SRC_STACK } from './jmphist.js';
import { SlotType, type State } from './state.js';

/** One entry of a jump history, decoded ({@link histEntries}; the walk reads the words themselves). */
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

export interface LinkedReg {
  readonly frame: number;
  /** A register number, or a stack slot when `slot` is set. */
  readonly n: number;
  readonly slot?: boolean;
}

/** The entries of a jump history, oldest first (for tests and tools). */
export function histEntries(hist: JumpHist): HistEntry[] {
  const out: HistEntry[] = [];
  // newest segment first (jmphist.ts), each read from its end
  for (let h: JumpHist | undefined = hist; h !== undefined; h = h.prev)
    for (let k = h.end - 1; k >= h.start; k--) {
      const w = h.a[k]!;
      if (w >= 0) {
        out.push({ pc: w >>> 3, depth: w & 7 });
        continue;
      }
      const note = h.a[--k]!;
      const nl = (note >> NOTE_LINKED_SHIFT) & 7;
      k -= nl;
      const linked: LinkedReg[] = [];
      for (let j = 0; j < nl; j++) {
        const l = h.a[k + j]!;
        linked.push(l & 1 ? { frame: l >> 7, n: (l >> 1) & 0x3f, slot: true } : { frame: l >> 7, n: (l >> 1) & 0x3f });
      }
      const e: { -readonly [K in keyof HistEntry]: HistEntry[K] } = { pc: ~w >>> 3, depth: ~w & 7 };
      if (note & NOTE_SPI_MASK) {
        e.spi = (note & NOTE_SPI_MASK) - 1;
        e.spiFrame = (note >> NOTE_SPI_FRAME_SHIFT) & 0xf;
      }
      if (note & NOTE_CB) e.cb = true;
      if (nl) e.linked = linked;
      if (note & NOTE_SRC_STACK) e.srcStack = true;
      if (note & NOTE_DST_STACK) e.dstStack = true;
      out.push(e);
    }
  return out.reverse();
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
  readonly hist: JumpHist;
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
  /** Its plan holds its precision marks as they are now; set false where a mark is added (prune.ts copies them again); newCheckpoint sets it. */
  planMarks?: boolean;
  /** Its loop's call chain (scc.ts), null outside loops; made on first use. */
  sccChain?: string | null;
}

/** Whether stack slot `slot` of frame `frame` of a checkpoint is precise. */
export const slotPrecise = (cp: Pick<Checkpoint, 'preciseSlots'>, frame: number, slot: number): boolean => ((cp.preciseSlots[2 * frame + (slot >> 5)]! >>> (slot & 31)) & 1) === 1;

function markSlotPrecise(cp: Checkpoint, frame: number, slot: number): void {
  cp.preciseSlots[2 * frame + (slot >> 5)]! |= 1 << (slot & 31);
  cp.planMarks = false;
}

/** A path: a state with the checkpoint it last passed and the instructions since. */
export type Path = State & { cp?: Checkpoint; hist: JumpHist; histCnt?: number };

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
  /**
   * Nothing needed in frames 0 to `top`, the walk's frame `top` (plain stores: `fill` is a builtin
   * call, ~5% of a loop's verification). The frames above are left as they are: the walk reads
   * no frame above its own, and clears one when it steps into it (a callee's, walking back), so
   * clearing all MAX_FRAMES of them per call was wasted (issue 25).
   */
  reset(top: number): this {
    this.frame = top;
    const { regs, slots, args } = this;
    for (let f = 0; f <= top; f++) {
      regs[f] = 0;
      args[f] = 0;
      slots[2 * f] = 0;
      slots[2 * f + 1] = 0;
    }
    return this;
  }
  /** Whether nothing is needed besides the registers of the walk's frame (see {@link empty}). */
  emptyBesidesRegs(): boolean {
    const f = this.frame;
    if (this.slots[2 * f] || this.slots[2 * f + 1] || this.args[f]) return false;
    for (let g = 0; g < f; g++) if (this.regs[g] || this.slots[2 * g] || this.slots[2 * g + 1] || this.args[g]) return false;
    return true;
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
 * bt_sync_linked_regs: one needed register of a linked set makes them all needed; the set is
 * the `n` words of the history `a` from `base` (jmphist.ts `linkedWord`). Plain loops: a closure
 * over `bt` made V8 allocate a context on every call, linked or not (~54 MB per verification of
 * cilium's bpf_lxc.o tail calls, issue 25).
 */
function syncLinked(bt: Bt, a: Int32Array, base: number, n: number): void {
  let any = false;
  for (let k = 0; k < n && !any; k++) {
    const l = a[base + k]!;
    any = l & 1 ? bt.hasSlot((l >> 1) & 0x3f, l >> 7) : bt.has((l >> 1) & 0x3f, l >> 7);
  }
  if (!any) return;
  for (let k = 0; k < n; k++) {
    const l = a[base + k]!;
    if (l & 1) bt.setSlot((l >> 1) & 0x3f, l >> 7);
    else bt.set((l >> 1) & 0x3f, l >> 7);
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

/**
 * Per verification (the env), per instruction: its kind with its registers (`kinds`, 0 where not
 * decoded yet); the needed registers of the frame that make backtrackInsn do something for an
 * entry of it without notes (`stop`, see {@link stopMask}; -1 where not decoded yet); and, when
 * all it then does is clear and set registers of the frame, which (`upd`, see {@link updMask}).
 */
interface Tables {
  readonly kinds: Int32Array;
  readonly stop: Int32Array;
  readonly upd: Int32Array;
}
const tables = new WeakMap<PreciseEnv, Tables>();

function tablesOf(env: PreciseEnv): Tables {
  let t = tables.get(env);
  if (t === undefined) {
    const n = env.insns.length;
    tables.set(env, (t = { kinds: new Int32Array(n), stop: new Int32Array(n).fill(-1), upd: new Int32Array(n) }));
  }
  return t;
}

/** {@link updMask}: the registers cleared in bits 0-11, those set in bits 12-23, and this bit. */
const UPD = 1 << 24;

/**
 * For an entry without notes of an instruction of kind `k` that needs something of it (its
 * {@link stopMask} met): when backtrackInsn only clears registers of the frame and then sets
 * some, which, as `clear | set << 12 | UPD` (the needed registers become `regs & ~clear | set`);
 * 0 when it does more (stack slots, frames, calls, a fall back to all precise). The walk applies
 * it without the call (issue 25: backtrackInsn's calls were a third of a nested loop's walk).
 */
function updMask(k: number): number {
  const d = (k >> 8) & 0xf;
  const s = (k >> 12) & 0xf;
  const src = k & USE_REG && s !== 10 ? 1 << s : 0;
  switch (k & 0x1f) {
    case K_MOV:
      return UPD | (1 << d) | (src << 12);
    case K_ALU:
      return UPD | (src << 12);
    case K_LDX:
      return s === 11 ? 0 : UPD | (1 << d);
    case K_LOAD_ACQ:
    case K_LD_IMM64:
      return UPD | (1 << d);
    case K_JMP_REG:
      return UPD | (((1 << d) | (1 << s)) << 12);
    default:
      return 0;
  }
}

/** A bit above the registers' set in every needed-register mask the walk tests against `stop`: a -1 there stops the walk at the entry even when no register is needed. */
const ALWAYS = 1 << 16;

/**
 * For an entry without notes of an instruction of kind `k`: the needed registers of the frame
 * that make backtrackInsn change `bt` (a register it writes, a jump comparing it), 0 when it
 * never does, -1 (with {@link ALWAYS}) when it may whatever is needed (calls, exits, stack
 * arguments, packet loads).
 */
function stopMask(k: number): number {
  const d = (k >> 8) & 0xf;
  switch (k & 0x1f) {
    case K_NONE:
    case K_NEG:
      return 0;
    case K_ALU:
      // an immediate (or the frame pointer) operand: the needed destination stays needed, nothing more is
      return k & USE_REG && ((k >> 12) & 0xf) !== 10 ? 1 << d : 0;
    case K_MOV:
    case K_LDX:
    case K_LOAD_ACQ:
    case K_ATOMIC:
    case K_LD_IMM64:
      return 1 << d;
    case K_ST:
    case K_STX:
      return d === 11 ? -1 : 1 << d;
    case K_JMP_REG:
      return (1 << d) | (1 << ((k >> 12) & 0xf));
    default:
      return -1;
  }
}

/**
 * backtrack_insn: what the needed values depended on before instruction `pc` ran, `note` its
 * history entry's note bits (jmphist.ts; 0 for an entry without notes), its linked registers the
 * `nl` words of `a` from `base`.
 */
function backtrackInsn(env: PreciseEnv, t: Tables, pc: number, note: number, a: Int32Array, base: number, nl: number, subseq: number, bt: Bt): Outcome {
  if (env.trace) env.trace(`mark_precise: frame${bt.frame}: regs=${fmtRegs(bt.regs[bt.frame]!)} stack=${bt.fmtSlots(bt.frame)} before ${env.insnText(pc)}`);
  if (nl !== 0) syncLinked(bt, a, base, nl);
  let k = t.kinds[pc]!;
  if (k === 0) {
    const i = env.insns[pc]!;
    t.kinds[pc] = k = kindOf(env.opAt(pc)) | (i.dst << 8) | (i.src << 12);
    t.stop[pc] = stopMask(k);
    t.upd[pc] = updMask(k);
  }
  // the slot a spill or fill used (-1: none) and its frame
  const spi = (note & NOTE_SPI_MASK) - 1;
  const spiFrame = (note >> NOTE_SPI_FRAME_SHIFT) & 0xf;
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
      } else if (spi >= 0) bt.setSlot(spi, spiFrame);
      break;
    case K_LOAD_ACQ:
      if (!bt.has(d)) break;
      bt.clear(d);
      if (spi >= 0) bt.setSlot(spi, spiFrame);
      break;
    case K_ATOMIC:
      if (bt.has(d)) return 'fallback';
      if (spi < 0 || !bt.hasSlot(spi, spiFrame)) break;
      bt.clearSlot(spi, spiFrame);
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
      if (spi < 0 || !bt.hasSlot(spi, spiFrame)) break;
      bt.clearSlot(spi, spiFrame);
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
      if (!(note & NOTE_CB || (subseq >= 0 && env.callsCallback(subseq))) && bt.regs[bt.frame]! & ARGS) return 'fallback';
      const prev = subseq >= 1 ? env.insns[subseq - 1] : undefined;
      const r0 = !(note & NOTE_CB) && prev !== undefined && prev.code === 0x85 && prev.src === 1 && bt.has(0);
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
      if (!(note & NOTE_SRC_STACK)) bt.set(s);
      if (!(note & NOTE_DST_STACK)) bt.set(d);
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
  if (nl !== 0) syncLinked(bt, a, base, nl);
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
        c.planMarks = false;
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
  let hist: JumpHist = path.hist;
  let cp = path.cp;
  let lastIdx = path.pc;
  // an async callback's state starts at instruction 0 (push_async_cb zeroes it)
  let firstIdx = cp ? cp.pc : path.frames[0]!.asyncCb ? 0 : env.subprogStart(path.frames[0]!.subprog);
  let subseq = -1;
  let skipFirst = true;
  const t = tablesOf(env);
  const stop = t.stop;
  const upd = t.upd;
  const quiet = env.trace === undefined;
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
    // the needed registers of the walk's frame, kept here while only they change, and whether
    // anything else is needed
    let regs = bt.regs[bt.frame]!;
    let rest = !bt.emptyBesidesRegs();
    // the history's segments newest first (jmphist.ts), each read from its end
    for (let seg: JumpHist | undefined = hist; seg !== undefined; seg = seg.prev) {
      const a = seg.a;
      for (let k = seg.end - 1; k >= seg.start; k--) {
        let h = a[k]!;
        let note = 0;
        let nl = 0;
        if (h >= 0) {
          if (quiet) {
            // an entry without notes whose instruction leaves the needed set as it is (most of a
            // walk: it writes no needed register), skipped with one test; one that only moves
            // needed registers of the frame, with two (issue 25)
            const pc = h >>> 3;
            if (((regs | ALWAYS) & stop[pc]!) === 0) {
              subseq = pc;
              continue;
            }
            const u = upd[pc]!;
            if (u !== 0) {
              regs = (regs & ~(u & 0xfff)) | ((u >> 12) & 0xfff);
              if (regs === 0 && !rest) {
                bt.regs[bt.frame] = 0;
                return;
              }
              subseq = pc;
              continue;
            }
          }
        } else {
          h = ~h;
          note = a[--k]!;
          nl = (note >> NOTE_LINKED_SHIFT) & 7;
          k -= nl;
        }
        const pc = h >>> 3;
        bt.regs[bt.frame] = regs;
        if (backtrackInsn(env, t, pc, note, a, k, nl, subseq, bt) === 'fallback') {
          markAllPrecise(env, path.frames.length - 1, path.cp);
          return;
        }
        if (bt.empty()) return;
        regs = bt.regs[bt.frame]!;
        rest = !bt.emptyBesidesRegs();
        subseq = pc;
      }
    }
    bt.regs[bt.frame] = regs;
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
        else {
          cp.preciseRegs[fr]! |= 1 << r;
          cp.planMarks = false;
        }
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

/** No stack slot (markPrecise's default: a new empty array per call was a tenth of a generated loop's allocation). */
const NO_SLOTS: readonly number[] = [];

/** mark_chain_precision: register `regno` of the path's top frame (or some stack slots of a frame) matters. */
export function markPrecise(env: PreciseEnv, path: Path, regs: number, slots: readonly number[] = NO_SLOTS, slotFrame = path.frames.length - 1): void {
  const bt = sharedBt.reset(path.frames.length - 1);
  bt.regs[bt.frame] = regs & 0x3ff;
  for (let k = 0; k < slots.length; k++) bt.setSlot(slots[k]!, slotFrame);
  chain(env, path, bt);
}

/**
 * propagate_precision: after a prune, what the old state relied on matters on this path
 * too; `live` tells which registers and slots the old state still had.
 */
export function propagatePrecision(env: PreciseEnv, old: Checkpoint, path: Path, liveReg: (frame: number, r: number) => boolean, liveSlot: (frame: number, s: number) => boolean): void {
  // (old's frames are the path's, a prune compares states of one call chain: cleared all the same)
  const bt = sharedBt.reset(Math.max(path.frames.length, old.state.frames.length) - 1);
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
  const t = tablesOf(quiet);
  const out: ChainLink[] = [];
  let hist: JumpHist = path.hist;
  let cp = path.cp;
  let subseq = path.pc;
  for (;;) {
    for (let seg: JumpHist | undefined = hist; seg !== undefined; seg = seg.prev) {
      const a = seg.a;
      for (let k = seg.end - 1; k >= seg.start; k--) {
        let h = a[k]!;
        let note = 0;
        let nl = 0;
        if (h < 0) {
          h = ~h;
          note = a[--k]!;
          nl = (note >> NOTE_LINKED_SHIFT) & 7;
          k -= nl;
        }
        const pc = h >>> 3;
        const i = env.insns[pc]!;
        const frame = bt.frame;
        const beforeRegs = bt.regs.slice();
        const beforeSlots = bt.slots.slice();
        const cls = i.code & 7;
        const writes = (cls === 4 || cls === 7 || cls === 1 || i.code === 0x18) && bt.has(i.dst);
        const call = i.code === 0x85 && bt.has(0);
        if (backtrackInsn(quiet, t, pc, note, a, k, nl, subseq, bt) === 'fallback') return out;
        const changed = bt.regs.some((r, f) => r !== beforeRegs[f]) || bt.slots.some((s, k) => s !== beforeSlots[k]);
        if (changed || writes || call) {
          const needRegs: number[] = [];
          for (let r = 0; r < 11; r++) if (bt.has(r, frame)) needRegs.push(r);
          const needSlots: number[] = [];
          for (let s = 0; s < 64; s++) if (bt.hasSlot(s, frame)) needSlots.push(-(s + 1) * 8);
          out.push({ pc, frame: h & 7, regs: needRegs, slots: needSlots });
        }
        if (bt.empty()) return out;
        subseq = pc;
      }
    }
    if (!cp) return out;
    subseq = cp.pc;
    hist = cp.hist;
    cp = cp.parent;
  }
}
