/**
 * Helper arguments (kernel/bpf/verifier.c check_func_arg): the register types each
 * `enum bpf_arg_type` accepts (compatible_reg_types), NULL for PTR_MAYBE_NULL arguments,
 * references an OBJ_RELEASE argument must hold, then the kind's own check: map keys and
 * values, memory and its size, fixed-size memory, constant strings, timers, sockets and BTF
 * pointers.
 */
import type { Env } from './env.js';
import type { ArgType } from './helpers.js';
import { funcArgRegOff, helperMem, isNull } from './callargs.js';
import { memRegion, ptrAlignment } from './mem.js';
import { kptrMatchType, kptrXchgDest, type BtfField } from './kptr.js';
import { btfPtr, mayBeNull } from './nullable.js';
import { regTypeStrBare } from './print.js';
import { SlotType, type Frame, type Reg, type State } from './state.js';
import { checkDynptrRelease, processDynptrArg, type DynptrInfo } from './dynptr.js';
import { tnumIsConst } from './tnum.js';
import { structIdsMatch } from './btfproto.js';
import type { MapDef } from '@bpf/isa';
import { mapField, mapRecord, type MapFieldKind } from './mapfields.js';

const BPF_MAX_VAR_SIZ = 1n << 29n;

/** What the arguments tell the rest of the call (the kernel's struct bpf_call_arg_meta). */
export interface ArgMeta {
  map?: MapDef;
  /** The map's uid (meta->map_uid): its inner-map lookup, 0 for any other map. */
  mapUid?: number;
  constKey?: number;
  memSize?: number;
  releaseRegno?: number;
  subprog?: number;
  /** Reference held by an argument (a socket passed to bpf_sk_fullsock keeps it in R0). */
  refObjId?: number;
  /** The prototype's pkt_access: packet pointers may be passed (where the program type reads packets). */
  pktAccess?: boolean;
  /** The helper's name (func_id_name), for the messages that name it. */
  helper?: string;
  /** The initialised dynptr an argument points to (bpf_dynptr_data, bpf_dynptr_write). */
  dynptr?: DynptrInfo;
  /** The released argument is a dynptr (unmark_stack_slots_dynptr). */
  releaseDynptr?: boolean;
  /** ARG_PTR_TO_PERCPU_BTF_ID: the per-CPU pointer whose type R0 takes (meta->ret_btf_id). */
  percpu?: Reg;
  /** bpf_kptr_xchg: the kptr field its first argument points to. */
  kptrField?: BtfField;
  /** The largest size a size argument may have (msize_max_value): the string helpers return at most that. */
  msizeMax?: bigint;
}

/**
 * A helper call's meta with every field present (undefined where unset): one shape however the
 * arguments fill it, where fields added one by one gave a shape per order and a new
 * properties store as it grew (issue 25).
 */
export function newArgMeta(pktAccess: boolean | undefined, helper: string | undefined): ArgMeta {
  return {
    map: undefined,
    mapUid: undefined,
    constKey: undefined,
    memSize: undefined,
    releaseRegno: undefined,
    subprog: undefined,
    refObjId: undefined,
    pktAccess,
    helper,
    dynptr: undefined,
    releaseDynptr: undefined,
    percpu: undefined,
    kptrField: undefined,
    msizeMax: undefined,
  };
}

/** check_stack_range_initialized in raw mode: no byte a helper will write may be part of a dynptr. */
function rawWriteOverDynptr(env: Env, st: State, pc: number, r: Reg, size: number): void {
  const fr = st.frames[r.frame ?? st.frames.length - 1]!;
  const lo = r.off + Number(BigInt.asIntN(64, r.var.value));
  for (let i = lo; i < lo + size; i++) {
    const b = -i - 1;
    if (b >= 0 && b < 512 && fr.slotTypes[b] === SlotType.Dynptr) env.reject(pc, `potential write to dynptr at off=${i} disallowed`);
  }
}

/** may_access_direct_pkt_data for a helper's read: program types that read packets, through a pkt_access helper. */
const PKT_READ_HELPER: ReadonlySet<string> = new Set(['lwt_in', 'lwt_out', 'lwt_seg6local', 'sk_reuseport', 'flow_dissector', 'cgroup_skb', 'sched_cls', 'sched_act', 'xdp', 'lwt_xmit', 'sk_skb', 'sk_msg']);

/**
 * resolve_map_arg_type: a sockmap or sockhash value is a socket; a bloom filter's peek reads
 * the value it is given.
 */
