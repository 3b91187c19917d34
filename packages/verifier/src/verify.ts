/**
 * The verifier: a depth-first abstract interpreter over every path of the program, in the
 * kernel's manner (kernel/bpf/verifier.c do_check): states are checkpointed at the kernel's
 * prune points and a path ends where it reaches one in a state already verified (registers
 * compared where they are live), the 1M processed-insn limit, and the kernel's wording for
 * every error and, at log level 2, for the register state after each instruction. Stack
 * arguments follow apps/docs/stack-args.md §3-§4 rule by rule.
 */
import { mapLoadValue, mapNameAt, type MapAddresses } from './mapaddr.js';
import { analyseFrames, checkInsn, type AnalysedProgram, decodeOp, formatInsn, IsaError, MAX_BPF_FUNC_REG_ARGS, type AnalysedSubprog, type AttachType, type FuncProtoDecl, type Insn, type LineInfo, type MapDef, type Op, type Program, type ProgType } from '@bpf/isa';
import { CfgError, computeLiveness, defaultCallArgCount, formatLiveRegs, type Liveness } from '@bpf/liveness';
import { checkAlu } from './alu.js';
import { addrSpaceCast, arenaAtomicOk } from './arena.js';
import { branchTaken, splitBranch } from './branch.js';
import { btfString, type Btf } from '@bpf/btf';
import { loadInfo, type BtfFunc, type LoadInfo } from './btfproto.js';
import { exitInsn, helperCall, kfuncCall, subprogCall, type CallEnv } from './calls.js';
import { iterActiveAtCall } from './iter.js';
import { ASYNC_KFUNCS, declaredKfunc, kfuncFromBtf, kfuncInfo, kfuncLicenseCheck, kfuncPermitted } from './kfuncs.js';
import { SccVisits } from './scc.js';
import { VerifierReject, type MaxAccess } from './env.js';
import { globalArgs, globalEntry, isGlobal, nameOf, verifyCalledGlobals } from './global.js';
import { attachTypeOf, PROG_FLAGS } from './loadflags.js';
import { checkReplaceTarget, sleepableRefusal, type TargetFacts } from './freplace.js';
import { checkCallWhileLocked, checkResourceLeak, mapProgCompat } from './locks.js';
import { exceptionCallbackInsn, stackWalkCheck } from './exceptions.js';
import { attachMapRecords } from './mapfields.js';
import { memAccess, type Access } from './mem.js';
import { formatState, type Scratch } from './print.js';
import { JumpHist, linkedWord, NOTE_CB, NOTE_DST_STACK, NOTE_SRC_STACK, noteSpill } from './jmphist.js';
import { markPathPrecise, markPrecise, propagatePrecision, slotPrecise, type Checkpoint, type Path, type PreciseEnv } from './precise.js';
import { mayHaveSameKey, newCheckpoint, PlanStore, slotAlive, statesEqual, statesMaybeLooping, widenImpreciseScalars } from './prune.js';
import { isLeaf, StackLiveness } from './stacklive.js';
import { byteSwap, zext } from './scalar.js';
import { lowS32, lowU32 } from './tnum.js';
import { Tracer, type Trace, type TraceOptions } from './trace.js';
import { xlate, type ArenaRewrites, type XlateOptions } from './xlate.js';
import { markFastcallPatterns, removeFastcallSpillsFills, type CallSummary, type Fastcall } from './fastcall.js';
import { helperProto } from './helpers.js';
import { ksymReg } from './ksym.js';
import { LogBuffer, utf8Length } from './logbuf.js';
import { btfPtr } from './nullable.js';
import { cloneState, copyReg, known, knownImm, newFrame, newState, NOT_INIT, pointer, setOut, setSpilled, stateKey, unlinked, UNKNOWN, type Frame, type Reg, type State } from './state.js';

/** The arena map flag that makes casts to address space 1 plain 32-bit moves (include/uapi/linux/bpf.h). */

/** How many scalars one conditional jump links in the jump history (the kernel's LINKED_REGS_MAX). */
const LINKED_REGS_MAX = 6;

/** A scalar without its link (`reg->id = 0`: the ADD_CONST flag goes with it; the delta stays). */
const withoutId = (r: Reg): Reg => copyReg(r, true);

const BPF_F_NO_USER_CONV = 1 << 18;

/** A position in the log (verify.ts logMark). */
interface LogMark {
  readonly n: number;
  readonly len: number;
  readonly open: boolean;
}

export interface VerifyOptions {
  readonly type?: ProgType;
  /**
   * The kernel's log levels. 0: no log but the stats line; 1: the path that failed (each
   * instruction with the registers it changed, a queued path's log replacing the one before it
   * from where it was queued; a function that verifies leaves nothing, so an accepted program
   * logs only its stats); 2: every path, the states at each branch and prune, precision walks.
   */
  readonly logLevel?: 0 | 1 | 2;
  /**
   * The kernel's log_size: a log buffer of this many bytes (level 1 and 2). The result's `log` is
   * then what such a buffer holds: the log's last bytes, or its first with `logFixed`
   * (BPF_LOG_FIXED). A log that needed more — at level 1 the largest it ever grew, though paths
   * that verified were cut from it — fails the load as the kernel fails it (ENOSPC): `accepted`
   * false and `logTruncated`, even for a program that verifies. 0: no buffer, only `logTrueSize`.
   * Default: as large as the log needs.
   */
  readonly logSize?: number;
  /** With `logSize`: keep the log's first bytes (BPF_LOG_FIXED), not its last. */
  readonly logFixed?: boolean;
  /** Maps the program's map references point to (default: `program.maps`). */
  readonly maps?: readonly MapDef[];
  /** Whether the program will be JIT-compiled (stack arguments need it). Default true. */
  readonly jit?: boolean;
  /** Processed-instruction limit (the kernel's BPF_COMPLEXITY_LIMIT_INSNS). */
  readonly complexityLimit?: number;
  /** The kernel's BTF (e.g. /sys/kernel/btf/vmlinux, parsed): kfunc prototypes, struct_ops/LSM hooks. */
  readonly kernelBtf?: Btf;
  /**
   * The kernel's symbols (e.g. /proc/kallsyms by name): a ksym the kernel has no address for is
   * refused as the kernel refuses it (`ldimm64 failed to find the address for kernel symbol`).
   * Default: every symbol of the kernel's BTF has one.
   */
  readonly kernelSymbols?: { has(name: string): boolean };
  /** The program's license (default: `program.license`, else "GPL"); GPL-only helpers and kfuncs need a GPL-compatible one. */
  readonly license?: string;
  /** Loaded with BPF_F_SLEEPABLE (default: `program.sleepable` when the program carries it). */
  readonly sleepable?: boolean;
  /**
   * The kernel's expected_attach_type (default: `program.expectedAttachType`, as ELF section
   * names set it): context fields and return values of cgroup, sockopt and xdp programs depend on it.
   */
  readonly attachType?: AttachType;
  /** BPF_F_* load flags (`PROG_FLAGS`): strict or any alignment, state-per-insn testing, sleepable. */
  readonly flags?: number;
  /**
   * The kernel's `nr_cpu_ids` (the highest possible CPU number plus one, e.g. from
   * /sys/devices/system/cpu/possible): `bpf_get_smp_processor_id` returns a value below it
   * (do_refine_retval_range). Default: unknown, and R0 after that call is any scalar.
   */
  readonly nrCpuIds?: number;
  /**
   * Whether the kernel the program is for gives its type helper `id`, for a kernel whose build
   * takes away a helper its sources give (a distribution's or vendor's patch): asked only of the
   * helpers the tables made from those sources give the type, and a false answer refuses the call
   * as that kernel refuses it (`program of this type cannot use helper`). @bpf/kernel's
   * `helperProbe` answers it for the running kernel. Default: the tables decide.
   */
  readonly helperAvailable?: (id: number) => boolean;
  /**
   * Whether the kernel the program is for lets its type call the vmlinux kfunc of BTF id `id`,
   * as `helperAvailable` for helpers: asked only of the kfuncs the tables made from the kernel's
   * sources allow the type, and a false answer refuses the call as that kernel refuses it
   * (`calling kernel function NAME is not allowed`). @bpf/kernel's `kfuncProbe` answers it for
   * the running kernel. Default: the tables decide.
   */
  readonly kfuncAvailable?: (id: number) => boolean;
  /**
   * For an extension (freplace, `ext`) program: the program whose function it replaces (the
   * kernel's attach_prog_fd), by its type and expected attach type. As check_attach_btf_id sets it
   * up, the extension is then verified as that program type — its context rules, helpers and
   * return range — with its main function entered as a global function from its own BTF
   * (`Validating f() func#0...`, btf_prepare_func_args). With the replaced program itself and
   * the name of its function (`program`, `func`: what libbpf's bpf_program__set_attach_target
   * names), the kernel's checks of the pair come first (bpf_check_attach_target: a global
   * function of a program with BTF, not an extension's or an fentry/fexit program's, packet
   * changes and sleeping only where the original has them, and the prototypes matching as
   * btf_check_type_match compares them).
   */
  readonly replaces?: { readonly type: ProgType; readonly attachType?: AttachType; readonly program?: Program; readonly func?: string };
  /** Record a structured trace of every processed instruction in `result.trace` (trace.ts); off by default. */
  readonly trace?: boolean | TraceOptions;
  /**
   * Where the log goes instead of `result.log` (then empty): it is given the log's text in
   * pieces, in order, as the verifier writes it. At level 2 the pieces come while the program
   * is verified, so a log larger than a string can hold (a million processed instructions
   * print hundreds of megabytes) is never held whole; at level 1, where a queued path's log
   * replaces what came after its push point, it comes at the end.
   */
  readonly logSink?: (text: string) => void;
  /**
   * The kernel addresses of maps, by name, for the log's `ld_imm64` lines: an instruction naming
   * map NAME prints `map` (its value's reference: `value` plus the offset), as the kernel prints
   * the address it loaded, instead of the encoded immediate. Only the log changes. The kernel's
   * log of the same program has them: `mapAddressesFromLog(program, kernelLog)`.
   */
  readonly mapAddresses?: Readonly<Record<string, MapAddresses>>;
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
  /** The kernel's log_true_size: the bytes the log needs, its terminating zero included (0 at level 0). */
  readonly logTrueSize: number;
  /** The log did not fit in `logSize` bytes: the kernel answers ENOSPC and loads nothing. */
  readonly logTruncated?: true;
  readonly stats: VerifyStats;
  /**
   * The furthest end of an access through an iterator's key buffer (`rdonly`, the kernel's
   * max_rdonly_access), its value buffer (`rdwr`, max_rdwr_access) and a writable tracepoint's
   * buffer (`tp`, max_tp_access): attaching the program to a map or tracepoint fails when they
   * pass its key or value size (bpf_iter_attach_map: EACCES).
   */
  readonly maxAccess: Readonly<MaxAccess>;
  /** The program with analysed subprograms (accepted programs only). */
  readonly program?: VerifiedProgram;
  /** `program` as the kernel JITs it: unreached code removed, one-way branches hard-wired (xlate.ts). */
  readonly xlated?: VerifiedProgram;
  /** Paths, states before and after each processed instruction, prunes and the why-chain (with `trace`). */
  readonly trace?: Trace;
}

const LIMIT = 1_000_000;
/** A load's Access (memAccess), plain and sign-extending: made once, not per load (issue 25). */
const LDX: Access = { write: false, intoReg: true, signed: false };
const LDX_SIGNED: Access = { write: false, intoReg: true, signed: true };
const STACK = 512;

/**
 * A set of instruction indexes, one byte per instruction (issue 25): the prune and jump points
 * are looked up at every processed instruction, where a Set's hash lookup showed in profiles.
 * Indexes outside the program (a bad jump's target) go to a Set of their own.
 */
