/**
 * The raw `bpf(2)` syscall through koffi: `union bpf_attr` laid out by hand per command
 * (include/uapi/linux/bpf.h), errno captured right after the call.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

type Koffi = typeof import('koffi');
const require = createRequire(import.meta.url);

export const CMD = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  PROG_TEST_RUN: 10,
  OBJ_GET_INFO_BY_FD: 15,
  BTF_LOAD: 18,
  MAP_FREEZE: 22,
} as const;
export type CmdName = keyof typeof CMD;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 7: 'E2BIG', 9: 'EBADF', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY',
  17: 'EEXIST', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC', 38: 'ENOSYS', 95: 'EOPNOTSUPP', 524: 'ENOTSUPP',
};
export const errnoName = (n: number): string => ERRNO_NAMES[n] ?? `errno ${n}`;

export class KernelError extends Error {
  override readonly name = 'KernelError';
  readonly errnoName: string;
  constructor(
    readonly command: CmdName | 'probe',
    readonly errno: number,
    message: string,
    /** The kernel's log, for loads that produce one. */
    readonly log?: string,
  ) {
    super(`${command}: ${errnoName(errno)}: ${message}`);
    this.errnoName = errnoName(errno);
  }
  get code(): string {
    return this.errnoName;
  }
}

interface Native {
  readonly k: Koffi;
  readonly syscall: (nr: number, cmd: number, attr: Buffer, size: number) => number | bigint;
  readonly close: (fd: number) => number;
}
let native: Native | undefined;

/** koffi and libc, loaded on first use (so importing this package costs nothing). */
export function nativeLib(): Native {
  if (native) return native;
  const k = require('koffi') as Koffi;
  const libc = k.load('libc.so.6');
  native = {
    k,
    syscall: libc.func('long syscall(long nr, long cmd, void *attr, uint32_t size)') as Native['syscall'],
    close: libc.func('int close(int fd)') as Native['close'],
  };
  return native;
}

const NR_BPF: Record<string, number> = { x64: 321, arm64: 280 };

/** Address of a buffer's bytes, for pointer fields of bpf_attr (the buffer must stay referenced). */
export const addr = (b: Buffer | Uint8Array): bigint => nativeLib().k.address(b);

/** Call bpf(cmd, attr). Returns the non-negative result or throws KernelError with errno. */
export function bpf(cmd: CmdName, attr: Buffer, message = 'failed'): number {
  const n = nativeLib();
  const nr = NR_BPF[process.arch];
  if (nr === undefined) throw new KernelError(cmd, 38, `bpf() syscall number unknown on ${process.arch}`);
  const r = Number(n.syscall(nr, CMD[cmd], attr, attr.length));
  if (r < 0) {
    const e = n.k.errno();
    throw new KernelError(cmd, e, message);
  }
  return r;
}

/** Call bpf() and return [result, errno] without throwing. */
export function bpfRaw(cmd: CmdName, attr: Buffer): { result: number; errno: number } {
  const n = nativeLib();
  const nr = NR_BPF[process.arch] ?? 321;
  const r = Number(n.syscall(nr, CMD[cmd], attr, attr.length));
  return { result: r, errno: r < 0 ? n.k.errno() : 0 };
}

export function closeFd(fd: number): void {
  nativeLib().close(fd);
}

export interface Probe {
  readonly canLoad: boolean;
  readonly reason?: string;
  readonly kernelRelease: string;
  readonly jitEnabled: boolean;
}

/** Can this process load programs? Loads `r0 = 0; exit` as a socket filter to find out. */
export function probe(): Probe {
  const release = (() => {
    try {
      return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    } catch {
      return 'unknown';
    }
  })();
  const jitEnabled = (() => {
    try {
      return readFileSync('/proc/sys/net/core/bpf_jit_enable', 'utf8').trim() !== '0';
    } catch {
      return false;
    }
  })();
  if (process.platform !== 'linux') return { canLoad: false, reason: 'not Linux', kernelRelease: release, jitEnabled };
  try {
    nativeLib();
  } catch (e) {
    return { canLoad: false, reason: `koffi unavailable: ${(e as Error).message}`, kernelRelease: release, jitEnabled };
  }
  const insns = Buffer.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  const lic = Buffer.from('GPL\0');
  const attr = Buffer.alloc(128);
  attr.writeUInt32LE(1, 0);
  attr.writeUInt32LE(2, 4);
  attr.writeBigUInt64LE(addr(insns), 8);
  attr.writeBigUInt64LE(addr(lic), 16);
  const { result, errno } = bpfRaw('PROG_LOAD', attr);
  if (result >= 0) {
    closeFd(result);
    return { canLoad: true, kernelRelease: release, jitEnabled };
  }
  return { canLoad: false, reason: `BPF_PROG_LOAD: ${errnoName(errno)}${errno === 1 ? ' (need root or CAP_BPF)' : ''}`, kernelRelease: release, jitEnabled };
}
