
/**
 * One 8-byte instruction slot, exactly as in `struct bpf_insn`. A 16-byte `ld_imm64`
 * occupies two slots (the second has `code` 0 and carries the upper 32 bits in `imm`), so
 * instruction indices match the kernel's.
 *
 * `dst` and `src` are 4-bit fields in the encoding; values above 11 can be decoded (and are
 * rejected by {@link checkInsn}) so they are typed as `number` here and narrowed to `Reg`
 * where meaningful.
 */
export interface Insn {
  readonly code: number;
  readonly dst: number;
  readonly src: number;
  /** Signed 16-bit. */
  readonly off: number;
  /** Signed 32-bit. */
  readonly imm: number;
}

/** Build an instruction slot, normalising `off` to int16 and `imm` to int32. */
export function insn(code: number, dst: number, src: number, off: number, imm: number): Insn {
  return { code: code & 0xff, dst: dst & 0xf, src: src & 0xf, off: (off << 16) >> 16, imm: imm | 0 };
}

/** The 64-bit immediate of an `ld_imm64` pair (unsigned). */
export function ldImm64Value(lo: Insn, hi: Insn): bigint {
  return (BigInt(hi.imm >>> 0) << 32n) | BigInt(lo.imm >>> 0);
}

/** Split a 64-bit value (any sign) into the two `imm` halves of an `ld_imm64` pair. */
export function splitImm64(v: bigint): { lo: number; hi: number } {
  const u = BigInt.asUintN(64, v);
  return { lo: Number(u & 0xffffffffn) | 0, hi: Number(u >> 32n) | 0 };
}

export const isLdImm64 = (i: Insn): boolean => i.code === 0x18;
