import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble } from '@bpf/isa';
import { fixturesDir, run, skipWithout, tempDir } from '@bpf/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { btfFromProtos, BtfBuilder, BtfError, BtfValidationError, dumpRaw, findByName, kfuncs, parseBtf, parseBtfExt, resolveId, sizeOf, typeById, validateBtf, writeBtf, type Btf, type BtfType } from './index.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

describe.skipIf(skipWithout('bpftool') || !existsSync(VMLINUX))('vmlinux BTF', () => {
  const bytes = new Uint8Array(readFileSync(VMLINUX));
  const btf = parseBtf(bytes);
  it('dumps exactly as bpftool btf dump file /sys/kernel/btf/vmlinux', () => {
    const theirs = run('bpftool', ['btf', 'dump', 'file', VMLINUX]);
    const ours = dumpRaw(btf);
    expect(ours.length).toBe(theirs.length);
    expect(ours === theirs).toBe(true);
  });
  it('writes back byte for byte', () => {
    expect(Buffer.compare(Buffer.from(writeBtf(btf)), Buffer.from(bytes))).toBe(0);
  });
  it('answers queries: by name, resolve, size, kfuncs', () => {
    const [task] = findByName(btf, 'task_struct', 'STRUCT');
    expect(sizeOf(btf, task!)).toBeGreaterThan(1000);
    const [u32] = findByName(btf, 'u32', 'TYPEDEF');
    expect(typeById(btf, resolveId(btf, u32!))?.kind).toBe('INT');
    expect(sizeOf(btf, u32!)).toBe(4);
    const k = kfuncs(btf);
    expect(k.size).toBeGreaterThan(50);
    expect(k.has('bpf_obj_new_impl') || k.has('bpf_task_acquire')).toBe(true);
  });
});

describe.skipIf(skipWithout('clang-19', 'bpftool'))('clang-19 objects, both byte orders', () => {
  const dir = tempDir();
  for (const target of ['bpfel', 'bpfeb'] as const) {
    it(`${target}: raw dump equals bpftool's, bytes round-trip, .BTF.ext has the functions`, () => {
      const obj = join(dir, `kinds.${target}.o`);
      execFileSync('clang-19', ['-target', target, '-O2', '-g', '-c', join(fixturesDir, 'btf/kinds.c'), '-o', obj]);
      execFileSync('llvm-objcopy-19', [`--dump-section=.BTF=${obj}.btf`, `--dump-section=.BTF.ext=${obj}.ext`, obj, join(dir, 'scratch.o')]);
      const bytes = new Uint8Array(readFileSync(`${obj}.btf`));
      const btf = parseBtf(bytes);
      expect(btf.endian).toBe(target === 'bpfel' ? 'little' : 'big');
      if (target === 'bpfel') expect(dumpRaw(btf)).toBe(run('bpftool', ['btf', 'dump', 'file', `${obj}.btf`]));
      expect(Buffer.compare(Buffer.from(writeBtf(btf)), Buffer.from(bytes))).toBe(0);
      const kinds = new Set(btf.types.slice(1).map((t) => t!.kind));
      for (const k of ['INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'ENUM64', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG'])
        expect(kinds.has(k as never), k).toBe(true);
      const ext = parseBtfExt(new Uint8Array(readFileSync(`${obj}.ext`)), btf.endian);
      expect(ext.funcInfo.flatMap((s) => s.records)).toHaveLength(2);
      expect(ext.lineInfo.flatMap((s) => s.records).length).toBeGreaterThan(2);
    });
  }
});

describe('prototypes declared in assembly become BTF', () => {
  const program = assemble(`
    .func sum12(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h, u64 i, u64 j, u64 k, u64 l) u64
    .kfunc bpf_test_deref(u64 *) u64
    r1 = 1
    call sum12
    exit
    sum12:
    r0 = r1
    exit`);
  const { btf, funcInfo, kfuncIds } = btfFromProtos(program);
  it('has a 12-parameter FUNC_PROTO, func_info per subprogram, an extern kfunc', () => {
    expect(funcInfo.map((f) => f.insnOff)).toEqual([0, 3]);
    expect(funcInfo.every((f) => f.typeId > 0)).toBe(true);
    const f = typeById(btf, funcInfo[1]!.typeId)!;
    expect(f.kind).toBe('FUNC');
    const proto = typeById(btf, f.sizeOrType)!;
    expect(proto.kind === 'FUNC_PROTO' && proto.params.length).toBe(12);
    expect(dumpRaw(btf)).toContain("FUNC 'bpf_test_deref' type_id=");
    expect(dumpRaw(btf)).toContain('linkage=extern');
    expect(kfuncIds.get('bpf_test_deref')).toBeGreaterThan(0);
  });
  it.skipIf(skipWithout('bpftool'))('bpftool reads the written blob the same way', () => {
    const f = join(tempDir(), 'protos.btf');
    writeFileSync(f, writeBtf(btf));
    expect(run('bpftool', ['btf', 'dump', 'file', f])).toBe(dumpRaw(btf));
  });
});

