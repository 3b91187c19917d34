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
export function placeExtInfo(prog: ElfProgram, sections: readonly ElfSection[], ext: ExtInfoBySection): PlacedExtInfo {
  const funcInfo: FuncInfo[] = [];
  const lineInfo: LineInfo[] = [];
  let allFuncs = true;
  for (const s of prog.subprogs) {
    const from = prog.origin[s.start];
    if (!from) continue;
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
  lineInfo.sort((a, b) => a.insnOff - b.insnOff);
  return allFuncs && funcInfo.length ? { funcInfo, lineInfo } : { lineInfo };
}
