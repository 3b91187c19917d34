/**
 * What the verifier reads from BTF (kernel/bpf/btf.c): function prototypes of kfuncs and of
 * global subprograms, the return type of the hook a struct_ops or LSM program implements, and
 * the facts about the program it is loaded as (license, sleepable, attach target). Program
 * BTF is parsed on first use only; the kernel's (vmlinux) BTF comes parsed in VerifyOptions.
 */
import { btfFromProtos, btfString, nameIndex, parseBtf, resolveId, typeById, validateBtf, type Btf, type BtfType } from '@bpf/btf';
import type { FuncInfo, Program } from '@bpf/isa';
import { structMetasRefused } from './btffields.js';

/** What a parameter or return type is, as the kernel's argument checks see it. */
export type BtfArg =
  | { readonly kind: 'void' }
  | { readonly kind: 'scalar'; readonly size: number }
  | { readonly kind: 'ptr'; readonly to: BtfTarget }
  /** Anything else passed by value (a struct, a union, ...): `kind` is btf_type_str's word. */
  | { readonly kind: 'other'; readonly btfKind: string };

/** The type a pointer points to (modifiers and typedefs skipped). */
export interface BtfTarget {
  /** Its type id (modifiers and typedefs skipped; 0 for void). */
  readonly id: number;
  /** btf_type_str: `STRUCT`, `INT`, `UNKNOWN` for void, ... */
  readonly btfKind: string;
  readonly name: string;
  readonly isStruct: boolean;
  readonly isVoid: boolean;
  /** A scalar, or a struct made of scalars (and arrays of them): memory a kfunc may take. */
  readonly scalarLike: boolean;
  /** Its size in bytes, undefined when it has none (void, a function). */
  readonly size: number | undefined;
}

export interface BtfFunc {
  readonly id: number;
  readonly name: string;
  readonly linkage: 'static' | 'global' | 'extern';
  /** `tags`: the `arg:` decl tags of a global function's parameter (`arg:ctx`, `arg:nonnull`). */
  readonly params: readonly { readonly name: string; readonly type: BtfArg; readonly tags?: readonly string[] }[];
  readonly ret: BtfArg;
  /**
   * A function of the kernel's BTF that is in no kfunc set: the BTF carries `bpf_kfunc` decl
   * tags (pahole writes one for each function of a registered kfunc set) and none for it.
   */
  readonly notKfunc?: true;
}

/** btf_kind_str, indexed by BTF kind number (0: void). */
const KIND_STR = ['UNKNOWN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64'];
const KIND_NO: Readonly<Record<string, number>> = Object.fromEntries(KIND_STR.map((k, n) => [k, n]));
/** btf_type_str of a type (`UNKNOWN` for void). */
export const kindStr = (t: BtfType | undefined): string => (t ? KIND_STR[KIND_NO[t.kind] ?? 0]! : 'UNKNOWN');

const isScalar = (t: BtfType | undefined): boolean => t !== undefined && (t.kind === 'INT' || t.kind === 'ENUM' || t.kind === 'ENUM64');
const MAX_RESOLVE_DEPTH = 32;

/**
 * __btf_type_is_scalar_struct (kernel/bpf/btf.c): a struct or union whose every member is a
 * scalar, a non-empty array of scalars, or such a struct or union nested at most 3 deep (the
 * kernel logs "max struct nesting depth exceeded" past that).
 */
function scalarStruct(btf: Btf, t: BtfType, depth: number): boolean {
  // (a size-0 struct is a declaration whose members are unknown: `.kfunc f(struct foo *)`)
  if ((t.kind !== 'STRUCT' && t.kind !== 'UNION') || t.sizeOrType === 0) return false;
  return t.members.every((m) => {
    const mt = typeById(btf, resolveId(btf, m.type));
    if (mt?.kind === 'STRUCT' || mt?.kind === 'UNION') return depth < 3 && scalarStruct(btf, mt, depth + 1);
    if (mt?.kind === 'ARRAY') return mt.nelems > 0 && isScalar(typeById(btf, resolveId(btf, mt.elemType)));
    return isScalar(mt);
  });
}

