/**
 * `bpftool btf dump file X format c`: BTF as a compilable C header (the vmlinux.h of CO-RE
 * programs), text for text. The algorithm is libbpf's BTF-to-C emitter
 * (tools/lib/bpf/btf_dump.c; `enumModes` covers the one difference between libbpf releases
 * that shows in vmlinux): for every type in id order, a depth-first topological sort decides which definitions must come first (an embedded struct
 * must be defined, one reached through a named pointer only declared), then each queued type
 * is written, with forward declarations where a definition cannot come first yet.
 *
 * The types are read as type-section words (dumpc-layout.ts), declarators and names are
 * written by dumpc-decl.ts, bytes collected by dumpc-out.ts.
 */
import { BtfError, typeById, type Btf, type BtfType } from './btf.js';
import {
  ARRAY, bitPadding, CONST, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, MAX_DEPTH, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, TypeTable, UNION, VOLATILE,
} from './dumpc-layout.js';
import { IDENT_NAMES, TYPE_NAMES } from './dumpc-out.js';
import { DeclWriter, EMIT_MASK, EMITTED, EMITTING, FWD_EMITTED, NL, ORDER_MASK, ORDERED, ORDERING, SEMI, SPACE } from './dumpc-decl.js';

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
  const T = new TypeTable(btf);
  const e = new CEmitter(T, opts.enumModes === true);
  e.out.lit(HEADER);
  // every id, a split BTF's base included, as bpftool does
  for (let id = 1; id < T.count; id++) e.dumpType(id);
  e.out.lit(FOOTER);
  return e.out.text();
}

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

class CEmitter extends DeclWriter {
  /** The types dumpType queues, in order. */
  private readonly queue: Int32Array;
  private queued = 0;

  constructor(
    T: TypeTable,
    private readonly enumModes: boolean,
  ) {
    super(T);
    this.queue = new Int32Array(T.count);
    this.state[0] = ORDERED | EMITTED; // void needs no definition
  }

  /** btf_dump__dump_type: order what `id` needs, then write it. */
  dumpType(id: number): void {
    if ((this.state[id]! & ORDER_MASK) === ORDERED) return; // written already, or needs nothing
    this.queued = 0;
    this.orderType(id, false, 0);
    for (let i = 0; i < this.queued; i++) this.emitType(this.queue[i]!, 0);
  }

  private setOrder(id: number, order: number): void {
    this.state[id] = (this.state[id]! & ~ORDER_MASK) | order;
  }

  private setEmit(id: number, emit: number): void {
    this.state[id] = (this.state[id]! & ~EMIT_MASK) | emit;
  }

  /**
   * btf_dump_order_type: queue the definitions `id` depends on, then `id` itself. Returns true
   * for a strong link (the definition must come first), false for a weak one (a forward
   * declaration will do: reached through a pointer and a named type). An anonymous enum
   * nobody refers to is a top-level declaration of constants; a referenced one is written
   * inline where it is used.
   */
  private orderType(id: number, throughPtr: boolean, depth: number): boolean {
    const order = this.state[id]! & ORDER_MASK;
    if (order === ORDERED) return true;
    if (depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'reference loop while ordering types', undefined, id);
    const T = this.T;
    const k = T.kind[id];
    if (order === ORDERING) {
      // a loop, fine only when a forward declaration breaks it
      if ((k === STRUCT || k === UNION) && throughPtr && T.nameOff(id) !== 0) return false;
      throw new BtfError('BAD_TYPE_ID', 'unsatisfiable type cycle', undefined, id);
    }
    const d = depth + 1;
    switch (k) {
      case INT: case FLOAT:
        this.setOrder(id, ORDERED);
        return false;
      case PTR: {
        const strong = this.orderType(T.size(id), true, d);
        this.setOrder(id, ORDERED);
        return strong;
      }
      case ARRAY:
        return this.orderType(T.elem(id), false, d);
      case STRUCT: case UNION: {
        const named = T.nameOff(id) !== 0;
        // only an embedded or anonymous struct/union has to be defined in place
        if (throughPtr && named) return false;
        this.setOrder(id, ORDERING);
        const w = T.w;
        for (let i = 0, q = T.items(id) + 1, n = T.vlen(id); i < n; i++, q += 3) this.orderType(w[q]!, false, d);
        if (named) this.queue[this.queued++] = id;
        this.setOrder(id, ORDERED);
        return true;
      }
      case ENUM: case ENUM64: case FWD:
        if (T.nameOff(id) !== 0 || !T.referenced[id]) this.queue[this.queued++] = id;
        this.setOrder(id, ORDERED);
        return true;
      case TYPEDEF: {
        const strong = this.orderType(T.size(id), throughPtr, d);
        if (throughPtr && !strong) return false;
        this.queue[this.queued++] = id;
        this.setOrder(id, ORDERED);
        return true;
      }
      case VOLATILE: case CONST: case RESTRICT: case TYPE_TAG:
        return this.orderType(T.size(id), throughPtr, d);
      case FUNC_PROTO: {
        let strong = this.orderType(T.size(id), throughPtr, d);
        const w = T.w;
        for (let i = 0, q = T.items(id) + 1, n = T.vlen(id); i < n; i++, q += 2) if (this.orderType(w[q]!, throughPtr, d)) strong = true;
        return strong;
      }
      default: // FUNC, VAR, DATASEC, DECL_TAG: not written
        this.setOrder(id, ORDERED);
        return false;
    }
  }

