/**
 * State pruning (kernel/bpf/verifier.c is_state_visited, states_equal, regsafe, stacksafe):
 * a path that reaches a prune point in a state covered by a fully explored checkpoint there
 * ends. Scalars of a checkpoint only count where they were marked precise (precise.ts).
 */
import { cloneState, setSpilled, SLOTS, SlotType, UNKNOWN, type Frame, type Reg, type State } from './state.js';
import { refsSafe } from './locks.js';
import { tnumIn } from './tnum.js';
import { slotPrecise, type Checkpoint, type Path } from './precise.js';

export type { Checkpoint, HistEntry, Path } from './precise.js';

export function newCheckpoint(st: Path, entry = 0): Checkpoint {
  const depth = st.frames.length;
  return {
    pc: st.pc,
    state: cloneState(st),
    // literals for one frame, nearly every checkpoint: an array made by map() or by new Array(n)
    // and fill() was a third of visited()'s own time on tetragon's kprobes (issue 25)
    preciseRegs: depth === 1 ? [0] : newMarks(depth),
    preciseSlots: depth === 1 ? [0, 0] : newMarks(2 * depth),
    branches: 1,
    parent: st.cp,
    hist: st.hist,
    // a checkpoint at the very start of a path has no instruction before it
    lastIdx: st.cp === undefined && st.hist.isEmpty() ? -1 : st.prev,
    firstIdx: st.cp ? st.cp.pc : entry,
    hits: 0,
    misses: 0,
    dfsDepth: st.cp ? (st.cp.dfsDepth ?? 0) + 1 : 0,
    // the fields set later, present from the start: every checkpoint keeps one shape (issue 25)
    key: undefined,
    evicted: undefined,
    cleaned: undefined,
    alive: undefined,
    plan: -1,
    planMarks: false,
    sccChain: undefined,
  };
}

// ---- equivalence ----

/**
 * bpf_idmap: ids of the old state mapped one to one onto ids of the current one. One instance
 * serves every comparison (statesEqual is not re-entrant); the pairs sit in two arrays searched
 * linearly over their first `n` entries (a state has a few dozen ids at most), emptied by
 * setting `n` to 0: a Map's clear() allocates a new table, and an array's `length = 0` drops its
 * backing store, so the next push allocated one again, once per comparison (issue 25).
 */
class IdMap {
  private readonly olds: number[] = [];
  private readonly curs: number[] = [];
  private n = 0;
  private tmp = 0;
  reset(): void {
    this.n = 0;
    this.tmp = 0;
  }
  private find(list: readonly number[], v: number): number {
    for (let k = 0; k < this.n; k++) if (list[k] === v) return k;
    return -1;
  }
  check(a: number | undefined, b: number | undefined): boolean {
    if (!a && !b) return true;
    if (!a || !b) return false;
    const x = this.find(this.olds, a);
    const y = this.find(this.curs, b);
    if (x < 0 && y < 0) {
      const n = this.n++;
      if (n < this.olds.length) {
        this.olds[n] = a;
        this.curs[n] = b;
      } else {
        this.olds.push(a);
        this.curs.push(b);
      }
      return true;
    }
    return x >= 0 && x === y;
  }
  /**
   * check_scalar_ids: an old scalar without an id constrains nothing (whatever links the current
   * one has only add knowledge); otherwise the current one, or a fresh id standing for it, maps
   * one to one, and an offset link's base id too. Ids carry their link kind as the kernel's
   * carry the BPF_ADD_CONST bits, so `id` and `id + K` are told apart.
   */
  checkScalar(o: Reg, c: Reg): boolean {
    if (!o.id) return true;
    const base = c.id || --this.tmp;
    if (!this.check(linkedId(o.id, o), c.id ? linkedId(base, c) : base)) return false;
    return !o.addConst || this.check(o.id, base);
  }
}
/** A scalar's id with its link kind in the bits the kernel's BPF_ADD_CONST64/32 take (above any id made). */
const linkedId = (id: number, r: Reg): number => (r.addConst ? id + (r.addConst32 ? 2 ** 30 : 2 ** 31) : id);
const sharedIds = new IdMap();
/** refsSafe's id check, made once. */
const sharedIdCheck = (a: number | undefined, b: number | undefined): boolean => sharedIds.check(a, b);

const rangeWithinRegs = (o: Reg, c: Reg): boolean =>
  o.umin <= c.umin && o.umax >= c.umax && o.smin <= c.smin && o.smax >= c.smax && o.u32min <= c.u32min && o.u32max >= c.u32max && o.s32min <= c.s32min && o.s32max >= c.s32max;

