/**
 * parseElfFile reads relocation entries as 32-bit halves (no BigInts): against the BigInt
 * reading it replaced (r_offset and r_info as u64, r_offset past 2^53 refused), on random entry
 * bytes in both byte orders, relocations and errors alike. And @bpf/btf's parseBtfExt, which
 * reads each record where it lies, against a reading through a view per record. And
 * `loadObject` given `parsed` (the parse a caller made already) against it parsing itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BtfError, parseBtfExt } from '@bpf/btf';
import { fixturesDir, skipWithout, tempDir } from '@bpf/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ElfFile, parseElfFile, relocTypeName, SHT } from './elf.js';
import { writeElf } from './elfwriter.test.helper.js';
import { ElfError } from './errors.js';
import { loadObject, parseBtfTable, parseElf } from './index.js';

const outcome = (f: () => unknown): unknown => {
  try {
    return { ok: f() };
  } catch (e) {
    // the reference's errors carry the class in their message
    return { error: e instanceof Error ? (e.name === 'Error' ? e.message : `${e.name}: ${e.message}`) : String(e) };
  }
};

/** The relocations of `bytes` as the BigInt reading made them (or its first error); `f`: the file's sections and symbols. */
function reference(bytes: Uint8Array, f: ElfFile): unknown {
  return outcome(() => {
    const le = f.header.endian === 'little';
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = [];
    for (const rel of f.sections) {
      if (rel.type !== SHT.REL && rel.type !== SHT.RELA) continue;
      const target = f.sections[rel.info]!;
      const entsize = rel.type === SHT.RELA ? 24 : 16;
      for (let k = 0; k < rel.size / entsize; k++) {
        const o = rel.offset + k * entsize;
        const big = dv.getBigUint64(o, le);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError('BAD_FIELD', `r_offset ${big} is too large`, { byteOffset: o, section: rel.name });
        const offset = Number(big);
        const info = dv.getBigUint64(o + 8, le);
        const symbol = Number(info >> 32n);
        const type = Number(info & 0xffffffffn);
        if (symbol >= f.symbols.length && symbol !== 0) throw new ElfError('BAD_RELOC', `relocation ${k} names symbol ${symbol}, the symbol table has ${f.symbols.length}`, { byteOffset: o + 8, section: rel.name });
        if (target.type !== SHT.NOBITS && offset >= target.size) throw new ElfError('BAD_RELOC', `relocation ${k} offset ${offset} is outside ${target.name} (${target.size} bytes)`, { byteOffset: o, section: rel.name });
        out.push({ relSection: rel.index, target: rel.info, offset, type, typeName: relocTypeName(type), symbol, addend: rel.type === SHT.RELA ? dv.getBigInt64(o + 16, le) : 0n, fileOffset: o });
      }
    }
    return out;
  });
}

/** A word of an entry: mostly small (valid relocations), sometimes anything, or just past a bound. */
const word = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0x1fffff, 0x200000, 0xffffffff));

describe('relocation entries read as 32-bit halves', () => {
  it('equal the BigInt reading, errors included', () => {
    fc.assert(
      fc.property(fc.constantFrom('little', 'big' as const), fc.array(fc.tuple(word, word, word, word), { minLength: 1, maxLength: 12 }), fc.boolean(), (endian, entries, nobits) => {
        const bytes = writeElf({
          endian: endian as 'little' | 'big',
          sections: [{ name: '.data', data: new Uint8Array(128) }, nobits ? { name: '.bss', type: SHT.NOBITS, size: 16 } : { name: '.rodata', data: new Uint8Array(40) }],
          symbols: [{ name: 'x', section: '.data' }, { name: 'y', section: '.data', bind: 1 }],
          relocs: [...entries.map((_, k) => ({ section: '.data', offset: k * 8, type: 1, symbol: 'x' })), { section: nobits ? '.bss' : '.rodata', offset: 0, type: 1, symbol: 'y' }],
        });
        // the entries' words overwritten with the random ones (the first REL section's)
        const f = parseElfFile(bytes);
        const rel = f.sections.find((s) => s.type === SHT.REL)!;
        const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const le = endian === 'little';
        entries.forEach(([a, b, c, d], k) => {
          const o = rel.offset + k * 16;
          dv.setUint32(o + (le ? 0 : 4), a, le);
          dv.setUint32(o + (le ? 4 : 0), b === 0x1fffff || b === 0x200000 || b === 0xffffffff ? b : b & 3 ? 0 : b, le);
          dv.setUint32(o + 8 + (le ? 0 : 4), c, le);
          dv.setUint32(o + 8 + (le ? 4 : 0), d & 1 ? d : d & 3, le);
        });
        const got = outcome(() => parseElfFile(bytes).relocations);
        expect(got).toEqual(reference(bytes, f));
      }),
      { numRuns: 400 },
    );
  });
});

