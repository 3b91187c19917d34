/**
 * linkObjects against libbpf's static linker (`bpftool gen object`) and the running kernel, on
 * our own pair fixtures/c/elf/linked/app.c + lib.c (an extern function, an extern BTF map, an
 * extern .bss variable, a __weak function and variable overridden by strong ones, two static
 * helpers of the same name) built with clang-19 for -mcpu=v2/v3/v4, both byte orders; and on
 * every object of the C corpus linked alone, where bpftool's output is the oracle too; and on
 * pairs of public objects others wrote (BPF_REALWORLD_OBJECTS), linked in both orders, passed
 * as Node Buffers the way a caller reads them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dumpRaw, findByName, parseBtf } from '@bpf/btf';
import type { Program } from '@bpf/isa';
import { decode } from '@bpf/isa';
import { fixturesDir, skipWithout, tempDir } from '@bpf/testkit';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { corpus } from './corpus.test.helper.js';
import { code, cstr, writeElf } from './elfwriter.test.helper.js';
import { haveLibbpf, libbpfLoad } from './libbpf.test.helper.js';
import { ElfError, ElfLinkError, linkObjects, loadPrograms, parseElf, parseElfFile, SHF } from './index.js';

const src = join(fixturesDir, 'c/elf/linked');
const cpus = ['v2', 'v3', 'v4'] as const;
let dir = '';
const obj = (name: string, cpu: string, end: 'el' | 'eb'): string => join(dir, `${name}.${cpu}.${end}.o`);
const read = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
const input = (path: string): { name: string; bytes: Uint8Array } => ({ name: path.slice(dir.length + 1), bytes: read(path) });

/** bpftool gen object's output, or its error text. */
function bpftoolLink(out: string, ...ins: string[]): { bytes?: Uint8Array; error?: string } {
  const r = spawnSync('bpftool', ['gen', 'object', out, ...ins], { encoding: 'utf8' });
  return r.status === 0 ? { bytes: read(out) } : { error: `${r.stderr}${r.stdout}` };
}

