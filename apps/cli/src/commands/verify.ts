import type { ProgType } from '@bpf/isa';
import type { Command } from '../context.js';
import { EXIT, requireFile } from '../errors.js';
import { kernelBtfFor, loadProgram } from '../input.js';
import { INPUT_OPTS, JSON_OPT, LOAD_OPTS, loadOptsOf, TYPE_OPT } from '../options.js';

export const verify: Command = {
  name: 'verify',
  summary: 'verify a program like the kernel does; exit 0 when accepted, 1 when rejected',
  usage: 'bpf verify FILE [--type T] [--attach-type A] [--flags F] [--log-level 1|2] [--no-jit] [--json]',
  example: 'bpf verify prog.s --type xdp --log-level 1',
  options: {
    'log-level': { type: 'string', help: 'log level (default 1)', values: ['0', '1', '2'] },
    'no-jit': { type: 'boolean', help: 'assume the program will be interpreted (stack arguments then fail)' },
    ...TYPE_OPT,
    ...LOAD_OPTS,
    ...INPUT_OPTS,
    ...JSON_OPT,
  },
  async run({ args, flags, out }) {
    // loaded on use: `bpf --help` and the other commands start without it
    const { verify: runVerifier, parseProgFlags } = await import('@bpf/verifier');
    const file = requireFile(args, 'verify');
    const { program } = loadProgram(file, flags as never);
    const type = (flags.type as ProgType | undefined) ?? program.type ?? 'socket_filter';
    const load = loadOptsOf(flags, program as { readonly sleepable?: boolean }, parseProgFlags);
    const r = runVerifier(program, { type, ...load, logLevel: Number(flags['log-level'] ?? 1) as 0 | 1 | 2, jit: flags['no-jit'] !== true, kernelBtf: kernelBtfFor(program) });
    if (out.json) {
      out.data({
        accepted: r.accepted,
        error: r.error ?? null,
        stats: r.stats,
        subprogs: r.program?.subprogs ?? [],
        log: r.log,
      });
    } else {
      out.line(r.log.trimEnd());
      if (r.accepted) out.line(out.paint('green', 'accepted'));
      else out.line(out.paint('red', `rejected at insn ${r.error!.insn}: ${r.error!.message}`));
    }
    return r.accepted ? EXIT.OK : EXIT.REJECTED;
  },
};
