/**
 * The context rules (ctx.ts) against the running kernel, exhaustively: for each program type
 * (and attach type where the kernel's rule reads it), every byte offset of its context struct
 * and a little beyond, each access size, as a load, a sign-extending load, a register store and
 * an immediate store — one tiny program each, loaded into the kernel and verified by us; the
 * verdict and the first error must be the same.
 */
import { assemble, type AttachType, type Insn, type Program, type ProgType } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { ctxAccess, CTX_LAYOUT, PROG_FLAGS, verify } from './index.js';

interface LoadLike {
  readonly accepted: boolean;
  readonly stats?: { readonly processedInsns: number; readonly totalStates: number };
  readonly error?: string;
  readonly log: string;
  close(): void;
}
interface KernelApi {
  loadProgram(p: Program, opts: { type: ProgType; expectedAttachType?: number; flags?: number; logLevel: number; logSize: number; readInfo: boolean }): LoadLike;
  probe(): { readonly canLoad: boolean };
}
const kernelModule = '@bpf/kernel';
const kernel: KernelApi | undefined = await import(/* @vite-ignore */ kernelModule).then(
  (m: Partial<KernelApi>) => (typeof m.loadProgram === 'function' ? (m as KernelApi) : undefined),
  () => undefined,
);
const isaModule = '@bpf/isa';
const { ATTACH_TYPES } = (await import(/* @vite-ignore */ isaModule)) as { ATTACH_TYPES: readonly AttachType[] };

type Mode = 'ldx' | 'ldsx' | 'stx' | 'st';
const SIZE_BITS: Readonly<Record<number, number>> = { 4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18 };
const ins = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });
const MOV_R0_1 = ins(0xb7, 0, 0, 0, 1);
const EXIT = ins(0x95, 0, 0, 0, 0);

/** One access to the context at `off`, then `return 1` (within every program type's return range). */
function probeProgram(mode: Mode, off: number, size: number): Insn[] {
  const sz = SIZE_BITS[size]!;
  switch (mode) {
    case 'ldx':
      return [ins(0x61 | sz, 0, 1, off, 0), MOV_R0_1, EXIT];
    case 'ldsx':
      return [ins(0x81 | sz, 0, 1, off, 0), MOV_R0_1, EXIT];
    case 'stx':
      return [ins(0xb7, 2, 0, 0, 0), ins(0x63 | sz, 1, 2, off, 0), MOV_R0_1, EXIT];
    case 'st':
      return [ins(0x62 | sz, 1, 0, off, 0), MOV_R0_1, EXIT];
  }
}

interface Config {
  readonly type: ProgType;
  readonly attach?: AttachType;
  readonly flags?: number;
  /** Byte range probed (default: from -8 to 8 past the context struct). */
  readonly offs: readonly (readonly [number, number])[];
}

const around = (size: number): readonly (readonly [number, number])[] => [[-8, size + 8]];
const SKB = around(CTX_LAYOUT.__sk_buff.size);
const of = (type: ProgType, offs: readonly (readonly [number, number])[], attaches: readonly (AttachType | undefined)[] = [undefined], flags?: number): Config[] =>
  attaches.map((attach) => ({ type, offs, ...(attach ? { attach } : {}), ...(flags !== undefined ? { flags } : {}) }));

const SOCK_ADDR_ATTACH = ATTACH_TYPES.filter((a) => /^cgroup_(inet[46]_(bind|connect|getpeername|getsockname)|udp[46]_(sendmsg|recvmsg)|unix_)/.test(a));

