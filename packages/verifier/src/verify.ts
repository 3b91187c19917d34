/**
 * The verifier: a depth-first abstract interpreter over every path of the program, in the
 * kernel's manner (kernel/bpf/verifier.c do_check), with states pruned when a path reaches an
 * instruction in a state it has already been verified in, the kernel's 1M processed-insn limit,
 * and the kernel's wording for every error it reports. Stack arguments follow
 * shared/spec/stack-args.md §3-§4 rule by rule.
 */
import { analyseFrames, checkInsn, decodeOp, formatInsn, helperName, IsaError, MAX_BPF_FUNC_REG_ARGS, type AnalysedSubprog, type FuncProtoDecl, type Insn, type MapDef, type Program, type ProgType } from '@bpf/isa';
import { buildCfg, CfgError } from '@bpf/liveness';
import { HELPERS, type ArgType } from './helpers.js';
import { cloneState, constant, isConst, newFrame, NOT_INIT, stateKey, UNKNOWN, urange, type Frame, type Reg, type State } from './state.js';

export interface VerifyOptions {
  readonly type?: ProgType;
  /** 0: no log; 1: instructions and errors; 2: also the register state after each instruction. */
  readonly logLevel?: 0 | 1 | 2;
  /** Maps the program's map references point to (default: `program.maps`). */
  readonly maps?: readonly MapDef[];
  /** Whether the program will be JIT-compiled (stack arguments need it). Default true. */
  readonly jit?: boolean;
  /** Processed-instruction limit (the kernel's BPF_COMPLEXITY_LIMIT_INSNS). */
  readonly complexityLimit?: number;
}

export interface VerifyStats {
  readonly processedInsns: number;
  readonly totalStates: number;
  readonly peakStates: number;
  readonly maxStatesPerInsn: number;
  readonly stackDepth: readonly number[];
}

declare const verified: unique symbol;
/** A program the verifier accepted, with analysed subprograms for the JITs. */
export type VerifiedProgram = Program & { readonly subprogs: readonly AnalysedSubprog[]; readonly [verified]: true };

export interface VerifyResult {
  readonly accepted: boolean;
  /** The error, as the kernel's log ends with it. */
  readonly error?: { readonly insn: number; readonly message: string };
  readonly log: string;
  readonly stats: VerifyStats;
  /** The program with analysed subprograms (accepted programs only). */
  readonly program?: VerifiedProgram;
}

class Reject extends Error {
  constructor(
    readonly insn: number,
    readonly lines: readonly string[],
  ) {
    super(lines[lines.length - 1]);
  }
}

const LIMIT = 1_000_000;
const MAX_CALL_FRAMES = 8;
const STACK = 512;

/** Verify a program. Never throws for a bad program: the verdict is in the result. */
export function verify(program: Program, opts: VerifyOptions = {}): VerifyResult {
  return new Verifier(program, opts).run();
}

class Verifier {
  private readonly log: string[] = [];
  private readonly insns: readonly Insn[];
  private readonly subprogs: readonly AnalysedSubprog[];
  private readonly protos: ReadonlyMap<string, FuncProtoDecl>;
  private readonly kfuncAt: ReadonlyMap<number, string>;
  private readonly mapAt: ReadonlyMap<number, string>;
  private readonly maps: readonly MapDef[];
  private readonly type: ProgType;
  private processed = 0;
  private totalStates = 0;
  private peakStates = 0;
  private nextId = 1;
  private readonly seen = new Map<number, Set<string>>();
  private readonly depth: number[];
  /** Per subprogram: highest outgoing slot written (1-based) and required by its calls. */
  private readonly slotsWritten: number[];
  private readonly slotsRequired: number[];
  private tailCallReached = false;

  constructor(
    private readonly program: Program,
    private readonly opts: VerifyOptions,
  ) {
    this.insns = program.insns;
    this.subprogs = analyseFrames(program).subprogs;
    this.protos = new Map((program.protos ?? []).map((p) => [p.name, p]));
    this.kfuncAt = new Map((program.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => [r.insn, r.name]));
    this.mapAt = new Map((program.relocs ?? []).filter((r) => r.kind === 'map' || r.kind === 'map_value').map((r) => [r.insn, r.name]));
    this.maps = opts.maps ?? program.maps ?? [];
    this.type = opts.type ?? program.type ?? 'socket_filter';
    this.depth = this.subprogs.map(() => 0);
    this.slotsWritten = this.subprogs.map(() => 0);
    this.slotsRequired = this.subprogs.map(() => 0);
  }

  private level(): number {
    return this.opts.logLevel ?? 1;
  }

  run(): VerifyResult {
    try {
      this.structural();
      this.explore();
      this.afterChecks();
    } catch (e) {
      if (!(e instanceof Reject)) throw e;
      for (const l of e.lines) this.log.push(l);
      return this.result(false, { insn: e.insn, message: e.lines[e.lines.length - 1]! });
    }
    return this.result(true);
  }

