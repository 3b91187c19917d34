/**
 * The BTF-to-C emitter's view of the types, and the C layout facts it needs: pointer size,
 * alignment, sizes, whether a struct must have been packed, and the explicit padding members
 * that reproduce a layout. The rules are libbpf's (tools/lib/bpf/btf.c btf__align_of,
 * btf__resolve_size, determine_ptr_size; btf_dump.c btf_is_struct_packed,
 * btf_dump_emit_bit_padding), since `bpftool btf dump ... format c` is the reference.
 *
 * The view is the type section's words (btf.h's layout) and a few typed arrays indexed by type
 * id: the emitter walks numbers, never type objects.
 */
import { BtfError, btfString, KIND, rawTypeWords, recordWords, typeCount, type Btf, type BtfType } from './btf.js';
import type { Out } from './dumpc-out.js';

/** Kind numbers (btf.h BTF_KIND_*); 0 is void. */
export const INT = 1, PTR = 2, ARRAY = 3, STRUCT = 4, UNION = 5, ENUM = 6, FWD = 7, TYPEDEF = 8, VOLATILE = 9, CONST = 10,
  RESTRICT = 11, FUNC = 12, FUNC_PROTO = 13, VAR = 14, DATASEC = 15, FLOAT = 16, DECL_TAG = 17, TYPE_TAG = 18, ENUM64 = 19;

/** Deeper than this, a chain of references is a loop in a damaged blob, not real C. */
export const MAX_DEPTH = 500;
/** libbpf's MAX_RESOLVE_DEPTH for btf__resolve_size. */
const MAX_RESOLVE_DEPTH = 32;
/** A padding gap wider than this (bits, 512 KiB) only comes from a damaged size or offset. */
const MAX_PAD_BITS = 1 << 22;

/** Type names whose int of size 4 or 8 tells the pointer size (libbpf determine_ptr_size). */
const LONG_ALIASES = new Set([
  'long', 'long int', 'int long', 'unsigned long', 'long unsigned', 'unsigned long int',
  'unsigned int long', 'long unsigned int', 'long int unsigned', 'int unsigned long', 'int long unsigned',
]);

/**
 * Every type of `btf` (its bases' first, for split BTF) as type-section words (btf.h's
 * layout, host order) with, per id, where its record starts; index 0 is void. The words are
 * the ones parseBtf kept when there are (no copy, no object read), else written from the
 * objects. Built in one pass that also checks every reference, so the emitter never meets an
 * id past the last type.
 */
export class TypeTable {
  readonly count: number;
  readonly w: Uint32Array;
  /** Per id, the index in `w` of its record (its name_off word). */
  readonly st: Uint32Array;
  readonly kind: Uint8Array;
  /** Types some other type refers to (btf_dump_mark_referenced_types). */
  readonly referenced: Uint8Array;
  /** Enums whose values no word holds (a hand-built blob's): their values come from the objects. */
  readonly oddEnums = new Set<number>();
  /** The string sections, a split BTF's bases' first, at the offsets names use. */
  readonly strs: Uint8Array;
  readonly ptrSize: number;
  /** Widths in bits of long, int, short, char: the padding types, widest first. */
  readonly padBits: readonly number[];
  /** How many names the emitter may count at most (named types it writes, enumerators): sizes its name table. */
  readonly nameUses: number;
  /** Alignment + 1 per id (0: not computed yet). */
  private readonly aligns: Uint8Array;

  constructor(readonly btf: Btf) {
    const n = typeCount(btf);
    this.count = n;
    this.st = new Uint32Array(n);
    this.w = this.words(btf);
    this.kind = new Uint8Array(n);
    this.referenced = new Uint8Array(n);
    this.aligns = new Uint8Array(n);
    this.strs = flatStrings(btf);
    this.nameUses = this.scan();
    let ptr = 8; // no `long` in sight: libbpf assumes the host's sizeof(void *)
    for (let id = 1; id < n; id++) {
      const sz = this.size(id);
      if (this.kind[id] === INT && (sz === 4 || sz === 8) && LONG_ALIASES.has(btfString(btf, this.nameOff(id)))) {
        ptr = sz;
        break;
      }
    }
    this.ptrSize = ptr;
    this.padBits = [ptr * 8, 32, 16, 8];
  }

