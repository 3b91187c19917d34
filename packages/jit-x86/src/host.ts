/**
 * The host side of a native run beyond plain memory (Node only, used by node.ts): maps (array,
 * percpu_array as one CPU, hash) kept in native memory with the map helpers, and packet
 * contexts (socket filter, tc, XDP) laid out as the kernel's BPF_PROG_TEST_RUN and @bpf/vm
 * (packages/vm/src/context.ts) lay them out, with their packet helpers. Everything here works
 * on plain byte views of memory the runner mapped, so the addresses the program sees are real.
 *
 * The context and the packet live below 2 GiB (the runner maps them with MAP_32BIT), so the
 * u32 data / data_end / data_meta fields of `__sk_buff` and `xdp_md` hold whole pointers: the
 * program's 32-bit loads of them zero-extend to the 64-bit packet pointers the kernel's
 * context rewrite would give, without rewriting the program.
 */
import type { MapDef } from '@bpf/isa';

/** Native memory the runner mapped: its address, and a view of its bytes. */
export interface Region {
  readonly at: bigint;
  readonly bytes: Uint8Array;
}

/** A helper argument as native code passed it: the register value, and the bytes it points to. */
export interface HostArg {
  readonly v: bigint;
  bytes(len: number): Uint8Array;
}

/** A built-in host function: r1..r5 (pointer arguments readable and writable). */
export type HostFn = (...args: HostArg[]) => bigint;

export class NativeHostError extends Error {
  override readonly name = 'NativeHostError';
}

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const EFAULT = u64(-14n);
const EINVAL = u64(-22n);
const E2BIG = u64(-7n);
const EEXIST = u64(-17n);
const ENOENT = u64(-2n);

const isArrayMap = (t: string): boolean => /array/.test(t) && !/prog/.test(t);
const isHashMap = (t: string): boolean => /hash/.test(t);
const hexKey = (k: Uint8Array): string => Array.from(k, (b) => b.toString(16).padStart(2, '0')).join('');

interface MapSlot {
  readonly def: MapDef;
  /** Offsets in the data region: the handle the program holds, and the first value. */
  readonly handle: number;
  readonly values: number;
  readonly stride: number;
}

/** Where the prog arrays and maps of a run sit in its data region. */
export interface DataLayout {
  readonly size: number;
  /** Prog arrays by name: offset of `u32 max_entries, u32 pad, u64 entry[]`. */
  readonly tables: ReadonlyMap<string, { readonly at: number; readonly slots: number }>;
  readonly maps: readonly MapSlot[];
}

/**
 * Plan the data region: every prog array (the filled ones, then the prog-array maps nobody
 * filled, which stay empty), then each other map as a 16-byte handle followed by its values
 * (max_entries elements, each rounded up to 8 bytes).
 */
export function layoutData(progArrays: readonly (readonly [string, number])[], maps: readonly MapDef[]): DataLayout {
  const tables = new Map<string, { at: number; slots: number }>();
  let at = 0;
  const table = (name: string, slots: number): void => {
    tables.set(name, { at, slots });
    at += (8 + 8 * slots + 15) & ~15;
  };
  for (const [name, slots] of progArrays) table(name, slots);
  for (const m of maps) if (m.type === 'prog_array' && !tables.has(m.name)) table(m.name, m.maxEntries);
  const slots: MapSlot[] = [];
  for (const def of maps) {
    if (tables.has(def.name)) continue;
    if (!isArrayMap(def.type) && !isHashMap(def.type)) throw new NativeHostError(`map ${def.name}: type ${def.type} is not provided by the native runner`);
    const stride = (def.valueSize + 7) & ~7;
    slots.push({ def, handle: at, values: at + 16, stride });
    at += 16 + ((stride * Math.max(1, def.maxEntries) + 15) & ~15);
  }
  return { size: at, tables, maps: slots };
}

/** The maps of a run, over the data region `layoutData` planned, with the map helpers. */
export class NativeMaps {
  private readonly byHandle = new Map<bigint, { slot: MapSlot; keys: Map<string, number>; free: number[] }>();

