/**
 * ELF64 container parsing: header, section headers, string tables, symbols and relocations,
 * for either byte order. Nothing BPF-specific happens here beyond checking `e_machine` and
 * naming the BPF relocation types (llvm/include/llvm/BinaryFormat/ELFRelocs/BPF.def).
 *
 * Every offset and count read from the file is checked against the file (or section) size
 * before use, so a hostile file can neither crash nor make us allocate or loop beyond its
 * own length.
 */
import { ElfError } from './errors.js';

export type ElfEndian = 'little' | 'big';

/** `EM_BPF` (include/uapi/linux/elf-em.h). */
export const EM_BPF = 247;
/** `EM_NONE`: what LLVM before 3.9 (and some hand-made objects) left in `e_machine` of BPF objects. */
export const EM_NONE = 0;

/** Section types we name; others are kept as numbers. */
export const SHT = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  HASH: 5,
  DYNAMIC: 6,
  NOTE: 7,
  NOBITS: 8,
  REL: 9,
  DYNSYM: 11,
  SYMTAB_SHNDX: 18,
  LLVM_ADDRSIG: 0x6fff4c03,
} as const;

export const SHF = { WRITE: 0x1, ALLOC: 0x2, EXECINSTR: 0x4 } as const;

/** Special section indices (elf.h). */
export const SHN = { UNDEF: 0, LORESERVE: 0xff00, ABS: 0xfff1, COMMON: 0xfff2, XINDEX: 0xffff } as const;

export type SymbolBind = 'local' | 'global' | 'weak' | number;
export type SymbolType = 'notype' | 'object' | 'func' | 'section' | 'file' | number;
export type SymbolVisibility = 'default' | 'internal' | 'hidden' | 'protected';

const BINDS: readonly SymbolBind[] = ['local', 'global', 'weak'];
const TYPES: readonly SymbolType[] = ['notype', 'object', 'func', 'section', 'file'];
const VISIBILITIES: readonly SymbolVisibility[] = ['default', 'internal', 'hidden', 'protected'];

/** BPF relocation types (llvm/include/llvm/BinaryFormat/ELFRelocs/BPF.def). */
export const R_BPF = {
  NONE: 0,
  /** `ld_imm64` of a symbol's address: map, global data, subprog address. */
  '64_64': 1,
  /** 64-bit data word (DWARF, `.BTF.ext`-less data). */
  '64_ABS64': 2,
  /** 32-bit data word (`.BTF`, `.BTF.ext`, DWARF). */
  '64_ABS32': 3,
  /** 32-bit data word a dynamic loader must not touch (`.BTF.ext` insn offsets). */
  '64_NODYLD32': 4,
  /** `call` imm: a BPF-to-BPF call or an extern (kfunc) call. */
  '64_32': 10,
} as const;

export type RelocTypeName = 'R_BPF_NONE' | 'R_BPF_64_64' | 'R_BPF_64_ABS64' | 'R_BPF_64_ABS32' | 'R_BPF_64_NODYLD32' | 'R_BPF_64_32';

const RELOC_NAMES = new Map<number, RelocTypeName>(
  Object.entries(R_BPF).map(([k, v]) => [v, (k === 'NONE' ? 'R_BPF_NONE' : `R_BPF_${k}`) as RelocTypeName]),
);

export function relocTypeName(type: number): RelocTypeName | undefined {
  return RELOC_NAMES.get(type);
}

export interface ElfHeader {
  readonly endian: ElfEndian;
  /** `e_type` (1 = ET_REL for clang objects). */
  readonly type: number;
  readonly machine: number;
  readonly flags: number;
  readonly entry: bigint;
  readonly shoff: number;
  readonly shnum: number;
  readonly shstrndx: number;
}

export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  readonly addr: bigint;
  /** File offset of the contents (meaningless for SHT_NOBITS). */
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: number;
  readonly entsize: number;
  /** The contents; empty for SHT_NOBITS (whose `size` still counts). */
  readonly data: Uint8Array;
}

export interface ElfSymbol {
  readonly index: number;
  readonly name: string;
  readonly bind: SymbolBind;
  readonly type: SymbolType;
  readonly visibility: SymbolVisibility;
  /** `st_shndx`: a section index, or one of {@link SHN}. */
  readonly shndx: number;
  readonly value: number;
  readonly size: number;
}

export interface ElfRelocation {
  /** Index of the SHT_REL / SHT_RELA section holding it. */
  readonly relSection: number;
  /** Section the relocation applies to (`sh_info`). */
  readonly target: number;
  /** Byte offset in the target section. */
  readonly offset: number;
  readonly type: number;
  readonly typeName: RelocTypeName | undefined;
  /** Symbol table index (0 = no symbol). */
  readonly symbol: number;
  /** `r_addend` of SHT_RELA entries; 0 for SHT_REL. */
  readonly addend: bigint;
  /** File offset of the entry, for error messages. */
  readonly fileOffset: number;
}

