/**
 * The BPF view of an ELF object: functions (entry programs in their `SEC()` sections,
 * subprograms in `.text`), the instruction relocations they carry, maps, license and
 * version. This is the object as clang wrote it; link.ts turns entry programs into
 * loadable `Program`s the way libbpf does.
 */
import type { Insn } from '@bpf/isa';
import { decode } from '@bpf/isa';
import type { ElfFile, ElfHeader, ElfRelocation, ElfSection, ElfSymbol } from './elf.js';
import { ByteReader, parseElfFile, sectionLabel, SHF, SHN, SHT } from './elf.js';
import { ElfError } from './errors.js';
import type { ElfMap } from './maps.js';
import { btfMapPlaceholders, dataMap, dataSectionKind, legacyMaps } from './maps.js';
import type { SecDef } from './sections.js';
import { findSecDef } from './sections.js';
import { parseBtfTable } from './btfadapter.js';
import { resolveBtfMaps } from './btfmaps.js';

/** One function symbol in an executable section. */
export interface ElfFunction {
  readonly name: string;
  readonly section: string;
  readonly sectionIndex: number;
  readonly symbolIndex: number;
  /** First instruction slot within the section. */
  readonly start: number;
  /** One past the last slot within the section. */
  readonly end: number;
  readonly linkage: 'static' | 'global';
  /** The libbpf convention of the section (entry programs only). */
  readonly secDef?: SecDef;
}

/** What an instruction relocation refers to, classified as libbpf's bpf_program__record_reloc does. */
export type InsnRelocKind =
  /** `call` to a subprogram: target = symbol + imm + 1 slots. */
  | 'call'
  /** `ld_imm64` of a subprogram's address (becomes src=BPF_PSEUDO_FUNC): target = symbol + imm bytes. */
  | 'func'
  /** `ld_imm64` of a map (legacy `maps` or `.maps`). */
  | 'map'
  /** `ld_imm64` of an address in global data (`.data`, `.rodata`, `.bss`). */
  | 'map_value'
  /** `call` to an undefined function: a kfunc. */
  | 'extern_call'
  /** `ld_imm64` of an undefined variable: a `__ksym` or `__kconfig` extern. */
  | 'extern_ld';

export interface InsnReloc {
  readonly kind: InsnRelocKind;
  /** Executable section the instruction is in. */
  readonly sectionIndex: number;
  /** Instruction slot within that section. */
  readonly insn: number;
  readonly symbol: ElfSymbol;
  /** Name of the map, or of the extern. */
  readonly name: string;
  readonly raw: ElfRelocation;
}

export interface ElfObject {
  readonly header: ElfHeader;
  readonly endian: ElfHeader['endian'];
  readonly sections: readonly ElfSection[];
  readonly symbols: readonly ElfSymbol[];
  /** Every relocation in the file (instruction, DWARF and BTF ones alike). */
  readonly relocations: readonly ElfRelocation[];
  /** Entry programs, in section then offset order. */
  readonly programs: readonly ElfFunction[];
  /** Subprograms in `.text`, by offset. */
  readonly subprograms: readonly ElfFunction[];
  /** Decoded slots of every executable section, by section index (before relocation). */
  readonly code: ReadonlyMap<number, readonly Insn[]>;
  /** Instruction relocations, by section index then slot. */
  readonly insnRelocs: ReadonlyMap<number, ReadonlyMap<number, InsnReloc>>;
  /** Legacy and global-data maps (BTF-defined `.maps` are added by the BTF stage). */
  readonly maps: readonly ElfMap[];
  readonly license?: string;
  /** The `version` section (kern_version), when present. */
  readonly kernVersion?: number;
  /** Raw `.BTF` and `.BTF.ext`, when present. */
  readonly btf?: Uint8Array;
  readonly btfExt?: Uint8Array;
}

const TEXT = '.text';

const isExec = (s: ElfSection): boolean => s.type === SHT.PROGBITS && (s.flags & SHF.EXECINSTR) !== 0;

