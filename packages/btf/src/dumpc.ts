/**
 * `bpftool btf dump file X format c`: BTF as a compilable C header (the vmlinux.h of CO-RE
 * programs), text for text. The algorithm is libbpf's BTF-to-C emitter
 * (tools/lib/bpf/btf_dump.c; `enumModes` covers the one difference between libbpf releases
 * that shows in vmlinux): for every type in id order, a depth-first topological sort decides which definitions must come first (an embedded struct
 * must be defined, one reached through a named pointer only declared), then each queued type
 * is written, with forward declarations where a definition cannot come first yet.
 */
import { BtfError, type Btf, type BtfType } from './btf.js';
import { bitfieldSize, bitOffset, bitPadding, indent, MAX_DEPTH, TypeTable } from './dumpc-layout.js';

type Composite = Extract<BtfType, { kind: 'STRUCT' | 'UNION' }>;
type Enum = Extract<BtfType, { kind: 'ENUM' | 'ENUM64' }>;

export interface DumpCOptions {
  /**
   * Write `__attribute__((mode(byte)))` / `mode(word)` on 1- and 8-byte enums that C would size
   * otherwise, as libbpf 1.1 and later do. Off by default, like bpftool 7.1 built from Linux
   * 6.1 stable (Debian 12), whose libbpf has every other fix of the emitter but not that one.
   */
  readonly enumModes?: boolean;
}

const HEADER =
  '#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n' +
  '#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n\n';
const FOOTER = '#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n#endif /* __VMLINUX_H__ */\n';

/** The C header bpftool prints for `btf dump file X format c`. */
export function dumpC(btf: Btf, opts: DumpCOptions = {}): string {
  const e = new CEmitter(new TypeTable(btf), opts.enumModes === true);
  e.out.push(HEADER);
  // every id, a split BTF's base included, as bpftool does
  for (let id = 1; id < btf.types.length; id++) e.dumpType(id);
  e.out.push(FOOTER);
  return e.out.text;
}

// Topological order state (btf_dump_type_order_state; NOT_ORDERED is 0, the arrays' initial
// value) and emission state (btf_dump_type_emit_state).
const ORDERING = 1, ORDERED = 2;
const NOT_EMITTED = 0, EMITTING = 1, EMITTED = 2;

/** GCC's internal Arm SIMD typedef targets, given a real type before use (missing_base_types). */
const MISSING_BASE_TYPES = new Map([
  ['__Poly8_t', 'unsigned char'],
  ['__Poly16_t', 'unsigned short'],
  ['__Poly64_t', 'unsigned long long'],
  ['__Poly128_t', 'unsigned __int128'],
]);

/** A frame of the declaration stack: ids from the outermost declarator to the base type. */
interface DeclStack {
  readonly ids: readonly number[];
  cnt: number;
}

class CEmitter {
  readonly out = new TextSink();
  private readonly order: Uint8Array;
  private readonly emit: Uint8Array;
  private readonly fwdEmitted: Uint8Array;
  private readonly nameResolved: Uint8Array;
  private readonly referenced: Uint8Array;
  private readonly cachedNames: (string | undefined)[];
  /** Uses so far of each struct/union/enum tag ... */
  private readonly typeNames = new Map<string, number>();
  /** ... and of each typedef name and enumerator (C's ordinary identifiers). */
  private readonly identNames = new Map<string, number>();
  private queue: number[] = [];
  private depth = 0;

  constructor(
    private readonly T: TypeTable,
    private readonly enumModes: boolean,
  ) {
    const n = T.count;
    this.order = new Uint8Array(n);
    this.emit = new Uint8Array(n);
    this.fwdEmitted = new Uint8Array(n);
    this.nameResolved = new Uint8Array(n);
    this.referenced = new Uint8Array(n);
    this.cachedNames = new Array<string | undefined>(n);
    this.order[0] = ORDERED; // void needs no definition
    this.emit[0] = EMITTED;
    this.markReferenced();
  }

