import { run as runTool, skipWithout, tempDir } from '@bpf/testkit';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { A64, addSubImm, logicalImm, logicalImmOp, mem, movImm, shiftImm } from './a64.js';

/** llvm-objdump-19's text for each word of `a`, in order. */
function objdump(a: A64): string[] {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.s'), `.text\n${a.words.map((w) => `.inst 0x${w.toString(16).padStart(8, '0')}`).join('\n')}\n`);
  runTool('llvm-mc-19', ['-triple=aarch64', '-filetype=obj', '-o', join(dir, 'out.o'), join(dir, 'in.s')]);
  const out = runTool('llvm-objdump-19', ['-d', '--no-show-raw-insn', '--print-imm-hex', join(dir, 'out.o')]);
  const texts: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s+([0-9a-f]+):\s+(.*)$/.exec(line);
    if (m) texts[parseInt(m[1]!, 16) / 4] = m[2]!.replace(/\t/g, ' ').replace(/\s+\/\/.*$/, '').trim();
  }
  return texts;
}

/** A bitmask immediate built from its definition: a run of `ones` in an element of `e` bits, rotated, repeated. */
const bitmask = fc.record({ log: fc.integer({ min: 1, max: 6 }), ones: fc.nat(), rot: fc.nat() }).map(({ log, ones, rot }) => {
  const e = 1 << log;
  const k = 1 + (ones % (e - 1));
  const r = rot % e;
  const emask = (1n << BigInt(e)) - 1n;
  const run = (1n << BigInt(k)) - 1n;
  const elt = ((run >> BigInt(r)) | (run << BigInt((e - r) % e))) & emask;
  let v = 0n;
  for (let at = 0; at < 64; at += e) v |= elt << BigInt(at);
  return v;
});

describe.skipIf(skipWithout('llvm-mc-19', 'llvm-objdump-19'))('AArch64 encoders against llvm-objdump-19', () => {
  it('logical immediates: every rotated, repeated run of ones encodes, and decodes to its value (64 and 32 bits)', () => {
    const values = fc.sample(bitmask, { numRuns: 400, seed: 28 });
    const a = new A64();
    for (const v of values) {
      expect(logicalImm(v, 64), `0x${v.toString(16)}`).toBeDefined();
      logicalImmOp(a, 'and', 1, 2, v, 64);
      // an element of 32 bits or less: its low half is a 32-bit bitmask immediate too
      const lo = v & 0xffffffffn;
      if ((lo | (lo << 32n)) === v) expect(logicalImmOp(a, 'orr', 3, 4, lo, 32)).toBe(true);
      // as a constant: one instruction (orr from xzr, or a single move-wide)
      const before = a.words.length;
      movImm(a, 5, v, 64);
      expect(a.words.length - before).toBe(1);
    }
    const theirs = objdump(a);
    a.listing.forEach((l, k) => expect(theirs[k]).toBe(l.text));
  });

  it('values that are no run of ones have no encoding (0, all ones, two runs)', () => {
    expect(logicalImm(0n, 64)).toBeUndefined();
    expect(logicalImm(-1n, 64)).toBeUndefined();
    expect(logicalImm(0xffffffffn, 32)).toBeUndefined();
    expect(logicalImm(0b1011n, 64)).toBeUndefined();
    expect(logicalImm(0x1234n, 32)).toBeUndefined();
  });

  it('constants, add/sub immediates, shifts and loads/stores at any offset print as llvm-objdump prints them', () => {
    const a = new A64();
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 63 }), fc.integer({ min: -70000, max: 70000 }), (c, imm, n, off) => {
        movImm(a, 5, c, 64);
        movImm(a, 6, c, 32);
        addSubImm(a, 7, 8, imm >> (imm & 7), 64);
        addSubImm(a, 7, 8, imm & 0xfff000, 32);
        shiftImm(a, (['lsl', 'lsr', 'asr'] as const)[n % 3]!, 1, 2, n, 64);
        shiftImm(a, (['lsl', 'lsr', 'asr'] as const)[n % 3]!, 1, 2, n & 31, 32);
        for (const size of [1, 2, 4, 8] as const) {
          mem(a, true, size, false, 3, 4, off >> (off & 7));
          mem(a, true, size, size !== 8, 3, 31, (off & 0x3ff8) >> 0);
          mem(a, false, size, false, 3, 25, -(off & 0x1ff));
        }
      }),
      { numRuns: 200, seed: 28 },
    );
    const theirs = objdump(a);
    const bad = a.listing.filter((l, k) => theirs[k] !== l.text).map((l) => `${l.text} | ${theirs[a.listing.indexOf(l)]}`);
    expect(bad.slice(0, 10)).toEqual([]);
  });
});
