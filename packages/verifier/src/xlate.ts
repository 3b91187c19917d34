/**
 * The program as the kernel hands it to its JIT after verification, as far as dead code goes
 * (kernel/bpf/verifier.c, privileged loads: opt_hard_wire_dead_code_branches,
 * opt_remove_dead_code, opt_remove_nops). Instructions no verified path reached are removed; a
 * conditional jump one of whose successors was never reached becomes `ja` to the other one, and
 * `ja 0` / `may_goto 0` disappear. Jump and call offsets, subprogram starts, func_info,
 * line_info and relocations follow every removal as bpf_remove_insns and its helpers move them.
 *
 * Arena instructions are rewritten as convert_ctx_accesses and do_misc_fixups rewrite them
 * (rewriteArena).
 *
 * Then do_misc_fixups' first step: a program that throws (a verified path called bpf_throw) and
 * names no exception callback gets the kernel's default one, `r0 = r1; exit` (the cookie is the
 * return value), appended as a subprogram of its own (add_hidden_subprog). It has no func_info
 * entry (adjust_btf_func skips hidden subprograms), and the line_info of the program's last
 * instruction covers it.
 */
import type { AnalysedProgram, AnalysedSubprog, FuncInfo, Insn, LineInfo, Reloc } from '@bpf/isa';

/** What the rewrite works on: the instructions and everything indexed by instruction. */
interface Image {
  insns: Insn[];
  seen: number[];
  subprogs: AnalysedSubprog[];
  funcInfo: FuncInfo[] | undefined;
  lineInfo: LineInfo[] | undefined;
  relocs: Reloc[];
}

/** What the verifier learnt that the rewrites need besides `seen`. */
export interface XlateOptions {
  /** A bpf_throw was verified and the program names no exception callback: add the kernel's default one. */
  readonly defaultExceptionCb?: boolean;
  /** Instructions that became no-ops after verification (remove_fastcall_spills_fills), removed with the other nops. */
  readonly nops?: readonly number[];
  /** A program with an arena: how its arena instructions are rewritten (arena.ts). */
  readonly arena?: ArenaRewrites;
}

/** What the verifier learnt of a program's arena accesses, by instruction. */
export interface ArenaRewrites {
  /** Loads, stores and atomics whose pointer was an arena pointer (insn_aux_data.ptr_type == PTR_TO_ARENA). */
  readonly access: ReadonlySet<number>;
  /** 64-bit ALU operations on an arena pointer (insn_aux_data.needs_zext). */
  readonly alu64: ReadonlySet<number>;
  /** The arena map has BPF_F_NO_USER_CONV: casts to address space 1 are plain 32-bit moves too. */
  readonly noUserConv: boolean;
}

const MODE_MEM = 0x60;
const MODE_MEMSX = 0x80;
const MODE_ATOMIC = 0xc0;
const PROBE_MEM32 = 0xa0;
const PROBE_MEM32SX = 0xc0;
const PROBE_ATOMIC = 0xe0;

/**
 * convert_ctx_accesses and do_misc_fixups on arena instructions, in place: an access through an
 * arena pointer becomes BPF_PROBE_MEM32 (sign-extending loads BPF_PROBE_MEM32SX, atomics
 * BPF_PROBE_ATOMIC), which the JIT makes relative to the arena's kernel base and safe to fault;
 * a 64-bit operation on an arena pointer becomes the 32-bit one; `addr_space_cast` to address
 * space 0 (and to 1 under BPF_F_NO_USER_CONV) becomes `wD = wS`. Returns whether anything changed.
 */