  /** btf_dump__dump_type: order what `id` needs, then write it. */
  dumpType(id: number): void {
    this.queue = [];
    this.orderType(id, false, 0);
    for (const q of this.queue) this.emitType(q, 0);
  }

  /**
   * Types some other type refers to. An anonymous enum nobody refers to is a top-level
   * declaration of constants; a referenced one is written inline where it is used.
   */
  private markReferenced(): void {
    const mark = (id: number): void => {
      this.T.at(id);
      this.referenced[id] = 1;
    };
    for (let id = 1; id < this.T.count; id++) {
      const t = this.T.types[id]!;
      switch (t.kind) {
        case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'PTR': case 'TYPEDEF': case 'FUNC': case 'VAR': case 'DECL_TAG': case 'TYPE_TAG':
          mark(t.sizeOrType);
          break;
        case 'ARRAY':
          mark(t.indexType);
          mark(t.elemType);
          break;
        case 'STRUCT': case 'UNION':
          for (const m of t.members) mark(m.type);
          break;
        case 'FUNC_PROTO':
          for (const p of t.params) mark(p.type);
          break;
        case 'DATASEC':
          for (const s of t.secinfo) mark(s.type);
          break;
        default:
          break;
      }
    }
  }

  /**
   * btf_dump_order_type: queue the definitions `id` depends on, then `id` itself. Returns true
   * for a strong link (the definition must come first), false for a weak one (a forward
   * declaration will do: reached through a pointer and a named type).
   */
  private orderType(id: number, throughPtr: boolean, depth: number): boolean {
    if (this.order[id] === ORDERED) return true;
    if (depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'reference loop while ordering types', undefined, id);
    const t = this.T.at(id)!;
    if (this.order[id] === ORDERING) {
      // a loop, fine only when a forward declaration breaks it
      if ((t.kind === 'STRUCT' || t.kind === 'UNION') && throughPtr && t.nameOff !== 0) return false;
      throw new BtfError('BAD_TYPE_ID', 'unsatisfiable type cycle', undefined, id);
    }
    const d = depth + 1;
    switch (t.kind) {
      case 'INT': case 'FLOAT':
        this.order[id] = ORDERED;
        return false;
      case 'PTR': {
        const strong = this.orderType(t.sizeOrType, true, d);
        this.order[id] = ORDERED;
        return strong;
      }
      case 'ARRAY':
        return this.orderType(t.elemType, false, d);
      case 'STRUCT': case 'UNION':
        // only an embedded or anonymous struct/union has to be defined in place
        if (throughPtr && t.nameOff !== 0) return false;
        this.order[id] = ORDERING;
        for (const m of t.members) this.orderType(m.type, false, d);
        if (t.nameOff !== 0) this.queue.push(id);
        this.order[id] = ORDERED;
        return true;
      case 'ENUM': case 'ENUM64': case 'FWD':
        if (t.nameOff !== 0 || !this.referenced[id]) this.queue.push(id);
        this.order[id] = ORDERED;
        return true;
      case 'TYPEDEF': {
        const strong = this.orderType(t.sizeOrType, throughPtr, d);
        if (throughPtr && !strong) return false;
        this.queue.push(id);
        this.order[id] = ORDERED;
        return true;
      }
      case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
        return this.orderType(t.sizeOrType, throughPtr, d);
      case 'FUNC_PROTO': {
        let strong = this.orderType(t.sizeOrType, throughPtr, d);
        for (const p of t.params) if (this.orderType(p.type, throughPtr, d)) strong = true;
        return strong;
      }
      default: // FUNC, VAR, DATASEC, DECL_TAG: not written
        this.order[id] = ORDERED;
        return false;
    }
  }

