/**
 * BTF-defined maps: `struct { __uint(type, ...); __type(key, ...); ... } name SEC(".maps")`.
 * Each is a VAR in the `.maps` DATASEC whose struct members encode the attributes:
 * `__uint(x, N)` is a member `int (*x)[N]` (N = array length), `__type(x, T)` a member
 * `T *x` (its size is the key / value size). As libbpf's parse_btf_map_def does.
 */
import type { BtfTypeTable } from './btfview.js';
import { resolveSize, skipModsAndTypedefs } from './btfview.js';
import { ElfError } from './errors.js';
import type { MapDef } from '@bpf/isa';
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

/** A relocation inside the `.maps` section: byte offset and the symbol it names. */
export interface MapsSectionReloc {
  readonly offset: number;
  readonly symbol: string;
}

const MAP_IN_MAP = new Set(['array_of_maps', 'hash_of_maps']);

interface Attrs { type?: number; keySize?: number; valueSize?: number; maxEntries?: number; flags?: number; mapExtra?: bigint; inner?: MapDef & { readonly mapExtra?: bigint }; valuesOffset?: number; keyTypeId?: number; valueTypeId?: number }

/** Read one map definition struct (libbpf: parse_btf_map_def); `inner` forbids a further level. */
function parseMapDef(btf: BtfTypeTable, structId: number, fail: (m: string) => ElfError, inner: boolean): Attrs {
  const def = skipModsAndTypedefs(btf, structId);
  if (def?.t.kind !== 'struct') throw fail(`[${structId}] is not a struct`);
  const attrs: Attrs = {};
  for (const mem of def.t.members) {
    const ptr = skipModsAndTypedefs(btf, mem.type);
    const pointee = ptr?.t.kind === 'ptr' ? ptr.t.type : undefined;
    const uint = (): number => {
      const arr = pointee === undefined ? undefined : btf.type(pointee);
      if (arr?.kind !== 'array') throw fail(`member ${mem.name} is not __uint(...) (pointer to array)`);
      return arr.nelems;
    };
    const typeSize = (): number => {
      const n = pointee === undefined ? undefined : resolveSize(btf, pointee);
      if (n === undefined) throw fail(`cannot size the type of ${mem.name}`);
      return n;
    };
    const setSize = (field: 'keySize' | 'valueSize', n: number): void => {
      if (attrs[field] !== undefined && attrs[field] !== n) throw fail(`conflicting ${field} ${attrs[field]} and ${n}`);
      attrs[field] = n;
    };
    if (mem.name === 'values') {
      // __array(values, T): a flexible array of pointers, to an inner map definition
      // (map-in-map) or to a function prototype (prog array).
      if (inner) throw fail('multi-level inner maps are not supported');
      const arr = skipModsAndTypedefs(btf, mem.type);
      if (arr?.t.kind !== 'array') throw fail('values is not an array');
      const elem = skipModsAndTypedefs(btf, arr.t.elemType);
      if (elem?.t.kind !== 'ptr') throw fail('values is not an array of pointers');
      const target = skipModsAndTypedefs(btf, elem.t.type);
      if (target?.t.kind === 'struct') {
        const i = parseMapDef(btf, target.id, fail, true);
        // with its key and value types: libbpf creates the inner template with the object's
        // BTF (bpf_object__create_map), and the kernel compares the special fields of the
        // template's value (spin lock, timer, list head, kptrs) with those of every map put
        // into a slot (kernel/bpf/map_in_map.c: bpf_map_meta_equal)
        attrs.inner = {
          name: 'inner',
          type: mapTypeName(i.type ?? 0),
          keySize: i.keySize ?? 0,
          valueSize: i.valueSize ?? 0,
          maxEntries: i.maxEntries ?? 0,
          ...(i.flags ? { flags: i.flags } : {}),
          ...(i.mapExtra ? { mapExtra: i.mapExtra } : {}),
          ...(i.keyTypeId !== undefined ? { btfKeyTypeId: i.keyTypeId } : {}),
          ...(i.valueTypeId !== undefined ? { btfValueTypeId: i.valueTypeId } : {}),
        };
      } else if (target?.t.kind !== 'func_proto') throw fail('values points to neither a map definition nor a function');
      // A map / program fd per slot.
      setSize('valueSize', 4);
      attrs.valuesOffset = mem.bitOffset / 8;
      continue;
    }
    if (mem.name === 'map_extra' && (ptr?.t.kind === 'enum' || ptr?.t.kind === 'enum64')) {
      // __ulong(map_extra, V): an enum of one value V, as 64-bit values do not fit an array
      // length (libbpf: get_map_field_long; a 32-bit enum's value is sign-extended, as the
      // s32 it is stored as)
      if (ptr.t.values.length !== 1) throw fail(`member map_extra is an enum of ${ptr.t.values.length} values, not __ulong(map_extra, V)`);
      const v = ptr.t.values[0]!.value;
      attrs.mapExtra = BigInt.asUintN(64, ptr.t.kind === 'enum' ? BigInt.asIntN(32, v) : v);
      continue;
    }
    if (ptr?.t.kind !== 'ptr') throw fail(`member ${mem.name} is ${mem.name === 'map_extra' ? 'neither a pointer nor an enum' : 'not a pointer'}`);
    switch (mem.name) {
      case 'type': attrs.type = uint(); break;
      case 'max_entries': attrs.maxEntries = uint(); break;
      case 'map_flags': attrs.flags = uint(); break;
      case 'key_size': setSize('keySize', uint()); break;
      case 'value_size': setSize('valueSize', uint()); break;
      // libbpf passes these type ids to BPF_MAP_CREATE (btf_key_type_id, btf_value_type_id)
      case 'key': setSize('keySize', typeSize()); attrs.keyTypeId = pointee; break;
      case 'value': setSize('valueSize', typeSize()); attrs.valueTypeId = pointee; break;
      case 'map_extra': attrs.mapExtra = BigInt(uint()); break;
      // numa_node, pinning: not part of MapDef.
      default: break;
    }
  }
  return attrs;
}

