/**
 * Stack slot liveness per call chain, as Linux 6.18 computes it (kernel/bpf/liveness.c): the
 * verifier's own stack reads and whole-slot writes are recorded while it walks the program, per
 * (call chain, instruction, frame), and turned into "live before" sets by a data-flow pass over
 * the subprogram when a path ends or a function returns. A checkpoint that is fully explored
 * forgets the slots no later instruction of its call chain may read (clean_live_states), and only
 * what it keeps takes part in pruning (stacksafe) and in precision propagation.
 *
 * Recorded, not derived from the instructions: a helper reading `fp-16` through r2 reads slot 1
 * at the call, and nothing else, whereas an analysis of the code alone must assume a call with a
 * stack address anywhere in its arguments reads every slot.
 *
 * Masks of the 64 slots are two 32-bit words (slot k: word k >> 5, bit k & 31).
 */
import type { Insn } from '@bpf/isa';
import type { State } from './state.js';

/** Words per instruction and frame: may_read, must_write, must_write_acc, live_before (two each). */
const W = 8;
const MAY = 0;
const MUST = 2;
const ACC = 4;
const LIVE = 6;
/**
 * Subprograms with at least this many instructions in the order keep a dirty set per frame
 * (Instance.dirty); smaller ones are passed over whole, which costs less than keeping it.
 */
const DIRTY_MIN = 256;

/** A function instance (struct func_instance): one subprogram reached by one call chain. */
interface Instance {
  /** Call sites of the outer frames, then the subprogram's first instruction. */
  readonly chain: readonly number[];
  readonly start: number;
  readonly size: number;
  /** Per frame of the chain: W words per instruction of the subprogram (allocated on first mark). */
  readonly frames: (Uint32Array | undefined)[];
  /**
   * Per frame: the positions in the subprogram's order whose live sets may change when computed
   * again (their marks or a successor's sets changed since), one bit each. A position not in it
   * is at its fixed point, so a pass computes only these, in the order's order, and reaches the
   * same sets, log lines and pass count as one computing every instruction (issue 25).
   */
  readonly dirty: (Uint32Array | undefined)[];
  /** must_write_set: 1, the instruction committed its writes once (later commits intersect); 2, and its must_write is empty in every frame (later commits change nothing). */
  readonly mustWriteSet: Uint8Array;
  updated: boolean;
  mustWriteDropped: boolean;
}

export interface StackLiveOptions {
  readonly insns: readonly Insn[];
  /** First instruction of each subprogram, ascending; the program's length closes the last one. */
  readonly subprogStarts: readonly number[];
  /** Postorder of the reachable instructions (any order reaches the same fixed point; this one converges fast). */
  readonly postorder?: Int32Array;
  /**
   * The CFG's successors (@bpf/liveness Cfg.succStart/succTarget: bpf_insn_successors of each
   * slot, fall-through first), for a program whose CFG was checked; else they are found here.
   */
  readonly succStart?: Int32Array;
  readonly succTarget?: Int32Array;
  /** The instructions after which the program may end (see `leaves`), when the caller found them; else found here. */
  readonly leafPcs?: readonly number[];
  /** The instruction is a call that invokes a callback (bpf_calls_callback). */
  readonly callsCallback: (pc: number) => boolean;
  /**
   * Level 2: where the trace of the data-flow passes goes (liveness.c's log_mask_change lines
   * and its "live stack update done" line), and the prune points (instructions traced even
   * without marks of their own).
   */
  readonly log?: (line: string) => void;
  readonly prunePoint?: (pc: number) => boolean;
}

/** A call chain's element in the tree of instances: the instance whose chain ends here, the longer chains. */
interface ChainNode {
  inst: Instance | undefined;
  next: Map<number, ChainNode> | undefined;
}

function chainNode(m: Map<number, ChainNode>, key: number): ChainNode {
  let n = m.get(key);
  if (n === undefined) m.set(key, (n = { inst: undefined, next: undefined }));
  return n;
}

/** bpf_fmt_stack_mask: the slots of a two-word mask as stack offsets, "-8,-24". */
function fmtSlots(w0: number, w1: number): string {
  const out: string[] = [];
  for (let s = 0; s < 64; s++) if (((s < 32 ? w0 : w1) >>> (s & 31)) & 1) out.push(String(-(s + 1) * 8));
  return out.join(',');
}

