/**
 * Static linking of BPF object files into one, as libbpf's BPF static linker does
 * (tools/lib/bpf/linker.c, what `bpftool gen object OUT A.o B.o` runs), so that objects built
 * to be linked first (an extern function, map or variable defined in another file; `__weak`
 * definitions another file overrides) open as one object.
 *
 * Each object is added in turn:
 * - sections of code and data are appended by name, each at the next offset its alignment
 *   allows (zero padding); `license` and `version` must be identical and are kept once;
 * - symbols: locals are copied; a global is merged with an earlier one of the same name —
 *   an extern takes the definition, a strong definition overrides a weak one (whose bytes
 *   stay in the section), two strong definitions are an error, and the BTF of both sides
 *   must agree (an extern map's definition must equal the map's);
 * - relocations move with their sections and point at the merged symbols; a call or load
 *   through a section symbol gets the section's new offset added to its immediate;
 * - `.BTF` types are appended (a global's FUNC / VAR once), one DATASEC per output section
 *   (variable offsets moved, sizes fixed), then duplicates merged (`dedupBtf`);
 * - `.BTF.ext` func_info, line_info and CO-RE records move to the new instruction offsets.
 * The result is written with libelf's layout, so it can be compared with bpftool's output.
 */
import { type Btf, BtfError, type BtfExt, type BtfType, btfString, dedupBtf, parseBtf, parseBtfExt, renumber, writeBtf } from '@bpf/btf';
import { type ElfEndian, type ElfFile, type ElfSection, type ElfSymbol, parseElfFile, SHF, SHN, SHT } from './elf.js';
import { type ElfSymbolOut, symtabBytes, writeElfObject, type WriteSection } from './elfwrite.js';
import { ElfError } from './errors.js';
import { btfMapDefsMatch, btfTypesMatch, resolveSize, StrSet, type TypeSource, writeBtfExtSections } from './static-link-btf.js';

export interface LinkInput {
  /** How errors name the object (a file name). */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** A link failure: the symbol and the objects involved, besides `ElfError`'s code and place. */
export class ElfLinkError extends ElfError {
  readonly symbol: string | undefined;
  readonly objects: readonly string[];
  constructor(message: string, where: { symbol?: string; objects: readonly string[]; section?: string; byteOffset?: number }) {
    super('BAD_LINK', message, { section: where.section, byteOffset: where.byteOffset });
    this.symbol = where.symbol;
    this.objects = where.objects;
  }
}

const BIND: Record<string, number> = { local: 0, global: 1, weak: 2 };
const TYPE: Record<string, number> = { notype: 0, object: 1, func: 2, section: 3, file: 4 };
const VIS: Record<string, number> = { default: 0, internal: 1, hidden: 2, protected: 3 };
const STB_LOCAL = 0, STB_GLOBAL = 1, STB_WEAK = 2;
const STT_OBJECT = 1, STT_SECTION = 3;
const BPF_CALL = 0x85;

interface SrcSec {
  readonly name: string;
  readonly sec: ElfSection | undefined; // undefined: an ephemeral section only BTF names (.kconfig, .ksyms)
  skipped: boolean;
  dstId: number;
  dstOff: number;
  /** The id of its DATASEC in the object's BTF, 0 if none. */
  btfTypeId: number;
}

interface DstSec {
  readonly id: number;
  readonly name: string;
  ephemeral: boolean;
  secIdx: number;
  nameOff: number;
  type: number;
  flags: number;
  align: number;
  entsize: number;
  link: number;
  info: number;
  data: Uint8Array;
  size: number;
  secSym: number;
  hasBtf: boolean;
  vars: { type: number; offset: number; size: number }[];
  func: { insnOff: number; typeId: number }[];
  line: { insnOff: number; fileNameOff: number; lineOff: number; line: number; column: number }[];
  core: { insnOff: number; typeId: number; accessStrOff: number; kind: number }[];
}

type OutSym = ElfSymbolOut;

interface GlobSym {
  symIdx: number;
  secId: number;
  btfId: number;
  /** 0: take the next VAR/FUNC's type; < 0: a type id of the object being added; > 0: a linker type id. */
  underlying: number;
  varIdx: number;
  isExtern: boolean;
  isWeak: boolean;
  /** The object whose definition (or, while extern, declaration) it holds. */
  object: string;
}

interface SrcObj {
  readonly name: string;
  readonly elf: ElfFile;
  readonly secs: SrcSec[];
  /** Mutable copies of the object's BTF types (DATASEC sizes and offsets fixed). */
  readonly btf: Btf | undefined;
  readonly types: BtfType[];
  readonly ext: BtfExt | undefined;
  readonly symMap: Int32Array;
  /** Object type id → linked type id, once its BTF is appended. */
  btfMap: Int32Array | undefined;
}

const nonStatic = (t: BtfType | undefined): boolean =>
  (t?.kind === 'VAR' && t.linkage !== 0) || (t?.kind === 'FUNC' && t.vlen !== 0);

/** Link `inputs` into one relocatable object, as `bpftool gen object` does. */
export function linkObjects(inputs: readonly LinkInput[]): Uint8Array {
  const l = new StaticLinker();
  for (const input of inputs) l.add(input);
  return l.finish();
}

export class StaticLinker {
  private endian: ElfEndian | undefined;
  private readonly strtab = new StrSet();
  private readonly dsts: DstSec[] = [];
  private readonly syms: OutSym[] = [{ nameOff: 0, info: 0, other: 0, shndx: 0, value: 0, size: 0 }];
  private readonly globs = new Map<string, GlobSym>();
  private readonly types: (BtfType | undefined)[] = [undefined];
  private readonly strs = new StrSet();
  private nextSecIdx = 3; // 1 .strtab, 2 .symtab
  private readonly view: TypeSource = { type: (id) => this.types[id], str: (off) => this.strs.get(off) };
  private readonly names: string[] = [];

