/**
 * Instruction printers in two syntaxes:
 *
 * - `llvm`: what `llvm-objdump-19 -d --mcpu=v4` prints (hex immediates with a sign, `w`
 *   registers for 32-bit loads, stores and atomics), without objdump's `<symbol>` suffixes;
 * - `kernel`: what the kernel's verifier log prints (kernel/bpf/disasm.c print_bpf_insn):
 *   `(79) r1 = *(u64 *)(r10 -8)`, decimal ALU immediates, `goto pc+2`, `call name#id`.
 *
 * Both are total: any slot prints as something (the kernel's `BUG_..` / LLVM's `<unknown>`
 * for encodings that mean nothing), so a log of a malformed program can always be printed.
 */
import type { Insn } from './insn.js';
import { ldImm64Value } from './insn.js';
import { helperName } from './helpers.js';
import type { Subprog } from './program.js';

export type Syntax = 'llvm' | 'kernel';

export interface FormatOptions {
  readonly syntax?: Syntax;
  /** Name of a helper id (default: the kernel's names, `bpf_map_lookup_elem`). */
  readonly helperName?: (id: number) => string | undefined;
  /** Name of the kfunc a `call` with src 2 targets (kernel syntax prints `name#id`). */
  readonly kfuncName?: (insn: Insn, index: number) => string | undefined;
  /**
   * The value kernel syntax prints for the `ld_imm64` at `index` in place of the one it encodes
   * (the kernel prints what it loads: a map's kernel address, its value's plus the offset).
   */
  readonly ldImm64Value?: (insn: Insn, index: number) => bigint | undefined;
}

const SIZE = ['u32', 'u16', 'u8', 'u64'] as const; // by (code >> 3) & 3
const SSIZE = ['s32', 's16', 's8', ''] as const;
const ALU = ['+=', '-=', '*=', '/=', '|=', '&=', '<<=', '>>=', 'neg', '%=', '^=', '=', 's>>=', 'endian', '', ''] as const;
const JMP = ['goto', '==', '>', '>=', '&', '!=', 's>', 's>=', 'call', 'exit', '<', '<=', 's<', 's<=', 'may_goto', ''] as const;
const ATOMIC_ALU: Record<number, string> = { 0x00: 'add', 0x40: 'or', 0x50: 'and', 0xa0: 'xor' };
const ATOMIC_SYM: Record<number, string> = { 0x00: '+=', 0x40: '|=', 0x50: '&=', 0xa0: '^=' };

const hex = (n: number | bigint): string => (n < 0 ? `-0x${(-BigInt(n)).toString(16)}` : `0x${n.toString(16)}`);
const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
/** `%+d` */
const signed = (n: number): string => (n < 0 ? String(n) : `+${n}`);
/** LLVM's memory operand: `(r1 + 0x4)`, `(r10 - 0x8)`. */
const llvmMem = (reg: number, off: number): string => `(r${reg} ${off < 0 ? '-' : '+'} ${hex(Math.abs(off))})`;
/** The kernel's: `(r1 +4)`, `(r10 -8)`. */
const kMem = (reg: number, off: number): string => `(r${reg} ${signed(off)})`;

/** One instruction, in the requested syntax. `insns` is needed for `ld_imm64`'s second half. */
export function formatInsn(insns: readonly Insn[], index: number, opts: FormatOptions = {}): string {
  const i = insns[index];
  if (i === undefined) return '';
  return (opts.syntax ?? 'llvm') === 'kernel' ? kernelText(insns, index, i, opts) : llvmText(insns, index, i);
}

/** The opcode's fields, as both printers read them. */
function fields(i: Insn): { cls: number; op: number; x: boolean; size: number; mode: number } {
  return { cls: i.code & 7, op: i.code & 0xf0, x: (i.code & 8) !== 0, size: (i.code >> 3) & 3, mode: i.code & 0xe0 };
}

