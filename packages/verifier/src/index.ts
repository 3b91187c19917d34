export { verify, typeName, type VerifyOptions, type VerifyResult, type VerifyStats, type VerifiedProgram } from './verify.js';
export { HELPERS, type ArgType, type HelperProto } from './helpers.js';
export { constant, NOT_INIT, UNKNOWN, type Reg, type RegType, type State, type Frame } from './state.js';
export { ctxAccess, defaultAttachType, type CtxPtr, type CtxQuery, type CtxResult } from './ctx.js';
export { CTX_LAYOUT, type CtxStruct, type CtxStructName } from './ctxlayout.js';
export { attachTypeOf, parseProgFlags, PROG_FLAGS, type ProgFlagName } from './loadflags.js';
