/**
 * The result shape both JITs produce (`@bpf/jit-x86`, `@bpf/jit-arm64`), defined here so the
 * CLI, the docs playground and the runners handle either without depending on a JIT.
 */

export type Arch = 'x86_64' | 'arm64';

/** Something the native code calls or addresses, resolved by the host at link time. */
export type ExternSymbol =
  | { readonly kind: 'helper'; readonly id: number; readonly name?: string }
  | { readonly kind: 'kfunc'; readonly name: string; readonly btfId?: number }
  | { readonly kind: 'map'; readonly name: string }
  | { readonly kind: 'map_value'; readonly name: string; readonly offset: number };

/**
 * A place in the code the host patches: `offset` is the byte offset of an 8-byte
 * little-endian slot that must receive the symbol's absolute address.
 */
export interface JitReloc {
  readonly offset: number;
  readonly kind: 'abs64';
  readonly symbol: ExternSymbol;
}

export interface JitResult {
  readonly arch: Arch;
  readonly code: Uint8Array;
  /** Native entry offset of each subprogram, in `Program.subprogs` order (main first). */
  readonly entries: readonly number[];
  /** Native offset of each BPF instruction slot (-1 for the second slot of `ld_imm64`). */
  readonly lineTable: readonly number[];
  /** The external symbols the code refers to, each with the places to patch. */
  readonly relocs: readonly JitReloc[];
  /** Number of convergence passes the JIT needed. */
  readonly passes?: number;
  /**
   * For a program that throws (calls `bpf_throw`): the index in `entries` of its exception
   * callback, which a host's `bpf_throw` enters with (cookie, sp, fp) of the main program's frame,
   * as the kernel's does (kernel/bpf/helpers.c). Absent when the program throws nowhere.
   */
  readonly exceptionCallback?: number;
}

/** A program a JIT cannot translate, naming the instruction (both JITs throw this). */
export class JitError extends Error {
  override readonly name = 'JitError';
  constructor(
    readonly code: 'UNSUPPORTED' | 'BAD_PROGRAM',
    message: string,
    readonly insn: number,
  ) {
    super(`insn ${insn}: ${message}`);
  }
}
