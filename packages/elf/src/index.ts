export { ElfError } from './errors.js';
export type { ElfErrorCode, ElfPlace } from './errors.js';
export { EM_BPF, EM_NONE, R_BPF, SHF, SHN, SHT, parseElfFile, relocTypeName } from './elf.js';
export type {
  ElfEndian,
  ElfFile,
  ElfHeader,
  ElfRelocation,
  ElfSection,
  ElfSymbol,
  RelocTypeName,
  SymbolBind,
  SymbolType,
  SymbolVisibility,
} from './elf.js';
export { ATTACH_TYPES, LEGACY_SECTION_DEFS, SECTION_DEFS, attachTypeNumber, findCiliumSecDef, findSecDef } from './sections.js';
export type { AttachType, SecDef } from './sections.js';
export { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MAP_TYPES, isLegacyMapsSection, mapTypeName, mapTypeNumber, placeArenaGlobals } from './maps.js';
export type { ArenaLayout, ElfMap, ElfMapKind, LegacyMapFlavor } from './maps.js';
export { ARENA_SECTION, parseElf } from './object.js';
export type { ElfFunction, ElfObject, InsnReloc, InsnRelocKind, ParseOptions } from './object.js';
export { CILIUM_KFUNC_POISON, applyCore, loadObject, loadPrograms, resolveAttachTarget, resolveExterns } from './load.js';
export type { BtfExtRecords, LoadedObject, LoadOptions, ResolveExternsOptions } from './load.js';
export { alignOf, datasecVars, kconfigLayout, resolveBtfMaps } from './btfmaps.js';
export { kcfgKind, writeKconfig, type KconfigValue } from './kconfig.js';
export type { MapsSectionReloc } from './btfmaps.js';
export { indexByName, resolveSize, skipModsAndTypedefs, typeTable } from './btfview.js';
export type { BtfKind, BtfMember, BtfTypeInfo, BtfTypeTable } from './btfview.js';
export { CORE_KINDS, CORE_POISON_IMM, calcCoreRelo, patchCoreInsn } from './core.js';
export type { CoreKind, CoreRelo, CoreResult } from './core.js';
export { hasCrossSectionCalls } from './link.js';
export type { ElfProgram, LinkOptions, Linker } from './link.js';
export type { Opener } from './libbpfopen.js';
export { checkAsLibbpfOpens } from './libbpfopen.js';
export { placeExtInfo } from './extinfo.js';
export { setGlobals } from './globals.js';
export type { GlobalValue } from './globals.js';
export type { ExtInfoBySection, PlacedExtInfo, SectionFuncInfo, SectionLineInfo } from './extinfo.js';
export { structOpsMaps } from './structops.js';
export type { StructOpsFunc, StructOpsInfo } from './structops.js';
export { btfExtRecords, btfTable, parseBtfTable } from './btfadapter.js';
export { kernelBtf } from './kernelbtf.js';
export { objdump } from './objdump.js';
export type { ObjdumpOptions } from './objdump.js';
export { ElfLinkError, StaticLinker, linkObjects } from './static-link.js';
export type { LinkInput } from './static-link.js';
