/**
 * Special fields of a map value (kernel/bpf/btf.c btf_parse_fields, btf_get_field_type): the
 * members of the value's struct whose type is one of the kernel's named structs —
 * `struct bpf_spin_lock`, `bpf_res_spin_lock`, `bpf_timer`, `bpf_wq`, `bpf_task_work`, the
 * graph roots, `bpf_refcount` — found in the program's BTF through the map's
 * `btfValueTypeId` by the walk of btffields.ts. A map has a record only when it has BTF; the
 * record tells the verifier where each field is (`off ... doesn't point to 'struct
 * bpf_spin_lock' that is at 0`) and which bytes no load or store may touch.
 */
import type { Btf } from '@bpf/btf';
import type { MapDef } from '@bpf/isa';
import { btfRecord, FIELD_NAME, isKptr } from './btffields.js';
import type { Env } from './env.js';
import type { Reg } from './state.js';

/** btf_field_type_name of the non-kptr fields, which is also the struct's name. */
export type MapFieldKind =
  | 'bpf_spin_lock'
  | 'bpf_res_spin_lock'
  | 'bpf_timer'
  | 'bpf_wq'
  | 'bpf_task_work'
  | 'bpf_list_head'
  | 'bpf_list_node'
  | 'bpf_rb_root'
  | 'bpf_rb_node'
  | 'bpf_refcount';

export interface MapField {
  readonly kind: MapFieldKind;
  /** Byte offset in the value. */
  readonly off: number;
  readonly size: number;
}

/** The kernel's `struct btf_record` of a map value: its BTF and its special fields in offset order. */
export interface MapRecord {
  readonly btf: Btf;
  readonly valueTypeId: number;
  readonly fields: readonly MapField[];
}

/**
 * btf_parse_fields for a map's value type: the record's fields other than kptrs (see
 * btffields.ts for the rules; a failed walk leaves the map with BTF but no fields).
 */
export function parseMapRecord(btf: Btf, valueTypeId: number): MapRecord {
  const rec = btfRecord(btf, undefined, valueTypeId, 'map');
  const fields = (rec?.fields ?? []).filter((f) => !isKptr(f.type)).map((f) => ({ kind: FIELD_NAME[f.type] as MapFieldKind, off: f.off, size: f.size }));
  return { btf, valueTypeId, fields };
}

/** Records of the maps the verifier is running with (attached when it starts; see verify.ts). */
const records = new WeakMap<MapDef, MapRecord>();

/** The inner map of each map-in-map, as a lookup in it yields it. */
const metas = new WeakMap<MapDef, MapDef>();

/**
 * The inner map a lookup in a map-in-map gives (kernel/bpf/map_in_map.c bpf_map_meta_alloc:
 * the template's type, sizes, flags, special-field record and BTF, but no name), the same
 * object for every lookup in `outer`; undefined when `outer` has no inner definition.
 */
export function innerMapMeta(outer: MapDef & { readonly inner?: MapDef }): MapDef | undefined {
  if (!outer.inner) return undefined;
  let meta = metas.get(outer);
  if (!meta) metas.set(outer, (meta = { ...outer.inner, name: '' }));
  return meta;
}

/**
 * Give each map that has BTF (a value type in the program's BTF) its record, and so the inner
 * map of a map-in-map whose template has BTF (libbpf creates the template with it).
 */
export function attachMapRecords(outers: readonly MapDef[], btf: () => Btf | undefined): void {
  // each map, then its inner map's template (no arrays made per call: issue 25)
  for (let k = 0; k < outers.length; k++) {
    const m = outers[k]!;
    attachRecord(m, btf);
    const inner = innerMapMeta(m);
    if (inner) attachRecord(inner, btf);
  }
}

function attachRecord(m: MapDef, btf: () => Btf | undefined): void {
  if (m.btfValueTypeId === undefined || m.btfKeyTypeId === undefined) {
    records.delete(m);
    return;
  }
  const b = btf();
  const rec = b ? parseMapRecord(b, m.btfValueTypeId) : undefined;
  if (rec) records.set(m, rec);
  else records.delete(m);
}

/** The map's record, undefined when it has no BTF (the kernel's `!map->btf`). */
export const mapRecord = (map: MapDef | undefined): MapRecord | undefined => (map ? records.get(map) : undefined);

/** The field of a kind, if the map value has one. */
export const mapField = (map: MapDef | undefined, kind: MapFieldKind): MapField | undefined => mapRecord(map)?.fields.find((f) => f.kind === kind);

/** reg_may_point_to_spin_lock for a map value: its id must survive the null check. */
export const mayPointToSpinLock = (map: MapDef | undefined): boolean => mapRecord(map)?.fields.some((f) => f.kind === 'bpf_spin_lock' || f.kind === 'bpf_res_spin_lock') ?? false;

/**
 * check_map_access: no load, store or helper may touch a special field's bytes (kptr fields,
 * which loads may read, are not in the record here).
 */
export function checkMapFieldAccess(env: Env, pc: number, r: Reg, off: number, size: number): void {
  const rec = mapRecord(r.map);
  if (!rec) return;
  for (const field of rec.fields)
    if (r.smin + BigInt(off) < BigInt(field.off + field.size) && BigInt(field.off) < r.umax + BigInt(off + size)) env.reject(pc, `${field.kind} cannot be accessed directly by load/store`);
}
