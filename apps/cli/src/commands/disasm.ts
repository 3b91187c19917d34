import { decode, disassemble, formatInsn, parseHex, type Program } from '@bpf/isa';
import type { Command } from '../context.js';
import { EXIT, requireFile } from '../errors.js';
import { detectKind, loadProgram, readInput } from '../input.js';
import { INPUT_OPTS, JSON_OPT } from '../options.js';

export const disasm: Command = {
  name: 'disasm',
  summary: 'disassemble bytes, hex or an ELF object, one instruction per line',
  usage: 'bpf disasm FILE [--syntax llvm|kernel] [--input raw|hex|asm|elf] [--section S] [--prog P] [-r] [--json]',
  example: 'bpf disasm prog.o -r',
  options: {
    syntax: { type: 'string', help: 'LLVM (llvm-objdump) or kernel verifier-log syntax (default llvm)', values: ['llvm', 'kernel'] },
    relocs: { type: 'boolean', short: 'r', help: 'ELF: add the relocation lines, as llvm-objdump -dr' },
    ...INPUT_OPTS,
    ...JSON_OPT,
  },
  async run({ args, flags, out }) {
    const file = requireFile(args, 'disasm');
    const syntax = flags.syntax === 'kernel' ? 'kernel' : 'llvm';
    const bytes = readInput(file);
    const forced = typeof flags.input === 'string' ? flags.input : undefined;
    const detected = forced ?? detectKind(bytes);
    if (detected === 'elf' && flags.prog === undefined && flags.section === undefined && !out.json && syntax === 'llvm') {
      // The whole object, every executable section as it is in the file, like llvm-objdump -d.
      const { objdump, parseElf } = await import('@bpf/elf');
      out.line(objdump(parseElf(bytes), { relocs: flags.relocs === true, fileName: file }).replace(/^\n/, '').trimEnd());
      return EXIT.OK;
    }
    // Raw bytes and hex print whatever they hold: a slot that does not decode is <unknown>.
    const lenient = (b: Uint8Array): Program => ({ insns: decode(b, { endian: flags.endian === 'big' ? 'big' : 'little', strict: false }) });
    const { program, kind } =
      detected === 'raw' ? { program: lenient(bytes), kind: 'raw' as const }
      : detected === 'hex' ? { program: lenient(parseHex(new TextDecoder().decode(bytes))), kind: 'hex' as const }
      : loadProgram(file, flags as never);
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