/** Parse an object file. Throws {@link ElfError} on any malformed input. */
export function parseElf(bytes: Uint8Array): ElfObject {
  const file = parseElfFile(bytes);
  const { sections, symbols } = file;
  const r = new ByteReader(bytes, file.header.endian);

  const code = new Map<number, Insn[]>();
  for (const s of sections) {
    if (!isExec(s) || s.size === 0) continue;
    if (s.size % 8 !== 0)
      throw new ElfError('BAD_PROGRAM', `size ${s.size} is not a multiple of 8`, { byteOffset: s.offset, section: sectionLabel(s) });
    code.set(s.index, decode(s.data, { endian: file.header.endian, strict: false }));
  }

  const programs: ElfFunction[] = [];
  const subprograms: ElfFunction[] = [];
  for (const sym of symbols) {
    if (sym.type !== 'func' || sym.shndx === SHN.UNDEF || sym.shndx >= SHN.LORESERVE) continue;
    const sec = sections[sym.shndx];
    if (!sec) throw new ElfError('BAD_FIELD', `symbol ${sym.name} is in section ${sym.shndx}, which does not exist`, { byteOffset: symOffset(file, sym) });
    if (!code.has(sec.index)) continue;
    const label = sectionLabel(sec);
    if (sym.value % 8 !== 0 || sym.size % 8 !== 0 || sym.value + sym.size > sec.size || sym.size === 0)
      throw new ElfError('BAD_PROGRAM', `function ${sym.name} (${sym.size} bytes at ${sym.value}) is not whole instructions inside the section`, {
        byteOffset: symOffset(file, sym),
        section: label,
      });
    const linkage = sym.bind === 'local' ? 'static' : 'global';
    const base = { name: sym.name, section: sec.name, sectionIndex: sec.index, symbolIndex: sym.index, start: sym.value / 8, end: (sym.value + sym.size) / 8, linkage } as const;
    if (sec.name === TEXT) {
      subprograms.push(base);
      continue;
    }
    // libbpf: "sec '%s': program '%s' is static and not supported".
    if (linkage === 'static')
      throw new ElfError('BAD_PROGRAM', `program ${sym.name} is static; programs outside .text must be global`, { byteOffset: symOffset(file, sym), section: label });
    const secDef = findSecDef(sec.name);
    programs.push(secDef ? { ...base, secDef } : base);
  }
  const byStart = (a: ElfFunction, b: ElfFunction): number => a.sectionIndex - b.sectionIndex || a.start - b.start;
  programs.sort(byStart);
  subprograms.sort(byStart);
  for (const list of [programs, subprograms]) {
    for (let k = 1; k < list.length; k++) {
      const a = list[k - 1]!, b = list[k]!;
      if (a.sectionIndex === b.sectionIndex && b.start < a.end)
        throw new ElfError('BAD_PROGRAM', `functions ${a.name} and ${b.name} overlap`, { byteOffset: sections[b.sectionIndex]!.offset + b.start * 8, section: b.section });
    }
  }

  // Maps, in libbpf's order: legacy, (BTF-defined later), global data.
  const maps: ElfMap[] = [];
  for (const s of sections) if (s.name === 'maps' && s.type === SHT.PROGBITS) maps.push(...legacyMaps(r, s, symbols));
  for (const s of sections) if (s.name === '.maps') maps.push(...btfMapPlaceholders(s, symbols));
  for (const s of sections) {
    if (dataSectionKind(s.name) !== undefined && (s.type === SHT.PROGBITS || s.type === SHT.NOBITS) && (s.flags & SHF.ALLOC) !== 0 && s.size > 0)
      maps.push(dataMap(s));
  }

  const insnRelocs = classifyRelocs(file, code, maps);

  const licenseSec = sections.find((s) => s.name === 'license');
  const versionSec = sections.find((s) => s.name === 'version');
  let license: string | undefined;
  if (licenseSec) {
    const end = licenseSec.data.indexOf(0);
    license = new TextDecoder().decode(licenseSec.data.subarray(0, end < 0 ? licenseSec.data.length : end));
  }
  let kernVersion: number | undefined;
  if (versionSec) {
    if (versionSec.size !== 4) throw new ElfError('BAD_FIELD', `version section is ${versionSec.size} bytes, not 4`, { byteOffset: versionSec.offset, section: 'version' });
    kernVersion = r.u32(versionSec.offset, 'kern_version', 'version');
  }
  const btf = sections.find((s) => s.name === '.BTF')?.data;
  const btfExt = sections.find((s) => s.name === '.BTF.ext')?.data;
  // BTF-defined maps are described by the object's own BTF: read them here so the object
  // lists real maps (loadPrograms reuses them).
  let resolvedMaps: ElfMap[] = maps;
  if (btf && maps.some((m) => m.btfPending)) {
    const mapsSec = sections.find((x) => x.name === '.maps');
    const relocs = mapsSec ? file.relocations.filter((r) => r.target === mapsSec.index).map((r) => ({ offset: r.offset, symbol: symbols[r.symbol]?.name ?? '' })) : [];
    resolvedMaps = resolveBtfMaps(maps, parseBtfTable(btf).table, relocs);
  }
  return {
    header: file.header,
    endian: file.header.endian,
    sections,
    symbols,
    relocations: file.relocations,
    programs,
    subprograms,
    code,
    insnRelocs,
    maps: resolvedMaps,
    ...(license !== undefined ? { license } : {}),
    ...(kernVersion !== undefined ? { kernVersion } : {}),
    ...(btf ? { btf } : {}),
    ...(btfExt ? { btfExt } : {}),
  };
}

