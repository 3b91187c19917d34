import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, haveVmlinux, kernelBtf, kernelHelpers, kernelVerdict } from './kernel.test.helper.js';

/**
 * C programs calling helpers beyond maps and ring buffers: socket lookups and their references,
 * socket casts, bpf_fib_lookup, packet pointers after helpers that move the packet, fixed-size
 * memory, map types a helper refuses, timers. Each one's verdict and first error against the
 * running kernel's. Self-contained: the context structs are declared here as the UAPI lays them out.
 */
const HELPERS_C = `
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef long long __s64;
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define md_ptr(type, name) union { type name; __u64 :64; } __attribute__((aligned(8)))

struct bpf_sock {
  __u32 bound_dev_if, family, type, protocol, mark, priority, src_ip4, src_ip6[4], src_port;
  __u16 dst_port; __u16 :16;
  __u32 dst_ip4, dst_ip6[4], state;
  int rx_queue_mapping;
};
struct bpf_tcp_sock { __u32 snd_cwnd, srtt_us, rtt_min; };
struct __sk_buff {
  __u32 len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci, vlan_proto, priority;
  __u32 ingress_ifindex, ifindex, tc_index, cb[5], hash, tc_classid, data, data_end, napi_id;
  __u32 family, remote_ip4, local_ip4, remote_ip6[4], local_ip6[4], remote_port, local_port, data_meta;
  md_ptr(void *, flow_keys);
  __u64 tstamp;
  __u32 wire_len, gso_segs;
  md_ptr(struct bpf_sock *, sk);
};
struct xdp_md { __u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };
struct bpf_sock_ops { __u32 op; __u32 args[4]; __u32 family; };
struct bpf_sock_tuple { __u32 saddr, daddr; __u16 sport, dport; __u32 pad[7]; };
struct bpf_fib_lookup { __u8 family, l4_protocol; __u16 sport, dport; __u16 tot_len; __u32 ifindex; __u32 rest[12]; };
struct bpf_timer { __u64 a, b; } __attribute__((aligned(8)));

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data, __u64 size) = (void *)25;
static long (*bpf_tail_call)(void *ctx, void *map, __u32 index) = (void *)12;
static __u64 (*bpf_get_current_task)(void) = (void *)35;
static long (*bpf_skb_pull_data)(struct __sk_buff *skb, __u32 len) = (void *)39;
static long (*bpf_xdp_adjust_head)(struct xdp_md *xdp, int delta) = (void *)44;
static long (*bpf_xdp_adjust_meta)(struct xdp_md *xdp, int delta) = (void *)54;
static long (*bpf_sock_ops_cb_flags_set)(struct bpf_sock_ops *skops, int flags) = (void *)59;
static long (*bpf_fib_lookup)(void *ctx, struct bpf_fib_lookup *params, int plen, __u32 flags) = (void *)69;
static struct bpf_sock *(*bpf_sk_lookup_tcp)(void *ctx, struct bpf_sock_tuple *tuple, __u32 size, __u64 netns, __u64 flags) = (void *)84;
static struct bpf_sock *(*bpf_sk_lookup_udp)(void *ctx, struct bpf_sock_tuple *tuple, __u32 size, __u64 netns, __u64 flags) = (void *)85;
static long (*bpf_sk_release)(void *sock) = (void *)86;
static struct bpf_sock *(*bpf_sk_fullsock)(struct bpf_sock *sk) = (void *)95;
static struct bpf_tcp_sock *(*bpf_tcp_sock)(struct bpf_sock *sk) = (void *)96;
static struct bpf_sock *(*bpf_skc_lookup_tcp)(void *ctx, struct bpf_sock_tuple *tuple, __u32 size, __u64 netns, __u64 flags) = (void *)99;
static long (*bpf_strtol)(const char *buf, unsigned long buf_len, __u64 flags, long *res) = (void *)105;
static __u64 (*bpf_jiffies64)(void) = (void *)118;
static long (*bpf_timer_init)(struct bpf_timer *timer, void *map, __u64 flags) = (void *)169;

struct { __uint(type, 2); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } arr SEC(".maps");
struct { __uint(type, 1); __uint(max_entries, 1); __type(key, __u32); __type(value, struct bpf_timer); } timers SEC(".maps");

struct { __uint(type, 2); __uint(max_entries, 1); __uint(map_flags, 0x80); __type(key, __u32); __type(value, __u64); } ro SEC(".maps");
struct { __uint(type, 15); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } socks SEC(".maps");

#define NETNS 0xffffffffULL

SEC("tc") int sk_lookup_release(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, sizeof(t.saddr) * 2 + 4, NETNS, 0);
  if (!sk) return 0;
  __u32 fam = sk->family;
  bpf_sk_release(sk);
  return fam;
}
SEC("tc") int sk_lookup_leak(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk = bpf_sk_lookup_udp(skb, &t, 12, NETNS, 0);
  return sk != 0;
}
SEC("tc") int sk_lookup_nocheck(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, 12, NETNS, 0);
  bpf_sk_release(sk);
  return 0;
}
SEC("tc") int sk_read_null(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, 12, NETNS, 0);
  __u32 f = sk->family;
  if (sk) bpf_sk_release(sk);
  return f;
}
SEC("tc") int sk_write(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, 12, NETNS, 0);
  if (!sk) return 0;
  sk->mark = 1;
  bpf_sk_release(sk);
  return 0;
}
SEC("tc") int sk_release_twice(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, 12, NETNS, 0);
  if (!sk) return 0;
  bpf_sk_release(sk);
  bpf_sk_release(sk);
  return 0;
}
SEC("tc") int skc_lookup_fullsock(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &t, 12, NETNS, 0);
  if (!sk) return 0;
  struct bpf_sock *full = bpf_sk_fullsock(sk);
  __u32 m = full ? full->mark : 0;
  bpf_sk_release(sk);
  return m;
}
SEC("tc") int skc_release_cast(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &t, 12, NETNS, 0);
  if (!sk) return 0;
  struct bpf_sock *full = bpf_sk_fullsock(sk);
  if (!full) { bpf_sk_release(sk); return 0; }
  bpf_sk_release(full);
  return 1;
}
SEC("tc") int sk_lookup_stack_size(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, 64, NETNS, 0);
  if (sk) bpf_sk_release(sk);
  return 0;
}
SEC("cgroup_skb/egress") int cg_fullsock_tcp(struct __sk_buff *skb) {
  struct bpf_sock *sk = skb->sk;
  if (!sk) return 1;
  sk = bpf_sk_fullsock(sk);
  if (!sk) return 1;
  struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
  if (!tp) return 1;
  return tp->snd_cwnd > 10;
}
SEC("cgroup_skb/egress") int cg_fullsock_nullarg(struct __sk_buff *skb) {
  struct bpf_sock *sk = bpf_sk_fullsock(skb->sk);
  return sk != 0;
}
SEC("tc") int tc_release_ctx_sk(struct __sk_buff *skb) {
  struct bpf_sock *sk = skb->sk;
  if (sk) bpf_sk_release(sk);
  return 0;
}
SEC("xdp") int xdp_fib(struct xdp_md *ctx) {
  struct bpf_fib_lookup p = {};
  p.family = 2;
  p.ifindex = ctx->ingress_ifindex;
  long r = bpf_fib_lookup(ctx, &p, sizeof(p), 0);
  return r == 0 ? 3 : 2;
}
SEC("xdp") int xdp_fib_short(struct xdp_md *ctx) {
  struct bpf_fib_lookup p = {};
  return bpf_fib_lookup(ctx, &p, 128, 0);
}
/* bpf_xdp_adjust_meta moves the packet: pointers from before it are stale. A kernel whose build
   takes the helper away from XDP (this machine kind's 6.18.44-fc) refuses both at the call. */
SEC("xdp") int xdp_meta_then_read(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (data + 4 > end) return 2;
  if (bpf_xdp_adjust_meta(ctx, -4)) return 2;
  return *(__u32 *)data;
}
SEC("xdp") int xdp_meta_reload(struct xdp_md *ctx) {
  if (bpf_xdp_adjust_meta(ctx, -4)) return 2;
  void *meta = (void *)(long)ctx->data_meta, *data = (void *)(long)ctx->data;
  if (meta + 4 > data) return 2;
  *(__u32 *)meta = 7;
  return 2;
}
SEC("xdp") int xdp_head_stale(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (data + 14 > end) return 2;
  bpf_xdp_adjust_head(ctx, 14);
  return ((__u8 *)data)[0];
}
SEC("sockops") int sockops_cb(struct bpf_sock_ops *skops) {
  if (skops->op == 4) bpf_sock_ops_cb_flags_set(skops, 1);
  return 1;
}
SEC("tracepoint/sched/sched_switch") int tp_task(void *ctx) {
  __u64 t = bpf_get_current_task();
  return (t & 1) + (bpf_jiffies64() & 1);
}
SEC("tracepoint/sched/sched_switch") int tp_task_deref(void *ctx) {
  return *(int *)bpf_get_current_task();
}
SEC("socket") int sock_jiffies(void *ctx) { return bpf_jiffies64() & 1; }
SEC("tc") int strtol_ok(struct __sk_buff *skb) {
  char buf[8] = "12";
  long res;
  if (bpf_strtol(buf, sizeof(buf), 10, &res) < 0) return 0;
  return res;
}
SEC("tc") int strtol_misaligned(struct __sk_buff *skb) {
  char buf[16] = "12";
  if (bpf_strtol(buf, 4, 10, (long *)(buf + 4)) < 0) return 0;
  return buf[5];
}
SEC("tc") int tail_call_array(struct __sk_buff *skb) {
  bpf_tail_call(skb, &arr, 0);
  return 0;
}
SEC("tc") int timer_no_btf(struct __sk_buff *skb) {
  __u32 k = 0;
  struct bpf_timer *t = bpf_map_lookup_elem(&timers, &k);
  if (!t) return 0;
  return bpf_timer_init(t, &timers, 1);
}
SEC("tc") int rdonly_update(struct __sk_buff *skb) {
  __u32 k = 0; __u64 v = 1;
  return bpf_map_update_elem(&ro, &k, &v, 0);
}
SEC("tc") int rdonly_lookup(struct __sk_buff *skb) {
  __u32 k = 0;
  __u64 *v = bpf_map_lookup_elem(&ro, &k);
  return v ? *v : 0;
}
SEC("tc") int perf_output_array(struct __sk_buff *skb) {
  __u64 v = 1;
  return bpf_perf_event_output(skb, &arr, 0xffffffffULL, &v, sizeof(v));
}
SEC("tracepoint/sched/sched_switch") int sockmap_update_tp(void *ctx) {
  __u32 k = 0, v = 0;
  return bpf_map_update_elem(&socks, &k, &v, 0);
}
__attribute__((noinline)) int pull(struct __sk_buff *skb) { return bpf_skb_pull_data(skb, 0); }
SEC("tc") int global_pull_stale(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  if (data + 1 > end) return 0;
  pull(skb);
  return *(__u8 *)data;
}
SEC("tc") int global_pull_reload(struct __sk_buff *skb) {
  pull(skb);
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  if (data + 1 > end) return 0;
  return *(__u8 *)data;
}
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('helper calls in C programs: the kernel verdict and first error, program by program', () => {
  const programs = buildC(HELPERS_C);
  it.each(programs.map((p) => [p.name, p] as const))('%s', (_n, p) => {
    const k = kernelVerdict(p);
    // a message the kernel prints without its newline runs into the statistics line after it
    const kernel = { ...k, error: k.error?.replace(/processed \d+ insns .*$/, '') };
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 1, ...kernelHelpers(p) });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
    // a leak names the same references, allocated at the same instructions
    const leaks = (log: string): string[] => log.split('\n').filter((l) => l.startsWith('Unreleased reference'));
    expect(leaks(ours.log)).toEqual(leaks(kernel.log));
  });
  it('covers accepted and rejected programs', () => {
    expect(programs.length).toBeGreaterThanOrEqual(25);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('a map name longer than the kernel keeps', () => {
  // the kernel holds a map's name in 16 bytes (15 characters and a NUL) and prints that in its
  // states: map=a_map_whose_nam for the map declared as a_map_whose_name_is_long
  it('prints in the level-2 log as the kernel prints it', () => {
    const [p] = buildC(`#include "bpf_defs.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, __u64); } a_map_whose_name_is_long SEC(".maps");
