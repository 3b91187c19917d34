import { describe, expect, it } from 'vitest';
import { wantsTiering } from './v8-tiering.js';

describe('the V8 tiering flags of the bpf command', () => {
  it('are set for veristat and on small machines, and follow BPF_V8_TIERING', () => {
    expect(wantsTiering(['veristat', 'a.o'], {}, 16)).toBe(true);
    expect(wantsTiering(['verify', 'a.o'], {}, 16)).toBe(false);
    expect(wantsTiering(['verify', 'a.o'], {}, 2)).toBe(true);
    expect(wantsTiering(['veristat', 'a.o'], { BPF_V8_TIERING: '0' }, 2)).toBe(false);
    expect(wantsTiering(['verify', 'a.o'], { BPF_V8_TIERING: '1' }, 16)).toBe(true);
  });
});
