/**
 * Calls (kernel/bpf/verifier.c check_helper_call, check_func_arg, check_func_call,
 * prepare_func_exit, check_return_code): helper prototypes from helpers.ts, BPF-to-BPF frames,
 * bpf_loop callbacks, acquired references, kfuncs with stack arguments (stack-args §3-§4).
 */
import { boundsSync } from './scalar.js';
import { helperName, MAX_BPF_FUNC_REG_ARGS, PROG_TYPES, type FuncProtoDecl, type Insn, type MapDef } from '@bpf/isa';
import { VerifierReject, type Env } from './env.js';
import { lsmRetvalRange } from './btfctx.js';
import { checkStaticCall, globalCall, isGlobal } from './global.js';
import { btfKfuncCall, declaredKfunc, kfuncFromBtf, kfuncLicenseCheck, kfuncInfo, kfuncPermitted, type KfuncCallback, type KfuncEnv } from './kfuncs.js';
import type { Path } from './prune.js';
import { JumpHist } from './jmphist.js';
import { helperAllowed, helperProto, mapHelperError } from './helpers.js';
import { isNull, releaseReference } from './callargs.js';
import { subprogMightThrow } from './exceptions.js';
import { subprogHas, type EffectMemo } from './subprogwalk.js';
import { releaseDynptr } from './dynptr.js';
import { BPF_FUNC_SPIN_LOCK, BPF_FUNC_SPIN_UNLOCK, checkResourceLeak, processSpinLock } from './locks.js';
import { checkHelperArg, newArgMeta, type ArgHooks, type ArgMeta } from './helperargs.js';
import { clearPacketPointers, helperReturn, PKT_CHANGING } from './helperret.js';
import { inRcuCs } from './iter.js';
import { btfPtr, btfPtrType } from './nullable.js';
import { regTypeStr, regTypeStrBare } from './print.js';
import { clearOut, cloneState, copyReg, inSleepable, isConst, newFrame, newState, NOT_INIT, pointer, S64_MAX, S64_MIN, setSpilled, SlotType, UNKNOWN, type Frame, type Reg, type State } from './state.js';
import { tnumIsConst } from './tnum.js';

export const MAX_CALL_FRAMES = 8;

export interface CallEnv extends KfuncEnv {
  readonly protos: ReadonlyMap<string, FuncProtoDecl>;
  readonly kfuncAt: ReadonlyMap<number, string>;
  readonly slotsWritten: number[];
  readonly slotsRequired: number[];
  /** Per bpf_loop call: whether it can still be inlined (flags always 0, one callback). */
  readonly loopInline: Map<number, { fit: boolean; subprog: number }>;
  tailCallReached: boolean;
  /** Queue a state to explore later (a branch). */
  push(st: State): void;
  argCountOf(subprog: number): number;
  fp(frame: number): Reg;
  /** A callback returned to its call: widen the scalars that changed since the last checkpoint there. */
  widenAtCallback(st: State): void;
  /** Subprogram `sub` is called as a callback (is_cb; is_async_cb when it runs later on its own). */
  markCallback(sub: number, async: boolean): void;
  /** The program's exception callback subprogram (exceptions.ts), if it names one. */
  readonly exceptionCb: number | undefined;
  /** func_info_aux[].unreliable (global.ts checkStaticCall). */
  readonly unreliable: Set<number>;
}

/** get_constant_map_key: the key a stack pointer points to when it is a known constant. */
function constantMapKey(st: State, r: Reg, keySize: number): number | undefined {
  if (r.type !== 'fp' || !tnumIsConst(r.var)) return undefined;
  const f = st.frames[r.frame ?? st.frames.length - 1]!;
  const b = -(r.off + Number(BigInt.asIntN(64, r.var.value))) - 1;
  if (b < 0 || b >= 512) return undefined;
  const slot = b >> 3;
  let zeros = 0;
  for (let j = b & 7; j >= 0 && f.slotTypes[slot * 8 + j] === SlotType.Zero; j--) zeros++;
  if (zeros >= keySize) return 0;
  if (f.slotTypes[slot * 8 + 7] !== SlotType.Spill || f.spilled[slot]?.type !== 'scalar') return undefined;
  let spilled = 0;
  for (let j = b & 7; j >= 0 && f.slotTypes[slot * 8 + j] === SlotType.Spill; j--) spilled++;
  if (spilled !== keySize) return undefined;
  const reg = f.spilled[slot]!;
  if (!tnumIsConst(reg.var)) return undefined;
  return Number(reg.var.value);
}