function sizeOfType(btf: Btf, t: BtfType | undefined): number | undefined {
  if (!t) return undefined;
  switch (t.kind) {
    case 'INT': case 'ENUM': case 'ENUM64': case 'FLOAT': case 'STRUCT': case 'UNION':
      return t.sizeOrType;
    case 'PTR':
      return 8;
    case 'ARRAY': {
      const e = sizeOfType(btf, typeById(btf, resolveId(btf, t.elemType)));
      return e === undefined ? undefined : e * t.nelems;
    }
    default:
      return undefined;
  }
}

/** What type `id` is to an argument check. */
export function describeArg(btf: Btf, id: number): BtfArg {
  const t = typeById(btf, resolveId(btf, id));
  if (!t) return { kind: 'void' };
  if (isScalar(t)) return { kind: 'scalar', size: t.sizeOrType };
  if (t.kind === 'PTR') {
    const toId = resolveId(btf, t.sizeOrType);
    const to = typeById(btf, toId);
    return {
      kind: 'ptr',
      to: {
        id: toId,
        btfKind: kindStr(to),
        name: to && to.nameOff ? btfString(btf, to.nameOff) : '',
        isStruct: to?.kind === 'STRUCT',
        isVoid: to === undefined,
        scalarLike: isScalar(to) || (to !== undefined && scalarStruct(btf, to, 0)),
        size: sizeOfType(btf, to),
      },
    };
  }
  return { kind: 'other', btfKind: kindStr(t) };
}

const LINKAGE = ['static', 'global', 'extern'] as const;

/** The prototype of FUNC `id`, or undefined when `id` is not a function. */
export function describeFunc(btf: Btf, id: number): BtfFunc | undefined {
  const f = typeById(btf, id);
  if (f?.kind !== 'FUNC') return undefined;
  const proto = typeById(btf, f.sizeOrType);
  if (proto?.kind !== 'FUNC_PROTO') return undefined;
  return {
    id,
    name: btfString(btf, f.nameOff),
    linkage: LINKAGE[f.vlen] ?? 'static',
    params: proto.params.map((p) => ({ name: p.nameOff ? btfString(btf, p.nameOff) : '', type: describeArg(btf, p.type) })),
    ret: describeArg(btf, proto.sizeOrType),
  };
}

/** The name and size of STRUCT `id`, if it is one. */
export function structInfo(btf: Btf, id: number): { readonly name: string; readonly size: number } | undefined {
  const t = typeById(btf, id);
  return t?.kind === 'STRUCT' ? { name: t.nameOff ? btfString(btf, t.nameOff) : '', size: t.sizeOrType } : undefined;
}

/** The FUNC named `name` (the first one), if any. */
export function funcByName(btf: Btf, name: string): BtfFunc | undefined {
  for (let id = btf.firstId; id < btf.types.length; id++) {
    const t = btf.types[id];
    if (t?.kind === 'FUNC' && btfString(btf, t.nameOff) === name) return describeFunc(btf, id);
  }
  return undefined;
}

/** license_is_gpl_compatible (include/linux/license.h). */
const GPL_COMPATIBLE = new Set(['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL']);
export const gplCompatible = (license: string): boolean => GPL_COMPATIBLE.has(license);

