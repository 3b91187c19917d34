/**
 * The special fields of a struct or of a global-data section (kernel/bpf/btf.c
 * btf_parse_fields and the btf_find_* walk under it), in one place for map values and for the
 * program's own allocated objects. The rules, as the 6.18 kernel applies them:
 * - A field is a member (or, for a DATASEC, a variable) whose type is, after arrays only (no
 *   typedef or modifier is looked through), a struct with one of the kernel's names
 *   (`bpf_spin_lock`, `bpf_timer`, `bpf_list_head`, ...) and exactly the kernel's size, at an
 *   offset aligned as the kernel's struct; or a pointer (optionally `volatile`) to a struct
 *   whose first type tag is `kptr`, `kptr_untrusted`, `percpu_kptr` or `uptr`.
 * - Any other struct member is searched in turn, at most 32 levels deep.
 * - Which kinds count depends on the holder: a map value takes every kind but list and rbtree
 *   nodes; an allocated object takes locks, graph heads and nodes, `bpf_refcount` and kptrs.
 * - The walk fails as a whole (the kernel's negative errno; the holder then has no record) for a
 *   second lock, timer, wq or task_work in one struct, more than 11 fields, nesting deeper than
 *   32, an array of fields that may not repeat, two type tags on a kptr, an unknown tag, a graph
 *   head without its `contains:` tag or lock, overlapping fields, both lock kinds, or list and
 *   rbtree nodes together without a `bpf_refcount`.
 */
import { btfString, findByName, resolveId, typeById, type Btf, type BtfType } from '@bpf/btf';

export type FieldType =
  | 'spin_lock'
  | 'res_spin_lock'
  | 'timer'
  | 'wq'
  | 'task_work'
  | 'list_head'
  | 'list_node'
  | 'rb_root'
  | 'rb_node'
  | 'refcount'
  | 'kptr_untrusted'
  | 'kptr'
  | 'percpu_kptr'
  | 'uptr';

/** A special field: where it is, and for kptrs the struct they point to (in the kernel's BTF or the program's own). */
export interface BtfField {
  readonly type: FieldType;
  readonly off: number;
  readonly size: number;
  readonly kptr?: { readonly struct: string; readonly local: boolean };
  /** A list head / rbtree root: the struct it holds (`contains:` decl tag) and the node member's offset in it. */
  readonly graph?: { readonly struct: string; readonly node: string; readonly nodeOff: number };
}

export interface BtfRecord {
  readonly fields: readonly BtfField[];
  /** The offset of the struct's bpf_spin_lock, if it has one. */
  readonly spinLockOff?: number;
}

/** Who holds the fields: a map value (map_check_btf's mask) or an allocated object (btf_parse_struct_metas's). */
export type FieldHolder = 'map' | 'object';

/** btf_get_field_type's table, with include/uapi/linux/bpf.h's size and alignment of each struct; `unique`: once per struct. */
const NAMED: Readonly<Record<string, { type: FieldType; size: number; align: number; unique: boolean }>> = {
  bpf_spin_lock: { type: 'spin_lock', size: 4, align: 4, unique: true },
  bpf_res_spin_lock: { type: 'res_spin_lock', size: 4, align: 4, unique: true },
  bpf_timer: { type: 'timer', size: 16, align: 8, unique: true },
  bpf_wq: { type: 'wq', size: 16, align: 8, unique: true },
  bpf_task_work: { type: 'task_work', size: 8, align: 8, unique: true },
  bpf_list_head: { type: 'list_head', size: 16, align: 8, unique: false },
  bpf_list_node: { type: 'list_node', size: 24, align: 8, unique: false },
  bpf_rb_root: { type: 'rb_root', size: 16, align: 8, unique: false },
  bpf_rb_node: { type: 'rb_node', size: 32, align: 8, unique: false },
  bpf_refcount: { type: 'refcount', size: 4, align: 4, unique: false },
};

