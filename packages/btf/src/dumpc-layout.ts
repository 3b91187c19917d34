/**
 * C layout facts the BTF-to-C emitter needs: pointer size, alignment, sizes, whether a struct
 * must have been packed, and the explicit padding members that reproduce a layout. The rules are
 * libbpf's (tools/lib/bpf/btf.c btf__align_of, btf__resolve_size, determine_ptr_size; btf_dump.c
 * btf_is_struct_packed, btf_dump_emit_bit_padding), since `bpftool btf dump ... format c` is
 * the reference.
 */
import { BtfError, btfString, typeById, type Btf, type BtfType } from './btf.js';

type Composite = Extract<BtfType, { kind: 'STRUCT' | 'UNION' }>;

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

/** Every type of `btf` (its base's first, for split BTF) by id; index 0 is void. */
export class TypeTable {
  readonly types: readonly (BtfType | undefined)[];
  readonly ptrSize: number;
  private readonly names = new Map<number, string>();
  private readonly aligns: Int32Array;

  constructor(readonly btf: Btf) {
    const n = btf.types.length;
    const types = new Array<BtfType | undefined>(n);
    types[0] = undefined;
    for (let id = 1; id < n; id++) {
      const t = typeById(btf, id);
      if (!t) throw new BtfError('BAD_TYPE_ID', 'type is missing from the base BTF', undefined, id);
      types[id] = t;
    }
    this.types = types;
    this.aligns = new Int32Array(n).fill(-1);
    let ptr = 8; // no `long` in sight: libbpf assumes the host's sizeof(void *)
    for (let id = 1; id < n; id++) {
      const t = types[id]!;
      if (t.kind === 'INT' && (t.sizeOrType === 4 || t.sizeOrType === 8) && LONG_ALIASES.has(this.name(t.nameOff))) {
        ptr = t.sizeOrType;
        break;
      }
    }
    this.ptrSize = ptr;
  }

  get count(): number {
    return this.types.length;
  }

  /** The type with `id`; undefined for void; a BtfError for an id past the last type. */
  at(id: number): BtfType | undefined {
    if (id >= this.types.length) throw new BtfError('BAD_TYPE_ID', `reference to type [${id}], past the last type [${this.types.length - 1}]`);
    return this.types[id];
  }

  name(off: number): string {
    if (off === 0) return '';
    let s = this.names.get(off);
    if (s === undefined) {
      s = btfString(this.btf, off);
      this.names.set(off, s);
    }
    return s;
  }

  /** btf__align_of: 0 for kinds that have no alignment (void, fwd, func_proto, ...). */
  alignOf(id: number, depth = 0): number {
    const cached = this.aligns[id];
    if (cached !== undefined && cached >= 0) return cached;
    if (depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'loop while computing alignment', undefined, id);
    const t = this.at(id);
    let align = 0;
    if (t) {
      switch (t.kind) {
        case 'INT': case 'ENUM': case 'ENUM64': case 'FLOAT':
          align = Math.min(this.ptrSize, t.sizeOrType);
          break;
        case 'PTR':
          align = this.ptrSize;
          break;
        case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
          align = this.alignOf(t.sizeOrType, depth + 1);
          break;
        case 'ARRAY':
          align = this.alignOf(t.elemType, depth + 1);
          break;
        case 'STRUCT': case 'UNION':
          align = this.compositeAlign(t, depth);
          break;
        default:
          align = 0;
      }
    }
    this.aligns[id] = align;
    return align;
  }

  private compositeAlign(t: Composite, depth: number): number {
    let max = 1;
    for (let i = 0; i < t.members.length; i++) {
      const m = t.members[i]!;
      const align = this.alignOf(m.type, depth + 1);
      if (align <= 0) return align;
      max = Math.max(max, align);
      // a member off its natural alignment means the struct was packed
      if (bitfieldSize(t, i) === 0 && m.offset % (8 * align) !== 0) return 1;
    }
    return t.sizeOrType % max !== 0 ? 1 : max;
  }