  /**
   * btf_dump_emit_type: write the definition of `id` (or, for a type met while its own
   * definition is being written, a forward declaration). `contId` is the struct whose members
   * are being walked (0 at top level).
   */
  private emitType(id: number, contId: number, depth = 0): void {
    const emit = this.state[id]! & EMIT_MASK;
    if (emit === EMITTED) return;
    if (depth > MAX_DEPTH) throw new BtfError('BAD_TYPE_ID', 'reference loop while writing types', undefined, id);
    const T = this.T;
    const out = this.out;
    const k = T.kind[id];
    const topLevel = contId === 0;
    if (emit === EMITTING) {
      if (this.state[id]! & FWD_EMITTED) return;
      if (k === STRUCT || k === UNION) {
        // a member pointing back at its own struct needs no declaration
        if (id === contId || T.nameOff(id) === 0) return;
        this.structFwd(id);
        out.lit(';\n\n');
        this.state[id] = this.state[id]! | FWD_EMITTED;
      } else if (k === TYPEDEF) {
        // the typedef serves as its own forward declaration, for use through pointers
        if (!this.isBlacklisted(id)) {
          this.emitTypedefDef(id, 0);
          out.lit(';\n\n');
        }
        this.state[id] = this.state[id]! | FWD_EMITTED;
      }
      return;
    }
    const d = depth + 1;
    switch (k) {
      case INT: {
        this.resolveName(id, TYPE_NAMES);
        const alias = this.dupOf(id) > 1 ? undefined : missingBaseType(T, T.nameOff(id));
        if (alias !== undefined) {
          out.lit(`typedef ${alias} `);
          this.typeName(id);
          out.lit(';\n\n');
        }
        this.setEmit(id, EMITTED);
        break;
      }
      case ENUM: case ENUM64:
        if (topLevel) {
          this.emitEnumDef(id, 0);
          out.lit(';\n\n');
        }
        this.setEmit(id, EMITTED);
        break;
      case PTR: case VOLATILE: case CONST: case RESTRICT: case TYPE_TAG:
        this.emitType(T.size(id), contId, d);
        break;
      case ARRAY:
        this.emitType(T.elem(id), contId, d);
        break;
      case FWD:
        this.fwdDef(id);
        out.lit(';\n\n');
        this.setEmit(id, EMITTED);
        break;
      case TYPEDEF:
        this.setEmit(id, EMITTING);
        this.emitType(T.size(id), id, d);
        if (!(this.state[id]! & FWD_EMITTED) && !this.isBlacklisted(id)) {
          this.emitTypedefDef(id, 0);
          out.lit(';\n\n');
        }
        this.setEmit(id, EMITTED);
        break;
      case STRUCT: case UNION: {
        this.setEmit(id, EMITTING);
        const named = T.nameOff(id) !== 0;
        // a definition written here (top level, or anonymous and so inline) needs its members' types
        if (topLevel || !named) {
          const inner = named ? id : contId;
          const w = T.w;
          for (let i = 0, q = T.items(id) + 1, n = T.vlen(id); i < n; i++, q += 3) this.emitType(w[q]!, inner, d);
        } else if (!(this.state[id]! & FWD_EMITTED) && id !== contId) {
          this.structFwd(id);
          out.lit(';\n\n');
          this.state[id] = this.state[id]! | FWD_EMITTED;
        }
        if (topLevel) {
          this.emitStructDef(id, 0);
          out.lit(';\n\n');
          this.setEmit(id, EMITTED);
        } else {
          this.setEmit(id, 0);
        }
        break;
      }
      case FUNC_PROTO: {
        this.emitType(T.size(id), contId, d);
        const w = T.w;
        for (let i = 0, q = T.items(id) + 1, n = T.vlen(id); i < n; i++, q += 2) this.emitType(w[q]!, contId, d);
        break;
      }
      default:
        break;
    }
  }