/** btf_field_type_name: how messages name a field. */
export const FIELD_NAME: Readonly<Record<FieldType, string>> = {
  spin_lock: 'bpf_spin_lock',
  res_spin_lock: 'bpf_res_spin_lock',
  timer: 'bpf_timer',
  wq: 'bpf_wq',
  task_work: 'bpf_task_work',
  list_head: 'bpf_list_head',
  list_node: 'bpf_list_node',
  rb_root: 'bpf_rb_root',
  rb_node: 'bpf_rb_node',
  refcount: 'bpf_refcount',
  kptr_untrusted: 'kptr',
  kptr: 'kptr',
  percpu_kptr: 'kptr',
  uptr: 'uptr',
};

const KPTR_TAGS: Readonly<Record<string, FieldType>> = { kptr_untrusted: 'kptr_untrusted', kptr: 'kptr', percpu_kptr: 'percpu_kptr', uptr: 'uptr' };
export const isKptr = (t: FieldType): boolean => t === 'kptr' || t === 'kptr_untrusted' || t === 'percpu_kptr' || t === 'uptr';

const MASKS: Readonly<Record<FieldHolder, ReadonlySet<FieldType>>> = {
  map: new Set<FieldType>(['spin_lock', 'res_spin_lock', 'timer', 'kptr_untrusted', 'kptr', 'percpu_kptr', 'list_head', 'rb_root', 'refcount', 'wq', 'uptr', 'task_work']),
  object: new Set<FieldType>(['spin_lock', 'res_spin_lock', 'list_head', 'list_node', 'rb_root', 'rb_node', 'refcount', 'kptr_untrusted', 'kptr', 'percpu_kptr']),
};

/** BTF_FIELDS_MAX and MAX_RESOLVE_DEPTH. */
const FIELDS_MAX = 11;
const MAX_DEPTH = 32;

/** Kinds btf_repeat_fields lets an array hold more than once. */
const REPEATABLE: ReadonlySet<FieldType> = new Set<FieldType>(['kptr_untrusted', 'kptr', 'percpu_kptr', 'uptr', 'list_head', 'rb_root']);

/** The walk failed: the kernel's errno name. The holder then has no record. */
class FieldsError extends Error {}

interface Walk {
  readonly btf: Btf;
  readonly kernel: Btf | undefined;
  readonly mask: ReadonlySet<FieldType>;
  count: number;
}

const name = (btf: Btf, off: number): string => (off ? btfString(btf, off) : '');

function add(w: Walk, n: number): void {
  w.count += n;
  if (w.count > FIELDS_MAX) throw new FieldsError('E2BIG');
}

/** btf_find_decl_tag_value: the one `contains:` tag on member `idx` of `holder` (-1: the variable itself). */
function containsTag(btf: Btf, holder: number, idx: number): { struct: string; node: string } {
  let value: string | undefined;
  for (let k = btf.firstId; k < btf.types.length; k++) {
    const t = btf.types[k];
    if (t?.kind !== 'DECL_TAG' || t.sizeOrType !== holder || t.componentIdx !== idx) continue;
    const s = name(btf, t.nameOff);
    if (!s.startsWith('contains:')) continue;
    if (value !== undefined) throw new FieldsError('EEXIST');
    value = s.slice('contains:'.length);
  }
  if (value === undefined) throw new FieldsError('EINVAL');
  const colon = value.indexOf(':');
  if (colon < 0) throw new FieldsError('EINVAL');
  const node = value.slice(colon + 1);
  if (!node) throw new FieldsError('EINVAL');
  return { struct: value.slice(0, colon), node };
}

