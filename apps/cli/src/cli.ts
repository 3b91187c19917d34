/**
 * The `bpf` command: a thin shell over the packages. Prints the help and version, and hands
 * every other command to dispatch.ts (flags, the command's module, errors as one line).
 */
import { commands } from './commands/index.js';
import { helpText, reportError, runCommand, unknownCommand } from './dispatch.js';
import { EXIT, type ExitCode } from './errors.js';
import { VERSION } from './version.js';

export { VERSION };

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
  if (!cmd) return reportError(unknownCommand(name), undefined, debug);
  return runCommand(cmd, argv);
}

export { helpText };
