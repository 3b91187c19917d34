/**
 * The host's `bpf_throw` for native runs: machine code that does what the kernel's does
 * (kernel/bpf/helpers.c bpf_throw, arch_bpf_stack_walk over BPF frames). It walks the frame
 * pointers from its caller up to the first frame whose return address lies in a main function
 * (the exception boundary) and jumps to that program's exception callback with rdi = the cookie,
 * rsi = the boundary's rsp at its call and rdx = its rbp: the callback restores the registers the
 * boundary saved and returns, from the boundary's frame, to whoever called the program.
 *
 * A return address lies after its call, so it is in (start, end] of the function that called:
 * one that ends with the call (code after a throw is dead and removed) returns to its end.
 * A frame is the JIT's `push rbp; mov rbp, rsp`: the return address into the caller is at
 * [rbp + 8], the caller's rsp at the call is rbp + 16, its rbp is [rbp]. A return address
 * outside the code region (no boundary on the way: a program without an exception callback)
 * stops at `ud2`.
 */
import { Asm, X } from './emit.js';

/** A program that may throw: its main function's native range and its exception callback, absolute. */
export interface ThrowTarget {
  readonly mainStart: bigint;
  readonly mainEnd: bigint;
  readonly callback: bigint;
}

/** The code of `bpf_throw`; its length depends only on the number of targets. */
export function throwStub(targets: readonly ThrowTarget[], code: { readonly start: bigint; readonly end: bigint }): Uint8Array {
  const a = new Asm();
  // the caller's frame: rsp after the return, its rbp, the return address
  a.lea(X.rsi, X.rsp, 8);
  a.rr('mov', X.rdx, X.rbp, 64);
  a.load(X.rax, X.rsp, 0, 8, false);
  const walk = a.offset;
  for (const t of targets) {
    const outside = inRange(a, t.mainStart, t.mainEnd);
    a.movabs(X.rax, t.callback);
    a.jmpReg(X.rax);
    for (const j of outside) a.patchShort(j, a.offset);
  }
  // a subprogram's frame (its return address in the code): one frame up
  const outside = inRange(a, code.start, code.end);
  a.load(X.rax, X.rdx, 8, 8, false);
  a.lea(X.rsi, X.rdx, 16);
  a.load(X.rdx, X.rdx, 0, 8, false);
  a.jump(null, walk, true);
  for (const j of outside) a.patchShort(j, a.offset);
  a.ud2();
  return Uint8Array.from(a.bytes);
}

/**
 * Falls through when rax is in (start, end] (r10 clobbered); returns the two short jumps taken
 * otherwise, for the caller to patch to where the code goes on.
 */
function inRange(a: Asm, start: bigint, end: bigint): [number, number] {
  a.movabs(X.r10, start);
  a.rr('cmp', X.rax, X.r10, 64);
  const below = a.offset;
  a.jump('be', below, false);
  a.movabs(X.r10, end);
  a.rr('cmp', X.rax, X.r10, 64);
  const above = a.offset;
  a.jump('a', above, false);
  return [below, above];
}
