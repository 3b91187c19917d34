export { jitArm64, REG_MAP, type Arm64JitResult, type Arm64Listed } from './jit.js';
export { JitError } from '@bpf/isa';
export { formatArm64 } from './format.js';
