import { btfFromProtos, dumpRaw, parseBtf, parseBtfExt, writeBtf } from '@bpf/btf';
import { loadPrograms, parseElf } from '@bpf/elf';
import { assemble } from '@bpf/isa';
import fc from 'fast-check';
import type { FuzzTarget } from './targets.js';
import { isaTargets } from './targets.js';

/** Mutations of a valid input: byte flips and a truncation. */
function mutated(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat({ max: valid.length }))
    .map(([flips, cut]) => {
      const b = valid.slice(0, Math.max(cut, valid.length - 64));
      for (const [at, v] of flips) if (at < b.length) b[at] = v;
      return b;
    });
}

const btfBlob = writeBtf(btfFromProtos(assemble('.func f(u64 a, void *p, u32 c) u64\n.kfunc k(u64, u64, u64, u64, u64, u64, u64) u64\ncall f\nexit\nf:\nr0 = r1\nexit')).btf);

/** A small ELF object written by hand: a header and a section table (enough to exercise the loader's checks). */
function tinyElf(): Uint8Array {
  const b = new Uint8Array(64 + 64 * 3 + 32);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  dv.setUint16(16, 1, true); // ET_REL
  dv.setUint16(18, 247, true); // EM_BPF
  dv.setUint32(20, 1, true);
  dv.setBigUint64(40, 64n, true); // e_shoff
  dv.setUint16(52, 64, true);
  dv.setUint16(58, 64, true);
  dv.setUint16(60, 3, true); // e_shnum
  dv.setUint16(62, 1, true); // e_shstrndx
  const strtab = new TextEncoder().encode('\0.shstrtab\0.text\0');
  b.set(strtab, 64 + 64 * 3);
  // [1] .shstrtab
  dv.setUint32(64 + 64, 1, true);
  dv.setUint32(64 + 64 + 4, 3, true);
  dv.setBigUint64(64 + 64 + 24, BigInt(64 + 64 * 3), true);
  dv.setBigUint64(64 + 64 + 32, BigInt(strtab.length), true);
  // [2] .text
  dv.setUint32(64 + 128, 11, true);
  dv.setUint32(64 + 128 + 4, 1, true);
  dv.setBigUint64(64 + 128 + 8, 6n, true);
  return b;
}

/** Every fuzz target across the layers. */
export const allTargets: readonly FuzzTarget[] = [
  ...isaTargets,
  {
    name: 'btf.parse+dump',
    input: fc.oneof(mutated(btfBlob), fc.uint8Array({ maxLength: 128 })),
    run: (b) => void dumpRaw(parseBtf(b as Uint8Array)),
    allowed: ['BtfError'],
  },
  {
    name: 'btf.ext',
    input: fc.uint8Array({ maxLength: 160 }).map((b) => {
      if (b.length >= 8) b.set([0x9f, 0xeb, 1, 0, 32, 0, 0, 0], 0);
      return b;
    }),
    run: (b) => void parseBtfExt(b as Uint8Array),
    allowed: ['BtfError'],
  },
  {
    name: 'elf.parse+load',
    input: fc.oneof(mutated(tinyElf()), fc.uint8Array({ maxLength: 256 })),
    run: (b) => {
      parseElf(b as Uint8Array);
      loadPrograms(b as Uint8Array);
    },
    allowed: ['ElfError'],
  },
];
