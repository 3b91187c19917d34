/**
 * `validateBtf`: the checks BPF_BTF_LOAD makes before it accepts a blob (kernel/bpf/btf.c
 * btf_parse: btf_parse_hdr, btf_parse_str_sec, btf_check_all_metas, btf_check_all_types,
 * btf_check_type_tags), with the kernel's messages and errnos. The kernel stops at the first
 * problem, so the answer holds at most one error; an empty array means the kernel would load it.
 *
 * This file: the header, the string section and the per-record checks (CHECK_META).
 * validate-resolve.ts: the references between types (CHECK_TYPE).
 */
import { KIND, writeBtf, type Btf } from './btf.js';
import { BTF_MAX_NAME_OFFSET, BTF_MAX_TYPE, BtfValidationError, Env, ERRNO } from './validate-env.js';
import { checkAllTypes, checkTypeTags } from './validate-resolve.js';

export { BtfValidationError, type BtfValidationCode } from './validate-env.js';

export interface ValidateOptions {
  /** Base BTF for split BTF (a module's on vmlinux): its types and strings come first. */
  readonly base?: Btf;
  /** The kernel's byte order (default little: x86-64, arm64). A blob in the other order has an invalid magic. */
  readonly endian?: 'little' | 'big';
  /** Whether identifiers may contain '.' (default true, as in 6.x kernels). */
  readonly dotInIdentifiers?: boolean;
}

/** BTF_MAX_SIZE: BPF_BTF_LOAD refuses bigger blobs with E2BIG before reading them. */
const BTF_MAX_SIZE = 16 * 1024 * 1024;
const HDR_SIZE = 24;

/**
 * What BPF_BTF_LOAD says about this BTF: [] when the kernel loads it, else its first error with
 * the kernel's message, log line, errno, type id and byte offset. A `Btf` is checked as
 * `writeBtf` lays it out.
 */
export function validateBtf(btf: Btf | Uint8Array, opts: ValidateOptions = {}): BtfValidationError[] {
  const bytes = btf instanceof Uint8Array ? btf : writeBtf(btf);
  const env = check(bytes, opts);
  return env.error ? [env.error] : [];
}

