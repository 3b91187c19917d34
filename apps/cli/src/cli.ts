/**
 * The `bpf` command: a thin shell over the packages. Parses flags with node:util parseArgs,
 * dispatches to one module per command, and turns every error into one line and an exit code.
 */
import { parseArgs } from 'node:util';
import { commands } from './commands/index.js';
import { makeOutput, type Command, type Flags } from './context.js';
import { describeError, EXIT, usage, type ExitCode } from './errors.js';

export const VERSION = '0.1.0';

function helpText(c: Command): string {
  const opts = Object.entries(c.options)
    .map(([name, o]) => {
      const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' <value>' : ''}`;
      const values = o.values ? ` (${o.values.length > 8 ? o.values.slice(0, 8).join('|') + '|…' : o.values.join('|')})` : '';
      return `  ${flag.padEnd(28)} ${o.help}${values}`;
    })
    .join('\n');
  return `${c.summary}\n\nUsage: ${c.usage}\n\nOptions:\n${opts}\n  -h, --help                   show this help\n      --debug                  print stack traces of internal errors\n\nExample:\n  ${c.example}\n`;
}

export function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `bpf ${VERSION} — a TypeScript eBPF toolchain

Usage: bpf <command> [options] FILE

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

FILE is assembly text, raw instruction bytes, hex, or an ELF object (detected; --input forces
it); '-' reads standard input. Every command takes --help, and all but completion take --json.
Exit codes: 0 ok, 1 rejected/disagreement, 2 usage, 3 bad input, 4 kernel error, 5 runtime
error, 6 unavailable (no kernel access, no qemu), 70 internal error.
`;
}

/** Run the CLI with argv (without node and script). Returns the exit code. */
export async function main(argv: readonly string[]): Promise<ExitCode> {
  const debug = argv.includes('--debug');
  const name = argv[0];
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(mainHelp());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.OK;
  }
  const cmd = commands.find((c) => c.name === name);
  let file: string | undefined;
  try {
    if (!cmd) throw usage(`unknown command '${name}' (see 'bpf --help')`);
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
    const { code, line } = describeError(e, file);
    process.stderr.write(line + '\n');
    if (debug && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return code;
  }
}

export { helpText };
