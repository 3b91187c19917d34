/**
 * Dynptrs (kernel/bpf/verifier.c process_dynptr_func, mark_stack_slots_dynptr,
 * unmark_stack_slots_dynptr, destroy_if_dynptr_stack_slot, is_dynptr_reg_valid_init): a
 * `struct bpf_dynptr` lives in two stack slots (STACK_DYNPTR), the first one holding its kind
 * (local, ringbuf, skb, xdp, skb_meta) and ids. Ring buffer dynptrs hold a reference that
 * bpf_ringbuf_submit_dynptr/_discard_dynptr release, together with every clone sharing it and
 * every slice taken from them; writing over an unreferenced dynptr destroys it and its
 * bpf_dynptr_data slices; writing over a referenced one is refused. Slices of skb and xdp dynptrs
 * point into the packet and go when the packet may move; a bpf_dynptr_slice() slice that may be
 * the stack buffer it was given goes when that buffer is written (as the running kernel does).
 */
import type { Env } from './env.js';
import { memAccess } from './mem.js';
import { fillSlotTypes, known, setSpilled, SlotType, UNKNOWN, type DynptrSlot, type Frame, type Reg, type State } from './state.js';
import { tnumIsConst } from './tnum.js';

/** BPF_DYNPTR_NR_SLOTS. */
const NR_SLOTS = 2;

/** What a dynptr argument refers to once checked (the kernel's meta->initialized_dynptr). */
export interface DynptrInfo {
  readonly frame: number;
  /** Its first slot. */
  readonly spi: number;
  readonly kind: string;
  readonly id: number;
  readonly refObjId?: number;
}

/** What a dynptr argument asks for (the bpf_arg_type flags of ARG_PTR_TO_DYNPTR). */
export interface DynptrArg {
  /** MEM_UNINIT: the call makes a new dynptr there. */
  readonly uninit: boolean;
  /** MEM_RDONLY: the call does not change the dynptr itself. */
  readonly rdonly: boolean;
  /** DYNPTR_TYPE_*: the kind it must be, or the kind it becomes. */
  readonly kind?: string;
  /** A clone takes its parent's reference (bpf_dynptr_clone). */
  readonly cloneOf?: DynptrInfo;
}

/** dynptr_type_refcounted. */
const refcounted = (kind: string): boolean => kind === 'ringbuf';

/** Kinds whose slices point into the packet (reg_is_dynptr_slice_pkt). */
export const PKT_KINDS: ReadonlySet<string> = new Set(['skb', 'xdp', 'skb_meta']);

/** stack_slot_obj_get_spi: the first slot, or the message why the pointer cannot hold a dynptr. */
function getSpi(r: Reg): number | string {
  if (!tnumIsConst(r.var)) return 'dynptr has to be at a constant offset';
  const off = r.off + Number(BigInt.asIntN(64, r.var.value));
  if (off % 8) return `cannot pass in dynptr at an offset=${off}`;
  const spi = Math.floor((-off - 1) / 8);
  if (spi + 1 < NR_SLOTS || spi >= 64) return `cannot pass in dynptr at an offset=${off}`;
  return spi;
}

const frameOf = (st: State, r: Reg): number => r.frame ?? st.frames.length - 1;

/** is_dynptr_reg_valid_init: the slot a pointer names holds a whole dynptr, first slot first. */
function validInit(fr: Frame, spi: number): boolean {
  if (!fr.spilled[spi]?.dynptr?.first) return false;
  for (let j = 0; j < 16; j++) if (fr.slotTypes[(spi - 1) * 8 + j] !== SlotType.Dynptr) return false;
  return true;
}

/** mark_reg_invalid for a privileged program: the register becomes an unknown scalar. */
function invalidateRegs(st: State, match: (r: Reg) => boolean): void {
  for (const fr of st.frames) {
    fr.regs.forEach((r, k) => {
      if (match(r)) fr.regs[k] = UNKNOWN;
    });
    fr.spilled.forEach((r, k) => {
      if (r && r.type !== 'dynptr' && fr.slotTypes[k * 8 + 7] === SlotType.Spill && match(r)) setSpilled(fr, k, UNKNOWN);
    });
  }
}

/** invalidate_dynptr: both slots back to STACK_INVALID. */
function invalidateSlots(fr: Frame, spi: number, env?: Env, st?: State): void {
  // both slots count as written (bpf_mark_stack_write)
  if (env && st) {
    const k = st.frames.indexOf(fr);
    env.stackLive?.write(k, spi - 1);
    env.stackLive?.write(k, spi);
  }
  fillSlotTypes(fr, SlotType.Invalid, (spi - 1) * 8, (spi + 1) * 8);
  setSpilled(fr, spi, undefined);
  setSpilled(fr, spi - 1, undefined);
}

