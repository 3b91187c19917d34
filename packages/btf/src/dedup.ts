/**
 * BTF deduplication: merge types that describe the same thing and renumber — what a static
 * linker needs after appending the BTF of several objects. The result is the one libbpf's
 * `btf__dedup` gives (as in Linux 6.1's tools/lib/bpf, which Debian 12's bpftool v7.1.0 is
 * built with; run by its linker and so by `bpftool gen object`),
 * type for type, because a linked object is only byte-identical to bpftool's when every merge
 * and every kept id is the same. libbpf's algorithm is greedy and order-dependent, so it is
 * followed step by step rather than replaced by a "best" partition:
 *
 * 1. Primitive types (INT, ENUM/ENUM64, FWD, FLOAT) are merged with the first equal canonical
 *    type found for their signature; an enum forward declaration (no enumerators) and a full
 *    enum of its name resolve to the full one.
 * 2. Each struct or union is compared with the canonical candidates of its signature (name,
 *    size, member names and offsets) by walking both type graphs side by side. The walk keeps a
 *    one-to-one "hypothetical" map from the candidate's graph to the new type's; a forward
 *    declaration and a struct (union) of the same name count as equal, and once the graphs
 *    agree, forward declarations take the struct they were matched with.
 * 3. Only with `resolveForwards` (libbpf 1.2 and later): forward declarations still
 *    unresolved take the one canonical struct (union) of their name, when there is exactly one.
 * 4. Reference types (pointers, typedefs, modifiers, arrays, function prototypes, functions,
 *    tags) are merged bottom-up once what they point to is canonical.
 * 5. The canonical types are kept in their order and renumbered; VARs and DATASECs are never
 *    merged.
 *
 * Candidates of one signature are tried in the order libbpf's hash table yields them: newest
 * first, and reversed each time the table grows (it grows when an insertion would fill more
 * than three quarters of its buckets, starting from 4). That order only decides between
 * candidates that are equally good, which happens with forward declarations.
 *
 * The string section is kept as it is (libbpf's linker added each string once).
 */
import { type Btf, BtfError, type BtfType, btfString } from './btf.js';

export interface DedupResult {
  /** The merged BTF: the canonical types, in their original order. */
  readonly btf: Btf;
  /** Old type id → new type id (0 → 0). */
  readonly ids: Uint32Array;
}

export interface DedupOptions {
  /**
   * Also resolve each forward declaration still unresolved after the structs are merged to the
   * one struct (union) of its name, when there is exactly one: a step libbpf added in 1.2
   * (Linux 6.2). Off by default, as in the libbpf of Linux 6.1 that Debian 12's bpftool
   * (v7.1.0) links with, which is what the linker's byte-for-byte tests compare with.
   */
  readonly resolveForwards?: boolean;
}

const UNPROCESSED = -1;
const IN_PROGRESS = -2;

/** libbpf's dedup table: per signature, its canonical types in the order a lookup visits them. */
class Table {
  private readonly lists = new Map<string, number[]>();
  private size = 0;
  private cap = 0;
  candidates(key: string): readonly number[] {
    return this.lists.get(key) ?? [];
  }
  add(key: string, id: number): void {
    // hashmap_needs_to_grow: empty, or (sz + 1) * 4 / 3 > cap; a grow re-inserts every entry
    // at the head of its new bucket, which reverses the order of each signature's entries
    if (this.cap === 0 || Math.floor(((this.size + 1) * 4) / 3) > this.cap) {
      this.cap = this.cap === 0 ? 4 : this.cap * 2;
      for (const l of this.lists.values()) l.reverse();
    }
    const l = this.lists.get(key);
    if (l) l.unshift(id);
    else this.lists.set(key, [id]);
    this.size++;
  }
}