const CONFIGS: readonly Config[] = [
  ...of('socket_filter', SKB),
  ...of('sched_cls', SKB),
  ...of('sched_act', SKB),
  ...of('cgroup_skb', SKB, ['cgroup_inet_ingress', 'cgroup_inet_egress']),
  ...of('lwt_in', SKB),
  ...of('lwt_out', SKB),
  ...of('lwt_xmit', SKB),
  ...of('lwt_seg6local', SKB),
  ...of('sk_skb', SKB),
  ...of('flow_dissector', SKB),
  ...of('xdp', around(CTX_LAYOUT.xdp_md.size), ['xdp', 'xdp_devmap', 'xdp_cpumap']),
  ...of('cgroup_sock', around(CTX_LAYOUT.bpf_sock.size), [undefined, 'cgroup_inet_sock_create', 'cgroup_inet_sock_release', 'cgroup_inet4_post_bind', 'cgroup_inet6_post_bind']),
  ...of('cgroup_sock_addr', around(CTX_LAYOUT.bpf_sock_addr.size), SOCK_ADDR_ATTACH),
  ...of('sock_ops', around(CTX_LAYOUT.bpf_sock_ops.size)),
  ...of('sk_msg', around(CTX_LAYOUT.sk_msg_md.size)),
  ...of('sk_reuseport', around(CTX_LAYOUT.sk_reuseport_md.size), ['sk_reuseport_select', 'sk_reuseport_select_or_migrate']),
  ...of('sk_lookup', around(CTX_LAYOUT.bpf_sk_lookup.size), ['sk_lookup']),
  ...of('cgroup_device', around(CTX_LAYOUT.bpf_cgroup_dev_ctx.size), ['cgroup_device']),
  ...of('cgroup_sysctl', around(CTX_LAYOUT.bpf_sysctl.size), ['cgroup_sysctl']),
  ...of('cgroup_sockopt', around(CTX_LAYOUT.bpf_sockopt.size), ['cgroup_getsockopt', 'cgroup_setsockopt']),
  ...of('kprobe', around(CTX_LAYOUT.pt_regs.size)),
  ...of('perf_event', around(CTX_LAYOUT.bpf_perf_event_data.size)),
  ...of('tracepoint', [[-8, 40], [8176, 8208]]),
  ...of('raw_tracepoint', around(96)),
  ...of('raw_tracepoint_writable', around(96)),
  ...of('netfilter', around(CTX_LAYOUT.bpf_nf_ctx.size), ['netfilter']),
  ...of('syscall', [[-8, 64], [32700, 32767]], [undefined], PROG_FLAGS.sleepable),
  ...of('lirc_mode2', [[-8, 16]], ['lirc_mode2']),
  // the alignment flags: strict alignment reaches the context first, "any" turns it off
  ...of('sched_cls', [[-4, 200]], [undefined], PROG_FLAGS.strict_alignment),
  ...of('xdp', around(CTX_LAYOUT.xdp_md.size), [undefined], PROG_FLAGS.strict_alignment | PROG_FLAGS.any_alignment),
];

const label = (c: Config): string => `${c.type}${c.attach ? `/${c.attach}` : ''}${c.flags ? ` flags=${c.flags}` : ''}`;

describe('ctxAccess', () => {
  it('reads the generated layout: __sk_buff data/data_end are packet pointers for tc, flow_keys only for the flow dissector', () => {
    expect(ctxAccess('sched_cls', 76, 4, { write: false })).toEqual({ ok: true, ptr: 'pkt' });
    expect(ctxAccess('sched_cls', 80, 4, { write: false })).toEqual({ ok: true, ptr: 'pkt_end' });
    expect(ctxAccess('sched_cls', 144, 8, { write: false })).toEqual({ ok: false });
    expect(ctxAccess('flow_dissector', 144, 8, { write: false })).toEqual({ ok: true, ptr: 'flow_keys' });
    expect(ctxAccess('cgroup_sock_addr', 4, 4, { write: true, attach: 'cgroup_inet4_connect' })).toEqual({ ok: true });
    expect(ctxAccess('cgroup_sock_addr', 4, 4, { write: true, attach: 'cgroup_inet6_connect' })).toEqual({ ok: false });
  });
});

