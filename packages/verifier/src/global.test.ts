import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble } from '@bpf/isa';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

/** Programs of fixtures/c/global whose level-2 logs differ (verdict, error and processed count agree). */
const TAGS_LOG_DIFFERS = new Set<string>([]);
/** Programs of fixtures/c/global/progtypes.c whose level-2 logs differ (verdict, error and processed count agree). */
const PROGTYPES_LOG_DIFFERS = new Set<string>([]);

describe('global subprograms (declared prototypes)', () => {
  const prog = (body: string, fn: string) => assemble(`${fn}\n${body}\nexit\nf:\nr0 = 0\nif r1 == 0 goto out\nr0 = *(u32 *)(r1 + 0)\nout:\nexit`);
  it('a call is checked against the prototype and assumed valid; the body is verified once, on its own', () => {
    const r = verify(prog('r6 = 7\n*(u32 *)(r10 - 4) = r6\nr1 = r10\nr1 += -4\ncall f\nr1 = r10\nr1 += -4\ncall f', '.func global f(u32 *p) int'), { logLevel: 2 });
    expect(r.error?.message).toBeUndefined();
    expect(r.log.match(/Func#1 \('f'\) is global and assumed valid\./g)).toHaveLength(2);
    expect(r.log).toContain("Validating f() func#1...\n9: R1=mem_or_null(id=1,sz=4) R10=fp0\n");
    expect(r.log.match(/Validating f\(\)/g)).toHaveLength(1);
    expect(r.log).toContain("Func#1 ('f') is safe for any args that match its prototype\n");
  });
  it('a caller passing a pointer for a scalar, or too little memory, is rejected with the reason', () => {
    let r = verify(assemble('.func global f(u64 a) int\nr1 = r10\ncall f\nexit\nf:\nr0 = 0\nexit'));
    expect(r.error?.message).toBe("Caller passes invalid args into func#1 ('f')");
    expect(r.log).toContain('R1 is not a scalar\n');
    r = verify(prog('r6 = 7\n*(u16 *)(r10 - 2) = r6\nr1 = r10\nr1 += -2\ncall f', '.func global f(u32 *p) int'));
    expect(r.error?.message).toBe("Caller passes invalid args into func#1 ('f')");
  });
  it('NULL is fine for a pointer argument, which the body must check', () => {
    expect(verify(prog('r1 = 0\ncall f', '.func global f(u32 *p) int')).accepted).toBe(true);
    const r = verify(assemble('.func global f(u32 *p) int\nr1 = 0\ncall f\nexit\nf:\nr0 = *(u32 *)(r1 + 0)\nexit'));
    expect(r.error?.message).toBe("R1 invalid mem access 'mem_or_null'");
  });
  it('a global function must return a scalar, and a static one is not verified on its own', () => {
    const r = verify(assemble('.func global f(u64 a) int\nr1 = 1\ncall f\nexit\nf:\nr0 = r10\nexit'));
    expect(r.error?.message).toBe('At subprogram exit the register R0 is not a scalar value (fp)');
    expect(verify(assemble('.func f(u64 a) int\nr1 = 1\ncall f\nexit\nf:\nr0 = r1\nexit'), { logLevel: 1 }).log).not.toContain('Validating');
  });
});

const GLOBAL_C = `#include "bpf_defs.h"
struct pair { int a; int b; };
struct opaque;
volatile int sink;
__noinline int add(int a, int b) { return a + b; }
__noinline int readp(int *p) { if (!p) return 0; return *p; }
__noinline int readp_nocheck(int *p) { return *p; }
__noinline int outofb(int *p) { if (!p) return 0; return p[1]; }
__noinline void noret(int a) { sink = a; }
__noinline int voidp(void *p) { sink = 1; return p != 0; }
__noinline int sum(struct pair *p) { if (!p) return 0; return p->a + p->b; }
__noinline int inner(int x) { return x * 2; }
__noinline int outer(int x) { return inner(x) + 1; }
__noinline int opq(struct opaque *o) { sink = 2; return o != 0; }
__noinline int takes_ctx(struct __sk_buff *skb) { return skb->mark; }
#define __arg_ctx __attribute__((btf_decl_tag("arg:ctx")))
#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, int); } hm SEC(".maps");
__noinline int ctxv(void *ctx __arg_ctx) { return ((struct __sk_buff *)ctx)->len; }
__noinline int nn(int *p __arg_nonnull) { return *p; }
SEC("tc") int t_ctxv(struct __sk_buff *skb) { return ctxv(skb); }
SEC("tc") int t_ctxv_bad(struct __sk_buff *skb) { int x = 0; return ctxv(&x); }
SEC("tc") int t_nn(struct __sk_buff *skb) { int x = 3; return nn(&x); }
SEC("tc") int t_nn_maybe(struct __sk_buff *skb) { __u32 k = 0; int *p = bpf_map_lookup_elem(&hm, &k); return nn(p); }
SEC("tc") int g_add(struct __sk_buff *skb) { return add(1, 2); }
SEC("tc") int g_badarg(struct __sk_buff *skb) { return add((long)skb, 2); }
SEC("tc") int g_readp(struct __sk_buff *skb) { int x = 5; return readp(&x); }
SEC("tc") int g_readp_null(struct __sk_buff *skb) { return readp(0); }
SEC("tc") int g_nocheck(struct __sk_buff *skb) { int x = 5; return readp_nocheck(&x); }
SEC("tc") int g_oob(struct __sk_buff *skb) { int x = 5; return outofb(&x); }
SEC("tc") int g_smallbuf(struct __sk_buff *skb) { char c = 1; return readp((int *)&c); }
SEC("tc") int g_noret(struct __sk_buff *skb) { noret(1); return 0; }
SEC("tc") int g_voidp(struct __sk_buff *skb) { int x = 0; return voidp(&x); }
SEC("tc") int g_sum(struct __sk_buff *skb) { struct pair p = {1, 2}; return sum(&p); }
SEC("tc") int g_sum_small(struct __sk_buff *skb) { int x = 1; return sum((struct pair *)&x); }
SEC("tc") int g_nested(struct __sk_buff *skb) { return outer(skb->len); }
SEC("tc") int g_opq(struct __sk_buff *skb) { return opq((struct opaque *)skb); }
SEC("tc") int g_ctx_bad(struct __sk_buff *skb) { int x = 0; return takes_ctx((struct __sk_buff *)&x); }
SEC("tc") int g_ctx_ok(struct __sk_buff *skb) { return takes_ctx(skb); }
char _license[] SEC("license") = "GPL";
`;

/** The log without what only the kernel prints (liveness, source lines, BTF notes on the main prototype, map addresses). */
const comparable = (log: string): string[] =>
  log
    .split('\n')
    .filter((l) => l !== '' && !/^( |;|Live regs|func#\d+ @|\(\d+\) |mark_precise|processed |arg#0 reference type\('UNKNOWN '\))/.test(l))
    // a map's address is the kernel's
    .map((l) => l.replace(/^(\d+: \(18\) r\d+ = )0x[0-9a-f]+ +;/, '$1<map> ;'));

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('global subprograms in C: the kernel verdict, message and level-2 log', () => {
  const programs = buildC(GLOBAL_C);
  it.each(programs.map((p) => [p.name, p] as const))('%s', (_n, p) => {
    const kernel = kernelVerdict(p, { logLevel: 2 });
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
    expect(comparable(ours.log)).toEqual(comparable(kernel.log));
  });
  it('a global function passed to bpf_loop: "callback function not static" (fixtures/c/elf/reject_global_callback.c)', () => {
    const [p] = buildC(readFileSync(join(fixturesDir, 'c/elf/reject_global_callback.c'), 'utf8'));
    const kernel = kernelVerdict(p!);
    expect(kernel.error).toBe('callback function not static');
    expect(verify(p!, { kernelBtf: kernelBtf() }).error?.message).toBe(kernel.error);
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('tagged global function arguments and sleeping global functions (fixtures/c/global): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('global', 'global.c', 'global.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: TAGS_LOG_DIFFERS, ...(dump ? { dump } : {}) }));
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('tagged arguments and kfuncs by program type (fixtures/c/global/progtypes.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('global', 'progtypes.c', 'global.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: PROGTYPES_LOG_DIFFERS, ...(dump ? { dump } : {}) }));
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('the maps sleepable programs may use, one cgroup storage of each type (fixtures/c/global/sleepmaps.c): the kernel verdict, message, processed count and log', () => {
  const programs = buildC(fixtureSource('global', 'sleepmaps.c', 'global.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, dump ? { dump } : {}));
});
