/**
 * `@bpf/btf`'s parsed BTF seen as this package's `BtfTypeTable`, and `.BTF.ext` records by
 * section name: the glue that lets `loadPrograms` read an object's own BTF.
 */
import type { Btf, BtfType, KindName } from '@bpf/btf';
import { btfString, nameIndex, namesByKind, parseBtf, parseBtfExt, typeById, typeCount } from '@bpf/btf';
import type { BtfKind, BtfTypeInfo, BtfTypeTable, NameLookup } from './btfview.js';
import type { CoreRelo } from './core.js';
import { ElfError } from './errors.js';
import type { SectionFuncInfo, SectionLineInfo } from './extinfo.js';

const LINKAGE = ['static', 'global', 'extern'] as const;

function convert(btf: Btf, t: BtfType): BtfTypeInfo {
  const name = btfString(btf, t.nameOff);
  switch (t.kind) {
    case 'INT':
      return { kind: 'int', name, size: t.sizeOrType, signed: ((t.intData >>> 24) & 1) !== 0, bits: t.intData & 0xff, bitOffset: (t.intData >>> 16) & 0xff, ...((t.intData >>> 24) & 4 ? { bool: true } : {}) };
    case 'PTR': return { kind: 'ptr', type: t.sizeOrType };
    case 'FWD': return { kind: 'fwd', name, union: t.kindFlag };
    case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
      return { kind: t.kind.toLowerCase() as 'typedef', name, type: t.sizeOrType };
    case 'FUNC': return { kind: 'func', name, type: t.sizeOrType, linkage: LINKAGE[t.vlen] ?? 'static' };
    case 'FLOAT': return { kind: 'float', name, size: t.sizeOrType };
    case 'ARRAY': return { kind: 'array', elemType: t.elemType, nelems: t.nelems };
    case 'STRUCT': case 'UNION':
      return {
        kind: t.kind === 'STRUCT' ? 'struct' : 'union',
        name,
        size: t.sizeOrType,
        members: t.members.map((m) => ({
          name: btfString(btf, m.nameOff),
          type: m.type,
          bitOffset: t.kindFlag ? m.offset & 0xffffff : m.offset,
          bitfieldSize: t.kindFlag ? m.offset >>> 24 : 0,
        })),
      };
    case 'ENUM': case 'ENUM64':
      return {
        kind: t.kind === 'ENUM' ? 'enum' : 'enum64',
        name,
        size: t.sizeOrType,
        signed: t.kindFlag,
        values: t.values.map((v) => ({ name: btfString(btf, v.nameOff), value: t.kindFlag ? BigInt.asIntN(t.kind === 'ENUM' ? 32 : 64, v.val) : v.val })),
      };
    case 'FUNC_PROTO': return { kind: 'func_proto', ret: t.sizeOrType, params: t.params.map((p) => ({ name: btfString(btf, p.nameOff), type: p.type })) };
    case 'VAR': return { kind: 'var', name, type: t.sizeOrType, linkage: LINKAGE[t.linkage] ?? 'static' };
    case 'DATASEC': return { kind: 'datasec', name, size: t.sizeOrType, vars: t.secinfo.map((s) => ({ type: s.type, offset: s.offset, size: s.size })) };
    case 'DECL_TAG': return { kind: 'decl_tag', name, type: t.sizeOrType, componentIdx: t.componentIdx };
  }
}

/** The kinds whose converted types have names (a PTR, ARRAY or FUNC_PROTO has none, nor void). */
const named = (kinds: readonly BtfKind[]): KindName[] => kinds.filter((k) => k !== 'void' && k !== 'ptr' && k !== 'array' && k !== 'func_proto').map((k) => k.toUpperCase() as KindName);

/** A `BtfTypeTable` over a parsed `Btf` (types converted on first use). */
export function btfTable(btf: Btf): BtfTypeTable {
  const cache = new Map<number, BtfTypeInfo>();
  return {
    // (without making the type objects: converted one by one on first use)
    count: typeCount(btf),
    type(id) {
      if (id === 0) return { kind: 'void' };
      const hit = cache.get(id);
      if (hit) return hit;
      const c = guard(`.BTF type ${id}`, () => {
        const t = typeById(btf, id);
        return t ? convert(btf, t) : undefined;
      });
      if (!c) return undefined;
      cache.set(id, c);
      return c;
    },
    namesByKind(kinds: readonly BtfKind[]) {
      return namesByKind(btf, named(kinds));
    },
    nameLookup(kinds: readonly BtfKind[]): NameLookup | undefined {
      // (undefined where namesByKind is: the same names would then be read from every type)
      const ix = nameIndex(btf);
      if (!ix) return undefined;
      const want = named(kinds);
      return { ids: (name) => ix.ids(name, want), flavors: (name) => ix.flavors(name, want) };
    },
  };
}

/** Any failure reading BTF is the object's fault: report it as an ElfError. */
function guard<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ElfError) throw e;
    throw new ElfError('BAD_BTF', `${what}: ${e instanceof Error ? e.message : String(e)}`, { section: what });
  }
}

export function parseBtfTable(bytes: Uint8Array, what = '.BTF'): { btf: Btf; table: BtfTypeTable } {
  return guard(what, () => {
    const btf = parseBtf(bytes);
    return { btf, table: btfTable(btf) };
  });
}

/** `.BTF.ext` records by section name, strings resolved against the object's BTF. */
export function btfExtRecords(ext: Uint8Array, btf: Btf, endian: 'little' | 'big'): {
  funcInfo: Map<string, SectionFuncInfo[]>;
  lineInfo: Map<string, SectionLineInfo[]>;
  coreRelos: Map<string, CoreRelo[]>;
} {
  return guard('.BTF.ext', () => {
    const e = parseBtfExt(ext, endian);
    // each string once: line_info records share file names, and several records one source line
    const strings = new Map<number, string>();
    const s = (off: number): string => {
      let v = strings.get(off);
      if (v === undefined) strings.set(off, (v = btfString(btf, off)));
      return v;
    };
    return {
      funcInfo: new Map(e.funcInfo.map((x) => [s(x.secNameOff), x.records.map((r) => ({ insnOff: r.insnOff, typeId: r.typeId }))])),
      lineInfo: new Map(e.lineInfo.map((x) => [s(x.secNameOff), x.records.map((r) => ({ insnOff: r.insnOff, fileNameOff: r.fileNameOff, lineOff: r.lineOff, line: r.line, column: r.column, fileName: s(r.fileNameOff), source: s(r.lineOff) }))])),
      coreRelos: new Map(e.coreRelo.map((x) => [s(x.secNameOff), x.records.map((r) => ({ insnOff: r.insnOff, typeId: r.typeId, access: s(r.accessStrOff), kind: r.kind }))])),
    };
  });
}