  constructor() {
    this.strtab.add('.strtab');
    this.strtab.add('.symtab');
  }

  add(input: LinkInput): void {
    this.names.push(input.name);
    try {
      const obj = this.load(input);
      this.fixupBtf(obj);
      this.appendSecData(obj);
      this.appendSyms(obj);
      this.appendRelocs(obj);
      this.appendBtf(obj);
      this.appendBtfExt(obj);
    } catch (e) {
      // A string or type offset of the object's BTF that is not there, a table that runs
      // past its section: the object is malformed.
      if (e instanceof BtfError || e instanceof RangeError) throw this.err(`${input.name}: ${e.message}`, [input.name]);
      throw e;
    }
  }

  private err(message: string, objects: readonly string[], extra: { symbol?: string; section?: string; byteOffset?: number } = {}): ElfLinkError {
    return new ElfLinkError(message, { ...extra, objects });
  }

  private load(input: LinkInput): SrcObj {
    const elf = parseElfFile(input.bytes);
    const { header } = elf;
    if (header.type !== 1) throw this.err(`${input.name}: e_type ${header.type} is not ET_REL`, [input.name], { byteOffset: 16 });
    if (this.endian === undefined) this.endian = header.endian;
    else if (this.endian !== header.endian) throw this.err(`${input.name}: byte order mismatch (${header.endian}-endian, the link is ${this.endian}-endian)`, [input.name], { byteOffset: 5 });
    const secs: SrcSec[] = [];
    let btf: Btf | undefined;
    let ext: BtfExt | undefined;
    let extBytes: Uint8Array | undefined;
    let symtabs = 0;
    for (const s of elf.sections) {
      const src: SrcSec = { name: s.name, sec: s, skipped: false, dstId: 0, dstOff: 0, btfTypeId: 0 };
      secs.push(src);
      if (s.index === 0) continue;
      if (ignoredSection(s)) {
        src.skipped = true;
        continue;
      }
      // libbpf's sanity check: a power of 2 (0 and 1: none). Beyond 64 KiB we stop too: no BPF
      // section asks for it, and a fuzzed 2^40 would have us pad gigabytes.
      if ((s.addralign & (s.addralign - 1)) !== 0 || s.addralign > 0x10000)
        throw this.err(`${input.name}: section #${s.index} (${s.name}) alignment ${s.addralign} is not a power of 2 up to 65536`, [input.name], { section: s.name, byteOffset: s.offset });
      switch (s.type) {
        case SHT.SYMTAB: symtabs++; break;
        case SHT.PROGBITS:
          if (s.name === '.BTF') {
            btf = this.parse(() => parseBtf(s.data), input.name, s);
            src.skipped = true;
          } else if (s.name === '.BTF.ext') {
            extBytes = s.data;
            src.skipped = true;
          }
          break;
        case SHT.NOBITS: case SHT.REL: break;
        default:
          throw this.err(`${input.name}: unrecognized section #${s.index} (${s.name}) of type ${s.type}`, [input.name], { section: s.name, byteOffset: s.offset });
      }
    }
    if (symtabs !== 1) throw this.err(`${input.name}: ELF is missing a SYMTAB section`, [input.name]);
    if (extBytes) ext = this.parse(() => parseBtfExt(extBytes, header.endian), input.name, elf.sections.find((s) => s.name === '.BTF.ext')!);
    for (const sym of elf.symbols.slice(1)) {
      const bind = BIND[sym.bind] ?? -1;
      if (bind < 0) throw this.err(`${input.name}: symbol #${sym.index} (${sym.name}) has unsupported binding ${sym.bind}`, [input.name], { symbol: sym.name });
      if (sym.visibility !== 'default' && sym.visibility !== 'hidden')
        throw this.err(`${input.name}: symbol #${sym.index} (${sym.name}) has unsupported visibility ${sym.visibility}`, [input.name], { symbol: sym.name });
      if (sym.shndx === SHN.UNDEF && bind === STB_LOCAL) throw this.err(`${input.name}: symbol #${sym.index} (${sym.name}) is an invalid extern`, [input.name], { symbol: sym.name });
    }
    return { name: input.name, elf, secs, btf, types: btf ? [...btf.types] as BtfType[] : [], ext, symMap: new Int32Array(elf.symbols.length), btfMap: undefined };
  }