describe.skipIf(skipWithout('clang-19'))('static linking (libbpf linker.c rules)', () => {
  beforeAll(() => {
    dir = tempDir('elf-link-');
    for (const f of ['app', 'lib', 'mismatch'])
      for (const cpu of cpus)
        for (const end of ['el', 'eb'] as const)
          execFileSync('clang-19', ['-target', `bpf${end}`, `-mcpu=${cpu}`, '-O2', '-g', '-Wall', '-Werror', '-c', join(src, `${f}.c`), '-o', obj(f, cpu, end)]);
  });

  it.skipIf(skipWithout('bpftool')).each(cpus)('app + lib (-mcpu=%s): byte for byte what bpftool gen object writes', (cpu) => {
    const theirs = bpftoolLink(join(dir, `linked.${cpu}.o`), obj('app', cpu, 'el'), obj('lib', cpu, 'el'));
    expect(theirs.error).toBeUndefined();
    const ours = linkObjects([input(obj('app', cpu, 'el')), input(obj('lib', cpu, 'el'))]);
    expect(Buffer.from(ours).equals(Buffer.from(theirs.bytes!))).toBe(true);
  });

  it('the linked object resolves every extern: one program per file, the maps and data of both', () => {
    const bytes = linkObjects([input(obj('app', 'v3', 'el')), input(obj('lib', 'v3', 'el'))]);
    const o = parseElf(bytes);
    expect(o.programs.map((p) => p.name)).toEqual(['app_xdp', 'lib_socket']);
    expect(o.maps.map((m) => m.name).sort()).toEqual(['.bss', '.data', '.rodata', 'shared']);
    const elf = parseElfFile(bytes);
    const sym = (n: string) => elf.symbols.filter((s) => s.name === n);
    // the weak definitions lost: one symbol each, strong, pointing at lib.c's bytes
    expect(sym('pick').map((s) => [s.bind, s.type])).toEqual([['global', 'func']]);
    expect(sym('mode').map((s) => [s.bind, s.value])).toEqual([['global', 4]]); // app's weak `mode` is at .data+0
    expect(sym('lib_scale').map((s) => s.shndx === 0)).toEqual([false]);
    expect(sym('shared').map((s) => s.shndx === 0)).toEqual([false]);
    expect(sym('helper')).toHaveLength(2); // both static helpers kept, locally
    // each program reaches its callees across the files
    const progs = loadPrograms(bytes);
    expect(progs.map((p) => [p.name, p.subprogs.map((s) => s.name).sort()])).toEqual([
      ['app_xdp', ['app_xdp', 'helper', 'lib_scale', 'helper', 'pick'].sort()],
      ['lib_socket', ['lib_socket', 'lib_scale', 'helper', 'pick'].sort()],
    ]);
  });

  it.each(cpus)('big-endian (-mcpu=%s): the same object as the little-endian link, in the other byte order', (cpu) => {
    // (bpftool v7.1's libbpf 1.1 refuses to link big-endian objects on this host.)
    const el = linkObjects([input(obj('app', cpu, 'el')), input(obj('lib', cpu, 'el'))]);
    const eb = linkObjects([input(obj('app', cpu, 'eb')), input(obj('lib', cpu, 'eb'))]);
    const [a, b] = [parseElfFile(el), parseElfFile(eb)];
    expect(b.header.endian).toBe('big');
    const secs = (f: typeof a) => f.sections.map((s) => [s.name, s.type, s.size, s.addralign]);
    expect(secs(b)).toEqual(secs(a));
    const syms = (f: typeof a) => f.symbols.map((s) => [s.name, s.bind, s.type, s.shndx, s.value, s.size]);
    expect(syms(b)).toEqual(syms(a));
    const relocs = (f: typeof a) => f.relocations.map((r) => [r.target, r.offset, r.type, r.symbol]);
    expect(relocs(b)).toEqual(relocs(a));
    for (const s of a.sections.filter((x) => x.flags & SHF.EXECINSTR)) {
      const t = b.sections[s.index]!;
      expect(decode(t.data, { endian: 'big', strict: false })).toEqual(decode(s.data, { endian: 'little', strict: false }));
    }
    const btf = (f: typeof a) => dumpRaw(parseBtf(f.sections.find((s) => s.name === '.BTF')!.data));
    expect(btf(b)).toBe(btf(a));
  });

  it.skipIf(skipWithout('bpftool'))('two strong definitions: refused naming the symbol and both objects, as bpftool refuses', () => {
    const lib = obj('lib', 'v3', 'el');
    const theirs = bpftoolLink(join(dir, 'dup.o'), lib, lib);
    expect(theirs.error).toMatch(/conflicting non-weak symbol #\d+ \(lib_scale\)/);
    const e = catchLink([input(lib), { name: 'lib-again.o', bytes: read(lib) }]);
    expect(e).toBeInstanceOf(ElfError);
    expect([e.code, e.symbol, e.objects]).toEqual(['BAD_LINK', 'lib_scale', [`lib.v3.el.o`, 'lib-again.o']]);
    expect(e.message).toMatch(/conflicting non-weak definitions of 'lib_scale' in lib\.v3\.el\.o and lib-again\.o/);
  });

  it.skipIf(skipWithout('bpftool'))('an extern whose BTF prototype differs from the definition: refused with libbpf\'s reason', () => {
    for (const order of [['lib', 'mismatch'], ['mismatch', 'lib']]) {
      const paths = order.map((n) => obj(n, 'v3', 'el'));
      const theirs = bpftoolLink(join(dir, 'bad.o'), ...paths);
      const reason = /incompatible number of func_proto params \d and \d/.exec(theirs.error ?? '')?.[0];
      expect(reason).toBeDefined();
      const e = catchLink(paths.map(input));
      expect([e.code, e.symbol]).toEqual(['BAD_LINK', 'lib_scale']);
      expect(e.message).toContain(reason);
      expect(e.objects).toEqual(paths.map((p) => p.slice(dir.length + 1)));
    }
  });

  it('an object that is not relocatable, or of the other byte order, is refused with its name', () => {
    const el = read(obj('app', 'v3', 'el'));
    const exec = el.slice();
    exec[16] = 2; // ET_EXEC
    expect(catchLink([{ name: 'x.o', bytes: exec }]).message).toMatch(/x\.o: e_type 2 is not ET_REL/);
    expect(catchLink([{ name: 'a.o', bytes: el }, { name: 'b.o', bytes: read(obj('lib', 'v3', 'eb')) }]).message).toMatch(/b\.o: byte order mismatch/);
  });
});

describe('objects without BTF (written here, no clang): what libbpf\'s linker does with them', () => {
  const mov = (imm: number) => ({ code: 0xb7, dst: 0, src: 0, off: 0, imm });
  const exit = { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 };
  const call = (imm: number) => ({ code: 0x85, dst: 0, src: 1, off: 0, imm });
  /** `.text` holding a static subprogram returning `n`, called from `socket` through the section symbol (clang's form for the first static function). */
  const object = (n: number, opts: { bind?: 0 | 1; license?: string } = {}) =>
    writeElf({
      sections: [
        { name: '.text', flags: 6, data: code([mov(n), exit]) },
        { name: 'socket', flags: 6, data: code([call(-1), exit]) },
        { name: 'license', flags: 3, data: cstr(opts.license ?? 'GPL'), align: 1 },
      ],
      symbols: [
        { name: '.text', section: '.text', type: 3 },
        { name: `prog${n}`, section: 'socket', type: 2, bind: opts.bind ?? 0, size: 16 },
      ],
      relocs: [{ section: 'socket', offset: 0, type: 10, symbol: '.text' }],
    });

  it('sections appended by name, license kept once, a call through a section symbol moved with its callee', () => {
    const out = parseElfFile(linkObjects([{ name: 'a.o', bytes: object(1) }, { name: 'b.o', bytes: object(2) }]));
    const sec = (n: string) => out.sections.find((x) => x.name === n)!;
    expect(['.text', 'socket', 'license'].map((n) => sec(n).size)).toEqual([32, 32, 4]);
    expect(decode(sec('.text').data).map((i) => i.imm)).toEqual([1, 0, 2, 0]);
    // b.o's call names .text+0 of its own object: now .text+16, two slots further
    expect(decode(sec('socket').data).filter((i) => i.code === 0x85).map((i) => i.imm)).toEqual([-1, 1]);
    expect(out.symbols.filter((x) => x.name.startsWith('prog')).map((x) => [x.name, x.value])).toEqual([['prog1', 0], ['prog2', 16]]);
    expect(out.symbols.filter((x) => x.type === 'section').map((x) => x.name)).toEqual(['.text']); // one section symbol per section
    expect(out.relocations.map((r) => [r.offset, r.symbol])).toEqual([[0, 1], [16, 1]]);
  });

  it.skipIf(skipWithout('bpftool'))('the same bytes as bpftool gen object, and the same refusals', () => {
    const d = tempDir('elf-link-nobtf-');
    const put = (n: string, b: Uint8Array): string => {
      writeFileSync(join(d, n), b);
      return join(d, n);
    };
    const [a, b, g] = [put('a.o', object(1)), put('b.o', object(2)), put('g.o', object(1, { bind: 1 }))];
    const theirs = bpftoolLink(join(d, 'ab.o'), a, b);
    expect(Buffer.from(linkObjects([{ name: 'a.o', bytes: object(1) }, { name: 'b.o', bytes: object(2) }])).equals(Buffer.from(theirs.bytes!))).toBe(true);
    expect(bpftoolLink(join(d, 'g.out'), g).error).toMatch(/failed to find BTF info for object/);
  });

  it('refuses a global without BTF, and licenses that differ, naming the object', () => {
    expect(catchLink([{ name: 'g.o', bytes: object(1, { bind: 1 }) }]).message).toMatch(/g\.o: no BTF for global symbol 'prog1'/);
    expect(catchLink([{ name: 'a.o', bytes: object(1) }, { name: 'mit.o', bytes: object(2, { license: 'MIT' }) }]).message).toMatch(/non-identical contents of section 'license' in mit\.o/);
  });
});

describe.skipIf(skipWithout('clang-19'))('fuzz: linking malformed objects gives ElfError and nothing else', () => {
  let seeds: Uint8Array[] = [];
  beforeAll(() => {
    const d = tempDir('elf-link-fuzz-');
    seeds = ['app', 'lib'].map((f) => {
      const out = join(d, `${f}.o`);
      execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-c', join(src, `${f}.c`), '-o', out]);
      return read(out);
    });
  });
  it('random byte edits of either input; a link that succeeds parses', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        (which, edits) => {
          const ins = seeds.map((b) => b.slice());
          const b = ins[which]!;
          for (const [at, v] of edits) b[at % b.length] = v;
          let out: Uint8Array;
          try {
            out = linkObjects(ins.map((bytes, i) => ({ name: `${i}.o`, bytes })));
          } catch (e) {
            if (e instanceof ElfError) return;
            throw e;
          }
          parseElfFile(out);
        },
      ),
      { numRuns: 800 },
    );
  }, 300_000);
});