function regsafe(o: Reg, c: Reg, precise: boolean, ids: IdMap, rw = false): boolean {
  if (o === c) {
    // the same register object (one left unchanged since a state both copies share; registers are
    // never mutated): every test below passes but the id mapping, which must still be made, and
    // tnumIn, which a tnum with bits both known and unknown would fail even against itself
    if (o.type === 'not_init') return true;
    if (o.type === 'scalar') return (!precise && !rw) || (ids.checkScalar(o, c) && tnumIn(o.var, c.var));
    return ids.check(o.id, c.id) && ids.check(o.refObjId, c.refObjId) && tnumIn(o.var, c.var);
  }
  // an old register never written: nothing the old state went on to do read it, in a loop's
  // convergence (RANGE_WITHIN) too — the running 6.18 kernel's regsafe, as its stacksafe treats
  // invalid and misc bytes (Linux's 6.18 sources still refuse a written current register there)
  if (o.type === 'not_init') return true;
  if (c.type === 'not_init' || o.type !== c.type) return false;
  if (o.type === 'scalar') {
    if (!precise && !rw) return true;
    // an old scalar linked to others needs the same kind of link (ADD_CONST flags) and offset
    if (o.id && ((o.addConst ?? false) !== (c.addConst ?? false) || (o.addConst32 ?? false) !== (c.addConst32 ?? false))) return false;
    if (o.addConst && o.off !== c.off) return false;
    if (!ids.checkScalar(o, c)) return false;
    return rangeWithinRegs(o, c) && tnumIn(o.var, c.var);
  }
  // the ids last: a comparison that fails leaves the id map to the next one, which resets it
  return ptrSafe(o, c) && ids.check(o.id, c.id) && ids.check(o.refObjId, c.refObjId);
}

/**
 * regsafe of two distinct pointers of the old state (`o`, neither not_init nor a scalar) and the
 * current one, all but the ids: what statesEqual looks at before it maps any id (issue 25).
 */
function ptrSafe(o: Reg, c: Reg): boolean {
  if (o.type !== c.type) return false;
  // map_uid sits before var_off in struct bpf_reg_state: compared exactly, as the kernel's memcmp does
  if (o.frame !== c.frame || o.map !== c.map || o.memSize !== c.memSize || o.subprog !== c.subprog || o.nonOwn !== c.nonOwn || o.mapUid !== c.mapUid) return false;
  if (o.type === 'pkt' || o.type === 'pkt_meta') {
    const or = o.range ?? 0;
    const cr = c.range ?? 0;
    if (or < 0 || cr < 0 ? or !== cr : or > cr) return false;
    if (o.off !== c.off) return false;
    return rangeWithinRegs(o, c) && tnumIn(o.var, c.var);
  }
  if (o.off !== c.off || o.range !== c.range) return false;
  return rangeWithinRegs(o, c) && tnumIn(o.var, c.var);
}

/** scalar_reg_for_stack: a 64-bit scalar spill, or all bytes misc (an unknown scalar). */
function scalarForStack(f: Frame, slot: number): Reg | 'unbound' | undefined {
  const b = slot * 8;
  const t = f.slotTypes;
  if (t[b] === SlotType.Spill && f.spilled[slot]?.type === 'scalar') return f.spilled[slot];
  for (let j = 0; j < 8; j++) if (t[b + j] !== SlotType.Misc && t[b + j] !== SlotType.Invalid) return undefined;
  return 'unbound';
}

/**
 * stacksafe over the slots a checkpoint's plan lists (live, holding more than invalid and misc
 * bytes). Linux's sources compare every byte's type exactly for a loop's convergence
 * (RANGE_WITHIN); the running 6.18 kernel does not (fixtures: prune.test.ts loop_slot_types), so
 * `rw` only makes scalars compare as precise here.
 *
 * What the plan already knows is not worked out again (issue 25): whether the old slot holds a
 * scalar spill (PLAN_SCALAR; scalar_reg_for_stack's other case, a slot of invalid and misc bytes
 * only, is never listed), and, for the other slots, that every byte that is neither invalid nor
 * misc has the same type in the current state (the needs, which statesEqual checked before), so
 * that only the last byte's register is left to compare: {@link statesEqualPlain}'s byte-by-byte
 * walk answers the same.
 */
function stacksafe(w0: number, w1: number, o: Frame, c: Frame, slots: Int32Array, from: number, to: number, ids: IdMap, rw: boolean): boolean {
  const allocated = c.allocated ?? 0;
  for (let i = from; i < to; i++) {
    const e = slots[i]!;
    const slot = e & 0xff;
    // the frame's precise slots, as the plan holds them (slotPrecise)
    const precise = (((slot < 32 ? w0 : w1) >>> (slot & 31)) & 1) === 1;
    // a slot the old state used and the current one never touched (beyond its allocated_stack)
    if (slot * 8 >= allocated) return false;
    if ((e & PLAN_SCALAR) !== 0) {
      const cr = scalarForStack(c, slot);
      if (cr !== undefined) {
        if (!regsafe(o.spilled[slot]!, cr === 'unbound' ? UNBOUND_SCALAR : cr, precise, ids, rw)) return false;
        continue;
      }
      if (!slotBytesSafe(o, c, slot, (e >>> 8) & 0xff, precise, ids, rw)) return false;
      continue;
    }
    // the old slot's last byte, as the plan holds it
    const ot = (e >>> PLAN_LAST_SHIFT) & 15;
    if (ot === SlotType.Spill) {
      if (!regsafe(o.spilled[slot]!, c.spilled[slot]!, precise, ids, rw)) return false;
    } else if (ot === SlotType.Iter) {
      if (!iterSafe(o.spilled[slot], c.spilled[slot], ids)) return false;
    } else if (ot === SlotType.Dynptr) {
      if (!dynptrSafe(o.spilled[slot], c.spilled[slot], ids)) return false;
    } else if (ot === SlotType.IrqFlag) {
      if (!irqSafe(o.spilled[slot], c.spilled[slot], ids)) return false;
    }
  }
  return true;
}

/** STACK_IRQ_FLAG: the same kfunc class, references mapped one to one. */
const irqSafe = (o: Reg | undefined, c: Reg | undefined, ids: IdMap): boolean => o?.irqClass === c?.irqClass && ids.check(o?.refObjId, c?.refObjId);

