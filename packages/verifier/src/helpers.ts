/**
 * Helper prototypes as data (include/linux/bpf.h `struct bpf_func_proto`, argument types
 * ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY, ...), one row per helper.
 */
import type { ProgType } from '@bpf/isa';

/**
 * - `anything`: ARG_ANYTHING; `ctx`: ARG_PTR_TO_CTX; `map`: ARG_CONST_MAP_PTR
 * - `map_key` / `map_value`: memory of the map's key or value size
 * - `mem`: read-only memory (ARG_PTR_TO_MEM | MEM_RDONLY), `mem_or_null` the same or NULL,
 *   `uninit_mem`: memory the helper writes (ARG_PTR_TO_UNINIT_MEM); all sized by the next argument
 * - `size` / `size_or_zero`: ARG_CONST_SIZE(_OR_ZERO); `alloc_size_or_zero`: a constant size
 * - `ringbuf_mem_release`: a ring buffer record, released (ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE)
 * - `func`: a callback (ARG_PTR_TO_FUNC); `stack_or_null`: ARG_PTR_TO_STACK_OR_NULL
 * - `const_str`: a NUL-terminated string in a read-only map value (ARG_PTR_TO_CONST_STR)
 */
export type ArgType =
  | 'anything'
  | 'ctx'
  | 'map'
  | 'map_key'
  | 'map_value'
  | 'mem'
  | 'mem_or_null'
  | 'uninit_mem'
  | 'size'
  | 'size_or_zero'
  | 'alloc_size_or_zero'
  | 'ringbuf_mem_release'
  | 'func'
  | 'stack_or_null'
  | 'const_str';

export interface HelperProto {
  readonly args: readonly ArgType[];
  /** `trusted_task`: RET_PTR_TO_BTF_ID_TRUSTED to `struct task_struct` (bpf_get_current_task_btf). */
  readonly ret: 'integer' | 'map_value_or_null' | 'ringbuf_mem_or_null' | 'void' | 'trusted_task';
  /** Program types allowed to call it (all when absent). */
  readonly types?: readonly ProgType[];
  /** `gpl_only`: only programs with a GPL-compatible license may call it. */
  readonly gpl?: true;
}

const SKB: readonly ProgType[] = ['socket_filter', 'sched_cls', 'sched_act', 'cgroup_skb', 'lwt_in', 'lwt_out', 'lwt_xmit', 'sk_skb'];
const TC: readonly ProgType[] = ['sched_cls', 'sched_act'];
const TRACING: readonly ProgType[] = ['kprobe', 'tracepoint', 'raw_tracepoint', 'perf_event', 'tracing'];
const PROBE_READ = { args: ['uninit_mem', 'size_or_zero', 'anything'], ret: 'integer', gpl: true } as const;

export const HELPERS: Readonly<Record<number, HelperProto>> = {
  1: { args: ['map', 'map_key'], ret: 'map_value_or_null' }, // map_lookup_elem
  2: { args: ['map', 'map_key', 'map_value', 'anything'], ret: 'integer' }, // map_update_elem
  3: { args: ['map', 'map_key'], ret: 'integer' }, // map_delete_elem
  4: { ...PROBE_READ, types: TRACING }, // probe_read
  5: { args: [], ret: 'integer' }, // ktime_get_ns
  6: { args: ['mem', 'size'], ret: 'integer', gpl: true }, // trace_printk
  7: { args: [], ret: 'integer' }, // get_prandom_u32
  8: { args: [], ret: 'integer' }, // get_smp_processor_id
  9: { args: ['ctx', 'anything', 'mem', 'size', 'anything'], ret: 'integer', types: [...TC, 'lwt_xmit', 'sk_skb'] }, // skb_store_bytes
  10: { args: ['ctx', 'anything', 'anything', 'anything', 'anything'], ret: 'integer', types: [...TC, 'lwt_xmit'] }, // l3_csum_replace
  11: { args: ['ctx', 'anything', 'anything', 'anything', 'anything'], ret: 'integer', types: [...TC, 'lwt_xmit'] }, // l4_csum_replace
  12: { args: ['ctx', 'map', 'anything'], ret: 'void' }, // tail_call (RET_VOID: R0 is not readable after it)
  14: { args: [], ret: 'integer' }, // get_current_pid_tgid
  15: { args: [], ret: 'integer', types: TRACING }, // get_current_uid_gid
  16: { args: ['uninit_mem', 'size'], ret: 'integer', types: TRACING }, // get_current_comm
  23: { args: ['anything', 'anything'], ret: 'integer', types: [...TC, 'xdp'] }, // redirect
  25: { args: ['ctx', 'map', 'anything', 'mem', 'size_or_zero'], ret: 'integer', gpl: true }, // perf_event_output
  26: { args: ['ctx', 'anything', 'uninit_mem', 'size'], ret: 'integer', types: SKB }, // skb_load_bytes
  28: { args: ['mem_or_null', 'size_or_zero', 'mem_or_null', 'size_or_zero', 'anything'], ret: 'integer', types: [...TC, 'xdp', 'lwt_in', 'lwt_out', 'lwt_xmit'] }, // csum_diff
  44: { args: ['ctx', 'anything'], ret: 'integer', types: ['xdp'] }, // xdp_adjust_head
  112: PROBE_READ, // probe_read_user
  113: PROBE_READ, // probe_read_kernel
  125: { args: [], ret: 'integer' }, // ktime_get_boot_ns
  130: { args: ['map', 'mem', 'size_or_zero', 'anything'], ret: 'integer' }, // ringbuf_output
  131: { args: ['map', 'alloc_size_or_zero', 'anything'], ret: 'ringbuf_mem_or_null' }, // ringbuf_reserve
  132: { args: ['ringbuf_mem_release', 'anything'], ret: 'void' }, // ringbuf_submit
  133: { args: ['ringbuf_mem_release', 'anything'], ret: 'void' }, // ringbuf_discard
  158: { args: [], ret: 'trusted_task', types: TRACING, gpl: true }, // get_current_task_btf
  181: { args: ['anything', 'func', 'stack_or_null', 'anything'], ret: 'integer' }, // loop
  182: { args: ['mem', 'size', 'const_str'], ret: 'integer' }, // strncmp
};