  /**
   * btf_dump_emit_type: write the definition of `id` (or, for a type met while its own
   * definition is being written, a forward declaration). `contId` is the struct whose members
   * are being walked (0 at top level).
   */
  private emitType(id: number, contId: number, depth = 0): void {
    const state = this.emit[id];
    if (state === EMITTED) return;
    if (depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'reference loop while writing types', undefined, id);
    const t = this.T.at(id)!;
    const topLevel = contId === 0;
    if (state === EMITTING) {
      if (this.fwdEmitted[id]) return;
      if (t.kind === 'STRUCT' || t.kind === 'UNION') {
        // a member pointing back at its own struct needs no declaration
        if (id === contId || t.nameOff === 0) return;
        this.out.push(`${this.structFwd(id, t)};\n\n`);
        this.fwdEmitted[id] = 1;
      } else if (t.kind === 'TYPEDEF') {
        // the typedef serves as its own forward declaration, for use through pointers
        if (!this.isBlacklisted(t)) {
          this.emitTypedefDef(id, t, 0);
          this.out.push(';\n\n');
        }
        this.fwdEmitted[id] = 1;
      }
      return;
    }
    const d = depth + 1;
    switch (t.kind) {
      case 'INT': {
        const alias = MISSING_BASE_TYPES.get(this.typeName(id));
        if (alias !== undefined) this.out.push(`typedef ${alias} ${this.typeName(id)};\n\n`);
        this.emit[id] = EMITTED;
        break;
      }
      case 'ENUM': case 'ENUM64':
        if (topLevel) {
          this.emitEnumDef(id, t, 0);
          this.out.push(';\n\n');
        }
        this.emit[id] = EMITTED;
        break;
      case 'PTR': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
        this.emitType(t.sizeOrType, contId, d);
        break;
      case 'ARRAY':
        this.emitType(t.elemType, contId, d);
        break;
      case 'FWD':
        this.out.push(`${this.fwdDef(id, t)};\n\n`);
        this.emit[id] = EMITTED;
        break;
      case 'TYPEDEF':
        this.emit[id] = EMITTING;
        this.emitType(t.sizeOrType, id, d);
        if (!this.fwdEmitted[id] && !this.isBlacklisted(t)) {
          this.emitTypedefDef(id, t, 0);
          this.out.push(';\n\n');
        }
        this.emit[id] = EMITTED;
        break;
      case 'STRUCT': case 'UNION':
        this.emit[id] = EMITTING;
        // a definition written here (top level, or anonymous and so inline) needs its members' types
        if (topLevel || t.nameOff === 0) {
          const inner = t.nameOff === 0 ? contId : id;
          for (const m of t.members) this.emitType(m.type, inner, d);
        } else if (!this.fwdEmitted[id] && id !== contId) {
          this.out.push(`${this.structFwd(id, t)};\n\n`);
          this.fwdEmitted[id] = 1;
        }
        if (topLevel) {
          this.emitStructDef(id, t, 0);
          this.out.push(';\n\n');
          this.emit[id] = EMITTED;
        } else {
          this.emit[id] = NOT_EMITTED;
        }
        break;
      case 'FUNC_PROTO':
        this.emitType(t.sizeOrType, contId, d);
        for (const p of t.params) this.emitType(p.type, contId, d);
        break;
      default:
        break;
    }
  }

  /** `__builtin_va_list` is the compiler's own; redefining it breaks other compilers. */
  private isBlacklisted(t: BtfType): boolean {
    return t.nameOff !== 0 && this.T.name(t.nameOff) === '__builtin_va_list';
  }

  private structFwd(id: number, t: BtfType): string {
    return `${t.kind === 'UNION' ? 'union' : 'struct'}${t.nameOff ? ' ' : ''}${this.typeName(id)}`;
  }

  private fwdDef(id: number, t: BtfType): string {
    return `${t.kindFlag ? 'union' : 'struct'} ${this.typeName(id)}`;
  }

