export * from './opcodes.js';
export * from './insn.js';
export * from './errors.js';
export * from './op.js';
export * from './check.js';
export * from './codec.js';
export * from './program.js';
export * from './jit.js';
