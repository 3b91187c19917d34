/**
 * CHECK_TYPE: every reference between types, as kernel/bpf/btf.c resolves them: a depth-first
 * walk with an explicit stack of at most 32 vertices (btf_resolve), where what counts as a
 * sink depends on whether the walk started at a pointer or at a struct/array (loops through
 * pointers are fine, loops through values are not); member offsets and sizes against the
 * struct (check_member per member kind); FUNC/FUNC_PROTO arguments; type tag order.
 */
import { KIND } from './btf.js';
import {
  ERRNO, MAX_RESOLVE_DEPTH, NOT_VISITED, RESOLVE_PTR, RESOLVE_STRUCT_OR_ARRAY, RESOLVE_TBD, RESOLVED, VISITED, type Env,
} from './validate-env.js';

// --- the resolver's stack (env_stack_*) ---------------------------------------------------

function isSink(env: Env, id: number): boolean {
  switch (env.resolveMode) {
    case RESOLVE_TBD:
      return !env.needsResolve(id);
    case RESOLVE_PTR:
      return !env.isModifier(id) && env.kind(id) !== KIND.PTR;
    default:
      return !env.isModifier(id) && env.kind(id) !== KIND.ARRAY && !env.isStruct(id);
  }
}

function isResolved(env: Env, id: number): boolean {
  return id < env.kStart || env.visit[id] === RESOLVED;
}

function push(env: Env, id: number): number {
  if (env.top === MAX_RESOLVE_DEPTH) return -ERRNO.E2BIG;
  if (id < env.kStart || env.visit[id] !== NOT_VISITED) return -ERRNO.EEXIST;
  env.visit[id] = VISITED;
  env.stackId[env.top] = id;
  env.stackNext[env.top] = 0;
  env.top++;
  if (env.resolveMode === RESOLVE_TBD) {
    const k = env.kind(id);
    if (k === KIND.PTR) env.resolveMode = RESOLVE_PTR;
    else if (k === KIND.STRUCT || k === KIND.UNION || k === KIND.ARRAY) env.resolveMode = RESOLVE_STRUCT_OR_ARRAY;
  }
  return 0;
}

function popResolved(env: Env, resolvedId: number, size: number): number {
  const id = env.stackId[--env.top]!;
  env.resolvedSizes[id] = size;
  env.resolvedIds[id] = resolvedId;
  env.visit[id] = RESOLVED;
  return 0;
}

// --- sizes (btf_type_id_size) -------------------------------------------------------------

/** Set by typeIdSize: the size of what it found. */
let foundSize = 0;

/**
 * btf_type_id_size: the id of the sized type `id` stands for (through one resolved modifier or
 * var), or -1 when it has no size; the size goes to `foundSize`.
 */
function typeIdSize(env: Env, id: number): number {
  let t = env.byId(id);
  if (env.nosizeOrNull(t)) return -1;
  if (env.hasSize(t)) foundSize = env.sot(t);
  else if (env.kind(t) === KIND.ARRAY) foundSize = env.resolvedSizes[t]!;
  else if (env.kind(t) === KIND.PTR) foundSize = 8;
  else {
    if (!env.isModifier(t) && env.kind(t) !== KIND.VAR) return -1;
    id = env.resolvedIds[id]!;
    t = env.byId(id);
    if (env.nosizeOrNull(t)) return -1;
    if (env.hasSize(t)) foundSize = env.sot(t);
    else if (env.kind(t) === KIND.ARRAY) foundSize = env.resolvedSizes[t]!;
    else if (env.kind(t) === KIND.PTR) foundSize = 8;
    else return -1;
  }
  return id;
}

// --- resolve per kind ---------------------------------------------------------------------

type Resolve = (env: Env, v: number) => number;

/** modifiers and PTR share everything but the pointer's second look past a resolved modifier. */
function refResolve(env: Env, id: number, isPtrOrVar: boolean, isVar: boolean): number {
  let next = env.sot(id);
  const nt = env.byId(next);
  if (nt < 0 || env.isSourceOnly(nt)) return env.failType('INVALID_TYPE_ID', id, 'Invalid type_id');
  if (!isSink(env, nt) && !isResolved(env, next)) return push(env, next);
  if (isPtrOrVar && env.isModifier(nt)) {
    // A modifier resolved in struct mode may stop at a pointer: keep going from there.
    const rid = env.resolvedIds[next]!;
    const rt = env.byId(rid);
    if (rt >= 0 && env.kind(rt) === KIND.PTR && !isSink(env, rt) && !isResolved(env, rid)) return push(env, rid);
  }
  const sized = typeIdSize(env, next);
  if (sized < 0) {
    if (isVar) return env.failType('INVALID_TYPE_ID', id, 'Invalid type_id');
    let t = nt;
    if (isResolved(env, next)) {
      next = env.resolvedIds[next]!;
      t = env.byId(next);
    }
    const k = t < 0 ? -1 : env.kind(t);
    if (t !== 0 && k !== KIND.FWD && k !== KIND.FUNC_PROTO) return env.failType('INVALID_TYPE_ID', id, 'Invalid type_id');
  } else next = sized;
  return popResolved(env, next, 0);
}

