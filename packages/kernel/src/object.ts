/**
 * Load a program together with the maps it names: create each map of `program.maps`, fill
 * global-data maps with their initial bytes (and freeze the read-only ones, as libbpf does),
 * then BPF_PROG_LOAD with the map fds patched in. One handle closes the program and its maps.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import type { MapDef, Program } from '@bpf/isa';
import { createMap, MAP_TYPE, type KernelMap, type MapTypeName } from './maps.js';
import { loadBtf, loadProgram, type KernelLoad, type LoadOptions } from './prog.js';
import { closeFd, KernelError } from './syscall.js';

/** `BPF_F_RDONLY_PROG`: the program may not write the map (`.rodata`, `.kconfig`). */
const BPF_F_RDONLY_PROG = 0x80;
/** `BPF_F_SLEEPABLE` (prog_flags): the program may sleep (include/uapi/linux/bpf.h). */
const BPF_F_SLEEPABLE = 1 << 4;

/** `loadWithMaps`'s options: `loadProgram`'s, and how the maps are sized. */
export interface LoadWithMapsOptions extends LoadOptions {
  /**
   * max_entries by map name, replacing the object's: loaders that size maps at load time do
   * this (falco's scap_bpf.c sets its per-CPU scratch and state maps, declared with 0, to the
   * number of CPUs). A name the program has no map of is an error.
   */
  readonly mapMaxEntries?: Readonly<Record<string, number>>;
}

export interface LoadedWithMaps extends KernelLoad {
  /** The maps created for the program, by name; closed by `close()`. */
  readonly maps: ReadonlyMap<string, KernelMap>;
  /** The fd of `program.btf` as loaded for the program's func_info / line_info. */
  readonly btfFd?: number;
}

/** What `@bpf/elf` records of a map beyond `MapDef`. */
interface MapDefLike extends MapDef {
  /** `map_extra` of BPF_MAP_CREATE (an arena's user-space start). */
  readonly mapExtra?: bigint;
  /** `.rodata`-style maps are frozen after their contents are written. */
  readonly frozen?: boolean;
  /** Map-in-map: the definition the inner maps share (`__array(values, struct {...})`). */
  readonly inner?: MapDef;
  /** Initial slots (`.values = { &m, 0, ... }`): a map's (or program's) name per index. */
  readonly initSlots?: readonly (string | null)[];
}

const MAP_IN_MAP = new Set(['array_of_maps', 'hash_of_maps']);

function isMapType(t: string): t is MapTypeName {
  return Object.hasOwn(MAP_TYPE, t);
}

/** The number of possible CPUs (`/sys/devices/system/cpu/possible`, e.g. `0-3` or `0,2-5`). */
let cpus: number | undefined;
export function possibleCpus(): number {
  if (cpus !== undefined) return cpus;
  let n = 0;
  for (const part of readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a! + 1;
  }
  return (cpus = n);
}

function create(def: MapDef & { readonly mapExtra?: bigint }, innerMapFd?: number, btfFd?: number): KernelMap {
  if (!isMapType(def.type)) throw new KernelError('MAP_CREATE', 22, `map '${def.name}': unknown map type '${def.type}'`);
  const spec = {
    type: def.type,
    keySize: def.keySize,
    valueSize: def.valueSize,
    // a perf event array declared without a size gets one slot per possible CPU, as libbpf
    // (0.x and 1.x) and iproute2 size it; the kernel refuses max_entries 0
    maxEntries: def.type === 'perf_event_array' && def.maxEntries === 0 ? possibleCpus() : def.maxEntries,
    name: def.name,
    ...(def.flags ? { flags: def.flags } : {}),
    ...(def.mapExtra !== undefined ? { mapExtra: def.mapExtra } : {}),
    ...(innerMapFd !== undefined ? { innerMapFd } : {}),
  } as const;
  // with the key and value types from the program's BTF, as libbpf creates maps; libbpf
  // retries without BTF when the kernel refuses it (bpf_object__create_map), and so do we
  if (btfFd !== undefined && def.btfKeyTypeId !== undefined && def.btfValueTypeId !== undefined) {
    try {
      return createMap({ ...spec, btf: { fd: btfFd, keyTypeId: def.btfKeyTypeId, valueTypeId: def.btfValueTypeId } });
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
    }
  }
  return createMap(spec);
}

/**
 * Create one map of a program, with its initial contents. A map-in-map is created against a
 * template inner map made from `def.inner` (closed once the outer map exists), as libbpf does.
 */
export function createProgramMap(def: MapDefLike, btfFd?: number): KernelMap {
  let m: KernelMap;
  if (MAP_IN_MAP.has(def.type)) {
    if (!def.inner) throw new KernelError('MAP_CREATE', 22, `map '${def.name}': a ${def.type} needs the inner map's definition`);
    const template = create({ ...def.inner, name: `${def.name}.inner` });
    try {
      m = create(def, template.fd);
    } finally {
      template.close();
    }
  } else m = create(def, undefined, btfFd);
  try {
    if (def.data && def.data.length > 0) {
      m.update(new Uint8Array(def.keySize), def.data);
      if (def.frozen || ((def.flags ?? 0) & BPF_F_RDONLY_PROG) !== 0) m.freeze();
    }
    return m;
  } catch (e) {
    m.close();
    throw e;
  }
}

