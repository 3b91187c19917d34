/**
 * What a helper call leaves in R0 and in the rest of the state (kernel/bpf/verifier.c
 * check_helper_call, after the arguments): the return type of its prototype, references the
 * acquiring helpers create (bpf_sk_lookup_tcp, bpf_ringbuf_reserve, a sockmap lookup) or the
 * casting ones pass on (bpf_sk_fullsock, bpf_tcp_sock, bpf_skc_to_*), and packet pointers
 * invalidated by helpers that may move the packet (clear_all_pkt_pointers).
 */
import { mayPointToSpinLock } from './mapfields.js';
import type { Env } from './env.js';
import type { ArgMeta } from './helperargs.js';
import { ACQUIRE_HELPERS, PKT_CHANGING_HELPERS, PTR_CAST_HELPERS } from './helper-protos.js';
import type { HelperProto } from './helpers.js';
import { percpuHelperReturn } from './ksym.js';
import { boundsSync } from './scalar.js';
import { kptrXchgReturn } from './kptr.js';
import { btfPtrType } from './nullable.js';
import { lowS32 } from './tnum.js';
import { copyReg, NOT_INIT, pointer, setSpilled, UNKNOWN, type Reg, type RegType, type State } from './state.js';

export const PKT_CHANGING: ReadonlySet<number> = new Set(PKT_CHANGING_HELPERS);
const ACQUIRE = new Set(ACQUIRE_HELPERS);
const PTR_CAST = new Set(PTR_CAST_HELPERS);

const isPkt = (r: Reg): boolean => r.type === 'pkt' || r.type === 'pkt_meta' || r.type === 'pkt_end' || r.pktSlice === true;

/**
 * clear_all_pkt_pointers: every packet pointer, and every slice of an skb or xdp dynptr, in
 * registers and spills of every frame, becomes unknown.
 */
export function clearPacketPointers(st: State): void {
  for (const f of st.frames) {
    f.regs.forEach((r, k) => {
      if (isPkt(r)) f.regs[k] = UNKNOWN;
    });
    f.spilled.forEach((r, k) => {
      if (r && isPkt(r)) setSpilled(f, k, UNKNOWN);
    });
  }
}

/** Socket pointer types by the return base (RET_PTR_TO_SOCKET, _TCP_SOCK, _SOCK_COMMON). */
const SOCKET_RET: Readonly<Record<string, string>> = { socket: 'sock', tcp_sock: 'tcp_sock', sock_common: 'sock_common' };

