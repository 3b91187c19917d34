/**
 * The declaration half of the BTF-to-C emitter (libbpf btf_dump.c btf_dump_emit_type_decl and
 * btf_dump_emit_type_chain): C declarators for a name and a type id, and the names types are
 * written with (`name___N` on clashes). dumpc.ts adds the ordering and the definitions.
 *
 * State is typed arrays indexed by type id, and text is bytes (dumpc-out.ts): the emitter
 * leaves no garbage but the output string.
 */
import { BtfError } from './btf.js';
import { ARRAY, CONST, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, MAX_DEPTH, PTR, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VOLATILE, type TypeTable } from './dumpc-layout.js';
import { IDENT_NAMES, NameCounts, Out, TYPE_NAMES } from './dumpc-out.js';

// Bits of the per-type state byte. Order state (btf_dump_type_order_state, bits 0-1) and emit
// state (btf_dump_type_emit_state, bits 2-3) are dumpc.ts's; 0 is NOT_ORDERED / NOT_EMITTED.
export const ORDERING = 1, ORDERED = 2, ORDER_MASK = 3;
export const EMITTING = 4, EMITTED = 8, EMIT_MASK = 12;
export const FWD_EMITTED = 16;
const NAME_RESOLVED = 32;
/** Written as `name___N` (N in `dups`). */
const RENAMED = 64;

export const NL = 10, SPACE = 32, SEMI = 59;

export abstract class DeclWriter {
  readonly out: Out;
  /** Per-type state bits (the constants above). */
  protected readonly state: Uint8Array;
  /** Uses so far of each name, for `name___N`. */
  protected readonly names: NameCounts;
  /** N of the `name___N` of each renamed type. */
  private readonly dups = new Map<number, number>();
  /** Declaration stack (btf_dump's decl_stack): ids from the outermost declarator to the base type. The frame written now is [lo, top). */
  private stack = new Int32Array(256);
  private sp = 0;
  private lo = 0;
  private top = 0;
  private depth = 0;

  constructor(protected readonly T: TypeTable) {
    this.state = new Uint8Array(T.count);
    this.names = new NameCounts(T.strs, T.nameUses);
    // the output is about as long as the type and string sections; untouched room costs nothing
    this.out = new Out(T.w.length * 4 + T.strs.length);
  }

  /** btf_dump_emit_struct_def, with `lvl` tabs before the closing brace. */
  protected abstract emitStructDef(id: number, lvl: number): void;
  /** btf_dump_emit_enum_def. */
  protected abstract emitEnumDef(id: number, lvl: number): void;

  /** `struct NAME` / `union NAME` (the keyword alone for an anonymous one). */
  protected structFwd(id: number): void {
    this.out.lit(this.T.kind[id] === UNION ? 'union' : 'struct');
    if (this.T.nameOff(id) !== 0) this.out.byte(SPACE);
    this.typeName(id);
  }

  protected fwdDef(id: number): void {
    this.out.lit(this.T.kindFlag(id) ? 'union ' : 'struct ');
    this.typeName(id);
  }

  /**
   * btf_dump_emit_type_decl: the declaration of the name at string offset `fname` (with
   * `___fdup` when fdup > 1) with type `id`. The chain of pointers, arrays, modifiers and
   * prototypes down to a base type is stacked, then written from the base type out (C
   * declarators read inside out).
   */
  protected emitTypeDecl(id: number, fname: number, fdup: number, lvl: number): void {
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
      if (k === ARRAY) id = T.elem(id);
      else if (k === PTR || k === VOLATILE || k === CONST || k === RESTRICT || k === FUNC_PROTO || k === TYPE_TAG) id = T.size(id);
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
          this.rawName(T.nameOff(id));
          break;
        case STRUCT: case UNION:
          this.emitMods();
          if (T.nameOff(id) === 0) this.emitStructDef(id, lvl);
          else this.structFwd(id);
          break;
        case ENUM: case ENUM64:
          this.emitMods();
          if (T.nameOff(id) === 0) this.emitEnumDef(id, lvl);
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
        case TYPE_TAG: {
          this.emitMods();
          // with kind_flag the tag is a whole attribute, not a btf_type_tag name
          const attr = T.kindFlag(id) === 1;
          out.lit(attr ? ' __attribute__((' : ' __attribute__((btf_type_tag("');
          this.rawName(T.nameOff(id));
          out.lit(attr ? '))' : '")))');
          break;
        }
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
          out.num(T.nelems(id));
          out.byte(93); // ']'
          return;
        }
        case FUNC_PROTO:
          this.dropMods(); // GCC marks noreturn function pointers volatile
          if (this.top > this.lo) {
            out.lit(' (');
            this.emitTypeChain(fname, fdup, lvl);
            out.byte(41);
          } else {
            this.emitName(fname, fdup, lastWasPtr);
          }
          this.emitParams(id, lvl);
          return;
        default:
          return; // FUNC, VAR, ... have no place in a declaration
      }
      lastWasPtr = k === PTR;
    }
    this.emitName(fname, fdup, lastWasPtr);
  }

  /** `(type name, ...)` of FUNC_PROTO `id`. */
  private emitParams(id: number, lvl: number): void {
    const T = this.T;
    const out = this.out;
    const w = T.w;
    const at = T.items(id);
    const n = T.vlen(id);
    out.byte(40);
    // no parameters, or clang's single void one: `(void)`
    if (n === 0 || (n === 1 && w[at + 1] === 0)) {
      out.lit('void)');
      return;
    }
    for (let i = 0, q = at; i < n; i++, q += 2) {
      if (i > 0) out.lit(', ');
      const type = w[q + 1]!;
      if (i === n - 1 && type === 0) {
        out.lit('...');
        break;
      }
      const name = w[q]!;
      T.checkName(name); // a bad name is an error even where the declaration has no place for it
      this.emitTypeDecl(type, name, 0, lvl);
    }
    out.byte(41);
  }

  /** The name at string offset `off`, as it is. */
  protected rawName(off: number): void {
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

  /** N of `name___N` for type `id` (0 when written with its own name). */
  protected dupOf(id: number): number {
    return this.state[id]! & RENAMED ? this.dups.get(id)! : 0;
  }

  protected typeName(id: number): void {
    this.resolveName(id, TYPE_NAMES);
    this.writeName(this.T.nameOff(id), this.dupOf(id));
  }

  protected identName(id: number): void {
    this.resolveName(id, IDENT_NAMES);
    this.writeName(this.T.nameOff(id), this.dupOf(id));
  }

  /** Decide, once, the name `id` is written with: its own, or `name___N` for the Nth definition of a name. */
  protected resolveName(id: number, table: number): void {
    const T = this.T;
    const off = T.nameOff(id);
    if (off === 0 || this.state[id]! & NAME_RESOLVED) return;
    T.checkName(off);
    this.state[id] = this.state[id]! | NAME_RESOLVED;
    const k = T.kind[id];
    // forward declarations never clash with the definition they announce
    if (k === FWD || (k === ENUM && T.vlen(id) === 0)) return;
    const n = this.names.bump(off, table);
    if (n > 1) {
      this.dups.set(id, n);
      this.state[id] = this.state[id]! | RENAMED;
    }
  }

  /** `\n\tNAME = ` (`NAME___N` when an earlier identifier took the name). */
  protected enumerator(nameOff: number, lvl: number): void {
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
}
