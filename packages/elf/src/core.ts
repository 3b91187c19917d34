/**
 * CO-RE: apply `.BTF.ext` core relocations to an object's code against a target BTF, with
 * libbpf's semantics (tools/lib/bpf/relo_core.c): parse the local access spec, find target
 * candidates by essential name (`task_struct___v2` matches `task_struct`), match the spec
 * through named members, compute the relocated value (all matching candidates must agree),
 * and patch the instruction (ALU imm, load/store offset and size, ld_imm64 value), or poison
 * it with libbpf's `call 0xbad2310` when a required target is missing.
 */
import type { Insn } from '@bpf/isa';
import type { BtfMember, BtfTypeInfo, BtfTypeTable } from './btfview.js';
import { indexByName, LazyNameIndex, resolveSize, skipModsAndTypedefs, typeName } from './btfview.js';
import { ElfError } from './errors.js';

/** `{ ...i, code, off, imm }` written as a literal: every slot keeps the decoder's one object shape. */
const slot = (i: Insn, code: number, off: number, imm: number): Insn => ({ code, dst: i.dst, src: i.src, off, imm });

/** `enum bpf_core_relo_kind` (include/uapi/linux/bpf.h). */
export const CORE_KINDS = [
  'field_byte_offset', 'field_byte_size', 'field_exists', 'field_signed', 'field_lshift_u64', 'field_rshift_u64',
  'type_id_local', 'type_id_target', 'type_exists', 'type_size', 'enumval_exists', 'enumval_value', 'type_matches',
] as const;
export type CoreKind = (typeof CORE_KINDS)[number];

/** One `struct bpf_core_relo`, its access string resolved. */
export interface CoreRelo {
  /** Byte offset of the instruction in its section. */
  readonly insnOff: number;
  /** Root type id in the object's BTF. */
  readonly typeId: number;
  /** Access string, e.g. `0:1:2`. */
  readonly access: string;
  readonly kind: number;
}

/** libbpf's poison: an invalid helper call the verifier reports with this number. */
export const CORE_POISON_IMM = 0xbad2310;

interface Spec {
  /** Type id the spec ends on (field type for field relos, root for type relos). */
  readonly typeId: number;
  readonly bitOffset: number;
  /** The last access was a struct member with this bitfield size (0: not a bitfield). */
  readonly bitfieldSize: number;
  /** The last access was an array index (not a member). */
  readonly lastIsArray: boolean;
  /** Enumerator value for enum relos. */
  readonly enumValue?: bigint;
}

interface Access { readonly name: string; readonly index: number; readonly isArray: boolean }

const essentialName = (n: string): string => {
  const k = n.indexOf('___');
  return k > 0 ? n.slice(0, k) : n;
};

/**
 * A name index regrouped by essential name (the ids in the order the index gives them), made
 * once per index: scanning every name of the kernel's BTF for each relocation took minutes
 * on objects with tens of thousands of relocations (tracee.bpf.o).
 */
const essentialIndexes = new WeakMap<ReadonlyMap<string, readonly number[]>, { get(name: string): readonly number[] | undefined }>();
function byEssentialName(index: ReadonlyMap<string, readonly number[]>): { get(name: string): readonly number[] | undefined } {
  let m = essentialIndexes.get(index);
  if (!m && index instanceof LazyNameIndex) {
    // one essential name at a time, from the table's look-up: the same ids in the same order
    // (by name, the names in the order of their first id; each name's ids in id order)
    const got = new Map<string, readonly number[] | undefined>();
    m = {
      get(name: string): readonly number[] | undefined {
        if (name === '') return undefined;
        if (got.has(name)) return got.get(name);
        const groups = new Map<string, number[]>();
        for (const id of index.lookup.flavors(name)) {
          const t = index.table.type(id);
          const n = t ? typeName(t) : '';
          if (!n) continue;
          const g = groups.get(n);
          if (g) g.push(id);
          else groups.set(n, [id]);
        }
        const ids = [...groups.values()].flat();
        const v = ids.length ? ids : undefined;
        got.set(name, v);
        return v;
      },
    };
    essentialIndexes.set(index, m);
  }
  if (!m) {
    const built = new Map<string, number[]>();
    for (const [n, ids] of index) {
      const e = essentialName(n);
      const to = built.get(e);
      if (to) for (const id of ids) to.push(id);
      else built.set(e, [...ids]);
    }
    essentialIndexes.set(index, (m = built));
  }
  return m;
}