  /** btf_dump_emit_struct_def: members with their padding, and `packed` when the layout needs it. */
  private emitStructDef(id: number, t: Composite, lvl: number): void {
    const T = this.T;
    const isStruct = t.kind === 'STRUCT';
    const packed = isStruct && T.isPacked(t);
    this.out.push(`${isStruct ? 'struct' : 'union'}${t.nameOff ? ' ' : ''}${this.typeName(id)} {`);
    let off = 0;
    let prevBitfield = false;
    for (let i = 0; i < t.members.length; i++) {
      const m = t.members[i]!;
      const bits = bitfieldSize(t, i);
      const mOff = bitOffset(t, i) | 0; // libbpf keeps offsets in an int
      const mAlign = packed ? 1 : T.alignOf(m.type);
      this.out.push(bitPadding(T.ptrSize, off, mOff, mAlign, prevBitfield && bits !== 0, lvl + 1, id), `\n${indent(lvl + 1)}`);
      this.emitTypeDecl(m.type, T.name(m.nameOff), lvl + 1);
      if (bits) {
        this.out.push(`: ${bits}`);
        off = mOff + bits;
        prevBitfield = true;
      } else {
        off = (mOff + ((Math.max(0, T.resolveSize(m.type)) * 8) | 0)) | 0;
        prevBitfield = false;
      }
      this.out.push(';');
    }
    if (isStruct) this.out.push(bitPadding(T.ptrSize, off, (t.sizeOrType * 8) | 0, T.alignOf(id), false, lvl + 1, id));
    // `struct empty {}` stays on one line
    this.out.push(t.members.length || t.sizeOrType ? `\n${indent(lvl)}}` : '}');
    if (packed) this.out.push(' __attribute__((packed))');
  }

  /** btf_dump_emit_enum_def: enumerators (renamed on clashes), and a mode for odd sizes. */
  private emitEnumDef(id: number, t: Enum, lvl: number): void {
    this.out.push(`enum${t.nameOff ? ' ' : ''}${this.typeName(id)}`);
    if (!t.values.length) return;
    this.out.push(' {');
    const signed = t.kindFlag;
    const pre = `\n${indent(lvl + 1)}`;
    for (const v of t.values) {
      const name = this.T.name(v.nameOff);
      const dups = nameDups(this.identNames, name);
      const val =
        t.kind === 'ENUM'
          ? signed ? BigInt.asIntN(32, v.val) : v.val
          : signed ? `${BigInt.asIntN(64, v.val)}LL` : `${v.val}ULL`;
      this.out.push(`${pre}${name}${dups > 1 ? `___${dups}` : ''} = ${val},`);
    }
    this.out.push(`\n${indent(lvl)}}`);
    if (!this.enumModes) return;
    if (t.sizeOrType === 1) this.out.push(' __attribute__((mode(byte)))');
    else if (t.sizeOrType === 8 && this.T.ptrSize === 8) {
      // a 32-bit enum, or an ENUM64 whose values all fit 32 bits, only gets 8 bytes with mode(word)
      if (t.kind === 'ENUM' || t.values.every((v) => v.val >> 32n === 0n)) this.out.push(' __attribute__((mode(word)))');
    }
  }

  private emitTypedefDef(id: number, t: BtfType, lvl: number): void {
    const name = this.identName(id);
    // old GCC points __gnuc_va_list at void
    if (t.sizeOrType === 0 && name === '__gnuc_va_list') {
      this.out.push('typedef __builtin_va_list __gnuc_va_list');
      return;
    }
    this.out.push('typedef ');
    this.emitTypeDecl(t.sizeOrType, name, lvl);
  }

