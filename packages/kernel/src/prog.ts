/**
 * BPF_PROG_LOAD with the kernel's log (grown until it fits), stats, and the xlated and jited
 * code read back with BPF_OBJ_GET_INFO_BY_FD; BPF_PROG_TEST_RUN; BPF_BTF_LOAD.
 */
import { ATTACH_TYPES, continuesMessage, decode, encode, PROG_TYPES, type Insn, type Program, type ProgType } from '@bpf/isa';
import { addr, bpf, bpfRaw, closeFd, KernelError } from './syscall.js';

export interface LoadOptions {
  readonly type?: ProgType;
  readonly expectedAttachType?: number;
  readonly license?: string;
  /** 0 (none), 1, 2 (with "Live regs" and states), 4 (stats only); levels combine as bits. */
  readonly logLevel?: number;
  /** Initial log buffer size (default 64 KiB); it grows while the kernel answers ENOSPC, unless `logGrow` is false. */
  readonly logSize?: number;
  /**
   * false: one load with exactly `logSize` bytes of log, the kernel's answer as it is — ENOSPC
   * when the log did not fit (even for a program that verifies: at level 1 the log's largest
   * size counts, not what is left of it), the log cut as the kernel cuts it (its end kept, or its
   * start with `BPF_LOG_FIXED`, 8, in `logLevel`). Default true.
   */
  readonly logGrow?: boolean;
  readonly btfFd?: number;
  /** func_info / line_info records, as the kernel lays them out (they need `btfFd`). */
  readonly funcInfo?: readonly { readonly insnOff: number; readonly typeId: number }[];
  readonly lineInfo?: readonly { readonly insnOff: number; readonly fileNameOff: number; readonly lineOff: number; readonly line: number; readonly column: number }[];
  /** Map fds by name, for `Program.relocs` of kind 'map'. */
  readonly mapFds?: Readonly<Record<string, number>>;
  readonly progName?: string;
  readonly flags?: number;
  /** BTF id of the kernel function or hook a tracing/LSM/iterator program attaches to. */
  readonly attachBtfId?: number;
  /**
   * attach_prog_fd: the loaded program an extension (freplace) or fentry/fexit program attaches
   * to; `attachBtfId` is then the id of the function in that program's BTF.
   */
  readonly attachProgFd?: number;
  /** Read the xlated and jited code back after a load (default true); false saves two syscalls per verdict. */
  readonly readInfo?: boolean;
  /**
   * Keep the log as bytes (`KernelLoad.logBytes`) and leave `log` empty: a level-2 log of a
   * large program can be longer than the longest string V8 makes (about 512 MiB), up to the
   * kernel's 1 GiB. `error` and `stats` are read from the log's last MiB.
   */
  readonly logBytes?: boolean;
}

export interface KernelStats {
  readonly processedInsns: number;
  readonly maxStatesPerInsn: number;
  readonly totalStates: number;
  readonly peakStates: number;
  readonly markRead: number;
  readonly verificationTimeUsec?: number;
  readonly stackDepth?: readonly number[];
}

/** The kernel's answer for one program: the oracle every other layer is compared with. */
export interface KernelLoad {
  readonly accepted: boolean;
  readonly errno: number;
  /** The first error line of the log (the line before the stats), when rejected. */
  readonly error?: string;
  readonly log: string;
  /** The kernel's log_true_size: the buffer the whole log needs, its terminating zero included (0 without a log). */
  readonly logTrueSize: number;
  /** The log's bytes, without the terminating NUL (with `LoadOptions.logBytes`). */
  readonly logBytes?: Uint8Array;
  readonly stats?: KernelStats;
  readonly verifiedInsns?: number;
  readonly xlated?: readonly Insn[];
  readonly jited?: Uint8Array;
  readonly jitedLen?: number;
  /** The program fd (accepted programs); close it with `close()`. */
  readonly fd?: number;
  /**
   * Rejected with an empty log although a log was asked for: the kernel refused the load
   * before its verifier ran (kernel/bpf/syscall.c, bpf_prog_load: an attribute it checks
   * first, a capability, or a security module's `bpf_prog_load` hook), so the answer says
   * nothing about the program's code. libbpf gets the same errno and the same empty log.
   */
  readonly refusedBeforeVerifier?: boolean;
  close(): void;
}

const STATS = /^processed (\d+) insns \(limit \d+\) max_states_per_insn (\d+) total_states (\d+) peak_states (\d+) mark_read (\d+)$/m;

