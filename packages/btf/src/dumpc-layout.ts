/**
 * The BTF-to-C emitter's view of the types, and the C layout facts it needs: pointer size,
 * alignment, sizes, whether a struct must have been packed, and the explicit padding members
 * that reproduce a layout. The rules are libbpf's (tools/lib/bpf/btf.c btf__align_of,
 * btf__resolve_size, determine_ptr_size; btf_dump.c btf_is_struct_packed,
 * btf_dump_emit_bit_padding), since `bpftool btf dump ... format c` is the reference.
 *
 * The view is flat: one typed array per field, indexed by type id, with members, parameters
 * and array facts in shared arrays — built in one pass that also checks every reference, so
 * the emitter walks numbers and never meets an id past the last type.
 */
import { BtfError, btfString, rawTypesOf, typeById, type Btf, type BtfType } from './btf.js';
import type { Out } from './dumpc-out.js';

/** Kind numbers (btf.h BTF_KIND_*), as the flat view stores them; 0 is void. */
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

/** Every type of `btf` (its base's first, for split BTF) by id, flat; index 0 is void. */
export class TypeTable {
  readonly count: number;
  /** The parsed types (the emitter reads enum values from them). */
  readonly types: readonly (BtfType | undefined)[];
  readonly kind: Uint8Array;
  readonly nameOff: Uint32Array;
  readonly kindFlag: Uint8Array;
  /** sizeOrType as stored. */
  readonly size: Uint32Array;
  /** The type referred to: sizeOrType for modifiers, pointers, typedefs, FUNC_PROTO (its return type); ARRAY's element type. */
  readonly ref: Uint32Array;
  /** Members, parameters or enumerators; an ARRAY's element count. */
  readonly len: Uint32Array;
  /** Index of the first member, parameter or enumerator in `mName`/`mType`/`mOff` (an ENUM's values in `mOff`; -1: read the values from `types`). */
  readonly first: Int32Array;
  mName: Uint32Array;
  mType: Uint32Array;
  /** A member's raw offset word. */
  mOff: Uint32Array;
  /** Types some other type refers to (btf_dump_mark_referenced_types). */
  readonly referenced: Uint8Array;
  /** The string sections, a split BTF's base's first, at the offsets names use. */
  readonly strs: Uint8Array;
  readonly ptrSize: number;
  /** Widths in bits of long, int, short, char: the padding types, widest first. */
  readonly padBits: readonly number[];
  /** How many names the emitter may count at most (named types it writes, enumerators): sizes its name table. */
  readonly nameUses: number;
  private readonly aligns: Int32Array;
  private used = 0;

  constructor(btf: Btf) {
    const n = btf.types.length;
    this.count = n;
    this.kind = new Uint8Array(n);
    this.nameOff = new Uint32Array(n);
    this.kindFlag = new Uint8Array(n);
    this.size = new Uint32Array(n);
    this.ref = new Uint32Array(n);
    this.len = new Uint32Array(n);
    this.first = new Int32Array(n);
    this.referenced = new Uint8Array(n);
    this.mName = new Uint32Array(n);
    this.mType = new Uint32Array(n);
    this.mOff = new Uint32Array(n);
    const raw = btf.base ? undefined : rawTypesOf(btf);
    if (raw) {
      // the words parseBtf read: sequential, no object to chase
      this.types = raw.types;
      for (let id = 1; id < n; id++) this.addRaw(id, raw.words, raw.start[id]!);
    } else {
      const types = new Array<BtfType | undefined>(n);
      types[0] = undefined;
      for (let id = 1; id < n; id++) {
        const t = typeById(btf, id);
        if (!t) throw new BtfError('BAD_TYPE_ID', 'type is missing from the base BTF', undefined, id);
        types[id] = t;
        this.add(id, t);
      }
      this.types = types;
    }
    this.strs = flatStrings(btf);
    this.aligns = new Int32Array(n).fill(-1);
    let ptr = 8; // no `long` in sight: libbpf assumes the host's sizeof(void *)
    for (let id = 1; id < n; id++) {
      const sz = this.size[id]!;
      if (this.kind[id] === INT && (sz === 4 || sz === 8) && LONG_ALIASES.has(this.nameOff[id] === 0 ? '' : btfString(btf, this.nameOff[id]!))) {
        ptr = sz;
        break;
      }
    }
    this.ptrSize = ptr;
    let uses = 0;
    for (let id = 1; id < n; id++) {
      const k = this.kind[id];
      if (k === ENUM || k === ENUM64) uses += this.len[id]!;
      if (this.nameOff[id] !== 0 && (k === STRUCT || k === UNION || k === ENUM || k === ENUM64 || k === TYPEDEF || k === INT)) uses++;
    }
    this.nameUses = uses;
    this.padBits = [ptr * 8, 32, 16, 8];
  }

