/**
 * @bpf/vm's AddressSpace over WebAssembly linear memory, so the interpreter's host functions
 * (maps, ring buffers, packet contexts, trace_printk) run unchanged against compiled code.
 *
 * Regions the runner allocates (stacks, the `mem` buffer, a plain context) live only in linear
 * memory. Regions mapped by others (map values, packets, ring-buffer records) keep the bytes
 * their owner holds: linear memory is the truth while compiled code runs, the owner's bytes while
 * a host function runs, and the two are copied across at every host call (`enterHost` /
 * `leaveHost`).
 */
import { AddressSpace, VmError, type Region, type RegionKind } from '@bpf/vm';
import { BIAS, ENTRY, HEAP, MAX_FRAMES, MAX_REGIONS, PAGE, STACK, STACKS, TABLE } from './layout.js';

/** The WebAssembly memory object, as far as this package uses it. */
export interface LinearMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface WRegion {
  readonly id: number;
  readonly kind: RegionKind;
  readonly name: string;
  readonly start: number;
  readonly length: number;
  readonly writable: boolean;
  readonly fields?: ReadonlyMap<number, () => bigint>;
  /** The owner's bytes, for regions mapped by others. */
  readonly ext?: Uint8Array;
}

const OFFSET_MASK = 0xffffffffn;

/** The eight frame stacks: ids 1..8 at STACKS, as the compiled code assumes; the same in every run. */
const STACK_REGIONS: readonly WRegion[] = Array.from({ length: MAX_FRAMES }, (_, d) => ({ id: d + 1, kind: 'stack', name: `stack of frame ${d}`, start: STACKS + d * STACK, length: STACK, writable: true }));
/** Their region-table entries (ids 0..8), written at the start of every run. */
const STACK_ENTRIES = new Uint8Array(ENTRY * (MAX_FRAMES + 1));
{
  const v = new DataView(STACK_ENTRIES.buffer);
  for (const r of STACK_REGIONS) {
    v.setUint32(r.id * ENTRY, r.start, true);
    v.setInt32(r.id * ENTRY + 4, r.length, true);
    v.setInt32(r.id * ENTRY + 8, r.length, true);
  }
}

/**
 * What runs over one memory share: the highest region id the last run used (what the next run
 * clears) and views of the current buffer (a grow replaces it).
 */
interface MemoryState {
  used: number;
  u8: Uint8Array;
  dv: DataView;
}
const memoryStates = new WeakMap<LinearMemory, MemoryState>();

export class WasmSpace extends AddressSpace {
  private readonly wregions: WRegion[] = [];
  private top = HEAP;
  private inHost = false;
  private readonly shared: MemoryState;
  private u8: Uint8Array;
  private dv: DataView;

  constructor(private readonly memory: LinearMemory) {
    super();
    let shared = memoryStates.get(memory);
    // only alloc() grows the memory, and it refreshes these views; a view of a buffer that a grow
    // elsewhere replaced has length 0
    if (shared === undefined || shared.u8.length === 0) {
      const used = shared?.used ?? MAX_FRAMES;
      memoryStates.set(memory, (shared = { used, u8: new Uint8Array(memory.buffer), dv: new DataView(memory.buffer) }));
    }
    this.shared = shared;
    this.u8 = shared.u8;
    this.dv = shared.dv;
    // a previous run's table entries past the stacks
    if (shared.used > MAX_FRAMES) this.u8.fill(0, TABLE + ENTRY * (MAX_FRAMES + 1), TABLE + ENTRY * Math.min(shared.used + 1, MAX_REGIONS));
    shared.used = 0;
  }

  /** Current views of linear memory (a grow replaces the buffer). */
  bytes(): Uint8Array {
    // only alloc() grows the memory during a run, and it refreshes the views
    return this.u8;
  }

  view(): DataView {
    return this.dv;
  }

  /** The eight frame stacks, zeroed: ids 1..8 at STACKS, as the compiled code assumes. */
  mapStacks(): void {
    const u8 = this.bytes();
    u8.fill(0, STACKS, STACKS + MAX_FRAMES * STACK);
    // written every run: code without checks may have stored anywhere in linear memory
    u8.set(STACK_ENTRIES, TABLE);
    for (const r of STACK_REGIONS) this.wregions[r.id - 1] = r;
    if (this.shared.used < MAX_FRAMES) this.shared.used = MAX_FRAMES;
  }

  /** A region only linear memory holds (a copy of `init`). */
  own(kind: RegionKind, init: Uint8Array, opts: { writable?: boolean; name?: string } = {}): bigint {
    const start = this.alloc(init.length);
    this.bytes().set(init, start);
    return this.add({ id: this.wregions.length + 1, kind, name: opts.name ?? kind, start, length: init.length, writable: opts.writable ?? true });
  }

  override map(kind: RegionKind, bytes: Uint8Array, opts: { writable?: boolean; name?: string; fields?: ReadonlyMap<number, () => bigint> } = {}): bigint {
    const start = this.alloc(bytes.length);
    this.bytes().set(bytes, start);
    return this.add({ id: this.wregions.length + 1, kind, name: opts.name ?? kind, start, length: bytes.length, writable: opts.writable ?? true, ext: bytes, ...(opts.fields ? { fields: opts.fields } : {}) });
  }

  private alloc(length: number): number {
    const start = this.top;
    this.top = (start + length + 7) & ~7;
    const need = this.top - this.u8.length;
    if (need > 0) {
      this.memory.grow(Math.ceil(need / PAGE));
      this.u8 = this.shared.u8 = new Uint8Array(this.memory.buffer);
      this.dv = this.shared.dv = new DataView(this.memory.buffer);
    }
    return start;
  }

