/**
 * Types by name without the type objects: a hash index over the name offsets of a parsed
 * type section (typed arrays, no strings made), so that finding `task_struct` in a kernel's BTF
 * reads a few records instead of making 130k objects and as many name strings.
 */
import { btfString, KIND, rawTypeWords, recordWords, typeById, typeCount, type Btf, type KindName } from './btf.js';

/** Look-ups by name over one BTF's types (see `nameIndex`). */
export interface BtfNameIndex {
  /**
   * Ids of the types named `name` whose kind is in `kinds` (every kind when not given), in id
   * order: what `findByName` answers. A type without a name (name offset 0) has none.
   */
  ids(name: string, kinds?: readonly KindName[]): number[];
  /**
   * Ids of the types whose essential name is `name` (whose kind is in `kinds`), in id order:
   * the essential name is the name up to its first `___` when that is not at its start (libbpf's
   * flavours, as CO-RE matches `task_struct___old` to `task_struct`), else the whole name.
   */
  flavors(name: string, kinds?: readonly KindName[]): number[];
}

/** The essential name of `name`: up to its first `___`, when that is not at the start. */
export const essentialName = (name: string): string => {
  const k = name.indexOf('___');
  return k > 0 ? name.slice(0, k) : name;
};

const UNDERSCORE = 0x5f;

/** The end of a name's hash: its bits spread (the per-character step only rotates and xors). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b | 0);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The hash of a name's characters, as the index hashes an ASCII name's bytes. */
function hashString(s: string): number {
  let h = 0;
  for (let k = 0; k < s.length; k++) h = ((h << 5) | (h >>> 27)) ^ s.charCodeAt(k);
  return mix(h);
}

const indexes = new WeakMap<Btf, BtfNameIndex | null>();

/**
 * A name index over `btf`'s types, made once per Btf from the type section as parseBtf read it
 * (one pass over its words; no type objects, no strings but the few non-ASCII names). Undefined
 * when that cannot be done: split BTF, `btf.types` replaced, or a name offset anywhere in the
 * section (a type's, a member's, an enumerator's, a parameter's) out of the string section,
 * which reading the types by name reports instead.
 */
export function nameIndex(btf: Btf): BtfNameIndex | undefined {
  let ix = indexes.get(btf);
  if (ix === undefined || (ix !== null && rawTypeWords(btf) === undefined)) {
    ix = makeIndex(btf) ?? null;
    indexes.set(btf, ix);
  }
  return ix ?? undefined;
}

/** Look-ups of a function's name that scan the functions before their hash table is made. */
const FUNC_SCANS = 4;

/** The named types of one group of kinds, and (once made) their hash chains. */
interface Group {
  /** Kinds of the group, as a bit mask (1 << kind). */
  readonly kinds: number;
  /** Its named types' ids, in id order. */
  readonly ids: Int32Array;
  /** Hash table heads (0: none): made on first use, or after FUNC_SCANS scans. */
  head?: Int32Array;
  scans: number;
}