  private parse<T>(f: () => T, name: string, s: ElfSection): T {
    try {
      return f();
    } catch (e) {
      throw this.err(`${name}: ${s.name} cannot be read: ${e instanceof Error ? e.message : String(e)}`, [name], { section: s.name, byteOffset: s.offset });
    }
  }

  private srcStr(obj: SrcObj, off: number): string {
    return obj.btf ? btfString(obj.btf, off) : '';
  }

  private srcView(obj: SrcObj): TypeSource {
    return { type: (id) => obj.types[id], str: (off) => this.srcStr(obj, off) };
  }

  /** DATASEC sizes from the sections, global variables' offsets from their symbols; ephemeral sections for .kconfig / .ksyms. */
  private fixupBtf(obj: SrcObj): void {
    for (let id = 1; id < obj.types.length; id++) {
      const t = obj.types[id]!;
      if (t.kind !== 'DATASEC') continue;
      const name = this.srcStr(obj, t.nameOff);
      let sec = obj.secs.find((s, i) => i > 0 && s.name === name);
      let size = t.sizeOrType;
      if (sec) {
        if (sec.sec) size = sec.sec.size;
      } else {
        if (name === '.extern') continue;
        sec = { name, sec: undefined, skipped: false, dstId: 0, dstOff: 0, btfTypeId: 0 };
        obj.secs.push(sec);
      }
      sec.btfTypeId = id;
      const secIdx = sec.sec?.index ?? 0;
      const secinfo = t.secinfo.map((vi) => {
        const vt = obj.types[vi.type];
        if (vt?.kind !== 'VAR' || vt.linkage !== 1) return vi; // only allocated globals move
        const varName = this.srcStr(obj, vt.nameOff);
        const sym = obj.elf.symbols.find((s) => s.shndx === secIdx && TYPE[s.type] === STT_OBJECT && s.name === varName);
        if (!sym) throw this.err(`${obj.name}: no symbol for variable '${varName}' in section '${name}'`, [obj.name], { symbol: varName, section: name });
        return { ...vi, offset: sym.value };
      });
      obj.types[id] = { ...t, sizeOrType: size, secinfo };
    }
  }

  private findDst(name: string): DstSec | undefined {
    return this.dsts.find((d) => d.name === name);
  }

  private newDst(src: SrcSec): DstSec {
    const d: DstSec = {
      id: this.dsts.length + 3, name: src.name, ephemeral: true, secIdx: 0, nameOff: 0, type: 0, flags: 0, align: 1, entsize: 0, link: 0, info: 0,
      data: new Uint8Array(0), size: 0, secSym: 0, hasBtf: false, vars: [], func: [], line: [], core: [],
    };
    this.dsts.push(d);
    if (src.sec) this.initSec(d, src.sec);
    return d;
  }

  private dst(id: number): DstSec {
    return this.dsts[id - 3]!;
  }

  private initSec(d: DstSec, s: ElfSection): void {
    d.ephemeral = false;
    d.secIdx = this.nextSecIdx++;
    d.nameOff = this.strtab.add(s.name);
    d.type = s.type;
    d.flags = s.flags;
    d.align = s.addralign;
    d.entsize = s.entsize;
  }