function catchLink(ins: { name: string; bytes: Uint8Array }[]): ElfLinkError {
  try {
    linkObjects(ins);
  } catch (e) {
    if (e instanceof ElfLinkError) return e;
    throw e;
  }
  throw new Error('linked');
}

describe.skipIf(skipWithout('clang-19', 'bpftool'))('every object of the C corpus linked alone: what bpftool gen object writes', () => {
  it('byte for byte, or refused by both', () => {
    const cdir = corpus();
    const out = join(tempDir('elf-link-one-'), 'one.o');
    let same = 0;
    for (const f of readdirSync(cdir).filter((x) => x.endsWith('.el.o')).sort()) {
      const path = join(cdir, f);
      const theirs = bpftoolLink(out, path);
      let ours: Uint8Array | undefined;
      try {
        ours = linkObjects([{ name: f, bytes: read(path) }]);
      } catch (e) {
        if (!(e instanceof ElfLinkError)) throw e;
      }
      expect([f, ours === undefined]).toEqual([f, theirs.bytes === undefined]);
      if (ours && theirs.bytes) {
        expect([f, Buffer.from(ours).equals(Buffer.from(theirs.bytes))]).toEqual([f, true]);
        same++;
      }
    }
    expect(same).toBeGreaterThan(40);
  }, 300_000);
});

