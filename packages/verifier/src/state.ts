/**
 * Abstract state (include/linux/bpf_verifier.h): register states per frame with the kernel's
 * scalar domain (a tnum plus signed/unsigned 64- and 32-bit bounds), stack slots byte by byte
 * (`slot_type`) with spilled registers, acquired references, and the outgoing stack-argument
 * slots of apps/docs/stack-args.md §4 (`stack_arg_regs`, `no_stack_arg_load`).
 */
import type { MapDef } from '@bpf/isa';
import { JumpHist } from './jmphist.js';
import { lowU32, TNUM_UNKNOWN, tnumConst, U64_MAX, type Tnum } from './tnum.js';

export type RegType =
  | 'not_init'
  | 'scalar'
  | 'ctx'
  | 'fp'
  | 'map_ptr'
  | 'map_value'
  | 'map_value_or_null'
  /** PTR_TO_MAP_KEY: the key a timer callback (or bpf_for_each_map_elem callback) is given; read-only. */
  | 'map_key'
  | 'pkt'
  | 'pkt_end'
  | 'pkt_meta'
  | 'ringbuf_mem'
  | 'ringbuf_mem_or_null'
  /** PTR_TO_MEM (a global function's pointer argument), `memSize` bytes. */
  | 'mem'
  | 'mem_or_null'
  /** PTR_TO_MEM | MEM_RDONLY: memory a kfunc returns a pointer to (`int *` of bpf_iter_num_next), `memSize` bytes. */
  | 'rdonly_mem'
  | 'rdonly_mem_or_null'
  /** PTR_TO_MEM | MEM_RDONLY | PTR_UNTRUSTED: bpf_rdonly_cast(p, 0); read through probe loads, no bounds. */
  | 'rdonly_untrusted_mem'
  /** The state an open-coded iterator keeps in its stack slots (iter.ts); never in a register. */
  | 'iter'
  /** The state a dynptr keeps in its two stack slots (dynptr.ts); never in a register. */
  | 'dynptr'
  /** CONST_PTR_TO_DYNPTR: a read-only dynptr given by the kernel (a global function's argument, a bpf_user_ringbuf_drain callback's). */
  | 'dynptr_ptr'
  | 'func'
  /** PTR_TO_SOCKET, PTR_TO_TCP_SOCK, PTR_TO_SOCK_COMMON (helperret.ts), nullable until checked. */
  | 'sock'
  | 'sock_or_null'
  | 'tcp_sock'
  | 'tcp_sock_or_null'
  | 'sock_common'
  | 'sock_common_or_null'
  /** PTR_TO_XDP_SOCK: an AF_XDP socket, from a lookup in an xskmap (nullable until checked). */
  | 'xdp_sock'
  | 'xdp_sock_or_null'
  /** A flow dissector's `struct bpf_flow_keys` (PTR_TO_FLOW_KEYS). */
  | 'flow_keys'
  /** A writable raw tracepoint's buffer (PTR_TO_TP_BUFFER). */
  | 'tp_buffer'
  /**
   * PTR_TO_BUF: an iterator's key (`rdonly_buf`, MEM_RDONLY) or value (`buf`) buffer, nullable
   * until checked; its size is the attached map's, checked at attach time (max_rdonly_access, max_rdwr_access).
   */
  | 'rdonly_buf'
  | 'rdonly_buf_or_null'
  | 'buf'
  | 'buf_or_null'
  /**
   * PTR_TO_ARENA: an address inside the program's arena (arena.ts), made only by addr_space_cast
   * from address space 1 to 0; any arithmetic keeps it one, loads and stores through it are not
   * bounded (the JIT makes them faulting-safe probe accesses).
   */
  | 'arena'
  /** PTR_TO_BTF_ID as the kernel names it: `trusted_ptr_task_struct`, `ptr_or_null_cgroup` (nullable.ts). */
  | `${'' | 'user_' | 'percpu_'}${'' | 'rcu_'}${'' | 'untrusted_' | 'trusted_'}ptr_${string}`;

