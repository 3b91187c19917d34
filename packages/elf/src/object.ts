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
import type { LegacyMapFlavor } from './maps.js';
import { btfMapPlaceholders, dataMap, dataSectionKind, isLegacyMapsSection, legacyMaps } from './maps.js';
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
  /**
   * Not an `STT_FUNC` symbol: the whole section (or, in `.text`, the code from one global
   * symbol to the next), as old clang and `llvm-mc` objects carry no function symbols.
   */
  readonly synthesized?: boolean;
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
  /** `ld_imm64` of an address in the arena's global data (`.addr_space.1`: `__arena` variables). */
  | 'arena'
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
  /**
   * The initial bytes of `__arena` global variables (the `.addr_space.1` section), which libbpf
   * copies into the object's arena map when it creates it.
   */
  readonly arenaData?: { readonly section: string; readonly sectionIndex: number; readonly data: Uint8Array };
}

/** The section clang puts `__arena` global variables in (libbpf's ARENA_SEC). */
export const ARENA_SECTION = '.addr_space.1';

const TEXT = '.text';

const isExec = (s: ElfSection): boolean => s.type === SHT.PROGBITS && (s.flags & SHF.EXECINSTR) !== 0;

export interface ParseOptions {
  /** How legacy `maps` definitions longer than `struct bpf_map_def` are read (default `auto`). */
  readonly legacyMaps?: LegacyMapFlavor;
}

/** Parse an object file. Throws {@link ElfError} on any malformed input. */
export function parseElf(bytes: Uint8Array, opts: ParseOptions = {}): ElfObject {
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

  const { programs, subprograms } = discoverFunctions(file, code);
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
  maps.push(...legacyMaps(r, sections.filter((s) => isLegacyMapsSection(s.name) && s.type === SHT.PROGBITS), symbols, opts.legacyMaps));
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
  const arenaSec = sections.find((s) => s.name === ARENA_SECTION && s.type === SHT.PROGBITS);
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
    ...(arenaSec ? { arenaData: { section: arenaSec.name, sectionIndex: arenaSec.index, data: arenaSec.data.slice() } } : {}),
  };
}

/**
 * Functions of every executable section, found as libbpf (0.x and 1.x), iproute2 and PREVAIL
 * find them:
 * - `STT_FUNC` symbols, each its own function (a size of 0, as `llvm-mc` leaves it without
 *   `.size`, runs to the next function or the section end);
 * - a section without `STT_FUNC` symbols (old clang wrote `NOTYPE` ones, or only the section
 *   symbol) is one program from offset 0 to its end, named by the global symbol at 0, else by
 *   the section; in `.text`, every global symbol starts a function (hand-written assembly).
 * Entry programs are the functions outside `.text`; an object with no code outside `.text`
 * (what `llvm-mc -filetype=obj` makes) has its `.text` functions as programs. Static
 * programs are accepted, as libbpf 0.x, iproute2 and cilium/ebpf accept them.
 */
