/**
 * The checks the kernel makes before it verifies an extension (BPF_PROG_TYPE_EXT, freplace)
 * program against the program whose function it replaces: bpf_check_attach_target
 * (kernel/bpf/verifier.c, 6.18) for an extension with a target program, and
 * btf_check_type_match / btf_check_func_type_match (kernel/bpf/btf.c), which compare the
 * extension's prototype with the replaced function's, type by type, as the kernel does.
 */
import { analyseFrames, type Insn, type Program, type ProgType } from '@bpf/isa';
import { btfString, findByName, parseBtf, resolveId, typeById, type Btf, type BtfType } from '@bpf/btf';
import { kindStr, loadInfo } from './btfproto.js';
import { globalArgs } from './global.js';
import { helperProto } from './helpers.js';
import { PKT_CHANGING } from './helperret.js';
import { kfuncAllowed, kfuncInfo } from './kfuncs.js';
import { attachTypeOf } from './loadflags.js';

/** The replaced program and the name of its function the extension replaces (libbpf's attach target). */
export interface ReplacedFunction {
  readonly program: Program;
  readonly func: string;
}

/** What the checks need of the extension itself. */
export interface ExtensionFacts {
  readonly program: Program;
  /** Its own BTF and the FUNC of its main function (func_info[0]), when it has them. */
  readonly btf: Btf | undefined;
  readonly mainFuncId: number | undefined;
  /** prog->jit_requested. */
  readonly jit: boolean;
}

/** Kinds with a size in their `size` word (btf_type_has_size). */
const HAS_SIZE: ReadonlySet<string> = new Set(['INT', 'ENUM', 'ENUM64', 'STRUCT', 'UNION', 'DATASEC', 'FLOAT']);

/** btf_type_skip_modifiers: the type behind typedefs and qualifiers; undefined for void. */
const skipModifiers = (btf: Btf, id: number): BtfType | undefined => (id === 0 ? undefined : typeById(btf, resolveId(btf, id)));
/** The kernel compares `info` words: kind, kind_flag and vlen together. */
const sameInfo = (a: BtfType | undefined, b: BtfType | undefined): boolean => kindStr(a) === kindStr(b) && (a?.kindFlag ?? false) === (b?.kindFlag ?? false) && (a?.vlen ?? 0) === (b?.vlen ?? 0);
const nameOf = (btf: Btf, t: BtfType | undefined): string => (t ? btfString(btf, t.nameOff) : '');
const FUNC_GLOBAL = 1;

/**
 * btf_check_func_type_match: the extension's FUNC `id1` of `btf1` against the replaced FUNC `id2`
 * of `btf2` — both global, as many arguments, the same return and argument kinds (and sizes),
 * pointers only to structs of the same name (a context). The kernel's message, or undefined.
 */