export interface Reg {
  readonly type: RegType;
  /** Fixed offset of a pointer. */
  readonly off: number;
  /** Known bits of a scalar, or of a pointer's variable offset. */
  readonly var: Tnum;
  readonly smin: bigint;
  readonly smax: bigint;
  readonly umin: bigint;
  readonly umax: bigint;
  /** The 32-bit bounds are numbers (they fit a double exactly; issue 25). */
  readonly s32min: number;
  readonly s32max: number;
  readonly u32min: number;
  readonly u32max: number;
  /** Frame a stack pointer points into. */
  readonly frame?: number;
  readonly map?: MapDef;
  /** Shared by copies: nullable pointers (null-check propagation), packet pointers, linked scalars. */
  readonly id?: number;
  /** A linked scalar that is its id's value plus `off` (the kernel's BPF_ADD_CONST). */
  readonly addConst?: boolean;
  /** The link came from a 32-bit `wX += K` (the kernel's BPF_ADD_CONST32). */
  readonly addConst32?: boolean;
  /** Bytes known to be in bounds after a packet pointer (negative: the kernel's AT/BEYOND_PKT_END). */
  readonly range?: number;
  /** Reference this pointer holds (acquired by e.g. bpf_ringbuf_reserve). */
  readonly refObjId?: number;
  /** Size of the memory a `ringbuf_mem` pointer points to. */
  readonly memSize?: number;
  /** Subprogram a `func` pointer names. */
  readonly subprog?: number;
  /** An allocated object with a `struct bpf_spin_lock`: its offset (reg_may_point_to_spin_lock keeps the id). */
  readonly allocLock?: number;
  /** An allocated object's non-owning reference (NON_OWN_REF: pushed into a list or rbtree under its lock; kptr.ts). */
  readonly nonOwn?: boolean;
  /** An iterator's stack slot (the kernel's `spilled_ptr.iter`): its kind, state and loop depth. */
  readonly iter?: IterState;
  /** An IRQ flag's stack slot (STACK_IRQ_FLAG): which kfuncs saved it (`irq.kfunc_class`); locks.ts. */
  readonly irqClass?: 'native' | 'lock';
  /** A dynptr's stack slot (the kernel's `spilled_ptr.dynptr`): its kind, which slot, its ids. */
  readonly dynptr?: DynptrSlot;
  /** A slice of a dynptr (the kernel's `reg->dynptr_id`): the dynptr it came from. */
  readonly dynptrId?: number;
  /** A slice of an skb or xdp dynptr: it points into the packet (reg_is_dynptr_slice_pkt). */
  readonly pktSlice?: boolean;
  /** A bpf_dynptr_slice() result that may be the stack buffer it was given (printed `buf=fp[0]-30+14`). */
  readonly buf?: { readonly frame: number; readonly off: number; readonly size: number };
  /**
   * The lookup an inner map came from (the kernel's map_uid): a map-in-map lookup's id when the
   * inner map holds a timer, workqueue or task work, kept by that map's pointer and the values
   * looked up in it, so a field of one inner map is not set up with another's pointer.
   */
  readonly mapUid?: number;
}

/** A register being built (every field writable); {@link copyReg} makes one. */
export type MutableReg = { -readonly [K in keyof Reg]: Reg[K] };

/**
 * The optional fields of {@link Reg}, each copied by {@link copyReg}: a field added to `Reg` and
 * missing here fails to compile (`_everyRegField`), and state.test.ts checks that copyReg copies
 * each one listed.
 */
export const REG_OPTIONAL_FIELDS = ['frame', 'map', 'id', 'addConst', 'addConst32', 'range', 'refObjId', 'memSize', 'subprog', 'allocLock', 'nonOwn', 'iter', 'irqClass', 'dynptr', 'dynptrId', 'pktSlice', 'buf', 'mapUid'] as const;
type RegBaseField = 'type' | 'off' | 'var' | 'smin' | 'smax' | 'umin' | 'umax' | 's32min' | 's32max' | 'u32min' | 'u32max';
type UnlistedRegField = Exclude<keyof Reg, RegBaseField | (typeof REG_OPTIONAL_FIELDS)[number]>;
export const _everyRegField: [UnlistedRegField] extends [never] ? true : UnlistedRegField = true;

/**
 * `{ ...r }` as an object literal: V8 copies a register made by a spread through its slow path
 * (~200 ns, most of `done` in a profile of straight-line code), a literal in ~10 ns (issue 25).
 * Registers have two shapes (issue 25): a register without any optional field has the eleven
 * fields of {@link known}'s literal, one with any has every field (undefined where unset), made by
 * one literal ({@link wideReg}). Optional fields set one by one gave a map per combination and
 * order (ten or more on one object), so every load of a register's field saw more maps than V8
 * optimizes for; two maps with the same leading fields make those loads polymorphic and short.
 * `wide` makes the copy the second shape, for a caller that sets an optional field on it (a field
 * added to the first shape would make a third map). Nothing looks at a register's keys.
 */
