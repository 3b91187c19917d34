/**
 * Load a program together with the maps it names: create each map of `program.maps`, fill
 * global-data maps with their initial bytes (and freeze the read-only ones, as libbpf does),
 * then BPF_PROG_LOAD with the map fds patched in. One handle closes the program and its maps.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import type { MapDef, Program } from '@bpf/isa';
import { writeArena } from './arena.js';
import { createMap, MAP_TYPE, possibleCpus, type KernelMap, type MapTypeName } from './maps.js';

export { possibleCpus };
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
   * number of CPUs). `NAME.inner` sizes the template inner map of map-in-map NAME (falco's
   * libpman gives its array of ring buffers a template ring buffer of the size it asks for,
   * `bpf_map__set_inner_map_fd`). A name the program has no map of is an error.
   */
  readonly mapMaxEntries?: Readonly<Record<string, number>>;
  /**
   * value_size by map name, replacing the object's (libbpf's `bpf_map__set_value_size`: bcc's
   * profile, offcputime, memleak size their stack trace maps' values to the stack depth asked
   * for, declaring only the key). A name the program has no map of is an error.
   */
  readonly mapValueSize?: Readonly<Record<string, number>>;
  /**
   * The inner map of a map-in-map NAME (`array_of_maps`, `hash_of_maps`), for an object that
   * declares the outer map without `__array(values, ...)` and leaves the inner map to its host:
   * cilium/ebpf's `MapSpec.InnerMap` (KubeArmor makes its `kubearmor_visibility` so), libbpf's
   * `bpf_map__set_inner_map_fd`. Replaces a declared one; `NAME.inner` in `mapMaxEntries` sizes it.
   */
  readonly mapInner?: Readonly<Record<string, InnerMapSpec>>;
}

/** A map-in-map's inner map as a host gives it (`mapInner`). */
export interface InnerMapSpec {
  readonly type: MapTypeName;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
}

/** `defs` with the inner maps a host gives (`mapInner`), each name checked as `sizedDefs` checks its. */
function withInnerMaps<D extends MapDefLike>(defs: readonly D[], mapInner: Readonly<Record<string, InnerMapSpec>> | undefined, whose: string): readonly D[] {
  if (!mapInner) return defs;
  for (const [name, spec] of Object.entries(mapInner)) {
    const d = defs.find((x) => x.name === name);
    if (!d) throw new KernelError('MAP_CREATE', 22, `inner map given for map '${name}', which the ${whose} does not have (its maps: ${defs.map((x) => x.name).join(', ') || 'none'})`);
    if (!MAP_IN_MAP.has(String(d.type))) throw new KernelError('MAP_CREATE', 22, `map '${name}': an inner map is given, but it is a ${String(d.type)}, not a map-in-map`);
    if (!isMapType(spec.type)) throw new KernelError('MAP_CREATE', 22, `map '${name}': inner map type '${String(spec.type)}' is not a map type`);
    for (const [what, n] of [['key_size', spec.keySize], ['value_size', spec.valueSize], ['max_entries', spec.maxEntries]] as const)
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new KernelError('MAP_CREATE', 22, `map '${name}': inner ${what} ${n} is not a u32`);
  }
  return defs.map((d) => {
    const spec = Object.hasOwn(mapInner, d.name) ? mapInner[d.name]! : undefined;
    return spec ? { ...d, inner: { name: `${d.name}.inner`, type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: spec.maxEntries, ...(spec.flags !== undefined ? { flags: spec.flags } : {}) } } : d;
  });
}

/**
 * The map definitions with the inner maps and sizes a loader sets (`mapInner`, `mapMaxEntries`,
 * `mapValueSize`), each name checked against `defs` (`whose`: "object" or "program", for the error).
 */