  /**
   * btf_dump_emit_type_decl: the declaration of `fname` with type `id`. The chain of
   * pointers, arrays, modifiers and prototypes down to a base type is stacked, then written
   * from the base type out (C declarators read inside out).
   */
  private emitTypeDecl(id: number, fname: string, lvl: number): void {
    if (++this.depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'declarations nested too deeply (a loop?)', undefined, id);
    const ids: number[] = [];
    for (;;) {
      ids.push(id);
      if (id === 0) break;
      const t = this.T.at(id)!;
      if (t.kind === 'PTR' || t.kind === 'VOLATILE' || t.kind === 'CONST' || t.kind === 'RESTRICT' || t.kind === 'FUNC_PROTO' || t.kind === 'TYPE_TAG') id = t.sizeOrType;
      else if (t.kind === 'ARRAY') id = t.elemType;
      else break; // a base type (or an unexpected kind, which the chain writer skips)
      if (ids.length > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'modifier loop in a declaration', undefined, id);
    }
    this.emitTypeChain({ ids, cnt: ids.length }, fname, lvl);
    this.depth--;
  }

  /** Leading const/volatile/restrict of a base type, written before it. */
  private emitMods(s: DeclStack): void {
    while (s.cnt) {
      const t = this.T.at(s.ids[s.cnt - 1]!);
      if (t?.kind === 'VOLATILE') this.out.push('volatile ');
      else if (t?.kind === 'CONST') this.out.push('const ');
      else if (t?.kind === 'RESTRICT') this.out.push('restrict ');
      else return;
      s.cnt--;
    }
  }

  /** Modifiers that have no place in C (on arrays, on functions): dropped. */
  private dropMods(s: DeclStack): void {
    while (s.cnt) {
      const k = this.T.at(s.ids[s.cnt - 1]!)?.kind;
      if (k !== 'VOLATILE' && k !== 'CONST' && k !== 'RESTRICT' && k !== 'TYPE_TAG') return;
      s.cnt--;
    }
  }

  private emitName(name: string, lastWasPtr: boolean): void {
    this.out.push(name && !lastWasPtr ? ` ${name}` : name);
  }

  /** btf_dump_emit_type_chain: pop the stack, base type first. */
  private emitTypeChain(s: DeclStack, fname: string, lvl: number): void {
    // `int ***p`, not `int * * *p`; a lone pointer (in `(*f)(...)`) takes no space either
    let lastWasPtr = true;
    while (s.cnt) {
      const id = s.ids[--s.cnt]!;
      const t = this.T.at(id);
      if (!t) {
        this.emitMods(s);
        this.out.push('void');
        lastWasPtr = false;
        continue;
      }
      switch (t.kind) {
        case 'INT': case 'FLOAT':
          this.emitMods(s);
          this.out.push(this.T.name(t.nameOff));
          break;
        case 'STRUCT': case 'UNION':
          this.emitMods(s);
          if (t.nameOff === 0) this.emitStructDef(id, t, lvl);
          else this.out.push(this.structFwd(id, t));
          break;
        case 'ENUM': case 'ENUM64':
          this.emitMods(s);
          if (t.nameOff === 0) this.emitEnumDef(id, t, lvl);
          else this.out.push(`enum ${this.typeName(id)}`);
          break;
        case 'FWD':
          this.emitMods(s);
          this.out.push(this.fwdDef(id, t));
          break;
        case 'TYPEDEF':
          this.emitMods(s);
          this.out.push(this.identName(id));
          break;
        case 'PTR':
          this.out.push(lastWasPtr ? '*' : ' *');
          break;
        case 'VOLATILE':
          this.out.push(' volatile');
          break;
        case 'CONST':
          this.out.push(' const');
          break;
        case 'RESTRICT':
          this.out.push(' restrict');
          break;
        case 'TYPE_TAG':
          this.emitMods(s);
          // with kind_flag the tag is a whole attribute, not a btf_type_tag name
          this.out.push(t.kindFlag ? ` __attribute__((${this.T.name(t.nameOff)}))` : ` __attribute__((btf_type_tag("${this.T.name(t.nameOff)}")))`);
          break;
        case 'ARRAY': {
          this.dropMods(s); // GCC repeats the element's qualifiers on the array
          if (s.cnt === 0) {
            this.emitName(fname, lastWasPtr);
            this.out.push(`[${t.nelems}]`);
            return;
          }
          const multidim = this.T.at(s.ids[s.cnt - 1]!)?.kind === 'ARRAY';
          if (fname && !lastWasPtr) this.out.push(' ');
          if (!multidim) this.out.push('(');
          this.emitTypeChain(s, fname, lvl);
          if (!multidim) this.out.push(')');
          this.out.push(`[${t.nelems}]`);
          return;
        }
        case 'FUNC_PROTO': {
          this.dropMods(s); // GCC marks noreturn function pointers volatile
          if (s.cnt) {
            this.out.push(' (');
            this.emitTypeChain(s, fname, lvl);
            this.out.push(')');
          } else {
            this.emitName(fname, lastWasPtr);
          }
          this.out.push('(');
          const ps = t.params;
          // no parameters, or clang's single void one: `(void)`
          if (ps.length === 0 || (ps.length === 1 && ps[0]!.type === 0)) {
            this.out.push('void)');
            return;
          }
          for (let i = 0; i < ps.length; i++) {
            if (i > 0) this.out.push(', ');
            if (i === ps.length - 1 && ps[i]!.type === 0) {
              this.out.push('...');
              break;
            }
            this.emitTypeDecl(ps[i]!.type, this.T.name(ps[i]!.nameOff), lvl);
          }
          this.out.push(')');
          return;
        }
        default:
          return; // FUNC, VAR, ... have no place in a declaration
      }
      lastWasPtr = t.kind === 'PTR';
    }
    this.emitName(fname, lastWasPtr);
  }

