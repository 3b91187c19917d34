import { disassemble, formatInsn } from '@bpf/isa';
import type { Command } from '../context.js';
import { EXIT, requireFile } from '../errors.js';
import { loadProgram } from '../input.js';
import { INPUT_OPTS, JSON_OPT } from '../options.js';

export const disasm: Command = {
  name: 'disasm',
  summary: 'disassemble bytes, hex or an ELF object, one instruction per line',
  usage: 'bpf disasm FILE [--syntax llvm|kernel] [--input raw|hex|asm|elf] [--section S] [--prog P] [--json]',
  example: 'bpf disasm prog.o --syntax kernel',
  options: {
    syntax: { type: 'string', help: 'LLVM (llvm-objdump) or kernel verifier-log syntax (default llvm)', values: ['llvm', 'kernel'] },
    ...INPUT_OPTS,
    ...JSON_OPT,
  },
  run({ args, flags, out }) {
    const file = requireFile(args, 'disasm');
    const { program, kind } = loadProgram(file, flags as never);
    const syntax = flags.syntax === 'kernel' ? 'kernel' : 'llvm';
    if (out.json) {
      const rows = [];
      for (let i = 0; i < program.insns.length; i++) {
        const insn = program.insns[i]!;
        rows.push({ index: i, ...insn, text: formatInsn(program.insns, i, { syntax }) });
        if (insn.code === 0x18) i++;
      }
      out.data({ input: kind, name: program.name ?? null, syntax, subprogs: program.subprogs ?? [], insns: rows });
      return EXIT.OK;
    }
    out.line(disassemble(program.insns, { syntax, ...(program.subprogs ? { subprogs: program.subprogs } : {}) }).trimEnd());
    return EXIT.OK;
  },
};
