/**
 * The context of tracing and LSM programs as kernel/bpf/btf.c btf_ctx_access types it: one
 * 8-byte slot per argument of the function, tracepoint, LSM hook or iterator the program
 * attaches to (a struct passed by value takes as many slots as its size rounded up to 8), and
 * for fexit, fmod_ret and LSM programs the slot after them, the return value. Integers, enums
 * and structs read as scalars of any size; pointers only as 8 bytes, to `void`/integers as
 * scalars, to structs as BTF pointers — trusted in tp_btf, iterator and most LSM programs, plain
 * in fentry/fexit, nullable where the kernel says so (`__nullable` parameters,
 * raw_tp_null_args, iterator ctx_arg_info) — and to anything else not at all.
 */
import { btfString, typeById, type Btf, type BtfType } from '@bpf/btf';
import { kindStr } from './btfproto.js';
import { BOOL_LSM_HOOKS, ITER_CTX_ARGS, RAW_TP_NULL_ARGS, UNTRUSTED_LSM_HOOKS } from './btfctx-tables.js';
import type { Env } from './env.js';
import { btfPtrType, type BtfPtrFlag } from './nullable.js';
import { boundsSync } from './scalar.js';
import { pointer, UNKNOWN, type Reg } from './state.js';

/** MAX_BPF_FUNC_ARGS: the slots bpf_tracing_ctx_access lets a tracing program read. */
const MAX_BPF_FUNC_ARGS = 12;
/** MAX_ERRNO (include/linux/err.h): an LSM hook returns 0 or -errno. */
const MAX_ERRNO = 4095n;

const MODIFIER = new Set(['TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT', 'TYPE_TAG']);
const skipModifiers = (btf: Btf, id: number): { id: number; t: BtfType | undefined } => {
  let t = typeById(btf, id);
  for (let guard = 0; t && MODIFIER.has(t.kind) && guard < 64; guard++) t = typeById(btf, (id = t.sizeOrType));
  return { id, t };
};
const isStructOrUnion = (t: BtfType | undefined): boolean => t?.kind === 'STRUCT' || t?.kind === 'UNION';
const isSmallInt = (t: BtfType | undefined): boolean => t?.kind === 'INT' && t.sizeOrType <= 8;
const isAnyEnum = (t: BtfType | undefined): boolean => t?.kind === 'ENUM' || t?.kind === 'ENUM64';
const name = (btf: Btf, t: BtfType | undefined): string => (t && t.nameOff ? btfString(btf, t.nameOff) : '');

/** What a program attaches to, as btf_ctx_access sees it (prog->aux->attach_func_proto and attach_func_name). */
interface Target {
  readonly btf: Btf;
  /** attach_func_name: the function, or the tracepoint without `btf_trace_`. */
  readonly tname: string;
  /** The prototype's parameters, all of them (a tracepoint's `void *__data` included). */
  readonly params: readonly { readonly type: number; readonly name: string }[];
  readonly ret: number;
  /** attach_btf_trace: a tp_btf program, whose first parameter is not an argument. */
  readonly trace: boolean;
}

const targets = new WeakMap<Btf, Map<number, Target | null>>();

/** The FUNC_PROTO behind attach_btf_id: a FUNC's, or the one a `btf_trace_<tp>` typedef points to. */
function target(btf: Btf, id: number): Target | undefined {
  let m = targets.get(btf);
  if (!m) targets.set(btf, (m = new Map<number, Target | null>()));
  let tgt = m.get(id);
  if (tgt === undefined) {
    const t = typeById(btf, id);
    let proto: BtfType | undefined;
    let trace = false;
    if (t?.kind === 'FUNC') proto = typeById(btf, t.sizeOrType);
    else if (t?.kind === 'TYPEDEF') {
      const ptr = skipModifiers(btf, t.sizeOrType).t;
      proto = ptr?.kind === 'PTR' ? skipModifiers(btf, ptr.sizeOrType).t : undefined;
      trace = true;
    }
    tgt =
      t && proto?.kind === 'FUNC_PROTO'
        ? {
            btf,
            tname: trace ? name(btf, t).replace(/^btf_trace_/, '') : name(btf, t),
            params: proto.params.map((p) => ({ type: p.type, name: p.nameOff ? btfString(btf, p.nameOff) : '' })),
            ret: proto.sizeOrType,
            trace,
          }
        : null;
    m.set(id, tgt);
  }
  return tgt ?? undefined;
}

