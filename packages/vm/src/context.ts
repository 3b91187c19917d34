/**
 * Program contexts for packet programs, as BPF_PROG_TEST_RUN builds them (net/bpf/test_run.c,
 * bpf_prog_test_run_skb / bpf_prog_test_run_xdp), so a run here gives the kernel's retval and
 * output packet for the same input:
 * - socket filters see the skb after eth_type_trans: `data` past the Ethernet header, `len`
 *   without it; the output has the Ethernet header zeroed (the kernel pushes it back cleared);
 * - tc (sched_cls / sched_act) programs see the whole frame and may write it directly;
 * - XDP programs get `xdp_md` over the frame with 256 bytes of headroom for bpf_xdp_adjust_head.
 * Field values are the kernel's for a test run on the loopback device (ifindex 1), measured
 * with @bpf/kernel; vm.test.ts compares retval and output data with the recorded kernel runs.
 */
import type { ProgType } from '@bpf/isa';
import type { Helper, HostContext } from './host.js';
import type { AddressSpace } from './memory.js';

export type PacketProgType = Extract<ProgType, 'socket_filter' | 'sched_cls' | 'sched_act' | 'xdp'>;
export const PACKET_PROG_TYPES: readonly PacketProgType[] = ['socket_filter', 'sched_cls', 'sched_act', 'xdp'];

export const isPacketProgType = (t: string | undefined): t is PacketProgType => (PACKET_PROG_TYPES as readonly string[]).includes(t ?? '');

const ETH_HLEN = 14;
const XDP_PACKET_HEADROOM = 256;
const LOOPBACK_IFINDEX = 1;
/** PACKET_OTHERHOST: the frame is not addressed to the device (include/uapi/linux/if_packet.h). */
const PACKET_OTHERHOST = 3;

/** `struct __sk_buff` offsets (include/uapi/linux/bpf.h). */
const SKB = { len: 0, pkt_type: 4, mark: 8, queue_mapping: 12, protocol: 16, priority: 32, ingress_ifindex: 36, ifindex: 40, data: 76, data_end: 80, data_meta: 140, size: 192 } as const;
/** `struct xdp_md` offsets. */
const XDP = { data: 0, data_end: 4, data_meta: 8, ingress_ifindex: 12, rx_queue_index: 16, egress_ifindex: 20, size: 24 } as const;

export interface PacketContext {
  /** What r1 holds: the context pointer. */
  readonly r1: bigint;
  /** The bytes `ld_abs` / `ld_ind` offsets are relative to (skb->data), as a live view. */
  packet(): Uint8Array;
  /** The packet as BPF_PROG_TEST_RUN returns it in `data_out`. */
  output(): Uint8Array;
  /** Helpers that act on this context (skb_load_bytes, csum replace, xdp_adjust_head, ...). */
  readonly helpers: Readonly<Record<number, Helper>>;
}

const u16be = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;

/** Build the context of a packet program over a copy of `frame` (an Ethernet frame). */
export function packetContext(type: PacketProgType, frame: Uint8Array, mem: AddressSpace): PacketContext {
  if (type === 'xdp') return xdpContext(frame, mem);
  const l2 = type !== 'socket_filter';
  const buf = Uint8Array.from(frame);
  const start = l2 ? 0 : Math.min(ETH_HLEN, buf.length);
  const base = mem.map('packet', buf, { writable: l2, name: 'packet' });
  const data = base + BigInt(start);
  const dataEnd = base + BigInt(buf.length);
  const ctx = new Uint8Array(SKB.size);
  const view = new DataView(ctx.buffer);
  view.setUint32(SKB.len, buf.length - start, true);
  view.setUint32(SKB.pkt_type, PACKET_OTHERHOST, true);
  // skb->protocol is big-endian: the Ethernet type as it sits in the frame
  if (buf.length >= ETH_HLEN) view.setUint16(SKB.protocol, (buf[12]! | (buf[13]! << 8)) & 0xffff, true);
  view.setUint32(SKB.ifindex, LOOPBACK_IFINDEX, true);
  const fields = new Map<number, () => bigint>(l2 ? [[SKB.data, () => data], [SKB.data_end, () => dataEnd], [SKB.data_meta, () => data]] : []);
  const r1 = mem.map('ctx', ctx, { writable: true, name: 'ctx (__sk_buff)', fields });
  const packet = (): Uint8Array => buf.subarray(start);
  const helpers: Record<number, Helper> = {
    // bpf_skb_store_bytes(skb, offset, from, len, flags)
    9: (c, _skb, off, from, len) => {
      const p = packet();
      if (off + len > BigInt(p.length) || len > 0xffffn) return EFAULT;
      p.set(c.mem.slice(from, Number(len), c.insn), Number(off));
      return 0n;
    },
    // bpf_l3_csum_replace(skb, offset, from, to, size)
    10: (_c, _skb, off, from, to, size) => csumReplace(packet(), off, from, to, size),
    // bpf_l4_csum_replace(skb, offset, from, to, flags): the low 4 bits of flags are the size
    11: (_c, _skb, off, from, to, flags) => csumReplace(packet(), off, from, to, flags & 0xfn),
    // bpf_skb_load_bytes(skb, offset, to, len)
    26: (c, _skb, off, to, len) => loadBytes(c, packet(), off, to, len),
  };
  return {
    r1,
    packet,
    output: () => {
      const out = Uint8Array.from(buf);
      if (!l2) out.fill(0, 0, start);
      return out;
    },
    helpers,
  };
}

