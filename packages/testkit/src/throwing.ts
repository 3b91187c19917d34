/**
 * Throwing programs in assembly, run by @bpf/vm and both JITs' native runners alike, so the
 * three engines are checked on the same programs (their kernel comparisons use the compiled
 * fixtures/c/exceptions programs instead). Nothing calls an exception callback, so a program's
 * subprogram bounds are given here, marked as the verifier's xlated program marks them.
 */

/** A subprogram's bounds, structurally the @bpf/isa `Subprog` fields these programs need. */
export interface ThrowSubprog {
  readonly start: number;
  readonly end: number;
  readonly name: string;
  readonly exceptionCallback?: true;
}

/**
 * `main` keeps r6 live across a call into `f`, which spills, reloads and throws the cookie
 * (7 << 32) + 41 from one frame down; `cb` returns the cookie plus one for the program.
 */
export const THROW_DEEP = {
  asm: `
  .kfunc bpf_throw(u64) void
  main:
      r6 = 100
      r1 = 7
      call f
      r0 += r6
      exit
  f:
      r6 = r1
      *(u64 *)(r10 - 8) = r6
      if r1 > 5 goto out
      r0 = r1
      exit
  out:
      r1 = *(u64 *)(r10 - 8)
      r1 <<= 32
      r1 += 41
      call bpf_throw
      exit
  cb:
      r0 = r1
      r0 += 1
      exit`,
  subprogs: [
    { start: 0, end: 5, name: 'main' },
    { start: 5, end: 15, name: 'f' },
    { start: 15, end: 18, name: 'cb', exceptionCallback: true },
  ] as readonly ThrowSubprog[],
  /** What the program returns: the callback's r0. */
  result: (7n << 32n) + 42n,
  /** The `call bpf_throw` instruction. */
  throwAt: 13,
} as const;

/**
 * A tail call into a program that throws from a subprogram: `caller` tail-calls slot 0 of its
 * `jt` prog array, `target` throws 77 and its callback returns 77 + 1000.
 */
export const THROW_AFTER_TAIL_CALL = {
  caller: `
  .map jt prog_array 4 4 4
  r6 = r1
  r1 = r6
  r2 = jt ll
  r3 = 0
  call bpf_tail_call
  r0 = 99
  exit`,
  target: `
  .kfunc bpf_throw(u64) void
  main:
      r6 = 11
      call f
      r0 += r6
      exit
  f:
      r1 = 77
      call bpf_throw
      exit
  cb:
      r0 = r1
      r0 += 1000
      exit`,
  targetSubprogs: [
    { start: 0, end: 4, name: 'main' },
    { start: 4, end: 7, name: 'f' },
    { start: 7, end: 10, name: 'cb', exceptionCallback: true },
  ] as readonly ThrowSubprog[],
  result: 1077n,
} as const;
