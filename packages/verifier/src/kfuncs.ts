/**
 * kfunc calls with prototypes from BTF (kernel/bpf/verifier.c check_kfunc_call,
 * check_kfunc_args, get_kfunc_ptr_arg_type): each kfunc's flags, program types and set filters
 * from the table generated from the kernel's sources (kfunc-sets.ts, scripts/gen-kfuncs.mjs;
 * include/linux/btf.h KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS, KF_SLEEPABLE, KF_RCU,
 * ...), the running kernel's deviations from those sources, references acquired and released,
 * nullable returns, and the RCU read-side region of bpf_rcu_read_lock/unlock. */
import { kfuncSections, processIrqFlag, processSpinLock } from './locks.js';
import { btfFromProtos, kfuncs, type Btf } from '@bpf/btf';
import type { AttachType, FuncProtoDecl, MapDef, ProgType } from '@bpf/isa';
import { describeFunc, funcByName, structIdsMatch, structInfo, type BtfArg, type BtfFunc, type LoadInfo } from './btfproto.js';
import { funcArgRegOff, helperMem, isNull, releaseReference } from './callargs.js';
import { VerifierReject } from './env.js';
import { CTX_STRUCT } from './global.js';
import { isDynptrStruct, KFUNC_DYNPTR_KIND, PKT_KINDS, processDynptrArg, stackBuf, type DynptrInfo } from './dynptr.js';
import { rdonlyCast } from './ksym.js';
import { convertToNonOwning, graphArgKind, graphCallbackNode, graphKfunc, graphNodeArg, graphReturn, graphRootArg, type GraphMeta } from './graph.js';
import { allocated, localStructName, objRecord, sameCallRecord } from './kptr.js';
import { inRcuCs, isIterArg, iterKfunc, iterNextStruct, processIterArg, processIterNext, type IterEnv, type IterMeta } from './iter.js';
import { btfPtr, btfPtrType, mayBeNull, type BtfPtrFlag } from './nullable.js';
import { regTypeStr } from './print.js';
import { cloneState, inSleepable, known, pointer, setSpilled, UNKNOWN, type Frame, type Reg, type State } from './state.js';
import { mapField, type MapFieldKind } from './mapfields.js';
import { constString, mapFieldPointer } from './helperargs.js';
import { tnumIsConst } from './tnum.js';
import { KFUNC_SETS } from './kfunc-sets.js';

/**
 * A kfunc flag: include/linux/btf.h's KF_ names without the prefix, lower case, as the generated
 * table (kfunc-sets.ts) has them, and four the kernel gives no flag for (SPECIAL_FLAGS below).
 */
export type KfuncFlag = 'acquire' | 'release' | 'ret_null' | 'trusted_args' | 'sleepable' | 'destructive' | 'rcu' | 'rcu_protected' | 'iter_new' | 'iter_next' | 'iter_destroy' | 'fastcall' | 'rcu_lock' | 'rcu_unlock' | 'preempt_disable' | 'preempt_enable';

export interface KfuncInfo {
  readonly flags: readonly string[];
  /** The program types its sets are registered for; every type when absent (the common hook). */
  readonly types?: readonly string[];
  /**
   * Its sets' filters (btf_kfunc_id_set.filter, asked by btf_kfunc_id_set_contains before the
   * kfunc is looked up, so before its arguments are): by the kernel's function name, KFUNC_FILTERS.
   */
  readonly filter?: string | readonly string[];
}

/**
 * kernel/bpf/btf.c bpf_prog_type_to_kfunc_hook: the kfunc hook a program type's sets are
 * registered on and looked up in. Types sharing a hook share its kfuncs (a set registered for
 * BPF_PROG_TYPE_SOCK_OPS is there for every cgroup program type); a type without one (sk_msg,
 * raw_tracepoint, flow_dissector, ...) has the common hook's kfuncs only.
 */
const KFUNC_HOOK: Partial<Record<string, string>> = {
  xdp: 'xdp',
  sched_cls: 'tc',
  struct_ops: 'struct_ops',
  tracing: 'tracing',
  tracepoint: 'tracing',
  perf_event: 'tracing',
  lsm: 'tracing',
  syscall: 'syscall',
  cgroup_skb: 'cgroup',
  cgroup_sock: 'cgroup',
  cgroup_device: 'cgroup',
  cgroup_sock_addr: 'cgroup',
  cgroup_sockopt: 'cgroup',
  cgroup_sysctl: 'cgroup',
  sock_ops: 'cgroup',
  sched_act: 'sched_act',
  sk_skb: 'sk_skb',
  socket_filter: 'socket_filter',
  lwt_out: 'lwt',
  lwt_in: 'lwt',
  lwt_xmit: 'lwt',
  lwt_seg6local: 'lwt',
  netfilter: 'netfilter',
  kprobe: 'kprobe',
};

/** Whether a kfunc of sets registered for `types` is in the hook of a program of `type`. */
export function kfuncAllowed(types: readonly string[], type: ProgType): boolean {
  const hook = KFUNC_HOOK[type];
  return hook !== undefined && types.some((t) => KFUNC_HOOK[t] === hook);
}

/**
 * The filters of the kernel's kfunc sets (each set's btf_kfunc_id_set.filter), in our words:
 * whether the filter turns the program away from its set's kfuncs. Every filter the generated
 * table names must be here (kfunc-sets.test.ts checks). The 6.18 sources have two more, for sets
 * this kernel's configuration leaves out: fs/verity's (LSM only, as bpf_fs_kfuncs_filter) and
 * net/sched/bpf_qdisc.c's (by the struct_ops member the program implements), not modelled.
 */
