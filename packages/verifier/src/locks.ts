/**
 * Locks and the sections that forbid sleeping (kernel/bpf/verifier.c process_spin_lock,
 * acquire_lock_state, release_lock_state, find_lock_state, check_resource_leak, refsafe):
 * `bpf_spin_lock`/`bpf_spin_unlock` on a map value's `struct bpf_spin_lock`, the resilient
 * `bpf_res_spin_lock` family, `bpf_preempt_disable`/`enable` nesting and `bpf_local_irq_save`
 * /`restore`. A held lock is a reference state of its own kind (`RefState.kind`), kept in the
 * same list as acquired pointers, as the kernel keeps them; `State.activeLock` is the lock
 * taken last (active_lock_id/ptr).
 */
import type { MapDef } from '@bpf/isa';
import type { Env } from './env.js';
import { inRbtreeCb, invalidateNonOwning } from './graph.js';
import { mapField, mapRecord, type MapFieldKind } from './mapfields.js';
import { memAccess } from './mem.js';
import { fillSlotTypes, pointer, setSpilled, SlotType, type Frame, type RefKind, type RefState, type Reg, type State } from './state.js';
import { tnumIsConst } from './tnum.js';

const LOCK_KINDS: ReadonlySet<RefKind | undefined> = new Set<RefKind | undefined>(['lock', 'res_lock', 'res_lock_irq']);
export const isLockRef = (r: RefState): boolean => LOCK_KINDS.has(r.kind);

/** The kernel's active_locks: locks of any kind held on this path. */
export const activeLocks = (st: State): number => {
  let n = 0;
  for (const r of st.refs) if (LOCK_KINDS.has(r.kind)) n++;
  return n;
};

/** bpf_spin_lock (helper 93) and bpf_spin_unlock (94). */
export const BPF_FUNC_SPIN_LOCK = 93;
export const BPF_FUNC_SPIN_UNLOCK = 94;

export interface SpinLockOp {
  readonly lock: boolean;
  /** bpf_res_spin_lock and its irqsave form. */
  readonly res?: boolean;
  readonly irq?: boolean;
}

/** find_lock_state: a held lock of one of `kinds` on this object. */
function findLock(st: State, kinds: readonly RefKind[], id: number, ptr: string | undefined): RefState | undefined {
  return st.refs.find((r) => r.kind !== undefined && kinds.includes(r.kind) && r.id === id && r.ptr === ptr);
}

/** The object a lock belongs to and its field, as process_spin_lock finds them. */
function lockTarget(env: Env, r: Reg, regno: number, pc: number, lockStr: string, kind: MapFieldKind): { ptr: string } {
  if (!tnumIsConst(r.var)) env.reject(pc, `R${regno} doesn't have constant offset. ${lockStr}_lock has to be at the constant offset`);
  let field;
  let ptr: string;
  if (r.type === 'map_value') {
    const map = r.map!;
    if (!mapRecord(map)) env.reject(pc, `map '${map.name}' has to have BTF in order to use ${lockStr}_lock`);
    field = mapField(map, kind);
    if (!field) env.reject(pc, `map '${map.name}' has no valid ${lockStr}_lock`);
    ptr = `map:${map.name}`;
  } else {
    // an allocated object of the program's BTF (bpf_obj_new): the lock its record has; locks
    // of allocated objects are told apart by the object's id alone (the kernel's ptr is the BTF)
    if (r.allocLock === undefined || kind !== 'bpf_spin_lock') env.reject(pc, `local 'kptr' has no valid ${lockStr}_lock`);
    field = { off: r.allocLock };
    ptr = 'btf';
  }
  const off = r.off + Number(BigInt.asIntN(64, r.var.value));
  if (off !== field.off) env.reject(pc, `off ${off} doesn't point to 'struct ${lockStr}_lock' that is at ${field.off}`);
  return { ptr };
}

