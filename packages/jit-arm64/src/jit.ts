/**
 * The arm64 JIT: a `Program` to AArch64 code with the register mapping of
 * shared/spec/stack-args.md §5 (BPF r0 in x8 so that x5..x7 carry arguments; r1..r5 in x0..x4;
 * r6..r9 in x19..x22; r10 in x25), AAPCS64 for kfuncs and BPF-to-BPF calls alike: arguments 6,
 * 7 and 8 in x5, x6, x7, arguments 9..12 at [sp], [sp+8], ... in the caller, read by the callee
 * at [fp+16], [fp+24], ... above its saved fp/lr pair.
 *
 * Every BPF instruction becomes a sequence whose length does not depend on jump distances
 * (conditional branches reach ±1 MiB), so two passes suffice: one to learn offsets, one to emit.
 */
import { analyseFrames, decodeOp, JitError, type AnalysedProgram, type Insn, type JitReloc, type JitResult, type Program } from '@bpf/isa';

/** BPF register -> AArch64 register. */
export const REG_MAP: readonly number[] = [8, 0, 1, 2, 3, 4, 19, 20, 21, 22, 25];
const TMP = 10; // offsets, constants
const TMP2 = 11; // addresses
const TMP3 = 12; // operands
const CALLREG = 9;
const FP = 29;
const LR = 30;
const SP = 31;
const ZR = 31;
const SAVED = [19, 20, 21, 22, 25] as const;
const MAY_GOTO_LOOPS = 8_388_608;


export interface Arm64Listed {
  readonly offset: number;
  readonly word: number;
  readonly text: string;
}

export interface Arm64JitResult extends JitResult {
  readonly listing: readonly Arm64Listed[];
}