function resolveMapArg(env: Env, pc: number, a: ArgType, map: MapDef | undefined): ArgType {
  if (a.base !== 'map_value' || !map) return a;
  if (map.type === 'sockmap' || map.type === 'sockhash') {
    if (a.maybeNull || a.uninit || a.write || a.rdonly) env.reject(pc, 'invalid arg_type for sockmap/sockhash');
    return { ...a, base: 'btf_id_sock_common' };
  }
  if (map.type === 'bloom_filter' && a.uninit) return { ...a, uninit: false, write: false };
  return a;
}

const MEM = ['fp', 'pkt', 'pkt_meta', 'map_key', 'map_value', 'mem', 'ringbuf_mem', 'buf', 'trusted_ptr_'];
const SOCK = ['sock_common', 'sock', 'tcp_sock', 'xdp_sock'];

/** compatible_reg_types: the register types each argument kind accepts, as the kernel names them. */
const COMPATIBLE: Readonly<Record<ArgType['base'], readonly string[]>> = {
  anything: [],
  scalar: ['scalar'],
  size: ['scalar'],
  size_or_zero: ['scalar'],
  alloc_size_or_zero: ['scalar'],
  map: ['map_ptr'],
  ctx: ['ctx'],
  map_key: MEM,
  map_value: MEM,
  mem: MEM,
  arena: ['arena'],
  sock_common: SOCK,
  socket: ['sock'],
  btf_id_sock_common: [...SOCK, 'ptr_', 'trusted_ptr_'],
  btf_id: ['ptr_', 'trusted_ptr_', 'rcu_ptr_'],
  spin_lock: ['map_value', 'ptr_'],
  ringbuf_mem: ['ringbuf_mem'],
  percpu_btf_id: ['percpu_ptr_', 'percpu_rcu_ptr_', 'percpu_trusted_ptr_'],
  func: ['func'],
  stack: ['fp'],
  const_str: ['map_value'],
  timer: ['map_value'],
  kptr_xchg_dest: ['map_value', 'ptr_'],
  dynptr: ['fp', 'dynptr_ptr'],
};

/** Kernel structs a `ptr_<struct>` may be for ARG_PTR_TO_BTF_ID_SOCK_COMMON (they begin with a sock_common). */
const SOCK_STRUCTS = new Set(['sock_common', 'sock', 'inet_sock', 'inet_connection_sock', 'tcp_sock', 'udp_sock', 'tcp6_sock', 'udp6_sock', 'unix_sock', 'mptcp_sock', 'tcp_timewait_sock', 'tcp_request_sock', 'request_sock', 'inet_timewait_sock', 'inet_request_sock']);

/** Whether a register of this type matches one of the kernel's type names (`ptr_` stands for every BTF pointer). */
function compatible(r: Reg, a: ArgType, list: readonly string[]): boolean {
  // check_reg_type folds MEM_RDONLY and PTR_MAYBE_NULL away when the argument allows them
  let t: string = r.type;
  if (a.maybeNull) t = t.replace('_or_null', '');
  // a read-only argument takes read-only memory as the memory it is (bpf_dynptr_slice's)
  if (a.rdonly) t = t.replace(/^rdonly_/, '');
  const b = btfPtr(t as Reg['type']);
  if (b) {
    const name = `${b.flag}ptr_`;
    if (!list.includes(name)) return false;
    if (a.base === 'btf_id_sock_common') return SOCK_STRUCTS.has(b.struct);
    return true;
  }
  return list.includes(t);
}

/** get_constant_map_key's precision and the ringbuf/stack helpers are the caller's (calls.ts). */
export interface ArgHooks {
  mapKey(env: Env, st: State, r: Reg, regno: number, size: number, meta: ArgMeta): void;
}