/** btf_ctx_arg_idx: the parameter whose slots cover byte `off` (a struct by value spans several). */
function ctxArgIdx(tgt: Target, off: number): number {
  let end = 0;
  const slots = (id: number): number => {
    const t = skipModifiers(tgt.btf, id).t;
    return t?.kind === 'PTR' ? 8 : Math.ceil((t?.sizeOrType ?? 0) / 8) * 8;
  };
  // the kernel compares the signed offset with an unsigned sum: a negative one is past them all
  const at = off < 0 ? Number.MAX_SAFE_INTEGER : off;
  for (let i = 0; i < tgt.params.length; i++) {
    end += slots(tgt.params[i]!.type);
    if (at < end) return i;
  }
  end += slots(tgt.ret);
  return at < end ? tgt.params.length : tgt.params.length + 1;
}

/**
 * Argument `arg`'s nibble of the tracepoint's raw_tp_null_args mask (0x1 may be NULL, 0x2 may be an
 * ERR_PTR); the mask is a u64 with 12 nibbles, past the 32 bits JavaScript's shifts see.
 */
export const rawTpArgFlags = (tp: string, arg: number): number => Math.floor((RAW_TP_NULL_ARGS[tp] ?? 0) / 2 ** (arg * 4)) % 16;

/** prog_args_trusted: whether the pointers a program's context gives are PTR_TRUSTED. */
function argsTrusted(env: Env): boolean {
  if (env.type === 'lsm') return !UNTRUSTED_LSM_HOOKS.includes(env.load.attachName() ?? '');
  if (env.type === 'tracing') return env.attach === 'trace_raw_tp' || env.attach === 'trace_iter';
  return env.type === 'struct_ops';
}

/** get_func_retval_range: an LSM_MAC hook's allowed return values (undefined for a void hook or another program). */
export function lsmRetvalRange(env: Env): readonly [bigint, bigint] | undefined {
  if (env.type !== 'lsm' || env.attach !== 'lsm_mac') return undefined;
  const btf = env.load.kernelBtf;
  const tgt = btf && env.load.attachBtfId !== undefined ? target(btf, env.load.attachBtfId) : undefined;
  if (!tgt || tgt.ret === 0) return undefined;
  return BOOL_LSM_HOOKS.includes(env.load.attachName() ?? '') ? [0n, 1n] : [-MAX_ERRNO, 0n];
}

/** A scalar whose 64- and 32-bit signed bounds are [lo, hi] (__mark_reg_s32_range on an unknown register). */
const s32Range = (lo: bigint, hi: bigint): Reg => boundsSync({ ...UNKNOWN, smin: lo, smax: hi, s32min: Number(lo), s32max: Number(hi) });

/** The register type flags of an iterator's ctx_arg_info row. */
function iterArg(env: Env, tgt: Target, arg: number): readonly string[] | undefined {
  if (env.attach !== 'trace_iter') return undefined;
  const p = tgt.params[arg];
  return p ? ITER_CTX_ARGS[`${tgt.tname.replace(/^bpf_iter_/, '')}.${p.name}`] : undefined;
}

/**
 * A context access of a tracing or LSM program whose attach target the kernel's BTF describes:
 * the register a read gives (undefined for a write the kernel lets through), or the kernel's
 * rejection. Without the kernel's BTF or a target, undefined with `known` false.
 */
