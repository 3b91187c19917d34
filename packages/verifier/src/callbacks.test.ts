import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, haveVmlinux, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

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