  nameOff(id: number): number {
    return this.w[this.st[id]!]!;
  }
  /** The raw vlen (members, parameters, enumerators). */
  vlen(id: number): number {
    return this.w[this.st[id]! + 1]! & 0xffff;
  }
  kindFlag(id: number): number {
    return this.w[this.st[id]! + 1]! >>> 31;
  }
  /** size or type, by kind. */
  size(id: number): number {
    return this.w[this.st[id]! + 2]!;
  }
  /** An ARRAY's element type. */
  elem(id: number): number {
    return this.w[this.st[id]! + 3]!;
  }
  nelems(id: number): number {
    return this.w[this.st[id]! + 5]!;
  }
  /** Index in `w` of the first member (3 words each), parameter or enumerator (2 words; 3 for ENUM64). */
  items(id: number): number {
    return this.st[id]! + 3;
  }

  /** The words of every type. */
  private words(btf: Btf): Uint32Array {
    // the BTF that holds each id: ids below a split BTF's firstId are its base's
    const ranges: { b: Btf; lo: number; hi: number }[] = [];
    let hi = this.count;
    for (let b: Btf | undefined = btf; b && hi > 1; b = b.base) {
      const lo = b.base ? Math.max(1, Math.min(b.firstId, hi)) : 1;
      ranges.unshift({ b, lo, hi });
      hi = lo;
    }
    const parts = ranges.map(({ b, lo, hi }) => {
      const raw = rawTypeWords(b);
      return raw && lo === b.firstId && hi === typeCount(b) ? raw : this.encode(b.types, lo, hi);
    });
    let w: Uint32Array;
    if (parts.length === 1) w = parts[0]!;
    else {
      w = new Uint32Array(parts.reduce((sum, p) => sum + p.length, 0));
      let at = 0;
      for (const p of parts) {
        w.set(p, at);
        at += p.length;
      }
    }
    return w;
  }

  /** Types [lo, hi) of `types` as words (the objects of a hand-built or rebuilt Btf). */
  private encode(types: readonly (BtfType | undefined)[], lo: number, hi: number): Uint32Array {
    let len = 0;
    for (let id = lo; id < hi; id++) {
      const t = types[id];
      if (!t) throw new BtfError('BAD_TYPE_ID', 'type is missing from the base BTF', undefined, id);
      const items = itemsOf(t);
      if (items > 0xffff) throw new BtfError('BAD_TYPE_ID', `${items} members, more than vlen can hold`, undefined, id);
      len += recordWords(KIND[t.kind], items);
    }
    const w = new Uint32Array(len);
    let p = 0;
    for (let id = lo; id < hi; id++) {
      const t = types[id]!;
      w[p] = t.nameOff;
      w[p + 2] = t.sizeOrType;
      let q = p + 3;
      switch (t.kind) {
        case 'INT': w[q++] = t.intData; break;
        case 'VAR': w[q++] = t.linkage; break;
        case 'DECL_TAG': w[q++] = t.componentIdx; break;
        case 'ARRAY': w[q++] = t.elemType; w[q++] = t.indexType; w[q++] = t.nelems; break;
        case 'STRUCT': case 'UNION': for (const m of t.members) { w[q++] = m.nameOff; w[q++] = m.type; w[q++] = m.offset; } break;
        case 'FUNC_PROTO': for (const a of t.params) { w[q++] = a.nameOff; w[q++] = a.type; } break;
        case 'DATASEC': for (const s of t.secinfo) { w[q++] = s.type; w[q++] = s.offset; w[q++] = s.size; } break;
        case 'ENUM': case 'ENUM64': {
          const wide = t.kind === 'ENUM64';
          for (const v of t.values) {
            if (v.val < 0n || v.val >> (wide ? 64n : 32n) !== 0n) this.oddEnums.add(id);
            w[q++] = v.nameOff;
            w[q++] = Number(v.val & 0xffffffffn);
            if (wide) w[q++] = Number((v.val >> 32n) & 0xffffffffn);
          }
          break;
        }
        default: break;
      }
      const k = KIND[t.kind];
      const vlen = itemWords(k) ? itemsOf(t) : t.vlen & 0xffff; // FUNC keeps its linkage there
      w[p + 1] = ((t.kindFlag ? 0x80000000 : 0) | (k << 24) | vlen) >>> 0;
      p = q;
    }
    return w;
  }

