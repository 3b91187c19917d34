import { describe, expect, it } from 'vitest';
import { BtfBuilder, dedupBtf, dumpRaw } from './index.js';
import type { Btf, BtfType } from './index.js';

/** A BTF of `types` (ids from 1) over the builder's strings. */
function btfOf(build: (b: BtfBuilder, s: (x: string) => number) => BtfType[]): Btf {
  const b = new BtfBuilder();
  for (const t of build(b, (x) => b.str(x))) b.add(t);
  return b.build();
}

const base = { kindFlag: false, vlen: 0 } as const;

describe('dedupBtf', () => {
  it('merges equal types, cycles through pointers included, keeps the first of each and renumbers', () => {
    const btf = btfOf((_, s) => [
      { ...base, kind: 'INT', nameOff: s('int'), sizeOrType: 4, intData: (1 << 24) | 32 }, // 1
      { ...base, kind: 'STRUCT', nameOff: s('node'), vlen: 1, sizeOrType: 8, members: [{ nameOff: s('next'), type: 3, offset: 0 }] }, // 2
      { ...base, kind: 'PTR', nameOff: 0, sizeOrType: 2 }, // 3
      { ...base, kind: 'INT', nameOff: s('int'), sizeOrType: 4, intData: (1 << 24) | 32 }, // 4 = 1
      { ...base, kind: 'STRUCT', nameOff: s('node'), vlen: 1, sizeOrType: 8, members: [{ nameOff: s('next'), type: 6, offset: 0 }] }, // 5 = 2
      { ...base, kind: 'PTR', nameOff: 0, sizeOrType: 5 }, // 6 = 3
      { ...base, kind: 'FWD', nameOff: s('node'), sizeOrType: 0 }, // 7 -> 2 (the only struct node)
      { ...base, kind: 'PTR', nameOff: 0, sizeOrType: 7 }, // 8 -> 3 once the fwd is resolved
      { ...base, kind: 'VAR', nameOff: s('x'), sizeOrType: 4, linkage: 1 }, // 9
      { ...base, kind: 'VAR', nameOff: s('x'), sizeOrType: 1, linkage: 1 }, // 10: VARs are never merged
      { ...base, kind: 'INT', nameOff: s('int'), sizeOrType: 8, intData: (1 << 24) | 64 }, // 11: another size
    ]);
    const { btf: out, ids } = dedupBtf(btf);
    expect([...ids]).toEqual([0, 1, 2, 3, 1, 2, 3, 2, 3, 4, 5, 6]);
    expect(dumpRaw(out).split('\n').filter(Boolean)).toEqual([
      "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
      "[2] STRUCT 'node' size=8 vlen=1",
      "\t'next' type_id=3 bits_offset=0",
      '[3] PTR \'(anon)\' type_id=2',
      "[4] VAR 'x' type_id=1, linkage=global",
      "[5] VAR 'x' type_id=1, linkage=global",
      "[6] INT 'int' size=8 bits_offset=0 nr_bits=64 encoding=SIGNED",
    ]);
  });

  it('leaves a forward declaration alone when two different structs share its name', () => {
    const btf = btfOf((_, s) => [
      { ...base, kind: 'STRUCT', nameOff: s('s'), sizeOrType: 0, members: [] }, // 1
      { ...base, kind: 'STRUCT', nameOff: s('s'), sizeOrType: 4, members: [] }, // 2
      { ...base, kind: 'FWD', nameOff: s('s'), sizeOrType: 0 }, // 3
    ]);
    expect([...dedupBtf(btf).ids]).toEqual([0, 1, 2, 3]);
  });
});
