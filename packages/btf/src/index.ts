export { BtfError, btfString, KIND, KIND_NAMES, namesByKind, parseBtf, resolveId, sizeOf, typeById, typeCount, writeBtf } from './btf.js';
export { essentialName, findByName, kfuncs, nameIndex, type BtfNameIndex } from './names.js';
export type { Btf, BtfErrorCode, BtfType, EnumValue, KindName, Member, Param, SecInfo } from './btf.js';
export { dumpRaw, dumpType } from './dump.js';
export { dumpC, type DumpCOptions } from './dumpc.js';
export { attachProtos, BtfBuilder, btfFromProtos } from './build.js';
export { parseBtfExt, type BtfExt, type ExtSection } from './ext.js';
export { BtfValidationError, validateBtf, type BtfValidationCode, type ValidateOptions } from './validate.js';
export { dedupBtf, renumber, type DedupOptions, type DedupResult } from './dedup.js';
