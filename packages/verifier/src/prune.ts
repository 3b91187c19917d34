/**
 * State pruning (kernel/bpf/verifier.c is_state_visited, states_equal, regsafe, stacksafe) and
 * precision tracking (__mark_chain_precision, backtrack_insn): a checkpoint's scalars only
 * constrain later states once a safety decision was found to depend on their value; until
 * then any scalar matches them. Precision is found by walking the path's instructions back.
 */
import { decodeOp, type Insn } from '@bpf/isa';
import { cloneState, SlotType, SLOTS, type Frame, type Reg, type State } from './state.js';
import { tnumIn } from './tnum.js';

/** One executed instruction of a path; `spi` is set for a register spill or fill. */
export interface HistEntry {
  readonly pc: number;
  readonly depth: number;
  readonly spi?: number;
  readonly spiFrame?: number;
}

export interface Checkpoint {
  readonly pc: number;
  readonly state: State;
  /** Per frame: registers whose value a decision depended on, and stack slots. */
  readonly preciseRegs: number[];
  readonly preciseSlots: Set<number>[];
  /** Live paths running through this checkpoint: 0 once fully explored. */
  branches: number;
  readonly parent: Checkpoint | undefined;
  /** The instructions from the parent checkpoint to this one. */
  readonly hist: readonly HistEntry[];
  /** Exact key, for loop detection. */
  readonly key: string;
  hits: number;
  misses: number;
}

export type Path = State & { cp?: Checkpoint; hist: HistEntry[] };

export function newCheckpoint(st: Path, key: string): Checkpoint {
  return { pc: st.pc, state: cloneState(st), preciseRegs: st.frames.map(() => 0), preciseSlots: st.frames.map(() => new Set()), branches: 1, parent: st.cp, hist: st.hist, key, hits: 0, misses: 0 };
}

// ---- equivalence ----

class IdMap {
  private readonly m = new Map<number, number>();
  private readonly back = new Map<number, number>();
  check(a: number | undefined, b: number | undefined): boolean {
    if (!a && !b) return true;
    if (!a || !b) return false;
    const x = this.m.get(a);
    const y = this.back.get(b);
    if (x === undefined && y === undefined) {
      this.m.set(a, b);
      this.back.set(b, a);
      return true;
    }
    return x === b && y === a;
  }
}

const rangeWithin = (o: Reg, c: Reg): boolean =>
  o.umin <= c.umin && o.umax >= c.umax && o.smin <= c.smin && o.smax >= c.smax && o.u32min <= c.u32min && o.u32max >= c.u32max && o.s32min <= c.s32min && o.s32max >= c.s32max;

function regsafe(o: Reg, c: Reg, precise: boolean, ids: IdMap): boolean {
  if (o.type === 'not_init') return true;
  if (c.type === 'not_init' || o.type !== c.type) return false;
  if (o.type === 'scalar') {
    if (!precise) return true;
    if (!ids.check(o.id, c.id) || (o.addConst ?? false) !== (c.addConst ?? false) || (o.addConst && o.off !== c.off)) return false;
    return rangeWithin(o, c) && tnumIn(o.var, c.var);
  }
  if (o.frame !== c.frame || o.map !== c.map || o.memSize !== c.memSize || o.subprog !== c.subprog) return false;
  if (!ids.check(o.id, c.id) || !ids.check(o.refObjId, c.refObjId)) return false;
  if (o.type === 'pkt' || o.type === 'pkt_meta') {
    const or = o.range ?? 0;
    const cr = c.range ?? 0;
    if (or < 0 || cr < 0 ? or !== cr : or > cr) return false;
    if (o.off !== c.off) return false;
    return rangeWithin(o, c) && tnumIn(o.var, c.var);
  }
  if (o.off !== c.off || o.range !== c.range) return false;
  return rangeWithin(o, c) && tnumIn(o.var, c.var);
}

function stacksafe(o: Frame, c: Frame, preciseSlots: Set<number>, liveSlot: (slot: number) => boolean, ids: IdMap): boolean {
  for (let slot = 0; slot < SLOTS; slot++) {
    if (!liveSlot(slot)) continue;
    for (let j = 0; j < 8; j++) {
      const ot = o.slotTypes[slot * 8 + j]!;
      if (ot === SlotType.Invalid || ot === SlotType.Misc) continue;
      if (ot !== c.slotTypes[slot * 8 + j]) return false;
    }
    if (o.slotTypes[slot * 8 + 7] === SlotType.Spill && !regsafe(o.spilled[slot]!, c.spilled[slot]!, preciseSlots.has(slot), ids)) return false;
  }
  return true;
}

/** states_equal in the kernel's NOT_EXACT sense, looking at live registers only. */
export function statesEqual(cp: Checkpoint, cur: State, liveRegs: (frame: number) => number, liveSlot: (frame: number, slot: number) => boolean): boolean {
  const old = cp.state;
  if (old.frames.length !== cur.frames.length || old.refs.length !== cur.refs.length) return false;
  const ids = new IdMap();
  for (let k = 0; k < old.frames.length; k++) {
    const o = old.frames[k]!;
    const c = cur.frames[k]!;
    if (o.callsite !== c.callsite || o.subprog !== c.subprog || o.noStackArgLoad !== c.noStackArgLoad) return false;
    const live = liveRegs(k);
    for (let r = 0; r < 11; r++) {
      if (!(live & (1 << r))) continue;
      if (!regsafe(o.regs[r]!, c.regs[r]!, (cp.preciseRegs[k]! & (1 << r)) !== 0, ids)) return false;
    }
    for (let s = 0; s < o.out.length; s++) {
      const a = o.out[s];
      const b = c.out[s];
      if ((a === undefined) !== (b === undefined)) return false;
      if (a && b && !regsafe(a, b, true, ids)) return false;
    }
    if (!stacksafe(o, c, cp.preciseSlots[k]!, (slot) => liveSlot(k, slot), ids)) return false;
  }
  return old.refs.every((r, k) => ids.check(r.id, cur.refs[k]!.id));
}

