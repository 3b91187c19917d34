import { describe, expect, it } from 'vitest';
import { analyseFrames, assemble, decode, encode, IsaError } from './index.js';

describe('codec', () => {
  it('decodes little-endian slots', () => {
    const bytes = Uint8Array.from([0xb7, 0x01, 0, 0, 1, 0, 0, 0, 0x7b, 0x1a, 0xf8, 0xff, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    const insns = decode(bytes);
    expect(insns[1]).toEqual({ code: 0x7b, dst: 10, src: 1, off: -8, imm: 0 });
    expect(encode(insns)).toEqual(bytes);
    expect(encode(insns, { endian: 'big' })[9]).toBe(0xa1);
    expect(decode(encode(insns, { endian: 'big' }), { endian: 'big' })).toEqual(insns);
  });
  it('accepts the r11 stack-argument forms and rejects the others', () => {
    // *(u64 *)(r11 - 8) = r1 ; r1 = *(u64 *)(r11 + 8)
    expect(decode(Uint8Array.from([0x7b, 0x1b, 0xf8, 0xff, 0, 0, 0, 0, 0x79, 0xb1, 8, 0, 0, 0, 0, 0]))).toHaveLength(2);
    // r11 += 1
    expect(() => decode(Uint8Array.from([0x07, 0x0b, 0, 0, 1, 0, 0, 0]))).toThrow('insn 0 (byte 0): R11 is invalid');
  });
  it('names the place of a truncated input', () => {
    try {
      decode(new Uint8Array(11));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(IsaError);
      expect((e as IsaError).byteOffset).toBe(8);
    }
  });
});

describe('analyseFrames: frame facts of unverified programs', () => {
  it('takes the deepest r10-relative access, rounded to 8', () => {
    const p = assemble('r1 = 0\n*(u32 *)(r10 - 12) = r1\nr0 = *(u64 *)(r10 - 8)\nexit');
    expect(analyseFrames(p).subprogs.map((s) => s.stackDepth)).toEqual([16]);
  });
  it('gives the whole 512-byte stack when r10 is copied (accesses through the copy are not visible)', () => {
    const p = assemble('r6 = r10\nr6 += -32\nr1 = 7\n*(u64 *)(r6 + 0) = r1\nr0 = 0\nexit');
    expect(analyseFrames(p).subprogs.map((s) => s.stackDepth)).toEqual([512]);
  });
});