/** The key's bytes are all STACK_ZERO (get_constant_map_key's first case). */
function zeroKey(st: State, r: Reg, keySize: number): boolean {
  const f = st.frames[r.frame ?? st.frames.length - 1]!;
  const b = -(r.off + Number(BigInt.asIntN(64, r.var.value))) - 1;
  let zeros = 0;
  for (let j = b & 7; j >= 0 && f.slotTypes[(b >> 3) * 8 + j] === SlotType.Zero; j--) zeros++;
  return zeros >= keySize;
}

/** What every call leaves behind: r0..r5 unreadable until written, stack-argument slots consumed (stack-args §4.4). */
export function clearCallerSaved(env: Env, f: Frame): void {
  clearOut(f);
  f.noStackArgLoad = true;
  for (let r = 0; r <= 5; r++) {
    f.regs[r] = NOT_INIT;
    env.scratchReg(r);
  }
}

/** check_helper_call. */
/** check_func_arg's hooks for a helper (one object: it captures nothing). */
const HELPER_HOOKS: ArgHooks = {
  mapKey(env: Env, s: State, r: Reg, _regno: number, size: number, m: ArgMeta): void {
    // can_elide_value_nullness: every helper's key of an array map, not only a lookup's (check_func_arg)
    if (m.map!.type !== 'array' && m.map!.type !== 'percpu_array') return;
    m.constKey = constantMapKey(s, r, size);
    // a key of zero bytes (STACK_ZERO) is precise by itself; a spilled constant is tracked back
    if (m.constKey !== undefined && !zeroKey(s, r, size)) env.preciseSlot(r.frame ?? s.frames.length - 1, (-(r.off + Number(BigInt.asIntN(64, r.var.value))) - 1) >> 3);
  },
};