export interface ElfFile {
  readonly header: ElfHeader;
  readonly sections: readonly ElfSection[];
  /** The `.symtab` symbols (index 0 is the null symbol). */
  readonly symbols: readonly ElfSymbol[];
  readonly relocations: readonly ElfRelocation[];
  readonly bytes: Uint8Array;
}

/** Bounds-checked reads at absolute offsets in one byte order. */
export class ByteReader {
  readonly view: DataView;
  readonly le: boolean;
  constructor(readonly bytes: Uint8Array, endian: ElfEndian) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.le = endian === 'little';
  }
  private need(off: number, n: number, what: string, section?: string): void {
    if (!Number.isSafeInteger(off) || off < 0 || off + n > this.bytes.length)
      throw new ElfError('TRUNCATED', `${what} (${n} bytes at ${off}) runs past the end (${this.bytes.length} bytes)`, { byteOffset: off, section });
  }
  u8(off: number, what: string, section?: string): number {
    this.need(off, 1, what, section);
    return this.view.getUint8(off);
  }
  u16(off: number, what: string, section?: string): number {
    this.need(off, 2, what, section);
    return this.view.getUint16(off, this.le);
  }
  u32(off: number, what: string, section?: string): number {
    this.need(off, 4, what, section);
    return this.view.getUint32(off, this.le);
  }
  i32(off: number, what: string, section?: string): number {
    this.need(off, 4, what, section);
    return this.view.getInt32(off, this.le);
  }
  u64(off: number, what: string, section?: string): bigint {
    this.need(off, 8, what, section);
    return this.view.getBigUint64(off, this.le);
  }
  i64(off: number, what: string, section?: string): bigint {
    this.need(off, 8, what, section);
    return this.view.getBigInt64(off, this.le);
  }
  /** A u64 that must fit a JavaScript number (file offsets and sizes). */
  size(off: number, what: string, section?: string): number {
    const v = this.u64(off, what, section);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError('BAD_FIELD', `${what} ${v} is too large`, { byteOffset: off, section });
    return Number(v);
  }
}

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const RELA_SIZE = 24;

