/**
 * Memory typed by the kernel's BTF (kernel/bpf/btf.c btf_struct_access): reads of kernel
 * structs through BTF pointers (scalars, or pointers to further structs); the context that
 * gives the first such pointers is btfctx.ts.
 */
import { safeField, structFieldRead, type PtrField } from './btfproto.js';
import type { Env } from './env.js';
import { inRcuCs } from './iter.js';
import { btfPtr, btfPtrType, type BtfPtrFlag } from './nullable.js';
import { pointer, UNKNOWN, type Reg, type State } from './state.js';
import { tnumIsConst, tnumStr } from './tnum.js';

/**
 * The modifiers of a pointer read from a kernel struct (kernel/bpf/verifier.c
 * check_ptr_to_btf_access after btf_struct_walk): the member's type tag (`__rcu` gives MEM_RCU,
 * `__user` MEM_USER, `__percpu` MEM_PERCPU), then the trust the walk passes on. From an
 * untrusted pointer everything is untrusted; from a trusted or RCU pointer, the members the
 * kernel lists in its `<struct>__safe_trusted[_or_null]` / `__safe_rcu[_or_null]` BTF types stay
 * trusted / RCU (the `_or_null` ones nullable), an `__rcu` member inside an RCU read-side
 * section is `rcu_ptr_or_null_`, outside one everything is untrusted. Other members inside
 * the section: the 6.18 sources clear the trust flags (a plain `ptr_`), while the 6.18.y
 * kernels this was measured on (6.18.44) give `untrusted_ptr_`, as here. From a plain
 * pointer (old compat: an iterator's `ctx->prog` or `ctx->link`, a map pointer read as its
 * `struct bpf_map`) the 6.18 sources drop the trust flags and give a plain `ptr_`; 6.18.44
 * gives `untrusted_ptr_` there too (measured: `prog->aux`, `link->prog`, `map->inner_map_meta`),
 * as here. `user_`/`percpu_` are kept (this kernel's BTF carries no such tags to measure).
 */
function walkedPtrFlags(env: Env, st: State, r: Reg, base: { readonly flag: BtfPtrFlag; readonly orNull: boolean; readonly struct: string }, field: PtrField): { flag: BtfPtrFlag; orNull: boolean } {
  const btf = env.load.kernelBtf!;
  const user = field.tag === 'user' ? 'user_' : '';
  const percpu = field.tag === 'percpu' ? 'percpu_' : '';
  const keep = `${user}${percpu}` as BtfPtrFlag;
  const untrusted = { flag: 'untrusted_' as BtfPtrFlag, orNull: false };
  if (base.flag.includes('untrusted_') || field.untrusted) return untrusted;
  // is_trusted_reg (a reference, or PTR_TRUSTED alone) or is_rcu_reg (MEM_RCU)
  const trusted = r.refObjId !== undefined || base.flag === 'trusted_';
  if (!trusted && !base.flag.includes('rcu_')) return keep ? { flag: keep, orNull: false } : untrusted;
  const safe = (suffix: string): boolean => safeField(btf, base.struct, suffix, field.field, field.toId);
  const rcuTag = field.tag === 'rcu' ? 'rcu_' : '';
  if (safe('__safe_trusted')) return { flag: `${keep}${rcuTag}trusted_` as BtfPtrFlag, orNull: false };
  if (safe('__safe_trusted_or_null')) return { flag: `${keep}${rcuTag}trusted_` as BtfPtrFlag, orNull: true };
  if (!inRcuCs(env, st) || base.orNull) return untrusted;
  if (safe('__safe_rcu')) return { flag: `${keep}rcu_` as BtfPtrFlag, orNull: false };
  if (rcuTag || safe('__safe_rcu_or_null')) return { flag: `${keep}rcu_` as BtfPtrFlag, orNull: true };
  if (keep) return { flag: keep, orNull: false };
  return untrusted;
}

