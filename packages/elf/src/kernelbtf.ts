/**
 * The object's `.BTF` made loadable by BPF_BTF_LOAD, as libbpf does before loading it
 * (tools/lib/bpf/libbpf.c: btf_fixup_datasec, and bpf_object__collect_externs for the
 * extern sections): clang leaves each DATASEC's size and its variables' offsets at zero,
 * since only the linker knows them; they come from the ELF section sizes and symbol values,
 * and the kernel wants the variables in offset order. Externs are not something the kernel
 * takes in BTF (a VAR must be static or allocated, a FUNC static or global), so they become
 * allocated variables of the DATASEC their section names.
 */
import { btfString, parseBtf, writeBtf, type Btf, type BtfType, type SecInfo } from '@bpf/btf';
import { ElfError } from './errors.js';
import type { ElfObject } from './object.js';

/** DATASECs the extern machinery sizes (libbpf sets them while collecting externs). */
const EXTERN_SECS = new Set(['.kconfig', '.ksyms']);

/** `BTF_VAR_GLOBAL_ALLOCATED`, and `BTF_FUNC_GLOBAL` (the linkage in a FUNC's vlen). */
const VAR_ALLOCATED = 1;
const FUNC_GLOBAL = 1;
/** libbpf's name for the stand-in variable of extern functions (and their unnamed params). */
const DUMMY_KSYM = 'dummy_ksym';

export interface KernelBtfOptions {
  /** The size of the `.kconfig` map, when the object has kconfig externs. */
  readonly kconfigSize?: number;
  /** Offsets of the kconfig externs in the `.kconfig` map, by name. */
  readonly kconfigOffsets?: ReadonlyMap<string, number>;
  /** Extern functions the host links in (`LoadOptions.functions`): their FUNCs become static. */
  readonly hostFunctions?: ReadonlySet<string>;
}