function sizedDefs<D extends MapDefLike>(given: readonly D[], sizes: { readonly mapMaxEntries?: Readonly<Record<string, number>> | undefined; readonly mapValueSize?: Readonly<Record<string, number>> | undefined; readonly mapInner?: Readonly<Record<string, InnerMapSpec>> | undefined }, whose: string): readonly D[] {
  const { mapMaxEntries, mapValueSize } = sizes;
  const defs = withInnerMaps(given, sizes.mapInner, whose);
  // `NAME.inner`: the template inner map of map-in-map NAME (libbpf's bpf_map__set_inner_map_fd
  // with a map the host made: falco sizes its ring buffers' template to the buffer it asks for)
  const innerOf = (name: string): D | undefined => (name.endsWith('.inner') ? defs.find((d) => d.inner !== undefined && `${d.name}.inner` === name) : undefined);
  for (const [what, given] of [['max_entries', mapMaxEntries], ['value_size', mapValueSize]] as const)
    for (const [name, n] of Object.entries(given ?? {})) {
      if (!defs.some((d) => d.name === name) && !innerOf(name)) throw new KernelError('MAP_CREATE', 22, `${what} given for map '${name}', which the ${whose} does not have (its maps: ${defs.map((d) => d.name).join(', ') || 'none'})`);
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new KernelError('MAP_CREATE', 22, `map '${name}': ${what} ${n} is not a u32`);
    }
  if (!mapMaxEntries && !mapValueSize) return defs;
  const sized = <M extends MapDef>(m: M, name: string): M => ({
    ...m,
    ...(mapMaxEntries && Object.hasOwn(mapMaxEntries, name) ? { maxEntries: mapMaxEntries[name]! } : {}),
    ...(mapValueSize && Object.hasOwn(mapValueSize, name) ? { valueSize: mapValueSize[name]! } : {}),
  });
  return defs.map((d) => {
    const outer = sized(d, d.name);
    return d.inner ? { ...outer, inner: sized(d.inner, `${d.name}.inner`) } : outer;
  });
}

export interface LoadedWithMaps extends KernelLoad {
  /** The maps created for the program, by name; closed by `close()`. */
  readonly maps: ReadonlyMap<string, KernelMap>;
  /** The fd of `program.btf` as loaded for the program's func_info / line_info. */
  readonly btfFd?: number;
  /**
   * The kernel's refusal of `program.btf` (BPF_BTF_LOAD) when it was optional, as libbpf treats
   * it: the maps were then created without BTF and the program loaded without func_info and
   * line_info. (An object with struct_ops needs its BTF: the refusal is thrown instead.)
   */
  readonly btfRefused?: KernelError;
}

/** What `@bpf/elf` records of a map beyond `MapDef`. */
interface MapDefLike extends MapDef {
  /** `map_extra` of BPF_MAP_CREATE (an arena's user-space start). */
  readonly mapExtra?: bigint;
  /** `.rodata`-style maps are frozen after their contents are written. */
  readonly frozen?: boolean;
  /** Map-in-map: the definition the inner maps share (`__array(values, struct {...})`). */
  readonly inner?: MapDef & { readonly mapExtra?: bigint };
  /** Initial slots (`.values = { &m, 0, ... }`): a map's (or program's) name per index. */
  readonly initSlots?: readonly (string | null)[];
  /** An arena's `__arena` global variables: their initial bytes and offset in the arena. */
  readonly arenaGlobals?: { readonly data: Uint8Array; readonly offset: number };
}

/** The map-in-map types, which take an inner map. */
const MAP_IN_MAP: ReadonlySet<string> = new Set(['array_of_maps', 'hash_of_maps']);

function isMapType(t: string): t is MapTypeName {
  return Object.hasOwn(MAP_TYPE, t);
}

/**
 * The page size (`AT_PAGESZ` of the auxiliary vector, /proc/self/auxv: pairs of native
 * 64-bit words), as libbpf's sysconf(_SC_PAGE_SIZE); 4096 when it cannot be read.
 */
let page: number | undefined;
export function pageSize(): number {
  if (page !== undefined) return page;
  page = 4096;
  try {
    const auxv = readFileSync('/proc/self/auxv');
    const le = endianness() === 'LE';
    for (let o = 0; o + 16 <= auxv.length; o += 16) {
      const type = le ? auxv.readBigUInt64LE(o) : auxv.readBigUInt64BE(o);
      if (type === 0n) break;
      if (type === 6n) page = Number(le ? auxv.readBigUInt64LE(o + 8) : auxv.readBigUInt64BE(o + 8));
    }
  } catch {
    // no /proc: keep the common size
  }
  return page;
}