export function helperCall(env: CallEnv, st: State, f: Frame, i: Insn, pc: number, attach?: string): State {
  const name = helperName(i.imm);
  // the tables' prototype, unless the kernel at hand took the helper away (VerifyOptions.helperAvailable)
  const proto = helperProto(i.imm, env.type, attach);
  const h = proto && env.load.helperAvailable(i.imm) ? proto : undefined;
  if (!h) {
    if (name === undefined || i.imm <= 0) env.reject(pc, `invalid func ${name ?? 'unknown'}#${i.imm}`);
    env.reject(pc, `program of this type cannot use helper ${name}#${i.imm}`);
  }
  if (h.gpl && !env.load.gplCompatible) env.reject(pc, 'cannot call GPL-restricted function from non-GPL compatible program');
  if (!helperAllowed(h, env.type, attach, env.load.attachName())) env.reject(pc, 'helper call is not allowed in probe');
  if (h.mightSleep && !inSleepable(env, st)) env.reject(pc, 'helper call might sleep in a non-sleepable prog');
  if (h.mightSleep && st.rcuLock) env.reject(pc, `sleepable helper ${name}#${i.imm} in rcu_read_lock region`);
  if (h.mightSleep && st.preemptLocks) env.reject(pc, `sleepable helper ${name}#${i.imm} in non-preemptible region`);
  if (h.mightSleep && st.irqId) env.reject(pc, `sleepable helper ${name}#${i.imm} in IRQ-disabled region`);
  if (i.imm === 12) env.tailCallReached = true;
  const meta = newArgMeta(h.pktAccess, name);
  // a loop, not forEach with a closure (that closure, the hooks' and the name string made per
  // call were most of what a helper call allocated; issue 25)
  for (let k = 0; k < h.args.length; k++) checkHelperArg(env, st, f, h.args[k]!, k + 1, pc, meta, h.args, HELPER_HOOKS);
  // record_func_map: a map programs may only read (BPF_F_RDONLY_PROG) takes no writes
  if (meta.map && ((meta.map.flags ?? 0) & BPF_F_RDONLY_PROG) !== 0 && MAP_WRITERS.has(i.imm)) env.reject(pc, 'write into map forbidden');
  // record_func_key: a tail call's map must be a program array (the kernel's message has no newline)
  if (i.imm === 12 && meta.map?.type !== 'prog_array') throw new VerifierReject(pc, ['expected prog array map for tail call'], true);
  // bpf_get_local_storage cannot fail, so it takes no flags (check_helper_call)
  if (i.imm === BPF_FUNC_get_local_storage) {
    if (!isNull(f.regs[2]!)) env.reject(pc, "get_local_storage() doesn't support non-zero flags");
    // the running kernel keeps the flags' zero precise (its level-2 log marks R2)
    env.precise(2);
  }
  // check_get_func_ip: only trampoline-attached tracing programs and kprobes know their address
  if (i.imm === 173) getFuncIpCheck(env, pc, `${name}#${i.imm}`, attach);
  // record_func_key: a constant index within the prog array is relied upon (its precision is tracked)
  if (i.imm === 12 && meta.map && f.regs[3]!.type === 'scalar' && f.regs[3]!.var.mask === 0n && f.regs[3]!.var.value < BigInt(meta.map.maxEntries)) env.precise(3);
  if (i.imm === BPF_FUNC_SPIN_LOCK || i.imm === BPF_FUNC_SPIN_UNLOCK) processSpinLock(env, st, f, 1, pc, { lock: i.imm === BPF_FUNC_SPIN_LOCK });
  if (meta.releaseDynptr) releaseDynptr(st, f.regs[meta.releaseRegno!]!, env);
  else if (meta.releaseRegno !== undefined && f.regs[meta.releaseRegno]!.refObjId) {
    // bpf_kptr_xchg inside an RCU section: a per-CPU object handed to the map stays usable as an
    // RCU pointer (MEM_ALLOC dropped, MEM_RCU added) in every copy; other copies go
    if (i.imm === BPF_FUNC_kptr_xchg && inRcuCs(env, st)) releaseIntoRcu(st, f.regs[meta.releaseRegno]!.refObjId!);
    else releaseReference(st, f.regs[meta.releaseRegno]!.refObjId!);
  }
  if (i.imm === 12) checkResourceLeak(env, st, pc, 'tail_call', true);
  // bpf_dynptr_from_mem makes a local dynptr of a map value only
  if (i.imm === BPF_FUNC_dynptr_from_mem && f.regs[1]!.type !== 'map_value') env.reject(pc, `Unsupported reg type ${regTypeStr(f.regs[1]!)} for bpf_dynptr_from_mem data`);
  // writing through an skb dynptr may move the packet
  const dynptrChangesPkt = i.imm === BPF_FUNC_dynptr_write && meta.dynptr !== undefined && (meta.dynptr.kind === 'skb' || meta.dynptr.kind === 'skb_meta');
  // push_async_cb: the timer's callback runs later, as a path of its own with one frame
  if (i.imm === BPF_FUNC_TIMER_SET_CALLBACK && meta.subprog !== undefined) pushAsyncCb(env, st, pc, meta.subprog, f.regs[1]!.map!);
  if (i.imm === 181 && meta.subprog !== undefined) {
    // update_loop_inline_state: a call whose flags are always 0 may be inlined, so they stay 0
    const inline = env.loopInline.get(pc);
    const flagsZero = isConst(f.regs[4]!) && f.regs[4]!.var.value === 0n;
    if (inline === undefined || inline.fit) {
      if (flagsZero) env.precise(4);
      env.loopInline.set(pc, { fit: flagsZero && (inline === undefined || inline.subprog === meta.subprog), subprog: meta.subprog });
    }
    // the iteration count bounds how often the callback runs again: it must stay what it is
    env.precise(1);
    const depth = f.callbackDepth ?? 0;
    if (BigInt(depth) < f.regs[1]!.umax) pushLoopCallback(env, st, f, pc, meta.subprog, depth + 1);
    else if (env.level > 1) env.log2(`frame${st.frames.length - 1} bpf_loop iteration limit reached`);
    f.callbackDepth = 0;
  }
  if (i.imm === BPF_FUNC_for_each_map_elem && meta.subprog !== undefined) {
    // set_map_elem_callback_state: only the maps with map_set_for_each_callback_args (arrays and
    // hashes); R1 the map, R2 a key and R3 a value of it, R4 the context, R5 not set
    const map = f.regs[1]!.map;
    if (!map || !FOR_EACH_MAPS.has(map.type)) env.reject(pc, 'callback function not allowed for map');
    // as for timers, the running 6.18 kernel gives the value a fresh id (printed `map_value(id=1,...)`)
    pushLoopCallback(env, st, f, pc, meta.subprog, (f.callbackDepth ?? 0) + 1, [f.regs[1]!, pointer('map_key', { map }), pointer('map_value', { map, id: env.nextId() }), f.regs[3]!]);
    f.callbackDepth = 0;
  }
  if (i.imm === BPF_FUNC_find_vma && meta.subprog !== undefined) {
    // set_find_vma_callback_state: R1 the task, R2 the vm_area_struct found (PTR_TO_BTF_ID), R3 the context
    pushLoopCallback(env, st, f, pc, meta.subprog, (f.callbackDepth ?? 0) + 1, [f.regs[1]!, pointer(btfPtrType('vm_area_struct')), f.regs[4]!]);
    f.callbackDepth = 0;
  }
  if (i.imm === BPF_FUNC_user_ringbuf_drain && meta.subprog !== undefined) {
    // set_user_ringbuf_callback_state: R1 a read-only local dynptr of the sample, R2 the context
    const id = env.nextId();
    const sample = pointer('dynptr_ptr', { id, dynptr: { kind: 'local', first: true, id } });
    pushLoopCallback(env, st, f, pc, meta.subprog, (f.callbackDepth ?? 0) + 1, [sample, f.regs[3]!]);
    f.callbackDepth = 0;
  }
  // helpers that change packet data leave every packet pointer unusable (clear_all_pkt_pointers);
  // a tail call only on the path where it returns from a subprogram (below)
  if ((PKT_CHANGING.has(i.imm) && i.imm !== 12) || dynptrChangesPkt) clearPacketPointers(st);
  clearCallerSaved(env, f);
  f.regs[0] = helperReturn(env, st, h, meta, pc);
  // bpf_dynptr_data: the slice carries the dynptr's id and reference
  if (i.imm === BPF_FUNC_dynptr_data && meta.dynptr) {
    const d = meta.dynptr;
    const o = copyReg(f.regs[0]!, false, true);
    o.dynptrId = d.id;
    if (d.refObjId !== undefined) o.refObjId = d.refObjId;
    f.regs[0] = o;
  }
  // check_map_func_compatibility comes after the return value in 6.18
  if (meta.map) {
    const err = mapHelperError(meta.map.type, i.imm, name!, env.type);
    if (err) env.reject(pc, ...err);
  }
  if (i.imm === 12 && st.frames.length > 1) return tailCallInSubprog(env, st, f, pc, attach);
  st.pc = pc + 1;
  return st;
}