function rewriteArena(insns: Insn[], a: ArenaRewrites): boolean {
  let changed = false;
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc]!;
    const cls = i.code & 7;
    let code = i.code;
    if (a.access.has(pc) && cls >= 1 && cls <= 3) {
      const mode = i.code & 0xe0;
      const size = i.code & 0x18;
      if (mode === MODE_MEM) code = cls | PROBE_MEM32 | size;
      else if (mode === MODE_MEMSX && cls === 1) code = cls | PROBE_MEM32SX | size;
      else if (mode === MODE_ATOMIC && cls === 3) code = cls | PROBE_ATOMIC | size;
    } else if (i.code === 0xbf && i.imm !== 0) {
      if ((i.off === 1 && i.imm === 1) || a.noUserConv) {
        insns[pc] = { ...i, code: 0xbc, off: 0, imm: 0 };
        changed = true;
      }
      continue;
    } else if (a.alu64.has(pc) && cls === 7) code = (i.code & ~7) | 4;
    if (code !== i.code) {
      insns[pc] = { ...i, code };
      changed = true;
    }
  }
  return changed;
}

/** The name given to the kernel's hidden default exception callback, which has none in BTF. */
export const DEFAULT_EXCEPTION_CB = 'bpf_default_exception_cb';

/** A rewrite step found an offset it cannot represent (the kernel's -ERANGE). */
export class XlateError extends Error {
  constructor(
    readonly insn: number,
    message: string,
  ) {
    super(`xlate: insn ${insn}: ${message}`);
    this.name = 'XlateError';
  }
}

const JMP = 5;
const JMP32 = 6;
const JA = 0x05;
const GOTOL = 0x06;
const MAY_GOTO = 0xe5;

/** insn_is_cond_jump: every jmp/jmp32 but ja, call and exit (may_goto counts). */
const isCondJump = (code: number): boolean => {
  const cls = code & 7;
  const op = code & 0xf0;
  if (cls === JMP32) return op !== 0x00;
  return cls === JMP && op !== 0x00 && op !== 0x80 && op !== 0x90;
};

const nop = (i: Insn): boolean => (i.code === JA || i.code === MAY_GOTO) && i.dst === 0 && i.src === 0 && i.off === 0 && i.imm === 0;

/**
 * Removals in one pass (removeRuns, findNops); off: one removal at a time, as the kernel removes
 * them (a test compares the two on random programs).
 */
export const batchRemovals = { on: true };

/**
 * Rewrite an accepted program the kernel's way. `seen[pc]` is non-zero for every instruction a
 * verified path executed (the kernel's insn_aux_data[].seen); the second slot of an
 * `ld_imm64` counts as seen with its first.
 */
