/**
 * AArch64 encoders the JIT uses, one small function per instruction form; each word goes into
 * the buffer with the text llvm-mc prints for it (aliases included), so the listing can be
 * checked against `llvm-mc --disassemble`.
 */

export interface Arm64Listed {
  readonly offset: number;
  readonly word: number;
  readonly text: string;
}

export const TMP = 10; // offsets, constants
export const TMP2 = 11; // addresses
export const TMP3 = 12; // operands
export const CALLREG = 9;
export const FP = 29;
export const LR = 30;
export const SP = 31;
export const ZR = 31;

export const COND_NAME = ['eq', 'ne', 'hs', 'lo', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le'];
export const HS = 2;
export const GE = 10;

export class A64 {
  readonly words: number[] = [];
  readonly listing: Arm64Listed[] = [];
  get offset(): number {
    return this.words.length * 4;
  }
  put(word: number, text: string): void {
    this.listing.push({ offset: this.offset, word: word >>> 0, text });
    this.words.push(word >>> 0);
  }
  /** Replace the word at byte offset `at` (a forward branch whose target is now known). */
  patch(at: number, word: number, text: string): void {
    this.words[at / 4] = word >>> 0;
    const k = this.listing.findIndex((l) => l.offset === at);
    this.listing[k] = { offset: at, word: word >>> 0, text };
  }
}

export const x = (r: number, w: 32 | 64 = 64): string => (r === 31 ? (w === 64 ? 'xzr' : 'wzr') : `${w === 64 ? 'x' : 'w'}${r}`);
export const sf = (w: 32 | 64): number => (w === 64 ? 0x80000000 : 0);
const rel = (bytes: number): string => `#${bytes < 0 ? '-' : ''}0x${Math.abs(bytes).toString(16)}`;
const spName = (r: number): string => (r === 31 ? 'sp' : x(r));

/** Materialise a 64-bit constant (movz/movn + movk). */
export function movImm(a: A64, rd: number, value: bigint, w: 32 | 64 = 64): void {
  const v = BigInt.asUintN(w, value);
  const chunks = Array.from({ length: w / 16 }, (_, k) => Number((v >> BigInt(16 * k)) & 0xffffn));
  const ones = chunks.filter((c) => c === 0xffff).length;
  const zeros = chunks.filter((c) => c === 0).length;
  if (ones > zeros) {
    // movn: start from all ones
    const first = chunks.findIndex((c) => c !== 0xffff);
    const k0 = first < 0 ? 0 : first;
    a.put(sf(w) | 0x12800000 | (k0 << 21) | ((~chunks[k0]! & 0xffff) << 5) | rd, `movn ${x(rd, w)}, #0x${(~chunks[k0]! & 0xffff).toString(16)}${k0 ? `, lsl #${16 * k0}` : ''}`);
    chunks.forEach((c, k) => {
      if (k !== k0 && c !== 0xffff) a.put(sf(w) | 0x72800000 | (k << 21) | (c << 5) | rd, `movk ${x(rd, w)}, #0x${c.toString(16)}${k ? `, lsl #${16 * k}` : ''}`);
    });
    return;
  }
  const first = chunks.findIndex((c) => c !== 0);
  const k0 = first < 0 ? 0 : first;
  a.put(sf(w) | 0x52800000 | (k0 << 21) | (chunks[k0]! << 5) | rd, `movz ${x(rd, w)}, #0x${chunks[k0]!.toString(16)}${k0 ? `, lsl #${16 * k0}` : ''}`);
  chunks.forEach((c, k) => {
    if (k !== k0 && c !== 0) a.put(sf(w) | 0x72800000 | (k << 21) | (c << 5) | rd, `movk ${x(rd, w)}, #0x${c.toString(16)}${k ? `, lsl #${16 * k}` : ''}`);
  });
}

export type RR = 'add' | 'sub' | 'and' | 'orr' | 'eor' | 'mul' | 'udiv' | 'sdiv' | 'lslv' | 'lsrv' | 'asrv';
const RR_BASE: Record<RR, number> = {
  add: 0x0b000000, sub: 0x4b000000, and: 0x0a000000, orr: 0x2a000000, eor: 0x4a000000,
  mul: 0x1b007c00, udiv: 0x1ac00800, sdiv: 0x1ac00c00, lslv: 0x1ac02000, lsrv: 0x1ac02400, asrv: 0x1ac02800,
};
/** llvm's preferred spellings (aliases) of these encodings. */
const ALIAS: Partial<Record<RR, string>> = { lslv: 'lsl', lsrv: 'lsr', asrv: 'asr' };
export function rr(a: A64, op: RR, rd: number, rn: number, rm: number, w: 32 | 64): void {
  const text = op === 'sub' && rn === ZR ? `neg ${x(rd, w)}, ${x(rm, w)}` : `${ALIAS[op] ?? op} ${x(rd, w)}, ${x(rn, w)}, ${x(rm, w)}`;
  a.put(sf(w) | RR_BASE[op] | (rm << 16) | (rn << 5) | rd, text);
}
export function mov(a: A64, rd: number, rm: number, w: 32 | 64): void {
  a.put(sf(w) | 0x2a0003e0 | (rm << 16) | rd, `mov ${x(rd, w)}, ${x(rm, w)}`);
}
/** add/sub with a 12-bit immediate (sp allowed as base/destination). */
export function addImm(a: A64, rd: number, rn: number, imm: number, sub = false): void {
  if (imm < 0 || imm > 0xfff) throw new RangeError(`internal: add/sub immediate ${imm} out of range`);
  const text = !sub && imm === 0 && (rd === SP || rn === SP) ? `mov ${spName(rd)}, ${spName(rn)}` : `${sub ? 'sub' : 'add'} ${spName(rd)}, ${spName(rn)}, #0x${imm.toString(16)}`;
  a.put((sub ? 0xd1000000 : 0x91000000) | (imm << 10) | (rn << 5) | rd, text);
}
/** cmp rn, rm (subs zr, rn, rm). */
export function cmp(a: A64, rn: number, rm: number, w: 32 | 64): void {
  a.put(sf(w) | 0x6b00001f | (rm << 16) | (rn << 5), `cmp ${x(rn, w)}, ${x(rm, w)}`);
}
/** cmp rn, #imm12 (subs zr, rn, #imm). */
export function cmpImm(a: A64, rn: number, imm: number, w: 32 | 64): void {
  a.put(sf(w) | 0x7100001f | (imm << 10) | (rn << 5), `cmp ${x(rn, w)}, #0x${imm.toString(16)}`);
}

/** Loads and stores with a register offset: LDR/STR Rt, [Rn, TMP]. */
export function ldst(a: A64, load: boolean, size: 1 | 2 | 4 | 8, signed: boolean, rt: number, rn: number): void {
  const sz = size === 1 ? 0 : size === 2 ? 1 : size === 4 ? 2 : 3;
  const opc = load ? (signed ? 2 : 1) : 0;
  const word = (sz << 30) | 0x38206800 | (opc << 22) | (TMP << 16) | (rn << 5) | rt;
  const mn = load ? (signed ? `ldrs${size === 1 ? 'b' : size === 2 ? 'h' : 'w'}` : `ldr${size === 1 ? 'b' : size === 2 ? 'h' : ''}`) : `str${size === 1 ? 'b' : size === 2 ? 'h' : ''}`;
  const treg = signed ? x(rt, 64) : x(rt, size === 8 ? 64 : 32);
  a.put(word, `${mn} ${treg}, [${spName(rn)}, ${x(TMP)}]`);
}
export function mem(a: A64, load: boolean, size: 1 | 2 | 4 | 8, signed: boolean, rt: number, base: number, off: number): void {
  movImm(a, TMP, BigInt(off));
  ldst(a, load, size, signed, rt, base);
}
/** LDR/STR Wt|Xt, [Rn] (unsigned immediate offset 0). */
export function ldrStr0(a: A64, load: boolean, size: 4 | 8, rt: number, rn: number): void {
  const word = (size === 8 ? 0xf9000000 : 0xb9000000) | (load ? 0x00400000 : 0) | (rn << 5) | rt;
  a.put(word, `${load ? 'ldr' : 'str'} ${x(rt, size === 8 ? 64 : 32)}, [${spName(rn)}]`);
}
/** LDR Xt, [Xn, Xm, lsl #3]. */
export function ldrScaled(a: A64, rt: number, rn: number, rm: number): void {
  a.put(0xf8607800 | (rm << 16) | (rn << 5) | rt, `ldr ${x(rt)}, [${spName(rn)}, ${x(rm)}, lsl #3]`);
}
/** stp r1, r2, [sp, #-16]! */
export function push(a: A64, r1: number, r2: number): void {
  a.put(0xa9bf0000 | (r2 << 10) | (SP << 5) | r1, `stp ${x(r1)}, ${x(r2)}, [sp, #-0x10]!`);
}
/** ldp r1, r2, [sp], #16 */
export function pop(a: A64, r1: number, r2: number): void {
  a.put(0xa8c10000 | (r2 << 10) | (SP << 5) | r1, `ldp ${x(r1)}, ${x(r2)}, [sp], #0x10`);
}

/** An 8-byte literal the host patches, loaded into `rd`: ldr rd, #8; b #12; .quad 0. */
export function literal(a: A64, rd: number): number {
  a.put(0x58000040 | rd, `ldr ${x(rd)}, #0x8`);
  a.put(0x14000003, 'b #0xc');
  const at = a.offset;
  a.put(0, '.word 0x00000000');
  a.put(0, '.word 0x00000000');
  return at;
}

/** b / b.cond to a byte offset in the buffer. */
export function branch(a: A64, cond: number | null, target: number): void {
  a.put(branchWord(cond, target - a.offset), cond === null ? `b ${rel(target - a.offset)}` : `b.${COND_NAME[cond]} ${rel(target - a.offset)}`);
}
function branchWord(cond: number | null, bytes: number): number {
  const d = bytes / 4;
  return cond === null ? 0x14000000 | (d & 0x3ffffff) : 0x54000000 | ((d & 0x7ffff) << 5) | cond;
}
/** Point the b.cond emitted at `at` to `target`. */
export function patchBranch(a: A64, at: number, cond: number, target: number): void {
  a.patch(at, branchWord(cond, target - at), `b.${COND_NAME[cond]} ${rel(target - at)}`);
}
/** cbz xt emitted at `at`, to `target` (emit a placeholder first, then patch). */
export function patchCbz(a: A64, at: number, rt: number, target: number): void {
  a.patch(at, 0xb4000000 | ((((target - at) / 4) & 0x7ffff) << 5) | rt, `cbz ${x(rt)}, ${rel(target - at)}`);
}
export function cbz(a: A64, rt: number, target: number): void {
  a.put(0xb4000000 | ((((target - a.offset) / 4) & 0x7ffff) << 5) | rt, `cbz ${x(rt)}, ${rel(target - a.offset)}`);
}
export function bl(a: A64, target: number): void {
  a.put(0x94000000 | (((target - a.offset) / 4) & 0x3ffffff), `bl ${rel(target - a.offset)}`);
}
export function blr(a: A64, rn: number): void {
  a.put(0xd63f0000 | (rn << 5), `blr ${x(rn)}`);
}
export function br(a: A64, rn: number): void {
  a.put(0xd61f0000 | (rn << 5), `br ${x(rn)}`);
}
export function ret(a: A64): void {
  a.put(0xd65f03c0, 'ret');
}
/** adr rd, target (±1 MiB, PC-relative). */
export function adr(a: A64, rd: number, target: number): void {
  const d = target - a.offset;
  a.put(0x10000000 | ((d & 3) << 29) | (((d >> 2) & 0x7ffff) << 5) | rd, `adr ${x(rd)}, ${rel(d)}`);
}
