/**
 * Program BTF the kernel refuses while parsing struct metas (kernel/bpf/btf.c
 * btf_parse_struct_metas, run by BPF_BTF_LOAD): structMetasRefused against the running
 * kernel's BPF_BTF_LOAD, one object per shape, through @bpf/kernel's loadWithMaps (which then
 * loads the program without the BTF, as libbpf does), and our verifier's verdict and message
 * on a program that takes the value's lock against the kernel's.
 */
import { parseBtf } from '@bpf/btf';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { structMetasRefused } from './btffields.js';
import { buildC, expectSameAsKernel, haveVmlinux, kernelApi, kernelBtf } from './kernel.test.helper.js';

const HEAD = `#include "bpf_defs.h"
struct bpf_spin_lock { __u32 val; };
struct bpf_list_head { __u64 __opaque[2]; } __attribute__((aligned(8)));
struct bpf_list_node { __u64 __opaque[3]; } __attribute__((aligned(8)));
typedef struct bpf_spin_lock lock_t;
static void (*bpf_spin_lock)(struct bpf_spin_lock *lock) = (void *)93;
static void (*bpf_spin_unlock)(struct bpf_spin_lock *lock) = (void *)94;
char _license[] SEC("license") = "GPL";
`;

/** A map of \`struct val\` and a program that takes the lock \`lock\` points to in its value \`v\`. */
const body = (val: string, lock: string): string => `${HEAD}
${val}
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct val); } vals SEC(".maps");
SEC("tc") int take(struct __sk_buff *skb) {
  __u32 k = 0;
  struct val *v = bpf_map_lookup_elem(&vals, &k);
  if (!v) return 0;
  bpf_spin_lock((struct bpf_spin_lock *)(${lock}));
  v->n++;
  bpf_spin_unlock((struct bpf_spin_lock *)(${lock}));
  return 0;
}`;

/** Each shape: its value struct, the lock taken, and whether the kernel should refuse the BTF. */
const SHAPES: readonly (readonly [name: string, val: string, lock: string, refused: boolean])[] = [
  ['one lock', 'struct val { struct bpf_spin_lock l; __u64 n; };', '&v->l', false],
  ['two locks', 'struct val { struct bpf_spin_lock a; struct bpf_spin_lock b; __u64 n; };', '&v->a', true],
  ['two locks one level down', 'struct val { struct { struct bpf_spin_lock a; struct bpf_spin_lock b; } in; __u64 n; };', '&v->in.a', true],
  ['a misaligned lock', 'struct val { __u8 c; struct bpf_spin_lock l; __u64 n; } __attribute__((packed));', '(char *)v + 1', true],
  // a typedef member is not the struct's id: the struct is not parsed at BTF load
  ['two typedef locks', 'struct val { lock_t a; lock_t b; __u64 n; };', '&v->a', false],
  ['a list head without its contains: tag', 'struct val { struct bpf_spin_lock l; struct bpf_list_head h; __u64 n; };', '&v->l', true],
  ['a list node beside a lock', 'struct val { struct bpf_spin_lock l; struct bpf_list_node node; __u64 n; };', '&v->l', false],
];

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('program BTF the kernel refuses (btf_parse_struct_metas): structMetasRefused against BPF_BTF_LOAD', () => {
  it.each(SHAPES.map(([name, val, lock, refused]) => [name, val, lock, refused] as const))('%s', (name, val, lock, refused) => {
    const [p] = buildC(body(val, lock));
    const btf = parseBtf(p!.btf!.bytes);
    const k = kernelApi!.loadWithMaps(p!, { logLevel: 1 });
    try {
      // the kernel's BTF_LOAD verdict, what we predict, and what this table says
      expect([name, k.btfRefused !== undefined]).toEqual([name, refused]);
      expect([name, structMetasRefused(btf, kernelBtf()) !== undefined]).toEqual([name, refused]);
    } finally {
      k.close();
    }
    // verdict, message, processed count and log as the kernel's, the BTF loaded or left out
    expectSameAsKernel(name, p!);
  });
});