function llvmText(insns: readonly Insn[], index: number, i: Insn): string {
  const { cls, op, x, size, mode } = fields(i);
  switch (cls) {
    case 0x04:
    case 0x07: {
      const w = cls === 0x04 ? 'w' : 'r';
      const d = `${w}${i.dst}`;
      if (op === 0xd0) {
        if ((i.imm !== 16 && i.imm !== 32 && i.imm !== 64) || (cls === 0x07 && x)) return '<unknown>';
        const kind = cls === 0x07 ? 'bswap' : x ? 'be' : 'le';
        return `r${i.dst} = ${kind}${i.imm} r${i.dst}`;
      }
      if (op === 0x80) return x ? '<unknown>' : `${d} = -${d}`;
      if (op > 0xd0) return '<unknown>';
      // LLVM's decoder wants off 0 but for sdiv/smod (1), movsx (8/16/32) and addr_space_cast.
      if (i.off !== 0) {
        if (x && i.code === 0xbf && i.off === 1) return `r${i.dst} = addr_space_cast(r${i.src}, ${hex((i.imm >>> 16) & 0xffff)}, ${hex(i.imm & 0xffff)})`;
        const divmod = (op === 0x30 || op === 0x90) && i.off === 1;
        const movsx = x && op === 0xb0 && (i.off === 8 || i.off === 16 || i.off === 32);
        if (!divmod && !movsx) return '<unknown>';
      }
      const sdiv = (op === 0x30 || op === 0x90) && i.off === 1;
      const sym = sdiv ? (op === 0x30 ? 's/=' : 's%=') : ALU[op >> 4]!;
      if (x) {
        if (op === 0xb0 && (i.off === 8 || i.off === 16 || i.off === 32)) return `${d} = (s${i.off})${w}${i.src}`;
        return `${d} ${sym} ${w}${i.src}`;
      }
      return `${d} ${sym} ${hex(i.imm)}`;
    }
    case 0x05:
    case 0x06: {
      const w = cls === 0x06 ? 'w' : 'r';
      // call, callx (the target register in dst) and exit exist in the 64-bit class only.
      if (op === 0x80) return cls === 0x06 ? '<unknown>' : x ? `callx r${i.dst}` : `call ${hex(i.imm)}`;
      if (op === 0x90) return i.code === 0x95 && i.off === 0 && i.imm === 0 ? 'exit' : '<unknown>';
      if (op === 0x00) return x ? '<unknown>' : cls === 0x06 ? `gotol ${signed16hex(i.imm)}` : `goto ${signed16hex(i.off)}`;
      if (op === 0xe0) return i.code === 0xe5 ? `may_goto ${signed16hex(i.off)}` : '<unknown>';
      if (op > 0xe0) return '<unknown>';
      const rhs = x ? `${w}${i.src}` : hex(i.imm);
      return `if ${w}${i.dst} ${JMP[op >> 4]!} ${rhs} goto ${signed16hex(i.off)}`;
    }
    case 0x00: {
      if (mode === 0x00 && size === 3) {
        const next = insns[index + 1];
        if (next === undefined || i.off !== 0) return '<unknown>';
        // A pseudo source (map fd, map value, BTF id, subprog...): LLVM's `ld_pseudo`.
        if (i.src !== 0) return `ld_pseudo\tr${i.dst}, ${hex(i.src)}, ${hex(i.imm)}`;
        return `r${i.dst} = ${hex(BigInt.asIntN(64, ldImm64Value(i, next)))} ll`;
      }
      if (mode === 0x20 && size !== 3) return `r0 = *(${SIZE[size]!} *)skb[${hex(i.imm)}]`;
      // LLVM 19 prints the indirect form without its imm.
      if (mode === 0x40 && size !== 3) return `r0 = *(${SIZE[size]!} *)skb[r${i.src}]`;
      return i.code === 0 ? '<unknown>' : '<unknown>';
    }
    case 0x01: {
      if (mode === 0x60) return `${size === 3 ? 'r' : 'w'}${i.dst} = *(${SIZE[size]!} *)${llvmMem(i.src, i.off)}`;
      if (mode === 0x80 && size !== 3) return `r${i.dst} = *(${SSIZE[size]!} *)${llvmMem(i.src, i.off)}`;
      return '<unknown>';
    }
    case 0x02:
      return mode === 0x60 ? `*(${SIZE[size]!} *)${llvmMem(i.dst, i.off)} = ${hex(i.imm)}` : '<unknown>';
    default: {
      const w = size === 3 ? 'r' : 'w';
      if (mode === 0x60) return `*(${SIZE[size]!} *)${llvmMem(i.dst, i.off)} = ${w}${i.src}`;
      if (mode !== 0xc0) return '<unknown>';
      const mem = llvmMem(i.dst, i.off);
      const ty = SIZE[size]!;
      if (i.imm === 0x100) return `${w}${i.dst} = load_acquire((${ty} *)${llvmMem(i.src, i.off)})`;
      if (i.imm === 0x110) return `store_release((${ty} *)${mem}, ${w}${i.src})`;
      if (size !== 0 && size !== 3) return '<unknown>';
      const inner = `r${i.dst} ${i.off < 0 ? '-' : '+'} ${hex(Math.abs(i.off))}`;
      if ((i.imm & 0xf1) === 0xe1) return size === 3 ? `r${i.src} = xchg_64(${inner}, r${i.src})` : `w${i.src} = xchg32_32(${inner}, w${i.src})`;
      if ((i.imm & 0xf1) === 0xf1) return size === 3 ? `r0 = cmpxchg_64(${inner}, r0, r${i.src})` : `w0 = cmpxchg32_32(${inner}, w0, w${i.src})`;
      // LLVM reads the operation from imm bits 7..4 and the fetch flag from bit 0.
      const base = i.imm & 0xf0;
      const name = ATOMIC_ALU[base];
      if (name === undefined) return '<unknown>';
      if (i.imm & 1) return `${w}${i.src} = atomic_fetch_${name}((${ty} *)${mem}, ${w}${i.src})`;
      return `lock *(${ty} *)${mem} ${ATOMIC_SYM[base]!} ${w}${i.src}`;
    }
  }
}

