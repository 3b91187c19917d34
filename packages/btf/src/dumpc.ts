/**
 * `bpftool btf dump file X format c`: BTF as a compilable C header (the vmlinux.h of CO-RE
 * programs), text for text. The algorithm is libbpf's BTF-to-C emitter
 * (tools/lib/bpf/btf_dump.c; `enumModes` covers the one difference between libbpf releases
 * that shows in vmlinux): for every type in id order, a depth-first topological sort decides which definitions must come first (an embedded struct
 * must be defined, one reached through a named pointer only declared), then each queued type
 * is written, with forward declarations where a definition cannot come first yet.
 *
 * All state is typed arrays indexed by type id, over the flat view of dumpc-layout.ts, and the
 * text is bytes (dumpc-out.ts): vmlinux's 126,000 types give no garbage to collect.
 */
import { BtfError, type Btf, type BtfType } from './btf.js';
import {
  ARRAY, bitPadding, CONST, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, MAX_DEPTH, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, TypeTable, UNION, VOLATILE,
} from './dumpc-layout.js';
import { IDENT_NAMES, NameCounts, Out, TYPE_NAMES } from './dumpc-out.js';

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
  e.out.lit(HEADER);
  // every id, a split BTF's base included, as bpftool does
  for (let id = 1; id < btf.types.length; id++) e.dumpType(id);
  e.out.lit(FOOTER);
  return e.out.text();
}

// Topological order state (btf_dump_type_order_state; NOT_ORDERED is 0, the arrays' initial
// value) and emission state (btf_dump_type_emit_state).
const ORDERING = 1, ORDERED = 2;
const NOT_EMITTED = 0, EMITTING = 1, EMITTED = 2;

/** GCC's internal Arm SIMD typedef targets, given a real type before use (missing_base_types). */
const MISSING_BASE_TYPES: readonly (readonly [string, string])[] = [
  ['__Poly8_t', 'unsigned char'],
  ['__Poly16_t', 'unsigned short'],
  ['__Poly64_t', 'unsigned long long'],
  ['__Poly128_t', 'unsigned __int128'],
];

/** The real type for a GCC-internal type named at `off`, if it is one. (Not a closure: in emitType it would cost a context per call.) */
function missingBaseType(T: TypeTable, off: number): string | undefined {
  for (const [name, alias] of MISSING_BASE_TYPES) if (T.nameIs(off, name)) return alias;
  return undefined;
}

const NL = 10, SPACE = 32, SEMI = 59;