export function funcTypeMismatch(btf1: Btf, id1: number, btf2: Btf, id2: number): string | undefined {
  const f1 = typeById(btf1, id1);
  const f2 = typeById(btf2, id2);
  if (f1?.kind !== 'FUNC' || f2?.kind !== 'FUNC') return undefined;
  const fn1 = nameOf(btf1, f1);
  const fn2 = nameOf(btf2, f2);
  if (f1.vlen !== FUNC_GLOBAL) return `${fn1}() is not a global function`;
  if (f2.vlen !== FUNC_GLOBAL) return `${fn2}() is not a global function`;
  const p1 = typeById(btf1, f1.sizeOrType);
  const p2 = typeById(btf2, f2.sizeOrType);
  if (p1?.kind !== 'FUNC_PROTO' || p2?.kind !== 'FUNC_PROTO') return undefined;
  if (p1.params.length !== p2.params.length) return `${fn1}() has ${p1.params.length} args while ${fn2}() has ${p2.params.length} args`;
  const r1 = skipModifiers(btf1, p1.sizeOrType);
  const r2 = skipModifiers(btf2, p2.sizeOrType);
  if (!sameInfo(r1, r2)) return `Return type ${kindStr(r1)} of ${fn1}() doesn't match type ${kindStr(r2)} of ${fn2}()`;
  for (let i = 0; i < p1.params.length; i++) {
    const a1 = skipModifiers(btf1, p1.params[i]!.type);
    const a2 = skipModifiers(btf2, p2.params[i]!.type);
    if (!sameInfo(a1, a2)) return `arg${i} in ${fn1}() is ${kindStr(a1)} while ${fn2}() has ${kindStr(a2)}`;
    if (a1 && a2 && HAS_SIZE.has(a1.kind) && a1.sizeOrType !== a2.sizeOrType) return `arg${i} in ${fn1}() has size ${a1.sizeOrType} while ${fn2}() has ${a2.sizeOrType}`;
    // only scalars and pointers to a context reach a global function
    if (a1?.kind === 'INT' || a1?.kind === 'ENUM' || a1?.kind === 'ENUM64') continue;
    if (a1?.kind !== 'PTR' || a2?.kind !== 'PTR') return `arg${i} in ${fn1}() has unrecognized type`;
    const s1 = skipModifiers(btf1, a1.sizeOrType);
    const s2 = skipModifiers(btf2, a2.sizeOrType);
    if (s1?.kind !== 'STRUCT' && s1?.kind !== 'UNION') return `arg${i} in ${fn1}() is not a pointer to context`;
    if (s2?.kind !== 'STRUCT' && s2?.kind !== 'UNION') return `arg${i} in ${fn2}() is not a pointer to context`;
    const n1 = nameOf(btf1, s1);
    const n2 = nameOf(btf2, s2);
    if (n1 !== n2) return `arg${i} ${fn1}(struct ${n1} *) doesn't match ${fn2}(struct ${n2} *)`;
  }
  return undefined;
}

/** Subprogram starts and ends, and the effects of each (check_cfg's subprog_info marks, merged over calls). */
function subprogEffect(insns: readonly Insn[], starts: readonly { start: number; end: number }[], sub: number, marks: (x: Insn, pc: number) => boolean, seen = new Set<number>()): boolean {
  if (seen.has(sub)) return false;
  seen.add(sub);
  const { start, end } = starts[sub]!;
  for (let pc = start; pc < end; pc++) {
    const x = insns[pc]!;
    if (x.code !== 0x85) continue;
    if (marks(x, pc)) return true;
    if (x.src === 1) {
      const callee = starts.findIndex((s) => s.start === pc + x.imm + 1);
      if (callee >= 0 && subprogEffect(insns, starts, callee, marks, seen)) return true;
    }
  }
  return false;
}

const kfuncNames = (p: Program): ReadonlyMap<number, string> => new Map((p.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => [r.insn, r.name]));
const sleepableKfunc = (name: string | undefined, type: ProgType | undefined): boolean => {
  const info = name === undefined ? undefined : kfuncInfo(name);
  return info !== undefined && info.flags.includes('sleepable') && (!info.types || type === undefined || kfuncAllowed(info.types, type));
};

/** can_be_sleepable: the tracing attach types that may sleep. */
const SLEEPABLE_TRACING: ReadonlySet<string> = new Set(['trace_fentry', 'trace_fexit', 'modify_return', 'trace_iter']);
const SLEEPABLE_TYPES: ReadonlySet<ProgType> = new Set<ProgType>(['lsm', 'kprobe', 'struct_ops']);

/**
 * check_attach_btf_id's first checks (kernel/bpf/verifier.c, 6.18), made on the program's own
 * type (an extension's is `ext`, before it takes its target's): a syscall program must be
 * loaded sleepable, and only fentry/fexit/fmod_ret/iter tracing, LSM, kprobe (for uprobes) and
 * struct_ops programs may be. The kernel's message, or undefined.
 */
export function sleepableRefusal(type: ProgType, attach: string | undefined, sleepable: boolean): string | undefined {
  if (type === 'syscall') return sleepable ? undefined : 'Syscall programs can only be sleepable';
  if (!sleepable) return undefined;
  const may = type === 'tracing' ? attach !== undefined && SLEEPABLE_TRACING.has(attach) : SLEEPABLE_TYPES.has(type);
  return may ? undefined : 'Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable';
}

/** What the kernel learnt of the replaced program when it verified it (its subprogram numbers). */
export interface TargetFacts {
  /** func_info_aux[].unreliable of its static functions (global.ts checkStaticCall). */
  readonly unreliable: ReadonlySet<number>;
  /** Its exception callback (aux->func[subprog]->aux->exception_cb). */
  readonly exceptionCb: number | undefined;
}

