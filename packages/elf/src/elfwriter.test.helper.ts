/**
 * A small ELF64 relocatable-object writer for tests that must run without clang: unit
 * tests of error paths and the fuzz corpus seeds. Test-only (excluded from the package).
 */
import type { Insn } from '@bpf/isa';
import { encode } from '@bpf/isa';

export interface WSection {
  readonly name: string;
  readonly type?: number;
  readonly flags?: number;
  readonly data?: Uint8Array;
  /** SHT_NOBITS size. */
  readonly size?: number;
  readonly align?: number;
}

export interface WSymbol {
  readonly name: string;
  /** Section name, or '' for undefined. */
  readonly section: string;
  readonly value?: number;
  readonly size?: number;
  readonly bind?: 0 | 1 | 2;
  readonly type?: 0 | 1 | 2 | 3;
}

export interface WReloc {
  readonly section: string;
  readonly offset: number;
  readonly type: number;
  readonly symbol: string;
}

export interface WObject {
  readonly endian?: 'little' | 'big';
  readonly sections: readonly WSection[];
  readonly symbols?: readonly WSymbol[];
  readonly relocs?: readonly WReloc[];
}

export const code = (insns: readonly Insn[], endian: 'little' | 'big' = 'little'): Uint8Array => encode(insns, { endian });
export const cstr = (s: string): Uint8Array => new TextEncoder().encode(s + '\0');

export function writeElf(o: WObject): Uint8Array {
  const le = (o.endian ?? 'little') === 'little';
  const strtab: number[] = [0];
  const str = (s: string): number => {
    if (s === '') return 0;
    const off = strtab.length;
    strtab.push(...new TextEncoder().encode(s), 0);
    return off;
  };
  interface Sec { name: number; type: number; flags: number; data: Uint8Array; size: number; link: number; info: number; align: number; entsize: number }
  const secs: Sec[] = [{ name: 0, type: 0, flags: 0, data: new Uint8Array(0), size: 0, link: 0, info: 0, align: 0, entsize: 0 }];
  const index = new Map<string, number>();
  for (const s of o.sections) {
    index.set(s.name, secs.length);
    const data = s.data ?? new Uint8Array(0);
    secs.push({ name: str(s.name), type: s.type ?? 1, flags: s.flags ?? 0, data: s.type === 8 ? new Uint8Array(0) : data, size: s.type === 8 ? (s.size ?? 0) : data.length, link: 0, info: 0, align: s.align ?? 8, entsize: 0 });
  }
  const syms = [{ name: '', section: '', value: 0, size: 0, bind: 0, type: 0 } as WSymbol, ...(o.symbols ?? [])];
  const symIndex = new Map(syms.map((s, k) => [s.name, k]));
  const symtabIdx = secs.length + 1 + new Set((o.relocs ?? []).map((r) => r.section)).size;
  for (const target of new Set((o.relocs ?? []).map((r) => r.section))) {
    const rs = (o.relocs ?? []).filter((r) => r.section === target);
    const b = new Uint8Array(rs.length * 16);
    const v = new DataView(b.buffer);
    rs.forEach((r, k) => {
      v.setBigUint64(k * 16, BigInt(r.offset), le);
      v.setBigUint64(k * 16 + 8, (BigInt(symIndex.get(r.symbol) ?? 0) << 32n) | BigInt(r.type), le);
    });
    secs.push({ name: str('.rel' + target), type: 9, flags: 0x40, data: b, size: b.length, link: symtabIdx, info: index.get(target) ?? 0, align: 8, entsize: 16 });
  }
  const strtabIdx = secs.length;
  const strtabSec: Sec = { name: str('.strtab'), type: 3, flags: 0, data: new Uint8Array(0), size: 0, link: 0, info: 0, align: 1, entsize: 0 };
  secs.push(strtabSec);
  const symb = new Uint8Array(syms.length * 24);
  const sv = new DataView(symb.buffer);
  const symNames = syms.map((s) => (s.type === 3 ? 0 : str(s.name)));
  syms.forEach((s, k) => {
    const b = k * 24;
    sv.setUint32(b, symNames[k]!, le);
    sv.setUint8(b + 4, ((s.bind ?? 0) << 4) | (s.type ?? 0));
    sv.setUint16(b + 6, s.section === '' ? 0 : (index.get(s.section) ?? 0), le);
    sv.setBigUint64(b + 8, BigInt(s.value ?? 0), le);
    sv.setBigUint64(b + 16, BigInt(s.size ?? 0), le);
  });
  const firstGlobal = syms.findIndex((s) => (s.bind ?? 0) !== 0);
  secs.push({ name: str('.symtab'), type: 2, flags: 0, data: symb, size: symb.length, link: strtabIdx, info: firstGlobal < 0 ? syms.length : firstGlobal, align: 8, entsize: 24 });
  strtabSec.data = Uint8Array.from(strtab);
  strtabSec.size = strtabSec.data.length;
  // Layout: header, contents (8-aligned), section headers.
  let off = 64;
  const offsets = secs.map((s) => {
    off = (off + 7) & ~7;
    const at = off;
    off += s.data.length;
    return at;
  });
  const shoff = (off + 7) & ~7;
  const out = new Uint8Array(shoff + secs.length * 64);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, le ? 1 : 2, 1], 0);
  v.setUint16(16, 1, le);
  v.setUint16(18, 247, le);
  v.setUint32(20, 1, le);
  v.setBigUint64(40, BigInt(shoff), le);
  v.setUint16(52, 64, le);
  v.setUint16(58, 64, le);
  v.setUint16(60, secs.length, le);
  v.setUint16(62, strtabIdx, le);
  secs.forEach((s, k) => {
    out.set(s.data, offsets[k]!);
    const h = shoff + k * 64;
    v.setUint32(h, s.name, le);
    v.setUint32(h + 4, s.type, le);
    v.setBigUint64(h + 8, BigInt(s.flags), le);
    v.setBigUint64(h + 24, BigInt(k === 0 ? 0 : offsets[k]!), le);
    v.setBigUint64(h + 32, BigInt(s.size), le);
    v.setUint32(h + 40, s.link, le);
    v.setUint32(h + 44, s.info, le);
    v.setBigUint64(h + 48, BigInt(s.align), le);
    v.setBigUint64(h + 56, BigInt(s.entsize), le);
  });
  return out;
}
