/**
 * Control-flow graph of a program, built with the same rules as the kernel's check_subprogs,
 * check_cfg and bpf_insn_successors (kernel/bpf/verifier.c), so structural errors carry the
 * kernel's wording and the instruction orders (postorder, SCC numbering) match its own.
 */
import { discoverSubprogs, type Insn, type Program, type Subprog } from '@bpf/isa';
import { CfgError } from './errors.js';

export interface BasicBlock {
  readonly id: number;
  /** First instruction slot. */
  readonly start: number;
  /** One past the last slot. */
  readonly end: number;
  readonly subprog: number;
  readonly succs: readonly number[];
  readonly preds: readonly number[];
}

export interface Cfg {
  readonly insns: readonly Insn[];
  readonly subprogs: readonly Subprog[];
  /**
   * Successors in compressed form: those of slot `pc` are `succTarget[succStart[pc] ..
   * succStart[pc + 1])` (none for exits and `ld_imm64` second halves). See {@link successors}.
   */
  readonly succStart: Int32Array;
  readonly succTarget: Int32Array;
  /** Subprogram index per slot. */
  readonly subprogOf: Int32Array;
  /** Postorder of reachable slots, subprogram by subprogram (kernel: compute_postorder). */
  readonly postorder: Int32Array;
  /** Strongly connected component id per slot, 0 when not in a loop (kernel: compute_scc). */
  readonly scc: Int32Array;
  readonly blocks: readonly BasicBlock[];
  /** Edges `[from, to]` between instruction slots that close a loop (DFS back edges). */
  readonly backEdges: readonly (readonly [number, number])[];
}

/** Jump target of a jump slot (`gotol` keeps it in `imm`). */
export function jumpTarget(pc: number, i: Insn): number {
  return i.code === 0x06 ? pc + i.imm + 1 : pc + i.off + 1;
}

/** Successors of one slot, in the kernel's order: fall-through first, then the jump target. */
export function insnSuccessors(insns: readonly Insn[], pc: number): number[] {
  const out: number[] = [];
  pushSuccessors(insns, pc, (t) => out.push(t));
  return out;
}

/** Successors of `pc` from a built CFG. */
export function successors(cfg: Cfg, pc: number): Int32Array {
  return cfg.succTarget.subarray(cfg.succStart[pc]!, cfg.succStart[pc + 1]!);
}

function pushSuccessors(insns: readonly Insn[], pc: number, push: (t: number) => void): void {
  const i = insns[pc]!;
  const cls = i.code & 7;
  if (cls === 5 || cls === 6) {
    const op = i.code & 0xf0;
    if (op === 0x90 && cls === 5) return; // exit
    if (op === 0x80 && cls === 5) return push(pc + 1); // call
    if (op === 0x00) return push(jumpTarget(pc, i)); // ja, gotol
    push(pc + 1);
    return push(jumpTarget(pc, i));
  }
  push(pc + (i.code === 0x18 ? 2 : 1));
}

/**
 * Zeroed scratch arrays for what a call uses and drops (search stacks, marks, buffers copied out
 * before returning), reused from one call to the next: on a small program, making a fresh typed
 * array each time (a backing store outside the heap) was most of buildCfg's time (issue 25).
 * Each use has its own slot; programs above POOL_MAX slots get fresh arrays.
 */
const POOL_MAX = 1 << 16;
const pool: (Int32Array | undefined)[] = [];

/** A zeroed Int32Array of at least `len` elements for slot `slot`, valid until its next use. */
export function scratchI32(slot: number, len: number): Int32Array {
  if (len > POOL_MAX) return new Int32Array(len);
  const a = pool[slot];
  if (a === undefined || a.length < len) return (pool[slot] = new Int32Array(Math.max(len, 256)));
  a.fill(0, 0, len);
  return a;
}

const isJumpSlot = (i: Insn): boolean => {
  const cls = i.code & 7;
  if (cls !== 5 && cls !== 6) return false;
  const op = i.code & 0xf0;
  return op !== 0x80 && op !== 0x90;
};