/** process_spin_lock: take or release the lock register `regno` points to. */
export function processSpinLock(env: Env, st: State, f: Frame, regno: number, pc: number, op: SpinLockOp): void {
  // check_func_arg's ARG_PTR_TO_SPIN_LOCK (the helpers only): not inside bpf_rbtree_add's less()
  if (!op.res && inRbtreeCb(env, st)) env.reject(pc, "can't spin_{lock,unlock} in rbtree cb");
  const lockStr = op.res ? 'bpf_res_spin' : 'bpf_spin';
  const r = f.regs[regno]!;
  const { ptr } = lockTarget(env, r, regno, pc, lockStr, op.res ? 'bpf_res_spin_lock' : 'bpf_spin_lock');
  const id = r.id ?? 0;
  const kind: RefKind = op.res ? (op.irq ? 'res_lock_irq' : 'res_lock') : 'lock';
  const held = activeLocks(st);
  if (op.lock) {
    // (the kernel looks for a lock with id 0 and no object, which none has: two bpf_spin_lock
    // calls meet "function calls are not allowed while holding a lock" first)
    if (!op.res && held && findLock(st, ['lock'], 0, undefined)) env.reject(pc, 'Locking two bpf_spin_locks are not allowed');
    if (op.res && held && findLock(st, ['res_lock', 'res_lock_irq'], id, ptr)) env.reject(pc, 'Acquiring the same lock again, AA deadlock detected');
    st.refs = [...st.refs, { id, insn: pc, kind, ptr }];
    st.activeLock = { id, ptr };
    return;
  }
  if (!held) env.reject(pc, `${lockStr}_unlock without taking a lock`);
  if (!findLock(st, [kind], id, ptr)) env.reject(pc, `${lockStr}_unlock of different lock`);
  if (st.activeLock?.id !== id || st.activeLock.ptr !== ptr) env.reject(pc, `${lockStr}_unlock cannot be out of order`);
  releaseLock(st, kind, id, ptr);
  // references to nodes pushed under the lock end with it (graph.ts)
  invalidateNonOwning(st);
}

/** release_lock_state: the lock goes, the one taken before it (in the list) becomes the active one. */
function releaseLock(st: State, kind: RefKind, id: number, ptr: string): void {
  let prev: { id: number; ptr: string } | undefined;
  for (let k = 0; k < st.refs.length; k++) {
    const r = st.refs[k]!;
    if (r.kind === kind && r.id === id && r.ptr === ptr) {
      st.refs = [...st.refs.slice(0, k), ...st.refs.slice(k + 1)];
      if (prev) st.activeLock = prev;
      else delete st.activeLock;
      return;
    }
    if (LOCK_KINDS.has(r.kind)) prev = { id: r.id, ptr: r.ptr ?? '' };
  }
}

/**
 * do_check's BPF_CALL: while a lock is held only bpf_spin_unlock, static subprograms and the
 * kfuncs kfunc_spin_allowed names (graph API, bpf_iter_num_*, resilient locks) may be called.
 */
export function checkCallWhileLocked(env: Env, st: State, pc: number, target: 'helper' | 'kfunc' | 'subprog', helperId: number, kfuncName: string | undefined): void {
  if (!activeLocks(st)) return;
  if (target === 'helper' && helperId !== BPF_FUNC_SPIN_UNLOCK) env.reject(pc, 'function calls are not allowed while holding a lock');
  if (target === 'kfunc' && !(kfuncName !== undefined && KFUNC_SPIN_ALLOWED.has(kfuncName))) env.reject(pc, 'function calls are not allowed while holding a lock');
}

/** kfunc_spin_allowed: is_bpf_graph_api_kfunc, is_bpf_iter_num_api_kfunc, is_bpf_res_spin_lock_kfunc. */
const KFUNC_SPIN_ALLOWED: ReadonlySet<string> = new Set([
  'bpf_list_push_front_impl',
  'bpf_list_push_back_impl',
  'bpf_list_pop_front',
  'bpf_list_pop_back',
  'bpf_list_front',
  'bpf_list_back',
  'bpf_rbtree_add_impl',
  'bpf_rbtree_remove',
  'bpf_rbtree_first',
  'bpf_rbtree_root',
  'bpf_rbtree_left',
  'bpf_rbtree_right',
  'bpf_refcount_acquire_impl',
  'bpf_iter_num_new',
  'bpf_iter_num_next',
  'bpf_iter_num_destroy',
  'bpf_res_spin_lock',
  'bpf_res_spin_unlock',
  'bpf_res_spin_lock_irqsave',
  'bpf_res_spin_unlock_irqrestore',
]);

/**
 * check_resource_leak: at the main program's exit (and a tail call, an LD_ABS), no lock may be
 * held, no reference left, no IRQ, RCU or preemption section open — checked in this order.
 */