const isFieldKind = (k: number): boolean => k <= 5;
const isTypeKind = (k: number): boolean => (k >= 6 && k <= 9) || k === 12;
const isEnumKind = (k: number): boolean => k === 10 || k === 11;

const kindGroup = (t: BtfTypeInfo): string => (t.kind === 'enum64' ? 'enum' : t.kind);

/** Parse a local access spec (libbpf: bpf_core_parse_spec). */
function parseLocal(btf: BtfTypeTable, r: CoreRelo, fail: (m: string) => ElfError): { spec: Spec; path: Access[]; root: number } {
  const idx = r.access.split(':').map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  if (idx.length === 0 || idx.some((n) => !Number.isSafeInteger(n))) throw fail(`bad access string '${r.access}'`);
  const root = skipModsAndTypedefs(btf, r.typeId);
  if (!root) throw fail(`bad root type [${r.typeId}]`);
  if (isTypeKind(r.kind)) {
    if (idx.length !== 1 || idx[0] !== 0) throw fail(`type relocation with access '${r.access}'`);
    return { spec: { typeId: r.typeId, bitOffset: 0, bitfieldSize: 0, lastIsArray: false }, path: [], root: r.typeId };
  }
  if (isEnumKind(r.kind)) {
    if (root.t.kind !== 'enum' && root.t.kind !== 'enum64') throw fail(`enum relocation on a ${root.t.kind}`);
    const e = root.t.values[idx[0]!];
    if (idx.length !== 1 || !e) throw fail(`enumerator ${r.access} out of range`);
    return { spec: { typeId: root.id, bitOffset: 0, bitfieldSize: 0, lastIsArray: false, enumValue: e.value }, path: [{ name: e.name, index: idx[0]!, isArray: false }], root: root.id };
  }
  // Field: first index is an array index on the root pointer.
  const rootSize = resolveSize(btf, root.id);
  if (rootSize === undefined) throw fail(`cannot size root type [${root.id}]`);
  let bitOffset = idx[0]! * rootSize * 8;
  let id = root.id;
  let bitfieldSize = 0;
  let lastIsArray = true;
  const path: Access[] = [{ name: '', index: idx[0]!, isArray: true }];
  for (const i of idx.slice(1)) {
    const t = skipModsAndTypedefs(btf, id);
    if (!t) throw fail(`bad type in access path`);
    if (t.t.kind === 'struct' || t.t.kind === 'union') {
      const m = t.t.members[i];
      if (!m) throw fail(`member ${i} out of range in [${t.id}]`);
      bitOffset += m.bitOffset;
      bitfieldSize = m.bitfieldSize;
      lastIsArray = false;
      path.push({ name: m.name, index: i, isArray: false });
      id = m.type;
    } else if (t.t.kind === 'array') {
      const sz = resolveSize(btf, t.t.elemType);
      if (sz === undefined) throw fail(`cannot size array element [${t.t.elemType}]`);
      bitOffset += i * sz * 8;
      bitfieldSize = 0;
      lastIsArray = true;
      path.push({ name: '', index: i, isArray: true });
      id = t.t.elemType;
    } else throw fail(`access '${r.access}' goes through a ${t.t.kind}`);
  }
  return { spec: { typeId: id, bitOffset, bitfieldSize, lastIsArray }, path, root: root.id };
}

/**
 * libbpf: bpf_core_types_are_compat (loose, recursive; names of composites not compared). Only
 * the kinds it knows are compatible at all: void, structs, unions, enums and forward declarations
 * (always), integers (not bitfield-like), pointers, arrays and prototypes (by what they point to
 * or hold); any other kind, FLOAT among them ("unexpected kind float relocated"), never is.
 */