  /** `__builtin_va_list` is the compiler's own; redefining it breaks other compilers. */
  private isBlacklisted(id: number): boolean {
    const off = this.T.nameOff(id);
    return off !== 0 && this.T.nameIs(off, '__builtin_va_list');
  }

  /** btf_dump_emit_struct_def: members with their padding, and `packed` when the layout needs it. */
  protected emitStructDef(id: number, lvl: number): void {
    const T = this.T;
    const out = this.out;
    const w = T.w;
    const isStruct = T.kind[id] === STRUCT;
    const packed = isStruct && T.isPacked(id);
    this.structFwd(id);
    out.lit(' {');
    const flag = T.kindFlag(id);
    const n = T.vlen(id);
    let off = 0;
    let prevBitfield = false;
    for (let i = 0, q = T.items(id); i < n; i++, q += 3) {
      const type = w[q + 1]!;
      const raw = w[q + 2]!;
      const bits = flag ? raw >>> 24 : 0;
      const mOff = (flag ? raw & 0xffffff : raw) | 0; // libbpf keeps offsets in an int
      const mAlign = packed ? 1 : T.alignOf(type);
      bitPadding(out, T.padBits, off, mOff, mAlign, prevBitfield && bits !== 0, lvl + 1, id);
      out.byte(NL);
      out.tabs(lvl + 1);
      const name = w[q]!;
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
    if (isStruct) bitPadding(out, T.padBits, off, (T.size(id) * 8) | 0, T.alignOf(id), false, lvl + 1, id);
    // `struct empty {}` stays on one line
    if (n || T.size(id)) {
      out.byte(NL);
      out.tabs(lvl);
    }
    out.byte(125); // '}'
    if (packed) out.lit(' __attribute__((packed))');
  }

  /** btf_dump_emit_enum_def: enumerators (renamed on clashes), and a mode for odd sizes. */
  protected emitEnumDef(id: number, lvl: number): void {
    const T = this.T;
    const out = this.out;
    const w = T.w;
    out.lit('enum');
    if (T.nameOff(id) !== 0) out.byte(SPACE);
    this.typeName(id);
    const n = T.vlen(id);
    if (!n) return;
    out.lit(' {');
    const signed = T.kindFlag(id) === 1;
    const is32 = T.kind[id] === ENUM;
    let fits32 = true;
    if (T.oddEnums.has(id)) {
      // values no word holds: as the objects have them
      const t = typeById(T.btf, id) as Enum;
      for (const v of t.values) {
        this.enumerator(v.nameOff, lvl);
        if (is32) out.lit(String(signed ? BigInt.asIntN(32, v.val) : v.val));
        else out.lit(signed ? `${BigInt.asIntN(64, v.val)}LL` : `${v.val}ULL`);
        out.byte(44); // ','
        if (v.val >> 32n !== 0n) fits32 = false;
      }
    } else if (is32) {
      for (let i = 0, q = T.items(id); i < n; i++, q += 2) {
        this.enumerator(w[q]!, lvl);
        const u = w[q + 1]!;
        out.num(signed ? u | 0 : u);
        out.byte(44);
      }
    } else {
      for (let i = 0, q = T.items(id); i < n; i++, q += 3) {
        this.enumerator(w[q]!, lvl);
        const val = (BigInt(w[q + 2]!) << 32n) | BigInt(w[q + 1]!);
        out.lit(signed ? `${BigInt.asIntN(64, val)}LL` : `${val}ULL`);
        out.byte(44);
        if (w[q + 2] !== 0) fits32 = false;
      }
    }
    out.byte(NL);
    out.tabs(lvl);
    out.byte(125); // '}'
    if (!this.enumModes) return;
    const size = T.size(id);
    if (size === 1) out.lit(' __attribute__((mode(byte)))');
    // a 32-bit enum, or an ENUM64 whose values all fit 32 bits, only gets 8 bytes with mode(word)
    else if (size === 8 && T.ptrSize === 8 && (is32 || fits32)) out.lit(' __attribute__((mode(word)))');
  }

  private emitTypedefDef(id: number, lvl: number): void {
    const T = this.T;
    this.resolveName(id, IDENT_NAMES);
    const off = T.nameOff(id);
    const dup = this.dupOf(id);
    // old GCC points __gnuc_va_list at void
    if (T.size(id) === 0 && dup <= 1 && off !== 0 && T.nameIs(off, '__gnuc_va_list')) {
      this.out.lit('typedef __builtin_va_list __gnuc_va_list');
      return;
    }
    this.out.lit('typedef ');
    this.emitTypeDecl(T.size(id), off, dup, lvl);
  }
}
