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
export const LT = 11;

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

/** llvm's text of movz/movn: the `mov #value` alias, unless the move has a zero chunk shifted (or is movn w, #0xffff). */
function movWideText(op: 'movz' | 'movn', rd: number, imm: number, hw: number, w: 32 | 64): string {
  if ((imm === 0 && hw !== 0) || (op === 'movn' && w === 32 && imm === 0xffff)) return `${op} ${x(rd, w)}, #0x${imm.toString(16)}${hw ? `, lsl #${16 * hw}` : ''}`;
  let v = BigInt(imm) << BigInt(16 * hw);
  v = BigInt.asIntN(w, op === 'movn' ? ~v : v); // llvm prints the value signed
  return `mov ${x(rd, w)}, #${v < 0n ? '-' : ''}0x${(v < 0n ? -v : v).toString(16)}`;
}

/** Materialise a 64-bit constant (movz/movn + movk). */
export function movImm(a: A64, rd: number, value: bigint, w: 32 | 64 = 64): void {
  const v = BigInt.asUintN(w, value);
  const chunks = Array.from({ length: w / 16 }, (_, k) => Number((v >> BigInt(16 * k)) & 0xffffn));
  const ones = chunks.filter((c) => c === 0xffff).length;
  const zeros = chunks.filter((c) => c === 0).length;
  // more than one move-wide: a bitmask immediate takes one `orr rd, xzr, #imm` (llvm: mov)
  if (Math.max(ones, zeros) < chunks.length - 1) {
    const f = logicalImm(v, w);
    if (f !== undefined) {
      a.put(sf(w) | 0x32000000 | (f << 10) | (ZR << 5) | rd, `mov ${x(rd, w)}, #${BigInt.asIntN(w, v) < 0n ? '-' : ''}0x${(BigInt.asIntN(w, v) < 0n ? -BigInt.asIntN(w, v) : v).toString(16)}`);
      return;
    }
  }
  if (ones > zeros) {
    // movn: start from all ones
    const first = chunks.findIndex((c) => c !== 0xffff);
    const k0 = first < 0 ? 0 : first;
    a.put(sf(w) | 0x12800000 | (k0 << 21) | ((~chunks[k0]! & 0xffff) << 5) | rd, movWideText('movn', rd, ~chunks[k0]! & 0xffff, k0, w));
    chunks.forEach((c, k) => {
      if (k !== k0 && c !== 0xffff) a.put(sf(w) | 0x72800000 | (k << 21) | (c << 5) | rd, `movk ${x(rd, w)}, #0x${c.toString(16)}${k ? `, lsl #${16 * k}` : ''}`);
    });
    return;
  }
  const first = chunks.findIndex((c) => c !== 0);
  const k0 = first < 0 ? 0 : first;
  a.put(sf(w) | 0x52800000 | (k0 << 21) | (chunks[k0]! << 5) | rd, movWideText('movz', rd, chunks[k0]!, k0, w));
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
const SZ: Record<1 | 2 | 4 | 8, number> = { 1: 0, 2: 1, 4: 2, 8: 3 };
const SUFFIX: Record<1 | 2 | 4 | 8, string> = { 1: 'b', 2: 'h', 4: 'w', 8: '' };
/**
 * A load or store of `rt` at `base + off` in one instruction where the offset fits: the
 * unsigned scaled 12-bit form (`ldr x0, [x1, #0x8]`), else the unscaled signed 9-bit one
 * (`ldur x0, [x25, #-0x8]`); otherwise the offset goes through TMP (`ldr x0, [x1, x10]`).
 */
export function mem(a: A64, load: boolean, size: 1 | 2 | 4 | 8, signed: boolean, rt: number, base: number, off: number): void {
  const sz = SZ[size];
  const opc = load ? (signed ? 2 : 1) : 0;
  const treg = signed ? x(rt, 64) : x(rt, size === 8 ? 64 : 32);
  const sfx = size === 8 || (size === 4 && !signed) ? '' : SUFFIX[size];
  const mn = load ? (signed ? 'ldrs' : 'ldr') : 'str';
  if (off >= 0 && off % size === 0 && off / size < 4096) {
    const word = (sz << 30) | 0x39000000 | (opc << 22) | ((off / size) << 10) | (base << 5) | rt;
    a.put(word, `${mn}${sfx} ${treg}, [${spName(base)}${off ? `, #0x${off.toString(16)}` : ''}]`);
    return;
  }
  if (off >= -256 && off < 256) {
    const word = (sz << 30) | 0x38000000 | (opc << 22) | ((off & 0x1ff) << 12) | (base << 5) | rt;
    const umn = load ? (signed ? 'ldurs' : 'ldur') : 'stur';
    a.put(word, `${umn}${sfx} ${treg}, [${spName(base)}, ${rel(off)}]`);
    return;
  }
  movImm(a, TMP, BigInt(off));
  ldst(a, load, size, signed, rt, base);
}

/**
 * The N:immr:imms fields of an AArch64 logical (bitmask) immediate for `value` at width `w`, or
 * undefined when it has none: a rotated run of ones in an element of 2..64 bits, repeated.
 */
export function logicalImm(value: bigint, w: 32 | 64): number | undefined {
  let v = BigInt.asUintN(w, value);
  if (w === 32) v |= v << 32n;
  if (v === 0n || v === (1n << 64n) - 1n) return undefined;
  let e = 64;
  while (e > 2) {
    const half = BigInt(e / 2);
    const mask = (1n << half) - 1n;
    if ((v & mask) !== ((v >> half) & mask)) break;
    e /= 2;
  }
  const emask = (1n << BigInt(e)) - 1n;
  const elt = v & emask;
  let ones = 0;
  for (let t = elt; t; t >>= 1n) ones += Number(t & 1n);
  const run = (1n << BigInt(ones)) - 1n;
  for (let r = 0; r < e; r++) {
    // rotating the element left by r gives the run at bit 0: the encoding rotates right by r
    const rotl = ((elt << BigInt(r)) | (elt >> BigInt((e - r) % e))) & emask;
    if (rotl === run) {
      const n = e === 64 ? 1 : 0;
      const imms = ((-e << 1) & 0x3f) | (ones - 1);
      return (n << 12) | (r << 6) | imms;
    }
  }
  return undefined;
}

export type LogicalOp = 'and' | 'orr' | 'eor' | 'tst';
const LOGICAL_IMM: Record<LogicalOp, number> = { and: 0x12000000, orr: 0x32000000, eor: 0x52000000, tst: 0x7200001f };
/** and/orr/eor rd, rn, #imm or tst rn, #imm, when `value` is a bitmask immediate; false otherwise. */
export function logicalImmOp(a: A64, op: LogicalOp, rd: number, rn: number, value: bigint, w: 32 | 64): boolean {
  const f = logicalImm(value, w);
  if (f === undefined) return false;
  const text = `#0x${BigInt.asUintN(w, value).toString(16)}`;
  a.put(sf(w) | LOGICAL_IMM[op] | (f << 10) | (rn << 5) | (op === 'tst' ? 0 : rd), op === 'tst' ? `tst ${x(rn, w)}, ${text}` : `${op} ${x(rd, w)}, ${x(rn, w)}, ${text}`);
  return true;
}

/** add/sub rd, rn, #imm (12 bits, optionally shifted by 12) for any 64-bit `value` that fits either way round; false otherwise. */
export function addSubImm(a: A64, rd: number, rn: number, value: number, w: 32 | 64): boolean {
  const sub = value < 0;
  const m = Math.abs(value);
  let imm: number, sh: number;
  if (m <= 0xfff) [imm, sh] = [m, 0];
  else if ((m & 0xfff) === 0 && m <= 0xfff000) [imm, sh] = [m >>> 12, 1];
  else return false;
  a.put(sf(w) | (sub ? 0x51000000 : 0x11000000) | (sh << 22) | (imm << 10) | (rn << 5) | rd, `${sub ? 'sub' : 'add'} ${x(rd, w)}, ${x(rn, w)}, #0x${imm.toString(16)}${sh ? ', lsl #12' : ''}`);
  return true;
}

/** cmp rn, #imm / cmn rn, #imm when the value fits in 12 bits (either sign); false otherwise. */
export function cmpImmAny(a: A64, rn: number, value: number, w: 32 | 64): boolean {
  const neg = value < 0;
  const m = Math.abs(value);
  if (m > 0xfff) return false;
  a.put(sf(w) | (neg ? 0x3100001f : 0x7100001f) | (m << 10) | (rn << 5), `${neg ? 'cmn' : 'cmp'} ${x(rn, w)}, #0x${m.toString(16)}`);
  return true;
}

/** lsl/lsr/asr rd, rn, #n (UBFM/SBFM), 0 <= n < w. */
export function shiftImm(a: A64, op: 'lsl' | 'lsr' | 'asr', rd: number, rn: number, n: number, w: 32 | 64): void {
  const nbit = w === 64 ? 1 << 22 : 0;
  const base = sf(w) | nbit | (op === 'asr' ? 0x13000000 : 0x53000000);
  const [immr, imms] = op === 'lsl' ? [(w - n) % w, w - 1 - n] : [n, w - 1];
  // llvm prints lsl #0 (ubfm #0, #w-1) as lsr #0
  const name = op === 'lsl' && n === 0 ? 'lsr' : op;
  a.put(base | (immr << 16) | (imms << 10) | (rn << 5) | rd, `${name} ${x(rd, w)}, ${x(rn, w)}, #${n}`);
}

/** cbz/cbnz rt (at width w) to a byte offset. */
export function cbzW(a: A64, nonzero: boolean, rt: number, w: 32 | 64, target: number): void {
  a.put(sf(w) | (nonzero ? 0x35000000 : 0x34000000) | ((((target - a.offset) / 4) & 0x7ffff) << 5) | rt, `${nonzero ? 'cbnz' : 'cbz'} ${x(rt, w)}, ${rel(target - a.offset)}`);
}

/** ldr rt, <literal at byte offset target> (PC-relative, ±1 MiB). */
export function ldrLiteral(a: A64, rt: number, target: number): void {
  a.put(0x58000000 | ((((target - a.offset) / 4) & 0x7ffff) << 5) | rt, `ldr ${x(rt)}, ${rel(target - a.offset)}`);
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
