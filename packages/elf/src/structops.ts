/**
 * `SEC(".struct_ops")` / `SEC(".struct_ops.link")` variables: a kernel ops struct
 * (`struct tcp_congestion_ops`, ...) filled with programs and data. libbpf turns each into a
 * struct_ops map whose value is the kernel's `struct bpf_struct_ops_<name>` wrapping the
 * kernel's layout of the struct, copying members by name, and ties each function member's
 * program to the kernel struct (attach_btf_id) and member index (expected_attach_type)
 * (tools/lib/bpf/libbpf.c: bpf_object__init_struct_ops, bpf_map__init_kern_vdata).
 */
import { datasecVars } from './btfmaps.js';
import type { BtfTypeTable } from './btfview.js';
import { indexByName, resolveSize, skipModsAndTypedefs } from './btfview.js';
import { ElfError } from './errors.js';
import type { ElfMap } from './maps.js';
import type { ElfObject } from './object.js';

export interface StructOpsFunc {
  /** Member name in the ops struct. */
  readonly member: string;
  /** Byte offset of the member in the object's struct and in the kernel's. */
  readonly from: number;
  readonly to: number;
  /** Member index in the kernel's struct: the program's expected_attach_type. */
  readonly memberIndex: number;
  /** Program implementing it. */
  readonly program: string;
}

export interface StructOpsInfo {
  /** The ops struct's name (`tcp_congestion_ops`). */
  readonly typeName: string;
  /** Kernel BTF id of the ops struct: the programs' attach_btf_id. */
  readonly kernTypeId: number;
  /** Kernel BTF id of `bpf_struct_ops_<name>`: the map's btf_vmlinux_value_type_id. */
  readonly kernValueTypeId: number;
  readonly funcs: readonly StructOpsFunc[];
  /** Data members copied: offset in the object's struct -> in the kernel's, and size. */
  readonly copies: readonly { readonly member: string; readonly from: number; readonly to: number; readonly size: number }[];
}

/** The struct_ops maps of an object, built against the kernel's BTF. */
export function structOpsMaps(obj: ElfObject, local: BtfTypeTable, kernel: BtfTypeTable): (ElfMap & { readonly structOps: StructOpsInfo })[] {
  const out: (ElfMap & { readonly structOps: StructOpsInfo })[] = [];
  for (const sec of obj.sections) {
    if (sec.name !== '.struct_ops' && sec.name !== '.struct_ops.link') continue;
    const vars = datasecVars(local, sec.name) ?? [];
    const relocs = obj.relocations.filter((r) => r.target === sec.index);
    const kStructs = indexByName(kernel, ['struct']);
    for (const v of vars) {
      const fail = (m: string): ElfError => new ElfError('BAD_MAP', `struct_ops ${v.name}: ${m}`, { section: sec.name });
      const sym = obj.symbols.find((s) => s.name === v.name && s.shndx === sec.index);
      if (!sym) throw fail('no symbol');
      const t = skipModsAndTypedefs(local, v.type);
      if (t?.t.kind !== 'struct') throw fail('not a struct');
      const typeName = t.t.name;
      const kernTypeId = kStructs.get(typeName)?.[0];
      const kernValueTypeId = kStructs.get(`bpf_struct_ops_${typeName}`)?.[0];
      const kt = kernTypeId === undefined ? undefined : kernel.type(kernTypeId);
      const kv = kernValueTypeId === undefined ? undefined : kernel.type(kernValueTypeId);
      if (kt?.kind !== 'struct' || kv?.kind !== 'struct') throw fail(`the kernel has no struct_ops type ${typeName}`);
      const dataMember = kv.members.find((m) => m.name === 'data');
      if (!dataMember) throw fail(`bpf_struct_ops_${typeName} has no data member`);
      const valueSize = kv.size;
      const base = dataMember.bitOffset / 8;
      const localSize = resolveSize(local, t.id) ?? 0;
      if (sym.value + localSize > sec.data.length) throw fail('data runs past the section');
      const data = new Uint8Array(valueSize);
      const funcs: StructOpsFunc[] = [];
      const copies: { member: string; from: number; to: number; size: number }[] = [];
      for (const m of t.t.members) {
        const ki = kt.members.findIndex((x) => x.name === m.name);
        if (ki < 0) throw fail(`the kernel's ${typeName} has no member ${m.name}`);
        const km = kt.members[ki]!;
        if (m.bitfieldSize || km.bitfieldSize || m.bitOffset % 8 || km.bitOffset % 8) throw fail(`bitfield member ${m.name}`);
        const from = m.bitOffset / 8;
        const to = km.bitOffset / 8;
        const mt = skipModsAndTypedefs(local, m.type);
        const isFuncPtr = mt?.t.kind === 'ptr' && skipModsAndTypedefs(local, mt.t.type)?.t.kind === 'func_proto';
        if (isFuncPtr) {
          const r = relocs.find((x) => x.offset === sym.value + from);
          if (!r) continue; // not set: stays NULL
          const target = obj.symbols[r.symbol];
          const prog = obj.programs.find((p) => p.sectionIndex === target?.shndx && (target.type === 'func' ? p.start * 8 === target.value : p.start === 0));
          if (!prog) throw fail(`member ${m.name} points to no program`);
          funcs.push({ member: m.name, from, to, memberIndex: ki, program: prog.name });
          continue;
        }
        const size = resolveSize(local, m.type);
        const ksize = resolveSize(kernel, km.type);
        if (size === undefined || size !== ksize) throw fail(`member ${m.name} is ${size ?? '?'} bytes here and ${ksize ?? '?'} in the kernel`);
        if (base + to + size > valueSize) throw fail(`member ${m.name} is outside the kernel value`);
        const bytes = sec.data.subarray(sym.value + from, sym.value + from + size);
        data.set(bytes, base + to);
        copies.push({ member: m.name, from, to, size });
      }
      out.push({
        kind: 'struct_ops',
        name: v.name,
        type: 'struct_ops',
        keySize: 4,
        valueSize,
        maxEntries: 1,
        // libbpf: maps in .struct_ops.link are attached through a link (BPF_F_LINK).
        ...(sec.name === '.struct_ops.link' ? { flags: 1 << 13 } : {}),
        data,
        section: sec.name,
        sectionIndex: sec.index,
        offset: sym.value,
        structOps: { typeName, kernTypeId: kernTypeId!, kernValueTypeId: kernValueTypeId!, funcs, copies },
      });
    }
  }
  return out;
}
