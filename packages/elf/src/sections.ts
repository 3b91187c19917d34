/**
 * libbpf's section-name conventions (tools/lib/bpf/libbpf.c, `section_defs[]`): which
 * program type and expected attach type a `SEC("...")` name means. One row per convention;
 * the first matching row wins, as in libbpf's find_sec_def().
 *
 * A trailing `+` means "this exact name, or this name followed by `/` and anything"
 * (`kprobe/do_nanosleep`); other names must match exactly (libbpf 1.0 strict mode).
 */
import type { ProgType } from '@bpf/isa';

export { ATTACH_TYPES, attachTypeNumber, type AttachType } from '@bpf/isa';
import type { AttachType } from '@bpf/isa';

export interface SecDef {
  /** The convention, with libbpf's trailing `+` for "name or name/…". */
  readonly pattern: string;
  readonly progType: ProgType;
  /** Expected attach type passed at load time; absent when libbpf passes 0. */
  readonly attachType?: AttachType;
  /** Loaded with BPF_F_SLEEPABLE. */
  readonly sleepable?: boolean;
  /** Loaded with BPF_F_XDP_HAS_FRAGS. */
  readonly xdpFrags?: boolean;
  /** Matched by libbpf 0.x's prefix rule only (`socket1`, `xdp_prog`): see {@link LEGACY_SECTION_DEFS}. */
  readonly legacy?: boolean;
}

type Row = readonly [pattern: string, progType: ProgType, attach?: AttachType, flag?: 'sleepable' | 'frags'];

