import { writeFileSync } from 'node:fs';
import { assemble, encode, formatHex } from '@bpf/isa';
import type { Command } from '../context.js';
import { EXIT, requireFile } from '../errors.js';
import { readInput } from '../input.js';
import { JSON_OPT } from '../options.js';

export const asm: Command = {
  name: 'asm',
  summary: 'assemble BPF assembly (LLVM or kernel-log syntax) into bytes or hex',
  usage: 'bpf asm FILE [-o OUT] [--format raw|hex] [--endian little|big] [--json]',
  example: 'bpf asm prog.s --format hex',
  options: {
    output: { type: 'string', short: 'o', help: 'write the result to OUT instead of stdout' },
    format: { type: 'string', help: 'output format (default: hex on a terminal, raw otherwise)', values: ['raw', 'hex'] },
    endian: { type: 'string', help: 'byte order (default little)', values: ['little', 'big'] },
    ...JSON_OPT,
  },
  run({ args, flags, out }) {
    const file = requireFile(args, 'asm');
    const program = assemble(new TextDecoder().decode(readInput(file)));
    const bytes = encode(program.insns, { endian: flags.endian === 'big' ? 'big' : 'little' });
    if (out.json) {
      out.data({
        insns: program.insns.length,
        hex: formatHex(bytes).trim().split('\n'),
        subprogs: program.subprogs ?? [],
        protos: program.protos ?? [],
        relocs: program.relocs ?? [],
      });
      return EXIT.OK;
    }
    const format = (flags.format as string | undefined) ?? (flags.output === undefined && process.stdout.isTTY ? 'hex' : 'raw');
    const data = format === 'hex' ? new TextEncoder().encode(formatHex(bytes)) : bytes;
    if (typeof flags.output === 'string') writeFileSync(flags.output, data);
    else out.bytes(data);
    return EXIT.OK;
  },
};