/**
 * check_helper_call (6.18) for a tail call in a subprogram: the path where the call fails goes
 * on at the next instruction later (queued as it is, packet pointers kept); the one where it
 * succeeds leaves the subprogram at once, as if the called program's exit were its own: packet
 * pointers cleared, R0 unknown, prepare_func_exit. In the main program a tail call changes no
 * packet pointer (the path goes on only where it failed).
 */
function tailCallInSubprog(env: CallEnv, st: State, f: Frame, pc: number, attach: string | undefined): State {
  const from = st as Path;
  const other = cloneState(st) as Path;
  other.hist = from.hist.slice();
  if (from.cp) other.cp = from.cp;
  other.pc = pc + 1;
  other.prev = pc;
  env.push(other);
  clearPacketPointers(st);
  f.regs[0] = UNKNOWN;
  // more than one frame: exitInsn returns to the caller
  return exitInsn(env, st, f, pc, attach)!;
}

const BPF_F_RDONLY_PROG = 0x80;
const BPF_FUNC_get_local_storage = 81;
const BPF_FUNC_kptr_xchg = 194;

const BPF_FUNC_dynptr_from_mem = 197;
const BPF_FUNC_dynptr_write = 202;
const BPF_FUNC_dynptr_data = 203;
/** bpf_map_delete_elem, _update_elem, _push_elem, _pop_elem. */
const MAP_WRITERS: ReadonlySet<number> = new Set([2, 3, 87, 88]);

/** check_get_func_ip. */
function getFuncIpCheck(env: CallEnv, pc: number, fn: string, attach: string | undefined): void {
  if (env.type === 'tracing') {
    if (attach !== 'trace_fentry' && attach !== 'trace_fexit' && attach !== 'modify_return') env.reject(pc, `func ${fn} supported only for fentry/fexit/fmod_ret programs`);
  } else if (env.type !== 'kprobe') env.reject(pc, `func ${fn} not supported for program type ${PROG_TYPES.indexOf(env.type)}`);
}

const BPF_FUNC_TIMER_SET_CALLBACK = 170;
const BPF_FUNC_user_ringbuf_drain = 209;
const BPF_FUNC_for_each_map_elem = 164;
const BPF_FUNC_find_vma = 180;
/** The map types whose ops have map_set_for_each_callback_args (kernel/bpf/arraymap.c, hashtab.c). */
const FOR_EACH_MAPS: ReadonlySet<string> = new Set(['array', 'percpu_array', 'hash', 'percpu_hash', 'lru_hash', 'lru_percpu_hash']);

/**
 * push_async_cb + set_timer_callback_state (and set_task_work_schedule_callback_state): R1 the
 * map, R2 its key, R3 the value; a timer's or workqueue's callback returns 0, a task work's any
 * int; workqueue and task work callbacks may sleep.
 */
