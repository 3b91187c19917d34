/**
 * func_info / line_info, moved from the object's per-section records (`.BTF.ext`, byte
 * offsets within a section) to a linked program's instruction indices, as libbpf's
 * adjust_prog_btf_ext_info does for the main program and every appended subprogram
 * (tools/lib/bpf/libbpf.c). The records themselves come from `@bpf/btf`'s `.BTF.ext` parser.
 */
import type { FuncInfo, LineInfo } from '@bpf/isa';
import type { ElfSection } from './elf.js';
import type { ElfProgram } from './link.js';

/** A `.BTF.ext` func_info record: `insnOff` in bytes from the start of its section. */
export interface SectionFuncInfo {
  readonly insnOff: number;
  readonly typeId: number;
}

/** A `.BTF.ext` line_info record: `insnOff` in bytes from the start of its section. */
export type SectionLineInfo = LineInfo;

/** Records by section name, as `.BTF.ext` groups them. */
export interface ExtInfoBySection {
  readonly funcInfo: ReadonlyMap<string, readonly SectionFuncInfo[]>;
  readonly lineInfo: ReadonlyMap<string, readonly SectionLineInfo[]>;
}

export interface PlacedExtInfo {
  /** One per subprogram, in order; absent when some subprogram has none (libbpf then drops them all). */
  readonly funcInfo?: readonly FuncInfo[];
  readonly lineInfo: readonly LineInfo[];
}

/** Place an object's func_info / line_info on a linked program's instruction indices. */
export function placeExtInfo(
  prog: ElfProgram,
  sections: readonly ElfSection[],
  ext: ExtInfoBySection,
  /** FUNC type ids of the host-supplied functions (they have no `.BTF.ext` record), by name. */
  hostFuncTypes: ReadonlyMap<string, number> = new Map(),
): PlacedExtInfo {
  const funcInfo: FuncInfo[] = [];
  const lineInfo: LineInfo[] = [];
  let allFuncs = true;
  const hostStarts: number[] = [];
  for (const s of prog.subprogs) {
    const from = prog.origin[s.start];
    if (!from) continue;
    if (from.sectionIndex < 0) {
      const typeId = hostFuncTypes.get(s.name);
      if (typeId !== undefined) funcInfo.push({ insnOff: s.start, typeId });
      else allFuncs = false;
      // The kernel wants line info at every function's start once a program has some; the
      // host's code has no source: an empty file name and line 0 (string offset 0 is "").
      hostStarts.push(s.start);
      continue;
    }
    const secName = sections[from.sectionIndex]?.name ?? '';
    const lo = from.insn;
    const hi = lo + (s.end - s.start);
    const moved = (byteOff: number): number | undefined => {
      if (byteOff % 8 !== 0) return undefined;
      const k = byteOff / 8;
      return k >= lo && k < hi ? s.start + (k - lo) : undefined;
    };
    const f = (ext.funcInfo.get(secName) ?? []).find((r) => moved(r.insnOff) === s.start);
    if (f) funcInfo.push({ insnOff: s.start, typeId: f.typeId });
    else allFuncs = false;
    for (const l of ext.lineInfo.get(secName) ?? []) {
      const at = moved(l.insnOff);
      if (at !== undefined) lineInfo.push({ ...l, insnOff: at });
    }
  }
  if (lineInfo.length) for (const at of hostStarts) lineInfo.push({ insnOff: at, fileNameOff: 0, lineOff: 0, line: 0, column: 0 });
  lineInfo.sort((a, b) => a.insnOff - b.insnOff);
  return allFuncs && funcInfo.length ? { funcInfo, lineInfo } : { lineInfo };
}