export function copyReg(r: Reg, unlink = false, wide = false): MutableReg {
  if (
    wide ||
    (!unlink && (r.id !== undefined || r.addConst !== undefined || r.addConst32 !== undefined)) ||
    r.frame !== undefined ||
    r.map !== undefined ||
    r.range !== undefined ||
    r.refObjId !== undefined ||
    r.memSize !== undefined ||
    r.subprog !== undefined ||
    r.allocLock !== undefined ||
    r.nonOwn !== undefined ||
    r.iter !== undefined ||
    r.irqClass !== undefined ||
    r.dynptr !== undefined ||
    r.dynptrId !== undefined ||
    r.pktSlice !== undefined ||
    r.buf !== undefined ||
    r.mapUid !== undefined
  )
    return wideReg(r, unlink);
  return { type: r.type, off: r.off, var: r.var, smin: r.smin, smax: r.smax, umin: r.umin, umax: r.umax, s32min: r.s32min, s32max: r.s32max, u32min: r.u32min, u32max: r.u32max };
}

/** A copy of `r` with every field present (the second register shape; see {@link copyReg}); `unlink`: without the scalar link. */
function wideReg(r: Reg, unlink: boolean): MutableReg {
  return {
    type: r.type,
    off: r.off,
    var: r.var,
    smin: r.smin,
    smax: r.smax,
    umin: r.umin,
    umax: r.umax,
    s32min: r.s32min,
    s32max: r.s32max,
    u32min: r.u32min,
    u32max: r.u32max,
    frame: r.frame,
    map: r.map,
    id: unlink ? undefined : r.id,
    addConst: unlink ? undefined : r.addConst,
    addConst32: unlink ? undefined : r.addConst32,
    range: r.range,
    refObjId: r.refObjId,
    memSize: r.memSize,
    subprog: r.subprog,
    allocLock: r.allocLock,
    nonOwn: r.nonOwn,
    iter: r.iter,
    irqClass: r.irqClass,
    dynptr: r.dynptr,
    dynptrId: r.dynptrId,
    pktSlice: r.pktSlice,
    buf: r.buf,
    mapUid: r.mapUid,
  };
}

/**
 * A scalar without its link (id, addConst, addConst32) and, unless `zeroOff` is false, with its
 * fixed offset 0: `r` itself when it has neither, else a copy made by {@link copyReg} (a spread
 * such as `{ ...r, id: undefined, off: 0 }` gave each result a map of its own: 743 register maps
 * on one pass over bpf_lxc.o, from its byte swaps; issue 25).
 */
export function unlinked(r: Reg, zeroOff = true): Reg {
  if (r.id === undefined && r.addConst === undefined && r.addConst32 === undefined && (r.off === 0 || !zeroOff)) return r;
  const o = copyReg(r, true);
  if (zeroOff) o.off = 0;
  return o;
}

/** struct bpf_reg_state.dynptr of a STACK_DYNPTR slot, with the ids the log prints. */
export interface DynptrSlot {
  /** `local`, `ringbuf`, `skb`, `xdp`, `skb_meta` (dynptr_type_str). */
  readonly kind: string;
  /** The first (higher-addressed) of the two slots. */
  readonly first: boolean;
  /** The dynptr's own id (slices carry it as dynptr_id). */
  readonly id: number;
}

/** struct bpf_reg_state.iter of a STACK_ITER slot (include/linux/bpf_verifier.h). */
export interface IterState {
  /** The iterator's struct name without `bpf_iter_` (`num`, `task`, `css_task`). */
  readonly kind: string;
  readonly state: 'active' | 'drained';
  /** next() calls that returned an element on this path (kept only for the infinite-loop check). */
  readonly depth: number;
  /** KF_RCU_PROTECTED iterators: created inside an RCU section (MEM_RCU) or not (PTR_UNTRUSTED). */
  readonly rcu?: 'rcu' | 'untrusted';
}

export const S64_MIN = -0x8000000000000000n;
export const S64_MAX = 0x7fffffffffffffffn;
export const S32_MIN = -0x80000000n;
export const S32_MAX = 0x7fffffffn;
/** The 32-bit limits as numbers (the 32-bit bounds' type). */
export const S32_MIN_N = -0x80000000;
export const S32_MAX_N = 0x7fffffff;
export const U32_MAX_N = 0xffffffff;