function xdpContext(frame: Uint8Array, mem: AddressSpace): PacketContext {
  const buf = new Uint8Array(XDP_PACKET_HEADROOM + frame.length);
  buf.set(frame, XDP_PACKET_HEADROOM);
  const base = mem.map('packet', buf, { writable: true, name: 'packet' });
  let start = XDP_PACKET_HEADROOM;
  const end = buf.length;
  const ctx = new Uint8Array(XDP.size);
  const view = new DataView(ctx.buffer);
  view.setUint32(XDP.ingress_ifindex, LOOPBACK_IFINDEX, true);
  const fields = new Map<number, () => bigint>([
    [XDP.data, () => base + BigInt(start)],
    [XDP.data_end, () => base + BigInt(end)],
    [XDP.data_meta, () => base + BigInt(start)],
  ]);
  const r1 = mem.map('ctx', ctx, { writable: false, name: 'ctx (xdp_md)', fields });
  const packet = (): Uint8Array => buf.subarray(start, end);
  return {
    r1,
    packet,
    output: () => Uint8Array.from(packet()),
    helpers: {
      // bpf_xdp_adjust_head(xdp_md, delta): move data within the headroom, keep >= ETH_HLEN
      44: (_c, _ctx, delta) => {
        const next = start + Number(BigInt.asIntN(32, delta));
        if (next < 0 || end - next < ETH_HLEN) return EINVAL;
        start = next;
        return 0n;
      },
      // bpf_xdp_load_bytes(xdp_md, offset, buf, len)
      189: (c, _ctx, off, to, len) => loadBytes(c, packet(), off, to, len),
    },
  };
}

const EFAULT = BigInt.asUintN(64, -14n);
const EINVAL = BigInt.asUintN(64, -22n);

function loadBytes(c: HostContext, p: Uint8Array, off: bigint, to: bigint, len: bigint): bigint {
  const dst = c.mem.slice(to, Number(len), c.insn);
  if (off + len > BigInt(p.length)) {
    dst.fill(0);
    return EFAULT;
  }
  dst.set(p.subarray(Number(off), Number(off + len)));
  return 0n;
}

/**
 * RFC 1624 incremental update of the 16-bit ones'-complement checksum at `off`
 * (net/core/filter.c bpf_l3_csum_replace): `from`/`to` are 2- or 4-byte values as loaded from
 * the packet, or with size 0 `to` is a checksum difference (from bpf_csum_diff).
 */
function csumReplace(p: Uint8Array, off: bigint, from: bigint, to: bigint, size: bigint): bigint {
  const o = Number(off);
  if (size !== 0n && size !== 2n && size !== 4n) return EINVAL;
  if (size === 0n && from !== 0n) return EINVAL;
  if (off < 0n || o + 2 > p.length) return EFAULT;
  // values sit in memory in network order and were loaded little-endian: swap each word back
  const sw = (w: number): number => ((w & 0xff) << 8) | (w >> 8);
  const words = (v: bigint, n: number): number[] => (n === 2 ? [sw(Number(v & 0xffffn))] : [sw(Number(v & 0xffffn)), sw(Number((v >> 16n) & 0xffffn))]);
  let sum = ~u16be(p, o) & 0xffff;
  if (size === 0n) {
    // a 32-bit partial sum in memory order
    const d = Number(to & 0xffffffffn);
    sum += sw(d & 0xffff) + sw(d >>> 16);
  } else {
    for (const w of words(from, Number(size))) sum += ~w & 0xffff;
    for (const w of words(to, Number(size))) sum += w;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const res = ~sum & 0xffff;
  p[o] = res >> 8;
  p[o + 1] = res & 0xff;
  return 0n;
}