  private secsMatch(d: DstSec, s: SrcSec): string | undefined {
    if (d.ephemeral || !s.sec) return undefined;
    if (d.type !== s.sec.type) return 'types';
    if (d.flags !== s.sec.flags) return 'flags';
    if (d.entsize !== s.sec.entsize) return 'entsize';
    return undefined;
  }

  private extend(d: DstSec, s: SrcSec): void {
    const sec = s.sec;
    if (!sec) return;
    if (d.ephemeral) this.initSec(d, sec);
    const align = Math.max(d.align || 1, sec.addralign);
    const at = Math.ceil(d.size / align) * align;
    const end = at + sec.size;
    if (sec.type !== SHT.NOBITS) {
      const data = new Uint8Array(end);
      data.set(d.data.subarray(0, d.size));
      data.set(sec.data, at);
      d.data = data;
    }
    d.size = end;
    d.align = align;
    s.dstOff = at;
  }

  private appendSecData(obj: SrcObj): void {
    for (let i = 1; i < obj.secs.length; i++) {
      const s = obj.secs[i]!;
      if (s.skipped || (s.sec && s.sec.type !== SHT.PROGBITS && s.sec.type !== SHT.NOBITS)) continue;
      let d = this.findDst(s.name);
      if (!d) d = this.newDst(s);
      else {
        const why = this.secsMatch(d, s);
        if (why) throw this.err(`ELF sections ${s.name} are incompatible (${why} differ) in ${obj.name}`, [obj.name], { section: s.name });
        if (s.name === 'license' || s.name === 'version') {
          const same = s.sec !== undefined && d.size === s.sec.size && d.data.subarray(0, d.size).every((b, k) => b === s.sec!.data[k]);
          if (!same) throw this.err(`non-identical contents of section '${s.name}' in ${obj.name}`, [obj.name], { section: s.name });
          s.skipped = true;
          s.dstId = d.id;
          continue;
        }
      }
      s.dstId = d.id;
      this.extend(d, s);
    }
  }

  /** libbpf's find_glob_sym_btf: the VAR / FUNC of a global symbol, and the DATASEC listing it. */
  private globBtf(obj: SrcObj, name: string): { secId: number; btfId: number } {
    if (!obj.btf) throw this.err(`${obj.name}: no BTF for global symbol '${name}'`, [obj.name], { symbol: name });
    let btfId = 0;
    for (let id = 1; id < obj.types.length; id++) {
      const t = obj.types[id]!;
      if (nonStatic(t)) {
        if (this.srcStr(obj, t.nameOff) === name) btfId = id;
        continue;
      }
      if (t.kind !== 'DATASEC') continue;
      for (const vi of t.secinfo) {
        const vt = obj.types[vi.type];
        if (!vt || this.srcStr(obj, vt.nameOff) !== name || !nonStatic(vt)) continue;
        if (btfId && btfId !== vi.type) throw this.err(`${obj.name}: BTF of global '${name}' is ambiguous (types #${btfId} and #${vi.type})`, [obj.name], { symbol: name });
        return { secId: id, btfId: vi.type };
      }
    }
    if (btfId) return { secId: 0, btfId };
    throw this.err(`${obj.name}: no BTF for global/extern symbol '${name}'`, [obj.name], { symbol: name });
  }

  private appendSyms(obj: SrcObj): void {
    for (const sym of obj.elf.symbols.slice(1)) this.appendSym(obj, sym);
  }

