/**
 * The view of BTF this package needs, by type id, in the kernel's own terms
 * (include/uapi/linux/btf.h). `@bpf/btf` parses BTF; an adapter from its type graph to this
 * table is all the glue the BTF-dependent stages (BTF-defined maps, externs, CO-RE) need,
 * so this package never parses BTF bytes itself.
 */
export interface BtfMember {
  readonly name: string;
  readonly type: number;
  /** Bit offset from the start of the struct. */
  readonly bitOffset: number;
  /** Bitfield width in bits; 0 for a normal member. */
  readonly bitfieldSize: number;
}

export type BtfTypeInfo =
  | { readonly kind: 'void' }
  | { readonly kind: 'int'; readonly name: string; readonly size: number; readonly signed: boolean; readonly bits: number; readonly bitOffset: number; /** BTF_INT_BOOL encoding (`_Bool`) */ readonly bool?: boolean }
  | { readonly kind: 'ptr'; readonly type: number }
  | { readonly kind: 'array'; readonly elemType: number; readonly nelems: number }
  | { readonly kind: 'struct' | 'union'; readonly name: string; readonly size: number; readonly members: readonly BtfMember[] }
  | { readonly kind: 'enum' | 'enum64'; readonly name: string; readonly size: number; readonly signed: boolean; readonly values: readonly { readonly name: string; readonly value: bigint }[] }
  | { readonly kind: 'fwd'; readonly name: string; readonly union: boolean }
  | { readonly kind: 'typedef' | 'volatile' | 'const' | 'restrict' | 'type_tag'; readonly name: string; readonly type: number }
  | { readonly kind: 'func'; readonly name: string; readonly type: number; readonly linkage: 'static' | 'global' | 'extern' }
  | { readonly kind: 'func_proto'; readonly ret: number; readonly params: readonly { readonly name: string; readonly type: number }[] }
  | { readonly kind: 'var'; readonly name: string; readonly type: number; readonly linkage: 'static' | 'global' | 'extern' }
  | { readonly kind: 'datasec'; readonly name: string; readonly size: number; readonly vars: readonly { readonly type: number; readonly offset: number; readonly size: number }[] }
  | { readonly kind: 'float'; readonly name: string; readonly size: number }
  | { readonly kind: 'decl_tag'; readonly name: string; readonly type: number; readonly componentIdx: number };

export type BtfKind = BtfTypeInfo['kind'];

/** Types by id; id 0 is void. */
export interface BtfTypeTable {
  /** Number of ids (valid ids are 0 .. count - 1). */
  readonly count: number;
  type(id: number): BtfTypeInfo | undefined;
  /**
   * What `indexByName` builds, read by a faster way when the table has one (btfadapter.ts: from
   * the type section, without converting every type); undefined when it cannot.
   */
  namesByKind?(kinds: readonly BtfKind[]): Map<string, number[]> | undefined;
  /**
   * Look-ups of single names for some kinds, without the whole index (btfadapter.ts: a hash
   * index over the type section): the ids `indexByName` would give for a name, and (`flavors`)
   * the ids of the types whose essential name is the one given, both in id order; undefined
   * when the table cannot.
   */
  nameLookup?(kinds: readonly BtfKind[]): NameLookup | undefined;
}

/** Ids by name, one name at a time (see `BtfTypeTable.nameLookup`). */
export interface NameLookup {
  ids(name: string): readonly number[];
  flavors(essentialName: string): readonly number[];
}

/** A table over a plain array (index = id; index 0 should be `{ kind: 'void' }`). */
export const typeTable = (types: readonly BtfTypeInfo[]): BtfTypeTable => ({ count: types.length, type: (id) => types[id] });

export const typeName = (t: BtfTypeInfo): string => ('name' in t ? t.name : '');

const MAX_RESOLVE_DEPTH = 32; // libbpf's bound on typedef/modifier chains