export const KFUNC_FILTERS: Readonly<Partial<Record<string, (type: ProgType, attach: AttachType | undefined) => boolean>>> = {
  // net/core/filter.c: bpf_sock_destroy from socket iterators (expected attach type BPF_TRACE_ITER) only
  tracing_iter_filter: (_type, attach) => attach !== 'trace_iter',
  // kernel/trace/bpf_trace.c: the session kfuncs from kprobe or uprobe sessions only
  bpf_kprobe_multi_filter: (_type, attach) => attach !== 'trace_kprobe_session' && attach !== 'trace_uprobe_session',
  // fs/bpf_fs_kfuncs.c: registered on the tracing hook, but for LSM programs only
  bpf_fs_kfuncs_filter: (type) => type !== 'lsm',
};

/**
 * fetch_kfunc_meta's answer (btf_kfunc_id_set_contains): whether the program may call the kfunc
 * at all, its sets' hook and their filters; the kernel then says "calling kernel function NAME
 * is not allowed". A filter the table names but KFUNC_FILTERS lacks lets the program through.
 */
export function kfuncPermitted(info: KfuncInfo, type: ProgType, attach: AttachType | undefined): boolean {
  if (info.types && !kfuncAllowed(info.types, type)) return false;
  const filters = info.filter === undefined ? [] : typeof info.filter === 'string' ? [info.filter] : info.filter;
  return !filters.some((f) => KFUNC_FILTERS[f]?.(type, attach) === true);
}

/**
 * What the kernel's sources say without a KF_ flag, kept by hand: kernel/bpf/verifier.c knows
 * these kfuncs by their BTF id (special_kfunc_list: is_kfunc_bpf_rcu_read_lock,
 * is_bpf_preempt_{disable,enable}_kfunc, ...), so they get a flag of ours here.
 */
const SPECIAL_FLAGS: Readonly<Record<string, KfuncFlag>> = {
  bpf_rcu_read_lock: 'rcu_lock',
  bpf_rcu_read_unlock: 'rcu_unlock',
  bpf_preempt_disable: 'preempt_disable',
  bpf_preempt_enable: 'preempt_enable',
};

/**
 * Where the running kernel (6.18.44) differs from the 6.18 sources the table was generated from,
 * found live: every kfunc's pointer arguments are trusted, KF_TRUSTED_ARGS or not (a possibly
 * NULL pointer to a kfunc without the flag, such as bpf_list_push_front_impl, bpf_dynptr_is_null
 * or css_rstat_updated, is refused with "Possibly NULL pointer passed to trusted argN", an
 * untrusted one with "R1 must be referenced or trusted"; fixtures/c/kfuncs/trusted.c). The
 * kfunc's own flags still decide the rest (KF_RCU lets an RCU pointer through).
 */
export const KFUNC_TRUSTED_ARGS_BY_DEFAULT = true;

const infos = new Map<string, KfuncInfo | null>();

/**
 * A kfunc's flags, program types and filters: the generated table's row (kfunc-sets.ts, from
 * the kernel's BTF_ID_FLAGS lists and register_btf_kfunc_id_set calls) with SPECIAL_FLAGS added;
 * undefined for a kfunc the table lacks (a module's, or one a test declares), which is then
 * taken as flagless and callable from every program type.
 */
export function kfuncInfo(name: string): KfuncInfo | undefined {
  let info = infos.get(name);
  if (info === undefined) {
    const row = Object.hasOwn(KFUNC_SETS, name) ? KFUNC_SETS[name] : undefined;
    const special = SPECIAL_FLAGS[name];
    info = row === undefined ? null : special === undefined ? row : { ...row, flags: [...row.flags, special] };
    infos.set(name, info);
  }
  return info ?? undefined;
}

export interface KfuncEnv extends IterEnv {
  readonly load: LoadInfo;
}

const has = (info: KfuncInfo, f: KfuncFlag): boolean => info.flags.includes(f);

/** The kfuncs whose call instruction keeps the struct meta of an object argument (its register). */
const STRUCT_META_ARG: Readonly<Record<string, number>> = {
  bpf_obj_drop_impl: 1,
  bpf_percpu_obj_drop_impl: 1,
  bpf_refcount_acquire_impl: 1,
  bpf_list_push_front_impl: 2,
  bpf_list_push_back_impl: 2,
  bpf_rbtree_add_impl: 2,
};

/** The kernel struct behind a program type's context (bpf_cast_to_kern_ctx; the kernel's `bpf_ctx_convert`). */
const KERN_CTX: Partial<Record<ProgType, string>> = {
  socket_filter: 'sk_buff',
  sched_cls: 'sk_buff',
  sched_act: 'sk_buff',
  cgroup_skb: 'sk_buff',
  lwt_in: 'sk_buff',
  lwt_out: 'sk_buff',
  lwt_xmit: 'sk_buff',
  sk_skb: 'sk_buff',
  xdp: 'xdp_buff',
  kprobe: 'pt_regs',
  perf_event: 'bpf_perf_event_data_kern',
  sock_ops: 'bpf_sock_ops_kern',
  sk_msg: 'sk_msg',
  // include/linux/bpf_types.h: the second struct of each BPF_PROG_TYPE
  lwt_seg6local: 'sk_buff',
  flow_dissector: 'bpf_flow_dissector',
  cgroup_sock: 'sock',
  cgroup_sock_addr: 'bpf_sock_addr_kern',
  cgroup_device: 'bpf_cgroup_dev_ctx',
  cgroup_sysctl: 'bpf_sysctl_kern',
  cgroup_sockopt: 'bpf_sockopt_kern',
  sk_reuseport: 'sk_reuseport_kern',
  sk_lookup: 'bpf_sk_lookup_kern',
  netfilter: 'bpf_nf_ctx',
};