export function xlate(program: AnalysedProgram, seen: ArrayLike<number>, opts: XlateOptions = {}): AnalysedProgram {
  const n = program.insns.length;
  // nothing to rewrite (every program whose every instruction ran, without nops, fastcall pairs or
  // an arena): the answer is the program itself, found without copying it (issue 25)
  if (opts.arena === undefined && (opts.nops === undefined || opts.nops.length === 0) && !opts.defaultExceptionCb && unchanged(program.insns, seen)) return program;
  // a plain loop: Array.from({ length: n }, fn) takes twice as long (issue 25)
  const seenCopy = new Array<number>(n);
  for (let k = 0; k < n; k++) seenCopy[k] = seen[k] ? 1 : 0;
  const img: Image = {
    insns: program.insns.slice(),
    seen: seenCopy,
    subprogs: program.subprogs.slice(),
    funcInfo: program.funcInfo?.slice(),
    lineInfo: program.lineInfo?.slice(),
    relocs: (program.relocs ?? []).slice(),
  };
  for (let pc = 0; pc < n; pc++) if (img.insns[pc]!.code === 0x18 && img.seen[pc]) img.seen[pc + 1] = 1;
  let changed = opts.arena !== undefined && rewriteArena(img.insns, opts.arena);
  for (const pc of opts.nops ?? []) img.insns[pc] = { code: JA, dst: 0, src: 0, off: 0, imm: 0 };
  // opt_hard_wire_dead_code_branches
  for (let pc = 0; pc < n; pc++) {
    const i = img.insns[pc]!;
    if (!isCondJump(i.code)) continue;
    let off: number;
    if (!img.seen[pc + 1]) off = i.off;
    else if (!img.seen[pc + 1 + i.off]) off = 0;
    else continue;
    img.insns[pc] = { code: JA, dst: 0, src: 0, off, imm: 0 };
    changed = true;
  }
  // opt_remove_dead_code: each run of unseen slots in one removal
  const runs: number[] = [];
  for (let pc = 0; pc < n; pc++) {
    if (img.seen[pc]) continue;
    const start = pc;
    while (pc < n && !img.seen[pc]) pc++;
    runs.push(start, pc);
  }
  if (runs.length) {
    changed = true;
    // else one removal after another, each run where the removals before it moved it
    if (!batchRemovals.on || !removeRuns(img, runs))
      for (let k = 0, gone = 0; k < runs.length; gone += runs[k + 1]! - runs[k]!, k += 2) remove(img, runs[k]! - gone, runs[k + 1]! - runs[k]!);
  }
  // opt_remove_nops: after a may_goto 0 the slot before is looked at again (may_goto +1; may_goto +0);
  // the nops found first, then removed at once (removeRuns), unless that could differ
  const nopRuns = batchRemovals.on ? findNops(img) : [];
  if (nopRuns.length && removeRuns(img, nopRuns)) changed = true;
  else for (let pc = 0; pc < img.insns.length; pc++) {
    const i = img.insns[pc]!;
    if (!nop(i)) continue;
    remove(img, pc, 1);
    changed = true;
    pc -= i.code === MAY_GOTO && pc > 0 ? 2 : 1;
  }
  // do_misc_fixups: add_hidden_subprog with the default exception callback
  if (opts.defaultExceptionCb) {
    const start = img.insns.length;
    img.insns.push({ code: 0xbf, dst: 0, src: 1, off: 0, imm: 0 }, { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
    img.subprogs.push({ start, end: start + 2, name: DEFAULT_EXCEPTION_CB, argCount: 1, incomingStackArgs: 0, outgoingStackArgs: 0, stackDepth: 0, exceptionCallback: true });
    changed = true;
  }
  if (!changed) return program;
  const subprogs = img.subprogs.map((s, k) => ({ ...s, end: img.subprogs[k + 1]?.start ?? img.insns.length }));
  return {
    ...program,
    insns: img.insns,
    subprogs,
    // adjust_btf_func: func_info follows the subprograms that remain (a hidden one has none)
    ...(img.funcInfo ? { funcInfo: img.funcInfo.map((f, k) => ({ ...f, insnOff: subprogs[k]?.start ?? f.insnOff })) } : {}),
    ...(img.lineInfo ? { lineInfo: img.lineInfo } : {}),
    ...(program.relocs ? { relocs: img.relocs } : {}),
  };
}

/**
 * Whether the steps of {@link xlate} other than the arena's, the nops' and the exception
 * callback's leave `insns` as they are: every slot seen (an `ld_imm64`'s second with its first),
 * no branch with a side never taken, no nop.
 */
function unchanged(insns: readonly Insn[], seen: ArrayLike<number>): boolean {
  const n = insns.length;
  for (let pc = 0; pc < n; pc++) {
    const i = insns[pc]!;
    // the slots before are all seen here, so an ld_imm64's first slot before this one was too
    if (!seen[pc] && !(pc > 0 && insns[pc - 1]!.code === 0x18)) return false;
    if (isCondJump(i.code)) {
      const t = pc + 1 + i.off;
      if (pc + 1 >= n || !(t >= 0 && t < n)) return false;
    } else if (nop(i)) return false;
  }
  return true;
}

/**
 * opt_remove_dead_code's removals, the runs [runs[2k], runs[2k+1]) of unseen slots in ascending
 * order, all at once: the result of removing them one after another (verifier_remove_insns,
 * {@link remove}) in one pass over the program and its tables, where one removal at a time costs
 * a pass per run (issue 25: a tracee program spent a tenth of its verification there). Returns
 * false, changing nothing, where the result could differ from removing the runs one at a time: a
 * run longer than a jump offset can span (an intermediate offset out of range), line_info out of
 * order or an index out of the program, a kept jump, call or function reference whose target is
 * inside a run past its first slot (a function never called: removals move such targets in their
 * own way).
 */
function removeRuns(img: Image, runs: readonly number[]): boolean {
  const n = img.insns.length;
  const li = img.lineInfo;
  const inside = (t: number): boolean => t >= 0 && t < n;
  if (li) for (let k = 0; k < li.length; k++) if (!inside(li[k]!.insnOff) || (k > 0 && li[k]!.insnOff < li[k - 1]!.insnOff)) return false;
  if (!img.subprogs.every((s) => inside(s.start)) || !img.relocs.every((r) => inside(r.insn))) return false;
  // shift[t]: how far slot t moves back (for a slot inside a run: the slots removed before the run)
  const shift = new Int32Array(n + 1);
  // which run a slot is in (-1: kept)
  const runOf = new Int32Array(n).fill(-1);
  let removed = 0;
  let at = 0;
  for (let r = 0; r < runs.length; r += 2) {
    const a = runs[r]!;
    const b = runs[r + 1]!;
    if (b - a > 32767) return false;
    for (; at < a; at++) shift[at] = removed;
    for (; at < b; at++) {
      shift[at] = removed;
      runOf[at] = r >> 1;
    }
    removed += b - a;
  }
  for (; at <= n; at++) shift[at] = removed;
  // bpf_adj_branches: every kept jump, call and function reference to its target's new place
  const insns: Insn[] = [];
  for (let pc = 0; pc < n; pc++) {
    if (runOf[pc]! >= 0) continue;
    let i = img.insns[pc]!;
    const q = insns.length;
    const cls = i.code & 7;
    const jmp = cls === JMP || cls === JMP32;
    const byImm = (i.code === 0x18 && i.src === 4) || i.code === GOTOL || (jmp && (i.code & 0xf0) === 0x80 && i.src === 1);
    const byOff = !byImm && jmp && (i.code & 0xf0) !== 0x80 && (i.code & 0xf0) !== 0x90;
    if (byImm || byOff) {
      const rel = byImm ? i.imm : i.off;
      const t = pc + rel + 1;
      // (a target removed is moved past its run: from its run's start only, as removals move it)
      if (t < 0 || t > n || (runOf[t]! >= 0 && runs[2 * runOf[t]!] !== t)) return false;
      const moved = t - shift[t]! - q - 1;
      if (moved !== rel) {
        if (byOff && (moved < -32768 || moved > 32767)) throw new XlateError(q, `jump offset ${moved} out of range`);
        i = byImm ? { ...i, imm: moved } : { ...i, off: moved };
      }
    }
    insns.push(i);
  }
  img.insns = insns;
  img.seen = img.seen.filter((_, pc) => runOf[pc]! < 0);
  // adjust_subprog_starts_after_remove, run by run: the subprograms (but the first) whose start
  // a run removes go, with their func_info while the two lists are as long; the others' starts
  // move back
  const gone = [...new Set(img.subprogs.filter((s, k) => k > 0 && runOf[s.start]! >= 0).map((s) => runOf[s.start]!))].sort((x, y) => x - y);
  for (const run of gone) {
    const keep: number[] = [];
    img.subprogs.forEach((s, k) => {
      if (k === 0 || runOf[s.start] !== run) keep.push(k);
    });
    const fi = img.funcInfo;
    if (fi && fi.length === img.subprogs.length) img.funcInfo = keep.map((k) => fi[k]!);
    const subprogs = img.subprogs;
    img.subprogs = keep.map((k) => subprogs[k]!);
  }
  img.subprogs = img.subprogs.map((s) => (shift[s.start] ? { ...s, start: s.start - shift[s.start]! } : s));
  // bpf_adj_linfo_after_remove, run by run: a run's entries go, the first kept slot after it
  // inheriting the last of them when it has none of its own (unless the run ends the program)
  if (li?.length) {
    const out: LineInfo[] = [];
    const moved = (l: LineInfo): LineInfo => (shift[l.insnOff] ? { ...l, insnOff: l.insnOff - shift[l.insnOff]! } : l);
    let k = 0;
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r]!;
      const b = runs[r + 1]!;
      for (; k < li.length && li[k]!.insnOff < a; k++) out.push(moved(li[k]!));
      const first = k;
      while (k < li.length && li[k]!.insnOff < b) k++;
      if (b !== n && k > first && (k === li.length || li[k]!.insnOff !== b)) out.push({ ...li[k - 1]!, insnOff: b - shift[b]! });
    }
    for (; k < li.length; k++) out.push(moved(li[k]!));
    img.lineInfo = out;
  }
  const relocs: Reloc[] = [];
  for (const r of img.relocs) {
    if (runOf[r.insn]! >= 0) continue;
    relocs.push(shift[r.insn] ? { ...r, insn: r.insn - shift[r.insn]! } : r);
  }
  img.relocs = relocs;
  return true;
}

