/**
 * Map definitions found in an object: legacy `maps` sections (`struct bpf_map_def`), and
 * global data sections (`.data*`, `.rodata*`, `.bss*`) that libbpf turns into one-element
 * array maps (tools/lib/bpf/libbpf.c: bpf_object__init_user_maps, init_global_data_maps).
 * BTF-defined `.maps` need the object's BTF and are read in btfmaps.ts.
 */
import type { MapDef } from '@bpf/isa';
import type { ByteReader, ElfSection, ElfSymbol } from './elf.js';
import { sectionLabel, SHN } from './elf.js';
import { ElfError } from './errors.js';

/** `enum bpf_map_type`, in order (include/uapi/linux/bpf.h), lower-case without the prefix. */
export const MAP_TYPES = [
  'unspec', 'hash', 'array', 'prog_array', 'perf_event_array', 'percpu_hash', 'percpu_array',
  'stack_trace', 'cgroup_array', 'lru_hash', 'lru_percpu_hash', 'lpm_trie', 'array_of_maps',
  'hash_of_maps', 'devmap', 'sockmap', 'cpumap', 'xskmap', 'sockhash', 'cgroup_storage',
  'reuseport_sockarray', 'percpu_cgroup_storage', 'queue', 'stack', 'sk_storage', 'devmap_hash',
  'struct_ops', 'ringbuf', 'inode_storage', 'task_storage', 'bloom_filter', 'user_ringbuf',
  'cgrp_storage', 'arena',
] as const;

/** Map type name for a kernel number; unknown numbers keep their value (`type_99`). */
export const mapTypeName = (n: number): string => MAP_TYPES[n] ?? `type_${n}`;

