/**
 * A seeded generator of random BPF programs that are valid by construction: every slot is
 * reachable, jumps stay in their function, loops are bounded by a counter register, memory
 * accesses stay inside the 512-byte stack or a caller-provided buffer (r1/r2 raw-memory
 * convention), calls pass up to 12 arguments (6..12 through r11) to generated subprograms.
 * Same seed, same program: failures are reproducible from the seed alone.
 */
import { insn, type FuncProtoDecl, type Insn, type Program } from '@bpf/isa';

/** mulberry32: tiny, fast, good enough for test generation. */
export function prng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GenOptions {
  /** Approximate instructions in the main function. */
  readonly size?: number;
  /** Allow BPF-to-BPF calls (with 1..12 arguments). */
  readonly calls?: boolean;
  /** Allow bounded loops. */
  readonly loops?: boolean;
  /** Size of the memory buffer r1 points to (raw-memory convention); 0 = no buffer accesses. */
  readonly memSize?: number;
}

// ALU opcodes by (class|op|src): 64- and 32-bit, immediate and register forms.
const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0];
const JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];

/**
 * Generate one program. Registers: r6 holds the memory pointer (copied from r1), r7 its
 * length, r8 is a loop counter, r0..r5 and r9 are scratch values (always initialised first).
 */
export function randomProgram(seed: number, opts: GenOptions = {}): Program {
  const r = prng(seed);
  const pick = (n: number): number => Math.floor(r() * n);
  const size = opts.size ?? 40;
  const memSize = opts.memSize ?? 64;
  const out: Insn[] = [];
  const fixups: { at: number; target: () => number; kind: 'jmp' | 'call' }[] = [];
  const protos: FuncProtoDecl[] = [];
  const subs: { name: string; args: number; body: (base: number) => Insn[] }[] = [];

  const emitScratchInit = (): void => {
    for (const reg of [0, 2, 3, 4, 5, 9]) out.push(insn(0x18, reg, 0, 0, (r() * 0x100000000) | 0), insn(0, 0, 0, 0, (r() * 0x100000000) | 0));
  };
  out.push(insn(0xbf, 6, 1, 0, 0)); // r6 = r1 (memory, or the context)
  // r7 = r2 (length) under the raw-memory convention; a kernel program type has no r2
  out.push(memSize > 0 ? insn(0xbf, 7, 2, 0, 0) : insn(0xb7, 7, 0, 0, 0));
  emitScratchInit();
  out.push(insn(0xb7, 1, 0, 0, pick(1000) - 500));
  out.push(insn(0xb7, 8, 0, 0, 0));
  const scratch = [0, 1, 2, 3, 4, 5, 9];
  const sreg = (): number => scratch[pick(scratch.length)]!;

  const aluInsn = (): Insn => {
    const is64 = r() < 0.6;
    const op = ALU_OPS[pick(ALU_OPS.length)]!;
    const useReg = r() < 0.5;
    const dst = sreg();
    const cls = is64 ? 0x07 : 0x04;
    if (op === 0x60 || op === 0x70 || op === 0xc0) {
      // shifts: immediate in range (the kernel rejects out-of-range immediates)
      return useReg ? insn(cls | 0x08 | op, dst, sreg(), 0, 0) : insn(cls | op, dst, 0, 0, pick(is64 ? 64 : 32));
    }
    const signed = (op === 0x30 || op === 0x90) && r() < 0.3 ? 1 : 0;
    if (useReg) return insn(cls | 0x08 | op, dst, sreg(), signed, 0);
    let imm = pick(3) === 0 ? (r() * 0x100000000) | 0 : pick(64) - 16;
    if ((op === 0x30 || op === 0x90) && imm === 0) imm = 3; // div/mod by immediate 0 is rejected
    return insn(cls | op, dst, 0, signed, imm);
  };

  const block = (n: number, depth: number): void => {
    for (let k = 0; k < n; k++) {
      const choice = pick(20);
      if (choice < 9) out.push(aluInsn());
      else if (choice < 10) {
        const bits = [16, 32, 64][pick(3)]!;
        out.push(insn([0xd4, 0xdc, 0xd7][pick(3)]!, sreg(), 0, 0, bits));
      } else if (choice < 11) {
        out.push(insn(0xbf, sreg(), sreg(), [8, 16, 32][pick(3)]!, 0)); // movsx
      } else if (choice < 13) {
        // stack store then load back (8-byte slots, within 512 bytes)
        const off = -8 * (1 + pick(64));
        const size = [0x18, 0x00, 0x08, 0x10][pick(4)]!;
        out.push(insn(0x63 | size, 10, sreg(), off, 0));
        const mode = r() < 0.2 && size !== 0x18 ? 0x80 : 0x60; // sign-extending load or plain
        out.push(insn(0x01 | mode | size, sreg(), 10, off, 0));
      } else if (choice < 15 && memSize >= 8) {
        // bounded buffer access: r6[off], off + 8 <= memSize
        const off = 8 * pick(Math.floor(memSize / 8));
        if (r() < 0.5) out.push(insn(0x7b, 6, sreg(), off, 0));
        else out.push(insn(0x79, sreg(), 6, off, 0));
      } else if (choice < 17 && depth < 2) {
        // forward conditional jump over a small block
        const at = out.length;
        const op = JMP_OPS[pick(JMP_OPS.length)]!;
        const cls = r() < 0.7 ? 0x05 : 0x06;
        const useReg = r() < 0.5;
        out.push(insn(cls | op | (useReg ? 0x08 : 0), sreg(), useReg ? sreg() : 0, 0, useReg ? 0 : pick(64) - 8));
        block(1 + pick(4), depth + 1);
        const end = out.length;
        fixups.push({ at, target: () => end, kind: 'jmp' });
      } else if (choice < 18 && (opts.loops ?? true) && depth < 1) {
        // bounded loop: r8 counts to a small limit
        out.push(insn(0xb7, 8, 0, 0, 0));
        const head = out.length;
        block(1 + pick(3), depth + 1);
        out.push(insn(0x07, 8, 0, 0, 1));
        const at = out.length;
        out.push(insn(0xa5, 8, 0, 0, 2 + pick(6))); // if r8 < N goto head
        fixups.push({ at, target: () => head, kind: 'jmp' });
      } else if ((opts.calls ?? true) && depth < 2) {
        // call a subprogram with 1..12 arguments; stack args through r11
        const args = 1 + pick(12);
        const name = `f${subs.length}`;
        const weights = Array.from({ length: args }, () => 1 + pick(9));
        subs.push({
          name,
          args,
          body: () => {
            // r0 = sum(w_k * arg_k): argument placement errors change the result
            const b: Insn[] = [insn(0xb7, 0, 0, 0, 0)];
            const loads: Insn[] = [];
            for (let a = 0; a < args; a++) {
              if (a < 5) {
                b.push(insn(0x27, a + 1, 0, 0, weights[a]!), insn(0x0f, 0, a + 1, 0, 0));
              } else {
                loads.push(insn(0x79, 1, 11, 8 * (a - 4), 0), insn(0x27, 1, 0, 0, weights[a]!), insn(0x0f, 0, 1, 0, 0));
              }
            }
            // r11 loads must come first; they only use r1, after the register args are consumed
            return [...b, ...loads, insn(0x95, 0, 0, 0, 0)];
          },
        });
        protos.push({ name, kind: 'subprog', params: weights.map((_, k) => ({ name: `a${k}`, type: 'u64' })), ret: 'u64' });
        for (let a = 0; a < Math.min(args, 5); a++) out.push(insn(0xbf, a + 1, sreg() === 0 ? 9 : sreg(), 0, 0));
        for (let a = 5; a < args; a++) {
          if (r() < 0.5) out.push(insn(0x7a, 11, 0, -8 * (a - 4), pick(1000)));
          else out.push(insn(0x7b, 11, [0, 9][pick(2)]!, -8 * (a - 4), 0));
        }
        const at = out.length;
        out.push(insn(0x85, 0, 1, 0, 0));
        const idx = subs.length - 1;
        fixups.push({ at, target: () => subStarts[idx]!, kind: 'call' });
        out.push(insn(0x0f, 9, 0, 0, 0)); // fold the result in
        for (let a = 1; a <= 5; a++) out.push(insn(0xb7, a, 0, 0, pick(200) - 100)); // r1..r5 are clobbered
      } else out.push(aluInsn());
    }
  };
  block(size, 0);
  out.push(insn(0xbf, 0, 9, 0, 0));
  out.push(insn(0x95, 0, 0, 0, 0));
  const subStarts: number[] = [];
  const subprogs = [{ start: 0, end: out.length, name: 'main' }];
  for (const s of subs) {
    const start = out.length;
    subStarts.push(start);
    out.push(...s.body(start));
    subprogs.push({ start, end: out.length, name: s.name });
  }
  const insns = out.slice();
  for (const f of fixups) {
    const t = f.target();
    const i = insns[f.at]!;
    insns[f.at] = f.kind === 'call' ? { ...i, imm: t - f.at - 1 } : { ...i, off: t - f.at - 1 };
  }
  return { insns, subprogs, protos, name: `random-${seed}` };
}