  private add(r: WRegion): bigint {
    if (r.id >= MAX_REGIONS) throw new VmError('BAD_POINTER', `more than ${MAX_REGIONS - 1} memory regions`, 0);
    this.wregions[r.id - 1] = r;
    if (r.id > this.shared.used) this.shared.used = r.id;
    const v = this.view();
    const e = TABLE + r.id * ENTRY;
    v.setUint32(e, r.start, true);
    v.setInt32(e + 4, r.fields ? -1 : r.length, true);
    v.setInt32(e + 8, r.writable ? r.length : -1, true);
    return (BigInt(r.id) << 32n) + BigInt(BIAS + r.start);
  }

  /** Id of the first region with host-answered fields (a packet program's context), or 0. */
  fieldsRegion(): number {
    return this.wregions.find((r) => r.fields !== undefined)?.id ?? 0;
  }

  /** Linear address of a region's first byte, by id. */
  startOf(id: number): number {
    return this.wregions[id - 1]!.start;
  }

  /** Before a host function runs: the owners' bytes take what compiled code wrote. */
  enterHost(): void {
    const u8 = this.bytes();
    for (const r of this.wregions) if (r.ext !== undefined && r.length > 0) r.ext.set(u8.subarray(r.start, r.start + r.length));
    this.inHost = true;
  }

  /** After it: linear memory takes what the host wrote (regions mapped meanwhile included). */
  leaveHost(): void {
    this.inHost = false;
    const u8 = this.bytes();
    for (const r of this.wregions) if (r.ext !== undefined && r.length > 0) u8.set(r.ext, r.start);
  }

  /** The linear address of bytes inside a region the host maps (a packet's live view). */
  linearOf(view: Uint8Array): number | undefined {
    for (const r of this.wregions) if (r.ext !== undefined && r.ext.buffer === view.buffer) return r.start + (view.byteOffset - r.ext.byteOffset);
    return undefined;
  }

  private current(r: WRegion): Uint8Array {
    return this.inHost && r.ext !== undefined ? r.ext : this.bytes().subarray(r.start, r.start + r.length);
  }

  /** The same checks and messages as @bpf/vm's AddressSpace. */
  override resolve(addr: bigint, size: number, write: boolean, insn: number): { region: Region; offset: number } {
    const r = this.find(addr, size, write, insn);
    const bytes = this.current(r.region);
    return {
      region: { id: r.region.id, kind: r.region.kind, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), writable: r.region.writable, name: r.region.name, ...(r.region.fields ? { fields: r.region.fields } : {}) },
      offset: r.offset,
    };
  }

  private find(addr: bigint, size: number, write: boolean, insn: number): { region: WRegion; offset: number } {
    const id = Number((addr >> 32n) & 0xffffn);
    const region = addr >> 48n === 0n ? this.wregions[id - 1] : undefined;
    if (region === undefined) throw new VmError('BAD_POINTER', `${write ? 'write to' : 'read from'} 0x${addr.toString(16)}, which is not a pointer into any region`, insn, addr);
    const offset = Number(addr & OFFSET_MASK) - BIAS - region.start;
    if (offset < 0 || offset + size > region.length)
      throw new VmError('OUT_OF_BOUNDS', `${write ? 'write' : 'read'} of ${size} bytes at ${region.name}+${offset} (0x${addr.toString(16)}) is outside its ${region.length} bytes`, insn, addr);
    if (write && !region.writable) throw new VmError('READ_ONLY', `write to read-only ${region.name}+${offset}`, insn, addr);
    return { region, offset };
  }

  override load(addr: bigint, size: 1 | 2 | 4 | 8, insn: number): bigint {
    const { region, offset } = this.find(addr, size, false, insn);
    const f = region.fields?.get(offset);
    if (f !== undefined) return f();
    const b = this.current(region);
    const v = new DataView(b.buffer, b.byteOffset + offset, size);
    return size === 1 ? BigInt(v.getUint8(0)) : size === 2 ? BigInt(v.getUint16(0, true)) : size === 4 ? BigInt(v.getUint32(0, true)) : v.getBigUint64(0, true);
  }

  override store(addr: bigint, size: 1 | 2 | 4 | 8, value: bigint, insn: number): void {
    const { region, offset } = this.find(addr, size, true, insn);
    const b = this.current(region);
    const v = new DataView(b.buffer, b.byteOffset + offset, size);
    if (size === 1) v.setUint8(0, Number(value & 0xffn));
    else if (size === 2) v.setUint16(0, Number(value & 0xffffn), true);
    else if (size === 4) v.setUint32(0, Number(value & 0xffffffffn), true);
    else v.setBigUint64(0, BigInt.asUintN(64, value), true);
  }

  override slice(addr: bigint, len: number, insn: number): Uint8Array {
    if (len === 0) return new Uint8Array(0);
    const { region, offset } = this.find(addr, len, false, insn);
    return this.current(region).subarray(offset, offset + len);
  }

  override cstring(addr: bigint, max: number, insn: number): string {
    const { region, offset } = this.find(addr, 1, false, insn);
    const b = this.current(region);
    const end = Math.min(b.length, offset + max);
    let k = offset;
    while (k < end && b[k] !== 0) k++;
    return new TextDecoder().decode(b.subarray(offset, k));
  }
}
