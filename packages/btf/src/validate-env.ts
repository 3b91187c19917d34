/**
 * The state BPF_BTF_LOAD's checker keeps while it walks a blob (kernel/bpf/btf.c,
 * `struct btf_verifier_env` and `struct btf`), over raw bytes so that nothing is trusted
 * before it is checked. Types are addressed by their global id (split BTF continues the base's
 * ids), as the kernel's `btf_type_by_id` does; id 0 is void.
 */
import { KIND } from './btf.js';

/** What went wrong, in the kernel's terms; one code per distinct kernel message. */
export type BtfValidationCode =
  | 'TOO_LARGE' | 'HDR_LEN_NOT_FOUND' | 'HEADER_NOT_FOUND' | 'UNSUPPORTED_HEADER' | 'INVALID_MAGIC' | 'UNSUPPORTED_VERSION'
  | 'UNSUPPORTED_FLAGS' | 'NO_DATA' | 'INVALID_SECTION_OFFSET' | 'UNSUPPORTED_SECTION' | 'SECTION_OVERLAP' | 'SECTION_TOO_LONG'
  | 'STRING_SECTION_NOT_AT_END' | 'INVALID_STRING_SECTION' | 'UNALIGNED_TYPE_OFF' | 'NO_TYPE' | 'TOO_MANY_TYPES'
  | 'META_TRUNCATED' | 'INVALID_INFO' | 'INVALID_KIND' | 'INVALID_NAME_OFFSET' | 'INVALID_NAME' | 'VLEN_NOT_ZERO'
  | 'INVALID_KIND_FLAG' | 'INVALID_INT_DATA' | 'INT_TOO_WIDE' | 'INT_EXCEEDS_SIZE' | 'UNSUPPORTED_ENCODING' | 'INVALID_TYPE_ID'
  | 'FWD_TYPE_NOT_ZERO' | 'ARRAY_SIZE_NOT_ZERO' | 'INVALID_ELEM' | 'INVALID_INDEX' | 'INVALID_MEMBER_OFFSET'
  | 'MEMBER_OFFSET_EXCEEDS_SIZE' | 'UNEXPECTED_SIZE' | 'INVALID_LINKAGE' | 'DATASEC_SIZE_ZERO' | 'INVALID_VSI_OFFSET'
  | 'INVALID_VSI_SIZE' | 'INVALID_DATASEC_SIZE' | 'INVALID_VALUE' | 'INVALID_COMPONENT_IDX' | 'INVALID_FLOAT_SIZE'
  | 'LOOP' | 'TOO_DEEP' | 'INVALID_RESOLVE_STATE' | 'INVALID_MEMBER' | 'MEMBER_NOT_ALIGNED' | 'MEMBER_EXCEEDS_SIZE'
  | 'INVALID_BITFIELD_SIZE' | 'INVALID_MEMBER_BASE_TYPE' | 'BITS_OFFSET_OVERFLOW' | 'NR_COPY_BITS' | 'INVALID_ARRAY_OF_INT'
  | 'ARRAY_SIZE_OVERFLOW' | 'NOT_A_VAR' | 'INVALID_VAR_TYPE' | 'INVALID_RETURN_TYPE' | 'INVALID_ARG' | 'UNSUPPORTED'
  | 'TYPE_TAG_ORDER' | 'CHAIN_TOO_LONG' | 'REJECTED';

export const ERRNO = { E2BIG: 7, EEXIST: 17, EINVAL: 22, ELOOP: 40, ENOTSUPP: 524 } as const;

/** One rejection, as BPF_BTF_LOAD would report it. */
export class BtfValidationError extends Error {
  override readonly name = 'BtfValidationError';
  constructor(
    readonly code: BtfValidationCode,
    /** The kernel's own words for the problem ("Invalid name", "Loop detected", ...). */
    readonly kernelMessage: string,
    /** What the kernel writes to the log for it (the type or member line, then the message). */
    readonly log: string,
    /** The errno the syscall returns (EINVAL 22, E2BIG 7, EEXIST 17, ELOOP 40, ENOTSUPP 524). */
    readonly errno: number,
    /** Byte offset in the blob of the header field, type record, member or string concerned. */
    readonly byteOffset: number,
    readonly typeId?: number,
  ) {
    super(`${typeId !== undefined ? `type [${typeId}]: ` : ''}byte ${byteOffset}: ${kernelMessage}`);
  }
}

export const KIND_STR = ['UNKNOWN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT',
  'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64'] as const;