/** Every .o under `root`, sorted. */
function objectsUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.o')) out.push(p);
    }
  };
  walk(root);
  return out.sort();
}

describe.skipIf(skipWithout('bpftool'))('pairs of public objects others wrote, linked in both orders: what bpftool gen object writes', () => {
  it('byte for byte (the BTF deduplicated as libbpf does it, forward declarations included), or refused by both', (ctx) => {
    const root = process.env.BPF_REALWORLD_OBJECTS;
    if (root === undefined) return ctx.skip('BPF_REALWORLD_OBJECTS (a directory of <collection>/<object>.o) is not set');
    const all = objectsUnder(root);
    // neighbours in a sorted list share headers (the same vmlinux.h, the same loader's
    // types); every 4th object and the next one, in both orders
    const pairs: [string, string][] = [];
    for (let i = 0; i + 1 < all.length; i += 4) pairs.push([all[i]!, all[i + 1]!], [all[i + 1]!, all[i]!]);
    const out = join(tempDir('elf-link-pairs-'), 'pair.o');
    let same = 0;
    for (const ins of pairs) {
      const theirs = bpftoolLink(out, ...ins);
      let ours: Uint8Array | undefined;
      try {
        ours = linkObjects(ins.map((p) => ({ name: p, bytes: readFileSync(p) })));
      } catch (e) {
        if (!(e instanceof ElfError)) throw e;
      }
      // Linux 6.1's libbpf (bpftool v7.1.0) refuses two objects that both declare one extern
      // kfunc (it asks a FUNC for its size); later libbpf links them, and so do we
      if (ours && theirs.error?.includes('failed to resolve size of underlying type')) continue;
      expect([ins, ours === undefined]).toEqual([ins, theirs.bytes === undefined]);
      if (ours && theirs.bytes) {
        expect([ins, Buffer.from(ours).equals(Buffer.from(theirs.bytes))]).toEqual([ins, true]);
        same++;
      }
    }
    expect(same).toBeGreaterThan(pairs.length / 4);
  }, 600_000);
});