class PcSet {
  private bits = new Uint8Array(0);
  private outside: Set<number> | undefined;
  add(pc: number): void {
    if (!Number.isInteger(pc) || pc < 0 || pc > 0x3fffffff) {
      (this.outside ??= new Set()).add(pc);
      return;
    }
    if (pc >= this.bits.length) {
      const grown = new Uint8Array(Math.max(64, 2 * this.bits.length, pc + 1));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[pc] = 1;
  }
  has(pc: number): boolean {
    return this.bits[pc] === 1 || (this.outside !== undefined && this.outside.has(pc));
  }
}

/**
 * `result.xlated`, made when first read (an enumerable property like the others, then a plain
 * value): most callers never read it, and making it was a tenth of the fixed cost of a small
 * program's verification (issue 25). What it is made from is kept, not the verifier.
 */
function xlatedOnRead(out: { xlated?: VerifiedProgram }, program: AnalysedProgram, seen: Uint8Array, opts: XlateOptions): void {
  Object.defineProperty(out, 'xlated', {
    configurable: true,
    enumerable: true,
    get(): VerifiedProgram {
      const value = xlate(program, seen, opts) as unknown as VerifiedProgram;
      Object.defineProperty(out, 'xlated', { value, configurable: true, enumerable: true, writable: true });
      return value;
    },
  });
}

/** Verify a program. Never throws for a bad program: the verdict is in the result. */
export function verify(program: Program, opts: VerifyOptions = {}): VerifyResult {
  return new Verifier(program, opts).run();
}

/** vlog_alignment (kernel/bpf/log.c): column 40 at least, else the next multiple of 8 with 4 to spare. */
const alignment = (pos: number): number => Math.ceil(Math.max(pos + 4, 40) / 8) * 8 - pos - 1;

/** reg_type_mismatch_ok's exceptions: pointers converted or checked per instruction (ctx, sockets, BTF, arena). */
const AUX_STRICT: ReadonlySet<string> = new Set(['ctx', 'sock', 'sock_common', 'tcp_sock', 'xdp_sock', 'arena']);
const auxStrict = (k: string): boolean => AUX_STRICT.has(k) || k.endsWith('ptr_') || k.endsWith('ptr_or_null_');
/** PTR_TO_MEM with its flags. */
const AUX_MEM: ReadonlySet<string> = new Set(['mem', 'rdonly_mem', 'ringbuf_mem', 'rdonly_untrusted_mem', 'mem_or_null', 'rdonly_mem_or_null', 'ringbuf_mem_or_null']);

class Verifier implements CallEnv, PreciseEnv {
  private readonly lines: string[] = [];
  /** The last log line is an instruction with nothing printed after it yet. */
  private insnLineOpen = false;
  /** Level 1: the last instruction line printed (its line count and length), and where a cut left the log at its end. */
  private lastInsnN = -1;
  private lastInsnLen = 0;
  private resumeN = -1;
  /** An extension program's main function, verified as a global function (do_check_common). */
  private readonly extMain: boolean;
  /** UTF-8 bytes of the log already handed to the log sink (level 2). */
  private sunkBytes = 0;
  /** Indexes of log lines the kernel ends without a newline (logOpen). */
  private readonly openLines = new Set<number>();
  /** The kernel's log buffer: log_true_size and what `logSize` bytes keep (levels 1 and 2). */
  private readonly logBuf: LogBuffer | undefined;
  readonly insns: readonly Insn[];
  /**
   * decodeOp per instruction, made when the instruction is first processed (no object per processed
   * instruction). As long as the program from the start: writes into an empty array that jump more
   * than 1,024 slots past its end turn it into a dictionary (slow reads, and a deopt of `step`).
   */
  private readonly ops: (Op | undefined)[];
  readonly subprogs: readonly AnalysedSubprog[];
  readonly protos: ReadonlyMap<string, FuncProtoDecl>;
  readonly kfuncAt: ReadonlyMap<number, string>;
  private readonly mapAt: ReadonlyMap<number, string>;
  readonly maps: readonly MapDef[];
  readonly type: ProgType;
  readonly attach: AttachType | undefined;
  readonly progFlags: number;
  readonly nrCpuIds: number | undefined;
  readonly hasFuncInfo: boolean;
  readonly depth: number[];
  /** bpf_fastcall spill/fill patterns (fastcall.ts), marked before the walk. */
  fastcall: Fastcall | undefined;
  /** The spills and fills remove_fastcall_spills_fills turned into no-ops. */
  private fastcallNops: readonly number[] = [];
  readonly maxAccess: MaxAccess = { rdonly: 0, rdwr: 0, tp: 0 };
  readonly slotsWritten: number[];
  readonly slotsRequired: number[];
  readonly loopInline = new Map<number, { fit: boolean; subprog: number }>();
  tailCallReached = false;
  /** Subprograms called as callbacks, and those of them that run on their own (is_cb, is_async_cb). */
  readonly isCb = new Set<number>();
  readonly isAsyncCb = new Set<number>();
  /** func_info_aux[].unreliable: static functions whose BTF a call did not match (global.ts checkStaticCall). */
  readonly unreliable = new Set<number>();
  /** The exception callback's subprogram (exceptions.ts), when the main function's BTF names one. */
  exceptionCb: number | undefined;
  readonly level: number;
  readonly load: LoadInfo;
  private processed = 0;
  /** Instructions a path executed (insn_aux_data[].seen), for xlate. */
  private readonly seen: Uint8Array;
  /** insn_aux_data[].ptr_type: the kind of pointer each load or store was first seen with. */
  private readonly auxPtrType: (string | undefined)[]; // as long as the program, as `ops` is
  /** 64-bit ALU operations on arena pointers (noteArenaAlu64). */
  private arenaAlu64: Set<number> | undefined;
  /** Env.sliceBuf. */
  sliceBuf = false;
  private maxStatesPerInsn = 0;
  private totalStates = 0;
  private peakStates = 0;
  private jmpsProcessed = 0;
  private prevJmps = 0;
  private prevInsns = 0;
  private idGen = 0;
  /**
   * Checkpoints by (pc ^ callsite) % insn count, as the kernel's explored_states hash: an array
   * indexed by the bucket (a Map's lookup was a sixth of visited()'s own time; issue 25).
   */
  private explored: (Checkpoint[] | undefined)[] = [];
  /** The checkpoints' comparison plans (prune.ts), packed. */
  private readonly plans = new PlanStore(() => this.explored);
  /** Checkpoints in lists plus evicted ones still in use (the kernel's explored/free list sizes). */
  private liveStates = 0;
  private readonly pending: Path[] = [];
  /** Level 1: the log's end when each pending path was queued (push_stack's log_pos). */
  private readonly pendingLog: LogMark[] = [];
  private scratch: Scratch = { all: true, regs: 0, slots: new Set() };
  private liveness?: Liveness;
  /** Stack slot liveness per call chain, from the marks the walk makes (stacklive.ts). */
  stackLive!: StackLiveness;
  /** The path being run, and the stack slot its current instruction spilled or filled. */
  private cur?: Path;
  /** The frame of that slot (-1: none), and the slot: two numbers, no object per stack access. */
  private stackNoteFrame = -1;
  private stackNoteSlot = 0;
  private readonly prunePoints = new PcSet();
  /** Whether any instruction loads an incoming stack argument (`rX = *(u64 *)(r11 + off)`). */
  private stackArgLoads = false;
  /** Some instruction names r11 (structural's checkInsns). */
  private usesR11 = false;
  /** Some instruction calls (a helper, kfunc or subprogram) or loads a function's address (checkInsns). */
  private callLike = true;
  /** Some instruction calls a kfunc (checkInsns). */
  private kfuncCalls = true;
  /** Instructions whose visits are recorded in the jump history (the kernel's jmp points). */
  private readonly jmpPoints = new PcSet();
  /** Instructions that force a checkpoint (may_goto, callback-calling helpers, iterators' next()). */
  private readonly forcePoints = new PcSet();
  /** Calls of an open-coded iterator's next() (is_iter_next_insn). */
  private readonly iterNextPoints = new PcSet();
  /** Loops being explored and the states that closed them (6.18's SCC visits and backedges). */
  private scc?: SccVisits;
  /** The current instruction added a jump-history entry (a stack spill/fill or linked registers). */
  private histNote = false;
  /** check_cond_jmp_op's INSN_F_SRC_REG_STACK (1) and INSN_F_DST_REG_STACK (2) of the current instruction. */
  private jmpStackNote = 0;
  /** The current instruction's linked registers (jmphist.ts `linkedWord`). */
  private linkedNote?: number[];
  /** Paths pushed while the current instruction ran: they share its jump-history entry. */
  /** The paths push() queued during the current instruction: the first pushedN entries (the array is kept, not emptied: `length = 0` dropped its backing store, and the next push made a new one, once per branch; issue 25). */
  private readonly pushedNow: Path[] = [];
  private pushedN = 0;
  readonly trace: ((line: string) => void) | undefined;
  readonly level1Newline: (() => void) | undefined;
  private readonly tracer: Tracer | undefined;
  /** The checkpoint the last pruned path was found equivalent to (for the tracer). */
  private prunedBy?: Checkpoint;

  constructor(
    private readonly program: Program,
    private readonly opts: VerifyOptions,
  ) {
    this.insns = program.insns;
    this.ops = new Array<Op | undefined>(this.insns.length).fill(undefined);
    this.auxPtrType = new Array<string | undefined>(this.insns.length).fill(undefined);
    this.subprogs = analyseFrames(program).subprogs;
    this.protos = new Map((program.protos ?? []).map((p) => [p.name, p]));
    this.kfuncAt = new Map((program.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => [r.insn, r.name]));
    this.mapAt = new Map((program.relocs ?? []).filter((r) => r.kind === 'map' || r.kind === 'map_value').map((r) => [r.insn, r.name]));
    this.maps = opts.maps ?? program.maps ?? [];
    this.type = opts.type ?? program.type ?? 'socket_filter';
    this.attach = opts.attachType ?? attachTypeOf(program.expectedAttachType);
    // check_attach_btf_id: an extension takes the replaced program's verifier ops and expected_attach_type
    this.extMain = this.type === 'ext' && opts.replaces !== undefined;
    if (opts.replaces && this.type === 'ext') {
      this.type = opts.replaces.type;
      this.attach = opts.replaces.attachType ?? attachTypeOf(opts.replaces.program?.expectedAttachType);
    }
    this.progFlags = opts.flags ?? 0;
    this.nrCpuIds = opts.nrCpuIds;
    this.hasFuncInfo = (program.funcInfo?.length ?? 0) > 0;
    this.depth = this.subprogs.map(() => 0);
    this.slotsWritten = this.subprogs.map(() => 0);
    this.slotsRequired = this.subprogs.map(() => 0);
    this.level = opts.logLevel ?? 1;
    this.lineInfo = program.lineInfo?.length ? program.lineInfo : undefined;
    if (opts.logSize !== undefined && !(Number.isInteger(opts.logSize) && opts.logSize >= 0 && opts.logSize <= 0x3fffffff))
      throw new RangeError(`logSize ${opts.logSize}: the kernel takes 0 to 1073741823 bytes (EINVAL)`);
    if (opts.logSize && this.level === 0) throw new RangeError('logSize without a log level: the kernel refuses a log buffer at level 0 (EINVAL)');
    if (opts.logSize !== undefined && opts.logSink) throw new RangeError('logSize with logSink: the sink is given the whole log');
    this.logBuf = this.level > 0 ? new LogBuffer({ ...(opts.logSize !== undefined ? { size: opts.logSize } : {}), fixed: opts.logFixed === true }) : undefined;
    this.trace = this.level >= 2 ? (line: string): void => this.log2(line) : undefined;
    this.level1Newline = this.level === 1 ? (): void => this.log2('') : undefined;
    this.load = loadInfo(program, this.progFlags & PROG_FLAGS.sleepable && opts.sleepable === undefined ? { ...opts, sleepable: true } : opts);
    this.seen = new Uint8Array(this.insns.length);
    attachMapRecords(this.maps, () => this.load.progBtf());
    this.tracer = opts.trace ? new Tracer(opts.trace === true ? {} : opts.trace) : undefined;
  }

  // ---- PreciseEnv ----

  checkpointText(cp: Checkpoint, frame: number): string {
    const f = cp.state.frames[frame]!;
    const precise = { regs: cp.preciseRegs[frame]!, slots: { has: (s: number): boolean => slotPrecise(cp, frame, s) } };
    if (!cp.cleaned) return formatState(f, frame, cp.state.refs, { all: true, regs: 0, slots: new Set() }, precise);
    const live = this.liveRegs(cp.state, frame);
    const slots = new Set<number>();
    for (let s = 0; s < 64; s++) if (slotAlive(cp, frame, s)) slots.add(s);
    return formatState(f, frame, cp.state.refs, { all: false, regs: live, slots }, precise);
  }

  isGlobalAt(pc: number): boolean {
    const k = this.subprogs.findIndex((x) => x.start === pc);
    // global by its func_info FUNC (an object's BTF) or by its declared prototype (assembly)
    return k >= 0 && (isGlobal(this, k) || this.protos.get(this.subprogs[k]!.name)?.linkage === 'global');
  }