/**
 * The slots opt_remove_nops removes, as runs for {@link removeRuns} (none: nothing to remove, or
 * a subprogram's first slot among them). Its scan, slot by slot, without removing: a `ja` or
 * `may_goto` is a nop when its offset is 0 or every slot it jumps over is gone (a removal before
 * the target shortens a jump over it; backward jumps never reach 0); after a removed may_goto the
 * scan looks at the slot before again, as the kernel's loop does. Removed slots are counted in a
 * Fenwick tree, so the scan is O(n log n) where a removal at a time was O(n) per nop (issue 25:
 * a tracee program with hundreds of dead branches made `ja 0` spent a twentieth of its
 * verification removing them).
 */
function findNops(img: Image): number[] {
  const insns = img.insns;
  const m = insns.length;
  const gone = new Uint8Array(m);
  const tree = new Int32Array(m + 1);
  // removed slots in [0, i)
  const before = (i: number): number => {
    let s = 0;
    for (; i > 0; i -= i & -i) s += tree[i]!;
    return s;
  };
  const prev = new Int32Array(m);
  const next = new Int32Array(m);
  for (let k = 0; k < m; k++) {
    prev[k] = k - 1;
    next[k] = k + 1;
  }
  let any = false;
  for (let p = 0; p < m; ) {
    const i = insns[p]!;
    const isNop = (i.code === JA || i.code === MAY_GOTO) && i.dst === 0 && i.src === 0 && i.imm === 0 && (i.off === 0 || (i.off > 0 && i.off === before(Math.min(p + i.off + 1, m)) - before(p + 1)));
    if (!isNop) {
      p = next[p]!;
      continue;
    }
    any = true;
    gone[p] = 1;
    for (let k = p + 1; k <= m; k += k & -k) tree[k]!++;
    const a = prev[p]!;
    const b = next[p]!;
    if (a >= 0) next[a] = b;
    if (b < m) prev[b] = a;
    p = i.code === MAY_GOTO && a >= 0 ? a : b;
  }
  if (!any) return [];
  for (let k = 1; k < img.subprogs.length; k++) if (gone[img.subprogs[k]!.start]) return [];
  const runs: number[] = [];
  for (let pc = 0; pc < m; pc++) {
    if (!gone[pc]) continue;
    const start = pc;
    while (pc < m && gone[pc]) pc++;
    runs.push(start, pc);
  }
  return runs;
}

