/**
 * The `Program` and `Subprog` interfaces every layer exchanges (README.md, "Layers").
 * Produced by the assembler, the ELF loader or a builder; consumed by every layer above.
 */
import { IsaError } from './errors.js';
import type { Insn } from './insn.js';
import { decodeOp, stackArgAccess } from './op.js';
import { MAX_BPF_FUNC_ARGS, MAX_BPF_FUNC_REG_ARGS, MAX_BPF_STACK } from './opcodes.js';

/** Program types by their kernel name without the `BPF_PROG_TYPE_` prefix, lower-case. */
export type ProgType =
  | 'unspec'
  | 'socket_filter'
  | 'kprobe'
  | 'sched_cls'
  | 'sched_act'
  | 'tracepoint'
  | 'xdp'
  | 'perf_event'
  | 'cgroup_skb'
  | 'cgroup_sock'
  | 'lwt_in'
  | 'lwt_out'
  | 'lwt_xmit'
  | 'sock_ops'
  | 'sk_skb'
  | 'cgroup_device'
  | 'sk_msg'
  | 'raw_tracepoint'
  | 'cgroup_sock_addr'
  | 'lwt_seg6local'
  | 'lirc_mode2'
  | 'sk_reuseport'
  | 'flow_dissector'
  | 'cgroup_sysctl'
  | 'raw_tracepoint_writable'
  | 'cgroup_sockopt'
  | 'tracing'
  | 'struct_ops'
  | 'ext'
  | 'lsm'
  | 'sk_lookup'
  | 'syscall'
  | 'netfilter';

/** `enum bpf_prog_type` values, in order (include/uapi/linux/bpf.h). */
export const PROG_TYPES: readonly ProgType[] = [
  'unspec', 'socket_filter', 'kprobe', 'sched_cls', 'sched_act', 'tracepoint', 'xdp', 'perf_event',
  'cgroup_skb', 'cgroup_sock', 'lwt_in', 'lwt_out', 'lwt_xmit', 'sock_ops', 'sk_skb', 'cgroup_device',
  'sk_msg', 'raw_tracepoint', 'cgroup_sock_addr', 'lwt_seg6local', 'lirc_mode2', 'sk_reuseport',
  'flow_dissector', 'cgroup_sysctl', 'raw_tracepoint_writable', 'cgroup_sockopt', 'tracing',
  'struct_ops', 'ext', 'lsm', 'sk_lookup', 'syscall', 'netfilter',
];

/** A C-like type spelling used in prototypes declared in assembly: `u64`, `void *`, `struct foo *`. */
export type TypeSpelling = string;

export interface ParamDecl {
  readonly name?: string;
  readonly type: TypeSpelling;
}

/**
 * A function prototype declared in assembly (`.func` / `.kfunc`) or recovered from BTF.
 * `@bpf/btf` turns these into FUNC/FUNC_PROTO types; the verifier reads argument counts.
 */
export interface FuncProtoDecl {
  readonly name: string;
  readonly kind: 'subprog' | 'kfunc';
  readonly params: readonly ParamDecl[];
  readonly ret: TypeSpelling;
  /** `static` (default) or `global` linkage for subprograms. */
  readonly linkage?: 'static' | 'global';
}

/** `struct bpf_func_info`. */
export interface FuncInfo {
  readonly insnOff: number;
  readonly typeId: number;
}

/** `struct bpf_line_info`, with the strings resolved when known. */
export interface LineInfo {
  readonly insnOff: number;
  readonly fileNameOff: number;
  readonly lineOff: number;
  readonly line: number;
  readonly column: number;
  readonly fileName?: string;
  readonly source?: string;
}

/** Raw BTF a program carries (`@bpf/btf` parses and builds it). */
export interface BtfBlob {
  readonly bytes: Uint8Array;
}

/** A symbolic reference an instruction makes, to be resolved by a loader or host. */
export type Reloc =
  | { readonly insn: number; readonly kind: 'kfunc'; readonly name: string }
  | { readonly insn: number; readonly kind: 'ksym'; readonly name: string }
  | { readonly insn: number; readonly kind: 'map'; readonly name: string }
  | { readonly insn: number; readonly kind: 'map_value'; readonly name: string; readonly offset: number }
  | { readonly insn: number; readonly kind: 'subprog'; readonly name: string };