export function pushAsyncCb(env: CallEnv, st: State, pc: number, sub: number, map: MapDef, opts: { readonly ret?: readonly [number, number]; readonly sleepable?: boolean } = {}): void {
  // push_callback_call: the callback's BTF against the caller's registers first
  checkStaticCall(env, st.frames[st.frames.length - 1]!, sub);
  env.markCallback(sub, true);
  // a state of its own: no parent, no history (the kernel's kzalloc'ed stack element)
  const cb = newState([], env.subprogs[sub]!.start, pc) as Path;
  cb.hist = new JumpHist();
  const callee = newFrame(sub, -1, undefined);
  callee.asyncCb = true;
  callee.asyncEntryCnt = (st.frames[st.frames.length - 1]!.asyncEntryCnt ?? 0) + 1;
  if (opts.ret) callee.asyncRet = opts.ret;
  if (opts.sleepable) callee.sleepableCb = true;
  callee.regs[1] = pointer('map_ptr', { map });
  callee.regs[2] = pointer('map_key', { map });
  // the running 6.18 kernel gives the callback's value a fresh id (printed `map_value(id=1,...)`)
  callee.regs[3] = pointer('map_value', { map, id: env.nextId() });
  callee.regs[10] = env.fp(0);
  cb.frames.push(callee);
  env.push(cb);
  // init_func_state: the caller's whole state is printed after the call
  env.scratchAll();
}

/** check_kfunc_call: the path on which a resilient lock was not taken (R0 in [-MAX_ERRNO, -1]). */
function forkFailedLock(env: CallEnv, st: State, pc: number): void {
  const from = st as Path;
  const other = cloneState(st) as Path;
  other.hist = from.hist.slice();
  if (from.cp) other.cp = from.cp;
  const f = other.frames[other.frames.length - 1]!;
  for (let r = 0; r <= 5; r++) f.regs[r] = NOT_INIT;
  f.regs[0] = boundsSync({ ...UNKNOWN, s32min: -4095, s32max: -1 });
  other.pc = pc + 1;
  other.prev = pc;
  env.push(other);
}

/**
 * push_callback_call for bpf_loop (and bpf_user_ringbuf_drain, bpf_for_each_map_elem): the
 * callback is verified as a new frame with R1 the index and R2 the context (or the arguments
 * given, from R1 on), returning 0 or 1.
 */
function pushLoopCallback(env: CallEnv, st: State, f: Frame, pc: number, sub: number, depth: number, args?: readonly Reg[]): void {
  // push_callback_call: the callback's BTF against the caller's registers first
  checkCallbackEntry(env, st, f, pc, sub);
  // the index, as the kernel types it (set_loop_callback_state), and the context argument;
  // the caller keeps its argument registers: the callback returns to the call, which reads them again
  enterCallback(env, st, cloneState(st) as Path, pc, sub, args ?? [UNKNOWN, f.regs[3]!], depth);
}

/** push_callback_call for a kfunc's synchronous callback (bpf_rbtree_add's less()): a frame returning a value in [0, 1]. */
function pushKfuncCallback(env: CallEnv, st: State, pc: number, cb: KfuncCallback): void {
  const f = st.frames[st.frames.length - 1]!;
  checkCallbackEntry(env, st, f, pc, cb.subprog);
  enterCallback(env, st, cb.state as Path, pc, cb.subprog, cb.args, (f.callbackDepth ?? 0) + 1);
  f.callbackDepth = 0;
}

/** What push_callback_call checks before a callback's frame is made. */
function checkCallbackEntry(env: CallEnv, st: State, f: Frame, pc: number, sub: number): void {
  checkStaticCall(env, f, sub);
  if (st.frames.length >= MAX_CALL_FRAMES) env.reject(pc, `the call stack of ${st.frames.length + 1} frames is too deep`);
  env.markCallback(sub, false);
}

/**
 * `next` (a copy of `from`) enters callback `sub` with `args` in r1.., its caller's outgoing
 * registers forgotten and its callback depth set, and is queued; init_func_state prints the
 * caller's whole state after the call.
 */
function enterCallback(env: CallEnv, from: State, next: Path, pc: number, sub: number, args: readonly Reg[], depth: number): void {
  const path = from as Path;
  next.hist = path.hist.slice();
  if (path.cp) next.cp = path.cp;
  const caller = next.frames[next.frames.length - 1]!;
  const callee = newFrame(sub, pc, [0, 1]);
  args.forEach((r, k) => (callee.regs[k + 1] = r));
  callee.regs[10] = env.fp(next.frames.length);
  clearOut(caller);
  caller.callbackDepth = depth;
  next.frames.push(callee);
  next.pc = env.subprogs[sub]!.start;
  next.prev = pc;
  next.callbackUnrollDepth = (from.callbackUnrollDepth ?? 0) + 1;
  env.push(next);
  env.scratchAll();
}

const sleeping: EffectMemo = new WeakMap();
/**
 * subprog_info.might_sleep (check_cfg's mark_subprog_might_sleep and merge_callee_effects): the
 * subprogram, or one it calls, calls a helper that might sleep or a sleepable kfunc, either
 * available to the program type.
 */