  subprogStart(subprog: number): number {
    return this.subprogs[subprog]?.start ?? 0;
  }

  callsCallback(pc: number): boolean {
    const i = this.insns[pc];
    if (i === undefined || i.code !== 0x85) return false;
    // is_sync_callback_calling_insn: bpf_for_each_map_elem, bpf_find_vma, bpf_loop,
    // bpf_user_ringbuf_drain, and the kfunc bpf_rbtree_add_impl whose less() is called synchronously
    return (i.src === 0 && SYNC_CALLBACK_HELPERS.has(i.imm)) || (i.src === 2 && this.kfuncNameAt(pc) === 'bpf_rbtree_add_impl');
  }

  markCallback(sub: number, async: boolean): void {
    this.isCb.add(sub);
    if (async) this.isAsyncCb.add(sub);
  }

  // ---- Env ----

  nextId(): number {
    return ++this.idGen;
  }

  reject(pc: number, ...lines: string[]): never {
    throw new VerifierReject(pc, lines);
  }

  log2(line: string): void {
    if (this.level < 1) return;
    this.lines.push(line);
    this.insnLineOpen = false;
  }

  logOpen(text: string): void {
    if (this.level < 1) return;
    this.openLines.add(this.lines.length);
    this.log2(text);
  }

  /** The log text: lines joined, those printed without a newline (logOpen) running into the next. */
  private logText(): string {
    let out = '';
    this.lines.forEach((l, k) => (out += this.openLines.has(k) && k < this.lines.length - 1 ? l : `${l}\n`));
    return out;
  }

  /**
   * Hand the log's lines but the last `keep` to the log sink and drop them (the last line may
   * still have a state appended: printInsnState).
   */
  private flushLog(keep: number): void {
    const n = Math.max(0, this.lines.length - keep);
    let out = '';
    for (let k = 0; k < n; k++) out += this.openLines.has(k) ? this.lines[k] : `${this.lines[k]}\n`;
    this.lines.splice(0, n);
    if (this.openLines.size) {
      const kept = [...this.openLines].filter((k) => k >= n).map((k) => k - n);
      this.openLines.clear();
      for (const k of kept) this.openLines.add(k);
    }
    this.sunkBytes += utf8Length(out);
    if (out !== '') this.opts.logSink!(out);
  }

  scratchReg(r: number): void {
    this.scratch.regs |= 1 << r;
  }

  scratchSlot(slot: number): void {
    this.scratch.slots.add(slot);
  }

  scratchAll(): void {
    this.scratch = { all: true, regs: 0, slots: new Set() };
  }

  formatFrame(st: State, f: Frame, all: boolean): string {
    return formatState(f, st.frames.indexOf(f), st.refs, all ? { all: true, regs: 0, slots: new Set() } : this.scratch);
  }

  readReg(f: Frame, r: number, pc: number): Reg {
    this.scratchReg(r);
    const v = f.regs[r]!;
    if (v.type === 'not_init') this.reject(pc, `R${r} !read_ok`);
    return v;
  }

  writeReg(_f: Frame, r: number, pc: number): void {
    if (r === 10) this.reject(pc, 'frame pointer is read only');
    this.scratchReg(r);
  }

  precise(r: number): void {
    const f = this.cur?.frames[this.cur.frames.length - 1];
    if (this.cur && f?.regs[r]?.type === 'scalar') markPrecise(this, this.cur, 1 << r);
  }

  preciseSlot(frame: number, slot: number): void {
    // only a spilled scalar needs its origin tracked (STACK_ZERO is precise by itself)
    const f = this.cur?.frames[frame];
    if (!this.cur || !f || f.slotTypes[slot * 8 + 7] !== 1 || f.spilled[slot]?.type !== 'scalar') return;
    markPrecise(this, this.cur, 0, [slot], frame);
  }

  noteStackAccess(frame: number, slot: number): void {
    this.stackNoteFrame = frame;
    this.stackNoteSlot = slot;
    this.histNote = true;
  }

  /** The state maybe_fork_scalars queued while the current instruction ran. */
  private scalarFork: Path | undefined;
  /** The states maybe_fork_scalars queued, not taken up yet. */
  private readonly scalarForks = new Set<Path>();

  /**
   * A state maybe_fork_scalars queued is taken up: it runs its last instruction again. The
   * kernel's copy holds that instruction's history entry when it is a jump point (pushed before
   * it ran), and the second run pushes another (prev_insn_idx the instruction itself), so
   * backtracking walks it twice; a checkpoint made here ends at it (last_insn_idx) and the path
   * goes through it again. Otherwise the copy has no entry for it and backtracking steps to the
   * instruction before it, as for any other. Returns the entry taken off, for a checkpoint.
   */
  private rerunEntry(st: Path): JumpHist | undefined {
    if (this.jmpPoints.has(st.pc)) return undefined;
    if (st.hist.lastPc() !== st.pc) return undefined;
    return st.hist.pop();
  }

  forkScalars(regno: number, dst: Reg): Reg {
    const st = this.cur;
    let alu32: boolean;
    if (dst.smin === -1n && dst.smax === 0n) alu32 = false;
    else if (dst.s32min === -1 && dst.s32max === 0) alu32 = true;
    else return dst;
    if (!st) return dst;
    // __mark_reg32_known: the low half known, the 64-bit bounds left for the operation to sync
    const low = (r: Reg, v: bigint): Reg => ({
      ...r,
      var: { value: (r.var.value & ~0xffffffffn) | v, mask: r.var.mask & ~0xffffffffn },
      s32min: lowS32(v),
      s32max: lowS32(v),
      u32min: lowU32(v),
      u32max: lowU32(v),
    });
    // push_stack(insn_idx, insn_idx): the same instruction again, with the destination 0
    const other = this.fork(st);
    other.prev = st.pc;
    other.frames[other.frames.length - 1]!.regs[regno] = alu32 ? low(dst, 0n) : known(0n);
    this.push(other);
    this.scalarFork = other;
    this.scalarForks.add(other);
    return alu32 ? low(dst, 0xffffffffn) : known(-1n);
  }

  push(st: State): void {
    const p = st as Path;
    // a checkpoint counts the paths it is the nearest checkpoint of, plus its unfinished children
    if (p.cp) p.cp.branches++;
    this.pending.push(p);
    if (this.level === 1) this.pendingLog.push(this.logMark());
    // push_stack: BPF_COMPLEXITY_LIMIT_JMP_SEQ paths waiting at once
    if (this.pending.length > 8192) this.reject(this.cur?.pc ?? p.prev, `The sequence of ${this.pending.length} jumps is too complex.`);
    this.pushedNow[this.pushedN++] = p;
  }

  argCountOf(subprog: number): number {
    const s = this.subprogs[subprog]!;
    return this.protos.get(s.name)?.params.length ?? s.argCount ?? MAX_BPF_FUNC_REG_ARGS;
  }

  fp(frame: number): Reg {
    return pointer('fp', { frame });
  }

  // ---- the run ----

  run(): VerifyResult {
    try {
      this.structural();
      // level 2 opens as the kernel's does: check_subprogs' "func#N @start" lines and
      // compute_live_registers' "Live regs before insn:" table
      if (this.level > 1 && this.lines.length === 0 && this.liveness) {
        for (const [k, sp] of this.subprogs.entries()) this.lines.push(`func#${k} @${sp.start}`);
        const table = formatLiveRegs(this.liveness, (insns, pc) => formatInsn(insns, pc, this.kernelSyntax));
        for (const l of table.trimEnd().split('\n')) this.lines.push(l);
      }
      // check_attach_btf_id: the program's own type and attach type decide whether it may sleep
      const ownType = this.opts.type ?? this.program.type ?? 'socket_filter';
      const ownAttach = ownType === 'ext' ? undefined : this.attach;
      const sleepRefusal = sleepableRefusal(ownType, ownAttach, this.load.sleepable);
      if (sleepRefusal !== undefined) this.reject(0, sleepRefusal);
      if (this.extMain) {
        // btf_check_type_match (bpf_check_attach_target): the extension's prototype comes from its own BTF
        const target = this.opts.replaces;
        if (target?.program !== undefined && target.func !== undefined) {
          const why = checkReplaceTarget(
            { program: this.program, btf: this.load.progBtf(), mainFuncId: this.load.subprogFunc(0)?.id, jit: this.opts.jit !== false },
            { program: target.program, func: target.func },
            target.type,
            this.targetFacts(target.program, target.type, target.attachType),
          );
          if (why !== undefined) this.reject(0, why);
        }
        if (!this.load.subprogFunc(0)) this.reject(0, 'Program extension requires BTF');
        this.log2(`Validating ${nameOf(this, 0)}() func#0...`);
      }
      this.fastcall = markFastcallPatterns(this.insns, this.subprogs, (pc) => this.callSummary(pc));
      this.explore();
      // the exception callback is taken as called (do_check_subprogs)
      if (this.exceptionCb !== undefined) this.load.calledGlobals.add(this.exceptionCb);
      verifyCalledGlobals(this, (k) => this.explore(k));
      this.afterChecks();
    } catch (e) {
      if (!(e instanceof VerifierReject)) throw e;
      for (const l of e.lines) this.lines.push(l);
      if (e.open) this.openLines.add(this.lines.length - 1);
      this.tracer?.rejected(this, e.insn, e.message, this.cur);
      return this.result(false, { insn: e.insn, message: e.message });
    }
    return this.result(true);
  }

  private result(accepted: boolean, error?: { insn: number; message: string }): VerifyResult {
    const stats: VerifyStats = {
      processedInsns: this.processed,
      totalStates: this.totalStates,
      peakStates: this.peakStates,
      maxStatesPerInsn: this.maxStatesPerInsn,
      stackDepth: this.depth.map((d) => (d + 7) & ~7),
    };
    this.lines.push(`processed ${stats.processedInsns} insns (limit ${LIMIT}) max_states_per_insn ${stats.maxStatesPerInsn} total_states ${stats.totalStates} peak_states ${stats.peakStates} mark_read 0`);
    const subprogs = this.subprogs.map((s, k) => ({
      ...s,
      stackDepth: (this.depth[k]! + 7) & ~7,
      outgoingStackArgs: Math.max(s.outgoingStackArgs, this.slotsRequired[k]!),
      // the JITs give it the kernel's exception-callback frame (aux->exception_cb)
      ...(k === this.exceptionCb ? { exceptionCallback: true } : {}),
    }));
    const buf = this.logBuf?.finish(this.lines, this.openLines, this.logText());
    // ENOSPC: the kernel loads nothing, whatever the verifier said
    if (buf?.truncated) accepted = false;
    // the fields in the order they always had, set one by one (no object spread per optional field)
    const out: { -readonly [K in keyof VerifyResult]?: VerifyResult[K] } = { accepted };
    if (error) out.error = error;
    out.log = this.opts.logSink ? this.sinkRest(buf?.text) : buf ? buf.text : (this.lines[this.lines.length - 1] ?? '') + '\n';
    out.logTrueSize = buf ? buf.trueSize + this.sunkBytes : 0;
    if (buf?.truncated) out.logTruncated = true;
    out.stats = stats;
    out.maxAccess = { ...this.maxAccess };
    if (accepted) {
      out.program = { ...this.program, subprogs } as unknown as VerifiedProgram;
      xlatedOnRead(out, { ...this.program, subprogs }, this.seen, { defaultExceptionCb: this.exceptionCb === undefined && this.throwSeen(), ...(this.fastcallNops.length ? { nops: this.fastcallNops } : {}), ...this.arenaRewrites() });
    }
    if (this.tracer) out.trace = this.tracer.result();
    return out as VerifyResult;
  }

  /** The end of the log (`text`: what the log buffer holds of it), handed to the log sink: `result.log` is then empty. */
  private sinkRest(text: string | undefined): string {
    const rest = text ?? this.lines.slice(-1).join('\n') + '\n';
    this.lines.length = 0;
    if (rest !== '') this.opts.logSink!(rest);
    return '';
  }

  /** What verifying the replaced program taught the kernel (freplace.ts TargetFacts): it was loaded, so verified, first. */
  private targetFacts(program: Program, type: ProgType, attachType: AttachType | undefined): TargetFacts {
    const { kernelBtf, kernelSymbols } = this.opts;
    const v = new Verifier(program, { type, logLevel: 0, ...(attachType ? { attachType } : {}), ...(kernelBtf ? { kernelBtf } : {}), ...(kernelSymbols ? { kernelSymbols } : {}) });
    v.run();
    return { unreliable: v.unreliable, exceptionCb: v.exceptionCb };
  }

