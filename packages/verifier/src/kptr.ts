/**
 * Special fields of map values and allocated objects, and kptrs (kernel/bpf/btf.c
 * btf_parse_fields, kernel/bpf/verifier.c check_map_access, check_map_kptr_access,
 * btf_ld_kptr_type, process_kptr_func, map_kptr_match_type): the fields a struct's BTF
 * declares — `struct bpf_spin_lock`, `bpf_timer`, list and rbtree heads and nodes,
 * `bpf_refcount`, and pointers tagged `kptr`, `kptr_untrusted`, `percpu_kptr` or `uptr` —
 * what loads and stores may do with them, and what `bpf_kptr_xchg` takes and gives.
 */
import { findByName, typeById, type Btf } from '@bpf/btf';
import { btfRecord, FIELD_NAME, isKptr, type BtfField, type BtfRecord } from './btffields.js';
import type { MapDef } from '@bpf/isa';
import type { Env } from './env.js';
import { inRcuCs } from './iter.js';
import { btfPtr, btfPtrType, type BtfPtrFlag } from './nullable.js';
import { regTypeStr } from './print.js';
import { pointer, UNKNOWN, type Reg, type State } from './state.js';
import { structFieldRead } from './btfproto.js';
import { tnumIsConst } from './tnum.js';

export { FIELD_NAME, isKptr, type BtfField, type BtfRecord, type FieldType } from './btffields.js';

/** Records of the maps seen so far (a map's value type does not change during a run). */
const mapRecords = new WeakMap<MapDef, BtfRecord | null>();

/** The record of a map's value type (map->record), from the program's BTF. */
export function mapRecord(env: Env, map: MapDef): BtfRecord | undefined {
  const seen = mapRecords.get(map);
  if (seen !== undefined) return seen ?? undefined;
  const btf = env.load.progBtf();
  const rec = btf && map.btfValueTypeId !== undefined ? btfRecord(btf, env.load.kernelBtf, map.btfValueTypeId, 'map') : undefined;
  mapRecords.set(map, rec ?? null);
  return rec;
}

/**
 * How a register names a struct of the program's BTF: by its name, or `#<type id>` for an
 * anonymous one (bpf_obj_new of `typeof(*p)` where p points to an unnamed struct), which the
 * log prints as the kernel does, without a name (`ptr_or_null_(id=2)`).
 */
export const localStructName = (name: string, id: number): string => name || `#${id}`;

/** The program-BTF type id of a struct a register names (localStructName). */
export function localStructId(btf: Btf, struct: string): number | undefined {
  const anon = /^#(\d+)$/.exec(struct);
  return anon ? Number(anon[1]) : findByName(btf, struct, 'STRUCT')[0];
}

/** A struct's name as the kernel's messages print it (an anonymous one has none). */
export const shownStruct = (struct: string): string => (/^#\d+$/.test(struct) ? '' : struct);

/**
 * btf_struct_access's walk of an allocated object (kernel/bpf/btf.c): a pointer member to a
 * struct or union reads as a scalar (a local type never becomes a pointer again), one to
 * anything else (an int, a forward declaration) as read-only untrusted memory of size 0
 * (WALK_PTR_UNTRUSTED); the walk's own errors (a pointer member read in part) are the kernel's.
 */
export function allocFieldRead(env: Env, pc: number, struct: string, off: number, size: number): Reg {
  const btf = env.load.progBtf();
  const id = btf ? localStructId(btf, struct) : undefined;
  if (!btf || id === undefined) return UNKNOWN;
  const field = structFieldRead(btf, id, off, size);
  if ('error' in field) env.reject(pc, field.error);
  return field.kind === 'untrusted_mem' ? pointer('rdonly_untrusted_mem', { memSize: 0 }) : UNKNOWN;
}

/** The record of an allocated object's struct (the program's BTF, by name or `#id`). */
export function objRecord(env: Env, struct: string): BtfRecord | undefined {
  const btf = env.load.progBtf();
  const id = btf ? localStructId(btf, struct) : undefined;
  return btf && id !== undefined ? btfRecord(btf, env.load.kernelBtf, id, 'object') : undefined;
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
  const id = btf ? localStructId(btf, struct) : undefined;
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
    // a pointee with a list or rbtree node is a non-owning reference (unlocking drops it)
    if (k.local && objRecord(env, k.struct)?.fields.some((x) => x.type === 'list_node' || x.type === 'rb_node')) extra = { ...extra, nonOwn: true };
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

/** Per verification (keyed by its LoadInfo): the record each kfunc call instruction was first reached with. */
const callRecords = new WeakMap<object, Map<number, string>>();

/**
 * The running 6.18.44 kernel keeps one struct meta per kfunc call instruction (bpf_obj_drop,
 * bpf_refcount_acquire, list and rbtree pushes): an instruction reached with objects whose
 * records differ (one with special fields and one without, or different fields) is refused.
 * clang merges such calls (a static function called with two types), hence the advice.
 * Found live: not in the 6.18 sources we read.
 */
export function sameCallRecord(env: Env, pc: number, struct: string): void {
  let byPc = callRecords.get(env.load);
  if (!byPc) callRecords.set(env.load, (byPc = new Map<number, string>()));
  const rec = objRecord(env, struct);
  const key = rec ? JSON.stringify(rec.fields) : '';
  const seen = byPc.get(pc);
  if (seen === undefined) byPc.set(pc, key);
  else if (seen !== key)
    env.reject(pc, 'same call cannot be used with different types', 'use one call for each type: inline the static function that holds the call,', 'or mark the callee with __attribute__((nomerge))');
}

