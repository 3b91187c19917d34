/**
 * One command's run: its --help, flag parsing (node:util parseArgs), the command itself, and
 * every error turned into one line and an exit code. Kept apart from the command list so that
 * a bundle of one command group (scripts/bundle.mjs) holds only that command's code.
 */
import { parseArgs } from 'node:util';
import { makeOutput, type Command, type Flags } from './context.js';
import { describeError, EXIT, usage, type ExitCode } from './errors.js';

export function helpText(c: Command): string {
  const opts = Object.entries(c.options)
    .map(([name, o]) => {
      const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' <value>' : ''}`;
      const values = o.values ? ` (${o.values.length > 8 ? o.values.slice(0, 8).join('|') + '|…' : o.values.join('|')})` : '';
      return `  ${flag.padEnd(28)} ${o.help}${values}`;
    })
    .join('\n');
  return `${c.summary}\n\nUsage: ${c.usage}\n\nOptions:\n${opts}\n  -h, --help                   show this help\n      --debug                  print stack traces of internal errors\n\nExample:\n  ${c.example}\n`;
}

/** Print one error line (and the stack under --debug); return its exit code. */
export function reportError(e: unknown, file: string | undefined, debug: boolean): ExitCode {
  const { code, line } = describeError(e, file);
  process.stderr.write(line + '\n');
  if (debug && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
  return code;
}

/** The error of `bpf NAME` when no command has that name. */
export const unknownCommand = (name: string): Error => usage(`unknown command '${name}' (see 'bpf --help')`);

/** Run `cmd` with argv (the command's name first, as typed). Returns the exit code. */
export async function runCommand(cmd: Command, argv: readonly string[]): Promise<ExitCode> {
  const debug = argv.includes('--debug');
  let file: string | undefined;
  try {
    const rest = argv.slice(1);
    if (rest.includes('-h') || rest.includes('--help')) {
      process.stdout.write(helpText(cmd));
      return EXIT.OK;
    }
    const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = { debug: { type: 'boolean' } };
    for (const [k, o] of Object.entries(cmd.options)) options[k] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
    let parsed;
    try {
      parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
    } catch (e) {
      throw usage(`${cmd.name}: ${(e as Error).message.replace(/\. To specify.*$/s, '')}`);
    }
    const flags = parsed.values as Flags;
    for (const [k, o] of Object.entries(cmd.options)) {
      const v = flags[k];
      if (o.values && typeof v === 'string' && !o.values.includes(v))
        throw usage(`${cmd.name}: --${k} must be one of ${o.values.join(', ')} (got '${v}')`);
    }
    file = parsed.positionals.find((p, i) => i >= (cmd.subcommands ? 1 : 0));
    const out = makeOutput(flags.json === true);
    return await cmd.run({ args: parsed.positionals, flags, out });
  } catch (e) {
    return reportError(e, file, debug);
  }
}