  /** The kernel's env->seen_exception: a verified path called bpf_throw. */
  private throwSeen(): boolean {
    return this.kfuncCalls && this.insns.some((i, pc) => this.seen[pc] === 1 && i.code === 0x85 && i.src === 2 && this.kfuncNameAt(pc) === 'bpf_throw');
  }

  noteArenaAlu64(pc: number): void {
    (this.arenaAlu64 ??= new Set()).add(pc);
  }

  /** The xlated program's arena rewrites (xlate.ts rewriteArena), for a program with an arena. */
  private arenaRewrites(): { arena?: ArenaRewrites } {
    const arena = this.maps.find((m) => m.type === 'arena');
    if (!arena) return {};
    const access = new Set<number>();
    this.auxPtrType.forEach((t, pc) => t === 'arena' && access.add(pc));
    return { arena: { access, alu64: this.arenaAlu64 ?? new Set(), noUserConv: ((arena.flags ?? 0) & BPF_F_NO_USER_CONV) !== 0 } };
  }

  /** Encoding errors the walk gives where it reaches their instruction (structural() finds them). */
  private walkErrors: Map<number, string> | undefined;

  /** Instruction-level checks and the CFG checks, before any path is explored. */
  private structural(): void {
    // add_subprog_and_kfunc: the exception callback, named by the main function's BTF (exceptions.ts)
    const excAt = exceptionCallbackInsn(this, this.load.progBtf(), this.program.funcInfo);
    if (excAt !== undefined) {
      if (excAt >= this.insns.length) this.reject(0, 'call to invalid destination');
      const k = this.subprogs.findIndex((s) => s.start === excAt);
      if (k > 0) {
        this.exceptionCb = k;
        this.markCallback(k, true);
      }
    }
    // add_kfunc_call: a program calling a kfunc needs a GPL-compatible license, before any walk
    if (!this.load.gplCompatible) {
      const kfuncAt = this.insns.findIndex((i) => i.code === 0x85 && i.src === 2);
      if (kfuncAt >= 0) kfuncLicenseCheck(this, kfuncAt);
    }
    const facts = this.checkInsns();
    // resolve_pseudo_ldimm64: kernel symbols are looked up before the walk
    for (const pc of facts.ksyms) ksymReg(this, pc, this.insns[pc]!.imm);
    if (this.subprogs.length > 1) this.abnormalReturns();
    this.cfgAndLiveness(facts.leaves);
    this.usesR11 = facts.r11;
    this.stackArgLoads = facts.r11Loads;
    for (const [k, s] of this.subprogs.entries()) {
      const proto = this.protos.get(s.name);
      // stack-args §3: global subprograms with more than five arguments are not supported
      if (k > 0 && proto?.linkage === 'global' && proto.params.length > MAX_BPF_FUNC_REG_ARGS)
        this.reject(s.start, `global function ${s.name} has ${proto.params.length} args, stack arguments are not supported for global functions`);
    }
    if (facts.r11 && this.opts.jit === false) this.reject(0, 'stack args are not supported in non-JITed programs');
    this.findPrunePoints();
  }

  /**
   * The instruction-level checks of every slot (one pass, its own method: a loop in structural()
   * itself was compiled on the stack and then left again for every program, issue 25), and what
   * later passes want to know of the program: the kernel symbols it loads, the instructions
   * after which it may end (stacklive.ts leaves), whether it names r11 and loads through it.
   */
  private checkInsns(): { ksyms: number[]; leaves: number[]; r11: boolean; r11Loads: boolean } {
    const facts = { ksyms: [] as number[], leaves: [] as number[], r11: false, r11Loads: false };
    let calls = false;
    let kfuncCalls = false;
    let storages: Map<string, string> | undefined;
    const insns = this.insns;
    for (let pc = 0; pc < insns.length; pc++) {
      const i = insns[pc]!;
      const err = checkInsn(i, pc, insns[pc + 1]);
      if (err) {
        const msg = err.message.replace(/^insn \d+(?: \(byte \d+\))?: /, '');
        // reserved fields, register numbers past r10 and r11 outside the stack-argument forms are
        // refused where the walk reaches them (do_check's per-class checks and check_reg_arg),
        // after the instructions before them were processed; unknown opcodes, bad ld_imm64 pairs
        // and BPF_LDX's reserved fields before the walk (resolve_pseudo_ldimm64)
        if ((err.code === 'RESERVED_FIELD' && (i.code & 7) !== 1) || err.code === 'BAD_REGISTER' || err.code === 'R11_INVALID') (this.walkErrors ??= new Map()).set(pc, msg);
        else this.reject(pc, msg);
      }
      if (i.dst === 11 || i.src === 11) {
        facts.r11 = true;
        if ((i.code & 7) === 1 && i.src === 11) facts.r11Loads = true;
      }
      if (isLeaf(i)) facts.leaves.push(pc);
      if (i.code === 0x85) {
        calls = true;
        if (i.src === 2) kfuncCalls = true;
      }
      if (i.code === 0x18) {
        if (i.src === 4) calls = true;
        // resolve_pseudo_ldimm64: each map a program uses must suit its type (check_map_prog_compatibility)
        if (i.src !== 0 && i.src !== 4) {
          const map = this.mapOf(pc, i);
          if (map) mapProgCompat(this, pc, map, (storages ??= new Map()));
          else if (i.src === 1 || i.src === 2) this.reject(pc, `fd ${i.imm} is not pointing to valid bpf_map`);
        }
        if (i.src === 3) facts.ksyms.push(pc);
        // the second half (checkInsn refused one with fields set, so it names no r11)
        pc++;
      }
    }
    this.callLike = calls;
    this.kfuncCalls = kfuncCalls;
    return facts;
  }

  /** check_btf_func and check_abnormal_return, for a program with subprograms. */
  private abnormalReturns(): void {
    // check_btf_func: a subprogram that may end abnormally (LD_ABS's hidden exit, a tail call)
    // returns a scalar, what its caller then reads in R0
    if (this.subprogs.length > 1 && this.hasFuncInfo)
      for (let k = 1; k < this.subprogs.length; k++) {
        const s = this.subprogs[k]!;
        if (this.load.subprogFunc(k)?.ret.kind === 'scalar') continue;
        const body = this.insns.slice(s.start, s.end);
        if (body.some((i) => (i.code & 7) === 0 && ((i.code & 0xe0) === 0x20 || (i.code & 0xe0) === 0x40))) this.reject(s.start, "LD_ABS is only allowed in functions that return 'int'.");
        if (body.some((i) => i.code === 0x85 && i.src === 0 && i.imm === 12)) this.reject(s.start, "tail_call is only allowed in functions that return 'int'.");
      }
    // check_abnormal_return: without func_info, subprograms may not end abnormally
    if (this.subprogs.length > 1 && !this.hasFuncInfo)
      for (const s of this.subprogs.slice(1)) {
        const body = this.insns.slice(s.start, s.end);
        if (body.some((i) => (i.code & 7) === 0 && ((i.code & 0xe0) === 0x20 || (i.code & 0xe0) === 0x40)))
          this.reject(s.start, 'LD_ABS is not allowed in subprogs without BTF');
        if (body.some((i) => i.code === 0x85 && i.src === 0 && i.imm === 12)) this.reject(s.start, 'tail_call is not allowed in subprogs without BTF');
      }
  }

  /** The CFG and the register liveness (@bpf/liveness), and the stack liveness the walk fills in. */
  private cfgAndLiveness(leafPcs: readonly number[]): void {
    try {
      // computeLiveness builds the CFG (and throws its CfgError) itself: built once, not twice
      const prog = { ...this.program, subprogs: this.subprogs };
      const base = defaultCallArgCount(prog, this.type);
      // a kfunc reads the arguments its BTF prototype has (the kernel's liveness knows them too),
      // if the program may call it: else get_call_summary has none and r1-r5 are read
      const callArgCount = (pc: number, i: Insn): number | undefined => {
        if (i.src !== 2) return base(pc, i);
        const name = this.kfuncAt.get(pc);
        const proto = name !== undefined ? this.protos.get(name) : undefined;
        if (proto) return proto.params.length;
        const fn = kfuncFromBtf(this.load, i.imm, name);
        if (fn === undefined) return base(pc, i);
        return this.kfuncSummarised(fn) ? fn.params.length : undefined;
      };
      // a synchronous callback's call is a loop of its own (the callback returns to it to be called again)
      const entries = this.exceptionCb !== undefined ? [this.subprogs[this.exceptionCb]!.start] : [];
      this.liveness = computeLiveness(prog, { progType: this.type, callArgCount, selfLoops: (pc) => this.callsCallback(pc), entries });
      this.stackLive = new StackLiveness({
        insns: this.insns,
        subprogStarts: this.subprogs.map((x) => x.start),
        postorder: this.liveness.cfg.postorder,
        succStart: this.liveness.cfg.succStart,
        succTarget: this.liveness.cfg.succTarget,
        leafPcs,
        callsCallback: (pc) => this.callsCallback(pc),
        // level 2 traces the stack liveness passes as liveness.c does (each line ends the instruction's)
        ...(this.level > 1
          ? {
              log: (line: string) => {
                this.lines.push(line);
                this.insnLineOpen = false;
              },
              prunePoint: (pc: number) => this.prunePoints.has(pc),
            }
          : {}),
      });
    } catch (e) {
      if (e instanceof CfgError) this.reject(e.insn, e.kernelMessage);
      if (e instanceof IsaError) this.reject(e.insn ?? 0, e.message);
      throw e;
    }
  }

  /** The kernel's prune points (visit_insn): jumps and their targets, calls and what follows them. */
  private findPrunePoints(): void {
    for (let pc = 0; pc < this.insns.length; pc++) {
      const i = this.insns[pc]!;
      const cls = i.code & 7;
      if (i.code === 0x18) {
        if (i.src === 4) {
          this.prunePoints.add(pc);
          this.prunePoints.add(pc + 2);
          this.jmpPoints.add(pc + 2);
          this.prunePoints.add(pc + i.imm + 1);
          this.jmpPoints.add(pc + i.imm + 1);
        }
        pc++;
        continue;
      }
      if (cls !== 5 && cls !== 6) continue;
      const op = i.code & 0xf0;
      if (op === 0x90) continue; // exit
      if (op === 0x80) {
        this.prunePoints.add(pc + 1);
        this.jmpPoints.add(pc + 1);
        if (i.src === 1) {
          this.prunePoints.add(pc);
          this.prunePoints.add(pc + i.imm + 1);
          this.jmpPoints.add(pc + i.imm + 1);
        }
        // is_async_callback_calling_insn: a prune point, so the state is checked before the
        // callback's own path is pushed
        if ((i.src === 0 && i.imm === BPF_FUNC_timer_set_callback) || (i.src === 2 && (this.kfuncNameAt(pc) ?? '') in ASYNC_KFUNCS)) this.prunePoints.add(pc);
        if (this.callsCallback(pc)) {
          this.prunePoints.add(pc);
          this.jmpPoints.add(pc);
          this.forcePoints.add(pc);
        }
        if (i.src === 2 && this.isIterNext(pc)) {
          this.prunePoints.add(pc);
          this.forcePoints.add(pc);
          this.iterNextPoints.add(pc);
        }
        continue;
      }
      if (op === 0x00) {
        this.prunePoints.add(pc + (cls === 6 ? i.imm : i.off) + 1);
        this.jmpPoints.add(pc + (cls === 6 ? i.imm : i.off) + 1);
        continue;
      }
      this.prunePoints.add(pc);
      if (op === 0xe0) this.forcePoints.add(pc); // may_goto
      this.prunePoints.add(pc + i.off + 1);
      this.jmpPoints.add(pc + i.off + 1);
    }
  }

  /**
   * The map an ld_imm64 at `pc` names: by its relocation, or — a program without a relocation
   * list (assembled by hand) — by the index in its imm. A linked program's ld_imm64 without a
   * relocation hands the kernel its imm as a file descriptor, which names no map of ours.
   */
  private mapOf(pc: number, i: Insn): MapDef | undefined {
    const name = this.mapAt.get(pc);
    if (name !== undefined) {
      // the first map of that name, looked up once per instruction (tracee has hundreds of maps)
      let m = this.mapAtPc.get(pc);
      if (m === undefined) this.mapAtPc.set(pc, (m = this.maps.find((x) => x.name === name) ?? null));
      return m ?? undefined;
    }
    return this.program.relocs === undefined ? this.maps[i.imm] : undefined;
  }
  private readonly mapAtPc = new Map<number, MapDef | null>();

