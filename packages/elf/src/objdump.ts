/**
 * A whole object as `llvm-objdump-19 -d --mcpu=v4` lists it (`-dr` with `relocs`): every
 * executable section, a `<symbol>:` header per function or label, each slot with its bytes
 * and LLVM text, branch targets annotated `<symbol+0xoff>`, `<unknown>` for a slot LLVM does
 * not decode (the listing goes on), and relocation lines after the instruction they patch.
 */
import { formatInsn } from '@bpf/isa';
import type { ElfSymbol } from './elf.js';
import { SHN } from './elf.js';
import type { ElfObject } from './object.js';

export interface ObjdumpOptions {
  /** Add the relocation lines of `llvm-objdump -dr`. */
  readonly relocs?: boolean;
  /** The file name printed in the header line (default: none, no header). */
  readonly fileName?: string;
  /** Only these sections (default: every executable section). */
  readonly sections?: readonly string[];
}

const pad16 = (n: number): string => n.toString(16).padStart(16, '0');
const hexBytes = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

/** Labels objdump shows in a section: named, non-section symbols, by address. */
function labels(obj: ElfObject, index: number): ElfSymbol[] {
  const seen = new Set<number>();
  return obj.symbols
    .filter((s) => s.shndx === index && s.shndx !== SHN.UNDEF && s.name !== '' && s.type !== 'section' && s.type !== 'file')
    .sort((a, b) => a.value - b.value || a.index - b.index)
    .filter((s) => (seen.has(s.value) ? false : (seen.add(s.value), true)));
}

/** `<name+0xoff>` for a byte address in a section, from the last label at or before it. */
function annotate(ls: readonly ElfSymbol[], section: string, addr: number): string {
  let hit: ElfSymbol | undefined;
  for (const l of ls) if (l.value <= addr) hit = l;
  const base = hit?.name ?? section;
  const off = addr - (hit?.value ?? 0);
  return off === 0 ? `<${base}>` : `<${base}+0x${off.toString(16)}>`;
}

const isJump = (code: number): boolean => {
  const cls = code & 7;
  const op = code & 0xf0;
  return (cls === 5 || cls === 6) && op !== 0x80 && op !== 0x90;
};

/** The listing of every executable section of a parsed object. */
export function objdump(obj: ElfObject, opts: ObjdumpOptions = {}): string {
  const out: string[] = [];
  if (opts.fileName !== undefined) out.push('', `${opts.fileName}:\tfile format elf64-bpf`);
  for (const [index, insns] of obj.code) {
    const sec = obj.sections[index]!;
    if (opts.sections && !opts.sections.includes(sec.name)) continue;
    out.push('', `Disassembly of section ${sec.name}:`);
    const ls = labels(obj, index);
    const byAddr = new Map(ls.map((l) => [l.value, l.name]));
    const relocs = opts.relocs ? obj.relocations.filter((r) => r.target === index).sort((a, b) => a.offset - b.offset) : [];
    let ri = 0;
    if (!byAddr.has(0)) out.push('', `${pad16(0)} <${sec.name}>:`);
    for (let k = 0; k < insns.length; k++) {
      const addr = k * 8;
      const name = byAddr.get(addr);
      if (name !== undefined) out.push('', `${pad16(addr)} <${name}>:`);
      const i = insns[k]!;
      const wide = i.code === 0x18 && k + 1 < insns.length;
      let text = formatInsn(insns, k, { syntax: 'llvm' });
      if (isJump(i.code) && text !== '<unknown>') {
        const rel = (i.code & 0xf7) === 0x06 ? i.imm : i.off;
        text += ` ${annotate(ls, sec.name, (k + 1 + rel) * 8)}`;
      }
      const bytes = sec.data.subarray(addr, addr + (wide && text !== '<unknown>' ? 16 : 8));
      out.push(`${String(k).padStart(8)}:\t${hexBytes(bytes)}\t${text}`);
      const end = addr + bytes.length;
      while (ri < relocs.length && relocs[ri]!.offset < end) {
        const r = relocs[ri++]!;
        const sym = obj.symbols[r.symbol];
        const symName = sym ? (sym.name || obj.sections[sym.shndx]?.name || '') : '';
        const addend = r.addend === 0n ? '' : r.addend > 0n ? `+0x${r.addend.toString(16)}` : `-0x${(-r.addend).toString(16)}`;
        out.push(`\t\t${pad16(r.offset)}:  ${r.typeName ?? `type ${r.type}`}\t${symName}${addend}`);
      }
      if (wide && text !== '<unknown>') k++;
    }
  }
  return out.join('\n') + '\n';
}
