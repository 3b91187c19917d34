import { assemble, helperName, type ProgType } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { helperProto, verify } from './index.js';
import { kernelApi, kernelVerdict } from './kernel.test.helper.js';

/** A program type that may call helper `id` (the first its row allows; kprobe for the rest). */
const TYPES: readonly ProgType[] = ['kprobe', 'sched_cls', 'xdp', 'socket_filter', 'cgroup_skb', 'sk_skb', 'lwt_xmit'];
const typeFor = (id: number): ProgType => TYPES.find((t) => helperProto(id, t)) ?? 'kprobe';
const ONCE_MODELLED = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 23, 25, 26, 28, 44, 112, 113, 125, 130, 131, 132, 133, 158, 181, 182];
const callOnly = (id: number, license: string) => ({ ...assemble(`call ${id}\nr0 = 0\nexit`), type: typeFor(id), license });

describe('GPL-only helpers', () => {
  it('a non-GPL program may not call bpf_trace_printk; a GPL-compatible one may', () => {
    expect(verify(callOnly(6, 'MIT'), { type: 'kprobe' }).error?.message).toBe('cannot call GPL-restricted function from non-GPL compatible program');
    // past the license check, R1 (the context) is no memory for the format string
    const past = 'R1 type=ctx expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_';
    expect(verify(callOnly(6, 'Dual MIT/GPL'), { type: 'kprobe' }).error?.message).toBe(past);
    expect(verify(callOnly(6, 'MIT'), { type: 'kprobe', license: 'GPL' }).error?.message).toBe(past);
  });
  it('helpers that are not gpl_only are fine for any license', () => {
    expect(verify(callOnly(5, 'Proprietary'), { type: 'kprobe' }).accepted).toBe(true);
  });
});

describe.skipIf(skipWithout('kernel') || kernelApi === undefined)('every helper of the table under a non-GPL license: the kernel verdict and message', () => {
  // With no arguments set, a gpl_only helper fails on the license and any other on R1 (or is accepted).
  it.each(ONCE_MODELLED.map((k) => [helperName(k) ?? String(k), k] as const))('%s', (_n, id) => {
    const p = callOnly(id, 'MIT');
    const kernel = kernelVerdict(p);
    const ours = verify(p, { type: p.type });
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
  });
});