const subprogMightSleep = (env: CallEnv, sub: number): boolean =>
  subprogHas(env, sleeping, sub, (pc, x) => {
    if (x.src === 0) return helperProto(x.imm, env.type, env.attach)?.mightSleep === true;
    if (x.src !== 2) return false;
    const info = kfuncInfo(env.kfuncAt.get(pc) ?? '');
    return info !== undefined && info.flags.includes('sleepable') && kfuncPermitted(info, env.type, env.attach);
  });

const pktChanging: EffectMemo = new WeakMap();
/** subprog_info.changes_pkt_data: the subprogram, or one it calls, calls a helper that moves the packet. */
const subprogChangesPktData = (env: CallEnv, sub: number): boolean => subprogHas(env, pktChanging, sub, (_pc, x) => x.src === 0 && PKT_CHANGING.has(x.imm));

/** Outgoing slots a callee with `n` arguments needs, checked and recorded (stack-args §4.3). */
function passStackArgs(env: CallEnv, f: Frame, n: number, pc: number): (Reg | undefined)[] {
  const need = Math.max(0, n - MAX_BPF_FUNC_REG_ARGS);
  for (let s = 0; s < need; s++) if (f.out[s] === undefined) env.reject(pc, `callee expects ${n} args, stack arg${s + 1} is not initialized`);
  env.slotsRequired[f.subprog] = Math.max(env.slotsRequired[f.subprog]!, need);
  return f.out.slice();
}

/** check_func_call for a BPF-to-BPF call. */
export function subprogCall(env: CallEnv, st: State, f: Frame, i: Insn, pc: number): State {
  const start = pc + i.imm + 1;
  const sub = env.subprogs.findIndex((s) => s.start === start);
  if (st.frames.length >= MAX_CALL_FRAMES) env.reject(pc, `the call stack of ${st.frames.length + 1} frames is too deep`);
  if (isGlobal(env, sub)) {
    // checked against its prototype, verified on its own later; all global functions return a scalar
    globalCall(env, st, f, pc, sub, subprogMightSleep(env, sub));
    // a global function that may throw is a throw at its call, for what the caller holds
    if (subprogMightThrow(env, sub, (at) => env.kfuncAt.get(at) === 'bpf_throw')) checkResourceLeak(env, st, pc, 'bpf_throw', true);
    // a global function that may move the packet (it calls such a helper, or a function that
    // does) leaves the caller's packet pointers unusable, as the helper itself would
    if (subprogChangesPktData(env, sub)) clearPacketPointers(st);
    clearCallerSaved(env, f);
    f.regs[0] = UNKNOWN;
    st.pc = pc + 1;
    return st;
  }
  checkStaticCall(env, f, sub);
  passStackArgs(env, f, env.argCountOf(sub), pc);
  const callee = newFrame(sub, pc);
  for (let r = 1; r <= 5; r++) callee.regs[r] = f.regs[r]!;
  callee.regs[10] = env.fp(st.frames.length);
  // the callee reads its incoming slots from the caller's frame, which keeps them until the return
  for (let r = 0; r <= 5; r++) f.regs[r] = NOT_INIT;
  if (env.level > 0) {
    env.log2('caller:');
    env.log2(env.formatFrame(st, f, true));
  }
  st.frames.push(callee);
  if (env.level > 0) {
    env.log2('callee:');
    env.log2(env.formatFrame(st, callee, true));
  }
  st.pc = start;
  return st;
}

/** A kfunc call with arguments typed from its declared C prototype (stack-args §4.3: stack arguments named *(R11-8k)). */
export function kfuncCall(env: CallEnv, st: State, f: Frame, i: Insn, pc: number): State | null {
  const name = env.kfuncAt.get(pc);
  const proto = name !== undefined ? env.protos.get(name) : undefined;
  kfuncLicenseCheck(env, pc);
  // kernel kfuncs of the table are checked by their BTF prototype (kfuncs.ts), declared or not;
  // other declared ones (the spec's stack-argument kfuncs) by their declared types
  if (!proto || (name !== undefined && kfuncInfo(name) && proto.params.length <= MAX_BPF_FUNC_REG_ARGS)) {
    const fn = proto ? declaredKfunc(proto) : kfuncFromBtf(env.load, i.imm, name);
    if (!fn) env.reject(pc, `kernel function ${name ?? `btf_id ${i.imm}`} has no prototype (declare it with .kfunc)`);
    // bpf_res_spin_lock may fail: that path is pushed first, without the lock, R0 an error
    if (fn.name === 'bpf_res_spin_lock' || fn.name === 'bpf_res_spin_lock_irqsave') forkFailedLock(env, st, pc);
    const res = btfKfuncCall(env, st, f, pc, fn);
    // bpf_throw: with the default exception callback the cookie is what the program returns
    const throws = fn.name === 'bpf_throw';
    if (throws && env.exceptionCb === undefined) checkReturnCode(env, st, 1, pc, env.attach);
    if (res.callback) pushKfuncCallback(env, st, pc, res.callback);
    if (res.async) pushAsyncCb(env, st, pc, res.async.subprog, res.async.map, res.async);
    clearCallerSaved(env, f);
    if (res.r0) f.regs[0] = res.r0;
    res.after?.();
    // process_bpf_exit_full(exception_exit): the whole program ends here, every frame with it
    if (throws) {
      checkResourceLeak(env, st, pc, 'bpf_throw', true);
      return null;
    }
    st.pc = pc + 1;
    return st;
  }
  const slots = passStackArgs(env, f, proto.params.length, pc);
  proto.params.forEach((p, k) => {
    const where = k < 5 ? `R${k + 1}` : `*(R11-${(k - 4) * 8})`;
    const reg = k < 5 ? env.readReg(f, k + 1, pc) : slots[k - 5]!;
    checkKfuncArg(p.type, reg, where, (m) => env.reject(pc, m));
  });
  clearCallerSaved(env, f);
  if (proto.ret !== 'void') f.regs[0] = UNKNOWN;
  st.pc = pc + 1;
  return st;
}

