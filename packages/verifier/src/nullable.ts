/**
 * Pointers that may be NULL until checked (the kernel's PTR_MAYBE_NULL) and what a null check
 * turns them into (kernel/bpf/verifier.c mark_ptr_or_null_reg): a map value, a ring buffer
 * record, a BTF pointer `ptr_or_null_<struct>`, or, for a map-in-map lookup, the inner map.
 */
import { innerMapMeta, mapField, mayPointToSpinLock } from './mapfields.js';
import type { MapDef } from '@bpf/isa';
import { copyReg, type MutableReg, type Reg, type RegType } from './state.js';

/** A map definition with the inner map of a map-in-map (as @bpf/elf's maps carry it). */
export type MapWithInner = MapDef & { readonly inner?: MapDef };

/**
 * The modifiers of a PTR_TO_BTF_ID as reg_type_str prints them, in its order: MEM_USER,
 * MEM_PERCPU, MEM_RCU, PTR_UNTRUSTED, PTR_TRUSTED (kernel/bpf/log.c).
 */
export type BtfPtrFlag = `${'' | 'user_' | 'percpu_'}${'' | 'rcu_'}${'' | 'untrusted_' | 'trusted_'}`;

const BTF_PTR = /^((?:user_)?(?:percpu_)?(?:rcu_)?(?:untrusted_|trusted_)?)ptr_(or_null_)?(.+)$/;

/** The parts of a BTF pointer type (`trusted_ptr_task_struct`), or undefined for other types. */
export function btfPtr(t: RegType): { readonly flag: BtfPtrFlag; readonly orNull: boolean; readonly struct: string } | undefined {
  const m = BTF_PTR.exec(t);
  if (!m) return undefined;
  return { flag: m[1] as BtfPtrFlag, orNull: m[2] !== undefined, struct: m[3]! };
}

/** The kernel's reg_type_str of a PTR_TO_BTF_ID: modifier prefix, `ptr_`, `or_null_`, the struct name. */
export const btfPtrType = (struct: string, flag: BtfPtrFlag = '', orNull = false): RegType =>
  `${flag}ptr_${orNull ? 'or_null_' : ''}${struct}` as RegType;

const NULLABLE: ReadonlySet<string> = new Set(['map_value_or_null', 'ringbuf_mem_or_null', 'mem_or_null', 'rdonly_mem_or_null', 'sock_or_null', 'tcp_sock_or_null', 'sock_common_or_null', 'xdp_sock_or_null', 'rdonly_buf_or_null', 'buf_or_null']);

export const mayBeNull = (r: Reg): boolean => NULLABLE.has(r.type) || btfPtr(r.type)?.orNull === true;

/** The register after a null check proved it non-NULL (its nullable id dropped). */
export function nonNull(r: Reg): Reg {
  if (r.type === 'ringbuf_mem_or_null') return retyped(r, 'ringbuf_mem', false);
  if (r.type === 'mem_or_null') return retyped(r, 'mem', false);
  // a socket keeps its id as the reference it holds (the kernel keeps ref_obj_id, drops id)
  if (r.type === 'sock_or_null' || r.type === 'tcp_sock_or_null' || r.type === 'sock_common_or_null') return retyped(r, r.type.replace('_or_null', '') as RegType, false);
  if (r.type === 'rdonly_mem_or_null') return retyped(r, 'rdonly_mem', false);
  if (r.type === 'xdp_sock_or_null') return retyped(r, 'xdp_sock', false);
  if (r.type === 'rdonly_buf_or_null') return retyped(r, 'rdonly_buf', false);
  if (r.type === 'buf_or_null') return retyped(r, 'buf', false);
  if (r.type === 'map_value_or_null') {
    // a lookup in a map-in-map yields the inner map (the kernel's inner_map_meta, which has no name)
    const inner = r.map && innerMapMeta(r.map as MapWithInner);
    if (inner) {
      const o = retyped(r, 'map_ptr', false, true);
      o.map = inner;
      // mark_ptr_not_null_reg: the lookup's id names this inner map when it holds an async field
      if (r.id && (mapField(inner, 'bpf_timer') || mapField(inner, 'bpf_wq') || mapField(inner, 'bpf_task_work'))) o.mapUid = r.id;
      return o;
    }
    // reg_may_point_to_spin_lock: the id names the lock (process_spin_lock), so it stays
    return retyped(r, 'map_value', mayPointToSpinLock(r.map));
  }
  const b = btfPtr(r.type);
  // reg_may_point_to_spin_lock: an allocated object with a lock keeps the id that names it
  return b ? retyped(r, btfPtrType(b.struct, b.flag), r.allocLock !== undefined) : r;
}

/**
 * `{ ...rest, type }` of a pointer without (or with) its id, as a literal copy: a spread or a rest
 * pattern copies through V8's slow path and gives the result a map of its own (state.ts copyReg).
 */
function retyped(r: Reg, type: RegType, keepId: boolean, wide = false): MutableReg {
  // a pointer has no scalar link: unlinking drops only its id
  const o = copyReg(r, !keepId, wide);
  o.type = type;
  return o;
}