/**
 * Typed arrays carved out of one zeroed ArrayBuffer (issue 25): a small program's CFG and
 * liveness made about ten typed arrays, and each fresh one (a backing store outside the heap,
 * tracked by the collector) cost more than filling it. A view of a shared buffer costs a tenth
 * of that. Once the buffer is used up, arrays are made fresh; programs above SLAB_MAX slots
 * always get fresh arrays (their arrays are large, and the buffer would keep all of them alive
 * as long as one of them is).
 */
export class Slab {
  private readonly buf: ArrayBuffer | undefined;
  private off = 0;
  constructor(bytes: number) {
    this.buf = bytes > 0 ? new ArrayBuffer(bytes) : undefined;
  }
  /** Room for `bytes` bytes (8-aligned), or -1. */
  private take(bytes: number): number {
    const at = this.off;
    if (this.buf === undefined || at + bytes > this.buf.byteLength) return -1;
    this.off = at + ((bytes + 7) & ~7);
    return at;
  }
  i32(len: number): Int32Array {
    const at = this.take(4 * len);
    return at < 0 ? new Int32Array(len) : new Int32Array(this.buf!, at, len);
  }
  u32(len: number): Uint32Array {
    const at = this.take(4 * len);
    return at < 0 ? new Uint32Array(len) : new Uint32Array(this.buf!, at, len);
  }
  u8(len: number): Uint8Array {
    const at = this.take(len);
    return at < 0 ? new Uint8Array(len) : new Uint8Array(this.buf!, at, len);
  }
}

/** Programs above this many slots get fresh arrays, not a slab (see {@link Slab}). */
export const SLAB_MAX = 1 << 16;

/** Bytes of slab buildCfg takes for `n` slots: subprogOf, succStart, succTarget (at most 2n), postorder, scc. */
export const cfgSlabBytes = (n: number): number => (n > SLAB_MAX ? 0 : 4 * (6 * n + 1) + 5 * 8);

/**
 * Build the CFG. Throws {@link CfgError} with the kernel's message for: calls to invalid
 * destinations, jumps leaving their subprogram, a subprogram whose last slot can fall
 * through, unreachable slots, and jumps into the second half of an `ld_imm64`.
 *
 * `selfLoops`: instructions that count as a loop of their own for the SCCs (the kernel's calls
 * of a synchronous callback, bpf_loop and kin, which return to the call to call it again).
 * `entries`: more instructions the walk starts from when insn 0 does not reach them (the
 * kernel's exception callback, which nothing calls: check_cfg's ex_insn_beg).
 */
export function buildCfg(program: Program, selfLoops?: (pc: number) => boolean, entries: readonly number[] = []): Cfg {
  return buildCfgIn(new Slab(cfgSlabBytes(program.insns.length)), program, selfLoops, entries);
}

/** buildCfg, its arrays taken from `slab`. */
export function buildCfgIn(slab: Slab, program: Program, selfLoops: ((pc: number) => boolean) | undefined, entries: readonly number[]): Cfg {
  const insns = program.insns;
  const n = insns.length;
  if (n === 0) throw new CfgError('EMPTY_PROGRAM', 'empty program', 0);
  // successors, and the first call to an invalid destination (one pass; the error comes first)
  const succStart = slab.i32(n + 1);
  const succBuf = scratchI32(0, 2 * n);
  const scanned = scanSuccessors(insns, n, succStart, succBuf);
  if (scanned < 0) throw new CfgError('CALL_INVALID_DESTINATION', 'call to invalid destination', -scanned - 1);
  const ns = scanned;
  const subprogs = program.subprogs ?? discoverSubprogs(insns, { funcInfo: program.funcInfo });
  const subprogOf = slab.i32(n);
  for (let k = 0; k < subprogs.length; k++) subprogOf.fill(k, subprogs[k]!.start, subprogs[k]!.end);
  checkSubprogs(insns, subprogs);
  const succTarget = slab.i32(ns);
  succTarget.set(succBuf.subarray(0, ns));

  const backEdges: [number, number][] = [];
  const state = scratchI32(1, n);
  checkCfg(insns, n, succStart, succTarget, entries, state, backEdges);
  checkReached(insns, n, state);

  const postorder = computePostorder(slab, n, subprogs, succStart, succTarget);
  // no back edge in check_cfg's walk (which reached every slot): no loop, so no SCC but the
  // self loops'; with none of those either, every slot is 0 (what computeScc finds, in one pass)
  const scc = backEdges.length === 0 && !anySelfLoop(n, selfLoops) ? slab.i32(n) : computeSccByChains(slab, n, succStart, succTarget, selfLoops);
  return new BuiltCfg(insns, subprogs, succStart, succTarget, subprogOf, postorder, scc, backEdges);
}