describe.skipIf(skipWithout('kernel') || !kernel?.probe().canLoad)('context access against the running kernel: every offset, size and access kind per program type', () => {
  const k = kernel!;
  it.each(CONFIGS.map((c) => [label(c), c] as const))('%s', (_l, c) => {
    const expectedAttachType = c.attach ? ATTACH_TYPES.indexOf(c.attach) : undefined;
    const load = (insns: Insn[]): { accepted: boolean; error: string | null } => {
      const r = k.loadProgram({ insns }, { type: c.type, ...(expectedAttachType !== undefined ? { expectedAttachType } : {}), flags: c.flags ?? 0, logLevel: 1, logSize: 1 << 14, readInfo: false });
      r.close();
      return { accepted: r.accepted, error: r.accepted ? null : (r.error ?? `no log: ${r.log}`) };
    };
    // a program type this kernel was built without (lirc_mode2 needs CONFIG_BPF_LIRC_MODE2) loads nothing
    const base = load([MOV_R0_1, EXIT]);
    if (!base.accepted && base.error?.startsWith('no log')) {
      console.warn(`${label(c)}: the kernel loads no program of this type here; skipped`);
      return;
    }
    const diffs: string[] = [];
    let probes = 0;
    for (const [lo, hi] of c.offs)
      for (let off = lo; off < hi; off++)
        for (const mode of ['ldx', 'ldsx', 'stx', 'st'] as const)
          for (const size of mode === 'ldsx' ? [1, 2, 4] : [1, 2, 4, 8]) {
            const insns = probeProgram(mode, off, size);
            const theirs = load(insns);
            const r = verify({ insns }, { type: c.type, ...(c.attach ? { attachType: c.attach } : {}), flags: c.flags ?? 0, logLevel: 0 });
            const ours = { accepted: r.accepted, error: r.accepted ? null : (r.error?.message ?? null) };
            probes++;
            if (ours.accepted !== theirs.accepted || ours.error !== theirs.error) diffs.push(`${mode} off=${off} size=${size}: kernel ${theirs.error ?? 'accept'}, ours ${ours.error ?? 'accept'}`);
          }
    expect({ probes: probes > 0, diffs: diffs.slice(0, 20), count: diffs.length }).toEqual({ probes: true, diffs: [], count: 0 });
  });
});

/** Alignment (check_ptr_alignment), with and without BPF_F_STRICT_ALIGNMENT / BPF_F_ANY_ALIGNMENT. */
const ALIGN: readonly (readonly [string, ProgType, string])[] = [
  ['stack, constant var_off', 'socket_filter', 'r0 = 0\n*(u64 *)(r10 - 4) = r0\nexit'],
  ['stack, fixed offset', 'socket_filter', 'r3 = r10\nr3 += -8\nr0 = 0\n*(u64 *)(r3 - 4) = r0\nexit'],
  ['stack, variable offset', 'sched_cls', 'r2 = *(u32 *)(r1 + 0)\nr2 &= 4\nr3 = r10\nr3 += r2\nr0 = 0\n*(u64 *)(r3 - 16) = r0\nexit'],
  ['context', 'sched_cls', 'r0 = *(u32 *)(r1 + 2)\nr0 = 0\nexit'],
  ['context, one byte', 'sched_cls', 'r0 = *(u8 *)(r1 + 3)\nr0 = 0\nexit'],
  ['packet (NET_IP_ALIGN)', 'xdp', 'r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 8\nif r4 > r3 goto +1\nr0 = *(u32 *)(r2 + 2)\nr0 = 0\nexit'],
  ['packet, aligned after NET_IP_ALIGN', 'xdp', 'r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 8\nif r4 > r3 goto +1\nr0 = *(u16 *)(r2 + 4)\nr0 = 0\nexit'],
];

describe.skipIf(skipWithout('kernel') || !kernel?.probe().canLoad)('alignment against the running kernel', () => {
  const k = kernel!;
  const cases = ALIGN.flatMap(([name, type, src]) => [0, PROG_FLAGS.strict_alignment, PROG_FLAGS.strict_alignment | PROG_FLAGS.any_alignment].map((flags) => [`${name}, flags=${flags}`, type, src, flags] as const));
  it.each(cases)('%s', (_n, type, src, flags) => {
    const p = assemble(src);
    const r = k.loadProgram(p, { type, flags, logLevel: 1, logSize: 1 << 14, readInfo: false });
    r.close();
    const ours = verify(p, { type, flags, logLevel: 0 });
    expect({ accepted: ours.accepted, error: ours.error?.message ?? null }).toEqual({ accepted: r.accepted, error: r.accepted ? null : (r.error ?? null) });
  });
  it('prints a constant var_off as a number, as 6.18 does', () => {
    expect(verify(assemble(ALIGN[0]![2]), { type: 'socket_filter' }).error?.message).toBe('misaligned stack access off 0+0+-4 size 8');
  });
});

