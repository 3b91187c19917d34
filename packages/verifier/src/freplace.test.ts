import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { findByName, parseBtf } from '@bpf/btf';
import { assemble, type ProgType } from '@bpf/isa';
import { verify, type VerifyOptions } from './index.js';
import { buildC, comparableLines, haveVmlinux, kernelApi, kernelBtf } from './kernel.test.helper.js';

/**
 * Extension programs against the rules of kernel/bpf/verifier.c (6.18): check_attach_btf_id gives
 * them the replaced program's verifier ops and expected_attach_type, do_check_common enters their
 * main function as a global one (`Validating parse() func#0...`, btf_prepare_func_args with the
 * target's program type for `ctx` arguments) and check_return_code applies the target type's
 * return range (resolve_prog_type). Compared live where the kernel loads extensions; this
 * machine's answers EPERM with an empty log (as for fentry/fexit), before the verifier runs.
 */
const XDP: VerifyOptions['replaces'] = { type: 'xdp', attachType: 'xdp' };
const CGROUP_INGRESS: VerifyOptions['replaces'] = { type: 'cgroup_skb', attachType: 'cgroup_inet_ingress' };
/** Each extension: the program it replaces a function of (in TARGETS_C) and that function. */
const PAIRS: Readonly<Record<string, readonly [string, string]>> = {
  parse: ['on_xdp', 'parse'],
  parse_far: ['on_xdp', 'parse'],
  parse_pull: ['on_xdp', 'parse'],
  scale: ['on_xdp', 'scale'],
  verdict: ['on_skb', 'verdict'],
  verdict_ok: ['on_skb', 'verdict'],
  scale_long: ['on_xdp', 'scale'],
  parse_skb: ['on_xdp', 'parse'],
  parse_two: ['on_xdp', 'parse'],
  parse_void: ['on_xdp', 'parse'],
  pick: ['on_xdp', 'pick'],
};
/** Verified as the replaced program's type only (no target program to check the pair against). */
const BY_TYPE: Readonly<Record<string, string | undefined>> = {
  parse: undefined,
  parse_far: 'invalid bpf_context access off=32 size=4',
  parse_pull: undefined,
  scale: undefined,
  verdict: 'At program exit the register R0 has smin=5 smax=5 should have been in [0, 1]',
  verdict_ok: undefined,
};
/** With the target program: bpf_check_attach_target's checks of the pair come first. */
const EXPECTED: Readonly<Record<string, string | undefined>> = {
  ...BY_TYPE,
  parse_pull: 'Extension program changes packet data, while original does not',
  scale_long: 'arg0 in scale_long() has size 8 while scale() has 4',
  parse_skb: "arg0 parse_skb(struct __sk_buff *) doesn't match parse(struct xdp_md *)",
  parse_two: 'parse_two() has 2 args while parse() has 1 args',
  parse_void: "Return type UNKNOWN of parse_void() doesn't match type INT of parse()",
  pick: 'pick() is not a global function',
};