function anySelfLoop(n: number, selfLoops: ((pc: number) => boolean) | undefined): boolean {
  if (selfLoops === undefined) return false;
  for (let pc = 0; pc < n; pc++) if (selfLoops(pc)) return true;
  return false;
}

/**
 * Successors of every slot into `succStart`/`succBuf` (fall-through first, then the jump
 * target); returns their count, or -(pc + 1) of the first call (or `ld_imm64` function
 * reference) to a destination outside the program.
 */
function scanSuccessors(insns: readonly Insn[], n: number, succStart: Int32Array, succBuf: Int32Array): number {
  let ns = 0;
  let badCall = -1;
  for (let pc = 0; pc < n; pc++) {
    succStart[pc] = ns;
    const i = insns[pc]!;
    const code = i.code;
    const cls = code & 7;
    if (cls === 5 || cls === 6) {
      const op = code & 0xf0;
      if (op === 0x90 && cls === 5) continue; // exit
      if (op !== 0x00 && pc + 1 < n) succBuf[ns++] = pc + 1; // call, conditional jump
      if (op === 0x80 && cls === 5) {
        if (i.src === 1 && badCall < 0) {
          const t = pc + i.imm + 1;
          if (t < 0 || t >= n) badCall = pc;
        }
        continue;
      }
      const t = code === 0x06 ? pc + i.imm + 1 : pc + i.off + 1;
      if (t < n) succBuf[ns++] = t;
    } else {
      if (code === 0x18 && i.src === 4 && badCall < 0) {
        const t = pc + i.imm + 1;
        if (t < 0 || t >= n) badCall = pc;
      }
      const t = pc + (code === 0x18 ? 2 : 1);
      if (t < n) succBuf[ns++] = t;
    }
  }
  succStart[n] = ns;
  return badCall >= 0 ? -badCall - 1 : ns;
}

/** check_subprogs: jumps stay inside their subprogram; the last slot may not fall through. */
function checkSubprogs(insns: readonly Insn[], subprogs: readonly Subprog[]): void {
  for (let k = 0; k < subprogs.length; k++) {
    const s = subprogs[k]!;
    for (let pc = s.start; pc < s.end; pc++) {
      const i = insns[pc]!;
      if (isJumpSlot(i)) {
        const t = jumpTarget(pc, i);
        if (t < s.start || t >= s.end) throw new CfgError('JUMP_OUT_OF_RANGE', `jump out of range from insn ${pc} to ${t}`, pc);
      }
    }
    const last = insns[s.end - 1]!;
    if (last.code !== 0x95 && last.code !== 0x05 && last.code !== 0x06) throw new CfgError('LAST_INSN_NOT_EXIT', 'last insn is not an exit or jmp', s.end - 1);
  }
}

/**
 * check_cfg: a DFS from insn 0 in which calls (and `ld_imm64` function references) are
 * branches into their callee, so a subprogram nobody calls is unreachable too. Marks `state`
 * (2: explored) and collects the back edges.
 */
