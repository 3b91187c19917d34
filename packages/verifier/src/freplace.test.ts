import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify, type VerifyOptions } from './index.js';
import { buildC, haveVmlinux, kernelBtf } from './kernel.test.helper.js';

/**
 * Extension programs against the rules of kernel/bpf/verifier.c (6.18): check_attach_btf_id gives
 * them the replaced program's verifier ops and expected_attach_type, do_check_common enters their
 * main function as a global one (`Validating parse() func#0...`, btf_prepare_func_args with the
 * target's program type for `ctx` arguments) and check_return_code applies the target type's
 * return range (resolve_prog_type). Not compared live: this machine's kernel answers EPERM with
 * an empty log when an extension is loaded against a loaded XDP program (as it does for
 * fentry/fexit), before the verifier runs.
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