/** The programs whose global functions the extensions replace: an XDP one and a cgroup/skb ingress one. */
const TARGETS_C = `#include "bpf_defs.h"
static long (*bpf_xdp_adjust_head)(struct xdp_md *xdp, int delta) = (void *)44;
__attribute__((noinline)) int parse(struct xdp_md *ctx) { return ctx->data_end > ctx->data ? 2 : 1; }
__attribute__((noinline)) int scale(int x) { return x + 1; }
static __attribute__((noinline)) int pick(int x) { return x & 1; }
__attribute__((noinline)) int grow(struct xdp_md *ctx) { return bpf_xdp_adjust_head(ctx, -4) ? 1 : 2; }
SEC("xdp") int on_xdp(struct xdp_md *ctx) { return parse(ctx) + scale(ctx->ingress_ifindex) + pick(ctx->rx_queue_index) + grow(ctx) > 3 ? 1 : 2; }
__attribute__((noinline)) int verdict(struct __sk_buff *skb) { return skb->len > 10; }
SEC("cgroup_skb/ingress") int on_skb(struct __sk_buff *skb) { return verdict(skb) ? 1 : 0; }
__attribute__((noinline)) int traced(int x) { return x * 2; }
SEC("fentry/security_file_open") int on_open(unsigned long long *ctx) { return traced((int)ctx[0]); }
/* static functions whose BTF a call does not match: narrow takes a scalar and is passed the
 * context, and a static function cannot take a pointer to a struct that is not the context */
static __attribute__((noinline)) int narrow(long a) { return a != 0; }
struct pair { int a, b; };
static __attribute__((noinline)) int by_ptr(struct pair *p) { return p->a; }
SEC("xdp") int on_static(struct xdp_md *ctx) { struct pair p = { ctx->ingress_ifindex, 1 }; return narrow((long)ctx) + by_ptr(&p) > 1 ? 1 : 2; }
extern void bpf_throw(unsigned long long cookie) __ksym;
__attribute__((noinline)) int catch_it(unsigned long long cookie) { return 1; }
SEC("xdp") __attribute__((btf_decl_tag("exception_callback:catch_it"))) int on_throwing(struct xdp_md *ctx) { if (ctx->rx_queue_index > 7) bpf_throw(0); return 2; }
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19') || !haveVmlinux())('extension (freplace) programs verified as the program they replace', () => {
  const programs = buildC(readFileSync(join(fixturesDir, 'c/freplace/freplace.c'), 'utf8'));
  const targets = buildC(TARGETS_C);
  const targetOf = (name: string): NonNullable<VerifyOptions['replaces']> => {
    const [prog, func] = PAIRS[name]!;
    const program = targets.find((t) => t.name === prog)!;
    return { ...(prog === 'on_skb' ? CGROUP_INGRESS : XDP)!, program, func };
  };
  const byName = (name: string): (typeof programs)[number] => programs.find((p) => p.name === name)!;
  const run = (name: string, replaces: VerifyOptions['replaces'] = targetOf(name), opts: VerifyOptions = {}) => verify(byName(name), { kernelBtf: kernelBtf(), logLevel: 2, ...opts, ...(replaces ? { replaces } : {}) });

  it('verdicts and first errors, the target program given', () => {
    expect(programs.map((p) => p.name).sort()).toEqual(Object.keys(EXPECTED).sort());
    expect(Object.fromEntries(programs.map((p) => [p.name, run(p.name).error?.message]))).toEqual(EXPECTED);
  });
  it('verdicts and first errors, only the target type given', () => {
    const typeOnly = (name: string): VerifyOptions['replaces'] => ({ ...targetOf(name), program: undefined, func: undefined });
    expect(Object.fromEntries(Object.keys(BY_TYPE).map((n) => [n, run(n, typeOnly(n)).error?.message]))).toEqual(BY_TYPE);
  });
  it("refuses a pair before verifying: the kernel's message alone, at insn 0", () => {
    const r = run('scale_long');
    expect(r.error).toEqual({ insn: 0, message: 'arg0 in scale_long() has size 8 while scale() has 4' });
    expect(r.log).not.toContain('Validating');
    expect(r.stats.processedInsns).toBe(0);
  });
  it('the other checks of bpf_check_attach_target', () => {
    const on = (prog: string, func: string, extra: Partial<NonNullable<VerifyOptions['replaces']>> = {}): NonNullable<VerifyOptions['replaces']> => ({ ...XDP!, program: targets.find((t) => t.name === prog)!, func, ...extra });
    // a function the target's BTF does not have
    expect(run('parse', on('on_xdp', 'nosuch')).error?.message).toBe("Subprog nosuch doesn't exist");
    // an extension that changes packet data may replace a function that does too
    expect(run('parse_pull', on('on_xdp', 'grow')).accepted).toBe(true);
    // the main program of a type whose context is not a struct the kernel names: unreliable BTF
    expect(run('scale', on('on_open', 'on_open', { type: 'tracing', attachType: 'trace_fentry' })).error?.message).toBe('Cannot replace static functions');
    expect(run('scale', on('on_open', 'traced', { type: 'tracing', attachType: 'trace_fentry' })).error?.message).toBe('Cannot extend fentry/fexit');
    expect(run('scale', on('on_xdp', 'scale', { type: 'ext' })).error?.message).toBe('Cannot recursively attach');
    expect(run('scale', on('on_xdp', 'scale'), { jit: false }).error?.message).toBe('Extension programs should be JITed');
    // a static function is no target: refused as unreliable when a call of it did not match its
    // BTF (func_info_aux[].unreliable), else as not global (btf_check_func_type_match)
    expect(run('scale', on('on_static', 'narrow')).error?.message).toBe('Cannot replace static functions');
    expect(run('scale', on('on_static', 'by_ptr')).error?.message).toBe('Cannot replace static functions');
    expect(run('pick', on('on_xdp', 'pick')).error?.message).toBe('pick() is not a global function');
    // nor is an exception callback, global as it is
    expect(run('scale', on('on_throwing', 'catch_it')).error?.message).toBe('Extension programs cannot attach to exception callback');
    const noBtf = { ...targets.find((t) => t.name === 'on_xdp')!, btf: undefined, funcInfo: undefined };
    expect(run('scale', on('on_xdp', 'scale', { program: noBtf })).error?.message).toBe('FENTRY/FEXIT program can only be attached to another program annotated with BTF');
  });
  it('enters the main function as a global one: ctx from the target type, scalars from BTF', () => {
    expect(run('parse').log).toMatch(/^Validating parse\(\) func#0\.\.\.\n0: R1=ctx\(\) R10=fp0\n/m);
    expect(run('scale').log).toContain('Validating scale() func#0...\n0: R1=scalar() R10=fp0\n');
  });
  it("takes the target type's helpers", () => {
    expect(run('parse_pull', { type: 'socket_filter' }).error?.message).toBe('program of this type cannot use helper bpf_xdp_adjust_head#44');
  });
});

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('extension (freplace) programs against the running kernel', () => {
  const exts = buildC(readFileSync(join(fixturesDir, 'c/freplace/freplace.c'), 'utf8'));
  const targets = buildC(TARGETS_C);
  /** The kernel's answer for an extension of the function `fn` of the loaded target (attach_prog_fd, attach_btf_id). */
  const kernelLoad = (ext: (typeof exts)[number], prog: string, fn: string) => {
    const target = targets.find((t) => t.name === prog)!;
    const t = kernelApi!.loadWithMaps(target, { logLevel: 1 });
    try {
      if (!t.accepted || t.fd === undefined) throw new Error(`target ${target.name} not loaded: ${t.error ?? ''}`);
      const attachBtfId = findByName(parseBtf(target.btf!.bytes), fn, 'FUNC')[0]!;
      const k = kernelApi!.loadWithMaps(ext, { logLevel: 2, attachBtfId, attachProgFd: t.fd });
      k.close();
      return k;
    } finally {
      t.close();
    }
  };
  const probe = kernelLoad(exts.find((p) => p.name === 'parse')!, 'on_xdp', 'parse');
  const refused = !probe.accepted && probe.log === '' ? 'this kernel refuses extension programs (EPERM, empty log) before the verifier runs' : undefined;
  it.skipIf(refused !== undefined).each(exts.map((p) => [p.name, p] as const))('%s', (name, p) => {
    const [prog, fn] = PAIRS[name]!;
    const k = kernelLoad(p, prog, fn);
    const replaces = { ...(prog === 'on_skb' ? CGROUP_INGRESS : XDP)!, program: targets.find((t) => t.name === prog)!, func: fn };
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2, replaces });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: k.accepted, error: k.accepted ? undefined : k.error });
    expect(comparableLines(ours.log)).toEqual(comparableLines(k.log));
  });
  it('says why when it cannot compare', () => {
    if (refused) console.warn(`skipping the live comparison: ${refused}`);
    expect(targets.map((t) => t.name).sort()).toEqual(['on_open', 'on_skb', 'on_static', 'on_throwing', 'on_xdp']);
  });
  it("the targets' logs, where a static call's BTF mismatch shows (`R1 is not a scalar`), are the kernel's", () => {
    for (const t of targets.filter((x) => x.name === 'on_static' || x.name === 'on_xdp' || x.name === 'on_throwing')) {
      const k = kernelApi!.loadWithMaps(t, { logLevel: 2 });
      k.close();
      expect(k.accepted, t.name).toBe(true);
      expect(comparableLines(verify(t, { kernelBtf: kernelBtf(), logLevel: 2 }).log), t.name).toEqual(comparableLines(k.log));
      if (t.name === 'on_static') expect(k.log).toContain('\nR1 is not a scalar\n');
    }
  });
});

/**
 * check_attach_btf_id's first checks, on the program's own type: which programs may be loaded
 * sleepable (BPF_F_SLEEPABLE), and that a syscall program must be. The running kernel answers
 * these for every type it verifies; for an extension it refuses the load before its verifier
 * runs, so there the rule is the 6.18 sources' (can_be_sleepable has no BPF_PROG_TYPE_EXT).
 */
describe('sleepable programs (check_attach_btf_id, can_be_sleepable)', () => {
  const ONLY = 'Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable';
  const p = assemble('r0 = 0\nexit');
  const CASES: readonly (readonly [ProgType, boolean, string | undefined, string | undefined])[] = [
    ['socket_filter', true, undefined, ONLY],
    ['xdp', true, undefined, ONLY],
    ['tracepoint', true, undefined, ONLY],
    ['cgroup_skb', true, 'cgroup_inet_ingress', ONLY],
    ['tracing', true, 'trace_raw_tp', ONLY],
    ['kprobe', true, undefined, undefined],
    ['syscall', false, undefined, 'Syscall programs can only be sleepable'],
    ['syscall', true, undefined, undefined],
  ];
  const ours = (type: ProgType, sleepable: boolean, attachType: string | undefined) =>
    verify(p, { type, logLevel: 1, ...(sleepable ? { flags: 1 << 4 } : {}), ...(attachType ? { attachType: attachType as VerifyOptions['attachType'] } : {}) });
  it.each(CASES)('%s sleepable=%s %s', (type, sleepable, attachType, expected) => {
    const r = ours(type, sleepable, attachType);
    expect(r.error?.message).toBe(expected);
    if (expected) expect(r.stats.processedInsns).toBe(0);
  });
  it.skipIf(skipWithout('kernel') || kernelApi === undefined)('the running kernel says the same', () => {
    for (const [type, sleepable, attachType] of CASES) {
      const k = kernelApi!.loadWithMaps({ ...p, type, ...(attachType ? { expectedAttachType: attachType } : {}) }, { logLevel: 1, ...(sleepable ? { flags: 1 << 4 } : {}) });
      k.close();
      expect(ours(type, sleepable, attachType).error?.message, `${type} ${sleepable}`).toBe(k.accepted ? undefined : k.error);
    }
  });
  it('an extension may not sleep, whatever it replaces (EXT is not in can_be_sleepable)', () => {
    const ext = { ...p, type: 'ext' as ProgType };
    expect(verify(ext, { flags: 1 << 4, replaces: { type: 'lsm' } }).error?.message).toBe(ONLY);
    expect(verify(ext, { flags: 1 << 4, replaces: { type: 'xdp', attachType: 'xdp' } }).error?.message).toBe(ONLY);
    expect(verify(ext, { sleepable: true }).error?.message).toBe(ONLY);
  });
});