function symOffset(file: ElfFile, sym: ElfSymbol): number | undefined {
  const symtab = file.sections.find((s) => s.type === SHT.SYMTAB);
  return symtab ? symtab.offset + sym.index * 24 : undefined;
}

/** Classify every relocation against an executable section (libbpf: bpf_program__record_reloc). */
function classifyRelocs(file: ElfFile, code: ReadonlyMap<number, readonly Insn[]>, maps: readonly ElfMap[]): Map<number, Map<number, InsnReloc>> {
  const out = new Map<number, Map<number, InsnReloc>>();
  const { sections, symbols } = file;
  for (const rel of file.relocations) {
    const insns = code.get(rel.target);
    if (!insns) continue;
    const sec = sections[rel.target]!;
    const relSec = sectionLabel(sections[rel.relSection]!);
    const fail = (msg: string): ElfError => new ElfError('BAD_RELOC', msg, { byteOffset: rel.fileOffset, section: relSec, insn: Math.floor(rel.offset / 8) });
    if (rel.offset % 8 !== 0) throw fail(`offset ${rel.offset} in ${sectionLabel(sec)} is not at an instruction`);
    const idx = rel.offset / 8;
    const i = insns[idx]!;
    if (rel.symbol === 0) throw fail('relocation without a symbol');
    const sym = symbols[rel.symbol]!;
    const isCall = i.code === 0x85;
    const isLd64 = i.code === 0x18;
    if (!isCall && !isLd64) throw fail(`instruction 0x${i.code.toString(16)} is neither ld_imm64 nor call`);
    if (isLd64 && idx + 1 >= insns.length) throw fail('ld_imm64 is missing its second slot');
    let kind: InsnRelocKind;
    let name = sym.name;
    if (sym.shndx === SHN.UNDEF) {
      kind = isCall ? 'extern_call' : 'extern_ld';
      if (!name) throw fail('relocation against an unnamed undefined symbol');
    } else {
      const target = sections[sym.shndx];
      if (!target) throw fail(`symbol ${sym.name || sym.index} is in section ${sym.shndx}, which does not exist`);
      name = sym.name || target.name;
      if (isCall) {
        // libbpf: "bad call relo against '%s' in section '%s'" unless the callee is in .text.
        if (i.src !== 1) throw fail(`call relocation on a call with src ${i.src}, not BPF_PSEUDO_CALL`);
        if (target.name !== TEXT) throw fail(`call relocation against ${name} in ${sectionLabel(target)}; subprograms must be in .text`);
        if (sym.value % 8 !== 0) throw fail(`call target ${name} is not at an instruction`);
        kind = 'call';
      } else if (code.has(target.index)) {
        if (target.name !== TEXT) throw fail(`address of ${name} in ${sectionLabel(target)}; subprograms must be in .text`);
        if (sym.value % 8 !== 0 || i.imm % 8 !== 0) throw fail(`address of ${name} is not at an instruction`);
        kind = 'func';
      } else if (target.name === 'maps' || target.name === '.maps') {
        const m = maps.find((x) => x.sectionIndex === target.index && x.offset === sym.value);
        if (!m) throw fail(`no map definition at offset ${sym.value} of ${target.name}`);
        name = m.name;
        kind = 'map';
      } else if (dataSectionKind(target.name) !== undefined) {
        kind = 'map_value';
        name = target.name;
      } else {
        throw fail(`relocation against ${name} in ${sectionLabel(target)}, which is neither code, a map nor global data`);
      }
    }
    let perSec = out.get(rel.target);
    if (!perSec) out.set(rel.target, (perSec = new Map<number, InsnReloc>()));
    if (perSec.has(idx)) throw fail(`second relocation for the same instruction`);
    perSec.set(idx, { kind, sectionIndex: rel.target, insn: idx, symbol: sym, name, raw: rel });
  }
  return out;
}