function discoverFunctions(file: ElfFile, code: ReadonlyMap<number, readonly Insn[]>): { programs: ElfFunction[]; subprograms: ElfFunction[] } {
  const { sections, symbols } = file;
  const bySection = new Map<number, ElfFunction[]>();
  const add = (f: ElfFunction): void => {
    const list = bySection.get(f.sectionIndex);
    if (list) list.push(f);
    else bySection.set(f.sectionIndex, [f]);
  };
  const funcSyms = symbols.filter((sym) => sym.type === 'func' && sym.shndx !== SHN.UNDEF && sym.shndx < SHN.LORESERVE);
  for (const sym of funcSyms) {
    const sec = sections[sym.shndx];
    if (!sec) throw new ElfError('BAD_FIELD', `symbol ${sym.name} is in section ${sym.shndx}, which does not exist`, { byteOffset: symOffset(file, sym) });
  }
  for (const [index, insns] of code) {
    const sec = sections[index]!;
    const label = sectionLabel(sec);
    const size = insns.length * 8;
    const funcs = funcSyms.filter((sym) => sym.shndx === index).sort((a, b) => a.value - b.value);
    if (funcs.length > 0) {
      // llvm-mc leaves st_size 0 without a `.size` directive: the function runs to the next one.
      const nextStart: number[] = new Array<number>(funcs.length);
      for (let k = funcs.length - 1, next = size; k >= 0; k--) {
        nextStart[k] = next;
        if (k > 0 && funcs[k - 1]!.value < funcs[k]!.value) next = funcs[k]!.value;
      }
      funcs.forEach((sym, k) => {
        const next = nextStart[k]!;
        const bytes = sym.size === 0 ? next - sym.value : sym.size;
        if (sym.value % 8 !== 0 || bytes % 8 !== 0 || sym.value + bytes > size || bytes <= 0)
          throw new ElfError('BAD_PROGRAM', `function ${sym.name} (${sym.size} bytes at ${sym.value}) is not whole instructions inside the section`, {
            byteOffset: symOffset(file, sym),
            section: label,
          });
        add({ name: sym.name, section: sec.name, sectionIndex: index, symbolIndex: sym.index, start: sym.value / 8, end: (sym.value + bytes) / 8, linkage: sym.bind === 'local' ? 'static' : 'global' });
      });
      continue;
    }
    // No STT_FUNC: global (or weak) named symbols mark entry points; local NOTYPE ones are
    // clang's branch labels (LBB0_3) and never start a function.
    const inSection = symbols.filter((sym) => sym.shndx === index && sym.type !== 'section' && sym.type !== 'file' && sym.name !== '' && sym.value % 8 === 0 && sym.value < size);
    const named = inSection.filter((sym) => sym.bind !== 'local').sort((a, b) => a.value - b.value);
    let starts = [0];
    if (sec.name === TEXT) {
      // Hand-written .text: functions start at global labels and at the targets of
      // BPF-to-BPF calls (`call helper` to a local label needs no relocation).
      const targets = insns.flatMap((i, k) => (i.code === 0x85 && i.src === 1 && !file.relocations.some((r) => r.target === index && r.offset === k * 8) ? [(k + i.imm + 1) * 8] : []));
      starts = [...new Set([0, ...named.map((x) => x.value), ...targets.filter((t) => t > 0 && t < size)])].sort((a, b) => a - b);
    }
    starts.forEach((at, k) => {
      // libbpf 0.x names a section's program by its global symbol at 0 only; local labels
      // name only the call targets of hand-written .text.
      const sym = named.find((x) => x.value === at) ?? (sec.name === TEXT ? inSection.find((x) => x.value === at) : undefined);
      add({
        name: sym?.name ?? (at === 0 ? sec.name : `${sec.name}+0x${at.toString(16)}`),
        section: sec.name,
        sectionIndex: index,
        symbolIndex: sym?.index ?? 0,
        start: at / 8,
        end: (starts[k + 1] ?? size) / 8,
        linkage: sym && sym.bind !== 'local' ? 'global' : 'static',
        synthesized: true,
      });
    });
  }
  const programs: ElfFunction[] = [];
  const subprograms: ElfFunction[] = [];
  const hasProgramSections = [...bySection.keys()].some((i) => sections[i]!.name !== TEXT);
  // A .text-only object: its global functions are the programs (all of them when none is global).
  const textOnlyGlobal = !hasProgramSections && [...bySection.values()].flat().some((f) => f.linkage === 'global');
  for (const list of bySection.values()) {
    for (const f of list) {
      if (f.section === TEXT && (hasProgramSections || (textOnlyGlobal && f.linkage === 'static'))) {
        subprograms.push(f);
        continue;
      }
      const secDef = f.section === TEXT ? undefined : findSecDef(f.section);
      programs.push(secDef ? { ...f, secDef } : f);
    }
  }
  return { programs, subprograms };
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
        // A callee outside .text (cilium/ebpf links it; libbpf refuses it when linking,
        // "bad call relo against '%s' in section '%s'": link.ts decides by the linker).
        if (i.src !== 1) throw fail(`call relocation on a call with src ${i.src}, not BPF_PSEUDO_CALL`);
        if (!code.has(target.index)) throw fail(`call relocation against ${name} in ${sectionLabel(target)}, which holds no code`);
        if (sym.value % 8 !== 0) throw fail(`call target ${name} is not at an instruction`);
        kind = 'call';
      } else if (code.has(target.index)) {
        if (sym.value % 8 !== 0 || i.imm % 8 !== 0) throw fail(`address of ${name} is not at an instruction`);
        kind = 'func';
      } else if (isLegacyMapsSection(target.name) || target.name === '.maps') {
        const m = maps.find((x) => x.sectionIndex === target.index && x.offset === sym.value);
        if (!m) throw fail(`no map definition at offset ${sym.value} of ${target.name}`);
        name = m.name;
        kind = 'map';
      } else if (dataSectionKind(target.name) !== undefined) {
        kind = 'map_value';
        name = target.name;
      } else if (target.name === ARENA_SECTION && target.type === SHT.PROGBITS) {
        // libbpf: data in the arena map, placed when the arena map is known (link.ts)
        kind = 'arena';
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
