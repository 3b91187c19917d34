/**
 * Open-coded iterators (kernel/bpf/verifier.c process_iter_arg, mark_stack_slots_iter,
 * is_iter_reg_valid_init, process_iter_next_call): `bpf_iter_<kind>_new/next/destroy` kfuncs
 * whose first argument points to a `struct bpf_iter_<kind>` on the stack. The iterator lives in
 * its stack slots (STACK_ITER) with a reference the program must release by destroy(). A next()
 * call splits the path: the current one continues with the iterator drained and R0 = NULL, and
 * a queued one with the iterator still active, one level deeper, and R0 an element. The loop
 * converges when a next() call finds the state of an earlier, still explored one (prune.ts,
 * is_state_visited compares those as RANGE_WITHIN).
 */
import type { BtfArg, BtfFunc } from './btfproto.js';
import type { Env } from './env.js';
import { memAccess } from './mem.js';
import { btfPtrType, nonNull } from './nullable.js';
import { fillSlotTypes, inSleepable, known, setSpilled, SlotType, UNKNOWN, type Frame, type IterState, type Reg, type State } from './state.js';
import { tnumIsConst } from './tnum.js';
import { KFUNC_SETS } from './kfunc-sets.js';

/** Which of the three an iterator kfunc is (KF_ITER_NEW, KF_ITER_NEXT, KF_ITER_DESTROY). */
export type IterOp = 'new' | 'next' | 'destroy';

const ITER_NAME = /^bpf_iter_(\w+)_(new|next|destroy)$/;

/**
 * The iterator kfunc a BTF function is, by the convention the kernel enforces when it registers
 * one (btf_check_iter_kfuncs): named `bpf_iter_<kind>_<op>`, its first argument a pointer to
 * `struct bpf_iter_<kind>`, a multiple of 8 bytes.
 */
export function iterKfunc(fn: BtfFunc): { readonly op: IterOp; readonly kind: string } | undefined {
  const m = ITER_NAME.exec(fn.name);
  if (!m) return undefined;
  // the kernel's sources flag each one KF_ITER_NEW/NEXT/DESTROY; a kfunc the table lacks (a module's) goes by its name
  const row = Object.hasOwn(KFUNC_SETS, fn.name) ? KFUNC_SETS[fn.name] : undefined;
  if (row && !row.flags.includes(`iter_${m[2]}`)) return undefined;
  const arg = fn.params[0]?.type;
  if (arg?.kind !== 'ptr' || !arg.to.isStruct || arg.to.name !== `bpf_iter_${m[1]}`) return undefined;
  return { op: m[2] as IterOp, kind: m[1]! };
}

/** An iterator argument: the first of an iterator kfunc, or one whose name ends in `__iter` (is_kfunc_arg_iter). */
export const isIterArg = (fn: BtfFunc, k: number): boolean => (k === 0 && iterKfunc(fn) !== undefined) || (fn.params[k]?.name.endsWith('__iter') ?? false);

/** Where an iterator argument's state is, remembered for process_iter_next_call. */
export interface IterMeta {
  readonly frame: number;
  readonly spi: number;
  readonly refObjId: number;
}

/** __get_spi: the slot whose first byte is `off` below the frame pointer. */
const spiOf = (off: number): number => Math.floor((-off - 1) / 8);

/**
 * stack_slot_obj_get_spi: the first (lowest-addressed) slot of an object of `nrSlots` slots;
 * where it cannot be, process_iter_arg's own refusal (`then`) follows the reason.
 */
function objSpi(env: Env, pc: number, r: Reg, nrSlots: number, then: string): number {
  if (!tnumIsConst(r.var)) env.reject(pc, 'iter has to be at a constant offset', then);
  const off = r.off + Number(BigInt.asIntN(64, r.var.value));
  if (off % 8) env.reject(pc, `cannot pass in iter at an offset=${off}`, then);
  const spi = spiOf(off);
  if (spi + 1 < nrSlots) env.reject(pc, `cannot pass in iter at an offset=${off}`, then);
  return spi;
}