/**
 * destroy_if_dynptr_stack_slot: a write into either slot of an unreferenced dynptr destroys it
 * and the bpf_dynptr_data slices taken from it; a referenced one may not be overwritten.
 */
export function destroyDynptrSlot(env: Env, st: State, fr: Frame, slot: number, pc: number): void {
  if (slot < 0 || slot >= 64 || fr.slotTypes[slot * 8] !== SlotType.Dynptr) return;
  let spi = slot;
  if (!fr.spilled[spi]?.dynptr?.first) spi++;
  const d = fr.spilled[spi]?.dynptr;
  if (!d) return;
  if (refcounted(d.kind)) env.reject(pc, 'cannot overwrite referenced dynptr');
  env.scratchSlot(spi);
  env.scratchSlot(spi - 1);
  invalidateSlots(fr, spi, env, st);
  // slices are plain PTR_TO_MEM (bpf_dynptr_data); a bpf_dynptr_slice() result is not touched
  invalidateRegs(st, (r) => (r.type === 'mem' || r.type === 'mem_or_null') && r.dynptrId === d.id);
}

/**
 * A write to stack bytes [lo, hi) of frame `frameNo` (offsets from its frame pointer): dynptrs
 * there are destroyed, and slices that may be a stack buffer there are no longer usable.
 */
export function dynptrStackWrite(env: Env, st: State, frameNo: number, lo: number, hi: number, pc: number): void {
  const fr = st.frames[frameNo]!;
  for (let at = lo; at < hi; at++) {
    const b = -at - 1;
    if (b >= 0 && b < 512) destroyDynptrSlot(env, st, fr, b >> 3, pc);
  }
  // invalidateRegs with a buffer test, as loops without closures: this runs at every stack write
  // (issue 25); none to look for before a slice with a stack buffer was made (Env.sliceBuf)
  if (env.sliceBuf === false) return;
  for (const f of st.frames) {
    const regs = f.regs;
    for (let k = 0; k < regs.length; k++) if (bufOverlaps(regs[k]!, frameNo, lo, hi)) regs[k] = UNKNOWN;
    for (let k = 0; k < f.spilled.length; k++) {
      const r = f.spilled[k];
      if (r && r.type !== 'dynptr' && f.slotTypes[k * 8 + 7] === SlotType.Spill && bufOverlaps(r, frameNo, lo, hi)) setSpilled(f, k, UNKNOWN);
    }
  }
}

/** A bpf_dynptr_slice() result that may be a stack buffer overlapping bytes [lo, hi) of frame `frameNo`. */
const bufOverlaps = (r: Reg, frameNo: number, lo: number, hi: number): boolean => r.buf !== undefined && r.buf.frame === frameNo && r.buf.off < hi && lo < r.buf.off + r.buf.size;

/**
 * process_dynptr_func for the argument in `regno`: a new dynptr made in uninitialised slots, or
 * an initialised one of the kind asked for, whose slots the call reads.
 */
export function processDynptrArg(env: Env, st: State, f: Frame, pc: number, regno: number, arg: DynptrArg): DynptrInfo | undefined {
  const r = f.regs[regno]!;
  const argno = regno - 1;
  if (r.type === 'dynptr_ptr') {
    // CONST_PTR_TO_DYNPTR: always an initialised dynptr, which the callee may not change
    if (arg.uninit) env.reject(pc, 'Dynptr has to be an uninitialized dynptr');
    if (!arg.rdonly) env.reject(pc, 'cannot pass pointer to const bpf_dynptr, the helper mutates it');
    const d = r.dynptr!;
    if (arg.kind !== undefined && d.kind !== arg.kind) env.reject(pc, `Expected a dynptr of type ${arg.kind} as arg #${argno}`);
    return { frame: -1, spi: -1, kind: d.kind, id: d.id };
  }
  if (r.type !== 'fp') env.reject(pc, `arg#${argno} expected pointer to stack or const struct bpf_dynptr`);
  const spi = getSpi(r);
  const frameNo = frameOf(st, r);
  const fr = st.frames[frameNo]!;
  if (arg.uninit) {
    if (typeof spi === 'string') env.reject(pc, spi, 'Dynptr has to be an uninitialized dynptr');
    // the object is written 8 bytes at a time, which destroys what was there (or refuses to)
    for (let i = 0; i < 16; i += 8) memAccess(env, st, f, pc, regno, r, i, 8, { write: true });
    const kind = arg.kind;
    if (kind === undefined) return undefined;
    const id = env.nextId();
    let ref: number | undefined;
    if (refcounted(kind)) {
      ref = arg.cloneOf?.refObjId;
      if (ref === undefined) {
        ref = env.nextId();
        st.refs = [...st.refs, { id: ref, insn: pc }];
      }
    }
    for (let i = 0; i < NR_SLOTS; i++) {
      const slot = spi - i;
      const dynptr: DynptrSlot = { kind, first: i === 0, id };
      setSpilled(fr, slot, { ...known(0n), type: 'dynptr', id, ...(ref !== undefined ? { refObjId: ref } : {}), dynptr });
      fillSlotTypes(fr, SlotType.Dynptr, slot * 8, slot * 8 + 8);
      env.scratchSlot(slot);
    }
    return { frame: frameNo, spi, kind, id, ...(ref !== undefined ? { refObjId: ref } : {}) };
  }
  if (typeof spi === 'string' || !validInit(fr, spi)) env.reject(pc, ...(typeof spi === 'string' ? [spi] : []), `Expected an initialized dynptr as arg #${argno}`);
  const s = fr.spilled[spi]!;
  const d = s.dynptr!;
  if (arg.kind !== undefined && d.kind !== arg.kind) env.reject(pc, `Expected a dynptr of type ${arg.kind} as arg #${argno}`);
  // mark_dynptr_read
  env.stackLive?.read(frameNo, spi - 1, spi);
  env.scratchSlot(spi);
  env.scratchSlot(spi - 1);
  return { frame: frameNo, spi, kind: d.kind, id: d.id, ...(s.refObjId !== undefined ? { refObjId: s.refObjId } : {}) };
}