  /** btf__resolve_size: bytes, or a negative number where libbpf returns an error. */
  resolveSize(id: number): number {
    let nelems = 1;
    let t = this.at(id);
    for (let i = 0; i < MAX_RESOLVE_DEPTH && t && t.kind !== 'FWD'; i++) {
      switch (t.kind) {
        case 'INT': case 'STRUCT': case 'UNION': case 'ENUM': case 'ENUM64': case 'DATASEC': case 'FLOAT':
          return nelems && t.sizeOrType > Math.floor(0xffffffff / nelems) ? -1 : nelems * t.sizeOrType;
        case 'PTR':
          return nelems && this.ptrSize > Math.floor(0xffffffff / nelems) ? -1 : nelems * this.ptrSize;
        case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'VAR': case 'DECL_TAG': case 'TYPE_TAG':
          id = t.sizeOrType;
          break;
        case 'ARRAY':
          if (nelems && t.nelems > Math.floor(0xffffffff / nelems)) return -1;
          nelems *= t.nelems;
          id = t.elemType;
          break;
        default:
          return -1;
      }
      t = this.at(id);
    }
    return -1;
  }

  /** btf_is_struct_packed: some plain member off its alignment, or a size not a multiple of it. */
  isPacked(t: Composite): boolean {
    let max = 1;
    for (let i = 0; i < t.members.length; i++) {
      const m = t.members[i]!;
      const align = this.alignOf(m.type);
      if (align && bitfieldSize(t, i) === 0 && m.offset % (8 * align) !== 0) return true;
      max = Math.max(align, max);
    }
    return t.sizeOrType % max !== 0;
  }
}

/** Bitfield width of member `i` (0 when not a bitfield). */
export function bitfieldSize(t: Composite, i: number): number {
  return t.kindFlag ? t.members[i]!.offset >>> 24 : 0;
}

/** Bit offset of member `i`. */
export function bitOffset(t: Composite, i: number): number {
  const off = t.members[i]!.offset;
  return t.kindFlag ? off & 0xffffff : off;
}

const TABS = '\t'.repeat(13);
/** Indentation for nesting level `lvl` (libbpf stops adding tabs at 13). */
export function indent(lvl: number): string {
  return lvl >= 13 ? TABS : TABS.slice(0, lvl);
}

const roundUp = (x: number, y: number): number => Math.ceil(x / y) * y;

/**
 * The anonymous bitfield members (`long: 64;`, `int: 0;`, ...) that carry a layout from bit
 * `cur` to bit `next`, as libbpf writes them: first the widest of long/int/short/char that
 * reaches an aligned boundary within the gap (with an explicit `: 0` or bit count when the
 * compiler would not align there by itself), then whole units, then the smallest type that holds
 * the remainder.
 */
export function bitPadding(ptrSize: number, cur: number, next: number, nextAlign: number, inBitfield: boolean, lvl: number, typeId: number): string {
  if (cur >= next) return '';
  if (next - cur > MAX_PAD_BITS) throw new BtfError('BAD_TYPE_ID', `padding of ${next - cur} bits: damaged size or member offset`, undefined, typeId);
  const pads: readonly (readonly [string, number])[] = [['long', ptrSize * 8], ['int', 32], ['short', 16], ['char', 8]];
  const pre = `\n${indent(lvl)}`;
  let out = '';
  let newOff = 0;
  let [padType, padBits] = pads[0]!;
  for (const [name, bits] of pads) {
    padType = name;
    padBits = bits;
    newOff = roundUp(cur, bits);
    if (newOff <= next) break;
  }
  if (newOff > cur && newOff <= next) {
    if (inBitfield || (newOff === next && roundUp(cur, nextAlign * 8) !== newOff) || (newOff !== next && next - newOff <= newOff - cur))
      out += `${pre}${padType}: ${inBitfield ? newOff - cur : 0};`;
    cur = newOff;
  }
  while (cur !== next) {
    const bits = Math.min(next - cur, padBits);
    if (bits === padBits) {
      out += `${pre}${padType}: ${padBits};`;
      cur += bits;
      continue;
    }
    for (let i = pads.length - 1; i >= 0; i--) {
      [padType, padBits] = pads[i]!;
      if (padBits < bits) continue;
      out += `${pre}${padType}: ${bits};`;
      cur += bits;
      break;
    }
  }
  return out;
}