/**
 * bpf_check_attach_target for an extension whose target program is known (tgt_prog): the
 * kernel's message when it refuses the pair before verifying, or undefined. `targetType` is the
 * replaced program's type.
 */
export function checkReplaceTarget(ext: ExtensionFacts, target: ReplacedFunction, targetType: ProgType, verified: TargetFacts = { unreliable: new Set(), exceptionCb: undefined }): string | undefined {
  const tp = target.program;
  let btf2: Btf | undefined;
  try {
    btf2 = tp.btf ? parseBtf(tp.btf.bytes) : undefined;
  } catch {
    btf2 = undefined;
  }
  if (!btf2 || !tp.funcInfo?.length) return 'FENTRY/FEXIT program can only be attached to another program annotated with BTF';
  // libbpf resolves the function's name to its BTF id in the target's BTF (attach_btf_id)
  const ids = findByName(btf2, target.func, 'FUNC');
  const btfId = ids[0];
  const subprog = btfId === undefined ? -1 : tp.funcInfo.findIndex((f) => f.typeId === btfId);
  if (btfId === undefined || subprog < 0) return `Subprog ${target.func} doesn't exist`;
  const targetAttach = attachTypeOf(tp.expectedAttachType);
  if (verified.exceptionCb === subprog) return 'Extension programs cannot attach to exception callback';
  // func_info_aux[subprog].unreliable: the main program's BTF is unreliable unless it takes
  // exactly its context (do_check_common's btf_prepare_func_args check); a static function's
  // when a call of it did not match its BTF (btf_check_subprog_call). A reliable static function
  // is refused later, by btf_check_func_type_match (`pick() is not a global function`)
  if (subprog === 0) {
    const fn = loadInfo(tp, {}).subprogFunc(0);
    const a = fn ? globalArgs(fn, targetType, undefined, targetAttach) : undefined;
    if (!a || 'error' in a || a.args.length !== 1 || a.args[0]!.kind !== 'ctx') return 'Cannot replace static functions';
  } else if (verified.unreliable.has(subprog)) return 'Cannot replace static functions';
  if (!ext.jit) return 'Extension programs should be JITed';
  const extSubs = analyseFrames(ext.program).subprogs;
  const tgtSubs = analyseFrames(tp).subprogs;
  const tgtSub = tgtSubs.findIndex((s) => s.start === tp.funcInfo![subprog]!.insnOff);
  const pkt = (x: Insn): boolean => x.src === 0 && PKT_CHANGING.has(x.imm);
  if (subprogEffect(ext.program.insns, extSubs, 0, pkt) && !(tgtSub >= 0 && subprogEffect(tp.insns, tgtSubs, tgtSub, pkt)))
    return 'Extension program changes packet data, while original does not';
  // might_sleep: the extension's helpers have no prototypes while check_cfg runs (the
  // extension's verifier ops have none), so only its sleepable kfuncs count; the target's
  // helpers are those of its own type
  const extKfuncs = kfuncNames(ext.program);
  const tgtKfuncs = kfuncNames(tp);
  const extSleeps = subprogEffect(ext.program.insns, extSubs, 0, (x, pc) => x.src === 2 && sleepableKfunc(extKfuncs.get(pc), targetType));
  const tgtSleeps =
    tgtSub >= 0 &&
    subprogEffect(tp.insns, tgtSubs, tgtSub, (x, pc) => (x.src === 0 ? helperProto(x.imm, targetType, targetAttach)?.mightSleep === true : x.src === 2 && sleepableKfunc(tgtKfuncs.get(pc), targetType)));
  if (extSleeps && !tgtSleeps) return 'Extension program may sleep, while original does not';
  if (targetType === 'ext') return 'Cannot recursively attach';
  if (targetType === 'tracing' && (targetAttach === 'trace_fentry' || targetAttach === 'trace_fexit')) return 'Cannot extend fentry/fexit';
  // btf_check_type_match
  if (!ext.btf || ext.mainFuncId === undefined) return 'Program extension requires BTF';
  return funcTypeMismatch(ext.btf, ext.mainFuncId, btf2, btfId);
}
