/**
 * `loadPrograms`: bytes in, loadable programs out: parse, apply CO-RE, link (subprograms,
 * maps, global data), resolve externs and place func/line info when BTF is available.
 *
 * BTF arrives as type tables (`BtfTypeTable`) and `.BTF.ext` records, both produced by
 * `@bpf/btf`; without them everything that does not need BTF still happens, BTF-defined
 * maps keep `btfPending`, and externs keep their relocations for the host.
 */
import type { FuncInfo, Insn, LineInfo } from '@bpf/isa';
import { datasecVars, kconfigLayout, resolveBtfMaps } from './btfmaps.js';
import { writeKconfig, type KconfigValue } from './kconfig.js';
import type { BtfTypeTable } from './btfview.js';
import { indexByName, skipModsAndTypedefs } from './btfview.js';
import type { CoreRelo } from './core.js';
import { calcCoreRelo, patchCoreInsn, typesCompat } from './core.js';
import { BtfError } from '@bpf/btf';
import { ElfError } from './errors.js';
import { kernelBtf } from './kernelbtf.js';
import type { SectionFuncInfo, SectionLineInfo } from './extinfo.js';
import { placeExtInfo } from './extinfo.js';
import type { ElfProgram, Linker } from './link.js';
import { hasCrossSectionCalls, linkPrograms } from './link.js';
import type { ElfMap } from './maps.js';
import type { ArenaLayout } from './maps.js';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, placeArenaGlobals } from './maps.js';
import type { ElfObject } from './object.js';
import type { ParseOptions } from './object.js';
import { parseElf } from './object.js';
import { btfExtRecords, parseBtfTable } from './btfadapter.js';
import { structOpsMaps } from './structops.js';
import { exceptionCallbacks } from './exccb.js';
import type { GlobalValue } from './globals.js';
import { setGlobals } from './globals.js';
import type { Opener } from './libbpfopen.js';
import { checkAsLibbpfOpens } from './libbpfopen.js';

/** `.BTF.ext` contents by section name. */
export interface BtfExtRecords {
  readonly funcInfo?: ReadonlyMap<string, readonly SectionFuncInfo[]>;
  readonly lineInfo?: ReadonlyMap<string, readonly SectionLineInfo[]>;
  readonly coreRelos?: ReadonlyMap<string, readonly CoreRelo[]>;
}