  private result(accepted: boolean, error?: { insn: number; message: string }): VerifyResult {
    const stats: VerifyStats = {
      processedInsns: this.processed,
      totalStates: this.totalStates,
      peakStates: this.peakStates,
      maxStatesPerInsn: Math.max(0, ...[...this.seen.values()].map((s) => s.size)),
      stackDepth: this.depth.map((d) => (d + 7) & ~7),
    };
    this.log.push(`processed ${stats.processedInsns} insns (limit ${LIMIT}) max_states_per_insn ${stats.maxStatesPerInsn} total_states ${stats.totalStates} peak_states ${stats.peakStates} mark_read 0`);
    const subprogs = this.subprogs.map((s, k) => ({
      ...s,
      stackDepth: (this.depth[k]! + 7) & ~7,
      outgoingStackArgs: Math.max(s.outgoingStackArgs, this.slotsRequired[k]!),
    }));
    return {
      accepted,
      ...(error ? { error } : {}),
      log: this.level() > 0 ? this.log.join('\n') + '\n' : this.log.slice(-1).join('\n') + '\n',
      stats,
      ...(accepted ? { program: { ...this.program, subprogs } as unknown as VerifiedProgram } : {}),
    };
  }

  /** Instruction-level checks and the CFG checks, before any path is explored. */
  private structural(): void {
    for (let pc = 0; pc < this.insns.length; pc++) {
      const i = this.insns[pc]!;
      const err = checkInsn(i, pc, this.insns[pc + 1]);
      if (err) throw new Reject(pc, [err.message.replace(/^insn \d+(?: \(byte \d+\))?: /, '')]);
      if (i.code === 0x18) pc++;
    }
    try {
      buildCfg({ ...this.program, subprogs: this.subprogs });
    } catch (e) {
      if (e instanceof CfgError) throw new Reject(e.insn, [e.kernelMessage]);
      if (e instanceof IsaError) throw new Reject(e.insn ?? 0, [e.message]);
      throw e;
    }
    for (const [k, s] of this.subprogs.entries()) {
      const proto = this.protos.get(s.name);
      // spec §3: global subprograms with more than five arguments are not supported
      if (k > 0 && proto?.linkage === 'global' && proto.params.length > MAX_BPF_FUNC_REG_ARGS)
        throw new Reject(s.start, [`global function ${s.name} has ${proto.params.length} args, stack arguments are not supported for global functions`]);
    }
    const usesStackArgs = this.insns.some((i) => i.dst === 11 || i.src === 11);
    if (usesStackArgs && this.opts.jit === false) throw new Reject(0, ['stack args are not supported in non-JITed programs']);
  }

  private explore(): void {
    const entry = newFrame(0, -1);
    entry.regs[1] = { ...UNKNOWN, type: 'ctx', off: 0, umin: 0n, umax: 0n, smin: 0n, smax: 0n };
    entry.regs[10] = this.fp(0);
    const stack: State[] = [{ frames: [entry], pc: 0 }];
    if (this.level() > 0) this.log.push('0: R1=ctx() R10=fp0');
    while (stack.length) {
      this.peakStates = Math.max(this.peakStates, stack.length);
      let st = stack.pop()!;
      for (;;) {
        if (++this.processed > (this.opts.complexityLimit ?? LIMIT))
          throw new Reject(st.pc, [`BPF program is too large. Processed ${this.processed} insn`]);
        const next = this.step(st, stack);
        if (next === null) break;
        st = next;
        if (this.isPrunePoint(st.pc)) {
          const key = stateKey(st);
          let set = this.seen.get(st.pc);
          if (!set) this.seen.set(st.pc, (set = new Set()));
          if (set.has(key)) break; // an equal state was already verified from here
          set.add(key);
          this.totalStates++;
        }
      }
    }
  }

  /** Jump targets, and the instructions after calls (the kernel's prune points, roughly). */
  private prunePoints?: Set<number>;
  private isPrunePoint(pc: number): boolean {
    if (!this.prunePoints) {
      this.prunePoints = new Set();
      for (let k = 0; k < this.insns.length; k++) {
        const i = this.insns[k]!;
        const cls = i.code & 7;
        if ((cls === 5 || cls === 6) && (i.code & 0xf0) !== 0x80 && (i.code & 0xf0) !== 0x90) this.prunePoints.add(k + (i.code === 0x06 ? i.imm : i.off) + 1);
        if (i.code === 0x18) k++;
      }
    }
    return this.prunePoints.has(pc);
  }

  private fp(frame: number): Reg {
    return { ...UNKNOWN, type: 'fp', off: 0, umin: 0n, umax: 0n, smin: 0n, smax: 0n, frame };
  }

  private reject(pc: number, ...lines: string[]): never {
    throw new Reject(pc, lines);
  }

  private readReg(f: Frame, r: number, pc: number): Reg {
    const v = f.regs[r]!;
    if (v.type === 'not_init') this.reject(pc, `R${r} !read_ok`);
    return v;
  }