/** One slot compared byte by byte from byte `j0` on (stacksafe's loop over slot_type). */
function slotBytesSafe(o: Frame, c: Frame, slot: number, j0: number, precise: boolean, ids: IdMap, rw: boolean): boolean {
  const ot8 = o.slotTypes;
  const ct8 = c.slotTypes;
  const b = slot * 8;
  for (let j = j0; j < 8; j++) {
    const ot = ot8[b + j]!;
    if (ot === SlotType.Invalid || ot === SlotType.Misc) continue;
    if (ot !== ct8[b + j]) return false;
    if (j !== 7) continue;
    if (ot === SlotType.Spill && !regsafe(o.spilled[slot]!, c.spilled[slot]!, precise, ids, rw)) return false;
    if (ot === SlotType.Iter && !iterSafe(o.spilled[slot], c.spilled[slot], ids)) return false;
    if (ot === SlotType.Dynptr && !dynptrSafe(o.spilled[slot], c.spilled[slot], ids)) return false;
    if (ot === SlotType.IrqFlag && !irqSafe(o.spilled[slot], c.spilled[slot], ids)) return false;
  }
  return true;
}

/**
 * Two STACK_ITER slots (stacksafe): the same kind, state and RCU protection, references mapped
 * one to one. The depth is not compared: it would keep a loop from converging.
 */
function iterSafe(o: Reg | undefined, c: Reg | undefined, ids: IdMap): boolean {
  const a = o?.iter;
  const b = c?.iter;
  if (!a || !b) return a === b;
  return a.kind === b.kind && a.state === b.state && a.rcu === b.rcu && ids.check(o.refObjId, c.refObjId);
}

/** Two STACK_DYNPTR slots (stacksafe): the same kind and slot, references mapped one to one. */
function dynptrSafe(o: Reg | undefined, c: Reg | undefined, ids: IdMap): boolean {
  const a = o?.dynptr;
  const b = c?.dynptr;
  if (!a || !b) return a === b;
  return a.kind === b.kind && a.first === b.first && ids.check(o.refObjId, c.refObjId);
}

const UNBOUND_SCALAR: Reg = {
  type: 'scalar',
  off: 0,
  var: { value: 0n, mask: 0xffffffffffffffffn },
  smin: -0x8000000000000000n,
  smax: 0x7fffffffffffffffn,
  umin: 0n,
  umax: 0xffffffffffffffffn,
  s32min: -0x80000000,
  s32max: 0x7fffffff,
  u32min: 0,
  u32max: 0xffffffff,
};

/** Two registers print and compare alike, ids aside (a quick filter before exact keys). */
export function sameReg(a: Reg, b: Reg): boolean {
  if (a === b) return true;
  return (
    a.type === b.type &&
    a.off === b.off &&
    a.var.value === b.var.value &&
    a.var.mask === b.var.mask &&
    a.smin === b.smin &&
    a.smax === b.smax &&
    a.umin === b.umin &&
    a.umax === b.umax &&
    a.s32min === b.s32min &&
    a.s32max === b.s32max &&
    a.u32min === b.u32min &&
    a.u32max === b.u32max &&
    !a.id === !b.id &&
    a.frame === b.frame &&
    a.map === b.map &&
    a.range === b.range
  );
}

/** states_maybe_looping: the live registers of the top frame are alike. */
export function statesMaybeLooping(old: State, cur: State, live: number): boolean {
  if (old.frames.length !== cur.frames.length) return false;
  const o = old.frames[old.frames.length - 1]!.regs;
  const c = cur.frames[cur.frames.length - 1]!.regs;
  for (let r = 0; r < 11; r++) if (live & (1 << r) && !sameReg(o[r]!, c[r]!)) return false;
  return true;
}

/**
 * A necessary condition for two states at one instruction to have the same stateKey (state.ts: the
 * infinite-loop check's exact comparison), tested before the keys are made: the same call chain,
 * the same stack bytes in every frame (the key lists every slot's bytes, each type one digit) and,
 * in the slots whose last byte carries a register, registers of the same type and tnum (the key
 * prints both). A loop whose counter lives on the stack passes states_maybe_looping at every
 * checkpoint of its head; the keys, two strings of every slot, were a tenth of a tracee program's
 * verification (issue 25).
 */
export function mayHaveSameKey(old: State, cur: State): boolean {
  if (!sameCallsites(old, cur)) return false;
  for (let k = 0; k < old.frames.length; k++) {
    const o = old.frames[k]!;
    const c = cur.frames[k]!;
    const ot = o.slotTypes;
    const ct = c.slotTypes;
    if (ot !== ct) {
      // bytes at or past a frame's stackTop are invalid (0)
      const top = Math.min(STACK_BYTES, Math.max(o.stackTop, c.stackTop));
      for (let b = 0; b < top; b++) if (ot[b] !== ct[b]) return false;
    }
    if (o.spilled === c.spilled) continue;
    for (let slot = 0; slot < SLOTS; slot++) {
      const t = ot[slot * 8 + 7];
      if (t !== SlotType.Spill && t !== SlotType.Iter && t !== SlotType.Dynptr && t !== SlotType.IrqFlag) continue;
      const a = o.spilled[slot];
      const b = c.spilled[slot];
      if (a === b) continue;
      if (a === undefined || b === undefined || a.type !== b.type) return false;
      if (a.type !== 'not_init' && (a.var.value !== b.var.value || a.var.mask !== b.var.mask)) return false;
    }
  }
  return true;
}