export const BTF_MAX_TYPE = 0xfffff;
export const BTF_MAX_NAME_OFFSET = 0xffffff;
export const MAX_RESOLVE_DEPTH = 32;
/** KSYM_NAME_LEN: identifiers are at most 511 characters. */
const KSYM_NAME_LEN = 512;
/** BPF_VERIFIER_TMP_LOG_SIZE: one printf into the log is cut to 1023 bytes. */
const TMP_LOG_SIZE = 1024;

export const NOT_VISITED = 0;
export const VISITED = 1;
export const RESOLVED = 2;
export const RESOLVE_TBD = 0;
export const RESOLVE_PTR = 1;
export const RESOLVE_STRUCT_OR_ARRAY = 2;

/* The kernel's ctype table (lib/ctype.c) for bytes, as `isalpha`/`isalnum`/`isprint` see them. */
const ALPHA = 1;
const DIGIT = 2;
const PRINT = 4;
const CTYPE = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    const upper = (c >= 65 && c <= 90) || (c >= 192 && c <= 214) || (c >= 216 && c <= 222);
    const lower = (c >= 97 && c <= 122) || (c >= 223 && c <= 246) || c >= 248;
    const digit = c >= 48 && c <= 57;
    const print = (c >= 32 && c <= 126) || c >= 160;
    t[c] = (upper || lower ? ALPHA : 0) | (digit ? DIGIT : 0) | (print ? PRINT : 0);
  }
  return t;
})();

const latin1 = (bytes: Uint8Array, from: number, to: number): string => {
  let s = '';
  for (let i = from; i < to; i += 4096) s += String.fromCharCode(...bytes.subarray(i, Math.min(to, i + 4096)));
  return s;
};

export class Env {
  /** Resolution state per global id (base types count as resolved). */
  readonly visit: Uint8Array;
  readonly resolvedIds: Uint32Array;
  readonly resolvedSizes: Uint32Array;
  /** 0 while checking records (CHECK_META), 1 while resolving (CHECK_TYPE). */
  phase = 0;
  logTypeId = 0;
  resolveMode = RESOLVE_TBD;
  readonly stackId = new Int32Array(MAX_RESOLVE_DEPTH);
  readonly stackNext = new Uint16Array(MAX_RESOLVE_DEPTH);
  top = 0;
  error: BtfValidationError | undefined;

  constructor(
    readonly dv: DataView,
    readonly le: boolean,
    /** Byte offset of each type record in `dv`, by global id (0 for void). */
    readonly toff: Uint32Array,
    /** Number of ids in use (btf_nr_types: base and void included). */
    public total: number,
    /** The kernel's start_id: 0 for base BTF, the base's type count for split BTF. */
    readonly kStart: number,
    /** All strings, the base's first, as offsets see them. */
    readonly strs: Uint8Array,
    /** First string offset this BTF owns (the base's string length). */
    readonly startStrOff: number,
    /** Where this BTF's own bytes start in `dv` (0 unless a base was prepended). */
    readonly ownAt: number,
    /** Whether the kernel takes a '.' inside identifiers (yes since 6.x). */
    readonly dotInIdentifiers: boolean,
  ) {
    this.visit = new Uint8Array(toff.length);
    this.resolvedIds = new Uint32Array(toff.length);
    this.resolvedSizes = new Uint32Array(toff.length);
  }

  u32(at: number): number {
    return this.dv.getUint32(at, this.le);
  }
  info(id: number): number {
    return id === 0 ? 0 : this.dv.getUint32(this.toff[id]! + 4, this.le);
  }
  kind(id: number): number {
    return id === 0 ? 0 : (this.info(id) >>> 24) & 0x1f;
  }
  vlen(id: number): number {
    return this.info(id) & 0xffff;
  }
  kflag(id: number): boolean {
    return this.info(id) >>> 31 === 1;
  }
  nameOff(id: number): number {
    return id === 0 ? 0 : this.dv.getUint32(this.toff[id]!, this.le);
  }
  /** size or type, by kind. */
  sot(id: number): number {
    return id === 0 ? 0 : this.dv.getUint32(this.toff[id]! + 8, this.le);
  }
  /** The n-th 32-bit word after the common 12-byte header. */
  word(id: number, n: number): number {
    return this.dv.getUint32(this.toff[id]! + 12 + 4 * n, this.le);
  }
  /** btf_type_by_id: the id itself when it names a type, -1 when it does not. */
  byId(id: number): number {
    return id < this.total ? id : -1;
  }