export interface LoadOptions extends ParseOptions {
  /**
   * `parseElf(bytes, { legacyMaps })` of these same bytes, when the caller has made it already
   * (it is only read): the object is not parsed again. A caller that reads an object before
   * deciding how to load it saves a second parse (tens of milliseconds for a large object).
   */
  readonly parsed?: ElfObject;
  /** The object's own `.BTF`, as a type table: BTF-defined maps, kconfig externs, CO-RE. */
  readonly objectBtf?: BtfTypeTable;
  /** The object's `.BTF.ext` records. */
  readonly btfExt?: BtfExtRecords;
  /**
   * The target kernel's BTF (`/sys/kernel/btf/vmlinux`, raw bytes or a table): extern ids,
   * attach targets and CO-RE targets.
   */
  readonly kernelBtf?: BtfTypeTable | Uint8Array;
  /**
   * Values of `__kconfig` externs (libbpf reads them from /proc/config.gz): a configuration
   * line's text after `=` (`y`, `m`, `"text"`, `250`), read by each extern's type as the
   * linker's loader reads it (`kconfig.ts`), or a number or boolean. When given, every non-weak
   * kconfig extern needs one; when absent the `.kconfig` map is left zeroed.
   */
  readonly kconfig?: Readonly<Record<string, KconfigValue>>;
  /** Kernel symbol addresses (/proc/kallsyms) for typeless `extern const void x __ksym`. */
  readonly kallsyms?: ReadonlyMap<string, bigint>;
  /**
   * The attach target a host loader sets before loading, replacing the section's (cilium/ebpf's
   * `ProgramSpec.AttachTo`; tetragon gives every fentry / LSM program of a generic object the
   * hook of its policy). Called for each tracing / LSM / iterator program; `undefined` keeps the
   * section's. LSM targets are hook names (`file_open`), as in the section.
   */
  readonly attachTo?: (program: { readonly name: string; readonly section: string }) => string | undefined;
  /**
   * Bodies of extern functions the host links in at load time (tetragon appends its compiled
   * CEL expressions as `cel_expr_N`, cilium/ebpf resolving the calls by name): each call to one
   * becomes a BPF-to-BPF call to a static subprogram appended after the object's code, with
   * func_info naming the extern's FUNC (made static). Other extern functions are kfuncs.
   */
  readonly functions?: ReadonlyMap<string, readonly Insn[]>;
  /**
   * Whose rules link BPF-to-BPF calls (see {@link Linker}). Default: libbpf's, except for an
   * object that calls into an executable section other than `.text` (a `static` function in
   * a section of its own), which only cilium/ebpf loads: such an object is linked as
   * cilium/ebpf links it. `libbpf` refuses it as libbpf does.
   */
  readonly linker?: Linker;
  /**
   * The machine's possible CPUs as cilium/ebpf counts them (`PossibleCPU`: the highest number in
   * /sys/devices/system/cpu/possible plus one). Under cilium/ebpf's rules a perf event array's or
   * CPU map's max_entries of 0, or above that count, becomes the count (its
   * `MapSpec.fixupMagicFields`: objects declare such maps for 128 CPUs, or leave the size to the
   * loader). Not given: their max_entries stay as declared.
   */
  readonly possibleCpus?: number;
  /**
   * Whose rules open the object (see {@link Opener}). Default: libbpf 1.x's when the object is
   * linked by libbpf's rules (an extern its BTF does not describe refuses the object, as
   * `bpf_object__open` refuses it), none under cilium/ebpf's. `raw` is for the loaders that read
   * the ELF file themselves (iproute2, samples/bpf's bpf_load.c, falco's legacy loader).
   */
  readonly opener?: Opener;
  /**
   * Global variables to set before the maps are made, by name (a libbpf skeleton's
   * `skel->rodata->num_cpu = n`, cilium/ebpf's `VariableSpec.Set`): integers written into
   * the `.data*`, `.rodata*` or `.bss*` map that holds each, in the object's byte order, or a
   * variable's bytes given whole (a struct).
   */
  readonly globals?: Readonly<Record<string, GlobalValue>>;
  /**
   * The attach target's BTF id a host found itself, for fentry / fexit programs it attaches to
   * another BPF program (libbpf's `bpf_program__set_attach_target(prog, prog_fd, func)`: the
   * id of FUNC in that program's BTF, loaded with `attach_prog_fd`). A number skips the search
   * in the kernel's BTF for that program.
   */
  readonly attachBtfId?: (program: { readonly name: string; readonly section: string }) => number | undefined;
  /** Where `__arena` global variables go in the arena map (the target's page size, its ld_imm64 offset range). */
  readonly arena?: ArenaLayout;
  /**
   * Which programs the host loads with the object (libbpf's `bpf_program__set_autoload`; bcc's
   * libbpf-tools turn off the fentry or the kprobe variant, whichever this kernel cannot take).
   * Default: the object's own choice, every program but `SEC("?...")` ones. libbpf looks an
   * attach target up only for a program it loads, so one left out whose target this kernel
   * lacks does not refuse the object: it carries that error as `unresolved`.
   */
  readonly autoload?: (program: { readonly name: string; readonly section: string }) => boolean;
}

/** An object as its loader prepares it: programs linked, maps defined, the BTF the kernel will take. */
export interface LoadedObject {
  /** The entry programs, linked (those of `loadPrograms`). */
  readonly programs: readonly ElfProgram[];
  /**
   * Every map the object defines, as the programs' `maps` hold them: BTF-defined ones resolved,
   * global data with its initial bytes, `.kconfig`, struct_ops. An object of maps only (no
   * programs) has them here, to be created by themselves (`@bpf/kernel`'s `createMaps`).
   */
  readonly maps: readonly ElfMap[];
  /** The object's `.BTF` as the kernel will take it (the maps' key and value types), when it has one that could be fixed up. */
  readonly btf?: { readonly bytes: Uint8Array };
}

/** Parse an object and return its entry programs, linked as libbpf links them. */
export function loadPrograms(bytes: Uint8Array, given: LoadOptions = {}): ElfProgram[] {
  return [...loadObject(bytes, given).programs];
}

