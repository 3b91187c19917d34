/**
 * BTF deduplication: merge types that describe the same thing, keep the first of each, and
 * renumber — what a static linker needs after appending the BTF of several objects (libbpf's
 * `btf__dedup`, tools/lib/bpf/btf.c, run by its linker before writing `.BTF`).
 *
 * Two types are the same when they have the same kind, name and shape (sizes, encodings,
 * member names and offsets, enumerators, parameter names, linkage) and the types they refer
 * to are the same, recursively: the coarsest such partition of the type graph, found by
 * partition refinement (cycles through pointers are handled without special cases). As in
 * libbpf, a VAR or DATASEC is never merged with another, and a forward declaration whose name
 * belongs to exactly one struct (union) after merging resolves to it. The string section is
 * kept as it is (libbpf leaves a linker's strings alone: they were added once each).
 */
import { type Btf, type BtfType, btfString } from './btf.js';

export interface DedupResult {
  /** The merged BTF: the first type of each class, in their original order. */
  readonly btf: Btf;
  /** Old type id → new type id (0 → 0). */
  readonly ids: Uint32Array;
}

/** The type ids a type refers to, in a fixed order. */
function refs(t: BtfType): number[] {
  switch (t.kind) {
    case 'INT': case 'ENUM': case 'ENUM64': case 'FWD': case 'FLOAT': return [];
    case 'ARRAY': return [t.elemType, t.indexType];
    case 'STRUCT': case 'UNION': return t.members.map((m) => m.type);
    case 'FUNC_PROTO': return [t.sizeOrType, ...t.params.map((p) => p.type)];
    case 'DATASEC': return t.secinfo.map((s) => s.type);
    default: return [t.sizeOrType]; // PTR, TYPEDEF, modifiers, FUNC, VAR, DECL_TAG, TYPE_TAG
  }
}

/** Everything about a type but the types it refers to. */
function shape(btf: Btf, t: BtfType): string {
  const s = (off: number): string => JSON.stringify(btfString(btf, off));
  const head = `${t.kind}|${s(t.nameOff)}|${t.kindFlag ? 1 : 0}|${t.vlen}`;
  switch (t.kind) {
    case 'INT': return `${head}|${t.sizeOrType}|${t.intData}`;
    case 'ENUM': case 'ENUM64': return `${head}|${t.sizeOrType}|${t.values.map((v) => `${s(v.nameOff)}=${v.val}`).join(',')}`;
    case 'FWD': return head;
    case 'FLOAT': return `${head}|${t.sizeOrType}`;
    case 'ARRAY': return `${head}|${t.nelems}`;
    case 'STRUCT': case 'UNION': return `${head}|${t.sizeOrType}|${t.members.map((m) => `${s(m.nameOff)}@${m.offset}`).join(',')}`;
    case 'FUNC_PROTO': return `${head}|${t.params.map((p) => s(p.nameOff)).join(',')}`;
    case 'VAR': return `${head}|${t.linkage}`;
    case 'DATASEC': return `${head}|${t.sizeOrType}|${t.secinfo.map((v) => `${v.offset}:${v.size}`).join(',')}`;
    case 'DECL_TAG': return `${head}|${t.componentIdx}`;
    default: return head;
  }
}

/** Class of each id under the coarsest partition compatible with `initial` and the references. */
function refine(n: number, initial: readonly string[], edges: readonly (readonly number[])[]): Int32Array {
  let cls = new Int32Array(n);
  const first = new Map<string, number>();
  for (let id = 0; id < n; id++) {
    let c = first.get(initial[id]!);
    if (c === undefined) first.set(initial[id]!, (c = first.size));
    cls[id] = c;
  }
  let count = first.size;
  for (;;) {
    const seen = new Map<string, number>();
    const next = new Int32Array(n);
    for (let id = 0; id < n; id++) {
      const key = `${cls[id]}:${edges[id]!.map((r) => cls[r]).join(',')}`;
      let c = seen.get(key);
      if (c === undefined) seen.set(key, (c = seen.size));
      next[id] = c;
    }
    cls = next;
    if (seen.size === count) return cls;
    count = seen.size;
  }
}

/** Merge equal types of `btf` (no base BTF). */
export function dedupBtf(btf: Btf): DedupResult {
  const n = btf.types.length;
  const types = btf.types;
  const initial: string[] = ['void'];
  for (let id = 1; id < n; id++) {
    const t = types[id]!;
    // VARs and DATASECs are never merged (libbpf's dedup leaves them canonical).
    initial.push(t.kind === 'VAR' || t.kind === 'DATASEC' ? `#${id}` : shape(btf, t));
  }
  let edges = types.map((t) => (t === undefined ? [] : refs(t)));
  let cls = refine(n, initial, edges);

  // Forward declarations whose name has exactly one struct (union) class resolve to it.
  const byName = new Map<string, Set<number>>();
  const firstOf = new Map<number, number>();
  for (let id = 1; id < n; id++) {
    const t = types[id]!;
    if (!firstOf.has(cls[id]!)) firstOf.set(cls[id]!, id);
    if ((t.kind === 'STRUCT' || t.kind === 'UNION') && t.nameOff !== 0) {
      const key = `${t.kind === 'UNION' ? 'u' : 's'}:${btfString(btf, t.nameOff)}`;
      let set = byName.get(key);
      if (!set) byName.set(key, (set = new Set()));
      set.add(cls[id]!);
    }
  }
  const alias = new Int32Array(n).map((_, i) => i);
  let resolved = false;
  for (let id = 1; id < n; id++) {
    const t = types[id]!;
    if (t.kind !== 'FWD') continue;
    const set = byName.get(`${t.kindFlag ? 'u' : 's'}:${btfString(btf, t.nameOff)}`);
    if (set?.size === 1) {
      alias[id] = firstOf.get([...set][0]!)!;
      resolved = true;
    }
  }
  if (resolved) {
    edges = edges.map((e) => e.map((r) => alias[r]!));
    cls = refine(n, initial, edges);
  }

  // Keep the first id of each class; a resolved FWD takes its struct's.
  const keep = new Map<number, number>();
  const ids = new Uint32Array(n);
  const out: BtfType[] = [];
  for (let id = 1; id < n; id++) {
    const c = cls[alias[id]!]!;
    const have = keep.get(c);
    if (have !== undefined) {
      ids[id] = have;
      continue;
    }
    if (alias[id] !== id) continue; // mapped below, once its struct has an id
    out.push(types[id]!);
    keep.set(c, out.length);
    ids[id] = out.length;
  }
  for (let id = 1; id < n; id++) if (ids[id] === 0) ids[id] = keep.get(cls[alias[id]!]!)!;

  const remap = (r: number): number => ids[r]!;
  const renumbered: (BtfType | undefined)[] = [undefined, ...out.map((t) => renumber(t, remap))];
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
