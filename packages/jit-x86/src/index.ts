export { jitX86, REG_MAP, type X86JitResult } from './jit.js';
export { JitError } from '@bpf/isa';
export { Asm, X, CC, regName, type Listed, type Cond, type Width } from './emit.js';
export { formatX86 } from './format.js';