describe('.BTF.ext records read where they lie', () => {
  /** A .BTF.ext of random sections and records (func_info, line_info, CO-RE), in either byte order. */
  const arbExt = fc.record({
    endian: fc.constantFrom('little', 'big' as const),
    secs: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 1000 }), fc.array(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }), { maxLength: 5 })), { maxLength: 6 }),
    cut: fc.integer({ min: 0, max: 40 }),
  });
  const build = (endian: 'little' | 'big', secs: [number, number, number[][]][]): Uint8Array => {
    const le = endian === 'little';
    const parts: number[][] = [[], [], []];
    const recSize = [8, 16, 16];
    for (const [kind, name, recs] of secs) {
      parts[kind]!.push(name, recs.length);
      for (const r of recs) parts[kind]!.push(...r.slice(0, recSize[kind]! / 4));
    }
    const subs = parts.map((p, k) => (p.length ? [recSize[k]!, ...p] : []));
    const words = subs.flat();
    const out = new Uint8Array(32 + words.length * 4);
    const dv = new DataView(out.buffer);
    dv.setUint16(0, 0xeb9f, le);
    out[2] = 1;
    dv.setUint32(4, 32, le);
    let off = 0;
    subs.forEach((s, k) => {
      dv.setUint32(8 + k * 8, off, le);
      dv.setUint32(12 + k * 8, s.length * 4, le);
      off += s.length * 4;
    });
    words.forEach((w, k) => dv.setUint32(32 + k * 4, w, le));
    return out;
  };
  /** parseBtfExt as it was: a DataView per record, read after every section of a kind was. */
  const reference = (bytes: Uint8Array, endian: 'little' | 'big'): unknown =>
    outcome(() => {
      const le = endian === 'little';
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (bytes.length < 24) throw new BtfError('TRUNCATED', `.BTF.ext is ${bytes.length} bytes, shorter than its header`, 0);
      if (dv.getUint16(0, le) !== 0xeb9f) throw new BtfError('BAD_MAGIC', 'Invalid .BTF.ext magic', 0);
      const hdrLen = dv.getUint32(4, le);
      const sections = (offAt: number, lenAt: number, minRec: number): { secNameOff: number; recs: DataView[] }[] => {
        if (offAt + 8 > hdrLen) return [];
        const off = hdrLen + dv.getUint32(offAt, le);
        const len = dv.getUint32(lenAt, le);
        if (len === 0) return [];
        if (off + len > bytes.length) throw new BtfError('BAD_SECTION', '.BTF.ext sub-section runs past the end', offAt);
        const recSize = dv.getUint32(off, le);
        if (recSize < minRec) throw new BtfError('BAD_SECTION', `record size ${recSize} is below ${minRec}`, off);
        const out: { secNameOff: number; recs: DataView[] }[] = [];
        let p = off + 4;
        while (p < off + len) {
          if (p + 8 > off + len) throw new BtfError('TRUNCATED', 'section info header runs past the sub-section', p);
          const secNameOff = dv.getUint32(p, le);
          const n = dv.getUint32(p + 4, le);
          p += 8;
          if (p + n * recSize > off + len) throw new BtfError('TRUNCATED', `${n} records of ${recSize} bytes run past the sub-section`, p);
          const recs: DataView[] = [];
          for (let k = 0; k < n; k++, p += recSize) recs.push(new DataView(bytes.buffer, bytes.byteOffset + p, recSize));
          out.push({ secNameOff, recs });
        }
        return out;
      };
      const u = (v: DataView, at: number): number => v.getUint32(at, le);
      return {
        funcInfo: sections(8, 12, 8).map((s) => ({ secNameOff: s.secNameOff, records: s.recs.map((r) => ({ insnOff: u(r, 0), typeId: u(r, 4) })) })),
        lineInfo: sections(16, 20, 16).map((s) => ({ secNameOff: s.secNameOff, records: s.recs.map((r) => ({ insnOff: u(r, 0), fileNameOff: u(r, 4), lineOff: u(r, 8), line: u(r, 12) >>> 10, column: u(r, 12) & 0x3ff })) })),
        coreRelo: sections(24, 28, 16).map((s) => ({ secNameOff: s.secNameOff, records: s.recs.map((r) => ({ insnOff: u(r, 0), typeId: u(r, 4), accessStrOff: u(r, 8), kind: u(r, 12) })) })),
      };
    });
  it('equal a reading through a view per record, errors included', () => {
    fc.assert(
      fc.property(arbExt, ({ endian, secs, cut }) => {
        const whole = build(endian, secs as [number, number, number[][]][]);
        // sometimes cut short: the truncation errors come in the same order
        const bytes = cut < 30 ? whole : whole.subarray(0, Math.max(24, whole.length - (cut - 29) * 4));
        const got = outcome(() => parseBtfExt(bytes, endian));
        expect(got).toEqual(reference(bytes, endian));
      }),
      { numRuns: 400 },
    );
  });
});

describe.skipIf(skipWithout('clang-19'))('loadObject given the parse it would make', () => {
  it('links every corpus object as it does parsing it itself, with and without the kernel BTF', () => {
    const dir = tempDir('elf-parsed-');
    execFileSync('sh', [join(fixturesDir, 'c/progs/build.sh'), dir]);
    const kernelBtf = existsSync('/sys/kernel/btf/vmlinux') ? parseBtfTable(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux')), 'kernel BTF').table : undefined;
    const objects = readdirSync(dir).filter((f) => f.endsWith('.o'));
    expect(objects.length).toBeGreaterThan(10);
    for (const f of objects) {
      const bytes = new Uint8Array(readFileSync(join(dir, f)));
      const parsed = parseElf(bytes);
      for (const opts of [{}, ...(kernelBtf ? [{ kernelBtf }] : [])]) expect(outcome(() => loadObject(bytes, { ...opts, parsed })), f).toEqual(outcome(() => loadObject(bytes, opts)));
      // the parse is only read: a second load from it is the same again
      expect(outcome(() => loadObject(bytes, { parsed })), f).toEqual(outcome(() => loadObject(bytes)));
    }
  });
});
