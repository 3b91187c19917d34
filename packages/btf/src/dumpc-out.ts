/**
 * The byte side of the BTF-to-C emitter: the output buffer, and the duplicate-name counts that
 * give `name___2`. Names stay bytes of the string section from start to end — copied into the
 * output as bpftool prints them, compared and hashed as libbpf does (strcmp, not Unicode) — so
 * vmlinux's some 150,000 written names cost no JS strings and no string-keyed Map.
 */
import { BtfError } from './btf.js';

const TAB = 9;
const decoder = new TextDecoder();

/** The output as UTF-8 bytes in one growing buffer, decoded once at the end. */
export class Out {
  buf: Uint8Array;
  len = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(1 << 12, capacity));
  }

  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }

  /** ASCII text: our own literals, numbers turned to text. */
  lit(s: string): void {
    this.room(s.length);
    const buf = this.buf;
    let len = this.len;
    for (let k = 0; k < s.length; k++) buf[len++] = s.charCodeAt(k);
    this.len = len;
  }

  /** Indentation for nesting level `lvl` (libbpf stops adding tabs at 13). */
  tabs(lvl: number): void {
    const n = lvl >= 13 ? 13 : lvl;
    this.room(n);
    for (let k = 0; k < n; k++) this.buf[this.len++] = TAB;
  }

  /** An integer (|n| < 2^53) in decimal. */
  num(n: number): void {
    this.room(24);
    if (n < 0) {
      this.buf[this.len++] = 45; // '-'
      n = -n;
    }
    if (n < 10) {
      this.buf[this.len++] = 48 + n;
      return;
    }
    let digits = 0;
    for (let v = n; v >= 1; v = Math.floor(v / 10)) digits++;
    let at = this.len + digits;
    this.len = at;
    for (let v = n; v >= 1; v = Math.floor(v / 10)) this.buf[--at] = 48 + (v % 10);
  }

  /** The NUL-terminated string at `off` of `strs`, byte for byte (the caller checked `off`). */
  cstr(strs: Uint8Array, off: number): void {
    let buf = this.buf;
    let len = this.len;
    for (let k = off; k < strs.length; k++) {
      const c = strs[k]!;
      if (c === 0) break;
      if (len === buf.length) {
        this.len = len;
        this.room(1);
        buf = this.buf;
      }
      buf[len++] = c;
    }
    this.len = len;
  }

  text(): string {
    return decoder.decode(this.buf.subarray(0, this.len));
  }
}

/** Which of libbpf's two name tables a use counts in. */
export const TYPE_NAMES = 0;
/** typedef names and enumerators: C's ordinary identifiers. */
export const IDENT_NAMES = 1;

/**
 * Uses so far of each distinct name (by its bytes), in two tables (btf_dump's type_names and
 * ident_names). An open-addressing hash over the string section: a slot holds the string
 * offset + 1 of the name's first occurrence (0 = empty slot), a byte with which tables have seen
 * it (bits 0-1) and six bits of its hash;
 * counts past one (a few hundred renames in vmlinux) go to a Map. Small, so few cache misses.
 */
export class NameCounts {
  private mask: number;
  private size = 0;
  private offs: Int32Array;
  private seen: Uint8Array;
  /** Count of a name used more than once, by 2 * (its first offset) + table. */
  private readonly counts = new Map<number, number>();

  /** `expected`: about how many distinct names will be counted (the table grows past it). */
  constructor(
    private readonly strs: Uint8Array,
    expected: number,
  ) {
    let cap = 1024;
    while (cap < expected * 1.5) cap *= 2;
    this.mask = cap - 1;
    this.offs = new Int32Array(cap);
    this.seen = new Uint8Array(cap);
  }

  /** Count one more use of the name at `off` in `table`; the count so far. */
  bump(off: number, table: number): number {
    const i = this.slot(off);
    const bit = 1 << table;
    if (!(this.seen[i]! & bit)) {
      this.seen[i] = this.seen[i]! | bit;
      return 1;
    }
    const key = 2 * (this.offs[i]! - 1) + table;
    const n = (this.counts.get(key) ?? 1) + 1;
    this.counts.set(key, n);
    return n;
  }

  /** The slot of the name at `off`, added if new. */
  private slot(off: number): number {
    const s = this.strs;
    if (off >= s.length) throw new BtfError('BAD_STRING', `Invalid name_offset ${off}`);
    let h = 0x811c9dc5 | 0;
    for (let k = off; k < s.length && s[k] !== 0; k++) h = Math.imul(h ^ s[k]!, 0x01000193);
    const offs = this.offs;
    const tag = h >>> 26; // six more bits of the hash, kept beside the table bits: most strcmps are skipped
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const o = offs[i]!;
      if (o === 0) {
        if (4 * (this.size + 1) > 3 * this.mask) {
          this.grow();
          return this.slot(off);
        }
        offs[i] = off + 1;
        this.seen[i] = tag << 2;
        this.size++;
        return i;
      }
      if (o - 1 === off || (this.seen[i]! >>> 2 === tag && sameString(s, o - 1, off))) return i;
    }
  }

  private grow(): void {
    const { offs, seen } = this;
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.offs = new Int32Array(cap);
    this.seen = new Uint8Array(cap);
    const s = this.strs;
    for (let j = 0; j < offs.length; j++) {
      if (offs[j] === 0) continue;
      let h = 0x811c9dc5 | 0;
      for (let k = offs[j]! - 1; k < s.length && s[k] !== 0; k++) h = Math.imul(h ^ s[k]!, 0x01000193);
      let i = h & this.mask;
      while (this.offs[i] !== 0) i = (i + 1) & this.mask;
      this.offs[i] = offs[j]!;
      this.seen[i] = seen[j]!;
    }
  }
}

/** strcmp(a, b) === 0 within `s` (a string running into the end of `s` ends there). */
function sameString(s: Uint8Array, a: number, b: number): boolean {
  for (;;) {
    const x = a < s.length ? s[a]! : 0;
    const y = b < s.length ? s[b]! : 0;
    if (x !== y) return false;
    if (x === 0) return true;
    a++;
    b++;
  }
}
