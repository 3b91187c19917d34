/**
 * A small WebAssembly binary writer: just what the BPF compiler needs (function types,
 * imported functions / memory / globals / table, functions with locals, exported functions
 * and globals). Opcodes are one table (`OP`), named as in the WebAssembly spec's text format.
 */

/** Value types (binary encoding). */
export const I32 = 0x7f;
export const I64 = 0x7e;
export type ValType = typeof I32 | typeof I64;

/** Opcodes by their text-format name (WebAssembly core spec, section 5.4). */
export const OP = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, br_if: 0x0d, br_table: 0x0e, return: 0x0f,
  call: 0x10, call_indirect: 0x11, drop: 0x1a, select: 0x1b,
  'local.get': 0x20, 'local.set': 0x21, 'local.tee': 0x22, 'global.get': 0x23, 'global.set': 0x24,
  'i32.load': 0x28, 'i64.load': 0x29, 'i32.load8_s': 0x2c, 'i32.load8_u': 0x2d, 'i32.load16_s': 0x2e, 'i32.load16_u': 0x2f,
  'i64.load8_s': 0x30, 'i64.load8_u': 0x31, 'i64.load16_s': 0x32, 'i64.load16_u': 0x33, 'i64.load32_s': 0x34, 'i64.load32_u': 0x35,
  'i32.store': 0x36, 'i64.store': 0x37, 'i32.store8': 0x3a, 'i32.store16': 0x3b, 'i64.store8': 0x3c, 'i64.store16': 0x3d, 'i64.store32': 0x3e,
  'i32.const': 0x41, 'i64.const': 0x42,
  'i32.eqz': 0x45, 'i32.eq': 0x46, 'i32.ne': 0x47, 'i32.lt_s': 0x48, 'i32.lt_u': 0x49, 'i32.gt_s': 0x4a, 'i32.gt_u': 0x4b, 'i32.le_s': 0x4c, 'i32.le_u': 0x4d, 'i32.ge_s': 0x4e, 'i32.ge_u': 0x4f,
  'i64.eqz': 0x50, 'i64.eq': 0x51, 'i64.ne': 0x52, 'i64.lt_s': 0x53, 'i64.lt_u': 0x54, 'i64.gt_s': 0x55, 'i64.gt_u': 0x56, 'i64.le_s': 0x57, 'i64.le_u': 0x58, 'i64.ge_s': 0x59, 'i64.ge_u': 0x5a,
  'i32.add': 0x6a, 'i32.sub': 0x6b, 'i32.mul': 0x6c, 'i32.div_s': 0x6d, 'i32.div_u': 0x6e, 'i32.rem_s': 0x6f, 'i32.rem_u': 0x70,
  'i32.and': 0x71, 'i32.or': 0x72, 'i32.xor': 0x73, 'i32.shl': 0x74, 'i32.shr_s': 0x75, 'i32.shr_u': 0x76, 'i32.rotl': 0x77, 'i32.rotr': 0x78,
  'i64.add': 0x7c, 'i64.sub': 0x7d, 'i64.mul': 0x7e, 'i64.div_s': 0x7f, 'i64.div_u': 0x80, 'i64.rem_s': 0x81, 'i64.rem_u': 0x82,
  'i64.and': 0x83, 'i64.or': 0x84, 'i64.xor': 0x85, 'i64.shl': 0x86, 'i64.shr_s': 0x87, 'i64.shr_u': 0x88, 'i64.rotl': 0x89, 'i64.rotr': 0x8a,
  'i32.wrap_i64': 0xa7, 'i64.extend_i32_s': 0xac, 'i64.extend_i32_u': 0xad,
  'i32.extend8_s': 0xc0, 'i32.extend16_s': 0xc1, 'i64.extend8_s': 0xc2, 'i64.extend16_s': 0xc3, 'i64.extend32_s': 0xc4,
} as const;
export type OpName = keyof typeof OP;