export function typesCompat(a: BtfTypeTable, la: number, b: BtfTypeTable, lb: number, depth = 0): boolean {
  if (depth > 32) return false;
  const l = skipModsAndTypedefs(a, la), t = skipModsAndTypedefs(b, lb);
  if (!l || !t || kindGroup(l.t) !== kindGroup(t.t)) return false;
  switch (l.t.kind) {
    case 'int':
      return l.t.bitOffset === 0 && t.t.kind === 'int' && t.t.bitOffset === 0;
    case 'ptr':
      return t.t.kind === 'ptr' && typesCompat(a, l.t.type, b, t.t.type, depth + 1);
    case 'array':
      return t.t.kind === 'array' && typesCompat(a, l.t.elemType, b, t.t.elemType, depth + 1);
    case 'func_proto':
      return t.t.kind === 'func_proto' && l.t.params.length === t.t.params.length && typesCompat(a, l.t.ret, b, t.t.ret, depth + 1)
        && l.t.params.every((p, k) => typesCompat(a, p.type, b, (t.t as { params: readonly { type: number }[] }).params[k]!.type, depth + 1));
    case 'void':
    case 'struct':
    case 'union':
    case 'enum':
    case 'enum64':
    case 'fwd':
      return true;
    default:
      return false;
  }
}

/** libbpf: bpf_core_fields_are_compat. */
function fieldsCompat(a: BtfTypeTable, la: number, b: BtfTypeTable, lb: number, depth = 0): boolean {
  if (depth > 32) return false;
  const l = skipModsAndTypedefs(a, la), t = skipModsAndTypedefs(b, lb);
  if (!l || !t) return false;
  const composite = (x: BtfTypeInfo): boolean => x.kind === 'struct' || x.kind === 'union';
  if (composite(l.t) && composite(t.t)) return true;
  if (kindGroup(l.t) !== kindGroup(t.t)) return false;
  switch (l.t.kind) {
    case 'ptr': case 'fwd': case 'float': return true;
    case 'enum': case 'enum64': return essentialName(l.t.name) === essentialName(typeName(t.t)) || l.t.name === '' || typeName(t.t) === '';
    case 'int': return l.t.bitOffset === 0 && t.t.kind === 'int' && t.t.bitOffset === 0;
    case 'array': return t.t.kind === 'array' && fieldsCompat(a, l.t.elemType, b, t.t.elemType, depth + 1);
    default: return false;
  }
}

/** Find a named member in a target composite, looking through anonymous members. */
function findMember(btf: BtfTypeTable, id: number, name: string, depth = 0): { member: BtfMember; bitOffset: number } | undefined {
  if (depth > 32) return undefined;
  const t = skipModsAndTypedefs(btf, id);
  if (t?.t.kind !== 'struct' && t?.t.kind !== 'union') return undefined;
  for (const m of t.t.members) {
    if (m.name === name) return { member: m, bitOffset: m.bitOffset };
    if (m.name === '') {
      const inner = findMember(btf, m.type, name, depth + 1);
      if (inner) return { member: inner.member, bitOffset: m.bitOffset + inner.bitOffset };
    }
  }
  return undefined;
}

/** Match the local field path in a target candidate (libbpf: bpf_core_spec_match). */
function matchField(local: BtfTypeTable, path: readonly Access[], localIds: readonly number[], target: BtfTypeTable, cand: number): Spec | undefined {
  const rootSize = resolveSize(target, cand);
  if (rootSize === undefined) return undefined;
  let bitOffset = path[0]!.index * rootSize * 8;
  let id = cand;
  let bitfieldSize = 0;
  let lastIsArray = true;
  for (let k = 1; k < path.length; k++) {
    const a = path[k]!;
    const t = skipModsAndTypedefs(target, id);
    if (!t) return undefined;
    if (a.isArray) {
      if (t.t.kind !== 'array') return undefined;
      if (t.t.nelems !== 0 && a.index >= t.t.nelems) return undefined;
      const sz = resolveSize(target, t.t.elemType);
      if (sz === undefined) return undefined;
      bitOffset += a.index * sz * 8;
      id = t.t.elemType;
      bitfieldSize = 0;
      lastIsArray = true;
    } else if (a.name === '' && k + 1 < path.length) {
      // An anonymous struct/union on the way (`sk->__sk_common.skc_num` is 0:0:1:0:1):
      // libbpf's spec keeps named accesses only and finds each of them through the target's
      // anonymous members, wherever the target has them (bpf_core_parse_spec, bpf_core_match_member).
      continue;
    } else {
      const found = findMember(target, id, a.name);
      if (!found || !fieldsCompat(local, localIds[k]!, target, found.member.type)) return undefined;
      bitOffset += found.bitOffset;
      bitfieldSize = found.member.bitfieldSize;
      id = found.member.type;
      lastIsArray = false;
    }
  }
  return { typeId: id, bitOffset, bitfieldSize, lastIsArray };
}

