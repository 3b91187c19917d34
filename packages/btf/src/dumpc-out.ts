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
    let end = off;
    while (end < strs.length && strs[end] !== 0) end++;
    this.room(end - off);
    const buf = this.buf;
    let len = this.len;
    for (let k = off; k < end; k++) buf[len++] = strs[k]!;
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
 * ident_names). An open-addressing hash over the string section; a slot is four ints side by
 * side (one cache line): string offset + 1 of the name's first occurrence (0 = empty slot),
 * its hash, and its count in each table.
 */
export class NameCounts {
  private mask: number;
  private size = 0;
  private slots: Int32Array;

  /** `expected`: about how many distinct names will be counted (the table grows past it). */
  constructor(
    private readonly strs: Uint8Array,
    expected: number,
  ) {
    let cap = 1024;
    while (cap < expected * 1.5) cap *= 2;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * 4);
  }

  /** Count one more use of the name at `off` in `table`; the count so far. */
  bump(off: number, table: number): number {
    return ++this.slots[this.slot(off) + 2 + table]!;
  }

  /** The index in `slots` of the name at `off`'s slot, added if new. */
  private slot(off: number): number {
    const s = this.strs;
    if (off >= s.length) throw new BtfError('BAD_STRING', `Invalid name_offset ${off}`);
    let h = 0x811c9dc5 | 0;
    for (let k = off; k < s.length && s[k] !== 0; k++) h = Math.imul(h ^ s[k]!, 0x01000193);
    const slots = this.slots;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const at = i * 4;
      const o = slots[at]!;
      if (o === 0) {
        if (4 * (this.size + 1) > 3 * this.mask) {
          this.grow();
          return this.slot(off);
        }
        slots[at] = off + 1;
        slots[at + 1] = h;
        this.size++;
        return at;
      }
      if (slots[at + 1] === h && (o - 1 === off || sameString(s, o - 1, off))) return at;
    }
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * 4);
    for (let j = 0; j < old.length; j += 4) {
      if (old[j] === 0) continue;
      let i = old[j + 1]! & this.mask;
      while (this.slots[i * 4] !== 0) i = (i + 1) & this.mask;
      this.slots.set(old.subarray(j, j + 4), i * 4);
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