/** R0 after the call. */
export function helperReturn(env: Env, st: State, h: HelperProto, meta: ArgMeta, pc: number): Reg {
  const ret = h.ret;
  let r0: Reg;
  switch (ret.base) {
    case 'integer':
      return refineRetval(h.id, meta, env.nrCpuIds);
    case 'void':
      return NOT_INIT;
    case 'map_value': {
      const map = meta.map!;
      // a value of an inner map keeps the uid of the lookup that gave the map (map_uid)
      const mapUid = meta.mapUid || undefined;
      // a lookup in a sockmap or sockhash yields a socket (and a reference to it). The register
      // keeps the map (map_ptr, map_uid) as the kernel's does: mark_ptr_not_null_reg changes only
      // the type, and regsafe compares that part of the register byte for byte, so a socket
      // looked up in a map never prunes one from bpf_sk_lookup_tcp (OBI's tctracer)
      if (h.id === 1 && (map.type === 'sockmap' || map.type === 'sockhash')) {
        r0 = pointer('sock_or_null', { map, mapUid, id: env.nextId() });
        break;
      }
      // and in an xskmap an AF_XDP socket (no reference: the running kernel's log shows
      // xdp_sock_or_null(id=N) at the call, xdp_sock() after the null check)
      if (h.id === 1 && map.type === 'xskmap') {
        r0 = pointer('xdp_sock_or_null', { map, mapUid, id: env.nextId() });
        break;
      }
      // a non-null value holding a lock gets an id to name the lock by (process_spin_lock); the
      // fields as a literal, undefined where unset (pointer's wide register has them all): a
      // closure here made V8 allocate this block's context on every lookup (issue 25)
      if (!ret.maybeNull || (h.id === 1 && meta.constKey !== undefined && meta.constKey >= 0 && meta.constKey < map.maxEntries))
        // array lookups with a constant key in range cannot fail (the kernel's const map key)
        return pointer('map_value', { map, mapUid, id: mayPointToSpinLock(map) ? env.nextId() : undefined });
      r0 = pointer('map_value_or_null', { map, mapUid, id: env.nextId() });
      break;
    }
    case 'socket':
    case 'tcp_sock':
    case 'sock_common': {
      const t = SOCKET_RET[ret.base]!;
      r0 = ret.maybeNull ? pointer(`${t}_or_null` as RegType, { id: env.nextId() }) : pointer(t as RegType);
      break;
    }
    case 'mem':
      if (ret.ringbuf) {
        r0 = pointer('ringbuf_mem_or_null', { id: env.nextId(), memSize: meta.memSize ?? 0 });
        break;
      }
      r0 = ret.maybeNull ? pointer('mem_or_null', { id: env.nextId(), memSize: meta.memSize ?? 0 }) : pointer('mem', { memSize: meta.memSize ?? 0 });
      break;
    case 'btf_id': {
      // RET_PTR_TO_BTF_ID with BPF_PTR_POISON (bpf_kptr_xchg) takes the kptr field's type (kptr.ts)
      if (ret.btf === 'BPF_PTR_POISON' && meta.kptrField) {
        r0 = kptrXchgReturn(env, meta.kptrField);
        break;
      }
      if (ret.btf === undefined || ret.btf === 'BPF_PTR_POISON') return UNKNOWN;
      r0 = pointer(btfPtrType(ret.btf, ret.trusted ? 'trusted_' : '', ret.maybeNull), ret.maybeNull ? { id: env.nextId() } : {});
      break;
    }
    case 'mem_or_btf_id':
      // bpf_this_cpu_ptr / bpf_per_cpu_ptr of a per-CPU ksym (ksym.ts)
      return meta.percpu ? percpuHelperReturn(env, meta.percpu, ret.maybeNull) : UNKNOWN;
  }
  if (PTR_CAST.has(h.id)) {
    if (meta.refObjId !== undefined) {
      // literal copies, not spreads (see state.ts copyReg)
      const o = copyReg(r0, false, true);
      o.refObjId = meta.refObjId;
      r0 = o;
    }
  } else if (ACQUIRE.has(h.id) || (h.id === 1 && r0.type === 'sock_or_null')) {
    // acquire_reference_state: a fresh id, which becomes the pointer's id and reference
    const id = env.nextId();
    st.refs = [...st.refs, { id, insn: pc }];
    const o = copyReg(r0, false, true);
    o.id = id;
    o.refObjId = id;
    r0 = o;
  }
  return r0;
}

/** bpf_get_stack, bpf_get_task_stack and the probe_read *_str helpers (do_refine_retval_range). */
const RETURNS_AT_MOST_SIZE: ReadonlySet<number> = new Set([45, 67, 114, 115, 141]);

/** BPF_FUNC_get_smp_processor_id. */
const GET_SMP_PROCESSOR_ID = 8;

/**
 * do_refine_retval_range: a helper that returns a length no longer than its size argument, or
 * -errno; bpf_get_smp_processor_id a CPU number in [0, nr_cpu_ids - 1] (when it is known).
 */
function refineRetval(id: number, meta: ArgMeta, nrCpuIds: number | undefined): Reg {
  if (id === GET_SMP_PROCESSOR_ID && nrCpuIds !== undefined && nrCpuIds > 0) {
    const max = BigInt(nrCpuIds - 1);
    const n = nrCpuIds - 1;
    return boundsSync({ ...UNKNOWN, smin: 0n, s32min: 0, umin: 0n, u32min: 0, smax: max, s32max: n, umax: max, u32max: n });
  }
  if (!RETURNS_AT_MOST_SIZE.has(id) || meta.msizeMax === undefined) return UNKNOWN;
  const max = meta.msizeMax;
  return boundsSync({ ...UNKNOWN, smin: -4095n, s32min: -4095, smax: BigInt.asIntN(64, max), s32max: lowS32(max) });
}