interface KfuncMeta {
  releaseRegno?: number;
  refObjId?: number;
  /** The value of a constant (`__k`) argument: bpf_obj_new's local type id. */
  constArg?: bigint;
  /** The iterator an iterator kfunc's argument points to. */
  iter?: IterMeta;
  /** The initialised dynptr a dynptr argument points to (meta->initialized_dynptr). */
  dynptr?: DynptrInfo;
  /** The stack buffer a bpf_dynptr_slice() was given. */
  sliceBuf?: Reg['buf'];
  /** A callback argument's subprogram (KF_ARG_PTR_TO_CALLBACK). */
  subprog?: number;
  /** The map of a bpf_wq or bpf_task_work argument, or of a `__map` argument (meta->map.ptr). */
  fieldMap?: MapDef;
  /** That map's uid (meta->map.uid): its inner-map lookup, 0 for any other map. */
  fieldMapUid?: number;
  callback?: KfuncCallback;
  /** The list head / rbtree root and node arguments of a graph kfunc (graph.ts). */
  graph?: GraphMeta;
  /** bpf_refcount_acquire's object: its struct and whether it was an owning reference. */
  refcounted?: { readonly struct: string; readonly owning: boolean };
}

/** What a kfunc call leaves: R0 (undefined: void) and what happens once R0 is set (an iterator's next()). */
export interface KfuncResult {
  readonly r0: Reg | undefined;
  readonly after?: () => void;
  /** bpf_rbtree_add's less(): the callback to verify, from the state before the node was handed over. */
  readonly callback?: KfuncCallback;
  /** An async callback (bpf_wq_set_callback_impl, bpf_task_work_schedule_*): verified later as a path of its own. */
  readonly async?: AsyncCallback;
}

/** An async callback a kfunc sets up: its subprogram, the map R1..R3 of the callback name, its return range. */
export interface AsyncCallback {
  readonly subprog: number;
  readonly map: MapDef;
  readonly ret: readonly [number, number];
  readonly sleepable: boolean;
}

/** The kfuncs that set up an async callback, and the callback's return range. */
export const ASYNC_KFUNCS: Readonly<Record<string, readonly [number, number]>> = {
  bpf_wq_set_callback_impl: [0, 0],
  bpf_task_work_schedule_signal_impl: [-0x80000000, 0x7fffffff],
  bpf_task_work_schedule_resume_impl: [-0x80000000, 0x7fffffff],
};

/** Map-value fields a kfunc takes a pointer to (KF_ARG_PTR_TO_WORKQUEUE, KF_ARG_PTR_TO_TASK_WORK). */
const MAP_FIELD_ARGS: ReadonlySet<string> = new Set(['bpf_wq', 'bpf_task_work']);

/** A synchronous callback a kfunc calls (push_callback_call): its subprogram, the state to call it from, R1 and R2. */
export interface KfuncCallback {
  readonly subprog: number;
  readonly state: State;
  readonly args: readonly Reg[];
}

/** bpf_obj_new_impl: a `struct` of the program's own BTF, allocated (the kernel's MEM_ALLOC). */
function objNew(env: KfuncEnv, pc: number, typeId: bigint | undefined): { readonly name: string; readonly size: number } {
  // check_kfunc_call, in its order: the constant fits a u32, the program has BTF, it names a struct
  if (typeId !== undefined && BigInt.asUintN(64, typeId) > 0xffffffffn) env.reject(pc, 'local type ID argument must be in range [0, U32_MAX]');
  const btf = env.load.progBtf();
  if (!btf) env.reject(pc, 'bpf_obj_new/bpf_percpu_obj_new requires prog BTF');
  const s = typeId === undefined ? undefined : structInfo(btf, Number(typeId));
  if (!s) env.reject(pc, 'bpf_obj_new/bpf_percpu_obj_new type ID argument must be of a struct');
  return { ...s, name: localStructName(s.name, Number(typeId)) };
}

const kfuncIds = new WeakMap<Btf, Map<string, number>>();

/**
 * A kfunc's prototype: the kernel's BTF function the call's imm names (as a loader links it)
 * or, by name, a kfunc of the kernel's BTF or the extern declaration in the program's BTF.
 */
export function kfuncFromBtf(load: LoadInfo, imm: number, name: string | undefined): BtfFunc | undefined {
  const kb = load.kernelBtf;
  if (kb) {
    let ids = kfuncIds.get(kb);
    if (!ids) kfuncIds.set(kb, (ids = kfuncs(kb)));
    const byId = imm > 0 ? describeFunc(kb, imm) : undefined;
    // a kernel function outside every kfunc set (memset, say) is refused at its call, when the
    // BTF says which functions are kfuncs (older pahole wrote no bpf_kfunc tags)
    if (byId && (name === undefined || byId.name === name)) return ids.size > 0 && !ids.has(byId.name) ? { ...byId, notKfunc: true } : byId;
    if (name !== undefined) {
      const id = ids.get(name);
      if (id !== undefined) return describeFunc(kb, id);
    }
  }
  const pb = load.progBtf();
  return pb && name !== undefined ? funcByName(pb, name) : undefined;
}

/** A prototype declared in assembly (`.kfunc`), as BTF would describe it. */
export function declaredKfunc(decl: FuncProtoDecl): BtfFunc | undefined {
  const { btf, kfuncIds } = btfFromProtos({ insns: [], subprogs: [], protos: [decl] });
  const id = kfuncIds.get(decl.name);
  return id === undefined ? undefined : describeFunc(btf, id);
}