/** Parse an object and return its programs (linked as `loadPrograms` links them), its maps and its BTF. */
export function loadObject(bytes: Uint8Array, given: LoadOptions = {}): LoadedObject {
  let obj: ElfObject = given.parsed ?? parseElf(bytes, given.legacyMaps ? { legacyMaps: given.legacyMaps } : {});
  const opts = withObjectBtf(obj, given);
  let maps: ElfMap[] = given.globals ? setGlobals(obj, obj.maps, given.globals) : [...obj.maps];
  // whose rules link the object (and read its kconfig values): CO-RE below changes only its code
  const linker: Linker = opts.linker ?? (hasCrossSectionCalls(obj) ? 'cilium/ebpf' : 'libbpf');
  // libbpf checks the object's externs when it opens it, before anything else
  if ((opts.opener ?? (linker === 'libbpf' ? 'libbpf' : 'raw')) === 'libbpf') checkAsLibbpfOpens(obj, opts.objectBtf, new Set(opts.functions?.keys()));
  const kconfig = new Map<string, number>();
  let kconfigSize: number | undefined;
  if (opts.objectBtf) {
    const btf = opts.objectBtf;
    const mapsSec = obj.sections.find((x) => x.name === '.maps');
    const mapsRelocs = mapsSec ? obj.relocations.filter((r) => r.target === mapsSec.index).map((r) => ({ offset: r.offset, symbol: obj.symbols[r.symbol]?.name ?? '' })) : [];
    maps = resolveBtfMaps(maps, btf, mapsRelocs);
    // libbpf (bpf_map_find_btf_info): a global-data map is typed by its section's DATASEC, with
    // no key type, so the kernel sees the special fields of global variables (a bpf_spin_lock)
    maps = maps.map((m) => {
      if (m.kind !== 'data') return m;
      const id = datasecId(btf, m.name);
      return id === undefined ? m : { ...m, btfKeyTypeId: 0, btfValueTypeId: id };
    });
    const layout = kconfigLayout(btf);
    if (layout) {
      const { size } = layout;
      kconfigSize = size;
      if (!Number.isSafeInteger(size) || size > 1 << 20) throw new ElfError('BAD_BTF', `.kconfig of ${size} bytes`, { section: '.kconfig' });
      const data = new Uint8Array(size);
      const view = new DataView(data.buffer);
      for (const v of layout.vars) {
        kconfig.set(v.name, v.offset);
        const given = opts.kconfig?.[v.name];
        if (given === undefined) {
          // libbpf: "extern (kcfg) '%s': value not found" unless the extern is __weak.
          const weak = obj.symbols.some((x) => x.name === v.name && x.bind === 'weak');
          if (opts.kconfig && !weak) throw new ElfError('UNRESOLVED_EXTERN', `kconfig extern ${v.name}: no value given`, { section: '.kconfig', extern: v.name });
          continue;
        }
        writeKconfig(btf, v, given, view, obj.endian === 'little', linker);
      }
      maps.push({ kind: 'kconfig', name: '.kconfig', type: 'array', keySize: 4, valueSize: size, maxEntries: 1, flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE, frozen: true, data, section: '.kconfig', sectionIndex: 0, offset: 0 });
    }
  }
  maps = placeArenaGlobals(maps, obj.arenaData, opts.arena);
  if (linker === 'cilium/ebpf') maps = maps.map((m) => ciliumMapSizes(m, opts.possibleCpus));
  // CO-RE needs a target: without a kernel BTF the code stays as clang wrote it (fine for
  // disassembly; libbpf would refuse to load it).
  const core = opts.btfExt?.coreRelos;
  if (core?.size && opts.kernelBtf) {
    if (!opts.objectBtf) throw new ElfError('BAD_CORE', 'CO-RE relocations need the object BTF');
    obj = applyCore(obj, core, opts.objectBtf, opts.kernelBtf);
  }
  const structOps = opts.objectBtf && opts.kernelBtf ? structOpsMaps(obj, opts.objectBtf, opts.kernelBtf) : [];
  maps.push(...structOps);
  // libbpf loads an object without a license section with license "" (not GPL-compatible).
  const hostFunctions = opts.functions ?? new Map<string, readonly Insn[]>();
  const excCbs = opts.objectBtf ? exceptionCallbacks(obj, opts.objectBtf) : new Map<string, string>();
  const ksyms = new Set(opts.objectBtf ? (datasecVars(opts.objectBtf, '.ksyms') ?? []).map((v) => v.name) : []);
  let progs = linkPrograms(obj, maps, kconfig, hostFunctions, excCbs, { linker, ksyms }).map((p) => (p.license === undefined ? { ...p, license: '' } : p));
  for (const m of structOps) {
    for (const f of m.structOps.funcs) {
      progs = progs.map((p) => {
        if (p.name !== f.program) return p;
        if (p.structOpsMember !== undefined && p.structOpsMember !== f.memberIndex)
          throw new ElfError('BAD_PROGRAM', `${p.name} implements two different struct_ops members`, { section: p.section });
        return { ...p, attachBtfId: m.structOps.kernTypeId, structOpsMember: f.memberIndex };
      });
    }
  }
  if (opts.kernelBtf) {
    const weak = new Set(obj.symbols.filter((x) => x.bind === 'weak' && x.shndx === 0).map((x) => x.name));
    const typeless = new Set<string>();
    if (opts.objectBtf) {
      const btf = opts.objectBtf;
      // A ksym whose type is void is typeless: its address comes from kallsyms, not BTF.
      for (const v of datasecVars(btf, '.ksyms') ?? [])
        if (v.kind === 'var' && skipModsAndTypedefs(btf, v.type)?.t.kind === 'void') typeless.add(v.name);
    }
    const host = opts.attachTo;
    if (host) progs = progs.map((p) => (p.attachTo === undefined ? p : { ...p, attachTo: host(p) ?? p.attachTo }));
    const byHost = opts.attachBtfId;
    // cilium/ebpf resolves a program's kfuncs, ksyms and attach target when it loads that
    // program (prog.go: newProgramWithOptions, linker.go: fixupKfuncs, resolveKsymReferences),
    // so one that names what this kernel lacks is refused alone and the others load; libbpf
    // resolves every extern of the object first (bpf_object__resolve_externs) and refuses the
    // whole object, whether or not the program that uses it is to be loaded.
    const perProgram = linker === 'cilium/ebpf';
    const sectionNames = new Map(obj.sections.map((x) => [x.index, x.name]));
    // libbpf refuses the object over the first extern in its order (bpf_object__resolve_externs:
    // externs sorted by name, the ones resolved through BTF before typeless ones)
    const refusals: { e: ElfError; typed: boolean }[] = [];
    const refused = (e: ElfError, typed: boolean): void => void refusals.push({ e, typed });
    const resolved = progs.map((p) => resolveExterns(p, opts.kernelBtf!, weak, { typeless, ...(opts.kallsyms ? { kallsyms: opts.kallsyms } : {}), ...(perProgram ? { perProgram, ksyms } : { refused }), sectionNames, ...(opts.objectBtf ? { objectBtf: opts.objectBtf } : {}) }));
    const first = refusals.sort((a, b) => Number(b.typed) - Number(a.typed) || (a.e.extern! < b.e.extern! ? -1 : a.e.extern! > b.e.extern! ? 1 : 0))[0];
    if (first) throw first.e;
    progs = progs.map((p, k) => {
      const linked = resolved[k]!;
      const id = p.attachTo === undefined ? undefined : byHost?.(p);
      if (id !== undefined) return { ...linked, attachBtfId: id };
      try {
        return resolveAttachTarget(linked, opts.kernelBtf!);
      } catch (e) {
        // libbpf finds a program's attach target when it loads that program (libbpf_prepare_prog_load),
        // so a SEC("?...") program, not loaded by default, or one its host turned off (`autoload`),
        // whose target this kernel lacks costs the object nothing: it stays without an attach BTF id, and loading it is refused then, with
        // this error. cilium/ebpf does the same for every program.
        const loads = opts.autoload ? opts.autoload(p) : p.autoload;
        if ((loads && !perProgram) || !(e instanceof ElfError)) throw e;
        return linked.unresolved ? linked : { ...linked, unresolved: e };
      }
    });
  }
  else if (opts.attachBtfId) {
    const byHost = opts.attachBtfId;
    progs = progs.map((p) => {
      const id = p.attachTo === undefined ? undefined : byHost(p);
      return id === undefined ? p : { ...p, attachBtfId: id };
    });
  }
  // The .BTF the kernel will take (func_info and line_info refer to it). An object whose BTF
  // cannot be fixed up still yields its programs, without `btf`; loading then needs one.
  let btfBytes: Uint8Array | undefined;
  try {
    btfBytes = kernelBtf(obj, { ...(kconfigSize === undefined ? {} : { kconfigSize, kconfigOffsets: kconfig }), ...(hostFunctions.size ? { hostFunctions: new Set(hostFunctions.keys()) } : {}) });
  } catch (e) {
    if (!(e instanceof ElfError) && !(e instanceof BtfError)) throw e;
  }
  if (btfBytes) {
    const btf = { bytes: btfBytes };
    progs = progs.map((p) => ({ ...p, btf }));
  }
  const ext = opts.btfExt;
  const hostFuncTypes = new Map<string, number>();
  if (hostFunctions.size && opts.objectBtf) {
    const funcs = indexByName(opts.objectBtf, ['func']);
    for (const name of hostFunctions.keys()) {
      const id = funcs.get(name)?.[0];
      if (id !== undefined) hostFuncTypes.set(name, id);
    }
  }
  if (ext?.funcInfo || ext?.lineInfo) {
    progs = progs.map((p) => {
      const placed = placeExtInfo(p, obj.sections, { funcInfo: ext.funcInfo ?? new Map(), lineInfo: ext.lineInfo ?? new Map() }, hostFuncTypes);
      const funcInfo: readonly FuncInfo[] | undefined = placed.funcInfo;
      const lineInfo: readonly LineInfo[] = placed.lineInfo;
      return { ...p, ...(funcInfo ? { funcInfo } : {}), ...(lineInfo.length ? { lineInfo } : {}) };
    });
  }
  return { programs: progs, maps, ...(btfBytes ? { btf: { bytes: btfBytes } } : {}) };
}

