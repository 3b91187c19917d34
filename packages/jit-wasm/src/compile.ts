/**
 * BPF to WebAssembly: one wasm function per BPF subprogram, BPF registers as i64 locals, the
 * kernel's semantics for every instruction (kernel/bpf/core.c ___bpf_prog_run and the verifier
 * fixups that define division by zero), and every memory access checked against the region
 * table (layout.ts) unless `checks: false`.
 *
 * Control flow: a function's basic blocks are laid out in instruction order, each one the code
 * after the end of its own `block`, so every forward jump is a `br` out of the blocks in between.
 * Backward jumps set the target block's number and branch to a `loop` around everything, whose
 * head dispatches with `br_table`; that is also where the instruction budget is checked (with
 * checks on).
 */
import { analyseFrames, JitError, type AnalysedProgram, type AnalysedSubprog, type Insn, type Program } from '@bpf/isa';
import { BIAS, faultCode, FUNC_TAG, INITIAL_PAGES, STACK, STACKS, type Fault } from './layout.js';
import { analyseCfg, type Cfg } from './cfg.js';
import { Code, I32, I64, ModuleBuilder, type FuncType, type OpName, type ValType } from './wasm.js';

export interface WasmJitOptions {
  /**
   * Check every load and store against the regions the program may touch (default true). Off,
   * pointers are trusted: only for programs a verifier accepted.
   */
  readonly checks?: boolean;
}

/** An `ld_imm64` the runner resolves at the start of a run (a map or a map value). */
export interface MapRef {
  readonly insn: number;
  /** The exported global that holds its value. */
  readonly global: string;
}

export interface WasmJitResult {
  /** The WebAssembly module. */
  readonly bytes: Uint8Array;
  readonly program: AnalysedProgram;
  readonly checks: boolean;
  readonly mapRefs: readonly MapRef[];
  /** Kfuncs the module imports, with the argument count each call passes. */
  readonly kfuncs: readonly { readonly name: string; readonly args: number }[];
  /** Compile time in milliseconds. */
  readonly compileMs: number;
}

const SIZES = [4, 2, 1, 8] as const;
const LOAD: Record<number, [OpName, OpName]> = { 1: ['i64.load8_u', 'i64.load8_s'], 2: ['i64.load16_u', 'i64.load16_s'], 4: ['i64.load32_u', 'i64.load32_s'], 8: ['i64.load', 'i64.load'] };
const STORE: Record<number, OpName> = { 1: 'i64.store8', 2: 'i64.store16', 4: 'i64.store32', 8: 'i64.store' };
/** ALU operations that are one wasm instruction: [64-bit, 32-bit]. */
const ALU: Record<number, [OpName, OpName]> = {
  0x00: ['i64.add', 'i32.add'], 0x10: ['i64.sub', 'i32.sub'], 0x20: ['i64.mul', 'i32.mul'], 0x40: ['i64.or', 'i32.or'], 0x50: ['i64.and', 'i32.and'],
  0x60: ['i64.shl', 'i32.shl'], 0x70: ['i64.shr_u', 'i32.shr_u'], 0xa0: ['i64.xor', 'i32.xor'], 0xc0: ['i64.shr_s', 'i32.shr_s'],
};
/** Conditional jumps: [64-bit, 32-bit] comparison (jset is `and` then non-zero). */
const JCC: Record<number, [OpName, OpName]> = {
  0x10: ['i64.eq', 'i32.eq'], 0x20: ['i64.gt_u', 'i32.gt_u'], 0x30: ['i64.ge_u', 'i32.ge_u'], 0x40: ['i64.and', 'i32.and'], 0x50: ['i64.ne', 'i32.ne'],
  0x60: ['i64.gt_s', 'i32.gt_s'], 0x70: ['i64.ge_s', 'i32.ge_s'], 0xa0: ['i64.lt_u', 'i32.lt_u'], 0xb0: ['i64.le_u', 'i32.le_u'], 0xc0: ['i64.lt_s', 'i32.lt_s'], 0xd0: ['i64.le_s', 'i32.le_s'],
};
/** Context offsets whose loads the host answers (`__sk_buff` data, data_end, data_meta; `xdp_md` the same): checked even without checks. */
const FIELD_OFFSETS = new Set([0, 4, 8, 76, 80, 140]);
const EINVAL = -22n;
const E2BIG = -7n;
const BPF_MAX_LOOPS = 1n << 23n;
const SKF_NET_OFF = -0x100000;

/** Indices of the imported functions and globals every module has, in import order. */
const F = { fault: 0, ld: 1, st: 2, helper: 3, tail: 4, ldabs: 5 } as const;
const G = { depth: 0, count: 1, budget: 2, mayGoto: 3, fieldsId: 4, oob: 5 } as const;

const entryType: FuncType = { params: [I64, I64, I64, I64, I64], results: [I64] };

