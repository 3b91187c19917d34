/**
 * Abstract state: register states per frame, stack slots, and the outgoing stack-argument
 * slots of spec/stack-args.md §4 (`stack_arg_regs`, `no_stack_arg_load`).
 */
import type { MapDef } from '@bpf/isa';

export type RegType =
  | 'not_init'
  | 'scalar'
  | 'ctx'
  | 'fp'
  | 'map_ptr'
  | 'map_value'
  | 'map_value_or_null'
  | 'pkt'
  | 'pkt_end'
  | 'pkt_meta';

export interface Reg {
  readonly type: RegType;
  /** Fixed offset of a pointer. */
  readonly off: number;
  /** Unsigned and signed 64-bit bounds of a scalar (or of a pointer's variable offset). */
  readonly umin: bigint;
  readonly umax: bigint;
  readonly smin: bigint;
  readonly smax: bigint;
  /** Frame a stack pointer points into. */
  readonly frame?: number;
  readonly map?: MapDef;
  /** Id shared by copies of a nullable pointer, for null-check propagation. */
  readonly id?: number;
  /** Bytes known to be in bounds after a packet pointer (from a comparison with pkt_end). */
  readonly range?: number;
}

const U64_MAX = 0xffffffffffffffffn;
const S64_MIN = -0x8000000000000000n;
const S64_MAX = 0x7fffffffffffffffn;

export const NOT_INIT: Reg = { type: 'not_init', off: 0, umin: 0n, umax: U64_MAX, smin: S64_MIN, smax: S64_MAX };
export const UNKNOWN: Reg = { type: 'scalar', off: 0, umin: 0n, umax: U64_MAX, smin: S64_MIN, smax: S64_MAX };

export function constant(v: bigint): Reg {
  const u = BigInt.asUintN(64, v);
  const s = BigInt.asIntN(64, v);
  return { type: 'scalar', off: 0, umin: u, umax: u, smin: s, smax: s };
}

/** A scalar from unsigned bounds, with the signed ones derived. */
export function urange(umin: bigint, umax: bigint): Reg {
  const signedOk = umax <= S64_MAX || umin > S64_MAX;
  return {
    type: 'scalar',
    off: 0,
    umin,
    umax,
    smin: signedOk ? BigInt.asIntN(64, umin) : S64_MIN,
    smax: signedOk ? BigInt.asIntN(64, umax) : S64_MAX,
  };
}

export const isConst = (r: Reg): boolean => r.type === 'scalar' && r.umin === r.umax;
export const isPtr = (r: Reg): boolean => r.type !== 'scalar' && r.type !== 'not_init';

export type Slot = { readonly kind: 'invalid' } | { readonly kind: 'misc' } | { readonly kind: 'spill'; readonly reg: Reg };

export interface Frame {
  readonly regs: Reg[];
  /** 64 slots of 8 bytes: slot k covers fp-8(k+1) .. fp-8k-1; a byte map for partial writes. */
  readonly stack: Slot[];
  readonly stackBytes: Uint8Array;
  /** Known byte values of the stack (-1 unknown), for constant map keys. */
  readonly stackValues: Int16Array;
  /** Outgoing stack-argument slots (arguments 6..12). */
  readonly out: (Reg | undefined)[];
  noStackArgLoad: boolean;
  readonly subprog: number;
  readonly callsite: number;
}

export function newFrame(subprog: number, callsite: number): Frame {
  return {
    regs: Array.from({ length: 11 }, () => NOT_INIT),
    stack: Array.from({ length: 64 }, () => ({ kind: 'invalid' }) as Slot),
    stackBytes: new Uint8Array(512),
    stackValues: new Int16Array(512).fill(-1),
    out: new Array<Reg | undefined>(7).fill(undefined),
    noStackArgLoad: false,
    subprog,
    callsite,
  };
}

export function cloneFrame(f: Frame): Frame {
  return { ...f, regs: f.regs.slice(), stack: f.stack.slice(), stackBytes: f.stackBytes.slice(), stackValues: f.stackValues.slice(), out: f.out.slice() };
}

export interface State {
  frames: Frame[];
  /** Instruction to run next. */
  pc: number;
}

export const cloneState = (s: State): State => ({ frames: s.frames.map(cloneFrame), pc: s.pc });

/** A key that is equal for equal states (used to prune paths that reach a point twice). */
export function stateKey(s: State): string {
  const reg = (r: Reg | undefined): string =>
    r === undefined ? '_' : r.type === 'not_init' ? '.' : `${r.type}:${r.off}:${r.umin}:${r.umax}:${r.smin}:${r.smax}:${r.frame ?? ''}:${r.map?.name ?? ''}:${r.id ?? ''}:${r.range ?? ''}`;
  return s.frames
    .map((f) => `${f.subprog}@${f.callsite}|${f.regs.map(reg).join(',')}|${f.stack.map((x) => (x.kind === 'spill' ? `s(${reg(x.reg)})` : x.kind[0])).join('')}|${f.out.map(reg).join(',')}|${f.noStackArgLoad ? 1 : 0}`)
    .join('#');
}