/** Key `k` of a map as bytes (little-endian u32, the keys of array-like maps). */
function indexKey(k: number, keySize: number): Uint8Array {
  const key = new Uint8Array(keySize);
  new DataView(key.buffer).setUint32(0, k, true);
  return key;
}

/**
 * Create the program's maps (those its relocations name, or all of `program.maps` when it
 * has no relocations), with the maps a map-in-map's initial slots name put into place; load
 * `program.btf` when the program carries func_info / line_info and no `btfFd` is given; and
 * load the program with their fds. Errors close whatever was created, then rethrow.
 */
export function loadWithMaps(program: Program, options: LoadWithMapsOptions = {}): LoadedWithMaps {
  const { mapMaxEntries, ...opts } = options;
  const declared: readonly MapDefLike[] = program.maps ?? [];
  for (const [name, n] of Object.entries(mapMaxEntries ?? {})) {
    if (!declared.some((d) => d.name === name))
      throw new KernelError('MAP_CREATE', 22, `max_entries given for map '${name}', which the program does not have (its maps: ${declared.map((d) => d.name).join(', ') || 'none'})`);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new KernelError('MAP_CREATE', 22, `map '${name}': max_entries ${n} is not a u32`);
  }
  const all: readonly MapDefLike[] = mapMaxEntries ? declared.map((d) => (Object.hasOwn(mapMaxEntries, d.name) ? { ...d, maxEntries: mapMaxEntries[d.name]! } : d)) : declared;
  const used = program.relocs ? new Set(program.relocs.filter((r) => r.kind === 'map' || r.kind === 'map_value').map((r) => r.name)) : undefined;
  const defs = all.filter((m) => used === undefined || used.has(m.name));
  const maps = new Map<string, KernelMap>();
  let btfFd: number | undefined;
  const closeMaps = (): void => {
    for (const m of maps.values()) m.close();
    if (btfFd !== undefined) closeFd(btfFd);
    btfFd = undefined;
  };
  // A big-endian object's program (its data in the other byte order) is not this host's:
  // libbpf ("endianness mismatch") and cilium/ebpf refuse it before any syscall.
  const foreign = (program as { readonly endian?: 'big' | 'little' }).endian;
  if (foreign !== undefined && foreign !== (endianness() === 'BE' ? 'big' : 'little'))
    throw new KernelError('PROG_LOAD', 22, `program${program.name ? ` '${program.name}'` : ''} comes from a ${foreign}-endian object; this host is ${endianness() === 'BE' ? 'big' : 'little'}-endian`);
  const needsBtf = (program.funcInfo?.length ?? 0) > 0 || (program.lineInfo?.length ?? 0) > 0;
  const { attachBtfId, structOpsMember, sleepable } = program as { readonly attachBtfId?: number; readonly structOpsMember?: number; readonly sleepable?: boolean };
  let load: KernelLoad;
  try {
    // the program's BTF, for func_info / line_info and for maps whose key and value it types
    const mapsNeedBtf = defs.some((d) => d.btfValueTypeId !== undefined);
    if (needsBtf && opts.btfFd === undefined && program.btf) btfFd = loadBtf(program.btf.bytes);
    else if (mapsNeedBtf && opts.btfFd === undefined && program.btf) {
      // only the maps want it: as libbpf, a BTF the kernel refuses leaves them without
      try {
        btfFd = loadBtf(program.btf.bytes);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
      }
    }
    const mapBtfFd = opts.btfFd ?? btfFd;
    const mapOf = (d: MapDefLike): KernelMap => {
      let m = maps.get(d.name);
      if (!m) maps.set(d.name, (m = createProgramMap(d, mapBtfFd)));
      return m;
    };
    for (const d of defs) {
      const outer = mapOf(d);
      // libbpf (init_map_in_map_slots): each named slot holds that map's fd. Program slots
      // of prog arrays wait for those programs to be loaded, which is not this call's.
      if (!MAP_IN_MAP.has(d.type)) continue;
      d.initSlots?.forEach((name, k) => {
        if (name === null) return;
        const target = all.find((x) => x.name === name);
        if (!target) throw new KernelError('MAP_UPDATE_ELEM', 22, `map '${d.name}': slot ${k} names '${name}', which is not among the program's maps`);
        const value = new Uint8Array(4);
        new DataView(value.buffer).setUint32(0, mapOf(target).fd, true);
        outer.update(indexKey(k, d.keySize), value);
      });
    }
    load = loadProgram(program, {
      ...(attachBtfId !== undefined ? { attachBtfId } : {}),
      // A struct_ops program names the ops member it implements as its expected attach type.
      ...(structOpsMember !== undefined ? { expectedAttachType: structOpsMember } : {}),
      ...(btfFd !== undefined && needsBtf ? { btfFd } : {}),
      // libbpf sets BPF_F_SLEEPABLE for the `.s` sections (fentry.s/, lsm.s/, uprobe.s/, ...)
      // and SEC("syscall"); `opts.flags` replaces it.
      ...(sleepable === true ? { flags: BPF_F_SLEEPABLE } : {}),
      ...opts,
      mapFds: { ...Object.fromEntries([...maps].map(([n, m]) => [n, m.fd])), ...opts.mapFds },
    });
  } catch (e) {
    closeMaps();
    throw e;
  }
  return {
    ...load,
    maps,
    ...(btfFd !== undefined ? { btfFd } : {}),
    close: () => {
      load.close();
      closeMaps();
    },
  };
}