function check(bytes: Uint8Array, opts: ValidateOptions): Env {
  const le = (opts.endian ?? 'little') === 'little';
  const base = opts.base ? baseState(opts.base, opts) : undefined;
  const baseLen = base ? base.bytes.length : 0;
  // Split BTF: the base's bytes first so one DataView reaches every type.
  const all = base ? concat(base.bytes, bytes) : bytes;
  const dv = new DataView(all.buffer, all.byteOffset, all.byteLength);
  const size = bytes.length;
  const early = (code: ConstructorParameters<typeof BtfValidationError>[0], errno: number, msg: string, at: number): Env => {
    const env = new Env(dv, le, new Uint32Array(1), 1, 0, new Uint8Array(0), 0, baseLen, true);
    env.fail(code, errno, msg, msg, baseLen + at);
    return env;
  };
  if (size > BTF_MAX_SIZE) return early('TOO_LARGE', ERRNO.E2BIG, `BTF is ${size} bytes, more than ${BTF_MAX_SIZE}`, 0);

  // btf_parse_hdr
  if (size < 8) return early('HDR_LEN_NOT_FOUND', ERRNO.EINVAL, 'hdr_len not found', 0);
  const hdrLenRaw = dv.getUint32(baseLen + 4, le);
  if (size < hdrLenRaw) return early('HEADER_NOT_FOUND', ERRNO.EINVAL, 'btf_header not found', 4);
  for (let i = HDR_SIZE; i < hdrLenRaw; i++)
    if (bytes[i] !== 0) return early('UNSUPPORTED_HEADER', ERRNO.E2BIG, 'Unsupported btf_header', i);
  // The kernel copies min(hdr_len, 24) bytes into a zeroed header.
  const hdr = new Uint8Array(HDR_SIZE);
  hdr.set(bytes.subarray(0, Math.min(hdrLenRaw, HDR_SIZE)));
  const hv = new DataView(hdr.buffer);
  const magic = hv.getUint16(0, le);
  const hdrLen = hv.getUint32(4, le);
  const typeOff = hv.getUint32(8, le);
  const typeLen = hv.getUint32(12, le);
  const strOff = hv.getUint32(16, le);
  const strLen = hv.getUint32(20, le);
  if (magic !== 0xeb9f) return early('INVALID_MAGIC', ERRNO.EINVAL, 'Invalid magic', 0);
  if (hdr[2] !== 1) return early('UNSUPPORTED_VERSION', ERRNO.ENOTSUPP, 'Unsupported version', 2);
  if (hdr[3] !== 0) return early('UNSUPPORTED_FLAGS', ERRNO.ENOTSUPP, 'Unsupported flags', 3);
  if (!base && size === hdrLen) return early('NO_DATA', ERRNO.EINVAL, 'No data', 4);

  // btf_check_sec_info: the type and string sections, in order, exactly cover what follows the header.
  let secs: [number, number][] = [[typeOff, typeLen], [strOff, strLen]];
  const cmp = (x: [number, number], y: [number, number]): number => ((x[0] - y[0]) | 0) || ((x[1] - y[1]) | 0);
  if (cmp(secs[0]!, secs[1]!) > 0) secs = [secs[1]!, secs[0]!];
  const expected = (size - hdrLen) >>> 0;
  let total = 0;
  for (const [off, len] of secs) {
    const at = off === typeOff && len === typeLen ? 8 : 16;
    if (expected < off) return early('INVALID_SECTION_OFFSET', ERRNO.EINVAL, 'Invalid section offset', at);
    if (total < off) return early('UNSUPPORTED_SECTION', ERRNO.EINVAL, 'Unsupported section found', at);
    if (total > off) return early('SECTION_OVERLAP', ERRNO.EINVAL, 'Section overlap found', at);
    if (expected - total < len) return early('SECTION_TOO_LONG', ERRNO.EINVAL, 'Total section length too long', at + 4);
    total = (total + len) >>> 0;
  }
  if (expected !== total) return early('UNSUPPORTED_SECTION', ERRNO.EINVAL, 'Unsupported section found', hdrLen + total);

  // btf_parse_str_sec
  const sStart = hdrLen + strOff;
  if (sStart + strLen !== size) return early('STRING_SECTION_NOT_AT_END', ERRNO.EINVAL, 'String section is not at the end', 16);
  if (!(base && strLen === 0)) {
    if (strLen === 0 || strLen - 1 > BTF_MAX_NAME_OFFSET || bytes[sStart + strLen - 1] !== 0)
      return early('INVALID_STRING_SECTION', ERRNO.EINVAL, 'Invalid string section', sStart + Math.max(0, strLen - 1));
    if (!base && bytes[sStart] !== 0) return early('INVALID_STRING_SECTION', ERRNO.EINVAL, 'Invalid string section', sStart);
  }
  const ownStrs = bytes.subarray(sStart, sStart + strLen);
  const strs = base ? concat(base.strs, ownStrs) : ownStrs;

  // btf_parse_type_sec
  if (typeOff & 3) return early('UNALIGNED_TYPE_OFF', ERRNO.EINVAL, 'Unaligned type_off', 8);
  if (!base && typeLen === 0) return early('NO_TYPE', ERRNO.EINVAL, 'No type found', 12);

  // btf_check_all_metas: walk the records once, checking each on its own.
  const kStart = base ? base.env.total : 0;
  const firstId = base ? kStart : 1;
  const tStart = baseLen + hdrLen + typeOff;
  const tEnd = tStart + typeLen;
  const toff = new Uint32Array(firstId + (typeLen / 12 | 0) + 1);
  if (base) toff.set(base.env.toff.subarray(0, kStart));
  const env = new Env(dv, le, toff, firstId, kStart, strs, base ? base.strs.length : 0, baseLen, opts.dotInIdentifiers ?? true);
  if (base) {
    env.visit.fill(2, 0, kStart);
    env.resolvedIds.set(base.env.resolvedIds.subarray(0, kStart));
    env.resolvedSizes.set(base.env.resolvedSizes.subarray(0, kStart));
  }
  env.logTypeId = firstId;
  let p = tStart;
  while (p < tEnd) {
    if (env.total - kStart === BTF_MAX_TYPE - kStart) {
      env.fail('TOO_MANY_TYPES', ERRNO.E2BIG, 'Exceeded max num of types', 'Exceeded max num of types', p);
      return env;
    }
    const n = checkMeta(env, p, tEnd - p);
    if (n < 0) return env;
    p += n;
    env.logTypeId++;
  }
  // btf_check_all_types, then btf_check_type_tags
  const err = checkAllTypes(env) || checkTypeTags(env, kStart || 1);
  // A few kernel paths give up without a log line (a WARN_ON, a vanished type).
  if (err < 0 && !env.error) env.fail('REJECTED', -err, '', '', tStart);
  return env;
}

