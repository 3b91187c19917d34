import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { findByName, parseBtf } from '@bpf/btf';
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
const TARGET: Readonly<Record<string, VerifyOptions['replaces']>> = {
  parse: XDP,
  parse_far: XDP,
  parse_pull: XDP,
  scale: XDP,
  verdict: CGROUP_INGRESS,
  verdict_ok: CGROUP_INGRESS,
};
const EXPECTED: Readonly<Record<string, string | undefined>> = {
  parse: undefined,
  parse_far: 'invalid bpf_context access off=32 size=4',
  parse_pull: undefined,
  scale: undefined,
  verdict: 'At program exit the register R0 has smin=5 smax=5 should have been in [0, 1]',
  verdict_ok: undefined,
};

describe.skipIf(skipWithout('clang-19') || !haveVmlinux())('extension (freplace) programs verified as the program they replace', () => {
  const programs = buildC(readFileSync(join(fixturesDir, 'c/freplace/freplace.c'), 'utf8'));
  const run = (name: string, replaces = TARGET[name]) => verify(programs.find((p) => p.name === name)!, { kernelBtf: kernelBtf(), logLevel: 2, ...(replaces ? { replaces } : {}) });

  it('verdicts and first errors', () => {
    expect(programs.map((p) => p.name).sort()).toEqual(Object.keys(EXPECTED).sort());
    expect(Object.fromEntries(programs.map((p) => [p.name, run(p.name).error?.message]))).toEqual(EXPECTED);
  });
  it('enters the main function as a global one: ctx from the target type, scalars from BTF', () => {
    expect(run('parse').log).toMatch(/^Validating parse\(\) func#0\.\.\.\n0: R1=ctx\(\) R10=fp0\n/);
    expect(run('scale').log).toContain('Validating scale() func#0...\n0: R1=scalar() R10=fp0\n');
  });
  it("takes the target type's helpers", () => {
    expect(run('parse_pull', { type: 'socket_filter' }).error?.message).toBe('program of this type cannot use helper bpf_xdp_adjust_head#44');
  });
});

/** The programs whose global functions the extensions replace: an XDP one and a cgroup/skb ingress one. */
const TARGETS_C = `#include "bpf_defs.h"
__attribute__((noinline)) int parse(struct xdp_md *ctx) { return ctx->data_end > ctx->data ? 2 : 1; }
__attribute__((noinline)) int scale(int x) { return x + 1; }
SEC("xdp") int on_xdp(struct xdp_md *ctx) { return parse(ctx) + scale(ctx->ingress_ifindex) > 3 ? 1 : 2; }
__attribute__((noinline)) int verdict(struct __sk_buff *skb) { return skb->len > 10; }
SEC("cgroup_skb/ingress") int on_skb(struct __sk_buff *skb) { return verdict(skb) ? 1 : 0; }
char _license[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('extension (freplace) programs against the running kernel', () => {
  const exts = buildC(readFileSync(join(fixturesDir, 'c/freplace/freplace.c'), 'utf8'));
  const targets = buildC(TARGETS_C);
  /** The kernel's answer for an extension of the function `fn` of the loaded target (attach_prog_fd, attach_btf_id). */
  const kernelLoad = (ext: (typeof exts)[number], fn: string) => {
    const target = targets.find((t) => (fn === 'verdict' ? t.name === 'on_skb' : t.name === 'on_xdp'))!;
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
  const probe = kernelLoad(exts.find((p) => p.name === 'parse')!, 'parse');
  const refused = !probe.accepted && probe.log === '' ? 'this kernel refuses extension programs (EPERM, empty log) before the verifier runs' : undefined;
  it.skipIf(refused !== undefined).each(exts.map((p) => [p.name, p] as const))('%s', (name, p) => {
    const fn = name.replace(/_.*$/, '');
    const k = kernelLoad(p, fn);
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2, replaces: TARGET[name]! });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: k.accepted, error: k.accepted ? undefined : k.error });
    expect(comparableLines(ours.log)).toEqual(comparableLines(k.log));
  });
  it('says why when it cannot compare', () => {
    if (refused) console.warn(`skipping the live comparison: ${refused}`);
    expect(targets.map((t) => t.name).sort()).toEqual(['on_skb', 'on_xdp']);
  });
});
