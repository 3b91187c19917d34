import { formatInsn } from '@bpf/isa';
import type { ProgType } from '@bpf/isa';
import type { Command } from '../context.js';
import { EXIT, requireFile } from '../errors.js';
import { loadProgram } from '../input.js';
import { INPUT_OPTS, JSON_OPT, TYPE_OPT } from '../options.js';

export const liveness: Command = {
  name: 'liveness',
  summary: 'print the kernel\'s "Live regs before insn" block (and stack / stack-argument liveness)',
  usage: 'bpf liveness FILE [--type T] [--json]',
  example: 'bpf liveness prog.s --type xdp',
  options: { ...TYPE_OPT, ...INPUT_OPTS, ...JSON_OPT },
  async run({ args, flags, out }) {
    // loaded on use: `bpf --help` and the other commands start without it
    const { computeLiveness, formatLiveRegs, livenessToJson } = await import('@bpf/liveness');
    const file = requireFile(args, 'liveness');
    const { program } = loadProgram(file, flags as never);
    const progType = (flags.type as ProgType | undefined) ?? program.type ?? 'socket_filter';
    const l = computeLiveness(program, { progType });
    if (out.json) {
      out.data(livenessToJson(l));
      return EXIT.OK;
    }
    out.line(formatLiveRegs(l, (insns, i) => formatInsn(insns, i, { syntax: 'kernel' })).trimEnd());
    return EXIT.OK;
  },
};