SEC("xdp") int long_map_name(struct xdp_md *ctx) {
  __u32 k = 1;
  __u64 *v = bpf_map_lookup_elem(&a_map_whose_name_is_long, &k);
  return v ? (int)*v & 1 : 2;
}
char LICENSE[] SEC("license") = "GPL";
`);
    expectSameAsKernel('long_map_name', p!);
    expect(verify(p!, { kernelBtf: kernelBtf(), logLevel: 2 }).log).toContain('map=a_map_whose_nam,');
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('a kernel function that is in no kfunc set', () => {
  // ktime_get_mono_fast_ns is a function of vmlinux BTF without the bpf_kfunc decl tag: the
  // kernel refuses the call (falco's old probes call memset this way); bpf_rcu_read_lock is a kfunc
  it('is refused at its call as the kernel refuses it, and a kfunc beside it is not', () => {
    const programs = buildC(`#include "bpf_defs.h"
extern __u64 ktime_get_mono_fast_ns(void) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
SEC("tc") int not_a_kfunc(struct __sk_buff *skb) { return ktime_get_mono_fast_ns() & 1; }
SEC("tc") int a_kfunc(struct __sk_buff *skb) { bpf_rcu_read_lock(); bpf_rcu_read_unlock(); return 0; }
char LICENSE[] SEC("license") = "GPL";
`);
    for (const p of programs) expectSameAsKernel(p.name, p);
    const refused = verify(programs.find((p) => p.name === 'not_a_kfunc')!, { kernelBtf: kernelBtf(), logLevel: 1 });
    expect(refused.error?.message).toBe('calling kernel function ktime_get_mono_fast_ns is not allowed');
    expect(verify(programs.find((p) => p.name === 'a_kfunc')!, { kernelBtf: kernelBtf(), logLevel: 1 }).accepted).toBe(true);
  });
});

describe('helperAvailable: a kernel whose build takes a helper away', () => {
  // xdp: r2 = -4; call bpf_xdp_adjust_meta (54): the tables give XDP programs the helper
  const insns = [
    { code: 0xb7, dst: 2, src: 0, off: 0, imm: -4 },
    { code: 0x85, dst: 0, src: 0, off: 0, imm: 54 },
    { code: 0xb7, dst: 0, src: 0, off: 0, imm: 2 },
    { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
  ];
  it('refuses the call as that kernel refuses it, and asks only about the helpers the tables give', () => {
    const asked: number[] = [];
    const r = verify({ insns }, { type: 'xdp', logLevel: 1, helperAvailable: (id) => (asked.push(id), id !== 54) });
    expect(r.accepted).toBe(false);
    expect(r.error).toMatchObject({ insn: 1, message: 'program of this type cannot use helper bpf_xdp_adjust_meta#54' });
    expect(asked).toEqual([54]);
    // a socket filter never gets the helper: the tables refuse it without asking
    const s = verify({ insns }, { type: 'socket_filter', helperAvailable: (id) => (asked.push(id), true) });
    expect(s.error?.message).toBe('program of this type cannot use helper bpf_xdp_adjust_meta#54');
    expect(asked).toEqual([54]);
  });
  it('changes nothing when the kernel gives every helper the tables give', () => {
    const plain = verify({ insns }, { type: 'xdp', logLevel: 2 });
    const told = verify({ insns }, { type: 'xdp', logLevel: 2, helperAvailable: () => true });
    expect(plain.accepted).toBe(true);
    expect(told.log).toBe(plain.log);
  });
});