  // Kind predicates (include/linux/btf.h).
  isModifier(id: number): boolean {
    const k = this.kind(id);
    return k === KIND.TYPEDEF || k === KIND.VOLATILE || k === KIND.CONST || k === KIND.RESTRICT || k === KIND.TYPE_TAG;
  }
  isStruct(id: number): boolean {
    const k = this.kind(id);
    return k === KIND.STRUCT || k === KIND.UNION;
  }
  isSourceOnly(id: number): boolean {
    const k = this.kind(id);
    return k === KIND.VAR || k === KIND.DECL_TAG || k === KIND.DATASEC;
  }
  needsResolve(id: number): boolean {
    const k = this.kind(id);
    return this.isModifier(id) || k === KIND.PTR || k === KIND.STRUCT || k === KIND.UNION || k === KIND.ARRAY || k === KIND.VAR ||
      k === KIND.FUNC || k === KIND.DECL_TAG || k === KIND.DATASEC;
  }
  hasSize(id: number): boolean {
    const k = this.kind(id);
    return k === KIND.INT || k === KIND.STRUCT || k === KIND.UNION || k === KIND.ENUM || k === KIND.DATASEC || k === KIND.FLOAT || k === KIND.ENUM64;
  }
  /** btf_type_nosize_or_null (id -1 is null). */
  nosizeOrNull(id: number): boolean {
    if (id < 0 || id === 0) return true;
    const k = this.kind(id);
    return k === KIND.FWD || k === KIND.FUNC || k === KIND.FUNC_PROTO || k === KIND.DECL_TAG;
  }
  intIsRegular(id: number): boolean {
    const data = this.word(id, 0);
    const bits = data & 0xff;
    const bytes = (bits + 7) >>> 3;
    return (bits & 7) === 0 && ((data >>> 16) & 0xff) === 0 && bytes <= 16 && bytes !== 0 && (bytes & (bytes - 1)) === 0;
  }

  // Strings.
  nameOffsetValid(off: number): boolean {
    return off <= BTF_MAX_NAME_OFFSET && off < this.strs.length;
  }
  /** btf_name_valid_identifier: a C identifier (dots allowed where the kernel allows them), < 512 chars. */
  validIdentifier(off: number): boolean {
    const s = this.strs;
    const c0 = s[off]!;
    if (!(CTYPE[c0]! & ALPHA) && c0 !== 95 && !(this.dotInIdentifiers && c0 === 46)) return false;
    const limit = off + KSYM_NAME_LEN;
    let p = off + 1;
    for (; s[p] !== 0 && p < limit; p++) {
      const c = s[p]!;
      if (!(CTYPE[c]! & (ALPHA | DIGIT)) && c !== 95 && !(this.dotInIdentifiers && c === 46)) return false;
    }
    return s[p] === 0;
  }
  /** btf_name_valid_section: printable characters, not empty, < 512 chars. */
  validSection(off: number): boolean {
    const s = this.strs;
    if (s[off] === 0) return false;
    const limit = off + KSYM_NAME_LEN;
    let p = off;
    for (; s[p] !== 0 && p < limit; p++) if (!(CTYPE[s[p]!]! & PRINT)) return false;
    return s[p] === 0;
  }
  /** The bytes of the name at `off` as a latin1 string (one char per byte), for the log. */
  rawName(off: number): string {
    if (off === 0) return '(anon)';
    if (off >= this.strs.length) return '(invalid-name-offset)';
    let end = off;
    while (this.strs[end] !== 0) end++;
    return latin1(this.strs, off, end);
  }

  // The log, built as latin1 (bytes) and decoded as UTF-8 at the end, as a reader of the log would.
  /** One vscnprintf into the log: cut to 1023 bytes. */
  static piece(this: void, s: string): string {
    return s.length >= TMP_LOG_SIZE ? s.slice(0, TMP_LOG_SIZE - 1) : s;
  }
  static text(latin: string): string {
    const b = new Uint8Array(latin.length);
    for (let i = 0; i < latin.length; i++) b[i] = latin.charCodeAt(i);
    return new TextDecoder().decode(b);
  }

