/**
 * What the host supplies to a run: maps, helpers and kfuncs as typed JS functions, and the
 * standard set every engine (interpreter, x86-64 JIT, arm64 JIT) implements identically so the
 * conformance suite gives the same r0 everywhere.
 */
import type { MapDef } from '@bpf/isa';
import type { AddressSpace } from './memory.js';

/** What a helper or kfunc sees of the running program. */
export interface HostContext {
  readonly mem: AddressSpace;
  /** Instruction index of the call. */
  readonly insn: number;
  /** Lines written by bpf_trace_printk. */
  readonly printk: string[];
  /** Map behind a map pointer, if it is one. */
  mapOf(ptr: bigint): VmMap | undefined;
}

export type Helper = (ctx: HostContext, r1: bigint, r2: bigint, r3: bigint, r4: bigint, r5: bigint) => bigint;
export type Kfunc = (ctx: HostContext, args: readonly bigint[]) => bigint;

/** An in-memory map: array (elements mapped on first use), hash, prog array or ring buffer. */
export class VmMap {
  readonly def: MapDef;
  /** Address of the handle the program holds (from ld_imm64 with a map pseudo source). */
  handle = 0n;
  /** Array elements, mapped on first use: a run touches few of a large map's entries. */
  private readonly array: (bigint | undefined)[] = [];
  private readonly hash = new Map<string, bigint>();
  private readonly space: AddressSpace;
  /** Ring buffer records (ringbuf maps). */
  readonly records: Uint8Array[] = [];

  constructor(def: MapDef, space: AddressSpace) {
    this.def = def;
    this.space = space;
    this.handle = space.map('host', new Uint8Array(8), { writable: false, name: `map ${def.name}` });
  }

  /** The address of array element `idx`, or undefined past max_entries. */
  private element(idx: number): bigint | undefined {
    if (idx >= this.def.maxEntries) return undefined;
    let at = this.array[idx];
    if (at === undefined) {
      const init = idx === 0 && this.def.data ? Uint8Array.from(this.def.data) : new Uint8Array(this.def.valueSize);
      at = this.space.map('map_value', init, { name: `${this.def.name}[${idx}]` });
      this.array[idx] = at;
    }
    return at;
  }

  get isArray(): boolean {
    return /array/.test(this.def.type) && !/prog/.test(this.def.type);
  }

  lookup(key: Uint8Array): bigint {
    if (this.isArray) {
      const idx = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
      return this.element(idx) ?? 0n;
    }
    return this.hash.get(hexKey(key)) ?? 0n;
  }

  update(key: Uint8Array, value: Uint8Array, flags: bigint): bigint {
    if (this.isArray) {
      const idx = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
      const at = this.element(idx);
      if (at === undefined) return -7n; // -E2BIG
      if (flags === 1n) return -17n; // BPF_NOEXIST on an array: -EEXIST
      this.space.slice(at, this.def.valueSize, 0).set(value);
      return 0n;
    }
    const k = hexKey(key);
    const existing = this.hash.get(k);
    if (flags === 1n && existing !== undefined) return -17n;
    if (flags === 2n && existing === undefined) return -2n;
    if (existing !== undefined) {
      this.space.slice(existing, this.def.valueSize, 0).set(value);
      return 0n;
    }
    if (this.hash.size >= this.def.maxEntries) return -7n;
    this.hash.set(k, this.space.map('map_value', Uint8Array.from(value), { name: `${this.def.name}{${k}}` }));
    return 0n;
  }

  delete(key: Uint8Array): bigint {
    if (this.isArray) return -22n; // -EINVAL
    return this.hash.delete(hexKey(key)) ? 0n : -2n;
  }

  /** Tail-call targets of a prog array: index -> program index in the host's list. */
  readonly progs = new Map<number, number>();
}

const hexKey = (k: Uint8Array): string => Array.from(k, (b) => b.toString(16).padStart(2, '0')).join('');

/** Ring buffer records reserved and not yet submitted or discarded, per run (address space). */
type Reservations = Map<bigint, { readonly map: VmMap; readonly bytes: Uint8Array }>;
const reservations = new WeakMap<AddressSpace, Reservations>();
function reservationsOf(mem: AddressSpace): Reservations {
  let r = reservations.get(mem);
  if (r === undefined) reservations.set(mem, (r = new Map() as Reservations));
  return r;
}

/** The fixed value `bpf_ktime_get_ns` returns, so runs are reproducible. */
export const KTIME_NS = 1_000_000_000n;

