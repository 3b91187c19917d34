/**
 * Context access per program type, as the kernel's `is_valid_access` callbacks decide it, in
 * our words: net/core/filter.c (bpf_skb_, sk_filter_, cg_skb_, lwt_, tc_cls_act_, sk_skb_,
 * flow_dissector_, xdp_, bpf_sock_, sock_filter_, sock_addr_, sock_ops_, sk_msg_,
 * sk_reuseport_, sk_lookup_is_valid_access), kernel/bpf/cgroup.c (cgroup_dev_, sysctl_,
 * cg_sockopt_is_valid_access), kernel/trace/bpf_trace.c (kprobe_, tp_, raw_tp_,
 * raw_tp_writable_, pe_prog_is_valid_access), net/netfilter/nf_bpf_link.c, kernel/bpf/syscall.c
 * and drivers/media/rc/bpf-lirc.c. Field offsets come from the generated `ctxlayout.ts`; the
 * rules are checked offset by offset, size by size, against the running kernel (ctx.test.ts).
 */
import type { AttachType, ProgType } from '@bpf/isa';
import { CTX_LAYOUT, type CtxStructName } from './ctxlayout.js';

/**
 * What a context field read yields when it is not a scalar: the kernel's `info->reg_type`.
 * BTF pointers are named as the verifier prints them (`trusted_ptr_sk_buff`).
 */
export type CtxPtr =
  | 'pkt'
  | 'pkt_meta'
  | 'pkt_end'
  | 'flow_keys'
  | 'sock'
  | 'sock_or_null'
  | 'sock_common_or_null'
  | 'tp_buffer'
  | 'trusted_ptr_sk_buff'
  | 'trusted_ptr_nf_hook_state';

/** A valid access, and the pointer type a read yields (absent: a scalar). */
export type CtxResult = { readonly ok: false } | { readonly ok: true; readonly ptr?: CtxPtr };

export interface CtxQuery {
  readonly write: boolean;
  /** A sign-extending load (BPF_MEMSX): packet pointers may not be read so. */
  readonly ldsx?: boolean;
  /** The program's expected_attach_type (the kernel's default when absent, see {@link defaultAttachType}). */
  readonly attach?: AttachType;
}

type Rule = (off: number, size: number, q: CtxQuery) => CtxResult;

const NO: CtxResult = { ok: false };
const YES: CtxResult = { ok: true };
const ok = (b: boolean, ptr?: CtxPtr): CtxResult => (!b ? NO : ptr ? { ok: true, ptr } : YES);

/** [first, end) bytes of a field (bpf_ctx_range; pointer fields are 8 bytes, as bpf_ctx_range_ptr). */
type Range = readonly [number, number];
function field<S extends CtxStructName>(s: S, name: keyof (typeof CTX_LAYOUT)[S]['fields']): Range {
  const [o, n] = (CTX_LAYOUT[s].fields as Record<string, readonly [number, number]>)[name as string]!;
  return [o, o + n];
}
/** bpf_ctx_range_till: from the first byte of `a` to the last of `b`. */
function till<S extends CtxStructName>(s: S, a: keyof (typeof CTX_LAYOUT)[S]['fields'], b: keyof (typeof CTX_LAYOUT)[S]['fields']): Range {
  return [field(s, a)[0], field(s, b)[1]];
}
const at = (r: Range): number => r[0];
const inR = (off: number, r: Range): boolean => off >= r[0] && off < r[1];
const inAny = (off: number, rs: readonly Range[]): boolean => rs.some((r) => inR(off, r));
/** bpf_ctx_narrow_access_ok: a power of two no wider than the field. */
const narrowOk = (size: number, fieldSize: number): boolean => size <= fieldSize && (size & (size - 1)) === 0;
/** bpf_ctx_wide_access_ok: an aligned 8-byte access within an array field. */
const wideOk = (off: number, size: number, r: Range): boolean => size === 8 && off >= r[0] && off + 8 <= r[1] && off % 8 === 0;

// ---- struct __sk_buff ----