interface FieldValue { value: bigint; byteSize: number; bitfield: boolean }

/** libbpf: bpf_core_calc_field_relo. */
function fieldValue(btf: BtfTypeTable, kind: number, s: Spec, big: boolean, fail: (m: string) => ElfError): FieldValue {
  const mt = skipModsAndTypedefs(btf, s.typeId);
  const memSize = resolveSize(btf, s.typeId);
  if (!mt || memSize === undefined) throw fail(`cannot size field type [${s.typeId}]`);
  const bitfield = !s.lastIsArray && s.bitfieldSize > 0;
  let byteSize = memSize;
  let byteOff: number;
  let bitSize: number;
  if (!bitfield) {
    byteOff = Math.floor(s.bitOffset / 8);
    bitSize = byteSize * 8;
  } else {
    if (byteSize <= 0) throw fail(`bitfield of a ${byteSize}-byte type`);
    bitSize = s.bitfieldSize;
    byteOff = Math.floor(s.bitOffset / 8 / byteSize) * byteSize;
    while (s.bitOffset + bitSize - byteOff * 8 > byteSize * 8) {
      if (byteSize >= 8) throw fail('bitfield spans more than 8 bytes');
      byteSize *= 2;
      byteOff = Math.floor(s.bitOffset / 8 / byteSize) * byteSize;
    }
  }
  const name = CORE_KINDS[kind];
  const v = (n: number): FieldValue => {
    if (!Number.isSafeInteger(n)) throw fail(`field value ${n} out of range`);
    return { value: BigInt(n), byteSize, bitfield };
  };
  switch (name) {
    case 'field_byte_offset': return v(bitfield ? byteOff : Math.floor(s.bitOffset / 8));
    case 'field_byte_size': return v(byteSize);
    case 'field_exists': return v(1);
    case 'field_signed':
      return v((mt.t.kind === 'int' && mt.t.signed) || ((mt.t.kind === 'enum' || mt.t.kind === 'enum64') && mt.t.signed) ? 1 : 0);
    case 'field_lshift_u64':
      return v(big ? (8 - byteSize) * 8 + (s.bitOffset - byteOff * 8) : 64 - (s.bitOffset + bitSize - byteOff * 8));
    case 'field_rshift_u64': return v(64 - bitSize);
    default: throw fail(`not a field relocation kind ${kind}`);
  }
}

export interface CoreResult {
  readonly insnOff: number;
  readonly kind: CoreKind;
  /** Value from the object's own BTF (what the instruction must hold). */
  readonly orig: bigint;
  /** Relocated value; undefined when the instruction is poisoned. */
  readonly value: bigint | undefined;
  readonly origSize?: number;
  readonly newSize?: number;
  /**
   * Whether the instruction must hold `orig`. libbpf does not check bitfield relocations
   * (clang may pick a different load width than libbpf's), except rshift.
   */
  readonly validate: boolean;
}

