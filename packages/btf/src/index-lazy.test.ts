/**
 * The per-id decoder (typeById before `btf.types` is made) and the name index (nameIndex,
 * findByName, kfuncs) against the type objects: a kernel's BTF, random sections of names made to
 * collide (flavours, `___` at the start, non-ASCII and invalid UTF-8 bytes, repeated names), and
 * the sections where the index declines.
 */
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { btfString, essentialName, findByName, KIND, kfuncs, nameIndex, parseBtf, typeById, typeCount, writeBtf, type Btf, type BtfType, type KindName } from './index.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

/** What findByName and the index answer, from the type objects. */
function slowIds(btf: Btf, name: string, kinds: readonly KindName[] | undefined, essential: boolean): number[] {
  const out: number[] = [];
  for (let id = 1; id < btf.types.length; id++) {
    const t = btf.types[id]!;
    if (kinds && !kinds.includes(t.kind)) continue;
    if (t.nameOff === 0) continue;
    const n = btfString(btf, t.nameOff);
    if ((essential ? essentialName(n) : n) === name) out.push(id);
  }
  return out;
}

/** A little-endian BTF of these types over this string section (names need not be unique). */
function section(types: BtfType[], strings: Uint8Array): Uint8Array {
  return writeBtf({ endian: 'little', version: 1, flags: 0, types: [undefined, ...types], firstId: 1, strings, stringBase: 0 });
}

const BYTES = [0x61, 0x62, 0x5f, 0x5f, 0x5f, 0xc3, 0xa9, 0xff];
const KINDS: KindName[] = ['FUNC', 'STRUCT', 'TYPEDEF', 'INT', 'FUNC', 'FWD'];

/** Random names (as bytes) and types naming them, some with no name. */
const arbSection = fc
  .record({
    names: fc.array(fc.array(fc.constantFrom(...BYTES), { minLength: 0, maxLength: 7 }), { minLength: 1, maxLength: 12 }),
    types: fc.array(fc.record({ kind: fc.constantFrom(...KINDS), name: fc.nat(20) }), { minLength: 1, maxLength: 40 }),
  })
  .map(({ names, types }) => {
    const bytes: number[] = [0];
    const offs: number[] = [];
    for (const n of names) {
      offs.push(bytes.length);
      bytes.push(...n, 0);
    }
    const list: BtfType[] = types.map(({ kind, name }) => {
      const nameOff = name >= offs.length ? 0 : offs[name]!;
      const base = { nameOff, kindFlag: false, vlen: 0, sizeOrType: 0 };
      if (kind === 'INT') return { ...base, kind, sizeOrType: 4, intData: 32 };
      if (kind === 'STRUCT') return { ...base, kind, members: [] };
      return { ...base, kind: kind as 'FUNC' };
    });
    return section(list, new Uint8Array(bytes));
  });

/** Every name the section has (as it reads), their essential names, and a few others. */
function queries(btf: Btf): string[] {
  const q = new Set<string>(['', 'a', 'a_', 'ab', '___', '___a', 'a___b', '\u00e9', '\ufffd']);
  for (let id = 1; id < btf.types.length; id++) {
    const n = btfString(btf, btf.types[id]!.nameOff);
    q.add(n);
    q.add(essentialName(n));
    q.add(`${n}x`);
  }
  return [...q];
}

describe('typeById before btf.types is made', () => {
  it.skipIf(!existsSync(VMLINUX))("the kernel's BTF: the same types, the same objects once `types` is made, nothing made before", () => {
    const bytes = new Uint8Array(readFileSync(VMLINUX));
    const eager = parseBtf(bytes);
    const lazy = parseBtf(bytes);
    const n = eager.types.length;
    expect(typeCount(lazy)).toBe(n);
    const seen = new Map<number, BtfType | undefined>();
    for (const id of [-1, 0, 1, 2, n - 1, n, n + 1, 1.5, NaN, ...Array.from({ length: 2000 }, (_, k) => (k * 7919) % n)]) {
      const t = typeById(lazy, id);
      expect(t, String(id)).toEqual(eager.types[id]);
      seen.set(id, t);
    }
    // nothing forced the array yet: it is still the getter parseBtf put there
    expect(Object.getOwnPropertyDescriptor(lazy, 'types')?.get).toBeDefined();
    const types = lazy.types;
    expect(types).toEqual(eager.types);
    for (const [id, t] of seen) if (t) expect(types[id]).toBe(t);
  });
  it('random sections: every id, in a random order, then the array', () => {
    fc.assert(
      fc.property(arbSection, fc.array(fc.integer({ min: -2, max: 45 }), { maxLength: 30 }), (bytes, ids) => {
        const eager = parseBtf(bytes);
        const lazy = parseBtf(bytes);
        const got = ids.map((id) => typeById(lazy, id));
        ids.forEach((id, k) => expect(got[k]).toEqual(eager.types[id]));
        ids.forEach((id, k) => expect(lazy.types[id]).toBe(got[k]));
      }),
    );
  });
  it('split BTF: the base through typeById, its own types lazily', () => {
    const base = parseBtf(section([{ kind: 'INT', nameOff: 1, kindFlag: false, vlen: 0, sizeOrType: 4, intData: 32 }], new Uint8Array([0, 0x61, 0])));
    const splitBytes = writeBtf({ endian: 'little', version: 1, flags: 0, types: [undefined, undefined, { kind: 'PTR', nameOff: 0, kindFlag: false, vlen: 0, sizeOrType: 1 }], firstId: 2, strings: new Uint8Array([0, 0x62, 0]), stringBase: 3 });
    const split = parseBtf(splitBytes, { base });
    expect(typeById(split, 1)?.kind).toBe('INT');
    expect(typeById(split, 2)).toEqual({ nameOff: 0, kindFlag: false, vlen: 0, sizeOrType: 1, kind: 'PTR' });
    expect(typeById(split, 3)).toBeUndefined();
    expect(split.types[2]).toBe(typeById(split, 2));
  });
});

