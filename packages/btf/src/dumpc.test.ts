import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fixturesDir, run, skipWithout, tempDir } from '@bpf/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BtfBuilder, BtfError, dumpC, dumpRaw, parseBtf, writeBtf, type Btf } from './index.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

/** Lines of `a` and `b` that differ, side by side (the first few), for a readable failure. */
function firstDiffs(a: string, b: string, max = 5): string[] {
  const x = a.split('\n');
  const y = b.split('\n');
  const out: string[] = [];
  for (let i = 0; i < Math.max(x.length, y.length) && out.length < max; i++) if (x[i] !== y[i]) out.push(`line ${i + 1}: ours ${JSON.stringify(x[i])} bpftool ${JSON.stringify(y[i])}`);
  return out;
}

describe.skipIf(skipWithout('bpftool') || !existsSync(VMLINUX))('format c of vmlinux', () => {
  const btf = parseBtf(new Uint8Array(readFileSync(VMLINUX)));
  const theirs = run('bpftool', ['btf', 'dump', 'file', VMLINUX, 'format', 'c']);
  it('is byte-identical to bpftool btf dump file /sys/kernel/btf/vmlinux format c', () => {
    const ours = dumpC(btf);
    expect(firstDiffs(ours, theirs)).toEqual([]);
    expect(ours.length).toBe(theirs.length);
    expect(ours === theirs).toBe(true);
    // the features the emitter has to get right all occur in vmlinux
    for (const needle of ['___2 {', ' __attribute__((packed));', '\tlong: 64;', '\tlong: 0;', 'ULL,\n', ', ...);', ' * const ', ')[', '(*', 'typedef __builtin_va_list', '\tunion {\n', '\tstruct {\n'])
      expect(theirs.includes(needle), needle).toBe(true);
  });
  it('with enumModes, adds mode(byte)/mode(word) to odd-sized enums and changes nothing else', () => {
    const ours = dumpC(btf, { enumModes: true });
    const byte = ours.match(/} __attribute__\(\(mode\(byte\)\)\);/g) ?? [];
    expect(byte.length).toBeGreaterThan(0);
    expect(ours.replace(/ __attribute__\(\(mode\((byte|word)\)\)\)/g, '')).toBe(theirs);
  });
});

/** Every declarator shape, qualifier placement, layout rule, type tag and name clash the dump handles. */
const DECL_C = String.raw`
typedef unsigned long long u64;
typedef int (*cmp_fn)(const void *, const void *);
typedef void (*logf_fn)(const char *fmt, ...);
struct ops {
	int (*open)(void);
	void *(*alloc)(unsigned long size, int flags);
	int (*(*pick)(int))(char);
	cmp_fn cmps[4];
	int (*handlers[3])(int);
	char *names[8];
	int (*grid)[4];
	int matrix[2][3];
	const char *const label;
	volatile unsigned int *volatile reg;
	int *restrict rp;
	const volatile long cv;
	logf_fn log;
	_Bool ok;
};
struct __attribute__((packed)) wire { char tag; int len; short crc; };
struct bits { unsigned a: 3; unsigned long long b: 40; char c; int : 0; unsigned d: 7; long long e; };
struct padded { char c; long l __attribute__((aligned(16))); };
struct outer {
	int kind;
	union { int i; struct { short lo, hi; }; } v;
	struct { int x; int y; };
	enum { MODE_A, MODE_B = 7 } mode;
	struct outer *next;
	struct { struct outer *back; int depth; } *link;
};
enum neg64 { N64 = -0x100000000LL, P1 = 1 };
enum small : unsigned char { SMALL_A = 1, SMALL_B = 200 };
enum wide : unsigned long long { WIDE_A = 1 };
enum sgn { SGN_NEG = -5, SGN_POS = 5 };
struct tagged {
	int __attribute__((btf_type_tag("user"))) *uptr;
	int __attribute__((btf_type_tag("rcu"))) __attribute__((btf_type_tag("percpu"))) *pp;
	const int __attribute__((btf_type_tag("user"))) *cup;
};
struct flex { int n; char data[]; };
struct empty {};
struct holder { struct empty e; struct flex *f; };
union u_fwd;
struct uses_fwd { union u_fwd *u; struct never_defined *n; };
struct clash { int a; };
enum clash_e { CLASH_X = 1 };
typedef int clash_t;
typedef int CLASH_Y;
struct ops g_ops; struct wire g_wire; struct bits g_bits; struct padded g_padded; struct outer g_outer;
enum neg64 g_neg; enum small g_small; enum wide g_wide; enum sgn g_sgn; struct tagged g_tagged;
struct holder g_holder; struct uses_fwd g_uses; struct clash g_clash; enum clash_e g_clash_e;
clash_t g_clash_t; CLASH_Y g_cy; u64 g_u64;
/* prototype scope: a second struct clash, enum clash_e and CLASH_X (renamed ___2 in the dump) */
int other_clash(struct clash { long b; } *p, enum clash_e { CLASH_X = 5, CLASH_Y } e)
{
	return p->b + e + g_clash.a + g_clash_t;
}
`;

