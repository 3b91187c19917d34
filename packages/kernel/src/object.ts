/**
 * Load a program together with the maps it names: create each map of `program.maps`, fill
 * global-data maps with their initial bytes (and freeze the read-only ones, as libbpf does),
 * then BPF_PROG_LOAD with the map fds patched in. One handle closes the program and its maps.
 */
import type { MapDef, Program } from '@bpf/isa';
import { createMap, MAP_TYPE, type KernelMap, type MapTypeName } from './maps.js';
import { loadBtf, loadProgram, type KernelLoad, type LoadOptions } from './prog.js';
import { closeFd, KernelError } from './syscall.js';

/** `BPF_F_RDONLY_PROG`: the program may not write the map (`.rodata`, `.kconfig`). */
const BPF_F_RDONLY_PROG = 0x80;

export interface LoadedWithMaps extends KernelLoad {
  /** The maps created for the program, by name; closed by `close()`. */
  readonly maps: ReadonlyMap<string, KernelMap>;
  /** The fd of `program.btf` as loaded for the program's func_info / line_info. */
  readonly btfFd?: number;
}

interface MapDefLike extends MapDef {
  /** `@bpf/elf` marks `.rodata`-style maps frozen after their contents are written. */
  readonly frozen?: boolean;
}

function isMapType(t: string): t is MapTypeName {
  return Object.hasOwn(MAP_TYPE, t);
}

/** Create one map of a program, with its initial contents. */
export function createProgramMap(def: MapDefLike): KernelMap {
  if (!isMapType(def.type)) throw new KernelError('MAP_CREATE', 22, `map '${def.name}': unknown map type '${def.type}'`);
  const m = createMap({ type: def.type, keySize: def.keySize, valueSize: def.valueSize, maxEntries: def.maxEntries, name: def.name, ...(def.flags ? { flags: def.flags } : {}) });
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

/**
 * Create the program's maps (those its relocations name, or all of `program.maps`), load
 * `program.btf` when the program carries func_info / line_info and no `btfFd` is given, and
 * load the program with their fds. Errors close whatever was created, then rethrow.
 */
export function loadWithMaps(program: Program, opts: LoadOptions = {}): LoadedWithMaps {
  const used = new Set((program.relocs ?? []).filter((r) => r.kind === 'map' || r.kind === 'map_value').map((r) => r.name));
  const defs = (program.maps ?? []).filter((m) => used.size === 0 || used.has(m.name));
  const maps = new Map<string, KernelMap>();
  let btfFd: number | undefined;
  const closeMaps = (): void => {
    for (const m of maps.values()) m.close();
    if (btfFd !== undefined) closeFd(btfFd);
    btfFd = undefined;
  };
  const needsBtf = (program.funcInfo?.length ?? 0) > 0 || (program.lineInfo?.length ?? 0) > 0;
  const attachBtfId = (program as { readonly attachBtfId?: number }).attachBtfId;
  let load: KernelLoad;
  try {
    for (const d of defs) maps.set(d.name, createProgramMap(d));
    if (needsBtf && opts.btfFd === undefined && program.btf) btfFd = loadBtf(program.btf.bytes);
    load = loadProgram(program, {
      ...(attachBtfId !== undefined ? { attachBtfId } : {}),
      ...(btfFd !== undefined ? { btfFd } : {}),
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