/**
 * What comparing a state with one checkpoint looks at, worked out on its first comparison and
 * again when it is cleaned: the liveness of its registers and slots depends only on the
 * instruction and the call chain, which the checkpoint and every state compared with it share,
 * so the live registers and the slots stacksafe must look at are listed once, not tested over
 * all sixty-four slots per comparison (issue 25). The list only leaves out slots stacksafe
 * passes without looking, so statesEqual's answer is unchanged.
 *
 * A plan is a run of 32-bit words in its verification's PlanStore, the checkpoint holding its
 * offset (`plan`, -1 before the first comparison): one typed array for every plan of a
 * verification, no object per plan (plans were a quarter of the memory a verification holds,
 * and each one's header the first cache miss of a comparison; issue 25), so that a comparison
 * that fails early — most of them, on a precise scalar, the call chain or a stack byte — reads
 * the checkpoint's side from a few adjacent words instead of chasing its state's frame objects.
 * From the plan's offset:
 * - `[0]` the number of frames `d`; then per frame `k`, at `1 + 5k`: its call site, its
 *   subprogram, and a copy of the checkpoint's precision marks (preciseRegs[k], preciseSlots[2k],
 *   preciseSlots[2k + 1]), brought up to date by statesEqual when precision has marked more since
 *   (`planMarks` false): a comparison reads the marks beside the words it reads first instead of
 *   through two arrays of the checkpoint, a cache miss each (issue 25);
 * - at `1 + 5d`, per frame, the screen: the number of live registers that hold a scalar, then
 *   per such register its number and its 32-bit bounds (u32min, u32max as int32 words, s32min,
 *   s32max), then the same for the live slots whose spill is a scalar (the slot's number first):
 *   regsafe's range test on the 32-bit bounds alone, a necessary condition read from the plan
 *   without the old state's frames, registers or BigInts (cache misses, one chain per
 *   checkpoint: nineteen in twenty comparisons on the OpenTelemetry profiler's unwinders failed
 *   on a precise scalar, nearly all on these bounds; issue 25);
 * - then the number of words `n` of the required stack bytes, then those words, two per live
 *   slot that is not a scalar (scalar_reg_for_stack, which a misc slot may match): frame << 8 |
 *   slot, then the type every byte that is neither invalid nor misc has in any covered state,
 *   byte `j`'s in bits 4j..4j+3 (0, invalid, for the others: no byte of the list is);
 * - then per frame: its live registers (liveRegs), those of them that hold a pointer, the number
 *   of slots `m` stacksafe must look at, and those `m` slots (slot | first byte that is neither invalid nor misc << 8, plus
 *   PLAN_PTR_SPILL for a spilled pointer): the live slots holding something other than invalid
 *   and misc bytes.
 */
export class PlanStore {
  /** The words of the plans; replaced by a larger or a compacted copy when full (reserve). */
  words: Int32Array = EMPTY_WORDS;
  /** The first free word. */
  top = 0;
  /**
   * `lists`: the verification's explored lists, the only checkpoints ever compared; a plan of
   * a checkpoint no longer in one (dropped for its misses, or of an earlier walk) is garbage,
   * and so is one made again after its checkpoint was cleaned.
   */
  constructor(
    private readonly lists: () => readonly (readonly Checkpoint[] | undefined)[],
    /** The size of the first array, at least (tests make it small, for the store to grow often). */
    private readonly first = MIN_WORDS,
  ) {}

  /**
   * Room for `need` more words. When full: if the plans of the checkpoints in the lists hold at
   * least half the words used, every word is copied as it is (one block copy, no offset changes)
   * into an array twice as large; otherwise only those plans are copied, to the start of an array
   * at least twice as large as they are, and the rest (dropped checkpoints' plans, plans made again
   * after cleaning) is left behind. The words held stay within four times the live plans'. Copying
   * plan by plan into an array half as large again as the live plans at every fill copied twice
   * as many words as the plans were made of and was 1-3% of the real-world rows (issue 25).
   */
  reserve(need: number): Int32Array {
    const old = this.words;
    if (old.length - this.top >= need) return old;
    let live = 0;
    for (const list of this.lists()) {
      if (list === undefined) continue;
      for (let i = 0; i < list.length; i++) if (list[i]!.plan >= 0) live += planLength(old, list[i]!.plan);
    }
    let words: Int32Array;
    if (2 * live >= this.top) {
      words = takeWords(Math.max(2 * old.length, this.top + need, this.first));
      words.set(old.subarray(0, this.top));
    } else {
      words = takeWords(Math.max(2 * live + need, this.first));
      let w = 0;
      for (const list of this.lists()) {
        if (list === undefined) continue;
        for (let i = 0; i < list.length; i++) {
          const cp = list[i]!;
          const p0 = cp.plan;
          if (p0 < 0) continue;
          cp.plan = w;
          const end = p0 + planLength(old, p0);
          words.set(old.subarray(p0, end), w);
          w += end - p0;
        }
      }
      this.top = w;
    }
    this.words = words;
    spareWords(old);
    return words;
  }
}
const EMPTY_WORDS = new Int32Array(0);
/** The first array of a verification's plans: 64 KiB, about 200 plans. */
const MIN_WORDS = 1 << 14;
/** The largest array kept for the next verification's plans (4 MiB). */
const MAX_SPARE = 1 << 20;
/**
 * An array of plans no store holds any more (a store's array before it grew): the next store that
 * needs one at most as large takes it instead of allocating and zeroing a new one (plans are
 * written before they are read). Only arrays a store has let go of are kept here, so no two
 * stores share one, nested verifications included.
 */