describe.skipIf(skipWithout('clang-19', 'bpftool'))('format c of clang-19 objects', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'decl.c'), DECL_C);
  const multiarch = (() => {
    try {
      return execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim() || 'x86_64-linux-gnu';
    } catch {
      return 'x86_64-linux-gnu';
    }
  })();
  /** Compile, pull out .BTF, and return our dump and bpftool's. */
  const both = (src: string, target: 'bpfel' | 'bpfeb'): { ours: string; theirs: string; btf: Btf } => {
    const obj = join(dir, `${basename(src, '.c')}.${target}.o`);
    execFileSync('clang-19', ['-target', target, '-O2', '-g', '-Wno-visibility', `-I/usr/include/${multiarch}`, '-c', src, '-o', obj]);
    execFileSync('llvm-objcopy-19', [`--dump-section=.BTF=${obj}.btf`, obj, `${obj}.scratch`]);
    const btf = parseBtf(new Uint8Array(readFileSync(`${obj}.btf`)));
    return { ours: dumpC(btf), theirs: run('bpftool', ['btf', 'dump', 'file', `${obj}.btf`, 'format', 'c']), btf };
  };
  const sources = [join(fixturesDir, 'btf/kinds.c'), join(dir, 'decl.c')];
  for (const src of sources) {
    for (const target of ['bpfel', 'bpfeb'] as const) {
      it(`${basename(src)} (${target}) is identical to bpftool's`, () => {
        const { ours, theirs, btf } = both(src, target);
        expect(firstDiffs(ours, theirs)).toEqual([]);
        expect(ours).toBe(theirs);
        // a copy has no type-section words: the dump written from the type objects
        expect(dumpC({ ...btf })).toBe(ours);
      });
    }
  }
  it('decl.c exercises declarators, tags, layouts and renames', () => {
    const { ours } = both(join(dir, 'decl.c'), 'bpfel');
    for (const line of [
      '\tint (* (*pick)(int))(char);',
      '\tint (*handlers[3])(int);',
      '\tint (*grid)[4];',
      '\tint matrix[2][3];',
      '\tconst char * const label;',
      '\tvolatile unsigned int * volatile reg;',
      '\tint * restrict rp;',
      '\tint (*open)(void);',
      'typedef void (*logf_fn)(const char *, ...);',
      '} __attribute__((packed));',
      '\tint __attribute__((btf_type_tag("rcu"))) __attribute__((btf_type_tag("percpu"))) *pp;',
      '\tN64 = -4294967296LL,',
      '\tWIDE_A = 1ULL,',
      '\tSGN_NEG = -5,',
      'struct clash___2 {',
      'enum clash_e___2 {',
      '\tCLASH_X___2 = 1,',
      'typedef int CLASH_Y___2;',
      'struct empty {};',
      'struct never_defined;',
      'union u_fwd;',
      '\t\tstruct outer *back;',
    ])
      expect(ours.split('\n'), line).toContain(line);
  });
  it('enumModes marks the 1-byte enum and the 8-byte one whose values fit 32 bits', () => {
    const { btf } = both(join(dir, 'decl.c'), 'bpfel');
    const ours = dumpC(btf, { enumModes: true });
    expect(ours).toMatch(/SMALL_B = 200,\n} __attribute__\(\(mode\(byte\)\)\);/);
    expect(ours).toMatch(/WIDE_A = 1ULL,\n} __attribute__\(\(mode\(word\)\)\);/);
    expect(ours).toMatch(/P1 = 1LL,\n};/);
  });
  const progs = join(fixturesDir, 'c/progs');
  for (const f of readdirSync(progs).filter((f) => f.endsWith('.c')).sort()) {
    it(`progs/${f} is identical to bpftool's`, () => {
      const { ours, theirs } = both(join(progs, f), 'bpfel');
      expect(firstDiffs(ours, theirs)).toEqual([]);
      expect(ours).toBe(theirs);
    });
  }
});

