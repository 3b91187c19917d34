/**
 * Building BTF: a small builder that appends types and strings, and `attachProtos`, which turns
 * the prototypes declared in assembly (`.func` / `.kfunc`, `Program.protos`) into FUNC and
 * FUNC_PROTO types plus func_info for the program's subprograms — what clang would emit.
 */
import type { FuncInfo, FuncProtoDecl, Program } from '@bpf/isa';
import { BtfError, KIND, type Btf, type BtfType } from './btf.js';

export class BtfBuilder {
  private readonly types: BtfType[] = [];
  private readonly strs: number[] = [0];
  private readonly strAt = new Map<string, number>([['', 0]]);
  private readonly named = new Map<string, number>();

  /** Offset of a string, adding it once. */
  str(s: string): number {
    let at = this.strAt.get(s);
    if (at === undefined) {
      at = this.strs.length;
      for (const b of new TextEncoder().encode(s)) this.strs.push(b);
      this.strs.push(0);
      this.strAt.set(s, at);
    }
    return at;
  }

  add(t: BtfType): number {
    this.types.push(t);
    return this.types.length;
  }

  int(name: string, size: number, signed: boolean): number {
    const key = `int:${name}`;
    const have = this.named.get(key);
    if (have !== undefined) return have;
    const id = this.add({ kind: 'INT', nameOff: this.str(name), kindFlag: false, vlen: 0, sizeOrType: size, intData: ((signed ? 1 : 0) << 24) | (size * 8) });
    this.named.set(key, id);
    return id;
  }

  ptr(to: number): number {
    return this.add({ kind: 'PTR', nameOff: 0, kindFlag: false, vlen: 0, sizeOrType: to });
  }

  fwd(name: string, union = false): number {
    const key = `fwd:${union ? 'u' : 's'}:${name}`;
    const have = this.named.get(key);
    if (have !== undefined) return have;
    const id = this.add({ kind: 'FWD', nameOff: this.str(name), kindFlag: union, vlen: 0, sizeOrType: 0 });
    this.named.set(key, id);
    return id;
  }

  /** A struct by value (no members known: size 0). */
  struct(name: string): number {
    return this.add({ kind: 'STRUCT', nameOff: this.str(name), kindFlag: false, vlen: 0, sizeOrType: 0, members: [] });
  }

  funcProto(ret: number, params: readonly { name?: string; type: number }[]): number {
    if (params.length > 12) throw new BtfError('BAD_TYPE_ID', `a FUNC_PROTO has ${params.length} params; at most 12 are supported`);
    return this.add({ kind: 'FUNC_PROTO', nameOff: 0, kindFlag: false, vlen: params.length, sizeOrType: ret, params: params.map((p) => ({ nameOff: this.str(p.name ?? ''), type: p.type })) });
  }

  func(name: string, proto: number, linkage: 'static' | 'global' | 'extern'): number {
    return this.add({ kind: 'FUNC', nameOff: this.str(name), kindFlag: false, vlen: ['static', 'global', 'extern'].indexOf(linkage), sizeOrType: proto });
  }

  /** A type id for a C-like spelling: u8..u64, s8..s64, int, char, long, bool, void, pointers, struct/union. */
  spelling(text: string): number {
    const t = text.trim().replace(/\s+/g, ' ').replace(/\bconst\b ?/g, '');
    if (t.endsWith('*')) {
      const inner = t.slice(0, -1).trim();
      return this.ptr(inner === 'void' || inner === '' ? 0 : this.spelling(inner));
    }
    const ints: Record<string, [number, boolean]> = {
      u8: [1, false], u16: [2, false], u32: [4, false], u64: [8, false], s8: [1, true], s16: [2, true], s32: [4, true], s64: [8, true],
      __u8: [1, false], __u16: [2, false], __u32: [4, false], __u64: [8, false], int: [4, true], 'unsigned int': [4, false],
      long: [8, true], 'unsigned long': [8, false], 'long long': [8, true], 'unsigned long long': [8, false], char: [1, true],
      bool: [1, false], size_t: [8, false],
    };
    if (t === 'void') return 0;
    const i = ints[t];
    if (i) return this.int(t, i[0], i[1]);
    const m = /^(struct|union) (\w+)$/.exec(t);
    if (m) return m[1] === 'union' ? this.fwd(m[2]!, true) : this.struct(m[2]!);
    throw new BtfError('BAD_TYPE_ID', `cannot express the type '${text}' in BTF`);
  }

  build(endian: 'little' | 'big' = 'little'): Btf {
    return { endian, version: 1, flags: 0, types: [undefined, ...this.types], firstId: 1, strings: Uint8Array.from(this.strs), stringBase: 0 };
  }
}

function protoType(b: BtfBuilder, p: FuncProtoDecl): number {
  return b.funcProto(b.spelling(p.ret), p.params.map((q) => ({ ...(q.name !== undefined ? { name: q.name } : {}), type: b.spelling(q.type) })));
}

/**
 * BTF and func_info for a program's declared prototypes: one FUNC per subprogram (the main
 * program gets `int name(void *ctx)` unless declared) and one extern FUNC per kfunc.
 */
export function btfFromProtos(program: Program): { btf: Btf; funcInfo: FuncInfo[]; kfuncIds: Map<string, number> } {
  const b = new BtfBuilder();
  const protos = new Map((program.protos ?? []).map((p) => [p.name, p]));
  const funcInfo: FuncInfo[] = [];
  for (const [k, s] of (program.subprogs ?? [{ start: 0, end: program.insns.length, name: 'main' }]).entries()) {
    const decl = protos.get(s.name);
    const proto = decl ? protoType(b, decl) : b.funcProto(b.int('int', 4, true), k === 0 ? [{ name: 'ctx', type: b.ptr(0) }] : []);
    funcInfo.push({ insnOff: s.start, typeId: b.func(s.name, proto, decl?.linkage === 'global' || k === 0 ? 'global' : 'static') });
  }
  const kfuncIds = new Map<string, number>();
  for (const p of program.protos ?? []) if (p.kind === 'kfunc') kfuncIds.set(p.name, b.func(p.name, protoType(b, p), 'extern'));
  return { btf: b.build(), funcInfo, kfuncIds };
}

/** The program with `btf` and `funcInfo` filled from its prototypes. */
export function attachProtos(program: Program, write: (btf: Btf) => Uint8Array): Program {
  const { btf, funcInfo } = btfFromProtos(program);
  return { ...program, btf: { bytes: write(btf) }, funcInfo };
}

export { KIND };