// V8 keeps a field that has held only numbers, some beyond its small integers (u32max is often
// 2^32 - 1), as a double in a box of the object's own: every register copy allocated a box for
// each such field. A register shape made once with a non-number there makes them plain tagged
// fields for every register (a copy copies the reference, as it does a BigInt's). The signed
// bounds too: they had become double fields as well (a -0 or a value computed as a double is
// enough), and a load of a double field through a megamorphic access (registers have many
// shapes: statesEqual's screen) allocates a new box each time (15 MB a pass on tetragon).
const _tagged = { type: 'not_init', off: 0, var: TNUM_UNKNOWN, smin: 0n, smax: 0n, umin: 0n, umax: 0n, s32min: null, s32max: null, u32min: null, u32max: null };
// the same for the wide register shape (copyReg): every field tagged, none a double in a box
wideReg({ ..._tagged, frame: null, map: null, id: null, addConst: null, addConst32: null, range: null, refObjId: null, memSize: null, subprog: null, allocLock: null, nonOwn: null, iter: null, irqClass: null, dynptr: null, dynptrId: null, pktSlice: null, buf: null, mapUid: null } as unknown as Reg, false);
// literals of the narrow shape (made as `{ type, off, ...UNBOUNDED }` they had a map of their own)
export const NOT_INIT: Reg = { type: 'not_init', off: 0, var: TNUM_UNKNOWN, smin: S64_MIN, smax: S64_MAX, umin: 0n, umax: U64_MAX, s32min: S32_MIN_N, s32max: S32_MAX_N, u32min: 0, u32max: U32_MAX_N };
export const UNKNOWN: Reg = { type: 'scalar', off: 0, var: TNUM_UNKNOWN, smin: S64_MIN, smax: S64_MAX, umin: 0n, umax: U64_MAX, s32min: S32_MIN_N, s32max: S32_MAX_N, u32min: 0, u32max: U32_MAX_N };

/**
 * Constant registers of small values, made once: a register is never mutated (every change
 * makes a new object), so `r1 = 5` and `r0 += 8` share one object and allocate nothing (issue 25).
 */
const KNOWN_LO = -4096;
const KNOWN_HI = 65536;
const knownCache: (Reg | undefined)[] = new Array<Reg | undefined>(KNOWN_HI - KNOWN_LO).fill(undefined);

/** A register known to hold `v` (the kernel's __mark_reg_known). */
export function known(v: bigint): Reg {
  if (v >= -4096n && v < 65536n) {
    const k = Number(v) - KNOWN_LO;
    return knownCache[k] ?? (knownCache[k] = makeKnown(v));
  }
  return makeKnown(v);
}

/** {@link known} of an instruction's immediate (a 32-bit number), without a BigInt for small ones. */
export function knownImm(imm: number): Reg {
  if (imm >= KNOWN_LO && imm < KNOWN_HI) {
    const k = imm - KNOWN_LO;
    return knownCache[k] ?? (knownCache[k] = makeKnown(BigInt(imm)));
  }
  return makeKnown(BigInt(imm));
}

function makeKnown(v: bigint): Reg {
  // 0 <= v < 2^31: every view of it is v itself (no new BigInt)
  if (v >= 0n && v <= S32_MAX) {
    const n = Number(v);
    return { type: 'scalar', off: 0, var: tnumConst(v), smin: v, smax: v, umin: v, umax: v, s32min: n, s32max: n, u32min: n, u32max: n };
  }
  const u = BigInt.asUintN(64, v);
  const s = BigInt.asIntN(64, v);
  const u32 = lowU32(u);
  const s32 = u32 | 0;
  return { type: 'scalar', off: 0, var: tnumConst(u), smin: s, smax: s, umin: u, umax: u, s32min: s32, s32max: s32, u32min: u32, u32max: u32 };
}
export const constant = known;

/** A pointer of `type` with a fixed offset and no variable part. */
export function pointer(type: RegType, extra?: Partial<Reg>): Reg {
  // `{ ...known(0n), type, off: 0, ...extra }` without the spread's slow copy (see copyReg)
  // extra fields: the wide shape, which has them all (Object.assign adds none)
  const o = copyReg(known(0n), false, extra !== undefined);
  o.type = type;
  return extra === undefined ? o : Object.assign(o, extra);
}

export const isConst = (r: Reg): boolean => r.type === 'scalar' && r.var.mask === 0n;
export const isPtr = (r: Reg): boolean => r.type !== 'scalar' && r.type !== 'not_init';