/** A growable byte buffer with the LEB128 writers of the binary format. */
export class Bytes {
  private buf = new Uint8Array(256);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): this {
    if (this.length === this.buf.length) this.room(1);
    this.buf[this.length++] = b;
    return this;
  }

  bytes(b: Uint8Array | readonly number[]): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }

  u32(v: number): this {
    let x = v >>> 0;
    do {
      const b = x & 0x7f;
      x >>>= 7;
      this.byte(x === 0 ? b : b | 0x80);
    } while (x !== 0);
    return this;
  }

  s32(v: number): this {
    let x = v | 0;
    for (;;) {
      const b = x & 0x7f;
      x >>= 7;
      if ((x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  s64(v: bigint | number): this {
    // the encoding of a value that fits 32 bits does not depend on the width
    if (typeof v === 'number' && v >= -0x8000_0000 && v <= 0x7fff_ffff && Number.isInteger(v)) return this.s32(v);
    if (typeof v === 'bigint' && v >= -0x8000_0000n && v <= 0x7fff_ffffn) return this.s32(Number(v));
    let x = BigInt.asIntN(64, BigInt(v));
    for (;;) {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).bytes(b);
  }

  /** A section or a function body: its size, then its bytes. */
  sized(inner: Bytes): this {
    return this.u32(inner.length).bytes(inner.view());
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** A function body being written: typed helpers over `Bytes`. */
export class Code extends Bytes {
  op(name: OpName): this {
    return this.byte(OP[name]);
  }
  get(local: number): this {
    return this.byte(OP['local.get']).u32(local);
  }
  set(local: number): this {
    return this.byte(OP['local.set']).u32(local);
  }
  tee(local: number): this {
    return this.byte(OP['local.tee']).u32(local);
  }
  gget(g: number): this {
    return this.byte(OP['global.get']).u32(g);
  }
  gset(g: number): this {
    return this.byte(OP['global.set']).u32(g);
  }
  i32(v: number): this {
    return this.byte(OP['i32.const']).s32(v);
  }
  i64(v: bigint | number): this {
    return this.byte(OP['i64.const']).s64(v);
  }
  call(f: number): this {
    return this.byte(OP.call).u32(f);
  }
  br(depth: number): this {
    return this.byte(OP.br).u32(depth);
  }
  brIf(depth: number): this {
    return this.byte(OP.br_if).u32(depth);
  }
  /** A memory access with its alignment hint and constant offset. */
  mem(name: OpName, offset = 0, align = 0): this {
    return this.byte(OP[name]).u32(align).u32(offset);
  }
  /** `block` / `loop` / `if` with no result (0x40) or one value. */
  open(kind: 'block' | 'loop' | 'if', result?: ValType): this {
    return this.byte(OP[kind]).byte(result ?? 0x40);
  }
  end(): this {
    return this.byte(OP.end);
  }
}

export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

interface Func {
  readonly type: number;
  readonly locals: readonly ValType[];
  readonly body: Code;
}

/** A module under construction. Imported functions take the first function indices. */
export class ModuleBuilder {
  private readonly types: FuncType[] = [];
  private readonly typeKeys = new Map<string, number>();
  private readonly imports: Bytes[] = [];
  private importedFuncs = 0;
  private importedGlobals = 0;
  private readonly funcs: Func[] = [];
  private readonly globals: { readonly type: ValType; readonly init: bigint }[] = [];
  private readonly exports: { readonly name: string; readonly kind: number; readonly index: number }[] = [];

  type(t: FuncType): number {
    const key = `${t.params.join(',')}:${t.results.join(',')}`;
    let k = this.typeKeys.get(key);
    if (k === undefined) {
      k = this.types.length;
      this.types.push(t);
      this.typeKeys.set(key, k);
    }
    return k;
  }

  importFunc(module: string, name: string, t: FuncType): number {
    if (this.funcs.length) throw new Error('imports come before functions');
    this.imports.push(new Bytes().name(module).name(name).byte(0x00).u32(this.type(t)));
    return this.importedFuncs++;
  }

  importMemory(module: string, name: string, minPages: number): void {
    this.imports.push(new Bytes().name(module).name(name).byte(0x02).byte(0x00).u32(minPages));
  }

  importTable(module: string, name: string, min: number): void {
    this.imports.push(new Bytes().name(module).name(name).byte(0x01).byte(0x70).byte(0x00).u32(min));
  }

  importGlobal(module: string, name: string, type: ValType, mutable: boolean): number {
    if (this.globals.length) throw new Error('imported globals come first');
    this.imports.push(new Bytes().name(module).name(name).byte(0x03).byte(type).byte(mutable ? 1 : 0));
    return this.importedGlobals++;
  }

  /** A mutable global of this module; returns its index. */
  global(type: ValType, init = 0n): number {
    this.globals.push({ type, init });
    return this.importedGlobals + this.globals.length - 1;
  }

  /** Reserve a function index; its body is given by `define`. */
  declare(t: FuncType): number {
    this.funcs.push({ type: this.type(t), locals: [], body: new Code() });
    return this.importedFuncs + this.funcs.length - 1;
  }

  define(index: number, locals: readonly ValType[], body: Code): void {
    const f = this.funcs[index - this.importedFuncs]!;
    this.funcs[index - this.importedFuncs] = { type: f.type, locals, body };
  }

  exportFunc(name: string, index: number): void {
    this.exports.push({ name, kind: 0x00, index });
  }

  exportGlobal(name: string, index: number): void {
    this.exports.push({ name, kind: 0x03, index });
  }

  encode(): Uint8Array {
    const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const section = (id: number, count: number, write: (b: Bytes) => void): void => {
      if (count === 0) return;
      const b = new Bytes().u32(count);
      write(b);
      out.byte(id).sized(b);
    };
    section(1, this.types.length, (b) => {
      for (const t of this.types) {
        b.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
      }
    });
    section(2, this.imports.length, (b) => this.imports.forEach((i) => b.bytes(i.view())));
    section(3, this.funcs.length, (b) => this.funcs.forEach((f) => b.u32(f.type)));
    section(6, this.globals.length, (b) => {
      for (const g of this.globals) {
        b.byte(g.type).byte(1);
        if (g.type === I32) b.byte(OP['i32.const']).s32(Number(g.init));
        else b.byte(OP['i64.const']).s64(g.init);
        b.byte(OP.end);
      }
    });
    section(7, this.exports.length, (b) => this.exports.forEach((e) => b.name(e.name).byte(e.kind).u32(e.index)));
    section(10, this.funcs.length, (b) => {
      for (const f of this.funcs) {
        const body = new Bytes();
        // locals, run-length encoded by type
        const runs: [number, ValType][] = [];
        for (const t of f.locals) {
          const last = runs[runs.length - 1];
          if (last && last[1] === t) last[0]++;
          else runs.push([1, t]);
        }
        body.u32(runs.length);
        for (const [n, t] of runs) body.u32(n).byte(t);
        body.bytes(f.body.view()).byte(OP.end);
        b.sized(body);
      }
    });
    return out.view().slice();
  }
}