const SKB = '__sk_buff';
const S = {
  mark: field(SKB, 'mark'),
  queueMapping: field(SKB, 'queue_mapping'),
  priority: field(SKB, 'priority'),
  tcIndex: field(SKB, 'tc_index'),
  cb: field(SKB, 'cb'),
  tcClassid: field(SKB, 'tc_classid'),
  data: field(SKB, 'data'),
  dataEnd: field(SKB, 'data_end'),
  dataMeta: field(SKB, 'data_meta'),
  familyToLocalPort: till(SKB, 'family', 'local_port'),
  ip6: till(SKB, 'remote_ip6', 'local_ip6'),
  remoteIp4: field(SKB, 'remote_ip4'),
  localIp4: field(SKB, 'local_ip4'),
  flowKeys: field(SKB, 'flow_keys'),
  tstamp: field(SKB, 'tstamp'),
  wireLen: field(SKB, 'wire_len'),
  sk: field(SKB, 'sk'),
  tstampType: field(SKB, 'tstamp_type'),
  hwtstamp: field(SKB, 'hwtstamp'),
};

/** bpf_skb_is_valid_access: what every __sk_buff program type shares. */
function skbCommon(off: number, size: number, q: CtxQuery, ptr?: CtxPtr): CtxResult {
  if (off < 0 || off >= CTX_LAYOUT[SKB].size || off % size !== 0) return NO;
  if (inR(off, S.cb)) return ok(off + size <= S.cb[1]);
  if (inAny(off, [S.data, S.dataMeta, S.dataEnd])) return ok(!q.ldsx && size === 4, ptr);
  if (inAny(off, [S.ip6, S.remoteIp4, S.localIp4])) return ok(size === 4);
  if (inR(off, S.flowKeys)) return NO;
  if (inR(off, S.hwtstamp)) return ok(!q.write && size === 8);
  if (inR(off, S.tstamp)) return ok(size === 8);
  if (inR(off, S.sk)) return ok(!q.write && size === 8, 'sock_common_or_null');
  if (off === at(S.tstampType)) return NO;
  // the padding between tstamp_type and hwtstamp
  if (off >= S.tstampType[1] && off < S.hwtstamp[0]) return NO;
  return ok(q.write ? size === 4 : narrowOk(size, 4));
}

/** The __sk_buff rule of a program type: fields it never sees, fields it may write, the packet pointers it gets. */
function skbRule(spec: {
  readonly hidden: readonly Range[];
  readonly writable: readonly Range[];
  readonly ptrs: readonly (readonly [Range, CtxPtr])[];
  /** A type-specific case before the common rule (tstamp_type for tc, mark hidden for sk_skb after the write check). */
  readonly special?: (off: number, size: number, q: CtxQuery) => CtxResult | undefined;
}): Rule {
  return (off, size, q) => {
    if (inAny(off, spec.hidden)) return NO;
    if (q.write && !inAny(off, spec.writable)) return NO;
    const s = spec.special?.(off, size, q);
    if (s) return s;
    return skbCommon(off, size, q, spec.ptrs.find(([r]) => inR(off, r))?.[1]);
  };
}

const PKT: readonly (readonly [Range, CtxPtr])[] = [
  [S.data, 'pkt'],
  [S.dataEnd, 'pkt_end'],
];

const socketFilter = skbRule({
  hidden: [S.tcClassid, S.data, S.dataMeta, S.dataEnd, S.familyToLocalPort, S.tstamp, S.wireLen, S.hwtstamp],
  writable: [S.cb],
  ptrs: [],
});

const cgroupSkb = skbRule({
  hidden: [S.tcClassid, S.dataMeta, S.wireLen],
  writable: [S.mark, S.priority, S.cb, S.tstamp],
  ptrs: PKT,
});

const lwt = skbRule({
  hidden: [S.tcClassid, S.familyToLocalPort, S.dataMeta, S.tstamp, S.wireLen, S.hwtstamp],
  writable: [S.mark, S.priority, S.cb],
  ptrs: PKT,
});

