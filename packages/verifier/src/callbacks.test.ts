import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

// A callback is verified as called any number of times: it returns to the bpf_loop call, which
// calls it again until the state there converges; what follows the call sees every count.
const SRC = `#include "bpf_defs.h"
struct ctx_t { __u32 n; };
static long twice(__u32 i, void *c) { struct ctx_t *x = c; x->n += 1; return 0; }
SEC("socket")
int count_past_buffer(void *skb) {
  char buf[2] = {};
  struct ctx_t c = { 0 };
  bpf_loop(10, twice, &c, 0);
  return buf[c.n];
}
static long set2(__u32 i, void *c) { struct ctx_t *x = c; x->n = 2; return 0; }
SEC("socket")
int set_past_buffer(void *skb) {
  char buf[2] = {};
  struct ctx_t c = { 0 };
  bpf_loop(10, set2, &c, 0);
  return buf[c.n];
}
// bpf_loop with a constant count runs the callback that many times (R1 precise, the kernel's
// callback_depth), then reports "bpf_loop iteration limit reached"
struct two { __u64 count; __u64 sum; };
static long count_sum(__u32 i, void *c) { struct two *d = c; d->count++; d->sum += i; return 0; }
SEC("xdp")
int count_to_100(struct xdp_md *x) {
  struct two d = {};
  bpf_loop(100, count_sum, &d, 0);
  return d.count == 100 ? 2 : 1;
}
// an unknown count: the changing, imprecise counter is widened when the callback returns
// (widen_imprecise_scalars), so the state at the call converges
SEC("xdp")
int count_unknown(struct xdp_md *x) {
  struct two d = {};
  bpf_loop(x->data_end - x->data, count_sum, &d, 0);
  return d.count & 3;
}
static long saturate(__u32 i, void *c) { __u64 *n = c; if (*n < 10) *n += 1; return 0; }
SEC("xdp")
int count_saturating(struct xdp_md *x) {
  __u64 n = 0;
  bpf_loop(x->data_end - x->data, saturate, &n, 0);
  return n;
}
char LICENSE[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('bpf_loop callbacks iterated as the kernel does', () => {
  it.each(buildC(SRC).map((p) => [p.name, p] as const))('%s: the kernel verdict, message and processed count', (_n, p) => {
    const kernel = kernelVerdict(p, { logLevel: 2 });
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
    expect(`processed ${ours.stats.processedInsns} insns`).toBe(/processed \d+ insns/.exec(kernel.log)?.[0]);
  });
});

/**
 * The other helpers that call a callback synchronously, from fixtures/c/callbacks: bpf_find_vma
 * (set_find_vma_callback_state: R1 the task, R2 a `ptr_vm_area_struct`, R3 the context) and
 * bpf_for_each_map_elem over every map type whose ops take a callback (arrays and hashes, per-CPU
 * and LRU ones included) and one whose ops do not. Verdict, first error, processed instructions
 * and the level-2 log line for line, against the running kernel.
 */
describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('fixtures/c/callbacks: find_vma and for_each_map_elem callbacks as the kernel walks them', () => {
  const dump = process.env.CALLBACKS_DUMP;
  for (const file of ['find_vma.c', 'for_each.c']) {
    const programs = buildC(fixtureSource('callbacks', file, 'callbacks.h'));
    it.each(programs.map((p) => [p.name, p] as const))(`${file} %s`, (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
  }
  it('walks the callback: a vma read past its end and a value read past its map are refused', () => {
    const [findVma, forEach] = ['find_vma.c', 'for_each.c'].map((f) => buildC(fixtureSource('callbacks', f, 'callbacks.h')));
    const run = (ps: typeof findVma, name: string) => verify(ps!.find((p) => p.name === name)!, { kernelBtf: kernelBtf(), logLevel: 1 });
    expect(run(findVma, 'fv_past_end').error?.message).toBe('access beyond struct vm_area_struct at off 65536 size 8');
    expect(run(findVma, 'fv_span').accepted).toBe(true);
    expect(run(forEach, 'fe_lru_percpu_hash').error?.message).toBe('R3 min value is outside of the allowed memory range');
    expect(run(forEach, 'fe_queue').error?.message).toBe('callback function not allowed for map');
  });
});

/**
 * A caller's registers in a callback's checkpoints are live as they are before its call
 * instruction (frame_insn_idx, clean_func_state): bpf_loop's arguments r1 and r4, made precise
 * at the call, stay in a cleaned checkpoint and are propagated from it when a later iteration is
 * pruned there (`frame 0: propagating r1,r4,...`, as tetragon's generic_rawtp_process_event showed).
 */
const CALLER_LIVE = `#include "bpf_defs.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, __u64); } m SEC(".maps");
struct cfg { __u8 b[80]; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, struct cfg); } cm SEC(".maps");
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
struct d { struct cfg *c; __u64 *acc; __u8 mode; };
static long cb1(__u32 i, void *c) {
  int k = 0; __u64 *v = bpf_map_lookup_elem(&m, &k);
  if (!v) return 1;
  if (*v & 1) *(__u64 *)c += 1; else *(__u64 *)c += 2;
  return 0;
}
SEC("socket") int loop_branches(void *skb) { __u64 acc = 0; bpf_loop(4, cb1, &acc, 0); return acc & 1; }
static long cb2(__u32 i, void *p) {
  struct d *x = p;
  if (i > 9) return 1;
  __u8 *e = &x->c->b[i * 8];
  __u16 a = (e[7] << 8) | e[6];
  if (!a) return 1;
  if (x->mode == 1) { *x->acc += e[1]; return 0; }
  *x->acc += a;
  return 0;
}
SEC("socket") int loop_index(void *skb) {
  int k = 0; struct cfg *c = bpf_map_lookup_elem(&cm, &k);
  if (!c) return 0;
  __u64 acc = 0;
  struct d x = { c, &acc, 0 };
  bpf_loop(10, cb2, &x, 0);
  return acc & 1;
}
static long cb3(__u32 i, void *p) {
  struct d *x = p;
  if (i > 9) return 1;
  __u8 *e = &x->c->b[i * 8];
  __u16 a = (e[7] << 8) | e[6];
  if (!a) return 1;
  __u64 t = e[0] | (e[1] << 8);
  if (e[2] & 1) t += 3;
  if (e[3] & 2) t += 5;
  if (x->mode == 1) { bpf_probe_read_kernel(x->acc, 8, (void *)t); return 0; }
  *x->acc += t;
  return 0;
}
SEC("kprobe/do_nanosleep") int loop_branches3(void *ctx) {
  int k = 0; struct cfg *c = bpf_map_lookup_elem(&cm, &k);
  if (!c) return 0;
  __u64 acc = 0;
  struct d x = { c, &acc, 0 };
  bpf_loop(10, cb3, &x, 0);
  if (acc & 4) bpf_loop(10, cb3, &x, 0);
  return acc & 1;
}
SEC("kprobe/do_nanosleep") int loop_branches4(void *ctx) {
  int k = 0; struct cfg *c = bpf_map_lookup_elem(&cm, &k);
  if (!c) return 0;
  __u64 acc = 0;
  struct d x = { c, &acc, c->b[70] };
  if (c->b[71]) x.mode = 1;
  bpf_loop(10, cb3, &x, 0);
  return acc & 1;
}
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('bpf_loop: the caller frame of a callback checkpoint, live before the call', () => {
  it.each(buildC(CALLER_LIVE).map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p));
});
