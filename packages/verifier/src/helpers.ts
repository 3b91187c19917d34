/**
 * Helper prototypes and their availability by program type, read from the generated table
 * (helper-protos.ts, made by scripts/gen-helpers.mjs from the kernel's `struct bpf_func_proto`s
 * and `*_func_proto` functions) and put in the verifier's terms: an argument is a base kind
 * (include/linux/bpf.h `enum bpf_arg_type`) with the flags the kernel ORs into it.
 */
import { ATTACH_TYPES, type ProgType } from '@bpf/isa';
import { BTF_SETS, CONFIG_GATED, MAP_TYPE_HELPERS, MAP_TYPE_HELPERS_BY_PROG, MAP_TYPE_NAMES, PROG_TYPE_HELPERS, PROTOS, type ProtoArg, type ProtoRow } from './helper-protos.js';

/** `enum bpf_arg_type` without its flags, lower-case and without `ARG_` / `ARG_PTR_TO_`. */
export type ArgBase =
  | 'anything'
  | 'scalar'
  | 'ctx'
  | 'map'
  | 'map_key'
  | 'map_value'
  | 'mem'
  | 'arena'
  | 'size'
  | 'size_or_zero'
  | 'alloc_size_or_zero'
  | 'spin_lock'
  | 'sock_common'
  | 'socket'
  | 'btf_id'
  | 'btf_id_sock_common'
  | 'ringbuf_mem'
  | 'percpu_btf_id'
  | 'func'
  | 'stack'
  | 'const_str'
  | 'timer'
  | 'kptr_xchg_dest'
  | 'dynptr';

/** One helper argument: its base kind and the `enum bpf_type_flag` bits the prototype sets. */
export interface ArgType {
  readonly base: ArgBase;
  /** PTR_MAYBE_NULL: NULL (a constant 0) is accepted too. */
  readonly maybeNull: boolean;
  /** MEM_RDONLY: the helper only reads the memory. */
  readonly rdonly: boolean;
  /** MEM_UNINIT: the memory need not be initialised (the helper fills it). */
  readonly uninit: boolean;
  /** MEM_WRITE: the helper writes the memory. */
  readonly write: boolean;
  /** MEM_ALIGNED: the memory must be aligned to its size. */
  readonly aligned: boolean;
  /** OBJ_RELEASE: the helper releases the reference the argument holds. */
  readonly release: boolean;
  /** MEM_FIXED_SIZE: the memory's size, given by the prototype's arg_size. */
  readonly fixedSize?: number;
  /** The kernel struct an ARG_PTR_TO_BTF_ID argument points to (`BPF_PTR_POISON`: decided by the call). */
  readonly btf?: string;
  /** DYNPTR_TYPE_LOCAL / _RINGBUF, for ARG_PTR_TO_DYNPTR. */
  readonly dynptr?: 'local' | 'ringbuf';
  /** The prototype's spelling, e.g. `ARG_PTR_TO_MEM | MEM_RDONLY`. */
  readonly spelled: string;
}

/** `enum bpf_return_type` without flags. */
export type RetBase = 'integer' | 'void' | 'map_value' | 'socket' | 'tcp_sock' | 'sock_common' | 'mem' | 'mem_or_btf_id' | 'btf_id';

export interface RetType {
  readonly base: RetBase;
  readonly maybeNull: boolean;
  /** MEM_RINGBUF (a ring buffer record), MEM_RDONLY, PTR_TRUSTED. */
  readonly ringbuf: boolean;
  readonly rdonly: boolean;
  readonly trusted: boolean;
  /** The kernel struct RET_PTR_TO_BTF_ID points to. */
  readonly btf?: string;
  readonly spelled: string;
}

/** A helper's prototype (`struct bpf_func_proto`) as the program type calling it gets it. */
export interface HelperProto {
  /** The helper's id and its kernel function (`bpf_map_lookup_elem`). */
  readonly id: number;
  readonly func: string;
  readonly args: readonly ArgType[];
  readonly ret: RetType;
  /** gpl_only: only programs with a GPL-compatible license may call it. */
  readonly gpl: boolean;
  /** might_sleep: only sleepable programs may call it. */
  readonly mightSleep: boolean;
  /** pkt_access: it may read packet memory directly. */
  readonly pktAccess: boolean;
  /** `allowed`: a further check on the program (e.g. bpf_d_path's attach targets). */
  readonly allowed?: string;
}