function checkCfg(
  insns: readonly Insn[],
  n: number,
  succStart: Int32Array,
  succTarget: Int32Array,
  entries: readonly number[],
  state: Int32Array,
  backEdges: [number, number][],
): void {
  const DISCOVERED = 1,
    EXPLORED = 2;
  const stack = scratchI32(2, n);
  const nextSucc = scratchI32(3, n);
  let sp = 0;
  for (let r = -1; r < entries.length; r++) {
    const root = r < 0 ? 0 : entries[r]!;
    if (r >= 0 && !(root > 0 && root < n)) continue;
    if (state[root] !== 0) continue;
    stack[sp++] = root;
    state[root] = DISCOVERED;
    while (sp) {
      const t = stack[sp - 1]!;
      const k = nextSucc[t]!;
      const first = succStart[t]!;
      const nOwn = succStart[t + 1]! - first;
      const i = insns[t]!;
      const callee = (i.code === 0x85 && i.src === 1) || (i.code === 0x18 && i.src === 4) ? t + i.imm + 1 : -1;
      if (k < nOwn + (callee >= 0 ? 1 : 0)) {
        nextSucc[t] = k + 1;
        const w = k < nOwn ? succTarget[first + k]! : callee;
        if (state[w] === 0) {
          state[w] = DISCOVERED;
          stack[sp++] = w;
        } else if (state[w] === DISCOVERED) backEdges.push([t, w]);
        continue;
      }
      state[t] = EXPLORED;
      sp--;
    }
  }
}

/** Every slot was reached, and no jump lands in the second half of an `ld_imm64`. */
function checkReached(insns: readonly Insn[], n: number, state: Int32Array): void {
  for (let pc = 0; pc < n; pc++) {
    if (state[pc] !== 2) throw new CfgError('UNREACHABLE', `unreachable insn ${pc}`, pc);
    if (insns[pc]!.code === 0x18) {
      if (pc + 1 < n && state[pc + 1] !== 0) throw new CfgError('JUMP_INTO_LDIMM64', `jump into the middle of ldimm64 insn ${pc}`, pc);
      pc++;
    }
  }
}

/**
 * A built CFG. Basic blocks are built on first use: liveness does not need them. A class, not an
 * object literal with a getter (V8 defines such a literal's accessor at run time, a tenth of
 * buildCfg's time on a small program, issue 25).
 */
class BuiltCfg implements Cfg {
  private blocksMemo: BasicBlock[] | undefined;
  constructor(
    readonly insns: readonly Insn[],
    readonly subprogs: readonly Subprog[],
    readonly succStart: Int32Array,
    readonly succTarget: Int32Array,
    readonly subprogOf: Int32Array,
    readonly postorder: Int32Array,
    readonly scc: Int32Array,
    readonly backEdges: readonly (readonly [number, number])[],
  ) {}
  get blocks(): readonly BasicBlock[] {
    return (this.blocksMemo ??= buildBlocks(this.insns, this.subprogs, this.succStart, this.succTarget, this.subprogOf));
  }
}

/** kernel: compute_postorder — an iterative DFS from each subprogram's start. */
function computePostorder(slab: Slab, n: number, subprogs: readonly Subprog[], succStart: Int32Array, succTarget: Int32Array): Int32Array {
  const out = scratchI32(4, n);
  let cur = 0;
  const DISCOVERED = 1,
    EXPLORED = 2;
  const state = scratchI32(5, n);
  const stack = scratchI32(6, 2 * n + 1);
  for (const s of subprogs) {
    let sp = 0;
    stack[sp++] = s.start;
    do {
      const top = stack[sp - 1]!;
      state[top]! |= DISCOVERED;
      if (state[top]! & EXPLORED) {
        out[cur++] = top;
        sp--;
        continue;
      }
      for (let e = succStart[top]!; e < succStart[top + 1]!; e++) {
        const w = succTarget[e]!;
        if (!state[w]) {
          stack[sp++] = w;
          state[w]! |= DISCOVERED;
        }
      }
      state[top]! |= EXPLORED;
    } while (sp);
  }
  const post = slab.i32(cur);
  post.set(out.subarray(0, cur));
  return post;
}

/**
 * kernel: compute_scc — Tarjan/Pearce iterative SCC, numbering components in the same order
 * and only for real loops (two or more slots, or a self edge).
 */