/**
 * A ring buffer's max_entries as libbpf creates it (adjust_ringbuf_sz): the kernel wants a
 * power-of-2 multiple of the page size, so a size that is not becomes the smallest such
 * multiple above it (0 stays 0, for the kernel to refuse).
 */
export function ringbufSize(n: number, pageBytes = pageSize()): number {
  if (n === 0) return 0;
  const pages = n / pageBytes;
  if (Number.isInteger(pages) && (pages & (pages - 1)) === 0) return n;
  for (let mul = 1; mul * pageBytes <= 0xffffffff; mul *= 2) if (mul * pageBytes > n) return mul * pageBytes;
  return n;
}

/**
 * Map types libbpf creates without BTF key and value types even when the object declares
 * them (bpf_object__create_map): the kernel types their values itself (fds, ids, frames).
 */
const NO_BTF_TYPES: ReadonlySet<string> = new Set([
  'perf_event_array', 'cgroup_array', 'stack_trace', 'array_of_maps', 'hash_of_maps', 'devmap', 'devmap_hash',
  'cpumap', 'xskmap', 'sockmap', 'sockhash', 'queue', 'stack', 'arena',
]);

function create(def: MapDef & { readonly mapExtra?: bigint }, innerMapFd?: number, btfFd?: number): KernelMap {
  if (!isMapType(def.type)) throw new KernelError('MAP_CREATE', 22, `map '${def.name}': unknown map type '${def.type}'`);
  const maxEntries =
    // a perf event array declared without a size gets one slot per possible CPU, as libbpf
    // (0.x and 1.x) and iproute2 size it; the kernel refuses max_entries 0
    def.type === 'perf_event_array' && def.maxEntries === 0 ? possibleCpus()
    : def.type === 'ringbuf' || def.type === 'user_ringbuf' ? ringbufSize(def.maxEntries)
    : def.maxEntries;
  const spec = {
    type: def.type,
    keySize: def.keySize,
    valueSize: def.valueSize,
    maxEntries,
    name: def.name,
    ...(def.flags ? { flags: def.flags } : {}),
    ...(def.mapExtra !== undefined ? { mapExtra: def.mapExtra } : {}),
    ...(innerMapFd !== undefined ? { innerMapFd } : {}),
  } as const;
  // with the key and value types from the program's BTF, as libbpf creates maps (a key
  // without a type is 0, which the kernel accepts); libbpf retries without BTF when the
  // kernel refuses it (bpf_object__create_map), and so do we
  if (btfFd !== undefined && def.btfValueTypeId !== undefined && !NO_BTF_TYPES.has(def.type)) {
    try {
      return createMap({ ...spec, btf: { fd: btfFd, keyTypeId: def.btfKeyTypeId ?? 0, valueTypeId: def.btfValueTypeId } });
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
    }
  }
  return createMap(spec);
}

/** Whether creating `def` (and its inner template) wants the program's BTF. */
function wantsBtf(def: MapDefLike): boolean {
  return def.btfValueTypeId !== undefined || def.inner?.btfValueTypeId !== undefined;
}

/**
 * Create one map of a program, with its initial contents. A map-in-map is created against a
 * template inner map made from `def.inner` (closed once the outer map exists), as libbpf
 * does: the template gets the program's BTF key and value types like any other map, so that
 * the kernel knows the special fields of the inner maps' values (a spin lock, a timer, a
 * list head, kptrs) and accepts in the slots only maps whose values have the same ones
 * (kernel/bpf/map_in_map.c: bpf_map_meta_alloc, bpf_map_meta_equal).
 */