/** check_func_arg for argument `regno` (1..5) of type `a`; `next` is the following argument's type. */
export function checkHelperArg(env: Env, st: State, f: Frame, arg: ArgType, regno: number, pc: number, meta: ArgMeta, args: readonly ArgType[], hooks: ArgHooks): void {
  const r = env.readReg(f, regno, pc);
  if (arg.base === 'anything') return;
  if ((r.type === 'pkt' || r.type === 'pkt_meta') && !(env.type === 'cgroup_sockopt' || (PKT_READ_HELPER.has(env.type) && meta.pktAccess === true)))
    env.reject(pc, 'helper access to the packet is not allowed');
  const a = resolveMapArg(env, pc, arg, meta.map);
  const list = COMPATIBLE[a.base];
  const nullOk = a.maybeNull && isNull(r);
  // bpf_kptr_xchg's new value: an allocated object, or a kernel pointer, of the field's type
  const xchgValue = meta.kptrField !== undefined && a.base === 'btf_id';
  if (xchgValue && !nullOk && r.memSize !== undefined && btfPtr(r.type)) kptrMatchType(env, pc, meta.kptrField!, r, regno);
  else if (!nullOk && !compatible(r, a, list)) env.reject(pc, `R${regno} type=${regTypeStrBare(r)} expected=${list.join(', ')}`);
  // check_reg_type: a trusted kernel pointer is memory only a helper that does not write it may take
  else if (!nullOk && list === MEM && btfPtr(r.type) && !a.rdonly) env.reject(pc, `${meta.helper ?? 'helper'}() may write into memory pointed by R${regno} type=${regTypeStrBare(r)}`);
  // check_func_arg: a NULL given for an argument that may be NULL skips the type checks, so the
  // running 6.18 kernel relies on it staying 0 and marks it precise (its log backtracks it at the call)
  if (nullOk) env.precise(regno);
  if (xchgValue && !nullOk) {
    if (mayBeNull(r)) env.reject(pc, `Possibly NULL pointer passed to helper arg${regno}`);
    kptrMatchType(env, pc, meta.kptrField!, r, regno);
  }
  if (!nullOk && a.base === 'btf_id' && a.btf !== undefined && a.btf !== 'BPF_PTR_POISON') {
    const b = btfPtr(r.type);
    // btf_struct_ids_match: the struct, or one that starts with it (a sock for a sock_common),
    // at the pointer's offset; a release argument takes its exact type
    const kb = env.load.kernelBtf;
    const same = b && (kb ? structIdsMatch(kb, b.struct, r.off, a.btf, a.release, (l) => env.log2(l)) : b.struct === a.btf);
    if (b && !same) env.reject(pc, `R${regno} is of type ${b.struct} but ${a.btf} is expected`);
  }
  // a dynptr released through its stack slot is not the object itself: any offset
  if (!nullOk) funcArgRegOff(env, pc, regno, r, a.release && !(a.base === 'dynptr' && r.type === 'fp'));
  if (a.release && a.base === 'dynptr') {
    checkDynptrRelease(env, st, r, regno, pc);
    meta.releaseRegno = regno;
    meta.releaseDynptr = true;
  } else if (a.release) {
    if (!r.refObjId && !isNull(r)) env.reject(pc, `R${regno} must be referenced when passed to release function`);
    if (r.off) env.reject(pc, `R${regno} must have zero offset when passed to release func or trusted arg to kfunc`);
    meta.releaseRegno = regno;
  } else if (r.refObjId && r.type !== 'scalar') meta.refObjId = r.refObjId;
  switch (a.base) {
    case 'ctx':
      return;
    case 'map':
      // a timer's map (arg 1) must be the map passed here, an inner map the one of the same lookup
      if (meta.map && (meta.map !== r.map || (meta.mapUid ?? 0) !== (r.mapUid ?? 0)))
        env.reject(pc, `timer pointer in R1 map_uid=${meta.mapUid ?? 0} doesn't match map pointer in R${regno} map_uid=${r.mapUid ?? 0}`);
      meta.map = r.map;
      meta.mapUid = r.mapUid ?? 0;
      return;
    case 'map_key':
      if (!meta.map) env.reject(pc, 'invalid map_ptr to access map->key');
      hooks.mapKey(env, st, r, regno, meta.map.keySize, meta);
      helperMem(env, st, pc, regno, r, meta.map.keySize, false, false);
      return;
    case 'map_value':
      if (nullOk) return;
      if (!meta.map) env.reject(pc, 'invalid map_ptr to access map->value');
      helperMem(env, st, pc, regno, r, meta.map.valueSize, a.write, false, a.uninit, a.uninit);
      return;
    case 'mem':
      if (a.fixedSize !== undefined && !nullOk) {
        helperMem(env, st, pc, regno, r, a.fixedSize, a.write, false, a.uninit, a.uninit);
        // MEM_ALIGNED: check_ptr_alignment, strictly, of the whole object
        if (a.aligned) ptrAlignment(env, pc, r, 0, a.fixedSize, true);
      }
      return;
    case 'size':
    case 'size_or_zero': {
      const zeroOk = a.base === 'size_or_zero';
      meta.msizeMax = r.umax;
      if (r.smin < 0n) env.reject(pc, `R${regno} min value is negative, either use unsigned or 'var &= const'`);
      if (r.umin === 0n && !zeroOk) env.reject(pc, `R${regno} invalid zero-sized read: u64=[${r.umin},${r.umax}]`);
      if (r.umax >= BPF_MAX_VAR_SIZ) env.reject(pc, `R${regno} unbounded memory access, use 'var &= const' or 'if (var < const)'`);
      const memReg = f.regs[regno - 1]!;
      // raw mode (MEM_UNINIT, and a size known exactly: check_mem_size_reg drops it for a
      // variable one): the helper writes the memory, which may not hold a dynptr
      const raw = (args[regno - 2]?.uninit ?? false) && tnumIsConst(r.var);
      if (raw && memReg.type === 'fp' && tnumIsConst(memReg.var)) rawWriteOverDynptr(env, st, pc, memReg, Number(r.umax));
      // raw mode writes the bytes one by one (check_mem_access: the log prints the slots);
      // other writes clobber them in check_stack_range_initialized, unprinted
      helperMem(env, st, pc, regno - 1, memReg, Number(r.umax), args[regno - 2]?.write ?? false, zeroOk, raw, raw);
      env.precise(regno);
      return;
    }
    case 'alloc_size_or_zero':
      if (!tnumIsConst(r.var)) env.reject(pc, `R${regno} is not a known constant'`);
      meta.memSize = Number(r.var.value);
      env.precise(regno);
      return;
    case 'ringbuf_mem':
      if (r.off) env.reject(pc, `dereference of modified ringbuf_mem ptr R${regno} off=${r.off} disallowed`);
      return;
    case 'func':
      meta.subprog = r.subprog;
      return;
    case 'const_str':
      return constString(env, pc, regno, r);
    case 'timer':
      mapFieldPointer(env, pc, regno, r, 'bpf_timer');
      meta.map = r.map;
      meta.mapUid = r.mapUid ?? 0;
      return;
    case 'spin_lock':
      // process_spin_lock: the caller (calls.ts) takes or releases the lock
      return;
    case 'dynptr': {
      const d = processDynptrArg(env, st, f, pc, regno, { uninit: a.uninit, rdonly: a.rdonly, ...(a.dynptr ? { kind: a.dynptr } : {}) });
      if (d && !a.uninit) meta.dynptr = d;
      return;
    }
    case 'kptr_xchg_dest':
      meta.kptrField = kptrXchgDest(env, pc, regno, r);
      return;
    case 'percpu_btf_id':
      if (!btfPtr(r.type)) env.reject(pc, `Helper has invalid btf_id in R${regno}`);
      meta.percpu = r;
      return;
    default:
      return;
  }
}

