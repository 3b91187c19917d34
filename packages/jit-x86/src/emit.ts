/**
 * A small x86-64 assembler for the instructions the JIT needs. Every emitted instruction also
 * records its text in Intel syntax (as `llvm-mc-19 --disassemble --output-asm-variant=1`
 * prints it), so the JIT's listing needs no separate disassembler; tests check the text
 * against llvm-mc's disassembly of the same bytes.
 */

/** x86-64 register numbers. */
export const X = {
  rax: 0, rcx: 1, rdx: 2, rbx: 3, rsp: 4, rbp: 5, rsi: 6, rdi: 7,
  r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15,
} as const;

const NAMES64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const NAMES32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d'];
const NAMES16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di', 'r8w', 'r9w', 'r10w', 'r11w', 'r12w', 'r13w', 'r14w', 'r15w'];
const NAMES8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil', 'r8b', 'r9b', 'r10b', 'r11b', 'r12b', 'r13b', 'r14b', 'r15b'];

export type Width = 8 | 16 | 32 | 64;
export const regName = (r: number, w: Width): string => (w === 64 ? NAMES64 : w === 32 ? NAMES32 : w === 16 ? NAMES16 : NAMES8)[r]!;
const PTR: Record<Width, string> = { 8: 'byte', 16: 'word', 32: 'dword', 64: 'qword' };

const hexImm = (n: number | bigint): string => {
  const v = BigInt(n);
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
};

export interface Listed {
  readonly offset: number;
  readonly bytes: number[];
  readonly text: string;
}

/** Condition codes (the low nibble of Jcc / SETcc). */
export const CC = { o: 0, b: 2, ae: 3, e: 4, ne: 5, be: 6, a: 7, s: 8, l: 0xc, ge: 0xd, le: 0xe, g: 0xf } as const;
export type Cond = keyof typeof CC;

export class Asm {
  readonly bytes: number[] = [];
  readonly listing: Listed[] = [];

  get offset(): number {
    return this.bytes.length;
  }

  private put(text: string, ...b: number[]): void {
    this.listing.push({ offset: this.bytes.length, bytes: b, text });
    this.bytes.push(...b);
  }

  /** REX prefix (omitted when not needed, unless `force` for byte registers sil/dil/...). */
  private rex(w: boolean, reg: number, index: number, base: number, force = false): number[] {
    const v = 0x40 | (w ? 8 : 0) | ((reg & 8) >> 1) | ((index & 8) >> 2) | ((base & 8) >> 3);
    return v !== 0x40 || force ? [v] : [];
  }

  /** ModRM (+SIB, +disp) for [base + disp]. */
  private memOperand(reg: number, base: number, disp: number): number[] {
    const out: number[] = [];
    const r = (reg & 7) << 3;
    const b = base & 7;
    const mod = disp === 0 && b !== 5 ? 0 : disp >= -128 && disp <= 127 ? 1 : 2;
    out.push((mod << 6) | r | b);
    if (b === 4) out.push(0x24);
    if (mod === 1) out.push(disp & 0xff);
    if (mod === 2) out.push(disp & 0xff, (disp >> 8) & 0xff, (disp >> 16) & 0xff, (disp >>> 24) & 0xff);
    return out;
  }

  private memText(base: number, disp: number): string {
    return disp === 0 ? `[${NAMES64[base]}]` : `[${NAMES64[base]} ${disp < 0 ? '-' : '+'} ${hexImm(Math.abs(disp))}]`;
  }