interface BaseState {
  readonly bytes: Uint8Array;
  readonly strs: Uint8Array;
  readonly env: Env;
}
const baseCache = new WeakMap<Btf, BaseState>();

/** The base as the kernel holds it: checked and resolved once. */
function baseState(base: Btf, opts: ValidateOptions): BaseState {
  const hit = baseCache.get(base);
  if (hit) return hit;
  const bytes = writeBtf(base);
  const env = check(bytes, { ...opts, ...(base.base ? { base: base.base } : { base: undefined }) });
  if (env.error) throw env.error;
  const strs = base.base ? concat(baseState(base.base, opts).strs, base.strings) : base.strings;
  const state = { bytes: base.base ? concat(baseState(base.base, opts).bytes, bytes) : bytes, strs, env };
  baseCache.set(base, state);
  return state;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** btf_check_meta: one record at `p` with `left` bytes left; its size, or -errno. */
function checkMeta(env: Env, p: number, left: number): number {
  const id = env.total;
  if (left < 12) return env.fail('META_TRUNCATED', ERRNO.EINVAL, `meta_left:${left} meta_needed:12`, `[${id}] meta_left:${left} meta_needed:12`, p, id);
  const info = env.u32(p + 4);
  if (info & ~0x9f00ffff) {
    const msg = `Invalid btf_info:${(info >>> 0).toString(16)}`;
    return env.fail('INVALID_INFO', ERRNO.EINVAL, msg, `[${id}] ${msg}`, p + 4, id);
  }
  const kind = (info >>> 24) & 0x1f;
  if (kind > KIND.ENUM64 || kind === 0) return env.fail('INVALID_KIND', ERRNO.EINVAL, `Invalid kind:${kind}`, `[${id}] Invalid kind:${kind}`, p + 4, id);
  const nameOff = env.u32(p);
  if (!env.nameOffsetValid(nameOff))
    return env.fail('INVALID_NAME_OFFSET', ERRNO.EINVAL, `Invalid name_offset:${nameOff}`, `[${id}] Invalid name_offset:${nameOff}`, p, id);
  // Provisionally add the type so the kind checks can read it by id.
  env.toff[id] = p;
  env.total = id + 1;
  const extra = META[kind]!(env, id, left - 12);
  if (extra < 0) return extra;
  return 12 + extra;
}

type MetaCheck = (env: Env, id: number, left: number) => number;

const needs = (env: Env, id: number, left: number, needed: number): number =>
  left < needed ? env.failType('META_TRUNCATED', id, `meta_left:${left} meta_needed:${needed}`, false) : 0;

const intMeta: MetaCheck = (env, id, left) => {
  if (left < 4) return needs(env, id, left, 4);
  if (env.vlen(id)) return env.failType('VLEN_NOT_ZERO', id, 'vlen != 0');
  if (env.kflag(id)) return env.failType('INVALID_KIND_FLAG', id, 'Invalid btf_info kind_flag');
  const data = env.word(id, 0);
  if (data & ~0x0fffffff) return env.failType('INVALID_INT_DATA', id, `Invalid int_data:${(data >>> 0).toString(16)}`, false);
  const bits = (data & 0xff) + ((data >>> 16) & 0xff);
  if (bits > 128) return env.failType('INT_TOO_WIDE', id, 'nr_bits exceeds 128');
  if ((bits + 7) >>> 3 > env.sot(id)) return env.failType('INT_EXCEEDS_SIZE', id, 'nr_bits exceeds type_size');
  const enc = (data >>> 24) & 0x0f;
  if (enc !== 0 && enc !== 1 && enc !== 2 && enc !== 4) return env.failType('UNSUPPORTED_ENCODING', id, 'Unsupported encoding', true, ERRNO.ENOTSUPP);
  return 4;
};

/** PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG (btf_ref_type_check_meta). */
const refMeta: MetaCheck = (env, id) => {
  const kind = env.kind(id);
  if (env.vlen(id)) return env.failType('VLEN_NOT_ZERO', id, 'vlen != 0');
  if (env.kflag(id) && kind !== KIND.TYPE_TAG) return env.failType('INVALID_KIND_FLAG', id, 'Invalid btf_info kind_flag');
  if (env.sot(id) > BTF_MAX_TYPE) return env.failType('INVALID_TYPE_ID', id, 'Invalid type_id');
  const off = env.nameOff(id);
  if (kind === KIND.TYPEDEF) {
    if (!off || !env.validIdentifier(off)) return env.failType('INVALID_NAME', id, 'Invalid name');
  } else if (kind === KIND.TYPE_TAG) {
    if (env.strs[off] === 0) return env.failType('INVALID_NAME', id, 'Invalid name');
  } else if (off) return env.failType('INVALID_NAME', id, 'Invalid name');
  return 0;
};

const fwdMeta: MetaCheck = (env, id) => {
  if (env.vlen(id)) return env.failType('VLEN_NOT_ZERO', id, 'vlen != 0');
  if (env.sot(id)) return env.failType('FWD_TYPE_NOT_ZERO', id, 'type != 0');
  const off = env.nameOff(id);
  if (!off || !env.validIdentifier(off)) return env.failType('INVALID_NAME', id, 'Invalid name');
  return 0;
};

const arrayMeta: MetaCheck = (env, id, left) => {
  if (left < 12) return needs(env, id, left, 12);
  if (env.nameOff(id)) return env.failType('INVALID_NAME', id, 'Invalid name');
  if (env.vlen(id)) return env.failType('VLEN_NOT_ZERO', id, 'vlen != 0');
  if (env.kflag(id)) return env.failType('INVALID_KIND_FLAG', id, 'Invalid btf_info kind_flag');
  if (env.sot(id)) return env.failType('ARRAY_SIZE_NOT_ZERO', id, 'size != 0');
  const elem = env.word(id, 0);
  if (!elem || elem > BTF_MAX_TYPE) return env.failType('INVALID_ELEM', id, 'Invalid elem');
  const index = env.word(id, 1);
  if (!index || index > BTF_MAX_TYPE) return env.failType('INVALID_INDEX', id, 'Invalid index');
  return 12;
};

const structMeta: MetaCheck = (env, id, left) => {
  const vlen = env.vlen(id);
  const needed = vlen * 12;
  if (left < needed) return needs(env, id, left, needed);
  const off = env.nameOff(id);
  if (off && !env.validIdentifier(off)) return env.failType('INVALID_NAME', id, 'Invalid name');
  const isUnion = env.kind(id) === KIND.UNION;
  const kflag = env.kflag(id);
  const size = env.sot(id);
  let last = 0;
  for (let i = 0, at = env.toff[id]! + 12; i < vlen; i++, at += 12) {
    const name = env.u32(at);
    if (!env.nameOffsetValid(name)) return env.failMember('INVALID_NAME_OFFSET', id, at, `Invalid member name_offset:${name}`);
    if (name && !env.validIdentifier(name)) return env.failMember('INVALID_NAME', id, at, 'Invalid name');
    const type = env.u32(at + 4);
    if (!type || type > BTF_MAX_TYPE) return env.failMember('INVALID_TYPE_ID', id, at, 'Invalid type_id');
    const raw = env.u32(at + 8);
    const bitOff = kflag ? raw & 0xffffff : raw;
    if (isUnion && bitOff) return env.failMember('INVALID_MEMBER_OFFSET', id, at, 'Invalid member bits_offset');
    // ">" not ">=": the last member may be a zero-length array.
    if (last > bitOff) return env.failMember('INVALID_MEMBER_OFFSET', id, at, 'Invalid member bits_offset');
    if (Math.ceil(bitOff / 8) > size) return env.failMember('MEMBER_OFFSET_EXCEEDS_SIZE', id, at, 'Member bits_offset exceeds its struct size');
    last = bitOff;
  }
  return needed;
};

const enumMeta = (wide: boolean): MetaCheck => (env, id, left) => {
  const vlen = env.vlen(id);
  const rec = wide ? 12 : 8;
  const needed = vlen * rec;
  if (left < needed) return needs(env, id, left, needed);
  const size = env.sot(id);
  if (size > 8 || size === 0 || (size & (size - 1)) !== 0) return env.failType('UNEXPECTED_SIZE', id, 'Unexpected size');
  const off = env.nameOff(id);
  if (off && !env.validIdentifier(off)) return env.failType('INVALID_NAME', id, 'Invalid name');
  // The type line (with the values before the bad one) precedes an enumerator's error.
  for (let i = 0, at = env.toff[id]! + 12; i < vlen; i++, at += rec) {
    const name = env.u32(at);
    if (!env.nameOffsetValid(name)) {
      const msg = `\tInvalid name_offset:${name}`;
      return env.fail('INVALID_NAME_OFFSET', ERRNO.EINVAL, msg.slice(1), msg, at, env.logTypeId);
    }
    if (!name || !env.validIdentifier(name)) return env.failType('INVALID_NAME', id, 'Invalid name');
  }
  return needed;
};

const funcProtoMeta: MetaCheck = (env, id, left) => {
  const needed = env.vlen(id) * 8;
  if (left < needed) return needs(env, id, left, needed);
  if (env.nameOff(id)) return env.failType('INVALID_NAME', id, 'Invalid name');
  if (env.kflag(id)) return env.failType('INVALID_KIND_FLAG', id, 'Invalid btf_info kind_flag');
  return needed;
};

const funcMeta: MetaCheck = (env, id) => {
  const off = env.nameOff(id);
  if (!off || !env.validIdentifier(off)) return env.failType('INVALID_NAME', id, 'Invalid name');
  // BTF_FUNC_STATIC or BTF_FUNC_GLOBAL; extern functions are not loaded into the kernel.
  if (env.vlen(id) > 1) return env.failType('INVALID_LINKAGE', id, 'Invalid func linkage');
  if (env.kflag(id)) return env.failType('INVALID_KIND_FLAG', id, 'Invalid btf_info kind_flag');
  return 0;
};

const varMeta: MetaCheck = (env, id, left) => {
  if (left < 4) return needs(env, id, left, 4);
  if (env.vlen(id)) return env.failType('VLEN_NOT_ZERO', id, 'vlen != 0');
  if (env.kflag(id)) return env.failType('INVALID_KIND_FLAG', id, 'Invalid btf_info kind_flag');
  const off = env.nameOff(id);
  if (!off || !env.validIdentifier(off)) return env.failType('INVALID_NAME', id, 'Invalid name');
  const type = env.sot(id);
  if (!type || type > BTF_MAX_TYPE) return env.failType('INVALID_TYPE_ID', id, 'Invalid type_id');
  const linkage = env.word(id, 0);
  if (linkage !== 0 && linkage !== 1) return env.failType('INVALID_LINKAGE', id, 'Linkage not supported');
  return 4;
};

const datasecMeta: MetaCheck = (env, id, left) => {
  const vlen = env.vlen(id);
  const needed = vlen * 12;
  if (left < needed) return needs(env, id, left, needed);
  const size = env.sot(id);
  if (!size) return env.failType('DATASEC_SIZE_ZERO', id, 'size == 0');
  if (env.kflag(id)) return env.failType('INVALID_KIND_FLAG', id, 'Invalid btf_info kind_flag');
  const off = env.nameOff(id);
  if (!off || !env.validSection(off)) return env.failType('INVALID_NAME', id, 'Invalid name');
  let lastEnd = 0;
  let sum = 0;
  for (let i = 0, at = env.toff[id]! + 12; i < vlen; i++, at += 12) {
    const type = env.u32(at);
    const o = env.u32(at + 4);
    const s = env.u32(at + 8);
    if (!type || type > BTF_MAX_TYPE) return env.failVsi('INVALID_TYPE_ID', id, at, 'Invalid type_id');
    if (o < lastEnd || o >= size) return env.failVsi('INVALID_VSI_OFFSET', id, at, 'Invalid offset');
    if (!s || s > size) return env.failVsi('INVALID_VSI_SIZE', id, at, 'Invalid size');
    lastEnd = (o + s) >>> 0; // a u32 sum in the kernel
    if (lastEnd > size) return env.failVsi('INVALID_VSI_OFFSET', id, at, 'Invalid offset+size');
    sum += s;
  }
  if (size < sum) return env.failType('INVALID_DATASEC_SIZE', id, 'Invalid btf_info size');
  return needed;
};

const floatMeta: MetaCheck = (env, id) => {
  if (env.vlen(id)) return env.failType('VLEN_NOT_ZERO', id, 'vlen != 0');
  if (env.kflag(id)) return env.failType('INVALID_KIND_FLAG', id, 'Invalid btf_info kind_flag');
  const size = env.sot(id);
  if (size !== 2 && size !== 4 && size !== 8 && size !== 12 && size !== 16) return env.failType('INVALID_FLOAT_SIZE', id, 'Invalid type_size');
  return 0;
};

const declTagMeta: MetaCheck = (env, id, left) => {
  if (left < 4) return needs(env, id, left, 4);
  if (env.strs[env.nameOff(id)] === 0) return env.failType('INVALID_VALUE', id, 'Invalid value');
  if (env.vlen(id)) return env.failType('VLEN_NOT_ZERO', id, 'vlen != 0');
  if ((env.word(id, 0) | 0) < -1) return env.failType('INVALID_COMPONENT_IDX', id, 'Invalid component_idx');
  return 4;
};

/** check_meta per kind, indexed by kind number. */
const META: readonly (MetaCheck | undefined)[] = (() => {
  const t: (MetaCheck | undefined)[] = [];
  t[KIND.INT] = intMeta;
  t[KIND.PTR] = refMeta;
  t[KIND.ARRAY] = arrayMeta;
  t[KIND.STRUCT] = structMeta;
  t[KIND.UNION] = structMeta;
  t[KIND.ENUM] = enumMeta(false);
  t[KIND.FWD] = fwdMeta;
  t[KIND.TYPEDEF] = refMeta;
  t[KIND.VOLATILE] = refMeta;
  t[KIND.CONST] = refMeta;
  t[KIND.RESTRICT] = refMeta;
  t[KIND.FUNC] = funcMeta;
  t[KIND.FUNC_PROTO] = funcProtoMeta;
  t[KIND.VAR] = varMeta;
  t[KIND.DATASEC] = datasecMeta;
  t[KIND.FLOAT] = floatMeta;
  t[KIND.DECL_TAG] = declTagMeta;
  t[KIND.TYPE_TAG] = refMeta;
  t[KIND.ENUM64] = enumMeta(true);
  return t;
})();
