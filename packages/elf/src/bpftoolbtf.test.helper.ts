/**
 * Test-only: a `BtfTypeTable` built from `bpftool btf dump file X -j`, i.e. from libbpf's own
 * reading of the BTF (the oracle), so the BTF-dependent stages can be checked end to end
 * against libbpf before `@bpf/btf` lands. Not a BTF parser: it maps bpftool's JSON fields.
 */
import { run } from '@bpf/testkit';
import type { BtfTypeInfo, BtfTypeTable } from './index.js';
import { typeTable } from './index.js';

interface J {
  id: number; kind: string; name: string; size?: number; type_id?: number; ret_type_id?: number;
  bits_offset?: number; nr_bits?: number; encoding?: string; nr_elems?: number; fwd_kind?: string; linkage?: string; component_idx?: number;
  members?: { name: string; type_id: number; bits_offset: number; bitfield_size?: number }[];
  values?: { name: string; val: number | string }[];
  params?: { name: string; type_id: number }[];
  vars?: { type_id: number; offset: number; size: number }[];
}

const nm = (n: string): string => (n === '(anon)' ? '' : n);
const linkage = (l: string | undefined): 'static' | 'global' | 'extern' => (l === 'global' || l === 'extern' ? l : l === 'global-alloc' ? 'global' : 'static');

function convert(j: J): BtfTypeInfo {
  switch (j.kind) {
    case 'INT': return { kind: 'int', name: j.name, size: j.size!, signed: j.encoding === 'SIGNED', bits: j.nr_bits!, bitOffset: j.bits_offset! };
    case 'PTR': return { kind: 'ptr', type: j.type_id! };
    case 'ARRAY': return { kind: 'array', elemType: j.type_id!, nelems: j.nr_elems! };
    case 'STRUCT': case 'UNION':
      return { kind: j.kind === 'STRUCT' ? 'struct' : 'union', name: nm(j.name), size: j.size!, members: j.members!.map((m) => ({ name: nm(m.name), type: m.type_id, bitOffset: m.bits_offset, bitfieldSize: m.bitfield_size ?? 0 })) };
    case 'ENUM': case 'ENUM64':
      return { kind: j.kind === 'ENUM' ? 'enum' : 'enum64', name: nm(j.name), size: j.size!, signed: j.encoding === 'SIGNED', values: j.values!.map((v) => ({ name: v.name, value: BigInt(v.val) })) };
    case 'FWD': return { kind: 'fwd', name: j.name, union: j.fwd_kind === 'union' };
    case 'TYPEDEF': case 'VOLATILE': case 'CONST': case 'RESTRICT': case 'TYPE_TAG':
      return { kind: j.kind.toLowerCase() as 'typedef', name: nm(j.name), type: j.type_id! };
    case 'FUNC': return { kind: 'func', name: j.name, type: j.type_id!, linkage: linkage(j.linkage) };
    case 'FUNC_PROTO': return { kind: 'func_proto', ret: j.ret_type_id!, params: j.params!.map((p) => ({ name: nm(p.name), type: p.type_id })) };
    case 'VAR': return { kind: 'var', name: j.name, type: j.type_id!, linkage: linkage(j.linkage) };
    case 'DATASEC': return { kind: 'datasec', name: j.name, size: j.size!, vars: j.vars!.map((v) => ({ type: v.type_id, offset: v.offset, size: v.size })) };
    case 'FLOAT': return { kind: 'float', name: j.name, size: j.size! };
    case 'DECL_TAG': return { kind: 'decl_tag', name: j.name, type: j.type_id!, componentIdx: j.component_idx! };
    default: throw new Error(`bpftool kind ${j.kind}`);
  }
}

export function bpftoolBtf(path: string): BtfTypeTable {
  const { types } = JSON.parse(run('bpftool', ['btf', 'dump', 'file', path, '-j'])) as { types: J[] };
  const table: BtfTypeInfo[] = [{ kind: 'void' }];
  for (const t of types) table[t.id] = convert(t);
  return typeTable(table);
}