/** Byte kinds of a stack slot (kernel STACK_INVALID, STACK_SPILL, STACK_MISC, STACK_ZERO, STACK_ITER, STACK_DYNPTR). */
export const SlotType = { Invalid: 0, Spill: 1, Misc: 2, Zero: 3, Iter: 4, Dynptr: 5, IrqFlag: 6 } as const;
export type SlotType = (typeof SlotType)[keyof typeof SlotType];
export const SLOT_CHAR = ['?', 'r', 'm', '0', 'i', 'd', 'f'] as const;

export const STACK_SIZE = 512;
export const SLOTS = STACK_SIZE / 8;

/**
 * A frame's stack bytes, cut from a shared slab (issue 25): a Uint8Array of 512 bytes of its own
 * has its memory outside V8's heap, and making one (every frame copy, at every branch and
 * checkpoint) cost ~5 µs and a backing store for the garbage collector to free; a view of a
 * slab costs a tenth of that. A slab serves {@link SLAB_FRAMES} frames and is freed with the
 * last of them. Bytes start zeroed (STACK_INVALID): a slab is never reused. Making a slab costs
 * about as much at 32 KiB as at 8 KiB (the allocation, not its size; `new ArrayBuffer` was 2–3%
 * of a warm bpf_lxc.o or tetragon profile at 16 frames a slab): 64 frames a slab took ~2.5% off
 * both, with no change in peak RSS on those objects or the 1M-insn program (most slabs hold a
 * checkpoint's frame, kept until the program is verified, whatever the slab's size).
 */
const SLAB_FRAMES = 64;
let slab = new ArrayBuffer(0);
let slabAt = 0;
function stackBytes(): Uint8Array {
  if (slabAt === slab.byteLength) {
    slab = new ArrayBuffer(STACK_SIZE * SLAB_FRAMES);
    slabAt = 0;
  }
  const bytes = new Uint8Array(slab, slabAt, STACK_SIZE);
  slabAt += STACK_SIZE;
  return bytes;
}

/**
 * A frame's stack bytes as the verifier reads them: a Uint8Array without its writing methods
 * and with a read-only index, so that a write anywhere but through {@link setSlotType} and
 * {@link fillSlotTypes} fails to compile (the bytes may be shared with a copy of the frame).
 */
export type StackTypes = Omit<Uint8Array, 'fill' | 'set' | 'copyWithin' | 'reverse' | 'sort' | number> & { readonly [byte: number]: number };

export interface Frame {
  readonly regs: Reg[];
  /**
   * Byte b is fp-(b+1): slot b>>3, `slot_type[b & 7]`. Shared with the frame's copies until
   * either writes it: written only through {@link setSlotType} and {@link fillSlotTypes}.
   */
  readonly slotTypes: StackTypes;
  /**
   * The register spilled into each slot (meaningful where the slot's bytes are Spill). Shared
   * like `slotTypes`: written only through {@link setSpilled}.
   */
  readonly spilled: readonly (Reg | undefined)[];
  /**
   * `slotTypes` and `spilled` are this frame's own, not shared with a copy: {@link cloneFrame}
   * shares them between the frame and its copy and clears this on both; the first write to
   * either (setSlotType, fillSlotTypes, setSpilled) copies them first (issue 25: most copies,
   * a checkpoint's and a queued branch's, are never written, or are pruned before they are).
   */
  stackOwned: boolean;
  /**
   * Stack bytes from fp-1 down that may hold another kind than STACK_INVALID: every byte at or
   * past it is invalid (an upper bound kept by the writes, never lowered), so that a walk over the
   * slots (makePlan) stops at the deepest one this frame has written.
   */
  readonly stackTop: number;
  /**
   * Outgoing stack-argument slots (arguments 6..12). Never changed in place, so that copies of
   * the frame share it: {@link setOut} and {@link clearOut} replace it.
   */
  out: readonly (Reg | undefined)[];
  /**
   * Bytes of stack this path has touched, a multiple of 8 (the kernel's allocated_stack, grown by
   * every access and never shrunk): a checkpoint's slot below it is one the current state never had.
   */
  allocated?: number;
  noStackArgLoad: boolean;
  readonly subprog: number;
  readonly callsite: number;
  /** Frame of a callback (bpf_loop and friends): its return value range. */
  readonly callbackRet?: readonly [number, number];
  /** An async callback (bpf_timer_set_callback, bpf_wq_set_callback_impl) verified as a path of its own (in_async_callback_fn). */
  asyncCb?: boolean;
  /** An async callback's return range (the kernel's callback_ret_range): [0, 0] for timers and workqueues. */
  asyncRet?: readonly [number, number];
  /** How many async callback entries lead to this one (async_entry_cnt): one more than the frame that set it up. */
  asyncEntryCnt?: number;
  /** An async callback that may sleep (bpf_wq, bpf_task_work): the kernel's state in_sleepable. */
  sleepableCb?: boolean;
  /** bpf_loop iterations this path has made at its current call (the kernel's callback_depth). */
  callbackDepth?: number;
  /** The program's exception callback, verified on its own (in_exception_callback_fn): it returns what the program returns. */
  excCb?: boolean;
}

