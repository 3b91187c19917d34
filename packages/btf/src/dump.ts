/**
 * `bpftool btf dump file X` (raw format), character for character
 * (tools/bpf/bpftool/btf.c dump_btf_type).
 */
import { btfString, typeById, type Btf, type BtfType } from './btf.js';

const INT_ENCODING = (bits: number): string => {
  switch (bits) {
    case 0: return '(none)';
    case 1: return 'SIGNED';
    case 2: return 'CHAR';
    case 4: return 'BOOL';
    default: return 'UNKN';
  }
};
const LINKAGE = ['static', 'global', 'extern'];

/** Decoded names per BTF: vmlinux repeats the same member and parameter names many times. */
const nameCache = new WeakMap<Btf, Map<number, string>>();
function name(btf: Btf, off: number): string {
  if (off === 0) return '(anon)';
  let cache = nameCache.get(btf);
  if (cache === undefined) nameCache.set(btf, (cache = new Map<number, string>()));
  let s = cache.get(off);
  if (s === undefined) cache.set(off, (s = btfString(btf, off)));
  return s;
}

/** One type's lines. */
export function dumpType(btf: Btf, id: number, t: BtfType): string {
  const lines: string[] = [];
  emitType(btf, id, t, lines);
  return lines.join('\n');
}

/** Push one type's lines onto `lines`. */
function emitType(btf: Btf, id: number, t: BtfType, lines: string[]): void {
  const head = `[${id}] ${t.kind} '${name(btf, t.nameOff)}'`;
  switch (t.kind) {
    case 'INT': {
      const enc = (t.intData >>> 24) & 0x0f;
      lines.push(`${head} size=${t.sizeOrType} bits_offset=${(t.intData >>> 16) & 0xff} nr_bits=${t.intData & 0xff} encoding=${INT_ENCODING(enc)}`);
      return;
    }
    case 'PTR': case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
      lines.push(`${head} type_id=${t.sizeOrType}`);
      return;
    case 'ARRAY':
      lines.push(`${head} type_id=${t.elemType} index_type_id=${t.indexType} nr_elems=${t.nelems}`);
      return;
    case 'STRUCT': case 'UNION': {
      lines.push(`${head} size=${t.sizeOrType} vlen=${t.members.length}`);
      for (const m of t.members) {
        const bits = t.kindFlag ? m.offset & 0xffffff : m.offset;
        const bitfield = t.kindFlag ? m.offset >>> 24 : 0;
        lines.push(`\t'${name(btf, m.nameOff)}' type_id=${m.type} bits_offset=${bits}${bitfield ? ` bitfield_size=${bitfield}` : ''}`);
      }
      return;
    }
    case 'ENUM': case 'ENUM64': {
      const signed = t.kindFlag;
      lines.push(`${head} encoding=${signed ? 'SIGNED' : 'UNSIGNED'} size=${t.sizeOrType} vlen=${t.values.length}`);
      for (const v of t.values) {
        if (t.kind === 'ENUM') lines.push(`\t'${name(btf, v.nameOff)}' val=${signed ? BigInt.asIntN(32, v.val) : v.val}`);
        else lines.push(`\t'${name(btf, v.nameOff)}' val=${signed ? `${BigInt.asIntN(64, v.val)}LL` : `${v.val}ULL`}`);
      }
      return;
    }
    case 'FWD':
      lines.push(`${head} fwd_kind=${t.kindFlag ? 'union' : 'struct'}`);
      return;
    case 'FUNC':
      lines.push(`${head} type_id=${t.sizeOrType} linkage=${LINKAGE[t.vlen] ?? 'UNKN'}`);
      return;
    case 'FUNC_PROTO': {
      lines.push(`${head} ret_type_id=${t.sizeOrType} vlen=${t.params.length}`);
      for (const q of t.params) lines.push(`\t'${name(btf, q.nameOff)}' type_id=${q.type}`);
      return;
    }
    case 'VAR':
      lines.push(`${head} type_id=${t.sizeOrType}, linkage=${LINKAGE[t.linkage] ?? 'UNKN'}`);
      return;
    case 'DATASEC': {
      lines.push(`${head} size=${t.sizeOrType} vlen=${t.secinfo.length}`);
      for (const s of t.secinfo) {
        const v = typeById(btf, s.type);
        lines.push(`\ttype_id=${s.type} offset=${s.offset} size=${s.size} (${v?.kind ?? 'UNKN'} '${v ? name(btf, v.nameOff) : ''}')`);
      }
      return;
    }
    case 'FLOAT':
      lines.push(`${head} size=${t.sizeOrType}`);
      return;
    case 'DECL_TAG':
      lines.push(`${head} type_id=${t.sizeOrType} component_idx=${t.componentIdx}`);
      return;
  }
}

/** The whole raw dump, as bpftool prints it. */
export function dumpRaw(btf: Btf): string {
  const lines: string[] = [];
  for (let id = btf.firstId; id < btf.types.length; id++) emitType(btf, id, btf.types[id]!, lines);
  return lines.join('\n') + (lines.length ? '\n' : '');
}