/** A map definition carried by a program (from an ELF object or declared in assembly). */
/** `enum bpf_attach_type`, in order (include/uapi/linux/bpf.h), lower-case without `BPF_`. */
export const ATTACH_TYPES = [
  'cgroup_inet_ingress', 'cgroup_inet_egress', 'cgroup_inet_sock_create', 'cgroup_sock_ops',
  'sk_skb_stream_parser', 'sk_skb_stream_verdict', 'cgroup_device', 'sk_msg_verdict',
  'cgroup_inet4_bind', 'cgroup_inet6_bind', 'cgroup_inet4_connect', 'cgroup_inet6_connect',
  'cgroup_inet4_post_bind', 'cgroup_inet6_post_bind', 'cgroup_udp4_sendmsg', 'cgroup_udp6_sendmsg',
  'lirc_mode2', 'flow_dissector', 'cgroup_sysctl', 'cgroup_udp4_recvmsg', 'cgroup_udp6_recvmsg',
  'cgroup_getsockopt', 'cgroup_setsockopt', 'trace_raw_tp', 'trace_fentry', 'trace_fexit',
  'modify_return', 'lsm_mac', 'trace_iter', 'cgroup_inet4_getpeername', 'cgroup_inet6_getpeername',
  'cgroup_inet4_getsockname', 'cgroup_inet6_getsockname', 'xdp_devmap', 'cgroup_inet_sock_release',
  'xdp_cpumap', 'sk_lookup', 'xdp', 'sk_skb_verdict', 'sk_reuseport_select',
  'sk_reuseport_select_or_migrate', 'perf_event', 'trace_kprobe_multi', 'lsm_cgroup', 'struct_ops',
  'netfilter', 'tcx_ingress', 'tcx_egress', 'trace_uprobe_multi', 'cgroup_unix_connect',
  'cgroup_unix_sendmsg', 'cgroup_unix_recvmsg', 'cgroup_unix_getpeername', 'cgroup_unix_getsockname',
  'netkit_primary', 'netkit_peer', 'trace_kprobe_session', 'trace_uprobe_session',
] as const;

export type AttachType = (typeof ATTACH_TYPES)[number];

/** The kernel's number for an attach type (`BPF_XDP` = 37). */
export const attachTypeNumber = (t: AttachType): number => ATTACH_TYPES.indexOf(t);

export interface MapDef {
  readonly name: string;
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
  /** Initial contents for global-data maps. */
  readonly data?: Uint8Array;
  /**
   * The key and value types in the program's BTF (`program.btf`), as `__type(key, T)` and
   * `__type(value, T)` declare them: the kernel reads special fields of the value
   * (`struct bpf_spin_lock`, `struct bpf_timer`, kptrs) from them.
   */
  readonly btfKeyTypeId?: number;
  readonly btfValueTypeId?: number;
}

export interface Subprog {
  /** Index of the first instruction slot. */
  readonly start: number;
  /** One past the last instruction slot. */
  readonly end: number;
  readonly name: string;
  /** Number of arguments (0..12), from BTF when known. */
  readonly argCount?: number;
  readonly linkage?: 'static' | 'global';
  /** Stack-argument slots read (args - 5, clamped at 0). */
  readonly incomingStackArgs?: number;
  /** Stack-argument slots written for the calls it makes (max over its calls). */
  readonly outgoingStackArgs?: number;
  /** Bytes of r10 stack used, rounded up to 8. */
  readonly stackDepth?: number;
  /**
   * The program's exception callback (the kernel's `is_exception_cb`): the function `bpf_throw`
   * unwinds to, named by the main function's `exception_callback:` decl tag or added by the
   * verifier as the hidden default one. The JITs give it the kernel's exception-callback frame.
   */
  readonly exceptionCallback?: boolean;
}

/** A subprogram whose frame facts are known: what the JITs need. */
export interface AnalysedSubprog extends Subprog {
  readonly argCount: number;
  readonly incomingStackArgs: number;
  readonly outgoingStackArgs: number;
  readonly stackDepth: number;
}

export interface Program {
  readonly insns: readonly Insn[];
  readonly name?: string;
  readonly type?: ProgType;
  readonly expectedAttachType?: string;
  readonly license?: string;
  readonly subprogs?: readonly Subprog[];
  readonly btf?: BtfBlob;
  readonly funcInfo?: readonly FuncInfo[];
  readonly lineInfo?: readonly LineInfo[];
  /** Prototypes declared in assembly, for subprograms and kfuncs. */
  readonly protos?: readonly FuncProtoDecl[];
  readonly relocs?: readonly Reloc[];
  readonly maps?: readonly MapDef[];
}

/** A program with analysed subprograms (from the verifier or {@link analyseFrames}). */
export interface AnalysedProgram extends Program {
  readonly subprogs: readonly AnalysedSubprog[];
}

/** Index of the instruction a pseudo call at `pc` targets. */
export const callTarget = (pc: number, i: Insn): number => pc + i.imm + 1;

