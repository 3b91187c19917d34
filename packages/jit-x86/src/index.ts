export { jitX86, JitError, REG_MAP, type X86JitResult } from './jit.js';
export { Asm, X, CC, regName, type Listed, type Cond, type Width } from './emit.js';
export { formatX86 } from './format.js';
