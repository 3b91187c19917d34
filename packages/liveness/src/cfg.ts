/**
 * Control-flow graph of a program, built with the same rules as the kernel's check_subprogs,
 * check_cfg and bpf_insn_successors (kernel/bpf/verifier.c), so structural errors carry the
 * kernel's wording and the instruction orders (postorder, SCC numbering) match its own.
 */
import { decodeOp, discoverSubprogs, type Insn, type Program, type Subprog } from '@bpf/isa';
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
  /** Successor instruction indices per slot (empty for exits and `ld_imm64` second halves). */
  readonly succs: readonly (readonly number[])[];
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
  const i = insns[pc]!;
  const op = decodeOp(i);
  const next = pc + (op.kind === 'ld_imm64' ? 2 : 1);
  switch (op.kind) {
    case 'exit':
      return [];
    case 'gotol':
      return [jumpTarget(pc, i)];
    case 'jmp':
      return op.cond === 'ja' ? [jumpTarget(pc, i)] : [next, jumpTarget(pc, i)];
    case 'may_goto':
      return [next, jumpTarget(pc, i)];
    default:
      return [next];
  }
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
export function buildCfg(program: Program): Cfg {
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

  const succs: number[][] = new Array<number[]>(n);
  for (let pc = 0; pc < n; pc++) succs[pc] = insnSuccessors(insns, pc).filter((t) => t < n);

  // check_cfg: a DFS from insn 0 in which calls (and `ld_imm64` function references) are
  // branches into their callee, so a subprogram nobody calls is unreachable too.
  const DISCOVERED = 1,
    EXPLORED = 2;
  const state = new Uint8Array(n);
  const backEdges: [number, number][] = [];
  const cfgSuccs = (t: number): readonly number[] => {
    const i = insns[t]!;
    return (i.code === 0x85 && i.src === 1) || (i.code === 0x18 && i.src === 4) ? [...succs[t]!, t + i.imm + 1] : succs[t]!;
  };
  {
    const stack = [0];
    state[0] = DISCOVERED;
    const nextSucc = new Int32Array(n);
    while (stack.length) {
      const t = stack[stack.length - 1]!;
      const ss = cfgSuccs(t);
      if (nextSucc[t]! < ss.length) {
        const w = ss[nextSucc[t]!++]!;
        if (state[w] === 0) {
          state[w] = DISCOVERED;
          stack.push(w);
        } else if (state[w] === DISCOVERED) backEdges.push([t, w]);
        continue;
      }
      state[t] = EXPLORED;
      stack.pop();
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

  const postorder = computePostorder(n, subprogs, succs);
  const scc = computeScc(n, succs, insns);
  const blocks = buildBlocks(insns, subprogs, succs, subprogOf);
  return { insns, subprogs, succs, subprogOf, postorder, scc, blocks, backEdges };
}

/** kernel: compute_postorder — an iterative DFS from each subprogram's start. */
function computePostorder(n: number, subprogs: readonly Subprog[], succs: readonly (readonly number[])[]): Int32Array {
  const out = new Int32Array(n);
  let cur = 0;
  const DISCOVERED = 1,
    EXPLORED = 2;
  const state = new Uint8Array(n);
  for (const s of subprogs) {
    const stack = [s.start];
    do {
      const top = stack[stack.length - 1]!;
      state[top]! |= DISCOVERED;
      if (state[top]! & EXPLORED) {
        out[cur++] = top;
        stack.pop();
        continue;
      }
      for (const w of succs[top]!) {
        if (!state[w]) {
          stack.push(w);
          state[w]! |= DISCOVERED;
        }
      }
      state[top]! |= EXPLORED;
    } while (stack.length);
  }
  return out.subarray(0, cur);
}

/**
 * kernel: compute_scc — Tarjan/Pearce iterative SCC, numbering components in the same order
 * and only for real loops (two or more slots, or a self edge).
 */
function computeScc(n: number, succs: readonly (readonly number[])[], _insns: readonly Insn[]): Int32Array {
  const NOT_ON_STACK = 0x7fffffff;
  const scc = new Int32Array(n);
  const pre = new Int32Array(n);
  const low = new Int32Array(n);
  const stack = new Int32Array(n);
  const dfs = new Int32Array(n + 1);
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
      const ss = succs[w]!;
      for (const s of ss) {
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
      const assign = stack[stackSz - 1] !== w || ss.includes(w);
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
  succs: readonly (readonly number[])[],
  subprogOf: Int32Array,
): BasicBlock[] {
  const n = insns.length;
  const leader = new Uint8Array(n + 1);
  for (const s of subprogs) leader[s.start] = 1;
  for (let pc = 0; pc < n; pc++) {
    const ss = succs[pc]!;
    const fallsThrough = ss.length === 1 && ss[0] === pc + (insns[pc]!.code === 0x18 ? 2 : 1);
    if (!fallsThrough || insns[pc]!.code === 0x85) {
      for (const t of ss) leader[t] = 1;
      leader[pc + (insns[pc]!.code === 0x18 ? 2 : 1)] = 1;
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
    const bs = [...new Set(succs[last]!.map((t) => blockOf[t]!))];
    for (const b of bs) preds[b]!.push(id);
    return { id, start, end, subprog: subprogOf[start]!, succs: bs };
  });
  return raw.map((b) => ({ ...b, preds: preds[b.id]! }));
}
