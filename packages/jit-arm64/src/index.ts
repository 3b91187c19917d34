export { jitArm64, Arm64JitError, REG_MAP, type Arm64JitResult, type Arm64Listed } from './jit.js';
export { formatArm64 } from './format.js';
