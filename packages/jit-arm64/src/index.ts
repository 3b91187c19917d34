export { jitArm64, LD_ABS_HELPERS, PROG_ARRAY_ENTRIES, REG_MAP, TAIL_CALL_OFFSET, type Arm64JitResult, type Arm64Listed } from './jit.js';
export { JitError } from '@bpf/isa';
export { formatArm64 } from './format.js';
