/**
 * The arm64 JIT: a `Program` to AArch64 code with the register mapping of
 * apps/docs/stack-args.md §5.2 (BPF r0 in x8 so that x5..x7 carry arguments; r1..r5 in x0..x4;
 * r6..r9 in x19..x22; r10 in x25), AAPCS64 for kfuncs and BPF-to-BPF calls alike: arguments 6,
 * 7 and 8 in x5, x6, x7, arguments 9..12 at [sp], [sp+8], ... in the caller, read by the callee
 * at [fp+16], [fp+24], ... above its saved fp/lr pair.
 *
 * Frames, tail calls and legacy packet loads: ./frame.ts. Function pointers (ld_imm64 src=4,
 * bpf_loop callbacks) are `adr` of the subprogram's entry: a helper calls it as an AAPCS64
 * function.
 *
 * Every BPF instruction becomes a sequence whose length does not depend on jump distances
 * (conditional branches reach ±1 MiB), so two passes suffice: one to learn offsets, one to emit.
 */
import { analyseFrames, decodeOp, JitError, type AnalysedProgram, type Insn, type JitReloc, type JitResult, type Program } from '@bpf/isa';

import {
  A64, addSubImm, adr, bl, blr, branch, cbz, cbzW, cmp, cmpImmAny, logicalImmOp, shiftImm, CALLREG, FP, ldrLiteral, mem, mov, movImm, rr, sf, SP, TMP, TMP2, TMP3, x, ZR, type Arm64Listed,
} from './a64.js';
import { epilogue, frameOf, ldAbs, prologue, REG_MAP, tailCall, type Frame } from './frame.js';

export { REG_MAP, LD_ABS_HELPERS, PROG_ARRAY_ENTRIES, TAIL_CALL_OFFSET } from './frame.js';
export type { Arm64Listed } from './a64.js';

/** bpf_tail_call's helper id. */
const TAIL_CALL = 12;
/** The kfunc that throws (kernel/bpf/helpers.c). */
export const BPF_THROW = 'bpf_throw';

export interface Arm64JitResult extends JitResult {
  readonly listing: readonly Arm64Listed[];
}

const LOGICAL = { and: 'and', or: 'orr', xor: 'eor' } as const;
const SHIFT = { lsh: 'lsl', rsh: 'lsr', arsh: 'asr' } as const;

const COND: Record<string, number> = { jeq: 0, jne: 1, jge: 2, jlt: 3, jgt: 8, jle: 9, jsge: 10, jslt: 11, jsgt: 12, jsle: 13, jset: 1 };

export function jitArm64(program: Program): Arm64JitResult {
  const ap: AnalysedProgram = analyseFrames(program);
  const insns = ap.insns;
  const kfuncAt = new Map((ap.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => [r.insn, r.name]));
  const mapAt = new Map((ap.relocs ?? []).filter((r) => r.kind === 'map' || r.kind === 'map_value').map((r) => [r.insn, r]));
  // the verifier's seen_exception: a bpf_throw it kept makes the main function the boundary
  const throws = [...kfuncAt.values()].includes(BPF_THROW);
  const exceptionCallback = ap.subprogs.findIndex((sp) => sp.exceptionCallback === true);
  if (exceptionCallback === 0) throw new JitError('BAD_PROGRAM', 'the main function cannot be the exception callback', 0);
  const frames = ap.subprogs.map((sp, k) =>
    frameOf(insns, sp, { isMain: k === 0, boundary: k === 0 && throws, exceptionCb: k === exceptionCallback }, program.subprogs?.[k]?.stackDepth !== undefined),
  );
  let offsets = new Int32Array(insns.length + 1);
  let entries: number[] = [];
  // where each function's shared epilogue and r0 = 0 exit are, and the literal pool (last pass)
  let exits: { epilogue: number; zeroExit: number }[] = [];
  let poolAt = 0;
  for (let pass = 0; pass < 2; pass++) {
    const a = new A64();
    const relocs: JitReloc[] = [];
    const pool = new LiteralPool(poolAt, relocs);
    const newOffsets = new Int32Array(insns.length + 1).fill(-1);
    const newEntries: number[] = [];
    const newExits: typeof exits = [];
    for (const [k, sp] of ap.subprogs.entries()) {
      const f = frames[k]!;
      newEntries.push(a.offset);
      prologue(a, f);
      const ex = exits[k] ?? { epilogue: 0, zeroExit: 0 };
      let ldAbsUsed = false;
      for (let pc = sp.start; pc < sp.end; pc++) {
        newOffsets[pc] = a.offset;
        const i = insns[pc]!;
        // the last exit falls into the epilogue; the others branch to it
        if (i.code === 0x95 && pc === sp.end - 1) continue;
        if ((i.code & 0x07) === 0 && (i.code & 0xe0) !== 0) ldAbsUsed = true;
        lower(a, insns, pc, { offsets, entries, pool, ap, kfuncAt, mapAt, f, exits: ex });
        if (i.code === 0x18) pc++;
      }
      const epi = a.offset;
      epilogue(a, f);
      let zeroExit = 0;
      if (ldAbsUsed) {
        zeroExit = a.offset;
        mov(a, 8, ZR, 64);
        branch(a, null, epi);
      }
      newExits.push({ epilogue: epi, zeroExit });
    }
    newOffsets[insns.length] = a.offset;
    pool.emit(a);
    poolAt = pool.start;
    offsets = newOffsets;
    entries = newEntries;
    exits = newExits;
    if (pass === 1) {
      const code = new Uint8Array(a.words.length * 4);
      const view = new DataView(code.buffer);
      a.words.forEach((w, k) => view.setUint32(k * 4, w, true));
      return {
        arch: 'arm64',
        code,
        entries,
        lineTable: Array.from(offsets.subarray(0, insns.length)),
        relocs,
        passes: 2,
        listing: a.listing,
        ...(throws && exceptionCallback > 0 ? { exceptionCallback } : {}),
      };
    }
  }
  throw new Error('unreachable');
}