/** check_func_arg for an OBJ_RELEASE dynptr: it must hold a reference. */
export function checkDynptrRelease(env: Env, st: State, r: Reg, regno: number, pc: number): void {
  if (r.type !== 'fp') env.reject(pc, 'cannot release unowned const bpf_dynptr');
  const spi = getSpi(r);
  const fr = st.frames[frameOf(st, r)]!;
  if (typeof spi === 'string') env.reject(pc, spi, `arg ${regno} is an unacquired reference`);
  if (!fr.spilled[spi]?.refObjId || fr.slotTypes[spi * 8] !== SlotType.Dynptr) env.reject(pc, `arg ${regno} is an unacquired reference`);
}

/**
 * unmark_stack_slots_dynptr: an unreferenced dynptr's slots are cleared; a referenced one's
 * reference is released, with every slice holding it and every clone sharing it.
 */
export function releaseDynptr(st: State, r: Reg, env?: Env): void {
  const spi = getSpi(r);
  if (typeof spi === 'string') return;
  const fr = st.frames[frameOf(st, r)]!;
  const s = fr.spilled[spi];
  if (!s?.dynptr) return;
  const ref = s.refObjId;
  if (!refcounted(s.dynptr.kind) || ref === undefined) {
    invalidateSlots(fr, spi, env, st);
    return;
  }
  st.refs = st.refs.filter((x) => x.id !== ref);
  invalidateRegs(st, (x) => x.refObjId === ref);
  for (const frame of st.frames)
    for (let slot = 1; slot < 64; slot++) {
      const d = frame.spilled[slot];
      if (d?.dynptr?.first && d.refObjId === ref && frame.slotTypes[slot * 8] === SlotType.Dynptr) invalidateSlots(frame, slot, env, st);
    }
}

/** The dynptr a checked argument points to (dynptr_id, dynptr_ref_obj_id, dynptr_get_type). */
export function dynptrOf(st: State, r: Reg): DynptrInfo | undefined {
  const spi = getSpi(r);
  if (typeof spi === 'string') return undefined;
  const frame = frameOf(st, r);
  const s = st.frames[frame]!.spilled[spi];
  if (!s?.dynptr) return undefined;
  return { frame, spi, kind: s.dynptr.kind, id: s.dynptr.id, ...(s.refObjId !== undefined ? { refObjId: s.refObjId } : {}) };
}

/** The kind a dynptr-making kfunc gives its `__uninit` argument. */
export const KFUNC_DYNPTR_KIND: Readonly<Record<string, string>> = {
  bpf_dynptr_from_skb: 'skb',
  bpf_dynptr_from_xdp: 'xdp',
  bpf_dynptr_from_skb_meta: 'skb_meta',
};

/** A kfunc argument that is a `struct bpf_dynptr *` (is_kfunc_arg_dynptr). */
export const isDynptrStruct = (to: { readonly isStruct: boolean; readonly name: string }): boolean => to.isStruct && to.name === 'bpf_dynptr';

/** The stack bytes a pointer and size name, for a slice's `buf=` (frame, offset from its fp, size). */
export function stackBuf(st: State, r: Reg, size: number): Reg['buf'] {
  if (r.type !== 'fp' || !tnumIsConst(r.var)) return undefined;
  return { frame: frameOf(st, r), off: r.off + Number(BigInt.asIntN(64, r.var.value)), size };
}
