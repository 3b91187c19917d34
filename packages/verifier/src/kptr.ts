/**
 * Special fields of map values and allocated objects, and kptrs (kernel/bpf/btf.c
 * btf_parse_fields, kernel/bpf/verifier.c check_map_access, check_map_kptr_access,
 * btf_ld_kptr_type, process_kptr_func, map_kptr_match_type): the fields a struct's BTF
 * declares — `struct bpf_spin_lock`, `bpf_timer`, list and rbtree heads and nodes,
 * `bpf_refcount`, and pointers tagged `kptr`, `kptr_untrusted`, `percpu_kptr` or `uptr` —
 * what loads and stores may do with them, and what `bpf_kptr_xchg` takes and gives.
 */
import { btfString, findByName, resolveId, typeById, type Btf, type BtfType } from '@bpf/btf';
import type { MapDef } from '@bpf/isa';
import type { Env } from './env.js';
import { inRcuCs } from './iter.js';
import { btfPtr, btfPtrType, type BtfPtrFlag } from './nullable.js';
import { regTypeStr } from './print.js';
import { pointer, type Reg, type State } from './state.js';
import { tnumIsConst } from './tnum.js';

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

/** btf_get_field_type's table: struct names that are special fields. */
const NAMED: Readonly<Record<string, FieldType>> = {
  bpf_spin_lock: 'spin_lock',
  bpf_res_spin_lock: 'res_spin_lock',
  bpf_timer: 'timer',
  bpf_wq: 'wq',
  bpf_task_work: 'task_work',
  bpf_list_head: 'list_head',
  bpf_list_node: 'list_node',
  bpf_rb_root: 'rb_root',
  bpf_rb_node: 'rb_node',
  bpf_refcount: 'refcount',
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

const name = (btf: Btf, off: number): string => (off ? btfString(btf, off) : '');

/** The `contains:<struct>:<node>` decl tag on member `idx` of struct `id`. */
function containsTag(btf: Btf, id: number, idx: number): { struct: string; node: string } | undefined {
  for (let k = btf.firstId; k < btf.types.length; k++) {
    const t = btf.types[k];
    if (t?.kind !== 'DECL_TAG' || t.sizeOrType !== id || t.componentIdx !== idx) continue;
    const m = /^contains:([^:]+):(.+)$/.exec(name(btf, t.nameOff));
    if (m) return { struct: m[1]!, node: m[2]! };
  }
  return undefined;
}

/** A member's byte offset in the struct that holds it. */
const memberOff = (offset: number, kflag: boolean): number => (kflag ? offset & 0xffffff : offset) / 8;

/** The offset of member `node` in struct `struct` of `btf`. */
function nodeOffset(btf: Btf, struct: string, node: string): number {
  const id = findByName(btf, struct, 'STRUCT')[0];
  const t = id === undefined ? undefined : typeById(btf, id);
  if (t?.kind !== 'STRUCT') return 0;
  const m = t.members.find((x) => name(btf, x.nameOff) === node);
  return m ? memberOff(m.offset, t.kindFlag) : 0;
}

/** btf_find_kptr: a pointer whose pointee carries one of the kptr type tags. */
function kptrField(btf: Btf, kernel: Btf | undefined, typeId: number, off: number): BtfField | undefined {
  let t = typeById(btf, typeId);
  if (t?.kind === 'VOLATILE') t = typeById(btf, t.sizeOrType);
  if (t?.kind !== 'PTR') return undefined;
  const tag = typeById(btf, t.sizeOrType);
  if (tag?.kind !== 'TYPE_TAG' || tag.kindFlag) return undefined;
  const type = KPTR_TAGS[name(btf, tag.nameOff)];
  if (!type) return undefined;
  const to = typeById(btf, resolveId(btf, tag.sizeOrType));
  if (to?.kind !== 'STRUCT') return undefined;
  const struct = name(btf, to.nameOff);
  // btf_parse_kptr: the kernel's struct of that name, else the program's own (an allocated object)
  const local = !kernel || findByName(kernel, struct, 'STRUCT').length === 0;
  return { type, off, size: 8, kptr: { struct, local } };
}

/**
 * btf_find_field_one: the special fields of one member (or global variable) of type `typeId` at
 * `off`; `holder`/`idx` name it for its `contains:` decl tag (a VAR and -1 for a variable).
 */
function collectOne(btf: Btf, kernel: Btf | undefined, typeId: number, off: number, holder: number, idx: number, out: BtfField[], depth: number): void {
  const k = kptrField(btf, kernel, typeId, off);
  if (k) {
    out.push(k);
    return;
  }
  let mid = resolveId(btf, typeId);
  let n = 1;
  for (let a = typeById(btf, mid); a?.kind === 'ARRAY'; a = typeById(btf, mid)) {
    n *= a.nelems;
    mid = resolveId(btf, a.elemType);
  }
  const mt = typeById(btf, mid);
  if (mt?.kind !== 'STRUCT' && mt?.kind !== 'UNION') return;
  const special = mt.kind === 'STRUCT' ? NAMED[name(btf, mt.nameOff)] : undefined;
  for (let e = 0; e < n; e++) {
    const at = off + e * mt.sizeOrType;
    if (!special) {
      collect(btf, kernel, mid, at, out, depth + 1);
      continue;
    }
    const f: BtfField = { type: special, off: at, size: mt.sizeOrType };
    if (special === 'list_head' || special === 'rb_root') {
      const c = containsTag(btf, holder, idx);
      out.push(c ? { ...f, graph: { ...c, nodeOff: nodeOffset(btf, c.struct, c.node) } } : f);
    } else out.push(f);
  }
}

/** btf_find_struct_field and btf_find_nested_struct: the special fields of struct `id`, nested structs and arrays included. */
function collect(btf: Btf, kernel: Btf | undefined, id: number, base: number, out: BtfField[], depth: number): void {
  const t = typeById(btf, id);
  if ((t?.kind !== 'STRUCT' && t?.kind !== 'UNION') || depth > 8) return;
  t.members.forEach((m, idx) => collectOne(btf, kernel, m.type, base + memberOff(m.offset, t.kindFlag), id, idx, out, depth));
}

/** Fields a value may hold once (btf_get_field_type's `unique`). */
const UNIQUE_FIELDS: ReadonlySet<string> = new Set(['spin_lock', 'res_spin_lock', 'timer', 'wq', 'task_work']);

/**
 * btf_find_datasec_var: a global-data map's variables, each one like a struct member. A unique
 * field seen twice fails the walk (-E2BIG): the running kernel then keeps the map's BTF with no
 * record (`map '.data.dup' has no valid bpf_spin_lock`).
 */
function collectDatasec(btf: Btf, kernel: Btf | undefined, t: BtfType & { kind: 'DATASEC' }, out: BtfField[]): void {
  for (const v of t.secinfo) {
    const vt = typeById(btf, v.type);
    if (vt?.kind === 'VAR') collectOne(btf, kernel, vt.sizeOrType, v.offset, v.type, -1, out, 0);
  }
  const seen = new Set<string>();
  for (const f of out) {
    if (!UNIQUE_FIELDS.has(f.type)) continue;
    if (seen.has(f.type)) {
      out.length = 0;
      return;
    }
    seen.add(f.type);
  }
}

const records = new WeakMap<Btf, Map<number, BtfRecord | undefined>>();

/** btf_parse_fields for struct `id` of `btf` (cached): undefined when it has no special field. */
export function btfRecord(btf: Btf, kernel: Btf | undefined, id: number): BtfRecord | undefined {
  let byId = records.get(btf);
  if (!byId) records.set(btf, (byId = new Map<number, BtfRecord | undefined>()));
  if (byId.has(id)) return byId.get(id);
  const fields: BtfField[] = [];
  const t = typeById(btf, resolveId(btf, id));
  if (t?.kind === 'DATASEC') collectDatasec(btf, kernel, t, fields);
  else collect(btf, kernel, resolveId(btf, id), 0, fields, 0);
  fields.sort((a, b) => a.off - b.off);
  const lock = fields.find((f) => f.type === 'spin_lock');
  const rec = fields.length ? { fields, ...(lock ? { spinLockOff: lock.off } : {}) } : undefined;
  byId.set(id, rec);
  return rec;
}

/** Records of the maps seen so far (a map's value type does not change during a run). */
const mapRecords = new WeakMap<MapDef, BtfRecord | null>();

/** The record of a map's value type (map->record), from the program's BTF. */
export function mapRecord(env: Env, map: MapDef): BtfRecord | undefined {
  const seen = mapRecords.get(map);
  if (seen !== undefined) return seen ?? undefined;
  const btf = env.load.progBtf();
  const rec = btf && map.btfValueTypeId !== undefined ? btfRecord(btf, env.load.kernelBtf, map.btfValueTypeId) : undefined;
  mapRecords.set(map, rec ?? null);
  return rec;
}

/** The record of an allocated object's struct (the program's BTF, by name). */
export function objRecord(env: Env, struct: string): BtfRecord | undefined {
  const btf = env.load.progBtf();
  const id = btf ? findByName(btf, struct, 'STRUCT')[0] : undefined;
  return btf && id !== undefined ? btfRecord(btf, env.load.kernelBtf, id) : undefined;
}

/** check_map_access's walk of the record: which fields an access of [off, off+size) may touch. */
export function checkFieldAccess(env: Env, pc: number, rec: BtfRecord | undefined, r: Reg, off: number, size: number, helper: boolean): BtfField | undefined {
  if (!rec) return undefined;
  const lo = r.smin + BigInt(off);
  const hi = r.umax + BigInt(off + size);
  for (const f of rec.fields) {
    if (!(lo < BigInt(f.off + f.size) && BigInt(f.off) < hi)) continue;
    const fname = FIELD_NAME[f.type];
    if (!isKptr(f.type)) env.reject(pc, `${fname} cannot be accessed directly by load/store`);
    if (helper) env.reject(pc, `${fname} cannot be accessed indirectly by helper`);
    if (!tnumIsConst(r.var)) env.reject(pc, `${fname} access cannot have variable offset`);
    const at = BigInt(off) + r.var.value;
    if (BigInt(f.off) !== at) env.reject(pc, `${fname} access misaligned expected=${f.off} off=${at}`);
    if (size !== 8) env.reject(pc, `${fname} access size must be BPF_DW`);
  }
  if (!tnumIsConst(r.var)) return undefined;
  const at = off + Number(r.var.value);
  return rec.fields.find((f) => f.off === at && isKptr(f.type));
}

/** verifier.c rcu_protected_types: kernel structs whose kptrs may be read as RCU pointers. */
const RCU_PROTECTED = new Set(['prog_test_ref_kfunc', 'cgroup', 'bpf_cpumask', 'task_struct', 'bpf_crypto_ctx']);

/** How an allocated object of `struct` prints its nodes: carries its size, which marks it MEM_ALLOC. */
function structSize(env: Env, struct: string): number {
  const btf = env.load.progBtf();
  const id = btf ? findByName(btf, struct, 'STRUCT')[0] : undefined;
  const t = btf && id !== undefined ? typeById(btf, id) : undefined;
  return t?.kind === 'STRUCT' ? t.sizeOrType : 0;
}

/** An allocated object's register fields (MEM_ALLOC travels as memSize). */
export const allocated = (env: Env, struct: string): { memSize: number; allocLock?: number } => {
  const lock = objRecord(env, struct)?.spinLockOff;
  return { memSize: structSize(env, struct), ...(lock !== undefined ? { allocLock: lock } : {}) };
};

/**
 * check_map_kptr_access: a load gives the kptr's pointer (btf_ld_kptr_type), a store of a
 * referenced kptr is refused, an unreferenced one takes NULL or a pointer of its type.
 */
export function kptrAccess(env: Env, st: State, pc: number, f: BtfField, a: { write: boolean; atomic: boolean; value?: Reg; valueRegno?: number; stImm?: number }): Reg | undefined {
  if (a.atomic) env.reject(pc, 'kptr in map can only be accessed using BPF_MEM instruction mode');
  const ref = f.type === 'kptr' || f.type === 'percpu_kptr';
  if (a.write && ref) env.reject(pc, 'store to referenced kptr disallowed');
  if (a.write && f.type === 'uptr') env.reject(pc, 'store to uptr disallowed');
  if (a.write) {
    if (a.value === undefined) {
      if (a.stImm) env.reject(pc, `BPF_ST imm must be 0 when storing to kptr at off=${f.off}`);
      return undefined;
    }
    const v = a.value;
    // NULL clears the field; the running 6.18 kernel marks that register precise (its log backtracks it)
    if (v.type === 'scalar' && tnumIsConst(v.var) && v.var.value === 0n) env.precise(a.valueRegno!);
    else kptrMatchType(env, pc, f, v, a.valueRegno!);
    return undefined;
  }
  const k = f.kptr!;
  if (f.type === 'uptr') return pointer('mem_or_null', { id: env.nextId(), memSize: structSize(env, k.struct) });
  const rcuSafe = f.type === 'percpu_kptr' || (f.type === 'kptr' && (k.local || RCU_PROTECTED.has(k.struct)));
  let flag: BtfPtrFlag = 'untrusted_';
  let extra: Partial<Reg> = {};
  if (rcuSafe && inRcuCs(env, st)) {
    flag = f.type === 'percpu_kptr' ? 'percpu_rcu_' : 'rcu_';
    if (k.local) extra = allocated(env, k.struct);
  }
  return pointer(btfPtrType(k.struct, flag, true), { id: env.nextId(), ...extra });
}

/** map_kptr_match_type: what may be stored into (or exchanged with) a kptr field. */
export function kptrMatchType(env: Env, pc: number, f: BtfField, r: Reg, regno: number): void {
  const k = f.kptr!;
  const b = btfPtr(r.type);
  const local = r.memSize !== undefined;
  const allowed: readonly string[] = local ? (f.type === 'percpu_kptr' ? ['', 'percpu_'] : ['']) : f.type === 'kptr_untrusted' ? ['', 'trusted_', 'rcu_', 'untrusted_'] : ['', 'trusted_', 'rcu_'];
  const ok = b !== undefined && allowed.includes(b.flag) && b.struct === k.struct && local === k.local && r.off === 0 && tnumIsConst(r.var) && r.var.value === 0n;
  if (ok) return;
  const target = k.struct;
  const untrusted = f.type === 'kptr_untrusted' ? ` or untrusted_ptr_${target}` : '';
  const have = b ? regTypeStr({ ...r, id: undefined, refObjId: undefined } as Reg).replace(/\(.*$/, '') : regTypeStr(r).replace(/\(.*$/, '');
  env.reject(pc, `invalid kptr access, R${regno} type=${have} expected=ptr_${target}${untrusted}`);
}

/** process_kptr_func: bpf_kptr_xchg's first argument, a referenced kptr field of a map value or allocated object. */
export function kptrXchgDest(env: Env, pc: number, regno: number, r: Reg): BtfField {
  let rec: BtfRecord | undefined;
  if (r.type === 'map_value') {
    const map = r.map!;
    if (map.btfValueTypeId === undefined || !env.load.progBtf()) env.reject(pc, `map '${map.name}' has to have BTF in order to use bpf_kptr_xchg`);
    rec = mapRecord(env, map);
  } else rec = objRecord(env, btfPtr(r.type)?.struct ?? '');
  if (!tnumIsConst(r.var)) env.reject(pc, `R${regno} doesn't have constant offset. kptr has to be at the constant offset`);
  if (!rec?.fields.some((f) => f.type === 'kptr' || f.type === 'kptr_untrusted' || f.type === 'percpu_kptr')) env.reject(pc, `R${regno} has no valid kptr`);
  const off = r.off + Number(r.var.value);
  const f = rec.fields.find((x) => x.off === off && (x.type === 'kptr' || x.type === 'kptr_untrusted' || x.type === 'percpu_kptr'));
  if (!f) env.reject(pc, `off=${off} doesn't point to kptr`);
  if (f.type !== 'kptr' && f.type !== 'percpu_kptr') env.reject(pc, `off=${off} kptr isn't referenced kptr`);
  return f;
}

/** bpf_kptr_xchg's R0: the field's pointer type, MEM_ALLOC (and MEM_PERCPU) for the program's own structs. */
export function kptrXchgReturn(env: Env, f: BtfField): Reg {
  const k = f.kptr!;
  const flag: BtfPtrFlag = k.local && f.type === 'percpu_kptr' ? 'percpu_' : '';
  return pointer(btfPtrType(k.struct, flag, true), { id: env.nextId(), ...(k.local ? allocated(env, k.struct) : {}) });
}