const modifierResolve: Resolve = (env, v) => refResolve(env, env.stackId[v]!, false, false);
const ptrResolve: Resolve = (env, v) => refResolve(env, env.stackId[v]!, true, false);
const varResolve: Resolve = (env, v) => refResolve(env, env.stackId[v]!, true, true);

const arrayResolve: Resolve = (env, v) => {
  const id = env.stackId[v]!;
  let index = env.word(id, 1);
  const it = env.byId(index);
  if (env.nosizeOrNull(it) || env.isSourceOnly(it)) return env.failType('INVALID_INDEX', id, 'Invalid index');
  if (!isSink(env, it) && !isResolved(env, index)) return push(env, index);
  index = typeIdSize(env, index);
  if (index < 0 || env.kind(index) !== KIND.INT || !env.intIsRegular(index)) return env.failType('INVALID_INDEX', id, 'Invalid index');
  let elem = env.word(id, 0);
  const et = env.byId(elem);
  if (env.nosizeOrNull(et) || env.isSourceOnly(et)) return env.failType('INVALID_ELEM', id, 'Invalid elem');
  if (!isSink(env, et) && !isResolved(env, elem)) return push(env, elem);
  elem = typeIdSize(env, elem);
  if (elem < 0) return env.failType('INVALID_ELEM', id, 'Invalid elem');
  const elemSize = foundSize;
  if (env.kind(elem) === KIND.INT && !env.intIsRegular(elem)) return env.failType('INVALID_ARRAY_OF_INT', id, 'Invalid array of int');
  const nelems = env.word(id, 2);
  if (nelems && elemSize > Math.floor(0xffffffff / nelems)) return env.failType('ARRAY_SIZE_OVERFLOW', id, 'Array size overflows U32_MAX');
  return popResolved(env, elem, elemSize * nelems);
};

const structResolve: Resolve = (env, v) => {
  const id = env.stackId[v]!;
  const next = env.stackNext[v]!;
  const kflag = env.kflag(id);
  const base = env.toff[id]! + 12;
  // The member the walk came back from: now that its type is resolved, check it.
  if (next) {
    const at = base + 12 * (next - 1);
    const mt = env.u32(at + 4);
    if (!isResolved(env, mt)) return -ERRNO.EINVAL;
    const err = checkMember(env, id, at, mt, kflag);
    if (err) return err;
  }
  const vlen = env.vlen(id);
  for (let i = next; i < vlen; i++) {
    const at = base + 12 * i;
    const mtId = env.u32(at + 4);
    const mt = env.byId(mtId);
    if (env.nosizeOrNull(mt) || env.isSourceOnly(mt)) return env.failMember('INVALID_MEMBER', id, at, 'Invalid member');
    if (!isSink(env, mt) && !isResolved(env, mtId)) {
      env.stackNext[v] = i + 1;
      return push(env, mtId);
    }
    const err = checkMember(env, id, at, mt, kflag);
    if (err) return err;
  }
  return popResolved(env, 0, 0);
};

const datasecResolve: Resolve = (env, v) => {
  const id = env.stackId[v]!;
  env.resolveMode = RESOLVE_TBD;
  const vlen = env.vlen(id);
  for (let i = env.stackNext[v]!, at = env.toff[id]! + 12 + 12 * i; i < vlen; i++, at += 12) {
    const varId = env.u32(at);
    const vt = env.byId(varId);
    if (vt < 0 || env.kind(vt) !== KIND.VAR) return env.failVsi('NOT_A_VAR', id, at, 'Not a VAR kind member');
    if (!isSink(env, vt) && !isResolved(env, varId)) {
      // The kernel does not come back to check this entry's size once the var is resolved.
      env.stackNext[v] = i + 1;
      return push(env, varId);
    }
    if (typeIdSize(env, env.sot(vt)) < 0) return env.failVsi('INVALID_VAR_TYPE', id, at, 'Invalid type');
    if (env.u32(at + 8) < foundSize) return env.failVsi('INVALID_VSI_SIZE', id, at, 'Invalid size');
  }
  return popResolved(env, 0, 0);
};