  private appendSym(obj: SrcObj, sym: ElfSymbol): void {
    const type = TYPE[sym.type] ?? (typeof sym.type === 'number' ? sym.type : 0);
    const bind = BIND[sym.bind]!;
    const vis = VIS[sym.visibility]!;
    const isExtern = sym.shndx === SHN.UNDEF;
    let src: SrcSec | undefined;
    let dst: DstSec | undefined;
    let local = bind === STB_LOCAL;
    if (!isExtern && sym.shndx < SHN.LORESERVE) {
      src = obj.secs[sym.shndx];
      if (!src) throw this.err(`${obj.name}: symbol ${sym.name} points to missing section #${sym.shndx}`, [obj.name], { symbol: sym.name });
      if (src.skipped) return;
      dst = this.dst(src.dstId);
      if (type === STT_SECTION && dst.secSym) {
        obj.symMap[sym.index] = dst.secSym;
        return;
      }
      if (src.name === '.jumptables') local = true;
    }
    if (!local) {
      const { secId, btfId } = this.globBtf(obj, sym.name);
      if (isExtern && secId) {
        const secName = this.srcStr(obj, obj.types[secId]!.nameOff);
        if (secName !== '.extern') {
          src = obj.secs.find((s, i) => i > 0 && s.name === secName);
          if (!src) throw this.err(`${obj.name}: no ELF section '${secName}' for extern '${sym.name}'`, [obj.name], { symbol: sym.name });
          dst = this.dst(src.dstId);
        }
      }
      const glob = this.globs.get(sym.name);
      if (glob) {
        obj.symMap[sym.index] = glob.symIdx;
        if (!isExtern && !glob.isExtern && !glob.isWeak && bind !== STB_WEAK)
          throw this.err(`conflicting non-weak definitions of '${sym.name}' in ${glob.object} and ${obj.name}`, [glob.object, obj.name], { symbol: sym.name });
        this.checkGlobMatch(obj, sym.name, glob, btfId);
        const out = this.syms[glob.symIdx]!;
        if (bind === STB_GLOBAL) {
          out.info = (STB_GLOBAL << 4) | (out.info & 0xf);
          glob.isWeak = false;
        }
        if (vis > (out.other & 3)) out.other = (out.other & ~3) | vis;
        if (isExtern) return;
        if (!glob.isExtern && bind === STB_WEAK) return;
        out.info = (out.info & 0xf0) | type;
        out.shndx = dst!.secIdx;
        out.value = src!.dstOff + sym.value;
        out.size = sym.size;
        glob.secId = dst!.id;
        glob.isExtern = false;
        glob.object = obj.name;
        this.completeExtern(obj, glob.btfId, btfId);
        glob.underlying = 0;
        return;
      }
    }
    const idx = this.syms.length;
    this.syms.push({
      nameOff: this.strtab.add(type === STT_SECTION ? rawSymbolName(obj.elf, sym) : sym.name),
      info: (bind << 4) | type,
      other: vis,
      shndx: dst ? dst.secIdx : sym.shndx,
      value: type === STT_SECTION && dst ? 0 : (src?.dstOff ?? 0) + sym.value,
      size: sym.size,
    });
    obj.symMap[sym.index] = idx;
    if (type === STT_SECTION && dst) dst.secSym = idx;
    if (!local)
      this.globs.set(sym.name, { symIdx: idx, secId: dst?.id ?? 0, btfId: 0, underlying: 0, varIdx: -1, isExtern, isWeak: bind === STB_WEAK, object: obj.name });
  }

  private checkGlobMatch(obj: SrcObj, name: string, glob: GlobSym, btfId: number): void {
    const fail = (why: string): ElfLinkError => this.err(`global '${name}' of ${obj.name} does not match ${glob.object}: ${why}`, [glob.object, obj.name], { symbol: name });
    if (!glob.btfId || !btfId) throw fail('BTF is missing');
    const t = obj.types[btfId];
    if (t?.kind !== 'VAR' && t?.kind !== 'FUNC') throw fail(`only variables and functions can be extern, not ${t?.kind ?? 'void'}`);
    const why = glob.secId && this.dst(glob.secId).name === '.maps'
      ? btfMapDefsMatch(this.view, glob.btfId, this.srcView(obj), btfId)
      : btfTypesMatch(this.view, glob.btfId, this.srcView(obj), btfId);
    if (why) throw fail(why);
  }

  /** An extern resolved to a definition: the VAR becomes allocated, the FUNC global with the definition's parameter names. */
  private completeExtern(obj: SrcObj, dstId: number, srcId: number): void {
    const d = this.types[dstId];
    if (d?.kind === 'VAR') {
      this.types[dstId] = { ...d, linkage: 1 };
      return;
    }
    if (d?.kind !== 'FUNC') return;
    this.types[dstId] = { ...d, vlen: 1 };
    const sp = obj.types[obj.types[srcId]!.sizeOrType];
    const dp = this.types[d.sizeOrType];
    if (sp?.kind !== 'FUNC_PROTO' || dp?.kind !== 'FUNC_PROTO') return;
    this.types[d.sizeOrType] = {
      ...dp,
      params: dp.params.map((p, i) => {
        const off = sp.params[i]?.nameOff ?? 0;
        return off ? { ...p, nameOff: this.strs.add(this.srcStr(obj, off)) } : p;
      }),
    };
  }