describe('bad input gives BtfError, never anything else', () => {
  const good = writeBtf(btfFromProtos(assemble('.func f(u64 a) u64\ncall f\nexit\nf:\nr0 = r1\nexit')).btf);
  it('truncations and byte flips', () => {
    fc.assert(
      fc.property(fc.nat({ max: good.length }), fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (cut, flips) => {
        const b = good.slice(0, cut);
        for (const [at, v] of flips) if (at < b.length) b[at] = v;
        try {
          const btf = parseBtf(b);
          dumpRaw(btf);
        } catch (e) {
          expect(e).toBeInstanceOf(BtfError);
        }
      }),
      { numRuns: 3000 },
    );
  });
  it('names the place', () => {
    expect(() => parseBtf(new Uint8Array(10))).toThrow('byte 0: BTF is 10 bytes, shorter than its 24-byte header');
    const bad = good.slice();
    bad[0] = 0;
    expect(() => parseBtf(bad)).toThrow(/Invalid magic/);
  });
});

describe('validateBtf: the checks of BPF_BTF_LOAD (compared with the kernel in @bpf/kernel)', () => {
  const good = writeBtf(btfFromProtos(assemble('.func f(u64 a, u64 *b) u64\ncall f\nexit\nf:\nr0 = r1\nexit')).btf);
  it.skipIf(!existsSync(VMLINUX))('accepts vmlinux', () => {
    expect(validateBtf(new Uint8Array(readFileSync(VMLINUX)))).toEqual([]);
  });
  it('accepts builder output', () => expect(validateBtf(good)).toEqual([]));
  it('names the type, byte offset, errno and the kernel log line', () => {
    const bad = good.slice();
    const dv = new DataView(bad.buffer);
    const typesAt = dv.getUint32(4, true) + dv.getUint32(8, true);
    dv.setUint32(typesAt, 0xfffff, true); // first type's name_off far past the strings
    const [e] = validateBtf(bad);
    expect(e).toBeInstanceOf(BtfValidationError);
    expect(e!.typeId).toBe(1);
    expect(e!.byteOffset).toBe(typesAt);
    expect(e!.errno).toBe(22);
    expect(e!.message).toMatch(/^type \[1\]: byte \d+: /);
  });
  it('never throws on hostile blobs: an answer of [] or one typed error', () => {
    fc.assert(
      fc.property(fc.nat({ max: good.length }), fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (cut, flips) => {
        const b = good.slice(0, cut);
        for (const [at, v] of flips) if (at < b.length) b[at] = v;
        const errs = validateBtf(b);
        expect(errs.length).toBeLessThanOrEqual(1);
        for (const e of errs) expect(e).toBeInstanceOf(BtfValidationError);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parseBtf makes the type objects on first use', () => {
  const b = new BtfBuilder();
  const int = b.int('int', 4, true);
  b.ptr(int);
  const bytes = writeBtf(b.build());
  it('once: then `types` is a plain property holding the same array', () => {
    const btf = parseBtf(bytes);
    const types = btf.types;
    expect(btf.types).toBe(types);
    expect(Object.getOwnPropertyDescriptor(btf, 'types')?.value).toBe(types);
    expect(Object.keys(btf)).toEqual(['endian', 'version', 'flags', 'types', 'firstId', 'strings', 'stringBase']);
    expect(types.map((t) => t?.kind)).toEqual([undefined, 'INT', 'PTR']);
  });
  it('types replaced (before or after first use) are what the dumps read', () => {
    for (const touch of [false, true]) {
      const btf = parseBtf(bytes) as { types: readonly (BtfType | undefined)[] } & Btf;
      if (touch) expect(btf.types.length).toBe(3);
      btf.types = [undefined, { ...btf.types[1]!, sizeOrType: 8 } as BtfType];
      expect(dumpRaw(btf)).toBe("[1] INT 'int' size=8 bits_offset=0 nr_bits=32 encoding=SIGNED\n");
    }
  });
  it('a frozen Btf still gives its types', () => {
    const btf = Object.freeze(parseBtf(bytes));
    expect(btf.types.length).toBe(3);
    expect(btf.types).toBe(btf.types);
  });
});

describe('parseBtf on a view into a larger buffer', () => {
  it('reads a Node Buffer slice at an offset as it reads a copy (readFileSync, ELF section data)', () => {
    const b = new BtfBuilder();
    const int = b.int('int', 4, true);
    b.ptr(int);
    const bytes = writeBtf(b.build());
    // a pooled Buffer: its slice shares memory, and its .buffer starts before the view
    const pool = Buffer.concat([Buffer.alloc(40, 0xee), Buffer.from(bytes), Buffer.alloc(8, 0xee)]);
    const view = pool.subarray(40, 40 + bytes.length);
    expect(view.byteOffset).toBeGreaterThan(0);
    const viaView = parseBtf(view);
    expect(dumpRaw(viaView)).toBe(dumpRaw(parseBtf(new Uint8Array(bytes))));
    expect(viaView.types.length).toBe(3);
  });
});