const ROWS: readonly Row[] = [
  ['socket', 'socket_filter'],
  ['sk_reuseport/migrate', 'sk_reuseport', 'sk_reuseport_select_or_migrate'],
  ['sk_reuseport', 'sk_reuseport', 'sk_reuseport_select'],
  ['kprobe+', 'kprobe'],
  ['uprobe+', 'kprobe'],
  ['uprobe.s+', 'kprobe', undefined, 'sleepable'],
  ['kretprobe+', 'kprobe'],
  ['uretprobe+', 'kprobe'],
  ['uretprobe.s+', 'kprobe', undefined, 'sleepable'],
  ['kprobe.multi+', 'kprobe', 'trace_kprobe_multi'],
  ['kretprobe.multi+', 'kprobe', 'trace_kprobe_multi'],
  ['kprobe.session+', 'kprobe', 'trace_kprobe_session'],
  ['uprobe.multi+', 'kprobe', 'trace_uprobe_multi'],
  ['uretprobe.multi+', 'kprobe', 'trace_uprobe_multi'],
  ['uprobe.multi.s+', 'kprobe', 'trace_uprobe_multi', 'sleepable'],
  ['uretprobe.multi.s+', 'kprobe', 'trace_uprobe_multi', 'sleepable'],
  ['uprobe.session+', 'kprobe', 'trace_uprobe_session'],
  ['ksyscall+', 'kprobe'],
  ['kretsyscall+', 'kprobe'],
  ['usdt+', 'kprobe'],
  ['usdt.s+', 'kprobe', undefined, 'sleepable'],
  ['tc/ingress', 'sched_cls', 'tcx_ingress'],
  ['tc/egress', 'sched_cls', 'tcx_egress'],
  ['tcx/ingress', 'sched_cls', 'tcx_ingress'],
  ['tcx/egress', 'sched_cls', 'tcx_egress'],
  ['tc', 'sched_cls'],
  ['classifier', 'sched_cls'],
  ['action', 'sched_act'],
  ['netkit/primary', 'sched_cls', 'netkit_primary'],
  ['netkit/peer', 'sched_cls', 'netkit_peer'],
  ['tracepoint+', 'tracepoint'],
  ['tp+', 'tracepoint'],
  ['raw_tracepoint+', 'raw_tracepoint'],
  ['raw_tp+', 'raw_tracepoint'],
  ['raw_tracepoint.w+', 'raw_tracepoint_writable'],
  ['raw_tp.w+', 'raw_tracepoint_writable'],
  ['tp_btf+', 'tracing', 'trace_raw_tp'],
  ['fentry+', 'tracing', 'trace_fentry'],
  ['fmod_ret+', 'tracing', 'modify_return'],
  ['fexit+', 'tracing', 'trace_fexit'],
  ['fentry.s+', 'tracing', 'trace_fentry', 'sleepable'],
  ['fmod_ret.s+', 'tracing', 'modify_return', 'sleepable'],
  ['fexit.s+', 'tracing', 'trace_fexit', 'sleepable'],
  ['freplace+', 'ext'],
  ['lsm+', 'lsm', 'lsm_mac'],
  ['lsm.s+', 'lsm', 'lsm_mac', 'sleepable'],
  ['lsm_cgroup+', 'lsm', 'lsm_cgroup'],
  ['iter+', 'tracing', 'trace_iter'],
  ['iter.s+', 'tracing', 'trace_iter', 'sleepable'],
  ['syscall', 'syscall', undefined, 'sleepable'],
  ['xdp.frags/devmap', 'xdp', 'xdp_devmap', 'frags'],
  ['xdp/devmap', 'xdp', 'xdp_devmap'],
  ['xdp.frags/cpumap', 'xdp', 'xdp_cpumap', 'frags'],
  ['xdp/cpumap', 'xdp', 'xdp_cpumap'],
  ['xdp.frags', 'xdp', 'xdp', 'frags'],
  ['xdp', 'xdp', 'xdp'],
  ['perf_event', 'perf_event'],
  ['lwt_in', 'lwt_in'],
  ['lwt_out', 'lwt_out'],
  ['lwt_xmit', 'lwt_xmit'],
  ['lwt_seg6local', 'lwt_seg6local'],
  ['sockops', 'sock_ops', 'cgroup_sock_ops'],
  ['sk_skb/stream_parser', 'sk_skb', 'sk_skb_stream_parser'],
  ['sk_skb/stream_verdict', 'sk_skb', 'sk_skb_stream_verdict'],
  ['sk_skb/verdict', 'sk_skb', 'sk_skb_verdict'],
  ['sk_skb', 'sk_skb'],
  ['sk_msg', 'sk_msg', 'sk_msg_verdict'],
  ['lirc_mode2', 'lirc_mode2', 'lirc_mode2'],
  ['flow_dissector', 'flow_dissector', 'flow_dissector'],
  ['cgroup_skb/ingress', 'cgroup_skb', 'cgroup_inet_ingress'],
  ['cgroup_skb/egress', 'cgroup_skb', 'cgroup_inet_egress'],
  ['cgroup/skb', 'cgroup_skb'],
  ['cgroup/sock_create', 'cgroup_sock', 'cgroup_inet_sock_create'],
  ['cgroup/sock_release', 'cgroup_sock', 'cgroup_inet_sock_release'],
  ['cgroup/sock', 'cgroup_sock', 'cgroup_inet_sock_create'],
  ['cgroup/post_bind4', 'cgroup_sock', 'cgroup_inet4_post_bind'],
  ['cgroup/post_bind6', 'cgroup_sock', 'cgroup_inet6_post_bind'],
  ['cgroup/bind4', 'cgroup_sock_addr', 'cgroup_inet4_bind'],
  ['cgroup/bind6', 'cgroup_sock_addr', 'cgroup_inet6_bind'],
  ['cgroup/connect4', 'cgroup_sock_addr', 'cgroup_inet4_connect'],
  ['cgroup/connect6', 'cgroup_sock_addr', 'cgroup_inet6_connect'],
  ['cgroup/connect_unix', 'cgroup_sock_addr', 'cgroup_unix_connect'],
  ['cgroup/sendmsg4', 'cgroup_sock_addr', 'cgroup_udp4_sendmsg'],
  ['cgroup/sendmsg6', 'cgroup_sock_addr', 'cgroup_udp6_sendmsg'],
  ['cgroup/sendmsg_unix', 'cgroup_sock_addr', 'cgroup_unix_sendmsg'],
  ['cgroup/recvmsg4', 'cgroup_sock_addr', 'cgroup_udp4_recvmsg'],
  ['cgroup/recvmsg6', 'cgroup_sock_addr', 'cgroup_udp6_recvmsg'],
  ['cgroup/recvmsg_unix', 'cgroup_sock_addr', 'cgroup_unix_recvmsg'],
  ['cgroup/getpeername4', 'cgroup_sock_addr', 'cgroup_inet4_getpeername'],
  ['cgroup/getpeername6', 'cgroup_sock_addr', 'cgroup_inet6_getpeername'],
  ['cgroup/getpeername_unix', 'cgroup_sock_addr', 'cgroup_unix_getpeername'],
  ['cgroup/getsockname4', 'cgroup_sock_addr', 'cgroup_inet4_getsockname'],
  ['cgroup/getsockname6', 'cgroup_sock_addr', 'cgroup_inet6_getsockname'],
  ['cgroup/getsockname_unix', 'cgroup_sock_addr', 'cgroup_unix_getsockname'],
  ['cgroup/sysctl', 'cgroup_sysctl', 'cgroup_sysctl'],
  ['cgroup/getsockopt', 'cgroup_sockopt', 'cgroup_getsockopt'],
  ['cgroup/setsockopt', 'cgroup_sockopt', 'cgroup_setsockopt'],
  ['cgroup/dev', 'cgroup_device', 'cgroup_device'],
  ['struct_ops+', 'struct_ops'],
  ['struct_ops.s+', 'struct_ops', undefined, 'sleepable'],
  ['sk_lookup', 'sk_lookup', 'sk_lookup'],
  ['netfilter', 'netfilter', 'netfilter'],
];