/** The kernel's "cannot call kernel function from non-GPL compatible program" (add_kfunc_call). */
export function kfuncLicenseCheck(env: KfuncEnv, pc: number): void {
  if (!env.load.gplCompatible) env.reject(pc, 'cannot call kernel function from non-GPL compatible program');
}

/** check_kfunc_call for a kfunc whose prototype came from BTF: R0 after the call, and what follows once it is set. */
export function btfKfuncCall(env: KfuncEnv, st: State, f: Frame, pc: number, fn: BtfFunc): KfuncResult {
  const meta: KfuncMeta = {};
  const r0 = kfuncR0(env, st, f, pc, fn, meta);
  if (meta.callback) return { r0, callback: meta.callback };
  const asyncRet = ASYNC_KFUNCS[fn.name];
  if (asyncRet && meta.subprog !== undefined && meta.fieldMap) {
    // the running 6.18 kernel verifies these callbacks as sleepable, so only sleepable programs may set them
    if (!env.load.sleepable) env.reject(pc, 'sleepable callback in a program that is not sleepable', `kfunc ${fn.name}#${fn.id} failed callback verification`);
    return { r0, async: { subprog: meta.subprog, map: meta.fieldMap, ret: asyncRet, sleepable: true } };
  }
  const iter = iterKfunc(fn);
  if (iter?.op === 'next' && meta.iter) {
    const m = meta.iter;
    return { r0, after: () => processIterNext(env, st, pc, m) };
  }
  return { r0 };
}

/** bpf_rcu_read_unlock: every MEM_RCU pointer left in the state becomes untrusted (and no longer nullable). */
function rcuUnlockRegs(st: State): void {
  const untrust = (r: Reg): Reg => {
    const b = btfPtr(r.type);
    if (!b?.flag.includes('rcu_')) return r;
    return { ...r, type: btfPtrType(b.struct, `${b.flag.replace('rcu_', '').replace('trusted_', '')}untrusted_` as BtfPtrFlag) };
  };
  for (const fr of st.frames) {
    fr.regs.forEach((r, k) => (fr.regs[k] = untrust(r)));
    fr.spilled.forEach((r, k) => {
      if (r) setSpilled(fr, k, untrust(r));
    });
  }
}

function kfuncR0(env: KfuncEnv, st: State, f: Frame, pc: number, fn: BtfFunc, meta: KfuncMeta): Reg | undefined {
  const info = kfuncInfo(fn.name) ?? { flags: [] };
  // fetch_kfunc_meta: the function must be in a kfunc set registered for this program type (by
  // the tables, unless the kernel at hand says otherwise: VerifyOptions.kfuncAvailable)
  if (fn.notKfunc === true || !kfuncPermitted(info, env.type, env.attach) || (env.load.kernelBtf !== undefined && !env.load.kfuncAvailable(fn.id))) env.reject(pc, `calling kernel function ${fn.name} is not allowed`);
  if (has(info, 'sleepable') && !inSleepable(env, st)) env.reject(pc, `program must be sleepable to call sleepable kfunc ${fn.name}`);
  if (fn.params.length > 5) env.reject(pc, `Function ${fn.name} has ${fn.params.length} > 5 args`);
  fn.params.forEach((p, k) => checkArg(env, st, f, pc, fn, info, meta, k));
  const metaArg = STRUCT_META_ARG[fn.name];
  const metaStruct = metaArg === undefined ? undefined : btfPtr(f.regs[metaArg]!.type)?.struct;
  if (metaStruct !== undefined) sameCallRecord(env, pc, metaStruct);
  if (has(info, 'rcu_protected') && !inRcuCs(env, st)) env.reject(pc, `kernel func ${fn.name} requires RCU critical section protection`);
  if (has(info, 'release') && meta.releaseRegno === undefined) env.reject(pc, `release kernel function ${fn.name} expects refcounted PTR_TO_BTF_ID`);
  if (st.rcuLock) {
    if (has(info, 'rcu_lock')) env.reject(pc, `nested rcu read lock (kernel function ${fn.name})`);
    if (has(info, 'rcu_unlock')) {
      st.rcuLock = false;
      rcuUnlockRegs(st);
    }
    else if (has(info, 'sleepable')) env.reject(pc, `kernel func ${fn.name} is sleepable within rcu_read_lock region`);
  } else if (has(info, 'rcu_lock')) st.rcuLock = true;
  else if (has(info, 'rcu_unlock')) env.reject(pc, `unmatched rcu read unlock (kernel function ${fn.name})`);
  kfuncSections(env, st, pc, fn.name, has(info, 'preempt_disable'), has(info, 'preempt_enable'), has(info, 'sleepable'));
  if (meta.releaseRegno !== undefined) releaseReference(st, meta.refObjId!);
  const graph = graphKfunc(fn.name);
  // bpf_rbtree_add: less() runs on two non-owning nodes, called from the state as it is before the push
  if (graph?.op === 'add' && meta.subprog !== undefined) {
    const node = graphCallbackNode(env, meta.graph ?? {});
    meta.callback = { subprog: meta.subprog, state: cloneState(st), args: [node, node] };
  }
  // push/add: the node's owning reference becomes non-owning, and is released
  if (graph && meta.graph?.nodeRef !== undefined) convertToNonOwning(env, st, meta.graph.nodeRef);
  if (graph && (graph.op === 'pop' || graph.op === 'remove' || graph.op === 'first')) return graphReturn(env, st, pc, graph.op, meta.graph ?? {});
  const ret = fn.ret;
  if (fn.name === 'bpf_cast_to_kern_ctx') {
    // the kernel's own context object behind the program's (a trusted BTF pointer)
    const kern = KERN_CTX[env.type];
    if (kern === undefined) env.reject(pc, `kernel function ${fn.name} returns pointer type UNKNOWN  is not supported`);
    return pointer(btfPtrType(kern, 'trusted_'));
  }
  // a resilient lock taken returns 0 on this path (the failure is the path forked before the call)
  if (fn.name === 'bpf_res_spin_lock' || fn.name === 'bpf_res_spin_lock_irqsave') return known(0n);
  if (fn.name === 'bpf_rdonly_cast') return rdonlyCast(env, pc, meta.constArg);
  if (fn.name === 'bpf_obj_new_impl' || fn.name === 'bpf_percpu_obj_new_impl') {
    // the allocated object: its size travels in memSize, which marks it MEM_ALLOC (nullable.ts)
    const obj = objNew(env, pc, meta.constArg);
    env.nextId(); // the nullable id, then replaced by the reference's (as the kernel does)
    const id = env.nextId();
    st.refs = [...st.refs, { id, insn: pc }];
    const lock = objRecord(env, obj.name)?.spinLockOff;
    return pointer(btfPtrType(obj.name, fn.name === 'bpf_obj_new_impl' ? '' : 'percpu_', true), { id, refObjId: id, memSize: obj.size, ...(lock !== undefined ? { allocLock: lock } : {}) });
  }
  if (fn.name === 'bpf_refcount_acquire_impl' && meta.refcounted) {
    // a new reference to the same object; NULL only when the argument was not an owning reference
    const { struct, owning } = meta.refcounted;
    if (!owning) env.nextId(); // the nullable id, then replaced by the reference's
    const id = env.nextId();
    st.refs = [...st.refs, { id, insn: pc }];
    return pointer(btfPtrType(struct, '', !owning), { ...(owning ? {} : { id }), refObjId: id, ...allocated(env, struct) });
  }
  if (fn.name === 'bpf_dynptr_slice' || fn.name === 'bpf_dynptr_slice_rdwr') return dynptrSlice(env, pc, fn, meta);
  if (has(info, 'acquire') && !(ret.kind === 'ptr' && ret.to.isStruct)) env.reject(pc, 'acquire kernel function does not return PTR_TO_BTF_ID');
  return returnValue(env, st, pc, fn, info, ret, meta);
}