/** btf_parse_graph_root: the node member of the contained struct, of the node kind, aligned. */
function graphNodeOff(btf: Btf, struct: string, node: string, nodeType: string): number {
  const id = findByName(btf, struct, 'STRUCT')[0];
  const t = id === undefined ? undefined : typeById(btf, id);
  if (t?.kind !== 'STRUCT') throw new FieldsError('ENOENT');
  let found: number | undefined;
  for (const m of t.members) {
    if (name(btf, m.nameOff) !== node) continue;
    if (found !== undefined) throw new FieldsError('EINVAL');
    const n = typeById(btf, m.type);
    if (n?.kind !== 'STRUCT' || name(btf, n.nameOff) !== nodeType) throw new FieldsError('EINVAL');
    const bits = n.kindFlag ? m.offset & 0xffffff : m.offset;
    if (bits % 8 || (bits / 8) % 8) throw new FieldsError('EINVAL');
    found = bits / 8;
  }
  if (found === undefined) throw new FieldsError('ENOENT');
  return found;
}

/** btf_find_kptr: a pointer whose pointee is one known type tag over a struct (undefined: not a kptr). */
function kptrField(w: Walk, t: BtfType, off: number): BtfField | undefined {
  const { btf } = w;
  let p: BtfType | undefined = t;
  if (p.kind === 'VOLATILE') p = typeById(btf, p.sizeOrType);
  if (p?.kind !== 'PTR') return undefined;
  const tag = typeById(btf, p.sizeOrType);
  if (tag?.kind !== 'TYPE_TAG' || tag.kindFlag) return undefined;
  if (typeById(btf, tag.sizeOrType)?.kind === 'TYPE_TAG') throw new FieldsError('EINVAL');
  const type = KPTR_TAGS[name(btf, tag.nameOff)];
  if (!type) throw new FieldsError('EINVAL');
  if (!w.mask.has(type)) return undefined;
  const to = typeById(btf, resolveId(btf, tag.sizeOrType));
  if (to?.kind !== 'STRUCT') throw new FieldsError('EINVAL');
  const struct = name(btf, to.nameOff);
  // btf_parse_kptr: the kernel's struct of that name, else the program's own (an allocated object)
  const local = !w.kernel || findByName(w.kernel, struct, 'STRUCT').length === 0;
  return { type, off, size: 8, kptr: { struct, local } };
}

/** btf_repeat_fields: `fields` once per element of an `n`-element array of `elemSize`-byte elements. */
function repeat(w: Walk, fields: BtfField[], n: number, elemSize: number): BtfField[] {
  if (n === 1 || fields.length === 0) return fields;
  if (fields.some((f) => !REPEATABLE.has(f.type))) throw new FieldsError('EINVAL');
  add(w, fields.length * (n - 1));
  const out: BtfField[] = [];
  for (let e = 0; e < n; e++) for (const f of fields) out.push({ ...f, off: f.off + e * elemSize });
  return out;
}

/**
 * btf_find_field_one: the fields of one member (`holder`'s member `idx`) or variable (`idx` -1)
 * of type `typeId` at `off`; `expected` is a variable's size (0 for a member).
 */
