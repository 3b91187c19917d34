/**
 * Every malformed or unsupported input ends in an `ElfError` naming where the problem is: a
 * byte offset in the file and, when one is involved, the section (and instruction index).
 */
export type ElfErrorCode =
  /** Not an ELF file at all (magic). */
  | 'BAD_MAGIC'
  /** ELF, but not ELF64 / not BPF / unknown byte order or version. */
  | 'UNSUPPORTED'
  /** A header, table or string runs past the end of the file or its section. */
  | 'TRUNCATED'
  /** A field holds a value the format does not allow (entsize, index, alignment...). */
  | 'BAD_FIELD'
  /** A relocation that cannot be applied (type, target, symbol). */
  | 'BAD_RELOC'
  /** A map definition that cannot be read. */
  | 'BAD_MAP'
  /** A program section or symbol that libbpf would refuse. */
  | 'BAD_PROGRAM'
  /** `.BTF` / `.BTF.ext` content that cannot be used (bad record, unknown type). */
  | 'BAD_BTF'
  /** An extern (kfunc, ksym, kconfig) that cannot be resolved. */
  | 'UNRESOLVED_EXTERN'
  /** A CO-RE relocation that cannot be applied. */
  | 'BAD_CORE'
  /** A load option the object does not fit (a global variable it lacks, a value too wide for it). */
  | 'BAD_OPTION'
  /** Objects that cannot be linked together (two strong definitions, an extern whose type differs). */
  | 'BAD_LINK';

export interface ElfPlace {
  /** Byte offset in the object file. */
  readonly byteOffset?: number;
  /** Name (or `#index` when unnamed) of the section involved. */
  readonly section?: string;
  /** Instruction slot index within the section or program. */
  readonly insn?: number;
  /** The extern (kfunc, ksym, kconfig variable) an `UNRESOLVED_EXTERN` error is about. */
  readonly extern?: string;
}

export class ElfError extends Error {
  override readonly name = 'ElfError';
  readonly code: ElfErrorCode;
  readonly byteOffset: number | undefined;
  readonly section: string | undefined;
  readonly insn: number | undefined;
  /** The extern the error is about, when it is about one. */
  readonly extern: string | undefined;

  constructor(code: ElfErrorCode, message: string, where: ElfPlace = {}) {
    const parts: string[] = [];
    if (where.section !== undefined) parts.push(`section ${where.section}`);
    if (where.insn !== undefined) parts.push(`insn ${where.insn}`);
    if (where.byteOffset !== undefined) parts.push(`byte ${where.byteOffset}`);
    super((parts.length ? parts.join(', ') + ': ' : '') + message);
    this.code = code;
    this.byteOffset = where.byteOffset;
    this.section = where.section;
    this.insn = where.insn;
    this.extern = where.extern;
  }
}