const tcClsAct = skbRule({
  hidden: [S.familyToLocalPort],
  writable: [S.mark, S.tcIndex, S.priority, S.tcClassid, S.cb, S.tstamp, S.queueMapping],
  ptrs: [...PKT, [S.dataMeta, 'pkt_meta']],
  // tstamp_type is readable as one byte by tc programs only
  special: (off, size) => (off === at(S.tstampType) ? ok(size === 1) : undefined),
});

const skSkb = skbRule({
  hidden: [S.tcClassid, S.dataMeta, S.tstamp, S.wireLen, S.hwtstamp],
  writable: [S.tcIndex, S.priority],
  ptrs: PKT,
  special: (off) => (inR(off, S.mark) ? NO : undefined),
});

/** flow_dissector_is_valid_access: data, data_end and flow_keys, read only. */
const flowDissector: Rule = (off, size, q) => {
  if (off < 0 || off >= CTX_LAYOUT[SKB].size || off % size !== 0 || q.write) return NO;
  if (inR(off, S.data)) return ok(!q.ldsx && size === 4, 'pkt');
  if (inR(off, S.dataEnd)) return ok(!q.ldsx && size === 4, 'pkt_end');
  if (inR(off, S.flowKeys)) return ok(size === 8, 'flow_keys');
  return NO;
};

// ---- struct xdp_md ----

const XDP = { data: field('xdp_md', 'data'), dataEnd: field('xdp_md', 'data_end'), dataMeta: field('xdp_md', 'data_meta'), egress: field('xdp_md', 'egress_ifindex') };

/** xdp_is_valid_access (writes only for offloaded programs, which we never are). */
const xdp: Rule = (off, size, q) => {
  if (q.attach !== 'xdp_devmap' && off === at(XDP.egress)) return NO;
  if (q.write) return NO;
  const ptr: CtxPtr | undefined = off === at(XDP.data) ? 'pkt' : off === at(XDP.dataMeta) ? 'pkt_meta' : off === at(XDP.dataEnd) ? 'pkt_end' : undefined;
  if (ptr && q.ldsx) return NO;
  return ok(off >= 0 && off < CTX_LAYOUT.xdp_md.size && off % size === 0 && size === 4, ptr);
};

// ---- struct bpf_sock (cgroup/sock programs; also what sock pointers read) ----

const SK = 'bpf_sock';
const SOCK = {
  narrow: [
    [at(field(SK, 'state')), at(field(SK, 'state')) + 1],
    [at(field(SK, 'family')), at(field(SK, 'family')) + 1],
    [at(field(SK, 'type')), at(field(SK, 'type')) + 1],
    [at(field(SK, 'protocol')), at(field(SK, 'protocol')) + 1],
    [at(field(SK, 'src_port')), at(field(SK, 'src_port')) + 1],
    [at(field(SK, 'rx_queue_mapping')), at(field(SK, 'rx_queue_mapping')) + 1],
    field(SK, 'src_ip4'),
    field(SK, 'src_ip6'),
    field(SK, 'dst_ip4'),
    field(SK, 'dst_ip6'),
  ] as readonly Range[],
  dstPort: field(SK, 'dst_port'),
  dstIp4: field(SK, 'dst_ip4'),
  srcIp4: field(SK, 'src_ip4'),
  srcIp6: field(SK, 'src_ip6'),
  srcPort: field(SK, 'src_port'),
  full: [at(field(SK, 'bound_dev_if')), at(field(SK, 'mark')), at(field(SK, 'priority'))],
};

/** bpf_sock_is_valid_access. */
export function sockValid(off: number, size: number): boolean {
  if (off < 0 || off >= CTX_LAYOUT.bpf_sock.size || off % size !== 0) return false;
  if (inAny(off, SOCK.narrow)) return narrowOk(size, 4);
  // dst_port is a 2-byte field in a 4-byte slot: 4-byte reads of the slot, or narrow ones of the field
  if (inR(off, SOCK.dstPort)) return narrowOk(size, size === 4 ? 4 : SOCK.dstPort[1] - SOCK.dstPort[0]);
  if (off >= SOCK.dstPort[1] && off < SOCK.dstIp4[0]) return false;
  return size === 4;
}

const TCP = { u64: [at(field('bpf_tcp_sock', 'bytes_received')), at(field('bpf_tcp_sock', 'bytes_acked'))] };

