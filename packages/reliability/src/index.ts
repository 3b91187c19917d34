export { prng, randomProgram, type GenOptions } from './gen.js';
export { fuzz, isaTargets, programBytes, asmText, type FuzzTarget, type FuzzReport } from './targets.js';
export { allTargets } from './all-targets.js';
export { minimize, removeInsn } from './minimize.js';