  private imm32(v: number): number[] {
    return [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
  }

  /** op r/m, r (register-register form: add/sub/and/or/xor/mov/cmp/test). */
  rr(mnemonic: 'add' | 'sub' | 'and' | 'or' | 'xor' | 'mov' | 'cmp' | 'test', dst: number, src: number, w: 32 | 64): void {
    const op = { add: 0x01, sub: 0x29, and: 0x21, or: 0x09, xor: 0x31, mov: 0x89, cmp: 0x39, test: 0x85 }[mnemonic];
    this.put(`${mnemonic} ${regName(dst, w)}, ${regName(src, w)}`, ...this.rex(w === 64, src, 0, dst), op, 0xc0 | ((src & 7) << 3) | (dst & 7));
  }

  /** op r/m, imm32 (sign-extended for 64-bit): add/or/and/sub/xor/cmp. */
  ri(mnemonic: 'add' | 'or' | 'and' | 'sub' | 'xor' | 'cmp', dst: number, imm: number, w: 32 | 64): void {
    const ext = { add: 0, or: 1, and: 4, sub: 5, xor: 6, cmp: 7 }[mnemonic];
    const small = imm >= -128 && imm <= 127;
    const shown = w === 32 && imm < 0 && mnemonic !== 'cmp' && !small ? imm >>> 0 : imm;
    const text = `${mnemonic} ${regName(dst, w)}, ${hexImm(w === 32 && imm < 0 && !small ? imm >>> 0 : shown)}`;
    if (small) this.put(text, ...this.rex(w === 64, 0, 0, dst), 0x83, 0xc0 | (ext << 3) | (dst & 7), imm & 0xff);
    else this.put(text, ...this.rex(w === 64, 0, 0, dst), 0x81, 0xc0 | (ext << 3) | (dst & 7), ...this.imm32(imm));
  }

  /** test r/m, imm32 */
  testImm(dst: number, imm: number, w: 32 | 64): void {
    this.put(`test ${regName(dst, w)}, ${hexImm(w === 32 ? imm >>> 0 : imm)}`, ...this.rex(w === 64, 0, 0, dst), 0xf7, 0xc0 | (dst & 7), ...this.imm32(imm));
  }

  /** mov reg, imm: the shortest form for the value (zero-extending 32-bit, sign-extended imm32, or movabs). */
  movImm(dst: number, value: bigint, w: 32 | 64): void {
    const v = BigInt.asUintN(w, value);
    if (w === 32 || v <= 0xffffffffn) {
      if (v === 0n) return this.rr('xor', dst, dst, 32);
      this.put(`mov ${regName(dst, 32)}, ${hexImm(v)}`, ...this.rex(false, 0, 0, dst), 0xb8 + (dst & 7), ...this.imm32(Number(v)));
      return;
    }
    const s = BigInt.asIntN(64, v);
    if (s >= -0x80000000n && s < 0) {
      this.put(`mov ${regName(dst, 64)}, ${hexImm(s)}`, ...this.rex(true, 0, 0, dst), 0xc7, 0xc0 | (dst & 7), ...this.imm32(Number(s)));
      return;
    }
    this.movabs(dst, v);
  }

  /** movabs reg, imm64; returns the offset of the 8-byte immediate (for relocations). */
  movabs(dst: number, v: bigint): number {
    const b: number[] = [];
    for (let k = 0; k < 8; k++) b.push(Number((v >> BigInt(8 * k)) & 0xffn));
    const at = this.bytes.length + 2;
    this.put(`movabs ${regName(dst, 64)}, ${hexImm(BigInt.asIntN(64, v))}`, ...this.rex(true, 0, 0, dst), 0xb8 + (dst & 7), ...b);
    return at;
  }

  /** Unary group 3: not /2, neg /3, mul /4, div /6, idiv /7. */
  unary(mnemonic: 'neg' | 'div' | 'idiv', r: number, w: 32 | 64): void {
    const ext = { neg: 3, div: 6, idiv: 7 }[mnemonic];
    this.put(`${mnemonic} ${regName(r, w)}`, ...this.rex(w === 64, 0, 0, r), 0xf7, 0xc0 | (ext << 3) | (r & 7));
  }

  imul(dst: number, src: number, w: 32 | 64): void {
    this.put(`imul ${regName(dst, w)}, ${regName(src, w)}`, ...this.rex(w === 64, dst, 0, src), 0x0f, 0xaf, 0xc0 | ((dst & 7) << 3) | (src & 7));
  }

  imulImm(dst: number, imm: number, w: 32 | 64): void {
    const text = `imul ${regName(dst, w)}, ${regName(dst, w)}, ${hexImm(w === 32 && imm < 0 && (imm < -128) ? imm >>> 0 : imm)}`;
    if (imm >= -128 && imm <= 127) this.put(text, ...this.rex(w === 64, dst, 0, dst), 0x6b, 0xc0 | ((dst & 7) << 3) | (dst & 7), imm & 0xff);
    else this.put(text, ...this.rex(w === 64, dst, 0, dst), 0x69, 0xc0 | ((dst & 7) << 3) | (dst & 7), ...this.imm32(imm));
  }

  /** shl /4, shr /5, sar /7 by CL or by an immediate. */
  shift(mnemonic: 'shl' | 'shr' | 'sar', r: number, amount: number | 'cl', w: 32 | 64): void {
    const ext = { shl: 4, shr: 5, sar: 7 }[mnemonic];
    if (amount === 'cl') this.put(`${mnemonic} ${regName(r, w)}, cl`, ...this.rex(w === 64, 0, 0, r), 0xd3, 0xc0 | (ext << 3) | (r & 7));
    else if (amount === 1) this.put(`${mnemonic} ${regName(r, w)}`, ...this.rex(w === 64, 0, 0, r), 0xd1, 0xc0 | (ext << 3) | (r & 7));
    else this.put(`${mnemonic} ${regName(r, w)}, ${hexImm(amount)}`, ...this.rex(w === 64, 0, 0, r), 0xc1, 0xc0 | (ext << 3) | (r & 7), amount);
  }

  /** BMI2 shlx / shrx / sarx dst, src, count (VEX-encoded, flags untouched; 32-bit forms zero-extend). */
  shiftx(mnemonic: 'shlx' | 'shrx' | 'sarx', dst: number, src: number, count: number, w: 32 | 64): void {
    const pp = { shlx: 1, sarx: 2, shrx: 3 }[mnemonic];
    const b1 = ((~dst & 8) << 4) | 0x40 | ((~src & 8) << 2) | 0x02;
    const b2 = (w === 64 ? 0x80 : 0) | ((~count & 15) << 3) | pp;
    this.put(`${mnemonic} ${regName(dst, w)}, ${regName(src, w)}, ${regName(count, w)}`, 0xc4, b1, b2, 0xf7, 0xc0 | ((dst & 7) << 3) | (src & 7));
  }

  cqo(w: 32 | 64): void {
    if (w === 64) this.put('cqo', 0x48, 0x99);
    else this.put('cdq', 0x99);
  }

  /** movsx / movzx / movsxd register-register. */
  extend(kind: 'movsx' | 'movzx' | 'movsxd', dst: number, src: number, from: 8 | 16 | 32, to: 32 | 64): void {
    if (kind === 'movsxd') {
      this.put(`movsxd ${regName(dst, 64)}, ${regName(src, 32)}`, ...this.rex(true, dst, 0, src), 0x63, 0xc0 | ((dst & 7) << 3) | (src & 7));
      return;
    }
    const op = kind === 'movzx' ? (from === 8 ? 0xb6 : 0xb7) : from === 8 ? 0xbe : 0xbf;
    this.put(`${kind} ${regName(dst, to)}, ${regName(src, from)}`, ...this.rex(to === 64, dst, 0, src, from === 8 && src >= 4), 0x0f, op, 0xc0 | ((dst & 7) << 3) | (src & 7));
  }

  bswap(r: number, w: 32 | 64): void {
    this.put(`bswap ${regName(r, w)}`, ...this.rex(w === 64, 0, 0, r), 0x0f, 0xc8 + (r & 7));
  }

  /** rol r16, 8 (swap the two low bytes). */
  rol16by8(r: number): void {
    this.put(`rol ${regName(r, 16)}, 0x8`, 0x66, ...this.rex(false, 0, 0, r), 0xc1, 0xc0 | (r & 7), 8);
  }

  /** Loads: mov / movzx / movsx / movsxd reg, [base + disp]. */
  load(dst: number, base: number, disp: number, size: 1 | 2 | 4 | 8, signed: boolean): void {
    const m = this.memOperand(dst, base, disp);
    const mt = `${PTR[(size * 8) as Width]} ptr ${this.memText(base, disp)}`;
    if (size === 8) return this.put(`mov ${regName(dst, 64)}, ${mt}`, ...this.rex(true, dst, 0, base), 0x8b, ...m);
    if (size === 4) {
      if (signed) return this.put(`movsxd ${regName(dst, 64)}, ${mt}`, ...this.rex(true, dst, 0, base), 0x63, ...m);
      return this.put(`mov ${regName(dst, 32)}, ${mt}`, ...this.rex(false, dst, 0, base), 0x8b, ...m);
    }
    const op = signed ? (size === 1 ? 0xbe : 0xbf) : size === 1 ? 0xb6 : 0xb7;
    const to: 32 | 64 = signed ? 64 : 32;
    this.put(`${signed ? 'movsx' : 'movzx'} ${regName(dst, to)}, ${mt}`, ...this.rex(to === 64, dst, 0, base), 0x0f, op, ...m);
  }

  /** Stores of a register: mov [base + disp], reg. */
  store(base: number, disp: number, src: number, size: 1 | 2 | 4 | 8): void {
    const m = this.memOperand(src, base, disp);
    const w = (size * 8) as Width;
    const text = `mov ${PTR[w]} ptr ${this.memText(base, disp)}, ${regName(src, w)}`;
    if (size === 1) this.put(text, ...this.rex(false, src, 0, base, src >= 4), 0x88, ...m);
    else if (size === 2) this.put(text, 0x66, ...this.rex(false, src, 0, base), 0x89, ...m);
    else this.put(text, ...this.rex(size === 8, src, 0, base), 0x89, ...m);
  }

  /** Stores of an immediate: mov [base + disp], imm (sign-extended imm32 for qwords). */
  storeImm(base: number, disp: number, imm: number, size: 1 | 2 | 4 | 8): void {
    const m = this.memOperand(0, base, disp);
    const w = (size * 8) as Width;
    // llvm shows the immediate as a signed value of the operand's width
    const shown = size === 1 ? (imm << 24) >> 24 : size === 2 ? (imm << 16) >> 16 : imm | 0;
    const text = `mov ${PTR[w]} ptr ${this.memText(base, disp)}, ${hexImm(shown)}`;
    if (size === 1) this.put(text, ...this.rex(false, 0, 0, base), 0xc6, ...m, imm & 0xff);
    else if (size === 2) this.put(text, 0x66, ...this.rex(false, 0, 0, base), 0xc7, ...m, imm & 0xff, (imm >> 8) & 0xff);
    else this.put(text, ...this.rex(size === 8, 0, 0, base), 0xc7, ...m, ...this.imm32(imm));
  }

  lea(dst: number, base: number, disp: number): void {
    this.put(`lea ${regName(dst, 64)}, ${this.memText(base, disp)}`, ...this.rex(true, dst, 0, base), 0x8d, ...this.memOperand(dst, base, disp));
  }

  /** lock add/or/and/xor [base + disp], src */
  lockAlu(mnemonic: 'add' | 'or' | 'and' | 'xor', base: number, disp: number, src: number, w: 32 | 64): void {
    const op = { add: 0x01, or: 0x09, and: 0x21, xor: 0x31 }[mnemonic];
    this.put(`lock ${mnemonic} ${PTR[w]} ptr ${this.memText(base, disp)}, ${regName(src, w)}`, 0xf0, ...this.rex(w === 64, src, 0, base), op, ...this.memOperand(src, base, disp));
  }

  /** lock xadd / xchg / lock cmpxchg [base + disp], src */
  lockOp(mnemonic: 'xadd' | 'xchg' | 'cmpxchg', base: number, disp: number, src: number, w: 32 | 64): void {
    const m = this.memOperand(src, base, disp);
    const t = `${PTR[w]} ptr ${this.memText(base, disp)}, ${regName(src, w)}`;
    if (mnemonic === 'xchg') this.put(`xchg ${t}`, ...this.rex(w === 64, src, 0, base), 0x87, ...m);
    else this.put(`lock ${mnemonic} ${t}`, 0xf0, ...this.rex(w === 64, src, 0, base), 0x0f, mnemonic === 'xadd' ? 0xc1 : 0xb1, ...m);
  }

  /** cmp r32/r64, [base + disp] */
  cmpMem(r: number, base: number, disp: number, w: 32 | 64): void {
    this.put(`cmp ${regName(r, w)}, ${PTR[w]} ptr ${this.memText(base, disp)}`, ...this.rex(w === 64, r, 0, base), 0x3b, ...this.memOperand(r, base, disp));
  }

  /** add/cmp qword ptr [base + disp], imm8 */
  memImm8(mnemonic: 'add' | 'cmp', base: number, disp: number, imm: number): void {
    const ext = mnemonic === 'add' ? 0 : 7;
    this.put(`${mnemonic} qword ptr ${this.memText(base, disp)}, ${hexImm(imm)}`, ...this.rex(true, 0, 0, base), 0x83, ...this.memOperand(ext, base, disp), imm & 0xff);
  }

  /** mov r64, qword ptr [base + 8*index + disp8] */
  loadIndexed(dst: number, base: number, index: number, disp: number): void {
    if (disp < -128 || disp > 127 || (index & 7) === 4 || (base & 7) === 5) throw new Error('internal: loadIndexed supports disp8 and no rsp index / rbp base');
    this.put(
      `mov ${regName(dst, 64)}, qword ptr [${NAMES64[base]} + 8*${NAMES64[index]}${disp === 0 ? '' : ` ${disp < 0 ? '-' : '+'} ${hexImm(Math.abs(disp))}`}]`,
      ...this.rex(true, dst, index, base),
      0x8b,
      0x44 | ((dst & 7) << 3),
      0xc0 | ((index & 7) << 3) | (base & 7),
      disp & 0xff,
    );
  }

  /** lea r64, [rip + rel] where rel counts from the end of this 7-byte instruction. */
  leaRip(dst: number, target: number): void {
    const rel = target - (this.bytes.length + 7);
    this.put(`lea ${regName(dst, 64)}, [rip ${rel < 0 ? '-' : '+'} ${hexImm(Math.abs(rel))}]`, ...this.rex(true, dst, 0, 0), 0x8d, 0x05 | ((dst & 7) << 3), ...this.imm32(rel));
  }

  /** The 2-byte nop (66 90). */
  nop2(): void {
    this.put('nop', 0x66, 0x90);
  }

  jmpReg(r: number): void {
    this.put(`jmp ${NAMES64[r]}`, ...this.rex(false, 0, 0, r), 0xff, 0xe0 | (r & 7));
  }

  push(r: number): void {
    this.put(`push ${NAMES64[r]}`, ...this.rex(false, 0, 0, r), 0x50 + (r & 7));
  }

  pop(r: number): void {
    this.put(`pop ${NAMES64[r]}`, ...this.rex(false, 0, 0, r), 0x58 + (r & 7));
  }

  ret(): void {
    this.put('ret', 0xc3);
  }

  /** The undefined instruction: a trap where execution must not arrive. */
  ud2(): void {
    this.put('ud2', 0x0f, 0x0b);
  }

  leave(): void {
    this.put('leave', 0xc9);
  }

  callReg(r: number): void {
    this.put(`call ${NAMES64[r]}`, ...this.rex(false, 0, 0, r), 0xff, 0xd0 | (r & 7));
  }

  /** call rel32 to an absolute code offset (patched by the caller when not yet known). */
  callRel(target: number): void {
    const rel = target - (this.bytes.length + 5);
    this.put(`call ${hexImm(rel)}`, 0xe8, ...this.imm32(rel));
  }

  /** Point the short jump emitted at `at` (by {@link jump} with near=false) to `target`. */
  patchShort(at: number, target: number): void {
    const rel = target - (at + 2);
    if (rel < -128 || rel > 127) throw new Error(`internal: short jump at ${at} cannot reach ${target}`);
    this.bytes[at + 1] = rel & 0xff;
    const l = this.listing.find((x) => x.offset === at)!;
    (l as { text: string }).text = l.text.replace(/ \S+$/, ` ${hexImm(rel)}`);
    (l as { bytes: number[] }).bytes = [l.bytes[0]!, rel & 0xff];
  }

  /** jmp / jcc to an absolute code offset, short or near. */
  jump(cond: Cond | null, target: number, near: boolean): void {
    const len = cond === null ? (near ? 5 : 2) : near ? 6 : 2;
    const rel = target - (this.bytes.length + len);
    const text = `${cond === null ? 'jmp' : `j${cond}`} ${hexImm(rel)}`;
    if (!near) this.put(text, cond === null ? 0xeb : 0x70 | CC[cond], rel & 0xff);
    else if (cond === null) this.put(text, 0xe9, ...this.imm32(rel));
    else this.put(text, 0x0f, 0x80 | CC[cond], ...this.imm32(rel));
  }
}