/** Fixed-up `.BTF` bytes of an object, or undefined when it has none. */
export function kernelBtf(obj: ElfObject, opts: KernelBtfOptions = {}): Uint8Array | undefined {
  if (!obj.btf) return undefined;
  const btf = parseBtf(obj.btf);
  const types: (BtfType | undefined)[] = [...btf.types];
  let strings = btf.strings;
  let changed = false;
  // New strings go at the end of the string section (offsets are relative to its start).
  const addString = (s: string): number => {
    const off = btf.stringBase + strings.length;
    const bytes = new TextEncoder().encode(`${s}\0`);
    const grown = new Uint8Array(strings.length + bytes.length);
    grown.set(strings);
    grown.set(bytes, strings.length);
    strings = grown;
    return off;
  };
  let int32: number | undefined;
  // libbpf: the first 32-bit INT stands for every extern variable's type; add one if none.
  const int32Id = (): number => {
    if (int32 !== undefined) return int32;
    for (let id = btf.firstId; id < types.length; id++) {
      const t = types[id];
      if (t?.kind === 'INT' && (t.intData & 0xff) === 32) return (int32 = id);
    }
    types.push({ kind: 'INT', nameOff: addString('int'), kindFlag: false, vlen: 0, sizeOrType: 4, intData: (1 << 24) | 32 });
    return (int32 = types.length - 1);
  };
  let dummy: { id: number; nameOff: number } | undefined;
  const dummyVar = (): { id: number; nameOff: number } => {
    if (dummy) return dummy;
    const type = int32Id();
    const nameOff = addString(DUMMY_KSYM);
    types.push({ kind: 'VAR', nameOff, kindFlag: false, vlen: 0, sizeOrType: type, linkage: VAR_ALLOCATED });
    return (dummy = { id: types.length - 1, nameOff });
  };
  // A function the host links in (LoadOptions.functions) is a static subprogram, not the
  // extern declaration clang wrote (the kernel refuses extern linkage, and the unnamed
  // parameters of a declaration): `static ret name(void)`, as tetragon describes its CEL
  // functions to cilium/ebpf.
  const end0 = types.length;
  for (let id = btf.firstId; opts.hostFunctions?.size && id < end0; id++) {
    const t = types[id];
    if (t?.kind === 'FUNC' && opts.hostFunctions.has(btfString(btf, t.nameOff))) {
      const proto = types[t.sizeOrType];
      const ret = proto?.kind === 'FUNC_PROTO' ? proto.sizeOrType : int32Id();
      types.push({ kind: 'FUNC_PROTO', nameOff: 0, kindFlag: false, vlen: 0, sizeOrType: ret, params: [] });
      types[id] = { ...t, vlen: t.vlen & ~0xffff, sizeOrType: types.length - 1 };
      changed = true;
    }
  }
  // libbpf (bpf_object__init_prog, bpf_object__sanitize_and_load_btf): a global or weak
  // subprogram of restricted visibility (`__hidden`: STV_HIDDEN or STV_INTERNAL) gets static
  // linkage, so the kernel verifies it in its callers' context instead of on its own (libbpf's
  // usdt.bpf.h bpf_usdt_arg, whose `long *res` a global function would have to check for NULL).
  const textIndex = obj.sections.find((x) => x.name === '.text')?.index;
  const hidden = new Set(
    obj.symbols.filter((x) => x.shndx === textIndex && x.type === 'func' && x.bind !== 'local' && (x.visibility === 'hidden' || x.visibility === 'internal')).map((x) => x.name),
  );
  for (let id = btf.firstId; hidden.size && id < end0; id++) {
    const t = types[id];
    if (t?.kind === 'FUNC' && (t.vlen & 0xffff) === FUNC_GLOBAL && hidden.has(btfString(btf, t.nameOff))) {
      types[id] = { ...t, vlen: t.vlen & ~0xffff };
      changed = true;
    }
  }
  const end = types.length;
  for (let id = btf.firstId; id < end; id++) {
    const t = types[id];
    if (t?.kind !== 'DATASEC') continue;
    const name = btfString(btf, t.nameOff);
    let size = t.sizeOrType;
    let secinfo: SecInfo[] = [...t.secinfo];
    if (name === '.ksyms') {
      // Each extern a 4-byte allocated int at 4 * its place; a function's entry names the
      // dummy variable and the FUNC itself becomes global.
      secinfo = secinfo.map((v, k) => {
        const target = types[v.type];
        if (target?.kind === 'FUNC') {
          const d = dummyVar();
          types[v.type] = { ...target, vlen: (target.vlen & ~0xffff) | FUNC_GLOBAL };
          const proto = types[target.sizeOrType];
          if (proto?.kind === 'FUNC_PROTO' && proto.params.some((q) => q.type !== 0 && q.nameOff === 0))
            types[target.sizeOrType] = { ...proto, params: proto.params.map((q) => (q.type !== 0 && q.nameOff === 0 ? { ...q, nameOff: d.nameOff } : q)) };
          return { type: d.id, offset: 4 * k, size: 4 };
        }
        if (target?.kind !== 'VAR') throw new ElfError('BAD_BTF', `.ksyms entry [${v.type}] is not a VAR or FUNC`, { section: name });
        types[v.type] = { ...target, linkage: VAR_ALLOCATED, sizeOrType: int32Id() };
        return { type: v.type, offset: 4 * k, size: 4 };
      });
      size = 4 * secinfo.length;
    } else if (name === '.kconfig') {
      if (opts.kconfigSize !== undefined) size = opts.kconfigSize;
      secinfo = secinfo.map((v) => {
        const target = types[v.type];
        if (target?.kind !== 'VAR') throw new ElfError('BAD_BTF', `.kconfig entry [${v.type}] is not a VAR`, { section: name });
        types[v.type] = { ...target, linkage: VAR_ALLOCATED };
        const offset = opts.kconfigOffsets?.get(btfString(btf, target.nameOff));
        return offset === undefined ? v : { ...v, offset };
      });
    } else if (!EXTERN_SECS.has(name)) {
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
    if (size !== t.sizeOrType || secinfo.some((v, k) => v.offset !== t.secinfo[k]!.offset || v.type !== t.secinfo[k]!.type || v.size !== t.secinfo[k]!.size)) {
      types[id] = { ...t, sizeOrType: size, secinfo };
      changed = true;
    }
  }
  changed ||= types.length !== btf.types.length || strings !== btf.strings || types.some((t, k) => t !== btf.types[k]);
  return changed ? writeBtf({ ...btf, types, strings } satisfies Btf) : obj.btf;
}

function varNameOf(btf: Btf, id: number): string {
  const v = btf.types[id];
  return v ? btfString(btf, v.nameOff) : '';
}