export function createProgramMap(def: MapDefLike, btfFd?: number): KernelMap {
  let m: KernelMap;
  if (MAP_IN_MAP.has(def.type)) {
    if (!def.inner) throw new KernelError('MAP_CREATE', 22, `map '${def.name}': a ${def.type} needs the inner map's definition`);
    const template = create({ ...def.inner, name: `${def.name}.inner` }, undefined, btfFd);
    try {
      m = create(def, template.fd);
    } finally {
      template.close();
    }
  } else m = create(def, undefined, btfFd);
  try {
    // libbpf maps every arena and copies its globals in (bpf_object__create_maps)
    if (def.type === 'arena') writeArena(m, def.maxEntries * pageSize(), def.arenaGlobals?.data ?? new Uint8Array(0), def.arenaGlobals?.offset ?? 0, def.mapExtra ?? 0n);
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

/** One map of `createMaps`: the kernel's map, or its refusal. */
export interface CreatedMap {
  readonly name: string;
  /** The map, when the kernel created it (and took its initial contents). */
  readonly map?: KernelMap;
  /** The kernel's refusal (of BPF_MAP_CREATE, or of writing the initial contents or slots). */
  readonly error?: KernelError;
}

export interface CreatedMaps {
  /** Every map given, in order, created or refused. */
  readonly maps: readonly CreatedMap[];
  /** The fd of the object's BTF, when maps needed it and the kernel took it. */
  readonly btfFd?: number;
  /** The kernel's refusal of the object's BTF, when the maps were then created without it (as libbpf goes on). */
  readonly btfRefused?: KernelError;
  /** Close every map and the BTF. */
  close(): void;
}

/**
 * Create an object's maps without loading a program (an object of maps only: cilium/ebpf's
 * arena testdata, a map a user space tool pins): each as `loadWithMaps` creates a program's —
 * types, sizes, flags and `map_extra` as the object declares them, key and value types from
 * `btf` (the object's BTF, loaded when some map has BTF types; a BTF the kernel refuses is
 * left out, as libbpf leaves it), global data written and `.rodata` frozen, map-in-map slots
 * filled. Unlike libbpf, which stops at the first map the kernel refuses, every map is tried
 * and its refusal kept, so each gets the kernel's answer. Errors other than the kernel's close
 * whatever was created, then rethrow.
 */
export function createMaps(defs: readonly MapDefLike[], options: { readonly btf?: { readonly bytes: Uint8Array }; readonly mapMaxEntries?: Readonly<Record<string, number>>; readonly mapValueSize?: Readonly<Record<string, number>>; readonly mapInner?: Readonly<Record<string, InnerMapSpec>> } = {}): CreatedMaps {
  const all = sizedDefs(defs, options, 'object');
  const made = new Map<string, KernelMap>();
  const errors = new Map<string, KernelError>();
  let btfFd: number | undefined;
  let btfRefused: KernelError | undefined;
  const close = (): void => {
    for (const m of made.values()) m.close();
    if (btfFd !== undefined) closeFd(btfFd);
    btfFd = undefined;
  };
  try {
    if (options.btf && all.some(wantsBtf)) {
      try {
        btfFd = loadBtf(options.btf.bytes);
      } catch (e) {
        if (!(e instanceof KernelError) || all.some((d) => d.type === 'struct_ops')) throw e;
        btfRefused = e;
      }
    }
    const kernelSays = (name: string, f: () => void): void => {
      try {
        f();
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        errors.set(name, e);
      }
    };
    for (const d of all) kernelSays(d.name, () => void made.set(d.name, createProgramMap(d, btfFd)));
    for (const d of all) {
      const outer = made.get(d.name);
      if (!outer || !MAP_IN_MAP.has(d.type)) continue;
      kernelSays(d.name, () =>
        d.initSlots?.forEach((name, k) => {
          if (name === null) return;
          const inner = made.get(name);
          if (!inner) throw new KernelError('MAP_UPDATE_ELEM', 22, `map '${d.name}': slot ${k} names '${name}', which was not created`);
          const value = new Uint8Array(4);
          new DataView(value.buffer).setUint32(0, inner.fd, true);
          outer.update(indexKey(k, d.keySize), value);
        }),
      );
    }
  } catch (e) {
    close();
    throw e;
  }
  return {
    maps: all.map((d) => {
      const error = errors.get(d.name);
      const map = made.get(d.name);
      return { name: d.name, ...(map && !error ? { map } : {}), ...(error ? { error } : {}) };
    }),
    ...(btfFd !== undefined ? { btfFd } : {}),
    ...(btfRefused !== undefined ? { btfRefused } : {}),
    close,
  };
}

/**
 * A program its loader refuses before any syscall (`@bpf/elf`'s `unresolved`: an extern or
 * attach target this kernel lacks, resolved when the program is loaded, as cilium/ebpf does):
 * that error is thrown, as the loader would return it.
 */
export function refuseUnresolved(program: Program): void {
  const unresolved = (program as { readonly unresolved?: unknown }).unresolved;
  if (unresolved instanceof Error) throw unresolved;
}

/** Key `k` of a map as bytes (little-endian u32, the keys of array-like maps). */
function indexKey(k: number, keySize: number): Uint8Array {
  const key = new Uint8Array(keySize);
  new DataView(key.buffer).setUint32(0, k, true);
  return key;
}

/**
 * The program with its maps as a host makes them (`mapInner`, `mapMaxEntries`, `mapValueSize`,
 * as `loadWithMaps` creates them): what the kernel's verifier then sees, for another verifier
 * (ours, in `bpf kernel compare` and the real-world recorder) to see the same.
 */
export function withHostMaps(program: Program, options: Pick<LoadWithMapsOptions, 'mapMaxEntries' | 'mapValueSize' | 'mapInner'>): Program {
  if (!options.mapMaxEntries && !options.mapValueSize && !options.mapInner) return program;
  return { ...program, maps: sizedDefs((program.maps ?? []) as readonly MapDefLike[], options, 'program') };
}

/**
 * Create the program's maps (those its relocations name, or all of `program.maps` when it
 * has no relocations), with the maps a map-in-map's initial slots name put into place; load
 * `program.btf` when the program carries func_info / line_info or its maps have BTF types and
 * no `btfFd` is given (a BTF the kernel refuses is left out, as libbpf leaves it: see
 * `btfRefused`); and load the program with their fds. Errors close whatever was created, then rethrow.
 */
export function loadWithMaps(program: Program, options: LoadWithMapsOptions = {}): LoadedWithMaps {
  const { mapMaxEntries, mapValueSize, mapInner, ...opts } = options;
  const all: readonly MapDefLike[] = sizedDefs(program.maps ?? [], { mapMaxEntries, mapValueSize, mapInner }, 'program');
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
  refuseUnresolved(program);
  const foreign = (program as { readonly endian?: 'big' | 'little' }).endian;
  if (foreign !== undefined && foreign !== (endianness() === 'BE' ? 'big' : 'little'))
    throw new KernelError('PROG_LOAD', 22, `program${program.name ? ` '${program.name}'` : ''} comes from a ${foreign}-endian object; this host is ${endianness() === 'BE' ? 'big' : 'little'}-endian`);
  const needsBtf = (program.funcInfo?.length ?? 0) > 0 || (program.lineInfo?.length ?? 0) > 0;
  const { attachBtfId, structOpsMember, sleepable } = program as { readonly attachBtfId?: number; readonly structOpsMember?: number; readonly sleepable?: boolean };
  // struct_ops maps and programs are described by the object's BTF: libbpf cannot go on without it
  const btfMandatory = structOpsMember !== undefined || all.some((d) => d.type === 'struct_ops');
  let btfRefused: KernelError | undefined;
  let load: KernelLoad;
  try {
    // the program's BTF, for func_info / line_info and for maps whose key and value it types
    // (those it names, and the maps a map-in-map's initial slots hold)
    const slotTargets = defs.flatMap((d) => (MAP_IN_MAP.has(d.type) ? (d.initSlots ?? []) : [])).map((n) => all.find((x) => x.name === n));
    const mapsNeedBtf = defs.some(wantsBtf) || slotTargets.some((t) => t !== undefined && wantsBtf(t));
    if ((needsBtf || mapsNeedBtf) && opts.btfFd === undefined && program.btf) {
      try {
        btfFd = loadBtf(program.btf.bytes);
      } catch (e) {
        // libbpf (bpf_object__sanitize_and_load_btf): the object's BTF is optional unless it
        // has struct_ops; when the kernel refuses it (a struct with two spin locks, a
        // misaligned one: btf_parse_struct_metas), maps are created without key and value
        // types and programs are loaded without func_info and line_info
        if (!(e instanceof KernelError) || btfMandatory) throw e;
        btfRefused = e;
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
      ...(btfRefused !== undefined ? { funcInfo: [], lineInfo: [] } : {}),
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
    ...(btfRefused !== undefined ? { btfRefused } : {}),
    close: () => {
      load.close();
      closeMaps();
    },
  };
}
