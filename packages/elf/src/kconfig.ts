/**
 * `__kconfig` extern values written into the `.kconfig` map as the object's loader writes them.
 * A value is what a kernel configuration line holds after `=` (`y`, `m`, `n`, `"text"`, `250`,
 * `0x1f`), read by the extern's type as libbpf reads it (bpf_object__process_kconfig_line with
 * find_kcfg_type and set_kcfg_value_tri/_str/_num) or as cilium/ebpf reads it
 * (internal/kconfig PutValue); or a number or boolean a host gives, written as libbpf writes the
 * values it computes itself (LINUX_KERNEL_VERSION a number, LINUX_HAS_BPF_COOKIE a boolean).
 *
 * The two loaders agree on most of it; where they differ:
 * - a `y`/`n` value for a `char` extern: libbpf stores the letter, cilium/ebpf refuses it;
 * - a string longer than its array: libbpf keeps what fits before a NUL it writes last,
 *   cilium/ebpf fills the whole array and writes no NUL;
 * - a number: libbpf parses it as an unsigned 64-bit C number (`strtoull`, so `-1` wraps) and
 *   then checks it fits the extern's size; cilium/ebpf parses it at the extern's size and
 *   signedness.
 * Refusals carry libbpf's words (cilium/ebpf's for what only it refuses).
 */
import { skipModsAndTypedefs, type BtfTypeTable } from './btfview.js';
import { ElfError } from './errors.js';

/** A value for a `__kconfig` extern: a configuration line's text after `=`, or a host's number or boolean. */
export type KconfigValue = string | number | bigint | boolean;

/** The kinds of `__kconfig` externs (libbpf's enum kcfg_type). */
type KcfgKind = 'unknown' | 'bool' | 'char' | 'int' | 'tristate' | 'char_arr';

interface Extern {
  readonly name: string;
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}

/** find_kcfg_type: what an extern's type lets it hold, and whether it is signed. */
export function kcfgKind(btf: BtfTypeTable, id: number): { kind: KcfgKind; signed: boolean; nelems: number } {
  const r = skipModsAndTypedefs(btf, id);
  const t = r?.t;
  const none = { kind: 'unknown' as const, signed: false, nelems: 0 };
  if (!t) return none;
  switch (t.kind) {
    case 'int':
      if (t.bool) return { ...none, kind: t.size === 1 ? 'bool' : 'unknown' };
      if (t.size === 1) return { kind: 'char', signed: t.signed, nelems: 0 };
      if (t.size < 1 || t.size > 8 || (t.size & (t.size - 1)) !== 0) return none;
      return { kind: 'int', signed: t.signed, nelems: 0 };
    case 'enum':
    case 'enum64':
      if ((t.kind === 'enum' && t.size !== 4) || t.name !== 'libbpf_tristate') return none;
      return { ...none, kind: 'tristate' };
    case 'array':
      if (t.nelems === 0 || kcfgKind(btf, t.elemType).kind !== 'char') return none;
      return { kind: 'char_arr', signed: false, nelems: t.nelems };
    default:
      return none;
  }
}

const fail = (ext: Extern, message: string): ElfError => new ElfError('UNRESOLVED_EXTERN', `extern (kcfg) '${ext.name}': ${message}`, { section: '.kconfig', extern: ext.name });

/** strtoull(value, &end, 0) of the whole string, as libbpf's parse_u64; undefined when it does not parse to the end. */
function parseCNumber(text: string): bigint | undefined {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const digits = m[2]!;
  const v = /^0[xX]/.test(digits) ? BigInt(digits) : digits.length > 1 && digits.startsWith('0') ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  // strtoull sets ERANGE beyond 2^64 - 1 (libbpf then refuses); a minus sign negates in unsigned arithmetic
  if (v > 0xffffffffffffffffn) return undefined;
  return m[1] === '-' ? BigInt.asUintN(64, -v) : v;
}

/**
 * Write `value` for the extern into `view` (the `.kconfig` map's bytes), as `linker`'s loader
 * writes it; a value the extern's type cannot take is refused with an `UNRESOLVED_EXTERN` error
 * naming the extern (both loaders then refuse the object).
 */