export class StackLiveness {
  /** The instances by call chain, a tree of its elements (no key string or chain array per lookup). */
  private readonly instances = new Map<number, ChainNode>();
  /** bpf_insn_successors: those of `pc` are succTarget[succStart[pc] .. succStart[pc + 1]), fall-through first. */
  private readonly succStart: Int32Array;
  private readonly succTarget: Int32Array;
  /**
   * Instructions after which the program may end without reaching a successor: bpf_tail_call
   * (a taken tail call never returns) and the legacy packet loads LD_ABS / LD_IND (a load past
   * the packet's end returns 0 from the program). Their sure writes are their own, as an exit's
   * are none: the running 6.18.44 kernel leaves a successor's writes out of such an
   * instruction's must_write_acc (its level-2 log shows no `+written` there for a slot written
   * after it; for LD_ABS / LD_IND this machine kind's 6.18.44-fc-v1300 build does so, an earlier
   * build of the same version did not).
   */
  private readonly leaves: Uint8Array | undefined;
  private readonly order: Int32Array[];
  /** The position of each instruction in its subprogram's order (-1: not in it). */
  private posOf: Int32Array | undefined;
  /** The instructions whose successor each is (bpf_insn_successors reversed): predOf[predAt[pc]..predAt[pc + 1]). */
  private predAt: Int32Array | undefined;
  private predOf: Int32Array | undefined;
  private readonly subprogOfStart = new Map<number, number>();
  private readonly ends: number[];
  private readonly starts: readonly number[];
  /** The instance of the state being run (cur_instance) and the frames it was made for. */
  private cur: Instance | undefined;
  private curFrames: State['frames'] | undefined;
  private curTop: unknown;
  private curDepth = -1;
  /** write_masks_acc and write_insn_idx; accUsed: some word of acc is not zero. */
  private readonly acc = new Uint32Array(16);
  private accUsed = false;
  private writeIdx = 0;
  private readonly callsCallback: (pc: number) => boolean;
  private readonly log: ((line: string) => void) | undefined;
  private readonly prunePoint: (pc: number) => boolean;

  constructor(o: StackLiveOptions) {
    const n = o.insns.length;
    this.callsCallback = o.callsCallback;
    this.log = o.log;
    this.prunePoint = o.prunePoint ?? (() => false);
    if (o.succStart !== undefined && o.succTarget !== undefined) {
      this.succStart = o.succStart;
      this.succTarget = o.succTarget;
    } else [this.succStart, this.succTarget] = successorsOf(o.insns);
    const leafPcs = o.leafPcs ?? leavesOf(o.insns);
    if (leafPcs.length > 0) {
      this.leaves = new Uint8Array(n);
      for (const pc of leafPcs) this.leaves[pc] = 1;
    }
    const starts = o.subprogStarts;
    this.starts = starts;
    this.ends = starts.map((_, k) => starts[k + 1] ?? n);
    for (let k = 0; k < starts.length; k++) this.subprogOfStart.set(starts[k]!, k);
    this.order = orderBySubprog(o.postorder, n, starts);
  }

  /** posOf, predAt and predOf, made for the first subprogram large enough to want them. */
  private buildPreds(): void {
    const { succStart, succTarget } = this;
    const n = succStart.length - 1;
    const posOf = new Int32Array(n).fill(-1);
    for (const ord of this.order) for (let j = 0; j < ord.length; j++) posOf[ord[j]!] = j;
    const predAt = new Int32Array(n + 1);
    for (let pc = 0; pc < n; pc++)
      for (let e = succStart[pc]!; e < succStart[pc + 1]!; e++) {
        const t = succTarget[e]!;
        if (t >= 0 && t < n) predAt[t + 1]!++;
      }
    for (let pc = 0; pc < n; pc++) predAt[pc + 1]! += predAt[pc]!;
    const fill = predAt.slice(0, n);
    const predOf = new Int32Array(predAt[n]!);
    for (let pc = 0; pc < n; pc++)
      for (let e = succStart[pc]!; e < succStart[pc + 1]!; e++) {
        const t = succTarget[e]!;
        if (t >= 0 && t < n) predOf[fill[t]!++] = pc;
      }
    this.posOf = posOf;
    this.predAt = predAt;
    this.predOf = predOf;
  }

