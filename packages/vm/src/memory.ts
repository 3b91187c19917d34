/**
 * The interpreter's address space. A pointer is a plain u64 so programs can do arithmetic on
 * it: bits 32..47 hold a region id (1-based), bits 0..31 the offset inside the region. Every
 * access is checked against the region's length and permissions; a violation is a `VmError`
 * naming the instruction and the address.
 */
export type RegionKind = 'stack' | 'mem' | 'ctx' | 'packet' | 'map_value' | 'host' | 'rodata';

export interface Region {
  readonly id: number;
  readonly kind: RegionKind;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly writable: boolean;
  readonly name: string;
  /**
   * Loads the region answers itself: a program context whose 32-bit `data` / `data_end`
   * fields read as 64-bit packet pointers, as the verifier's ctx rewrite makes them.
   */
  readonly fields?: ReadonlyMap<number, () => bigint>;
}

export type VmErrorCode =
  | 'OUT_OF_BOUNDS'
  | 'BAD_POINTER'
  | 'READ_ONLY'
  | 'BUDGET'
  | 'CALL_DEPTH'
  | 'UNKNOWN_HELPER'
  | 'UNKNOWN_KFUNC'
  | 'STACK_ARG_UNINIT'
  | 'INVALID_INSN'
  | 'FELL_OFF'
  | 'TAIL_CALL_LIMIT'
  /** bpf_throw in a program without an exception callback (the verifier's xlated program has one). */
  | 'NO_EXCEPTION_CB';

export class VmError extends Error {
  override readonly name = 'VmError';
  constructor(
    readonly code: VmErrorCode,
    message: string,
    /** Instruction index where the run stopped. */
    readonly insn: number,
    /** The address involved, for memory errors. */
    readonly address?: bigint,
  ) {
    super(`insn ${insn}: ${message}`);
  }
}

const REGION_SHIFT = 32n;
const OFFSET_MASK = 0xffffffffn;
/**
 * Region bytes start half-way into their 4 GiB window, so pointer arithmetic that runs below
 * the start (r10 - 520) stays in the same region and is reported with a negative offset.
 */
const BIAS = 0x8000_0000;

export class AddressSpace {
  private readonly regions: Region[] = [];

  /** Map bytes as a new region; returns the u64 address of its first byte. */
  map(kind: RegionKind, bytes: Uint8Array, opts: { writable?: boolean; name?: string; fields?: ReadonlyMap<number, () => bigint> } = {}): bigint {
    const id = this.regions.length + 1;
    this.regions.push({
      id,
      kind,
      bytes,
      view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      writable: opts.writable ?? true,
      name: opts.name ?? kind,
      ...(opts.fields ? { fields: opts.fields } : {}),
    });
    return (BigInt(id) << REGION_SHIFT) + BigInt(BIAS);
  }

  /** The region and offset of an access of `size` bytes at `addr`, or a VmError. */
  resolve(addr: bigint, size: number, write: boolean, insn: number): { region: Region; offset: number } {
    const id = Number((addr >> REGION_SHIFT) & 0xffffn);
    const region = addr >> 48n === 0n ? this.regions[id - 1] : undefined;
    if (region === undefined) throw new VmError('BAD_POINTER', `${write ? 'write to' : 'read from'} 0x${addr.toString(16)}, which is not a pointer into any region`, insn, addr);
    const offset = Number(addr & OFFSET_MASK) - BIAS;
    if (offset < 0 || offset + size > region.bytes.length)
      throw new VmError(
        'OUT_OF_BOUNDS',
        `${write ? 'write' : 'read'} of ${size} bytes at ${region.name}+${offset} (0x${addr.toString(16)}) is outside its ${region.bytes.length} bytes`,
        insn,
        addr,
      );
    if (write && !region.writable) throw new VmError('READ_ONLY', `write to read-only ${region.name}+${offset}`, insn, addr);
    return { region, offset };
  }

  load(addr: bigint, size: 1 | 2 | 4 | 8, insn: number): bigint {
    const { region, offset } = this.resolve(addr, size, false, insn);
    if (region.fields !== undefined) {
      const f = region.fields.get(offset);
      if (f !== undefined) return f();
    }
    const v = region.view;
    return size === 1 ? BigInt(v.getUint8(offset)) : size === 2 ? BigInt(v.getUint16(offset, true)) : size === 4 ? BigInt(v.getUint32(offset, true)) : v.getBigUint64(offset, true);
  }

  store(addr: bigint, size: 1 | 2 | 4 | 8, value: bigint, insn: number): void {
    const { region, offset } = this.resolve(addr, size, true, insn);
    const v = region.view;
    if (size === 1) v.setUint8(offset, Number(value & 0xffn));
    else if (size === 2) v.setUint16(offset, Number(value & 0xffffn), true);
    else if (size === 4) v.setUint32(offset, Number(value & 0xffffffffn), true);
    else v.setBigUint64(offset, BigInt.asUintN(64, value), true);
  }

  /** Bytes [addr, addr+len) as a view (for helpers such as trace_printk or map keys). */
  slice(addr: bigint, len: number, insn: number): Uint8Array {
    if (len === 0) return new Uint8Array(0);
    const { region, offset } = this.resolve(addr, len, false, insn);
    return region.bytes.subarray(offset, offset + len);
  }

  /** A NUL-terminated string starting at addr (at most max bytes). */
  cstring(addr: bigint, max: number, insn: number): string {
    const { region, offset } = this.resolve(addr, 1, false, insn);
    const end = Math.min(region.bytes.length, offset + max);
    let k = offset;
    while (k < end && region.bytes[k] !== 0) k++;
    return new TextDecoder().decode(region.bytes.subarray(offset, k));
  }
}