const declTagResolve: Resolve = (env, v) => {
  const id = env.stackId[v]!;
  const next = env.sot(id);
  let nt = env.byId(next);
  const k = nt < 0 ? -1 : env.kind(nt);
  if (nt < 0 || !(k === KIND.FUNC || k === KIND.STRUCT || k === KIND.UNION || k === KIND.VAR || k === KIND.TYPEDEF))
    return env.failType('INVALID_TYPE_ID', id, 'Invalid type_id');
  if (!isSink(env, nt) && !isResolved(env, next)) return push(env, next);
  const component = env.word(id, 0) | 0;
  if (component !== -1) {
    if (k === KIND.VAR || k === KIND.TYPEDEF) return env.failType('INVALID_COMPONENT_IDX', id, 'Invalid component_idx');
    if (k === KIND.FUNC) nt = env.sot(nt);
    if (component >>> 0 >= env.vlen(nt)) return env.failType('INVALID_COMPONENT_IDX', id, 'Invalid component_idx');
  }
  return popResolved(env, next, 0);
};

const funcResolve: Resolve = (env, v) => {
  const id = env.stackId[v]!;
  const err = funcCheck(env, id);
  return err || popResolved(env, env.sot(id), 0);
};

/** btf_df_resolve: kinds that are never pushed. */
const unsupportedResolve: Resolve = (env, v) => env.failType('UNSUPPORTED', env.stackId[v]!, 'Unsupported resolve', false);

const RESOLVE: readonly Resolve[] = (() => {
  const t: Resolve[] = new Array<Resolve>(KIND.ENUM64 + 1).fill(unsupportedResolve);
  for (const k of [KIND.TYPEDEF, KIND.VOLATILE, KIND.CONST, KIND.RESTRICT, KIND.TYPE_TAG]) t[k] = modifierResolve;
  t[KIND.PTR] = ptrResolve;
  t[KIND.VAR] = varResolve;
  t[KIND.ARRAY] = arrayResolve;
  t[KIND.STRUCT] = structResolve;
  t[KIND.UNION] = structResolve;
  t[KIND.DATASEC] = datasecResolve;
  t[KIND.DECL_TAG] = declTagResolve;
  t[KIND.FUNC] = funcResolve;
  return t;
})();

/** btf_resolve: walk from `id` until it and everything it needs are resolved. */
function resolve(env: Env, id: number): number {
  const saved = env.logTypeId;
  env.resolveMode = RESOLVE_TBD;
  push(env, id);
  let err = 0;
  while (!err && env.top > 0) {
    const v = env.top - 1;
    env.logTypeId = env.stackId[v]!;
    err = RESOLVE[env.kind(env.stackId[v]!)]!(env, v);
  }
  env.logTypeId = id;
  if (err === -ERRNO.E2BIG) env.failType('TOO_DEEP', id, `Exceeded max resolving depth:${MAX_RESOLVE_DEPTH}`, true, ERRNO.E2BIG);
  else if (err === -ERRNO.EEXIST) env.failType('LOOP', id, 'Loop detected', true, ERRNO.EEXIST);
  if (!err && !resolveValid(env, id)) err = env.failType('INVALID_RESOLVE_STATE', id, 'Invalid resolve state');
  env.logTypeId = saved;
  return err;
}

/** btf_resolve_valid: the final sanity check on what resolve recorded. */
function resolveValid(env: Env, id: number): boolean {
  if (!isResolved(env, id)) return false;
  const k = env.kind(id);
  const rid = env.resolvedIds[id]!;
  const rsize = env.resolvedSizes[id]!;
  if (k === KIND.STRUCT || k === KIND.UNION || k === KIND.DATASEC) return !rid && !rsize;
  if (k === KIND.DECL_TAG || k === KIND.FUNC) return rid !== 0 && !rsize;
  if (env.isModifier(id) || k === KIND.PTR || k === KIND.VAR) {
    const t = env.byId(rid);
    return t >= 0 && !env.isModifier(t) && env.kind(t) !== KIND.VAR && env.kind(t) !== KIND.DATASEC;
  }
  if (k === KIND.ARRAY) {
    const elem = typeIdSize(env, env.word(id, 0));
    return elem >= 0 && !env.isModifier(elem) && Math.imul(env.word(id, 2), foundSize) >>> 0 === rsize;
  }
  return false;
}

// --- members (check_member / check_kflag_member per member kind) ----------------------------

const roundUp = (bits: number): number => Math.ceil(bits / 8);