// ---- precision ----

interface Bt {
  depth: number;
  regs: number;
  slots: Set<number>;
}

/** backtrack_insn: what the needed values depended on before `e` ran; false when it cannot tell. */
function backtrack(insns: readonly Insn[], e: HistEntry, bt: Bt): boolean {
  const i = insns[e.pc]!;
  const op = decodeOp(i);
  const has = (r: number): boolean => (bt.regs & (1 << r)) !== 0;
  const clear = (r: number): void => void (bt.regs &= ~(1 << r));
  const set = (r: number): void => void (bt.regs |= 1 << r);
  if (e.depth !== bt.depth) return bt.regs === 0 && bt.slots.size === 0;
  switch (op.kind) {
    case 'alu':
      if (!has(i.dst)) return true;
      if (op.op === 'mov' || op.op === 'movsx') {
        clear(i.dst);
        if (op.useReg) set(i.src);
      } else if (op.useReg) set(i.src);
      return true;
    case 'endian':
    case 'gotol':
    case 'may_goto':
      return true;
    case 'ld_imm64':
      clear(i.dst);
      return true;
    case 'ld_abs':
    case 'ld_ind':
      clear(0);
      return true;
    case 'ldx':
      if (!has(i.dst)) return true;
      clear(i.dst);
      if (e.spi !== undefined) {
        if (e.spiFrame !== bt.depth) return false;
        bt.slots.add(e.spi);
      }
      return true;
    case 'st':
    case 'stx':
      if (e.spi === undefined || e.spiFrame !== bt.depth || !bt.slots.has(e.spi)) return true;
      bt.slots.delete(e.spi);
      if (op.kind === 'stx') set(i.src);
      return true;
    case 'atomic':
      if (op.op === 'cmpxchg' && has(0)) clear(0);
      if ((op.fetch || op.op === 'xchg' || op.op === 'load_acquire') && has(op.op === 'load_acquire' ? i.dst : i.src)) clear(op.op === 'load_acquire' ? i.dst : i.src);
      return true;
    case 'jmp':
      if (op.useReg && op.cond !== 'ja' && (has(i.dst) || has(i.src))) {
        set(i.dst);
        set(i.src);
      }
      return true;
    case 'call':
      if (op.target !== 'helper' && op.target !== 'kfunc') return bt.regs === 0 && bt.slots.size === 0;
      clear(0);
      return (bt.regs & 0x3e) === 0;
    case 'exit':
      return bt.regs === 0 && bt.slots.size === 0;
    default:
      return true;
  }
}

/** Mark every scalar of the checkpoints from `cp` up precise (the kernel's fallback). */
function markAllPrecise(cp: Checkpoint | undefined): void {
  for (let c = cp; c; c = c.parent) {
    c.state.frames.forEach((f, k) => {
      f.regs.forEach((r, n) => {
        if (r.type === 'scalar') c.preciseRegs[k]! |= 1 << n;
      });
      f.spilled.forEach((r, s) => {
        if (r?.type === 'scalar') c.preciseSlots[k]!.add(s);
      });
    });
  }
}

/**
 * mark_chain_precision: the value of register `regno` (or stack slot `slot`) of the path's top
 * frame matters; mark what it came from precise in every checkpoint back to where it was made.
 */
export function markPrecise(insns: readonly Insn[], path: Path, regs: number, slots: readonly number[] = []): void {
  const depth = path.frames.length - 1;
  const bt: Bt = { depth, regs: regs & 0x3ff, slots: new Set(slots) };
  let hist: readonly HistEntry[] = path.hist;
  let cp = path.cp;
  for (;;) {
    for (let k = hist.length - 1; k >= 0; k--) {
      if (!backtrack(insns, hist[k]!, bt)) return markAllPrecise(cp);
      if (bt.regs === 0 && bt.slots.size === 0) return;
    }
    if (!cp) return;
    const f = cp.state.frames[bt.depth];
    if (!f) return markAllPrecise(cp);
    for (let r = 0; r < 11; r++) {
      if (!(bt.regs & (1 << r))) continue;
      if (f.regs[r]!.type !== 'scalar' || cp.preciseRegs[bt.depth]! & (1 << r)) bt.regs &= ~(1 << r);
      else cp.preciseRegs[bt.depth]! |= 1 << r;
    }
    for (const s of [...bt.slots]) {
      const sp = f.slotTypes[s * 8 + 7] === SlotType.Spill ? f.spilled[s] : undefined;
      if (sp?.type !== 'scalar' || cp.preciseSlots[bt.depth]!.has(s)) bt.slots.delete(s);
      else cp.preciseSlots[bt.depth]!.add(s);
    }
    if (bt.regs === 0 && bt.slots.size === 0) return;
    hist = cp.hist;
    cp = cp.parent;
  }
}

/** propagate_precision: after a prune, what the old state relied on matters on this path too. */
export function propagatePrecision(insns: readonly Insn[], old: Checkpoint, path: Path): void {
  const depth = path.frames.length - 1;
  if (old.preciseRegs[depth] || old.preciseSlots[depth]!.size) markPrecise(insns, path, old.preciseRegs[depth]!, [...old.preciseSlots[depth]!]);
  for (let k = 0; k < depth; k++) if (old.preciseRegs[k] || old.preciseSlots[k]!.size) markAllPrecise(path.cp);
}
