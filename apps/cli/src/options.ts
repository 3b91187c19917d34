/** Options shared by the commands that take a program. */
import type { OptionSpec } from './context.js';
import { ATTACH_TYPES, PROG_TYPES, type AttachType } from '@bpf/isa';
import type { MapTypeName } from '@bpf/kernel';
import { usage } from './errors.js';

export const JSON_OPT: Record<string, OptionSpec> = { json: { type: 'boolean', help: 'print a JSON document instead of text' } };

export const INPUT_OPTS: Record<string, OptionSpec> = {
  input: { type: 'string', help: 'force the input kind instead of detecting it', values: ['raw', 'hex', 'asm', 'elf'] },
  section: { type: 'string', help: 'ELF: the program section to use (e.g. xdp, tc, socket)' },
  prog: { type: 'string', help: 'ELF: the program (function symbol) to use' },
  endian: { type: 'string', help: 'byte order of raw/hex input', values: ['little', 'big'] },
};

export const TYPE_OPT: Record<string, OptionSpec> = {
  type: { type: 'string', help: "program type, the kernel's bpf_prog_type without the prefix (default socket_filter)", values: PROG_TYPES.slice(1) },
};

export const MEM_OPTS: Record<string, OptionSpec> = {
  mem: { type: 'string', help: 'hex bytes: r1 points at a copy, r2 holds their length (raw-memory convention)' },
  data: { type: 'string', help: 'hex bytes of packet data for --type programs (skb/xdp)' },
  verify: { type: 'boolean', help: 'verify with @bpf/verifier before running' },
};

/** How the program is loaded: the kernel's expected_attach_type and prog_flags (`bpf verify`, `bpf kernel`). */
export const LOAD_OPTS: Record<string, OptionSpec> = {
  'attach-type': { type: 'string', help: "expected attach type, the kernel's bpf_attach_type without the prefix (default: as the ELF section sets it)", values: ATTACH_TYPES },
  flags: { type: 'string', help: 'load flags: BPF_F_STRICT_ALIGNMENT|BPF_F_ANY_ALIGNMENT|BPF_F_TEST_STATE_FREQ|BPF_F_SLEEPABLE|..., or a number' },
};

/**
 * --attach-type and --flags, the program's own sleepable flag (as libbpf sets it for `.s`
 * sections) added; `parseFlags` is @bpf/verifier's parseProgFlags (loaded on use).
 */
export function loadOptsOf(flags: Readonly<Record<string, unknown>>, program: { readonly sleepable?: boolean }, parseFlags: (text: string) => number): { attachType?: AttachType; flags: number } {
  let bits = 0;
  if (typeof flags.flags === 'string') {
    try {
      bits = parseFlags(flags.flags);
    } catch (e) {
      throw usage(`--flags: ${(e as Error).message}`);
    }
  }
  if (program.sleepable) bits |= 1 << 4;
  const attach = flags['attach-type'];
  return { ...(typeof attach === 'string' ? { attachType: attach as AttachType } : {}), flags: bits };
}

/** What a host loader does to an object's programs before loading them (`bpf verify`, `bpf kernel`). */
export const HOST_OPTS: Record<string, OptionSpec> = {
  'attach-to': { type: 'string', help: "ELF: the kernel function or LSM hook the chosen tracing/LSM program attaches to, replacing its section's (as cilium/ebpf's ProgramSpec.AttachTo)" },
  function: { type: 'string', multiple: true, help: 'ELF: NAME=FILE links FILE (assembly, hex or raw instructions) in as extern function NAME, as loaders that supply functions at load time do; repeatable' },
  set: { type: 'string', multiple: true, help: "ELF: NAME=VALUE sets global variable NAME (.rodata, .data, .bss; an integer) before loading, as a libbpf skeleton's rodata->NAME = VALUE; NAME=bytes:HEX gives its bytes as stored (a struct, as cilium/ebpf's VariableSpec.Set); repeatable" },
  linker: { type: 'string', help: "ELF: whose rules link BPF-to-BPF calls (default libbpf's; cilium/ebpf's for an object calling into other sections, which libbpf refuses)", values: ['libbpf', 'cilium/ebpf'] },
  opener: { type: 'string', help: "ELF: whose rules open the object (default libbpf 1.x's when libbpf's linker links it: an extern its BTF does not describe, or a static entry program, refuses the object; raw: a loader that reads the ELF itself, as iproute2, bpf_load.c and falco's legacy loader)", values: ['libbpf', 'raw'] },
  link: { type: 'string', multiple: true, help: "ELF: OBJECT is linked after FILE first (libbpf's static linker, as bpftool gen object OUT FILE OBJECT... and bpf elf link); for objects built to be linked (externs defined in another file); repeatable" },
};

/** `bpf kernel`: how the program's maps are created. */
/** The kernel's log buffer: log_size and BPF_LOG_FIXED (bpf verify and bpf kernel load). */
export const LOG_SIZE_OPTS: Record<string, OptionSpec> = {
  'log-size': {
    type: 'string',
    help: "a log buffer of N bytes, as the kernel's log_size: the log keeps its last bytes (its first with --log-fixed), and a log that needed more fails the load as the kernel fails it (ENOSPC), even for a program that verifies; at level 1 the paths cut from the log count too",
  },
  'log-fixed': { type: 'boolean', help: "with --log-size: keep the log's first bytes (BPF_LOG_FIXED)" },
};

