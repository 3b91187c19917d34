/**
 * Typed errors. Every error names where the problem is: an instruction index, a byte offset,
 * or a line:column in assembly text.
 */
export type IsaErrorCode =
  | 'UNKNOWN_OPCODE'
  | 'BAD_REGISTER'
  | 'RESERVED_FIELD'
  | 'TRUNCATED'
  | 'TRUNCATED_LD_IMM64'
  | 'BAD_LD_IMM64'
  | 'R11_INVALID'
  | 'SYNTAX'
  | 'UNDEFINED_LABEL'
  | 'DUPLICATE_LABEL'
  | 'OUT_OF_RANGE'
  | 'BAD_PROGRAM';

export interface SourceLocation {
  readonly line: number;
  readonly column: number;
}

export class IsaError extends Error {
  override readonly name = 'IsaError';
  readonly code: IsaErrorCode;
  /** Instruction index (slot), when the error concerns one instruction. */
  readonly insn: number | undefined;
  /** Byte offset in the input, when decoding bytes. */
  readonly byteOffset: number | undefined;
  /** 1-based line and column, when parsing text. */
  readonly location: SourceLocation | undefined;

  constructor(
    code: IsaErrorCode,
    message: string,
    where: { insn?: number; byteOffset?: number; location?: SourceLocation } = {},
  ) {
    const place =
      where.location !== undefined
        ? `${where.location.line}:${where.location.column}: `
        : where.insn !== undefined
          ? `insn ${where.insn}${where.byteOffset !== undefined ? ` (byte ${where.byteOffset})` : ''}: `
          : where.byteOffset !== undefined
            ? `byte ${where.byteOffset}: `
            : '';
    super(place + message);
    this.code = code;
    this.insn = where.insn;
    this.byteOffset = where.byteOffset;
    this.location = where.location;
  }
}
