/**
 * BTF (include/uapi/linux/btf.h): parse, query, and write back byte for byte. One interface per
 * kind behind the `BtfType` union; types refer to each other by id, as the format does.
 */

export const KIND = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10,
  RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;
export type KindName = keyof typeof KIND;
export const KIND_NAMES: readonly (KindName | undefined)[] = (() => {
  const out: (KindName | undefined)[] = [];
  for (const [k, v] of Object.entries(KIND)) out[v] = k as KindName;
  return out;
})();

export type BtfErrorCode = 'TRUNCATED' | 'BAD_MAGIC' | 'BAD_VERSION' | 'BAD_HEADER' | 'BAD_KIND' | 'BAD_STRING' | 'BAD_TYPE_ID' | 'BAD_SECTION';

export class BtfError extends Error {
  override readonly name = 'BtfError';
  constructor(
    readonly code: BtfErrorCode,
    message: string,
    readonly byteOffset?: number,
    readonly typeId?: number,
  ) {
    super(`${typeId !== undefined ? `type [${typeId}]: ` : ''}${byteOffset !== undefined ? `byte ${byteOffset}: ` : ''}${message}`);
  }
}

export interface Member {
  readonly nameOff: number;
  readonly type: number;
  /** The raw `offset` word (bit offset, or bitfield size << 24 | bit offset with kind_flag). */
  readonly offset: number;
}
export interface Param {
  readonly nameOff: number;
  readonly type: number;
}
export interface EnumValue {
  readonly nameOff: number;
  /** The value (for ENUM: the 32-bit word; for ENUM64: both words). */
  readonly val: bigint;
}
export interface SecInfo {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}

interface Base {
  readonly nameOff: number;
  readonly kindFlag: boolean;
  /** The raw vlen field (FUNC keeps its linkage there). */
  readonly vlen: number;
  /** size or type, by kind. */
  readonly sizeOrType: number;
}
export type BtfType =
  | (Base & { readonly kind: 'INT'; readonly intData: number })
  | (Base & { readonly kind: 'PTR' | 'FWD' | 'TYPEDEF' | 'VOLATILE' | 'CONST' | 'RESTRICT' | 'FUNC' | 'FLOAT' | 'TYPE_TAG' })
  | (Base & { readonly kind: 'ARRAY'; readonly elemType: number; readonly indexType: number; readonly nelems: number })
  | (Base & { readonly kind: 'STRUCT' | 'UNION'; readonly members: readonly Member[] })
  | (Base & { readonly kind: 'ENUM' | 'ENUM64'; readonly values: readonly EnumValue[] })
  | (Base & { readonly kind: 'FUNC_PROTO'; readonly params: readonly Param[] })
  | (Base & { readonly kind: 'VAR'; readonly linkage: number })
  | (Base & { readonly kind: 'DATASEC'; readonly secinfo: readonly SecInfo[] })
  | (Base & { readonly kind: 'DECL_TAG'; readonly componentIdx: number });

export interface Btf {
  readonly endian: 'little' | 'big';
  readonly version: number;
  readonly flags: number;
  /** types[0] is unused (id 0 is void); ids of split BTF continue after the base's. */
  readonly types: readonly (BtfType | undefined)[];
  /** The first id this BTF defines (1, or the base's count for split BTF). */
  readonly firstId: number;
  readonly strings: Uint8Array;
  /** String offsets of split BTF continue after the base's string section. */
  readonly stringBase: number;
  readonly base?: Btf;
}

const MAGIC = 0xeb9f;

/**
 * What parseBtf keeps beside a Btf: the type section in host order, and how many ids it
 * holds. The `types` objects are made from these words on first use of `btf.types`, so a
 * reader that walks the words (dumpC) never pays for some 300,000 objects. Dropped when
 * `types` is replaced.
 */
interface RawTypes {
  readonly words: Uint32Array;
  /** The first id of this section's types. */
  readonly firstId: number;
  /** types.length: firstId + the types of this section. */
  readonly count: number;
  /** The array made from the words, once made. */
  types?: (BtfType | undefined)[];
  /**
   * Where each type's record starts (a word index, by id - firstId; the section's length after
   * the last), recorded as parseBtf counts the types; dropped when `types` is made.
   */
  offsets?: Uint32Array;
  /**
   * The types looked up one by one before `types` was made, by id: `types` takes these same
   * objects, so a type is one object whichever way it was reached.
   */
  decoded?: Map<number, BtfType>;
}
const rawTypes = new WeakMap<Btf, RawTypes>();
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `btf.types` has not been replaced since parseBtf made it (made yet or not). */
function untouched(btf: Btf, raw: RawTypes): boolean {
  const d = Object.getOwnPropertyDescriptor(btf, 'types');
  return d !== undefined && (d.get !== undefined || (d.value !== undefined && d.value === raw.types));
}