/**
 * bpf_dynptr_slice: read-only memory of the constant size asked for, nullable, tied to its
 * dynptr (and to the packet for skb and xdp dynptrs) and to the stack buffer it may be. The
 * running kernel refuses bpf_dynptr_slice_rdwr() in every program type.
 */
function dynptrSlice(env: KfuncEnv, pc: number, fn: BtfFunc, meta: KfuncMeta): Reg {
  if (fn.name === 'bpf_dynptr_slice_rdwr') env.reject(pc, `${fn.name}() is not allowed`);
  const d = meta.dynptr;
  if (meta.sliceBuf) env.sliceBuf = true;
  return pointer('rdonly_mem_or_null', {
    id: env.nextId(),
    memSize: Number(meta.constArg ?? 0n),
    ...(d ? { dynptrId: d.id } : {}),
    ...(d && PKT_KINDS.has(d.kind) ? { pktSlice: true } : {}),
    ...(meta.sliceBuf ? { buf: meta.sliceBuf } : {}),
  });
}

function returnValue(env: KfuncEnv, st: State, pc: number, fn: BtfFunc, info: KfuncInfo, ret: BtfArg, meta: KfuncMeta): Reg | undefined {
  switch (ret.kind) {
    case 'void':
      return undefined;
    case 'scalar':
      return UNKNOWN;
    case 'other':
      return UNKNOWN;
    case 'ptr': {
      const retNull = has(info, 'ret_null');
      // `void *` is a scalar; a pointer to a sized non-struct is read-only memory of that size
      if (ret.to.isVoid) return UNKNOWN;
      if (!ret.to.isStruct) {
        if (ret.to.size === undefined) env.reject(pc, `kernel function ${fn.name} returns pointer type ${ret.to.btfKind} ${ret.to.name} is not supported`);
        const refObjId = meta.iter?.refObjId ?? meta.refObjId;
        const r = pointer(retNull ? 'rdonly_mem_or_null' : 'rdonly_mem', { memSize: ret.to.size, ...(refObjId ? { refObjId } : {}) });
        return retNull ? { ...r, id: env.nextId() } : r;
      }
      const nullId = retNull ? env.nextId() : undefined;
      const type = meta.iter && iterKfunc(fn)?.op === 'next' ? iterNextStruct(st, meta.iter, ret.to.name) : btfPtrType(ret.to.name, '', retNull);
      let r = pointer(type, nullId !== undefined ? { id: nullId } : {});
      if (has(info, 'acquire')) {
        const id = env.nextId();
        st.refs = [...st.refs, { id, insn: pc }];
        r = { ...r, ...(retNull ? { id } : {}), refObjId: id };
      }
      return r;
    }
  }
}

/** is_trusted_reg: referenced, PTR_TRUSTED, or an allocated object (MEM_ALLOC, NON_OWN_REF are trusted modifiers). */
/**
 * reg2btf_ids: registers that are no BTF pointers but stand for a kernel struct when passed to a
 * kfunc (a map pointer, a socket from a lookup helper), always trusted.
 */