/** What the verifier knows of the program beyond its instructions (the kernel's prog->aux). */
export interface LoadInfo {
  readonly gplCompatible: boolean;
  readonly sleepable: boolean;
  /** The kernel's BTF (vmlinux), when given. */
  readonly kernelBtf: Btf | undefined;
  /** The program's own BTF (parsed on first use), when it carries one. */
  progBtf(): Btf | undefined;
  /** Whether the kernel gets the program's func_info: it has some, and BTF the kernel loads. */
  hasFuncInfo(): boolean;
  /** Subprogram `k`'s prototype from func_info, when the program has BTF. */
  subprogFunc(k: number): BtfFunc | undefined;
  /** Whether the hook a struct_ops or LSM program implements returns void. */
  readonly attachReturnsVoid: boolean;
  /** Global subprograms called so far (verified on their own after the main program). */
  readonly calledGlobals: Set<number>;
  /** The kernel BTF id of what a tracing, LSM or struct_ops program attaches to (attach_btf_id), when given. */
  readonly attachBtfId: number | undefined;
  /** Whether the kernel has an address for symbol `name` (kallsyms_lookup_name); true when not told. */
  hasKernelSymbol(name: string): boolean;
  /** The name of the kernel function or type the program attaches to (attach_btf_id), when known. */
  attachName(): string | undefined;
  /** The kernel's nr_cpu_ids (VerifyOptions.nrCpuIds), when given. */
  readonly nrCpuIds: number | undefined;
  /** Whether the kernel gives the program helper `id`, one the tables give its type (VerifyOptions.helperAvailable); true when not told. */
  helperAvailable(id: number): boolean;
  /** Whether the kernel lets the program call the vmlinux kfunc of BTF id `id`, one the tables allow its type (VerifyOptions.kfuncAvailable); true when not told. */
  kfuncAvailable(id: number): boolean;
}

interface LoadFacts {
  readonly license?: string;
  readonly sleepable?: boolean;
  readonly kernelBtf?: Btf;
  readonly kernelSymbols?: { has(name: string): boolean };
  readonly nrCpuIds?: number;
  readonly helperAvailable?: (id: number) => boolean;
  readonly kfuncAvailable?: (id: number) => boolean;
}

const refusedBtf = new WeakMap<Uint8Array, boolean>();
/** Whether BPF_BTF_LOAD refuses this blob; the programs of one object share it, so it is checked once. */
function btfRefused(bytes: Uint8Array): boolean {
  let r = refusedBtf.get(bytes);
  // checked in the blob's own byte order (a big-endian object's BTF is refused only for what
  // the kernel of that byte order would refuse)
  const endian = bytes[0] === 0xeb && bytes[1] === 0x9f ? 'big' : 'little';
  if (r === undefined) refusedBtf.set(bytes, (r = validateBtf(bytes, { endian }).length > 0));
  return r;
}

const parsedBtf = new WeakMap<Uint8Array, Btf>();
/**
 * A program's BTF, parsed once per blob: the programs of one object share it, as they share the
 * kernel's one BPF_BTF_LOAD of it (and the per-BTF caches keyed by the parsed object, e.g.
 * structMetasRefused's, then answer for each program after the first).
 */
function programBtf(bytes: Uint8Array): Btf {
  let b = parsedBtf.get(bytes);
  if (b === undefined) parsedBtf.set(bytes, (b = parseBtf(bytes)));
  return b;
}