function makeIndex(btf: Btf): BtfNameIndex | undefined {
  if (btf.base || btf.firstId !== 1 || btf.stringBase !== 0) return undefined;
  const words = rawTypeWords(btf);
  if (!words) return undefined;
  const s = btf.strings;
  const limit = s.length;
  // offset 0 must be the empty name (what "no name" reads as everywhere)
  if (limit === 0 || s[0] !== 0) return undefined;
  const n = typeCount(btf);
  // by id: the name offset and the kind; the named types' ids, functions apart
  const nameOf = new Uint32Array(n);
  const kindOf = new Uint8Array(n);
  const funcIds = new Int32Array(n);
  const otherIds = new Int32Array(n);
  let funcs = 0;
  let others = 0;
  for (let i = 0, id = 1; i < words.length; id++) {
    const info = words[i + 1]!;
    const k = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const off = words[i]!;
    if (off >= limit) return undefined;
    const step = k === KIND.STRUCT || k === KIND.UNION || k === KIND.ENUM64 ? 3 : k === KIND.ENUM || k === KIND.FUNC_PROTO ? 2 : 0;
    if (step) for (let m = 0, at = i + 3; m < vlen; m++, at += step) if (words[at]! >= limit) return undefined;
    nameOf[id] = off;
    kindOf[id] = k;
    if (off !== 0) {
      if (k === KIND.FUNC) funcIds[funcs++] = id;
      else otherIds[others++] = id;
    }
    i += recordWords(k, vlen);
  }
  // (a kernel's function names are four fifths of its names' bytes, and most commands look up
  // one function, an attach target, or none: those are scanned for until a few were)
  const groups: Group[] = [
    { kinds: 1 << KIND.FUNC, ids: funcIds.subarray(0, funcs), scans: 0 },
    { kinds: ~(1 << KIND.FUNC), ids: otherIds.subarray(0, others), scans: 0 },
  ];
  let size = 1024;
  while (size < 2 * n) size *= 2;
  const mask = size - 1;
  const next = new Int32Array(n);
  const wide = new Uint8Array(n);
  const hashGroup = (g: Group): Int32Array => {
    const head = new Int32Array(size);
    // chains in id order: each id goes in front, last id first
    for (let j = g.ids.length - 1; j >= 0; j--) {
      const id = g.ids[j]!;
      const off = nameOf[id]!;
      // the essential name's bytes hashed (no strings made); a non-ASCII name is hashed and
      // compared as the string it reads as. (Plain int32 operations per byte: this loop runs
      // over a kernel's names in one-shot commands, mostly before V8 optimizes it.)
      let h = 0;
      let bits = 0;
      let p = off;
      let c = s[p]!;
      // (a name starting with `___` is all essential)
      const whole = c === UNDERSCORE && s[p + 1] === UNDERSCORE && s[p + 2] === UNDERSCORE;
      for (; c !== 0; c = s[++p]!) {
        if (c === UNDERSCORE && !whole && s[p + 1] === UNDERSCORE && s[p + 2] === UNDERSCORE) break;
        bits |= c;
        h = ((h << 5) | (h >>> 27)) ^ c;
      }
      // a flavour's suffix: only whether it is ASCII
      for (; c !== 0; c = s[++p]!) bits |= c;
      if ((bits & 0x80) === 0) h = mix(h);
      else {
        wide[id] = 1;
        h = hashString(essentialName(btfString(btf, off)));
      }
      const b = h & mask;
      next[id] = head[b]!;
      head[b] = id;
    }
    return head;
  };

  const kindMask = (kinds: readonly KindName[] | undefined): number => {
    if (kinds === undefined) return -1;
    let m = 0;
    for (const k of kinds) m |= 1 << KIND[k];
    return m;
  };
  /** Whether the (ASCII) name at `off` is `name`, or (essential) has `name` as its essential name. */
  const sameAscii = (off: number, name: string, essential: boolean): boolean => {
    const len = name.length;
    for (let k = 0; k < len; k++) {
      const c = name.charCodeAt(k);
      if (c === 0 || s[off + k] !== c) return false;
    }
    if (s[off + len] === 0) return true;
    if (!essential) return false;
    // where its essential name ends: its first `___`, unless that is at its start
    if (s[off] === UNDERSCORE && s[off + 1] === UNDERSCORE && s[off + 2] === UNDERSCORE) return false;
    let p = off + 1;
    while (s[p] !== 0 && !(s[p] === UNDERSCORE && s[p + 1] === UNDERSCORE && s[p + 2] === UNDERSCORE)) p++;
    return p - off === len;
  };
  const isAscii = (name: string): boolean => {
    for (let k = 0; k < name.length; k++) if (name.charCodeAt(k) >= 0x80) return false;
    return true;
  };
  /** One group's matches, in id order. */
  const inGroup = (g: Group, name: string, want: number, essential: boolean, out: number[]): void => {
    // an ASCII name is compared byte for byte, which a name that is not ASCII never equals
    // (nor has as its essential name): a scan needs no hash
    if (g.head === undefined && g.kinds === 1 << KIND.FUNC && g.scans < FUNC_SCANS && isAscii(name)) {
      g.scans++;
      const first = name.charCodeAt(0);
      for (let j = 0; j < g.ids.length; j++) {
        const id = g.ids[j]!;
        const off = nameOf[id]!;
        if ((s[off] === first || name === '') && ((1 << kindOf[id]!) & want) !== 0 && sameAscii(off, name, essential)) out.push(id);
      }
      return;
    }
    const head = (g.head ??= hashGroup(g));
    for (let id = head[hashString(essentialName(name)) & mask]!; id !== 0; id = next[id]!) {
      if (((1 << kindOf[id]!) & want) === 0) continue;
      const off = nameOf[id]!;
      const hit =
        wide[id] === 1
          ? (essential ? essentialName(btfString(btf, off)) : btfString(btf, off)) === name
          : sameAscii(off, name, essential);
      if (hit) out.push(id);
    }
  };
  const find = (name: string, kinds: readonly KindName[] | undefined, essential: boolean): number[] => {
    const want = kindMask(kinds);
    const out: number[] = [];
    // (an essential name is its own essential name: no other can be one)
    if (essential && essentialName(name) !== name) return out;
    const [fn, rest] = groups as [Group, Group];
    const a: number[] = [];
    if ((want & fn.kinds) !== 0) inGroup(fn, name, want, essential, a);
    if ((want & rest.kinds) === 0) return a;
    if (a.length === 0) {
      inGroup(rest, name, want, essential, out);
      return out;
    }
    const b: number[] = [];
    inGroup(rest, name, want, essential, b);
    // both in id order: merged
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i]! < b[j]!) ? a[i++]! : b[j++]!);
    return out;
  };
  return {
    ids: (name, kinds) => find(name, kinds, false),
    flavors: (name, kinds) => find(name, kinds, true),
  };
}

/** Ids of the types named `name` (optionally of one kind), in id order. */
export function findByName(btf: Btf, name: string, kind?: KindName): number[] {
  const ix = nameIndex(btf);
  if (ix) return ix.ids(name, kind === undefined ? undefined : [kind]);
  const out: number[] = [];
  for (let id = btf.firstId; id < btf.types.length; id++) {
    const t = btf.types[id]!;
    if ((kind === undefined || t.kind === kind) && t.nameOff !== 0 && btfString(btf, t.nameOff) === name) out.push(id);
  }
  return out;
}

/** Functions carrying the `bpf_kfunc` decl tag, by name. */
export function kfuncs(btf: Btf): Map<string, number> {
  const out = new Map<string, number>();
  const tags = nameIndex(btf)?.ids('bpf_kfunc', ['DECL_TAG']);
  const check = (id: number): void => {
    const t = typeById(btf, id)!;
    if (t.kind === 'DECL_TAG' && t.componentIdx === -1 && btfString(btf, t.nameOff) === 'bpf_kfunc') {
      const f = typeById(btf, t.sizeOrType);
      if (f?.kind === 'FUNC') out.set(btfString(btf, f.nameOff), t.sizeOrType);
    }
  };
  if (tags) for (const id of tags) check(id);
  else for (let id = btf.firstId; id < btf.types.length; id++) check(id);
  return out;
}