/** A NUL-terminated string at `off` in a string table section. */
export function readString(strtab: ElfSection, off: number, what: string, fileOffset?: number): string {
  if (off >= strtab.data.length)
    throw new ElfError('BAD_FIELD', `${what}: string offset ${off} is outside ${strtab.name || 'the string table'} (${strtab.data.length} bytes)`, {
      byteOffset: fileOffset ?? strtab.offset,
      section: strtab.name,
    });
  const end = strtab.data.indexOf(0, off);
  if (end < 0)
    throw new ElfError('TRUNCATED', `${what}: string at ${off} is not NUL-terminated`, { byteOffset: strtab.offset + off, section: strtab.name });
  return utf8.decode(strtab.data.subarray(off, end));
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

export const sectionLabel = (s: { readonly index: number; readonly name: string }): string => s.name || `#${s.index}`;

/** Parse the ELF64 container. Throws {@link ElfError} on any malformed input. */
export function parseElfFile(bytes: Uint8Array): ElfFile {
  if (bytes.length < 16 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46)
    throw new ElfError('BAD_MAGIC', 'not an ELF file (no \\x7fELF magic)', { byteOffset: 0 });
  if (bytes[4] !== 2) throw new ElfError('UNSUPPORTED', `ELF class ${bytes[4]} is not ELFCLASS64`, { byteOffset: 4 });
  const endian: ElfEndian | undefined = bytes[5] === 1 ? 'little' : bytes[5] === 2 ? 'big' : undefined;
  if (endian === undefined) throw new ElfError('UNSUPPORTED', `ELF data encoding ${bytes[5]} is neither LSB nor MSB`, { byteOffset: 5 });
  if (bytes[6] !== 1) throw new ElfError('UNSUPPORTED', `ELF ident version ${bytes[6]} is not EV_CURRENT`, { byteOffset: 6 });
  if (bytes.length < EHDR_SIZE) throw new ElfError('TRUNCATED', `ELF header needs ${EHDR_SIZE} bytes, file has ${bytes.length}`, { byteOffset: bytes.length });
  const r = new ByteReader(bytes, endian);
  const machine = r.u16(18, 'e_machine');
  // Old LLVM wrote EM_NONE; such an object is still BPF when it is relocatable (its
  // instructions are checked as BPF when decoded). Any other machine is not ours.
  if (machine !== EM_BPF && !(machine === EM_NONE && r.u16(16, 'e_type') === 1))
    throw new ElfError('UNSUPPORTED', `e_machine ${machine} is not EM_BPF (${EM_BPF})`, { byteOffset: 18 });
  const shoff = r.size(40, 'e_shoff');
  const shentsize = r.u16(58, 'e_shentsize');
  let shnum = r.u16(60, 'e_shnum');
  let shstrndx = r.u16(62, 'e_shstrndx');
  const header0: Omit<ElfHeader, 'shnum' | 'shstrndx'> = {
    endian,
    type: r.u16(16, 'e_type'),
    machine,
    flags: r.u32(48, 'e_flags'),
    entry: r.u64(24, 'e_entry'),
    shoff,
  };
  if (shoff === 0) {
    return { header: { ...header0, shnum: 0, shstrndx: 0 }, sections: [], symbols: [], relocations: [], bytes };
  }
  if (shentsize !== SHDR_SIZE) throw new ElfError('BAD_FIELD', `e_shentsize ${shentsize} is not ${SHDR_SIZE}`, { byteOffset: 58 });
  // Extended numbering (elf.h): e_shnum 0 / e_shstrndx SHN_XINDEX defer to section 0.
  if (shnum === 0) shnum = r.size(shoff + 32, 'section 0 sh_size (extended e_shnum)');
  if (shstrndx === SHN.XINDEX) shstrndx = r.u32(shoff + 40, 'section 0 sh_link (extended e_shstrndx)');
  if (shnum > (bytes.length - shoff) / SHDR_SIZE)
    throw new ElfError('TRUNCATED', `${shnum} section headers at ${shoff} run past the end (${bytes.length} bytes)`, { byteOffset: shoff });
  if (shstrndx >= shnum) throw new ElfError('BAD_FIELD', `e_shstrndx ${shstrndx} is not below e_shnum ${shnum}`, { byteOffset: 62 });

  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * SHDR_SIZE;
    const where = `section header ${i}`;
    const type = r.u32(h + 4, `${where} sh_type`);
    const offset = r.size(h + 24, `${where} sh_offset`);
    const size = r.size(h + 32, `${where} sh_size`);
    if (type !== SHT.NOBITS && type !== SHT.NULL && offset + size > bytes.length)
      throw new ElfError('TRUNCATED', `section ${i} contents (${size} bytes at ${offset}) run past the end (${bytes.length} bytes)`, { byteOffset: h + 24 });
    const addralign = r.size(h + 48, `${where} sh_addralign`);
    const entsize = r.size(h + 56, `${where} sh_entsize`);
    raw.push({
      index: i,
      nameOff: r.u32(h, `${where} sh_name`),
      type,
      flags: Number(r.u64(h + 8, `${where} sh_flags`) & 0xffffffffn),
      addr: r.u64(h + 16, `${where} sh_addr`),
      offset,
      size,
      link: r.u32(h + 40, `${where} sh_link`),
      info: r.u32(h + 44, `${where} sh_info`),
      addralign,
      entsize,
      data: type === SHT.NOBITS || type === SHT.NULL ? new Uint8Array(0) : bytes.subarray(offset, offset + size),
      headerOffset: h,
    });
  }
  const shstr = raw[shstrndx]!;
  if (shstrndx !== 0 && shstr.type !== SHT.STRTAB)
    throw new ElfError('BAD_FIELD', `e_shstrndx ${shstrndx} is not a string table (type ${shstr.type})`, { byteOffset: 62 });
  const shstrSec: ElfSection = { ...shstr, name: '.shstrtab' };
  const sections: ElfSection[] = raw.map((s) => ({
    index: s.index,
    name: shstrndx === 0 ? '' : readString(shstrSec, s.nameOff, `section ${s.index} name`, s.headerOffset),
    type: s.type,
    flags: s.flags,
    addr: s.addr,
    offset: s.offset,
    size: s.size,
    link: s.link,
    info: s.info,
    addralign: s.addralign,
    entsize: s.entsize,
    data: s.data,
  }));

  const symtabs = sections.filter((s) => s.type === SHT.SYMTAB);
  if (symtabs.length > 1) throw new ElfError('BAD_FIELD', `${symtabs.length} symbol tables; expected at most one`, { byteOffset: symtabs[1]!.offset, section: symtabs[1]!.name });
  const symtab = symtabs[0];
  const symbols = symtab ? parseSymbols(r, sections, symtab) : [];
  const relocations: ElfRelocation[] = [];
  for (const s of sections) {
    // appended one by one: a section of ~100k relocations (tracee.bpf.o's .rel.BTF.ext) is more
    // arguments than a spread call takes (RangeError: maximum call stack size exceeded)
    if (s.type === SHT.REL || s.type === SHT.RELA) for (const rel of parseRelocs(r, sections, s, symbols.length)) relocations.push(rel);
  }
  return { header: { ...header0, shnum, shstrndx }, sections, symbols, relocations, bytes };
}