/** The load-time facts of `program`; the options win over what the program carries. */
export function loadInfo(program: Program, opts: LoadFacts): LoadInfo {
  const carried = program as Program & { readonly sleepable?: boolean; readonly attachBtfId?: number; readonly structOpsMember?: number };
  let parsed: { btf: Btf; funcInfo: readonly FuncInfo[] } | null | undefined;
  // the program's BTF and func_info, or what its declared prototypes (assembly) amount to
  const progInfo = (): { btf: Btf; funcInfo: readonly FuncInfo[] } | undefined => {
    if (parsed === undefined) {
      try {
        if (program.btf) {
          const btf = programBtf(program.btf.bytes);
          // BTF the kernel refuses (BPF_BTF_LOAD's checks, as validateBtf makes them: two
          // variables at one offset of a statically linked object's .bss, an extern variable;
          // btf_parse_struct_metas): libbpf loads the program without it, so its maps have no
          // BTF and its subprograms no func_info
          parsed = !btfRefused(program.btf.bytes) && structMetasRefused(btf, opts.kernelBtf) === undefined ? { btf, funcInfo: program.funcInfo ?? [] } : null;
        }
        else if (program.protos?.length) parsed = btfFromProtos(program);
        else parsed = null;
      } catch {
        parsed = null;
      }
    }
    return parsed ?? undefined;
  };
  const progBtf = (): Btf | undefined => progInfo()?.btf;
  const hasFuncInfo = (): boolean => (program.funcInfo?.length ?? 0) > 0 && !(program.btf && progInfo() === undefined);
  const funcs = new Map<number, BtfFunc | undefined>();
  const subprogFunc = (k: number): BtfFunc | undefined => {
    if (!funcs.has(k)) {
      const info = progInfo();
      const fi = info?.funcInfo[k];
      const fn = info && fi ? describeFunc(info.btf, fi.typeId) : undefined;
      funcs.set(k, fn && info ? withArgTags(info.btf, fn) : fn);
    }
    return funcs.get(k);
  };
  const kernelBtf = opts.kernelBtf;
  let attachReturnsVoid = false;
  if (program.type === 'struct_ops' || program.type === 'lsm') {
    // The kernel reads the hook's prototype (attach_func_proto); without the kernel's BTF the
    // program's own prototype stands in for it.
    const hook = kernelBtf && carried.attachBtfId !== undefined ? hookReturn(kernelBtf, carried.attachBtfId, carried.structOpsMember) : undefined;
    attachReturnsVoid = (hook ?? subprogFunc(0)?.ret)?.kind === 'void';
  }
  return {
    gplCompatible: gplCompatible(opts.license ?? program.license ?? 'GPL'),
    sleepable: opts.sleepable ?? carried.sleepable ?? false,
    kernelBtf,
    progBtf,
    hasFuncInfo,
    subprogFunc,
    attachReturnsVoid,
    calledGlobals: new Set(),
    attachName: () => {
      const t = kernelBtf && carried.attachBtfId !== undefined ? typeById(kernelBtf, carried.attachBtfId) : undefined;
      return t && kernelBtf ? btfString(kernelBtf, t.nameOff) : undefined;
    },
    attachBtfId: carried.attachBtfId,
    hasKernelSymbol: (name) => opts.kernelSymbols?.has(name) ?? true,
    nrCpuIds: opts.nrCpuIds,
    helperAvailable: (id) => opts.helperAvailable?.(id) ?? true,
    kfuncAvailable: (id) => opts.kfuncAvailable?.(id) ?? true,
  };
}

/** The return type of an LSM hook (a FUNC) or of member `member` of a struct_ops struct. */
function hookReturn(btf: Btf, id: number, member: number | undefined): BtfArg | undefined {
  const t = typeById(btf, id);
  if (t?.kind === 'FUNC') return describeFunc(btf, id)?.ret;
  if (t?.kind !== 'STRUCT' || member === undefined) return undefined;
  const m = t.members[member];
  const ptr = m && typeById(btf, resolveId(btf, m.type));
  const proto = ptr?.kind === 'PTR' ? typeById(btf, resolveId(btf, ptr.sizeOrType)) : undefined;
  return proto?.kind === 'FUNC_PROTO' ? describeArg(btf, proto.sizeOrType) : undefined;
}

const structIds = new WeakMap<Btf, Map<string, number>>();

/** The id of the kernel struct named `name` (cached per BTF). */
function structId(btf: Btf, name: string): number | undefined {
  // a parsed BTF: by its name index, without making every type (a kernel's has some 130k)
  const ix = nameIndex(btf);
  if (ix) return ix.ids(name, ['STRUCT'])[0];
  let m = structIds.get(btf);
  if (!m) {
    m = new Map();
    for (let id = btf.firstId; id < btf.types.length; id++) {
      const t = btf.types[id];
      if (t?.kind === 'STRUCT' && t.nameOff && !m.has(btfString(btf, t.nameOff))) m.set(btfString(btf, t.nameOff), id);
    }
    structIds.set(btf, m);
  }
  return m.get(name);
}

/** The BTF type tag the kernel honours on a pointer member (the first one after the PTR, btf_struct_walk). */
export type PtrTag = 'user' | 'percpu' | 'rcu';

/** A pointer member reached by a read: the struct it points to, the member's name, its type tag. */
export interface PtrField {
  readonly kind: 'ptr';
  readonly to: string;
  readonly toId: number;
  readonly field: string;
  readonly tag: PtrTag | undefined;
  /** Read from within a union of several members: PTR_UNTRUSTED whatever the base's trust. */
  readonly untrusted?: boolean;
}