const COND: Record<string, number> = { jeq: 0, jne: 1, jge: 2, jlt: 3, jgt: 8, jle: 9, jsge: 10, jslt: 11, jsgt: 12, jsle: 13, jset: 1 };
const COND_NAME = ['eq', 'ne', 'hs', 'lo', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le'];

class A64 {
  readonly words: number[] = [];
  readonly listing: Arm64Listed[] = [];
  get offset(): number {
    return this.words.length * 4;
  }
  put(word: number, text: string): void {
    this.listing.push({ offset: this.offset, word: word >>> 0, text });
    this.words.push(word >>> 0);
  }
}

const x = (r: number, w: 32 | 64 = 64): string => (r === 31 ? (w === 64 ? 'xzr' : 'wzr') : `${w === 64 ? 'x' : 'w'}${r}`);
const sf = (w: 32 | 64): number => (w === 64 ? 0x80000000 : 0);

/** Materialise a 64-bit constant (movz/movn + movk). */
function movImm(a: A64, rd: number, value: bigint, w: 32 | 64 = 64): void {
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

type RR = 'add' | 'sub' | 'and' | 'orr' | 'eor' | 'mul' | 'udiv' | 'sdiv' | 'lslv' | 'lsrv' | 'asrv';
const RR_BASE: Record<RR, number> = {
  add: 0x0b000000, sub: 0x4b000000, and: 0x0a000000, orr: 0x2a000000, eor: 0x4a000000,
  mul: 0x1b007c00, udiv: 0x1ac00800, sdiv: 0x1ac00c00, lslv: 0x1ac02000, lsrv: 0x1ac02400, asrv: 0x1ac02800,
};
/** llvm's preferred spellings (aliases) of these encodings. */
const ALIAS: Partial<Record<RR, string>> = { lslv: 'lsl', lsrv: 'lsr', asrv: 'asr' };
function rr(a: A64, op: RR, rd: number, rn: number, rm: number, w: 32 | 64): void {
  const text = op === 'sub' && rn === ZR ? `neg ${x(rd, w)}, ${x(rm, w)}` : `${ALIAS[op] ?? op} ${x(rd, w)}, ${x(rn, w)}, ${x(rm, w)}`;
  a.put(sf(w) | RR_BASE[op] | (rm << 16) | (rn << 5) | rd, text);
}
function mov(a: A64, rd: number, rm: number, w: 32 | 64): void {
  a.put(sf(w) | 0x2a0003e0 | (rm << 16) | rd, `mov ${x(rd, w)}, ${x(rm, w)}`);
}
/** add/sub with a 12-bit immediate (sp allowed as base/destination). */
function addImm(a: A64, rd: number, rn: number, imm: number, sub = false): void {
  const name = (r: number): string => (r === 31 ? 'sp' : x(r));
  a.put((sub ? 0xd1000000 : 0x91000000) | (imm << 10) | (rn << 5) | rd, `${sub ? 'sub' : 'add'} ${name(rd)}, ${name(rn)}, #0x${imm.toString(16)}`);
}

/** Loads and stores with a register offset: LDR/STR Rt, [Rn, TMP]. */
function ldst(a: A64, load: boolean, size: 1 | 2 | 4 | 8, signed: boolean, rt: number, rn: number): void {
  const sz = size === 1 ? 0 : size === 2 ? 1 : size === 4 ? 2 : 3;
  const opc = load ? (signed ? 2 : 1) : 0;
  const word = (sz << 30) | 0x38206800 | (opc << 22) | (TMP << 16) | (rn << 5) | rt;
  const mn = load ? (signed ? `ldrs${size === 1 ? 'b' : size === 2 ? 'h' : 'w'}` : `ldr${size === 1 ? 'b' : size === 2 ? 'h' : ''}`) : `str${size === 1 ? 'b' : size === 2 ? 'h' : ''}`;
  const treg = signed ? x(rt, 64) : x(rt, size === 8 ? 64 : 32);
  a.put(word, `${mn} ${treg}, [${rn === 31 ? 'sp' : x(rn)}, ${x(TMP)}]`);
}
function mem(a: A64, load: boolean, size: 1 | 2 | 4 | 8, signed: boolean, rt: number, base: number, off: number): void {
  movImm(a, TMP, BigInt(off));
  ldst(a, load, size, signed, rt, base);
}

function prologue(a: A64, depth: number, size: number, mayGoto: boolean): void {
  a.put(0xa9bf7bfd, 'stp x29, x30, [sp, #-0x10]!');
  a.put(0x910003fd, 'mov x29, sp');
  addImm(a, SP, SP, size, true);
  SAVED.forEach((r, k) => mem(a, false, 8, false, r, FP, -8 * (k + 1)));
  addImm(a, 25, FP, SAVED.length * 8, true); // BPF r10: just below the saved registers
  if (mayGoto) {
    movImm(a, TMP3, BigInt(MAY_GOTO_LOOPS));
    mem(a, false, 8, false, TMP3, FP, -SAVED.length * 8 - depth - 8);
  }
}

function epilogue(a: A64): void {
  SAVED.forEach((r, k) => mem(a, true, 8, false, r, FP, -8 * (k + 1)));
  mov(a, 0, 8, 64); // r0 (x8) is the AAPCS64 return value in x0
  a.put(0x910003bf, 'mov sp, x29');
  a.put(0xa8c17bfd, 'ldp x29, x30, [sp], #0x10');
  a.put(0xd65f03c0, 'ret');
}

/** An 8-byte literal the host patches, loaded into `rd`: ldr rd, #8; b #12; .quad 0. */
function literal(a: A64, rd: number): number {
  a.put(0x58000040 | rd, `ldr ${x(rd)}, #0x8`);
  a.put(0x14000003, 'b #0xc');
  const at = a.offset;
  a.put(0, '.word 0x00000000');
  a.put(0, '.word 0x00000000');
  return at;
}

export function jitArm64(program: Program): Arm64JitResult {
  const ap: AnalysedProgram = analyseFrames(program);
  const insns = ap.insns;
  const kfuncAt = new Map((ap.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => [r.insn, r.name]));
  const mapAt = new Map((ap.relocs ?? []).filter((r) => r.kind === 'map' || r.kind === 'map_value').map((r) => [r.insn, r]));
  let offsets = new Int32Array(insns.length + 1);
  let entries: number[] = [];
  for (let pass = 0; pass < 2; pass++) {
    const a = new A64();
    const relocs: JitReloc[] = [];
    const newOffsets = new Int32Array(insns.length + 1).fill(-1);
    const newEntries: number[] = [];
    for (const sp of ap.subprogs) {
      const depth = (sp.stackDepth + 15) & ~15;
      const outArea = Math.max(0, sp.outgoingStackArgs - 3) * 8; // args 6..8 travel in x5..x7
      const mayGoto = insns.slice(sp.start, sp.end).some((i) => i.code === 0xe5);
      const size = (SAVED.length * 8 + depth + 8 + outArea + 15) & ~15;
      const counterAt = -SAVED.length * 8 - depth - 8;
      newEntries.push(a.offset);
      prologue(a, depth, size, mayGoto);
      for (let pc = sp.start; pc < sp.end; pc++) {
        newOffsets[pc] = a.offset;
        lower(a, insns, pc, { offsets, entries, relocs, ap, kfuncAt, mapAt, counterAt });
        if (insns[pc]!.code === 0x18) pc++;
      }
    }
    newOffsets[insns.length] = a.offset;
    offsets = newOffsets;
    entries = newEntries;
    if (pass === 1) {
      const code = new Uint8Array(a.words.length * 4);
      const view = new DataView(code.buffer);
      a.words.forEach((w, k) => view.setUint32(k * 4, w, true));
      return { arch: 'arm64', code, entries, lineTable: Array.from(offsets.subarray(0, insns.length)), relocs, passes: 2, listing: a.listing };
    }
  }
  throw new Error('unreachable');
}

interface Ctx {
  readonly offsets: Int32Array;
  readonly entries: readonly number[];
  readonly relocs: JitReloc[];
  readonly ap: AnalysedProgram;
  readonly kfuncAt: ReadonlyMap<number, string>;
  readonly mapAt: ReadonlyMap<number, { readonly kind: string; readonly name: string; readonly offset?: number }>;
  readonly counterAt: number;
}

function branch(a: A64, cond: number | null, target: number): void {
  const rel = (target - a.offset) / 4;
  if (cond === null) a.put(0x14000000 | (rel & 0x3ffffff), `b #${rel < 0 ? '-' : ''}0x${Math.abs(rel * 4).toString(16)}`);
  else a.put(0x54000000 | ((rel & 0x7ffff) << 5) | cond, `b.${COND_NAME[cond]} #${rel < 0 ? '-' : ''}0x${Math.abs(rel * 4).toString(16)}`);
}

function lower(a: A64, insns: readonly Insn[], pc: number, c: Ctx): void {
  const i = insns[pc]!;
  const op = decodeOp(i);
  const d = REG_MAP[i.dst] ?? -1;
  const s = REG_MAP[i.src] ?? -1;
  const fail = (m: string): never => {
    throw new JitError('UNSUPPORTED', m, pc);
  };
  switch (op.kind) {
    case 'alu': {
      const w = op.is64 ? 64 : 32;
      let src = s;
      if (!op.useReg) {
        movImm(a, TMP3, op.is64 ? BigInt(i.imm) : BigInt(i.imm >>> 0), w);
        src = TMP3;
      }
      switch (op.op) {
        case 'mov':
          return mov(a, d, src, w);
        case 'movsx': {
          const imms = op.sxBits === 8 ? 7 : op.sxBits === 16 ? 15 : 31;
          a.put(w === 64 ? 0x93400000 | (imms << 10) | (s << 5) | d : 0x13000000 | (imms << 10) | (s << 5) | d, `sxt${op.sxBits === 8 ? 'b' : op.sxBits === 16 ? 'h' : 'w'} ${x(d, w)}, ${x(s, 32)}`);
          return;
        }
        case 'add': case 'sub': case 'and': case 'xor': case 'or': case 'mul':
          return rr(a, op.op === 'xor' ? 'eor' : op.op === 'or' ? 'orr' : op.op, d, d, src, w);
        case 'lsh': return rr(a, 'lslv', d, d, src, w);
        case 'rsh': return rr(a, 'lsrv', d, d, src, w);
        case 'arsh': return rr(a, 'asrv', d, d, src, w);
        case 'neg': return rr(a, 'sub', d, ZR, d, w);
        case 'div': return rr(a, 'udiv', d, d, src, w);
        case 'sdiv': return rr(a, 'sdiv', d, d, src, w);
        case 'mod':
        case 'smod': {
          // d - (d / s) * s: AArch64 gives 0 for x/0, so x%0 = x, and INT_MIN%-1 = 0
          rr(a, op.op === 'mod' ? 'udiv' : 'sdiv', TMP2, d, src, w);
          a.put(sf(w) | 0x1b008000 | (src << 16) | (d << 10) | (TMP2 << 5) | d, `msub ${x(d, w)}, ${x(TMP2, w)}, ${x(src, w)}, ${x(d, w)}`);
          return;
        }
        default:
          return fail('ALU operation');
      }
    }
    case 'endian':
      if (op.order === 'le') {
        if (op.bits === 16) a.put(0x53003c00 | (d << 5) | d, `uxth ${x(d, 32)}, ${x(d, 32)}`);
        else if (op.bits === 32) mov(a, d, d, 32);
        return;
      }
      if (op.bits === 16) {
        a.put(0x5ac00400 | (d << 5) | d, `rev16 ${x(d, 32)}, ${x(d, 32)}`);
        a.put(0x53003c00 | (d << 5) | d, `uxth ${x(d, 32)}, ${x(d, 32)}`);
      } else if (op.bits === 32) a.put(0x5ac00800 | (d << 5) | d, `rev ${x(d, 32)}, ${x(d, 32)}`);
      else a.put(0xdac00c00 | (d << 5) | d, `rev ${x(d)}, ${x(d)}`);
      return;
    case 'ldx':
      if (i.src === 11) {
        const k = i.off / 8; // argument 5 + k
        if (k <= 3) return mov(a, d, 4 + k, 64);
        return mem(a, true, 8, false, d, FP, 16 + (k - 4) * 8);
      }
      return mem(a, true, op.size, op.signed, d, s, i.off);
    case 'st':
    case 'stx': {
      let src = s;
      if (op.kind === 'st') {
        movImm(a, TMP3, BigInt(i.imm));
        src = TMP3;
      }
      if (i.dst === 11) {
        const k = -i.off / 8;
        if (k <= 3) return mov(a, 4 + k, src, 64);
        return mem(a, false, 8, false, src, SP, (k - 4) * 8);
      }
      return mem(a, false, op.size, false, src, d, i.off);
    }
    case 'atomic': {
      const w = op.size === 8 ? 64 : 32;
      movImm(a, TMP, BigInt(i.off));
      if (op.op === 'load_acquire' || op.op === 'store_release') {
        const base = op.op === 'load_acquire' ? s : d;
        rr(a, 'add', TMP2, base, TMP, 64);
        const sz = op.size === 1 ? 0 : op.size === 2 ? 1 : op.size === 4 ? 2 : 3;
        const rt = op.op === 'load_acquire' ? d : s;
        const mn = op.op === 'load_acquire' ? 'ldar' : 'stlr';
        const suffix = op.size === 1 ? 'b' : op.size === 2 ? 'h' : '';
        a.put((sz << 30) | (op.op === 'load_acquire' ? 0x08dffc00 : 0x089ffc00) | (TMP2 << 5) | rt, `${mn}${suffix} ${x(rt, op.size === 8 ? 64 : 32)}, [${x(TMP2)}]`);
        return;
      }
      rr(a, 'add', TMP2, d, TMP, 64);
      const size = w === 64 ? 0xc0000000 : 0x80000000;
      if (op.op === 'cmpxchg') {
        // casal: compares with and returns into the first register, BPF r0 (x8)
        a.put(size | 0x08e0fc00 | (8 << 16) | (TMP2 << 5) | s, `casal ${x(8, w)}, ${x(s, w)}, [${x(TMP2)}]`);
        if (w === 32) mov(a, 8, 8, 32);
        return;
      }
      let operand = s;
      if (op.op === 'and') {
        a.put(sf(w) | 0x2a2003e0 | (s << 16) | TMP3, `mvn ${x(TMP3, w)}, ${x(s, w)}`);
        operand = TMP3;
      }
      const rt = op.fetch || op.op === 'xchg' ? s : ZR;
      const base = { add: 0x38e00000, and: 0x38e01000, xor: 0x38e02000, or: 0x38e03000, xchg: 0x38e08000 }[op.op as 'add' | 'and' | 'xor' | 'or' | 'xchg'];
      const mn = { add: 'ldaddal', and: 'ldclral', xor: 'ldeoral', or: 'ldsetal', xchg: 'swpal' }[op.op as 'add' | 'and' | 'xor' | 'or' | 'xchg'];
      a.put(size | base | (operand << 16) | (TMP2 << 5) | rt, `${mn} ${x(operand, w)}, ${x(rt, w)}, [${x(TMP2)}]`);
      return;
    }
    case 'jmp': {
      const target = c.offsets[pc + i.off + 1] ?? 0;
      if (op.cond === 'ja') return branch(a, null, target);
      const w = op.is64 ? 64 : 32;
      let rhs = s;
      if (!op.useReg) {
        movImm(a, TMP3, op.is64 ? BigInt(i.imm) : BigInt(i.imm >>> 0), w);
        rhs = TMP3;
      }
      if (op.cond === 'jset') a.put(sf(w) | 0x6a00001f | (rhs << 16) | (d << 5), `tst ${x(d, w)}, ${x(rhs, w)}`);
      else a.put(sf(w) | 0x6b00001f | (rhs << 16) | (d << 5), `cmp ${x(d, w)}, ${x(rhs, w)}`);
      return branch(a, COND[op.cond]!, target);
    }
    case 'gotol':
      return branch(a, null, c.offsets[pc + i.imm + 1] ?? 0);
    case 'may_goto': {
      mem(a, true, 8, false, TMP3, FP, c.counterAt);
      a.put(0xb4000000 | ((((c.offsets[pc + i.off + 1] ?? 0) - a.offset) / 4) & 0x7ffff) << 5 | TMP3, `cbz ${x(TMP3)}, #target`);
      a.put(0xd1000400 | (TMP3 << 5) | TMP3, `sub ${x(TMP3)}, ${x(TMP3)}, #0x1`);
      mem(a, false, 8, false, TMP3, FP, c.counterAt);
      return;
    }
    case 'call': {
      if (op.target === 'subprog') {
        const start = pc + i.imm + 1;
        const k = c.ap.subprogs.findIndex((sp) => sp.start === start);
        if (k < 0) throw new JitError('BAD_PROGRAM', `call to ${start}, which starts no subprogram`, pc);
        const rel = ((c.entries[k] ?? 0) - a.offset) / 4;
        a.put(0x94000000 | (rel & 0x3ffffff), `bl #${rel < 0 ? '-' : ''}0x${Math.abs(rel * 4).toString(16)}`);
      } else {
        const symbol =
          op.target === 'helper'
            ? ({ kind: 'helper', id: i.imm } as const)
            : ({ kind: 'kfunc', name: c.kfuncAt.get(pc) ?? `btf#${i.imm}` } as const);
        c.relocs.push({ offset: literal(a, CALLREG), kind: 'abs64', symbol });
        a.put(0xd63f0000 | (CALLREG << 5), `blr ${x(CALLREG)}`);
      }
      mov(a, 8, 0, 64); // the return value comes back in x0
      return;
    }
    case 'exit':
      return epilogue(a);
    case 'ld_imm64': {
      const hi = insns[pc + 1]!;
      if (op.pseudo === 0) return movImm(a, d, (BigInt(hi.imm >>> 0) << 32n) | BigInt(i.imm >>> 0));
      if (op.pseudo === 1 || op.pseudo === 2 || op.pseudo === 5 || op.pseudo === 6) {
        const r = c.mapAt.get(pc);
        const name = r?.name ?? `map#${i.imm}`;
        const symbol = op.pseudo === 2 || op.pseudo === 6 ? ({ kind: 'map_value', name, offset: r?.offset ?? hi.imm } as const) : ({ kind: 'map', name } as const);
        c.relocs.push({ offset: literal(a, d), kind: 'abs64', symbol });
        return;
      }
      return fail(`ld_imm64 with pseudo source ${op.pseudo}`);
    }
    default:
      return fail(`${op.kind} is not supported by the arm64 JIT yet`);
  }
}

export { LR };
