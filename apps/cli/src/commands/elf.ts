import { writeFileSync } from 'node:fs';
import type { Command } from '../context.js';
import { CliError, EXIT, requireFile, usage } from '../errors.js';
import { readInput } from '../input.js';
import { JSON_OPT } from '../options.js';

export const elf: Command = {
  name: 'elf',
  summary: 'list the programs, maps and relocations of a BPF object file; link several into one',
  usage: 'bpf elf FILE [--json] | bpf elf link [-o OUT] FILE... [--json]',
  example: 'bpf elf link -o app.linked.o app.o lib.o',
  options: {
    output: { type: 'string', short: 'o', help: 'elf link: write the linked object to OUT (else to stdout, unless --json)' },
    ...JSON_OPT,
  },
  async run({ args, flags, out }) {
    // loaded on use: `bpf --help` and the other commands start without it
    const { linkObjects, loadPrograms, parseElf, relocTypeName } = await import('@bpf/elf');
    const isElf = (b: Uint8Array): boolean => b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
    let file: string;
    let bytes: Uint8Array;
    let linked: { output: string | null; inputs: string[] } | undefined;
    if (args[0] === 'link') {
      // `bpf elf link`: libbpf's static linker (`bpftool gen object OUT FILE...`)
      const inputs = args.slice(1);
      if (inputs.length === 0) throw usage('elf link: missing FILE (the objects to link)');
      const objects = inputs.map((f) => {
        const b = readInput(f);
        if (!isElf(b)) throw new CliError(EXIT.INPUT, `${f}: not an ELF object (no \\x7fELF magic)`);
        return { name: f, bytes: b };
      });
      bytes = linkObjects(objects);
      const output = typeof flags.output === 'string' ? flags.output : null;
      if (output !== null) writeFileSync(output, bytes);
      else if (!out.json) {
        if (process.stdout.isTTY) throw usage('elf link: give -o OUT (the linked object is binary; not written to a terminal)');
        out.bytes(bytes);
        return EXIT.OK;
      }
      file = output ?? '(linked)';
      linked = { output, inputs };
    } else {
      if (flags.output !== undefined) throw usage('elf: -o is for `bpf elf link`');
      file = requireFile(args, 'elf');
      bytes = readInput(file);
      if (!isElf(bytes)) throw new CliError(EXIT.INPUT, `${file}: not an ELF object (no \\x7fELF magic)`);
    }
    const obj = parseElf(bytes);
    // a listing, not a load: what libbpf would refuse at open (`bpf verify` and `bpf kernel load` say so) is listed all the same
    const progs = loadPrograms(bytes, { opener: 'raw' });
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
      out.data({ endian: obj.endian, license: obj.license ?? null, programs, maps, relocations: relocs, ...(linked ? { linked } : {}) });
      return EXIT.OK;
    }
    if (linked) out.line(`${out.paint('bold', file)}: linked from ${linked.inputs.join(', ')}`);
    out.line(`${out.paint('bold', file)}: ELF64 ${obj.endian}-endian, license ${JSON.stringify(obj.license ?? '')}`);
    out.line(out.paint('bold', '\nPrograms'));
    // an object of maps only is not broken: its maps are for `bpf kernel load` to create
    if (programs.length === 0) out.line(maps.length ? '  (none: the object holds only maps; `bpf kernel load` creates them)' : '  (none)');
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