/** The type id of the DATASEC named `section`, if the BTF has one. */
function datasecId(btf: BtfTypeTable, section: string): number | undefined {
  for (let id = 1; id < btf.count; id++) {
    const t = btf.type(id);
    if (t?.kind === 'datasec' && t.name === section) return id;
  }
  return undefined;
}

/** Apply CO-RE relocations to copies of the object's code. */
export function applyCore(obj: ElfObject, relos: ReadonlyMap<string, readonly CoreRelo[]>, local: BtfTypeTable, target: BtfTypeTable): ElfObject {
  const code = new Map(obj.code);
  const targetIndex = indexByName(target, ['struct', 'union', 'enum', 'enum64', 'int', 'float', 'typedef', 'fwd']);
  for (const [secName, list] of relos) {
    const sec = obj.sections.find((s) => s.name === secName && code.has(s.index));
    if (!sec) throw new ElfError('BAD_CORE', `CO-RE relocations for ${secName}, which holds no code`, { section: secName });
    const insns = [...code.get(sec.index)!];
    for (const r of list) {
      const res = calcCoreRelo(local, target, r, { bigEndian: obj.endian === 'big', section: secName, targetIndex });
      patchCoreInsn(insns, res, (m) => new ElfError('BAD_CORE', m, { section: secName, insn: Math.floor(r.insnOff / 8) }));
    }
    code.set(sec.index, insns);
  }
  return { ...obj, code };
}

