/**
 * A socket looked up in a sockmap or sockhash keeps the map in its register, as the kernel's
 * does (mark_ptr_not_null_reg changes only the type, and regsafe compares that part of the
 * register byte for byte): at a prune point it never matches a socket from bpf_sk_lookup_tcp.
 * Found on OpenTelemetry eBPF Instrumentation's tctracer (beyla_app_egress: ours pruned at the
 * shared bpf_sk_release, 1361 processed against the kernel's 1369). Each program is ours, run
 * with BPF_F_TEST_STATE_FREQ so that the first path leaves a checkpoint at the release.
 */
import { assemble, type Program } from '@bpf/isa';
import { comparableLines, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { kernelApi } from './kernel.test.helper.js';

const TEST_STATE_FREQ = 1 << 3;

/** Two paths to one bpf_sk_release: the first path's socket from `first`, the second's from `second`. */
function program(first: 'map' | 'lookup', second: 'map' | 'lookup'): string {
  const get = (how: 'map' | 'lookup'): string[] =>
    how === 'map'
      ? ['r1 = sd ll', 'r2 = r10', 'r2 += -16', 'call bpf_map_lookup_elem']
      : ['r1 = r6', 'r2 = r10', 'r2 += -16', 'r3 = 12', 'r4 = -1', 'r5 = 0', 'call bpf_sk_lookup_tcp'];
  return [
    '.map sd sockhash 4 8 16',
    'r6 = r1',
    'r1 = 0',
    '*(u64 *)(r10 - 16) = r1',
    '*(u64 *)(r10 - 8) = r1',
    'call bpf_get_prandom_u32',
    'r7 = r0',
    'if r7 == 0 goto b',
    ...get(first),
    'if r0 == 0 goto out',
    'r1 = r0',
    'goto p',
    'b:',
    ...get(second),
    'if r0 == 0 goto out',
    'r1 = r0',
    'goto p',
    'p:',
    'call bpf_sk_release',
    'out:',
    'r0 = 0',
    'exit',
  ].join('\n');
}

describe.skipIf(skipWithout('kernel') || kernelApi === undefined)('sockets from a sockhash at a prune point, as the running kernel compares them', () => {
  it.each([
    ['map', 'lookup'],
    ['lookup', 'map'],
    ['map', 'map'],
    ['lookup', 'lookup'],
  ] as const)('first path %s, second %s: the same verdict, log and processed count', (first, second) => {
    const p: Program = { ...assemble(program(first, second)), type: 'sched_cls' } as Program;
    const k = kernelApi!.loadWithMaps(p, { logLevel: 2, flags: TEST_STATE_FREQ });
    k.close();
    const o = verify(p, { logLevel: 2, flags: TEST_STATE_FREQ, nrCpuIds: kernelApi!.possibleCpus() });
    expect(o.accepted).toBe(true);
    expect(k.accepted).toBe(true);
    expect(comparableLines(o.log)).toEqual(comparableLines(k.log));
    const stats = (log: string): string | undefined => log.split('\n').find((l) => l.startsWith('processed '));
    expect(stats(o.log)).toBe(stats(k.log));
    // a socket from the map and one from bpf_sk_lookup_tcp differ: both paths run the release;
    // two of one kind are the same state there, and the second path stops before it
    const releases = o.log.split('\n').filter((l) => /^\d+: \(85\) call bpf_sk_release#86/.test(l)).length;
    expect(releases).toBe(first === second ? 1 : 2);
  });
});