/**
 * Fill in the BTF-defined maps of an object from its BTF. `relocs` are the relocations
 * inside `.maps` (initial slots of map-in-map and prog arrays).
 */
export function resolveBtfMaps(maps: readonly ElfMap[], btf: BtfTypeTable, relocs: readonly MapsSectionReloc[] = []): ElfMap[] {
  if (!maps.some((m) => m.btfPending)) return [...maps];
  const vars = datasecVars(btf, '.maps');
  if (!vars) throw new ElfError('BAD_BTF', 'the object has a .maps section but its BTF has no .maps DATASEC', { section: '.maps' });
  return maps.map((m) => {
    if (!m.btfPending) return m;
    const v = vars.find((x) => x.name === m.name);
    const fail = (msg: string): ElfError => new ElfError('BAD_MAP', `map ${m.name}: ${msg}`, { section: '.maps' });
    if (!v) throw fail('no VAR in the .maps DATASEC');
    const attrs = parseMapDef(btf, v.type, fail, false);
    const typeName = mapTypeName(attrs.type ?? 0);
    // libbpf: an inner map definition only for map-in-map types, functions only for prog arrays.
    if (attrs.valuesOffset !== undefined && (attrs.inner ? !MAP_IN_MAP.has(typeName) : typeName !== 'prog_array'))
      throw fail(`values of a ${typeName} map`);
    let initSlots: (string | null)[] | undefined;
    if (attrs.valuesOffset !== undefined) {
      // clang leaves DATASEC offsets of global variables 0 (libbpf fixes them up from the
      // symbols), so the map's place is its symbol's value.
      const base = m.offset + attrs.valuesOffset;
      for (const r of relocs) {
        if (r.offset < base || r.offset >= m.offset + v.size) continue;
        if ((r.offset - base) % 8 !== 0) throw fail(`relocation at ${r.offset} is not on a values slot`);
        const k = (r.offset - base) / 8;
        if (k >= (attrs.maxEntries ?? 0)) throw fail(`initial value ${k} is past max_entries ${attrs.maxEntries ?? 0}`);
        initSlots ??= [];
        while (initSlots.length <= k) initSlots.push(null);
        initSlots[k] = r.symbol;
      }
    }
    const { btfPending: _pending, ...rest } = m;
    return {
      ...rest,
      type: typeName,
      keySize: attrs.keySize ?? 0,
      valueSize: attrs.valueSize ?? 0,
      maxEntries: attrs.maxEntries ?? 0,
      ...(attrs.flags ? { flags: attrs.flags } : {}),
      ...(attrs.mapExtra ? { mapExtra: attrs.mapExtra } : {}),
      ...(attrs.keyTypeId !== undefined ? { btfKeyTypeId: attrs.keyTypeId } : {}),
      ...(attrs.valueTypeId !== undefined ? { btfValueTypeId: attrs.valueTypeId } : {}),
      ...(attrs.inner ? { inner: attrs.inner } : {}),
      ...(initSlots ? { initSlots } : {}),
    };
  });
}

/** Alignment of a type (libbpf: btf__align_of), for laying out `.kconfig`. */
export function alignOf(btf: BtfTypeTable, id: number, depth = 0): number | undefined {
  const s = skipModsAndTypedefs(btf, id);
  if (!s || depth > 32) return undefined;
  const t = s.t;
  switch (t.kind) {
    case 'int': case 'enum': case 'enum64': case 'float': return Math.min(Math.max(t.size, 1), 8);
    case 'ptr': return 8;
    case 'array': return alignOf(btf, t.elemType, depth + 1);
    case 'struct': case 'union': return t.members.reduce<number | undefined>((a, m) => {
      const x = alignOf(btf, m.type, depth + 1);
      return a === undefined || x === undefined ? undefined : Math.max(a, x);
    }, 1);
    default: return undefined;
  }
}

/**
 * The `.kconfig` map layout libbpf builds (bpf_object__collect_externs, cmp_externs): externs
 * sorted by descending alignment, then ascending size, then name, each placed at the next multiple of its alignment.
 */
export function kconfigLayout(btf: BtfTypeTable): { readonly vars: readonly { name: string; type: number; offset: number; size: number }[]; readonly size: number } | undefined {
  const vars = datasecVars(btf, '.kconfig');
  if (!vars?.length) return undefined;
  const sized = vars.map((v) => {
    const size = resolveSize(btf, v.type);
    const align = alignOf(btf, v.type);
    if (size === undefined || align === undefined) throw new ElfError('BAD_BTF', `kconfig extern ${v.name} has no size`, { section: '.kconfig' });
    return { name: v.name, type: v.type, size, align };
  });
  sized.sort((a, b) => b.align - a.align || a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let off = 0;
  const out = sized.map((v) => {
    off = Math.ceil(off / v.align) * v.align;
    const placed = { name: v.name, type: v.type, offset: off, size: v.size };
    off += v.size;
    return placed;
  });
  return { vars: out, size: off };
}