  logDetails(id: number): string {
    const k = this.kind(id);
    const P = Env.piece;
    switch (k) {
      case KIND.INT: {
        const d = this.word(id, 0);
        const enc = (d >>> 24) & 0x0f;
        const encStr = enc === 0 ? '(none)' : enc === 1 ? 'SIGNED' : enc === 2 ? 'CHAR' : enc === 4 ? 'BOOL' : 'UNKN';
        return `size=${this.sot(id)} bits_offset=${(d >>> 16) & 0xff} nr_bits=${d & 0xff} encoding=${encStr}`;
      }
      case KIND.PTR: case KIND.TYPEDEF: case KIND.VOLATILE: case KIND.CONST: case KIND.RESTRICT: case KIND.TYPE_TAG: case KIND.FUNC:
        return `type_id=${this.sot(id)}`;
      case KIND.FWD:
        return this.kflag(id) ? 'union' : 'struct';
      case KIND.ARRAY:
        return `type_id=${this.word(id, 0)} index_type_id=${this.word(id, 1)} nr_elems=${this.word(id, 2)}`;
      case KIND.STRUCT: case KIND.UNION: case KIND.ENUM: case KIND.ENUM64: case KIND.DATASEC:
        return `size=${this.sot(id)} vlen=${this.vlen(id)}`;
      case KIND.FUNC_PROTO: {
        const n = this.vlen(id);
        let s = `return=${this.sot(id)} args=(`;
        const argType = (i: number): number => this.word(id, 2 * i + 1);
        const argName = (i: number): string => this.rawName(this.word(id, 2 * i));
        if (n === 0) s += 'void';
        else if (n === 1 && argType(0) === 0) s += 'vararg';
        else {
          s += P(`${argType(0)} ${argName(0)}`);
          for (let i = 1; i < n - 1; i++) s += P(`, ${argType(i)} ${argName(i)}`);
          if (n > 1) s += argType(n - 1) ? P(`, ${argType(n - 1)} ${argName(n - 1)}`) : ', vararg';
        }
        return `${s})`;
      }
      case KIND.VAR:
        return `type_id=${this.sot(id)} linkage=${this.word(id, 0)}`;
      case KIND.FLOAT:
        return `size=${this.sot(id)}`;
      case KIND.DECL_TAG:
        return `type=${this.sot(id)} component_idx=${this.word(id, 0) | 0}`;
      default:
        return '';
    }
  }

  /** __btf_verifier_log_type: "[id] KIND name details msg\n". */
  typeLine(id: number, details: boolean, msg?: string): string {
    let s = Env.piece(`[${this.logTypeId}] ${KIND_STR[this.kind(id)] ?? ''} ${this.rawName(this.nameOff(id))}${details ? ' ' : ''}`);
    if (details) s += Env.piece(this.logDetails(id));
    if (msg) s += ` ${Env.piece(msg)}`;
    return `${s}\n`;
  }

  /** btf_verifier_log_member; `type` overrides the member's type as the kernel does after resolving modifiers. */
  memberLine(structId: number, at: number, msg: string, type?: number): string {
    const pre = this.phase !== 0 ? this.typeLine(structId, true) : '';
    const name = this.rawName(this.u32(at));
    const t = type ?? this.u32(at + 4);
    const off = this.u32(at + 8);
    const m = this.kflag(structId)
      ? `\t${name} type_id=${t} bitfield_size=${off >>> 24} bits_offset=${off & 0xffffff}`
      : `\t${name} type_id=${t} bits_offset=${off}`;
    return `${pre}${Env.piece(m)} ${Env.piece(msg)}\n`;
  }

  /** btf_verifier_log_vsi. */
  vsiLine(secId: number, at: number, msg: string): string {
    const pre = this.phase !== 0 ? this.typeLine(secId, true) : '';
    return `${pre}${Env.piece(`\t type_id=${this.u32(at)} offset=${this.u32(at + 4)} size=${this.u32(at + 8)}`)} ${Env.piece(msg)}\n`;
  }

  /** Record the (first) error and return -errno, like the kernel's checkers. */
  fail(code: BtfValidationCode, errno: number, msg: string, log: string, at: number, typeId?: number): number {
    this.error ??= new BtfValidationError(code, Env.text(msg), Env.text(log), errno, Math.max(0, at - this.ownAt), typeId);
    return -errno;
  }
  /** An error about type `id`, logged with its type line. */
  failType(code: BtfValidationCode, id: number, msg: string, details = true, errno: number = ERRNO.EINVAL): number {
    return this.fail(code, errno, msg, this.typeLine(id, details, msg), this.toff[id]!, this.logTypeId);
  }
  failMember(code: BtfValidationCode, structId: number, at: number, msg: string, type?: number): number {
    return this.fail(code, ERRNO.EINVAL, msg, this.memberLine(structId, at, msg, type), at, this.logTypeId);
  }
  failVsi(code: BtfValidationCode, secId: number, at: number, msg: string): number {
    return this.fail(code, ERRNO.EINVAL, msg, this.vsiLine(secId, at, msg), at, this.logTypeId);
  }
}
