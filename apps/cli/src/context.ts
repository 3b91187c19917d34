/** What every command gets: parsed flags, output helpers that honour --json, TTY and NO_COLOR. */
import type { ExitCode } from './errors.js';

export interface Output {
  readonly json: boolean;
  readonly color: boolean;
  /** Print a line of human output (ignored under --json). */
  line(text: string): void;
  /** Print the JSON document (under --json) — once per command. */
  data(value: unknown): void;
  /** Write bytes to stdout unchanged. */
  bytes(b: Uint8Array): void;
  /** Write a diagnostic line to stderr. */
  warn(text: string): void;
  paint(style: 'red' | 'green' | 'yellow' | 'dim' | 'bold' | 'cyan', text: string): string;
}

export type Flags = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface CommandContext {
  readonly args: readonly string[];
  readonly flags: Flags;
  readonly out: Output;
}

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly help: string;
  readonly values?: readonly string[];
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly example: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Names of subcommands (e.g. `btf dump`, `kernel load`), when the command has them. */
  readonly subcommands?: readonly string[];
  run(ctx: CommandContext): Promise<ExitCode> | ExitCode;
}

const CODES = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1, cyan: 36 } as const;

export function makeOutput(json: boolean, stream: NodeJS.WriteStream = process.stdout): Output {
  const color = !json && stream.isTTY && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
  return {
    json,
    color,
    line: (t) => {
      if (!json) stream.write(t + '\n');
    },
    data: (v) => {
      if (json) stream.write(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x), 2) + '\n');
    },
    bytes: (b) => stream.write(b),
    warn: (t) => process.stderr.write(t + '\n'),
    paint: (style, text) => (color ? `\x1b[${CODES[style]}m${text}\x1b[0m` : text),
  };
}