/**
 * 8-byte literals (helper, kfunc and map addresses the host patches) after the code, one per
 * symbol however often it is used, each loaded with one PC-relative `ldr`.
 */
class LiteralPool {
  private readonly keys: string[] = [];
  start = 0;
  constructor(
    /** Where the pool starts (from the previous pass: lengths never change between passes). */
    private readonly at: number,
    private readonly relocs: JitReloc[],
  ) {}
  load(a: A64, rd: number, symbol: JitReloc['symbol']): void {
    const key = JSON.stringify(symbol);
    let k = this.keys.indexOf(key);
    if (k < 0) {
      k = this.keys.push(key) - 1;
      this.relocs.push({ offset: this.at + 8 * k, kind: 'abs64', symbol });
    }
    ldrLiteral(a, rd, this.at + 8 * k);
  }
  emit(a: A64): void {
    if (!this.keys.length) return;
    if (a.offset % 8) a.put(0xd503201f, 'nop');
    this.start = a.offset;
    for (let k = 0; k < this.keys.length * 2; k++) a.put(0, '.word 0x00000000');
  }
}

interface Ctx {
  readonly offsets: Int32Array;
  readonly entries: readonly number[];
  readonly pool: LiteralPool;
  /** The function's shared epilogue and its `r0 = 0; b epilogue` exit (ld_abs failures). */
  readonly exits: { readonly epilogue: number; readonly zeroExit: number };
  readonly ap: AnalysedProgram;
  readonly kfuncAt: ReadonlyMap<number, string>;
  readonly mapAt: ReadonlyMap<number, { readonly kind: string; readonly name: string; readonly offset?: number }>;
  readonly f: Frame;
}