/**
 * A u32 read of the upper half of a u64 counter passes bpf_tcp_sock_is_valid_access but has no
 * conversion (bpf_tcp_sock_convert_ctx_access): the kernel fails the load after verifying it.
 */
export const tcpSockUnconvertible = (off: number): boolean => TCP.u64.includes(off - 4);

/** __sock_filter_check_attach_type: which bpf_sock fields a cgroup/sock attach point sees. */
function sockFilterAttach(off: number, q: CtxQuery): boolean {
  const a = q.attach ?? 'cgroup_inet_sock_create';
  if (SOCK.full.includes(off)) return a === 'cgroup_inet_sock_create' || a === 'cgroup_inet_sock_release';
  if (inR(off, SOCK.srcIp4)) return a === 'cgroup_inet4_post_bind' && !q.write;
  if (inR(off, SOCK.srcIp6)) return a === 'cgroup_inet6_post_bind' && !q.write;
  if (inR(off, SOCK.srcPort)) return (a === 'cgroup_inet4_post_bind' || a === 'cgroup_inet6_post_bind') && !q.write;
  return !q.write;
}

const cgroupSock: Rule = (off, size, q) => ok(sockValid(off, size) && sockFilterAttach(off, q));

// ---- struct bpf_sock_addr ----

const SA = 'bpf_sock_addr';
const ADDR = {
  userIp4: field(SA, 'user_ip4'),
  userIp6: field(SA, 'user_ip6'),
  msgSrcIp4: field(SA, 'msg_src_ip4'),
  msgSrcIp6: field(SA, 'msg_src_ip6'),
  userPort: field(SA, 'user_port'),
  sk: field(SA, 'sk'),
  readOnly: [field(SA, 'user_family'), field(SA, 'family'), field(SA, 'type'), field(SA, 'protocol')],
};
const INET4_ADDR: readonly AttachType[] = ['cgroup_inet4_bind', 'cgroup_inet4_connect', 'cgroup_inet4_getpeername', 'cgroup_inet4_getsockname', 'cgroup_udp4_sendmsg', 'cgroup_udp4_recvmsg'];
const INET6_ADDR: readonly AttachType[] = ['cgroup_inet6_bind', 'cgroup_inet6_connect', 'cgroup_inet6_getpeername', 'cgroup_inet6_getsockname', 'cgroup_udp6_sendmsg', 'cgroup_udp6_recvmsg'];

/** sock_addr_is_valid_access: address fields by the attach type's family. */
const sockAddr: Rule = (off, size, q) => {
  if (off < 0 || off >= CTX_LAYOUT[SA].size || off % size !== 0) return NO;
  const a = q.attach ?? 'cgroup_inet_ingress';
  if (inR(off, ADDR.userIp4) && !INET4_ADDR.includes(a)) return NO;
  if (inR(off, ADDR.userIp6) && !INET6_ADDR.includes(a)) return NO;
  if (inR(off, ADDR.msgSrcIp4) && a !== 'cgroup_udp4_sendmsg') return NO;
  if (inR(off, ADDR.msgSrcIp6) && a !== 'cgroup_udp6_sendmsg') return NO;
  if (inAny(off, [ADDR.userIp4, ADDR.userIp6, ADDR.msgSrcIp4, ADDR.msgSrcIp6, ADDR.userPort])) {
    if (wideOk(off, size, ADDR.userIp6) || wideOk(off, size, ADDR.msgSrcIp6)) return YES;
    return ok(q.write ? size === 4 : narrowOk(size, 4));
  }
  if (inR(off, ADDR.sk)) return ok(!q.write && size === 8, 'sock');
  if (inAny(off, ADDR.readOnly)) return ok(!q.write && size === 4);
  return NO;
};

// ---- struct bpf_sock_ops ----

const SO = 'bpf_sock_ops';
const OPS = {
  reply: at(field(SO, 'reply')),
  txhash: at(field(SO, 'sk_txhash')),
  bytes: till(SO, 'bytes_received', 'bytes_acked'),
  sk: field(SO, 'sk'),
  skbData: field(SO, 'skb_data'),
  skbDataEnd: field(SO, 'skb_data_end'),
  tcpFlags: at(field(SO, 'skb_tcp_flags')),
  hwtstamp: field(SO, 'skb_hwtstamp'),
};