  /** Execute one instruction on `st`; returns the state to continue with, or null at the end of a path. */
  private step(st: State, pending: State[]): State | null {
    const pc = st.pc;
    const i = this.insns[pc]!;
    const f = st.frames[st.frames.length - 1]!;
    if (this.level() > 0) this.log.push(`${pc}: ${formatInsn(this.insns, pc, { syntax: 'kernel', kfuncName: (_x, at) => this.kfuncAt.get(at) })}`);
    const op = decodeOp(i);
    switch (op.kind) {
      case 'alu':
        this.alu(f, i, op, pc);
        st.pc = pc + 1;
        return st;
      case 'endian': {
        this.readReg(f, i.dst, pc);
        f.regs[i.dst] = op.order === 'le' && op.bits === 64 ? f.regs[i.dst]! : op.order === 'le' ? urange(0n, (1n << BigInt(op.bits)) - 1n) : UNKNOWN;
        st.pc = pc + 1;
        return st;
      }
      case 'ld_imm64': {
        const hi = this.insns[pc + 1]!;
        if (op.pseudo === 0) f.regs[i.dst] = constant((BigInt(hi.imm >>> 0) << 32n) | BigInt(i.imm >>> 0));
        else if (op.pseudo === 1 || op.pseudo === 5 || op.pseudo === 2 || op.pseudo === 6) {
          const name = this.mapAt.get(pc);
          const map = name !== undefined ? this.maps.find((m) => m.name === name) : this.maps[i.imm];
          if (!map) this.reject(pc, `fd ${i.imm} is not pointing to valid bpf_map`);
          f.regs[i.dst] = op.pseudo === 1 || op.pseudo === 5
            ? { ...UNKNOWN, type: 'map_ptr', map, umin: 0n, umax: 0n, smin: 0n, smax: 0n }
            : { ...UNKNOWN, type: 'map_value', map, off: hi.imm, umin: 0n, umax: 0n, smin: 0n, smax: 0n };
        } else f.regs[i.dst] = UNKNOWN;
        st.pc = pc + 2;
        return st;
      }
      case 'ldx': {
        if (i.src === 11) return this.stackArgLoad(st, f, i, pc);
        const base = this.readReg(f, i.src, pc);
        f.regs[i.dst] = this.access(st, f, i.src, base, i.off, op.size, 'read', pc, op.signed);
        st.pc = pc + 1;
        return st;
      }
      case 'st':
      case 'stx': {
        if (i.dst === 11) return this.stackArgStore(st, f, i, pc, op.kind === 'st' ? constant(BigInt(i.imm)) : this.readReg(f, i.src, pc));
        const base = this.readReg(f, i.dst, pc);
        const val = op.kind === 'st' ? constant(BigInt(i.imm)) : this.readReg(f, i.src, pc);
        this.access(st, f, i.dst, base, i.off, op.size, 'write', pc, false, val);
        st.pc = pc + 1;
        return st;
      }
      case 'atomic': {
        const base = this.readReg(f, i.dst, pc);
        if (op.op !== 'load_acquire') this.readReg(f, i.src, pc);
        if (op.op === 'cmpxchg') this.readReg(f, 0, pc);
        if (op.op === 'load_acquire') {
          f.regs[i.dst] = this.access(st, f, i.src, this.readReg(f, i.src, pc), i.off, op.size, 'read', pc, false);
        } else {
          if (base.type !== 'fp' && base.type !== 'map_value') this.reject(pc, `BPF_ATOMIC stores into R${i.dst} ${typeName(base)} is not allowed`);
          this.access(st, f, i.dst, base, i.off, op.size, 'read', pc, false);
          this.access(st, f, i.dst, base, i.off, op.size, 'write', pc, false, UNKNOWN);
          if (op.op === 'cmpxchg') f.regs[0] = UNKNOWN;
          else if (op.fetch || op.op === 'xchg') f.regs[i.src] = UNKNOWN;
        }
        st.pc = pc + 1;
        return st;
      }
      case 'jmp':
        return this.branch(st, f, i, op, pc, pending);
      case 'gotol':
        st.pc = pc + i.imm + 1;
        return st;
      case 'may_goto': {
        const other = cloneState(st);
        other.pc = pc + i.off + 1;
        pending.push(other);
        st.pc = pc + 1;
        return st;
      }
      case 'call':
        return this.call(st, f, i, op.target, pc);
      case 'exit':
        return this.exit(st, f, pc);
      case 'ld_abs':
      case 'ld_ind':
        if (f.regs[6]?.type !== 'ctx') this.reject(pc, 'at the time of BPF_LD_ABS|IND R6 != pointer to skb');
        for (let r = 1; r <= 5; r++) f.regs[r] = NOT_INIT;
        f.regs[0] = urange(0n, op.size === 4 ? 0xffffffffn : op.size === 2 ? 0xffffn : 0xffn);
        st.pc = pc + 1;
        return st;
      default:
        return this.reject(pc, `unknown opcode ${i.code.toString(16).padStart(2, '0')}`);
    }
  }