/** How `resolveExterns` treats what the kernel lacks. */
export interface ResolveExternsOptions {
  /** Typeless ksyms (`extern const void x __ksym`): their addresses come from `kallsyms`. */
  readonly typeless?: ReadonlySet<string>;
  /** Kernel symbol addresses (/proc/kallsyms). */
  readonly kallsyms?: ReadonlyMap<string, bigint>;
  /**
   * cilium/ebpf's rules: a non-weak extern the kernel lacks refuses this program only (it gets
   * `unresolved`, the first such error, instead of a throw); a call to a function the object
   * declares but that is no `__ksym` (not in `ksyms`) is an unsatisfied reference; a call to a
   * missing `__weak` kfunc becomes cilium/ebpf's poisoned helper call (`call 0xdedc0de`).
   */
  readonly perProgram?: boolean;
  /** The object's `.ksyms` externs (its BTF's `.ksyms` DATASEC), for `perProgram`. */
  readonly ksyms?: ReadonlySet<string>;
  /**
   * The object's BTF: a kfunc's prototype there (its extern FUNC's) must be compatible with the
   * kernel's (CO-RE type compatibility, libbpf's bpf_core_types_are_compat and cilium/ebpf's
   * btf.CheckTypeCompatibility: same number of parameters, compatible return and parameter
   * types). Without it prototypes are not checked.
   */
  readonly objectBtf?: BtfTypeTable;
  /**
   * Section names by index: an error then names the section and slot the instruction came
   * from (a subprogram's `.text`), else the program's section and its own instruction index.
   */
  readonly sectionNames?: ReadonlyMap<number, string>;
  /**
   * Without `perProgram`: called with each extern refused (`typed`: found through BTF, a kfunc
   * or typed ksym; else a typeless ksym) instead of throwing the first.
   */
  readonly refused?: (e: ElfError, typed: boolean) => void;
}

