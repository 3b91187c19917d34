import type { Command } from '../context.js';
import { CliError, EXIT, requireFile } from '../errors.js';
import { readInput } from '../input.js';
import { JSON_OPT } from '../options.js';

export const elf: Command = {
  name: 'elf',
  summary: 'list the programs, maps and relocations of a BPF object file',
  usage: 'bpf elf FILE [--json]',
  example: 'bpf elf prog.o',
  options: { ...JSON_OPT },
  async run({ args, out }) {
    // loaded on use: `bpf --help` and the other commands start without it
    const { loadPrograms, parseElf, relocTypeName } = await import('@bpf/elf');
    const file = requireFile(args, 'elf');
    const bytes = readInput(file);
    if (!(bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46))
      throw new CliError(EXIT.INPUT, `${file}: not an ELF object (no \\x7fELF magic)`);
    const obj = parseElf(bytes);
    const progs = loadPrograms(bytes);
    const relocs = obj.relocations.map((r) => ({
      section: obj.sections[r.target]?.name ?? String(r.target),
      offset: r.offset,
      type: r.typeName ?? relocTypeName(r.type) ?? `type ${r.type}`,
      symbol: obj.symbols[r.symbol]?.name ?? '',
    }));
    const programs = progs.map((p) => ({
      name: p.name,
      section: p.section,
      type: p.type ?? null,
      expectedAttachType: p.expectedAttachType ?? null,
      insns: p.insns.length,
      subprogs: p.subprogs.map((s) => s.name),
      autoload: p.autoload,
    }));
    const maps = obj.maps.map((m) => ({ name: m.name, type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, ...(m.mapExtra !== undefined ? { mapExtra: `0x${m.mapExtra.toString(16)}` } : {}), section: m.section }));
    if (out.json) {
      out.data({ endian: obj.endian, license: obj.license ?? null, programs, maps, relocations: relocs });
      return EXIT.OK;
    }
    out.line(`${out.paint('bold', file)}: ELF64 ${obj.endian}-endian, license ${JSON.stringify(obj.license ?? '')}`);
    out.line(out.paint('bold', '\nPrograms'));
    for (const p of programs)
      out.line(`  ${p.name.padEnd(24)} ${p.section.padEnd(24)} ${String(p.type ?? '?').padEnd(16)} ${String(p.insns).padStart(6)} insns${p.subprogs.length > 1 ? `  calls ${p.subprogs.slice(1).join(', ')}` : ''}${p.autoload ? '' : '  (not autoloaded)'}`);
    out.line(out.paint('bold', '\nMaps'));
    if (maps.length === 0) out.line('  (none)');
    for (const m of maps) out.line(`  ${m.name.padEnd(24)} ${m.type.padEnd(16)} key ${m.keySize} value ${m.valueSize} max ${m.maxEntries}${m.mapExtra !== undefined ? ` extra ${m.mapExtra}` : ''}  (${m.section})`);
    out.line(out.paint('bold', '\nRelocations'));
    for (const r of relocs) out.line(`  ${r.section.padEnd(20)} ${('0x' + r.offset.toString(16)).padStart(8)} ${r.type.padEnd(20)} ${r.symbol}`);
    return EXIT.OK;
  },
};