const PTR_TAGS: ReadonlySet<string> = new Set(['user', 'percpu', 'rcu']);

/** The `__user`/`__percpu`/`__rcu` type tag right behind a pointer type (a tag with kind_flag set is an attribute, not a tag). */
function ptrTag(btf: Btf, ptr: BtfType): PtrTag | undefined {
  const t = typeById(btf, ptr.sizeOrType);
  if (t?.kind !== 'TYPE_TAG' || t.kindFlag) return undefined;
  const v = btfString(btf, t.nameOff);
  return PTR_TAGS.has(v) ? (v as PtrTag) : undefined;
}

/**
 * Whether the kernel lists member `field` (a pointer to type `toId`) of `struct base` as safe in
 * the struct `<base><suffix>` it emits into its BTF (`task_struct__safe_rcu`, ...):
 * kernel/bpf/btf.c btf_nested_type_is_trusted, by name and target type.
 */
export function safeField(btf: Btf, base: string, suffix: string, field: string, toId: number): boolean {
  const id = structId(btf, base + suffix);
  const t = id === undefined ? undefined : typeById(btf, id);
  if (t?.kind !== 'STRUCT') return false;
  return t.members.some((m) => {
    const mt = typeById(btf, m.type);
    return mt?.kind === 'PTR' && btfString(btf, m.nameOff) === field && resolveId(btf, mt.sizeOrType) === toId;
  });
}

/** __btf_resolve_size: a member's size, and for an array its innermost element type and count. */
function memberSize(btf: Btf, id: number): { t: BtfType; size: number; elem?: BtfType; nelems: number } | undefined {
  let t = typeById(btf, resolveId(btf, id));
  if (!t) return undefined;
  if (t.kind !== 'ARRAY') {
    const size = sizeOfType(btf, t);
    return size === undefined ? undefined : { t, size, nelems: 1 };
  }
  const arr = t;
  let nelems = 1;
  for (let depth = 0; t?.kind === 'ARRAY' && depth < MAX_RESOLVE_DEPTH; depth++) {
    nelems *= t.nelems;
    t = typeById(btf, resolveId(btf, t.elemType));
  }
  const esize = sizeOfType(btf, t);
  if (!t || esize === undefined) return undefined;
  return { t: arr, size: esize * nelems, elem: t, nelems };
}

/**
 * A read of `size` bytes at `off` of kernel struct `name` (kernel/bpf/btf.c btf_struct_walk and
 * btf_struct_access): a scalar, a pointer to a struct, a pointer to anything else (untrusted
 * read-only memory), or the kernel's refusal.
 */
