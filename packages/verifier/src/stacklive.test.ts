import { assemble } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, haveVmlinux, kernelApi, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

/**
 * Stack slot liveness per call chain (stacklive.ts, the kernel's liveness.c): programs whose
 * states differ only in a stack slot nothing reads any more, at a join point after which a helper
 * or a subprogram is given a stack address. The kernel prunes there; a liveness that takes such
 * a call to read every slot does not (these programs processed 88, 76 and 38 instructions with
 * it). Each compared with the running kernel: verdict, processed count and level-2 log.
 */
const SOURCE = `
typedef unsigned int __u32;
typedef unsigned long long __u64;
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
struct __sk_buff { __u32 len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci, vlan_proto, priority; };
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
struct { __uint(type, 2); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } hits SEC(".maps");

/* A slot written on both sides of a branch, a pointer on one and a number on the other, and
 * never read again: at the join it is dead, though a helper is later given a stack address. */
SEC("tc") int dead_slot_after_branch(struct __sk_buff *skb) {
  void *volatile kept __attribute__((unused));
  __u32 key = skb->mark & 3;
  if (skb->len > 64)
    kept = skb;
  else
    kept = (void *)(long)bpf_ktime_get_ns();
  if (skb->priority == 7) key ^= 1;
  if (skb->protocol == 8) key ^= 2;
  __u64 *v = bpf_map_lookup_elem(&hits, &key);
  if (!v) return 0;
  if (skb->vlan_tci > 9) *v += 2; else *v += 1;
  return 1;
}

static __attribute__((noinline)) int bump(__u32 *key) {
  __u64 *v = bpf_map_lookup_elem(&hits, key);
  if (!v) return 0;
  if (*v > 100) *v = 0; else *v += 1;
  return 1;
}

/* The callee reads only the key its pointer argument points to: the caller's other slots are
 * dead inside it, so states differing there meet at the callee's join points. */
SEC("tc") int dead_caller_slot_in_callee(struct __sk_buff *skb) {
  void *volatile kept __attribute__((unused));
  __u32 key = skb->mark & 3;
  if (skb->len > 64)
    kept = skb;
  else
    kept = (void *)(long)bpf_ktime_get_ns();
  if (skb->priority == 7) key ^= 1;
  return bump(&key);
}

static __attribute__((noinline)) void stamp(__u64 *out) {
  *out = bpf_ktime_get_ns();
}

/* The callee writes the whole slot its argument points to before anything reads it: what the
 * slot held at the call does not matter, and states differing there meet before the call. */
SEC("tc") int slot_overwritten_by_callee(struct __sk_buff *skb) {
  __u64 when;
  __u32 key = skb->mark & 3;
  if (skb->len > 64)
    *(volatile __u64 *)&when = (__u64)(long)skb;
  else
    *(volatile __u64 *)&when = skb->priority;
  if (skb->protocol == 8) key ^= 2;
  if (skb->vlan_tci == 1) key ^= 1;
  stamp(&when);
  return (when + key) & 1;
}
char LICENSE[] SEC("license") = "GPL";
`;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('stack slots nothing reads any more', () => {
  const programs = buildC(SOURCE);
  it.each(programs.map((p) => [p.name, p] as const))('%s: pruned where the kernel prunes', (name, p) => {
    expectSameAsKernel(name, p);
  });
  it('covers a helper call, a callee reading one caller slot and a callee writing one', () => {
    expect(programs.map((p) => p.name).sort()).toEqual(['dead_caller_slot_in_callee', 'dead_slot_after_branch', 'slot_overwritten_by_callee']);
    // the same checkpoints as the kernel's (total_states of its statistics line)
    for (const p of programs) {
      const kernel = /total_states (\d+)/.exec(kernelVerdict(p).log)?.[1];
      expect(String(verify(p, { kernelBtf: kernelBtf(), logLevel: 0 }).stats.totalStates)).toBe(kernel);
    }
  });
});

