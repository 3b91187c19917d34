/** Maps through the kernel: create, update, lookup, delete, iterate; close without leaks. */
import { readFileSync } from 'node:fs';
import { addr, bpf, bpfRaw, closeFd, KernelError } from './syscall.js';

/** `enum bpf_map_type` (include/uapi/linux/bpf.h), by the names libbpf and bpftool use. */
export const MAP_TYPE = {
  hash: 1,
  array: 2,
  prog_array: 3,
  perf_event_array: 4,
  percpu_hash: 5,
  percpu_array: 6,
  stack_trace: 7,
  cgroup_array: 8,
  lru_hash: 9,
  lru_percpu_hash: 10,
  lpm_trie: 11,
  array_of_maps: 12,
  hash_of_maps: 13,
  devmap: 14,
  sockmap: 15,
  cpumap: 16,
  xskmap: 17,
  sockhash: 18,
  cgroup_storage: 19,
  reuseport_sockarray: 20,
  percpu_cgroup_storage: 21,
  queue: 22,
  stack: 23,
  sk_storage: 24,
  devmap_hash: 25,
  struct_ops: 26,
  ringbuf: 27,
  inode_storage: 28,
  task_storage: 29,
  bloom_filter: 30,
  user_ringbuf: 31,
  cgrp_storage: 32,
  arena: 33,
} as const;
export type MapTypeName = keyof typeof MAP_TYPE;

export interface MapSpec {
  readonly type: MapTypeName;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
  readonly name?: string;
  /** Map-in-map: an fd of a map shaped like the inner maps (a template the kernel copies). */
  readonly innerMapFd?: number;
  /** BTF describing the key and value (`btf_fd`, `btf_key_type_id`, `btf_value_type_id`): special value fields such as `struct bpf_spin_lock` need it. */
  readonly btf?: { readonly fd: number; readonly keyTypeId: number; readonly valueTypeId: number };
  /** `map_extra` (a u64): an arena's start address in user space, a bloom filter's hash count. */
  readonly mapExtra?: bigint;
}

export class KernelMap {
  private open = true;
  constructor(
    readonly fd: number,
    readonly spec: MapSpec,
  ) {}

  private attr(key: Uint8Array, value?: Buffer, flags = 0n): Buffer {
    if (key.length !== this.spec.keySize) throw new KernelError('MAP_LOOKUP_ELEM', 22, `key is ${key.length} bytes, the map's are ${this.spec.keySize}`);
    const a = Buffer.alloc(32);
    a.writeUInt32LE(this.fd, 0);
    const k = Buffer.from(key);
    // bpf_attr holds only raw addresses: keep the buffers reachable as long as the attr is
    (a as Buffer & { keep?: unknown[] }).keep = [k, value];
    a.writeBigUInt64LE(addr(k), 8);
    if (value) a.writeBigUInt64LE(addr(value), 16);
    a.writeBigUInt64LE(flags, 24);
    return a;
  }

  /** The value for a key, or undefined when absent. Per-CPU maps return every CPU's value concatenated. */
  lookup(key: Uint8Array): Uint8Array | undefined {
    const v = Buffer.alloc(this.valueBytes());
    const { result, errno } = bpfRaw('MAP_LOOKUP_ELEM', this.attr(key, v));
    if (result < 0) {
      if (errno === 2) return undefined;
      throw new KernelError('MAP_LOOKUP_ELEM', errno, `map fd ${this.fd}`);
    }
    return new Uint8Array(v);
  }

  update(key: Uint8Array, value: Uint8Array, flags: 'any' | 'noexist' | 'exist' = 'any'): void {
    const v = Buffer.alloc(this.valueBytes());
    Buffer.from(value).copy(v);
    bpf('MAP_UPDATE_ELEM', this.attr(key, v, BigInt(['any', 'noexist', 'exist'].indexOf(flags))), `map fd ${this.fd}`);
  }

  delete(key: Uint8Array): boolean {
    const { result, errno } = bpfRaw('MAP_DELETE_ELEM', this.attr(key));
    if (result < 0 && errno !== 2) throw new KernelError('MAP_DELETE_ELEM', errno, `map fd ${this.fd}`);
    return result >= 0;
  }

  /** Every key, in the kernel's iteration order (BPF_MAP_GET_NEXT_KEY). */
  *keys(): Generator<Uint8Array> {
    let prev: Buffer | undefined;
    for (;;) {
      const next = Buffer.alloc(this.spec.keySize);
      const a = Buffer.alloc(32);
      a.writeUInt32LE(this.fd, 0);
      if (prev) a.writeBigUInt64LE(addr(prev), 8);
      a.writeBigUInt64LE(addr(next), 16);
      const { result, errno } = bpfRaw('MAP_GET_NEXT_KEY', a);
      if (result < 0) {
        if (errno === 2) return;
        throw new KernelError('MAP_GET_NEXT_KEY', errno, `map fd ${this.fd}`);
      }
      yield new Uint8Array(next);
      prev = next;
    }
  }

