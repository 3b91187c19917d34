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
  /**
   * Map-in-map: the inner map's definition (`__array(values, struct {...})`), with its BTF key
   * and value types when it declares them (`__type(value, T)`).
   */
  readonly inner?: MapDef & { readonly mapExtra?: bigint };
  /**
   * Initial slots of a map-in-map or prog array (`.values = { &m, 0, &prog }`): the name
   * of the map or program per index, null for an empty slot.
   */
  readonly initSlots?: readonly (string | null)[];
  /**
   * `map_extra` of BPF_MAP_CREATE (BTF-defined `__ulong(map_extra, V)` / `__uint(map_extra, V)`):
   * an arena's start address in user space, a bloom filter's hash count.
   */
  readonly mapExtra?: bigint;
  /** Legacy `bpf_map_def.numa_node` (when `BPF_F_NUMA_NODE` is set). */
  readonly numaNode?: number;
  /** iproute2 `bpf_elf_map.id` (names the map for map-in-map). */
  readonly id?: number;
  /** iproute2 `bpf_elf_map.pinning` (1 = object namespace, 2 = global): where iproute2 pins the map. */
  readonly pinning?: number;
  /**
   * The object's arena map: the initial bytes of its `__arena` global variables (`.addr_space.1`)
   * and their byte offset in the arena, copied in once the map exists (libbpf mmaps the arena
   * and copies them there). Instructions address them as map values at that offset.
   */
  readonly arenaGlobals?: { readonly data: Uint8Array; readonly offset: number };
}

/** Where global data lives: libbpf's SEC_DATA / SEC_RODATA / SEC_BSS classification. */
export function dataSectionKind(name: string): 'data' | 'rodata' | 'bss' | undefined {
  for (const k of ['data', 'rodata', 'bss'] as const) if (name === `.${k}` || name.startsWith(`.${k}.`)) return k;
  return undefined;
}

const BPF_MAP_DEF_SIZE = 20;
/** Larger than any array map value the kernel accepts (KMALLOC_MAX_SIZE is far below). */
const MAX_DATA_SECTION = 1 << 26;

/** A legacy map section: `maps` (libbpf, samples/bpf, iproute2) or `maps/NAME` (PREVAIL's tests). */
export const isLegacyMapsSection = (name: string): boolean => name === 'maps' || name.startsWith('maps/');

/**
 * How the words after `struct bpf_map_def`'s five are read:
 * - `bpf_map_def`: samples/bpf's bpf_load.c and falco (`inner_map_idx`, `numa_node`);
 * - `bpf_elf_map`: iproute2's `struct bpf_elf_map` (`id`, `pinning`, `inner_id`, `inner_idx`);
 * - `auto` (default): `bpf_elf_map` when a definition is 32 bytes or more (only iproute2's
 *   has 9 words), else `bpf_map_def`. The two agree on everything but map-in-map.
 */
export type LegacyMapFlavor = 'auto' | 'bpf_map_def' | 'bpf_elf_map';

/** `BPF_F_NUMA_NODE`: `numa_node` is meaningful. */
const BPF_F_NUMA_NODE = 0x4;
const MAP_IN_MAP = new Set(['array_of_maps', 'hash_of_maps']);

interface RawLegacyMap {
  readonly sym: ElfSymbol;
  readonly sec: ElfSection;
  readonly words: readonly number[];
}

/**
 * Legacy map definitions (libbpf 0.x's bpf_object__init_user_maps, iproute2's
 * bpf_fetch_maps_end): one per named symbol in each `maps` section, each section size / number
 * of symbols bytes long. The first five words are `struct bpf_map_def`; the words after are
 * read as `flavor` says, and any word past those must be zero (libbpf: "has unrecognized,
 * non-zero options").
 */
