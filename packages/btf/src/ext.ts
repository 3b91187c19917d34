/** .BTF.ext: func_info, line_info and CO-RE relocation records, per section (include/uapi/linux/btf.h, libbpf's btf_ext). */
import { BtfError } from './btf.js';

export interface ExtSection<T> {
  readonly secNameOff: number;
  readonly records: readonly T[];
}
export interface BtfExt {
  readonly funcInfo: readonly ExtSection<{ readonly insnOff: number; readonly typeId: number }>[];
  readonly lineInfo: readonly ExtSection<{ readonly insnOff: number; readonly fileNameOff: number; readonly lineOff: number; readonly line: number; readonly column: number }>[];
  readonly coreRelo: readonly ExtSection<{ readonly insnOff: number; readonly typeId: number; readonly accessStrOff: number; readonly kind: number }>[];
}

export function parseBtfExt(bytes: Uint8Array, endian: 'little' | 'big' = 'little'): BtfExt {
  const le = endian === 'little';
  if (bytes.length < 24) throw new BtfError('TRUNCATED', `.BTF.ext is ${bytes.length} bytes, shorter than its header`, 0);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint16(0, le) !== 0xeb9f) throw new BtfError('BAD_MAGIC', 'Invalid .BTF.ext magic', 0);
  const hdrLen = dv.getUint32(4, le);
  // each record read where it lies, through the one view (a view per record was three objects
  // per line_info record, thousands in a large object's one-shot load)
  const sections = <R>(offAt: number, lenAt: number, minRec: number, rec: (p: number) => R): { secNameOff: number; records: R[] }[] => {
    if (offAt + 8 > hdrLen) return [];
    const off = hdrLen + dv.getUint32(offAt, le);
    const len = dv.getUint32(lenAt, le);
    if (len === 0) return [];
    if (off + len > bytes.length) throw new BtfError('BAD_SECTION', '.BTF.ext sub-section runs past the end', offAt);
    const recSize = dv.getUint32(off, le);
    if (recSize < minRec) throw new BtfError('BAD_SECTION', `record size ${recSize} is below ${minRec}`, off);
    const out: { secNameOff: number; records: R[] }[] = [];
    let p = off + 4;
    while (p < off + len) {
      if (p + 8 > off + len) throw new BtfError('TRUNCATED', 'section info header runs past the sub-section', p);
      const secNameOff = dv.getUint32(p, le);
      const n = dv.getUint32(p + 4, le);
      p += 8;
      if (p + n * recSize > off + len) throw new BtfError('TRUNCATED', `${n} records of ${recSize} bytes run past the sub-section`, p);
      const records: R[] = [];
      for (let k = 0; k < n; k++, p += recSize) records.push(rec(p));
      out.push({ secNameOff, records });
    }
    return out;
  };
  const u = (at: number): number => dv.getUint32(at, le);
  return {
    funcInfo: sections(8, 12, 8, (p) => ({ insnOff: u(p), typeId: u(p + 4) })),
    lineInfo: sections(16, 20, 16, (p) => ({ insnOff: u(p), fileNameOff: u(p + 4), lineOff: u(p + 8), line: u(p + 12) >>> 10, column: u(p + 12) & 0x3ff })),
    coreRelo: sections(24, 28, 16, (p) => ({ insnOff: u(p), typeId: u(p + 4), accessStrOff: u(p + 8), kind: u(p + 12) })),
  };
}