  /**
   * save_aux_ptr_type: a load or store instruction works on one kind of pointer on every path
   * that reaches it when that kind is converted or checked per instruction (ctx, sockets, BTF
   * pointers); a load may mix trusted and untrusted BTF pointers or memory (then read as untrusted).
   */
  private saveAuxPtrType(pc: number, r: Reg, allowTrustMismatch: boolean): void {
    const b = btfPtr(r.type);
    const key = b ? `${b.flag}ptr_${b.orNull ? 'or_null_' : ''}` : r.type;
    const prev = this.auxPtrType[pc];
    if (prev === undefined) {
      this.auxPtrType[pc] = key;
      return;
    }
    if (prev === key || (!auxStrict(key) && !auxStrict(prev))) return;
    const memOrBtf = (k: string): boolean => AUX_MEM.has(k) || k.endsWith('ptr_') || k.endsWith('ptr_or_null_');
    if (!allowTrustMismatch || !memOrBtf(key) || !memOrBtf(prev)) this.reject(pc, 'same insn cannot be used with different pointers');
    const untrusted = key.includes('untrusted') || prev.includes('untrusted');
    this.auxPtrType[pc] = AUX_MEM.has(key) || AUX_MEM.has(prev) ? (untrusted ? 'rdonly_untrusted_mem' : 'mem') : untrusted ? 'untrusted_ptr_' : 'ptr_';
  }

  /** Whether the instruction at `pc` is may_goto (is_may_goto_insn_at). */
  private mayGotoPoint(pc: number): boolean {
    const i = this.insns[pc];
    return i !== undefined && i.code === 0xe5 && i.src === 0;
  }

  /** Whether the kfunc call at `pc` is an open-coded iterator's next() (iter.ts). */
  private isIterNext(pc: number): boolean {
    const i = this.insns[pc]!;
    const name = this.kfuncAt.get(pc);
    const proto = name !== undefined ? this.protos.get(name) : undefined;
    const fn = proto ? declaredKfunc(proto) : kfuncFromBtf(this.load, i.imm, name);
    return fn !== undefined && /^bpf_iter_\w+_next$/.test(fn.name) && fn.params[0]?.type.kind === 'ptr';
  }

  // ---- IterEnv ----

  queuePath(st: State, pc: number, prev: number): State {
    const other = this.fork(st as Path);
    other.pc = pc;
    other.prev = prev;
    this.push(other);
    return other;
  }

  widenAtIterNext(st: State, queued: State, pc: number): void {
    // find_prev_entry from the checkpoint made at this next() call: an earlier one still explored
    const own = (st as Path).cp;
    const list = this.explored[this.bucketOf(st)];
    if (!own || !list) return;
    for (let k = list.length - 1; k >= 0; k--) {
      const cp = list[k]!;
      if (cp.pc !== pc || cp.branches === 0 || !sameCallsites(cp.state, st) || (cp.dfsDepth ?? 0) >= (own.dfsDepth ?? 0)) continue;
      widenImpreciseScalars(cp, queued);
      return;
    }
  }

  /** A state's key with dead registers left out (the kernel compares live registers only). */
  private key(st: State): string {
    const l = this.liveness;
    if (!l) return stateKey(st);
    const depth = st.frames.length - 1;
    return stateKey(st, (frame, reg) => {
      if (reg === 10) return true;
      const at = frame === depth ? st.pc : st.frames[frame + 1]!.callsite;
      const live = l.liveIn[at];
      return live === undefined ? true : (live & (1 << reg)) !== 0;
    });
  }

  /**
   * Registers live at the point each frame is at: a caller's before its call instruction
   * (frame_insn_idx, clean_func_state: the call's arguments live, its results not yet).
   */
  private liveRegs(st: State, frame: number): number {
    const depth = st.frames.length - 1;
    const at = frame === depth ? st.pc : st.frames[frame + 1]!.callsite;
    return (this.liveness?.liveIn[at] ?? 0x7ff) | (1 << 10);
  }

  /** The explored_states hash of a state: its instruction and its frame's call site. */
  private bucketOf(st: State): number {
    return ((st.pc ^ st.frames[st.frames.length - 1]!.callsite) >>> 0) % this.insns.length;
  }

  /** find_prev_entry + widen_imprecise_scalars, for a callback back at its call (prepare_func_exit). */
  widenAtCallback(st: State): void {
    const list = this.explored[this.bucketOf(st)];
    if (list === undefined) return;
    for (let k = list.length - 1; k >= 0; k--) {
      const cp = list[k]!;
      if (cp.pc !== st.pc || cp.branches === 0 || !sameCallsites(cp.state, st)) continue;
      widenImpreciseScalars(cp, st);
      return;
    }
  }

  /** The state visited() compares (liveRegsOfVisit's, made once instead of a closure per call). */
  private visitSt: State | undefined;
  private readonly liveRegsOfVisit = (f: number): number => this.liveRegs(this.visitSt!, f);

  /** is_state_visited: 'safe' when an equivalent, fully explored state was seen here. */
  private visited(st: Path): boolean {
    const depth = st.frames.length - 1;
    const bucket = this.bucketOf(st);
    const list = this.explored[bucket] ?? [];
    // BPF_F_TEST_STATE_FREQ: a checkpoint at every prune point
    const force = (this.progFlags & PROG_FLAGS.test_state_freq) !== 0 || this.forcePoints.has(st.pc) || (st.histCnt ?? 0) > 40;
    let addNew = force || (this.jmpsProcessed - this.prevJmps >= 2 && this.processed - this.prevInsns >= 8);
    let key: string | undefined;
    let loop: boolean;
    const count = list.length;
    this.visitSt = st;
    const liveRegsOf = this.liveRegsOfVisit;
    // newest first, as the kernel's list. clean_live_states, which the kernel runs over the list
    // before it compares, is done here as each checkpoint is reached, and over the older ones left
    // before a hit acts (cleanFrom): nothing before that reads or changes what cleaning does (a
    // checkpoint's own fields; the loops' backedges, added by a hit), and the list is walked once
    for (let k = list.length - 1; k >= 0; k--) {
      const cp = list[k]!;
      if (cp.pc !== st.pc) continue;
      if (cp.branches === 0 && !cp.cleaned) this.clean(cp, st);
      if (cp.branches > 0 && this.asyncReentry(cp, st, depth)) {
        // another entry into an async callback (async_entry_cnt): the same state here is no loop,
        // and the old one, not yet done, proves nothing
        if (!force && this.jmpsProcessed - this.prevJmps < 20 && this.processed - this.prevInsns < 100) addNew = false;
      } else if (cp.branches > 0 && this.iterNextPoints.has(st.pc)) {
        // an iterator loop converged: this next() call's state is within one still being explored
        if (statesEqual(this.plans, cp, st, liveRegsOf, this.stackArgLoads, true) && iterActiveAtCall(st)) {
          this.cleanFrom(list, k, st);
          this.loopHit(cp, st);
          return true;
        }
        if (!force && this.jmpsProcessed - this.prevJmps < 20 && this.processed - this.prevInsns < 100) addNew = false;
      } else if (cp.branches > 0 && this.callsCallback(st.pc)) {
        // calls_callback: the callback loop converged when the state here is within one still being explored
        if (statesEqual(this.plans, cp, st, liveRegsOf, this.stackArgLoads, true)) {
          // a loop hit: precision propagated now and along the backedge when the call's SCC is done
          this.cleanFrom(list, k, st);
          this.loopHit(cp, st);
          this.prunedBy = cp;
          return true;
        }
        if (!force && this.jmpsProcessed - this.prevJmps < 20 && this.processed - this.prevInsns < 100) addNew = false;
      } else if (cp.branches > 0 && this.mayGotoPoint(st.pc) && (cp.state.mayGotoDepth ?? 0) !== (st.mayGotoDepth ?? 0) && statesEqual(this.plans, cp, st, liveRegsOf, this.stackArgLoads, true)) {
        // a may_goto loop converged: the state here, some budget later, is within one still being explored
        this.cleanFrom(list, k, st);
        this.loopHit(cp, st);
        return true;
      } else if (cp.branches > 0) {
        if (
          statesMaybeLooping(cp.state, st, this.liveRegs(st, depth)) &&
          (cp.state.mayGotoDepth ?? 0) === (st.mayGotoDepth ?? 0) &&
          (cp.state.callbackUnrollDepth ?? 0) === (st.callbackUnrollDepth ?? 0) &&
          mayHaveSameKey(cp.state, st)
        ) {
          key ??= this.key(st);
          cp.key ??= this.key(cp.state);
          // the kernel then prints both states, all of the current frame (print_verifier_state)
          if (cp.key === key)
            this.reject(st.pc, ...this.sourceLine(st.pc), `infinite loop detected at insn ${st.pc}`, `cur state:${formatState(st.frames[depth]!, depth, st.refs, { all: true, regs: 0, slots: new Set() })}`, `old state:${this.checkpointText(cp, depth)}`);
        }
        if (!force && this.jmpsProcessed - this.prevJmps < 20 && this.processed - this.prevInsns < 100) addNew = false;
      } else if (statesEqual(this.plans, cp, st, liveRegsOf, this.stackArgLoads, (loop = this.scc?.incomplete(cp) ?? false))) {
        this.cleanFrom(list, k, st);
        cp.hits++;
        this.prunedBy = cp;
        if (this.jmpPoints.has(st.pc)) st.histCnt = (st.histCnt ?? 0) + 1;
        this.propagateFrom(cp, st);
        // a loop whose precision is not settled yet: this path is one more way back into it
        if (loop) {
          this.sccs().backedge(cp, st);
          // add_scc_backedge counts it in peak_states at once
          this.peakStates = Math.max(this.peakStates, this.liveStates + this.sccs().count);
        }
        return true;
      }
      // a state that keeps missing is unlikely to help: drop it from the list (the kernel's miss_cnt)
      if (addNew) cp.misses++;
      const n = this.forcePoints.has(st.pc) && cp.branches > 0 ? 64 : 3;
      if (cp.misses > cp.hits * n + n) {
        // list.splice(k, 1) without the array of removed elements it returns (and without
        // copyWithin, a generic builtin that showed in visited()'s profile)
        for (let j = k + 1; j < list.length; j++) list[j - 1] = list[j]!;
        list.pop();
        // out of the lists, never compared again: its plan is left to the next compaction
        cp.plan = -1;
        // maybe_free_verifier_state: freed now if nothing runs through it and its loop's read
        // marks are complete; one freed later when its last branch ends; one whose loop was
        // still open then is never freed (it stays in the free list, counted in peak_states)
        if (cp.branches > 0) cp.evicted = true;
        else if (!(this.scc?.incomplete(cp) ?? false)) this.liveStates--;
      }
    }
    this.maxStatesPerInsn = Math.max(this.maxStatesPerInsn, count);
    if (!addNew) return false;
    const cp = newCheckpoint(st, st.frames[0]!.asyncCb ? 0 : this.subprogStart(st.frames[0]!.subprog));
    list.push(cp);
    this.sccs().enter(cp);
    this.explored[bucket] = list;
    st.cp = cp;
    st.hist = new JumpHist();
    st.histCnt = 0;
    this.totalStates++;
    this.liveStates++;
    this.peakStates = Math.max(this.peakStates, this.liveStates + (this.scc?.count ?? 0));
    this.prevJmps = this.jmpsProcessed;
    this.prevInsns = this.processed;
    return false;
  }

  /** Another entry into an async callback than the one checkpoint `cp` (still being explored) was made in. */
  private asyncReentry(cp: Checkpoint, st: Path, depth: number): boolean {
    const top = cp.state.frames[cp.state.frames.length - 1]!;
    return top.asyncCb === true && (top.asyncEntryCnt ?? 0) !== (st.frames[depth]!.asyncEntryCnt ?? 0);
  }

  /**
   * clean_live_states for one fully explored checkpoint at the state's instruction: it forgets what
   * is dead, unless its loop is still open (incomplete_read_marks): the slots no instruction after
   * it may read, per call chain.
   */
  private clean(cp: Checkpoint, st: Path): void {
    if (!sameCallsites(cp.state, st) || (this.scc?.incomplete(cp) ?? false)) return;
    cp.cleaned = true;
    cp.alive = this.stackLive.aliveSlots(cp.state);
    cp.plan = -1;
  }