/** The iterator kind an argument's struct names (`bpf_iter_num` -> `num`), or undefined (btf_check_iter_arg). */
function iterStruct(t: BtfArg): { readonly kind: string; readonly size: number } | undefined {
  if (t.kind !== 'ptr' || !t.to.isStruct || !t.to.name.startsWith('bpf_iter_') || t.to.size === undefined || t.to.size % 8) return undefined;
  return { kind: t.to.name.slice('bpf_iter_'.length), size: t.to.size };
}

/** Whether the program is inside an RCU read-side section (in_rcu_cs): a lock held, or not sleepable. */
export const inRcuCs = (env: Env, st: State): boolean => st.rcuLock === true || !inSleepable(env, st);

/**
 * process_iter_arg: new() takes uninitialised stack and makes it an active iterator holding a
 * new reference; next() and destroy() take an initialised one of the same kind, and destroy()
 * releases it. Returns where the iterator is.
 */
export function processIterArg(env: Env, st: State, f: Frame, pc: number, fn: BtfFunc, regno: number, rcuProtected: boolean): IterMeta | undefined {
  const r = f.regs[regno]!;
  const argno = regno - 1;
  if (r.type !== 'fp') env.reject(pc, `arg#${argno} expected pointer to an iterator on stack`);
  const it = iterStruct(fn.params[argno]!.type);
  if (!it) env.reject(pc, `expected valid iter pointer as arg #${argno}`);
  const nrSlots = it.size / 8;
  const frameNo = r.frame ?? st.frames.length - 1;
  const fr = st.frames[frameNo]!;
  const op = iterKfunc(fn)?.op;
  if (op === 'new') {
    const spi = objSpi(env, pc, r, nrSlots, `expected uninitialized iter_${it.kind} as arg #${argno}`);
    for (let i = 0; i < nrSlots; i++) for (let j = 0; j < 8; j++) if (fr.slotTypes[(spi - i) * 8 + j] === SlotType.Iter) env.reject(pc, `expected uninitialized iter_${it.kind} as arg #${argno}`);
    // the slots are written as by an 8-byte store each (bounds, stack depth, spills scrubbed)
    for (let i = 0; i < nrSlots; i++) memAccess(env, st, f, pc, regno, r, i * 8, 8, { write: true });
    const id = env.nextId();
    st.refs = [...st.refs, { id, insn: pc }];
    const rcu = rcuProtected ? (inRcuCs(env, st) ? 'rcu' : 'untrusted') : undefined;
    for (let i = 0; i < nrSlots; i++) {
      const slot = spi - i;
      const state: IterState = { kind: it.kind, state: 'active', depth: 0, ...(rcu ? { rcu } : {}) };
      setSpilled(fr, slot, { ...known(0n), type: 'iter', ...(i === 0 ? { refObjId: id } : {}), iter: state });
      fillSlotTypes(fr, SlotType.Iter, slot * 8, slot * 8 + 8);
      env.scratchSlot(slot);
    }
    return undefined;
  }
  const spi = objSpi(env, pc, r, nrSlots, `expected an initialized iter_${it.kind} as arg #${argno}`);
  // is_iter_reg_valid_init
  for (let i = 0; i < nrSlots; i++) {
    const slot = spi - i;
    const s = slot >= 0 && slot < 64 ? fr.spilled[slot] : undefined;
    let ok = s?.iter !== undefined && s.iter.kind === it.kind && (i === 0 ? !!s.refObjId : !s.refObjId);
    for (let j = 0; ok && j < 8; j++) if (fr.slotTypes[slot * 8 + j] !== SlotType.Iter) ok = false;
    if (ok && s?.iter?.rcu === 'untrusted') env.reject(pc, `expected an RCU CS when using ${fn.name}`);
    if (!ok) env.reject(pc, `expected an initialized iter_${it.kind} as arg #${argno}`);
  }
  const refObjId = fr.spilled[spi]!.refObjId!;
  // mark_iter_read
  env.stackLive?.read(frameNo, spi - nrSlots + 1, spi);
  for (let i = 0; i < nrSlots; i++) env.scratchSlot(spi - i);
  if (op === 'destroy') {
    // unmark_stack_slots_iter: the reference goes, and with it what next() returned
    releaseIterRef(st, refObjId);
    for (let i = 0; i < nrSlots; i++) {
      const slot = spi - i;
      setSpilled(fr, slot, undefined);
      fillSlotTypes(fr, SlotType.Invalid, slot * 8, slot * 8 + 8);
      env.stackLive?.write(frameNo, slot);
      env.scratchSlot(slot);
    }
  }
  return { frame: frameNo, spi, refObjId };
}