/** BPF_F_RDONLY_PROG: the map a loader freezes and programs may only read (.rodata, .kconfig). */
const RDONLY_PROG = 0x80;

/** ARG_PTR_TO_CONST_STR: a constant address in a read-only map whose value holds a NUL after it. */
export function constString(env: Env, pc: number, regno: number, r: Reg): void {
  const map = r.map!;
  if (!((map.flags ?? 0) & RDONLY_PROG)) env.reject(pc, `R${regno} does not point to a readonly map'`);
  if (!tnumIsConst(r.var)) env.reject(pc, `R${regno} is not a constant address'`);
  if (map.type !== 'array') env.reject(pc, 'no direct value access support for this map type');
  const off = r.off + Number(BigInt.asIntN(64, r.var.value));
  memRegion(env, pc, r, regno, r.off, map.valueSize - r.off, map.valueSize, false);
  const data = map.data;
  if (data && !data.subarray(off, map.valueSize).includes(0)) env.reject(pc, 'string is not zero-terminated');
}

/** check_map_field_pointer: the pointer must be a map value at its field of this kind (`struct bpf_timer`, `bpf_wq`). */
export function mapFieldPointer(env: Env, pc: number, regno: number, r: Reg, kind: MapFieldKind): void {
  if (!tnumIsConst(r.var)) env.reject(pc, `R${regno} doesn't have constant offset. ${kind} has to be at the constant offset`);
  const map = r.map!;
  // a map's special fields come from its BTF, which the loader passes or not
  if (!mapRecord(map)) env.reject(pc, `map '${map.name}' has to have BTF in order to use ${kind}`);
  const field = mapField(map, kind);
  if (!field) env.reject(pc, `map '${map.name}' has no valid ${kind}`);
  const off = r.off + Number(BigInt.asIntN(64, r.var.value));
  if (off !== field.off) env.reject(pc, `off ${off} doesn't point to 'struct ${kind}' that is at ${field.off}`);
}