/**
 * A taken bpf_tail_call never returns, so a slot written after the call is not surely written
 * before it: the running kernel's level-2 log has no `+written` for it at the call or above. Found
 * on OpenTelemetry eBPF Instrumentation's generictracer (tcp_rate_check_app_limited: ours printed
 * `+written -88` at the tail call and the jumps before it). Each program is compared with the
 * running kernel: verdict, processed count and level-2 log, stack liveness lines included.
 */
const TAIL = ['.prog_type kprobe', '.map pa prog_array 4 4 4', 'r6 = r1', 'r1 = 0', '*(u64 *)(r10 - 8) = r1'];
const CALL = ['r1 = r6', 'r2 = pa ll', 'r3 = 2', 'call bpf_tail_call'];
const AFTER = ['r1 = 1', '*(u64 *)(r10 - 16) = r1', 'r1 = *(u64 *)(r10 - 16)', 'r2 = *(u64 *)(r10 - 8)', 'r0 = 0', 'exit'];
describe.skipIf(skipWithout('kernel') || kernelApi === undefined)('a tail call ends the sure writes after it', () => {
  it.each([
    ['straight', [...TAIL, ...CALL, ...AFTER]],
    ['on one side of a branch', [...TAIL, 'call bpf_get_prandom_u32', 'if r0 == 0 goto skip', ...CALL, 'skip:', ...AFTER]],
    ['a helper call instead keeps them', [...TAIL, 'call bpf_get_prandom_u32', 'if r0 == 0 goto skip', ...CALL.slice(0, 3), 'call bpf_get_prandom_u32', 'skip:', ...AFTER]],
  ])('%s', (name, lines) => {
    expectSameAsKernel(name, assemble(lines.join('\n')));
  });
});

/**
 * Linux 6.18's commit_stack_write_marks keeps the old must_write of an instruction in a 32-bit
 * variable, so visits after the first intersect only slots -8 .. -256: a store through a register
 * that writes another slot on each visit keeps the first visit's slot when it lies at -264 or
 * below, and the kernel's level-2 log shows it as `+written` there and above. Found on falco's
 * modern probe (connect_x, sendmsg_x, sendto_x: a loop storing syscall arguments at fp-288,
 * fp-280, fp-272 through r9; ours had the slot live where the kernel has it written). Each
 * program is compared with the running kernel: verdict, processed count and level-2 log.
 */
const STORE_LOOP = (start: number, entry: string[]): string => ['.prog_type kprobe', 'r6 = r1', 'r9 = r10', `r9 += -${start}`, 'r8 = 0', ...entry, 'l1:', 'r1 = r10', 'r1 += -152', 'r2 = 8', 'r3 = r6', 'call bpf_probe_read_kernel', 'r1 = *(u64 *)(r10 - 152)', '*(u64 *)(r9 + 0) = r1', 'r9 += 8', 'r8 += 1', 'if r8 != 3 goto l1', `r0 = *(u64 *)(r10 - ${start})`, `r2 = *(u64 *)(r10 - ${start - 8})`, 'r0 += r2', 'r0 = 0', 'exit'].join('\n');
describe.skipIf(skipWithout('kernel') || kernelApi === undefined)('sure writes of a store that moves along the stack', () => {
  it.each([
    ['first slot at -288', STORE_LOOP(288, [])],
    ['first slot at -264, the others above it', STORE_LOOP(264, [])],
    ['first slot at -256: all in the low word', STORE_LOOP(256, [])],
    ['first slot at -24', STORE_LOOP(24, [])],
    ['slots written before the loop', STORE_LOOP(288, ['r1 = 0', '*(u64 *)(r10 - 288) = r1', '*(u64 *)(r10 - 280) = r1', '*(u64 *)(r10 - 272) = r1'])],
  ])('%s', (name, text) => {
    expectSameAsKernel(name, assemble(text));
  });
});