/** Compute one relocation's original and target values. */
export function calcCoreRelo(local: BtfTypeTable, target: BtfTypeTable, r: CoreRelo, opts: { bigEndian?: boolean; section?: string; targetIndex?: ReadonlyMap<string, readonly number[]> } = {}): CoreResult {
  const kind = CORE_KINDS[r.kind];
  const fail = (m: string): ElfError => new ElfError('BAD_CORE', `CO-RE relocation (${kind ?? r.kind}) at byte ${r.insnOff}: ${m}`, { ...(opts.section !== undefined ? { section: opts.section } : {}), insn: Math.floor(r.insnOff / 8) });
  if (!kind) throw fail(`unknown kind ${r.kind}`);
  const { spec, path, root } = parseLocal(local, r, fail);
  const big = opts.bigEndian ?? false;
  // Local values: what clang put in the instruction.
  const localField = isFieldKind(r.kind) ? fieldValue(local, r.kind, spec, big, fail) : undefined;
  const validate = !localField?.bitfield || kind === 'field_rshift_u64';
  // Load/store width adjustment only applies to whole (non-bitfield) fields.
  const origSize = localField && !localField.bitfield ? localField.byteSize : undefined;
  // Candidates are looked up by the relocation's own type, typedefs included (libbpf:
  // bpf_core_add_cands compares the kind and essential name of exactly that type).
  const rawRoot = local.type(r.typeId)!;
  let orig: bigint;
  if (localField) orig = localField.value;
  else if (kind === 'type_id_local' || kind === 'type_id_target') orig = BigInt(r.typeId);
  else if (kind === 'type_size') orig = BigInt(resolveSize(local, root) ?? 0);
  else if (kind === 'enumval_value') orig = spec.enumValue!;
  else orig = 1n;
  // the instruction's local type id is not checked: a static link (bpftool gen object, which
  // libbpf-bootstrap builds run on every object) renumbers the object's BTF and its CO-RE records
  // but not the id clang put in the instruction, so libbpf writes the record's id unchecked
  if (kind === 'type_id_local') return { insnOff: r.insnOff, kind, orig, value: orig, validate: false };

  // Candidates: same kind group and essential name.
  const name = essentialName(typeName(rawRoot));
  if (!name) throw fail('root type has no name');
  const index = opts.targetIndex ?? indexByName(target, ['struct', 'union', 'enum', 'enum64', 'int', 'float', 'typedef', 'fwd', 'ptr', 'array', 'func_proto']);
  const cands: number[] = [];
  for (const id of byEssentialName(index).get(name) ?? []) {
    const t = target.type(id);
    if (t && kindGroup(t) === kindGroup(rawRoot)) cands.push(id);
  }
  const localIds: number[] = [root];
  if (isFieldKind(r.kind)) {
    let id = root;
    for (const a of path.slice(1)) {
      const t = skipModsAndTypedefs(local, id)!;
      id = t.t.kind === 'array' ? t.t.elemType : (t.t as { members: readonly BtfMember[] }).members[a.index]!.type;
      localIds.push(id);
    }
  }
  const values: { value: bigint; newSize?: number }[] = [];
  for (const c of cands) {
    if (isFieldKind(r.kind)) {
      const s = matchField(local, path, localIds, target, c);
      if (!s) continue;
      const f = fieldValue(target, r.kind, s, big, fail);
      values.push(f.bitfield ? { value: f.value } : { value: f.value, newSize: f.byteSize });
    } else if (isEnumKind(r.kind)) {
      const t = skipModsAndTypedefs(target, c)?.t;
      if (t?.kind !== 'enum' && t?.kind !== 'enum64') continue;
      const want = essentialName(path[0]!.name);
      const e = t.values.find((x) => essentialName(x.name) === want);
      if (!e) continue;
      values.push({ value: kind === 'enumval_exists' ? 1n : e.value });
    } else {
      if (!typesCompat(local, root, target, c)) continue;
      if (kind === 'type_matches' && !typesMatch(local, root, target, c)) continue;
      values.push({ value: kind === 'type_id_target' ? BigInt(c) : kind === 'type_size' ? BigInt(resolveSize(target, c) ?? 0) : 1n });
    }
  }
  if (values.length === 0) {
    const zeroOnMiss = kind === 'field_exists' || kind === 'type_exists' || kind === 'type_matches' || kind === 'enumval_exists';
    return { insnOff: r.insnOff, kind, orig, value: zeroOnMiss ? 0n : undefined, validate, ...(origSize !== undefined ? { origSize } : {}) };
  }
  const first = values[0]!;
  if (values.some((v) => v.value !== first.value)) throw fail(`${values.length} target candidates disagree (${values.map((v) => v.value).join(', ')})`);
  return { insnOff: r.insnOff, kind, orig, value: first.value, validate, ...(origSize !== undefined ? { origSize } : {}), ...(first.newSize !== undefined ? { newSize: first.newSize } : {}) };
}