  /** Flatten type `id`, checking and marking what it refers to. */
  private add(id: number, t: BtfType): void {
    this.nameOff[id] = t.nameOff;
    this.kindFlag[id] = t.kindFlag ? 1 : 0;
    this.size[id] = t.sizeOrType;
    let k = 0;
    switch (t.kind) {
      case 'INT': k = INT; break;
      case 'FLOAT': k = FLOAT; break;
      case 'FWD': k = FWD; break;
      case 'PTR': k = PTR; break;
      case 'TYPEDEF': k = TYPEDEF; break;
      case 'VOLATILE': k = VOLATILE; break;
      case 'CONST': k = CONST; break;
      case 'RESTRICT': k = RESTRICT; break;
      case 'TYPE_TAG': k = TYPE_TAG; break;
      case 'FUNC': k = FUNC; break;
      case 'VAR': k = VAR; break;
      case 'DECL_TAG': k = DECL_TAG; break;
      case 'ENUM64':
        this.kind[id] = ENUM64;
        this.len[id] = t.values.length;
        this.first[id] = -1; // 64-bit values: read from the objects
        return;
      case 'ENUM': {
        this.kind[id] = ENUM;
        const vs = t.values;
        this.len[id] = vs.length;
        // a value that is no 32-bit word (only a hand-built blob has one): read from the objects
        if (vs.some((v) => v.val < 0n || v.val > 0xffffffffn)) {
          this.first[id] = -1;
          return;
        }
        const at = this.reserve(vs.length);
        this.first[id] = at;
        for (let i = 0; i < vs.length; i++) {
          this.mName[at + i] = vs[i]!.nameOff;
          this.mOff[at + i] = Number(vs[i]!.val);
        }
        return;
      }
      case 'ARRAY':
        this.kind[id] = ARRAY;
        this.mark(t.indexType);
        this.ref[id] = this.mark(t.elemType);
        this.len[id] = t.nelems;
        return;
      case 'STRUCT': case 'UNION': {
        this.kind[id] = t.kind === 'STRUCT' ? STRUCT : UNION;
        const ms = t.members;
        const at = this.reserve(ms.length);
        this.first[id] = at;
        this.len[id] = ms.length;
        for (let i = 0; i < ms.length; i++) {
          const m = ms[i]!;
          this.mName[at + i] = m.nameOff;
          this.mType[at + i] = this.mark(m.type);
          this.mOff[at + i] = m.offset;
        }
        return;
      }
      case 'FUNC_PROTO': {
        this.kind[id] = FUNC_PROTO;
        this.ref[id] = this.check(t.sizeOrType);
        const ps = t.params;
        const at = this.reserve(ps.length);
        this.first[id] = at;
        this.len[id] = ps.length;
        for (let i = 0; i < ps.length; i++) {
          const p = ps[i]!;
          this.mName[at + i] = p.nameOff;
          this.mType[at + i] = this.mark(p.type);
        }
        return;
      }
      case 'DATASEC':
        this.kind[id] = DATASEC;
        for (const s of t.secinfo) this.mark(s.type);
        return;
    }
    this.kind[id] = k;
    // INT, FLOAT and FWD refer to nothing; the rest through sizeOrType
    if (k !== INT && k !== FLOAT && k !== FWD) this.ref[id] = this.mark(t.sizeOrType);
  }

  /** Flatten type `id` from its record at word `r` of the type section (as parseBtf read it into objects). */
  private addRaw(id: number, w: Uint32Array, r: number): void {
    const info = w[r + 1]!;
    const k = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    this.kind[id] = k;
    this.nameOff[id] = w[r]!;
    this.kindFlag[id] = info >>> 31;
    const size = w[r + 2]!;
    this.size[id] = size;
    switch (k) {
      case INT: case FLOAT: case FWD:
        return;
      case ENUM64:
        this.len[id] = vlen;
        this.first[id] = -1; // 64-bit values: read from the objects
        return;
      case ENUM: {
        const at = this.reserve(vlen);
        this.first[id] = at;
        this.len[id] = vlen;
        for (let i = 0, q = r + 3; i < vlen; i++, q += 2) {
          this.mName[at + i] = w[q]!;
          this.mOff[at + i] = w[q + 1]!;
        }
        return;
      }
      case ARRAY:
        this.mark(w[r + 4]!);
        this.ref[id] = this.mark(w[r + 3]!);
        this.len[id] = w[r + 5]!;
        return;
      case STRUCT: case UNION: {
        const at = this.reserve(vlen);
        this.first[id] = at;
        this.len[id] = vlen;
        const { mName, mType, mOff } = this;
        for (let i = 0, q = r + 3; i < vlen; i++, q += 3) {
          mName[at + i] = w[q]!;
          mType[at + i] = this.mark(w[q + 1]!);
          mOff[at + i] = w[q + 2]!;
        }
        return;
      }
      case FUNC_PROTO: {
        this.ref[id] = this.check(size);
        const at = this.reserve(vlen);
        this.first[id] = at;
        this.len[id] = vlen;
        const { mName, mType } = this;
        for (let i = 0, q = r + 3; i < vlen; i++, q += 2) {
          mName[at + i] = w[q]!;
          mType[at + i] = this.mark(w[q + 1]!);
        }
        return;
      }
      case DATASEC:
        for (let i = 0, q = r + 3; i < vlen; i++, q += 3) this.mark(w[q]!);
        return;
      default:
        this.ref[id] = this.mark(size);
    }
  }