/** verifier_remove_insns: slots [off, off+cnt) go, with everything that points past them. */
function remove(img: Image, off: number, cnt: number): void {
  const end = off + cnt;
  img.insns.splice(off, cnt);
  img.seen.splice(off, cnt);
  adjustBranches(img.insns, off, end);
  adjustSubprogs(img, off, cnt);
  adjustLineInfo(img, off, cnt);
  const relocs: Reloc[] = [];
  for (const r of img.relocs) {
    if (r.insn >= off && r.insn < end) continue;
    relocs.push(r.insn >= end ? { ...r, insn: r.insn - cnt } : r);
  }
  img.relocs = relocs;
}

/**
 * bpf_adj_branches for a removal (the slots are already gone): a jump before the hole to at or
 * past its end comes `cnt` closer, a jump after it back before it `cnt` shorter. Pseudo calls and
 * `ld_imm64` of a function move their imm, `gotol` its imm, every other jump its off.
 */
function adjustBranches(insns: Insn[], off: number, end: number): void {
  const delta = off - end;
  const moved = (pc: number, rel: number): number => {
    if (pc < off && pc + rel + 1 >= end) return rel + delta;
    if (pc >= off && pc + rel + 1 < off) return rel - delta;
    return rel;
  };
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc]!;
    if (i.code === 0x18 && i.src === 4) {
      const imm = moved(pc, i.imm);
      if (imm !== i.imm) insns[pc] = { ...i, imm };
      continue;
    }
    const cls = i.code & 7;
    if ((cls !== JMP && cls !== JMP32) || (i.code & 0xf0) === 0x90) continue;
    if ((i.code & 0xf0) === 0x80) {
      if (i.src !== 1) continue;
      const imm = moved(pc, i.imm);
      if (imm !== i.imm) insns[pc] = { ...i, imm };
    } else if (i.code === GOTOL) {
      const imm = moved(pc, i.imm);
      if (imm !== i.imm) insns[pc] = { ...i, imm };
    } else {
      const o = moved(pc, i.off);
      if (o < -32768 || o > 32767) throw new XlateError(pc, `jump offset ${o} out of range`);
      if (o !== i.off) insns[pc] = { ...i, off: o };
    }
  }
}