/** release_reference for an iterator: registers and spills holding what it returned become unknown. */
function releaseIterRef(st: State, id: number): void {
  st.refs = st.refs.filter((x) => x.id !== id);
  for (const fr of st.frames) {
    fr.regs.forEach((r, k) => {
      if (r.refObjId === id) fr.regs[k] = UNKNOWN;
    });
    fr.spilled.forEach((r, k) => {
      if (r?.refObjId === id && r.type !== 'iter') setSpilled(fr, k, UNKNOWN);
    });
  }
}

/**
 * R0 of a next() returning a pointer to a kernel struct (check_kfunc_call): RCU when the iterator
 * is, else untrusted. Linux 6.18's sources make it trusted; this machine kind's 6.18.44-fc-v1300
 * build makes it untrusted (`untrusted_ptr_task_struct` from bpf_iter_css_task_next,
 * `untrusted_ptr_kmem_cache` from bpf_iter_kmem_cache_next: iters.test.ts), as an earlier build of
 * the same version did not, and the verifier follows the kernel it is compared with.
 */
export function iterNextStruct(st: State, meta: IterMeta, struct: string): Reg['type'] {
  const it = st.frames[meta.frame]!.spilled[meta.spi]?.iter;
  return btfPtrType(struct, it?.rcu === 'rcu' ? 'rcu_' : 'untrusted_', true);
}

/** What the verifier does for process_iter_next_call: queue a path and find the loop's previous entry. */
export interface IterEnv extends Env {
  /** push_stack: a copy of the path that continues at `pc` later (the last instruction being `prev`). */
  queuePath(st: State, pc: number, prev: number): State;
  /** find_prev_entry + widen_imprecise_scalars: widen `queued` against this loop's previous entry, if any. */
  widenAtIterNext(st: State, queued: State, pc: number): void;
}

/**
 * process_iter_next_call: an active iterator may return an element, explored later on a queued
 * path one level deeper (with scalars that changed since the loop's previous entry widened);
 * this path continues with the iterator drained and R0 = NULL.
 */
export function processIterNext(env: IterEnv, st: State, pc: number, meta: IterMeta): void {
  const fr = st.frames[meta.frame]!;
  const it = fr.spilled[meta.spi]!.iter!;
  if (it.state === 'active') {
    const queued = env.queuePath(st, pc + 1, pc);
    const qf = queued.frames[meta.frame]!;
    setSpilled(qf, meta.spi, { ...qf.spilled[meta.spi]!, iter: { ...it, depth: it.depth + 1 } });
    env.widenAtIterNext(st, queued, pc);
    const top = queued.frames[queued.frames.length - 1]!;
    // mark_ptr_not_null_reg: the element, its id kept
    const r0 = top.regs[0]!;
    const nn = nonNull(r0);
    top.regs[0] = r0.id !== undefined ? { ...nn, id: r0.id } : nn;
  }
  setSpilled(fr, meta.spi, { ...fr.spilled[meta.spi]!, iter: { ...it, state: 'drained' } });
  st.frames[st.frames.length - 1]!.regs[0] = known(0n);
}

/** Whether the iterator that instruction `pc`'s R1 points to is active in `st` (is_state_visited's convergence test). */
export function iterActiveAtCall(st: State): boolean {
  const f = st.frames[st.frames.length - 1]!;
  const r1 = f.regs[1]!;
  if (r1.type !== 'fp') return false;
  const spi = spiOf(r1.off + Number(BigInt.asIntN(64, r1.var.value)));
  const fr = st.frames[r1.frame ?? st.frames.length - 1]!;
  return fr.spilled[spi]?.iter?.state === 'active';
}