function fieldOne(w: Walk, holder: number, idx: number, typeId: number, off: number, expected: number, seen: Set<FieldType>, level: number): BtfField[] {
  const { btf } = w;
  let id = typeId;
  let t = typeById(btf, id);
  let n = 1;
  let i = 0;
  for (; i < MAX_DEPTH && t?.kind === 'ARRAY'; i++) {
    n *= t.nelems;
    id = t.elemType;
    t = typeById(btf, id);
  }
  if (i === MAX_DEPTH) throw new FieldsError('E2BIG');
  if (n === 0 || !t) return [];
  // btf_get_field_type: by name first, then any non-struct may be a kptr
  const named = NAMED[name(btf, t.nameOff)];
  let kind: 'named' | 'kptr' | undefined;
  if (named && w.mask.has(named.type)) {
    if (named.unique) {
      if (seen.has(named.type)) throw new FieldsError('E2BIG');
      seen.add(named.type);
    }
    kind = 'named';
  } else if (t.kind !== 'STRUCT' && (w.mask.has('kptr') || w.mask.has('uptr'))) kind = 'kptr';
  if (!kind) {
    if (t.kind !== 'STRUCT') return [];
    if (expected && expected !== t.sizeOrType * n) return [];
    if (level + 1 >= MAX_DEPTH) throw new FieldsError('E2BIG');
    const inner = structFields(w, id, level + 1).map((f) => ({ ...f, off: f.off + off }));
    return repeat(w, inner, n, t.sizeOrType);
  }
  const size = kind === 'kptr' ? 8 : named!.size;
  const align = kind === 'kptr' ? 8 : named!.align;
  if ((expected && expected !== size * n) || off % align) return [];
  let f: BtfField | undefined;
  if (kind === 'kptr') f = kptrField(w, t, off);
  else if (t.kind === 'STRUCT' && t.sizeOrType === size) {
    f = { type: named!.type, off, size };
    if (named!.type === 'list_head' || named!.type === 'rb_root') {
      const c = containsTag(btf, holder, idx);
      const nodeOff = graphNodeOff(btf, c.struct, c.node, named!.type === 'list_head' ? 'bpf_list_node' : 'bpf_rb_node');
      f = { ...f, graph: { ...c, nodeOff } };
    }
  }
  if (!f) return [];
  add(w, 1);
  return repeat(w, [f], n, size);
}

/** btf_find_struct_field: every member of struct `id`, each with its own uniqueness set level. */
function structFields(w: Walk, id: number, level: number): BtfField[] {
  const t = typeById(w.btf, id);
  if (t?.kind !== 'STRUCT') return [];
  const seen = new Set<FieldType>();
  const out: BtfField[] = [];
  t.members.forEach((m, idx) => {
    const bits = t.kindFlag ? m.offset & 0xffffff : m.offset;
    if (bits % 8) throw new FieldsError('EINVAL');
    out.push(...fieldOne(w, id, idx, m.type, bits / 8, 0, seen, level));
  });
  return out;
}

/** btf_find_datasec_var: each variable like a member, with its size checked against the field's. */
function datasecFields(w: Walk, t: BtfType & { kind: 'DATASEC' }): BtfField[] {
  const seen = new Set<FieldType>();
  const out: BtfField[] = [];
  for (const v of t.secinfo) {
    const vt = typeById(w.btf, v.type);
    if (vt?.kind === 'VAR') out.push(...fieldOne(w, v.type, -1, vt.sizeOrType, v.offset, v.size, seen, 0));
  }
  return out;
}

/** btf_parse_fields' checks of the whole set. */
function checkRecord(fields: readonly BtfField[]): void {
  let next = 0;
  for (const f of fields) {
    if (f.off < next) throw new FieldsError('EEXIST');
    next = f.off + f.size;
  }
  const has = (t: FieldType): boolean => fields.some((f) => f.type === t);
  if (has('spin_lock') && has('res_spin_lock')) throw new FieldsError('EINVAL');
  if ((has('list_head') || has('rb_root')) && !has('spin_lock') && !has('res_spin_lock')) throw new FieldsError('EINVAL');
  if (!has('refcount') && has('list_node') && has('rb_node')) throw new FieldsError('EINVAL');
}

/** Records by program BTF, then by kernel BTF (a kptr's `local` depends on it), then by holder and id. */
const cache = new WeakMap<Btf, Map<Btf | undefined, Map<string, BtfRecord | undefined>>>();

/**
 * btf_parse_fields for type `id` of `btf` (typedefs and modifiers of `id` itself resolved, as
 * btf_type_id_size does for a map value), cached: undefined when there is no special field or
 * when the kernel's walk fails.
 */