/**
 * Subprogram boundaries from pseudo calls (`call` with src 1, `ld_imm64` with src 4) and
 * from func_info, as the kernel's add_subprog_and_kfunc does. Names come from `names`
 * (start index -> name), else `func#N` like the kernel log.
 */
export function discoverSubprogs(
  insns: readonly Insn[],
  opts: { readonly funcInfo?: readonly FuncInfo[]; readonly names?: ReadonlyMap<number, string> } = {},
): Subprog[] {
  const starts = new Set<number>([0]);
  for (const f of opts.funcInfo ?? []) starts.add(f.insnOff);
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc]!;
    const isPseudoCall = i.code === 0x85 && i.src === 1;
    const isPseudoFunc = i.code === 0x18 && i.src === 4;
    if (isPseudoCall || isPseudoFunc) {
      const t = callTarget(pc, i);
      if (t < 0 || t >= insns.length)
        throw new IsaError('BAD_PROGRAM', `call to invalid destination ${t}`, { insn: pc });
      starts.add(t);
    }
    if (i.code === 0x18) pc++;
  }
  const sorted = [...starts].sort((a, b) => a - b);
  return sorted.map((start, k) => ({
    start,
    end: sorted[k + 1] ?? insns.length,
    name: opts.names?.get(start) ?? `func#${k}`,
  }));
}

/**
 * Frame facts found syntactically: r10 stack depth from the deepest r10-relative access,
 * incoming stack args from `r11 + 8k` loads (or the declared arg count), outgoing from
 * `r11 - 8k` stores. The verifier computes the same facts precisely; this lets the JITs and
 * the interpreter run unverified programs.
 */
const isStore = (kind: string): boolean => kind === 'st' || kind === 'stx' || kind === 'atomic';

export function analyseFrames(program: Program): AnalysedProgram {
  const discovered = program.subprogs === undefined;
  const subs = program.subprogs ?? discoverSubprogs(program.insns, { funcInfo: program.funcInfo });
  const protoByName = new Map((program.protos ?? []).filter((p) => p.kind === 'subprog').map((p) => [p.name, p]));
  const analysed = subs.map((s): AnalysedSubprog => {
    let depth = 0;
    let incoming = 0;
    let outgoing = 0;
    for (let pc = s.start; pc < s.end; pc++) {
      const i = program.insns[pc]!;
      const cls = i.code & 0x07;
      // decodeOp and stackArgAccess only for the slots they can match (no lookup per slot: issue 25)
      const sa = i.dst === 11 || i.src === 11 ? stackArgAccess(i) : null;
      if (sa) {
        if (sa.dir === 'load') incoming = Math.max(incoming, sa.slot + 1);
        else outgoing = Math.max(outgoing, sa.slot + 1);
      } else if ((cls === 0x01 && i.src === 10 && decodeOp(i).kind === 'ldx') || ((cls === 0x02 || cls === 0x03) && i.dst === 10 && isStore(decodeOp(i).kind))) {
        if (i.off < 0) depth = Math.max(depth, -i.off);
      } else if (cls === 0x07 || cls === 0x04) {
        // r10 copied into another register (r6 = r10; r6 += -32): the accesses through the copy
        // are not visible syntactically, so the whole 512-byte stack is the frame
        if ((i.code & 0x08) !== 0 && i.src === 10) depth = MAX_BPF_STACK;
      }
      if (i.code === 0x18) pc++;
    }
    const declared = s.argCount ?? protoByName.get(s.name)?.params.length;
    const argCount = declared ?? (incoming > 0 ? MAX_BPF_FUNC_REG_ARGS + incoming : Math.min(MAX_BPF_FUNC_REG_ARGS, 5));
    if (argCount > MAX_BPF_FUNC_ARGS)
      throw new IsaError('BAD_PROGRAM', `function ${s.name} has ${argCount} arguments, more than ${MAX_BPF_FUNC_ARGS}`, { insn: s.start });
    // subprograms discovered here have start, end and name only: the same object without a
    // spread (most of this function's time on a small program, issue 25)
    if (discovered)
      return {
        start: s.start,
        end: s.end,
        name: s.name,
        argCount,
        incomingStackArgs: Math.max(incoming, argCount - MAX_BPF_FUNC_REG_ARGS, 0),
        outgoingStackArgs: outgoing,
        stackDepth: (depth + 7) & ~7,
      };
    return {
      ...s,
      argCount,
      incomingStackArgs: s.incomingStackArgs ?? Math.max(incoming, argCount - MAX_BPF_FUNC_REG_ARGS, 0),
      outgoingStackArgs: s.outgoingStackArgs ?? outgoing,
      stackDepth: s.stackDepth ?? (depth + 7) & ~7,
    };
  });
  return { ...program, subprogs: analysed };
}
