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
 * Build the CFG. Throws {@link CfgError} with the kernel's message for: calls to invalid
 * destinations, jumps leaving their subprogram, a subprogram whose last slot can fall
 * through, unreachable slots, and jumps into the second half of an `ld_imm64`.
 */
/**
 * `selfLoops`: instructions that count as a loop of their own for the SCCs (the kernel's calls
 * of a synchronous callback, bpf_loop and kin, which return to the call to call it again).
 * `entries`: more instructions the walk starts from when insn 0 does not reach them (the
 * kernel's exception callback, which nothing calls: check_cfg's ex_insn_beg).
 */
export function buildCfg(program: Program, selfLoops?: (pc: number) => boolean, entries: readonly number[] = []): Cfg {
  const insns = program.insns;
  const n = insns.length;
  if (n === 0) throw new CfgError('EMPTY_PROGRAM', 'empty program', 0);
  for (let pc = 0; pc < n; pc++) {
    const i = insns[pc]!;
    if ((i.code === 0x85 && i.src === 1) || (i.code === 0x18 && i.src === 4)) {
      const t = pc + i.imm + 1;
      if (t < 0 || t >= n) throw new CfgError('CALL_INVALID_DESTINATION', 'call to invalid destination', pc);
    }
  }
  const subprogs = program.subprogs ?? discoverSubprogs(insns, { funcInfo: program.funcInfo });
  const subprogOf = new Int32Array(n);
  subprogs.forEach((s, k) => subprogOf.fill(k, s.start, s.end));

  // check_subprogs: jumps stay inside their subprogram; the last slot may not fall through.
  for (const s of subprogs) {
    for (let pc = s.start; pc < s.end; pc++) {
      const i = insns[pc]!;
      if (isJumpSlot(i)) {
        const t = jumpTarget(pc, i);
        if (t < s.start || t >= s.end)
          throw new CfgError('JUMP_OUT_OF_RANGE', `jump out of range from insn ${pc} to ${t}`, pc);
      }
    }
    const last = insns[s.end - 1]!;
    if (last.code !== 0x95 && last.code !== 0x05 && last.code !== 0x06)
      throw new CfgError('LAST_INSN_NOT_EXIT', 'last insn is not an exit or jmp', s.end - 1);
  }

  const succStart = new Int32Array(n + 1);
  const succBuf = scratchI32(0, 2 * n);
  let ns = 0;
  // pushSuccessors inlined (no closure per slot): fall-through first, then the jump target
  for (let pc = 0; pc < n; pc++) {
    succStart[pc] = ns;
    const i = insns[pc]!;
    const cls = i.code & 7;
    if (cls === 5 || cls === 6) {
      const op = i.code & 0xf0;
      if (op === 0x90 && cls === 5) continue; // exit
      if (op !== 0x00 && pc + 1 < n) succBuf[ns++] = pc + 1; // call, conditional jump
      if (op === 0x80 && cls === 5) continue;
      const t = jumpTarget(pc, i);
      if (t < n) succBuf[ns++] = t;
    } else {
      const t = pc + (i.code === 0x18 ? 2 : 1);
      if (t < n) succBuf[ns++] = t;
    }
  }
  succStart[n] = ns;
  const succTarget = succBuf.slice(0, ns);

  // check_cfg: a DFS from insn 0 in which calls (and `ld_imm64` function references) are
  // branches into their callee, so a subprogram nobody calls is unreachable too.
  const DISCOVERED = 1,
    EXPLORED = 2;
  const state = scratchI32(1, n);
  const backEdges: [number, number][] = [];
  const calleeOf = (t: number): number => {
    const i = insns[t]!;
    return (i.code === 0x85 && i.src === 1) || (i.code === 0x18 && i.src === 4) ? t + i.imm + 1 : -1;
  };
  {
    const stack = scratchI32(2, n);
    const nextSucc = scratchI32(3, n);
    let sp = 0;
    const roots = [0, ...entries.filter((e) => e > 0 && e < n)];
    for (const root of roots) {
      if (state[root] !== 0) continue;
      stack[sp++] = root;
      state[root] = DISCOVERED;
      while (sp) {
        const t = stack[sp - 1]!;
        const k = nextSucc[t]!;
        const nOwn = succStart[t + 1]! - succStart[t]!;
        const callee = calleeOf(t);
        if (k < nOwn + (callee >= 0 ? 1 : 0)) {
          nextSucc[t] = k + 1;
          const w = k < nOwn ? succTarget[succStart[t]! + k]! : callee;
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
  for (let pc = 0; pc < n; pc++) {
    if (state[pc] !== EXPLORED) throw new CfgError('UNREACHABLE', `unreachable insn ${pc}`, pc);
    if (insns[pc]!.code === 0x18) {
      if (pc + 1 < n && state[pc + 1] !== 0)
        throw new CfgError('JUMP_INTO_LDIMM64', `jump into the middle of ldimm64 insn ${pc}`, pc);
      pc++;
    }
  }

  const postorder = computePostorder(n, subprogs, succStart, succTarget);
  const scc = computeScc(n, succStart, succTarget, selfLoops);
  return new BuiltCfg(insns, subprogs, succStart, succTarget, subprogOf, postorder, scc, backEdges);
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
function computePostorder(n: number, subprogs: readonly Subprog[], succStart: Int32Array, succTarget: Int32Array): Int32Array {
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
  return out.slice(0, cur);
}

/**
 * kernel: compute_scc — Tarjan/Pearce iterative SCC, numbering components in the same order
 * and only for real loops (two or more slots, or a self edge).
 */
function computeScc(n: number, succStart: Int32Array, succTarget: Int32Array, selfLoops?: (pc: number) => boolean): Int32Array {
  const NOT_ON_STACK = 0x7fffffff;
  const scc = new Int32Array(n);
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