  // ---- call chains and instances ----

  /** compute_callchain of `st` cut at frame `frameNo`, as a key and a list. */
  private chainOf(st: State, frameNo: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < frameNo; k++) out.push(st.frames[k + 1]!.callsite);
    out.push(this.startOf(st.frames[frameNo]!.subprog));
    return out;
  }

  private startOf(subprog: number): number {
    return this.starts[subprog] ?? 0;
  }

  private lookup(chain: readonly number[]): Instance {
    let m = this.instances;
    let node: ChainNode | undefined;
    for (let k = 0; k < chain.length; k++) {
      if (node !== undefined) m = node.next ??= new Map<number, ChainNode>();
      node = chainNode(m, chain[k]!);
    }
    return (node!.inst ??= this.newInstance(chain));
  }

  private newInstance(chain: readonly number[]): Instance {
    const start = chain[chain.length - 1]!;
    const sub = this.subprogOfStart.get(start) ?? 0;
    const size = this.ends[sub]! - start;
    return { chain, start, size, frames: [], dirty: [], mustWriteSet: new Uint8Array(size), updated: false, mustWriteDropped: false };
  }

  /** lookup(chainOf(st, frameNo)), the chain made only for a new instance (issue 25: a string key and an array per call). */
  private instanceOf(st: State, frameNo: number): Instance {
    let m = this.instances;
    let node: ChainNode | undefined;
    for (let k = 0; k < frameNo; k++) {
      if (node !== undefined) m = node.next ??= new Map<number, ChainNode>();
      node = chainNode(m, st.frames[k + 1]!.callsite);
    }
    if (node !== undefined) m = node.next ??= new Map<number, ChainNode>();
    node = chainNode(m, this.startOf(st.frames[frameNo]!.subprog));
    return (node.inst ??= this.newInstance(this.chainOf(st, frameNo)));
  }

  private masks(inst: Instance, frame: number): Uint32Array {
    return (inst.frames[frame] ??= new Uint32Array(inst.size * W));
  }

  private orderOf(inst: Instance): Int32Array {
    return this.order[this.subprogOfStart.get(inst.start) ?? 0]!;
  }

  /**
   * The instruction's own marks changed: its position is computed again at the next update
   * (without a dirty set, every position is: a small subprogram, or one not updated yet).
   */
  private touch(inst: Instance, frame: number, pc: number): void {
    const d = inst.dirty[frame];
    if (d === undefined) return;
    const p = this.posOf![pc]!;
    if (p < 0) return;
    d[p >>> 5] = d[p >>> 5]! | (1 << (p & 31));
  }

  /** bpf_reset_live_stack_callchain: the state moved to another frame (a call, a return, another path). */
  resetChain(): void {
    this.cur = undefined;
    this.curFrames = undefined;
  }

  /** ensure_cur_instance. */
  private current(st: State): Instance {
    const top = st.frames[st.frames.length - 1];
    if (this.cur === undefined || this.curFrames !== st.frames || this.curDepth !== st.frames.length || this.curTop !== top) {
      this.cur = this.instanceOf(st, st.frames.length - 1);
      this.curFrames = st.frames;
      this.curDepth = st.frames.length;
      this.curTop = top;
    }
    return this.cur;
  }

  // ---- marks made while an instruction runs ----

  private state: State | undefined;
  private pc = 0;

  /** bpf_reset_stack_write_marks before instruction `pc` of `st` runs. */
  begin(st: State, pc: number): void {
    this.state = st;
    this.pc = pc;
    this.current(st);
    this.writeIdx = pc;
    if (this.accUsed) {
      this.acc.fill(0);
      this.accUsed = false;
    }
  }

  /** bpf_mark_stack_read: the running instruction may read slots `lo..hi` (inclusive) of frame `frame`. */
  read(frame: number, lo: number, hi = lo): void {
    if (this.state === undefined) return;
    const inst = this.current(this.state);
    let w0 = 0;
    let w1 = 0;
    for (let s = Math.max(lo, 0); s <= Math.min(hi, 63); s++) {
      if (s < 32) w0 |= 1 << s;
      else w1 |= 1 << (s - 32);
    }
    this.markRead(inst, frame, this.pc, w0 >>> 0, w1 >>> 0);
  }

  private markRead(inst: Instance, frame: number, pc: number, w0: number, w1: number): void {
    if ((w0 | w1) === 0 && inst.frames[frame] === undefined) {
      this.masks(inst, frame);
      return;
    }
    const m = this.masks(inst, frame);
    const b = (pc - inst.start) * W;
    const n0 = (m[b + MAY]! | w0) >>> 0;
    const n1 = (m[b + MAY + 1]! | w1) >>> 0;
    if (n0 !== m[b + MAY] || n1 !== m[b + MAY + 1]) {
      if (((n0 | m[b + LIVE]!) >>> 0 !== m[b + LIVE]) || (n1 | m[b + LIVE + 1]!) >>> 0 !== m[b + LIVE + 1]) inst.updated = true;
      this.touch(inst, frame, pc);
    }
    m[b + MAY] = n0;
    m[b + MAY + 1] = n1;
  }

  /** bpf_mark_stack_write: the running instruction writes all 8 bytes of slot `slot` of frame `frame`. */
  write(frame: number, slot: number): void {
    if (slot < 0 || slot > 63) return;
    this.acc[frame * 2 + (slot >> 5)] = (this.acc[frame * 2 + (slot >> 5)]! | (1 << (slot & 31))) >>> 0;
    this.accUsed = true;
  }

  /** bpf_commit_stack_write_marks after the instruction ran (nothing when a call or return reset the chain). */
  commit(): void {
    if (this.cur === undefined) return;
    this.commitTo(this.cur);
  }

  private commitTo(inst: Instance): void {
    const idx = this.writeIdx - inst.start;
    const set = inst.mustWriteSet[idx]!;
    // once every frame's must_write of the instruction is empty (both words), intersecting keeps it so
    if (set === 2) {
      this.writeIdx = 0;
      return;
    }
    if (set === 0 && !this.accUsed) {
      inst.mustWriteSet[idx] = 1;
      this.writeIdx = 0;
      return;
    }
    const depth = inst.chain.length;
    let any = 0;
    for (let frame = 0; frame < depth; frame++) {
      let w0 = this.acc[frame * 2]!;
      let w1 = this.acc[frame * 2 + 1]!;
      if ((w0 | w1) === 0 && !inst.mustWriteSet[idx]) continue;
      const m = this.masks(inst, frame);
      const b = idx * W;
      // Linux 6.18's commit_stack_write_marks reads the old must_write into a 32-bit variable:
      // only its low word (slots -8 .. -256) is intersected, compared and counted as dropped, so
      // a later visit leaves the high word (slots -264 .. -512) as the last store made it, and
      // a store (the low word changed) replaces both words
      const o0 = m[b + MUST]!;
      if (inst.mustWriteSet[idx]) {
        w0 = (w0 & o0) >>> 0;
        w1 = 0;
      }
      if (o0 !== w0 || w1 !== 0) {
        m[b + MUST] = w0;
        m[b + MUST + 1] = w1;
        inst.updated = true;
        this.touch(inst, frame, this.writeIdx);
      }
      if ((o0 & ~w0) !== 0) inst.mustWriteDropped = true;
      any |= m[b + MUST]! | m[b + MUST + 1]!;
    }
    inst.mustWriteSet[idx] = set !== 0 && any === 0 ? 2 : 1;
    this.writeIdx = 0;
  }

  // ---- propagation ----

  /**
   * bpf_update_live_stack: after a path ends and before a function returns, every instance of
   * the state's call chain with new marks computes its live sets again (innermost first, each
   * passing what its entry reads and surely writes to its caller's call instruction).
   */
  update(st: State): void {
    this.resetChain();
    for (let frame = st.frames.length - 1; frame >= 0; frame--) {
      const inst = this.instanceOf(st, frame);
      if (!inst.updated) continue;
      this.updateInstance(inst);
      inst.updated = false;
      inst.mustWriteDropped = false;
    }
  }

  private updateInstance(inst: Instance): void {
    const depth = inst.chain.length;
    if (inst.mustWriteDropped)
      for (let frame = 0; frame < inst.frames.length; frame++) {
        const m = inst.frames[frame];
        if (!m) continue;
        for (let b = 0; b < m.length; b += W) m[b + ACC] = m[b + ACC + 1] = 0;
        inst.dirty[frame]?.fill(0xffffffff);
      }
    const order = this.orderOf(inst);
    const passes = order.length < DIRTY_MIN ? this.passesOverAll(inst, order) : this.passesOverDirty(inst, order);
    if (this.log) this.log(`(${inst.chain.join(',')}) live stack update done in ${passes} iterations`);
    if (depth > 1) this.propagateOut(inst);
  }

  /** The passes over every position of the order until one changes nothing (liveness.c update_instance). */
  private passesOverAll(inst: Instance, order: Int32Array): number {
    const depth = inst.chain.length;
    let passes = 0;
    for (let changed = true; changed; ) {
      changed = false;
      passes++;
      for (let frame = 0; frame < depth; frame++) {
        const m = inst.frames[frame];
        if (!m) continue;
        for (let k = 0; k < order.length; k++) if (this.updateInsn(inst, m, order[k]!, frame)) changed = true;
      }
    }
    return passes;
  }

  /**
   * The same passes computing only the dirty positions: each pass computes what a pass over
   * every position would have found changed, in the same order, so the sets, the level-2 lines
   * and the pass count are the same.
   */
  private passesOverDirty(inst: Instance, order: Int32Array): number {
    const depth = inst.chain.length;
    if (this.posOf === undefined) this.buildPreds();
    const posOf = this.posOf!;
    const predAt = this.predAt!;
    const predOf = this.predOf!;
    const end = inst.start + inst.size;
    let passes = 0;
    for (let changed = true; changed; ) {
      changed = false;
      passes++;
      for (let frame = 0; frame < depth; frame++) {
        const m = inst.frames[frame];
        if (!m) continue;
        // every position the first time
        const d = (inst.dirty[frame] ??= new Uint32Array((order.length + 31) >>> 5).fill(0xffffffff));
        // the positions to compute, in order; one marked again at or before the position being
        // computed waits for the next pass, as it would in a pass over every position
        for (let w = 0; w < d.length; w++) {
          let from = 0;
          while (from < 32) {
            const x = d[w]! & (-1 << from);
            if (x === 0) break;
            const bit = 31 - Math.clz32(x & -x);
            d[w] = d[w]! & ~(1 << bit);
            from = bit + 1;
            const k = (w << 5) | bit;
            if (k >= order.length) break;
            const pc = order[k]!;
            if (!this.updateInsn(inst, m, pc, frame)) continue;
            changed = true;
            for (let e = predAt[pc]!; e < predAt[pc + 1]!; e++) {
              const q = predOf[e]!;
              const p = posOf[q]!;
              if (p >= 0 && q >= inst.start && q < end) d[p >>> 5] = d[p >>> 5]! | (1 << (p & 31));
            }
          }
        }
      }
    }
    return passes;
  }

  /** log_mask_change: the slots a pass added to and took from one mask of one instruction. */
  private logChange(inst: Instance, frame: number, pc: number, what: string, o0: number, o1: number, n0: number, n1: number): void {
    const x0 = o0 ^ n0;
    const x1 = o1 ^ n1;
    if ((x0 | x1) === 0) return;
    let line = `(${inst.chain.join(',')}) frame ${frame} insn ${pc} `;
    if ((n0 & x0) | (n1 & x1)) line += `+${what} ${fmtSlots(n0 & x0, n1 & x1)} `;
    if ((~n0 & x0) | (~n1 & x1)) line += `-${what} ${fmtSlots(~n0 & x0, ~n1 & x1)}`;
    this.log!(line);
  }

  private updateInsn(inst: Instance, m: Uint32Array, pc: number, frame: number): boolean {
    const from = this.succStart[pc]!;
    const to = this.succStart[pc + 1]!;
    if (from === to) return false;
    let a0 = 0;
    let a1 = 0;
    let c0 = 0xffffffff;
    let c1 = 0xffffffff;
    for (let e = from; e < to; e++) {
      const sb = (this.succTarget[e]! - inst.start) * W;
      a0 |= m[sb + LIVE]!;
      a1 |= m[sb + LIVE + 1]!;
      c0 &= m[sb + ACC]!;
      c1 &= m[sb + ACC + 1]!;
    }
    if (this.leaves !== undefined && this.leaves[pc]) c0 = c1 = 0;
    const b = (pc - inst.start) * W;
    c0 = (c0 | m[b + MUST]!) >>> 0;
    c1 = (c1 | m[b + MUST + 1]!) >>> 0;
    const l0 = ((a0 & ~m[b + MUST]!) | m[b + MAY]!) >>> 0;
    const l1 = ((a1 & ~m[b + MUST + 1]!) | m[b + MAY + 1]!) >>> 0;
    const changed = l0 !== m[b + LIVE] || l1 !== m[b + LIVE + 1] || c0 !== m[b + ACC] || c1 !== m[b + ACC + 1];
    if (this.log && (m[b + MAY]! | m[b + MAY + 1]! | m[b + MUST]! | m[b + MUST + 1]! || pc === inst.start || this.prunePoint(pc))) {
      this.logChange(inst, frame, pc, 'live', m[b + LIVE]!, m[b + LIVE + 1]!, l0, l1);
      this.logChange(inst, frame, pc, 'written', m[b + ACC]!, m[b + ACC + 1]!, c0, c1);
    }
    m[b + LIVE] = l0;
    m[b + LIVE + 1] = l1;
    m[b + ACC] = c0;
    m[b + ACC + 1] = c1;
    return changed;
  }

  /** propagate_to_outer_instance: the entry's reads and sure writes of the callers' frames go to the call. */
  private propagateOut(inst: Instance): void {
    const depth = inst.chain.length;
    const outer = this.lookup(inst.chain.slice(0, depth - 2).concat(this.outerStart(inst)));
    const callsite = inst.chain[depth - 2]!;
    this.writeIdx = callsite;
    this.acc.fill(0);
    this.accUsed = true;
    for (let frame = 0; frame < depth - 1; frame++) {
      const m = inst.frames[frame];
      if (!m) continue;
      this.acc[frame * 2] = m[ACC]!;
      this.acc[frame * 2 + 1] = m[ACC + 1]!;
      this.markRead(outer, frame, callsite, m[LIVE]!, m[LIVE + 1]!);
    }
    this.commitTo(outer);
  }

  /** The first instruction of the subprogram holding the call that made `inst`'s frame. */
  private outerStart(inst: Instance): number {
    const callsite = inst.chain[inst.chain.length - 2]!;
    let k = this.starts.length - 1;
    while (k > 0 && this.starts[k]! > callsite) k--;
    return this.starts[k]!;
  }

  // ---- queries ----

  /** Word `w` (slots 32w..32w+31) of the slots of `frame` live before `pc` in `inst`. */
  private liveBefore(inst: Instance, pc: number, frame: number, w: number): number {
    const m = inst.frames[frame];
    if (!m) return 0;
    const off = pc - inst.start;
    if (off < 0 || off >= inst.size) return 0;
    return m[off * W + LIVE + w]!;
  }

  /**
   * bpf_stack_slot_alive for every slot of every frame of a checkpoint's state: live before its
   * instruction in its own function instance, or, for a caller's frame, live after the call (at
   * the call itself when it calls a callback, which runs again). One mask of two words per frame,
   * each a signed 32-bit integer (slot 31 or 63 sets its sign): `>>> 0` made the words with that
   * slot alive doubles, so the arrays of some checkpoints held doubles and the readers of the
   * others (slotAlive, in makePlan) were deoptimised for a second element kind (issue 25).
   */
  aliveSlots(st: State): number[] {
    const depth = st.frames.length;
    // a plain array (a typed one costs more to make than the words it holds)
    const out: number[] = [];
    const top = this.instanceOf(st, depth - 1);
    // a word of 32 slots at a time: a slot is alive where any of the places looked at has it live
    for (let frame = 0; frame < depth; frame++) {
      for (let w = 0; w < 2; w++) {
        let alive = this.liveBefore(top, st.pc, frame, w);
        for (let i = frame; i < depth - 1; i++) {
          const callsite = top.chain[i]!;
          alive |= this.liveBefore(this.instanceOf(st, i), this.callsCallback(callsite) ? callsite : callsite + 1, frame, w);
        }
        out.push(alive | 0);
      }
    }
    return out;
  }
}

