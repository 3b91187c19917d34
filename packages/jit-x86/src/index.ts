export { jitX86, LD_ABS_HELPERS, PROG_ARRAY_ENTRIES, REG_MAP, TAIL_CALL_OFFSET, type X86JitResult } from './jit.js';
export { JitError } from '@bpf/isa';
export { Asm, X, CC, regName, type Listed, type Cond, type Width } from './emit.js';
export { formatX86 } from './format.js';