/** The type section words of `btf`'s own types (ids firstId...), when parseBtf returned it as is. */
export function rawTypeWords(btf: Btf): Uint32Array | undefined {
  const raw = rawTypes.get(btf);
  return raw && untouched(btf, raw) ? raw.words : undefined;
}

/** `btf.types.length`, without making the objects of a parsed Btf. */
export function typeCount(btf: Btf): number {
  const raw = rawTypes.get(btf);
  return raw && untouched(btf, raw) ? raw.count : btf.types.length;
}

/** Words of a type record of kind `k` with `vlen` members, parameters, enumerators or variables. */
export function recordWords(k: number, vlen: number): number {
  switch (k) {
    case 1: case 14: case 17: return 4; // INT, VAR, DECL_TAG: one more word
    case 3: return 6; // ARRAY
    case 4: case 5: case 15: case 19: return 3 + 3 * vlen; // STRUCT, UNION, DATASEC, ENUM64
    case 6: case 13: return 3 + 2 * vlen; // ENUM, FUNC_PROTO
    default: return 3;
  }
}

/**
 * How many types `words` holds, -1 when a record has no kind or runs past the end; and where
 * each record starts (`starts[k]` for the k-th, the section's length after the last), recorded in
 * the same pass: a type looked up by id reads them instead of walking the section again.
 */
function countTypes(words: Uint32Array): { n: number; starts: Uint32Array } {
  // (a record is at least 3 words)
  const starts = new Uint32Array(Math.floor(words.length / 3) + 1);
  let n = 0;
  let i = 0;
  while (i < words.length) {
    if (i + 3 > words.length) return { n: -1, starts };
    const info = words[i + 1]!;
    const k = (info >>> 24) & 0x1f;
    if (KIND_NAMES[k] === undefined) return { n: -1, starts };
    starts[n++] = i;
    i += recordWords(k, info & 0xffff);
  }
  if (i !== words.length) return { n: -1, starts };
  starts[n] = i;
  return { n, starts };
}

