import { checkProgram, encode, decode } from '@bpf/isa';
import { describe, expect, it } from 'vitest';
import { randomProgram } from './gen.js';

describe('randomProgram', () => {
  it('is deterministic per seed', () => {
    expect(encode(randomProgram(7).insns)).toEqual(encode(randomProgram(7).insns));
    expect(encode(randomProgram(7).insns)).not.toEqual(encode(randomProgram(8).insns));
  });
  it('produces valid encodings with calls of up to 12 arguments', () => {
    let maxArgs = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const p = randomProgram(seed);
      expect(() => checkProgram(p.insns)).not.toThrow();
      expect(decode(encode(p.insns))).toEqual(p.insns.map((i) => ({ ...i })));
      for (const proto of p.protos ?? []) maxArgs = Math.max(maxArgs, proto.params.length);
    }
    expect(maxArgs).toBe(12);
  });
});