/**
 * The helper id cilium/ebpf calls in place of a `__weak` kfunc the kernel lacks (linker.go:
 * kfuncCallPoisonBase), so that the kernel's "invalid func unknown#233688286" names it if the
 * call is reachable. libbpf 1.1 (bpftool's) leaves such a call a kfunc call with id 0 instead.
 */
export const CILIUM_KFUNC_POISON = 0xdedc0de;

/** `{ ...i, src, imm }` written as a literal: every slot keeps the decoder's one object shape. */
const slot = (i: Insn, src: number, imm: number): Insn => ({ code: i.code, dst: i.dst, src, off: i.off, imm });

/**
 * kfunc calls and typed ksyms: the vmlinux BTF ids of the FUNC / VAR named by each reloc.
 * Unresolved `__weak` externs are allowed, as in libbpf (1.1, bpftool's): a kfunc call keeps
 * imm 0, which the kernel accepts as long as the call is dead (verifier.c: add_kfunc_call
 * skips func_id 0); a variable's (or kfunc's) address loads as 0. A non-weak one the kernel
 * lacks throws, as libbpf refuses the object, unless `perProgram` (cilium/ebpf's rules) puts
 * the error on the program.
 */
export function resolveExterns(p: ElfProgram, kernel: BtfTypeTable, weak: ReadonlySet<string> = new Set(), opts: ResolveExternsOptions = {}): ElfProgram {
  // the indexes on first use: most programs name no kfunc or kernel variable
  let funcsIndex: ReadonlyMap<string, readonly number[]> | undefined;
  let varsIndex: ReadonlyMap<string, readonly number[]> | undefined;
  const funcs = { get: (name: string) => (funcsIndex ??= indexByName(kernel, ['func'])).get(name) };
  const vars = { get: (name: string) => (varsIndex ??= indexByName(kernel, ['var'])).get(name) };
  let localIndex: ReadonlyMap<string, readonly number[]> | undefined;
  const local = { get: (name: string) => (localIndex ??= opts.objectBtf ? indexByName(opts.objectBtf, ['func']) : new Map<string, number[]>()).get(name) };
  const insns = [...p.insns];
  const poisoned = new Set<number>();
  let unresolved: ElfError | undefined;
  // the place of the relocated instruction as clang wrote it (a subprogram's is in .text)
  const placeOf = (insn: number): { section: string; insn: number } => {
    const o = p.origin[insn];
    const name = o === undefined ? undefined : opts.sectionNames?.get(o.sectionIndex);
    return name === undefined ? { section: p.section, insn } : { section: name, insn: o!.insn };
  };
  const refuse = (message: string, insn: number, extern: string, typed = true): void => {
    const e = new ElfError('UNRESOLVED_EXTERN', message, { ...placeOf(insn), extern });
    if (opts.perProgram) unresolved ??= e;
    else if (opts.refused) opts.refused(e, typed);
    else throw e;
  };
  for (const r of p.relocs) {
    if (r.kind !== 'kfunc' && r.kind !== 'ksym') continue;
    if (r.kind === 'ksym' && opts.typeless?.has(r.name)) {
      // libbpf: typeless ksyms load the symbol's address as a plain 64-bit constant.
      const addr = opts.kallsyms?.get(r.name);
      if (addr === undefined && !weak.has(r.name)) {
        refuse(`typeless ksym ${r.name} has no kallsyms address`, r.insn, r.name, false);
        continue;
      }
      const u = BigInt.asUintN(64, addr ?? 0n);
      insns[r.insn] = slot(insns[r.insn]!, 0, Number(BigInt.asIntN(32, u & 0xffffffffn)));
      insns[r.insn + 1] = slot(insns[r.insn + 1]!, insns[r.insn + 1]!.src, Number(BigInt.asIntN(32, u >> 32n)));
      continue;
    }
    // cilium/ebpf takes for kfuncs only the functions of the `.ksyms` DATASEC; a call to any
    // other declared function stays a reference to a symbol nobody defines (elf_reader.go,
    // testdata/fwd_decl.c), which it refuses when it loads the program
    if (opts.perProgram && r.kind === 'kfunc' && !opts.ksyms?.has(r.name)) {
      refuse(`call to ${r.name}, a function the object declares but does not define, and no __ksym kfunc: an unsatisfied reference`, r.insn, r.name);
      continue;
    }
    // An ld_imm64 of a kfunc's address (`if (bpf_some_kfunc)`) is a ksym naming a FUNC.
    const ids = r.kind === 'kfunc' ? funcs.get(r.name) : (vars.get(r.name) ?? funcs.get(r.name));
    if (!ids?.length && weak.has(r.name)) {
      if (r.kind === 'ksym') insns[r.insn] = slot(insns[r.insn]!, 0, 0);
      else if (opts.perProgram) {
        insns[r.insn] = { code: 0x85, dst: 0, src: 0, off: 0, imm: CILIUM_KFUNC_POISON };
        poisoned.add(r.insn);
      }
      continue;
    }
    if (!ids?.length) {
      refuse(`${r.kind === 'kfunc' ? 'kfunc' : 'kernel variable'} ${r.name} is not in the kernel BTF`, r.insn, r.name);
      continue;
    }
    const incompatible = r.kind === 'kfunc' && opts.objectBtf ? kfuncProtoMismatch(opts.objectBtf, kernel, r.name, ids[0]!, local) : undefined;
    if (incompatible !== undefined) {
      // libbpf takes an incompatible __weak kfunc as absent (bpf_object__resolve_ksym_func_btf_id);
      // cilium/ebpf refuses it all the same (linker.go: fixupKfuncs)
      if (!weak.has(r.name) || opts.perProgram) {
        refuse(opts.perProgram ? `kfunc "${r.name}": ${incompatible.cilium}` : incompatible.libbpf, r.insn, r.name);
        continue;
      }
      continue;
    }
    insns[r.insn] = slot(insns[r.insn]!, insns[r.insn]!.src, ids[0]!);
  }
  const relocs = poisoned.size ? p.relocs.filter((r) => !(r.kind === 'kfunc' && poisoned.has(r.insn))) : p.relocs;
  return { ...p, insns, relocs, ...(unresolved ? { unresolved } : {}) };
}

