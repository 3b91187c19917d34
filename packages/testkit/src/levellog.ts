import { closeSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/**
 * Level-2 verifier logs, ours beside the running kernel's, line for line: the comparison the
 * verifier's live tests make (`expectSameAsKernel` in packages/verifier) and the real-world
 * recorder's `--log-level 2` mode records.
 */

/**
 * Level-2 log lines both sides print alike: source lines, liveness tables, func headers, the
 * stats line and map addresses aside (and `extra` lines, if given). The stack liveness trace
 * (liveness.c's `(0,3,9) frame 2 insn 12 +live -8` and `(0) live stack update done in 2
 * iterations` lines) is compared.
 */
export function comparableLines(log: string, extra?: RegExp): string[] {
  return log
    .split('\n')
    .filter((l) => compared(l, extra))
    .map(comparable);
}

const compared = (l: string, extra?: RegExp): boolean =>
  l !== '' && !/^( |;|Live regs|func#\d+ @|processed |arg#\d reference type\('UNKNOWN '\))/.test(l) && !(extra?.test(l) ?? false);
const comparable = (l: string): string => l.replace(/\(18\) (r\d) = 0x[0-9a-f]+ */, '(18) $1 = MAP ');

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

/**
 * The lines of a file, read a piece at a time: a level-2 log of a million processed
 * instructions (hundreds of megabytes, up to the kernel's 1 GiB) is longer than a string holds.
 */
export function* fileLines(path: string, chunk = 1 << 22): Generator<string> {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(chunk);
    const dec = new StringDecoder('utf8');
    let rest = '';
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const lines = (rest + dec.write(buf.subarray(0, n))).split('\n');
      rest = lines.pop()!;
      yield* lines;
    }
    rest += dec.end();
    if (rest !== '') yield rest;
  } finally {
    closeSync(fd);
  }
}

/**
 * firstLogDifference over two logs given line by line (e.g. `fileLines`), neither held whole;
 */
export function firstLineDifference(ours: Iterable<string>, kernel: Iterable<string>, extra?: RegExp): LogDifference | undefined {
  const next = (it: Iterator<string>): string | null => {
    for (;;) {
      const r = it.next();
      if (r.done) return null;
      if (compared(r.value, extra)) return comparable(r.value);
    }
  };
  const a = ours[Symbol.iterator]();
  const b = kernel[Symbol.iterator]();
  for (let i = 0; ; i++) {
    const x = next(a);
    const y = next(b);
    if (x !== y) return { index: i, ours: x, kernel: y };
    if (x === null) return undefined;
  }
}