  private alu(f: Frame, i: Insn, op: { op: string; is64: boolean; useReg: boolean; sxBits?: number }, pc: number): void {
    const src: Reg = op.useReg ? this.readReg(f, i.src, pc) : constant(op.is64 ? BigInt(i.imm) : BigInt(i.imm >>> 0));
    if (op.op === 'mov') {
      if (op.useReg && i.src === 10 && !op.is64) this.reject(pc, `R${i.src} partial copy of pointer`);
      f.regs[i.dst] = op.is64 ? src : src.type === 'scalar' ? truncate32(src) : UNKNOWN;
      return;
    }
    if (op.op === 'movsx') {
      f.regs[i.dst] = UNKNOWN;
      return;
    }
    const dst = op.op === 'neg' ? this.readReg(f, i.dst, pc) : this.readReg(f, i.dst, pc);
    // pointer arithmetic: add/sub of a constant keeps the pointer, with a new fixed offset
    if (dst.type !== 'scalar') {
      if (op.is64 && (op.op === 'add' || op.op === 'sub') && src.type === 'scalar') {
        if (dst.type === 'map_value_or_null') this.reject(pc, `R${i.dst} pointer arithmetic on map_value_or_null prohibited, null-check it first`);
        if (dst.type === 'ctx' && !isConst(src)) this.reject(pc, `R${i.dst} pointer arithmetic on ctx prohibited`);
        if (isConst(src)) {
          const delta = Number(BigInt.asIntN(64, src.umin));
          f.regs[i.dst] = { ...dst, off: op.op === 'add' ? dst.off + delta : dst.off - delta };
          return;
        }
        // a variable offset: remember its bounds
        f.regs[i.dst] = { ...dst, umin: dst.umin + src.umin, umax: dst.umax + src.umax > 0xffffffffffffffffn ? 0xffffffffffffffffn : dst.umax + src.umax, smin: dst.smin + src.smin, smax: dst.smax + src.smax };
        return;
      }
      if (op.op === 'sub' && src.type === dst.type && src.type !== 'map_ptr') {
        f.regs[i.dst] = UNKNOWN;
        return;
      }
      this.reject(pc, `R${i.dst} ${op.is64 ? '' : '32-bit '}pointer arithmetic with ${op.op} operator prohibited`);
    }
    if (src.type !== 'scalar') {
      if (op.is64 && op.op === 'add') {
        f.regs[i.dst] = { ...src, off: src.off + (isConst(dst) ? Number(BigInt.asIntN(64, dst.umin)) : 0) };
        return;
      }
      this.reject(pc, `R${i.src} pointer arithmetic with ${op.op} operator prohibited`);
    }
    f.regs[i.dst] = scalarAlu(op.op, dst, src, op.is64);
  }

