import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir } from '@bpf/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble, checkInsn, decode, disassemble, encode, formatInsn, insn, IsaError, type Insn } from './index.js';

/** Kernel-printed instruction lines from fixtures/kernel/liveness.json (recorded from the running kernel). */
const kernelLines: { text: string; hex: string }[] = (() => {
  const j = JSON.parse(readFileSync(join(fixturesDir, 'kernel/liveness.json'), 'utf8')) as { cases: { hex: string; block: string | null }[] };
  const out: { text: string; hex: string }[] = [];
  for (const c of j.cases) {
    if (!c.block) continue;
    const bytes = Buffer.from(c.hex, 'hex');
    for (const line of c.block.split('\n').slice(1)) {
      const m = /^.{4}\s*(\d+): [.0-9]{10} (.*)$/.exec(line);
      if (!m) continue;
      const idx = Number(m[1]);
      const len = bytes[idx * 8] === 0x18 ? 16 : 8;
      out.push({ text: m[2]!, hex: bytes.subarray(idx * 8, idx * 8 + len).toString('hex') });
    }
  }
  return out;
})();

describe('kernel syntax (lines the running kernel printed)', () => {
  it('has thousands of recorded lines', () => expect(kernelLines.length).toBeGreaterThan(3000));
  it('prints every recorded instruction exactly as the kernel did', () => {
    const bad = kernelLines.filter(({ text, hex }) => formatInsn(decode(Buffer.from(hex, 'hex'), { strict: false }), 0, { syntax: 'kernel' }) !== text);
    expect(bad.slice(0, 5)).toEqual([]);
  });
  it('assembles every recorded valid line back to its bytes', () => {
    const valid = kernelLines.filter(({ hex }) => {
      const insns = decode(Buffer.from(hex, 'hex'), { strict: false });
      return checkInsn(insns[0]!, 0, insns[1]) === null && !(insns[0]!.code === 0x85 && insns[0]!.src === 1);
    });
    const bad = valid.filter(({ text, hex }) => Buffer.from(encode(assemble(text, { syntax: 'kernel' }).insns)).toString('hex') !== hex);
    expect(bad.slice(0, 5)).toEqual([]);
    expect(valid.length).toBeGreaterThan(2000);
  });
});

/** Random valid instructions (one slot, or an ld_imm64 pair). */
const reg = fc.integer({ min: 0, max: 10 });
const imm = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const off = fc.integer({ min: -0x8000, max: 0x7fff });
const validInsn: fc.Arbitrary<readonly Insn[]> = fc
  .oneof(
    fc.tuple(fc.constantFrom(0x04, 0x07), fc.constantFrom(0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0), fc.boolean(), reg, reg, imm, fc.constantFrom(0, 1)).map(
      ([cls, op, x, d, s, k, sgn]) => [insn(cls | op | (x ? 8 : 0), d, x ? s : 0, (op === 0x30 || op === 0x90) ? sgn : 0, x ? 0 : k)],
    ),
    fc.tuple(fc.constantFrom(0x05, 0x06), fc.constantFrom(0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0), fc.boolean(), reg, reg, imm, off).map(([cls, op, x, d, s, k, o]) => [
      insn(cls | op | (x ? 8 : 0), d, x ? s : 0, o, x ? 0 : k),
    ]),
    fc.tuple(fc.constantFrom(0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91), reg, reg, off).map(([c, d, s, o]) => [insn(c, d, s, o, 0)]),
    fc.tuple(fc.constantFrom(0x63, 0x6b, 0x73, 0x7b), reg, reg, off).map(([c, d, s, o]) => [insn(c, d, s, o, 0)]),
    fc.tuple(fc.constantFrom(0x62, 0x6a, 0x72, 0x7a), reg, off, imm).map(([c, d, o, k]) => [insn(c, d, 0, o, k)]),
    fc.tuple(fc.constantFrom(0xc3, 0xdb), reg, reg, off, fc.constantFrom(0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1)).map(([c, d, s, o, k]) => [insn(c, d, s, o, k)]),
    fc.tuple(reg, imm, imm).map(([d, lo, hi]) => [insn(0x18, d, 0, 0, lo), insn(0, 0, 0, 0, hi)]),
    fc.tuple(fc.constantFrom(0xd4, 0xdc, 0xd7), reg, fc.constantFrom(16, 32, 64)).map(([c, d, b]) => [insn(c, d, 0, 0, b)]),
    fc.tuple(fc.constantFrom(8, 16, 32), reg, reg, fc.boolean()).map(([b, d, s, w]) => [insn(w && b !== 32 ? 0xbc : 0xbf, d, s, b, 0)]),
    fc.tuple(off).map(([o]) => [insn(0x05, 0, 0, o, 0)]),
    fc.tuple(imm).map(([k]) => [insn(0x06, 0, 0, 0, k)]),
    fc.tuple(imm).map(([k]) => [insn(0x85, 0, 0, 0, k)]),
    fc.constant([insn(0x95, 0, 0, 0, 0)]),
  );

describe('properties', () => {
  it('decode(encode(x)) = x, both byte orders', () => {
    fc.assert(
      fc.property(fc.array(validInsn, { maxLength: 20 }), (groups) => {
        const insns = groups.flat();
        for (const endian of ['little', 'big'] as const) expect(decode(encode(insns, { endian }), { endian })).toEqual(insns);
      }),
      { numRuns: 500 },
    );
  });
  it('assemble(print(x)) = x in both syntaxes', () => {
    fc.assert(
      fc.property(fc.array(validInsn, { minLength: 1, maxLength: 20 }), (groups) => {
        const insns = groups.flat();
        for (const syntax of ['llvm', 'kernel'] as const) {
          const text = disassemble(insns, { syntax });
          expect(assemble(text, { syntax }).insns).toEqual(insns);
        }
      }),
      { numRuns: 500 },
    );
  });
  it('random bytes decode or throw IsaError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (b, big) => {
        try {
          decode(b, { endian: big ? 'big' : 'little' });
        } catch (e) {
          expect(e).toBeInstanceOf(IsaError);
        }
      }),
      { numRuns: 2000 },
    );
  });
  it('random text assembles or throws IsaError with a line and column', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (t) => {
        try {
          assemble(t);
        } catch (e) {
          expect(e).toBeInstanceOf(IsaError);
          expect((e as IsaError).location).toBeDefined();
        }
      }),
      { numRuns: 2000 },
    );
  });
});