/** sock_ops_is_valid_access. */
const sockOps: Rule = (off, size, q) => {
  if (off < 0 || off >= CTX_LAYOUT[SO].size || off % size !== 0) return NO;
  if (q.write) return ok((off === OPS.reply || off === OPS.txhash) && size === 4);
  if (inR(off, OPS.bytes)) return ok(size === 8);
  if (inR(off, OPS.sk)) return ok(size === 8, 'sock_or_null');
  if (inR(off, OPS.skbData)) return ok(size === 8, 'pkt');
  if (inR(off, OPS.skbDataEnd)) return ok(size === 8, 'pkt_end');
  if (off === OPS.tcpFlags) return ok(narrowOk(size, 4));
  if (inR(off, OPS.hwtstamp)) return ok(size === 8);
  return ok(size === 4);
};

// ---- struct sk_msg_md ----

const MSG = 'sk_msg_md';
const SKMSG = {
  data: field(MSG, 'data'),
  dataEnd: field(MSG, 'data_end'),
  sk: field(MSG, 'sk'),
  u32: [field(MSG, 'family'), field(MSG, 'remote_ip4'), field(MSG, 'local_ip4'), till(MSG, 'remote_ip6', 'local_ip6'), field(MSG, 'remote_port'), field(MSG, 'local_port'), field(MSG, 'size')],
};

/** sk_msg_is_valid_access: read only; the struct's end is not checked before the fields are. */
const skMsg: Rule = (off, size, q) => {
  if (q.write || off % size !== 0) return NO;
  if (inR(off, SKMSG.data)) return ok(size === 8, 'pkt');
  if (inR(off, SKMSG.dataEnd)) return ok(size === 8, 'pkt_end');
  if (inR(off, SKMSG.sk)) return ok(size === 8, 'sock');
  return ok(inAny(off, SKMSG.u32) && size === 4);
};

// ---- struct sk_reuseport_md ----

const RP = 'sk_reuseport_md';
const REUSE = {
  data: at(field(RP, 'data')),
  dataEnd: at(field(RP, 'data_end')),
  hash: at(field(RP, 'hash')),
  sk: at(field(RP, 'sk')),
  migrating: at(field(RP, 'migrating_sk')),
  ethProtocol: field(RP, 'eth_protocol'),
  narrow: [field(RP, 'ip_protocol'), field(RP, 'bind_inany'), field(RP, 'len')],
};

/** sk_reuseport_is_valid_access. */
const skReuseport: Rule = (off, size, q) => {
  if (off < 0 || off >= CTX_LAYOUT[RP].size || off % size !== 0 || q.write) return NO;
  if (off === REUSE.data) return ok(size === 8, 'pkt');
  if (off === REUSE.dataEnd) return ok(size === 8, 'pkt_end');
  if (off === REUSE.hash) return ok(size === 4);
  if (off === REUSE.sk) return ok(size === 8, 'sock');
  if (off === REUSE.migrating) return ok(size === 8, 'sock_common_or_null');
  // eth_protocol holds the skb's 2-byte protocol: no single-byte reads
  if (inR(off, REUSE.ethProtocol)) return ok(size >= 2 && narrowOk(size, 4));
  return ok(inAny(off, REUSE.narrow) && narrowOk(size, 4));
};

// ---- struct bpf_sk_lookup ----

const LK = 'bpf_sk_lookup';
const LOOKUP = {
  sk: field(LK, 'sk'),
  narrow: [field(LK, 'family'), field(LK, 'protocol'), field(LK, 'remote_ip4'), field(LK, 'local_ip4'), field(LK, 'remote_ip6'), field(LK, 'local_ip6'), field(LK, 'local_port'), field(LK, 'ingress_ifindex')],
  remotePort: field(LK, 'remote_port'),
  localIp4: field(LK, 'local_ip4'),
};

