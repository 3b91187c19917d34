/**
 * Bytes <-> instruction slots. Little-endian is the common case; big-endian (bpfeb) swaps the
 * register nibbles and the byte order of `off` and `imm`, as LLVM and the kernel do.
 */
import { checkInsn } from './check.js';
import { IsaError } from './errors.js';
import type { Insn } from './insn.js';

export type Endian = 'little' | 'big';

export interface DecodeOptions {
  readonly endian?: Endian;
  /** Run {@link checkInsn} on every slot (default true). */
  readonly strict?: boolean;
}

/** Decode bytes into instruction slots. Throws `IsaError` naming the instruction and byte offset. */
export function decode(bytes: Uint8Array, opts: DecodeOptions = {}): Insn[] {
  const le = (opts.endian ?? 'little') === 'little';
  if (bytes.length % 8 !== 0) {
    throw new IsaError(
      'TRUNCATED',
      `input is ${bytes.length} bytes, not a multiple of 8 (${bytes.length % 8} trailing bytes)`,
      { insn: Math.floor(bytes.length / 8), byteOffset: bytes.length - (bytes.length % 8) },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / 8;
  // filled by push, not `new Array(n)`: a packed array, as the assembler's and the ELF loader's
  // are, so code indexing any of them sees one kind of array
  const out: Insn[] = [];
  for (let k = 0; k < n; k++) {
    const b = k * 8;
    const regs = bytes[b + 1]!;
    out.push({
      code: bytes[b]!,
      dst: le ? regs & 0xf : regs >> 4,
      src: le ? regs >> 4 : regs & 0xf,
      off: view.getInt16(b + 2, le),
      imm: view.getInt32(b + 4, le),
    });
  }
  if (opts.strict ?? true) {
    for (let k = 0; k < n; k++) {
      const i = out[k]!;
      const err = checkInsn(i, k, out[k + 1]);
      if (err) throw new IsaError(err.code, err.message.replace(/^insn \d+: /, ''), { insn: k, byteOffset: k * 8 });
      if (i.code === 0x18) k++;
    }
  }
  return out;
}

/** Encode instruction slots to bytes. Throws on fields out of range. */
export function encode(insns: readonly Insn[], opts: { readonly endian?: Endian } = {}): Uint8Array {
  const le = (opts.endian ?? 'little') === 'little';
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  for (let k = 0; k < insns.length; k++) {
    const i = insns[k]!;
    if (i.code < 0 || i.code > 0xff || i.dst < 0 || i.dst > 15 || i.src < 0 || i.src > 15)
      throw new IsaError('OUT_OF_RANGE', 'code, dst or src out of range', { insn: k });
    if (i.off < -0x8000 || i.off > 0x7fff) throw new IsaError('OUT_OF_RANGE', `offset ${i.off} does not fit in 16 bits`, { insn: k });
    if (i.imm < -0x80000000 || i.imm > 0xffffffff) throw new IsaError('OUT_OF_RANGE', `immediate ${i.imm} does not fit in 32 bits`, { insn: k });
    const b = k * 8;
    out[b] = i.code;
    out[b + 1] = le ? (i.src << 4) | i.dst : (i.dst << 4) | i.src;
    view.setInt16(b + 2, i.off, le);
    view.setUint32(b + 4, i.imm >>> 0, le);
  }
  return out;
}

/** Parse hex text ("b7 01 00 00 ...", "0xb7, 0x01", with comments after '#' or '//') into bytes. */
export function parseHex(text: string): Uint8Array {
  const bytes: number[] = [];
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!.replace(/(#|\/\/).*$/, '');
    const re = /(0x)?([0-9a-fA-F]+)|(\S)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(line)) !== null) {
      if (m[3] !== undefined) {
        if (m[3] === ',' ) continue;
        throw new IsaError('SYNTAX', `unexpected character '${m[3]}' in hex input`, { location: { line: ln + 1, column: m.index + 1 } });
      }
      const digits = m[2]!;
      if (digits.length % 2 !== 0)
        throw new IsaError('SYNTAX', `odd number of hex digits in '${m[0]}'`, { location: { line: ln + 1, column: m.index + 1 } });
      for (let d = 0; d < digits.length; d += 2) bytes.push(parseInt(digits.slice(d, d + 2), 16));
    }
  }
  return Uint8Array.from(bytes);
}

/** Bytes as lower-case hex, 8 bytes (one slot) per line. */
export function formatHex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let b = 0; b < bytes.length; b += 8) {
    lines.push(Array.from(bytes.subarray(b, b + 8), (x) => x.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}