  /** A BtfError for a reference past the last type; the id otherwise. */
  private check(id: number): number {
    if (id >= this.count) throw new BtfError('BAD_TYPE_ID', `reference to type [${id}], past the last type [${this.count - 1}]`);
    return id;
  }

  private mark(id: number): number {
    this.referenced[this.check(id)] = 1;
    return id;
  }

  /** Room for `n` more members; the index of the first. */
  private reserve(n: number): number {
    const at = this.used;
    this.used += n;
    if (this.used > this.mName.length) {
      const cap = Math.max(this.used, this.mName.length * 2);
      const grow = (a: Uint32Array): Uint32Array => {
        const b = new Uint32Array(cap);
        b.set(a);
        return b;
      };
      this.mName = grow(this.mName);
      this.mType = grow(this.mType);
      this.mOff = grow(this.mOff);
    }
    return at;
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
    if (cached >= 0) return cached;
    if (depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'loop while computing alignment', undefined, id);
    let align: number;
    switch (this.kind[id]) {
      case INT: case ENUM: case ENUM64: case FLOAT:
        align = Math.min(this.ptrSize, this.size[id]!);
        break;
      case PTR:
        align = this.ptrSize;
        break;
      case TYPEDEF: case VOLATILE: case CONST: case RESTRICT: case TYPE_TAG: case ARRAY:
        align = this.alignOf(this.ref[id]!, depth + 1);
        break;
      case STRUCT: case UNION:
        align = this.compositeAlign(id, depth);
        break;
      default:
        align = 0;
    }
    this.aligns[id] = align;
    return align;
  }

  private compositeAlign(id: number, depth: number): number {
    let max = 1;
    const at = this.first[id]!;
    const flag = this.kindFlag[id]!;
    for (let i = at; i < at + this.len[id]!; i++) {
      const align = this.alignOf(this.mType[i]!, depth + 1);
      if (align <= 0) return align;
      max = Math.max(max, align);
      // a member off its natural alignment means the struct was packed
      const off = this.mOff[i]!;
      if ((flag ? off >>> 24 : 0) === 0 && off % (8 * align) !== 0) return 1;
    }
    return this.size[id]! % max !== 0 ? 1 : max;
  }

  /** btf__resolve_size: bytes, or a negative number where libbpf returns an error. */
  resolveSize(id: number): number {
    let nelems = 1;
    for (let i = 0; i < MAX_RESOLVE_DEPTH && id !== 0 && this.kind[id] !== FWD; i++) {
      switch (this.kind[id]) {
        case INT: case STRUCT: case UNION: case ENUM: case ENUM64: case DATASEC: case FLOAT: {
          const size = this.size[id]!;
          return nelems && size > Math.floor(0xffffffff / nelems) ? -1 : nelems * size;
        }
        case PTR:
          return nelems && this.ptrSize > Math.floor(0xffffffff / nelems) ? -1 : nelems * this.ptrSize;
        case TYPEDEF: case VOLATILE: case CONST: case RESTRICT: case VAR: case DECL_TAG: case TYPE_TAG:
          id = this.ref[id]!;
          break;
        case ARRAY: {
          const n = this.len[id]!;
          if (nelems && n > Math.floor(0xffffffff / nelems)) return -1;
          nelems *= n;
          id = this.ref[id]!;
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
    const at = this.first[id]!;
    const flag = this.kindFlag[id]!;
    for (let i = at; i < at + this.len[id]!; i++) {
      const align = this.alignOf(this.mType[i]!);
      const off = this.mOff[i]!;
      if (align && (flag ? off >>> 24 : 0) === 0 && off % (8 * align) !== 0) return true;
      max = Math.max(align, max);
    }
    return this.size[id]! % max !== 0;
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