let spare: Int32Array | undefined;
function takeWords(n: number): Int32Array {
  const s = spare;
  if (s !== undefined && s.length >= n) {
    spare = undefined;
    return s;
  }
  return new Int32Array(n);
}
function spareWords(a: Int32Array): void {
  if (a.length <= MAX_SPARE && a.length > (spare?.length ?? 0)) spare = a;
}

/** The number of words of the plan at `p0` (its layout above). */
function planLength(s: Int32Array, p0: number): number {
  const depth = s[p0]!;
  let at = p0 + 1 + PLAN_FRAME * depth;
  for (let k = 0; k < depth; k++) {
    at += 1 + 5 * s[at]!;
    at += 1 + 5 * s[at]!;
  }
  at += 1 + s[at]!;
  for (let k = 0; k < depth; k++) at += 3 + s[at + 2]!;
  return at - p0;
}

const STACK_BYTES = SLOTS * 8;
/** A plan's words per frame before the screen: call site, subprogram, the three words of precision marks. */
const PLAN_FRAME = 5;

/** Copies the checkpoint's precision marks into its plan at `p0` (the marks' words of each frame). */
function copyMarks(s: Int32Array, p0: number, cp: Checkpoint): void {
  const depth = s[p0]!;
  for (let k = 0, at = p0 + 3; k < depth; k++, at += PLAN_FRAME) {
    s[at] = cp.preciseRegs[k]!;
    s[at + 1] = cp.preciseSlots[2 * k]!;
    s[at + 2] = cp.preciseSlots[2 * k + 1]!;
  }
  cp.planMarks = true;
}
const isPtrReg = (r: Reg | undefined): boolean => r !== undefined && r.type !== 'scalar' && r.type !== 'not_init';
/** A plan's slot entry whose old slot holds a spilled pointer (its bytes then are in the needs list). */
const PLAN_PTR_SPILL = 1 << 16;
/** A plan's slot entry whose old slot holds a scalar spill (scalar_reg_for_stack's register; no needs). */
const PLAN_SCALAR = 1 << 17;
/** Where a plan's slot entry that is not PLAN_SCALAR holds the type of the old slot's last byte (4 bits). */
const PLAN_LAST_SHIFT = 20;
/** makePlan's list of per-frame slot lists, made before the needs' count is known (shared: plans are made one at a time). */
let listScratch = new Int32Array(8 * (3 + SLOTS));
/** makePlan's needs, made before the last frame's screen is written (shared likewise). */
let needsScratch = new Int32Array(8 * 2 * SLOTS);

/** A screen entry at `w` of `s`: `at` (a register's or slot's number) and the 32-bit bounds of `r`; the next `w`. */
function screenEntry(s: Int32Array, w: number, at: number, r: Reg): number {
  s[w] = at;
  s[w + 1] = r.u32min;
  s[w + 2] = r.u32max;
  s[w + 3] = r.s32min;
  s[w + 4] = r.s32max;
  return w + 5;
}

/** The 32-bit bounds of `c` within the screen's entry at `e` (rangeWithinRegs' 32-bit half). */
function within32(s: Int32Array, e: number, c: Reg): boolean {
  return s[e + 1]! >>> 0 <= c.u32min && s[e + 2]! >>> 0 >= c.u32max && s[e + 3]! <= c.s32min && s[e + 4]! >= c.s32max;
}

