/**
 * The object's `.BTF` made loadable by BPF_BTF_LOAD, as libbpf does before loading it
 * (tools/lib/bpf/libbpf.c, btf_fixup_datasec): clang leaves each DATASEC's size and its
 * variables' offsets at zero, since only the linker knows them; they come from the ELF
 * section sizes and symbol values, and the kernel wants the variables in offset order.
 */
import { btfString, parseBtf, writeBtf, type Btf, type BtfType, type SecInfo } from '@bpf/btf';
import { ElfError } from './errors.js';
import type { ElfObject } from './object.js';

/** DATASECs the extern machinery sizes (libbpf sets them while collecting externs). */
const EXTERN_SECS = new Set(['.kconfig', '.ksyms']);

/**
 * Fixed-up `.BTF` bytes of an object, or undefined when it has none. `kconfigSize` is the
 * size of the `.kconfig` map, when the object has kconfig externs.
 */
export function kernelBtf(obj: ElfObject, opts: { kconfigSize?: number } = {}): Uint8Array | undefined {
  if (!obj.btf) return undefined;
  const btf = parseBtf(obj.btf);
  const types: (BtfType | undefined)[] = [...btf.types];
  let changed = false;
  for (let id = btf.firstId; id < types.length; id++) {
    const t = types[id];
    if (t?.kind !== 'DATASEC') continue;
    const name = btfString(btf, t.nameOff);
    let size = t.sizeOrType;
    let secinfo: SecInfo[] = [...t.secinfo];
    if (name === '.kconfig' && opts.kconfigSize !== undefined) size = opts.kconfigSize;
    else if (!EXTERN_SECS.has(name)) {
      const sec = obj.sections.find((s) => s.name === name);
      if (!sec) throw new ElfError('BAD_BTF', `DATASEC ${name} (type ${id}) names no ELF section`, { section: name });
      size = sec.size;
      secinfo = secinfo.map((v) => {
        const varName = varNameOf(btf, v.type);
        const sym = obj.symbols.find((s) => s.name === varName && s.shndx === sec.index && s.type === 'object');
        if (!sym) throw new ElfError('BAD_BTF', `DATASEC ${name}: variable '${varName}' has no symbol`, { section: name });
        return { ...v, offset: sym.value };
      });
    }
    secinfo.sort((a, b) => a.offset - b.offset);
    if (size !== t.sizeOrType || secinfo.some((v, k) => v.offset !== t.secinfo[k]!.offset || v.type !== t.secinfo[k]!.type)) {
      types[id] = { ...t, sizeOrType: size, secinfo };
      changed = true;
    }
  }
  return changed ? writeBtf({ ...btf, types } satisfies Btf) : obj.btf;
}

function varNameOf(btf: Btf, id: number): string {
  const v = btf.types[id];
  return v ? btfString(btf, v.nameOff) : '';
}