/**
 * Why an extern kfunc's prototype in the object (its FUNC of `extern` linkage) does not match
 * the kernel's FUNC `kernId`, in libbpf's words and in cilium/ebpf's; undefined when they are
 * compatible or the object has no FUNC of that name.
 */
function kfuncProtoMismatch(obj: BtfTypeTable, kernel: BtfTypeTable, name: string, kernId: number, local: { get(name: string): readonly number[] | undefined }): { libbpf: string; cilium: string } | undefined {
  const fn = (local.get(name) ?? []).map((id) => ({ id, t: obj.type(id) })).find((x) => x.t?.kind === 'func');
  const kfn = kernel.type(kernId);
  if (fn?.t?.kind !== 'func' || kfn?.kind !== 'func') return undefined;
  if (typesCompat(obj, fn.t.type, kernel, kfn.type)) return undefined;
  const lp = skipModsAndTypedefs(obj, fn.t.type)?.t;
  const kp = skipModsAndTypedefs(kernel, kfn.type)?.t;
  const params = lp?.kind === 'func_proto' && kp?.kind === 'func_proto' && lp.params.length !== kp.params.length;
  return {
    libbpf: `extern (func ksym) '${name}': func_proto [${fn.t.type}] incompatible with vmlinux [${kfn.type}]`,
    cilium: params ? 'function param mismatch: incompatible types' : 'type mismatch between the prototypes: incompatible types',
  };
}