/** sk_lookup_is_valid_access. */
const skLookup: Rule = (off, size, q) => {
  if (off < 0 || off >= CTX_LAYOUT[LK].size || off % size !== 0 || q.write) return NO;
  if (inR(off, LOOKUP.sk)) return ok(size === 8, 'sock_or_null');
  if (inAny(off, LOOKUP.narrow)) return ok(narrowOk(size, 4));
  // remote_port: a 2-byte field readable as 4 bytes; the zero padding after it as 2
  if (inR(off, LOOKUP.remotePort)) return ok(size === 4 || narrowOk(size, 2));
  if (off >= LOOKUP.remotePort[1] && off < LOOKUP.localIp4[0]) return ok(narrowOk(size, 2));
  return NO;
};

// ---- cgroup device, sysctl, sockopt (kernel/bpf/cgroup.c) ----

const cgroupDevice: Rule = (off, size, q) => {
  if (q.write || off < 0 || off + size > CTX_LAYOUT.bpf_cgroup_dev_ctx.size || off % size !== 0) return NO;
  if (inR(off, field('bpf_cgroup_dev_ctx', 'access_type'))) return ok(narrowOk(size, 4));
  return ok(size === 4);
};

const cgroupSysctl: Rule = (off, size, q) => {
  if (off < 0 || off + size > CTX_LAYOUT.bpf_sysctl.size || off % size !== 0) return NO;
  if (inR(off, field('bpf_sysctl', 'write'))) return ok(!q.write && narrowOk(size, 4));
  if (inR(off, field('bpf_sysctl', 'file_pos'))) return ok(q.write ? size === 4 : narrowOk(size, 4));
  return NO;
};

const SOPT = 'bpf_sockopt';
const OPT = {
  sk: field(SOPT, 'sk'),
  optval: field(SOPT, 'optval'),
  optvalEnd: field(SOPT, 'optval_end'),
  retval: field(SOPT, 'retval'),
  optname: at(field(SOPT, 'optname')),
  level: at(field(SOPT, 'level')),
  optlen: at(field(SOPT, 'optlen')),
};

/** cg_sockopt_is_valid_access: retval is getsockopt's, level and optname setsockopt's to write. */
const cgroupSockopt: Rule = (off, size, q) => {
  if (off < 0 || off >= CTX_LAYOUT[SOPT].size || off % size !== 0) return NO;
  const get = q.attach === 'cgroup_getsockopt';
  if (q.write) {
    if (off === at(OPT.retval)) return ok(size === 4 && get);
    if (off === OPT.optname || off === OPT.level) return ok(size === 4 && q.attach === 'cgroup_setsockopt');
    return ok(off === OPT.optlen && size === 4);
  }
  if (inR(off, OPT.sk)) return ok(size === 8, 'sock');
  if (inR(off, OPT.optval)) return ok(size === 8, 'pkt');
  if (inR(off, OPT.optvalEnd)) return ok(size === 8, 'pkt_end');
  if (inR(off, OPT.retval)) return ok(size === 4 && get);
  return ok(size === 4);
};

// ---- tracing (kernel/trace/bpf_trace.c) ----

/** PERF_MAX_TRACE_SIZE: a tracepoint's record, after its 8-byte common header. */
const PERF_MAX_TRACE_SIZE = 8192; // include/linux/trace_events.h
/** MAX_BPF_FUNC_ARGS u64 slots: raw tracepoint and BTF-typed tracing contexts. */
const TRACING_CTX_SIZE = 12 * 8;

const kprobe: Rule = (off, size, q) => ok(!q.write && off >= 0 && off % size === 0 && off + size <= CTX_LAYOUT.pt_regs.size);
// tp_prog_is_valid_access compares the int offset with sizeof(void *), an unsigned size_t: a
// negative offset passes that check (and the signed one against PERF_MAX_TRACE_SIZE), so the
// kernel accepts reads before the record; we answer as it does.
const tracepoint: Rule = (off, size, q) => ok(!q.write && (off >= 8 || off < 0) && off < PERF_MAX_TRACE_SIZE && off % size === 0);
const rawTracepoint: Rule = (off, size, q) => ok(!q.write && off >= 0 && off < TRACING_CTX_SIZE && off % size === 0);
const rawTracepointWritable: Rule = (off, size, q) => {
  if (off === 0) return ok(size === 8 && !q.write, 'tp_buffer');
  return rawTracepoint(off, size, q);
};