/** No outgoing stack arguments (shared by every frame that has none). */
const NO_OUT: readonly (Reg | undefined)[] = new Array<Reg | undefined>(7).fill(undefined);

/** Outgoing stack-argument slot `k` set to `r` (the frame's list replaced: copies share it). */
export function setOut(f: Frame, k: number, r: Reg | undefined): void {
  if (f.out[k] === r) return;
  const o = f.out.slice();
  o[k] = r;
  f.out = o;
}

/** Every outgoing stack-argument slot emptied (consumed by a call or a return). */
export function clearOut(f: Frame): void {
  f.out = NO_OUT;
}

export function newFrame(subprog: number, callsite: number, callbackRet?: readonly [number, number]): Frame {
  return {
    // a literal (Array.from with a callback costs more than the rest of the frame)
    regs: [NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT, NOT_INIT],
    slotTypes: stackBytes(),
    spilled: new Array<Reg | undefined>(SLOTS).fill(undefined),
    out: NO_OUT,
    noStackArgLoad: false,
    stackOwned: true,
    stackTop: 0,
    subprog,
    callsite,
    // every optional field, in cloneFrame's order: all frames share one shape (see cloneFrame)
    callbackRet,
    asyncCb: undefined,
    asyncRet: undefined,
    asyncEntryCnt: undefined,
    sleepableCb: undefined,
    callbackDepth: undefined,
    excCb: undefined,
    allocated: undefined,
  };
}

/** The optional fields of {@link Frame}, each copied by {@link cloneFrame} (a field missing here fails to compile). */
export const FRAME_OPTIONAL_FIELDS = ['callbackRet', 'asyncCb', 'asyncRet', 'asyncEntryCnt', 'sleepableCb', 'callbackDepth', 'excCb', 'allocated'] as const;
type UnlistedFrameField = Exclude<keyof Frame, 'regs' | 'slotTypes' | 'spilled' | 'out' | 'noStackArgLoad' | 'stackOwned' | 'stackTop' | 'subprog' | 'callsite' | (typeof FRAME_OPTIONAL_FIELDS)[number]>;
export const _everyFrameField: [UnlistedFrameField] extends [never] ? true : UnlistedFrameField = true;

/**
 * A copy of a frame: an object literal, not a spread (see {@link copyReg}), with every optional
 * field present (undefined where unset), as {@link newFrame} makes them: one shape for every
 * frame, so the loads of `f.regs` and `f.slotTypes` all over the verifier see one map, and a
 * field set later (`allocated`, `callbackDepth`) changes no frame's shape (issue 25). The stack
 * (`slotTypes`, `spilled`) is shared, copied by whichever of the two frames writes it first.
 */
export function cloneFrame(f: Frame): Frame {
  f.stackOwned = false;
  return {
    regs: f.regs.slice(),
    slotTypes: f.slotTypes,
    spilled: f.spilled,
    out: f.out,
    noStackArgLoad: f.noStackArgLoad,
    stackOwned: false,
    stackTop: f.stackTop,
    subprog: f.subprog,
    callsite: f.callsite,
    callbackRet: f.callbackRet,
    asyncCb: f.asyncCb,
    asyncRet: f.asyncRet,
    asyncEntryCnt: f.asyncEntryCnt,
    sleepableCb: f.sleepableCb,
    callbackDepth: f.callbackDepth,
    excCb: f.excCb,
    allocated: f.allocated,
  };
}

/** The writable view of a frame's stack (only {@link ownStack} hands it out). */
interface OwnedStack {
  slotTypes: Uint8Array;
  spilled: (Reg | undefined)[];
  stackOwned: boolean;
  stackTop: number;
}