const REG_STRUCT: Readonly<Record<string, string>> = {
  map_ptr: 'bpf_map',
  sock: 'sock',
  sock_or_null: 'sock',
  sock_common: 'sock_common',
  sock_common_or_null: 'sock_common',
  tcp_sock: 'tcp_sock',
  tcp_sock_or_null: 'tcp_sock',
};
const regBtfPtr = (r: Reg): ReturnType<typeof btfPtr> => {
  const struct = REG_STRUCT[r.type];
  return struct === undefined ? btfPtr(r.type) : { flag: '', orNull: r.type.endsWith('_or_null'), struct };
};

/**
 * Whether `reg->map_ptr` is set, as check_kfunc_args tests it for a `__map` argument: a map
 * pointer's or map value's map, and, since the field shares a union with the others, any
 * register whose union holds something there (a BTF pointer's btf, a packet pointer's range,
 * memory's size, a function's subprogram); an arena pointer or a scalar has it cleared.
 */
const mapPtrSet = (r: Reg): boolean =>
  r.map !== undefined || btfPtr(r.type) !== undefined || !!r.range || !!r.memSize || !!r.subprog || r.dynptr !== undefined;

const isTrusted = (r: Reg): boolean => !!r.refObjId || REG_STRUCT[r.type] !== undefined || btfPtr(r.type)?.flag === 'trusted_' || (r.memSize !== undefined && btfPtr(r.type)?.flag === '');

/** The kfunc argument kinds of get_kfunc_ptr_arg_type (KF_ARG_PTR_TO_*), lower case. */
type ArgKind = 'ctx' | 'null' | 'alloc' | 'refcounted_kptr' | 'dynptr' | 'iter' | 'list_head' | 'list_node' | 'rb_root' | 'rb_node' | 'const_str' | 'map' | 'map_field' | 'irq_flag' | 'res_spin_lock' | 'btf_id' | 'callback' | 'mem';

/** is_kfunc_arg_mem_size / _const_mem_size: the next argument is a scalar `__sz` (`__szk`) and its register a scalar. */
function memSized(fn: BtfFunc, k: number, f: Frame): boolean {
  const next = fn.params[k + 1];
  if (!next || next.type.kind !== 'scalar' || f.regs[k + 2]!.type !== 'scalar') return false;
  return next.name.endsWith('__sz') || next.name.endsWith('__szk');
}

/**
 * get_kfunc_ptr_arg_type: what a pointer argument is, from its prototype (suffix, struct) and,
 * for BTF pointers, callbacks and memory, from the register; in the kernel's order, with its
 * refusals of prototypes it cannot take.
 */
function argKind(env: KfuncEnv, pc: number, fn: BtfFunc, k: number, f: Frame): ArgKind {
  const p = fn.params[k]!;
  const r = f.regs[k + 1]!;
  if (p.type.kind !== 'ptr') return 'mem';
  const to = p.type.to;
  const ctxName = CTX_STRUCT[env.type];
  if (fn.name === 'bpf_cast_to_kern_ctx' || (to.isStruct && ctxName !== undefined && to.name === ctxName)) return 'ctx';
  if ((p.name.endsWith('__nullable') || p.name.endsWith('__opt')) && isNull(r)) return 'null';
  if (p.name.endsWith('__alloc')) return 'alloc';
  if (p.name.endsWith('__refcounted_kptr')) return 'refcounted_kptr';
  if (isDynptrStruct(to)) return 'dynptr';
  if (isIterArg(fn, k)) return 'iter';
  const graph = to.isStruct ? graphArgKind(to.name) : undefined;
  if (graph) return graph as ArgKind;
  if (p.name.endsWith('__str')) return 'const_str';
  if (p.name.endsWith('__map')) return 'map';
  if (to.isStruct && MAP_FIELD_ARGS.has(to.name)) return 'map_field';
  if (p.name.endsWith('__irq_flag')) return 'irq_flag';
  if (to.name === 'bpf_res_spin_lock') return 'res_spin_lock';
  if (regBtfPtr(r)) {
    if (!to.isStruct) env.reject(pc, `kernel function ${fn.name} args#${k} pointer type ${to.btfKind} ${to.name} is not supported`);
    return 'btf_id';
  }
  if (to.btfKind === 'FUNC_PROTO') return 'callback';
  // the catch-all: a pointer to a scalar or to a struct of scalars, or `void *` with a size
  const sized = memSized(fn, k, f);
  if (!to.scalarLike && (sized ? !to.isVoid : true))
    env.reject(pc, `arg#${k} pointer type ${to.btfKind} ${to.name} must point to ${sized ? 'void, ' : ''}scalar, or struct with scalar`);
  return 'mem';
}