/** Follow typedefs and modifiers (libbpf: skip_mods_and_typedefs). */
export function skipModsAndTypedefs(btf: BtfTypeTable, id: number): { id: number; t: BtfTypeInfo } | undefined {
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const t = btf.type(id);
    if (!t) return undefined;
    if (t.kind === 'typedef' || t.kind === 'volatile' || t.kind === 'const' || t.kind === 'restrict' || t.kind === 'type_tag') id = t.type;
    else return { id, t };
  }
  return undefined;
}

/** Size in bytes of a type (libbpf: btf__resolve_size); undefined for sizeless or looping types. */
export function resolveSize(btf: BtfTypeTable, id: number): number | undefined {
  let mult = 1;
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const s = skipModsAndTypedefs(btf, id);
    if (!s) return undefined;
    const t = s.t;
    switch (t.kind) {
      case 'int': case 'struct': case 'union': case 'enum': case 'enum64': case 'float': case 'datasec':
        return mult * t.size;
      case 'ptr':
        return mult * 8;
      case 'array':
        mult *= t.nelems;
        id = t.elemType;
        continue;
      default:
        return undefined;
    }
  }
  return undefined;
}

const indexCache = new WeakMap<BtfTypeTable, Map<string, ReadonlyMap<string, readonly number[]>>>();

/** Ids by name for some kinds; built once per table and set of kinds (vmlinux has ~130k types). */
export function indexByName(btf: BtfTypeTable, kinds: readonly BtfKind[]): ReadonlyMap<string, readonly number[]> {
  const key = kinds.join(',');
  let perTable = indexCache.get(btf);
  if (!perTable) indexCache.set(btf, (perTable = new Map<string, ReadonlyMap<string, readonly number[]>>()));
  const hit = perTable.get(key);
  if (hit) return hit;
  const lookup = btf.nameLookup?.(kinds);
  const built = lookup ? new LazyNameIndex(btf, lookup, () => btf.namesByKind?.(kinds) ?? buildIndex(btf, kinds)) : (btf.namesByKind?.(kinds) ?? buildIndex(btf, kinds));
  perTable.set(key, built);
  return built;
}

/**
 * `indexByName`'s map for a table that looks names up one at a time: `get` asks for the one
 * name (a one-shot CO-RE link asks for a few hundred of the kernel's ~130k names), and the whole
 * map is built only when something iterates it.
 */
export class LazyNameIndex implements ReadonlyMap<string, readonly number[]> {
  private readonly got = new Map<string, readonly number[] | undefined>();
  private whole?: ReadonlyMap<string, readonly number[]>;
  constructor(
    readonly table: BtfTypeTable,
    readonly lookup: NameLookup,
    private readonly build: () => ReadonlyMap<string, readonly number[]>,
  ) {}
  get(name: string): readonly number[] | undefined {
    // (a nameless type is in no index)
    if (name === '') return undefined;
    if (this.got.has(name)) return this.got.get(name);
    const ids = this.lookup.ids(name);
    const v = ids.length ? ids : undefined;
    this.got.set(name, v);
    return v;
  }
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
  private all(): ReadonlyMap<string, readonly number[]> {
    return (this.whole ??= this.build());
  }
  get size(): number {
    return this.all().size;
  }
  forEach(f: (ids: readonly number[], name: string, map: ReadonlyMap<string, readonly number[]>) => void, thisArg?: unknown): void {
    this.all().forEach((ids, name) => f.call(thisArg, ids, name, this));
  }
  entries(): MapIterator<[string, readonly number[]]> {
    return this.all().entries();
  }
  keys(): MapIterator<string> {
    return this.all().keys();
  }
  values(): MapIterator<readonly number[]> {
    return this.all().values();
  }
  [Symbol.iterator](): MapIterator<[string, readonly number[]]> {
    return this.all()[Symbol.iterator]();
  }
}

function buildIndex(btf: BtfTypeTable, kinds: readonly BtfKind[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (let id = 1; id < btf.count; id++) {
    const t = btf.type(id);
    if (!t || !kinds.includes(t.kind)) continue;
    const n = typeName(t);
    if (!n) continue;
    const l = out.get(n);
    if (l) l.push(id);
    else out.set(n, [id]);
  }
  return out;
}