/** Compile a program (verified, or analysed syntactically as @bpf/vm does) to a WebAssembly module. */
export function jitWasm(program: Program, opts: WasmJitOptions = {}): WasmJitResult {
  const t0 = performance.now();
  const prog = analyseFrames(program);
  const checks = opts.checks ?? true;
  const insns = prog.insns;
  const m = new ModuleBuilder();
  m.importFunc('bpf', 'fault', { params: [I32, I32, I64], results: [] });
  m.importFunc('bpf', 'ld', { params: [I64, I32, I32], results: [I64] });
  m.importFunc('bpf', 'st', { params: [I64, I64, I32, I32], results: [] });
  m.importFunc('bpf', 'helper', { params: [I32, I64, I64, I64, I64, I64, I32], results: [I64] });
  m.importFunc('bpf', 'tail', { params: [I64, I64, I32], results: [I32] });
  m.importFunc('bpf', 'ldabs', { params: [I32, I32, I32], results: [I64] });
  const kfuncByInsn = new Map((prog.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => [r.insn, r.name]));
  const kfuncs: { name: string; args: number }[] = [];
  const kfuncIndex = new Map<string, number>();
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc]!;
    if (i.code === 0x85 && i.src === 2) {
      const name = kfuncByInsn.get(pc) ?? `#${i.imm}`;
      if (kfuncIndex.has(name)) continue;
      const args = prog.protos?.find((p) => p.name === name)?.params.length ?? 5;
      kfuncIndex.set(name, m.importFunc('kfunc', name, { params: [...Array<ValType>(args).fill(I64), I32], results: [I64] }));
      kfuncs.push({ name, args });
    }
  }
  m.importMemory('bpf', 'mem', INITIAL_PAGES);
  m.importTable('bpf', 'tab', 0);
  m.importGlobal('bpf', 'depth', I32, true);
  m.importGlobal('bpf', 'count', I64, true);
  m.importGlobal('bpf', 'budget', I64, true);
  m.importGlobal('bpf', 'mayGoto', I64, true);
  m.importGlobal('bpf', 'fieldsId', I32, true);
  m.importGlobal('bpf', 'oob', I32, true);
  const entryTypeIndex = m.type(entryType);

  const mapRefs: MapRef[] = [];
  const refGlobal = new Map<number, number>();
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc]!;
    if (i.code === 0x18) {
      if (i.src === 1 || i.src === 2 || i.src === 5 || i.src === 6) {
        const g = m.global(I64);
        const name = `ref${mapRefs.length}`;
        m.exportGlobal(name, g);
        refGlobal.set(pc, g);
        mapRefs.push({ insn: pc, global: name });
      }
      pc++;
    }
  }

  const subs = prog.subprogs;
  const sigOf = (s: AnalysedSubprog): FuncType => ({ params: [...Array<ValType>(5 + s.incomingStackArgs).fill(I64), ...(checks && s.incomingStackArgs > 0 ? [I32 as ValType] : [])], results: [I64] });
  const funcs = subs.map((s) => m.declare(sigOf(s)));
  const entry = m.declare(entryType);
  const callbacks = new Set<number>();
  for (let pc = 0; pc < insns.length; pc++) if (insns[pc]!.code === 0x18 && insns[pc]!.src === 4) callbacks.add(pc + insns[pc]!.imm + 1);
  const ctx: Ctx = { prog, checks, subs, funcs, kfuncIndex, kfuncs, refGlobal, entryTypeIndex, callbacks: subs.map((s, k) => (callbacks.has(s.start) ? k : -1)).filter((k) => k >= 0) };
  subs.forEach((s, k) => {
    const f = new FuncEmitter(ctx, s);
    m.define(funcs[k]!, f.locals, f.emit());
  });
  // the entry every run and tail call goes through: r1..r5, no stack arguments
  const e = new Code();
  for (let r = 0; r < 5; r++) e.get(r);
  for (let k = 0; k < subs[0]!.incomingStackArgs; k++) e.i64(0);
  if (checks && subs[0]!.incomingStackArgs > 0) e.i32(0);
  e.call(funcs[0]!);
  m.define(entry, [], e);
  m.exportFunc('entry', entry);
  return { bytes: m.encode(), program: prog, checks, mapRefs, kfuncs, compileMs: performance.now() - t0 };
}

interface Ctx {
  readonly prog: AnalysedProgram;
  readonly checks: boolean;
  readonly subs: readonly AnalysedSubprog[];
  readonly funcs: readonly number[];
  readonly kfuncIndex: ReadonlyMap<string, number>;
  readonly kfuncs: readonly { readonly name: string; readonly args: number }[];
  readonly refGlobal: ReadonlyMap<number, number>;
  readonly entryTypeIndex: number;
  readonly callbacks: readonly number[];
}

/** `ja` / `gotol`, a conditional jump (may_goto included), or neither. */
const jumpKind = (i: Insn): 'ja' | 'cond' | undefined => {
  const cls = i.code & 7;
  if (cls !== 5 && cls !== 6) return undefined;
  const op = i.code & 0xf0;
  if (op === 0x00) return 'ja';
  if (op === 0xe0 || JCC[op] !== undefined) return 'cond';
  return undefined;
};
const isJump = (i: Insn): boolean => jumpKind(i) !== undefined;

/** How a block ends. */
interface Term {
  readonly kind: 'exit' | 'jump' | 'cond' | 'fall';
  readonly target?: number;
  readonly next?: number;
}
/** A construct enclosing the code being written: what a `br` to it reaches. */
type Enclosing = { readonly if: true } | { readonly loop: number } | { readonly block: number };
/** Larger functions use the dispatch loop (the structured translation recurses per block). */
const MAX_STRUCTURED_BLOCKS = 2000;
const jumpTarget = (pc: number, i: Insn): number => pc + ((i.code & 7) === 6 && (i.code & 0xf0) === 0 ? i.imm : i.off) + 1;