  /** clean_live_states over the checkpoints older than the `k`th, before a hit acts. */
  private cleanFrom(list: readonly Checkpoint[], k: number, st: Path): void {
    for (let j = k - 1; j >= 0; j--) {
      const cp = list[j]!;
      if (cp.pc === st.pc && cp.branches === 0 && !cp.cleaned) this.clean(cp, st);
    }
  }

  /** The loop's SCC visits (made on first use: the CFG's SCCs come from the liveness analysis). */
  private sccs(): SccVisits {
    // made apart: closures in this method made V8 allocate its context on every call (issue 25)
    return this.scc ?? this.makeSccs();
  }

  private makeSccs(): SccVisits {
    return (this.scc = new SccVisits(this.liveness?.cfg.scc, this.trace, (cp, path) => {
      const before = this.totalPrecise(cp, path);
      this.propagateFrom(cp, path);
      return this.totalPrecise(cp, path) !== before;
    }, (path) => markPathPrecise(this, path)));
  }

  /** Precision marks on the checkpoints a path runs through (to tell whether propagation added any). */
  private totalPrecise(_old: Checkpoint, path: Path): number {
    let n = 0;
    for (let c = path.cp; c; c = c.parent) {
      for (const m of c.preciseRegs) for (let r = m; r; r &= r - 1) n++;
      for (const w of c.preciseSlots) for (let m = w; m; m &= m - 1) n++;
    }
    return n;
  }

  /**
   * propagate_precision from checkpoint `cp` to a path it covers: the precise scalars `cp` still
   * holds (a cleaned checkpoint has forgotten its dead registers and slots).
   */
  private propagateFrom(cp: Checkpoint, path: Path): void {
    // the two liveness tests are made once (propCp is the checkpoint they ask about), not two
    // closures per call (issue 25); saved and restored in case propagation comes back here
    const outer = this.propCp;
    this.propCp = cp;
    propagatePrecision(this, cp, path, this.propLiveReg, this.propLiveSlot);
    this.propCp = outer;
  }

  /** The checkpoint propagateFrom propagates from (its liveness tests' subject). */
  private propCp: Checkpoint | undefined;
  /** The register a ld_imm64 of a map or function makes, per instruction (ldImm64). */
  private readonly ldImmRegs = new Map<number, Reg>();
  /** The Access of a store (st, stx), filled by step() per store. */
  private readonly storeAccess: { write: true; value: Reg | undefined; valueRegno: number | undefined; stImm: number | undefined } = { write: true, value: undefined, valueRegno: undefined, stImm: undefined };
  private readonly propLiveReg = (f: number, r: number): boolean => !this.propCp!.cleaned || (this.liveRegs(this.propCp!.state, f) & (1 << r)) !== 0;
  private readonly propLiveSlot = (f: number, s: number): boolean => slotAlive(this.propCp!, f, s);

  /** A loop closed (is_state_visited's `loop`): precision propagated now, and again when the loop is done. */
  private loopHit(cp: Checkpoint, st: Path): void {
    cp.hits++;
    if (this.jmpPoints.has(st.pc)) st.histCnt = (st.histCnt ?? 0) + 1;
    this.propagateFrom(cp, st);
    this.sccs().backedge(cp, st);
    this.peakStates = Math.max(this.peakStates, this.liveStates + this.sccs().count);
  }

  /** A path ended: the checkpoints it ran through lose a live branch; evicted ones are freed at 0. */
  private endPath(st: Path): void {
    for (let c = st.cp; c; c = c.parent) {
      if (--c.branches > 0) break;
      this.sccs().exit(c);
      if (c.evicted) {
        c.evicted = false;
        if (!(this.scc?.incomplete(c) ?? false)) this.liveStates--;
      }
    }
  }

  private printInsnState(st: State): void {
    if (this.level < 1) return;
    const f = st.frames[st.frames.length - 1]!;
    const text = formatState(f, st.frames.length - 1, st.refs, this.scratch);
    if (this.resumeN === this.lines.length && this.resumeN > 0) {
      // the log was cut back to the end of the last instruction line printed (print_insn_state
      // compares positions: prev_log_pos is not moved by a cut): the state goes on that line, at
      // its column, as the instruction's own would (the pad byte left by the cut taken back)
      const k = this.resumeN - 1;
      if (this.openLines.delete(k)) this.lines[k] = this.lines[k]!.slice(0, -1);
      this.insnLineOpen = true;
    }
    this.resumeN = -1;
    if (this.insnLineOpen) {
      const last = this.lines.pop()!;
      this.lines.push(last + ' '.repeat(Math.max(1, alignment(last.length + 1))) + ';' + text);
    } else this.lines.push(`${st.pc}:${text}`);
    this.insnLineOpen = false;
    this.scratch = { all: false, regs: 0, slots: new Set() };
  }

  private scratched(): boolean {
    return this.scratch.all || this.scratch.regs !== 0 || this.scratch.slots.size > 0;
  }

  /** Explore every path from the main program's entry, or from global subprogram `sub`'s (global.ts). */
  private explore(sub = 0): void {
    const asGlobal = sub !== 0 || this.extMain;
    // do_check_common ends with free_states: a global function's walk starts with empty explored
    // lists (nothing prunes against the caller's checkpoints), while the counts behind
    // peak_states keep what they had
    if (sub !== 0 || this.explored.length === 0) this.explored = new Array<Checkpoint[] | undefined>(this.insns.length).fill(undefined);
    const entry = asGlobal ? globalEntry(this, sub) : newFrame(0, -1);
    if (!asGlobal) entry.regs[1] = pointer('ctx');
    entry.regs[10] = this.fp(0);
    const start = this.subprogs[sub]!.start;
    this.scratch = { all: true, regs: 0, slots: new Set() };
    let st: Path | undefined = newState([entry], start, start) as Path;
    st.hist = new JumpHist();
    let fromPop = false;
    this.prevLinfo = -1;
    // do_check's do_print_state at level 1: set by the first pop or return to a caller and never
    // cleared (only level 2 clears it, printing the state), so every later pruned path logs
    // "from X to Y: safe" — cut from the log when the next path is taken up, but counted in its size
    let printFrom = false;
    /** The last instruction returned from a callee: its "from X to Y" line does not scratch the state. */
    let fromExit = false;
    if (!asGlobal && this.level > 0) {
      // do_check_common: a main program with BTF has its prototype read as a global function's
      // (btf_prepare_func_args); what refuses it there is logged, and the program goes on. Only
      // with func_info: an assembly program's declared prototypes are ours, the kernel never sees them
      const fn = this.load.hasFuncInfo() ? this.load.subprogFunc(0) : undefined;
      const prepared = fn?.linkage === 'global' ? globalArgs(fn, this.type, this.load.kernelBtf, this.attach) : undefined;
      if (prepared && 'error' in prepared) this.lines.push(prepared.error);
    }
    while (st) {
      if (++this.processed > (this.opts.complexityLimit ?? LIMIT)) this.reject(st.pc, `BPF program is too large. Processed ${this.processed} insn`);
      const rerun = this.scalarForks.size !== 0 && this.scalarForks.delete(st) ? this.rerunEntry(st) : undefined;
      const cpBefore = st.cp;
      if (this.prunePoints.has(st.pc) && this.visited(st)) {
        if (this.tracer) this.tracer.pruned(st, this.prunedBy);
        if (this.level > 0) {
          if (this.level > 1 ? fromPop : (printFrom ||= fromPop)) this.lines.push('', `from ${st.prev} to ${st.pc}: safe`);
          else this.lines.push(`${st.pc}: safe`);
          this.insnLineOpen = false;
        }
        st = this.nextPath(st);
        fromPop = true;
        // a pruned path ends as an exit does (process_bpf_exit): the next path's state is all printed
        fromExit = false;
        continue;
      }
      if (rerun && st.cp !== cpBefore) {
        // a checkpoint made here: its history ends with this instruction (its last_insn_idx)
        const made = st.cp!;
        made.hist.append(rerun);
        (made as { lastIdx: number }).lastIdx = st.pc;
      }
      this.seen[st.pc] = 1;
      if (this.level > 1 && fromPop) {
        this.lines.push('', `from ${st.prev} to ${st.pc}:${formatState(st.frames[st.frames.length - 1]!, st.frames.length - 1, st.refs, { all: true, regs: 0, slots: new Set() })}`);
        this.insnLineOpen = false;
        this.scratch = { all: !fromExit, regs: 0, slots: new Set() };
      } else if (this.level === 1 && fromPop) {
        this.scratch = { all: !fromExit, regs: 0, slots: new Set() };
        printFrom = true;
      }
      fromPop = false;
      fromExit = false;
      if (this.jmpPoints.has(st.pc)) this.histNote = true;
      if (this.level > 0 && this.scratched()) this.printInsnState(st);
      if (this.level > 0) {
        if (this.level > 1 && this.lines.length >= 4096 && this.opts.logSink) this.flushLog(1);
        if (this.lineInfo) for (const l of this.sourceLine(st.pc)) this.lines.push(l);
        this.lines.push(this.insnText(st.pc));
        this.insnLineOpen = true;
        this.lastInsnN = this.lines.length;
        this.lastInsnLen = this.lines[this.lines.length - 1]!.length;
      }
      const cls = this.insns[st.pc]!.code & 7;
      if (cls === 5 || cls === 6) this.jmpsProcessed++;
      const at = st.pc;
      const depth = st.frames.length - 1;
      this.cur = st;
      this.stackNoteFrame = -1;
      this.linkedNote = undefined;
      this.jmpStackNote = 0;
      this.pushedN = 0;
      this.scalarFork = undefined;
      const cb = this.insns[at]!.code === 0x95 && st.frames[depth]!.callbackRet !== undefined;
      if (this.tracer) this.tracer.step(st, this);
      this.stackLive.begin(st, at);
      const next = this.step(st) as Path | null;
      this.stackLive.commit();
      if (this.tracer) this.tracer.stepped(st, at, depth, next, this.pushedNow.slice(0, this.pushedN));
      const noteFrame = this.stackNoteFrame as number;
      const linked = this.linkedNote as number[] | undefined;
      const jmpStack = this.jmpStackNote as number;
      // the entry's notes as bits (jmphist.ts): no object per entry (issue 25)
      const note = (noteFrame >= 0 ? noteSpill(this.stackNoteSlot, noteFrame) : 0) | (cb ? NOTE_CB : 0) | (jmpStack & 1 ? NOTE_SRC_STACK : 0) | (jmpStack & 2 ? NOTE_DST_STACK : 0);
      st.hist.add(at, depth, note, linked);
      const counted = this.histNote || linked !== undefined || jmpStack !== 0;
      if (counted) st.histCnt = (st.histCnt ?? 0) + 1;
      for (let k = 0; k < this.pushedN; k++) {
        // a state queued by maybe_fork_scalars runs this instruction again: its history has this
        // instruction's entry too until it is taken up (see rerunEntry)
        const p = this.pushedNow[k]!;
        if (p === st) continue;
        p.hist.add(at, depth, note, linked);
        p.histCnt = st.histCnt ?? 0;
      }
      if (next && next !== st) (next as Path).histCnt = st.histCnt ?? 0;
      this.histNote = false;
      if (next === null) {
        st = this.nextPath(st);
        fromPop = true;
        continue;
      }
      if (this.insns[at]!.code === 0x95) fromPop = fromExit = true; // a return to the caller prints "from X to Y"
      st = next;
    }
    // level 1: a function that verifies leaves nothing in the log (do_check_common resets it to
    // the start), so what remains is the failing path, or only the stats line
    if (this.level === 1) this.logReset({ n: 0, len: 0, open: false });
  }

  /** The program's BTF line info (find_linfo searches it), when there is any. */
  private readonly lineInfo: readonly LineInfo[] | undefined;
  /** The kernel's prev_linfo: the index of the last line-info record printed, -1 for none (reset per function verified). */
  private prevLinfo = -1;

  sourceLine(pc: number, prefix = '; '): string[] {
    const li = this.lineInfo;
    if (!li || this.level < 1 || pc < 0 || pc >= this.insns.length) return [];
    // find_linfo: the rightmost record at or before pc
    let l = 0;
    let r = li.length - 1;
    while (l < r) {
      const m = l + ((r - l + 1) >> 1);
      if (li[m]!.insnOff <= pc) l = m;
      else r = m - 1;
    }
    if (l === this.prevLinfo) return [];
    const cur = li[l]!;
    const prev = this.prevLinfo >= 0 ? li[this.prevLinfo] : undefined;
    // the same file and line again (another column): not printed, and not taken as the last one
    if (prev && prev.fileNameOff === cur.fileNameOff && prev.line === cur.line) return [];
    const btf = this.load.progBtf();
    if (!btf) return [];
    let src: string;
    let file: string;
    try {
      src = btfString(btf, cur.lineOff);
      file = btfString(btf, cur.fileNameOff);
    } catch {
      return [];
    }
    this.prevLinfo = l;
    // ltrim (isspace), and the file name without its directories
    return [`${prefix}${src.replace(/^[ \t\n\v\f\r]+/, '')} @ ${file.slice(file.lastIndexOf('/') + 1)}:${cur.line}`];
  }

