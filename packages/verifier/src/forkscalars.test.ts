import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { buildC, expectSameAsKernel, haveVmlinux } from './kernel.test.helper.js';

/**
 * maybe_fork_scalars (Linux 6.18): `dst &= K` or `dst |= K` on a destination that is -1 or 0
 * (the sign of a helper's error spread by an arithmetic shift) goes on as -1 and queues the same
 * instruction with 0, so each state holds a constant. Programs of our own, each compared with the
 * running kernel: verdict, processed count (sign_mask_64 processed 22 instructions without the
 * fork, the kernel 25) and the level-2 log line for line.
 */
const SOURCE = `
typedef unsigned int __u32;
typedef int __s32;
typedef long long __s64;
#define SEC(name) __attribute__((section(name), used))
struct __sk_buff { __u32 len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci, vlan_proto, priority; };
static long (*bpf_skb_store_bytes)(void *skb, __u32 offset, const void *from, __u32 len, __u32 flags) = (void *)9;

/* A helper's error code turned into -1 or 0 by an arithmetic shift, then masked: the kernel
 * follows the two values as two states (maybe_fork_scalars), so the mask yields a constant. */
SEC("tc") int sign_mask_32(struct __sk_buff *skb) {
  __u32 v = skb->mark;
  __s32 err = bpf_skb_store_bytes(skb, 0, &v, sizeof(v), 0);
  __s32 sign = err >> 31;
  asm volatile("" : "+r"(sign));
  __s32 code = sign;
  asm volatile("%[c] &= -154" : [c] "+r"(code));
  if (code < 0)
    return code;
  return skb->len > 100;
}

SEC("tc") int sign_mask_64(struct __sk_buff *skb) {
  __u32 v = skb->mark;
  __s64 err = bpf_skb_store_bytes(skb, 0, &v, sizeof(v), 0);
  __s64 sign = err >> 63;
  asm volatile("" : "+r"(sign));
  __s64 code = sign;
  asm volatile("%[c] |= 7" : [c] "+r"(code));
  if (code == 7)
    return skb->len > 100;
  return 2;
}
char LICENSE[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('a -1-or-0 value masked with a constant', () => {
  const programs = buildC(SOURCE);
  it.each(programs.map((p) => [p.name, p] as const))('%s: split in two states as the kernel splits it', (name, p) => {
    expectSameAsKernel(name, p);
  });
  it('covers the 32-bit and the 64-bit case', () => {
    expect(programs.map((p) => p.name).sort()).toEqual(['sign_mask_32', 'sign_mask_64']);
  });
});