export function legacyMaps(r: ByteReader, secs: readonly ElfSection[], symbols: readonly ElfSymbol[], flavor: LegacyMapFlavor = 'auto'): ElfMap[] {
  const raw: RawLegacyMap[] = [];
  let defSizeMax = 0;
  for (const sec of secs) {
    const label = sectionLabel(sec);
    const syms = symbols.filter((s) => s.shndx === sec.index && s.shndx !== SHN.UNDEF && s.type !== 'section' && s.name !== '');
    if (syms.length === 0) continue;
    // libbpf 0.x: section size / map symbols. A linked object (`bpftool gen object`) keeps the
    // bytes of overridden __weak definitions, so the section holds more definitions than
    // symbols; then, as cilium/ebpf does, each definition is its symbol's size (all equal).
    const byCount = Math.floor(sec.size / syms.length);
    const bySym = syms[0]!.size;
    const countFits = byCount >= BPF_MAP_DEF_SIZE && sec.size % syms.length === 0 && syms.every((x) => x.value % byCount === 0);
    const symFits = bySym >= BPF_MAP_DEF_SIZE && syms.every((x) => x.size === bySym && x.value % bySym === 0 && x.value + bySym <= sec.size);
    const defSize = countFits || !symFits ? byCount : bySym;
    if (!symFits && (defSize < BPF_MAP_DEF_SIZE || sec.size % syms.length !== 0))
      throw new ElfError('BAD_MAP', `${sec.size} bytes cannot hold ${syms.length} map definitions of at least ${BPF_MAP_DEF_SIZE} bytes`, { byteOffset: sec.offset, section: label });
    defSizeMax = Math.max(defSizeMax, defSize);
    for (const sym of syms.slice().sort((a, b) => a.value - b.value)) {
      if (sym.value % defSize !== 0 || sym.value + defSize > sec.size)
        throw new ElfError('BAD_MAP', `map ${sym.name} at offset ${sym.value} is not a whole definition`, { byteOffset: sec.offset + Math.min(sym.value, sec.size), section: label });
      const words: number[] = [];
      for (let k = 0; k + 4 <= defSize; k += 4) words.push(r.u32(sec.offset + sym.value + k, 'map definition', label));
      raw.push({ sym, sec, words });
    }
  }
  const elf = flavor === 'bpf_elf_map' || (flavor === 'auto' && defSizeMax >= 32);
  const known = elf ? 9 : 7;
  const maps = raw.map(({ sym, sec, words }): ElfMap => {
    const label = sectionLabel(sec);
    const extra = words.findIndex((w, k) => k >= known && w !== 0);
    if (extra >= 0)
      throw new ElfError('BAD_MAP', `map ${sym.name} has unrecognized, non-zero options (word ${extra} of its definition is ${words[extra]})`, {
        byteOffset: sec.offset + sym.value + extra * 4,
        section: label,
      });
    const flags = words[4]!;
    const numa = !elf && (flags & BPF_F_NUMA_NODE) !== 0 ? words[6] : undefined;
    return {
      kind: 'legacy',
      name: sym.name,
      type: mapTypeName(words[0]!),
      keySize: words[1]!,
      valueSize: words[2]!,
      maxEntries: words[3]!,
      ...(flags ? { flags } : {}),
      ...(numa !== undefined ? { numaNode: numa } : {}),
      ...(elf && words[5] ? { id: words[5] } : {}),
      ...(elf && words[6] ? { pinning: words[6] } : {}),
      section: sec.name,
      sectionIndex: sec.index,
      offset: sym.value,
    };
  });
  // Map-in-map: the inner template and the initial slots.
  return maps.map((m, k): ElfMap => {
    if (!MAP_IN_MAP.has(m.type)) return m;
    const { words, sec, sym } = raw[k]!;
    const where = { byteOffset: sec.offset + sym.value + 20, section: sectionLabel(sec) };
    if (!elf) {
      // bpf_load.c: the inner template is the map at index inner_map_idx (definition order).
      const idx = words[5] ?? 0;
      const inner = maps[idx];
      if (!inner || inner === m) throw new ElfError('BAD_MAP', `map ${m.name}: inner_map_idx ${idx} names no other map`, where);
      // bpf_load.c's create_map_in_map passes no value size: the kernel's is a u32 fd.
      return { ...m, valueSize: m.valueSize || 4, inner: mapDefOf(inner) };
    }
    // iproute2: the template is the map whose id is inner_id; every map with that id is put
    // into the outer map at its inner_idx.
    const innerId = words[7] ?? 0;
    const members = maps.filter((x, j) => x.id !== undefined && x.id === innerId && innerId !== 0 && j !== k);
    if (members.length === 0) throw new ElfError('BAD_MAP', `map ${m.name}: inner_id ${innerId} names no map`, where);
    const slots: (string | null)[] = [];
    for (const x of members) {
      const slot = raw[maps.indexOf(x)]!.words[8] ?? 0;
      if (slot < m.maxEntries && slot < 1 << 16) {
        while (slots.length <= slot) slots.push(null);
        slots[slot] = x.name;
      }
    }
    return { ...m, valueSize: m.valueSize || 4, inner: mapDefOf(members[0]!), ...(m.type === 'array_of_maps' && slots.length ? { initSlots: slots } : {}) };
  });
}

const mapDefOf = (m: ElfMap): MapDef => ({ name: m.name, type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, ...(m.flags ? { flags: m.flags } : {}) });

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

/** How `placeArenaGlobals` lays out `__arena` globals. */
export interface ArenaLayout {
  /** The page size of the target (libbpf's sysconf(_SC_PAGE_SIZE)); default 4096. */
  readonly pageSize?: number;
  /**
   * Whether the kernel takes ld_imm64 map-value offsets over 2^29 (libbpf's
   * FEAT_LDIMM64_FULL_RANGE_OFF probe; kernels before 6.19 refuse them with "direct value
   * offset of %u is not allowed"): then the globals go at the end of the arena, else at its
   * start.
   */
  readonly fullRangeOffsets?: boolean;
}

/**
 * The object's `__arena` global variables placed in its arena map, as libbpf does
 * (bpf_object__init_user_btf_maps, init_arena_map_data, bpf_object__relocate): one ARENA map
 * at most; globals need one; they must fit its pages. The arena map gets `arenaGlobals`.
 * Maps still waiting for BTF are left as they are.
 */
export function placeArenaGlobals(maps: readonly ElfMap[], globals: { readonly section: string; readonly data: Uint8Array } | undefined, layout: ArenaLayout = {}): ElfMap[] {
  if (maps.some((m) => m.btfPending)) return [...maps];
  const arenas = maps.filter((m) => m.type === 'arena');
  if (arenas.length > 1)
    throw new ElfError('BAD_MAP', `map ${arenas[1]!.name}: only a single ARENA map is supported (map ${arenas[0]!.name} is also ARENA)`, { section: arenas[1]!.section });
  if (!globals) return [...maps];
  const arena = arenas[0];
  if (!arena) throw new ElfError('BAD_MAP', 'to use global __arena variables the ARENA map should be explicitly declared in SEC(".maps")', { section: globals.section });
  const page = layout.pageSize ?? 4096;
  const size = globals.data.length;
  const rounded = Math.ceil(size / page) * page;
  const mmapSize = arena.maxEntries * page;
  if (rounded > mmapSize)
    throw new ElfError('BAD_MAP', `declared ARENA map size (${mmapSize}) is too small to hold global __arena variables of size ${size}`, { section: globals.section });
  const offset = layout.fullRangeOffsets ? mmapSize - rounded : 0;
  return maps.map((m) => (m === arena ? { ...m, arenaGlobals: { data: globals.data, offset } } : m));
}