  private readonly texts = new Map<number, string>();
  /** How the log prints an instruction: the kernel's syntax, kfuncs by name (insnText, the live-registers table). */
  private readonly kernelSyntax = {
    syntax: 'kernel' as const,
    kfuncName: (_insn: Insn, at: number): string | undefined => this.kfuncAt.get(at),
    ldImm64Value: (i: Insn, at: number): bigint | undefined => (this.opts.mapAddresses && i.src !== 0 ? mapLoadValue(i, this.insns[at + 1], mapNameAt(this.program, this.maps, at), this.opts.mapAddresses) : undefined),
  };
  /** `pc: (code) insn` as the kernel prints it (cached: loops print the same lines again). */
  insnText(pc: number): string {
    let t = this.texts.get(pc);
    if (t === undefined) this.texts.set(pc, (t = `${pc}: ${formatInsn(this.insns, pc, this.kernelSyntax)}`));
    return t;
  }

  private nextPath(done: Path): Path | undefined {
    this.endPath(done);
    // process_bpf_exit: the branch counts first (their SCC lines), then the stack liveness of the
    // finished path's call chain, then pop_stack
    this.stackLive.update(done);
    const next = this.pending.pop();
    if (next && this.level === 1) this.logReset(this.pendingLog.pop()!);
    return next;
  }

  /**
   * Where the log ends now, as the kernel's log position: `n` lines, the last `len` characters
   * long, `open` when it is an instruction line a state may still be appended to (its newline
   * then removed).
   */
  private logMark(): LogMark {
    const n = this.lines.length;
    return { n, len: n ? this.lines[n - 1]!.length : 0, open: this.insnLineOpen };
  }

  /**
   * Cut the log back to `m` (level 1: a path's log replaces the one before it, from the point
   * where its branch was queued). In the kernel the cut is by bytes: when the line at the mark
   * had a state appended since, the byte at the cut is no longer its newline but the first
   * space before the ';', so the line keeps that space and the next line runs on from it.
   */
  private logReset(m: LogMark): void {
    this.logBuf?.beforeCut(this.lines, this.openLines, m.n);
    if (m.n > 0) {
      const last = this.lines[m.n - 1]!;
      if (m.open && last.length > m.len) {
        this.lines[m.n - 1] = `${last.slice(0, m.len)} `;
        this.openLines.add(m.n - 1);
      }
    }
    // (by the lines cut, not the whole set: this runs at every path taken up)
    if (this.openLines.size) for (let k = m.n; k < this.lines.length; k++) this.openLines.delete(k);
    this.lines.length = m.n;
    this.insnLineOpen = false;
    this.logBuf?.afterCut(this.lines, this.openLines);
    // the cut ends the log where the last instruction line printed ended (its branch queued right
    // after it was printed, no instruction printed since): the next state print goes on that line
    if (m.n < this.lastInsnN) this.lastInsnN = -1;
    this.resumeN = m.n > 0 && m.n === this.lastInsnN && m.len === this.lastInsnLen ? m.n : -1;
  }

  opAt(pc: number): Op {
    return (this.ops[pc] ??= decodeOp(this.insns[pc]!));
  }

  /** Execute one instruction on `st`; returns the state to continue with, or null at the end of a path. */
  private step(st: Path): State | null {
    const pc = st.pc;
    const i = this.insns[pc]!;
    const f = st.frames[st.frames.length - 1]!;
    const op = this.opAt(pc);
    st.prev = pc;
    if (this.walkErrors !== undefined) {
      const err = this.walkErrors.get(pc);
      if (err !== undefined) this.reject(pc, err);
    }
    switch (op.kind) {
      case 'alu':
        if (i.code === 0xbf && i.off === 1) addrSpaceCast(this, f, i, pc);
        else checkAlu(this, f, i, op, pc);
        st.pc = pc + 1;
        return st;
      case 'endian': {
        const r = this.readReg(f, i.dst, pc);
        this.writeReg(f, i.dst, pc);
        // a swapped or truncated value is no longer linked to its copies; le64 (no operation on a
        // little-endian host) keeps its links (scalar_byte_swap)
        const swapped = r.type === 'scalar' ? byteSwap(r, op.order, op.bits) : UNKNOWN;
        f.regs[i.dst] = r.type === 'scalar' && (op.order !== 'le' || op.bits !== 64) ? unlinked(swapped) : swapped;
        st.pc = pc + 1;
        return st;
      }
      case 'ld_imm64':
        this.ldImm64(f, i, op.pseudo, pc);
        st.pc = pc + 2;
        return st;
      case 'ldx': {
        if (i.src === 11) return this.stackArgLoad(st, f, i, pc);
        const base = this.readReg(f, i.src, pc);
        this.writeReg(f, i.dst, pc);
        f.regs[i.dst] = memAccess(this, st, f, pc, i.src, base, i.off, op.size, op.signed ? LDX_SIGNED : LDX)!;
        this.saveAuxPtrType(pc, base, true);
        st.pc = pc + 1;
        return st;
      }
      case 'st':
      case 'stx': {
        const value = op.kind === 'stx' ? this.readReg(f, i.src, pc) : undefined;
        if (i.dst === 11) return this.stackArgStore(st, f, i, pc, value ?? known(BigInt(i.imm)));
        const base = this.readReg(f, i.dst, pc);
        // one Access object per verifier, filled per store (memAccess keeps none of it), instead
        // of a literal and a spread per store (issue 25)
        const a = this.storeAccess;
        a.value = value;
        a.valueRegno = value ? i.src : undefined;
        a.stImm = op.kind === 'st' ? i.imm : undefined;
        memAccess(this, st, f, pc, i.dst, base, i.off, op.size, a);
        this.saveAuxPtrType(pc, base, false);
        st.pc = pc + 1;
        return st;
      }
      case 'atomic':
        this.atomic(st, f, i, op, pc);
        st.pc = pc + 1;
        return st;
      case 'jmp':
        return this.branch(st, f, i, op, pc);
      case 'gotol':
        st.pc = pc + i.imm + 1;
        return st;
      case 'may_goto': {
        // check_cond_jmp_op: the fall-through is queued one may_goto deeper (widened against
        // this loop's earlier visit), and the path goes on at the jump target
        const other = this.fork(st);
        other.prev = pc;
        other.pc = pc + 1;
        other.mayGotoDepth = (st.mayGotoDepth ?? 0) + 1;
        this.widenAtIterNext(st, other, pc);
        this.push(other);
        st.pc = pc + i.off + 1;
        return st;
      }
      case 'call':
        checkCallWhileLocked(this, st, pc, op.target, i.imm, op.target === 'kfunc' ? this.kfuncNameAt(pc) : undefined);
        if (op.target === 'subprog') {
          const depth = st.frames.length;
          const next = subprogCall(this, st, f, i, pc);
          // bpf_reset_live_stack_callchain: the call's writes are not committed (none are made)
          if (next.frames.length > depth) this.stackLive.resetChain();
          // entering a callee prints its whole state (a global function's call does not enter it)
          if (next.frames.length > depth) this.scratch = { all: true, regs: 0, slots: new Set() };
          return next;
        }
        if (op.target === 'kfunc') return kfuncCall(this, st, f, i, pc);
        return helperCall(this, st, f, i, pc, this.attach);
      case 'exit':
        return exitInsn(this, st, f, pc, this.attach);
      case 'ld_abs':
      case 'ld_ind':
        return this.ldAbs(st, f, i, op.kind, pc);
      default:
        return this.reject(pc, `unknown opcode ${i.code.toString(16).padStart(2, '0')}`);
    }
  }

  /** The name of the kfunc a call instruction calls (its relocation, else its BTF id in the kernel's BTF). */
  kfuncNameAt(pc: number): string | undefined {
    return this.kfuncAt.get(pc) ?? kfuncFromBtf(this.load, this.insns[pc]!.imm, undefined)?.name;
  }

  private ldImm64(f: Frame, i: Insn, pseudo: number, pc: number): void {
    this.writeReg(f, i.dst, pc);
    const hi = this.insns[pc + 1]!;
    if (pseudo === 0) {
      f.regs[i.dst] = known((BigInt(hi.imm >>> 0) << 32n) | BigInt(i.imm >>> 0));
      return;
    }
    // a function's or a map's pointer depends on the instruction only: made the first time the
    // instruction runs, then the same register object (registers are never changed in place; a
    // wide register and its extra fields per run were ~1.5% of what bpf_lxc.o allocates; issue 25)
    const made = this.ldImmRegs.get(pc);
    if (made !== undefined) {
      f.regs[i.dst] = made;
      return;
    }
    if (pseudo === 4) {
      if (!this.hasFuncInfo) this.reject(pc, 'missing btf func_info');
      // a loop, not findIndex's closure: one capturing `pc` and `i` made V8 allocate this
      // method's context on every ld_imm64 (issue 25)
      let sub = -1;
      for (let k = 0; k < this.subprogs.length; k++)
        if (this.subprogs[k]!.start === pc + i.imm + 1) {
          sub = k;
          break;
        }
      if (isGlobal(this, sub)) this.reject(pc, 'callback function not static');
      f.regs[i.dst] = pointer('func', { subprog: sub });
      this.ldImmRegs.set(pc, f.regs[i.dst]!);
      return;
    }
    if (pseudo === 1 || pseudo === 5 || pseudo === 2 || pseudo === 6) {
      const map = this.mapOf(pc, i);
      if (!map) this.reject(pc, `fd ${i.imm} is not pointing to valid bpf_map`);
      // an arena's value (an `.addr_space.1` global) is its user-space address: a scalar (arena.ts)
      if ((pseudo === 2 || pseudo === 6) && map.type === 'arena') f.regs[i.dst] = UNKNOWN;
      else f.regs[i.dst] = pseudo === 1 || pseudo === 5 ? pointer('map_ptr', { map }) : pointer('map_value', { map, off: hi.imm });
      this.ldImmRegs.set(pc, f.regs[i.dst]!);
      return;
    }
    // BPF_PSEUDO_BTF_ID: a kernel variable or function named by its BTF id (ksym.ts)
    f.regs[i.dst] = (pseudo === 3 ? ksymReg(this, pc, i.imm) : undefined) ?? UNKNOWN;
  }

  private ldAbs(st: State, f: Frame, i: Insn, kind: 'ld_abs' | 'ld_ind', pc: number): State {
    const ctx = this.readReg(f, 6, pc);
    checkResourceLeak(this, st, pc, 'BPF_LD_[ABS|IND]', true);
    if (ctx.type !== 'ctx') this.reject(pc, 'at the time of BPF_LD_ABS|IND R6 != pointer to skb');
    if (kind === 'ld_ind') this.readReg(f, i.src, pc);
    for (let r = 0; r <= 5; r++) {
      f.regs[r] = NOT_INIT;
      this.scratchReg(r);
    }
    f.regs[0] = UNKNOWN;
    st.pc = pc + 1;
    if (st.frames.length === 1) return st;
    // in a subprogram, a failed load returns from it with R0 = 0 (bpf_gen_ld_abs's hidden exit):
    // that path first, the one that loaded queued at the next instruction (check_ld_abs)
    const loaded = this.fork(st as Path);
    loaded.prev = pc;
    this.push(loaded);
    f.regs[0] = known(0n);
    return exitInsn(this, st, f, pc, this.attach) ?? st;
  }