/** Dispatch on the member type's kind, with or without the struct's kind_flag encoding. */
function checkMember(env: Env, sid: number, at: number, mt: number, kflag: boolean, shownType?: number): number {
  const k = env.kind(mt);
  const raw = env.u32(at + 8);
  const ssize = env.sot(sid);
  const fail = (code: Parameters<Env['failMember']>[0], msg: string): number => env.failMember(code, sid, at, msg, shownType);
  if (env.isModifier(mt)) {
    // Through the modifier to the sized type; the log then shows the resolved type id.
    const r = typeIdSize(env, shownType ?? env.u32(at + 4));
    if (r < 0) return fail('INVALID_MEMBER', 'Invalid member');
    return checkMember(env, sid, at, r, kflag, r);
  }
  if (kflag && k !== KIND.INT && k !== KIND.ENUM && k !== KIND.ENUM64) {
    // btf_generic_check_kflag_member (ptr, array, struct, float): no bitfields.
    if (raw >>> 24) {
      if (k === KIND.PTR || k === KIND.ARRAY || k === KIND.STRUCT || k === KIND.UNION || k === KIND.FLOAT)
        return fail('INVALID_BITFIELD_SIZE', 'Invalid member bitfield_size');
    }
  }
  switch (k) {
    case KIND.INT: {
      const data = env.word(mt, 0);
      if (kflag) {
        if (!env.intIsRegular(mt)) return fail('INVALID_MEMBER_BASE_TYPE', 'Invalid member base type');
        let bits = raw >>> 24;
        const off = raw & 0xffffff;
        const intBits = data & 0xff;
        if (!bits) {
          if (off & 7) return fail('INVALID_MEMBER_OFFSET', 'Invalid member offset');
          bits = intBits;
        } else if (bits > intBits) return fail('INVALID_BITFIELD_SIZE', 'Invalid member bitfield_size');
        const bytesOff = off >>> 3;
        const copy = bits + (off & 7);
        if (copy > 128) return fail('NR_COPY_BITS', 'nr_copy_bits exceeds 128');
        if (ssize < bytesOff || ssize - bytesOff < roundUp(copy)) return fail('MEMBER_EXCEEDS_SIZE', 'Member exceeds struct_size');
        return 0;
      }
      const intOff = (data >>> 16) & 0xff;
      if (0xffffffff - raw < intOff) return fail('BITS_OFFSET_OVERFLOW', 'bits_offset exceeds U32_MAX');
      const bitsOff = raw + intOff;
      const bytesOff = Math.floor(bitsOff / 8);
      const copy = (data & 0xff) + (bitsOff & 7);
      if (copy > 128) return fail('NR_COPY_BITS', 'nr_copy_bits exceeds 128');
      if (ssize < bytesOff || ssize - bytesOff < roundUp(copy)) return fail('MEMBER_EXCEEDS_SIZE', 'Member exceeds struct_size');
      return 0;
    }
    case KIND.ENUM: case KIND.ENUM64: {
      if (kflag) {
        const off = raw & 0xffffff;
        let bits = raw >>> 24;
        if (!bits) {
          if (off & 7) return fail('MEMBER_NOT_ALIGNED', 'Member is not byte aligned');
          bits = 32;
        } else if (bits > 32) return fail('INVALID_BITFIELD_SIZE', 'Invalid member bitfield_size');
        if (ssize < roundUp(off + bits)) return fail('MEMBER_EXCEEDS_SIZE', 'Member exceeds struct_size');
        return 0;
      }
      return byteMember(env, raw, ssize, env.sot(mt), fail);
    }
    case KIND.PTR:
      return byteMember(env, raw, ssize, 8, fail);
    case KIND.STRUCT: case KIND.UNION:
      return byteMember(env, raw, ssize, env.sot(mt), fail);
    case KIND.ARRAY: {
      const sized = typeIdSize(env, shownType ?? env.u32(at + 4));
      return byteMember(env, raw, ssize, sized < 0 ? 0 : foundSize, fail);
    }
    case KIND.FLOAT: {
      const size = env.sot(mt);
      const alignBits = Math.min(8, size) * 8;
      if (raw % alignBits) return fail('MEMBER_NOT_ALIGNED', 'Member is not properly aligned');
      if (Math.floor(raw / 8) + size > ssize) return fail('MEMBER_EXCEEDS_SIZE', 'Member exceeds struct_size');
      return 0;
    }
    default:
      return env.failType('UNSUPPORTED', sid, kflag ? 'Unsupported check_kflag_member' : 'Unsupported check_member', false);
  }
}