  /** A load or store through `base`; returns the loaded register for reads. */
  private access(st: State, f: Frame, regno: number, base: Reg, off: number, size: number, kind: 'read' | 'write', pc: number, signed: boolean, value?: Reg): Reg {
    const loaded = (): Reg => (size === 8 && !signed ? UNKNOWN : signed ? UNKNOWN : urange(0n, (1n << BigInt(size * 8)) - 1n));
    switch (base.type) {
      case 'fp': {
        const frame = st.frames[base.frame ?? st.frames.length - 1]!;
        const at = base.off + off;
        if (base.umin !== 0n || base.umax !== 0n) this.reject(pc, `variable stack access var_off is not supported here`);
        if (at >= 0 || at < -STACK || at + size > 0)
          this.reject(pc, `invalid ${kind} to stack R${regno} off=${at} size=${size}`.replace('invalid read to', 'invalid read from'));
        const sp = base.frame ?? st.frames.length - 1;
        const sub = st.frames[sp]!.subprog;
        this.depth[sub] = Math.max(this.depth[sub]!, -at);
        if (kind === 'write') {
          for (let b = 0; b < size; b++) {
            frame.stackBytes[STACK + at + b] = 1;
            frame.stackValues[STACK + at + b] = value && isConst(value) ? Number((value.umin >> BigInt(8 * b)) & 0xffn) : -1;
          }
          const slot = Math.floor((-at - 1) / 8);
          frame.stack[slot] = size === 8 && at % 8 === 0 && value ? { kind: 'spill', reg: value } : { kind: 'misc' };
          return UNKNOWN;
        }
        for (let b = 0; b < size; b++) {
          // privileged programs may read uninitialised stack (the kernel's allow_uninit_stack)
          if (!frame.stackBytes[STACK + at + b]) return loaded();
        }
        const slot = frame.stack[Math.floor((-at - 1) / 8)]!;
        if (slot.kind === 'spill' && size === 8 && at % 8 === 0) return slot.reg;
        return loaded();
      }
      case 'ctx': {
        const at = base.off + off;
        if (kind === 'write' || at < 0 || at + size > this.ctxSize() || at % size !== 0) this.reject(pc, `invalid bpf_context access off=${at} size=${size}`);
        const pktField = this.ctxPacketField(at);
        if (pktField) return { ...UNKNOWN, type: pktField, off: 0, umin: 0n, umax: 0n, smin: 0n, smax: 0n, range: 0 };
        return loaded();
      }
      case 'map_value': {
        const vs = base.map!.valueSize;
        const lo = base.off + off + Number(base.smin);
        const hi = base.off + off + Number(base.umax > 1n << 32n ? 1n << 32n : base.umax) + size;
        if (base.off + off < 0 || base.off + off + size > vs) {
          throw new Reject(pc, [`invalid access to map value, value_size=${vs} off=${base.off + off} size=${size}`, `R${regno} min value is outside of the allowed memory range`]);
        }
        if (lo < 0) this.reject(pc, `R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
        if (hi > vs) this.reject(pc, `R${regno} max value is outside of the allowed memory range`);
        return kind === 'read' ? loaded() : UNKNOWN;
      }
      case 'pkt': {
        const at = base.off + off;
        if (at < 0 || at + size > (base.range ?? 0))
          throw new Reject(pc, [`invalid access to packet, off=${at} size=${size}, R${regno}(id=0,off=${base.off},r=${base.range ?? 0})`, `R${regno} offset is outside of the packet`]);
        return kind === 'read' ? loaded() : UNKNOWN;
      }
      case 'map_value_or_null':
        return this.reject(pc, `R${regno} invalid mem access 'map_value_or_null'`);
      case 'scalar':
        return this.reject(pc, `R${regno} invalid mem access 'scalar'`);
      default:
        return this.reject(pc, `R${regno} invalid mem access '${typeName(base)}'`);
    }
  }

  private ctxSize(): number {
    return this.type === 'xdp' ? 24 : this.type === 'kprobe' ? 168 : this.type === 'tracepoint' || this.type === 'raw_tracepoint' ? 512 : 192;
  }

  /** xdp_md: data at 0, data_end at 4, data_meta at 8; __sk_buff (tc): data 76, data_end 80. */
  private ctxPacketField(off: number): 'pkt' | 'pkt_end' | 'pkt_meta' | undefined {
    if (this.type === 'xdp') return off === 0 ? 'pkt' : off === 4 ? 'pkt_end' : off === 8 ? 'pkt_meta' : undefined;
    if (this.type === 'sched_cls' || this.type === 'sched_act') return off === 76 ? 'pkt' : off === 80 ? 'pkt_end' : off === 140 ? 'pkt_meta' : undefined;
    return undefined;
  }

  private branch(st: State, f: Frame, i: Insn, op: { cond: string; is64: boolean; useReg: boolean }, pc: number, pending: State[]): State {
    const target = pc + i.off + 1;
    if (op.cond === 'ja') {
      st.pc = target;
      return st;
    }
    const a = this.readReg(f, i.dst, pc);
    const b = op.useReg ? this.readReg(f, i.src, pc) : constant(op.is64 ? BigInt(i.imm) : BigInt(i.imm >>> 0));
    // null checks of nullable pointers
    if (a.type === 'map_value_or_null' && isConst(b) && b.umin === 0n && (op.cond === 'jeq' || op.cond === 'jne')) {
      const taken = cloneState(st);
      const nullSide = op.cond === 'jeq' ? taken : st;
      const okSide = op.cond === 'jeq' ? st : taken;
      markId(nullSide, a.id!, constant(0n));
      markId(okSide, a.id!, { ...a, type: 'map_value' });
      taken.pc = target;
      st.pc = pc + 1;
      pending.push(taken);
      return st;
    }
    // packet range from a comparison with pkt_end
    if (a.type === 'pkt' && b.type === 'pkt_end' && ['jgt', 'jge', 'jlt', 'jle'].includes(op.cond)) {
      const taken = cloneState(st);
      const safe = op.cond === 'jgt' || op.cond === 'jge' ? st : taken;
      const range = op.cond === 'jgt' || op.cond === 'jle' ? a.off : a.off - 1;
      for (const fr of safe.frames) fr.regs.forEach((r, k) => {
        if (r.type === 'pkt') fr.regs[k] = { ...r, range: Math.max(r.range ?? 0, range) };
      });
      taken.pc = target;
      st.pc = pc + 1;
      pending.push(taken);
      return st;
    }
    if (a.type === 'scalar' && b.type === 'scalar') {
      const outcome = decide(op.cond, a, b, op.is64);
      if (outcome === true) {
        st.pc = target;
        return st;
      }
      if (outcome === false) {
        st.pc = pc + 1;
        return st;
      }
      const taken = cloneState(st);
      refine(taken.frames[taken.frames.length - 1]!, i, op, true);
      refine(f, i, op, false);
      taken.pc = target;
      pending.push(taken);
      st.pc = pc + 1;
      return st;
    }
    if (isPtrType(a) && isConst(b) && b.umin === 0n && (op.cond === 'jeq' || op.cond === 'jne')) {
      // a non-null pointer compared with 0: the outcome is known
      st.pc = op.cond === 'jne' ? target : pc + 1;
      return st;
    }
    const taken = cloneState(st);
    taken.pc = target;
    pending.push(taken);
    st.pc = pc + 1;
    return st;
  }

  // ---- calls and stack arguments (spec §3-§4) ----

  private argCountOf(subprog: number): number {
    const s = this.subprogs[subprog]!;
    return this.protos.get(s.name)?.params.length ?? s.argCount ?? MAX_BPF_FUNC_REG_ARGS;
  }

  private stackArgStore(st: State, f: Frame, i: Insn, pc: number, value: Reg): State {
    const k = -i.off / 8;
    if (k > 7) this.reject(pc, `stack arg write offset ${i.off} exceeds max 7 stack args`);
    f.out[k - 1] = value;
    f.noStackArgLoad = true;
    this.slotsWritten[f.subprog] = Math.max(this.slotsWritten[f.subprog]!, k);
    st.pc = pc + 1;
    return st;
  }

  private stackArgLoad(st: State, f: Frame, i: Insn, pc: number): State {
    const k = i.off / 8;
    if (f.noStackArgLoad) this.reject(pc, 'r11 load must be before any r11 store or call insn');
    const depth = st.frames.length - 1;
    const incoming = depth === 0 ? 0 : Math.max(0, this.argCountOf(f.subprog) - MAX_BPF_FUNC_REG_ARGS);
    if (k > incoming) this.reject(pc, `invalid read from stack arg off ${i.off} depth ${depth}`);
    const caller = st.frames[depth - 1]!;
    f.regs[i.dst] = caller.out[k - 1] ?? UNKNOWN;
    st.pc = pc + 1;
    return st;
  }

  /** Outgoing slots a callee with `n` arguments needs, checked and consumed. */
  private passStackArgs(f: Frame, n: number, pc: number): (Reg | undefined)[] {
    const need = Math.max(0, n - MAX_BPF_FUNC_REG_ARGS);
    for (let s = 0; s < need; s++) if (f.out[s] === undefined) this.reject(pc, `callee expects ${n} args, stack arg${s + 1} is not initialized`);
    this.slotsRequired[f.subprog] = Math.max(this.slotsRequired[f.subprog]!, need);
    return f.out.slice();
  }

  private afterCall(f: Frame): void {
    // spec §4.4: every call leaves all outgoing slots uninitialised; calls forbid later r11 loads
    f.out.fill(undefined);
    f.noStackArgLoad = true;
    for (let r = 1; r <= 5; r++) f.regs[r] = NOT_INIT;
  }

  private call(st: State, f: Frame, i: Insn, target: 'helper' | 'subprog' | 'kfunc', pc: number): State {
    if (target === 'subprog') {
      const start = pc + i.imm + 1;
      const sub = this.subprogs.findIndex((s) => s.start === start);
      if (st.frames.length >= MAX_CALL_FRAMES) this.reject(pc, `the call stack of ${st.frames.length + 1} frames is too deep !`);
      if (st.frames.some((fr) => fr.subprog === sub)) this.reject(pc, `recursive call from insn ${pc} to ${start}`);
      // r1..r5 are copied as they are: the callee's own reads decide (kernel: copies caller regs)
      this.passStackArgs(f, this.argCountOf(sub), pc);
      const callee = newFrame(sub, pc);
      for (let r = 1; r <= 5; r++) callee.regs[r] = f.regs[r]!;
      callee.regs[10] = this.fp(st.frames.length);
      // the callee reads its incoming slots from the caller's frame, which stays untouched until return
      st.frames.push(callee);
      const combined = st.frames.reduce((n2, fr) => n2 + ((this.depth[fr.subprog]! + 7) & ~7), 0);
      if (combined > STACK) this.reject(pc, `combined stack size of ${st.frames.length} calls is ${combined}. Too large`);
      st.pc = start;
      return st;
    }
    if (target === 'kfunc') {
      const name = this.kfuncAt.get(pc);
      const proto = name !== undefined ? this.protos.get(name) : undefined;
      if (!proto) this.reject(pc, `kernel function ${name ?? `btf_id ${i.imm}`} has no prototype (declare it with .kfunc)`);
      const n = proto.params.length;
      const slots = this.passStackArgs(f, n, pc);
      proto.params.forEach((p, k) => {
        const where = k < 5 ? `R${k + 1}` : `*(R11-${(k - 4) * 8})`;
        const reg = k < 5 ? this.readReg(f, k + 1, pc) : slots[k - 5]!;
        checkKfuncArg(p.type, reg, where, pc, (m) => this.reject(pc, m));
      });
      this.afterCall(f);
      f.regs[0] = /\*/.test(proto.ret) ? UNKNOWN : proto.ret === 'void' ? NOT_INIT : UNKNOWN;
      st.pc = pc + 1;
      return st;
    }
    const h = HELPERS[i.imm];
    if (!h) {
      const name = helperName(i.imm);
      if (name === undefined) this.reject(pc, `invalid func unknown#${i.imm}`);
      this.reject(pc, `helper ${name}#${i.imm} is not modelled by @bpf/verifier yet`);
    }
    if (h.types && !h.types.includes(this.type)) this.reject(pc, `program of this type cannot use helper ${helperName(i.imm)}#${i.imm}`);
    if (i.imm === 12) this.tailCallReached = true;
    let map: MapDef | undefined;
    h.args.forEach((t, k) => {
      const r = this.readReg(f, k + 1, pc);
      map = this.checkHelperArg(st, f, t, r, k + 1, pc, map);
    });
    const constKey = i.imm === 1 && map !== undefined && /array/.test(map.type) && !/prog|of_maps/.test(map.type) ? this.constKey(st, f.regs[2]!, map.keySize) : undefined;
    this.afterCall(f);
    if (h.ret === 'map_value_or_null') {
      // an array lookup with a constant in-range key cannot fail (kernel: const map key)
      const nonNull = constKey !== undefined && constKey < map!.maxEntries;
      f.regs[0] = { ...UNKNOWN, type: nonNull ? 'map_value' : 'map_value_or_null', map, ...(nonNull ? {} : { id: this.nextId++ }), umin: 0n, umax: 0n, smin: 0n, smax: 0n };
    } else f.regs[0] = UNKNOWN;
    st.pc = pc + 1;
    return st;
  }

  /** The key bytes a stack pointer points to, when all are known constants (little-endian). */
  private constKey(st: State, r: Reg, size: number): number | undefined {
    if (r.type !== 'fp' || size > 4) return undefined;
    const frame = st.frames[r.frame ?? 0]!;
    let v = 0;
    for (let b = size - 1; b >= 0; b--) {
      const x = frame.stackValues[STACK + r.off + b];
      if (x === undefined || x < 0) return undefined;
      v = v * 256 + x;
    }
    return v;
  }

  private checkHelperArg(st: State, f: Frame, t: ArgType, r: Reg, regno: number, pc: number, map: MapDef | undefined): MapDef | undefined {
    switch (t) {
      case 'anything':
        return map;
      case 'ctx':
        if (r.type !== 'ctx') this.reject(pc, `R${regno} type=${typeName(r)} expected=ctx`);
        return map;
      case 'map':
        if (r.type !== 'map_ptr') this.reject(pc, `R${regno} type=${typeName(r)} expected=map_ptr`);
        return r.map;
      case 'map_key':
      case 'map_value':
      case 'mem': {
        if (r.type !== 'fp' && r.type !== 'map_value' && r.type !== 'pkt') this.reject(pc, `R${regno} type=${typeName(r)} expected=fp, pkt, pkt_meta, map_key, map_value`);
        const size = t === 'map_key' ? map!.keySize : t === 'map_value' ? map!.valueSize : Number(f.regs[regno + 1]?.umax ?? 0n);
        if (r.type === 'fp') {
          const frame = st.frames[r.frame ?? 0]!;
          for (let b = 0; b < size; b++) {
            const at = r.off + b;
            if (at < -STACK || at >= 0) this.reject(pc, `invalid indirect access to stack R${regno} off=${r.off} size=${size}`);
            if (!frame.stackBytes[STACK + at] && t !== 'mem') this.reject(pc, `invalid indirect read from stack R${regno} off ${r.off}+${b} size ${size}`);
          }
        }
        return map;
      }
      case 'size': {
        if (r.type !== 'scalar') this.reject(pc, `R${regno} type=${typeName(r)} expected=scalar`);
        return map;
      }
    }
  }

  private exit(st: State, f: Frame, pc: number): State | null {
    const r0 = f.regs[0]!;
    if (r0.type === 'not_init') this.reject(pc, 'R0 !read_ok');
    if (st.frames.length === 1) {
      if (this.tailCallReached && this.insns.some((x) => x.dst === 11 || x.src === 11))
        this.reject(pc, 'tail_call is not allowed in a program that uses stack arguments');
      return null;
    }
    const callee = st.frames.pop()!;
    const caller = st.frames[st.frames.length - 1]!;
    caller.regs[0] = callee.regs[0]!;
    this.afterCall(caller);
    st.pc = callee.callsite + 1;
    return st;
  }

  private afterChecks(): void {
    this.subprogs.forEach((_s, k) => {
      const w = this.slotsWritten[k]!;
      const r = this.slotsRequired[k]!;
      if (w > r) this.reject(this.subprogs[k]!.start, `func#${k} writes ${w} stack arg slots, but calls only require ${r}`);
    });
  }
}

function isPtrType(r: Reg): boolean {
  return r.type === 'ctx' || r.type === 'fp' || r.type === 'map_value' || r.type === 'map_ptr' || r.type === 'pkt';
}

export function typeName(r: Reg): string {
  return r.type === 'fp' ? 'fp' : r.type === 'map_ptr' ? 'map_ptr' : r.type;
}

/** Replace every register and stack-argument slot carrying nullable id `id` (spec §4.4). */
function markId(st: State, id: number, to: Reg): void {
  for (const fr of st.frames) {
    fr.regs.forEach((r, k) => {
      if (r.id === id && r.type === 'map_value_or_null') fr.regs[k] = to.type === 'scalar' ? to : { ...r, type: 'map_value' };
    });
    fr.out.forEach((r, k) => {
      if (r?.id === id && r.type === 'map_value_or_null') fr.out[k] = to.type === 'scalar' ? to : { ...r, type: 'map_value' };
    });
    fr.stack.forEach((s, k) => {
      if (s.kind === 'spill' && s.reg.id === id && s.reg.type === 'map_value_or_null') fr.stack[k] = { kind: 'spill', reg: to.type === 'scalar' ? to : { ...s.reg, type: 'map_value' } };
    });
  }
}

function truncate32(r: Reg): Reg {
  if (r.umax <= 0xffffffffn) return r;
  if (isConst(r)) return constant(r.umin & 0xffffffffn);
  return urange(0n, 0xffffffffn);
}

const U64 = 0xffffffffffffffffn;

function scalarAlu(op: string, a: Reg, b: Reg, is64: boolean): Reg {
  const mask = is64 ? U64 : 0xffffffffn;
  if (isConst(a) && isConst(b)) {
    const x = a.umin & mask;
    const y = b.umin & mask;
    const sx = is64 ? BigInt.asIntN(64, x) : BigInt.asIntN(32, x);
    const sy = is64 ? BigInt.asIntN(64, y) : BigInt.asIntN(32, y);
    const sh = y & (is64 ? 63n : 31n);
    let v: bigint;
    switch (op) {
      case 'add': v = x + y; break;
      case 'sub': v = x - y; break;
      case 'mul': v = x * y; break;
      case 'div': v = y === 0n ? 0n : x / y; break;
      case 'sdiv': v = sy === 0n ? 0n : sy === -1n ? -sx : sx / sy; break;
      case 'mod': v = y === 0n ? x : x % y; break;
      case 'smod': v = sy === 0n ? sx : sy === -1n ? 0n : sx % sy; break;
      case 'or': v = x | y; break;
      case 'and': v = x & y; break;
      case 'xor': v = x ^ y; break;
      case 'lsh': v = x << sh; break;
      case 'rsh': v = x >> sh; break;
      case 'arsh': v = sx >> sh; break;
      case 'neg': v = -x; break;
      default: return UNKNOWN;
    }
    return constant(v & mask);
  }
  // a few range rules the kernel applies too: and with a constant, unsigned shifts right, mod
  if (op === 'and' && isConst(b)) return urange(0n, b.umin & mask);
  if (op === 'and' && isConst(a)) return urange(0n, a.umin & mask);
  if (op === 'rsh' && isConst(b)) return urange(0n, (is64 ? a.umax : a.umax > 0xffffffffn ? 0xffffffffn : a.umax) >> (b.umin & (is64 ? 63n : 31n)));
  if ((op === 'mod') && isConst(b) && b.umin > 0n) return urange(0n, (b.umin & mask) - 1n);
  if (op === 'add' && a.umax + b.umax <= mask) return urange(a.umin + b.umin, a.umax + b.umax);
  return is64 ? UNKNOWN : urange(0n, 0xffffffffn);
}

/** Whether a comparison of two scalars is always or never taken (kernel: is_branch_taken). */
function decide(cond: string, a: Reg, b: Reg, is64: boolean): boolean | undefined {
  if (!is64) {
    if (!(a.umax <= 0xffffffffn && b.umax <= 0xffffffffn)) return isConst(a) && isConst(b) ? decide(cond, constant(a.umin & 0xffffffffn), constant(b.umin & 0xffffffffn), true) : undefined;
  }
  const au = [a.umin, a.umax] as const;
  const bu = [b.umin, b.umax] as const;
  const as = [a.smin, a.smax] as const;
  const bs = [b.smin, b.smax] as const;
  switch (cond) {
    case 'jeq':
      if (isConst(a) && isConst(b)) return a.umin === b.umin;
      if (au[1] < bu[0] || au[0] > bu[1]) return false;
      return undefined;
    case 'jne':
      if (isConst(a) && isConst(b)) return a.umin !== b.umin;
      if (au[1] < bu[0] || au[0] > bu[1]) return true;
      return undefined;
    case 'jgt': return au[0] > bu[1] ? true : au[1] <= bu[0] ? false : undefined;
    case 'jge': return au[0] >= bu[1] ? true : au[1] < bu[0] ? false : undefined;
    case 'jlt': return au[1] < bu[0] ? true : au[0] >= bu[1] ? false : undefined;
    case 'jle': return au[1] <= bu[0] ? true : au[0] > bu[1] ? false : undefined;
    case 'jsgt': return as[0] > bs[1] ? true : as[1] <= bs[0] ? false : undefined;
    case 'jsge': return as[0] >= bs[1] ? true : as[1] < bs[0] ? false : undefined;
    case 'jslt': return as[1] < bs[0] ? true : as[0] >= bs[1] ? false : undefined;
    case 'jsle': return as[1] <= bs[0] ? true : as[0] > bs[1] ? false : undefined;
    case 'jset':
      if (isConst(a) && isConst(b)) return (a.umin & b.umin) !== 0n;
      return undefined;
    default:
      return undefined;
  }
}

/** Narrow the compared register's unsigned bounds on one side of a branch against a constant. */
function refine(f: Frame, i: Insn, op: { cond: string; is64: boolean; useReg: boolean }, taken: boolean): void {
  if (op.useReg || !op.is64) return;
  const r = f.regs[i.dst]!;
  if (r.type !== 'scalar') return;
  const k = BigInt.asUintN(64, BigInt(i.imm));
  let { umin, umax } = r;
  const c = taken ? op.cond : ({ jeq: 'jne', jne: 'jeq', jgt: 'jle', jge: 'jlt', jlt: 'jge', jle: 'jgt' } as Record<string, string>)[op.cond];
  switch (c) {
    case 'jeq': umin = umax = k; break;
    case 'jgt': umin = umin > k + 1n ? umin : k + 1n; break;
    case 'jge': umin = umin > k ? umin : k; break;
    case 'jlt': if (k > 0n) umax = umax < k - 1n ? umax : k - 1n; break;
    case 'jle': umax = umax < k ? umax : k; break;
    default: return;
  }
  if (umin <= umax) f.regs[i.dst] = urange(umin, umax);
}

/** kfunc argument types from their C spelling (spec §4.3: stack arguments named *(R11-8k)). */
function checkKfuncArg(type: string, r: Reg, where: string, _pc: number, reject: (m: string) => never): void {
  const t = type.trim();
  if (/^struct\s+\w+$/.test(t) || /^union\s+\w+$/.test(t)) reject(`Unrecognized ${where} type ${t.startsWith('struct') ? 'STRUCT' : 'UNION'}`);
  if (/\*$/.test(t)) {
    if (r.type === 'not_init') reject(`${where} !read_ok`);
    if (r.type === 'scalar' && !(isConst(r) && r.umin === 0n)) reject(`${where} type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem`);
    return;
  }
  if (r.type !== 'scalar') reject(`${where} is not a scalar`);
}