interface KernelApi {
  loadWithMaps(p: Program, opts?: { logLevel?: number }): { accepted: boolean; errno: number; log: string; close(): void };
}
const kernelModule = '@bpf/kernel';
const api: KernelApi | undefined = await import(/* @vite-ignore */ kernelModule).then(
  (m: Partial<KernelApi>) => (typeof m.loadWithMaps === 'function' ? (m as KernelApi) : undefined),
  () => undefined,
);

describe.skipIf(api === undefined || skipWithout('clang-19', 'bpftool', 'kernel') || !haveLibbpf())('the linked programs in the kernel: our link and loader, as libbpf loads bpftool\'s link', () => {
  it.each(cpus)('-mcpu=%s', (cpu) => {
    const d = tempDir('elf-link-kernel-');
    const app = join(d, 'app.o'), lib = join(d, 'lib.o'), linked = join(d, 'linked.o');
    for (const [f, o] of [['app', app], ['lib', lib]] as const) execFileSync('clang-19', ['-target', 'bpfel', `-mcpu=${cpu}`, '-O2', '-g', '-c', join(src, `${f}.c`), '-o', o]);
    expect(bpftoolLink(linked, app, lib).error).toBeUndefined();
    const ours = loadPrograms(linkObjects([{ name: 'app.o', bytes: read(app) }, { name: 'lib.o', bytes: read(lib) }]));
    expect(ours).toHaveLength(2);
    for (const p of ours) {
      const mine = api!.loadWithMaps(p, { logLevel: 1 });
      const theirs = libbpfLoad(linked, p.name)!;
      try {
        expect([p.name, mine.accepted, mine.errno]).toEqual([p.name, theirs.accepted, theirs.errno]);
        expect(mine.accepted).toBe(true);
      } finally {
        mine.close();
        theirs.close();
      }
    }
  });
});

describe.skipIf(skipWithout('clang-19', 'bpftool'))('a local type id after a static link (bpf_core_type_id_local)', () => {
  // bpftool gen object renumbers the second object's BTF types and its CO-RE records, but not the
  // type id clang wrote into the ld_imm64 (libbpf therefore takes the record's id unchecked:
  // bpf_core_calc_relo_insn; eunomia-bpf's bpf-developer-tutorial egress_pacer.bpf.o has 125 in
  // the instruction and 117 in its record, and our loader refused it)
  it("the program gets the linked BTF's id of the type, where the instruction still holds the one before the link", () => {
    const d = tempDir('elf-typeid-');
    writeFileSync(join(d, 'a.c'), 'struct a_one { int x; }; struct a_two { long y; struct a_one o; };\nint a_use(struct a_two *t) { return t ? t->o.x : 0; }\n__attribute__((section("socket"), used)) int a_prog(void *ctx) { struct a_two t = {}; return a_use(&t); }\nchar _l[] __attribute__((section("license"), used)) = "GPL";\n');
    writeFileSync(join(d, 'b.c'), 'struct b_thing { int z; };\n__attribute__((section("socket"), used)) int b_prog(void *ctx) { return __builtin_btf_type_id(*(struct b_thing *)0, 0); }\n');
    for (const f of ['a', 'b']) execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-c', join(d, `${f}.c`), '-o', join(d, `${f}.o`)]);
    const out = join(d, 'ab.o');
    const linked = bpftoolLink(out, join(d, 'a.o'), join(d, 'b.o'));
    expect(linked.error).toBeUndefined();
    const elf = parseElfFile(linked.bytes!);
    const sec = elf.sections.find((s) => s.name === '.BTF')!;
    const objectBtf = linked.bytes!.subarray(sec.offset, sec.offset + sec.size);
    const id = findByName(parseBtf(objectBtf), 'b_thing', 'STRUCT')[0]!;
    const ldimm = (p: Program): number => p.insns.find((i) => i.code === 0x18)!.imm;
    const before = loadPrograms(linked.bytes!).find((p) => p.name === 'b_prog')!;
    // CO-RE is applied for a target kernel: any BTF will do, a local id is the object's own
    const after = loadPrograms(linked.bytes!, { kernelBtf: objectBtf }).find((p) => p.name === 'b_prog')!;
    expect(ldimm(before)).not.toBe(id);
    expect(ldimm(after)).toBe(id);
  });
});
