/* eslint-disable no-restricted-imports -- test-only helper; its name keeps it out of the published files */
/**
 * Test-only: libbpf's verdict for each program of an object, one program at a time. The
 * system's libbpf.so.1 (the library bpftool is built on) is called through koffi: open the
 * object, leave only one program to autoload, load, and read back the kernel's log (and the
 * program's fd, for its xlated code). `bpftool prog loadall` stops at the first program the
 * kernel rejects and shares maps between programs; this gives every program its own verdict,
 * as our path (one program, its own maps) has.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot } from '@bpf/testkit';

/** The part of koffi's API used here (koffi is @bpf/kernel's dependency, not this package's). */
interface KoffiLib { func(prototype: string): (...args: unknown[]) => unknown }
interface Koffi { load(path: string): KoffiLib }

export interface LibbpfVerdict {
  readonly accepted: boolean;
  /** The errno of a failed load (positive), 0 when accepted. */
  readonly errno: number;
  /** The kernel's verifier log for the program (level 1). */
  readonly log: string;
  /** The loaded program's fd, valid until `close()`. */
  readonly fd?: number;
  close(): void;
}

interface Api {
  openFile(path: string, opts: null): unknown;
  nextProgram(obj: unknown, prev: unknown): unknown;
  name(prog: unknown): string;
  setAutoload(prog: unknown, on: boolean): number;
  setLogLevel(prog: unknown, level: number): number;
  setLogBuf(prog: unknown, buf: Uint8Array, size: number): number;
  load(obj: unknown): number;
  fd(prog: unknown): number;
  closeObj(obj: unknown): void;
  findMap(obj: unknown, name: string): unknown;
  mapFd(map: unknown): number;
  lookup(fd: number, key: Uint8Array, value: Uint8Array): number;
}

let api: Api | undefined | null;

function libbpf(): Api | undefined {
  if (api !== undefined) return api ?? undefined;
  const kernelPkg = join(repoRoot, 'packages/kernel/package.json');
  try {
    if (!existsSync(kernelPkg)) throw new Error('no @bpf/kernel');
    const k = createRequire(kernelPkg)('koffi') as Koffi;
    const lib = k.load('libbpf.so.1');
    const f = <T>(proto: string): T => lib.func(proto) as T;
    // Silence libbpf's own warnings on stderr (the verdicts say what happened).
    f<(fn: null) => unknown>('void *libbpf_set_print(void *fn)')(null);
    api = {
      openFile: f('void *bpf_object__open_file(const char *path, const void *opts)'),
      nextProgram: f('void *bpf_object__next_program(void *obj, void *prev)'),
      name: f('const char *bpf_program__name(void *prog)'),
      setAutoload: f('int bpf_program__set_autoload(void *prog, bool autoload)'),
      setLogLevel: f('int bpf_program__set_log_level(void *prog, uint32_t level)'),
      setLogBuf: f('int bpf_program__set_log_buf(void *prog, void *buf, size_t size)'),
      load: f('int bpf_object__load(void *obj)'),
      fd: f('int bpf_program__fd(void *prog)'),
      closeObj: f('void bpf_object__close(void *obj)'),
      findMap: f('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
      mapFd: f('int bpf_map__fd(void *map)'),
      lookup: f('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    };
  } catch {
    api = null;
  }
  return api ?? undefined;
}

/** Whether libbpf.so.1 can be called here. */
export const haveLibbpf = (): boolean => libbpf() !== undefined;

/** The names of an object's programs as libbpf sees them (entry programs, in its order). */
export function libbpfPrograms(path: string): string[] {
  const a = libbpf()!;
  const obj = a.openFile(path, null);
  if (obj === null) return [];
  try {
    const out: string[] = [];
    for (let p = a.nextProgram(obj, null); p !== null; p = a.nextProgram(obj, p)) out.push(a.name(p));
    return out;
  } finally {
    a.closeObj(obj);
  }
}

/**
 * Load one program of the object with libbpf (maps, BTF, externs, CO-RE all libbpf's), the
 * others left unloaded but for `alsoLoad` (programs a prog array's initial slots name: libbpf
 * 1.1 fails the whole load with EBADF when such a program is not loaded). An object libbpf
 * cannot open at all yields undefined. The log buffer (`logSize`, at least 4 MiB) grows while
 * the kernel answers ENOSPC.
 */
export function libbpfLoad(path: string, program: string, opts: { alsoLoad?: readonly string[]; logSize?: number } = {}): LibbpfVerdict | undefined {
  const alsoLoad = opts.alsoLoad ?? [];
  for (let size = Math.max(opts.logSize ?? 0, 1 << 22); ; size *= 8) {
    const v = loadOnce(path, program, alsoLoad, size);
    if (v?.errno !== 28 || size >= 1 << 30 || v.log.length < size - 1) return v;
    v.close();
  }
}

function loadOnce(path: string, program: string, alsoLoad: readonly string[], logSize: number): LibbpfVerdict | undefined {
  const a = libbpf()!;
  const obj = a.openFile(path, null);
  if (obj === null) return undefined;
  const log = new Uint8Array(logSize);
  let target: unknown;
  for (let p = a.nextProgram(obj, null); p !== null; p = a.nextProgram(obj, p)) {
    const name = a.name(p);
    a.setAutoload(p, name === program || alsoLoad.includes(name));
    if (name === program) {
      target = p;
      a.setLogLevel(p, 1);
      a.setLogBuf(p, log, log.length);
    }
  }
  if (target === undefined) {
    a.closeObj(obj);
    throw new Error(`libbpf sees no program ${program} in ${path}`);
  }
  const err = a.load(obj);
  const end = log.indexOf(0);
  const text = new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end));
  const fd = err === 0 ? a.fd(target) : undefined;
  let open = true;
  return {
    accepted: err === 0,
    errno: err < 0 ? -err : 0,
    log: text,
    ...(fd !== undefined && fd >= 0 ? { fd } : {}),
    close: () => {
      if (open) a.closeObj(obj);
      open = false;
    },
  };
}

/**
 * The `.kconfig` map libbpf makes for the object (every program loaded, as `bpftool prog
 * loadall` loads them): its bytes as the kernel holds them, or libbpf's refusal (a negative
 * errno from bpf_object__load: an extern value its type cannot take is -EINVAL or -ERANGE).
 */
export function libbpfKconfig(path: string, size: number): { readonly errno: number; readonly data?: Uint8Array } | undefined {
  const a = libbpf()!;
  const obj = a.openFile(path, null);
  if (obj === null) return undefined;
  try {
    const err = a.load(obj);
    if (err !== 0) return { errno: -err };
    const map = a.findMap(obj, '.kconfig');
    if (map === null) return { errno: 0 };
    const data = new Uint8Array(size);
    const rc = a.lookup(a.mapFd(map), new Uint8Array(4), data);
    if (rc !== 0) throw new Error(`bpf_map_lookup_elem on .kconfig: ${rc}`);
    return { errno: 0, data };
  } finally {
    a.closeObj(obj);
  }
}
