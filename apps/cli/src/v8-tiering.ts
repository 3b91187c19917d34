/**
 * V8 tiering for the one-shot `bpf` command, set before the command's code is loaded. A fresh
 * process verifying a program spends most of its CPU time not running our code but compiling
 * it: V8 hands a function to its optimising compiler (TurboFan) after a little interpreted work,
 * on type feedback that a verification has barely begun to give, so the large functions of the
 * verifier's main loop and state comparison are optimised, deoptimised when the next path meets
 * a case their feedback had not seen, and optimised again, several times each. A larger
 * interrupt budget lets a function run longer in the interpreter and baseline code first: fewer,
 * better-informed optimisations. The compiler runs on its own threads, so this pays where those
 * threads take a core the verification needs: `bpf veristat` (a worker on every core) and any
 * command on a machine of one or two cores; on an idle larger machine the compiling is nearly
 * free and the budget is left as it is (measured in bench/README.md, 2026-12-07).
 *
 * Only the command does this: a library must not change a process's V8 flags. The flags are
 * global to the process (worker threads included); V8 reads the budget each time it refills a
 * function's, so setting it before a command starts is enough. `BPF_V8_TIERING=0` in the
 * environment leaves V8's defaults, `BPF_V8_TIERING=1` sets the flags on any machine (both for
 * comparison). V8's code cache (code-cache.ts) records the flags it was made with and is
 * refused under others, so its file name carries tieringTag().
 */
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';

/** V8's default interrupt budget (bytecode units between tiering checks) times 16. */
export const TIERING_FLAGS = '--interrupt-budget=1081344';

/** Whether `bpf ARGV...` on a machine of `cores` cores is better off with TIERING_FLAGS. */
export function wantsTiering(argv: readonly string[], env: NodeJS.ProcessEnv, cores: number): boolean {
  if (env.BPF_V8_TIERING === '0') return false;
  if (env.BPF_V8_TIERING === '1') return true;
  return argv[0] === 'veristat' || cores <= 2;
}

let tuned = false;

/** Sets TIERING_FLAGS when wantsTiering says so; once per process. */
export function tuneTiering(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): void {
  if (tuned || !wantsTiering(argv, env, cores)) return;
  setFlagsFromString(TIERING_FLAGS);
  tuned = true;
}

/**
 * A tag for file names of V8's code cache: V8 refuses a cache made under other flags, so runs
 * with and without the tuning each keep their own instead of remaking one another's.
 */
export function tieringTag(): string {
  return tuned ? '-tiered' : '';
}