export function structFieldRead(btf: Btf, name: string | number, off: number, size: number): { readonly kind: 'scalar' } | { readonly kind: 'untrusted_mem' } | PtrField | { readonly error: string } {
  const id = typeof name === 'number' ? name : structId(btf, name);
  let t = id === undefined ? undefined : typeById(btf, id);
  if (t?.kind !== 'STRUCT') return { kind: 'scalar' };
  // walking a union of several members makes what it yields untrusted
  let untrusted = false;
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const tname = t.nameOff ? btfString(btf, t.nameOff) : '(anon)';
    if (t.kind !== 'STRUCT' && t.kind !== 'UNION') return { error: `Type '${tname}' is not a struct` };
    if (t.kind === 'UNION' && t.vlen !== 1) untrusted = true;
    if (off + size > t.sizeOrType) {
      // a flexible array at the end may be read past the struct's size
      const last = t.members[t.members.length - 1];
      const lt = last ? typeById(btf, resolveId(btf, last.type)) : undefined;
      const lastOff = last ? (t.kindFlag ? last.offset & 0xffffff : last.offset) / 8 : 0;
      if (lt?.kind !== 'ARRAY' || lt.nelems !== 0 || off < Math.floor(lastOff)) return { error: `access beyond struct ${tname} at off ${off} size ${size}` };
      const et = typeById(btf, resolveId(btf, lt.elemType));
      if (et?.kind === 'INT') return { kind: 'scalar' };
      if (et?.kind !== 'STRUCT' && et?.kind !== 'UNION') return { error: `access beyond struct ${tname} at off ${off} size ${size}` };
      off = (off - Math.floor(lastOff)) % et.sizeOrType;
      t = et;
      continue;
    }
    let next: BtfType | undefined;
    for (const m of t.members) {
      const bitOff = t.kindFlag ? m.offset & 0xffffff : m.offset;
      const bitSize = t.kindFlag ? m.offset >>> 24 : 0;
      let moff = Math.floor(bitOff / 8);
      if (off + size <= moff) break;
      if (bitSize) {
        if (off <= moff && Math.ceil((bitOff + bitSize) / 8) <= off + size) return { kind: 'scalar' };
        continue;
      }
      if (off < moff) break;
      const mname = m.nameOff ? btfString(btf, m.nameOff) : '';
      const ms = memberSize(btf, m.type);
      if (!ms) return { error: `field ${mname} doesn't have size` };
      let msize = ms.size;
      const mtrueEnd = moff + msize;
      if (off >= mtrueEnd) continue;
      let mt = ms.t;
      if (mt.kind === 'ARRAY') {
        if (moff === mtrueEnd) continue;
        msize /= ms.nelems;
        moff += Math.floor((off - moff) / msize) * msize;
        mt = ms.elem!;
      }
      if (mt.kind === 'STRUCT' || mt.kind === 'UNION') {
        off -= moff;
        next = mt;
        break;
      }
      if (mt.kind === 'PTR') {
        if (msize !== size || off !== moff) return { error: `cannot access ptr member ${mname} with moff ${moff} in struct ${tname} with off ${off} size ${size}` };
        const toId = resolveId(btf, mt.sizeOrType);
        const to = typeById(btf, toId);
        if (to?.kind !== 'STRUCT' && to?.kind !== 'UNION') return { kind: 'untrusted_mem' };
        return { kind: 'ptr', to: to.nameOff ? btfString(btf, to.nameOff) : '', toId, field: mname, tag: ptrTag(btf, mt), ...(untrusted ? { untrusted } : {}) };
      }
      if (off + size > mtrueEnd && !untrusted) return { error: `access beyond the end of member ${mname} (mend:${mtrueEnd}) in struct ${tname} with off ${off} size ${size}` };
      return { kind: 'scalar' };
    }
    if (!next) return { error: `struct ${tname} doesn't have field at offset ${off}` };
    t = next;
  }
  return { kind: 'scalar' };
}

/**
 * btf_struct_walk for a 1-byte access at `off` of struct or union `id`, as
 * btf_struct_ids_match walks: the struct or union member that starts there (WALK_STRUCT), a
 * scalar, or the kernel's refusal (which it logs). A pointer member is never a 1-byte access.
 */