  private atomic(st: State, f: Frame, i: Insn, op: { op: string; size: 1 | 2 | 4 | 8; fetch: boolean }, pc: number): void {
    if (op.op === 'load_acquire') {
      const base = this.readReg(f, i.src, pc);
      this.writeReg(f, i.dst, pc);
      if (base.type === 'ctx' || base.type === 'pkt' || base.type === 'pkt_meta') this.reject(pc, `BPF_ATOMIC loads from R${i.src} ${base.type} is not allowed`);
      f.regs[i.dst] = memAccess(this, st, f, pc, i.src, base, i.off, op.size, { write: false, intoReg: true, strictOnce: true })!;
      return;
    }
    const value = this.readReg(f, i.src, pc);
    const base = this.readReg(f, i.dst, pc);
    if (op.op === 'store_release') {
      if (base.type === 'ctx' || base.type === 'pkt' || base.type === 'pkt_meta') this.reject(pc, `BPF_ATOMIC stores into R${i.dst} ${base.type} is not allowed`);
      memAccess(this, st, f, pc, i.dst, base, i.off, op.size, { write: true, value, valueRegno: i.src, strictOnce: true });
      return;
    }
    if (op.op === 'cmpxchg') this.readReg(f, 0, pc);
    if (base.type === 'ctx' || base.type === 'pkt' || base.type === 'pkt_meta' || (base.type === 'arena' && !arenaAtomicOk(op.op, op.fetch))) this.reject(pc, `BPF_ATOMIC stores into R${i.dst} ${base.type} is not allowed`);
    const load = op.op === 'cmpxchg' ? 0 : op.fetch || op.op === 'xchg' ? i.src : -1;
    if (load >= 0) this.writeReg(f, load, pc);
    // check_reg_arg(DST_OP) has made the fetched-into register unknown before the accesses: when
    // it is the address register too, they go through that unknown scalar (misaligned first)
    const addr = load === i.dst ? UNKNOWN : base;
    memAccess(this, st, f, pc, i.dst, addr, i.off, op.size, { write: false, strictOnce: true });
    const old = load >= 0 ? memAccess(this, st, f, pc, i.dst, addr, i.off, op.size, { write: false, intoReg: true, strictOnce: true }) : undefined;
    // check_atomic_rmw remembers the pointer type of arena accesses only (for BPF_PROBE_ATOMIC)
    if (addr.type === 'arena') this.saveAuxPtrType(pc, addr, false);
    memAccess(this, st, f, pc, i.dst, addr, i.off, op.size, { write: true, strictOnce: true });
    if (load >= 0) f.regs[load] = old && old.type === 'scalar' ? (op.size === 4 ? zext(old) : old) : UNKNOWN;
  }

  /** The state and instruction of the conditional jump being split, for the two callbacks below. */
  private branchSt: State | undefined;
  private branchPc = 0;
  /** splitBranch's callbacks, made once (not two closures per conditional jump; issue 25). */
  private readonly branchLive = (fr: number, r: number): boolean => (this.liveRegs(this.branchSt!, fr) & (1 << r)) !== 0;
  // verifier_bug prints at any log level; BPF_F_TEST_REG_INVARIANTS makes it fatal (-EFAULT)
  private readonly branchBug = (line: string): void => (this.progFlags & PROG_FLAGS.test_reg_invariants ? this.reject(this.branchPc, line) : this.log2(line));

  private branch(st: Path, f: Frame, i: Insn, op: { cond: string; is64: boolean; useReg: boolean }, pc: number): Path {
    const target = pc + i.off + 1;
    if (op.cond === 'ja') {
      st.pc = target;
      return st;
    }
    const cond = op.cond as Exclude<typeof op.cond, 'ja'> as Parameters<typeof branchTaken>[2];
    const is32 = !op.is64;
    // the kernel reads the destination first (6.18's check_cond_jmp_op; 6.12 read the source first)
    const a = this.readReg(f, i.dst, pc);
    const b = op.useReg ? this.readReg(f, i.src, pc) : knownImm(i.imm);
    // stack pointers compared are recorded in the jump history, which keeps them out of precision
    this.jmpStackNote = (op.useReg && b.type === 'fp' ? 1 : 0) | (a.type === 'fp' ? 2 : 0);
    const pred = branchTaken(a, b, cond, is32);
    if (pred >= 0) {
      if (a.type === 'scalar') this.precise(i.dst);
      if (op.useReg && b.type === 'scalar') this.precise(i.src);
    }
    if (pred === 1) {
      this.printInsnState(st);
      st.pc = target;
      return st;
    }
    if (pred === 0) {
      this.printInsnState(st);
      st.pc = pc + 1;
      return st;
    }
    this.collectLinked(st, a, op.useReg ? b : undefined);
    this.branchSt = st;
    this.branchPc = pc;
    const other = this.fork(st);
    other.pc = target;
    other.prev = pc;
    splitBranch(
      i,
      cond,
      is32,
      op.useReg,
      st,
      other,
      this.branchLive,
      this.branchBug,
    );
    this.push(other);
    this.printInsnState(st);
    st.pc = pc + 1;
    return st;
  }

  /**
   * collect_linked_regs: live scalars sharing the compared registers' ids, recorded in the jump
   * history; the source's id is collected, then the destination's, as the kernel does, so two
   * registers of one id are listed twice. Past LINKED_REGS_MAX (6) entries a scalar loses its id
   * (in both branches: this runs before the fork), which shows in the log (pwru's pcap stubs
   * compare two copies of one value that eight registers and slots share).
   */
  private collectLinked(st: Path, a: Reg, b: Reg | undefined): void {
    // the source's id, then the destination's (no arrays made for a jump between unlinked registers)
    const idB = b !== undefined && b.type === 'scalar' ? (b.id ?? 0) : 0;
    const idA = a.type === 'scalar' ? (a.id ?? 0) : 0;
    if (!idA && !idB) return;
    const out: number[] = [];
    for (let i = 0; i < 2; i++) {
      const id = i === 0 ? idB : idA;
      if (!id) continue;
      for (let fr = st.frames.length - 1; fr >= 0; fr--) {
        const f = st.frames[fr]!;
        const live = this.liveRegs(st, fr);
        for (let r = 0; r < 10; r++) {
          const reg = f.regs[r]!;
          if (!(live & (1 << r)) || reg.type !== 'scalar' || reg.id !== id) continue;
          if (out.length < LINKED_REGS_MAX) out.push(linkedWord(fr, r, false));
          else f.regs[r] = withoutId(reg);
        }
        for (let s = 0; s < 64; s++) {
          const reg = f.spilled[s];
          if (f.slotTypes[s * 8 + 7] !== 1 || reg?.type !== 'scalar' || reg.id !== id) continue;
          if (out.length < LINKED_REGS_MAX) out.push(linkedWord(fr, s, true));
          else setSpilled(f, s, withoutId(reg));
        }
      }
    }
    if (out.length > 1) this.linkedNote = out;
  }

  /** A copy of the path to explore later, through the same checkpoints. */
  private fork(st: Path): Path {
    const other = cloneState(st) as Path;
    if (st.cp) other.cp = st.cp;
    other.hist = st.hist.slice();
    other.histCnt = st.histCnt ?? 0;
    return other;
  }

  // ---- stack arguments (stack-args §3-§4) ----

  private stackArgStore(st: State, f: Frame, i: Insn, pc: number, value: Reg): State {
    const k = -i.off / 8;
    if (k > 7) this.reject(pc, `stack arg write offset ${i.off} exceeds max 7 stack args`);
    setOut(f, k - 1, value);
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
    this.writeReg(f, i.dst, pc);
    f.regs[i.dst] = caller.out[k - 1] ?? UNKNOWN;
    st.pc = pc + 1;
    return st;
  }

  private afterChecks(): void {
    this.subprogs.forEach((_s, k) => {
      const w = this.slotsWritten[k]!;
      const r = this.slotsRequired[k]!;
      if (w > r) this.reject(this.subprogs[k]!.start, `func#${k} writes ${w} stack arg slots, but calls only require ${r}`);
    });
    if (this.tailCallReached && this.usesR11) this.reject(0, 'tail_call is not allowed in a program that uses stack arguments');
    if (this.fastcall) this.fastcallNops = removeFastcallSpillsFills(this.fastcall, this.depth);
    this.maxStackDepth();
  }

  /**
   * get_call_summary: a helper's parameter count and void return from its prototype (inlined:
   * bpf_get_smp_processor_id under the x86-64 JIT, verifier_inlines_helper_call), a kfunc's from
   * its BTF (inlined: the kfuncs marked KF_FASTCALL, bpf_cast_to_kern_ctx and bpf_rdonly_cast).
   */
  private callSummary(pc: number): CallSummary | undefined {
    const i = this.insns[pc]!;
    if (i.src === 0) {
      const h = helperProto(i.imm, this.type, this.attach);
      return h && { params: h.args.length, isVoid: h.ret.base === 'void', fastcall: i.imm === BPF_FUNC_get_smp_processor_id && this.opts.jit !== false };
    }
    if (i.src !== 2) return undefined;
    const name = this.kfuncAt.get(pc);
    const fn = kfuncFromBtf(this.load, i.imm, name);
    if (!fn || !this.kfuncSummarised(fn)) return undefined;
    return { params: fn.params.length, isVoid: fn.ret.kind === 'void', fastcall: kfuncInfo(fn.name)?.flags.includes('fastcall') === true };
  }

  /**
   * get_call_summary's fetch_kfunc_meta: a kfunc outside the sets this program's type (and
   * attach type, through the sets' filters) may call has no summary; its call is refused later.
   */
  private kfuncSummarised(fn: BtfFunc): boolean {
    return fn.notKfunc !== true && kfuncPermitted(kfuncInfo(fn.name) ?? { flags: [] }, this.type, this.attach);
  }

  /**
   * check_max_stack_depth: the combined stack of every chain of calls, each frame rounded up to
   * 16 bytes (JIT), from the main program and from each callback that runs on its own, the last
   * subprogram first; on the way, the exception rules (exceptions.ts: no bpf_throw reached from
   * a callback, no call of the exception callback).
   */
  private maxStackDepth(): void {
    const round = (d: number): number => Math.ceil(d / 16) * 16;
    const marks = { isCb: this.isCb, isAsyncCb: this.isAsyncCb, exceptionCb: this.exceptionCb };
    const walk = (sub: number, callers: number[], total: number): void => {
      const frame = callers.length;
      const depth = total + round(this.depth[sub]!);
      if (depth > STACK) this.reject(this.subprogs[sub]!.start, `combined stack size of ${frame + 1} calls is ${depth}. Too large`);
      const s = this.subprogs[sub]!;
      // no call anywhere: nothing in the loop below (one test, not a look at every instruction)
      if (!this.callLike) return;
      for (let pc = s.start; pc < s.end; pc++) {
        const i = this.insns[pc]!;
        const throws = i.code === 0x85 && i.src === 2 && i.off === 0 && this.kfuncNameAt(pc) === 'bpf_throw';
        const direct = i.code === 0x85 && i.src === 1;
        const callee = direct || (i.code === 0x18 && i.src === 4) ? pc + i.imm + 1 : -1;
        const k = callee < 0 ? -1 : this.subprogs.findIndex((x) => x.start === callee);
        const at = pc;
        if (i.code === 0x18) pc++;
        // neither a throw nor a call of a subprogram: stackWalkCheck skips it (no object per instruction)
        if (!throws && k < 0) continue;
        if (stackWalkCheck(this, marks, at, sub, callers, { throws, ...(k >= 0 ? { callee: k } : {}), direct }) === 'skip') continue;
        // a chain of calls deeper than MAX_CALL_FRAMES (recursion, bounded or not, gets there)
        if (frame + 1 >= 8) this.reject(at, `the call stack of ${frame + 1} frames is too deep !`);
        walk(k, [...callers, sub], depth);
      }
    };
    for (let k = this.subprogs.length - 1; k >= 0; k--) if (k === 0 || this.isAsyncCb.has(k)) walk(k, [], 0);
  }
}

export { typeName } from './print.js';

/** Two states in the same chain of calls (the kernel's same_callsites). */
/** bpf_get_smp_processor_id: allow_fastcall, and inlined by the verifier when JITed on x86-64. */
const BPF_FUNC_get_smp_processor_id = 8;
/** kernel/bpf/helpers.c: the kfuncs registered with KF_FASTCALL. */
/** bpf_timer_set_callback: its callback runs later, as a path of its own. */
const BPF_FUNC_timer_set_callback = 170;
/** Helpers that call a callback before they return: 164, 180, 181, 209. */
const SYNC_CALLBACK_HELPERS: ReadonlySet<number> = new Set([164, 180, 181, 209]);

function sameCallsites(a: State, b: State): boolean {
  // a loop, not every() with a callback (a closure made per checkpoint looked at; issue 25)
  const depth = a.frames.length;
  if (depth !== b.frames.length) return false;
  for (let k = 0; k < depth; k++) if (a.frames[k]!.callsite !== b.frames[k]!.callsite) return false;
  return true;
}
