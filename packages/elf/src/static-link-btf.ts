/**
 * The BTF side of static linking: a growing type table with libbpf's string set (each string
 * added once, in the order met), and the checks libbpf's linker makes before resolving an
 * extern against a definition (tools/lib/bpf/linker.c: glob_sym_btf_matches, map_defs_match).
 */
import type { BtfType } from '@bpf/btf';

/** Types and strings seen through one interface, for a source object's BTF or the linker's. */
export interface TypeSource {
  type(id: number): BtfType | undefined;
  str(off: number): string;
}

/** A string table where each string is stored once (libbpf's strset), offsets in insertion order. */
export class StrSet {
  private readonly bytes: number[] = [0];
  private readonly at = new Map<string, number>([['', 0]]);
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  add(s: string): number {
    let off = this.at.get(s);
    if (off === undefined) {
      off = this.bytes.length;
      for (const b of this.enc.encode(s)) this.bytes.push(b);
      this.bytes.push(0);
      this.at.set(s, off);
    }
    return off;
  }
  get(off: number): string {
    let end = off;
    while (end < this.bytes.length && this.bytes[end] !== 0) end++;
    return this.dec.decode(Uint8Array.from(this.bytes.slice(off, end)));
  }
  data(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const MODS = new Set(['TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT', 'TYPE_TAG']);

export function skipMods(src: TypeSource, id: number): [number, BtfType | undefined] {
  for (let depth = 0; depth < 64; depth++) {
    const t = src.type(id);
    if (t === undefined || !MODS.has(t.kind)) return [id, t];
    id = t.sizeOrType;
  }
  return [id, undefined];
}

/** `btf__resolve_size`: the byte size of a type, or -1. */
export function resolveSize(src: TypeSource, id: number): number {
  let mult = 1;
  for (let depth = 0; depth < 64; depth++) {
    const t = src.type(id);
    if (t === undefined) return -1;
    switch (t.kind) {
      case 'INT': case 'ENUM': case 'ENUM64': case 'STRUCT': case 'UNION': case 'DATASEC': case 'FLOAT': return mult * t.sizeOrType;
      case 'PTR': return mult * 8;
      case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG': case 'VAR': case 'DECL_TAG':
        id = t.sizeOrType;
        break;
      case 'ARRAY':
        mult *= t.nelems;
        id = t.elemType;
        break;
      default: return -1;
    }
  }
  return -1;
}

const NAMED = new Set(['STRUCT', 'UNION', 'ENUM', 'ENUM64', 'FWD', 'FUNC', 'VAR']);

/**
 * Whether two BTF types of a global symbol agree as libbpf's linker requires: same kinds and
 * names, same sizes, same struct layouts when `exact` (anything behind a pointer only by
 * shape, a forward declaration matching its struct or union), same prototypes; typedefs and
 * modifiers skipped. Returns the reason when they differ.
 */
export function btfTypesMatch(a: TypeSource, idA: number, b: TypeSource, idB: number, exact = true, depth = 0): string | undefined {
  if (depth > 64) return 'types nest too deep';
  const [, t1] = skipMods(a, idA);
  const [, t2] = skipMods(b, idB);
  if (t1 === undefined || t2 === undefined) return t1 === t2 ? undefined : 'void and a type';
  const n1 = a.str(t1.nameOff);
  const n2 = b.str(t2.nameOff);
  if (!exact && (t1.kind === 'FWD') !== (t2.kind === 'FWD')) {
    if (n1 !== n2) return `incompatible forward declaration names '${n1}' and '${n2}'`;
    const [fwd, real] = t1.kind === 'FWD' ? [t1, t2] : [t2, t1];
    if (fwd.kindFlag ? real.kind === 'UNION' : real.kind === 'STRUCT') return undefined;
    return `incompatible ${fwd.kindFlag ? 'union' : 'struct'} forward declaration and concrete kind ${real.kind.toLowerCase()}`;
  }
  if (t1.kind !== t2.kind) return `incompatible BTF kinds ${t1.kind.toLowerCase()} and ${t2.kind.toLowerCase()}`;
  const kind = t1.kind.toLowerCase();
  if (NAMED.has(t1.kind) && n1 !== n2) return `incompatible ${kind} names '${n1}' and '${n2}'`;
  switch (t1.kind) {
    case 'FWD': return undefined;
    case 'INT': case 'FLOAT': case 'ENUM': case 'ENUM64':
      return t1.sizeOrType === t2.sizeOrType ? undefined : `incompatible ${kind} '${n1}' size ${t1.sizeOrType} and ${t2.sizeOrType}`;
    case 'PTR': return btfTypesMatch(a, t1.sizeOrType, b, t2.sizeOrType, false, depth + 1);
    case 'ARRAY': return t2.kind === 'ARRAY' ? btfTypesMatch(a, t1.elemType, b, t2.elemType, exact, depth + 1) : 'array';
    case 'FUNC': case 'VAR': {
      const static1 = t1.kind === 'VAR' ? t1.linkage === 0 : t1.vlen === 0;
      const static2 = t2.kind === 'VAR' ? t2.linkage === 0 : t2.vlen === 0;
      if (static1 !== static2) return `incompatible ${t1.kind === 'FUNC' ? 'func' : 'var'} '${n1}' linkage`;
      return btfTypesMatch(a, t1.sizeOrType, b, t2.sizeOrType, exact, depth + 1);
    }
    case 'STRUCT': case 'UNION': {
      if (!exact || t2.kind !== t1.kind) return undefined;
      if (t1.members.length !== t2.members.length) return `incompatible number of ${kind} fields ${t1.members.length} and ${t2.members.length}`;
      for (let i = 0; i < t1.members.length; i++) {
        const m1 = t1.members[i]!;
        const m2 = t2.members[i]!;
        const mn1 = a.str(m1.nameOff);
        const mn2 = b.str(m2.nameOff);
        if (mn1 !== mn2) return `incompatible field #${i} names '${mn1}' and '${mn2}'`;
        if (m1.offset !== m2.offset) return `incompatible field #${i} ('${mn1}') offsets`;
        const why = btfTypesMatch(a, m1.type, b, m2.type, exact, depth + 1);
        if (why) return why;
      }
      return undefined;
    }
    case 'FUNC_PROTO': {
      if (t2.kind !== 'FUNC_PROTO') return 'func_proto';
      if (t1.params.length !== t2.params.length) return `incompatible number of func_proto params ${t1.params.length} and ${t2.params.length}`;
      for (let i = 0; i < t1.params.length; i++) {
        const why = btfTypesMatch(a, t1.params[i]!.type, b, t2.params[i]!.type, exact, depth + 1);
        if (why) return why;
      }
      return btfTypesMatch(a, t1.sizeOrType, b, t2.sizeOrType, exact, depth + 1);
    }
    default: return `unsupported BTF kind ${kind}`;
  }
}

/** A BTF-defined map as libbpf's linker compares two of them (parse_btf_map_def, strict). */
interface MapDef {
  readonly fields: Map<string, number>;
  readonly key?: number;
  readonly value?: number;
  readonly inner?: MapDef;
}

/** `int (*name)[N]` → N. */
function uintField(src: TypeSource, id: number): number | undefined {
  const [, p] = skipMods(src, id);
  if (p?.kind !== 'PTR') return undefined;
  const [, arr] = skipMods(src, p.sizeOrType);
  return arr?.kind === 'ARRAY' ? arr.nelems : undefined;
}

function mapDef(src: TypeSource, structId: number, depth = 0): MapDef | string {
  const [, t] = skipMods(src, structId);
  if (t?.kind !== 'STRUCT') return 'not a struct';
  const fields = new Map<string, number>();
  let key: number | undefined;
  let value: number | undefined;
  let inner: MapDef | undefined;
  for (const m of t.members) {
    const name = src.str(m.nameOff);
    if (name === 'key' || name === 'value') {
      const [, p] = skipMods(src, m.type);
      if (p?.kind !== 'PTR') return `${name} is not a pointer`;
      if (name === 'key') key = p.sizeOrType;
      else value = p.sizeOrType;
      const size = resolveSize(src, p.sizeOrType);
      fields.set(`${name}_size`, size);
    } else if (name === 'values') {
      if (depth > 0) return 'nested values';
      // `__array(values, struct inner)`: a zero-length array of pointers to the inner definition.
      const [, arr] = skipMods(src, m.type);
      if (arr?.kind !== 'ARRAY') return 'values is not an array';
      const [, p] = skipMods(src, arr.elemType);
      if (p?.kind !== 'PTR') return 'values is not an array of pointers';
      const [, st] = skipMods(src, p.sizeOrType);
      if (st?.kind === 'STRUCT') {
        const d = mapDef(src, p.sizeOrType, depth + 1);
        if (typeof d === 'string') return d;
        inner = d;
      }
    } else {
      const v = uintField(src, m.type);
      if (v === undefined) return `${name} is not __uint()`;
      fields.set(name, v);
    }
  }
  return { fields, key, value, inner };
}

/** libbpf's map_defs_match: an extern map's definition must equal the definition it resolves to. */
export function btfMapDefsMatch(a: TypeSource, varA: number, b: TypeSource, varB: number): string | undefined {
  const va = a.type(varA);
  const vb = b.type(varB);
  if (va?.kind !== 'VAR' || vb?.kind !== 'VAR') return 'invalid map definition type';
  const da = mapDef(a, va.sizeOrType);
  const db = mapDef(b, vb.sizeOrType);
  if (typeof da === 'string' || typeof db === 'string') return 'invalid map definition';
  return defsDiffer(a, da, b, db);
}

function defsDiffer(a: TypeSource, da: MapDef, b: TypeSource, db: MapDef): string | undefined {
  const f = (d: MapDef, k: string): number => d.fields.get(k) ?? 0;
  for (const k of ['type', 'key_size']) if (f(da, k) !== f(db, k)) return `map ${k} mismatch`;
  if ((da.key === undefined) !== (db.key === undefined)) return 'map key type mismatch';
  if (da.key !== undefined && db.key !== undefined && btfTypesMatch(a, da.key, b, db.key)) return 'map key type mismatch';
  if (f(da, 'value_size') !== f(db, 'value_size')) return 'map value_size mismatch';
  if ((da.value === undefined) !== (db.value === undefined)) return 'map value type mismatch';
  if (da.value !== undefined && db.value !== undefined && btfTypesMatch(a, da.value, b, db.value)) return 'map value type mismatch';
  for (const k of ['max_entries', 'map_flags', 'numa_node', 'pinning']) if (f(da, k) !== f(db, k)) return `map ${k} mismatch`;
  if ((da.inner === undefined) !== (db.inner === undefined)) return 'map inner map mismatch';
  if (da.inner && db.inner) return defsDiffer(a, da.inner, b, db.inner);
  return undefined;
}

/**
 * A `.BTF.ext` section (include/uapi/linux/btf.h: btf_ext_header, then per kind the record
 * size and, per section, its name offset, record count and records) from func_info, line_info
 * and CO-RE subsections in that order, each already as 32-bit words; an empty one takes no
 * bytes (offset and length 0), as libbpf writes it.
 */
export function writeBtfExtSections(
  subsections: readonly { readonly recordSize: number; readonly secs: readonly { readonly nameOff: number; readonly count: number; readonly words: readonly number[] }[] }[],
  endian: 'little' | 'big',
): Uint8Array {
  const le = endian === 'little';
  const lens = subsections.map((k) => (k.secs.length ? 4 + k.secs.reduce((n, s) => n + 8 + 4 * s.words.length, 0) : 0));
  const out = new Uint8Array(32 + lens.reduce((a, b) => a + b, 0));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xeb9f, le);
  dv.setUint8(2, 1);
  dv.setUint32(4, 32, le);
  let p = 32;
  const w = (v: number): void => {
    dv.setUint32(p, v >>> 0, le);
    p += 4;
  };
  subsections.forEach((k, i) => {
    dv.setUint32(8 + i * 8, p - 32, le);
    dv.setUint32(12 + i * 8, lens[i]!, le);
    if (!k.secs.length) return;
    w(k.recordSize);
    for (const s of k.secs) {
      w(s.nameOff);
      w(s.count);
      for (const v of s.words) w(v);
    }
  });
  return out;
}
