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

// Each section's records indexed once (an object of hundreds of programs sharing one large
// `.text` would otherwise scan all of its line_info for every function of every program).
const funcIndex = new WeakMap<readonly SectionFuncInfo[], ReadonlyMap<number, SectionFuncInfo>>();
const lineIndex = new WeakMap<readonly SectionLineInfo[], readonly SectionLineInfo[]>();
const NONE: readonly never[] = [];

/** The first func_info record at each byte offset of a section. */
function funcAt(records: readonly SectionFuncInfo[] | undefined): ReadonlyMap<number, SectionFuncInfo> {
  if (!records) return new Map();
  let m = funcIndex.get(records);
  if (!m) {
    const byOff = new Map<number, SectionFuncInfo>();
    for (const r of records) if (!byOff.has(r.insnOff)) byOff.set(r.insnOff, r);
    funcIndex.set(records, (m = byOff));
  }
  return m;
}

/** A section's line_info records sorted by byte offset (a stable sort: record order within an offset). */
function byOffset(records: readonly SectionLineInfo[] | undefined): readonly SectionLineInfo[] {
  if (!records) return NONE;
  let sorted = lineIndex.get(records);
  if (!sorted) lineIndex.set(records, (sorted = [...records].sort((a, b) => a.insnOff - b.insnOff)));
  return sorted;
}

/** The index of the first record at or after byte offset `off`. */
function firstAtOrAfter(sorted: readonly SectionLineInfo[], off: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]!.insnOff < off) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
    const f = funcAt(ext.funcInfo.get(secName)).get(lo * 8);
    if (f) funcInfo.push({ insnOff: s.start, typeId: f.typeId });
    else allFuncs = false;
    // the section's records from the function's first slot on, in record order for each offset
    const lines = byOffset(ext.lineInfo.get(secName));
    for (let k = firstAtOrAfter(lines, lo * 8); k < lines.length; k++) {
      const l = lines[k]!;
      const at = moved(l.insnOff);
      if (l.insnOff >= hi * 8) break;
      if (at !== undefined) lineInfo.push({ ...l, insnOff: at });
    }
  }
  if (lineInfo.length) for (const at of hostStarts) lineInfo.push({ insnOff: at, fileNameOff: 0, lineOff: 0, line: 0, column: 0 });
  lineInfo.sort((a, b) => a.insnOff - b.insnOff);
  return allFuncs && funcInfo.length ? { funcInfo, lineInfo } : { lineInfo };
}