function checkKfuncArg(type: string, r: Reg, where: string, reject: (m: string) => never): void {
  const t = type.trim();
  if (/^struct\s+\w+$/.test(t) || /^union\s+\w+$/.test(t)) reject(`Unrecognized ${where} type ${t.startsWith('struct') ? 'STRUCT' : 'UNION'}`);
  if (/\*$/.test(t)) {
    if (r.type === 'not_init') reject(`${where} !read_ok`);
    if (r.type === 'scalar' && !(isConst(r) && r.var.value === 0n)) reject(`${where} type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem`);
    return;
  }
  if (r.type !== 'scalar') reject(`${where} is not a scalar`);
}

/**
 * The return value range a program type's exit must respect (check_return_code), if any; a
 * third element `true` when only the low 32 bits are compared (LSM hooks).
 */
function retvalRange(env: Env, attach?: string): readonly [number, number, boolean?] | undefined {
  switch (env.type) {
    case 'tracing':
      if (attach === 'trace_fentry' || attach === 'trace_fexit') return [0, 0];
      return attach === 'trace_iter' ? [0, 1] : undefined;
    case 'lsm': {
      // an LSM_MAC hook: 0 or -errno (0 or 1 for the bool hooks); lsm_cgroup: 0 or 1, 1 for a void hook
      if (attach === 'lsm_cgroup') return env.load.attachReturnsVoid ? [1, 1] : [0, 1];
      const r = lsmRetvalRange(env);
      return r ? [Number(r[0]), Number(r[1]), true] : undefined;
    }
    case 'cgroup_skb':
      return attach === 'cgroup_inet_egress' ? [0, 3] : [0, 1];
    case 'cgroup_sock_addr':
      // recvmsg, getpeername and getsockname must pass the address on; bind may also ask for a port
      if (attach && /^cgroup_(udp[46]_recvmsg|unix_recvmsg|(inet[46]|unix)_get(peer|sock)name)$/.test(attach)) return [1, 1];
      return attach === 'cgroup_inet4_bind' || attach === 'cgroup_inet6_bind' ? [0, 3] : [0, 1];
    case 'kprobe':
      return attach === 'trace_kprobe_session' ? [0, 1] : undefined;
    case 'cgroup_sock':
    case 'sock_ops':
    case 'cgroup_device':
    case 'cgroup_sysctl':
    case 'cgroup_sockopt':
    case 'sk_lookup': // SK_DROP, SK_PASS
    case 'netfilter': // NF_DROP, NF_ACCEPT
      return [0, 1];
    default:
      return undefined;
  }
}

/** verbose_invalid_scalar. */
function invalidScalar(r: Reg, range: readonly [number, number, boolean?], ctx: string, reg = 'R0'): string {
  let s = `${ctx} the register ${reg} has`;
  if (r.smin > S64_MIN) s += ` smin=${r.smin}`;
  if (r.smax < S64_MAX) s += ` smax=${r.smax}`;
  if (r.smin === S64_MIN && r.smax === S64_MAX) s += ' unknown scalar value';
  return `${s} should have been in [${range[0]}, ${range[1]}]`;
}

const within = (r: Reg, range: readonly [number, number, boolean?]): boolean =>
  range[2] ? r.s32min >= range[0] && r.s32max <= range[1] : r.smin >= BigInt(range[0]) && r.smax <= BigInt(range[1]);

