/**
 * `bpftool btf dump file X` (raw format), character for character
 * (tools/bpf/bpftool/btf.c dump_btf_type).
 *
 * The text is written as bytes into one growing buffer, names copied straight from the
 * string section (as bpftool prints them), and decoded once at the end: vmlinux gives some
 * 700,000 lines, and building them as JS strings costs more in allocation than in work. A
 * Btf from parseBtf is dumped from the type-section words it keeps, without making its type
 * objects.
 */
import { BtfError, KIND_NAMES, rawTypeWords, recordWords, typeById, typeCount, type Btf, type BtfType } from './btf.js';
import { Out as ByteOut } from './dumpc-out.js';

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
const TAB = 9;
const NL = 10;
const QUOTE = 39;

/** The byte buffer of `dumpC` (dumpc-out.ts), with the raw dump's own writes. */
class Out extends ByteOut {
  /** `capacity`: a guess at the whole dump; pages of it never written cost nothing. */
  constructor(capacity = 1 << 16) {
    super(capacity);
  }
  /** ` label=N`: a label (with its leading space and '=') and a number. */
  field(label: string, n: number): void {
    this.lit(label);
    this.num(n);
  }
  /** The NUL-terminated string at `off` of the BTF's string section (the base's for split BTF), quoted. */
  name(btf: Btf, off: number): void {
    this.byte(QUOTE);
    if (off === 0) this.lit('(anon)');
    else {
      let b = btf;
      while (off < b.stringBase && b.base) b = b.base;
      const at = off - b.stringBase;
      if (at < 0 || at >= b.strings.length) throw new BtfError('BAD_STRING', `Invalid name_offset ${off}`);
      const s = b.strings;
      let end = at;
      while (end < s.length && s[end] !== 0) end++;
      this.room(end - at);
      // a byte loop: a subarray per name would be some 400,000 objects for the collector
      const buf = this.buf;
      let len = this.len;
      for (let k = at; k < end; k++) buf[len++] = s[k]!;
      this.len = len;
    }
    this.byte(QUOTE);
  }
  string(): string {
    return new TextDecoder().decode(this.buf.subarray(0, this.len));
  }
}

/** One type's lines. */
export function dumpType(btf: Btf, id: number, t: BtfType): string {
  const out = new Out();
  emitType(btf, id, t, out);
  return out.string();
}