/** The frame's stack made its own (copied if it is shared with a copy of the frame), to write. */
function ownStack(f: Frame): OwnedStack {
  const w = f as unknown as OwnedStack;
  if (!f.stackOwned) {
    const bytes = stackBytes();
    bytes.set(w.slotTypes);
    w.slotTypes = bytes;
    // up to the last slot with a register: a slot past the copy's end reads undefined as before
    // (64 entries copied every time were ~4% of what a bpf_lxc.o pass allocates; issue 25)
    const from = w.spilled;
    let n = from.length;
    while (n > 0 && from[n - 1] === undefined) n--;
    w.spilled = from.slice(0, n);
    w.stackOwned = true;
  }
  return w;
}

/** slot_type of stack byte `byte` (fp-(byte+1)) set to `type` (a write that changes nothing copies nothing). */
export function setSlotType(f: Frame, byte: number, type: SlotType): void {
  if (f.slotTypes[byte] === type) return;
  const w = ownStack(f);
  w.slotTypes[byte] = type;
  if (byte >= w.stackTop) w.stackTop = byte + 1;
}

/** slot_type of stack bytes `from` to `to` (exclusive) set to `type`. */
export function fillSlotTypes(f: Frame, type: SlotType, from: number, to: number): void {
  for (let b = from; b < to; b++) {
    if (f.slotTypes[b] === type) continue;
    const w = ownStack(f);
    w.slotTypes.fill(type, b, to);
    if (to > w.stackTop) w.stackTop = to;
    return;
  }
}

/** The register spilled into `slot` set to `r` (undefined: none). */
export function setSpilled(f: Frame, slot: number, r: Reg | undefined): void {
  if (f.spilled[slot] !== r) ownStack(f).spilled[slot] = r;
}

/** What a reference stands for (the kernel's enum ref_state_type); absent: an acquired pointer (REF_TYPE_PTR). */
export type RefKind = 'lock' | 'res_lock' | 'res_lock_irq' | 'irq';

export interface RefState {
  readonly id: number;
  readonly insn: number;
  readonly kind?: RefKind;
  /** A lock's object: the map (`map:<name>`) or the BTF (`btf`) of the value holding it (the kernel's `ptr`). */
  readonly ptr?: string;
}

export interface State {
  frames: Frame[];
  /** Instruction to run next. */
  pc: number;
  /** Instruction the path came from (for the log's "from X to Y"). */
  prev: number;
  /** Never changed in place (replaced by a new list), so that copies of a state share it. */
  refs: readonly RefState[];
  /** Inside a bpf_rcu_read_lock() region (the kernel's active_rcu_lock). */
  rcuLock?: boolean;
  /** The lock taken last and still held (active_lock_id, active_lock_ptr); locks.ts. */
  activeLock?: { readonly id: number; readonly ptr: string };
  /** bpf_preempt_disable() calls not yet matched by bpf_preempt_enable() (active_preempt_locks). */
  preemptLocks?: number;
  /** The id of the innermost bpf_local_irq_save() not yet restored (active_irq_id). */
  irqId?: number;
  /** may_goto fall-throughs taken on this path (may_goto_depth): a loop state repeating at another depth converged. */
  mayGotoDepth?: number;
  /** Callback entries pushed on this path (callback_unroll_depth): unrolled callback calls are not infinite loops. */
  callbackUnrollDepth?: number;
}

/** in_sleepable: a sleepable program, or an async callback that may sleep (bpf_wq, bpf_task_work). */
export const inSleepable = (env: { readonly load: { readonly sleepable: boolean } }, st: State): boolean => env.load.sleepable || st.frames[0]?.sleepableCb === true;

/**
 * The fields a path adds to its state (precise.ts `Path`: the checkpoint it last passed, the
 * jump history since), present in every state {@link newState} and {@link cloneState} make so
 * that states, paths and checkpoints' states share one shape (issue 25).
 */
interface PathFields {
  cp?: unknown;
  hist?: JumpHist;
  histCnt?: number;
}

/** A state of `frames` at `pc`: every field present, in cloneState's order (one shape for all states). */
export function newState(frames: Frame[], pc: number, prev: number): State {
  const o: State & PathFields = {
    frames,
    pc,
    prev,
    refs: [],
    rcuLock: undefined,
    activeLock: undefined,
    preemptLocks: undefined,
    irqId: undefined,
    mayGotoDepth: undefined,
    callbackUnrollDepth: undefined,
    cp: undefined,
    hist: new JumpHist(),
    histCnt: undefined,
  };
  return o;
}