/**
 * check_return_code: register `regno` of the top frame as the value the program (or the
 * callback the path started in, frame 0) returns — R0 at an exit, R1 (the cookie) at a
 * bpf_throw with the default exception callback.
 */
export function checkReturnCode(env: CallEnv, st: State, regno: number, pc: number, attach?: string): void {
  const f0 = st.frames[0]!;
  const top = st.frames[st.frames.length - 1]!;
  const name = `R${regno}`;
  const asMain = f0.subprog === 0 || f0.excCb === true;
  // a struct_ops or LSM hook returning void has no return value to check
  if (asMain && !f0.asyncCb && env.load.attachReturnsVoid && attach !== 'lsm_cgroup') return;
  const r = env.readReg(top, regno, pc);
  // an async callback returns a known value in its range (0 for timers and workqueues)
  if (f0.asyncCb) {
    if (r.type !== 'scalar') env.reject(pc, `At async callback return the register ${name} is not a known value (${regTypeStrBare(r)})`);
    env.precise(regno);
    const range = f0.asyncRet ?? [0, 0];
    if (!within(r, range)) env.reject(pc, invalidScalar(r, range, 'At async callback return', name));
    return;
  }
  // a global subprogram verified on its own returns a scalar, whatever the program type
  if (!asMain) {
    if (r.type !== 'scalar') env.reject(pc, `At subprogram exit the register ${name} is not a scalar value (${regTypeStr(r)})`);
    return;
  }
  const range = retvalRange(env, attach);
  if (!range) return;
  if (r.type !== 'scalar') env.reject(pc, `At program exit the register ${name} is not a known value (${regTypeStrBare(r)})`);
  env.precise(regno);
  if (!within(r, range)) env.reject(pc, invalidScalar(r, range, 'At program exit', name));
}

/** BPF_EXIT: reference leaks, then the return value, then back to the caller (or the end of the path). */
export function exitInsn(env: CallEnv, st: State, f: Frame, pc: number, attach?: string): State | null {
  if (st.frames.length === 1) {
    checkResourceLeak(env, st, pc, 'BPF_EXIT instruction in main prog', true);
    checkReturnCode(env, st, 0, pc, attach);
    return null;
  }
  // prepare_func_exit: the callee's marks reach its callers before anything else is checked (and
  // before its frame goes)
  env.stackLive?.update(st);
  // prepare_func_exit reads R0 of a static subprogram without checking it (a void function leaves none)
  const r0 = f.callbackRet ? env.readReg(f, 0, pc) : (env.scratchReg(0), f.regs[0]!);
  if (r0.type === 'fp') env.reject(pc, 'cannot return stack pointer to the caller');
  const callee = st.frames[st.frames.length - 1]!;
  const caller = st.frames[st.frames.length - 2]!;
  if (callee.callbackRet) {
    if (r0.type !== 'scalar') env.reject(pc, 'R0 not a scalar value');
    env.precise(0);
    if (!within(r0, callee.callbackRet)) env.reject(pc, invalidScalar(r0, callee.callbackRet, 'At callback return'));
  }
  // a callback returns to the instruction that calls it, which may call it again (the kernel
  // verifies callbacks as called any number of times, until the state at the call converges)
  const next = callee.callbackRet ? callee.callsite : callee.callsite + 1;
  if (env.level > 0) {
    env.log2('returning from callee:');
    env.log2(env.formatFrame(st, callee, true));
    env.log2(`to caller at ${next}:`);
  }
  st.frames.pop();
  // stack-args §4.4: a return consumes the caller's outgoing slots and forbids later r11 loads
  clearOut(caller);
  caller.noStackArgLoad = true;
  if (!callee.callbackRet) caller.regs[0] = r0;
  if (env.level > 0) env.log2(env.formatFrame(st, caller, true));
  st.pc = next;
  st.prev = pc;
  if (callee.callbackRet) env.widenAtCallback(st);
  return st;
}

/** The release of bpf_kptr_xchg's argument inside an RCU section (check_helper_call's kptr_xchg case). */
function releaseIntoRcu(st: State, id: number): void {
  const keep = (r: Reg): Reg => {
    const b = btfPtr(r.type);
    if (!b || r.memSize === undefined || !b.flag.includes('percpu_')) return UNKNOWN;
    const { refObjId: _ref, ...rest } = r;
    return { ...rest, type: btfPtrType(b.struct, 'percpu_rcu_', b.orNull) };
  };
  st.refs = st.refs.filter((x) => x.id !== id);
  for (const fr of st.frames) {
    fr.regs.forEach((r, k) => {
      if (r.refObjId === id) fr.regs[k] = keep(r);
    });
    fr.spilled.forEach((r, k) => {
      if (r?.refObjId === id) setSpilled(fr, k, keep(r));
    });
  }
}