describe.skipIf(skipWithout('kernel') || !kernel?.probe().canLoad)('return values by program and attach type against the running kernel', () => {
  const k = kernel!;
  const seen = new Set<string>();
  const configs = CONFIGS.filter((c) => !c.flags && c.type !== 'lirc_mode2' && !seen.has(label(c)) && seen.add(label(c)));
  it.each(configs.map((c) => [label(c), c] as const))('%s', (_l, c) => {
    const expectedAttachType = c.attach ? ATTACH_TYPES.indexOf(c.attach) : undefined;
    const diffs: string[] = [];
    for (const v of [-1, 0, 1, 2, 3, 4]) {
      const insns = [ins(0xb7, 0, 0, 0, v), EXIT];
      const r = k.loadProgram({ insns }, { type: c.type, ...(expectedAttachType !== undefined ? { expectedAttachType } : {}), flags: c.flags ?? 0, logLevel: 1, logSize: 1 << 14, readInfo: false });
      r.close();
      const ours = verify({ insns }, { type: c.type, ...(c.attach ? { attachType: c.attach } : {}), logLevel: 0 });
      const theirs = r.accepted ? null : (r.error ?? null);
      if (ours.accepted !== r.accepted || (ours.error?.message ?? null) !== theirs) diffs.push(`r0=${v}: kernel ${theirs ?? 'accept'}, ours ${ours.error?.message ?? 'accept'}`);
    }
    expect(diffs).toEqual([]);
  });
});

/** Pointers read from context fields, then dereferenced at every offset, size and direction. */
const POINTERS: readonly (readonly [string, ProgType, AttachType | undefined, number, boolean, number])[] = [
  // name, type, attach, field offset, nullable, bytes of the pointee to probe
  ['__sk_buff->sk (sock_common_or_null)', 'cgroup_skb', 'cgroup_inet_ingress', 168, true, CTX_LAYOUT.bpf_sock.size],
  ['bpf_sock_addr->sk (sock)', 'cgroup_sock_addr', 'cgroup_inet4_connect', CTX_LAYOUT.bpf_sock_addr.fields.sk[0], false, CTX_LAYOUT.bpf_sock.size],
  ['bpf_sk_lookup->sk (sock_or_null)', 'sk_lookup', 'sk_lookup', CTX_LAYOUT.bpf_sk_lookup.fields.sk[0], true, CTX_LAYOUT.bpf_sock.size],
  ['bpf_sock_ops->sk (sock_or_null)', 'sock_ops', undefined, CTX_LAYOUT.bpf_sock_ops.fields.sk[0], true, CTX_LAYOUT.bpf_sock.size],
  ['sk_reuseport_md->migrating_sk (sock_common_or_null)', 'sk_reuseport', 'sk_reuseport_select_or_migrate', CTX_LAYOUT.sk_reuseport_md.fields.migrating_sk[0], true, CTX_LAYOUT.bpf_sock.size],
  ['__sk_buff->flow_keys (flow_keys)', 'flow_dissector', 'flow_dissector', CTX_LAYOUT.__sk_buff.fields.flow_keys[0], false, CTX_LAYOUT.bpf_flow_keys.size],
  ['raw tracepoint buffer (tp_buffer)', 'raw_tracepoint_writable', undefined, 0, false, 16],
];

