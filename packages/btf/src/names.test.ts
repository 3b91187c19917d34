/**
 * namesByKind (ids by name read from the type section) against the same index built from the
 * type objects: a kernel's BTF and clang's objects of every kind, both byte orders; and where it
 * declines (a name out of the string section, split BTF, types replaced).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { btfString, KIND, namesByKind, parseBtf, type Btf, type KindName } from './index.js';

/** The index as the type objects give it. */
function fromTypes(btf: Btf, kinds: readonly KindName[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  btf.types.forEach((t, id) => {
    if (!t || !kinds.includes(t.kind)) return;
    const name = btfString(btf, t.nameOff);
    if (!name) return;
    const l = out.get(name);
    if (l) l.push(id);
    else out.set(name, [id]);
  });
  return out;
}

const ALL = Object.keys(KIND) as KindName[];
const SETS: KindName[][] = [['FUNC'], ['VAR'], ['FUNC', 'VAR'], ['STRUCT', 'UNION', 'ENUM', 'ENUM64', 'INT', 'FLOAT', 'TYPEDEF', 'FWD'], ALL];

function same(bytes: Uint8Array): void {
  for (const kinds of SETS) {
    const fast = namesByKind(parseBtf(bytes), kinds);
    expect(fast, kinds.join(',')).toBeDefined();
    const slow = fromTypes(parseBtf(bytes), kinds);
    expect([...fast!], kinds.join(',')).toEqual([...slow]);
  }
}

/** A BTF of an `int` and a struct whose one member's name is at `memberName`. */
function handmade(memberName: number): Uint8Array {
  const strings = Buffer.from('\0int\0s\0m\0');
  const types = new Uint32Array([1, KIND.INT << 24, 4, 32, 5, (KIND.STRUCT << 24) | 1, 4, memberName, 1, 0]);
  const hdr = new DataView(new ArrayBuffer(24));
  hdr.setUint16(0, 0xeb9f, true);
  hdr.setUint8(2, 1);
  hdr.setUint32(4, 24, true);
  hdr.setUint32(8, 0, true);
  hdr.setUint32(12, types.byteLength, true);
  hdr.setUint32(16, types.byteLength, true);
  hdr.setUint32(20, strings.length, true);
  return new Uint8Array(Buffer.concat([Buffer.from(hdr.buffer), Buffer.from(types.buffer), strings]));
}

describe('namesByKind', () => {
  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))("the kernel's BTF: the index of the type objects", () => {
    same(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux')));
  });
  it.skipIf(skipWithout('clang-19'))('clang-19 objects of every kind, both byte orders: the index of the type objects', () => {
    const dir = tempDir();
    for (const target of ['bpfel', 'bpfeb']) {
      const obj = join(dir, `kinds.${target}.o`);
      execFileSync('clang-19', ['-target', target, '-O2', '-g', '-c', join(fixturesDir, 'btf/kinds.c'), '-o', obj]);
      execFileSync('llvm-objcopy-19', [`--dump-section=.BTF=${obj}.btf`, obj, join(dir, 'scratch.o')]);
      same(new Uint8Array(readFileSync(`${obj}.btf`)));
    }
  });
  it('declines a section with a name out of range (the type objects report it), split BTF and replaced types', () => {
    const good = parseBtf(handmade(7));
    expect(namesByKind(good, ['STRUCT', 'INT'])).toEqual(new Map([['int', [1]], ['s', [2]]]));
    expect(namesByKind(parseBtf(handmade(99)), ['INT'])).toBeUndefined();
    expect(() => btfString(parseBtf(handmade(99)), 99)).toThrow(/name_offset 99/);
    expect(namesByKind(parseBtf(handmade(7), { base: good }), ['INT'])).toBeUndefined();
    const replaced = parseBtf(handmade(7));
    (replaced as { types: Btf['types'] }).types = replaced.types.slice(0, 2);
    expect(namesByKind(replaced, ['INT'])).toBeUndefined();
  });
});