/** Parse a .BTF section (or /sys/kernel/btf/vmlinux); `base` for split (module) BTF. */
export function parseBtf(bytes: Uint8Array, opts: { base?: Btf } = {}): Btf {
  if (bytes.length < 24) throw new BtfError('TRUNCATED', `BTF is ${bytes.length} bytes, shorter than its 24-byte header`, 0);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = dv.getUint16(0, true) === MAGIC ? true : dv.getUint16(0, false) === MAGIC ? false : undefined;
  if (le === undefined) throw new BtfError('BAD_MAGIC', `Invalid magic 0x${dv.getUint16(0, true).toString(16)}`, 0);
  const version = dv.getUint8(2);
  if (version !== 1) throw new BtfError('BAD_VERSION', `Unsupported version ${version}`, 2);
  const hdrLen = dv.getUint32(4, le);
  if (hdrLen < 24 || hdrLen > bytes.length) throw new BtfError('BAD_HEADER', `Invalid hdr_len ${hdrLen}`, 4);
  const typeOff = dv.getUint32(8, le);
  const typeLen = dv.getUint32(12, le);
  const strOff = dv.getUint32(16, le);
  const strLen = dv.getUint32(20, le);
  const tStart = hdrLen + typeOff;
  const sStart = hdrLen + strOff;
  if (tStart + typeLen > bytes.length || typeLen % 4 !== 0) throw new BtfError('BAD_SECTION', `type section [${typeOff}, +${typeLen}) runs past the end`, 12);
  if (sStart + strLen > bytes.length) throw new BtfError('BAD_SECTION', `string section [${strOff}, +${strLen}) runs past the end`, 20);
  // copies (Uint8Array's slice: a Node Buffer's own slice is a view of its pool, whose
  // .buffer starts elsewhere)
  const copy = (from: number, to: number): Uint8Array => Uint8Array.prototype.slice.call(bytes, from, to);
  const strings = copy(sStart, sStart + strLen);
  if (strLen > 0 && strings[strLen - 1] !== 0) throw new BtfError('BAD_STRING', 'Invalid string section: not NUL-terminated', sStart + strLen - 1);
  const base = opts.base;
  const firstId = base ? typeCount(base) : 1;
  // the type section in host order: kept, and read for the objects
  let words: Uint32Array;
  if (le === HOST_LE) words = new Uint32Array(copy(tStart, tStart + typeLen).buffer);
  else {
    words = new Uint32Array(typeLen / 4);
    for (let k = 0; k < words.length; k++) words[k] = dv.getUint32(tStart + 4 * k, le);
  }
  const fields = { endian: le ? ('little' as const) : ('big' as const), version, flags: dv.getUint8(3) };
  const rest = { firstId, strings, stringBase: base ? base.stringBase + base.strings.length : 0, ...(base ? { base } : {}) };
  const { n, starts } = countTypes(words);
  // a malformed section: read it now, for the error that names the place
  if (n < 0) return { ...fields, types: readTypes(words, tStart, firstId, base !== undefined), ...rest };
  const raw: RawTypes = { words, firstId, count: firstId + n, offsets: starts };
  const settle = (btf: Btf, types: (BtfType | undefined)[]): (BtfType | undefined)[] => {
    // (a frozen Btf keeps the getter, which returns the array made once)
    if (Object.isExtensible(btf)) Object.defineProperty(btf, 'types', { value: types, writable: true, enumerable: true, configurable: true });
    return types;
  };
  // `types` made on first use, then a plain property; the same key order as a plain object
  const btf: Btf = {
    ...fields,
    get types(): (BtfType | undefined)[] {
      if (raw.types === undefined) {
        raw.types = readTypes(words, tStart, firstId, base !== undefined, raw.decoded);
        raw.decoded = undefined;
        raw.offsets = undefined;
      }
      return settle(btf, raw.types);
    },
    set types(v: (BtfType | undefined)[]) {
      rawTypes.delete(btf);
      settle(btf, v);
    },
    ...rest,
  };
  rawTypes.set(btf, raw);
  return btf;
}

/**
 * One type of a parsed Btf whose `types` array is not made yet, decoded from its record (and
 * kept: `types` takes the same object when it is made); undefined where `btf.types[id]` is.
 */
function lazyType(raw: RawTypes, id: number): BtfType | undefined {
  if (!Number.isInteger(id) || id < raw.firstId || id >= raw.count) return undefined;
  const decoded = (raw.decoded ??= new Map<number, BtfType>());
  let t = decoded.get(id);
  if (t === undefined) {
    const offsets = raw.offsets!;
    const k = id - raw.firstId;
    t = readTypes(raw.words.subarray(offsets[k], offsets[k + 1]), 0, 1, false)[1]!;
    decoded.set(id, t);
  }
  return t;
}

/**
 * The type objects of a type section (as words): types[0] void, the base's ids undefined; the
 * ids in `decoded` take the objects already made for them.
 */
