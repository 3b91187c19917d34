// Short fuzzing mode, on every CI run: each target gets a few hundred inputs from a fixed seed.
// The long mode is `pnpm --filter @bpf/reliability fuzz --iterations N`.
import { describe, expect, it } from 'vitest';
import { fuzz } from './targets.js';
import { allTargets } from './all-targets.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

describe('no crash on any input (short mode)', () => {
  it.each(allTargets.map((t) => [t.name, t] as const))('%s', (_n, t) => {
    const r = fuzz(t, RUNS);
    expect(r.firstCrash, JSON.stringify(r.firstCrash)).toBeUndefined();
    expect(r.inputs).toBe(RUNS);
  });
});