export function writeKconfig(btf: BtfTypeTable, ext: Extern, value: KconfigValue, view: DataView, littleEndian: boolean, linker: 'libbpf' | 'cilium/ebpf' = 'libbpf'): void {
  const { kind, signed, nelems } = kcfgKind(btf, ext.type);
  // a host's boolean: libbpf sets its own (LINUX_HAS_BPF_COOKIE) as y/n, cilium/ebpf its
  // (LINUX_HAS_SYSCALL_WRAPPER) as the integer 0/1
  if (typeof value === 'boolean') value = linker === 'libbpf' ? (value ? 'y' : 'n') : value ? 1 : 0;
  if (typeof value === 'string' && (value === 'y' || value === 'n' || value === 'm')) {
    // set_kcfg_value_tri
    if (kind === 'bool') {
      if (value === 'm') throw fail(ext, "value 'm' implies tristate or char type");
      view.setUint8(ext.offset, value === 'y' ? 1 : 0);
    } else if (kind === 'tristate') view.setUint32(ext.offset, value === 'y' ? 1 : value === 'm' ? 2 : 0, littleEndian);
    else if (kind === 'char' && linker === 'libbpf') view.setUint8(ext.offset, value.charCodeAt(0));
    else throw fail(ext, `value '${value}' implies bool, tristate, or char type`);
    return;
  }
  if (typeof value === 'string' && value.startsWith('"')) {
    // set_kcfg_value_str
    if (kind !== 'char_arr') throw fail(ext, `value '${value}' implies char array type`);
    if (value.length < 2 || !value.endsWith('"')) throw fail(ext, `invalid string config '${value}'`);
    const bytes = new TextEncoder().encode(value.slice(1, -1));
    const keep = linker === 'libbpf' ? Math.min(bytes.length, nelems - 1) : Math.min(bytes.length, nelems);
    for (let i = 0; i < keep; i++) view.setUint8(ext.offset + i, bytes[i]!);
    if (linker === 'libbpf') view.setUint8(ext.offset + keep, 0);
    return;
  }
  let n: bigint;
  if (typeof value === 'string') {
    const parsed = parseCNumber(value);
    if (parsed === undefined) throw fail(ext, `value '${value}' isn't a valid integer`);
    if (kind !== 'int' && kind !== 'char') throw fail(ext, `value '${value}' implies integer type`);
    n = parsed;
    if (linker === 'cilium/ebpf') {
      // strconv.ParseInt / ParseUint at the extern's width and signedness: the text's own value, in range
      const negative = value.trim().startsWith('-');
      const v = negative ? BigInt.asIntN(64, n) : n;
      const bits = BigInt(ext.size * 8);
      const [lo, hi] = signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
      if (v < lo || v > hi) throw fail(ext, `value '${value}' doesn't fit in ${ext.size} bytes`);
    }
  } else {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw fail(ext, `value '${value}' is not an integer`);
    n = BigInt.asUintN(64, BigInt(value));
    if (kind !== 'int' && kind !== 'char' && kind !== 'bool') throw fail(ext, `value '${n}' implies integer, char, or boolean type`);
    if (kind === 'bool' && n > 1n) throw fail(ext, `value '${n}' isn't boolean compatible`);
  }
  // set_kcfg_value_num: the value must fit the extern's size without losing information
  const bits = BigInt(ext.size * 8);
  if (ext.size !== 8) {
    const fits = signed ? BigInt.asUintN(64, n + (1n << (bits - 1n))) < 1n << bits : n >> bits === 0n;
    if (!fits) throw fail(ext, `value '${n}' doesn't fit in ${ext.size} bytes`);
  }
  if (ext.size === 1) view.setUint8(ext.offset, Number(n & 0xffn));
  else if (ext.size === 2) view.setUint16(ext.offset, Number(n & 0xffffn), littleEndian);
  else if (ext.size === 4) view.setUint32(ext.offset, Number(n & 0xffffffffn), littleEndian);
  else if (ext.size === 8) view.setBigUint64(ext.offset, n, littleEndian);
  else throw fail(ext, 'type is unsupported');
}