function readTypes(words: Uint32Array, tStart: number, firstId: number, split: boolean, decoded?: ReadonlyMap<number, BtfType>): (BtfType | undefined)[] {
  const types: (BtfType | undefined)[] = split ? new Array<BtfType | undefined>(firstId).fill(undefined) : [undefined];
  const end = tStart + words.length * 4;
  let p = tStart;
  const u32 = (at: number): number => {
    if (at + 4 > end) throw new BtfError('TRUNCATED', 'type record runs past the type section', at, types.length);
    return words[(at - tStart) >>> 2]!;
  };
  while (p < end) {
    const id = types.length;
    const nameOff = u32(p);
    const info = u32(p + 4);
    const sizeOrType = u32(p + 8);
    const kindNum = (info >>> 24) & 0x1f;
    const kind = KIND_NAMES[kindNum];
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const made = decoded?.get(id);
    if (made !== undefined) {
      // (only a well-formed section has these: its record is whole)
      types.push(made);
      p += 4 * recordWords(kindNum, vlen);
      continue;
    }
    p += 12;
    if (kind === undefined) throw new BtfError('BAD_KIND', `Invalid kind ${kindNum}`, p - 8, id);
    switch (kind) {
      case 'INT':
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind, intData: u32(p) });
        p += 4;
        break;
      case 'ARRAY':
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind, elemType: u32(p), indexType: u32(p + 4), nelems: u32(p + 8) });
        p += 12;
        break;
      case 'STRUCT':
      case 'UNION': {
        const members: Member[] = new Array<Member>(vlen);
        for (let k = 0; k < vlen; k++, p += 12) members[k] = { nameOff: u32(p), type: u32(p + 4), offset: u32(p + 8) };
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind, members });
        break;
      }
      case 'ENUM': {
        const values: EnumValue[] = new Array<EnumValue>(vlen);
        for (let k = 0; k < vlen; k++, p += 8) values[k] = { nameOff: u32(p), val: BigInt(u32(p + 4)) };
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind, values });
        break;
      }
      case 'ENUM64': {
        const values: EnumValue[] = new Array<EnumValue>(vlen);
        for (let k = 0; k < vlen; k++, p += 12) values[k] = { nameOff: u32(p), val: (BigInt(u32(p + 8)) << 32n) | BigInt(u32(p + 4)) };
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind, values });
        break;
      }
      case 'FUNC_PROTO': {
        const params: Param[] = new Array<Param>(vlen);
        for (let k = 0; k < vlen; k++, p += 8) params[k] = { nameOff: u32(p), type: u32(p + 4) };
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind, params });
        break;
      }
      case 'VAR':
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind, linkage: u32(p) });
        p += 4;
        break;
      case 'DATASEC': {
        const secinfo: SecInfo[] = new Array<SecInfo>(vlen);
        for (let k = 0; k < vlen; k++, p += 12) secinfo[k] = { type: u32(p), offset: u32(p + 4), size: u32(p + 8) };
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind, secinfo });
        break;
      }
      case 'DECL_TAG':
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind, componentIdx: u32(p) | 0 });
        p += 4;
        break;
      default:
        types.push({ nameOff, kindFlag, vlen, sizeOrType, kind } as BtfType);
    }
  }
  return types;
}

const decoder = new TextDecoder();

/** The string at `off` (through the base for split BTF). */
export function btfString(btf: Btf, off: number): string {
  if (off < btf.stringBase) return btf.base ? btfString(btf.base, off) : '';
  const at = off - btf.stringBase;
  if (at >= btf.strings.length) throw new BtfError('BAD_STRING', `Invalid name_offset ${off}`);
  const s = btf.strings;
  // ASCII names (nearly all of them) without a TextDecoder call
  let end = at;
  let ascii = true;
  for (let c = s[end]!; c !== 0 && c !== undefined; c = s[++end]!) if (c >= 0x80) ascii = false;
  if (!ascii || end - at > 64) return decoder.decode(s.subarray(at, end));
  let out = '';
  for (let k = at; k < end; k++) out += String.fromCharCode(s[k]!);
  return out;
}

/** The type with `id` (through the base for split BTF); undefined for void (0). */
export function typeById(btf: Btf, id: number): BtfType | undefined {
  if (id < btf.firstId && btf.base) return typeById(btf.base, id);
  // a parsed Btf whose `types` is not made yet: this one type, from its record (a kernel's
  // BTF has some 130k types; a program's verification or CO-RE reads a few hundred)
  const raw = rawTypes.get(btf);
  if (raw !== undefined && raw.types === undefined && untouched(btf, raw)) return lazyType(raw, id);
  return btf.types[id];
}

/**
 * Ids by name of the types whose kind is in `kinds`, each list in id order, the names in the
 * order of their first type; types without a name are left out. Read from the type section as
 * parseBtf kept it, without making the type objects (a kernel's BTF has some 130k). Undefined
 * when that cannot be done: split BTF, `btf.types` replaced, or a name offset anywhere out of
 * the string section (reading the types then reports it).
 */
export function namesByKind(btf: Btf, kinds: readonly KindName[]): Map<string, number[]> | undefined {
  if (btf.base || btf.firstId !== 1) return undefined;
  const words = rawTypeWords(btf);
  if (!words) return undefined;
  const limit = btf.stringBase + btf.strings.length;
  const want = new Uint8Array(32);
  for (const k of kinds) want[KIND[k]] = 1;
  // every name offset in range first: the type objects would refuse the section otherwise
  for (let i = 0; i < words.length; ) {
    const info = words[i + 1]!;
    const k = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    if (words[i]! >= limit) return undefined;
    const step = k === KIND.STRUCT || k === KIND.UNION || k === KIND.ENUM64 ? 3 : k === KIND.ENUM || k === KIND.FUNC_PROTO ? 2 : 0;
    if (step) for (let m = 0, at = i + 3; m < vlen; m++, at += step) if (words[at]! >= limit) return undefined;
    i += recordWords(k, vlen);
  }
  const out = new Map<string, number[]>();
  for (let i = 0, id = 1; i < words.length; id++) {
    const info = words[i + 1]!;
    const k = (info >>> 24) & 0x1f;
    if (want[k] === 1) {
      const name = btfString(btf, words[i]!);
      if (name) {
        const l = out.get(name);
        if (l) l.push(id);
        else out.set(name, [id]);
      }
    }
    i += recordWords(k, info & 0xffff);
  }
  return out;
}

