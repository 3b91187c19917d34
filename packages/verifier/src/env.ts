/**
 * What the checkers share with the verifier loop (the kernel's `struct bpf_verifier_env`):
 * the program, the id generator, the scratch marks the log prints, and rejection.
 */
import { continuesMessage, type AnalysedSubprog, type AttachType, type Insn, type MapDef, type ProgType } from '@bpf/isa';
import type { LoadInfo } from './btfproto.js';
import type { Fastcall } from './fastcall.js';
import type { Frame, Reg, State } from './state.js';
import type { StackLiveness } from './stacklive.js';

/** A rejection: the log lines the kernel prints, the last message being the error. */
export class VerifierReject extends Error {
  constructor(
    readonly insn: number,
    readonly lines: readonly string[],
    /** The kernel prints the last line without a newline: the stats line runs into it. */
    readonly open = false,
  ) {
    super(lines.findLast((l) => !continuesMessage(l)) ?? lines[lines.length - 1]);
    this.name = 'VerifierReject';
  }
}

/** The furthest end of a buffer access: what attaching the program checks against the real buffer's size. */
export interface MaxAccess {
  rdonly: number;
  rdwr: number;
  tp: number;
}

export interface Env {
  readonly insns: readonly Insn[];
  readonly subprogs: readonly AnalysedSubprog[];
  readonly maps: readonly MapDef[];
  readonly type: ProgType;
  /** The program's expected_attach_type (VerifyOptions.attachType, else the program's own). */
  readonly attach: AttachType | undefined;
  /** BPF_F_* load flags (VerifyOptions.flags): BPF_F_STRICT_ALIGNMENT, BPF_F_ANY_ALIGNMENT, ... */
  readonly progFlags: number;
  /** The kernel's nr_cpu_ids (VerifyOptions.nrCpuIds), when known. */
  readonly nrCpuIds?: number | undefined;
  /** License, sleepable, BTF of the program and of the kernel (btfproto.ts). */
  readonly load: LoadInfo;
  /** Whether the program was loaded with BTF func_info. */
  readonly hasFuncInfo: boolean;
  /** Deepest stack byte each subprogram touches. */
  readonly depth: number[];
  /** bpf_fastcall patterns (fastcall.ts): stack accesses check their contract. */
  readonly fastcall?: Fastcall | undefined;
  /** The furthest byte read or written through each kind of buffer (prog->aux->max_rdonly_access, max_rdwr_access, max_tp_access). */
  readonly maxAccess: MaxAccess;
  nextId(): number;
  /** The name of the kfunc the call instruction at `pc` calls, if it is one. */
  kfuncNameAt?(pc: number): string | undefined;
  reject(pc: number, ...lines: string[]): never;
  /**
   * verbose_linfo: the source line of `pc` from the program's BTF line info, `prefix` first,
   * as a log line — or none without line info, at level 0, or when the last source line printed
   * is the same file and line. Once returned it counts as printed.
   */
  sourceLine(pc: number, prefix?: string): string[];
  /** Log lines at level 2 (e.g. the caller/callee states at a call). */
  log2(line: string): void;
  /** A log message the kernel prints without a newline: what is printed next continues its line. */
  logOpen(text: string): void;
  readonly level: number;
  scratchReg(r: number): void;
  scratchSlot(slot: number): void;
  /** Every register and stack slot is printed at the next state line (mark_verifier_state_scratched). */
  scratchAll(): void;
  /** The current frame's state text for the log. */
  formatFrame(st: State, f: Frame, all: boolean): string;
  /** Read a register: `R<n> !read_ok` when it was never written. */
  readReg(f: Frame, r: number, pc: number): Reg;
  /** Mark a register written (scratch for the log); rejects writes to the frame pointer. */
  writeReg(f: Frame, r: number, pc: number): void;
  /** A safety decision depends on the value of register `r` of the top frame (mark_chain_precision). */
  precise(r: number): void;
  /** The same for a spilled stack slot of frame `frame`. */
  preciseSlot(frame: number, slot: number): void;
  /** The instruction being run spilled to or filled from this stack slot. */
  noteStackAccess(frame: number, slot: number): void;
  /**
   * maybe_fork_scalars: before `dst &= K` or `dst |= K`, a destination that is -1 or 0 (as a
   * 64-bit value, else as a 32-bit one) goes on as -1 while the instruction is queued again with
   * it 0. Returns the destination to go on with.
   */
  forkScalars?(regno: number, dst: Reg): Reg;
  /** A 64-bit ALU operation on an arena pointer at `pc`: narrowed to 32 bits in the xlated program (insn_aux_data.needs_zext). */
  noteArenaAlu64?(pc: number): void;
  /** The stack reads and whole-slot writes of the running instruction are recorded here (liveness.c marks). */
  readonly stackLive?: StackLiveness;
  /**
   * false until a bpf_dynptr_slice() result that may be a stack buffer is made (kfuncs.ts): until
   * then no register has one, and a stack write has no buffer to look for (dynptrStackWrite).
   * An Env without it (tests) is looked through at every write.
   */
  sliceBuf?: boolean;
}

/** The kernel's bpf_alu_string. */
export const ALU_STR: Readonly<Record<string, string>> = {
  add: '+=',
  sub: '-=',
  mul: '*=',
  div: '/=',
  sdiv: '/=',
  or: '|=',
  and: '&=',
  lsh: '<<=',
  rsh: '>>=',
  neg: 'neg',
  mod: '%=',
  smod: '%=',
  xor: '^=',
  mov: '=',
  movsx: '=',
  arsh: 's>>=',
};
