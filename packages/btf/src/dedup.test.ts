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
      { ...base, kind: 'FWD', nameOff: s('node'), sizeOrType: 0 }, // 7: kept (no struct graph matched it)
      { ...base, kind: 'PTR', nameOff: 0, sizeOrType: 7 }, // 8
      { ...base, kind: 'VAR', nameOff: s('x'), sizeOrType: 4, linkage: 1 }, // 9
      { ...base, kind: 'VAR', nameOff: s('x'), sizeOrType: 1, linkage: 1 }, // 10: VARs are never merged
      { ...base, kind: 'INT', nameOff: s('int'), sizeOrType: 8, intData: (1 << 24) | 64 }, // 11: another size
    ]);
    const { btf: out, ids } = dedupBtf(btf);
    expect([...ids]).toEqual([0, 1, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(dumpRaw(out).split('\n').filter(Boolean)).toEqual([
      "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
      "[2] STRUCT 'node' size=8 vlen=1",
      "\t'next' type_id=3 bits_offset=0",
      '[3] PTR \'(anon)\' type_id=2',
      "[4] FWD 'node' fwd_kind=struct",
      "[5] PTR '(anon)' type_id=4",
      "[6] VAR 'x' type_id=1, linkage=global",
      "[7] VAR 'x' type_id=1, linkage=global",
      "[8] INT 'int' size=8 bits_offset=0 nr_bits=64 encoding=SIGNED",
    ]);
    // libbpf 1.2's extra step: the forward declaration takes the one struct of its name
    const resolved = dedupBtf(btf, { resolveForwards: true });
    expect([...resolved.ids]).toEqual([0, 1, 2, 3, 1, 2, 3, 2, 3, 4, 5, 6]);
  });

  it('resolves a forward declaration through the struct graph it was matched in, as libbpf does', () => {
    // struct holder { struct item *p; } twice: once with item declared only, once defined
    const btf = btfOf((_, s) => [
      { ...base, kind: 'INT', nameOff: s('int'), sizeOrType: 4, intData: (1 << 24) | 32 }, // 1
      { ...base, kind: 'STRUCT', nameOff: s('holder'), vlen: 1, sizeOrType: 8, members: [{ nameOff: s('p'), type: 3, offset: 0 }] }, // 2
      { ...base, kind: 'PTR', nameOff: 0, sizeOrType: 4 }, // 3
      { ...base, kind: 'FWD', nameOff: s('item'), sizeOrType: 0 }, // 4 -> 7
      { ...base, kind: 'STRUCT', nameOff: s('holder'), vlen: 1, sizeOrType: 8, members: [{ nameOff: s('p'), type: 6, offset: 0 }] }, // 5 = 2
      { ...base, kind: 'PTR', nameOff: 0, sizeOrType: 7 }, // 6
      { ...base, kind: 'STRUCT', nameOff: s('item'), vlen: 1, sizeOrType: 4, members: [{ nameOff: s('v'), type: 1, offset: 0 }] }, // 7
    ]);
    const { btf: out, ids } = dedupBtf(btf);
    expect([...ids]).toEqual([0, 1, 2, 3, 4, 2, 3, 4]);
    expect(dumpRaw(out).split('\n').filter(Boolean)).toEqual([
      "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
      "[2] STRUCT 'holder' size=8 vlen=1",
      "\t'p' type_id=3 bits_offset=0",
      "[3] PTR '(anon)' type_id=4",
      "[4] STRUCT 'item' size=4 vlen=1",
      "\t'v' type_id=1 bits_offset=0",
    ]);
  });

  it('refuses a pointer to itself, with the type named (libbpf: ELOOP)', () => {
    const btf = btfOf(() => [{ ...base, kind: 'PTR', nameOff: 0, sizeOrType: 1 }]);
    expect(() => dedupBtf(btf)).toThrow(/type \[1\]: cannot deduplicate: a cycle of reference types/);
  });

  it('an enum declared without enumerators takes the full enum of its name, kind, signedness and size', () => {
    const btf = btfOf((_, s) => [
      { ...base, kind: 'ENUM', nameOff: s('e'), sizeOrType: 4, values: [] }, // 1: canonical, then -> 2
      { ...base, kind: 'ENUM', nameOff: s('e'), vlen: 1, sizeOrType: 4, values: [{ nameOff: s('A'), val: 1n }] }, // 2
      { ...base, kind: 'ENUM', nameOff: s('e'), sizeOrType: 4, values: [] }, // 3 -> 2
      { ...base, kind: 'ENUM', nameOff: s('e'), sizeOrType: 8, values: [] }, // 4: another size, kept
    ]);
    expect([...dedupBtf(btf).ids]).toEqual([0, 1, 1, 1, 2]);
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