/** One type's lines, without the final newline. */
function emitType(btf: Btf, id: number, t: BtfType, o: Out): void {
  o.byte(0x5b); // [
  o.num(id);
  o.lit(`] ${t.kind} `);
  o.name(btf, t.nameOff);
  switch (t.kind) {
    case 'INT':
      o.field(' size=', t.sizeOrType);
      o.field(' bits_offset=', (t.intData >>> 16) & 0xff);
      o.field(' nr_bits=', t.intData & 0xff);
      o.lit(` encoding=${INT_ENCODING((t.intData >>> 24) & 0x0f)}`);
      return;
    case 'PTR': case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
      o.field(' type_id=', t.sizeOrType);
      return;
    case 'ARRAY':
      o.field(' type_id=', t.elemType);
      o.field(' index_type_id=', t.indexType);
      o.field(' nr_elems=', t.nelems);
      return;
    case 'STRUCT': case 'UNION':
      o.field(' size=', t.sizeOrType);
      o.field(' vlen=', t.members.length);
      for (const m of t.members) {
        o.byte(NL);
        o.byte(TAB);
        o.name(btf, m.nameOff);
        o.field(' type_id=', m.type);
        o.field(' bits_offset=', t.kindFlag ? m.offset & 0xffffff : m.offset);
        const bitfield = t.kindFlag ? m.offset >>> 24 : 0;
        if (bitfield) o.field(' bitfield_size=', bitfield);
      }
      return;
    case 'ENUM': case 'ENUM64': {
      const signed = t.kindFlag;
      o.field(signed ? ' encoding=SIGNED size=' : ' encoding=UNSIGNED size=', t.sizeOrType);
      o.field(' vlen=', t.values.length);
      for (const v of t.values) {
        o.byte(NL);
        o.byte(TAB);
        o.name(btf, v.nameOff);
        if (t.kind === 'ENUM') o.lit(` val=${signed ? BigInt.asIntN(32, v.val) : v.val}`);
        else o.lit(` val=${signed ? `${BigInt.asIntN(64, v.val)}LL` : `${v.val}ULL`}`);
      }
      return;
    }
    case 'FWD':
      o.lit(t.kindFlag ? ' fwd_kind=union' : ' fwd_kind=struct');
      return;
    case 'FUNC':
      o.field(' type_id=', t.sizeOrType);
      o.lit(` linkage=${LINKAGE[t.vlen] ?? 'UNKN'}`);
      return;
    case 'FUNC_PROTO':
      o.field(' ret_type_id=', t.sizeOrType);
      o.field(' vlen=', t.params.length);
      for (const q of t.params) {
        o.byte(NL);
        o.byte(TAB);
        o.name(btf, q.nameOff);
        o.field(' type_id=', q.type);
      }
      return;
    case 'VAR':
      o.field(' type_id=', t.sizeOrType);
      o.lit(`, linkage=${LINKAGE[t.linkage] ?? 'UNKN'}`);
      return;
    case 'DATASEC':
      o.field(' size=', t.sizeOrType);
      o.field(' vlen=', t.secinfo.length);
      for (const s of t.secinfo) {
        const v = typeById(btf, s.type);
        o.byte(NL);
        o.field('\ttype_id=', s.type);
        o.field(' offset=', s.offset);
        o.field(' size=', s.size);
        o.lit(` (${v?.kind ?? 'UNKN'} `);
        if (v) o.name(btf, v.nameOff);
        else o.lit("''");
        o.byte(0x29); // )
      }
      return;
    case 'FLOAT':
      o.field(' size=', t.sizeOrType);
      return;
    case 'DECL_TAG':
      o.field(' type_id=', t.sizeOrType);
      o.lit(` component_idx=${t.componentIdx}`);
      return;
  }
}

/** The whole raw dump, as bpftool prints it. */
export function dumpRaw(btf: Btf): string {
  const count = typeCount(btf);
  // vmlinux: 12 MB of text from 126,000 types and 2.3 MB of names; growing to that by doubling copies as much again
  const out = new Out((1 << 16) + 96 * (count - btf.firstId) + 2 * btf.strings.length);
  const words = rawTypeWords(btf);
  if (words) emitWords(btf, words, count, out);
  else {
    for (let id = btf.firstId; id < count; id++) {
      emitType(btf, id, btf.types[id]!, out);
      out.byte(NL);
    }
  }
  return out.string();
}

/**
 * The dump from the type-section words parseBtf keeps (no type objects made): the same lines
 * as emitType writes from the objects.
 */