describe.skipIf(skipWithout('kernel') || !kernel?.probe().canLoad)('pointers from context fields against the running kernel', () => {
  const k = kernel!;
  it.each(POINTERS)('%s', (_n, type, attach, field, nullable, size) => {
    const expectedAttachType = attach ? ATTACH_TYPES.indexOf(attach) : undefined;
    const diffs: string[] = [];
    const check = (what: string, body: Insn[]): void => {
      const insns = [ins(0x79, 2, 1, field, 0), ...(nullable ? [ins(0x15, 2, 0, body.length, 0)] : []), ...body, MOV_R0_1, EXIT];
      const r = k.loadProgram({ insns }, { type, ...(expectedAttachType !== undefined ? { expectedAttachType } : {}), logLevel: 1, logSize: 1 << 14, readInfo: false });
      r.close();
      const ours = verify({ insns }, { type, ...(attach ? { attachType: attach } : {}), logLevel: 0 });
      const theirs = r.accepted ? null : (r.error ?? null);
      if (ours.accepted !== r.accepted || (ours.error?.message ?? null) !== theirs) diffs.push(`${what}: kernel ${theirs ?? 'accept'}, ours ${ours.error?.message ?? 'accept'}`);
    };
    for (let off = -8; off < size + 8; off++)
      for (const sz of [1, 2, 4, 8]) {
        const bits = SIZE_BITS[sz]!;
        check(`ldx off=${off} size=${sz}`, [ins(0x61 | bits, 0, 2, off, 0)]);
        check(`stx off=${off} size=${sz}`, [ins(0xb7, 3, 0, 0, 0), ins(0x63 | bits, 2, 3, off, 0)]);
      }
    // arithmetic on the pointer, before and after its null check
    check('r2 += 8', [ins(0x07, 2, 0, 0, 8), ins(0x61, 0, 2, 0, 0)]);
    const unchecked = [ins(0x79, 2, 1, field, 0), ins(0x07, 2, 0, 0, 8), MOV_R0_1, EXIT];
    const r = k.loadProgram({ insns: unchecked }, { type, ...(expectedAttachType !== undefined ? { expectedAttachType } : {}), logLevel: 1, logSize: 1 << 14, readInfo: false });
    r.close();
    const ours = verify({ insns: unchecked }, { type, ...(attach ? { attachType: attach } : {}), logLevel: 0 });
    expect({ diffs, accepted: ours.accepted, error: ours.error?.message ?? null }).toEqual({ diffs: [], accepted: r.accepted, error: r.accepted ? null : (r.error ?? null) });
  });
});

describe.skipIf(skipWithout('kernel') || !kernel?.probe().canLoad)('a tcp_sock from bpf_tcp_sock(skb->sk) against the running kernel', () => {
  it('every offset, size, read and write', () => {
    const k = kernel!;
    const diffs: string[] = [];
    const ingress = ATTACH_TYPES.indexOf('cgroup_inet_ingress');
    for (let off = -8; off < CTX_LAYOUT.bpf_tcp_sock.size + 8; off++)
      for (const sz of [1, 2, 4, 8])
        for (const write of [false, true]) {
          const access = write ? [ins(0xb7, 3, 0, 0, 0), ins(0x63 | SIZE_BITS[sz]!, 2, 3, off, 0)] : [ins(0x61 | SIZE_BITS[sz]!, 0, 2, off, 0)];
          // r1 = skb->sk; if (!r1) goto out; r0 = bpf_tcp_sock(r1); if (!r0) goto out; r2 = r0; access; out: return 1
          const insns = [ins(0x79, 1, 1, 168, 0), ins(0x15, 1, 0, 3 + access.length, 0), ins(0x85, 0, 0, 0, 96), ins(0x15, 0, 0, 1 + access.length, 0), ins(0xbf, 2, 0, 0, 0), ...access, MOV_R0_1, EXIT];
          const r = k.loadProgram({ insns }, { type: 'cgroup_skb', expectedAttachType: ingress, logLevel: 1, logSize: 1 << 14, readInfo: false });
          r.close();
          const ours = verify({ insns }, { type: 'cgroup_skb', attachType: 'cgroup_inet_ingress', logLevel: 0 });
          const theirs = r.accepted ? null : (r.error ?? null);
          if (ours.accepted !== r.accepted || (ours.error?.message ?? null) !== theirs) diffs.push(`${write ? 'stx' : 'ldx'} off=${off} size=${sz}: kernel ${theirs ?? 'accept'}, ours ${ours.error?.message ?? 'accept'}`);
        }
    expect(diffs.slice(0, 20)).toEqual([]);
  });
});

describe.skipIf(skipWithout('kernel') || !kernel?.probe().canLoad)('BPF_F_TEST_STATE_FREQ against the running kernel', () => {
  it('a checkpoint at every prune point: the same processed instructions and total states', () => {
    const p = assemble('r0 = 0\nr1 = 0\nl1:\nr0 += r1\nr1 += 1\nif r1 < 20 goto l1\nexit');
    for (const flags of [0, PROG_FLAGS.test_state_freq]) {
      const k = kernel!.loadProgram(p, { type: 'socket_filter', flags, logLevel: 1, logSize: 1 << 16, readInfo: false });
      k.close();
      const ours = verify(p, { type: 'socket_filter', flags, logLevel: 0 });
      expect({ flags, processed: ours.stats.processedInsns, states: ours.stats.totalStates }).toEqual({ flags, processed: k.stats?.processedInsns, states: k.stats?.totalStates });
    }
  });
});