/**
 * Names libbpf 0.x matched by prefix (SEC_SLOPPY_PFX, and every name before 0.7), as did
 * samples/bpf's bpf_load.c and PREVAIL: `socket1`, `xdp_prog`, `classifier_egress`,
 * `cgroup/skb1` are programs of those types. Tried only when no exact convention matches; in
 * this order, the first prefix wins.
 */
const LEGACY_PREFIX_ROWS: readonly Row[] = [
  ['socket', 'socket_filter'],
  ['sk_reuseport/migrate', 'sk_reuseport', 'sk_reuseport_select_or_migrate'],
  ['sk_reuseport', 'sk_reuseport', 'sk_reuseport_select'],
  ['kprobe/', 'kprobe'],
  ['uprobe/', 'kprobe'],
  ['kretprobe/', 'kprobe'],
  ['uretprobe/', 'kprobe'],
  ['classifier', 'sched_cls'],
  ['action', 'sched_act'],
  ['tracepoint/', 'tracepoint'],
  ['tp/', 'tracepoint'],
  ['raw_tracepoint/', 'raw_tracepoint'],
  ['raw_tp/', 'raw_tracepoint'],
  ['xdp_devmap/', 'xdp', 'xdp_devmap'],
  ['xdp_cpumap/', 'xdp', 'xdp_cpumap'],
  ['xdp', 'xdp', 'xdp'],
  ['perf_event', 'perf_event'],
  ['lwt_in', 'lwt_in'],
  ['lwt_out', 'lwt_out'],
  ['lwt_xmit', 'lwt_xmit'],
  ['lwt_seg6local', 'lwt_seg6local'],
  ['cgroup_skb/ingress', 'cgroup_skb', 'cgroup_inet_ingress'],
  ['cgroup_skb/egress', 'cgroup_skb', 'cgroup_inet_egress'],
  ['cgroup/skb', 'cgroup_skb'],
  ['cgroup/sock_create', 'cgroup_sock', 'cgroup_inet_sock_create'],
  ['cgroup/sock_release', 'cgroup_sock', 'cgroup_inet_sock_release'],
  ['cgroup/sock', 'cgroup_sock', 'cgroup_inet_sock_create'],
  ['cgroup/post_bind4', 'cgroup_sock', 'cgroup_inet4_post_bind'],
  ['cgroup/post_bind6', 'cgroup_sock', 'cgroup_inet6_post_bind'],
  ['cgroup/dev', 'cgroup_device', 'cgroup_device'],
  ['sockops', 'sock_ops', 'cgroup_sock_ops'],
  ['sk_skb/stream_parser', 'sk_skb', 'sk_skb_stream_parser'],
  ['sk_skb/stream_verdict', 'sk_skb', 'sk_skb_stream_verdict'],
  ['sk_skb', 'sk_skb'],
  ['sk_msg', 'sk_msg', 'sk_msg_verdict'],
  ['lirc_mode2', 'lirc_mode2', 'lirc_mode2'],
  ['flow_dissector', 'flow_dissector', 'flow_dissector'],
  ['cgroup/bind4', 'cgroup_sock_addr', 'cgroup_inet4_bind'],
  ['cgroup/bind6', 'cgroup_sock_addr', 'cgroup_inet6_bind'],
  ['cgroup/connect4', 'cgroup_sock_addr', 'cgroup_inet4_connect'],
  ['cgroup/connect6', 'cgroup_sock_addr', 'cgroup_inet6_connect'],
  ['cgroup/sendmsg4', 'cgroup_sock_addr', 'cgroup_udp4_sendmsg'],
  ['cgroup/sendmsg6', 'cgroup_sock_addr', 'cgroup_udp6_sendmsg'],
  ['cgroup/recvmsg4', 'cgroup_sock_addr', 'cgroup_udp4_recvmsg'],
  ['cgroup/recvmsg6', 'cgroup_sock_addr', 'cgroup_udp6_recvmsg'],
  ['cgroup/sysctl', 'cgroup_sysctl', 'cgroup_sysctl'],
  ['cgroup/getsockopt', 'cgroup_sockopt', 'cgroup_getsockopt'],
  ['cgroup/setsockopt', 'cgroup_sockopt', 'cgroup_setsockopt'],
];