  private appendRelocs(obj: SrcObj): void {
    const le = this.endian === 'little';
    for (let i = 1; i < obj.secs.length; i++) {
      const s = obj.secs[i]!;
      if (s.skipped || !s.sec || s.sec.type !== SHT.REL) continue;
      const linked = obj.secs[s.sec.info];
      if (!linked || linked.skipped) continue;
      let d = this.findDst(s.name);
      if (!d) d = this.newDst(s);
      else if (this.secsMatch(d, s)) throw this.err(`sections ${s.name} are not compatible in ${obj.name}`, [obj.name], { section: s.name });
      const dl = this.dst(linked.dstId);
      d.link = 2;
      d.info = dl.secIdx;
      s.dstId = d.id;
      this.extend(d, s);
      const dv = new DataView(d.data.buffer, d.data.byteOffset);
      const code = new DataView(dl.data.buffer, dl.data.byteOffset);
      const n = s.sec.size / 16;
      for (let j = 0; j < n; j++) {
        const at = s.dstOff + j * 16;
        const rOff = Number(dv.getBigUint64(at, le));
        const info = dv.getBigUint64(at + 8, le);
        const symIdx = Number(info >> 32n);
        const rType = Number(info & 0xffffffffn);
        const srcSym = obj.elf.symbols[symIdx];
        if (!srcSym) throw this.err(`${obj.name}: relocation #${j} of ${s.name} points to missing symbol #${symIdx}`, [obj.name], { section: s.name });
        const newOff = rOff + linked.dstOff;
        dv.setBigUint64(at, BigInt(newOff), le);
        dv.setBigUint64(at + 8, (BigInt(obj.symMap[symIdx]!) << 32n) | BigInt(rType), le);
        if (TYPE[srcSym.type] !== STT_SECTION) continue;
        const target = obj.secs[srcSym.shndx];
        if (!(dl.flags & SHF.EXECINSTR))
          throw this.err(`${obj.name}: relocation against a section symbol in non-executable section ${linked.name}`, [obj.name], { section: s.name });
        if (!target || newOff + 8 > dl.size) throw this.err(`${obj.name}: relocation #${j} of ${s.name} is outside ${linked.name}`, [obj.name], { section: s.name });
        // A call to the first static function of .text or a load of a static variable names
        // the section: its immediate counts from the section start, which has moved.
        const add = dl.data[newOff] === BPF_CALL ? target.dstOff / 8 : target.dstOff;
        code.setInt32(newOff + 4, code.getInt32(newOff + 4, le) + add, le);
      }
    }
  }

  private addType(obj: SrcObj, t: BtfType): number {
    const s = (off: number): number => (off ? this.strs.add(this.srcStr(obj, off)) : 0);
    let copy: BtfType;
    switch (t.kind) {
      case 'STRUCT': case 'UNION': copy = { ...t, nameOff: s(t.nameOff), members: t.members.map((m) => ({ ...m, nameOff: s(m.nameOff) })) }; break;
      case 'ENUM': case 'ENUM64': copy = { ...t, nameOff: s(t.nameOff), values: t.values.map((v) => ({ ...v, nameOff: s(v.nameOff) })) }; break;
      case 'FUNC_PROTO': copy = { ...t, nameOff: s(t.nameOff), params: t.params.map((p) => ({ ...p, nameOff: s(p.nameOff) })) }; break;
      default: copy = { ...t, nameOff: s(t.nameOff) };
    }
    this.types.push(copy);
    return this.types.length - 1;
  }

