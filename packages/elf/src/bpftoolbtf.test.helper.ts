/**
 * Test-only: a `BtfTypeTable` built from `bpftool btf dump file X -j`, i.e. from libbpf's own
 * reading of the BTF (the oracle), so the BTF-dependent stages can be checked end to end
 * against libbpf before `@bpf/btf` lands. Not a BTF parser: it maps bpftool's JSON fields.
 */
import { run } from '@bpf/testkit';
import type { BtfTypeInfo, BtfTypeTable, CoreRelo, ElfObject } from './index.js';
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
    case 'INT': return { kind: 'int', name: j.name, size: j.size!, signed: j.encoding === 'SIGNED', bits: j.nr_bits!, bitOffset: j.bits_offset!, ...(j.encoding === 'BOOL' ? { bool: true } : {}) };
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

export const LIBBPF_KIND: Readonly<Record<string, number>> = {
  byte_off: 0, byte_sz: 1, field_exists: 2, signed: 3, lshift_u64: 4, rshift_u64: 5,
  local_type_id: 6, target_type_id: 7, type_exists: 8, type_size: 9, enumval_exists: 10, enumval_value: 11, type_matches: 12,
};

/** The access string of a `relo #N: <kind> [type] ...` line of libbpf's debug log. */
export function libbpfReloAccess(rest: string, typeId: number, local: BtfTypeTable): string {
  const field = /\(([\d:]+) @ offset [\d.]+\)/.exec(rest);
  if (field) return field[1]!;
  const en = /::(\w+) = /.exec(rest);
  if (!en) return '0';
  const t = local.type(typeId);
  return String(t?.kind === 'enum' ? t.values.findIndex((x) => x.name === en[1]) : -1);
}

/**
 * The CO-RE records libbpf applied, read back from its debug log (`bpftool -d prog
 * loadall`), by section, with the instruction it patched: `.BTF.ext`'s core_relo records as
 * libbpf read them, until `@bpf/btf` parses `.BTF.ext`.
 */
export function coreRelosFromLibbpfLog(log: string, obj: ElfObject, local: BtfTypeTable): Map<string, CoreRelo[]> {
  const pending = new Map<string, { section: string; start: number; relo: Omit<CoreRelo, 'insnOff'> }>();
  const out = new Map<string, CoreRelo[]>();
  for (const line of log.split('\n')) {
    let m = /prog '(\w+)': relo #(\d+): <(\w+)> \[(\d+)\] (.*)$/.exec(line);
    if (m) {
      const [, prog, n, kindName, typeId, rest] = m;
      if (pending.has(`${prog}#${n}`)) continue;
      const access = libbpfReloAccess(rest!, Number(typeId), local);
      const fn = obj.programs.find((p) => p.name === prog)!;
      pending.set(`${prog}#${n}`, { section: fn.section, start: fn.start, relo: { typeId: Number(typeId), access, kind: LIBBPF_KIND[kindName!]! } });
      continue;
    }
    m = /prog '(\w+)': relo #(\d+): patched insn #(\d+) \(.*\) (?:imm64|imm|off) /.exec(line);
    if (m) {
      const p = pending.get(`${m[1]}#${m[2]}`)!;
      const list = out.get(p.section) ?? [];
      const insnOff = (p.start + Number(m[3])) * 8;
      if (!list.some((r) => r.insnOff === insnOff)) list.push({ ...p.relo, insnOff });
      out.set(p.section, list);
    }
  }
  return out;
}
