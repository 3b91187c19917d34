/**
 * Context access per program type, as the kernel's `is_valid_access` callbacks decide it
 * (net/core/filter.c: sk_filter_, tc_cls_act_, cg_skb_, xdp_is_valid_access, bpf_skb_is_valid_access;
 * kernel/trace/bpf_trace.c: kprobe_, tp_, raw_tp_prog_is_valid_access). One row per field range.
 */
import type { ProgType } from '@bpf/isa';
import type { RegType } from './state.js';

/** What a valid access yields: a packet pointer for the data fields, else a scalar. */
export type CtxResult = { readonly ok: false } | { readonly ok: true; readonly ptr?: RegType };

/** `struct __sk_buff` field offsets. */
const SKB = {
  mark: 8,
  queue_mapping: 12,
  priority: 32,
  tc_index: 44,
  cb: 48,
  cbEnd: 68,
  tc_classid: 72,
  data: 76,
  data_end: 80,
  family: 88,
  localPortEnd: 140,
  data_meta: 140,
  flow_keys: 144,
  tstamp: 152,
  wire_len: 160,
  sk: 168,
  tstamp_type: 180,
  hwtstamp: 184,
  size: 192,
} as const;

const inField = (off: number, start: number, size: number): boolean => off >= start && off < start + size;

/** bpf_skb_is_valid_access: the rules common to every __sk_buff program type. */
function skbValid(off: number, size: number, write: boolean): boolean {
  if (off < 0 || off >= SKB.size || off % size !== 0) return false;
  if (off >= SKB.cb && off < SKB.cbEnd) return off + size <= SKB.cbEnd;
  if (inField(off, SKB.data, 4) || inField(off, SKB.data_meta, 4) || inField(off, SKB.data_end, 4)) return size === 4;
  if (off >= 100 && off < 132) return size === 4; // remote_ip6, local_ip6
  if (inField(off, 92, 4) || inField(off, 96, 4)) return size === 4; // remote_ip4, local_ip4
  if (inField(off, SKB.tstamp, 8)) return size === 8;
  if (inField(off, SKB.hwtstamp, 8)) return !write && size === 8;
  if (inField(off, SKB.flow_keys, 8)) return size === 8;
  if (inField(off, SKB.sk, 8)) return !write && size === 8;
  if (off === SKB.tstamp_type) return !write && size === 1;
  if (off > SKB.tstamp_type && off < SKB.hwtstamp) return false;
  if (write) return size === 4;
  return size <= 4 && (size & (size - 1)) === 0;
}

const skbPtr = (off: number): RegType | undefined => (off === SKB.data ? 'pkt' : off === SKB.data_end ? 'pkt_end' : off === SKB.data_meta ? 'pkt_meta' : undefined);

function inAny(off: number, ranges: readonly (readonly [number, number])[]): boolean {
  return ranges.some(([s, n]) => inField(off, s, n));
}

const CB: readonly [number, number] = [SKB.cb, SKB.cbEnd - SKB.cb];

function socketFilter(off: number, size: number, write: boolean): CtxResult {
  if (inAny(off, [[SKB.tc_classid, 4], [SKB.data, 4], [SKB.data_meta, 4], [SKB.data_end, 4], [SKB.family, SKB.localPortEnd - SKB.family], [SKB.tstamp, 8], [SKB.wire_len, 4], [SKB.hwtstamp, 8]]))
    return { ok: false };
  if (write && !inAny(off, [CB])) return { ok: false };
  return { ok: skbValid(off, size, write) };
}

function tcClsAct(off: number, size: number, write: boolean): CtxResult {
  if (write && !inAny(off, [[SKB.mark, 4], [SKB.tc_index, 4], [SKB.priority, 4], [SKB.tc_classid, 4], CB, [SKB.tstamp, 8], [SKB.queue_mapping, 4]])) return { ok: false };
  if (off >= SKB.family && off < SKB.localPortEnd) return { ok: false };
  const ptr = skbPtr(off);
  return skbValid(off, size, write) ? { ok: true, ...(ptr ? { ptr } : {}) } : { ok: false };
}

function cgroupSkb(off: number, size: number, write: boolean): CtxResult {
  if (inAny(off, [[SKB.tc_classid, 4], [SKB.data_meta, 4], [SKB.wire_len, 4]])) return { ok: false };
  if (write && !inAny(off, [[SKB.mark, 4], [SKB.priority, 4], CB, [SKB.tstamp, 8]])) return { ok: false };
  const ptr = off === SKB.data ? 'pkt' : off === SKB.data_end ? 'pkt_end' : undefined;
  return skbValid(off, size, write) ? { ok: true, ...(ptr ? { ptr } : {}) } : { ok: false };
}

function xdp(off: number, size: number, write: boolean): CtxResult {
  if (off === 20 || write) return { ok: false }; // egress_ifindex is for devmap programs only
  if (off < 0 || off >= 24 || off % size !== 0 || size !== 4) return { ok: false };
  const ptr: RegType | undefined = off === 0 ? 'pkt' : off === 4 ? 'pkt_end' : off === 8 ? 'pkt_meta' : undefined;
  return { ok: true, ...(ptr ? { ptr } : {}) };
}

const readOnly =
  (lo: number, hi: number) =>
  (off: number, size: number, write: boolean): CtxResult => ({ ok: !write && off >= lo && off < hi && off % size === 0 && off + size <= hi });

const TABLE: Partial<Record<ProgType, (off: number, size: number, write: boolean) => CtxResult>> = {
  socket_filter: socketFilter,
  sched_cls: tcClsAct,
  sched_act: tcClsAct,
  cgroup_skb: cgroupSkb,
  xdp,
  kprobe: readOnly(0, 168),
  tracepoint: readOnly(8, 8192),
  raw_tracepoint: readOnly(0, 96),
  perf_event: readOnly(0, 184),
};

/** Whether a program of `type` may access `size` bytes at `off` of its context. */
export function ctxAccess(type: ProgType, off: number, size: number, write: boolean): CtxResult {
  const f = TABLE[type];
  if (!f) return { ok: off >= 0 && off + size <= 192 && off % size === 0 && !write };
  return f(off, size, write);
}