/**
 * The log with the stats line on a line of its own: a few verifier messages end without a
 * newline (check_max_stack_depth_subprog's "insn N cannot call exception cb directly"), so the
 * stats run into them.
 */
const unglued = (log: string): string => log.replace(/([^\n])(processed \d+ insns \(limit )/, '$1\n$2');

/** Parse the stats lines of a verifier log. */
export function parseStats(log: string): KernelStats | undefined {
  const m = STATS.exec(unglued(log));
  if (!m) return undefined;
  const t = /^verification time (\d+) usec$/m.exec(log);
  const d = /^stack depth ([\d+]+)$/m.exec(log);
  return {
    processedInsns: Number(m[1]),
    maxStatesPerInsn: Number(m[2]),
    totalStates: Number(m[3]),
    peakStates: Number(m[4]),
    markRead: Number(m[5]),
    ...(t ? { verificationTimeUsec: Number(t[1]) } : {}),
    ...(d ? { stackDepth: d[1]!.split('+').map(Number) } : {}),
  };
}

/** The error line: the last non-empty line before the stats line (the kernel prints it last). */
export function firstError(log: string): string | undefined {
  const lines = unglued(log).split('\n').filter((l) => l.trim() !== '');
  const at = lines.findIndex((l) => STATS.test(l));
  const before = (at >= 0 ? lines.slice(0, at) : lines).filter((l) => !/^(verification time|stack depth)/.test(l));
  // the lines a few messages print after their first one
  while (before.length > 1 && continuesMessage(before[before.length - 1]!)) before.pop();
  return before.pop();
}

/** The kernel's largest log buffer (kernel/bpf/log.c bpf_vlog_init: a log_size above UINT_MAX >> 2 is EINVAL). */
const KERNEL_LOG_MAX = 2 ** 30 - 1;

/** Load a program. A rejection is not an exception: `accepted` is false and `log` says why. */
export function loadProgram(program: Program, opts: LoadOptions = {}): KernelLoad {
  // @bpf/elf's `unresolved`: the program's loader refuses it before any syscall
  const unresolved = (program as { readonly unresolved?: unknown }).unresolved;
  if (unresolved instanceof Error) throw unresolved;
  const type = opts.type ?? program.type ?? 'socket_filter';
  const typeNum = PROG_TYPES.indexOf(type);
  if (typeNum < 0) throw new KernelError('PROG_LOAD', 22, `unknown program type ${type}`);
  const named = program.expectedAttachType;
  const expectedAttachType = opts.expectedAttachType ?? (named === undefined ? 0 : (ATTACH_TYPES as readonly string[]).indexOf(named));
  if (expectedAttachType < 0) throw new KernelError('PROG_LOAD', 22, `unknown expected attach type '${named ?? ''}'`);
  const insns = program.insns.map((i) => ({ ...i }));
  for (const r of program.relocs ?? []) {
    if (r.kind === 'map' || r.kind === 'map_value') {
      const fd = opts.mapFds?.[r.name];
      if (fd === undefined) throw new KernelError('PROG_LOAD', 22, `no fd for map '${r.name}' (pass mapFds)`);
      // BPF_PSEUDO_MAP_FD, or BPF_PSEUDO_MAP_VALUE with the offset in the second slot's imm
      insns[r.insn] = { ...insns[r.insn]!, src: r.kind === 'map' ? 1 : 2, imm: fd };
      if (r.kind === 'map_value') insns[r.insn + 1] = { ...insns[r.insn + 1]!, imm: r.offset };
    }
  }
  const code = Buffer.from(encode(insns));
  const lic = Buffer.from(`${opts.license ?? program.license ?? 'GPL'}\0`);
  const logLevel = opts.logLevel ?? 1;
  const grow = opts.logGrow ?? true;
  let logSize = logLevel ? (grow ? Math.max(opts.logSize ?? 1 << 16, 256) : (opts.logSize ?? 1 << 16)) : 0;
  const fi = opts.funcInfo ?? program.funcInfo;
  if ((fi?.length || (opts.lineInfo ?? program.lineInfo)?.length) && opts.btfFd === undefined)
    throw new KernelError('PROG_LOAD', 22, 'func_info and line_info refer to BTF: pass btfFd (loadWithMaps loads program.btf itself)');
  const fiBuf = fi?.length ? Buffer.alloc(fi.length * 8) : undefined;
  fi?.forEach((f, k) => {
    fiBuf!.writeUInt32LE(f.insnOff, k * 8);
    fiBuf!.writeUInt32LE(f.typeId, k * 8 + 4);
  });
  const li = opts.lineInfo ?? program.lineInfo;
  const liBuf = li?.length ? Buffer.alloc(li.length * 16) : undefined;
  li?.forEach((l, k) => {
    liBuf!.writeUInt32LE(l.insnOff, k * 16);
    liBuf!.writeUInt32LE(l.fileNameOff, k * 16 + 4);
    liBuf!.writeUInt32LE(l.lineOff, k * 16 + 8);
    liBuf!.writeUInt32LE(((l.line << 10) | (l.column & 0x3ff)) >>> 0, k * 16 + 12);
  });
  for (;;) {
    const log = Buffer.alloc(Math.max(logSize, 1));
    const attr = Buffer.alloc(144);
    attr.writeUInt32LE(typeNum, 0);
    attr.writeUInt32LE(insns.length, 4);
    attr.writeBigUInt64LE(addr(code), 8);
    attr.writeBigUInt64LE(addr(lic), 16);
    attr.writeUInt32LE(logLevel, 24);
    attr.writeUInt32LE(logSize, 28);
    if (logSize) attr.writeBigUInt64LE(addr(log), 32);
    attr.writeUInt32LE(opts.flags ?? 0, 44);
    Buffer.from((opts.progName ?? program.name ?? '').replace(/[^\w.]/g, '_').slice(0, 15)).copy(attr, 48);
    attr.writeUInt32LE(expectedAttachType, 68);
    if (opts.btfFd !== undefined) attr.writeUInt32LE(opts.btfFd, 72);
    if (opts.attachBtfId !== undefined) attr.writeUInt32LE(opts.attachBtfId, 108);
    if (opts.attachProgFd !== undefined) attr.writeUInt32LE(opts.attachProgFd, 112);
    if (fiBuf) {
      attr.writeUInt32LE(8, 76);
      attr.writeBigUInt64LE(addr(fiBuf), 80);
      attr.writeUInt32LE(fi!.length, 88);
    }
    if (liBuf) {
      attr.writeUInt32LE(16, 92);
      attr.writeBigUInt64LE(addr(liBuf), 96);
      attr.writeUInt32LE(li!.length, 104);
    }
    const { result, errno } = bpfRaw('PROG_LOAD', attr);
    const used = logSize ? Math.max(0, log.indexOf(0)) : 0;
    const trueSize = attr.readUInt32LE(140);
    if (grow && result < 0 && errno === 28 /* ENOSPC: log too small */ && logSize && logSize < KERNEL_LOG_MAX) {
      logSize = Math.min(trueSize > logSize ? trueSize : logSize * 4, KERNEL_LOG_MAX);
      continue;
    }
    // with logBytes: the tail (from a line start) for the stats and the error
    const tailFrom = opts.logBytes ? Math.max(0, used - (1 << 20)) : 0;
    const text = logSize ? log.toString('utf8', tailFrom && log.indexOf(10, tailFrom) + 1, used) : '';
    const bytes = opts.logBytes ? { logBytes: new Uint8Array(log.buffer, log.byteOffset, used) } : {};
    const full = opts.logBytes ? '' : text;
    const stats = parseStats(text);
    if (result < 0) {
      // ENOSPC with logGrow false: the log was cut, its last line is no error
      const err = errno === 28 && logSize && trueSize > logSize ? undefined : firstError(text);
      return {
        accepted: false,
        errno,
        log: full,
        ...bytes,
        logTrueSize: trueSize,
        ...(err !== undefined ? { error: err } : {}),
        ...(stats ? { stats } : {}),
        ...(logLevel && used === 0 ? { refusedBeforeVerifier: true } : {}),
        close: () => undefined,
      };
    }
    const info = opts.readInfo === false ? {} : progInfo(result);
    let open = true;
    return {
      accepted: true,
      errno: 0,
      log: full,
      ...bytes,
      logTrueSize: trueSize,
      ...(stats ? { stats } : {}),
      ...info,
      fd: result,
      close: () => {
        if (open) closeFd(result);
        open = false;
      },
    };
  }
}

/** xlated and jited code and verified_insns of a loaded program (BPF_OBJ_GET_INFO_BY_FD). */
export function progInfo(fd: number): { xlated: Insn[]; jited: Uint8Array; jitedLen: number; verifiedInsns: number } {
  const query = (info: Buffer): void => {
    const attr = Buffer.alloc(16);
    attr.writeUInt32LE(fd, 0);
    attr.writeUInt32LE(info.length, 4);
    attr.writeBigUInt64LE(addr(info), 8);
    bpf('OBJ_GET_INFO_BY_FD', attr, `prog fd ${fd}`);
  };
  const first = Buffer.alloc(232);
  query(first);
  const jitedLen = first.readUInt32LE(16);
  const xlatedLen = first.readUInt32LE(20);
  const jited = Buffer.alloc(jitedLen);
  const xlated = Buffer.alloc(xlatedLen);
  const second = Buffer.alloc(232);
  second.writeUInt32LE(jitedLen, 16);
  second.writeUInt32LE(xlatedLen, 20);
  if (jitedLen) second.writeBigUInt64LE(addr(jited), 24);
  if (xlatedLen) second.writeBigUInt64LE(addr(xlated), 32);
  query(second);
  return {
    xlated: decode(new Uint8Array(xlated), { strict: false }),
    jited: new Uint8Array(jited),
    jitedLen,
    verifiedInsns: second.readUInt32LE(216),
  };
}

export interface TestRunOptions {
  readonly data?: Uint8Array;
  readonly ctx?: Uint8Array;
  readonly repeat?: number;
  /** Room for output data (default: the input size + 256). */
  readonly dataSizeOut?: number;
}

export interface TestRunResult {
  readonly retval: number;
  /** Average nanoseconds per run, as the kernel measured. */
  readonly duration: number;
  readonly dataOut: Uint8Array;
}

/** BPF_PROG_TEST_RUN. */
export function testRun(fd: number, opts: TestRunOptions = {}): TestRunResult {
  const data = Buffer.from(opts.data ?? new Uint8Array(0));
  const out = Buffer.alloc(opts.dataSizeOut ?? data.length + 256);
  const ctx = opts.ctx ? Buffer.from(opts.ctx) : undefined;
  const attr = Buffer.alloc(80);
  attr.writeUInt32LE(fd, 0);
  attr.writeUInt32LE(data.length, 8);
  attr.writeUInt32LE(out.length, 12);
  if (data.length) attr.writeBigUInt64LE(addr(data), 16);
  attr.writeBigUInt64LE(addr(out), 24);
  attr.writeUInt32LE(opts.repeat ?? 1, 32);
  if (ctx) {
    attr.writeUInt32LE(ctx.length, 40);
    attr.writeBigUInt64LE(addr(ctx), 48);
  }
  bpf('PROG_TEST_RUN', attr, `test run of prog fd ${fd}`);
  const outLen = attr.readUInt32LE(12);
  return { retval: attr.readUInt32LE(4), duration: attr.readUInt32LE(36), dataOut: new Uint8Array(out.subarray(0, outLen)) };
}

/**
 * BPF_BTF_LOAD: the fd, or a KernelError carrying the kernel's log. Without `logLevel` the
 * first attempt has no log, as libbpf's: at level 1 the kernel prints every type it checks, so
 * the log of a large object's BTF (one built from a whole vmlinux.h) overflows any buffer and
 * the load fails with ENOSPC even though the BTF is good. On failure the load is repeated with
 * a log, for the message.
 */
export function loadBtf(bytes: Uint8Array, opts: { logLevel?: number } = {}): number {
  const btf = Buffer.from(bytes);
  const attempt = (level: number, logSize: number): { result: number; errno: number; text: string } => {
    const log = Buffer.alloc(logSize);
    const attr = Buffer.alloc(32);
    attr.writeBigUInt64LE(addr(btf), 0);
    if (level > 0) {
      attr.writeBigUInt64LE(addr(log), 8);
      attr.writeUInt32LE(log.length, 20);
    }
    attr.writeUInt32LE(btf.length, 16);
    attr.writeUInt32LE(level, 24);
    const { result, errno } = bpfRaw('BTF_LOAD', attr);
    return { result, errno, text: level > 0 ? log.toString('utf8', 0, Math.max(0, log.indexOf(0))) : '' };
  };
  let r = opts.logLevel === undefined ? attempt(0, 0) : attempt(opts.logLevel, 1 << 16);
  if (r.result < 0 && opts.logLevel === undefined) {
    const first = r.errno;
    // The kernel's log rotates (it keeps the tail, where the error is), so 64 KiB holds the
    // message; the retry's errno may only say that the log filled up, the first one is the verdict.
    r = attempt(1, 1 << 16);
    if (r.result < 0) r = { ...r, errno: first };
  }
  if (r.result < 0) throw new KernelError('BTF_LOAD', r.errno, firstError(r.text) ?? 'rejected', r.text);
  return r.result;
}
