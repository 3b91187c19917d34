import type { Command } from '../context.js';
import { CliError, EXIT, usage } from '../errors.js';
import { readInput } from '../input.js';
import { JSON_OPT } from '../options.js';

export const btf: Command = {
  name: 'btf',
  summary: 'dump BTF (a raw .BTF blob, /sys/kernel/btf/vmlinux, or an ELF object) like bpftool',
  usage: 'bpf btf dump FILE [--format raw|c] [--json]',
  example: 'bpf btf dump /sys/kernel/btf/vmlinux --format c > vmlinux.h',
  subcommands: ['dump'],
  options: {
    format: { type: 'string', help: 'output format: raw (the type list) or c (a vmlinux.h-style header)', values: ['raw', 'c'] },
    ...JSON_OPT,
  },
  async run({ args, flags, out }) {
    // loaded on use: `bpf --help` and the other commands start without it
    const { dumpC, dumpRaw, parseBtf } = await import('@bpf/btf');
    const { parseElf } = await import('@bpf/elf');
    const [sub, file] = args;
    if (sub !== 'dump') throw usage(`btf: expected 'dump' (got '${sub ?? ''}')`);
    if (file === undefined) throw usage('btf dump: missing FILE');
    let bytes = readInput(file);
    if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
      const obj = parseElf(bytes);
      if (!obj.btf) throw new CliError(EXIT.INPUT, `${file}: the object has no .BTF section (compile with -g)`);
      bytes = obj.btf;
    }
    const parsed = parseBtf(bytes);
    const c = flags.format === 'c';
    const text = c ? dumpC(parsed) : dumpRaw(parsed);
    if (out.json) {
      out.data({ endian: parsed.endian, types: parsed.types.length - 1, ...(c ? { c: text } : { raw: text.split('\n').filter(Boolean) }) });
      return EXIT.OK;
    }
    process.stdout.write(text);
    return EXIT.OK;
  },
};
