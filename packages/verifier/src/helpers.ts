/**
 * Helper prototypes as data (include/linux/bpf.h `struct bpf_func_proto`, argument types
 * ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY, ...), one row per helper.
 */
import type { ProgType } from '@bpf/isa';

export type ArgType = 'anything' | 'ctx' | 'map' | 'map_key' | 'map_value' | 'mem' | 'size';
export interface HelperProto {
  readonly args: readonly ArgType[];
  readonly ret: 'integer' | 'map_value_or_null' | 'void';
  /** Program types allowed to call it (all when absent). */
  readonly types?: readonly ProgType[];
}

const SKB: readonly ProgType[] = ['socket_filter', 'sched_cls', 'sched_act', 'cgroup_skb', 'lwt_in', 'lwt_out', 'lwt_xmit', 'sk_skb'];
const TRACING: readonly ProgType[] = ['kprobe', 'tracepoint', 'raw_tracepoint', 'perf_event', 'tracing'];

export const HELPERS: Readonly<Record<number, HelperProto>> = {
  1: { args: ['map', 'map_key'], ret: 'map_value_or_null' }, // map_lookup_elem
  2: { args: ['map', 'map_key', 'map_value', 'anything'], ret: 'integer' }, // map_update_elem
  3: { args: ['map', 'map_key'], ret: 'integer' }, // map_delete_elem
  4: { args: ['mem', 'size', 'anything'], ret: 'integer', types: TRACING }, // probe_read
  5: { args: [], ret: 'integer' }, // ktime_get_ns
  6: { args: ['mem', 'size'], ret: 'integer' }, // trace_printk
  7: { args: [], ret: 'integer' }, // get_prandom_u32
  8: { args: [], ret: 'integer' }, // get_smp_processor_id
  12: { args: ['ctx', 'map', 'anything'], ret: 'integer' }, // tail_call
  14: { args: [], ret: 'integer', types: TRACING }, // get_current_pid_tgid
  15: { args: [], ret: 'integer', types: TRACING }, // get_current_uid_gid
  16: { args: ['mem', 'size'], ret: 'integer', types: TRACING }, // get_current_comm
  23: { args: ['anything', 'anything'], ret: 'integer', types: ['sched_cls', 'sched_act', 'xdp'] }, // redirect
  25: { args: ['ctx', 'map', 'anything', 'mem', 'size'], ret: 'integer' }, // perf_event_output
  26: { args: ['ctx', 'anything', 'mem', 'size'], ret: 'integer', types: SKB }, // skb_load_bytes
  112: { args: ['mem', 'size', 'anything'], ret: 'integer', types: TRACING }, // probe_read_user
  113: { args: ['mem', 'size', 'anything'], ret: 'integer', types: TRACING }, // probe_read_kernel
  125: { args: [], ret: 'integer' }, // ktime_get_boot_ns
  130: { args: ['map', 'mem', 'size', 'anything'], ret: 'integer' }, // ringbuf_output
};