/**
 * The BTF id a tracing / LSM / iterator program attaches to, found as libbpf's
 * find_attach_btf_id does: `tp_btf/X` is the typedef `btf_trace_X`, `lsm/X` the function
 * `bpf_lsm_X`, `iter/X` the function `bpf_iter_X`, `fentry/X` (fexit, fmod_ret) the function X.
 */
export function resolveAttachTarget(p: ElfProgram, kernel: BtfTypeTable): ElfProgram {
  if (p.attachTo === undefined) return p;
  const t = p.expectedAttachType;
  const [prefix, kind] =
    t === 'trace_raw_tp' ? ['btf_trace_', 'typedef' as const]
    : t === 'lsm_mac' || t === 'lsm_cgroup' ? ['bpf_lsm_', 'func' as const]
    : t === 'trace_iter' ? ['bpf_iter_', 'func' as const]
    : ['', 'func' as const];
  const ids = indexByName(kernel, [kind]).get(prefix + p.attachTo);
  if (!ids?.length)
    throw new ElfError('UNRESOLVED_EXTERN', `attach target ${kind} ${prefix}${p.attachTo} of ${p.name} is not in the kernel BTF`, { section: p.section });
  return { ...p, attachBtfId: ids[0]! };
}

/**
 * Fill in what the caller did not give from the object itself: its `.BTF` (read with
 * `@bpf/btf`) and `.BTF.ext` records.
 */
function withObjectBtf(obj: ElfObject, given: LoadOptions): LoadOptions & { readonly kernelBtf?: BtfTypeTable } {
  const opts = given.kernelBtf instanceof Uint8Array ? { ...given, kernelBtf: parseBtfTable(given.kernelBtf, 'kernel BTF').table } : (given as LoadOptions & { readonly kernelBtf?: BtfTypeTable });
  if (!obj.btf || (opts.objectBtf && opts.btfExt)) return opts;
  const { btf, table } = parseBtfTable(obj.btf);
  const ext = !opts.btfExt && obj.btfExt ? btfExtRecords(obj.btfExt, btf, obj.endian) : undefined;
  return { ...opts, ...(opts.objectBtf ? {} : { objectBtf: table }), ...(ext ? { btfExt: ext } : {}) };
}

const MAP_OF_MAPS: ReadonlySet<string> = new Set(['array_of_maps', 'hash_of_maps']);

/**
 * The sizes cilium/ebpf gives a map before it creates it. Reading the object
 * (mapSpecFromBTF), a value typed with `__type(value, ...)` has no size for the map types that
 * take none (ring buffer, arena, and perf event array, which bpf2go users annotate for the
 * generated Go type); creating it (MapSpec.fixupMagicFields), a perf event array's key and value
 * are 4 bytes, as is a map of maps' value, and other sizes of them are refused; a perf event
 * array or CPU map gets at most one entry per possible CPU (`cpus`, when known), and that many
 * when it declares none.
 */
function ciliumMapSizes(m: ElfMap, cpus: number | undefined): ElfMap {
  const perf = m.type === 'perf_event_array';
  // one slot per possible CPU at most (0: the loader's to size)
  if (cpus !== undefined && (perf || m.type === 'cpumap') && (m.maxEntries === 0 || m.maxEntries > cpus)) m = { ...m, maxEntries: cpus };
  const typedValue = m.btfValueTypeId !== undefined && m.kind !== 'data';
  if ((m.type === 'ringbuf' || m.type === 'arena') && typedValue) return { ...m, valueSize: 0 };
  if (!perf && !MAP_OF_MAPS.has(m.type)) return m;
  const valueSize = perf && typedValue ? 0 : m.valueSize;
  const where = { section: m.section };
  if (perf && m.keySize !== 0 && m.keySize !== 4) throw new ElfError('BAD_MAP', `map ${m.name}: KeySize must be zero or four for perf event array (cilium/ebpf)`, where);
  if (valueSize !== 0 && valueSize !== 4) throw new ElfError('BAD_MAP', `map ${m.name}: ValueSize must be zero or four for ${perf ? 'perf event array' : 'map of map'} (cilium/ebpf)`, where);
  return perf ? { ...m, keySize: 4, valueSize: 4 } : { ...m, valueSize: 4 };
}