/** Makes the checkpoint's plan at the end of `plans` and returns its offset. */
function makePlan(plans: PlanStore, cp: Checkpoint, liveRegs: (frame: number) => number): number {
  const old = cp.state;
  const depth = old.frames.length;
  // room for the largest plan of this depth
  const size = 4 + depth * (PLAN_FRAME + 2 + 5 * (11 + SLOTS) + STACK_BYTES + 3 + SLOTS);
  const s = plans.reserve(size);
  const lists = listScratch.length >= depth * (3 + SLOTS) ? listScratch : (listScratch = new Int32Array(depth * (3 + SLOTS)));
  const needs = needsScratch.length >= depth * 2 * SLOTS ? needsScratch : (needsScratch = new Int32Array(depth * 2 * SLOTS));
  const start = plans.top;
  let w = start;
  s[w++] = depth;
  for (let k = 0; k < depth; k++) {
    s[w++] = old.frames[k]!.callsite;
    s[w++] = old.frames[k]!.subprog;
    // the marks: copyMarks, below
    w += 3;
  }
  // one walk over each frame's registers and slots: the screen's entries go straight into the
  // plan, the needs and the per-frame lists, which come after every frame's screen, into scratch
  let l = 0;
  let n = 0;
  for (let k = 0; k < depth; k++) {
    const f = old.frames[k]!;
    const regs = f.regs;
    const t = f.slotTypes;
    const spilled = f.spilled;
    const live = liveRegs(k) & 0x7ff;
    let at = w++;
    let ptrs = 0;
    for (let m = live; m !== 0; m &= m - 1) {
      const r = 31 - Math.clz32(m & -m);
      const reg = regs[r]!;
      if (reg.type === 'scalar') w = screenEntry(s, w, r, reg);
      else if (reg.type !== 'not_init') ptrs |= 1 << r;
    }
    s[at] = (w - at - 1) / 5;
    at = w++;
    const listAt = l;
    lists[listAt] = live;
    lists[listAt + 1] = ptrs;
    l += 3;
    const alive = cp.alive;
    // the slots past the deepest byte the frame has written hold only invalid bytes: none listed
    const slots = Math.min(SLOTS, (f.stackTop + 7) >> 3);
    for (let slot = 0; slot < slots; slot++) {
      const b = slot * 8;
      // uninitialised stack may be read by privileged programs: misc covers anything, so a slot
      // the old state holds only invalid or misc bytes in is safe whatever the current one holds
      let j0 = 0;
      while (j0 < 8 && (t[b + j0] === SlotType.Invalid || t[b + j0] === SlotType.Misc)) j0++;
      // slotAlive
      if (j0 === 8 || (alive !== undefined && ((alive[k * 2 + (slot >> 5)]! >>> (slot & 31)) & 1) === 0)) continue;
      const o = spilled[slot];
      if (j0 === 0 && t[b] === SlotType.Spill && o?.type === 'scalar') {
        // scalar_reg_for_stack's spill: in the screen, and compared by value (PLAN_SCALAR)
        w = screenEntry(s, w, slot, o);
        lists[l++] = slot | PLAN_SCALAR;
        continue;
      }
      // a spilled pointer: statesEqual compares it before any id (PLAN_PTR_SPILL)
      const last = t[b + 7]!;
      lists[l++] = slot | (j0 << 8) | (last === SlotType.Spill && isPtrReg(o) ? PLAN_PTR_SPILL : 0) | (last << PLAN_LAST_SHIFT);
      let types = 0;
      for (let j = j0; j < 8; j++) if (t[b + j] !== SlotType.Invalid && t[b + j] !== SlotType.Misc) types |= t[b + j]! << (4 * j);
      needs[n++] = (k << 8) | slot;
      needs[n++] = types;
    }
    s[at] = (w - at - 1) / 5;
    lists[listAt + 2] = l - listAt - 3;
  }
  s[w++] = n;
  for (let i = 0; i < n; i++) s[w + i] = needs[i]!;
  w += n;
  for (let i = 0; i < l; i++) s[w + i] = lists[i]!;
  plans.top = w + l;
  copyMarks(s, start, cp);
  return start;
}

/** Slot masks for a new checkpoint's frames: none precise. */
export const newSlotMarks = (frames: number): number[] => newMarks(2 * frames);

/** `n` zeros, pushed into a literal (small integers from the start; no holes). */
function newMarks(n: number): number[] {
  const a: number[] = [];
  for (let i = 0; i < n; i++) a.push(0);
  return a;
}

/**
 * A slot of a checkpoint takes part in comparisons: one it kept when it was cleaned (the kernel
 * makes the others STACK_INVALID), or any slot of one never cleaned (its loop still open).
 */
export function slotAlive(cp: Checkpoint, frame: number, slot: number): boolean {
  const a = cp.alive;
  return a === undefined || ((a[frame * 2 + (slot >> 5)]! >>> (slot & 31)) & 1) === 1;
}

/**
 * states_equal in the kernel's NOT_EXACT sense, looking at live registers and slots only. The
 * state is at the checkpoint's instruction (is_state_visited compares no other).
 */
