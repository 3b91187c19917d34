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

function name(btf: Btf, off: number): string {
  return off === 0 ? '(anon)' : btfString(btf, off);
}

/** One type's lines. */
export function dumpType(btf: Btf, id: number, t: BtfType): string {
  const head = `[${id}] ${t.kind} '${name(btf, t.nameOff)}'`;
  switch (t.kind) {
    case 'INT': {
      const enc = (t.intData >>> 24) & 0x0f;
      return `${head} size=${t.sizeOrType} bits_offset=${(t.intData >>> 16) & 0xff} nr_bits=${t.intData & 0xff} encoding=${INT_ENCODING(enc)}`;
    }
    case 'PTR': case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
      return `${head} type_id=${t.sizeOrType}`;
    case 'ARRAY':
      return `${head} type_id=${t.elemType} index_type_id=${t.indexType} nr_elems=${t.nelems}`;
    case 'STRUCT': case 'UNION': {
      const lines = [`${head} size=${t.sizeOrType} vlen=${t.members.length}`];
      for (const m of t.members) {
        const bits = t.kindFlag ? m.offset & 0xffffff : m.offset;
        const bitfield = t.kindFlag ? m.offset >>> 24 : 0;
        lines.push(`\t'${name(btf, m.nameOff)}' type_id=${m.type} bits_offset=${bits}${bitfield ? ` bitfield_size=${bitfield}` : ''}`);
      }
      return lines.join('\n');
    }
    case 'ENUM': case 'ENUM64': {
      const signed = t.kindFlag;
      const lines = [`${head} encoding=${signed ? 'SIGNED' : 'UNSIGNED'} size=${t.sizeOrType} vlen=${t.values.length}`];
      for (const v of t.values) {
        if (t.kind === 'ENUM') lines.push(`\t'${name(btf, v.nameOff)}' val=${signed ? BigInt.asIntN(32, v.val) : v.val}`);
        else lines.push(`\t'${name(btf, v.nameOff)}' val=${signed ? `${BigInt.asIntN(64, v.val)}LL` : `${v.val}ULL`}`);
      }
      return lines.join('\n');
    }
    case 'FWD':
      return `${head} fwd_kind=${t.kindFlag ? 'union' : 'struct'}`;
    case 'FUNC':
      return `${head} type_id=${t.sizeOrType} linkage=${LINKAGE[t.vlen] ?? 'UNKN'}`;
    case 'FUNC_PROTO': {
      const lines = [`${head} ret_type_id=${t.sizeOrType} vlen=${t.params.length}`];
      for (const q of t.params) lines.push(`\t'${name(btf, q.nameOff)}' type_id=${q.type}`);
      return lines.join('\n');
    }
    case 'VAR':
      return `${head} type_id=${t.sizeOrType}, linkage=${LINKAGE[t.linkage] ?? 'UNKN'}`;
    case 'DATASEC': {
      const lines = [`${head} size=${t.sizeOrType} vlen=${t.secinfo.length}`];
      for (const s of t.secinfo) {
        const v = typeById(btf, s.type);
        lines.push(`\ttype_id=${s.type} offset=${s.offset} size=${s.size} (${v?.kind ?? 'UNKN'} '${v ? name(btf, v.nameOff) : ''}')`);
      }
      return lines.join('\n');
    }
    case 'FLOAT':
      return `${head} size=${t.sizeOrType}`;
    case 'DECL_TAG':
      return `${head} type_id=${t.sizeOrType} component_idx=${t.componentIdx}`;
  }
}

/** The whole raw dump, as bpftool prints it. */
export function dumpRaw(btf: Btf): string {
  const parts: string[] = [];
  for (let id = btf.firstId; id < btf.types.length; id++) parts.push(dumpType(btf, id, btf.types[id]!));
  return parts.join('\n') + (parts.length ? '\n' : '');
}