/**
 * adjust_subprog_starts_after_remove: subprograms wholly inside the hole go (with their
 * func_info); starts after it move back. A reached subprogram's first slot is always reached,
 * so a hole never takes just the front of one.
 */
function adjustSubprogs(img: Image, off: number, cnt: number): void {
  const end = off + cnt;
  const keep: number[] = [];
  img.subprogs.forEach((s, k) => {
    if (k > 0 && s.start >= off && s.start < end) return;
    keep.push(k);
  });
  if (keep.length !== img.subprogs.length) {
    const fi = img.funcInfo;
    if (fi && fi.length === img.subprogs.length) img.funcInfo = keep.map((k) => fi[k]!);
    img.subprogs = keep.map((k) => img.subprogs[k]!);
  }
  img.subprogs = img.subprogs.map((s) => (s.start >= end ? { ...s, start: s.start - cnt } : s));
}

/**
 * bpf_adj_linfo_after_remove: line entries of removed slots go, except that the first slot kept
 * after the hole inherits the last removed entry when it has none of its own; later entries move
 * back.
 */
function adjustLineInfo(img: Image, off: number, cnt: number): void {
  const li = img.lineInfo;
  if (!li?.length) return;
  let first = 0;
  while (first < li.length && li[first]!.insnOff < off) first++;
  let k = first;
  while (k < li.length && li[k]!.insnOff < off + cnt) k++;
  const out = li.slice(0, first);
  if (img.insns.length !== off && k > first && (k === li.length || li[k]!.insnOff !== off + cnt)) out.push({ ...li[k - 1]!, insnOff: off });
  for (; k < li.length; k++) out.push({ ...li[k]!, insnOff: li[k]!.insnOff - cnt });
  img.lineInfo = out;
}