class CEmitter {
  readonly out = new Out();
  private readonly order: Uint8Array;
  private readonly emit: Uint8Array;
  private readonly fwdEmitted: Uint8Array;
  private readonly nameResolved: Uint8Array;
  /** N of the `name___N` a type is written with (0 or 1: its own name). */
  private readonly dups: Uint32Array;
  private readonly names: NameCounts;
  /** The types dumpType queues, in order. */
  private readonly queue: Int32Array;
  private queued = 0;
  /** Declaration stack (btf_dump's decl_stack): ids from the outermost declarator to the base type. The frame written now is [lo, top). */
  private stack = new Int32Array(1024);
  private sp = 0;
  private lo = 0;
  private top = 0;
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
    this.dups = new Uint32Array(n);
    this.queue = new Int32Array(n);
    this.names = new NameCounts(T.strs, T.nameUses);
    this.order[0] = ORDERED; // void needs no definition
    this.emit[0] = EMITTED;
  }

  /** btf_dump__dump_type: order what `id` needs, then write it. */
  dumpType(id: number): void {
    this.queued = 0;
    this.orderType(id, false, 0);
    for (let i = 0; i < this.queued; i++) this.emitType(this.queue[i]!, 0);
  }

  /**
   * btf_dump_order_type: queue the definitions `id` depends on, then `id` itself. Returns true
   * for a strong link (the definition must come first), false for a weak one (a forward
   * declaration will do: reached through a pointer and a named type). An anonymous enum
   * nobody refers to is a top-level declaration of constants; a referenced one is written
   * inline where it is used.
   */
  private orderType(id: number, throughPtr: boolean, depth: number): boolean {
    const state = this.order[id];
    if (state === ORDERED) return true;
    if (depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'reference loop while ordering types', undefined, id);
    const T = this.T;
    const k = T.kind[id];
    const named = T.nameOff[id] !== 0;
    if (state === ORDERING) {
      // a loop, fine only when a forward declaration breaks it
      if ((k === STRUCT || k === UNION) && throughPtr && named) return false;
      throw new BtfError('BAD_TYPE_ID', 'unsatisfiable type cycle', undefined, id);
    }
    const d = depth + 1;
    switch (k) {
      case INT: case FLOAT:
        this.order[id] = ORDERED;
        return false;
      case PTR: {
        const strong = this.orderType(T.ref[id]!, true, d);
        this.order[id] = ORDERED;
        return strong;
      }
      case ARRAY:
        return this.orderType(T.ref[id]!, false, d);
      case STRUCT: case UNION: {
        // only an embedded or anonymous struct/union has to be defined in place
        if (throughPtr && named) return false;
        this.order[id] = ORDERING;
        const at = T.first[id]!;
        const end = at + T.len[id]!;
        for (let i = at; i < end; i++) this.orderType(T.mType[i]!, false, d);
        if (named) this.queue[this.queued++] = id;
        this.order[id] = ORDERED;
        return true;
      }
      case ENUM: case ENUM64: case FWD:
        if (named || !T.referenced[id]) this.queue[this.queued++] = id;
        this.order[id] = ORDERED;
        return true;
      case TYPEDEF: {
        const strong = this.orderType(T.ref[id]!, throughPtr, d);
        if (throughPtr && !strong) return false;
        this.queue[this.queued++] = id;
        this.order[id] = ORDERED;
        return true;
      }
      case VOLATILE: case CONST: case RESTRICT: case TYPE_TAG:
        return this.orderType(T.ref[id]!, throughPtr, d);
      case FUNC_PROTO: {
        let strong = this.orderType(T.ref[id]!, throughPtr, d);
        const at = T.first[id]!;
        const end = at + T.len[id]!;
        for (let i = at; i < end; i++) if (this.orderType(T.mType[i]!, throughPtr, d)) strong = true;
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
    const T = this.T;
    const out = this.out;
    const k = T.kind[id];
    const topLevel = contId === 0;
    if (state === EMITTING) {
      if (this.fwdEmitted[id]) return;
      if (k === STRUCT || k === UNION) {
        // a member pointing back at its own struct needs no declaration
        if (id === contId || T.nameOff[id] === 0) return;
        this.structFwd(id);
        out.lit(';\n\n');
        this.fwdEmitted[id] = 1;
      } else if (k === TYPEDEF) {
        // the typedef serves as its own forward declaration, for use through pointers
        if (!this.isBlacklisted(id)) {
          this.emitTypedefDef(id, 0);
          out.lit(';\n\n');
        }
        this.fwdEmitted[id] = 1;
      }
      return;
    }
    const d = depth + 1;
    switch (k) {
      case INT: {
        this.resolveName(id, TYPE_NAMES);
        const alias = this.dups[id]! > 1 ? undefined : missingBaseType(T, T.nameOff[id]!);
        if (alias !== undefined) {
          out.lit(`typedef ${alias} `);
          this.typeName(id);
          out.lit(';\n\n');
        }
        this.emit[id] = EMITTED;
        break;
      }
      case ENUM: case ENUM64:
        if (topLevel) {
          this.emitEnumDef(id, 0);
          out.lit(';\n\n');
        }
        this.emit[id] = EMITTED;
        break;
      case PTR: case VOLATILE: case CONST: case RESTRICT: case TYPE_TAG: case ARRAY:
        this.emitType(T.ref[id]!, contId, d);
        break;
      case FWD:
        this.fwdDef(id);
        out.lit(';\n\n');
        this.emit[id] = EMITTED;
        break;
      case TYPEDEF:
        this.emit[id] = EMITTING;
        this.emitType(T.ref[id]!, id, d);
        if (!this.fwdEmitted[id] && !this.isBlacklisted(id)) {
          this.emitTypedefDef(id, 0);
          out.lit(';\n\n');
        }
        this.emit[id] = EMITTED;
        break;
      case STRUCT: case UNION: {
        this.emit[id] = EMITTING;
        const named = T.nameOff[id] !== 0;
        // a definition written here (top level, or anonymous and so inline) needs its members' types
        if (topLevel || !named) {
          const inner = named ? id : contId;
          const at = T.first[id]!;
          const end = at + T.len[id]!;
          for (let i = at; i < end; i++) this.emitType(T.mType[i]!, inner, d);
        } else if (!this.fwdEmitted[id] && id !== contId) {
          this.structFwd(id);
          out.lit(';\n\n');
          this.fwdEmitted[id] = 1;
        }
        if (topLevel) {
          this.emitStructDef(id, 0);
          out.lit(';\n\n');
          this.emit[id] = EMITTED;
        } else {
          this.emit[id] = NOT_EMITTED;
        }
        break;
      }
      case FUNC_PROTO: {
        this.emitType(T.ref[id]!, contId, d);
        const at = T.first[id]!;
        const end = at + T.len[id]!;
        for (let i = at; i < end; i++) this.emitType(T.mType[i]!, contId, d);
        break;
      }
      default:
        break;
    }
  }

  /** `__builtin_va_list` is the compiler's own; redefining it breaks other compilers. */
  private isBlacklisted(id: number): boolean {
    const off = this.T.nameOff[id]!;
    return off !== 0 && this.T.nameIs(off, '__builtin_va_list');
  }

  private structFwd(id: number): void {
    this.out.lit(this.T.kind[id] === UNION ? 'union' : 'struct');
    if (this.T.nameOff[id] !== 0) this.out.byte(SPACE);
    this.typeName(id);
  }

  private fwdDef(id: number): void {
    this.out.lit(this.T.kindFlag[id] ? 'union ' : 'struct ');
    this.typeName(id);
  }

  /** btf_dump_emit_struct_def: members with their padding, and `packed` when the layout needs it. */
  private emitStructDef(id: number, lvl: number): void {
    const T = this.T;
    const out = this.out;
    const isStruct = T.kind[id] === STRUCT;
    const packed = isStruct && T.isPacked(id);
    this.structFwd(id);
    out.lit(' {');
    const flag = T.kindFlag[id]!;
    const at = T.first[id]!;
    const n = T.len[id]!;
    let off = 0;
    let prevBitfield = false;
    for (let i = at; i < at + n; i++) {
      const type = T.mType[i]!;
      const raw = T.mOff[i]!;
      const bits = flag ? raw >>> 24 : 0;
      const mOff = (flag ? raw & 0xffffff : raw) | 0; // libbpf keeps offsets in an int
      const mAlign = packed ? 1 : T.alignOf(type);
      bitPadding(out, T.padBits, off, mOff, mAlign, prevBitfield && bits !== 0, lvl + 1, id);
      out.byte(NL);
      out.tabs(lvl + 1);
      const name = T.mName[i]!;
      T.checkName(name); // a bad name is an error even where the declaration has no place for it
      this.emitTypeDecl(type, name, 0, lvl + 1);
      if (bits) {
        out.lit(': ');
        out.num(bits);
        off = mOff + bits;
        prevBitfield = true;
      } else {
        off = (mOff + ((Math.max(0, T.resolveSize(type)) * 8) | 0)) | 0;
        prevBitfield = false;
      }
      out.byte(SEMI);
    }
    if (isStruct) bitPadding(out, T.padBits, off, (T.size[id]! * 8) | 0, T.alignOf(id), false, lvl + 1, id);
    // `struct empty {}` stays on one line
    if (n || T.size[id]) {
      out.byte(NL);
      out.tabs(lvl);
    }
    out.byte(125); // '}'
    if (packed) out.lit(' __attribute__((packed))');
  }

  /** btf_dump_emit_enum_def: enumerators (renamed on clashes), and a mode for odd sizes. */
  private emitEnumDef(id: number, lvl: number): void {
    const T = this.T;
    const out = this.out;
    out.lit('enum');
    if (T.nameOff[id] !== 0) out.byte(SPACE);
    this.typeName(id);
    const n = T.len[id]!;
    if (!n) return;
    out.lit(' {');
    const signed = T.kindFlag[id] === 1;
    const at = T.first[id]!;
    if (at >= 0) {
      // an ENUM's 32-bit words, flat
      for (let i = at; i < at + n; i++) {
        this.enumerator(T.mName[i]!, lvl);
        const u = T.mOff[i]!;
        out.num(signed ? u | 0 : u);
        out.byte(44); // ','
      }
    } else {
      const t = T.types[id] as Enum;
      for (const v of t.values) {
        this.enumerator(v.nameOff, lvl);
        if (t.kind === 'ENUM') out.lit(String(signed ? BigInt.asIntN(32, v.val) : v.val));
        else out.lit(signed ? `${BigInt.asIntN(64, v.val)}LL` : `${v.val}ULL`);
        out.byte(44);
      }
    }
    out.byte(NL);
    out.tabs(lvl);
    out.byte(125); // '}'
    if (!this.enumModes) return;
    const size = T.size[id]!;
    if (size === 1) out.lit(' __attribute__((mode(byte)))');
    else if (size === 8 && T.ptrSize === 8) {
      // a 32-bit enum, or an ENUM64 whose values all fit 32 bits, only gets 8 bytes with mode(word)
      if (T.kind[id] === ENUM || (T.types[id] as Enum).values.every((v) => v.val >> 32n === 0n)) out.lit(' __attribute__((mode(word)))');
    }
  }

  /** `\n\tNAME = ` (`NAME___N` when an earlier identifier took the name). */
  private enumerator(nameOff: number, lvl: number): void {
    const out = this.out;
    const dups = this.names.bump(nameOff, IDENT_NAMES);
    out.byte(NL);
    out.tabs(lvl + 1);
    out.cstr(this.T.strs, nameOff);
    if (dups > 1) {
      out.lit('___');
      out.num(dups);
    }
    out.lit(' = ');
  }

  private emitTypedefDef(id: number, lvl: number): void {
    const T = this.T;
    this.resolveName(id, IDENT_NAMES);
    const off = T.nameOff[id]!;
    // old GCC points __gnuc_va_list at void
    if (T.ref[id] === 0 && this.dups[id]! <= 1 && off !== 0 && T.nameIs(off, '__gnuc_va_list')) {
      this.out.lit('typedef __builtin_va_list __gnuc_va_list');
      return;
    }
    this.out.lit('typedef ');
    this.emitTypeDecl(T.ref[id]!, off, this.dups[id]!, lvl);
  }

  /**
   * btf_dump_emit_type_decl: the declaration of the name at string offset `fname` (with
   * `___fdup` when fdup > 1) with type `id`. The chain of pointers, arrays, modifiers and
   * prototypes down to a base type is stacked, then written from the base type out (C
   * declarators read inside out).
   */
  private emitTypeDecl(id: number, fname: number, fdup: number, lvl: number): void {
    if (++this.depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'declarations nested too deeply (a loop?)', undefined, id);
    const T = this.T;
    const lo = this.sp;
    for (;;) {
      if (this.sp === this.stack.length) {
        const bigger = new Int32Array(this.stack.length * 2);
        bigger.set(this.stack);
        this.stack = bigger;
      }
      this.stack[this.sp++] = id;
      if (id === 0) break;
      const k = T.kind[id];
      if (k === PTR || k === VOLATILE || k === CONST || k === RESTRICT || k === FUNC_PROTO || k === TYPE_TAG || k === ARRAY) id = T.ref[id]!;
      else break; // a base type (or an unexpected kind, which the chain writer skips)
      if (this.sp - lo > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'modifier loop in a declaration', undefined, id);
    }
    const outerLo = this.lo;
    const outerTop = this.top;
    this.lo = lo;
    this.top = this.sp;
    this.emitTypeChain(fname, fdup, lvl);
    this.lo = outerLo;
    this.top = outerTop;
    this.sp = lo;
    this.depth--;
  }

  /** The kind of the type on top of the declaration stack (0 when the frame is empty). */
  private nextKind(): number {
    return this.top > this.lo ? this.T.kind[this.stack[this.top - 1]!]! : 0;
  }

  /** Leading const/volatile/restrict of a base type, written before it. */
  private emitMods(): void {
    for (;;) {
      const k = this.nextKind();
      if (k === VOLATILE) this.out.lit('volatile ');
      else if (k === CONST) this.out.lit('const ');
      else if (k === RESTRICT) this.out.lit('restrict ');
      else return;
      this.top--;
    }
  }

  /** Modifiers that have no place in C (on arrays, on functions): dropped. */
  private dropMods(): void {
    for (;;) {
      const k = this.nextKind();
      if (k !== VOLATILE && k !== CONST && k !== RESTRICT && k !== TYPE_TAG) return;
      this.top--;
    }
  }

  private nameEmpty(fname: number, fdup: number): boolean {
    return fdup <= 1 && this.T.emptyName(fname);
  }

  private emitName(fname: number, fdup: number, lastWasPtr: boolean): void {
    if (this.nameEmpty(fname, fdup)) return;
    if (!lastWasPtr) this.out.byte(SPACE);
    this.writeName(fname, fdup);
  }

  /** btf_dump_emit_type_chain: pop the stack, base type first. */
  private emitTypeChain(fname: number, fdup: number, lvl: number): void {
    const T = this.T;
    const out = this.out;
    // `int ***p`, not `int * * *p`; a lone pointer (in `(*f)(...)`) takes no space either
    let lastWasPtr = true;
    while (this.top > this.lo) {
      const id = this.stack[--this.top]!;
      if (id === 0) {
        this.emitMods();
        out.lit('void');
        lastWasPtr = false;
        continue;
      }
      const k = T.kind[id];
      switch (k) {
        case INT: case FLOAT:
          this.emitMods();
          this.rawName(T.nameOff[id]!);
          break;
        case STRUCT: case UNION:
          this.emitMods();
          if (T.nameOff[id] === 0) this.emitStructDef(id, lvl);
          else this.structFwd(id);
          break;
        case ENUM: case ENUM64:
          this.emitMods();
          if (T.nameOff[id] === 0) this.emitEnumDef(id, lvl);
          else {
            out.lit('enum ');
            this.typeName(id);
          }
          break;
        case FWD:
          this.emitMods();
          this.fwdDef(id);
          break;
        case TYPEDEF:
          this.emitMods();
          this.identName(id);
          break;
        case PTR:
          out.lit(lastWasPtr ? '*' : ' *');
          break;
        case VOLATILE:
          out.lit(' volatile');
          break;
        case CONST:
          out.lit(' const');
          break;
        case RESTRICT:
          out.lit(' restrict');
          break;
        case TYPE_TAG:
          this.emitMods();
          // with kind_flag the tag is a whole attribute, not a btf_type_tag name
          out.lit(T.kindFlag[id] ? ' __attribute__((' : ' __attribute__((btf_type_tag("');
          this.rawName(T.nameOff[id]!);
          out.lit(T.kindFlag[id] ? '))' : '")))');
          break;
        case ARRAY: {
          this.dropMods(); // GCC repeats the element's qualifiers on the array
          if (this.top === this.lo) {
            this.emitName(fname, fdup, lastWasPtr);
          } else {
            const multidim = this.nextKind() === ARRAY;
            if (!this.nameEmpty(fname, fdup) && !lastWasPtr) out.byte(SPACE);
            if (!multidim) out.byte(40); // '('
            this.emitTypeChain(fname, fdup, lvl);
            if (!multidim) out.byte(41); // ')'
          }
          out.byte(91); // '['
          out.num(T.len[id]!);
          out.byte(93); // ']'
          return;
        }
        case FUNC_PROTO: {
          this.dropMods(); // GCC marks noreturn function pointers volatile
          if (this.top > this.lo) {
            out.lit(' (');
            this.emitTypeChain(fname, fdup, lvl);
            out.byte(41);
          } else {
            this.emitName(fname, fdup, lastWasPtr);
          }
          out.byte(40);
          const at = T.first[id]!;
          const n = T.len[id]!;
          // no parameters, or clang's single void one: `(void)`
          if (n === 0 || (n === 1 && T.mType[at] === 0)) {
            out.lit('void)');
            return;
          }
          for (let i = 0; i < n; i++) {
            if (i > 0) out.lit(', ');
            const type = T.mType[at + i]!;
            if (i === n - 1 && type === 0) {
              out.lit('...');
              break;
            }
            const name = T.mName[at + i]!;
            T.checkName(name);
            this.emitTypeDecl(type, name, 0, lvl);
          }
          out.byte(41);
          return;
        }
        default:
          return; // FUNC, VAR, ... have no place in a declaration
      }
      lastWasPtr = k === PTR;
    }
    this.emitName(fname, fdup, lastWasPtr);
  }

  /** The name at string offset `off`, as it is. */
  private rawName(off: number): void {
    this.T.checkName(off);
    if (off !== 0) this.out.cstr(this.T.strs, off);
  }

  /** The name at `off` with `___dup` when dup > 1, cut to 255 bytes like libbpf's buffer. */
  private writeName(off: number, dup: number): void {
    const out = this.out;
    const start = out.len;
    this.rawName(off);
    if (dup > 1) {
      out.lit('___');
      out.num(dup);
      if (out.len - start > 255) out.len = start + 255;
    }
  }

  private typeName(id: number): void {
    this.resolveName(id, TYPE_NAMES);
    this.writeName(this.T.nameOff[id]!, this.dups[id]!);
  }

  private identName(id: number): void {
    this.resolveName(id, IDENT_NAMES);
    this.writeName(this.T.nameOff[id]!, this.dups[id]!);
  }

  /** Decide, once, the name `id` is written with: its own, or `name___N` for the Nth definition of a name. */
  private resolveName(id: number, table: number): void {
    const T = this.T;
    const off = T.nameOff[id]!;
    if (off === 0 || this.nameResolved[id]) return;
    T.checkName(off);
    this.nameResolved[id] = 1;
    const k = T.kind[id];
    // forward declarations never clash with the definition they announce
    if (k === FWD || (k === ENUM && T.len[id] === 0)) return;
    this.dups[id] = this.names.bump(off, table);
  }
}