const PE = { samplePeriod: field('bpf_perf_event_data', 'sample_period'), addr: field('bpf_perf_event_data', 'addr') };
const perfEvent: Rule = (off, size, q) => {
  if (off < 0 || off >= CTX_LAYOUT.bpf_perf_event_data.size || q.write || off % size !== 0) return NO;
  if (inAny(off, [PE.samplePeriod, PE.addr])) return ok(narrowOk(size, 8));
  return ok(size === 8);
};

// ---- the rest ----

const NF = { state: field('bpf_nf_ctx', 'state'), skb: field('bpf_nf_ctx', 'skb') };
const netfilter: Rule = (off, size, q) => {
  if (off < 0 || off >= CTX_LAYOUT.bpf_nf_ctx.size || off % size !== 0 || q.write) return NO;
  if (inR(off, NF.skb)) return ok(size === 8, 'trusted_ptr_sk_buff');
  if (inR(off, NF.state)) return ok(size === 8, 'trusted_ptr_nf_hook_state');
  return NO;
};

/** A syscall program's context is the user's buffer: anything below 64 KiB, aligned. */
const syscall: Rule = (off, size) => ok(off >= 0 && off < 0xffff && off % size === 0);
const lircMode2: Rule = (off, size, q) => ok(!q.write && off === 0 && size === 4);

/**
 * Tracing, LSM, struct_ops and extension programs: the u64 argument slots; the BTF of the
 * function they attach to types them (btfmem.ts).
 */
const btfCtx: Rule = (off, size, q) => ok(!q.write && off >= 0 && off + size <= 192 && off % size === 0);
/** bpf_tracing_ctx_access: MAX_BPF_FUNC_ARGS slots, read only, aligned (btfctx.ts applies btf_ctx_access after it). */
const tracingCtx: Rule = (off, size, q) => ok(!q.write && off >= 0 && off < TRACING_CTX_SIZE && off % size === 0);

const RULES: Readonly<Record<ProgType, Rule>> = {
  unspec: () => NO,
  socket_filter: socketFilter,
  kprobe,
  sched_cls: tcClsAct,
  sched_act: tcClsAct,
  tracepoint,
  xdp,
  perf_event: perfEvent,
  cgroup_skb: cgroupSkb,
  cgroup_sock: cgroupSock,
  lwt_in: lwt,
  lwt_out: lwt,
  lwt_xmit: lwt,
  sock_ops: sockOps,
  sk_skb: skSkb,
  cgroup_device: cgroupDevice,
  sk_msg: skMsg,
  raw_tracepoint: rawTracepoint,
  cgroup_sock_addr: sockAddr,
  lwt_seg6local: lwt,
  lirc_mode2: lircMode2,
  sk_reuseport: skReuseport,
  flow_dissector: flowDissector,
  cgroup_sysctl: cgroupSysctl,
  raw_tracepoint_writable: rawTracepointWritable,
  cgroup_sockopt: cgroupSockopt,
  tracing: tracingCtx,
  struct_ops: btfCtx,
  ext: btfCtx,
  lsm: btfCtx,
  sk_lookup: skLookup,
  syscall,
  netfilter,
};

/**
 * The expected_attach_type the kernel gives a program loaded without one
 * (bpf_prog_load_fixup_attach_type: cgroup/sock programs default to sock_create).
 */
export function defaultAttachType(type: ProgType, attach: AttachType | undefined): AttachType | undefined {
  if (type === 'cgroup_sock' && (attach === undefined || attach === 'cgroup_inet_ingress')) return 'cgroup_inet_sock_create';
  return attach;
}

/** Whether a program of `type` may access `size` bytes at `off` of its context, and what a read yields. */
export function ctxAccess(type: ProgType, off: number, size: number, q: CtxQuery): CtxResult {
  return RULES[type](off, size, { ...q, attach: defaultAttachType(type, q.attach) });
}
