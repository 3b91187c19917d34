export { prng, randomProgram, type GenOptions } from './gen.js';