  constructor(
    private readonly layout: DataLayout,
    private readonly region: Region,
  ) {
    for (const slot of layout.maps) {
      this.byHandle.set(region.at + BigInt(slot.handle), { slot, keys: new Map(), free: Array.from({ length: slot.def.maxEntries }, (_, k) => slot.def.maxEntries - 1 - k) });
      // global data (.data, .rodata, .bss): the initial contents of element 0
      if (slot.def.data && isArrayMap(slot.def.type)) region.bytes.set(slot.def.data.subarray(0, slot.def.valueSize), slot.values);
    }
  }

  /** A map named in a relocation: by name, or `map#k` for the k-th map (an ld_imm64 without relocation). */
  private named(name: string, all: readonly MapDef[]): string {
    const k = /^map#(\d+)$/.exec(name);
    if (!k || this.layout.tables.has(name) || this.layout.maps.some((m) => m.def.name === name)) return name;
    return all[Number(k[1])]?.name ?? name;
  }

  /** The address a `map` relocation resolves to: a prog array's table or a map's handle. */
  handleOf(name: string, all: readonly MapDef[]): bigint {
    const n = this.named(name, all);
    const t = this.layout.tables.get(n);
    if (t) return this.region.at + BigInt(t.at);
    const m = this.layout.maps.find((x) => x.def.name === n);
    if (!m) throw new NativeHostError(`relocation to map ${name}, which the run was not given`);
    return this.region.at + BigInt(m.handle);
  }

  /** The address a `map_value` relocation resolves to (direct value access into an array's element 0). */
  valueOf(name: string, offset: number, all: readonly MapDef[]): bigint {
    const n = this.named(name, all);
    const m = this.layout.maps.find((x) => x.def.name === n);
    if (!m || !isArrayMap(m.def.type)) throw new NativeHostError(`direct value access to map ${name}, which is no array the run was given`);
    if (offset < 0 || offset >= m.stride * Math.max(1, m.def.maxEntries)) throw new NativeHostError(`direct value offset ${offset} is outside map ${name}`);
    return this.region.at + BigInt(m.values + offset);
  }

  /** bpf_map_lookup_elem (1), bpf_map_update_elem (2), bpf_map_delete_elem (3). */
  helpers(): Record<number, HostFn> {
    const valueAt = (slot: MapSlot, k: number): bigint => this.region.at + BigInt(slot.values + k * slot.stride);
    const index = (key: Uint8Array): number => new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
    return {
      1: (map, key) => {
        const m = this.byHandle.get(map!.v);
        if (!m) return 0n;
        const k = m.slot.def.keySize;
        if (isArrayMap(m.slot.def.type)) {
          const idx = index(key!.bytes(4));
          return idx < m.slot.def.maxEntries ? valueAt(m.slot, idx) : 0n;
        }
        const s = m.keys.get(hexKey(key!.bytes(k)));
        return s === undefined ? 0n : valueAt(m.slot, s);
      },
      2: (map, key, value, flags) => {
        const m = this.byHandle.get(map!.v);
        if (!m) return EINVAL;
        const { def } = m.slot;
        const src = value!.bytes(def.valueSize);
        let s: number | undefined;
        if (isArrayMap(def.type)) {
          s = index(key!.bytes(4));
          if (s >= def.maxEntries) return E2BIG;
          if (flags!.v === 1n) return EEXIST; // BPF_NOEXIST on an array
        } else {
          const k = hexKey(key!.bytes(def.keySize));
          s = m.keys.get(k);
          if (flags!.v === 1n && s !== undefined) return EEXIST;
          if (flags!.v === 2n && s === undefined) return ENOENT; // BPF_EXIST
          if (s === undefined) {
            s = m.free.pop();
            if (s === undefined) return E2BIG;
            m.keys.set(k, s);
          }
        }
        this.region.bytes.set(src, m.slot.values + s * m.slot.stride);
        return 0n;
      },
      3: (map, key) => {
        const m = this.byHandle.get(map!.v);
        if (!m || isArrayMap(m.slot.def.type)) return EINVAL;
        const k = hexKey(key!.bytes(m.slot.def.keySize));
        const s = m.keys.get(k);
        if (s === undefined) return ENOENT;
        m.keys.delete(k);
        m.free.push(s);
        return 0n;
      },
    };
  }
}