  /** Record starts, kinds, referenced marks and reference checks for every id; the count of names the emitter may count. */
  private scan(): number {
    const { w, st, kind } = this;
    let uses = 0;
    // records one after another, in btf.h's layout (as parseBtf checked it or encode wrote it)
    let r = 0;
    for (let id = 1; id < this.count; id++) {
      st[id] = r;
      const info = w[r + 1]!;
      const k = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      kind[id] = k;
      if (w[r] !== 0 && (k === STRUCT || k === UNION || k === ENUM || k === ENUM64 || k === TYPEDEF || k === INT)) uses++;
      switch (k) {
        case INT:
          r += 4;
          break;
        case FLOAT: case FWD:
          r += 3;
          break;
        case ENUM:
          uses += vlen;
          r += 3 + 2 * vlen;
          break;
        case ENUM64:
          uses += vlen;
          r += 3 + 3 * vlen;
          break;
        case ARRAY:
          this.mark(w[r + 4]!);
          this.mark(w[r + 3]!);
          r += 6;
          break;
        case STRUCT: case UNION:
          for (let i = 0, q = r + 4; i < vlen; i++, q += 3) this.mark(w[q]!);
          r += 3 + 3 * vlen;
          break;
        case FUNC_PROTO:
          this.check(w[r + 2]!);
          for (let i = 0, q = r + 4; i < vlen; i++, q += 2) this.mark(w[q]!);
          r += 3 + 2 * vlen;
          break;
        case DATASEC:
          for (let i = 0, q = r + 3; i < vlen; i++, q += 3) this.mark(w[q]!);
          r += 3 + 3 * vlen;
          break;
        default: // PTR, TYPEDEF, modifiers, TYPE_TAG, FUNC, VAR, DECL_TAG: through sizeOrType
          this.mark(w[r + 2]!);
          r += k === VAR || k === DECL_TAG ? 4 : 3;
      }
    }
    return uses;
  }

  /** A BtfError for a reference past the last type. */
  private check(id: number): void {
    if (id >= this.count) throw new BtfError('BAD_TYPE_ID', `reference to type [${id}], past the last type [${this.count - 1}]`);
  }

  private mark(id: number): void {
    this.check(id);
    this.referenced[id] = 1;
  }

  /** A BtfError when no string of the string sections starts at `off`. */
  checkName(off: number): void {
    if (off !== 0 && off >= this.strs.length) throw new BtfError('BAD_STRING', `Invalid name_offset ${off}`);
  }

  /** The name at `off` is empty. */
  emptyName(off: number): boolean {
    this.checkName(off);
    return off === 0 || this.strs[off] === 0 || this.strs[off] === undefined;
  }

  /** The name at `off` is `s` (ASCII). */
  nameIs(off: number, s: string): boolean {
    this.checkName(off);
    const strs = this.strs;
    if (off === 0 || off + s.length > strs.length) return s === '';
    for (let k = 0; k < s.length; k++) if (strs[off + k] !== s.charCodeAt(k)) return false;
    return off + s.length === strs.length || strs[off + s.length] === 0;
  }

  /** btf__align_of: 0 for kinds that have no alignment (void, fwd, func_proto, ...). */
  alignOf(id: number, depth = 0): number {
    const cached = this.aligns[id]!;
    if (cached !== 0) return cached - 1;
    if (depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'loop while computing alignment', undefined, id);
    let align: number;
    switch (this.kind[id]) {
      case INT: case ENUM: case ENUM64: case FLOAT:
        align = Math.min(this.ptrSize, this.size(id));
        break;
      case PTR:
        align = this.ptrSize;
        break;
      case TYPEDEF: case VOLATILE: case CONST: case RESTRICT: case TYPE_TAG:
        align = this.alignOf(this.size(id), depth + 1);
        break;
      case ARRAY:
        align = this.alignOf(this.elem(id), depth + 1);
        break;
      case STRUCT: case UNION:
        align = this.compositeAlign(id, depth);
        break;
      default:
        align = 0;
    }
    this.aligns[id] = align + 1; // at most the pointer size: a byte holds it
    return align;
  }

  private compositeAlign(id: number, depth: number): number {
    let max = 1;
    const w = this.w;
    const flag = this.kindFlag(id);
    for (let i = 0, q = this.items(id), n = this.vlen(id); i < n; i++, q += 3) {
      const align = this.alignOf(w[q + 1]!, depth + 1);
      if (align <= 0) return align;
      max = Math.max(max, align);
      // a member off its natural alignment means the struct was packed
      const off = w[q + 2]!;
      if ((flag ? off >>> 24 : 0) === 0 && off % (8 * align) !== 0) return 1;
    }
    return this.size(id) % max !== 0 ? 1 : max;
  }