function walkToStruct(btf: Btf, id: number, off: number): { readonly id: number } | { readonly scalar: true } | { readonly error: string } {
  let t = typeById(btf, resolveId(btf, id));
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH * 4; depth++) {
    const tname = t?.nameOff ? btfString(btf, t.nameOff) : '(anon)';
    if (t?.kind !== 'STRUCT' && t?.kind !== 'UNION') return { error: `Type '${tname}' is not a struct` };
    if (off + 1 > t.sizeOrType) {
      // a flexible array at the end may be walked past the struct's size
      const last = t.members[t.members.length - 1];
      const lt = last ? typeById(btf, resolveId(btf, last.type)) : undefined;
      const lastOff = last ? Math.floor((t.kindFlag ? last.offset & 0xffffff : last.offset) / 8) : 0;
      if (lt?.kind !== 'ARRAY' || lt.nelems !== 0 || off < lastOff) return { error: `access beyond struct ${tname} at off ${off} size 1` };
      const et = typeById(btf, resolveId(btf, lt.elemType));
      if (et?.kind === 'INT') return { scalar: true };
      if (et?.kind !== 'STRUCT' && et?.kind !== 'UNION') return { error: `access beyond struct ${tname} at off ${off} size 1` };
      off = (off - lastOff) % et.sizeOrType;
      t = et;
      continue;
    }
    let next: BtfType | undefined;
    for (const m of t.members) {
      const bitOff = t.kindFlag ? m.offset & 0xffffff : m.offset;
      const bitSize = t.kindFlag ? m.offset >>> 24 : 0;
      let moff = Math.floor(bitOff / 8);
      if (off + 1 <= moff) break;
      if (bitSize) {
        if (off <= moff && Math.ceil((bitOff + bitSize) / 8) <= off + 1) return { scalar: true };
        continue;
      }
      if (off < moff) break;
      const mname = m.nameOff ? btfString(btf, m.nameOff) : '(anon)';
      const ms = memberSize(btf, m.type);
      if (!ms) return { error: `field ${mname} doesn't have size` };
      let msize = ms.size;
      const mtrueEnd = moff + msize;
      if (off >= mtrueEnd) continue;
      let mt = ms.t;
      let mid = resolveId(btf, m.type);
      if (mt.kind === 'ARRAY') {
        if (moff === mtrueEnd) continue;
        msize /= ms.nelems;
        moff += Math.floor((off - moff) / msize) * msize;
        mt = ms.elem!;
        mid = btf.types.indexOf(mt);
      }
      if (mt.kind === 'STRUCT' || mt.kind === 'UNION') {
        if (off === moff) return { id: mid };
        off -= moff;
        next = mt;
        break;
      }
      if (mt.kind === 'PTR') return { error: `cannot access ptr member ${mname} with moff ${moff} in struct ${tname} with off ${off} size 1` };
      return { scalar: true };
    }
    if (!next) return { error: `struct ${tname} doesn't have field at offset ${off}` };
    t = next;
  }
  return { scalar: true };
}

/**
 * Whether a pointer to kernel struct `from` at byte offset `off` may be passed where a pointer
 * to struct `to` is wanted (kernel/bpf/btf.c btf_struct_ids_match): the same type at offset 0,
 * or, unless `strict`, a struct nested in it that starts at `off`, or a first member (at offset
 * 0) of that one, and so on: `&cgrp->self` is a `struct cgroup *` a kfunc taking a `struct
 * cgroup_subsys_state *` accepts. A walk the kernel refuses is logged as it logs it (`log`):
 * `cannot access ptr member next ...` where a `struct sk_buff *` is matched against a `struct
 * __sk_buff *`.
 */
export function structIdsMatch(btf: Btf, from: string, off: number, to: string, strict: boolean, log?: (line: string) => void): boolean {
  if (off === 0 && from === to) return true;
  if (strict) return false;
  let id = structId(btf, from);
  for (let depth = 0; id !== undefined && depth < MAX_RESOLVE_DEPTH * 4; depth++) {
    const w = walkToStruct(btf, id, off);
    if ('error' in w) {
      log?.(w.error);
      return false;
    }
    if (!('id' in w)) return false;
    const t = typeById(btf, w.id);
    if (t?.kind === 'STRUCT' && t.nameOff && btfString(btf, t.nameOff) === to) return true;
    id = w.id;
    off = 0;
  }
  return false;
}

/** A function's parameters with the `arg:...` decl tags that name them (btf_find_next_decl_tag). */
function withArgTags(btf: Btf, fn: BtfFunc): BtfFunc {
  const tags = new Map<number, string[]>();
  for (let id = btf.firstId; id < btf.types.length; id++) {
    const t = btf.types[id];
    if (t?.kind !== 'DECL_TAG' || t.sizeOrType !== fn.id || t.componentIdx < 0) continue;
    const name = btfString(btf, t.nameOff);
    if (!name.startsWith('arg:')) continue;
    tags.set(t.componentIdx, [...(tags.get(t.componentIdx) ?? []), name.slice(4)]);
  }
  return tags.size ? { ...fn, params: fn.params.map((p, i) => (tags.has(i) ? { ...p, tags: tags.get(i)! } : p)) } : fn;
}