export function checkResourceLeak(env: Env, st: State, pc: number, prefix: string, checkLock: boolean): void {
  if (checkLock && activeLocks(st)) env.reject(pc, `${prefix} cannot be used inside bpf_spin_lock-ed region`);
  const leaked = st.refs.filter((r) => r.kind === undefined);
  if (leaked.length) env.reject(pc, ...leaked.map((r) => `Unreleased reference id=${r.id} alloc_insn=${r.insn}`), `${prefix} would lead to reference leak`);
  if (checkLock && st.irqId) env.reject(pc, `${prefix} cannot be used inside bpf_local_irq_save-ed region`);
  if (checkLock && st.rcuLock) env.reject(pc, `${prefix} cannot be used inside bpf_rcu_read_lock-ed region`);
  if (checkLock && st.preemptLocks) env.reject(pc, `${prefix} cannot be used inside bpf_preempt_disable-ed region`);
}

/** The part of refsafe (states_equal) about references, locks and sections; `check` is the ids' one-to-one map. */
export function refsSafe(old: State, cur: State, check: (a: number | undefined, b: number | undefined) => boolean): boolean {
  if (old.refs.length !== cur.refs.length) return false;
  if (activeLocks(old) !== activeLocks(cur)) return false;
  if ((old.preemptLocks ?? 0) !== (cur.preemptLocks ?? 0)) return false;
  if (!old.rcuLock !== !cur.rcuLock) return false;
  if (!check(old.irqId, cur.irqId)) return false;
  if (!check(old.activeLock?.id, cur.activeLock?.id) || old.activeLock?.ptr !== cur.activeLock?.ptr) return false;
  for (let k = 0; k < old.refs.length; k++) {
    const o = old.refs[k]!;
    const c = cur.refs[k]!;
    if (o.kind !== c.kind) return false;
    if (o.kind === undefined || o.kind === 'irq') {
      if (!check(o.id, c.id)) return false;
    } else if (o.ptr !== c.ptr || !check(o.id, c.id)) return false;
  }
  return true;
}

/** is_tracing_prog_type. */
const TRACING: ReadonlySet<string> = new Set(['kprobe', 'tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable']);

/** The map types a sleepable program may use, directly or as the inner maps of a map-in-map. */
const SLEEPABLE_MAPS: ReadonlySet<string> = new Set([
  'hash', 'lru_hash', 'array', 'percpu_hash', 'percpu_array', 'lru_percpu_hash', 'array_of_maps', 'hash_of_maps', 'ringbuf',
  'user_ringbuf', 'inode_storage', 'sk_storage', 'task_storage', 'cgrp_storage', 'queue', 'stack', 'arena',
]);

/**
 * check_map_prog_compatibility: the special fields of a map's value some program types may not
 * use, the maps a sleepable program may use, and one cgroup storage of each kind per program.
 * `storages` keeps the cgroup storage map of each kind met so far (bpf_cgroup_storage_assign).
 */
export function mapProgCompat(env: Env, pc: number, map: MapDef, storages?: Map<string, string>): void {
  const rec = mapRecord(map);
  const has = (...kinds: MapFieldKind[]): boolean => rec?.fields.some((f) => kinds.includes(f.kind)) === true;
  const tracing = TRACING.has(env.type);
  if (has('bpf_list_head', 'bpf_rb_root') && tracing) env.reject(pc, 'tracing progs cannot use bpf_{list_head,rb_root} yet');
  if (has('bpf_spin_lock', 'bpf_res_spin_lock')) {
    if (env.type === 'socket_filter') env.reject(pc, 'socket filter progs cannot use bpf_spin_lock yet');
    if (tracing) env.reject(pc, 'tracing progs cannot use bpf_spin_lock yet');
  }
  if (has('bpf_timer') && tracing) env.reject(pc, 'tracing progs cannot use bpf_timer yet');
  if (has('bpf_wq') && tracing) env.reject(pc, 'tracing progs cannot use bpf_wq yet');
  if (map.type === 'struct_ops') env.reject(pc, 'bpf_struct_ops map cannot be used in prog');
  // the running 6.18 kernel checks a map-in-map's inner map too (its message says so; 6.18.26's sources do not)
  const inner = (map as { readonly inner?: MapDef }).inner;
  if (env.load.sleepable && (!SLEEPABLE_MAPS.has(map.type) || (inner && !SLEEPABLE_MAPS.has(inner.type))))
    env.reject(pc, 'Sleepable programs can only use array, hash, ringbuf and local storage maps, also as inner maps');
  if (storages && (map.type === 'cgroup_storage' || map.type === 'percpu_cgroup_storage')) {
    const first = storages.get(map.type);
    if (first !== undefined && first !== map.name) env.reject(pc, 'only one cgroup storage of each type is allowed');
    storages.set(map.type, map.name);
  }
}

