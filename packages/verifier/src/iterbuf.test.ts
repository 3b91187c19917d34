import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, haveVmlinux, kernelApi, kernelBtf } from './kernel.test.helper.js';

type Built = ReturnType<typeof buildC>[number];

/**
 * Whether this kernel loads iterator programs whose context has a key/value buffer. This
 * machine's 6.18 build answers EPERM with a log that stops before the first instruction
 * (`processed 0 insns`) for iter/bpf_map_elem, iter/bpf_sk_storage_map and iter/sockmap, even
 * for a program that only returns 0, while iter/task and iter/bpf_map load.
 */
function buffersRefused(p: Built): string | undefined {
  const k = kernelApi!.loadWithMaps(p, { logLevel: 2 });
  const e = k as { errno?: number };
  k.close();
  return !k.accepted && e.errno === 1 && /processed 0 insns/.test(k.log)
    ? 'this kernel refuses iterators with key/value buffers (EPERM before the first instruction is verified)'
    : undefined;
}

/**
 * What kernel/bpf/verifier.c (6.18) answers for each program of fixtures/c/iterbuf: the
 * context's key is rdonly_buf_or_null and the value buf_or_null (btf_ctx_access, ctx_arg_info);
 * check_mem_access reads and writes them only once null-checked, check_buffer_access refuses
 * negative and variable offsets and records the furthest byte (max_rdonly_access,
 * max_rdwr_access), which bpf_iter_attach_map, sock_map_iter_attach_target and
 * bpf_iter_attach_map (bpf_sk_storage) compare with the map's key and value size at attach.
 */
const EXPECTED: Readonly<Record<string, { readonly error?: string; readonly ro?: number; readonly rw?: number }>> = {
  key_unchecked: { error: "R1 invalid mem access 'rdonly_buf_or_null'" },
  key_checked: { ro: 4 },
  key_far: { ro: 301 },
  key_write: { error: 'R1 cannot write into rdonly_buf' },
  key_negative: { error: 'R1 invalid rdonly buffer access: off=-4, size=4' },
  key_variable: { error: 'R2 invalid variable buffer offset: off=0, var_off=(0x0; 0x7)' },
  key_arith_first: { error: 'R1 pointer arithmetic on rdonly_buf_or_null prohibited, null-check it first' },
  key_ptr_off: { ro: 12 },
  val_sum: { ro: 4, rw: 16 },
  val_unchecked_write: { error: "R1 invalid mem access 'buf_or_null'" },
  val_seq_write: { ro: 4, rw: 16 },
  val_probe_into: { rw: 24 },
  key_probe_into: { error: 'R1 type=rdonly_buf expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_' },
  key_seq_nullable: { error: 'R2 type=rdonly_buf_or_null expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_' },
  key_ret: { error: 'At program exit the register R0 has smin=0 smax=4294967295 should have been in [0, 1]' },
  key_narrow: { error: 'invalid bpf_context access off=16 size=4' },
  key_spill: { ro: 3 },
  sk_val: { rw: 16 },
  sk_val_null: { error: "R1 invalid mem access 'buf_or_null'" },
  sockmap_key: { ro: 4 },
  sockmap_key_write: { error: 'R1 cannot write into rdonly_buf' },
};

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('iterator key/value buffers (PTR_TO_BUF)', () => {
  const programs = buildC(readFileSync(join(fixturesDir, 'c/iterbuf/iterbuf.c'), 'utf8'));
  const refused = buffersRefused(programs.find((p) => p.name === 'key_checked')!);
  it.skipIf(refused !== undefined).each(programs.map((p) => [p.name, p] as const))('%s against the running kernel', (name, p) => expectSameAsKernel(name, p));
  it('what the verifier answers where the kernel cannot be asked (kernel/bpf/verifier.c check_mem_access, check_buffer_access)', () => {
    if (refused) console.warn(`skipping the live comparison: ${refused}`);
    expect(programs.map((p) => p.name).sort()).toEqual(Object.keys(EXPECTED).sort());
    type Answer = { error?: string; ro?: number; rw?: number };
    const answers = Object.fromEntries(
      programs.map((p): [string, Answer] => {
        const r = verify(p, { kernelBtf: kernelBtf() });
        if (r.error) return [p.name, { error: r.error.message }];
        return [p.name, { ...(r.maxAccess.rdonly ? { ro: r.maxAccess.rdonly } : {}), ...(r.maxAccess.rdwr ? { rw: r.maxAccess.rdwr } : {}) }];
      }),
    );
    expect(answers).toEqual(EXPECTED);
  });
  it('prints the buffers as reg_type_str names them, nullable until checked', () => {
    const log = verify(programs.find((p) => p.name === 'val_sum')!, { kernelBtf: kernelBtf(), logLevel: 2 }).log;
    expect(log).toContain('R2=rdonly_buf_or_null(id=1)');
    expect(log).toContain('R1=buf_or_null(id=2)');
    expect(log).toContain('if r1 == 0x0 goto pc+4        ; R1=buf()');
  });
});