/** ptr, struct, enum and array members: byte aligned, and inside the struct (u32 arithmetic). */
function byteMember(env: Env, raw: number, ssize: number, size: number, fail: (code: 'MEMBER_NOT_ALIGNED' | 'MEMBER_EXCEEDS_SIZE', msg: string) => number): number {
  if (raw & 7) return fail('MEMBER_NOT_ALIGNED', 'Member is not byte aligned');
  if ((ssize - (raw >>> 3)) >>> 0 < size) return fail('MEMBER_EXCEEDS_SIZE', 'Member exceeds struct_size');
  return 0;
}

// --- functions ------------------------------------------------------------------------------

/** btf_func_check: a FUNC names a FUNC_PROTO whose arguments all have names. */
function funcCheck(env: Env, id: number): number {
  const proto = env.byId(env.sot(id));
  if (proto < 0 || env.kind(proto) !== KIND.FUNC_PROTO) return env.failType('INVALID_TYPE_ID', id, 'Invalid type_id');
  const n = env.vlen(proto);
  for (let i = 0; i < n; i++) if (!env.word(proto, 2 * i) && env.word(proto, 2 * i + 1)) return env.failType('INVALID_ARG', id, `Invalid arg#${i + 1}`);
  return 0;
}

/** btf_func_proto_check: the return type and each argument have a size (or are void / a trailing vararg). */
function funcProtoCheck(env: Env, id: number): number {
  const ret = env.sot(id);
  if (ret) {
    const rt = env.byId(ret);
    if (rt < 0 || env.isSourceOnly(rt)) return env.failType('INVALID_RETURN_TYPE', id, 'Invalid return type');
    if (env.needsResolve(rt) && !isResolved(env, ret)) {
      const err = resolve(env, ret);
      if (err) return err;
    }
    if (typeIdSize(env, ret) < 0) return env.failType('INVALID_RETURN_TYPE', id, 'Invalid return type');
  }
  let n = env.vlen(id);
  if (!n) return 0;
  if (!env.word(id, 2 * (n - 1) + 1)) {
    if (env.word(id, 2 * (n - 1))) return env.failType('INVALID_ARG', id, `Invalid arg#${n}`);
    n--;
  }
  for (let i = 0; i < n; i++) {
    const at = env.word(id, 2 * i + 1);
    const name = env.word(id, 2 * i);
    const t = env.byId(at);
    if (t < 0 || env.isSourceOnly(t)) return env.failType('INVALID_ARG', id, `Invalid arg#${i + 1}`);
    if (name && (!env.nameOffsetValid(name) || !env.validIdentifier(name))) return env.failType('INVALID_ARG', id, `Invalid arg#${i + 1}`);
    if (env.needsResolve(t) && !isResolved(env, at)) {
      const err = resolve(env, at);
      if (err) return err;
    }
    if (typeIdSize(env, at) < 0) return env.failType('INVALID_ARG', id, `Invalid arg#${i + 1}`);
  }
  return 0;
}

/** btf_check_all_types. */
export function checkAllTypes(env: Env): number {
  env.phase = 1;
  for (let id = env.kStart === 0 ? 1 : env.kStart; id < env.total; id++) {
    env.logTypeId = id;
    if (env.needsResolve(id) && !isResolved(env, id)) {
      const err = resolve(env, id);
      if (err) return err;
    }
    if (env.kind(id) === KIND.FUNC_PROTO) {
      const err = funcProtoCheck(env, id);
      if (err) return err;
    }
  }
  return 0;
}

/** btf_check_type_tags: in a chain of modifiers, type tags come first; chains are at most 32 long. */
export function checkTypeTags(env: Env, startId: number): number {
  let good = startId - 1;
  for (let i = startId; i < env.total; i++) {
    if (!env.isModifier(i)) continue;
    let t = i;
    let limit = 32;
    let inTags = env.kind(t) === KIND.TYPE_TAG;
    while (env.isModifier(t)) {
      if (!limit--) return env.fail('CHAIN_TOO_LONG', ERRNO.ELOOP, 'Max chain length or cycle detected', 'Max chain length or cycle detected', env.toff[i]!, i);
      if (env.kind(t) === KIND.TYPE_TAG) {
        if (!inTags) return env.fail('TYPE_TAG_ORDER', ERRNO.EINVAL, "Type tags don't precede modifiers", "Type tags don't precede modifiers", env.toff[i]!, i);
      } else inTags = false;
      if (t <= good) break;
      t = env.byId(env.sot(t));
      if (t < 0) return -ERRNO.EINVAL;
    }
    good = i;
  }
  return 0;
}