export function statesEqual(
  /** The verification's plans: the checkpoint's is made there on its first comparison. */
  plans: PlanStore,
  cp: Checkpoint,
  cur: State,
  liveRegs: (frame: number) => number,
  /** The program loads stack arguments (r11) somewhere: only then does no_stack_arg_load matter. */
  stackArgLoads = true,
  /** RANGE_WITHIN: every scalar compared as if precise (convergence of callback calls). */
  rangeWithin = false,
): boolean {
  const depth = cur.frames.length;
  let p0 = cp.plan;
  let plan: Int32Array;
  if (p0 < 0) {
    // the same call chain first: the plan's liveness is the chain's
    if (!sameCallsites(cp.state, cur)) return false;
    p0 = cp.plan = makePlan(plans, cp, liveRegs);
    plan = plans.words;
  } else {
    plan = plans.words;
    if (plan[p0] !== depth) return false;
    for (let k = 0; k < depth; k++) {
      const c = cur.frames[k]!;
      if (plan[p0 + 1 + PLAN_FRAME * k] !== c.callsite || plan[p0 + 2 + PLAN_FRAME * k] !== c.subprog) return false;
    }
    if (!cp.planMarks) copyMarks(plan, p0, cp);
  }
  // the screen first: most comparisons that fail, fail on a precise scalar's 32-bit bounds (a
  // loop's counter) or, on others, on a stack byte of a different type (the needs, next)
  let at = p0 + 1 + PLAN_FRAME * depth;
  for (let k = 0; k < depth; k++) {
    const cf = cur.frames[k]!;
    const marks = p0 + 3 + PLAN_FRAME * k;
    const precise = rangeWithin ? -1 : plan[marks]!;
    for (let e = at + 1, end = at + 1 + 5 * plan[at]!; e < end; e += 5) {
      const r = plan[e]!;
      if (((precise >> r) & 1) === 0) continue;
      const c = cf.regs[r]!;
      if (c.type !== 'scalar' || !within32(plan, e, c)) return false;
    }
    at += 1 + 5 * plan[at]!;
    const w0 = rangeWithin ? -1 : plan[marks + 1]!;
    const w1 = rangeWithin ? -1 : plan[marks + 2]!;
    for (let e = at + 1, end = at + 1 + 5 * plan[at]!; e < end; e += 5) {
      const slot = plan[e]!;
      if ((((slot < 32 ? w0 : w1) >>> (slot & 31)) & 1) === 0) continue;
      const c = scalarForStack(cf, slot);
      if (c !== undefined && !within32(plan, e, c === 'unbound' ? UNBOUND_SCALAR : c)) return false;
    }
    at += 1 + 5 * plan[at]!;
  }
  const needsEnd = at + 1 + plan[at]!;
  const ct0 = cur.frames[0]!.slotTypes;
  for (at++; at < needsEnd; at += 2) {
    const n = plan[at]!;
    const ct = n < 256 ? ct0 : cur.frames[n >>> 8]!.slotTypes;
    // a byte's type in each nibble, 0 (invalid) where any will do
    for (let b = (n & 0xff) * 8, m = plan[at + 1]!; m !== 0; b++, m >>>= 4) {
      const t = m & 15;
      if (t !== 0 && ct[b] !== t) return false;
    }
  }
  const old = cp.state;
  // then the live scalars compared by value (precise, or all of them under RANGE_WITHIN): regsafe's
  // own type, range and tnum tests without the ids, a necessary condition that turns away most
  // comparisons at a loop's head (a counter one iteration on) before any id is mapped
  const listsAt = needsEnd;
  at = listsAt;
  let screen = p0 + 1 + PLAN_FRAME * depth;
  for (let k = 0; k < depth; k++) {
    const of = old.frames[k]!;
    const cf = cur.frames[k]!;
    const ptrs = plan[at + 1]!;
    const slotsAt = at + 3;
    at = slotsAt + plan[at + 2]!;
    // the screen's entries are the live scalar registers and the live slots holding a scalar
    // spill: walked instead of the precise marks, the old state's registers and slots are read
    // only where a precise scalar is (the old frame's slot types not at all)
    const marks = p0 + 3 + PLAN_FRAME * k;
    const precise = rangeWithin ? -1 : plan[marks]!;
    for (let e = screen + 1, end = screen + 1 + 5 * plan[screen]!; e < end; e += 5) {
      const r = plan[e]!;
      if (((precise >> r) & 1) === 0) continue;
      const o = of.regs[r]!;
      const c = cf.regs[r]!;
      // the same object (a third of these tests on tetragon's kprobes): its bounds are within
      // themselves; only tnumIn, which a malformed tnum fails against itself, is left to ask
      if (o !== c && (c.type !== 'scalar' || !rangeWithinRegs(o, c))) return false;
      if (!tnumIn(o.var, c.var)) return false;
    }
    screen += 1 + 5 * plan[screen]!;
    // the same for the live scalar spills stacksafe compares by value, where the current slot
    // holds a scalar too (scalar_reg_for_stack; other slots are left to stacksafe)
    const w0 = rangeWithin ? -1 : plan[marks + 1]!;
    const w1 = rangeWithin ? -1 : plan[marks + 2]!;
    for (let e = screen + 1, end = screen + 1 + 5 * plan[screen]!; e < end; e += 5) {
      const slot = plan[e]!;
      if ((((slot < 32 ? w0 : w1) >>> (slot & 31)) & 1) === 0) continue;
      const cr = scalarForStack(cf, slot);
      if (cr === undefined) continue;
      const o = of.spilled[slot]!;
      const c = cr === 'unbound' ? UNBOUND_SCALAR : cr;
      if (o !== c && !rangeWithinRegs(o, c)) return false;
      if (!tnumIn(o.var, c.var)) return false;
    }
    screen += 1 + 5 * plan[screen]!;
    // and the live pointers, in registers and spilled, all but their ids (regsafe's ptrSafe):
    // most comparisons that get past the scalars fail on a spilled pointer (a packet range)
    for (let m = ptrs; m !== 0; m &= m - 1) {
      const r = 31 - Math.clz32(m & -m);
      const o = of.regs[r]!;
      const c = cf.regs[r]!;
      if (o !== c && !ptrSafe(o, c)) return false;
    }
    for (let i = slotsAt; i < at; i++) {
      const e = plan[i]!;
      if ((e & PLAN_PTR_SPILL) === 0) continue;
      // the needs above have the current slot's bytes spilled too
      const o = of.spilled[e & 0xff]!;
      const c = cf.spilled[e & 0xff]!;
      if (o !== c && !ptrSafe(o, c)) return false;
    }
  }
  const ids = sharedIds;
  ids.reset();
  if (!refsSafe(old, cur, sharedIdCheck)) return false;
  for (let k = 0; k < depth; k++) {
    const o = old.frames[k]!;
    const c = cur.frames[k]!;
    // func_states_equal: a frame that has run its callback more often is not covered by one that ran it less
    if ((o.callbackDepth ?? 0) > (c.callbackDepth ?? 0)) return false;
    // apps/docs/stack-args.md §4.8: a state that may still load stack args is not covered by one that may not
    if (stackArgLoads && !o.noStackArgLoad && c.noStackArgLoad) return false;
  }
  at = listsAt;
  for (let k = 0; k < depth; k++) {
    const o = old.frames[k]!;
    const c = cur.frames[k]!;
    const marks = p0 + 3 + PLAN_FRAME * k;
    const precise = plan[marks]!;
    const live = plan[at]!;
    const slotsAt = at + 3;
    const slotsEnd = slotsAt + plan[at + 2]!;
    at = slotsEnd;
    for (let m = live; m !== 0; m &= m - 1) {
      const r = 31 - Math.clz32(m & -m);
      if (!regsafe(o.regs[r]!, c.regs[r]!, (precise & (1 << r)) !== 0, ids, rangeWithin)) return false;
    }
    for (let s = 0; s < o.out.length; s++) {
      const a = o.out[s];
      const b = c.out[s];
      if ((a === undefined) !== (b === undefined)) return false;
      if (a && b && !regsafe(a, b, true, ids)) return false;
    }
    if (!stacksafe(plan[marks + 1]!, plan[marks + 2]!, o, c, plan, slotsAt, slotsEnd, ids, rangeWithin)) return false;
  }
  return true;
}