export function computeScc(slab: Slab, n: number, succStart: Int32Array, succTarget: Int32Array, selfLoops?: (pc: number) => boolean): Int32Array {
  const NOT_ON_STACK = 0x7fffffff;
  const scc = slab.i32(n);
  const pre = scratchI32(7, n);
  const low = scratchI32(8, n);
  const stack = scratchI32(9, n);
  const dfs = scratchI32(10, n + 1);
  let nextPre = 1;
  let nextScc = 1;
  for (let i = 0; i < n; i++) {
    if (pre[i]) continue;
    let stackSz = 0;
    let dfsSz = 1;
    dfs[0] = i;
    outer: while (dfsSz) {
      const w = dfs[dfsSz - 1]!;
      if (pre[w] === 0) {
        low[w] = nextPre;
        pre[w] = nextPre;
        nextPre++;
        stack[stackSz++] = w;
      }
      const from = succStart[w]!,
        to = succStart[w + 1]!;
      let selfEdge = selfLoops?.(w) ?? false;
      for (let e = from; e < to; e++) {
        const s = succTarget[e]!;
        if (s === w) selfEdge = true;
        if (pre[s]) low[w] = Math.min(low[w]!, low[s]!);
        else {
          dfs[dfsSz++] = s;
          continue outer;
        }
      }
      if (low[w]! < pre[w]!) {
        dfsSz--;
        continue;
      }
      const assign = stack[stackSz - 1] !== w || selfEdge;
      let t: number;
      do {
        t = stack[--stackSz]!;
        low[t] = NOT_ON_STACK;
        if (assign) scc[t] = nextScc;
      } while (t !== w);
      if (assign) nextScc++;
      dfsSz--;
    }
  }
  return scc;
}

function buildBlocks(
  insns: readonly Insn[],
  subprogs: readonly Subprog[],
  succStart: Int32Array,
  succTarget: Int32Array,
  subprogOf: Int32Array,
): BasicBlock[] {
  const n = insns.length;
  const leader = new Uint8Array(n + 1);
  for (const s of subprogs) leader[s.start] = 1;
  for (let pc = 0; pc < n; pc++) {
    const next = pc + (insns[pc]!.code === 0x18 ? 2 : 1);
    const cnt = succStart[pc + 1]! - succStart[pc]!;
    const fallsThrough = cnt === 1 && succTarget[succStart[pc]!] === next;
    if (!fallsThrough || insns[pc]!.code === 0x85) {
      for (let e = succStart[pc]!; e < succStart[pc + 1]!; e++) leader[succTarget[e]!] = 1;
      leader[next] = 1;
    }
  }
  const starts: number[] = [];
  for (let pc = 0; pc < n; pc++) if (leader[pc]) starts.push(pc);
  const blockOf = new Int32Array(n);
  starts.forEach((s, k) => blockOf.fill(k, s, starts[k + 1] ?? n));
  const preds: number[][] = starts.map(() => []);
  const raw = starts.map((start, id) => {
    const end = starts[id + 1] ?? n;
    let last = end - 1;
    if (last > start && insns[last - 1]!.code === 0x18) last--;
    const bs: number[] = [];
    for (let e = succStart[last]!; e < succStart[last + 1]!; e++) {
      const b = blockOf[succTarget[e]!]!;
      if (!bs.includes(b)) bs.push(b);
    }
    for (const b of bs) preds[b]!.push(id);
    return { id, start, end, subprog: subprogOf[start]!, succs: bs };
  });
  return raw.map((b) => ({ ...b, preds: preds[b.id]! }));
}

/**
 * computeScc on the graph with its chains contracted (issue 25: Tarjan's walk over every slot of
 * a long straight-line program was a twentieth of its verification). A chain is a run of slots
 * each the only successor of the one before, which is its only predecessor and lies before it
 * (a fall-through): Tarjan's walk enters it at its head and goes through it slot by slot, so one
 * walk over the chains finds the same components in the same order. A chain in a loop takes its
 * loop's id with every slot; a chain in none gives an id to each of its self-loop slots, last
 * slot first, as they finish in that order.
 */