/** The standard helpers, by kernel id. */
export const STANDARD_HELPERS: Readonly<Record<number, Helper>> = {
  // bpf_map_lookup_elem(map, key)
  1: (c, map, key) => {
    const m = c.mapOf(map);
    return m ? m.lookup(c.mem.slice(key, m.def.keySize, c.insn)) : 0n;
  },
  // bpf_map_update_elem(map, key, value, flags)
  2: (c, map, key, value, flags) => {
    const m = c.mapOf(map);
    return m ? BigInt.asUintN(64, m.update(c.mem.slice(key, m.def.keySize, c.insn), c.mem.slice(value, m.def.valueSize, c.insn), flags)) : BigInt.asUintN(64, -22n);
  },
  // bpf_map_delete_elem(map, key)
  3: (c, map, key) => {
    const m = c.mapOf(map);
    return BigInt.asUintN(64, m ? m.delete(c.mem.slice(key, m.def.keySize, c.insn)) : -22n);
  },
  // bpf_ktime_get_ns()
  5: () => KTIME_NS,
  // bpf_trace_printk(fmt, fmt_size, ...): the format with %d/%u/%x/%llx/%s-free substitution
  6: (c, fmt, size, a, b, d) => {
    let s = new TextDecoder().decode(c.mem.slice(fmt, Number(size), c.insn)).replace(/\0.*$/s, '');
    const args = [a, b, d];
    s = s.replace(/%(?:ll|l)?([dux])/g, (_m, f: string) => {
      const v = args.shift() ?? 0n;
      return f === 'x' ? v.toString(16) : f === 'd' ? BigInt.asIntN(64, v).toString() : v.toString();
    });
    c.printk.push(s.replace(/\n$/, ''));
    return BigInt(s.length);
  },
  // bpf_get_prandom_u32(): deterministic
  7: () => 4n,
  // bpf_get_smp_processor_id()
  8: () => 0n,
  // bpf_ringbuf_reserve(ringbuf, size, flags): a record the program fills, then submits or discards
  131: (c, map, size) => {
    const m = c.mapOf(map);
    if (!m || m.def.type !== 'ringbuf' || size === 0n || size > BigInt(m.def.maxEntries)) return 0n;
    const bytes = new Uint8Array(Number(size));
    const at = c.mem.map('map_value', bytes, { name: `ringbuf ${m.def.name} record` });
    reservationsOf(c.mem).set(at, { map: m, bytes });
    return at;
  },
  // bpf_ringbuf_submit(data, flags)
  132: (c, data) => {
    const r = reservationsOf(c.mem).get(data);
    if (r) {
      r.map.records.push(Uint8Array.from(r.bytes));
      reservationsOf(c.mem).delete(data);
    }
    return 0n;
  },
  // bpf_ringbuf_discard(data, flags)
  133: (c, data) => {
    reservationsOf(c.mem).delete(data);
    return 0n;
  },
  // bpf_ringbuf_output(ringbuf, data, size, flags)
  130: (c, map, data, size) => {
    const m = c.mapOf(map);
    if (!m) return BigInt.asUintN(64, -22n);
    m.records.push(Uint8Array.from(c.mem.slice(data, Number(size), c.insn)));
    return 0n;
  },
} as Record<number, Helper>;

/**
 * Standard test kfuncs with 1..12 arguments. Every engine implements these identically; the
 * weighted sum catches an argument delivered to the wrong position.
 */
export const STANDARD_KFUNCS: Readonly<Record<string, Kfunc>> = {
  bpf_test_sum12: (_c, a) => BigInt.asUintN(64, a.reduce((x, y) => x + y, 0n)),
  bpf_test_weighted12: (_c, a) => BigInt.asUintN(64, a.reduce((x, y, k) => x + BigInt(k + 1) * y, 0n)),
  bpf_test_deref: (c, a) => c.mem.load(a[0]!, 8, c.insn),
};

/** `bpf_test_sumN` for any N in 1..12 is the sum of its N arguments. */
export function standardKfunc(name: string): Kfunc | undefined {
  const k = STANDARD_KFUNCS[name];
  if (k) return k;
  const m = /^bpf_test_(sum|weighted)(\d+)$/.exec(name);
  if (m && Number(m[2]) >= 1 && Number(m[2]) <= 12) return m[1] === 'sum' ? STANDARD_KFUNCS.bpf_test_sum12 : STANDARD_KFUNCS.bpf_test_weighted12;
  return undefined;
}