const toDef = ([pattern, progType, attachType, flag]: Row): SecDef => ({
  pattern,
  progType,
  ...(attachType !== undefined ? { attachType } : {}),
  ...(flag === 'sleepable' ? { sleepable: true } : flag === 'frags' ? { xdpFrags: true } : {}),
});

/** libbpf 0.x's prefix conventions (`pattern` is the prefix followed by `*`). */
export const LEGACY_SECTION_DEFS: readonly SecDef[] = LEGACY_PREFIX_ROWS.map((r) => ({ ...toDef(r), pattern: `${r[0]}*`, legacy: true }));

export const SECTION_DEFS: readonly SecDef[] = ROWS.map(toDef);

function matches(def: SecDef, name: string): boolean {
  if (!def.pattern.endsWith('+')) return name === def.pattern;
  const prefix = def.pattern.slice(0, -1);
  return name === prefix || name.startsWith(prefix + '/');
}

/**
 * The libbpf convention a section name follows: libbpf 1.x's exact names first, then libbpf
 * 0.x's prefixes; undefined when neither knows it (the program's type must then be given).
 */
export function findSecDef(sectionName: string): SecDef | undefined {
  // SEC("?xdp"): same convention, not loaded by default (libbpf: prog->autoload = false).
  const name = sectionName.startsWith('?') ? sectionName.slice(1) : sectionName;
  return SECTION_DEFS.find((d) => matches(d, name)) ?? LEGACY_SECTION_DEFS.find((d) => name.startsWith(d.pattern.slice(0, -1)));
}

/**
 * The row cilium/ebpf (elf_reader.go: getProgType, matchSectionName) gives a section name that
 * libbpf's conventions do not know. Its table is libbpf's, matched in order: a pattern ending in
 * `/` needs that name and a `/`, one ending in `+` that name with or without a `/…`, and any
 * other pattern is a prefix: `tc_ingress` is a tc program, `xdp_redirect` an XDP one.
 */
export function findCiliumSecDef(sectionName: string): SecDef | undefined {
  const name = sectionName.startsWith('?') ? sectionName.slice(1) : sectionName;
  const slash = name.indexOf('/');
  const have = slash < 0 ? name : name.slice(0, slash);
  return SECTION_DEFS.find((d) => (d.pattern.endsWith('+') ? have === d.pattern.slice(0, -1) : name.startsWith(d.pattern)));
}