  private typeName(id: number): string {
    return this.resolveName(id, this.typeNames);
  }

  private identName(id: number): string {
    return this.resolveName(id, this.identNames);
  }

  /** The name `id` is written with: its own, or `name___N` for the Nth definition of a name. */
  private resolveName(id: number, names: Map<string, number>): string {
    const t = this.T.at(id);
    if (!t || t.nameOff === 0) return '';
    const orig = this.T.name(t.nameOff);
    if (this.nameResolved[id]) return this.cachedNames[id] ?? orig;
    this.nameResolved[id] = 1;
    // forward declarations never clash with the definition they announce
    if (t.kind === 'FWD' || (t.kind === 'ENUM' && t.values.length === 0)) return orig;
    const dups = nameDups(names, orig);
    if (dups > 1) this.cachedNames[id] = `${orig}___${dups}`.slice(0, 255);
    return this.cachedNames[id] ?? orig;
  }
}

/** Text built by concatenation: V8 keeps it as a rope until the end, cheaper than an array of pieces. */
/**
 * The output as UTF-8 bytes in one growing buffer, decoded once: vmlinux.h is ~2.8 MB in some
 * million small pieces, and a rope of JS strings that size costs more in GC than in work.
 */
class TextSink {
  private buf = new Uint8Array(1 << 20);
  private len = 0;
  private static readonly encoder = new TextEncoder();
  push(...parts: string[]): void {
    for (const p of parts) {
      if (this.len + p.length * 3 > this.buf.length) {
        const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + p.length * 3));
        next.set(this.buf.subarray(0, this.len));
        this.buf = next;
      }
      let k = 0;
      for (; k < p.length; k++) {
        const c = p.charCodeAt(k);
        if (c >= 0x80) break;
        this.buf[this.len++] = c;
      }
      // a non-ASCII name: the rest of the piece through the encoder (3 bytes per UTF-16 unit at most)
      if (k < p.length) this.len += TextSink.encoder.encodeInto(p.slice(k), this.buf.subarray(this.len)).written;
    }
  }
  get text(): string {
    return new TextDecoder().decode(this.buf.subarray(0, this.len));
  }
}

/** Count one more use of `name`; the count so far. */
function nameDups(names: Map<string, number>, name: string): number {
  const n = (names.get(name) ?? 0) + 1;
  names.set(name, n);
  return n;
}
