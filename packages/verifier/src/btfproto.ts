/**
 * What the verifier reads from BTF (kernel/bpf/btf.c): function prototypes of kfuncs and of
 * global subprograms, the return type of the hook a struct_ops or LSM program implements, and
 * the facts about the program it is loaded as (license, sleepable, attach target). Program
 * BTF is parsed on first use only; the kernel's (vmlinux) BTF comes parsed in VerifyOptions.
 */
import { btfFromProtos, btfString, parseBtf, resolveId, typeById, type Btf, type BtfType } from '@bpf/btf';
import type { FuncInfo, Program } from '@bpf/isa';

/** What a parameter or return type is, as the kernel's argument checks see it. */
export type BtfArg =
  | { readonly kind: 'void' }
  | { readonly kind: 'scalar'; readonly size: number }
  | { readonly kind: 'ptr'; readonly to: BtfTarget }
  /** Anything else passed by value (a struct, a union, ...): `kind` is btf_type_str's word. */
  | { readonly kind: 'other'; readonly btfKind: string };

/** The type a pointer points to (modifiers and typedefs skipped). */
export interface BtfTarget {
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
  readonly params: readonly { readonly name: string; readonly type: BtfArg }[];
  readonly ret: BtfArg;
}

/** btf_kind_str, indexed by BTF kind number (0: void). */
const KIND_STR = ['UNKNOWN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64'];
const KIND_NO: Readonly<Record<string, number>> = Object.fromEntries(KIND_STR.map((k, n) => [k, n]));
const kindStr = (t: BtfType | undefined): string => (t ? KIND_STR[KIND_NO[t.kind] ?? 0]! : 'UNKNOWN');

const isScalar = (t: BtfType | undefined): boolean => t !== undefined && (t.kind === 'INT' || t.kind === 'ENUM' || t.kind === 'ENUM64');
const MAX_RESOLVE_DEPTH = 32;

/** __btf_type_is_scalar_struct: every member a scalar, an array of scalars or such a struct. */
function scalarStruct(btf: Btf, t: BtfType, depth: number): boolean {
  // (a size-0 struct is a declaration whose members are unknown: `.kfunc f(struct foo *)`)
  if (t.kind !== 'STRUCT' || t.sizeOrType === 0 || depth > MAX_RESOLVE_DEPTH) return false;
  return t.members.every((m) => {
    let mt = typeById(btf, resolveId(btf, m.type));
    if (mt?.kind === 'ARRAY') mt = typeById(btf, resolveId(btf, mt.elemType));
    return isScalar(mt) || (mt !== undefined && scalarStruct(btf, mt, depth + 1));
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
    const to = typeById(btf, resolveId(btf, t.sizeOrType));
    return {
      kind: 'ptr',
      to: {
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
  /** Subprogram `k`'s prototype from func_info, when the program has BTF. */
  subprogFunc(k: number): BtfFunc | undefined;
  /** Whether the hook a struct_ops or LSM program implements returns void. */
  readonly attachReturnsVoid: boolean;
  /** Global subprograms called so far (verified on their own after the main program). */
  readonly calledGlobals: Set<number>;
}

interface LoadFacts {
  readonly license?: string;
  readonly sleepable?: boolean;
  readonly kernelBtf?: Btf;
}

/** The load-time facts of `program`; the options win over what the program carries. */
export function loadInfo(program: Program, opts: LoadFacts): LoadInfo {
  const carried = program as Program & { readonly sleepable?: boolean; readonly attachBtfId?: number; readonly structOpsMember?: number };
  let parsed: { btf: Btf; funcInfo: readonly FuncInfo[] } | null | undefined;
  // the program's BTF and func_info, or what its declared prototypes (assembly) amount to
  const progInfo = (): { btf: Btf; funcInfo: readonly FuncInfo[] } | undefined => {
    if (parsed === undefined) {
      try {
        if (program.btf) parsed = { btf: parseBtf(program.btf.bytes), funcInfo: program.funcInfo ?? [] };
        else if (program.protos?.length) parsed = btfFromProtos(program);
        else parsed = null;
      } catch {
        parsed = null;
      }
    }
    return parsed ?? undefined;
  };
  const progBtf = (): Btf | undefined => progInfo()?.btf;
  const funcs = new Map<number, BtfFunc | undefined>();
  const subprogFunc = (k: number): BtfFunc | undefined => {
    if (!funcs.has(k)) {
      const info = progInfo();
      const fi = info?.funcInfo[k];
      funcs.set(k, info && fi ? describeFunc(info.btf, fi.typeId) : undefined);
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
    subprogFunc,
    attachReturnsVoid,
    calledGlobals: new Set(),
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