  /** btf__resolve_size: bytes, or a negative number where libbpf returns an error. */
  resolveSize(id: number): number {
    let nelems = 1;
    for (let i = 0; i < MAX_RESOLVE_DEPTH && id !== 0 && this.kind[id] !== FWD; i++) {
      switch (this.kind[id]) {
        case INT: case STRUCT: case UNION: case ENUM: case ENUM64: case DATASEC: case FLOAT: {
          const size = this.size(id);
          return nelems && size > Math.floor(0xffffffff / nelems) ? -1 : nelems * size;
        }
        case PTR:
          return nelems && this.ptrSize > Math.floor(0xffffffff / nelems) ? -1 : nelems * this.ptrSize;
        case TYPEDEF: case VOLATILE: case CONST: case RESTRICT: case VAR: case DECL_TAG: case TYPE_TAG:
          id = this.size(id);
          break;
        case ARRAY: {
          const n = this.nelems(id);
          if (nelems && n > Math.floor(0xffffffff / nelems)) return -1;
          nelems *= n;
          id = this.elem(id);
          break;
        }
        default:
          return -1;
      }
    }
    return -1;
  }

  /** btf_is_struct_packed: some plain member off its alignment, or a size not a multiple of it. */
  isPacked(id: number): boolean {
    let max = 1;
    const w = this.w;
    const flag = this.kindFlag(id);
    for (let i = 0, q = this.items(id), n = this.vlen(id); i < n; i++, q += 3) {
      const align = this.alignOf(w[q + 1]!);
      const off = w[q + 2]!;
      if (align && (flag ? off >>> 24 : 0) === 0 && off % (8 * align) !== 0) return true;
      max = Math.max(align, max);
    }
    return this.size(id) % max !== 0;
  }
}

/** Words per member, parameter, enumerator or variable of a kind. */
function itemWords(k: number): number {
  return k === STRUCT || k === UNION || k === ENUM64 || k === DATASEC ? 3 : k === ENUM || k === FUNC_PROTO ? 2 : 0;
}

/** Members, parameters, enumerators or variables of `t` (0 for other kinds). */
function itemsOf(t: BtfType): number {
  switch (t.kind) {
    case 'STRUCT': case 'UNION': return t.members.length;
    case 'ENUM': case 'ENUM64': return t.values.length;
    case 'FUNC_PROTO': return t.params.length;
    case 'DATASEC': return t.secinfo.length;
    default: return 0;
  }
}

/** The string sections of `btf` and its bases in one array, each at the offset its names use. */
function flatStrings(btf: Btf): Uint8Array {
  if (!btf.base && btf.stringBase === 0) return btf.strings;
  const out = new Uint8Array(btf.stringBase + btf.strings.length);
  const put = (b: Btf): void => {
    if (b.base) put(b.base);
    if (b.stringBase < out.length) out.set(b.strings.subarray(0, out.length - b.stringBase), b.stringBase);
  };
  put(btf);
  return out;
}

const PAD_TYPES = ['long', 'int', 'short', 'char'];

/** `\n\t<type>: <bits>;` */
function padMember(out: Out, lvl: number, type: number, bits: number): void {
  out.byte(10);
  out.tabs(lvl);
  out.lit(PAD_TYPES[type]!);
  out.lit(': ');
  out.num(bits);
  out.byte(59); // ';'
}
const roundUp = (x: number, y: number): number => Math.ceil(x / y) * y;

/**
 * Write the anonymous bitfield members (`long: 64;`, `int: 0;`, ...) that carry a layout from
 * bit `cur` to bit `next`, as libbpf writes them: first the widest of long/int/short/char that
 * reaches an aligned boundary within the gap (with an explicit `: 0` or bit count when the
 * compiler would not align there by itself), then whole units, then the smallest type that holds
 * the remainder.
 */
export function bitPadding(out: Out, padBits: readonly number[], cur: number, next: number, nextAlign: number, inBitfield: boolean, lvl: number, typeId: number): void {
  if (cur >= next) return;
  if (next - cur > MAX_PAD_BITS) throw new BtfError('BAD_TYPE_ID', `padding of ${next - cur} bits: damaged size or member offset`, undefined, typeId);
  let newOff = 0;
  let type = 0;
  for (let i = 0; i < padBits.length; i++) {
    type = i;
    newOff = roundUp(cur, padBits[i]!);
    if (newOff <= next) break;
  }
  let bits = padBits[type]!;
  if (newOff > cur && newOff <= next) {
    if (inBitfield || (newOff === next && roundUp(cur, nextAlign * 8) !== newOff) || (newOff !== next && next - newOff <= newOff - cur)) padMember(out, lvl, type, inBitfield ? newOff - cur : 0);
    cur = newOff;
  }
  while (cur !== next) {
    const gap = Math.min(next - cur, bits);
    if (gap === bits) {
      padMember(out, lvl, type, bits);
      cur += gap;
      continue;
    }
    for (let i = padBits.length - 1; i >= 0; i--) {
      type = i;
      bits = padBits[i]!;
      if (bits < gap) continue;
      padMember(out, lvl, type, gap);
      cur += gap;
      break;
    }
  }
}