/** A load through a pointer to a kernel struct; undefined when `r` is no such pointer. */
export function kernelStructRead(env: Env, st: State, pc: number, r: Reg, regno: number, off: number, size: number, write: boolean): Reg | undefined {
  const b = btfPtr(r.type);
  const btf = env.load.kernelBtf;
  if (!b || b.orNull || r.memSize !== undefined || !btf) return undefined;
  // check_ptr_to_btf_access, in its order
  if (!env.load.gplCompatible) env.reject(pc, `Cannot access kernel 'struct ${b.struct}' from non-GPL compatible program`);
  if (off < 0) env.reject(pc, `R${regno} is ptr_${b.struct} invalid negative access: off=${off}`);
  if (!tnumIsConst(r.var) || r.var.value !== 0n) env.reject(pc, `R${regno} is ptr_${b.struct} invalid variable offset: off=${off}, var_off=${tnumStr(r.var)}`);
  if (b.flag.startsWith('user_')) env.reject(pc, `R${regno} is ptr_${b.struct} access user memory: off=${off}`);
  if (b.flag.includes('percpu_')) env.reject(pc, `R${regno} is ptr_${b.struct} access percpu memory: off=${off}`);
  if (write) env.reject(pc, 'only read is supported');
  const field = structFieldRead(btf, b.struct, off, size);
  if ('error' in field) env.reject(pc, field.error);
  // a pointer to anything but a struct is read-only memory read through probe loads (WALK_PTR_UNTRUSTED)
  if (field.kind === 'untrusted_mem') return pointer('rdonly_untrusted_mem', { memSize: 0 });
  if (field.kind !== 'ptr') return UNKNOWN;
  const { flag, orNull } = walkedPtrFlags(env, st, r, b, field);
  // mark_btf_ld_reg: a pointer that may be NULL gets an id for its null check
  return pointer(btfPtrType(field.to, flag, orNull), orNull ? { id: env.nextId() } : {});
}

/**
 * The kernel struct behind a map of each type (its ops' map_btf_id): what a program reads
 * through a map pointer (kernel/bpf/*map*.c, net/core/sock_map.c, net/xdp/xskmap.c, ...).
 */
const MAP_STRUCT: Readonly<Record<string, string>> = {
  array: 'bpf_array', percpu_array: 'bpf_array', prog_array: 'bpf_array', perf_event_array: 'bpf_array', cgroup_array: 'bpf_array', array_of_maps: 'bpf_array',
  hash: 'bpf_htab', percpu_hash: 'bpf_htab', lru_hash: 'bpf_htab', lru_percpu_hash: 'bpf_htab', hash_of_maps: 'bpf_htab',
  lpm_trie: 'lpm_trie', stack_trace: 'bpf_stack_map', devmap: 'bpf_dtab', devmap_hash: 'bpf_dtab', sockmap: 'bpf_stab', sockhash: 'bpf_shtab',
  cpumap: 'bpf_cpu_map', xskmap: 'xsk_map', cgroup_storage: 'bpf_cgroup_storage_map', percpu_cgroup_storage: 'bpf_cgroup_storage_map',
  reuseport_sockarray: 'reuseport_array', queue: 'bpf_queue_stack', stack: 'bpf_queue_stack', sk_storage: 'bpf_local_storage_map',
  inode_storage: 'bpf_local_storage_map', task_storage: 'bpf_local_storage_map', cgrp_storage: 'bpf_local_storage_map',
  struct_ops: 'bpf_struct_ops_map', ringbuf: 'bpf_ringbuf_map', user_ringbuf: 'bpf_ringbuf_map', bloom_filter: 'bpf_bloom_filter', arena: 'bpf_arena',
};

/**
 * check_ptr_to_map_access: a map pointer (CONST_PTR_TO_MAP) is read as a plain pointer to its
 * map's kernel struct (`struct bpf_array`, ...), at a non-negative offset, never written; the
 * pointers read from it are typed as walkedPtrFlags types those of a plain pointer.
 */
export function mapPtrRead(env: Env, st: State, pc: number, r: Reg, regno: number, off: number, size: number, write: boolean, mapTypeNum: number): Reg {
  const btf = env.load.kernelBtf;
  if (!btf) env.reject(pc, 'map_ptr access not supported without CONFIG_DEBUG_INFO_BTF');
  const struct = MAP_STRUCT[r.map!.type];
  if (struct === undefined) env.reject(pc, `map_ptr access not supported for map type ${mapTypeNum}`);
  if (off < 0) env.reject(pc, `R${regno} is ${struct} invalid negative access: off=${off}`);
  if (write) env.reject(pc, `only read from ${struct} is supported`);
  const field = structFieldRead(btf, struct, off, size);
  if ('error' in field) env.reject(pc, field.error);
  if (field.kind === 'untrusted_mem') return pointer('rdonly_untrusted_mem', { memSize: 0 });
  if (field.kind !== 'ptr') return UNKNOWN;
  const { flag } = walkedPtrFlags(env, st, r, { flag: '', orNull: false, struct }, field);
  return pointer(btfPtrType(field.to, flag));
}