class FuncEmitter {
  readonly locals: ValType[] = [];
  private readonly c = new Code();
  private readonly nparams: number;
  private readonly reg: number[] = [];
  private readonly out: number[] = [];
  private readonly inMask: number;
  // scratch
  private readonly A: number;
  private readonly V: number;
  private readonly T: number;
  private readonly X: number;
  private readonly E: number;
  private readonly L: number;
  private readonly fpLin: number;
  private readonly mask: number;
  private readonly lbl: number;
  private readonly d: number;
  private readonly I: number;
  private readonly cnt: number;
  private readonly lim: number;
  private starts: number[] = [];
  private blockOf = new Map<number, number>();
  private terms: Term[] = [];
  private cfg: Cfg | undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly s: AnalysedSubprog,
  ) {
    this.nparams = 5 + s.incomingStackArgs + (ctx.checks && s.incomingStackArgs > 0 ? 1 : 0);
    this.inMask = ctx.checks && s.incomingStackArgs > 0 ? 5 + s.incomingStackArgs : -1;
    const local = (t: ValType): number => {
      this.locals.push(t);
      return this.nparams + this.locals.length - 1;
    };
    this.reg[0] = local(I64);
    for (let r = 1; r <= 5; r++) this.reg[r] = r - 1;
    for (let r = 6; r <= 10; r++) this.reg[r] = local(I64);
    for (let k = 0; k < 7; k++) this.out[k] = local(I64);
    this.A = local(I64);
    this.V = local(I64);
    this.T = local(I64);
    this.X = local(I64);
    this.E = local(I32);
    this.L = local(I32);
    this.fpLin = local(I32);
    this.mask = local(I32);
    this.lbl = local(I32);
    this.d = local(I32);
    this.I = local(I32);
    this.cnt = local(I64);
    this.lim = local(I64);
  }

  private get insns(): readonly Insn[] {
    return this.ctx.prog.insns;
  }

  private fault(f: Fault, pc: number, arg?: () => void): void {
    this.c.i32(faultCode(f)).i32(pc);
    if (arg) arg();
    else this.c.i64(0);
    this.c.call(F.fault);
  }

  emit(): Code {
    const { s, c } = this;
    // basic blocks: leaders are the entry, jump targets and what follows a jump, an exit, a tail call or ld_abs
    const leaders = new Set<number>([s.start]);
    for (let pc = s.start; pc < s.end; pc++) {
      const i = this.insns[pc]!;
      if (isJump(i)) {
        const t = jumpTarget(pc, i);
        if (t < s.start || t >= s.end || this.insns[t - 1]?.code === 0x18) throw new JitError('BAD_PROGRAM', `jump to ${t}, outside function ${s.name} or into an ld_imm64`, pc);
        leaders.add(t);
        leaders.add(pc + 1);
      } else if (i.code === 0x95 || (i.code === 0x85 && i.src === 0 && i.imm === 12) || (i.code & 7) === 0 && ((i.code & 0xe0) === 0x20 || (i.code & 0xe0) === 0x40)) leaders.add(pc + 1);
      if (i.code === 0x18) pc++;
    }
    this.starts = [...leaders].filter((p) => p < s.end).sort((a, b) => a - b);
    this.starts.forEach((p, k) => this.blockOf.set(p, k));
    const n = this.starts.length;
    this.terms = this.starts.map((_, k) => this.terminator(k));
    // prologue: this frame's stack from the call depth; the budget left
    c.gget(G.depth).tee(this.d).i32(STACK).op('i32.mul').i32(STACKS).op('i32.add').set(this.fpLin);
    c.get(this.d).op('i64.extend_i32_u').i64(1).op('i64.add').i64(32).op('i64.shl').get(this.fpLin).op('i64.extend_i32_u').op('i64.add').i64(BIAS + STACK).op('i64.add').set(this.reg[10]!);
    this.refreshLimit();
    const cfg = n <= MAX_STRUCTURED_BLOCKS ? analyseCfg(this.terms.map((t) => [t.target, t.next].filter((b): b is number => b !== undefined))) : undefined;
    if (cfg?.reducible) {
      this.cfg = cfg;
      this.tree(0, []);
    } else this.dispatch();
    this.fault('FELL_OFF', s.end - 1);
    c.op('unreachable');
    return c;
  }

  /** How block k ends: its jump's target block and the block control falls into. */
  private terminator(k: number): Term {
    const last = this.lastInsn(k);
    const i = this.insns[last]!;
    const next = k + 1 < this.starts.length ? k + 1 : undefined;
    const kind = jumpKind(i);
    if (i.code === 0x95) return { kind: 'exit' };
    if (kind === 'ja') return { kind: 'jump', target: this.blockOf.get(jumpTarget(last, i))! };
    if (kind === 'cond') return { kind: 'cond', target: this.blockOf.get(jumpTarget(last, i))!, ...(next !== undefined ? { next } : {}) };
    return { kind: 'fall', ...(next !== undefined ? { next } : {}) };
  }

  private lastInsn(k: number): number {
    const end = this.starts[k + 1] ?? this.s.end;
    let last = this.starts[k]!;
    for (let pc = last; pc < end; pc++) {
      last = pc;
      if (this.insns[pc]!.code === 0x18) pc++;
    }
    return last;
  }

  /**
   * Unstructured graphs (or very large ones): every block is the code after the end of its own
   * `block`, so a forward jump is a `br`; a backward jump sets the target's number and goes
   * round a `loop` whose head dispatches with `br_table`.
   */
  private dispatch(): void {
    const { c } = this;
    const n = this.starts.length;
    const loop = this.terms.some((t, k) => t.target !== undefined && t.target <= k);
    if (loop) c.open('loop');
    for (let k = n - 1; k >= 1; k--) c.open('block');
    if (loop) {
      c.open('block');
      c.get(this.lbl).byte(0x0e).u32(n);
      for (let k = 0; k < n; k++) c.u32(k);
      c.u32(0).end();
    }
    const jump = (from: number, to: number, extra: number): void => {
      if (to > from) {
        c.br(to - from - 1 + extra);
        return;
      }
      c.i32(to).set(this.lbl);
      this.budgetCheck(this.starts[to]!);
      c.br(n - 1 - from + extra);
    };
    for (let k = 0; k < n; k++) {
      this.blockBody(k);
      const t = this.terms[k]!;
      if (t.kind === 'jump') jump(k, t.target!, 0);
      else if (t.kind === 'cond') {
        if (t.target! > k) c.brIf(t.target! - k - 1);
        else {
          c.open('if');
          jump(k, t.target!, 1);
          c.end();
        }
      }
      if (k < n - 1) c.end();
    }
    if (loop) c.end();
  }

  /** Ramsey's doTree: block x, the merge nodes it dominates after it, in a loop if x heads one. */
  private tree(x: number, ctx: readonly Enclosing[]): void {
    const cfg = this.cfg!;
    if (cfg.loopHeader[x]) {
      this.c.open('loop');
      this.within(x, cfg.mergeChildren[x]!, [...ctx, { loop: x }]);
      this.c.end();
    } else this.within(x, cfg.mergeChildren[x]!, ctx);
  }

  private within(x: number, ys: readonly number[], ctx: readonly Enclosing[]): void {
    const { c } = this;
    if (ys.length === 0) {
      this.blockBody(x);
      const t = this.terms[x]!;
      if (t.kind === 'jump') this.branch(x, t.target!, ctx);
      else if (t.kind === 'fall') this.branch(x, t.next, ctx);
      else if (t.kind === 'cond') {
        // the condition is on the stack
        const [a, b, negate] = this.isBr(x, t.target!) ? [t.target!, t.next, false] : t.next !== undefined && this.isBr(x, t.next) ? [t.next, t.target!, true] : [undefined, undefined, false];
        if (a !== undefined) {
          if (negate) c.op('i32.eqz');
          if (this.cfg!.rpo[a]! <= this.cfg!.rpo[x]!) {
            c.open('if');
            this.branch(x, a, [...ctx, { if: true }]);
            c.end();
          } else c.brIf(this.depth(ctx, { block: a }));
          this.branch(x, b, ctx);
        } else {
          c.open('if');
          this.branch(x, t.target!, [...ctx, { if: true }]);
          c.byte(0x05);
          this.branch(x, t.next, [...ctx, { if: true }]);
          c.end();
        }
      }
      return;
    }
    c.open('block');
    this.within(x, ys.slice(1), [...ctx, { block: ys[0]! }]);
    c.end();
    this.tree(ys[0]!, ctx);
  }

  private isBr(x: number, y: number): boolean {
    return this.cfg!.rpo[y]! <= this.cfg!.rpo[x]! || this.cfg!.merge[y]!;
  }

  private depth(ctx: readonly Enclosing[], e: Enclosing): number {
    for (let k = ctx.length - 1; k >= 0; k--) {
      const x = ctx[k]!;
      if (('loop' in e && 'loop' in x && x.loop === e.loop) || ('block' in e && 'block' in x && x.block === e.block)) return ctx.length - 1 - k;
    }
    throw new JitError('BAD_PROGRAM', 'structured control flow lost a label', this.s.start);
  }

  private branch(x: number, y: number | undefined, ctx: readonly Enclosing[]): void {
    const { c } = this;
    if (y === undefined) {
      this.fault('FELL_OFF', this.s.end - 1);
      c.op('unreachable');
    } else if (this.cfg!.rpo[y]! <= this.cfg!.rpo[x]!) {
      this.budgetCheck(this.starts[y]!);
      c.br(this.depth(ctx, { loop: y }));
    } else if (this.cfg!.merge[y]) c.br(this.depth(ctx, { block: y }));
    else this.tree(y, ctx);
  }

  /**
   * The instruction budget: `cnt` counts this function's instructions since the last flush, `lim`
   * what was left then. Without checks the budget is not tested while the program runs (a
   * program the verifier accepted terminates; may_goto keeps its own budget): the count is still
   * kept, and the runner raises BUDGET when a run that went past it returns.
   */
  private budgetCheck(pc: number): void {
    if (!this.ctx.checks) return;
    this.c.get(this.cnt).get(this.lim).op('i64.gt_s').open('if');
    this.flush();
    this.fault('BUDGET', pc);
    this.c.end();
  }

  /** Add this function's count to the run's (before a call or a return). */
  private flush(): void {
    this.c.gget(G.count).get(this.cnt).op('i64.add').gset(G.count).i64(0).set(this.cnt);
  }

  /** After a call (whose instructions the run's count now holds): the budget left. */
  private refreshLimit(): void {
    if (!this.ctx.checks) return;
    this.c.gget(G.budget).gget(G.count).op('i64.sub').set(this.lim);
  }

  private blockBody(k: number): void {
    const { c } = this;
    const start = this.starts[k]!;
    const end = this.starts[k + 1] ?? this.s.end;
    let count = 0;
    for (let pc = start; pc < end; pc++) {
      count++;
      if (this.insns[pc]!.code === 0x18) pc++;
    }
    c.get(this.cnt).i64(count).op('i64.add').set(this.cnt);
    for (let pc = start; pc < end; pc++) {
      this.insn(pc);
      if (this.insns[pc]!.code === 0x18) pc++;
    }
  }

  private src64(i: Insn): void {
    if (i.code & 8) this.c.get(this.reg[i.src]!);
    else this.c.i64(i.imm);
  }

  private src32(i: Insn): void {
    if (i.code & 8) this.c.get(this.reg[i.src]!).op('i32.wrap_i64');
    else this.c.i32(i.imm);
  }

  private insn(pc: number): void {
    const i = this.insns[pc]!;
    const cls = i.code & 7;
    if (i.dst === 10 && (cls === 4 || cls === 7 || (cls === 1) || (cls === 0 && i.code === 0x18))) throw new JitError('BAD_PROGRAM', 'r10 is read-only', pc);
    if (i.dst > 11 || i.src > 11) return this.fault('INVALID_INSN', pc);
    switch (cls) {
      case 7:
        return this.alu64(i, pc);
      case 4:
        return this.alu32(i, pc);
      case 5:
      case 6:
        return this.jmp(i, pc);
      case 0:
        return this.ld(i, pc);
      case 1:
        return this.ldx(i, pc);
      default:
        return this.store(i, pc);
    }
  }

  private alu64(i: Insn, pc: number): void {
    const { c } = this;
    const op = i.code & 0xf0;
    const x = (i.code & 8) !== 0;
    const dst = this.reg[i.dst]!;
    if (i.dst === 11 || (x && i.src === 11)) return this.fault('INVALID_INSN', pc);
    const simple = ALU[op];
    if (simple) {
      c.get(dst);
      this.src64(i);
      c.op(simple[0]).set(dst);
      return;
    }
    switch (op) {
      case 0x80:
        c.i64(0).get(dst).op('i64.sub').set(dst);
        return;
      case 0xb0:
        if (x && (i.off === 8 || i.off === 16 || i.off === 32)) c.get(this.reg[i.src]!).op(i.off === 8 ? 'i64.extend8_s' : i.off === 16 ? 'i64.extend16_s' : 'i64.extend32_s');
        else this.src64(i);
        c.set(dst);
        return;
      case 0x30:
      case 0x90:
        return this.divmod64(i, op === 0x90, i.off === 1);
      case 0xd0:
        // bswap16/32/64: always a swap
        c.get(dst);
        this.swap(i.imm, true);
        c.set(dst);
        return;
      default:
        this.fault('INVALID_INSN', pc);
    }
  }

  private alu32(i: Insn, pc: number): void {
    const { c } = this;
    const op = i.code & 0xf0;
    const x = (i.code & 8) !== 0;
    const dst = this.reg[i.dst]!;
    if (i.dst === 11 || (x && i.src === 11)) return this.fault('INVALID_INSN', pc);
    const simple = ALU[op];
    if (simple) {
      c.get(dst).op('i32.wrap_i64');
      this.src32(i);
      c.op(simple[1]).op('i64.extend_i32_u').set(dst);
      return;
    }
    switch (op) {
      case 0x80:
        c.i32(0).get(dst).op('i32.wrap_i64').op('i32.sub').op('i64.extend_i32_u').set(dst);
        return;
      case 0xb0:
        if (x && (i.off === 8 || i.off === 16 || i.off === 32)) {
          c.get(this.reg[i.src]!).op('i32.wrap_i64');
          if (i.off !== 32) c.op(i.off === 8 ? 'i32.extend8_s' : 'i32.extend16_s');
        } else this.src32(i);
        c.op('i64.extend_i32_u').set(dst);
        return;
      case 0x30:
      case 0x90:
        return this.divmod32(i, op === 0x90, i.off === 1);
      case 0xd0:
        c.get(dst);
        if (x) this.swap(i.imm, false);
        else if (i.imm === 16) c.i64(0xffff).op('i64.and');
        else if (i.imm === 32) c.i64(0xffffffff).op('i64.and');
        c.set(dst);
        return;
      default:
        this.fault('INVALID_INSN', pc);
    }
  }

  /** Byte-swap the low `bits` of the i64 on the stack (zero-extended result). */
  private swap(bits: number, _always: boolean): void {
    const { c } = this;
    if (bits === 16) {
      c.tee(this.T).i64(0xff).op('i64.and').i64(8).op('i64.shl').get(this.T).i64(8).op('i64.shr_u').i64(0xff).op('i64.and').op('i64.or');
    } else if (bits === 32) {
      c.op('i32.wrap_i64');
      this.bswap32();
      c.op('i64.extend_i32_u');
    } else {
      c.tee(this.T).op('i32.wrap_i64');
      this.bswap32();
      c.op('i64.extend_i32_u').i64(32).op('i64.shl');
      c.get(this.T).i64(32).op('i64.shr_u').op('i32.wrap_i64');
      this.bswap32();
      c.op('i64.extend_i32_u').op('i64.or');
    }
  }

  private bswap32(): void {
    this.c.tee(this.I).i32(8).op('i32.rotl').i32(0x00ff00ff).op('i32.and').get(this.I).i32(8).op('i32.rotr').i32(0xff00ff00 | 0).op('i32.and').op('i32.or');
  }

  private divmod64(i: Insn, mod: boolean, signed: boolean): void {
    const { c } = this;
    const dst = this.reg[i.dst]!;
    const x = (i.code & 8) !== 0;
    if (!x) {
      const v = BigInt(i.imm);
      if (v === 0n) {
        if (!mod) c.i64(0).set(dst);
        return; // x % 0 = x
      }
      if (signed && v === -1n) {
        if (mod) c.i64(0).set(dst);
        else c.i64(0).get(dst).op('i64.sub').set(dst);
        return;
      }
      c.get(dst).i64(v).op(mod ? (signed ? 'i64.rem_s' : 'i64.rem_u') : signed ? 'i64.div_s' : 'i64.div_u').set(dst);
      return;
    }
    const s = this.reg[i.src]!;
    c.get(s).op('i64.eqz').open('if', I64);
    if (mod) c.get(dst);
    else c.i64(0);
    c.byte(0x05); // else
    if (signed) {
      c.get(s).i64(-1).op('i64.eq').open('if', I64);
      if (mod) c.i64(0);
      else c.i64(0).get(dst).op('i64.sub');
      c.byte(0x05);
      c.get(dst).get(s).op(mod ? 'i64.rem_s' : 'i64.div_s');
      c.end();
    } else c.get(dst).get(s).op(mod ? 'i64.rem_u' : 'i64.div_u');
    c.end().set(dst);
  }

  private divmod32(i: Insn, mod: boolean, signed: boolean): void {
    const { c } = this;
    const dst = this.reg[i.dst]!;
    const x = (i.code & 8) !== 0;
    const opName: OpName = mod ? (signed ? 'i32.rem_s' : 'i32.rem_u') : signed ? 'i32.div_s' : 'i32.div_u';
    if (!x) {
      const v = i.imm | 0;
      if (v === 0) {
        if (!mod) c.i64(0).set(dst);
        else c.get(dst).i64(0xffffffff).op('i64.and').set(dst);
        return;
      }
      if (signed && v === -1) {
        if (mod) c.i64(0).set(dst);
        else c.i32(0).get(dst).op('i32.wrap_i64').op('i32.sub').op('i64.extend_i32_u').set(dst);
        return;
      }
      c.get(dst).op('i32.wrap_i64').i32(v).op(opName).op('i64.extend_i32_u').set(dst);
      return;
    }
    c.get(this.reg[i.src]!).op('i32.wrap_i64').tee(this.I).op('i32.eqz').open('if', I32);
    if (mod) c.get(dst).op('i32.wrap_i64');
    else c.i32(0);
    c.byte(0x05);
    if (signed) {
      c.get(this.I).i32(-1).op('i32.eq').open('if', I32);
      if (mod) c.i32(0);
      else c.i32(0).get(dst).op('i32.wrap_i64').op('i32.sub');
      c.byte(0x05);
      c.get(dst).op('i32.wrap_i64').get(this.I).op(opName);
      c.end();
    } else c.get(dst).op('i32.wrap_i64').get(this.I).op(opName);
    c.end().op('i64.extend_i32_u').set(dst);
  }

  /** Exits, calls, and the condition of a conditional jump (left on the stack for the block's terminator). */
  private jmp(i: Insn, pc: number): void {
    const { c } = this;
    const op = i.code & 0xf0;
    const cls = i.code & 7;
    if (op === 0x90 && cls === 5) {
      this.flush();
      c.get(this.reg[0]!).op('return');
      return;
    }
    if (op === 0x80 && cls === 5) return this.call(i, pc);
    const kind = jumpKind(i);
    if (kind === undefined) return this.fault('INVALID_INSN', pc);
    if (kind === 'ja') return;
    if (op === 0xe0) {
      // may_goto: fall through while the budget lasts (spending one), then jump
      c.gget(G.mayGoto).gget(G.mayGoto).op('i64.eqz').tee(this.I).op('i32.eqz').op('i64.extend_i32_u').op('i64.sub').gset(G.mayGoto).get(this.I);
      return;
    }
    const cc = JCC[op]!;
    const is64 = cls === 5;
    if ((i.code & 8) !== 0 && i.src === 11) {
      this.fault('INVALID_INSN', pc);
      c.i32(0);
      return;
    }
    c.get(this.reg[i.dst]!);
    if (!is64) c.op('i32.wrap_i64');
    if (is64) this.src64(i);
    else this.src32(i);
    c.op(is64 ? cc[0] : cc[1]);
    if (op === 0x40) c.op(is64 ? 'i64.eqz' : 'i32.eqz').op('i32.eqz');
  }

  private callDepth(pc: number): void {
    this.c.get(this.d).i32(7).op('i32.ge_u').open('if');
    this.fault('CALL_DEPTH', pc);
    this.c.end();
  }

  private call(i: Insn, pc: number): void {
    const { c } = this;
    if (i.src === 1) {
      const target = pc + i.imm + 1;
      const callee = this.ctx.subs.findIndex((s) => s.start === target);
      if (callee < 0) throw new JitError('BAD_PROGRAM', `call to ${target}, which starts no function`, pc);
      this.callDepth(pc);
      this.flush();
      c.get(this.d).i32(1).op('i32.add').gset(G.depth);
      this.callArgs(this.ctx.subs[callee]!, () => {
        for (let r = 1; r <= 5; r++) c.get(this.reg[r]!);
      });
      c.call(this.ctx.funcs[callee]!).set(this.reg[0]!);
      c.get(this.d).gset(G.depth);
      this.refreshLimit();
      // the callee's return consumes the slots the caller stored for it (stack-args §4.4)
      if (this.ctx.checks) c.i32(0).set(this.mask);
      return;
    }
    if (i.src === 2) {
      const name = this.ctx.prog.relocs?.find((r) => r.kind === 'kfunc' && r.insn === pc)?.name ?? `#${i.imm}`;
      const fi = this.ctx.kfuncIndex.get(name)!;
      const n = this.ctx.kfuncs.find((k) => k.name === name)!.args;
      if (this.ctx.checks)
        for (let k = 5; k < n; k++) {
          c.get(this.mask).i32(1 << (k - 5)).op('i32.and').op('i32.eqz').open('if');
          this.fault('KFUNC_STACK_ARG_UNINIT', pc, () => c.i64(k));
          c.end();
        }
      for (let r = 1; r <= Math.min(n, 5); r++) c.get(this.reg[r]!);
      for (let k = 5; k < n; k++) c.get(this.out[k - 5]!);
      c.i32(pc).call(fi).set(this.reg[0]!);
      c.i32(0).set(this.mask);
      return;
    }
    if (i.src !== 0) return this.fault('INVALID_INSN', pc);
    if (i.imm === 12) return this.tailCall(pc);
    if (i.imm === 181) return this.bpfLoop(pc);
    c.i32(i.imm);
    for (let r = 1; r <= 5; r++) c.get(this.reg[r]!);
    c.i32(pc).call(F.helper).set(this.reg[0]!);
    c.i32(0).set(this.mask);
  }

  /** Arguments of a BPF-to-BPF call: r1..r5 (pushed by `regs`), then the callee's stack arguments and their mask. */
  private callArgs(callee: AnalysedSubprog, regs: () => void): void {
    regs();
    for (let k = 0; k < callee.incomingStackArgs; k++) this.c.get(this.out[k] ?? this.out[0]!);
    if (this.ctx.checks && callee.incomingStackArgs > 0) this.c.get(this.mask);
  }

  private tailCall(pc: number): void {
    const { c } = this;
    c.get(this.reg[2]!).get(this.reg[3]!).i32(pc).call(F.tail).tee(this.I).i32(0).op('i32.ge_s').open('if');
    this.flush();
    for (let r = 1; r <= 5; r++) c.get(this.reg[r]!);
    c.get(this.I).byte(0x11).u32(this.ctx.entryTypeIndex).u32(0).op('return');
    c.end();
    c.i64(0).set(this.reg[0]!);
    c.i32(0).set(this.mask);
  }

  /** bpf_loop(nr_loops, callback_fn, callback_ctx, flags) (kernel/bpf/bpf_iter.c), as @bpf/vm runs it. */
  private bpfLoop(pc: number): void {
    const { c } = this;
    const [r0, r1, r2, r3, r4] = [this.reg[0]!, this.reg[1]!, this.reg[2]!, this.reg[3]!, this.reg[4]!];
    c.get(r4).op('i64.eqz').op('i32.eqz').open('if');
    c.i64(EINVAL).set(r0);
    c.byte(0x05);
    c.get(r1).i64(0xffffffff).op('i64.and').tee(this.T).i64(BPF_MAX_LOOPS).op('i64.gt_u').open('if');
    c.i64(E2BIG).set(r0);
    c.byte(0x05);
    c.get(this.T).op('i64.eqz').open('if');
    c.i64(0).set(r0);
    c.byte(0x05);
    c.i64(0).set(this.X);
    c.open('loop');
    this.callDepth(pc);
    this.flush();
    c.get(this.d).i32(1).op('i32.add').gset(G.depth);
    // the callback, by its address
    for (const k of this.ctx.callbacks) {
      const s = this.ctx.subs[k]!;
      c.get(r2).i64(FUNC_TAG | BigInt(s.start)).op('i64.eq').open('if', I64);
      this.callArgs(s, () => c.get(this.X).get(r3).i64(0).i64(0).i64(0));
      c.call(this.ctx.funcs[k]!);
      c.byte(0x05);
    }
    this.fault('CALLBACK', pc, () => c.get(r2));
    c.op('unreachable');
    for (let k = 0; k < this.ctx.callbacks.length; k++) c.end();
    c.set(r0);
    c.get(this.d).gset(G.depth);
    this.refreshLimit();
    c.get(this.X).i64(1).op('i64.add').set(this.X);
    this.budgetCheck(pc);
    c.get(r0).op('i64.eqz').get(this.X).get(this.T).op('i64.lt_u').op('i32.and').brIf(0);
    c.end();
    c.get(this.X).set(r0);
    c.end().end().end();
    c.i32(0).set(this.mask);
  }

  private ld(i: Insn, pc: number): void {
    const { c } = this;
    const mode = i.code & 0xe0;
    if (i.code === 0x18) {
      const hi = this.insns[pc + 1];
      if (hi === undefined) return this.fault('INVALID_INSN', pc);
      const dst = this.reg[i.dst]!;
      const g = this.ctx.refGlobal.get(pc);
      if (g !== undefined) {
        c.gget(g).tee(dst).i64(-1).op('i64.eq').open('if');
        this.fault('MAP_REF', pc);
        c.end();
      } else if (i.src === 0) c.i64((BigInt(hi.imm >>> 0) << 32n) | BigInt(i.imm >>> 0)).set(dst);
      else if (i.src === 4) c.i64(FUNC_TAG | BigInt(pc + i.imm + 1)).set(dst);
      else c.i64(0).set(dst);
      return;
    }
    if (mode === 0x20 || mode === 0x40) {
      // ld_abs / ld_ind as the verifier rewrites them (net/core/filter.c bpf_gen_ld_abs): the
      // offset is an int; out of bounds ends the current function with r0 = 0
      const size = SIZES[(i.code >> 3) & 3]!;
      if (mode === 0x40) c.get(this.reg[i.src]!).i64(i.imm).op('i64.add').op('i32.wrap_i64');
      else c.i32(i.imm);
      c.tee(this.I).i32(0).op('i32.lt_s').get(this.I).i32(SKF_NET_OFF).op('i32.ge_s').op('i32.and').open('if');
      c.get(this.I).i32(SKF_NET_OFF).op('i32.sub').set(this.I);
      c.end();
      c.get(this.I).i32(size).i32(pc).call(F.ldabs).set(this.reg[0]!);
      for (let r = 1; r <= 5; r++) c.i64(0).set(this.reg[r]!);
      c.gget(G.oob).open('if');
      this.flush();
      c.i64(0).op('return');
      c.end();
      return;
    }
    this.fault('INVALID_INSN', pc);
  }

  /** Push the address `base + off` (i64). */
  private addr(base: number, off: number): void {
    this.c.get(this.reg[base]!);
    if (off !== 0) this.c.i64(off).op('i64.add');
  }

  private inFrame(base: number, off: number, size: number): boolean {
    return base === 10 && off >= -STACK && off + size <= 0;
  }

  /** With the address on the stack: the loaded value (zero- or sign-extended to 64 bits). */
  private load(size: number, signed: boolean, pc: number, fieldOffset: boolean): void {
    const { c } = this;
    const op = LOAD[size]![signed ? 1 : 0];
    if (!this.ctx.checks) {
      if (!fieldOffset) {
        c.op('i32.wrap_i64').i32(BIAS).op('i32.xor').mem(op);
        return;
      }
      c.tee(this.A).i64(32).op('i64.shr_u').op('i32.wrap_i64').gget(G.fieldsId).op('i32.eq').open('if', I64);
      c.get(this.A).i32(size | (signed ? 0x10 : 0)).i32(pc).call(F.ld);
      c.byte(0x05);
      c.get(this.A).op('i32.wrap_i64').i32(BIAS).op('i32.xor').mem(op);
      c.end();
      return;
    }
    c.set(this.A);
    this.check(size, 4);
    c.open('if', I64);
    c.get(this.A).i32(size | (signed ? 0x10 : 0)).i32(pc).call(F.ld);
    c.byte(0x05);
    c.get(this.L).i32(BIAS).op('i32.xor').mem(op);
    c.end();
  }

  /**
   * With the address in A: 1 when the access must go to the host (a bad pointer, out of bounds,
   * or a region whose `limitAt` length is -1), else 0 with L = the biased linear address.
   */
  private check(size: number, limitAt: number): void {
    const { c } = this;
    c.get(this.A).i64(48).op('i64.shr_u').op('i64.eqz').op('i32.eqz');
    c.get(this.A).i64(32).op('i64.shr_u').op('i32.wrap_i64').i32(4).op('i32.shl').i32(0xffff0).op('i32.and').set(this.E);
    c.get(this.A).op('i32.wrap_i64').tee(this.L).get(this.E).mem('i32.load', 0, 2).op('i32.sub').i32(BIAS).op('i32.sub').op('i64.extend_i32_u');
    c.get(this.E).mem('i64.load32_s', limitAt, 2).i64(size).op('i64.sub').op('i64.gt_s');
    c.op('i32.or');
  }

  /** With address and value in A and V: the store. */
  private storeAt(size: number, pc: number): void {
    const { c } = this;
    const op = STORE[size]!;
    if (!this.ctx.checks) {
      c.get(this.A).op('i32.wrap_i64').i32(BIAS).op('i32.xor').get(this.V).mem(op);
      return;
    }
    this.check(size, 8);
    c.open('if');
    c.get(this.A).get(this.V).i32(size).i32(pc).call(F.st);
    c.byte(0x05);
    c.get(this.L).i32(BIAS).op('i32.xor').get(this.V).mem(op);
    c.end();
  }

  private ldx(i: Insn, pc: number): void {
    const { c } = this;
    const size = SIZES[(i.code >> 3) & 3]!;
    const mode = i.code & 0xe0;
    const dst = this.reg[i.dst]!;
    if (mode !== 0x60 && mode !== 0x80) return this.fault('INVALID_INSN', pc);
    if (i.src === 11) {
      // the callee reads argument 5 + k from its caller's outgoing area
      const slot = i.off / 8 - 1;
      if (!Number.isInteger(slot) || slot < 0 || slot >= this.s.incomingStackArgs) return this.fault('STACK_ARG_UNINIT', pc, () => c.i64(slot + 6));
      if (this.inMask >= 0) {
        c.get(this.inMask).i32(1 << slot).op('i32.and').op('i32.eqz').open('if');
        this.fault('STACK_ARG_UNINIT', pc, () => c.i64(slot + 6));
        c.end();
      }
      c.get(5 + slot).set(dst);
      return;
    }
    const signed = mode === 0x80;
    if (this.inFrame(i.src, i.off, size)) {
      c.get(this.fpLin).mem(LOAD[size]![signed ? 1 : 0], STACK + i.off);
    } else {
      this.addr(i.src, i.off);
      this.load(size, signed, pc, FIELD_OFFSETS.has(i.off));
    }
    c.set(dst);
  }

  private store(i: Insn, pc: number): void {
    const { c } = this;
    const cls = i.code & 7;
    const size = SIZES[(i.code >> 3) & 3]!;
    const mode = i.code & 0xe0;
    if (i.dst === 11) {
      const slot = -i.off / 8 - 1;
      if (!Number.isInteger(slot) || slot < 0 || slot > 6) return this.fault('INVALID_INSN', pc);
      if (cls === 2) c.i64(i.imm);
      else c.get(this.reg[i.src]!);
      c.set(this.out[slot]!);
      if (this.ctx.checks) c.get(this.mask).i32(1 << slot).op('i32.or').set(this.mask);
      return;
    }
    if (cls === 3 && i.src === 11) return this.fault('INVALID_INSN', pc);
    if (cls === 2 || mode === 0x60) {
      if ((cls === 2 && mode !== 0x60)) return this.fault('INVALID_INSN', pc);
      if (this.inFrame(i.dst, i.off, size)) {
        c.get(this.fpLin);
        if (cls === 2) c.i64(i.imm);
        else c.get(this.reg[i.src]!);
        c.mem(STORE[size]!, STACK + i.off);
        return;
      }
      this.addr(i.dst, i.off);
      c.set(this.A);
      if (cls === 2) c.i64(i.imm);
      else c.get(this.reg[i.src]!);
      c.set(this.V);
      this.storeAt(size, pc);
      return;
    }
    if (mode !== 0xc0) return this.fault('INVALID_INSN', pc);
    this.atomic(i, size, pc);
  }

  private atomic(i: Insn, size: number, pc: number): void {
    const { c } = this;
    const src = this.reg[i.src]!;
    if (i.imm === 0x100) {
      // load-acquire: dst = *(src + off)
      this.addr(i.src, i.off);
      this.load(size, false, pc, false);
      c.set(this.reg[i.dst]!);
      return;
    }
    if (i.imm === 0x110) {
      this.addr(i.dst, i.off);
      c.set(this.A).get(src).set(this.V);
      this.storeAt(size, pc);
      return;
    }
    const mask = size === 8 ? -1n : 0xffffffffn;
    const base = i.imm & ~1;
    const known = i.imm === 0xf1 || i.imm === 0xe1 || base === 0x00 || base === 0x40 || base === 0x50 || base === 0xa0;
    if (!known || (size !== 4 && size !== 8)) return this.fault('INVALID_INSN', pc);
    // old value into X (the address stays in A for the store)
    this.addr(i.dst, i.off);
    this.load(size, false, pc, false);
    c.set(this.X);
    const masked = (): void => {
      c.get(src);
      if (size === 4) c.i64(mask).op('i64.and');
    };
    if (i.imm === 0xf1) {
      // cmpxchg: store when the old value equals r0 (as wide as the access); r0 = old
      c.get(this.X).get(this.reg[0]!);
      if (size === 4) c.i64(mask).op('i64.and');
      c.op('i64.eq').open('if');
      masked();
      c.set(this.V);
      this.addr(i.dst, i.off);
      c.set(this.A);
      this.storeAt(size, pc);
      c.end();
      c.get(this.X).set(this.reg[0]!);
      return;
    }
    if (i.imm === 0xe1) masked();
    else {
      c.get(this.X);
      masked();
      c.op(base === 0x00 ? 'i64.add' : base === 0x40 ? 'i64.or' : base === 0x50 ? 'i64.and' : 'i64.xor');
    }
    c.set(this.V);
    this.addr(i.dst, i.off);
    c.set(this.A);
    this.storeAt(size, pc);
    if (i.imm & 1) c.get(this.X).set(src);
  }
}