function checkArg(env: KfuncEnv, st: State, f: Frame, pc: number, fn: BtfFunc, info: KfuncInfo, meta: KfuncMeta, k: number): void {
  const p = fn.params[k]!;
  const regno = k + 1;
  const r = f.regs[regno]!;
  env.scratchReg(regno);
  const t = p.type;
  // is_kfunc_arg_ignore / is_kfunc_arg_prog: `meta__ign` and `aux__prog` are the kernel's to fill
  if (p.name.endsWith('__ign') || p.name.endsWith('__prog')) return;
  if (t.kind === 'scalar') {
    if (r.type !== 'scalar') env.reject(pc, `R${regno} is not a scalar`);
    if (p.name.endsWith('__k') || p.name.endsWith('__szk')) {
      if (!tnumIsConst(r.var)) env.reject(pc, `R${regno} must be a known constant`);
      meta.constArg = r.var.value;
      env.precise(regno);
    }
    return;
  }
  if (t.kind !== 'ptr') env.reject(pc, `Unrecognized arg#${k} type ${t.kind === 'void' ? 'UNKNOWN' : t.btfKind}`);
  // every pointer argument is trusted (the running kernel makes KF_TRUSTED_ARGS the default,
  // KFUNC_TRUSTED_ARGS_BY_DEFAULT; the 6.18 sources: KF_TRUSTED_ARGS, KF_RELEASE or KF_RCU):
  // NULL, or a pointer that may be NULL, only where the prototype says `__nullable` (`__opt`)
  const trusted = KFUNC_TRUSTED_ARGS_BY_DEFAULT || has(info, 'trusted_args') || has(info, 'release') || has(info, 'rcu');
  const nullable = p.name.endsWith('__nullable') || p.name.endsWith('__opt');
  if (trusted && (isNull(r) || mayBeNull(r)) && !nullable) env.reject(pc, `Possibly NULL pointer passed to trusted arg${k}`);
  if (r.refObjId) {
    meta.refObjId = r.refObjId;
    if (has(info, 'release')) meta.releaseRegno = regno;
  }
  const kind = argKind(env, pc, fn, k, f);
  if (kind === 'null') {
    env.precise(regno);
    return;
  }
  if (kind === 'map') {
    // KF_ARG_PTR_TO_MAP: a map (a workqueue's or task work's own map)
    if (!mapPtrSet(r)) env.reject(pc, `pointer in R${regno} isn't map pointer`);
    const held = meta.fieldMap;
    const [u0, u1] = [meta.fieldMapUid ?? 0, r.mapUid ?? 0];
    if (held && (held !== r.map || u0 !== u1)) {
      // (the running 6.18 kernel names the field by the map the field lives in)
      if (mapField(held, 'bpf_task_work')) env.reject(pc, `bpf_task_work pointer in R${regno - 1} map_uid=${u0} doesn't match map pointer in R${regno} map_uid=${u1}`);
      if (mapField(held, 'bpf_wq')) env.reject(pc, `workqueue pointer in R${regno - 1} map_uid=${u0} doesn't match map pointer in R${regno} map_uid=${u1}`);
    }
    meta.fieldMap = r.map;
    meta.fieldMapUid = u1;
  }
  if (trusted && (kind === 'map' || kind === 'alloc' || kind === 'btf_id') && !isTrusted(r)) {
    // KF_RCU kfuncs take an RCU pointer as well
    if (!has(info, 'rcu')) env.reject(pc, `R${regno} must be referenced or trusted`);
    if (!btfPtr(r.type)?.flag.includes('rcu_')) env.reject(pc, `R${regno} must be a rcu pointer`);
  }
  // check_func_arg_reg_off: what a release kfunc releases at offset 0, BTF pointers at a fixed
  // offset, memory at any, the rest (ctx, map pointers, sockets) where they point
  funcArgRegOff(env, pc, regno, r, has(info, 'release') && !!r.refObjId);
  const to = t.to;
  switch (kind) {
    case 'ctx':
      if (r.type !== 'ctx') env.reject(pc, `arg#${k} expected pointer to ctx, but got ${regTypeStr(r)}`);
      return;
    case 'map': {
      // then as KF_ARG_PTR_TO_BTF_ID of `struct bpf_map`: a map, or a BTF pointer to one
      if (r.type === 'map_ptr') return;
      const b = regBtfPtr(r);
      if (!b) env.reject(pc, `arg#${k} is ${regTypeStr(r)} expected ${regTypeStr(r)} or socket`);
      if (!structIdsMatch(env.load.kernelBtf!, b.struct, r.off, 'bpf_map', false, (l) => env.log2(l)))
        env.reject(pc, `kernel function ${fn.name} args#${k} expected pointer to STRUCT bpf_map but R${regno} has a pointer to STRUCT ${b.struct}`);
      return;
    }
    case 'callback':
      // KF_ARG_PTR_TO_CALLBACK: a static subprogram's address
      if (r.type !== 'func') env.reject(pc, `arg${k} expected pointer to func`);
      meta.subprog = r.subprog;
      return;
    case 'dynptr': {
      const uninit = p.name.endsWith('__uninit');
      const parent = fn.name === 'bpf_dynptr_clone' && uninit ? meta.dynptr : undefined;
      const dkind = KFUNC_DYNPTR_KIND[fn.name] ?? parent?.kind;
      const d = processDynptrArg(env, st, f, pc, regno, { uninit, rdonly: r.type === 'dynptr_ptr', ...(uninit && dkind ? { kind: dkind } : {}), ...(parent ? { cloneOf: parent } : {}) });
      if (d && !uninit) meta.dynptr = d;
      return;
    }
    case 'const_str':
      // KF_ARG_PTR_TO_CONST_STR: a NUL-terminated string at a constant address of a read-only map
      if (r.type !== 'map_value') env.reject(pc, `arg#${k} doesn't point to a const string`);
      constString(env, pc, regno, r);
      return;
    case 'map_field':
      // KF_ARG_PTR_TO_WORKQUEUE, KF_ARG_PTR_TO_TASK_WORK: the field of a map value
      if (r.type !== 'map_value') env.reject(pc, `arg#${k} doesn't point to a map value`);
      mapFieldPointer(env, pc, regno, r, to.name as MapFieldKind);
      meta.fieldMap = r.map;
      meta.fieldMapUid = r.mapUid ?? 0;
      return;
    case 'irq_flag':
      // KF_ARG_PTR_TO_IRQ_FLAG and KF_ARG_PTR_TO_RES_SPIN_LOCK (locks.ts)
      if (r.type !== 'fp') env.reject(pc, `arg#${k} doesn't point to an irq flag on stack`);
      processIrqFlag(env, st, f, pc, regno, fn.name);
      return;
    case 'res_spin_lock':
      if (r.type !== 'map_value' && !(btfPtr(r.type) && r.memSize !== undefined)) env.reject(pc, `arg#${k} doesn't point to map value or allocated object`);
      processSpinLock(env, st, f, regno, pc, { lock: fn.name.startsWith('bpf_res_spin_lock'), res: true, irq: fn.name.endsWith('_irqsave') || fn.name.endsWith('_irqrestore') });
      return;
    case 'iter': {
      const m = processIterArg(env, st, f, pc, fn, regno, has(info, 'rcu_protected'));
      if (m) meta.iter = m;
      return;
    }
    case 'list_head':
    case 'rb_root':
    case 'list_node':
    case 'rb_node':
      // KF_ARG_PTR_TO_LIST_HEAD/_RB_ROOT and _LIST_NODE/_RB_NODE
      meta.graph ??= {};
      if (kind === 'list_head' || kind === 'rb_root') graphRootArg(env, st, pc, k, regno, r, kind, meta.graph);
      else graphNodeArg(env, st, pc, k, regno, r, kind, fn.name, meta.graph);
      return;
    case 'alloc': {
      // KF_ARG_PTR_TO_ALLOC_BTF_ID: an object bpf_obj_new (or bpf_percpu_obj_new) allocated, still held
      const b = btfPtr(r.type);
      if (!b || r.memSize === undefined || b.flag.includes('rcu_')) env.reject(pc, `arg#${k} expected pointer to allocated object`);
      const percpu = b.flag === 'percpu_';
      if (percpu !== (fn.name === 'bpf_percpu_obj_drop_impl')) env.reject(pc, `arg#${k} expected for ${percpu ? 'bpf_percpu_obj_drop_impl' : 'bpf_obj_drop_impl'}()`);
      if (!r.refObjId) env.reject(pc, 'allocated object must be referenced');
      return;
    }
    case 'refcounted_kptr': {
      // KF_ARG_PTR_TO_REFCOUNTED_KPTR: an owning or non-owning reference to an object with a bpf_refcount
      const b = btfPtr(r.type);
      if (!b || r.memSize === undefined) env.reject(pc, `arg#${k} is neither owning or non-owning ref`);
      const rec = objRecord(env, b.struct);
      if (!rec) env.reject(pc, "verifier bug: Couldn't find btf_record");
      if (!rec.fields.some((x) => x.type === 'refcount')) env.reject(pc, `arg#${k} doesn't point to a type with bpf_refcount field`);
      meta.refcounted = { struct: b.struct, owning: !b.flag.includes('rcu_') && !r.nonOwn };
      return;
    }
    case 'btf_id': {
      const b = regBtfPtr(r)!;
      // btf_is_projection_of: a kfunc taking `struct __sk_buff *` (`xdp_md *`) takes the kernel's sk_buff (xdp_buff)
      const projection = (to.name === '__sk_buff' && b.struct === 'sk_buff') || (to.name === 'xdp_md' && b.struct === 'xdp_buff');
      // btf_struct_ids_match, strict for a release of a referenced pointer
      const strict = has(info, 'release') && r.refObjId !== undefined;
      // (walked even for a projection: a walk the kernel refuses is in its log either way)
      const same = structIdsMatch(env.load.kernelBtf!, b.struct, r.off, to.name, strict, (l) => env.log2(l));
      if (!projection && !same)
        env.reject(pc, `kernel function ${fn.name} args#${k} expected pointer to STRUCT ${to.name} but R${regno} has a pointer to STRUCT ${b.struct}`);
      return;
    }
    case 'mem':
      break;
  }
  // memory (KF_ARG_PTR_TO_MEM, _MEM_SIZE): the pointee's size, or what the next `__sz` argument says
  const sizeName = fn.params[k + 1]?.name ?? '';
  const sized = memSized(fn, k, f);
  if (sized) {
    const size = f.regs[regno + 1]!;
    // check_kfunc_mem_size_reg: the pair is checked for reading, then for writing (BPF_WRITE,
    // not raw mode: check_stack_range_initialized clobbers the stack bytes to STACK_MISC, as
    // the live kernel's log shows after bpf_skb_ct_lookup's opts)
    try {
      for (let pass = 0; pass < 2; pass++) {
        if (size.smin < 0n) env.reject(pc, `R${regno + 1} min value is negative, either use unsigned or 'var &= const'`);
        if (size.umax >= 1n << 29n) env.reject(pc, `R${regno + 1} unbounded memory access, use 'var &= const' or 'if (var < const)'`);
        helperMem(env, st, pc, regno, r, Number(size.umax), pass === 1, true, false);
        env.precise(regno + 1);
      }
    } catch (e) {
      if (!(e instanceof VerifierReject)) throw e;
      env.reject(pc, ...e.lines, `arg#${k} arg#${k + 1} memory, len pair leads to invalid memory access`);
    }
    if (sizeName.endsWith('__szk')) {
      // bpf_dynptr_slice's buffer: written by the call (STACK_MISC, not scratched), and remembered
      helperMem(env, st, pc, regno, r, Number(size.umax), true, true, false);
      meta.sliceBuf = stackBuf(st, r, Number(size.umax));
    }
    return;
  }
  if (to.size === undefined) env.reject(pc, `arg#${k} reference type('${to.btfKind} ${to.name}') size cannot be determined: -22`);
  // check_mem_reg: read, then written (the stack bytes become STACK_MISC, not scratched for the log)
  helperMem(env, st, pc, regno, r, to.size, false, true);
  helperMem(env, st, pc, regno, r, to.size, true, true, false);
}