const ARG_ALIASES: Readonly<Record<string, string>> = {
  ARG_PTR_TO_MAP_VALUE_OR_NULL: 'ARG_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL',
  ARG_PTR_TO_MEM_OR_NULL: 'ARG_PTR_TO_MEM | PTR_MAYBE_NULL',
  ARG_PTR_TO_CTX_OR_NULL: 'ARG_PTR_TO_CTX | PTR_MAYBE_NULL',
  ARG_PTR_TO_SOCKET_OR_NULL: 'ARG_PTR_TO_SOCKET | PTR_MAYBE_NULL',
  ARG_PTR_TO_STACK_OR_NULL: 'ARG_PTR_TO_STACK | PTR_MAYBE_NULL',
  ARG_PTR_TO_BTF_ID_OR_NULL: 'ARG_PTR_TO_BTF_ID | PTR_MAYBE_NULL',
  ARG_PTR_TO_UNINIT_MEM: 'ARG_PTR_TO_MEM | MEM_UNINIT | MEM_WRITE',
  ARG_PTR_TO_FIXED_SIZE_MEM: 'ARG_PTR_TO_MEM | MEM_FIXED_SIZE',
};
const RET_ALIASES: Readonly<Record<string, string>> = {
  RET_PTR_TO_MAP_VALUE_OR_NULL: 'RET_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL',
  RET_PTR_TO_SOCKET_OR_NULL: 'RET_PTR_TO_SOCKET | PTR_MAYBE_NULL',
  RET_PTR_TO_TCP_SOCK_OR_NULL: 'RET_PTR_TO_TCP_SOCK | PTR_MAYBE_NULL',
  RET_PTR_TO_SOCK_COMMON_OR_NULL: 'RET_PTR_TO_SOCK_COMMON | PTR_MAYBE_NULL',
  RET_PTR_TO_RINGBUF_MEM_OR_NULL: 'RET_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_RINGBUF',
  RET_PTR_TO_DYNPTR_MEM_OR_NULL: 'RET_PTR_TO_MEM | PTR_MAYBE_NULL',
  RET_PTR_TO_BTF_ID_OR_NULL: 'RET_PTR_TO_BTF_ID | PTR_MAYBE_NULL',
  RET_PTR_TO_BTF_ID_TRUSTED: 'RET_PTR_TO_BTF_ID | PTR_TRUSTED',
};

/** `A | B | C` with aliases expanded: the base's name and the set of flags. */
function terms(spelled: string, aliases: Readonly<Record<string, string>>): [string, Set<string>] {
  const all = spelled.split('|').flatMap((t) => (aliases[t.trim()] ?? t.trim()).split('|').map((x) => x.trim()));
  const base = all.find((t) => t.startsWith('ARG_') || t.startsWith('RET_'))!;
  return [base, new Set(all.filter((t) => t !== base))];
}

/** ARG_PTR_TO_CONST_STR -> const_str, ARG_CONST_SIZE -> size, ARG_CONST_MAP_PTR -> map. */
function baseName(b: string, prefix: string): string {
  const n = b.replace(prefix, '');
  if (n.startsWith('PTR_TO_')) return n.slice(7).toLowerCase();
  if (n === 'CONST_MAP_PTR') return 'map';
  return n.replace(/^CONST_/, '').toLowerCase();
}

function argType(a: ProtoArg): ArgType {
  const spelled = typeof a === 'string' ? a : a.type;
  const [b, flags] = terms(spelled, ARG_ALIASES);
  const fixed = flags.has('MEM_FIXED_SIZE') && typeof a !== 'string' ? a.size : undefined;
  const btf = typeof a !== 'string' ? a.btf : undefined;
  const dynptr = flags.has('DYNPTR_TYPE_LOCAL') ? 'local' : flags.has('DYNPTR_TYPE_RINGBUF') ? 'ringbuf' : undefined;
  return {
    base: baseName(b, 'ARG_') as ArgBase,
    maybeNull: flags.has('PTR_MAYBE_NULL'),
    rdonly: flags.has('MEM_RDONLY'),
    uninit: flags.has('MEM_UNINIT'),
    write: flags.has('MEM_WRITE'),
    aligned: flags.has('MEM_ALIGNED'),
    release: flags.has('OBJ_RELEASE'),
    ...(fixed !== undefined ? { fixedSize: fixed } : {}),
    ...(btf !== undefined ? { btf } : {}),
    ...(dynptr ? { dynptr } : {}),
    spelled,
  } as ArgType;
}