/** The kernel's largest log_size (UINT_MAX >> 2). */
const LOG_SIZE_MAX = 0x3fffffff;

/** --log-size and --log-fixed: the buffer size (undefined: as large as the log needs). */
export function logSizeOf(flags: Readonly<Record<string, unknown>>, level: number): { logSize?: number; logFixed?: boolean } {
  const v = flags['log-size'];
  if (v === undefined) {
    if (flags['log-fixed'] === true) throw usage('--log-fixed needs --log-size');
    return {};
  }
  const n = Number(v);
  if (typeof v !== 'string') throw usage('--log-size takes a number of bytes');
  if (!/^\d+$/.test(v) || n > LOG_SIZE_MAX) throw usage(`--log-size takes 0 to ${LOG_SIZE_MAX} bytes, not '${v}'`);
  if (level === 0 && n > 0) throw usage('--log-size needs a log level (the kernel refuses a log buffer at level 0: EINVAL)');
  return { logSize: n, ...(flags['log-fixed'] === true ? { logFixed: true } : {}) };
}

export const LICENSE_OPT: Record<string, OptionSpec> = {
  license: { type: 'string', help: "the program's license string instead of the object's license section (loaders such as sysdig's and falco's pass their own)" },
};

export const MAP_OPTS: Record<string, OptionSpec> = {
  'map-max-entries': {
    type: 'string',
    multiple: true,
    help: "NAME=N: create map NAME with max_entries N instead of the object's (N may be 'ncpus', the possible CPUs), as loaders that size maps at load time do; repeatable",
  },
  'map-value-size': {
    type: 'string',
    multiple: true,
    help: "NAME=N: create map NAME with value_size N instead of the object's, as libbpf's bpf_map__set_value_size (bcc's profile sizes its stack trace map's values to the stack depth); repeatable",
  },
  'map-inner': {
    type: 'string',
    multiple: true,
    help: "NAME=TYPE:KEY:VALUE:MAX: map-in-map NAME's inner map (e.g. hash:4:4:6), for an object that leaves it to its host, as cilium/ebpf's MapSpec.InnerMap (KubeArmor); repeatable",
  },
};

/** --map-inner NAME=TYPE:KEY:VALUE:MAX ... as a record of inner map specs (the type is checked where the map is made). */
export function mapInnerOf(flags: Readonly<Record<string, unknown>>): Record<string, { type: MapTypeName; keySize: number; valueSize: number; maxEntries: number }> | undefined {
  const given = flags['map-inner'];
  const list = typeof given === 'string' ? [given] : Array.isArray(given) ? (given as string[]) : [];
  if (list.length === 0) return undefined;
  const out: Record<string, { type: MapTypeName; keySize: number; valueSize: number; maxEntries: number }> = {};
  for (const item of list) {
    const m = /^([^=]+)=([a-z_]+):(\d+):(\d+):(\d+)$/.exec(item.trim());
    if (!m) throw usage(`--map-inner takes NAME=TYPE:KEY:VALUE:MAX (e.g. inner=hash:4:4:64), not '${item}'`);
    const [keySize, valueSize, maxEntries] = [Number(m[3]), Number(m[4]), Number(m[5])];
    if (keySize > 0xffffffff || valueSize > 0xffffffff || maxEntries > 0xffffffff) throw usage(`--map-inner ${m[1]}: a size does not fit a u32`);
    out[m[1]!] = { type: m[2] as MapTypeName, keySize, valueSize, maxEntries };
  }
  return out;
}

/** --map-value-size NAME=N ... as a record. */
export function mapValueSizeOf(flags: Readonly<Record<string, unknown>>): Record<string, number> | undefined {
  const given = flags['map-value-size'];
  const list = typeof given === 'string' ? [given] : Array.isArray(given) ? (given as string[]) : [];
  if (list.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const item of list) {
    const m = /^([^=]+)=(0x[0-9a-fA-F]+|\d+)$/.exec(item.trim());
    if (!m) throw usage(`--map-value-size takes NAME=N, not '${item}'`);
    const n = Number(m[2]);
    if (n > 0xffffffff) throw usage(`--map-value-size ${m[1]}: ${m[2]} does not fit value_size (a u32)`);
    out[m[1]!] = n;
  }
  return out;
}

/** --map-max-entries NAME=N ... as a record; `ncpus` is the number of possible CPUs. */
export function mapMaxEntriesOf(flags: Readonly<Record<string, unknown>>, ncpus: () => number): Record<string, number> | undefined {
  const given = flags['map-max-entries'];
  const list = typeof given === 'string' ? [given] : Array.isArray(given) ? (given as string[]) : [];
  if (list.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const item of list) {
    const m = /^([^=]+)=(ncpus|0x[0-9a-fA-F]+|\d+)$/.exec(item.trim());
    if (!m) throw usage(`--map-max-entries takes NAME=N or NAME=ncpus, not '${item}'`);
    const n = m[2] === 'ncpus' ? ncpus() : Number(m[2]);
    if (n > 0xffffffff) throw usage(`--map-max-entries ${m[1]}: ${m[2]} does not fit max_entries (a u32)`);
    out[m[1]!] = n;
  }
  return out;
}