  private appendBtf(obj: SrcObj): void {
    if (!obj.btf) return;
    const start = this.types.length;
    const map = new Int32Array(obj.types.length + 1);
    const globFor = (t: BtfType): GlobSym | undefined => (nonStatic(t) ? this.globs.get(this.srcStr(obj, t.nameOff)) : undefined);
    for (let id = 1; id < obj.types.length; id++) {
      const t = obj.types[id]!;
      if (t.kind === 'DATASEC') continue;
      let glob: GlobSym | undefined;
      if (nonStatic(t)) {
        glob = globFor(t);
        if (!glob) continue; // a VAR of a section kept once (license)
        if (glob.underlying === 0) glob.underlying = -t.sizeOrType;
        if (glob.btfId) {
          map[id] = glob.btfId;
          continue;
        }
      }
      map[id] = this.addType(obj, t);
      if (glob) {
        glob.btfId = map[id]!;
        glob.underlying = -t.sizeOrType;
      }
    }
    const remap = (r: number): number => {
      if (r === 0) return 0;
      const to = map[r] ?? 0;
      if (!to) throw this.err(`${obj.name}: BTF type #${r} has no place in the linked BTF`, [obj.name], { section: '.BTF' });
      return to;
    };
    for (let id = start; id < this.types.length; id++) this.types[id] = renumber(this.types[id]!, remap);
    for (const glob of this.globs.values()) {
      if (glob.underlying >= 0) continue;
      glob.underlying = map[-glob.underlying]!;
      const t = this.types[glob.btfId]!;
      this.types[glob.btfId] = { ...t, sizeOrType: glob.underlying };
    }
    for (let i = 1; i < obj.secs.length; i++) {
      const s = obj.secs[i]!;
      if (!s.btfTypeId || s.skipped) continue;
      const d = this.dst(s.dstId);
      d.hasBtf = true;
      const ds = obj.types[s.btfTypeId]!;
      if (ds.kind !== 'DATASEC') continue;
      for (const vi of ds.secinfo) {
        const newId = map[vi.type] ?? 0;
        const t = this.types[newId];
        let glob: GlobSym | undefined;
        if (nonStatic(t)) {
          const name = this.strs.get(t!.nameOff);
          glob = this.globs.get(name);
          if (glob && glob.secId !== d.id) throw this.err(`global '${name}' of ${obj.name}: section mismatch (${d.name})`, [glob.object, obj.name], { symbol: name, section: d.name });
        }
        if (glob && glob.varIdx >= 0) {
          if (t?.kind === 'FUNC') continue;
          const v = d.vars[glob.varIdx];
          if (!v) throw this.err(`global '${this.strs.get(t!.nameOff)}' of ${obj.name}: its DATASEC entry is in another section than ${d.name}`, [glob.object, obj.name], { section: d.name });
          v.size = resolveSize(this.view, glob.underlying);
          continue;
        }
        d.vars.push({ type: newId, size: vi.size, offset: s.dstOff + vi.offset });
        if (glob) glob.varIdx = d.vars.length - 1;
      }
    }
    obj.btfMap = map;
  }

  private appendBtfExt(obj: SrcObj): void {
    const ext = obj.ext;
    if (!ext || !obj.btf) return;
    const map = obj.btfMap!;
    const place = (secNameOff: number): [SrcSec, DstSec] => {
      const name = this.srcStr(obj, secNameOff);
      const s = obj.secs.find((x, i) => i > 0 && x.name === name);
      if (!s) throw this.err(`${obj.name}: .BTF.ext names section '${name}', which it lacks`, [obj.name], { section: '.BTF.ext' });
      return [s, this.dst(s.dstId)];
    };
    const str = (off: number): number => this.strs.add(this.srcStr(obj, off));
    for (const sec of ext.funcInfo) {
      const [s, d] = place(sec.secNameOff);
      for (const r of sec.records) d.func.push({ insnOff: r.insnOff + s.dstOff, typeId: map[r.typeId] ?? 0 });
    }
    for (const sec of ext.lineInfo) {
      const [s, d] = place(sec.secNameOff);
      for (const r of sec.records) {
        const fileNameOff = str(r.fileNameOff);
        const lineOff = str(r.lineOff);
        d.line.push({ insnOff: r.insnOff + s.dstOff, fileNameOff, lineOff, line: r.line, column: r.column });
      }
    }
    for (const sec of ext.coreRelo) {
      const [s, d] = place(sec.secNameOff);
      for (const r of sec.records) d.core.push({ insnOff: r.insnOff + s.dstOff, typeId: map[r.typeId] ?? 0, accessStrOff: str(r.accessStrOff), kind: r.kind });
    }
  }