/** The base register and offset of a load or store through BPF register `r`: sp-relative for r10 when x25 is not set up. */
function stackBase(r: number, off: number, f: Frame): [number, number] {
  return r === 10 && !f.usesR10 ? [SP, off + f.rest] : [REG_MAP[r]!, off];
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
        // immediates straight into the instruction (or the destination) where they fit
        const value = op.is64 ? BigInt(i.imm) : BigInt(i.imm >>> 0);
        if (op.op === 'mov') return movImm(a, d, value, w);
        if ((op.op === 'add' || op.op === 'sub') && addSubImm(a, d, d, op.op === 'add' ? i.imm : -i.imm, w)) return;
        if ((op.op === 'and' || op.op === 'or' || op.op === 'xor') && logicalImmOp(a, LOGICAL[op.op], d, d, value, w)) return;
        if (op.op === 'lsh' || op.op === 'rsh' || op.op === 'arsh') return shiftImm(a, SHIFT[op.op], d, d, i.imm & (w - 1), w);
        movImm(a, TMP3, value, w);
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
      return mem(a, true, op.size, op.signed, d, ...stackBase(i.src, i.off, c.f));
    case 'st':
    case 'stx': {
      let src = s;
      if (i.dst === 11 && -i.off / 8 <= 3 && op.kind === 'st') return movImm(a, 4 - i.off / 8, BigInt(i.imm)); // straight into x5..x7
      if (op.kind === 'st') {
        // zero from the zero register
        if (i.imm === 0) src = ZR;
        else {
          movImm(a, TMP3, BigInt(i.imm));
          src = TMP3;
        }
      }
      if (i.dst === 11) {
        const k = -i.off / 8;
        if (k <= 3) return mov(a, 4 + k, src, 64);
        return mem(a, false, 8, false, src, SP, (k - 4) * 8);
      }
      return mem(a, false, op.size, false, src, ...stackBase(i.dst, i.off, c.f));
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
        const value = op.is64 ? BigInt(i.imm) : BigInt(i.imm >>> 0);
        if (i.imm === 0 && (op.cond === 'jeq' || op.cond === 'jne')) return cbzW(a, op.cond === 'jne', d, w, target);
        if (op.cond === 'jset' ? logicalImmOp(a, 'tst', ZR, d, value, w) : cmpImmAny(a, d, op.is64 ? i.imm : i.imm | 0, w)) return branch(a, COND[op.cond]!, target);
        movImm(a, TMP3, value, w);
        rhs = TMP3;
      }
      if (op.cond === 'jset') a.put(sf(w) | 0x6a00001f | (rhs << 16) | (d << 5), `tst ${x(d, w)}, ${x(rhs, w)}`);
      else cmp(a, d, rhs, w);
      return branch(a, COND[op.cond]!, target);
    }
    case 'gotol':
      return branch(a, null, c.offsets[pc + i.imm + 1] ?? 0);
    case 'may_goto': {
      mem(a, true, 8, false, TMP3, FP, c.f.counterAt);
      cbz(a, TMP3, c.offsets[pc + i.off + 1] ?? 0);
      a.put(0xd1000400 | (TMP3 << 5) | TMP3, `sub ${x(TMP3)}, ${x(TMP3)}, #0x1`);
      mem(a, false, 8, false, TMP3, FP, c.f.counterAt);
      return;
    }
    case 'call': {
      if (op.target === 'subprog') {
        const start = pc + i.imm + 1;
        const k = c.ap.subprogs.findIndex((sp) => sp.start === start);
        if (k < 0) throw new JitError('BAD_PROGRAM', `call to ${start}, which starts no subprogram`, pc);
        bl(a, c.entries[k] ?? 0);
      } else if (op.target === 'helper' && i.imm === TAIL_CALL) {
        return tailCall(a, c.f);
      } else {
        const symbol =
          op.target === 'helper'
            ? ({ kind: 'helper', id: i.imm } as const)
            : ({ kind: 'kfunc', name: c.kfuncAt.get(pc) ?? `btf#${i.imm}` } as const);
        c.pool.load(a, CALLREG, symbol);
        blr(a, CALLREG);
      }
      mov(a, 8, 0, 64); // the return value comes back in x0
      return;
    }
    case 'exit':
      return branch(a, null, c.exits.epilogue);
    case 'ld_imm64': {
      const hi = insns[pc + 1]!;
      if (op.pseudo === 0) return movImm(a, d, (BigInt(hi.imm >>> 0) << 32n) | BigInt(i.imm >>> 0));
      if (op.pseudo === 1 || op.pseudo === 2 || op.pseudo === 5 || op.pseudo === 6) {
        const r = c.mapAt.get(pc);
        const name = r?.name ?? `map#${i.imm}`;
        const symbol = op.pseudo === 2 || op.pseudo === 6 ? ({ kind: 'map_value', name, offset: r?.offset ?? hi.imm } as const) : ({ kind: 'map', name } as const);
        return c.pool.load(a, d, symbol);
      }
      if (op.pseudo === 4) {
        // a function pointer (BPF_PSEUDO_FUNC): the subprogram's native entry
        const k = c.ap.subprogs.findIndex((sp) => sp.start === pc + i.imm + 1);
        if (k < 0) throw new JitError('BAD_PROGRAM', `function pointer to ${pc + i.imm + 1}, which starts no subprogram`, pc);
        return adr(a, d, c.entries[k] ?? 0);
      }
      return fail(`ld_imm64 with pseudo source ${op.pseudo}`);
    }
    case 'ld_abs':
    case 'ld_ind':
      if (op.size === 8) throw new JitError('BAD_PROGRAM', 'ld_abs/ld_ind of 8 bytes', pc);
      return ldAbs(a, i, op.size, op.kind === 'ld_ind', (symbol) => c.pool.load(a, CALLREG, symbol), c.exits.zeroExit);
    default:
      return fail(`${op.kind} is not supported by the arm64 JIT yet`);
  }
}
