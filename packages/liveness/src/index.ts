export { buildCfg, insnSuccessors, jumpTarget, successors, type BasicBlock, type Cfg } from './cfg.js';
export { CfgError, type CfgErrorCode } from './errors.js';
export {
  computeLiveness,
  defaultCallArgCount,
  helperArgCount,
  liveStackOffsets,
  stackArgBit,
  type Liveness,
  type LivenessOptions,
} from './liveness.js';
export { formatLiveRegs, livenessToJson, regMask, type KernelInsnPrinter, type LivenessJson } from './format.js';
export { HELPER_ARGS_BY_PROG_TYPE, HELPER_ARGS_DOCUMENTED } from './helper-table.js';
