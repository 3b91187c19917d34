/**
 * BTF-defined maps: `struct { __uint(type, ...); __type(key, ...); ... } name SEC(".maps")`.
 * Each is a VAR in the `.maps` DATASEC whose struct members encode the attributes:
 * `__uint(x, N)` is a member `int (*x)[N]` (N = array length), `__type(x, T)` a member
 * `T *x` (its size is the key / value size). As libbpf's parse_btf_map_def does.
 */
import type { BtfTypeTable } from './btfview.js';
import { resolveSize, skipModsAndTypedefs } from './btfview.js';
import { ElfError } from './errors.js';
import type { ElfMap } from './maps.js';
import { mapTypeName } from './maps.js';

/** The DATASEC of a section, with its VARs' names, types and offsets. */
export function datasecVars(btf: BtfTypeTable, section: string): { name: string; type: number; offset: number; size: number; linkage: string; kind: 'var' | 'func' }[] | undefined {
  for (let id = 1; id < btf.count; id++) {
    const t = btf.type(id);
    if (t?.kind !== 'datasec' || t.name !== section) continue;
    return t.vars.map((v) => {
      const vt = btf.type(v.type);
      if (vt?.kind !== 'var' && vt?.kind !== 'func')
        throw new ElfError('BAD_BTF', `DATASEC ${section} entry [${v.type}] is not a VAR or FUNC`, { section });
      return { name: vt.name, type: vt.type, offset: v.offset, size: v.size, linkage: vt.linkage, kind: vt.kind };
    });
  }
  return undefined;
}

/** Fill in the BTF-defined maps of an object from its BTF. */
export function resolveBtfMaps(maps: readonly ElfMap[], btf: BtfTypeTable): ElfMap[] {
  if (!maps.some((m) => m.btfPending)) return [...maps];
  const vars = datasecVars(btf, '.maps');
  if (!vars) throw new ElfError('BAD_BTF', 'the object has a .maps section but its BTF has no .maps DATASEC', { section: '.maps' });
  return maps.map((m) => {
    if (!m.btfPending) return m;
    const v = vars.find((x) => x.name === m.name);
    const fail = (msg: string): ElfError => new ElfError('BAD_MAP', `map ${m.name}: ${msg}`, { section: '.maps' });
    if (!v) throw fail('no VAR in the .maps DATASEC');
    const def = skipModsAndTypedefs(btf, v.type);
    if (def?.t.kind !== 'struct') throw fail(`[${v.type}] is not a struct`);
    const attrs: { type?: number; keySize?: number; valueSize?: number; maxEntries?: number; flags?: number } = {};
    for (const mem of def.t.members) {
      const ptr = skipModsAndTypedefs(btf, mem.type);
      if (ptr?.t.kind !== 'ptr') throw fail(`member ${mem.name} is not a pointer`);
      const uint = (): number => {
        const arr = btf.type(ptr.t.kind === 'ptr' ? ptr.t.type : 0);
        if (arr?.kind !== 'array') throw fail(`member ${mem.name} is not __uint(...) (pointer to array)`);
        return arr.nelems;
      };
      const typeSize = (): number => {
        const n = resolveSize(btf, ptr.t.kind === 'ptr' ? ptr.t.type : 0);
        if (n === undefined) throw fail(`cannot size the type of ${mem.name}`);
        return n;
      };
      const setSize = (field: 'keySize' | 'valueSize', n: number): void => {
        if (attrs[field] !== undefined && attrs[field] !== n) throw fail(`conflicting ${field} ${attrs[field]} and ${n}`);
        attrs[field] = n;
      };
      switch (mem.name) {
        case 'type': attrs.type = uint(); break;
        case 'max_entries': attrs.maxEntries = uint(); break;
        case 'map_flags': attrs.flags = uint(); break;
        case 'key_size': setSize('keySize', uint()); break;
        case 'value_size': setSize('valueSize', uint()); break;
        case 'key': setSize('keySize', typeSize()); break;
        case 'value': setSize('valueSize', typeSize()); break;
        // numa_node, pinning, map_extra, values (map-in-map inits): not part of MapDef.
        default: break;
      }
    }
    const { btfPending: _pending, ...rest } = m;
    return {
      ...rest,
      type: mapTypeName(attrs.type ?? 0),
      keySize: attrs.keySize ?? 0,
      valueSize: attrs.valueSize ?? 0,
      maxEntries: attrs.maxEntries ?? 0,
      ...(attrs.flags ? { flags: attrs.flags } : {}),
    };
  });
}
