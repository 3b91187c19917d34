/**
 * CLI error classes and their exit codes. Every error prints one line naming the file and the
 * place; a stack trace only with --debug.
 */
export const EXIT = {
  OK: 0,
  /** The program was rejected (verify) or a comparison disagreed. */
  REJECTED: 1,
  USAGE: 2,
  /** Input could not be read or parsed (assembly, bytes, ELF, BTF). */
  INPUT: 3,
  /** The kernel refused an operation (errno). */
  KERNEL: 4,
  /** Running the program failed (memory violation, budget, native crash). */
  RUNTIME: 5,
  /** A required tool or capability is missing (no kernel access, no qemu). */
  UNAVAILABLE: 6,
  INTERNAL: 70,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

export const usage = (msg: string): CliError => new CliError(EXIT.USAGE, msg);

/** The FILE positional of a command, or a usage error naming the command. */
export function requireFile(args: readonly string[], command: string, at = 0): string {
  const file = args[at];
  if (file === undefined) throw usage(`${command}: missing FILE`);
  return file;
}

interface Located {
  readonly name: string;
  readonly message: string;
  readonly code?: unknown;
  readonly location?: { readonly line: number; readonly column: number };
  readonly insn?: number;
  readonly byteOffset?: number;
}

const INPUT_ERRORS = new Set(['IsaError', 'BtfError', 'ElfError', 'CfgError', 'ConformanceError', 'JitError']);
const RUNTIME_ERRORS = new Set(['VmError', 'JitRunError', 'NativeRunError', 'QemuRunError']);

/** Classify any thrown value into an exit code and one line of text. */
export function describeError(e: unknown, file: string | undefined): { code: ExitCode; line: string } {
  if (e instanceof CliError) return { code: e.exitCode, line: `bpf: ${e.message}` };
  if (e instanceof Error) {
    const err = e as Error & Partial<Located>;
    const where = file !== undefined ? `${file}:` : '';
    const loc =
      err.location !== undefined && !err.message.startsWith(`${err.location.line}:`)
        ? `${err.location.line}:${err.location.column}: `
        : '';
    const text = `bpf: ${where}${where ? ' ' : ''}${loc}${err.message}`;
    if (INPUT_ERRORS.has(err.name)) return { code: EXIT.INPUT, line: text };
    if (RUNTIME_ERRORS.has(err.name)) return { code: EXIT.RUNTIME, line: text };
    if (err.name === 'KernelError') return { code: EXIT.KERNEL, line: text };
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR')
      return { code: EXIT.INPUT, line: `bpf: ${err.message}` };
    return { code: EXIT.INTERNAL, line: `bpf: internal error: ${err.message} (run with --debug for a stack trace)` };
  }
  return { code: EXIT.INTERNAL, line: `bpf: internal error: ${String(e)}` };
}