const MODIFIERS = new Set(['TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT', 'TYPE_TAG']);

/** Skip typedefs and modifiers: the id of the underlying type. */
export function resolveId(btf: Btf, id: number): number {
  for (let guard = 0; guard < 64; guard++) {
    const t = typeById(btf, id);
    if (!t || !MODIFIERS.has(t.kind)) return id;
    id = t.sizeOrType;
  }
  throw new BtfError('BAD_TYPE_ID', 'Loop detected', undefined, id);
}

/** Size in bytes of a type (after resolving typedefs/modifiers). */
export function sizeOf(btf: Btf, id: number): number {
  const t = typeById(btf, resolveId(btf, id));
  if (!t) return 0;
  switch (t.kind) {
    case 'INT': case 'STRUCT': case 'UNION': case 'ENUM': case 'ENUM64': case 'FLOAT': case 'DATASEC':
      return t.sizeOrType;
    case 'PTR':
      return 8;
    case 'ARRAY':
      return t.nelems * sizeOf(btf, t.elemType);
    default:
      return 0;
  }
}

/** Serialise: header, types, strings — byte for byte what parse read for canonical layouts. */
export function writeBtf(btf: Btf): Uint8Array {
  const le = btf.endian === 'little';
  let typeLen = 0;
  for (let id = btf.firstId; id < btf.types.length; id++) typeLen += recordSize(btf.types[id]!);
  const out = new Uint8Array(24 + typeLen + btf.strings.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, MAGIC, le);
  dv.setUint8(2, btf.version);
  dv.setUint8(3, btf.flags);
  dv.setUint32(4, 24, le);
  dv.setUint32(8, 0, le);
  dv.setUint32(12, typeLen, le);
  dv.setUint32(16, typeLen, le);
  dv.setUint32(20, btf.strings.length, le);
  let p = 24;
  const w = (v: number): void => {
    dv.setUint32(p, v >>> 0, le);
    p += 4;
  };
  for (let id = btf.firstId; id < btf.types.length; id++) {
    const t = btf.types[id]!;
    w(t.nameOff);
    w(((t.kindFlag ? 1 : 0) << 31) | (KIND[t.kind] << 24) | t.vlen);
    w(t.sizeOrType);
    switch (t.kind) {
      case 'INT': w(t.intData); break;
      case 'ARRAY': w(t.elemType); w(t.indexType); w(t.nelems); break;
      case 'STRUCT': case 'UNION': for (const m of t.members) { w(m.nameOff); w(m.type); w(m.offset); } break;
      case 'ENUM': for (const v of t.values) { w(v.nameOff); w(Number(v.val & 0xffffffffn)); } break;
      case 'ENUM64': for (const v of t.values) { w(v.nameOff); w(Number(v.val & 0xffffffffn)); w(Number((v.val >> 32n) & 0xffffffffn)); } break;
      case 'FUNC_PROTO': for (const q of t.params) { w(q.nameOff); w(q.type); } break;
      case 'VAR': w(t.linkage); break;
      case 'DATASEC': for (const s of t.secinfo) { w(s.type); w(s.offset); w(s.size); } break;
      case 'DECL_TAG': w(t.componentIdx); break;
      default: break;
    }
  }
  out.set(btf.strings, p);
  return out;
}

function recordSize(t: BtfType): number {
  switch (t.kind) {
    case 'INT': case 'VAR': case 'DECL_TAG': return 16;
    case 'ARRAY': return 24;
    case 'STRUCT': case 'UNION': return 12 + 12 * t.members.length;
    case 'ENUM': return 12 + 8 * t.values.length;
    case 'ENUM64': return 12 + 12 * t.values.length;
    case 'FUNC_PROTO': return 12 + 8 * t.params.length;
    case 'DATASEC': return 12 + 12 * t.secinfo.length;
    default: return 12;
  }
}