export function btfRecord(btf: Btf, kernel: Btf | undefined, id: number, holder: FieldHolder): BtfRecord | undefined {
  let byKernel = cache.get(btf);
  if (!byKernel) cache.set(btf, (byKernel = new Map<Btf | undefined, Map<string, BtfRecord | undefined>>()));
  let byId = byKernel.get(kernel);
  if (!byId) byKernel.set(kernel, (byId = new Map<string, BtfRecord | undefined>()));
  const key = `${holder}:${id}`;
  if (byId.has(key)) return byId.get(key);
  let rec: BtfRecord | undefined;
  try {
    const w: Walk = { btf, kernel, mask: MASKS[holder], count: 0 };
    const top = resolveId(btf, id);
    const t = typeById(btf, top);
    const fields = t?.kind === 'DATASEC' ? datasecFields(w, t) : t?.kind === 'STRUCT' ? structFields(w, top, 0) : [];
    checkRecord(fields);
    fields.sort((a, b) => a.off - b.off);
    const lock = fields.find((f) => f.type === 'spin_lock');
    rec = fields.length ? { fields, ...(lock ? { spinLockOff: lock.off } : {}) } : undefined;
  } catch (e) {
    if (!(e instanceof FieldsError)) throw e;
    rec = undefined;
  }
  byId.set(key, rec);
  return rec;
}

/** alloc_obj_fields: a struct with a member of one of these (first STRUCT of the name) is parsed at BTF load. */
const ALLOC_OBJ_FIELDS = ['bpf_spin_lock', 'bpf_list_head', 'bpf_list_node', 'bpf_rb_root', 'bpf_rb_node', 'bpf_refcount'];
const KPTR_ONLY: ReadonlySet<FieldType> = new Set<FieldType>(['kptr_untrusted', 'kptr', 'percpu_kptr']);

const metasRefused = new WeakMap<Btf, Map<Btf | undefined, number | undefined>>();

/**
 * What BPF_BTF_LOAD's btf_parse_struct_metas (kernel/bpf/btf.c) says of a program's BTF: the
 * id of the first struct whose special fields the kernel cannot parse, or undefined when it can
 * parse them all. The kernel parses every struct that has a member whose type is one of the
 * `alloc_obj_fields` structs (a spin lock, a list or rbtree head or node, a refcount) or a kptr
 * pointer, as an allocated object's fields; a struct that yields no record (two spin locks, a
 * misaligned lock, more than 11 fields, a list head without its `contains:` tag, ...) fails the
 * whole load, and libbpf then loads the object without its BTF. (The ownership-cycle check that
 * follows, btf_check_and_fixup_fields, is not modelled.)
 */
export function structMetasRefused(btf: Btf, kernel: Btf | undefined): number | undefined {
  let byKernel = metasRefused.get(btf);
  if (!byKernel) metasRefused.set(btf, (byKernel = new Map<Btf | undefined, number | undefined>()));
  if (byKernel.has(kernel)) return byKernel.get(kernel);
  const marks = new Set<number>();
  for (const n of ALLOC_OBJ_FIELDS) {
    const id = findByName(btf, n, 'STRUCT')[0];
    if (id !== undefined) marks.add(id);
  }
  const w: Walk = { btf, kernel, mask: KPTR_ONLY, count: 0 };
  for (let id = btf.firstId; id < btf.types.length; id++) {
    const t = btf.types[id];
    if (!t) continue;
    try {
      // btf_find_kptr(..., BPF_KPTR): an error there only means "not a kptr"
      if (kptrField(w, t, 0)) marks.add(id);
    } catch (e) {
      if (!(e instanceof FieldsError)) throw e;
    }
  }
  let refused: number | undefined;
  if (marks.size > 0) {
    for (let id = btf.firstId; id < btf.types.length && refused === undefined; id++) {
      const t = btf.types[id];
      if (t?.kind !== 'STRUCT' || !t.members.some((m) => marks.has(m.type))) continue;
      if (!btfRecord(btf, kernel, id, 'object')) refused = id;
    }
  }
  byKernel.set(kernel, refused);
  return refused;
}