/** LLVM prints jump offsets as signed hex: `+0x2`, `-0x1`. */
const signed16hex = (n: number): string => (n < 0 ? `-0x${(-n).toString(16)}` : `+0x${n.toString(16)}`);

function kernelText(insns: readonly Insn[], index: number, i: Insn, opts: FormatOptions): string {
  const c = `(${hex2(i.code)})`;
  const { cls, op, x, size, mode } = fields(i);
  switch (cls) {
    case 0x04:
    case 0x07: {
      const w = cls === 0x04 ? 'w' : 'r';
      if (op === 0xd0) {
        return cls === 0x07 ? `${c} r${i.dst} = bswap${i.imm} r${i.dst}` : `${c} r${i.dst} = ${x ? 'be' : 'le'}${i.imm} r${i.dst}`;
      }
      if (op === 0x80) return `${c} ${w}${i.dst} = -${w}${i.dst}`;
      if (i.code === 0xbf && i.off === 1) return `${c} r${i.dst} = addr_space_cast(r${i.src}, ${(i.imm >>> 16) & 0xffff}, ${i.imm & 0xffff})`;
      if (i.code === 0xbf && i.off === -1) return `${c} r${i.dst} = &(void __percpu *)(r${i.src})`;
      const sdiv = (op === 0x30 || op === 0x90) && i.off === 1;
      const sym = sdiv ? (op === 0x30 ? 's/=' : 's%=') : (ALU[op >> 4] ?? '');
      if (x) {
        const movsx = op === 0xb0 && (i.off === 8 || i.off === 16 || i.off === 32) ? `(s${i.off})` : '';
        return `${c} ${w}${i.dst} ${sym} ${movsx}${w}${i.src}`;
      }
      return `${c} ${w}${i.dst} ${sym} ${i.imm}`;
    }
    case 0x03: {
      const ty = SIZE[size]!;
      if (mode === 0x60) return `${c} *(${ty} *)${kMem(i.dst, i.off)} = r${i.src}`;
      if (mode !== 0xc0) return `BUG_${hex2(i.code)}`;
      const w64 = size === 3 ? '64' : '';
      if (i.imm === 0x00 || i.imm === 0x40 || i.imm === 0x50 || i.imm === 0xa0)
        return `${c} lock *(${ty} *)${kMem(i.dst, i.off)} ${ATOMIC_SYM[i.imm]!} r${i.src}`;
      if (i.imm === 0x01 || i.imm === 0x41 || i.imm === 0x51 || i.imm === 0xa1)
        return `${c} r${i.src} = atomic${w64}_fetch_${ATOMIC_ALU[i.imm & ~1]!}((${ty} *)${kMem(i.dst, i.off)}, r${i.src})`;
      if (i.imm === 0xf1) return `${c} r0 = atomic${w64}_cmpxchg((${ty} *)${kMem(i.dst, i.off)}, r0, r${i.src})`;
      if (i.imm === 0xe1) return `${c} r${i.src} = atomic${w64}_xchg((${ty} *)${kMem(i.dst, i.off)}, r${i.src})`;
      if (i.imm === 0x100) return `${c} r${i.dst} = load_acquire((${ty} *)${kMem(i.src, i.off)})`;
      if (i.imm === 0x110) return `${c} store_release((${ty} *)${kMem(i.dst, i.off)}, r${i.src})`;
      return `BUG_${hex2(i.code)}`;
    }
    case 0x02:
      if (mode === 0x60) return `${c} *(${SIZE[size]!} *)${kMem(i.dst, i.off)} = ${i.imm}`;
      if (mode === 0xc0) return `${c} nospec`;
      return `BUG_st_${hex2(i.code)}`;
    case 0x01:
      if (mode !== 0x60 && mode !== 0x80) return `BUG_ldx_${hex2(i.code)}`;
      return `${c} r${i.dst} = *(${mode === 0x60 ? SIZE[size]! : SSIZE[size]!} *)${kMem(i.src, i.off)}`;
    case 0x00: {
      if (mode === 0x20) return `${c} r0 = *(${SIZE[size]!} *)skb[${i.imm}]`;
      if (mode === 0x40) return `${c} r0 = *(${SIZE[size]!} *)skb[r${i.src} + ${i.imm}]`;
      if (mode === 0x00 && size === 3) {
        const next = insns[index + 1];
        const v = opts.ldImm64Value?.(i, index) ?? (next === undefined ? BigInt(i.imm >>> 0) : ldImm64Value(i, next));
        return `${c} r${i.dst} = 0x${v.toString(16)}`;
      }
      return `BUG_ld_${hex2(i.code)}`;
    }
    default: {
      const w = cls === 0x06 ? 'w' : 'r';
      if (op === 0x80) {
        if (i.src === 1) return `${c} call pc${signed(i.imm)}`;
        const name =
          i.src === 0 && i.imm >= 0
            ? (opts.helperName ?? helperName)(i.imm)
            : i.src === 2
              ? (opts.kfuncName?.(i, index) ?? 'kernel-function')
              : undefined;
        return `${c} call ${name ?? 'unknown'}#${i.imm}`;
      }
      if (i.code === 0x05) return `${c} goto pc${signed(i.off)}`;
      if (i.code === 0xe5 && i.src === 0) return `${c} may_goto pc${signed(i.off)}`;
      if (i.code === 0x06) return `${c} gotol pc${signed(i.imm)}`;
      if (i.code === 0x95) return `${c} exit`;
      const sym = JMP[op >> 4] ?? '';
      if (x) return `${c} if ${w}${i.dst} ${sym} ${w}${i.src} goto pc${signed(i.off)}`;
      return `${c} if ${w}${i.dst} ${sym} 0x${(i.imm >>> 0).toString(16)} goto pc${signed(i.off)}`;
    }
  }
}

export interface DisassembleOptions extends FormatOptions {
  /** Subprogram boundaries: their names are printed as `<name>:` lines. */
  readonly subprogs?: readonly Subprog[];
}

/**
 * A whole program, one `INDEX: TEXT` line per instruction like llvm-objdump (the second slot
 * of an `ld_imm64` is not printed, so indices jump by 2 there), with `<name>:` before each
 * subprogram when there is more than one.
 */
export function disassemble(insns: readonly Insn[], opts: DisassembleOptions = {}): string {
  const width = String(Math.max(0, insns.length - 1)).length;
  const names = new Map((opts.subprogs ?? []).length > 1 ? (opts.subprogs ?? []).map((s) => [s.start, s.name]) : []);
  const lines: string[] = [];
  const kernel = opts.syntax === 'kernel';
  for (let k = 0; k < insns.length; k++) {
    const name = names.get(k);
    if (name !== undefined) lines.push(`<${name}>:`);
    const idx = kernel ? String(k) : String(k).padStart(Math.max(width, 4));
    lines.push(`${idx}: ${formatInsn(insns, k, opts)}`);
    if (insns[k]!.code === 0x18 && k + 1 < insns.length) k++;
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}