/** The kernel number of a map type name, or undefined. */
export function mapTypeNumber(name: string): number | undefined {
  const k = (MAP_TYPES as readonly string[]).indexOf(name);
  if (k >= 0) return k;
  const m = /^type_(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** `BPF_F_RDONLY_PROG`: programs may not write `.rodata` / `.kconfig`. */
export const BPF_F_RDONLY_PROG = 0x80;
/** `BPF_F_MMAPABLE`: libbpf creates every global-data map mmap-able (user space reads it). */
export const BPF_F_MMAPABLE = 0x400;

export type ElfMapKind = 'legacy' | 'btf' | 'data' | 'kconfig' | 'struct_ops';

export interface ElfMap extends MapDef {
  readonly kind: ElfMapKind;
  /** Section the definition (or the data) lives in. */
  readonly section: string;
  readonly sectionIndex: number;
  /** Byte offset of the definition in its section (0 for data maps). */
  readonly offset: number;
  /** A BTF-defined map whose definition has not been read from BTF yet. */
  readonly btfPending?: boolean;
  /** Frozen after its contents are written (`.rodata*`, `.kconfig`), as libbpf does. */
  readonly frozen?: boolean;
  /** Map-in-map: the inner map's definition (`__array(values, struct {...})`). */
  readonly inner?: MapDef;
  /**
   * Initial slots of a map-in-map or prog array (`.values = { &m, 0, &prog }`): the name
   * of the map or program per index, null for an empty slot.
   */
  readonly initSlots?: readonly (string | null)[];
}

/** Where global data lives: libbpf's SEC_DATA / SEC_RODATA / SEC_BSS classification. */
export function dataSectionKind(name: string): 'data' | 'rodata' | 'bss' | undefined {
  for (const k of ['data', 'rodata', 'bss'] as const) if (name === `.${k}` || name.startsWith(`.${k}.`)) return k;
  return undefined;
}

const BPF_MAP_DEF_SIZE = 20;
/** Larger than any array map value the kernel accepts (KMALLOC_MAX_SIZE is far below). */
const MAX_DATA_SECTION = 1 << 26;

/**
 * Legacy `struct bpf_map_def { type, key_size, value_size, max_entries, map_flags }`, one per
 * symbol in the section; each definition is section size / number of symbols bytes, of which
 * the first 20 are read (older libbpf's rule for larger, extended definitions).
 */
export function legacyMaps(r: ByteReader, sec: ElfSection, symbols: readonly ElfSymbol[]): ElfMap[] {
  const label = sectionLabel(sec);
  const syms = symbols.filter((s) => s.shndx === sec.index && s.shndx !== SHN.UNDEF && s.type !== 'section' && s.name !== '');
  if (syms.length === 0) return [];
  const defSize = Math.floor(sec.size / syms.length);
  if (defSize < BPF_MAP_DEF_SIZE || sec.size % syms.length !== 0)
    throw new ElfError('BAD_MAP', `${sec.size} bytes cannot hold ${syms.length} map definitions of at least ${BPF_MAP_DEF_SIZE} bytes`, { byteOffset: sec.offset, section: label });
  return syms
    .slice()
    .sort((a, b) => a.value - b.value)
    .map((s): ElfMap => {
      if (s.value % defSize !== 0 || s.value + BPF_MAP_DEF_SIZE > sec.size)
        throw new ElfError('BAD_MAP', `map ${s.name} at offset ${s.value} is not a whole definition`, { byteOffset: sec.offset + Math.min(s.value, sec.size), section: label });
      const o = sec.offset + s.value;
      const flags = r.u32(o + 16, 'map_flags', label);
      return {
        kind: 'legacy',
        name: s.name,
        type: mapTypeName(r.u32(o, 'type', label)),
        keySize: r.u32(o + 4, 'key_size', label),
        valueSize: r.u32(o + 8, 'value_size', label),
        maxEntries: r.u32(o + 12, 'max_entries', label),
        ...(flags ? { flags } : {}),
        section: sec.name,
        sectionIndex: sec.index,
        offset: s.value,
      };
    });
}

/**
 * BTF-defined maps (`SEC(".maps")`), one per symbol. Their type, sizes and flags live in the
 * object's BTF (the VAR's struct of `__uint`/`__type` members); until that is read they carry
 * type `unknown` and zero sizes, and `btfPending` is set.
 */
export function btfMapPlaceholders(sec: ElfSection, symbols: readonly ElfSymbol[]): ElfMap[] {
  return symbols
    .filter((s) => s.shndx === sec.index && s.type !== 'section' && s.name !== '')
    .sort((a, b) => a.value - b.value)
    .map((s): ElfMap => ({
      kind: 'btf',
      name: s.name,
      type: 'unknown',
      keySize: 0,
      valueSize: 0,
      maxEntries: 0,
      section: sec.name,
      sectionIndex: sec.index,
      offset: s.value,
      btfPending: true,
    }));
}

/** A global-data section as a one-element array map holding the whole section. */
export function dataMap(sec: ElfSection): ElfMap {
  // SHT_NOBITS sizes are not bounded by the file; refuse what no kernel would create.
  if (sec.size > MAX_DATA_SECTION)
    throw new ElfError('BAD_MAP', `global data section of ${sec.size} bytes is larger than ${MAX_DATA_SECTION}`, { byteOffset: sec.offset, section: sectionLabel(sec) });
  const kind = dataSectionKind(sec.name);
  return {
    kind: 'data',
    name: sec.name,
    type: 'array',
    keySize: 4,
    valueSize: sec.size,
    maxEntries: 1,
    // libbpf (bpf_object__init_internal_map): read-only for programs and frozen for .rodata*,
    // mmap-able for all.
    flags: (kind === 'rodata' ? BPF_F_RDONLY_PROG : 0) | BPF_F_MMAPABLE,
    ...(kind === 'rodata' ? { frozen: true } : {}),
    // .bss is SHT_NOBITS: zeroes.
    data: sec.data.length === sec.size ? sec.data.slice() : new Uint8Array(sec.size),
    section: sec.name,
    sectionIndex: sec.index,
    offset: 0,
  };
}