export type PacketProgType = 'socket_filter' | 'sched_cls' | 'sched_act' | 'xdp';
export const PACKET_PROG_TYPES: readonly PacketProgType[] = ['socket_filter', 'sched_cls', 'sched_act', 'xdp'];

const ETH_HLEN = 14;
const XDP_PACKET_HEADROOM = 256;
const LOOPBACK_IFINDEX = 1;
const PACKET_OTHERHOST = 3;
/** `struct __sk_buff` and `struct xdp_md` offsets (include/uapi/linux/bpf.h). */
const SKB = { len: 0, pkt_type: 4, protocol: 16, ifindex: 40, data: 76, data_end: 80, data_meta: 140, size: 192 } as const;
const XDP = { data: 0, data_end: 4, data_meta: 8, ingress_ifindex: 12, size: 24 } as const;
/** Where the packet buffer starts in the low region, past the context. */
const PACKET_AT = 256;

/** Bytes of low region a packet context over `frameLen` bytes needs. */
export const contextSize = (frameLen: number): number => PACKET_AT + XDP_PACKET_HEADROOM + frameLen;

export interface NativeContext {
  /** What r1 holds: the context's address. */
  readonly r1: bigint;
  /** The bytes ld_abs/ld_ind and the packet helpers see (skb->data .. end, or xdp data .. data_end), live. */
  packet(): Uint8Array;
  /** The packet as BPF_PROG_TEST_RUN returns it in data_out. */
  output(): Uint8Array;
  /** Helpers acting on this context. */
  readonly helpers: Readonly<Record<number, HostFn>>;
}