export function computeSccByChains(slab: Slab, n: number, succStart: Int32Array, succTarget: Int32Array, selfLoops?: (pc: number) => boolean): Int32Array {
  const scc = slab.i32(n);
  // predecessors: how many, and the last one seen
  const npred = scratchI32(12, n);
  const pred = scratchI32(13, n);
  for (let u = 0; u < n; u++)
    for (let e = succStart[u]!; e < succStart[u + 1]!; e++) {
      const v = succTarget[e]!;
      npred[v]!++;
      pred[v] = u;
    }
  // chain heads in slot order: chainOf[head] = chain number + 1 (0 for a slot inside a chain)
  const chainOf = scratchI32(14, n);
  const heads = scratchI32(15, n);
  let nc = 0;
  for (let v = 0; v < n; v++) {
    const u = pred[v]!;
    const inside = npred[v] === 1 && u < v && succStart[u + 1]! - succStart[u]! === 1;
    if (!inside) {
      heads[nc] = v;
      chainOf[v] = ++nc;
    }
  }
  // a chain's last slot: follow the only successor while it is inside the chain
  const tail = (head: number): number => {
    let u = head;
    for (;;) {
      if (succStart[u + 1]! - succStart[u]! !== 1) return u;
      const v = succTarget[succStart[u]!]!;
      if (v <= u || chainOf[v] !== 0) return u;
      u = v;
    }
  };
  const last = scratchI32(16, nc);
  for (let c = 0; c < nc; c++) last[c] = tail(heads[c]!);
  // Tarjan over the chains (the same walk as computeScc's), successors those of each chain's last slot
  const NOT_ON_STACK = 0x7fffffff;
  const pre = scratchI32(17, nc);
  const low = scratchI32(18, nc);
  const stack = scratchI32(19, nc);
  const dfs = scratchI32(20, nc + 1);
  const slots: number[] = [];
  let nextPre = 1;
  let nextScc = 1;
  for (let i = 0; i < nc; i++) {
    if (pre[i]) continue;
    let stackSz = 0;
    let dfsSz = 1;
    dfs[0] = i;
    outer: while (dfsSz) {
      const w = dfs[dfsSz - 1]!;
      if (pre[w] === 0) {
        low[w] = nextPre;
        pre[w] = nextPre;
        nextPre++;
        stack[stackSz++] = w;
      }
      const lw = last[w]!;
      const from = succStart[lw]!,
        to = succStart[lw + 1]!;
      let selfEdge = false;
      for (let e = from; e < to; e++) {
        const s = chainOf[succTarget[e]!]! - 1;
        if (s === w) selfEdge = true;
        if (pre[s]) low[w] = Math.min(low[w]!, low[s]!);
        else {
          dfs[dfsSz++] = s;
          continue outer;
        }
      }
      if (low[w]! < pre[w]!) {
        dfsSz--;
        continue;
      }
      if (stack[stackSz - 1] !== w || selfEdge) {
        // a loop: every slot of its chains
        let t: number;
        do {
          t = stack[--stackSz]!;
          low[t] = NOT_ON_STACK;
          for (let u = heads[t]!; ; u = succTarget[succStart[u]!]!) {
            scc[u] = nextScc;
            if (u === last[t]) break;
          }
        } while (t !== w);
        nextScc++;
      } else {
        // no loop: the chain's self-loop slots, each a component of its own, last first
        stackSz--;
        low[w] = NOT_ON_STACK;
        if (selfLoops !== undefined) {
          slots.length = 0;
          for (let u = heads[w]!; ; u = succTarget[succStart[u]!]!) {
            if (selfLoops(u)) slots.push(u);
            if (u === last[w]) break;
          }
          for (let k = slots.length - 1; k >= 0; k--) scc[slots[k]!] = nextScc++;
        }
      }
      dfsSz--;
    }
  }
  return scc;
}
