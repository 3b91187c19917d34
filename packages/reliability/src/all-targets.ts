import type { FuzzTarget } from './targets.js';
import { isaTargets } from './targets.js';

/** Every fuzz target across the layers. */
export const allTargets: readonly FuzzTarget[] = [...isaTargets];
