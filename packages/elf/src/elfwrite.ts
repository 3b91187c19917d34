/**
 * Writing an ELF64 relocatable BPF object: the header, each section's contents at the next
 * offset its alignment allows (in index order, after the 64-byte header), and the section
 * header table last, 8-byte aligned — the layout libelf's `elf_update` gives the objects
 * libbpf's static linker writes (`bpftool gen object`), so our output can be compared with
 * theirs byte for byte.
 */
import type { ElfEndian } from './elf.js';
import { EM_BPF, SHT } from './elf.js';

export interface WriteSection {
  /** Offset of the name in the section-name string table. */
  readonly nameOff: number;
  readonly type: number;
  readonly flags: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: number;
  readonly entsize: number;
  /** Contents (ignored for SHT_NOBITS, whose size is `size`). */
  readonly data: Uint8Array;
  /** SHT_NOBITS only: the size it occupies in memory. */
  readonly size?: number;
}

export interface WriteElf {
  readonly endian: ElfEndian;
  /** Sections 1..n (section 0, the null section, is implied). */
  readonly sections: readonly WriteSection[];
  /** Index of the section-name string table. */
  readonly shstrndx: number;
}

const EHDR = 64;
const SHDR = 64;

const alignUp = (n: number, a: number): number => (a > 1 ? Math.ceil(n / a) * a : n);

export function writeElfObject(o: WriteElf): Uint8Array {
  const offsets: number[] = [];
  let at = EHDR;
  for (const s of o.sections) {
    at = alignUp(at, s.addralign);
    offsets.push(at);
    if (s.type !== SHT.NOBITS) at += s.data.length;
  }
  const shoff = alignUp(at, 8);
  const shnum = o.sections.length + 1;
  const out = new Uint8Array(shoff + shnum * SHDR);
  const dv = new DataView(out.buffer);
  const le = o.endian === 'little';
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, le ? 1 : 2, 1], 0);
  dv.setUint16(16, 1, le); // ET_REL
  dv.setUint16(18, EM_BPF, le);
  dv.setUint32(20, 1, le); // EV_CURRENT
  dv.setBigUint64(40, BigInt(shoff), le);
  dv.setUint16(52, EHDR, le);
  dv.setUint16(58, SHDR, le);
  dv.setUint16(60, shnum, le);
  dv.setUint16(62, o.shstrndx, le);
  o.sections.forEach((s, i) => {
    if (s.type !== SHT.NOBITS) out.set(s.data, offsets[i]!);
    const h = shoff + (i + 1) * SHDR;
    dv.setUint32(h, s.nameOff, le);
    dv.setUint32(h + 4, s.type, le);
    dv.setBigUint64(h + 8, BigInt(s.flags), le);
    dv.setBigUint64(h + 24, BigInt(offsets[i]!), le);
    dv.setBigUint64(h + 32, BigInt(s.type === SHT.NOBITS ? (s.size ?? 0) : s.data.length), le);
    dv.setUint32(h + 40, s.link, le);
    dv.setUint32(h + 44, s.info, le);
    dv.setBigUint64(h + 48, BigInt(s.addralign), le);
    dv.setBigUint64(h + 56, BigInt(s.entsize), le);
  });
  return out;
}

/** A symbol table entry to write (`st_info` / `st_other` as the raw bytes). */
export interface ElfSymbolOut { nameOff: number; info: number; other: number; shndx: number; value: number; size: number }

/** The bytes of a `.symtab` holding `syms` (entry 0 included). */
export function symtabBytes(syms: readonly ElfSymbolOut[], endian: ElfEndian): Uint8Array {
  const le = endian === 'little';
  const out = new Uint8Array(syms.length * 24);
  const dv = new DataView(out.buffer);
  syms.forEach((s, i) => {
    const at = i * 24;
    dv.setUint32(at, s.nameOff, le);
    dv.setUint8(at + 4, s.info);
    dv.setUint8(at + 5, s.other);
    dv.setUint16(at + 6, s.shndx, le);
    dv.setBigUint64(at + 8, BigInt.asUintN(64, BigInt(s.value)), le);
    dv.setBigUint64(at + 16, BigInt.asUintN(64, BigInt(s.size)), le);
  });
  return out;
}