/**
 * states_equal as {@link statesEqual} answers it, without a plan, a screen or any other shortcut:
 * every live register by regsafe, every live slot of the old state that holds more than invalid
 * and misc bytes by scalar_reg_for_stack and then byte by byte. The reference the plans and their
 * fast paths are tested against (plans.test.ts); the verifier never calls it.
 */
export function statesEqualPlain(cp: Checkpoint, cur: State, liveRegs: (frame: number) => number, stackArgLoads = true, rangeWithin = false): boolean {
  const old = cp.state;
  if (!sameCallsites(old, cur)) return false;
  const ids = sharedIds;
  ids.reset();
  if (!refsSafe(old, cur, sharedIdCheck)) return false;
  const depth = cur.frames.length;
  for (let k = 0; k < depth; k++) {
    const o = old.frames[k]!;
    const c = cur.frames[k]!;
    if ((o.callbackDepth ?? 0) > (c.callbackDepth ?? 0)) return false;
    if (stackArgLoads && !o.noStackArgLoad && c.noStackArgLoad) return false;
  }
  for (let k = 0; k < depth; k++) {
    const o = old.frames[k]!;
    const c = cur.frames[k]!;
    const precise = cp.preciseRegs[k]!;
    const live = liveRegs(k) & 0x7ff;
    for (let r = 0; r < 11; r++) if ((live >> r) & 1 && !regsafe(o.regs[r]!, c.regs[r]!, ((precise >> r) & 1) === 1, ids, rangeWithin)) return false;
    for (let s = 0; s < o.out.length; s++) {
      const a = o.out[s];
      const b = c.out[s];
      if ((a === undefined) !== (b === undefined)) return false;
      if (a && b && !regsafe(a, b, true, ids)) return false;
    }
    const allocated = c.allocated ?? 0;
    for (let slot = 0; slot < SLOTS; slot++) {
      const b = slot * 8;
      let j0 = 0;
      while (j0 < 8 && (o.slotTypes[b + j0] === SlotType.Invalid || o.slotTypes[b + j0] === SlotType.Misc)) j0++;
      if (j0 === 8 || !slotAlive(cp, k, slot)) continue;
      const precise = slotPrecise(cp, k, slot);
      if (b >= allocated) return false;
      const or = scalarForStack(o, slot);
      const cr = scalarForStack(c, slot);
      if (or && cr) {
        if (or !== 'unbound' && !regsafe(or, cr === 'unbound' ? UNBOUND_SCALAR : cr, precise, ids, rangeWithin)) return false;
        continue;
      }
      if (!slotBytesSafe(o, c, slot, j0, precise, ids, rangeWithin)) return false;
    }
  }
  return true;
}

/** The same frames by call site and subprogram (the plan's liveness is the call chain's). */
function sameCallsites(old: State, cur: State): boolean {
  const depth = old.frames.length;
  if (depth !== cur.frames.length) return false;
  for (let k = 0; k < depth; k++) {
    const o = old.frames[k]!;
    const c = cur.frames[k]!;
    if (o.callsite !== c.callsite || o.subprog !== c.subprog) return false;
  }
  return true;
}

/**
 * widen_imprecise_scalars: a callback returning to its call forgets the scalars that changed
 * since the checkpoint `old` at that call and that nothing depended on (not precise there), so
 * a callback that counts (`ctx->n++`) converges instead of running to the instruction limit.
 */
export function widenImpreciseScalars(old: Checkpoint, cur: State): void {
  const frames = Math.min(old.state.frames.length, cur.frames.length);
  for (let fr = 0; fr < frames; fr++) {
    const o = old.state.frames[fr]!;
    const c = cur.frames[fr]!;
    for (let r = 0; r < 10; r++) {
      const ro = o.regs[r]!;
      const rc = c.regs[r]!;
      if (ro.type === 'scalar' && rc.type === 'scalar' && !(old.preciseRegs[fr]! & (1 << r)) && !sameReg(ro, rc)) c.regs[r] = UNKNOWN;
    }
    const slots = Math.min(o.spilled.length, c.spilled.length);
    for (let slot = 0; slot < slots; slot++) {
      const so = o.spilled[slot];
      const sc = c.spilled[slot];
      if (so === undefined || sc === undefined || so.type !== 'scalar' || sc.type !== 'scalar') continue;
      if (o.slotTypes[slot * 8 + 7] !== SlotType.Spill || c.slotTypes[slot * 8 + 7] !== SlotType.Spill) continue;
      if (slotPrecise(old, fr, slot) || sameReg(so, sc)) continue;
      setSpilled(c, slot, UNKNOWN);
    }
  }
}