  /** The linked object's bytes. */
  finish(): Uint8Array {
    const endian = this.endian ?? 'little';
    const extra: { name: string; data: Uint8Array }[] = [];
    if (this.types.length > 1) {
      for (const d of this.dsts) {
        if (!d.hasBtf) continue;
        this.types.push({ kind: 'DATASEC', nameOff: this.strs.add(d.name), kindFlag: false, vlen: d.vars.length, sizeOrType: d.size, secinfo: d.vars.map((v) => ({ ...v })) });
      }
      // Each kind of .BTF.ext record: its size and its words (type ids through the dedup map).
      const kinds: readonly { count: (d: DstSec) => number; size: number; words: (d: DstSec, ids: Uint32Array) => number[] }[] = [
        { count: (d) => d.func.length, size: 8, words: (d, ids) => d.func.flatMap((r) => [r.insnOff, ids[r.typeId] ?? 0]) },
        { count: (d) => d.line.length, size: 16, words: (d) => d.line.flatMap((r) => [r.insnOff, r.fileNameOff, r.lineOff, ((r.line << 10) | r.column) >>> 0]) },
        { count: (d) => d.core.length, size: 16, words: (d, ids) => d.core.flatMap((r) => [r.insnOff, ids[r.typeId] ?? 0, r.accessStrOff, r.kind]) },
      ];
      const hasExt = this.dsts.some((d) => kinds.some((k) => k.count(d) > 0));
      const secNames = new Map<DstSec, number>();
      if (hasExt) for (const k of kinds) for (const d of this.dsts) if (k.count(d)) secNames.set(d, this.strs.add(d.name));
      const raw: Btf = { endian, version: 1, flags: 0, types: this.types, firstId: 1, strings: this.strs.data(), stringBase: 0 };
      let deduped: ReturnType<typeof dedupBtf>;
      try {
        deduped = dedupBtf(raw);
      } catch (e) {
        // a cycle of reference types (a pointer to itself), a type that refers to a missing
        // one: libbpf's btf__dedup fails on them too, and its linker with it
        if (e instanceof BtfError) throw this.err(`.BTF of the link cannot be deduplicated: ${e.message}`, this.names, { section: '.BTF' });
        throw e;
      }
      const { btf, ids } = deduped;
      extra.push({ name: '.BTF', data: writeBtf(btf) });
      if (hasExt) {
        const subsections = kinds.map((k) => ({ recordSize: k.size, secs: this.dsts.filter((d) => k.count(d)).map((d) => ({ nameOff: secNames.get(d)!, count: k.count(d), words: k.words(d, ids) })) }));
        extra.push({ name: '.BTF.ext', data: writeBtfExtSections(subsections, endian) });
      }
    }
    const sections: WriteSection[] = [];
    const extraSecs = extra.map((e) => ({ nameOff: this.strtab.add(e.name), type: SHT.PROGBITS, flags: 0, link: 0, info: 0, addralign: 8, entsize: 0, data: e.data }));
    const symtab = symtabBytes(this.syms, endian);
    sections.push({ nameOff: this.strtab.add('.strtab'), type: SHT.STRTAB, flags: 0x20 /* SHF_STRINGS */, link: 0, info: 0, addralign: 1, entsize: 0, data: this.strtab.data() });
    sections.push({ nameOff: this.strtab.add('.symtab'), type: SHT.SYMTAB, flags: 0, link: 1, info: 0, addralign: 8, entsize: 24, data: symtab });
    for (const d of this.dsts.filter((x) => !x.ephemeral).sort((a, b) => a.secIdx - b.secIdx)) {
      sections.push({ nameOff: d.nameOff, type: d.type, flags: d.flags, link: d.link, info: d.info, addralign: d.align, entsize: d.entsize, data: d.data.subarray(0, d.type === SHT.NOBITS ? 0 : d.size), size: d.size });
    }
    sections.push(...extraSecs);
    return writeElfObject({ endian, sections, shstrndx: 1 });
  }
}

function ignoredSection(s: ElfSection): boolean {
  if (s.type === SHT.STRTAB || s.type === SHT.LLVM_ADDRSIG) return true;
  if (s.type === SHT.PROGBITS && s.size === 0 && s.name === '.text') return true;
  if (s.name.startsWith('.debug_')) return true;
  if (s.name.startsWith('.rel')) {
    const target = s.name.slice(4);
    if (target.startsWith('.debug_') || target === '.BTF' || target === '.BTF.ext') return true;
  }
  return false;
}

/** A symbol's own name (`parseElfFile` shows an unnamed section symbol with its section's name). */
function rawSymbolName(elf: ElfFile, sym: ElfSymbol): string {
  const symtab = elf.sections.find((s) => s.type === SHT.SYMTAB);
  const strtab = symtab && elf.sections[symtab.link];
  if (!symtab || !strtab) return sym.name;
  const at = sym.index * 24;
  const off = new DataView(symtab.data.buffer, symtab.data.byteOffset).getUint32(at, elf.header.endian === 'little');
  const end = strtab.data.indexOf(0, off);
  return new TextDecoder().decode(strtab.data.subarray(off, end < 0 ? strtab.data.length : end));
}