/** bpf_insn_successors of every slot (the fall-through, then the jump target), as a Cfg keeps them. */
export function successorsOf(insns: readonly Insn[]): [Int32Array, Int32Array] {
  const n = insns.length;
  const start = new Int32Array(n + 1);
  const buf = new Int32Array(2 * n);
  let ns = 0;
  for (let pc = 0; pc < n; pc++) {
    start[pc] = ns;
    const i = insns[pc]!;
    const cls = i.code & 7;
    const op = i.code & 0xf0;
    if (cls === 5 || cls === 6) {
      if (op === 0x90) continue; // exit
      if (op === 0x00) {
        buf[ns++] = pc + (cls === 6 ? i.imm : i.off) + 1;
        continue;
      }
      buf[ns++] = pc + 1;
      if (op !== 0x80) buf[ns++] = pc + i.off + 1;
      continue;
    }
    buf[ns++] = pc + (i.code === 0x18 ? 2 : 1);
  }
  start[n] = ns;
  return [start, buf.slice(0, ns)];
}

/**
 * The instructions after which the program may end without reaching a successor (see
 * StackLiveness.leaves): bpf_tail_call, LD_ABS and LD_IND.
 */
export function leavesOf(insns: readonly Insn[]): number[] {
  const out: number[] = [];
  for (let pc = 0; pc < insns.length; pc++) if (isLeaf(insns[pc]!)) out.push(pc);
  return out;
}

