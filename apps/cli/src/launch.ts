/**
 * The start of the shipped `bpf` command (dist/bpf/bin.cjs, made by scripts/bundle.mjs): answers
 * `--version`, `--help` and `bpf CMD --help` from a manifest written at build time, and loads
 * only the bundle of the command asked for, so start-up reads one small file and then one
 * command group, not the whole module graph. Behaves as `main` in cli.ts does.
 */
import { reportError, unknownCommand } from './dispatch.js';
import { EXIT, type ExitCode } from './errors.js';

/** What the build knows of every command without loading it. */
export interface Manifest {
  readonly version: string;
  /** `bpf --help`. */
  readonly help: string;
  /** Per command: its `--help` text. */
  readonly commands: Readonly<Record<string, { readonly help: string }>>;
}

/** A command group's entry: runs `bpf NAME ...` (argv with the command's name first). */
export type GroupRun = (argv: readonly string[]) => Promise<ExitCode>;

export async function launch(argv: readonly string[], manifest: Manifest, load: (name: string) => Promise<GroupRun>): Promise<ExitCode> {
  const name = argv[0];
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(manifest.help);
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${manifest.version}\n`);
    return EXIT.OK;
  }
  const entry = Object.hasOwn(manifest.commands, name) ? manifest.commands[name] : undefined;
  if (entry === undefined) return reportError(unknownCommand(name), undefined, argv.includes('--debug'));
  if (argv.includes('-h', 1) || argv.includes('--help', 1)) {
    process.stdout.write(entry.help);
    return EXIT.OK;
  }
  return (await load(name))(argv);
}
