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