function retType(spelled: string, btf: string | undefined): RetType {
  const [b, flags] = terms(spelled, RET_ALIASES);
  return {
    base: baseName(b, 'RET_') as RetBase,
    maybeNull: flags.has('PTR_MAYBE_NULL'),
    ringbuf: flags.has('MEM_RINGBUF'),
    rdonly: flags.has('MEM_RDONLY'),
    trusted: flags.has('PTR_TRUSTED'),
    ...(btf !== undefined ? { btf } : {}),
    spelled,
  };
}

// keyed by numbers and by one map per level, not by a string made per call (two template
// strings per helper call were most of what helperProto allocated; issue 25)
const protoCache = new Map<number, HelperProto>();
function helperProtoOf(id: number, index: number): HelperProto {
  // (ids of the tables' helpers are below 2^16)
  const key = index * 0x10000 + id;
  let p = protoCache.get(key);
  if (!p) {
    const row: ProtoRow = PROTOS[index]!;
    p = {
      id,
      func: row.func,
      args: row.args.map(argType),
      ret: retType(row.ret, row.retBtf),
      gpl: row.gpl === true,
      mightSleep: row.sleep === true,
      pktAccess: row.pkt === true,
      ...(row.allowed !== undefined ? { allowed: row.allowed } : {}),
    };
    protoCache.set(key, p);
  }
  return p;
}

function decode(ids: string, into: Map<number, number | null>): void {
  for (const pair of ids.split(' ')) {
    if (!pair) continue;
    const [id, p] = pair.split(':');
    into.set(Number(id), p === '-' ? null : Number(p));
  }
}

const tables = new Map<ProgType, Map<string, ReadonlyMap<number, number | null>>>();
/** The helper ids a program type (with its expected attach type) gets, as PROTOS indexes. */
function tableOf(type: ProgType, attach: string | undefined): ReadonlyMap<number, number | null> {
  let byAttach = tables.get(type);
  if (!byAttach) tables.set(type, (byAttach = new Map<string, ReadonlyMap<number, number | null>>()));
  let t = byAttach.get(attach ?? '');
  if (!t) {
    const row = PROG_TYPE_HELPERS[type];
    const m = new Map<number, number | null>();
    if (row) {
      decode(row.ids, m);
      const diff = attach !== undefined ? row.byAttach?.[attach] : undefined;
      if (diff) decode(diff, m);
    }
    byAttach.set(attach ?? '', (t = m));
  }
  return t;
}

/**
 * The prototype a program of `type` (loaded with expected attach type `attach`, an
 * `ATTACH_TYPES` name) gets for helper `id` (the kernel's get_func_proto), or undefined when
 * the program type may not call it (`program of this type cannot use helper`).
 */
export function helperProto(id: number, type: ProgType, attach?: string): HelperProto | undefined {
  const a = attach !== undefined && (ATTACH_TYPES as readonly string[]).includes(attach) ? attach : PROG_TYPE_HELPERS[type]?.attach;
  const index = tableOf(type, a).get(id);
  return index === undefined || index === null ? undefined : helperProtoOf(id, index);
}

/** Whether helper `id`, as program type `type` gets it, returns a kernel BTF pointer (RET_PTR_TO_BTF_ID, RET_PTR_TO_MEM_OR_BTF_ID). */
export function helperReturnsBtf(id: number, type: ProgType, attach?: string): boolean {
  const base = helperProto(id, type, attach)?.ret.base;
  return base === 'btf_id' || base === 'mem_or_btf_id';
}

/** Helper ids program type `type` may call (with expected attach type `attach`). */
export function helperIds(type: ProgType, attach?: string): number[] {
  const out: number[] = [];
  for (let id = 1; id < 256; id++) if (helperProto(id, type, attach)) out.push(id);
  return out;
}

