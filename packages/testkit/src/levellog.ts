/**
 * Level-2 verifier logs, ours beside the running kernel's, line for line: the comparison the
 * verifier's live tests make (`expectSameAsKernel` in packages/verifier) and the real-world
 * recorder's `--log-level 2` mode records.
 */

/**
 * Level-2 log lines both sides print alike: source lines, liveness tables (and liveness.c's
 * per-callchain `(0,3,9) frame 2 insn ...` lines, whatever the call depth), func headers,
 * the stats line and map addresses aside (and `extra` lines, if given).
 */
export function comparableLines(log: string, extra?: RegExp): string[] {
  return log
    .split('\n')
    .filter((l) => l !== '' && !/^( |;|Live regs|func#\d+ @|\(\d+(,\d+)*\) |processed |arg#\d reference type\('UNKNOWN '\))/.test(l) && !(extra?.test(l) ?? false))
    .map((l) => l.replace(/\(18\) (r\d) = 0x[0-9a-f]+ */, '(18) $1 = MAP '));
}

/** Where two level-2 logs first part: the index among the compared lines and each side's line there (null past its end). */
export interface LogDifference {
  readonly index: number;
  readonly ours: string | null;
  readonly kernel: string | null;
}

/** The first compared line where our level-2 log differs from the kernel's, or undefined when they agree. */
export function firstLogDifference(ours: string, kernel: string): LogDifference | undefined {
  const a = comparableLines(ours);
  const b = comparableLines(kernel);
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return { index: i, ours: a[i] ?? null, kernel: b[i] ?? null };
  return undefined;
}