function emitWords(btf: Btf, w: Uint32Array, count: number, o: Out): void {
  const first = btf.firstId;
  const starts = new Uint32Array(count - first);
  for (let id = first, r = 0; id < count; id++) {
    starts[id - first] = r;
    const info = w[r + 1]!;
    r += recordWords((info >>> 24) & 0x1f, info & 0xffff);
  }
  for (let id = first; id < count; id++) {
    const r = starts[id - first]!;
    const info = w[r + 1]!;
    const k = (info >>> 24) & 0x1f;
    const kindFlag = info >>> 31 === 1;
    const vlen = info & 0xffff;
    const size = w[r + 2]!;
    o.byte(0x5b); // [
    o.num(id);
    o.lit('] ');
    o.lit(KIND_NAMES[k]!);
    o.byte(0x20);
    o.name(btf, w[r]!);
    switch (k) {
      case 1: { // INT
        const data = w[r + 3]!;
        o.field(' size=', size);
        o.field(' bits_offset=', (data >>> 16) & 0xff);
        o.field(' nr_bits=', data & 0xff);
        o.lit(` encoding=${INT_ENCODING((data >>> 24) & 0x0f)}`);
        break;
      }
      case 2: case 8: case 9: case 10: case 11: case 18: // PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG
        o.field(' type_id=', size);
        break;
      case 3: // ARRAY
        o.field(' type_id=', w[r + 3]!);
        o.field(' index_type_id=', w[r + 4]!);
        o.field(' nr_elems=', w[r + 5]!);
        break;
      case 4: case 5: // STRUCT, UNION
        o.field(' size=', size);
        o.field(' vlen=', vlen);
        for (let i = 0, q = r + 3; i < vlen; i++, q += 3) {
          const off = w[q + 2]!;
          o.byte(NL);
          o.byte(TAB);
          o.name(btf, w[q]!);
          o.field(' type_id=', w[q + 1]!);
          o.field(' bits_offset=', kindFlag ? off & 0xffffff : off);
          const bitfield = kindFlag ? off >>> 24 : 0;
          if (bitfield) o.field(' bitfield_size=', bitfield);
        }
        break;
      case 6: case 19: { // ENUM, ENUM64
        o.field(kindFlag ? ' encoding=SIGNED size=' : ' encoding=UNSIGNED size=', size);
        o.field(' vlen=', vlen);
        const wide = k === 19;
        for (let i = 0, q = r + 3; i < vlen; i++, q += wide ? 3 : 2) {
          o.byte(NL);
          o.byte(TAB);
          o.name(btf, w[q]!);
          if (!wide) {
            o.lit(' val=');
            const u = w[q + 1]!;
            if (kindFlag && u >= 0x80000000) o.byte(0x2d); // -
            o.num(kindFlag && u >= 0x80000000 ? 0x100000000 - u : u);
          } else {
            const val = (BigInt(w[q + 2]!) << 32n) | BigInt(w[q + 1]!);
            o.lit(` val=${kindFlag ? `${BigInt.asIntN(64, val)}LL` : `${val}ULL`}`);
          }
        }
        break;
      }
      case 7: // FWD
        o.lit(kindFlag ? ' fwd_kind=union' : ' fwd_kind=struct');
        break;
      case 12: // FUNC
        o.field(' type_id=', size);
        o.lit(` linkage=${LINKAGE[vlen] ?? 'UNKN'}`);
        break;
      case 13: // FUNC_PROTO
        o.field(' ret_type_id=', size);
        o.field(' vlen=', vlen);
        for (let i = 0, q = r + 3; i < vlen; i++, q += 2) {
          o.byte(NL);
          o.byte(TAB);
          o.name(btf, w[q]!);
          o.field(' type_id=', w[q + 1]!);
        }
        break;
      case 14: // VAR
        o.field(' type_id=', size);
        o.lit(`, linkage=${LINKAGE[w[r + 3]!] ?? 'UNKN'}`);
        break;
      case 15: // DATASEC
        o.field(' size=', size);
        o.field(' vlen=', vlen);
        for (let i = 0, q = r + 3; i < vlen; i++, q += 3) {
          const v = w[q]!;
          o.byte(NL);
          o.field('\ttype_id=', v);
          o.field(' offset=', w[q + 1]!);
          o.field(' size=', w[q + 2]!);
          if (v >= first && v < count) {
            const vr = starts[v - first]!;
            o.lit(` (${KIND_NAMES[(w[vr + 1]! >>> 24) & 0x1f]!} `);
            o.name(btf, w[vr]!);
          } else {
            const t = v !== 0 && v < first ? typeById(btf, v) : undefined; // a split BTF's base type, or none
            o.lit(` (${t?.kind ?? 'UNKN'} `);
            if (t) o.name(btf, t.nameOff);
            else o.lit("''");
          }
          o.byte(0x29); // )
        }
        break;
      case 16: // FLOAT
        o.field(' size=', size);
        break;
      case 17: // DECL_TAG
        o.field(' type_id=', size);
        o.lit(` component_idx=${w[r + 3]! | 0}`);
        break;
      default:
        break;
    }
    o.byte(NL);
  }
}