/** bpf_tail_call (helper 12), or a legacy packet load (LD_ABS / LD_IND). */
export function isLeaf(i: Insn): boolean {
  return (i.code === 0x85 && i.src === 0 && i.imm === 12) || ((i.code & 7) === 0 && ((i.code & 0xe0) === 0x20 || (i.code & 0xe0) === 0x40));
}

/**
 * The order split by subprogram. The CFG's postorder goes subprogram by subprogram, so each
 * part is a view of it; an order that does not (or none: every slot, last first) is split
 * slot by slot.
 */
export function orderBySubprog(src: Int32Array | undefined, n: number, starts: readonly number[]): Int32Array[] {
  const ns = starts.length;
  if (src !== undefined) {
    if (ns <= 1) return [src];
    // contiguous and ascending by subprogram: views (a slot before the first start counts as the first's, as below)
    const parts: Int32Array[] = [];
    let k = 0;
    let from = 0;
    let lo = -1;
    let hi = starts[1]!;
    let ok = true;
    for (let j = 0; j < src.length; j++) {
      const pc = src[j]!;
      if (pc >= lo && pc < hi) continue;
      let sub = ns - 1;
      while (sub > 0 && starts[sub]! > pc) sub--;
      if (sub < k) {
        ok = false;
        break;
      }
      parts.push(src.subarray(from, j));
      for (let e = k + 1; e < sub; e++) parts.push(src.subarray(j, j));
      k = sub;
      from = j;
      lo = starts[k]!;
      hi = k + 1 < ns ? starts[k + 1]! : 0x7fffffff;
    }
    if (ok) {
      parts.push(src.subarray(from));
      while (parts.length < ns) parts.push(src.subarray(src.length));
      return parts;
    }
  }
  return orderBySlot(src, n, starts);
}

/** The order split slot by slot: each slot goes to the last subprogram starting at or before it. */
export function orderBySlot(src: Int32Array | undefined, n: number, starts: readonly number[]): Int32Array[] {
  const ns = starts.length;
  const len = src ? src.length : n;
  if (ns <= 1) {
    const all = new Int32Array(len);
    for (let j = 0; j < len; j++) all[j] = src ? src[j]! : n - 1 - j;
    return [all];
  }
  const subOf = new Int32Array(len);
  const counts = new Int32Array(ns);
  for (let j = 0; j < len; j++) {
    const pc = src ? src[j]! : n - 1 - j;
    let k = ns - 1;
    while (k > 0 && starts[k]! > pc) k--;
    subOf[j] = k;
    counts[k]!++;
  }
  const order: Int32Array[] = [];
  for (let k = 0; k < ns; k++) order.push(new Int32Array(counts[k]!));
  counts.fill(0);
  for (let j = 0; j < len; j++) {
    const k = subOf[j]!;
    order[k]![counts[k]!++] = src ? src[j]! : n - 1 - j;
  }
  return order;
}
