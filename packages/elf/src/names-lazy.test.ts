/**
 * btfTable's look-ups of one name at a time (`nameLookup`, over @bpf/btf's name index) against
 * the whole index read from every type: indexByName's answers and iteration, and CO-RE's
 * candidates (their order included: a relocation's value and its errors follow it), over random
 * BTF whose names collide (flavours, `___` at the start, the same name on several kinds).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseBtf, writeBtf, type BtfType } from '@bpf/btf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { btfTable, calcCoreRelo, indexByName, type BtfKind, type BtfTypeTable } from './index.js';

const CORE_KINDS: BtfKind[] = ['struct', 'union', 'enum', 'enum64', 'int', 'float', 'typedef', 'fwd'];

/** The same table without its look-ups: what the index is built from every type otherwise. */
const plain = (t: BtfTypeTable): BtfTypeTable => ({ count: t.count, type: (id) => t.type(id) });

const outcome = (f: () => unknown): unknown => {
  try {
    return { ok: f() };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
};

const NAMES = ['a', 'a___x', 'a___y', '___a', '___a___x', 'a_', 'a____x', 'b', 'b___a', 'x'];
const KINDS = ['STRUCT', 'UNION', 'TYPEDEF', 'FWD', 'INT', 'FUNC', 'ENUM'] as const;

/** Random target BTF: int (id 1), then types of random kinds and names (structs of ints). */
const arbTarget = fc
  .array(fc.record({ kind: fc.constantFrom(...KINDS), name: fc.nat(NAMES.length - 1), members: fc.nat(3) }), { minLength: 1, maxLength: 25 })
  .map((list) => {
    const strings: number[] = [0];
    const off = new Map<string, number>();
    const str = (s: string): number => {
      let at = off.get(s);
      if (at === undefined) {
        at = strings.length;
        strings.push(...Buffer.from(s), 0);
        off.set(s, at);
      }
      return at;
    };
    const types: BtfType[] = [{ kind: 'INT', nameOff: str('int'), kindFlag: false, vlen: 0, sizeOrType: 4, intData: 32 }];
    types.push({ kind: 'FUNC_PROTO', nameOff: 0, kindFlag: false, vlen: 0, sizeOrType: 0, params: [] });
    for (const { kind, name, members } of list) {
      const nameOff = str(NAMES[name]!);
      const base = { nameOff, kindFlag: false, vlen: 0, sizeOrType: 0 };
      if (kind === 'STRUCT' || kind === 'UNION') {
        const ms = Array.from({ length: members }, (_, k) => ({ nameOff: str(`m${k}`), type: 1, offset: 32 * k }));
        types.push({ ...base, kind, vlen: ms.length, sizeOrType: 4 * ms.length, members: ms });
      } else if (kind === 'ENUM') types.push({ ...base, kind, vlen: 1, sizeOrType: 4, values: [{ nameOff: str('V'), val: 1n }] });
      else if (kind === 'INT') types.push({ ...base, kind, sizeOrType: 4, intData: 32 });
      else if (kind === 'FUNC') types.push({ ...base, kind, sizeOrType: 2 });
      else if (kind === 'TYPEDEF') types.push({ ...base, kind, sizeOrType: 1 });
      else types.push({ ...base, kind: 'FWD' });
    }
    return parseBtf(writeBtf({ endian: 'little', version: 1, flags: 0, types: [undefined, ...types], firstId: 1, strings: new Uint8Array(strings), stringBase: 0 }));
  });

/** The object's BTF: int, then a struct of two ints and a typedef, named each way. */
function local(): BtfTypeTable {
  const rows: BtfType[] = [{ kind: 'INT', nameOff: 1, kindFlag: false, vlen: 0, sizeOrType: 4, intData: 32 }];
  const strings: number[] = [0, ...Buffer.from('int'), 0];
  const str = (s: string): number => {
    const at = strings.length;
    strings.push(...Buffer.from(s), 0);
    return at;
  };
  const m0 = str('m0');
  const m1 = str('m1');
  for (const n of NAMES) {
    rows.push({ kind: 'STRUCT', nameOff: str(n), kindFlag: false, vlen: 2, sizeOrType: 8, members: [{ nameOff: m0, type: 1, offset: 0 }, { nameOff: m1, type: 1, offset: 32 }] });
    rows.push({ kind: 'TYPEDEF', nameOff: str(n), kindFlag: false, vlen: 0, sizeOrType: 1 });
  }
  return btfTable(parseBtf(writeBtf({ endian: 'little', version: 1, flags: 0, types: [undefined, ...rows], firstId: 1, strings: new Uint8Array(strings), stringBase: 0 })));
}

describe("btfTable's name look-ups", () => {
  it('random BTF: indexByName and CO-RE candidates as from every type', () => {
    const obj = local();
    fc.assert(
      fc.property(arbTarget, (btf) => {
        const fast = btfTable(btf);
        const slow = plain(btfTable(btf));
        for (const kinds of [CORE_KINDS, ['func'] as BtfKind[], ['struct'] as BtfKind[], [...CORE_KINDS, 'ptr', 'array', 'func_proto'] as BtfKind[]]) {
          const a = indexByName(fast, kinds);
          const b = indexByName(slow, kinds);
          for (const n of [...NAMES, 'int', '', 'nothing']) expect(a.get(n), `${kinds.join()} ${n}`).toEqual(b.get(n));
          expect([...a]).toEqual([...b]);
          expect(a.size).toBe(b.size);
        }
        // every field and type relocation of the object's types, against each table
        for (let typeId = 2; typeId < obj.count; typeId++)
          for (const [kind, access] of [[0, '0:1'], [1, '0:0'], [7, '0'], [8, '0'], [9, '0']] as const) {
            const r = { insnOff: 0, typeId, access, kind };
            const fastRes = outcome(() => calcCoreRelo(obj, fast, r, { targetIndex: indexByName(fast, CORE_KINDS) }));
            const slowRes = outcome(() => calcCoreRelo(obj, slow, r, { targetIndex: indexByName(slow, CORE_KINDS) }));
            expect(fastRes, `${typeId} ${kind}`).toEqual(slowRes);
            expect(outcome(() => calcCoreRelo(obj, fast, r))).toEqual(outcome(() => calcCoreRelo(obj, slow, r)));
          }
      }),
      { numRuns: 60 },
    );
  });
  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))("the kernel's BTF: a few names of each kind as from every type", () => {
    const bytes = new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'));
    const fast = btfTable(parseBtf(bytes));
    const slow = plain(btfTable(parseBtf(bytes)));
    for (const kinds of [CORE_KINDS, ['func'] as BtfKind[], ['var'] as BtfKind[]]) {
      const a = indexByName(fast, kinds);
      const b = indexByName(slow, kinds);
      const names = [...b.keys()].filter((_, k) => k % 97 === 0);
      for (const n of [...names, 'task_struct', 'tcp_close', 'no_such_name']) expect(a.get(n), n).toEqual(b.get(n));
    }
  });
});