/** Lay out the context of a packet program and a copy of `frame` in `low` (below 4 GiB). */
export function packetContext(type: PacketProgType, frame: Uint8Array, low: Region): NativeContext {
  if (low.at + BigInt(contextSize(frame.length)) > 0xffffffffn) throw new NativeHostError('the packet context must sit below 4 GiB');
  low.bytes.fill(0, 0, contextSize(frame.length));
  const view = new DataView(low.bytes.buffer, low.bytes.byteOffset, low.bytes.byteLength);
  const addr = (off: number): number => Number(low.at) + PACKET_AT + off;
  if (type === 'xdp') {
    const buf = low.bytes.subarray(PACKET_AT, PACKET_AT + XDP_PACKET_HEADROOM + frame.length);
    buf.set(frame, XDP_PACKET_HEADROOM);
    let start = XDP_PACKET_HEADROOM;
    const end = buf.length;
    const place = (): void => {
      view.setUint32(XDP.data, addr(start), true);
      view.setUint32(XDP.data_meta, addr(start), true);
    };
    place();
    view.setUint32(XDP.data_end, addr(end), true);
    view.setUint32(XDP.ingress_ifindex, LOOPBACK_IFINDEX, true);
    const packet = (): Uint8Array => buf.subarray(start, end);
    return {
      r1: low.at,
      packet,
      output: () => Uint8Array.from(packet()),
      helpers: {
        // bpf_xdp_adjust_head(xdp_md, delta): data moves within the headroom, >= ETH_HLEN remain
        44: (_ctx, delta) => {
          const next = start + Number(BigInt.asIntN(32, delta!.v));
          if (next < 0 || end - next < ETH_HLEN) return EINVAL;
          start = next;
          place();
          return 0n;
        },
        // bpf_xdp_load_bytes(xdp_md, offset, buf, len)
        189: (_ctx, off, to, len) => loadBytes(packet(), off!.v, to!, len!.v),
      },
    };
  }
  const l2 = type !== 'socket_filter';
  const buf = low.bytes.subarray(PACKET_AT, PACKET_AT + frame.length);
  buf.set(frame);
  // a socket filter sees the skb after eth_type_trans: data past the Ethernet header
  const start = l2 ? 0 : Math.min(ETH_HLEN, frame.length);
  view.setUint32(SKB.len, frame.length - start, true);
  view.setUint32(SKB.pkt_type, PACKET_OTHERHOST, true);
  // skb->protocol is big-endian: the Ethernet type as it sits in the frame
  if (frame.length >= ETH_HLEN) view.setUint16(SKB.protocol, frame[12]! | (frame[13]! << 8), true);
  view.setUint32(SKB.ifindex, LOOPBACK_IFINDEX, true);
  if (l2) {
    view.setUint32(SKB.data, addr(0), true);
    view.setUint32(SKB.data_end, addr(frame.length), true);
    view.setUint32(SKB.data_meta, addr(0), true);
  }
  const packet = (): Uint8Array => buf.subarray(start);
  return {
    r1: low.at,
    packet,
    output: () => {
      const out = Uint8Array.from(buf);
      if (!l2) out.fill(0, 0, start); // the kernel pushes the Ethernet header back cleared
      return out;
    },
    helpers: {
      // bpf_skb_store_bytes(skb, offset, from, len, flags)
      9: (_skb, off, from, len) => {
        const p = packet();
        if (off!.v + len!.v > BigInt(p.length) || len!.v > 0xffffn) return EFAULT;
        p.set(from!.bytes(Number(len!.v)), Number(off!.v));
        return 0n;
      },
      // bpf_l3_csum_replace(skb, offset, from, to, size)
      10: (_skb, off, from, to, size) => csumReplace(packet(), off!.v, from!.v, to!.v, size!.v),
      // bpf_l4_csum_replace(skb, offset, from, to, flags): the low 4 bits of flags are the size
      11: (_skb, off, from, to, flags) => csumReplace(packet(), off!.v, from!.v, to!.v, flags!.v & 0xfn),
      // bpf_skb_load_bytes(skb, offset, to, len)
      26: (_skb, off, to, len) => loadBytes(packet(), off!.v, to!, len!.v),
    },
  };
}

function loadBytes(p: Uint8Array, off: bigint, to: HostArg, len: bigint): bigint {
  const n = Number(len & 0xffffffffn);
  const dst = n ? to.bytes(n) : new Uint8Array(0);
  if (off + BigInt(n) > BigInt(p.length)) {
    dst.fill(0);
    return EFAULT;
  }
  dst.set(p.subarray(Number(off), Number(off) + n));
  return 0n;
}

/**
 * RFC 1624 incremental update of the 16-bit ones'-complement checksum at `off`: `from` / `to`
 * are 2- or 4-byte values as loaded from the packet (little-endian loads of network-order
 * bytes), or with size 0 `to` is a 32-bit checksum difference.
 */
function csumReplace(p: Uint8Array, off: bigint, from: bigint, to: bigint, size: bigint): bigint {
  if (size !== 0n && size !== 2n && size !== 4n) return EINVAL;
  if (size === 0n && from !== 0n) return EINVAL;
  if (off + 2n > BigInt(p.length)) return EFAULT;
  const o = Number(off);
  const swap = (w: number): number => ((w & 0xff) << 8) | ((w >> 8) & 0xff);
  const halves = (v: bigint, n: bigint): number[] => (n === 2n ? [Number(v & 0xffffn)] : [Number(v & 0xffffn), Number((v >> 16n) & 0xffffn)]);
  let sum = ~((p[o]! << 8) | p[o + 1]!) & 0xffff;
  if (size === 0n) for (const h of halves(to, 4n)) sum += swap(h);
  else {
    for (const h of halves(from, size)) sum += ~swap(h) & 0xffff;
    for (const h of halves(to, size)) sum += swap(h);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const res = ~sum & 0xffff;
  p[o] = res >> 8;
  p[o + 1] = res & 0xff;
  return 0n;
}