/**
 * A copy of a state: an object literal (a spread of `{}` or `{ field }` per optional field made
 * a temporary object each, and the copy through V8's slow path; see {@link copyReg}) with every
 * field present, as {@link newState} makes them; an optional field that is false or 0 is copied
 * as undefined (unset), as before. The path fields are left for the caller (fork) to set.
 */
export function cloneState(s: State): State {
  const frames = new Array<Frame>(s.frames.length);
  for (let k = 0; k < frames.length; k++) frames[k] = cloneFrame(s.frames[k]!);
  const o: State & PathFields = {
    frames,
    pc: s.pc,
    prev: s.prev,
    refs: s.refs,
    rcuLock: s.rcuLock ? true : undefined,
    activeLock: s.activeLock || undefined,
    preemptLocks: s.preemptLocks || undefined,
    irqId: s.irqId || undefined,
    mayGotoDepth: s.mayGotoDepth || undefined,
    callbackUnrollDepth: s.callbackUnrollDepth || undefined,
    cp: undefined,
    hist: undefined,
    histCnt: undefined,
  };
  return o;
}

/** A key that is equal for equal states (used to prune paths that reach a point twice); ids are renumbered by first use. */
export function stateKey(s: State, live?: (frame: number, reg: number) => boolean): string {
  const ids = new Map<number, number>();
  const id = (n: number | undefined): string => {
    if (!n) return '';
    let m = ids.get(n);
    if (m === undefined) ids.set(n, (m = ids.size + 1));
    return String(m);
  };
  const regKey = (r: Reg | undefined): string => {
    if (r === undefined) return '_';
    if (r.type === 'not_init') return '.';
    if (r.type === 'scalar' && r.var.mask === 0n && !r.id) return String(r.var.value);
    return `${r.type}:${r.off}:${r.var.value}/${r.var.mask}:${r.smin}:${r.smax}:${r.umin}:${r.umax}:${r.s32min}:${r.s32max}:${r.u32min}:${r.u32max}:${r.frame ?? ''}:${r.map?.name ?? ''}:${id(r.id)}${r.addConst ? (r.addConst32 ? '+32' : '+') : ''}:${r.range ?? ''}:${id(r.refObjId)}:${r.memSize ?? ''}:${r.subprog ?? ''}${r.iter ? `:${r.iter.kind}/${r.iter.state}/${r.iter.depth}/${r.iter.rcu ?? ''}` : ''}${r.irqClass ?? ''}${r.dynptr ? `:${r.dynptr.kind}/${r.dynptr.first ? 1 : 0}/${id(r.dynptr.id)}` : ''}${r.dynptrId ? `:d${id(r.dynptrId)}` : ''}${r.pktSlice ? ':pkt' : ''}${r.buf ? `:${r.buf.frame}/${r.buf.off}/${r.buf.size}` : ''}${r.mapUid ? `:u${r.mapUid}` : ''}`;
  };
  let out = '';
  s.frames.forEach((f, k) => {
    out += `${f.subprog}@${f.callsite}|`;
    for (let n = 0; n < f.regs.length; n++) out += (live && !live(k, n) ? '.' : regKey(f.regs[n])) + ',';
    out += '|';
    const t = f.slotTypes;
    for (let slot = 0; slot < SLOTS; slot++) {
      const b = slot * 8;
      if (t[b] === 0 && t[b + 1] === 0 && t[b + 2] === 0 && t[b + 3] === 0 && t[b + 4] === 0 && t[b + 5] === 0 && t[b + 6] === 0 && t[b + 7] === 0) continue;
      out += `${slot}:${t[b]}${t[b + 1]}${t[b + 2]}${t[b + 3]}${t[b + 4]}${t[b + 5]}${t[b + 6]}${t[b + 7]}${t[b + 7] === SlotType.Spill || t[b + 7] === SlotType.Iter || t[b + 7] === SlotType.Dynptr || t[b + 7] === SlotType.IrqFlag ? `(${regKey(f.spilled[slot])})` : ''};`;
    }
    out += `|${f.out.map(regKey).join(',')}|${f.noStackArgLoad ? 1 : 0}#`;
  });
  return (
    out +
    `refs:${s.refs.map((r) => `${r.kind ?? ''}${id(r.id)}${r.ptr ?? ''}`).join(',')}${s.rcuLock ? ':rcu' : ''}` +
    `${s.activeLock ? `:lock${id(s.activeLock.id)}${s.activeLock.ptr}` : ''}${s.preemptLocks ? `:preempt${s.preemptLocks}` : ''}${s.irqId ? `:irq${id(s.irqId)}` : ''}`
  );
}
