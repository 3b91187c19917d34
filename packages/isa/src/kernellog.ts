/**
 * Facts about the text of the kernel verifier's log that more than one layer reads: the kernel's
 * own log (@bpf/kernel) and ours (@bpf/verifier) name a rejection by the same line.
 */

/**
 * Lines that continue a message the verifier prints over several lines: the states after
 * "infinite loop detected at insn N", and the advice after "same call cannot be used with
 * different types". The message is the line before them.
 */
const CONTINUATION = /^(cur state:|old state:|use one call for each type: |or mark the callee with __attribute__\(\(nomerge\)\))/;

/** Whether `line` continues the message of the line before it rather than being a message itself. */
export function continuesMessage(line: string): boolean {
  return CONTINUATION.test(line);
}