const mapHelpers = new Map<string, ReadonlyMap<string, ReadonlySet<number>>>();
/** The helpers program type `type` may pass each map type to (check_map_func_compatibility), by map type. */
function mapHelperPairs(type: ProgType): ReadonlyMap<string, ReadonlySet<number>> {
  let s = mapHelpers.get(type);
  if (!s) {
    const pairs = new Map<string, Set<number>>();
    const add = (map: string, id: number): void => {
      let ids = pairs.get(map);
      if (!ids) pairs.set(map, (ids = new Set<number>()));
      ids.add(id);
    };
    for (const [map, text] of Object.entries(MAP_TYPE_HELPERS)) {
      const listed = new Set(text.replace('!', '').split(' ').filter(Boolean).map(Number));
      const all = text.startsWith('!');
      for (let id = 1; id < 256; id++) if (listed.has(id) !== all) add(map, id);
    }
    for (const p of (MAP_TYPE_HELPERS_BY_PROG[type] ?? '').split(' ').filter(Boolean)) {
      const at = p.lastIndexOf(':');
      add(p.slice(0, at), Number(p.slice(at + 1)));
    }
    mapHelpers.set(type, (s = pairs));
  }
  return s;
}

/**
 * check_map_func_compatibility: undefined when helper `id` may take a map of `mapType`, else the
 * kernel's lines (`cannot pass map_type 1 into func bpf_tail_call#12`, after `cannot update
 * sockmap in this context` for a sockmap update the program type may not make).
 */
export function mapHelperError(mapType: string, id: number, name: string, type: ProgType): string[] | undefined {
  // a lookup per helper call with a map (no string made for it)
  if (mapHelperPairs(type).get(mapType)?.has(id) === true) return undefined;
  const num = MAP_TYPE_NAMES.indexOf(mapType);
  if (num < 0) return undefined;
  const lines = [`cannot pass map_type ${num} into func ${name}#${id}`];
  // may_update_sockmap explains itself first
  if ((mapType === 'sockmap' || mapType === 'sockhash') && (id === 2 || id === 3)) lines.unshift('cannot update sockmap in this context');
  return lines;
}

let gated: Map<number, number | null> | undefined;
/**
 * The prototype of a helper no program type gets with the kernel configuration the table was
 * made for (an option off, or lockdown), as a kernel that has it gives it.
 */
export function configGatedProto(id: number): HelperProto | undefined {
  if (!gated) decode(CONFIG_GATED, (gated = new Map<number, number | null>()));
  const index = gated.get(id);
  return index === undefined || index === null ? undefined : helperProtoOf(id, index);
}

const D_PATH = new Set(BTF_SETS.btf_allowlist_d_path);
const SLEEPABLE_LSM = new Set(BTF_SETS.sleepable_lsm_hooks);

/**
 * A prototype's `allowed` check (bpf_d_path_allowed, bpf_ima_inode_hash_allowed,
 * bpf_sk_storage_tracing_allowed): whether the program, by its type, attach type and the kernel
 * function it attaches to (`target`, undefined when unknown: then it is allowed), may call it.
 */
export function helperAllowed(h: HelperProto, type: ProgType, attach: string | undefined, target: string | undefined): boolean {
  switch (h.allowed) {
    case undefined:
      return true;
    case 'bpf_d_path_allowed':
      if (type === 'tracing' && attach === 'trace_iter') return true;
      // tracing and LSM programs whose target is unknown here get the benefit of the doubt
      if (target === undefined) return type === 'tracing' || type === 'lsm';
      return type === 'lsm' ? SLEEPABLE_LSM.has(target) : D_PATH.has(target);
    case 'bpf_ima_inode_hash_allowed':
      return target === undefined || SLEEPABLE_LSM.has(target);
    case 'bpf_sk_storage_tracing_allowed':
      if (attach === 'trace_iter' || attach === 'trace_raw_tp') return true;
      if (attach === 'trace_fentry' || attach === 'trace_fexit') return target === undefined || !target.startsWith('bpf_sk_storage');
      return false;
    default:
      return true;
  }
}
