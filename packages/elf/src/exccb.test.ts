import { clangBpfObject, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { ElfError } from './errors.js';
import { loadPrograms } from './load.js';

const HEAD = `
#define SEC(n) __attribute__((section(n), used))
#define on_throw(fn) __attribute__((btf_decl_tag("exception_callback:" #fn)))
extern void bpf_throw(unsigned long long cookie) __attribute__((section(".ksyms")));
char _license[] SEC("license") = "GPL";
`;
const build = (body: string): ReturnType<typeof loadPrograms> => loadPrograms(clangBpfObject(HEAD + body, { args: ['-mcpu=v3'] }));

describe.skipIf(skipWithout('clang-19'))('exception callbacks (libbpf bpf_prog_assign_exc_cb)', () => {
  it('appends the tagged callback after what the program reaches, with its func_info', () => {
    const [p] = build(`
      __attribute__((noinline)) int catcher(unsigned long long c) { return c & 1; }
      static __attribute__((noinline)) int helper(int x) { if (x > 3) bpf_throw(x); return x; }
      SEC("tc") on_throw(catcher) int prog(void *ctx) { return helper((long)ctx & 7); }
    `);
    expect(p!.subprogs.map((s) => s.name)).toEqual(['prog', 'helper', 'catcher']);
    const cb = p!.subprogs[2]!;
    expect(cb.end).toBe(p!.insns.length);
    expect(p!.funcInfo?.map((f) => f.insnOff)).toEqual(p!.subprogs.map((s) => s.start));
  });

  it('leaves a program tagged twice without a callback (the verifier refuses it)', () => {
    const [p] = build(`
      __attribute__((noinline)) int a(unsigned long long c) { return 0; }
      __attribute__((noinline)) int b(unsigned long long c) { return 1; }
      SEC("tc") on_throw(a) on_throw(b) int prog(void *ctx) { bpf_throw(0); return 0; }
    `);
    expect(p!.subprogs.map((s) => s.name)).toEqual(['prog']);
  });

  it('refuses a static or hidden callback, and a name no function has, as libbpf does', () => {
    const fail = (body: string): ElfError => {
      try {
        build(body);
      } catch (e) {
        if (e instanceof ElfError) return e;
        throw e;
      }
      throw new Error('accepted');
    };
    expect(fail(`static __attribute__((noinline)) int c(unsigned long long x) { return x + 1; }
      SEC("tc") on_throw(c) int prog(void *ctx) { bpf_throw(0); return c((long)ctx); }`).message).toContain("exception callback c must be a global non-hidden function");
    expect(fail(`__attribute__((noinline, visibility("hidden"))) int c(unsigned long long x) { return 0; }
      SEC("tc") on_throw(c) int prog(void *ctx) { bpf_throw(0); return 0; }`).message).toContain('must be a global non-hidden function');
    expect(fail(`SEC("tc") on_throw(nowhere) int prog(void *ctx) { bpf_throw(0); return 0; }`).message).toContain("cannot find exception callback 'nowhere'");
  });
});
