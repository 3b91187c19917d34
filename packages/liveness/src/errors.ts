/** Structural errors found while building the CFG, with the kernel's message text. */
export type CfgErrorCode =
  | 'JUMP_OUT_OF_RANGE'
  | 'LAST_INSN_NOT_EXIT'
  | 'UNREACHABLE'
  | 'JUMP_INTO_LDIMM64'
  | 'CALL_INVALID_DESTINATION'
  | 'EMPTY_PROGRAM';

export class CfgError extends Error {
  override readonly name = 'CfgError';
  constructor(
    readonly code: CfgErrorCode,
    /** The kernel's message, verbatim (kernel/bpf/verifier.c). */
    readonly kernelMessage: string,
    /** Instruction the error is about. */
    readonly insn: number,
  ) {
    super(`insn ${insn}: ${kernelMessage}`);
  }
}