/**
 * check_kfunc_call's sections: bpf_preempt_disable/enable nest by count, and no sleepable kfunc
 * may run with preemption or IRQs disabled.
 */
export function kfuncSections(env: Env, st: State, pc: number, name: string, disable: boolean, enable: boolean, sleepable: boolean): void {
  if (st.preemptLocks) {
    if (disable) st.preemptLocks++;
    else if (enable) {
      st.preemptLocks--;
      if (!st.preemptLocks) delete st.preemptLocks;
    } else if (sleepable) env.reject(pc, `kernel func ${name} is sleepable within non-preemptible region`);
  } else if (disable) st.preemptLocks = 1;
  else if (enable) env.reject(pc, `unmatched attempt to enable preemption (kernel function ${name})`);
  if (st.irqId && sleepable) env.reject(pc, `kernel func ${name} is sleepable within IRQ-disabled region`);
}

/**
 * process_irq_flag: bpf_local_irq_save (and bpf_res_spin_lock_irqsave) keep the flags in an
 * 8-byte stack slot that becomes STACK_IRQ_FLAG and holds an IRQ reference; restoring them must
 * use the same kind of kfunc, undo the innermost save first, and leaves the slot invalid.
 */
export function processIrqFlag(env: Env, st: State, f: Frame, pc: number, regno: number, name: string): void {
  const save = name === 'bpf_local_irq_save' || name === 'bpf_res_spin_lock_irqsave';
  const cls: 'native' | 'lock' = name.startsWith('bpf_res_spin') ? 'lock' : 'native';
  const r = f.regs[regno]!;
  const frame = st.frames[r.frame ?? st.frames.length - 1]!;
  const off = r.off + Number(BigInt.asIntN(64, r.var.value));
  const slot = (-off - 1) >> 3;
  const b = slot * 8;
  const isFlag = (j: number): boolean => frame.slotTypes[b + j] === SlotType.IrqFlag;
  if (save) {
    for (let j = 0; j < 8; j++) if (isFlag(j)) env.reject(pc, `expected uninitialized irq flag as arg#${regno - 1}`);
    memAccess(env, st, f, pc, regno, r, 0, 8, { write: true });
    const id = env.nextId();
    st.refs = [...st.refs, { id, insn: pc, kind: 'irq' }];
    st.irqId = id;
    fillSlotTypes(frame, SlotType.IrqFlag, b, b + 8);
    setSpilled(frame, slot, { ...pointer('fp'), refObjId: id, irqClass: cls });
    env.scratchSlot(slot);
    return;
  }
  const held = frame.spilled[slot];
  for (let j = 0; j < 8; j++) if (!isFlag(j) || !held?.refObjId) env.reject(pc, `expected an initialized irq flag as arg#${regno - 1}`);
  if (held!.irqClass !== cls) env.reject(pc, `irq flag acquired by ${held!.irqClass} kfuncs cannot be restored with ${cls} kfuncs`);
  const id = held!.refObjId!;
  if (id !== st.irqId) {
    const at = st.refs.find((x) => x.id === st.irqId)?.insn ?? 0;
    env.reject(pc, `cannot restore irq state out of order, expected id=${st.irqId ?? 0} acquired at insn_idx=${at}`);
  }
  // release_irq_state: the save before this one becomes the innermost
  let prev: number | undefined;
  for (const x of st.refs) {
    if (x.kind !== 'irq') continue;
    if (x.id === id) break;
    prev = x.id;
  }
  st.refs = st.refs.filter((x) => x.id !== id || x.kind !== 'irq');
  if (prev) st.irqId = prev;
  else delete st.irqId;
  // mark_irq_flag_read, then unmark_stack_slot_irq_flag's write
  env.stackLive?.read(r.frame ?? st.frames.length - 1, slot);
  env.stackLive?.write(r.frame ?? st.frames.length - 1, slot);
  fillSlotTypes(frame, SlotType.Invalid, b, b + 8);
  setSpilled(frame, slot, undefined);
  env.scratchSlot(slot);
}