export function btfCtxAccess(env: Env, pc: number, off: number, size: number, write: boolean): { readonly known: boolean; readonly reg?: Reg } {
  const fail = (...why: string[]): never => env.reject(pc, ...why, `invalid bpf_context access off=${off} size=${size}`, ...env.sourceLine(pc));
  // bpf_tracing_ctx_access first, for tracing programs (LSM programs go to btf_ctx_access directly)
  if (env.type === 'tracing' && (off < 0 || off >= MAX_BPF_FUNC_ARGS * 8 || write || off % size !== 0)) fail();
  const btf = env.load.kernelBtf;
  const tgt = btf && env.load.attachBtfId !== undefined ? target(btf, env.load.attachBtfId) : undefined;
  if (!btf || !tgt) return { known: false };
  const { tname } = tgt;
  if (off % 8 !== 0) fail(`func '${tname}' offset ${off} is not multiple of 8`);
  const arg = ctxArgIdx(tgt, off);
  const args = tgt.trace ? tgt.params.slice(1) : tgt.params;
  const nrArgs = tgt.trace ? tgt.params.length - 1 : tgt.params.length;
  if (arg > nrArgs) fail(`func '${tname}' doesn't have ${arg + 1}-th argument`);
  let isRetval = false;
  let typeId: number;
  if (arg === nrArgs) {
    // lsm_mac marks the read as the return value (is_retval), then reads it as lsm_cgroup and fexit do
    isRetval = env.attach === 'lsm_mac';
    switch (env.attach) {
      case 'lsm_mac':
      case 'lsm_cgroup':
      case 'trace_fexit':
        typeId = tgt.ret;
        break;
      case 'modify_return': {
        typeId = tgt.ret;
        const r = skipModifiers(btf, typeId).t;
        if (!isSmallInt(r)) fail(`ret type ${kindStr(r)} not allowed for fmod_ret`);
        break;
      }
      default:
        return fail(`func '${tname}' doesn't have ${arg + 1}-th argument`);
    }
  } else typeId = args[arg]!.type;
  const { t } = skipModifiers(btf, typeId);
  if (isSmallInt(t) || isAnyEnum(t) || isStructOrUnion(t)) {
    if (write) return { known: true };
    const range = isRetval ? lsmRetvalRange(env) : undefined;
    return { known: true, reg: range ? s32Range(range[0], range[1]) : UNKNOWN };
  }
  if (t?.kind !== 'PTR') return fail(`func '${tname}' arg${arg} '${name(btf, t)}' has type ${kindStr(t)}. Only pointer access is allowed`);
  if (size !== 8) fail(`func '${tname}' size ${size} must be 8`);
  const iter = iterArg(env, tgt, arg);
  // an iterator's key or value buffer (ctx_arg_info PTR_TO_BUF | PTR_MAYBE_NULL, MEM_RDONLY for keys),
  // sized by the map the program is attached to later: a fresh id for the null check
  if (iter?.includes('PTR_TO_BUF') && iter.includes('PTR_MAYBE_NULL'))
    return { known: true, ...(write ? {} : { reg: pointer(iter.includes('MEM_RDONLY') ? 'rdonly_buf_or_null' : 'buf_or_null', { id: env.nextId() }) }) };
  // a pointer to void or to an integer is a scalar to the verifier
  const to = skipModifiers(btf, t.sizeOrType).t;
  if (to === undefined || to.kind === 'INT') return { known: true, ...(write ? {} : { reg: UNKNOWN }) };
  let trusted = argsTrusted(env);
  let orNull = false;
  let errPtr = false;
  if (iter) {
    trusted = iter.includes('PTR_TRUSTED');
    orNull = iter.includes('PTR_TO_BTF_ID_OR_NULL') || iter.includes('PTR_MAYBE_NULL');
  } else {
    if (args[arg]?.name.endsWith('__nullable')) orNull = true;
    if (env.attach === 'trace_raw_tp') {
      const flags = rawTpArgFlags(tname, arg);
      if (flags & 1) orNull = true;
      if (flags & 2) errPtr = true;
    }
  }
  // the first type tag behind the pointer: `__user` and `__percpu` memory
  const tag = typeById(btf, t.sizeOrType);
  const tagValue = tag?.kind === 'TYPE_TAG' && !tag.kindFlag ? name(btf, tag) : '';
  const struct = skipModifiers(btf, t.sizeOrType);
  if (!isStructOrUnion(struct.t)) fail(`func '${tname}' arg${arg} type ${kindStr(struct.t)} is not a struct`);
  if (!iter) env.log2(`func '${tname}' arg${arg} has btf_id ${struct.id} type ${kindStr(struct.t)} '${name(btf, struct.t)}'`);
  if (errPtr) {
    // raw_tp_null_args says the argument may be an ERR_PTR: a scalar, and the kernel's message has no newline
    env.logOpen(`marking pointer arg${arg} as scalar as it may encode error`);
    return { known: true, ...(write ? {} : { reg: UNKNOWN }) };
  }
  if (write) return { known: true };
  const flag = `${tagValue === 'user' ? 'user_' : ''}${tagValue === 'percpu' ? 'percpu_' : ''}${trusted ? 'trusted_' : ''}` as BtfPtrFlag;
  return { known: true, reg: pointer(btfPtrType(name(btf, struct.t), flag, orNull), orNull ? { id: env.nextId() } : {}) };
}

/** Whether context accesses of this program go through btf_ctx_access. */
export const usesBtfCtx = (env: Env): boolean => env.type === 'tracing' || env.type === 'lsm';