/** libbpf's bpf_core_types_match, reduced: same kind, same member names (and enum names). */
function typesMatch(a: BtfTypeTable, la: number, b: BtfTypeTable, lb: number): boolean {
  const l = skipModsAndTypedefs(a, la), t = skipModsAndTypedefs(b, lb);
  if (!l || !t || kindGroup(l.t) !== kindGroup(t.t)) return false;
  if ((l.t.kind === 'struct' || l.t.kind === 'union') && (t.t.kind === 'struct' || t.t.kind === 'union'))
    return l.t.members.every((m) => t.t.kind !== 'struct' && t.t.kind !== 'union' ? false : t.t.members.some((x) => x.name === m.name && typesCompat(a, m.type, b, x.type)));
  if ((l.t.kind === 'enum' || l.t.kind === 'enum64') && (t.t.kind === 'enum' || t.t.kind === 'enum64'))
    return l.t.values.every((v) => (t.t as { values: readonly { name: string }[] }).values.some((x) => x.name === v.name));
  return typesCompat(a, la, b, lb);
}

const SIZE_BITS: Readonly<Record<number, number>> = { 1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18 };

/**
 * Patch one instruction (libbpf: bpf_core_patch_insn). `insns` is the section's code; the
 * instruction must hold `orig` (clang's local value) before it is changed.
 */
export function patchCoreInsn(insns: Insn[], res: CoreResult, fail: (m: string) => ElfError): void {
  const k = res.insnOff / 8;
  const i = insns[k];
  if (!i || res.insnOff % 8 !== 0) throw fail(`instruction offset ${res.insnOff} is outside the section`);
  if (res.value === undefined) {
    const poison = { code: 0x85, dst: 0, src: 0, off: 0, imm: CORE_POISON_IMM };
    // libbpf (relo_core.c bpf_core_patch_insn) poisons both slots of an ld_imm64, so that the
    // kernel reports the bad relocation and not "unknown opcode 00" for the second slot.
    if (i.code === 0x18 && insns[k + 1]) insns[k + 1] = poison;
    insns[k] = poison;
    return;
  }
  const cls = i.code & 7;
  if (cls === 4 || cls === 7) {
    if ((i.code & 0x08) !== 0) throw fail('ALU instruction with a register source');
    if (res.validate && BigInt(i.imm) !== res.orig) throw fail(`instruction imm ${i.imm}, expected ${res.orig}`);
    if (res.value > 0x7fffffffn || res.value < -0x80000000n) throw fail(`value ${res.value} does not fit an imm`);
    insns[k] = slot(i, i.code, i.off, Number(res.value));
  } else if (cls === 1 || cls === 2 || cls === 3) {
    if (res.validate && BigInt(i.off) !== res.orig) throw fail(`instruction off ${i.off}, expected ${res.orig}`);
    if (res.value > 0x7fffn || res.value < -0x8000n) throw fail(`value ${res.value} does not fit an offset`);
    let code = i.code;
    if (res.newSize !== undefined && res.origSize !== undefined && res.newSize !== res.origSize) {
      const size = SIZE_BITS[res.newSize];
      if (size === undefined || (i.code & 0x18) !== SIZE_BITS[res.origSize]) throw fail(`cannot change a ${res.origSize}-byte access to ${res.newSize} bytes`);
      code = (code & ~0x18) | size;
    }
    insns[k] = slot(i, code, Number(res.value), i.imm);
  } else if (i.code === 0x18) {
    const hi = insns[k + 1];
    if (!hi) throw fail('ld_imm64 without its second slot');
    const cur = (BigInt(hi.imm >>> 0) << 32n) | BigInt(i.imm >>> 0);
    if (res.validate && cur !== BigInt.asUintN(64, res.orig)) throw fail(`ld_imm64 value ${cur}, expected ${res.orig}`);
    const u = BigInt.asUintN(64, res.value);
    insns[k] = slot(i, i.code, i.off, Number(BigInt.asIntN(32, u & 0xffffffffn)));
    insns[k + 1] = slot(hi, hi.code, hi.off, Number(BigInt.asIntN(32, u >> 32n)));
  } else throw fail(`cannot relocate instruction 0x${i.code.toString(16)}`);
}
