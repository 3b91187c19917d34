export { needsKernelBtf } from './kernelbtf.js';
export { verify, typeName, type VerifyOptions, type VerifyResult, type VerifyStats, type VerifiedProgram } from './verify.js';
export { configGatedProto, helperAllowed, helperIds, helperProto, helperReturnsBtf, mapHelperError, type ArgBase, type ArgType, type HelperProto, type RetType } from './helpers.js';
export { constant, NOT_INIT, UNKNOWN, type Reg, type RegType, type State, type Frame } from './state.js';
export { ctxAccess, defaultAttachType, type CtxPtr, type CtxQuery, type CtxResult } from './ctx.js';
export { CTX_LAYOUT, type CtxStruct, type CtxStructName } from './ctxlayout.js';
export { attachTypeOf, parseProgFlags, PROG_FLAGS, type ProgFlagName } from './loadflags.js';
export { traceState, type Trace, type TraceCheckpoint, type TraceExplained, type TraceFrame, type TraceLink, type TraceOptions, type TracePath, type TracePrune, type TraceReg, type TraceRejection, type TraceSlot, type TraceState, type TraceStep } from './trace.js';
export { parseKernelLog, parseRegText, type KernelLogTrace, type LogInsn } from './klog.js';