function parseSymbols(r: ByteReader, sections: readonly ElfSection[], symtab: ElfSection): ElfSymbol[] {
  const label = sectionLabel(symtab);
  if (symtab.entsize !== SYM_SIZE) throw new ElfError('BAD_FIELD', `sh_entsize ${symtab.entsize} is not ${SYM_SIZE}`, { byteOffset: symtab.offset, section: label });
  if (symtab.size % SYM_SIZE !== 0) throw new ElfError('BAD_FIELD', `size ${symtab.size} is not a multiple of ${SYM_SIZE}`, { byteOffset: symtab.offset, section: label });
  const strtab = sections[symtab.link];
  if (!strtab || strtab.type !== SHT.STRTAB)
    throw new ElfError('BAD_FIELD', `sh_link ${symtab.link} is not a string table`, { byteOffset: symtab.offset, section: label });
  const n = symtab.size / SYM_SIZE;
  const out: ElfSymbol[] = [];
  for (let i = 0; i < n; i++) {
    const o = symtab.offset + i * SYM_SIZE;
    const info = r.u8(o + 4, 'st_info', label);
    const other = r.u8(o + 5, 'st_other', label);
    const bind = info >> 4;
    const type = info & 0xf;
    const shndx = r.u16(o + 6, 'st_shndx', label);
    const raw = readString(strtab, r.u32(o, 'st_name', label), `symbol ${i} name`, o);
    out.push({
      index: i,
      // Section symbols are unnamed; show their section's name, as llvm-readelf does.
      name: raw === '' && type === 3 ? (sections[shndx]?.name ?? '') : raw,
      bind: BINDS[bind] ?? bind,
      type: TYPES[type] ?? type,
      visibility: VISIBILITIES[other & 3]!,
      shndx,
      value: r.size(o + 8, 'st_value', label),
      size: r.size(o + 16, 'st_size', label),
    });
  }
  return out;
}

function parseRelocs(r: ByteReader, sections: readonly ElfSection[], rel: ElfSection, nsyms: number): ElfRelocation[] {
  const label = sectionLabel(rel);
  const entsize = rel.type === SHT.RELA ? RELA_SIZE : REL_SIZE;
  if (rel.size % entsize !== 0)
    throw new ElfError('BAD_FIELD', `size ${rel.size} is not a multiple of ${entsize}`, { byteOffset: rel.offset, section: label });
  const target = sections[rel.info];
  if (!target || rel.info === 0)
    throw new ElfError('BAD_FIELD', `sh_info ${rel.info} names no section to relocate`, { byteOffset: rel.offset, section: label });
  const out: ElfRelocation[] = [];
  const rela = rel.type === SHT.RELA;
  const { view, le } = r;
  // the section's bytes are in the file (parseElfFile checked), so every entry is: its words are
  // read as 32-bit halves, not as BigInts (tens of thousands of DWARF relocations in a large
  // object were a tenth of a one-shot `bpf verify`); an r_offset past 2^53 takes the checked
  // read below, which throws as before
  const hiOf = le ? 4 : 0;
  const loOf = le ? 0 : 4;
  for (let k = 0; k < rel.size / entsize; k++) {
    const o = rel.offset + k * entsize;
    const offHi = view.getUint32(o + hiOf, le);
    const offset = offHi <= 0x1fffff ? offHi * 0x100000000 + view.getUint32(o + loOf, le) : r.size(o, 'r_offset', label);
    const symbol = view.getUint32(o + 8 + hiOf, le);
    const type = view.getUint32(o + 8 + loOf, le);
    if (symbol >= nsyms && symbol !== 0)
      throw new ElfError('BAD_RELOC', `relocation ${k} names symbol ${symbol}, the symbol table has ${nsyms}`, { byteOffset: o + 8, section: label });
    if (target.type !== SHT.NOBITS && offset >= target.size)
      throw new ElfError('BAD_RELOC', `relocation ${k} offset ${offset} is outside ${sectionLabel(target)} (${target.size} bytes)`, { byteOffset: o, section: label });
    out.push({
      relSection: rel.index,
      target: rel.info,
      offset,
      type,
      typeName: relocTypeName(type),
      symbol,
      addend: rela ? r.i64(o + 16, 'r_addend', label) : 0n,
      fileOffset: o,
    });
  }
  return out;
}
