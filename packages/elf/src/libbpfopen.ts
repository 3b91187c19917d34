/**
 * What libbpf 1.x checks of an object's externs when it opens it, before any map, program or
 * relocation is looked at (tools/lib/bpf/libbpf.c: bpf_object__open → bpf_object__collect_externs).
 *
 * An extern, for libbpf, is an undefined (`SHN_UNDEF`) symbol of type `NOTYPE`, bound `GLOBAL`
 * or `WEAK`, with a name. Each one must be described by the object's BTF:
 * 1. a VAR or FUNC of that name (the first one by id), whose linkage is `extern`: none gives
 *    `failed to find BTF for extern 'NAME': -2` (-ENOENT; -3, -ESRCH, for an object without
 *    `.BTF`), one of another linkage `-22` (-EINVAL);
 * 2. a DATASEC that lists that type: none gives `failed to find BTF for extern 'NAME' [ID] section: -2`;
 * 3. that DATASEC is `.kconfig` or `.ksyms` (`unrecognized extern section 'NAME'`), and a
 *    `.kconfig` extern is not a function (`extern function NAME is unsupported under .kconfig section`).
 * Before them libbpf refuses an entry function outside `.text` that is `static` (`STB_LOCAL`):
 * `sec 'SEC': program 'NAME' is static and not supported` (bpf_object__add_programs).
 * The object is refused whole at open: no program of it loads. Older clang (and calls clang
 * makes itself, `memcpy` / `memset` for a large copy, or a function named only in inline asm)
 * leave externs without BTF, which loaders that patch relocations themselves (iproute2,
 * samples/bpf's bpf_load.c, falco's legacy scap_bpf.c) never look at, and libbpf refuses.
 */
import type { BtfTypeTable } from './btfview.js';
import { ElfError } from './errors.js';
import type { ElfObject } from './object.js';

/**
 * Whose rules open an object:
 * - `libbpf`: libbpf 1.x's `bpf_object__open` (the extern checks above);
 * - `raw`: a loader that reads the ELF file itself and patches only the relocations it knows
 *   (iproute2, samples/bpf's bpf_load.c, falco's legacy loader): externs are not checked at open.
 */
export type Opener = 'libbpf' | 'raw';

const ENOENT = -2;
const ESRCH = -3;
const EINVAL = -22;

/**
 * Refuse the object as libbpf 1.x refuses it at open: over a static entry function, or over its first extern (in symbol-table
 * order) that its BTF does not describe: an `UNRESOLVED_EXTERN` error naming the extern and the
 * section that first refers to it (`.symtab` when no relocation does), with libbpf's own
 * message and error number. `hostFunctions`: extern functions the host links in itself, not checked.
 */
export function checkAsLibbpfOpens(obj: ElfObject, btf: BtfTypeTable | undefined, hostFunctions: ReadonlySet<string> = new Set()): void {
  // bpf_object__elf_collect comes first: an entry function outside `.text` must not be static
  // (bpf_object__add_programs), checked section by section in index order
  for (const sec of obj.sections) {
    if (!obj.code.has(sec.index) || sec.name === '.text') continue;
    const local = obj.symbols.find((x) => x.shndx === sec.index && x.type === 'func' && x.bind === 'local');
    if (local)
      throw new ElfError('BAD_PROGRAM', `program ${local.name} is static, so libbpf refuses the object when it opens it (libbpf: sec '${sec.name}': program '${local.name}' is static and not supported)`, { section: sec.name, byteOffset: sec.offset + local.value });
  }
  for (const sym of obj.symbols) {
    if (sym.shndx !== 0 || sym.type !== 'notype' || (sym.bind !== 'global' && sym.bind !== 'weak') || sym.name === '') continue;
    // a function the host links in itself (LoadOptions.functions) is no extern libbpf sees
    if (hostFunctions.has(sym.name)) continue;
    const refuse = (libbpf: string): never => {
      const use = obj.relocations.find((r) => r.symbol === sym.index && obj.sections[r.target]?.name !== '.BTF' && obj.sections[r.target]?.name !== '.BTF.ext');
      const section = use ? (obj.sections[use.target]?.name ?? `#${use.target}`) : '.symtab';
      const where = use ? { section, byteOffset: (obj.sections[use.target]?.offset ?? 0) + use.offset, ...(obj.code.has(use.target) ? { insn: Math.floor(use.offset / 8) } : {}) } : { section };
      throw new ElfError('UNRESOLVED_EXTERN', `extern ${sym.name} is not described by the object's BTF, so libbpf refuses the object when it opens it (libbpf: ${libbpf})`, { ...where, extern: sym.name });
    };
    if (!btf) refuse(`failed to find BTF for extern '${sym.name}': ${ESRCH}`);
    const id = externTypeId(btf!, sym.name);
    if (id <= 0) refuse(`failed to find BTF for extern '${sym.name}': ${id}`);
    const sec = datasecOf(btf!, id);
    if (sec === undefined) refuse(`failed to find BTF for extern '${sym.name}' [${id}] section: ${ENOENT}`);
    if (sec !== '.kconfig' && sec !== '.ksyms') refuse(`unrecognized extern section '${sec}'`);
    if (sec === '.kconfig' && btf!.type(id)?.kind === 'func') refuse(`extern function ${sym.name} is unsupported under .kconfig section`);
  }
}

/** libbpf's find_extern_btf_id: the first VAR or FUNC named `name`; -EINVAL when its linkage is not extern, -ENOENT when there is none. */
function externTypeId(btf: BtfTypeTable, name: string): number {
  for (let id = 1; id < btf.count; id++) {
    const t = btf.type(id);
    if ((t?.kind !== 'var' && t?.kind !== 'func') || t.name !== name) continue;
    return t.linkage === 'extern' ? id : EINVAL;
  }
  return ENOENT;
}

/** The name of the first DATASEC listing type `id` (libbpf's find_extern_sec_btf_id). */
function datasecOf(btf: BtfTypeTable, id: number): string | undefined {
  for (let k = 1; k < btf.count; k++) {
    const t = btf.type(k);
    if (t?.kind === 'datasec' && t.vars.some((v) => v.type === id)) return t.name;
  }
  return undefined;
}