/** A blob with every kind, bitfields, anonymous members and a self-reference, built without clang. */
function richBlob(): Uint8Array {
  const b = new BtfBuilder();
  const base = { kindFlag: false, vlen: 0 };
  const int = b.int('int', 4, true);
  const char = b.int('char', 1, true);
  const long = b.int('long', 8, true);
  const node = b.add({ ...base, kind: 'STRUCT', nameOff: b.str('node'), sizeOrType: 0, members: [] });
  const pnode = b.ptr(node);
  const arr = b.add({ ...base, kind: 'ARRAY', nameOff: 0, sizeOrType: 0, elemType: char, indexType: int, nelems: 16 });
  const cint = b.add({ ...base, kind: 'CONST', nameOff: 0, sizeOrType: int });
  const vptr = b.add({ ...base, kind: 'VOLATILE', nameOff: 0, sizeOrType: b.ptr(cint) });
  const en = b.add({ kind: 'ENUM', nameOff: 0, kindFlag: true, vlen: 2, sizeOrType: 4, values: [{ nameOff: b.str('A'), val: 0xffffffffn }, { nameOff: b.str('B'), val: 1n }] });
  const en64 = b.add({ kind: 'ENUM64', nameOff: b.str('big'), kindFlag: false, vlen: 1, sizeOrType: 8, values: [{ nameOff: b.str('HUGE'), val: 1n << 40n }] });
  const anon = b.add({ kind: 'UNION', nameOff: 0, kindFlag: false, vlen: 2, sizeOrType: 8, members: [{ nameOff: b.str('i'), type: int, offset: 0 }, { nameOff: b.str('l'), type: long, offset: 0 }] });
  const proto = b.funcProto(int, [{ name: 'x', type: pnode }, { type: 0 }]);
  const fptr = b.ptr(proto);
  const tag = b.add({ ...base, kind: 'TYPE_TAG', nameOff: b.str('user'), sizeOrType: int });
  const tdef = b.add({ ...base, kind: 'TYPEDEF', nameOff: b.str('node_t'), sizeOrType: node });
  const fwd = b.fwd('later', true);
  const members = [
    { nameOff: b.str('next'), type: pnode, offset: 0 },
    { nameOff: b.str('name'), type: arr, offset: 64 },
    { nameOff: b.str('p'), type: vptr, offset: 192 },
    { nameOff: b.str('bits'), type: int, offset: (3 << 24) | 256 },
    { nameOff: b.str('more'), type: int, offset: (5 << 24) | 259 },
    { nameOff: b.str('e'), type: en, offset: 288 },
    { nameOff: 0, type: anon, offset: 320 },
    { nameOff: b.str('cb'), type: fptr, offset: 384 },
    { nameOff: b.str('t'), type: b.ptr(tag), offset: 448 },
    { nameOff: b.str('f'), type: b.ptr(fwd), offset: 512 },
    { nameOff: b.str('b'), type: en64, offset: 576 },
  ];
  b.ptr(tdef);
  b.func('f', proto, 'global');
  const btf = b.build();
  const types = btf.types.slice();
  types[node] = { kind: 'STRUCT', nameOff: types[node]!.nameOff, kindFlag: true, vlen: members.length, sizeOrType: 80, members }; // now that its members exist
  return writeBtf({ ...btf, types });
}

describe('format c without an oracle', () => {
  const good = richBlob();
  it('writes the same from the type objects as from the words parseBtf keeps', () => {
    const btf = parseBtf(good);
    const copy = { ...btf }; // a Btf rebuilt around the objects: no words
    expect(dumpC(copy)).toBe(dumpC(btf));
    expect(dumpC(copy, { enumModes: true })).toBe(dumpC(btf, { enumModes: true }));
    expect(dumpRaw(copy)).toBe(dumpRaw(btf));
  });
  it('writes the rich blob', () => {
    const c = dumpC(parseBtf(good));
    expect(c).toContain('struct node {\n\tstruct node *next;\n\tchar name[16];\n\tconst int * volatile p;\n\tint bits: 3;\n\tint more: 5;\n');
    expect(c).toContain('\tenum {\n\t\tA = -1,\n\t\tB = 1,\n\t} e;\n\tunion {\n\t\tint i;\n\t\tlong l;\n\t};\n');
    expect(c).toContain('\tint (*cb)(struct node *x, ...);\n');
    expect(c).toContain('\tint __attribute__((btf_type_tag("user"))) *t;\n\tunion later *f;\n');
    expect(c).toContain('enum big {\n\tHUGE = 1099511627776ULL,\n};');
    expect(c).toContain('typedef struct node node_t;');
  });
  it.skipIf(skipWithout('bpftool'))('bpftool writes the rich blob the same way', () => {
    const f = join(tempDir(), 'rich.btf');
    writeFileSync(f, good);
    expect(dumpC(parseBtf(good))).toBe(run('bpftool', ['btf', 'dump', 'file', f, 'format', 'c']));
  });
  it('a struct that contains itself is a typed error', () => {
    const b = new BtfBuilder();
    b.add({ kind: 'STRUCT', nameOff: b.str('loop'), kindFlag: false, vlen: 1, sizeOrType: 4, members: [{ nameOff: b.str('self'), type: 1, offset: 0 }] });
    expect(() => dumpC(b.build())).toThrow(BtfError);
    expect(() => dumpC(b.build())).toThrow('type [1]: unsatisfiable type cycle');
  });
  it('mutated blobs: dumpC throws nothing but BtfError', () => {
    fc.assert(
      fc.property(fc.nat({ max: good.length }), fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (cut, flips) => {
        const bytes = good.slice(0, cut < good.length / 8 ? cut * 8 : good.length); // mostly whole blobs: flips, not truncations
        for (const [at, v] of flips) if (at < bytes.length) bytes[at] = v;
        let btf: Btf;
        try {
          btf = parseBtf(bytes);
        } catch {
          return; // the parser's own property is tested in btf.test.ts
        }
        try {
          expect(typeof dumpC(btf)).toBe('string');
        } catch (e) {
          expect(e).toBeInstanceOf(BtfError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