type Composite = Extract<BtfType, { kind: 'STRUCT' | 'UNION' }>;
const isComposite = (t: BtfType | undefined): t is Composite => t?.kind === 'STRUCT' || t?.kind === 'UNION';
const isEnum = (t: BtfType | undefined): t is Extract<BtfType, { kind: 'ENUM' | 'ENUM64' }> => t?.kind === 'ENUM' || t?.kind === 'ENUM64';
const isEnumFwd = (t: BtfType): boolean => isEnum(t) && t.values.length === 0;
/** The kind a FWD declares. */
const fwdKind = (t: BtfType): 'STRUCT' | 'UNION' => (t.kindFlag ? 'UNION' : 'STRUCT');

/** Merge equal types of `btf` (no base BTF), as libbpf's `btf__dedup` merges them. */
export function dedupBtf(btf: Btf, opts: DedupOptions = {}): DedupResult {
  const n = btf.types.length;
  // the types as the algorithm sees them: reference types get their canonical targets written
  // into them while step 4 runs (as libbpf rewrites them in place)
  const types: (BtfType | undefined)[] = [...btf.types];
  const ty = (id: number): BtfType | undefined => types[id];
  const names = new Map<number, string>();
  const name = (off: number): string => {
    let s = names.get(off);
    if (s === undefined) names.set(off, (s = btfString(btf, off)));
    return s;
  };
  const fail = (id: number, why: string): never => {
    throw new BtfError('BAD_TYPE_ID', `cannot deduplicate: ${why}`, undefined, id);
  };

  // btf_equal_common: name, kind, vlen, kind flag, and size (or referenced type)
  const common = (a: BtfType, b: BtfType): boolean =>
    a.kind === b.kind && a.vlen === b.vlen && a.kindFlag === b.kindFlag && a.sizeOrType === b.sizeOrType && name(a.nameOff) === name(b.nameOff);
  const commonKey = (t: BtfType): string => `${t.kind}|${name(t.nameOff)}|${t.vlen}|${t.kindFlag ? 1 : 0}|${t.sizeOrType}`;
  const intTagExtra = (t: BtfType): number => (t.kind === 'INT' ? t.intData : t.kind === 'DECL_TAG' ? t.componentIdx : 0);
  const equalIntTag = (a: BtfType, b: BtfType): boolean => common(a, b) && intTagExtra(a) === intTagExtra(b);
  const equalEnum = (a: BtfType, b: BtfType): boolean => {
    if (!common(a, b) || !isEnum(a) || !isEnum(b)) return false;
    return a.values.every((v, i) => name(v.nameOff) === name(b.values[i]!.nameOff) && v.val === b.values[i]!.val);
  };
  // a forward declaration (no enumerators) matches an enum of its name, kind, signedness and size
  const compatEnum = (a: BtfType, b: BtfType): boolean => {
    if (!isEnumFwd(a) && !isEnumFwd(b)) return equalEnum(a, b);
    return a.kind === b.kind && a.kindFlag === b.kindFlag && a.sizeOrType === b.sizeOrType && name(a.nameOff) === name(b.nameOff);
  };
  const shallowStruct = (a: BtfType, b: BtfType): boolean => {
    if (!common(a, b) || !isComposite(a) || !isComposite(b)) return false;
    return a.members.every((m, i) => name(m.nameOff) === name(b.members[i]!.nameOff) && m.offset === b.members[i]!.offset);
  };
  const structKey = (t: Composite): string => `${commonKey(t)}|${t.members.map((m) => `${name(m.nameOff)}@${m.offset}`).join(',')}`;
  const arrayOf = (t: BtfType): Extract<BtfType, { kind: 'ARRAY' }> | undefined => (t.kind === 'ARRAY' ? t : undefined);
  const compatArray = (a: BtfType, b: BtfType): boolean => common(a, b) && arrayOf(a)?.nelems === arrayOf(b)?.nelems;
  const equalArray = (a: BtfType, b: BtfType): boolean => {
    const x = arrayOf(a), y = arrayOf(b);
    return common(a, b) && !!x && !!y && x.elemType === y.elemType && x.indexType === y.indexType && x.nelems === y.nelems;
  };
  const protoOf = (t: BtfType): Extract<BtfType, { kind: 'FUNC_PROTO' }> | undefined => (t.kind === 'FUNC_PROTO' ? t : undefined);
  // btf_compat_fnproto: name, kind and vlen, parameter names (not the types)
  const compatProto = (a: BtfType, b: BtfType): boolean => {
    const x = protoOf(a), y = protoOf(b);
    return !!x && !!y && name(a.nameOff) === name(b.nameOff) && a.vlen === b.vlen && a.kindFlag === b.kindFlag && x.params.every((p, i) => name(p.nameOff) === name(y.params[i]!.nameOff));
  };
  const equalProto = (a: BtfType, b: BtfType): boolean => {
    const x = protoOf(a), y = protoOf(b);
    return common(a, b) && !!x && !!y && x.params.every((p, i) => name(p.nameOff) === name(y.params[i]!.nameOff) && p.type === y.params[i]!.type);
  };

  const map = new Int32Array(n).fill(UNPROCESSED);
  map[0] = 0;
  for (let id = 1; id < n; id++) if (ty(id)?.kind === 'VAR' || ty(id)?.kind === 'DATASEC') map[id] = id;
  const mapped = (id: number): boolean => map[id]! >= 0;
  const resolve = (id: number): number => {
    // (a chain never revisits a type in valid input; the bound keeps malformed input finite)
    for (let steps = 0; mapped(id) && map[id] !== id; steps++) {
      if (steps > n) return fail(id, 'its canonical type is not found (a cycle)');
      id = map[id]!;
    }
    return id;
  };
  const resolveFwd = (id: number): number => {
    if (ty(id)?.kind !== 'FWD') return id;
    const r = resolve(id);
    return ty(r)?.kind === 'FWD' ? id : r;
  };
  const table = new Table();

  // 1. primitive types
  for (let id = 1; id < n; id++) {
    const t = ty(id)!;
    let key: string;
    let to = id;
    if (t.kind === 'INT') {
      key = `${commonKey(t)}|${t.intData}`;
      to = table.candidates(key).find((c) => equalIntTag(t, ty(c)!)) ?? id;
    } else if (isEnum(t)) {
      key = `${t.kind}|${name(t.nameOff)}|${t.kindFlag ? 1 : 0}|${t.sizeOrType}`; // vlen left out
      for (const c of table.candidates(key)) {
        const cand = ty(c)!;
        if (equalEnum(t, cand)) {
          to = c;
          break;
        }
        if (compatEnum(t, cand)) {
          if (isEnumFwd(t)) {
            to = c; // a forward declaration takes the full enum
            break;
          }
          map[c] = id; // a canonical forward declaration resolves to this one
        }
      }
    } else if (t.kind === 'FWD' || t.kind === 'FLOAT') {
      key = commonKey(t);
      to = table.candidates(key).find((c) => common(t, ty(c)!)) ?? id;
    } else continue;
    map[id] = to;
    if (to === id) table.add(key, id);
  }

  // 2. structs and unions: type graph equivalence with a hypothetical map
  const hypot = new Int32Array(n).fill(UNPROCESSED);
  const hypotList: number[] = [];
  const identicalArrays = (a: number, b: number): boolean => {
    const x = ty(a), y = ty(b);
    return x?.kind === 'ARRAY' && y?.kind === 'ARRAY' && equalArray(x, y);
  };
  const identicalPtrs = (a: number, b: number): boolean => {
    const x = ty(a), y = ty(b);
    return x?.kind === 'PTR' && y?.kind === 'PTR' && x.sizeOrType === y.sizeOrType;
  };
  // (members by value only, so no cycles in valid BTF; the depth bound is for malformed input)
  const identicalStructs = (a: number, b: number, depth = 0): boolean => {
    const x = ty(a), y = ty(b);
    if (!isComposite(x) || !isComposite(y) || x.kind !== y.kind || !shallowStruct(x, y) || depth > 1000) return false;
    return x.members.every((m, i) => {
      const o = y.members[i]!.type;
      return m.type === o || identicalArrays(m.type, o) || identicalStructs(m.type, o, depth + 1);
    });
  };
  const equiv = (candId: number, canonId: number): boolean => {
    if (resolve(candId) === resolve(canonId)) return true;
    canonId = resolveFwd(canonId);
    const h = hypot[canonId]!;
    // the same type met twice in the new graph: only if it is the same, or an identical copy
    // (compilers emit duplicate arrays, structs and pointers within one unit)
    if (h >= 0) return h === candId || identicalArrays(h, candId) || identicalStructs(h, candId) || identicalPtrs(h, candId);
    hypot[canonId] = candId;
    hypotList.push(canonId);
    const cand = ty(candId), canon = ty(canonId);
    if (!cand || !canon) return cand === canon;
    if (name(cand.nameOff) !== name(canon.nameOff)) return false;
    if ((cand.kind === 'FWD' || canon.kind === 'FWD') && cand.kind !== canon.kind) {
      return cand.kind === 'FWD' ? fwdKind(cand) === canon.kind : fwdKind(canon) === cand.kind;
    }
    if (cand.kind !== canon.kind) return false;
    switch (cand.kind) {
      case 'INT': return equalIntTag(cand, canon);
      case 'ENUM': case 'ENUM64': return compatEnum(cand, canon);
      case 'FWD': case 'FLOAT': return common(cand, canon);
      case 'CONST': case 'VOLATILE': case 'RESTRICT': case 'PTR': case 'TYPEDEF': case 'FUNC': case 'TYPE_TAG':
        // btf_dedup_is_equiv compares the info word (kind, vlen, kind flag) before following
        return cand.vlen === canon.vlen && cand.kindFlag === canon.kindFlag && equiv(cand.sizeOrType, canon.sizeOrType);
      case 'ARRAY': {
        if (!compatArray(cand, canon) || canon.kind !== 'ARRAY') return false;
        return equiv(cand.indexType, canon.indexType) && equiv(cand.elemType, canon.elemType);
      }
      case 'STRUCT': case 'UNION': {
        if (!shallowStruct(cand, canon) || !isComposite(canon)) return false;
        return cand.members.every((m, i) => equiv(m.type, canon.members[i]!.type));
      }
      case 'FUNC_PROTO': {
        if (!compatProto(cand, canon) || canon.kind !== 'FUNC_PROTO') return false;
        return equiv(cand.sizeOrType, canon.sizeOrType) && cand.params.every((p, i) => equiv(p.type, canon.params[i]!.type));
      }
      default:
        return fail(candId, `a ${cand.kind} inside a struct's type graph`);
    }
  };
  const mergeHypot = (): void => {
    for (const canon of hypotList) {
      const t = resolve(hypot[canon]!);
      const c = resolve(canon);
      const tk = ty(t)?.kind, ck = ty(c)?.kind;
      if (tk !== 'FWD' && ck === 'FWD') map[c] = t;
      if (tk === 'FWD' && ck !== 'FWD') map[t] = c;
      if ((tk === 'STRUCT' || tk === 'UNION') && ck !== 'FWD' && mapped(c) && !mapped(t)) map[t] = c;
    }
  };
  for (let id = 1; id < n; id++) {
    if (mapped(id)) continue;
    const t = ty(id)!;
    if (!isComposite(t)) continue;
    const key = structKey(t);
    let to = id;
    for (const c of table.candidates(key)) {
      if (!shallowStruct(t, ty(c)!)) continue;
      for (const h of hypotList) hypot[h] = UNPROCESSED;
      hypotList.length = 0;
      if (!equiv(id, c)) continue;
      mergeHypot();
      to = c;
      break;
    }
    map[id] = to;
    if (to === id) table.add(key, id);
  }

  // 3. (libbpf 1.2 and later) forward declarations left: the one canonical struct or union of
  // their name
  const unique = new Map<string, number>(); // name → id, 0 when not unique
  for (let id = 1; id < n; id++) {
    const t = ty(id)!;
    if (!isComposite(t) || map[id] !== id) continue;
    const k = name(t.nameOff);
    unique.set(k, unique.has(k) ? 0 : id);
  }
  for (let id = 1; id < n && opts.resolveForwards; id++) {
    const t = ty(id)!;
    if (t.kind !== 'FWD' || map[id] !== id) continue;
    const c = unique.get(name(t.nameOff));
    if (c && ty(c)!.kind === fwdKind(t)) map[id] = c;
  }

  // 4. reference types, bottom-up
  const ref = (id: number): number => {
    if (map[id] === IN_PROGRESS) return fail(id, 'a cycle of reference types');
    if (mapped(id)) return resolve(id);
    const t = ty(id);
    if (t === undefined) return fail(id, 'no such type');
    map[id] = IN_PROGRESS;
    let key: string;
    let to: number;
    switch (t.kind) {
      case 'CONST': case 'VOLATILE': case 'RESTRICT': case 'PTR': case 'TYPEDEF': case 'FUNC': case 'TYPE_TAG': {
        const u = { ...t, sizeOrType: ref(t.sizeOrType) };
        types[id] = u;
        key = commonKey(u);
        to = table.candidates(key).find((c) => common(u, ty(c)!)) ?? id;
        break;
      }
      case 'DECL_TAG': {
        const u = { ...t, sizeOrType: ref(t.sizeOrType) };
        types[id] = u;
        key = `${commonKey(u)}|${u.componentIdx}`;
        to = table.candidates(key).find((c) => equalIntTag(u, ty(c)!)) ?? id;
        break;
      }
      case 'ARRAY': {
        const elemType = ref(t.elemType);
        const u = { ...t, elemType, indexType: ref(t.indexType) };
        types[id] = u;
        key = `${commonKey(u)}|${u.elemType}|${u.indexType}|${u.nelems}`;
        to = table.candidates(key).find((c) => equalArray(u, ty(c)!)) ?? id;
        break;
      }
      case 'FUNC_PROTO': {
        const ret = ref(t.sizeOrType);
        const u = { ...t, sizeOrType: ret, params: t.params.map((p) => ({ ...p, type: ref(p.type) })) };
        types[id] = u;
        key = `${commonKey(u)}|${u.params.map((p) => `${name(p.nameOff)}:${p.type}`).join(',')}`;
        to = table.candidates(key).find((c) => equalProto(u, ty(c)!)) ?? id;
        break;
      }
      default:
        return fail(id, `${t.kind} was not deduplicated before the reference types`);
    }
    map[id] = to;
    if (to === id) table.add(key, id);
    return to;
  }
  for (let id = 1; id < n; id++) ref(id);

  // 5. keep the canonical types, in order, and renumber
  const newId = new Int32Array(n).fill(-1);
  newId[0] = 0;
  const out: (BtfType | undefined)[] = [undefined];
  for (let id = 1; id < n; id++) {
    if (map[id] !== id) continue;
    newId[id] = out.length;
    out.push(types[id]);
  }
  const ids = new Uint32Array(n);
  for (let id = 1; id < n; id++) {
    const to = newId[resolve(id)]!;
    if (to < 0) return fail(id, 'resolves to a type that was not kept');
    ids[id] = to;
  }
  const remap = (r: number): number => {
    if (r < 0 || r >= n) return fail(r, 'reference out of range');
    return ids[r]!;
  };
  const renumbered = out.map((t) => (t === undefined ? t : renumber(t, remap)));
  return { btf: { ...btf, types: renumbered, firstId: 1 }, ids };
}

/** `t` with every type reference passed through `map`. */
export function renumber(t: BtfType, map: (id: number) => number): BtfType {
  switch (t.kind) {
    case 'INT': case 'ENUM': case 'ENUM64': case 'FWD': case 'FLOAT': return t;
    case 'ARRAY': return { ...t, elemType: map(t.elemType), indexType: map(t.indexType) };
    case 'STRUCT': case 'UNION': return { ...t, members: t.members.map((m) => ({ ...m, type: map(m.type) })) };
    case 'FUNC_PROTO': return { ...t, sizeOrType: map(t.sizeOrType), params: t.params.map((p) => ({ ...p, type: map(p.type) })) };
    case 'DATASEC': return { ...t, secinfo: t.secinfo.map((s) => ({ ...s, type: map(s.type) })) };
    default: return { ...t, sizeOrType: map(t.sizeOrType) };
  }
}