describe('nameIndex', () => {
  it.skipIf(!existsSync(VMLINUX))("the kernel's BTF: every name, by exact and essential name, each kind and all; kfuncs", () => {
    const bytes = new Uint8Array(readFileSync(VMLINUX));
    const eager = parseBtf(bytes);
    const byName = new Map<string, number[]>();
    const byEssential = new Map<string, number[]>();
    for (let id = 1; id < eager.types.length; id++) {
      const t = eager.types[id]!;
      if (!t.nameOff) continue;
      const n = btfString(eager, t.nameOff);
      for (const [m, k] of [[byName, n], [byEssential, essentialName(n)]] as const) {
        const l = m.get(k);
        if (l) l.push(id);
        else m.set(k, [id]);
      }
    }
    const lazy = parseBtf(bytes);
    const ix = nameIndex(lazy)!;
    // (mismatches collected: an expect per name takes seconds)
    const wrong: string[] = [];
    const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, k) => x === b[k]);
    for (const [name, ids] of byName) {
      if (!same(ix.ids(name), ids)) wrong.push(`ids ${name}`);
      const kind = eager.types[ids[0]!]!.kind;
      if (!same(findByName(lazy, name, kind), ids.filter((id) => eager.types[id]!.kind === kind))) wrong.push(`findByName ${name}`);
    }
    for (const [name, ids] of byEssential) if (!same(ix.flavors(name), ids)) wrong.push(`flavors ${name}`);
    expect(wrong).toEqual([]);
    expect(byEssential.size).toBeLessThan(byName.size);
    expect(ix.ids('no such name ever')).toEqual([]);
    expect(Object.getOwnPropertyDescriptor(lazy, 'types')?.get).toBeDefined();
    expect([...kfuncs(parseBtf(bytes))]).toEqual([...kfuncs(eager)].length ? [...kfuncs(eager)] : []);
  });
  it('random sections of colliding names: ids and flavours of every kind set, functions scanned then hashed', () => {
    const sets: (KindName[] | undefined)[] = [undefined, ['FUNC'], ['STRUCT', 'TYPEDEF'], ['FUNC', 'INT'], ['FWD'], []];
    fc.assert(
      fc.property(arbSection, fc.nat(5), (bytes, rot) => {
        const eager = parseBtf(bytes);
        const lazy = parseBtf(bytes);
        const ix = nameIndex(lazy);
        expect(ix).toBeDefined();
        const qs = queries(eager);
        // the function look-ups go by scan for the first few, then by the hash table
        for (let r = 0; r < 3; r++)
          for (const q of qs)
            for (let k = 0; k < sets.length; k++) {
              const kinds = sets[(k + rot + r) % sets.length];
              expect(ix!.ids(q, kinds), `${q} ${String(kinds)}`).toEqual(slowIds(eager, q, kinds, false));
              expect(ix!.flavors(q, kinds), `${q} ${String(kinds)}`).toEqual(slowIds(eager, q, kinds, true));
            }
        for (const q of qs) expect(findByName(parseBtf(bytes), q, 'FUNC')).toEqual(slowIds(eager, q, ['FUNC'], false));
      }),
    );
  });
  it('declines a name out of range anywhere, a first string that is not empty, split BTF and replaced types; findByName and kfuncs then read the objects', () => {
    const strings = new Uint8Array([0, 0x61, 0, 0x62, 0]);
    const int = (nameOff: number): BtfType => ({ kind: 'INT', nameOff, kindFlag: false, vlen: 0, sizeOrType: 4, intData: 32 });
    const good = parseBtf(section([int(1), int(3)], strings));
    expect(nameIndex(good)?.ids('b')).toEqual([2]);
    const member = parseBtf(section([int(1), { kind: 'STRUCT', nameOff: 3, kindFlag: false, vlen: 1, sizeOrType: 4, members: [{ nameOff: 99, type: 1, offset: 0 }] }], strings));
    expect(nameIndex(member)).toBeUndefined();
    expect(findByName(member, 'b')).toEqual([2]);
    const first = parseBtf(section([int(0), int(3)], new Uint8Array([0x61, 0, 0x62, 0])));
    expect(nameIndex(first)).toBeUndefined();
    expect(findByName(first, 'a')).toEqual([]);
    expect(findByName(first, 'b')).toEqual([]);
    expect(nameIndex(parseBtf(section([int(1)], strings), { base: good }))).toBeUndefined();
    const replaced = parseBtf(section([int(1), int(3)], strings));
    expect(nameIndex(replaced)).toBeDefined();
    (replaced as { types: Btf['types'] }).types = [undefined, int(3)];
    expect(nameIndex(replaced)).toBeUndefined();
    expect(findByName(replaced, 'b')).toEqual([1]);
    const tag = section([{ kind: 'FUNC_PROTO', nameOff: 0, kindFlag: false, vlen: 0, sizeOrType: 0, params: [] }, { kind: 'FUNC', nameOff: 1, kindFlag: false, vlen: 0, sizeOrType: 1 }, { kind: 'DECL_TAG', nameOff: 3, kindFlag: false, vlen: 0, sizeOrType: 2, componentIdx: -1 }], new Uint8Array([0, 0x66, 0, ...new TextEncoder().encode('bpf_kfunc'), 0]));
    expect([...kfuncs(parseBtf(tag))]).toEqual([['f', 2]]);
    expect(KIND.DECL_TAG).toBe(17);
  });
});