  private valueBytes(): number {
    if (this.spec.type.includes('percpu')) return ((this.spec.valueSize + 7) & ~7) * possibleCpus();
    return this.spec.valueSize;
  }

  /** BPF_MAP_FREEZE: user space may no longer write (libbpf freezes `.rodata` after filling it). */
  freeze(): void {
    const a = Buffer.alloc(8);
    a.writeUInt32LE(this.fd, 0);
    bpf('MAP_FREEZE', a, `freeze map fd ${this.fd}`);
  }

  close(): void {
    if (this.open) closeFd(this.fd);
    this.open = false;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The number of possible CPUs (`/sys/devices/system/cpu/possible`, e.g. `0-3` or `0,2-5`):
 * how many values the kernel keeps per key of a per-CPU map. 1 when the file cannot be read.
 */
let cpus: number | undefined;
export function possibleCpus(): number {
  if (cpus !== undefined) return cpus;
  let text = '0';
  try {
    text = readFileSync('/sys/devices/system/cpu/possible', 'utf8');
  } catch {
    // no sysfs: one CPU
  }
  let n = 0;
  for (const part of text.trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a! + 1;
  }
  return (cpus = n);
}

/** What the kernel says of a map it holds (`struct bpf_map_info`, BPF_OBJ_GET_INFO_BY_FD): what `bpftool map show` prints. */
export interface MapInfo {
  /** The map type, as the kernel's `bpf_map_type` without the prefix (or its number when this package does not name it). */
  readonly type: MapTypeName | number;
  readonly id: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly name: string;
  /** The id of the BTF the map's key and value types are in; 0 when created without. */
  readonly btfId: number;
  readonly btfKeyTypeId: number;
  readonly btfValueTypeId: number;
  readonly mapExtra: bigint;
}

const MAP_TYPE_NAMES = new Map<number, MapTypeName>(Object.entries(MAP_TYPE).map(([n, v]) => [v, n as MapTypeName]));

/** BPF_OBJ_GET_INFO_BY_FD on a map fd (include/uapi/linux/bpf.h: struct bpf_map_info). */
export function mapInfo(fd: number): MapInfo {
  const info = Buffer.alloc(88);
  const attr = Buffer.alloc(16);
  attr.writeUInt32LE(fd, 0);
  attr.writeUInt32LE(info.length, 4);
  attr.writeBigUInt64LE(addr(info), 8);
  (attr as Buffer & { keep?: unknown }).keep = info;
  bpf('OBJ_GET_INFO_BY_FD', attr, `map fd ${fd}`);
  const type = info.readUInt32LE(0);
  const name = info.subarray(24, 40);
  const end = name.indexOf(0);
  return {
    type: MAP_TYPE_NAMES.get(type) ?? type,
    id: info.readUInt32LE(4),
    keySize: info.readUInt32LE(8),
    valueSize: info.readUInt32LE(12),
    maxEntries: info.readUInt32LE(16),
    flags: info.readUInt32LE(20),
    name: name.subarray(0, end < 0 ? 16 : end).toString('latin1'),
    btfId: info.readUInt32LE(64),
    btfKeyTypeId: info.readUInt32LE(68),
    btfValueTypeId: info.readUInt32LE(72),
    mapExtra: info.readBigUInt64LE(80),
  };
}

export function createMap(spec: MapSpec): KernelMap {
  const type = MAP_TYPE[spec.type] as number | undefined;
  if (type === undefined) throw new KernelError('MAP_CREATE', 22, `unknown map type '${String(spec.type)}'`);
  const noKV = spec.type === 'ringbuf' || spec.type === 'user_ringbuf';
  const a = Buffer.alloc(72);
  a.writeUInt32LE(type, 0);
  a.writeUInt32LE(noKV ? 0 : spec.keySize, 4);
  a.writeUInt32LE(noKV ? 0 : spec.valueSize, 8);
  a.writeUInt32LE(spec.maxEntries, 12);
  a.writeUInt32LE(spec.flags ?? 0, 16);
  if (spec.innerMapFd !== undefined) a.writeUInt32LE(spec.innerMapFd, 20);
  if (spec.name) Buffer.from(spec.name.replace(/[^\w.]/g, '_').slice(0, 15)).copy(a, 28);
  if (spec.btf) {
    a.writeUInt32LE(spec.btf.fd, 48);
    a.writeUInt32LE(spec.btf.keyTypeId, 52);
    a.writeUInt32LE(spec.btf.valueTypeId, 56);
  }
  // map_extra: union bpf_attr offset 64 (after btf_vmlinux_value_type_id)
  if (spec.mapExtra !== undefined) a.writeBigUInt64LE(BigInt.asUintN(64, spec.mapExtra), 64);
  const fd = bpf('MAP_CREATE', a, `create ${spec.type} map`);
  return new KernelMap(fd, spec);
}
