/**
 * Packet ranges from comparing a packet pointer with the packet's end, or a meta pointer with
 * the packet's start (kernel/bpf/verifier.c try_match_pkt_pointers, find_good_pkt_pointers):
 * every comparison, both operand orders, both branches, offsets around the bytes read — each a
 * tiny XDP program, ours against the running kernel in verdict, first error, processed count
 * and level-2 log.
 */
import { assemble, type Program } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, it } from 'vitest';
import { expectSameAsKernel, haveVmlinux } from './kernel.test.helper.js';

const xdp = (src: string): Program => ({ ...assemble(src), type: 'xdp' }) as Program;
const CONDS = ['>', '<', '>=', '<='] as const;

describe.skipIf(skipWithout('kernel') || !haveVmlinux())('packet ranges from comparisons, against the running kernel', () => {
  it('pkt + N against pkt_end, either order, reading 8 bytes below pkt + N from either branch', () => {
    for (const cond of CONDS)
      for (const swap of [false, true])
        for (const n of [0, 7, 8, 9])
          for (const taken of [false, true]) {
            const cmp = swap ? `if r3 ${cond} r1 goto l0` : `if r1 ${cond} r3 goto l0`;
            // the read happens on the fall-through (taken = false) or on the jump target
            const body = taken ? [cmp, 'goto l1', `l0:`, `r0 = *(u64 *)(r1 -${n})`, 'l1:'] : [cmp, `r0 = *(u64 *)(r1 -${n})`, 'l0:'];
            const src = ['r2 = *(u32 *)(r1 +0)', 'r3 = *(u32 *)(r1 +4)', 'r1 = r2', `r1 += ${n}`, ...body, 'r0 = 0', 'exit'].join('\n');
            expectSameAsKernel(`${swap ? 'end' : 'pkt'} ${cond} n=${n} ${taken ? 'taken' : 'fall'}`, xdp(src));
          }
  });
  it('a meta pointer is compared with the packet start only, not with a pointer past it', () => {
    for (const cond of CONDS)
      for (const dataOff of [0, 8])
        for (const taken of [false, true]) {
          const cmp = `if r4 ${cond} r3 goto l0`;
          const body = taken ? [cmp, 'goto l1', 'l0:', 'r0 = *(u8 *)(r2 +0)', 'l1:'] : [cmp, 'r0 = *(u8 *)(r2 +0)', 'l0:'];
          const src = ['r2 = *(u32 *)(r1 +8)', 'r3 = *(u32 *)(r1 +0)', `r3 += ${dataOff}`, 'r4 = r2', 'r4 += 8', ...body, 'r0 = 0', 'exit'].join('\n');
          expectSameAsKernel(`meta ${cond} data+${dataOff} ${taken ? 'taken' : 'fall'}`, xdp(src));
        }
  });
  it('a direct packet write, by program type: a sockopt program writes its optval (merbridge), cgroup_skb and lwt_in only read', () => {
    const write = (load: string, data: number, end: number): string =>
      [`r2 = ${load}(r1 +${data})`, `r3 = ${load}(r1 +${end})`, 'r4 = r2', 'r4 += 1', 'if r4 > r3 goto l', 'r5 = 7', '*(u8 *)(r2 +0) = r5', 'l:', 'r0 = 1', 'exit'].join('\n');
    const skb = write('*(u32 *)', 76, 80);
    const sockopt = write('*(u64 *)', 8, 16);
    for (const [name, type, attach, src] of [
      ['getsockopt', 'cgroup_sockopt', 'cgroup_getsockopt', sockopt],
      ['setsockopt', 'cgroup_sockopt', 'cgroup_setsockopt', sockopt],
      ['sched_cls', 'sched_cls', undefined, skb],
      ['cgroup_skb', 'cgroup_skb', 'cgroup_inet_egress', skb],
      ['lwt_in', 'lwt_in', undefined, skb],
    ] as const)
      expectSameAsKernel(`write ${name}`, { ...assemble(src), type, ...(attach ? { expectedAttachType: attach } : {}) } as Program);
  });
});
