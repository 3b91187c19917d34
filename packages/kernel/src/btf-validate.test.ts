/**
 * @bpf/btf's validateBtf against BPF_BTF_LOAD: thousands of blobs mutated from real BTF
 * (clang-19 objects, BtfBuilder output), seeded so that a failure replays. For every blob the
 * verdict and errno must match the kernel's, and for a rejection our log's last line must be
 * the last line of the kernel's log.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble } from '@bpf/isa';
import { BtfBuilder, btfFromProtos, KIND, parseBtf, validateBtf, writeBtf, type Btf, type BtfType } from '@bpf/btf';
import { fixturesDir, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { closeFd, firstError, KernelError, loadBtf } from './index.js';

/** More kinds and shapes than fixtures/btf/kinds.c: bitfields, type tag chains, vars in sections, tagged params. */
const MORE_C = `
typedef unsigned char u8;
typedef long long s64;
struct bits { u8 a : 1; u8 b : 7; unsigned int c : 20; enum e { X = -2, Y = 7 } d : 4; long long e : 33; };
union pick { struct bits b; char raw[8]; float f; long double ld; };
struct list { struct list *next, *prev; void (*cb)(struct list *, int); int arr[3][2]; char tail[]; };
struct fwdonly;
typedef struct fwdonly fwd_t;
int __attribute__((btf_type_tag("a"))) __attribute__((btf_type_tag("b"))) * const volatile tagged;
struct __attribute__((btf_decl_tag("s"))) tagme { int x __attribute__((btf_decl_tag("m"))); };
static volatile const int rodata_v = 3;
struct bits gbits;
union pick gpick;
struct list glist;
fwd_t *gfwd;
struct tagme gtag;
int (*vfn)(int, ...);
__attribute__((noinline)) int take(int a __attribute__((btf_decl_tag("p"))), s64 b) { return a + (int)b + rodata_v; }
__attribute__((section("tc"), used)) int entry(void *ctx) { return take(1, 2) + gbits.c + gpick.b.a + (int)(long)glist.next + (int)(long)gfwd + gtag.x + (int)(long)vfn; }
`;

/** A mulberry32 generator: the same seed gives the same blobs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A BtfBuilder blob with one of everything the builder API does not have helpers for. */
function builtBlob(): Uint8Array {
  const b = new BtfBuilder();
  const int = b.int('int', 4, true);
  const u8 = b.int('unsigned char', 1, false);
  const base = { kindFlag: false, vlen: 0 } as const;
  const add = (t: BtfType): number => b.add(t);
  const arr = add({ ...base, kind: 'ARRAY', nameOff: 0, sizeOrType: 0, elemType: u8, indexType: int, nelems: 16 });
  const s = add({ ...base, kind: 'STRUCT', nameOff: b.str('pair'), vlen: 3, sizeOrType: 32, members: [
    { nameOff: b.str('a'), type: int, offset: 0 }, { nameOff: b.str('name'), type: arr, offset: 32 }, { nameOff: b.str('p'), type: 0, offset: 0 },
  ] });
  const ptr = b.ptr(s);
  // patch the third member to point at the pointer (ids are known only now)
  const st = (b as unknown as { types: BtfType[] }).types[s - 1]! as BtfType & { members: { nameOff: number; type: number; offset: number }[] };
  st.members[2] = { nameOff: b.str('next'), type: ptr, offset: 192 };
  const en = add({ ...base, kind: 'ENUM', nameOff: b.str('mode'), vlen: 2, sizeOrType: 4, values: [{ nameOff: b.str('OFF'), val: 0n }, { nameOff: b.str('ON'), val: 1n }] });
  const e64 = add({ ...base, kind: 'ENUM64', nameOff: b.str('wide'), kindFlag: true, vlen: 1, sizeOrType: 8, values: [{ nameOff: b.str('NEG'), val: 0xffffffff_fffffff0n }] });
  const td = add({ ...base, kind: 'TYPEDEF', nameOff: b.str('pair_t'), sizeOrType: s });
  const c = add({ ...base, kind: 'CONST', nameOff: 0, sizeOrType: td });
  const tag = add({ ...base, kind: 'TYPE_TAG', nameOff: b.str('user'), sizeOrType: int });
  add({ ...base, kind: 'PTR', nameOff: 0, sizeOrType: tag });
  const fl = add({ ...base, kind: 'FLOAT', nameOff: b.str('double'), sizeOrType: 8 });
  const proto = b.funcProto(int, [{ name: 'x', type: c }, { name: 'm', type: en }, { name: 'w', type: e64 }, { name: 'f', type: fl }]);
  const fn = b.func('use', proto, 'global');
  add({ ...base, kind: 'DECL_TAG', nameOff: b.str('arg0'), sizeOrType: fn, componentIdx: 0 });
  add({ ...base, kind: 'FWD', nameOff: b.str('later'), kindFlag: true, sizeOrType: 0 });
  const v = add({ ...base, kind: 'VAR', nameOff: b.str('counter'), sizeOrType: int, linkage: 1 });
  add({ ...base, kind: 'DATASEC', nameOff: b.str('.data'), vlen: 1, sizeOrType: 8, secinfo: [{ type: v, offset: 4, size: 4 }] });
  return writeBtf(b.build());
}

function clangBtf(dir: string, name: string, source: string): Uint8Array {
  const c = join(dir, `${name}.c`);
  writeFileSync(c, source);
  const obj = join(dir, `${name}.o`);
  execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-c', c, '-o', obj]);
  execFileSync('llvm-objcopy-19', [`--dump-section=.BTF=${obj}.btf`, obj, join(dir, `${name}.scratch.o`)]);
  return writeBtf(fixDatasecs(parseBtf(new Uint8Array(readFileSync(`${obj}.btf`)))));
}

/**
 * What libbpf does before loading an object's BTF: clang leaves section sizes and variable
 * offsets to the loader, so lay the variables out one after another, 8-byte aligned.
 */
function fixDatasecs(btf: Btf): Btf {
  const types = btf.types.map((t) => {
    if (t?.kind !== 'DATASEC') return t;
    let end = 0;
    const secinfo = t.secinfo.map((v) => {
      const offset = Math.ceil(end / 8) * 8;
      end = offset + v.size;
      return { ...v, offset };
    });
    return { ...t, sizeOrType: Math.max(end, 1), secinfo };
  });
  return { ...btf, types };
}

const FIXED: Partial<Record<string, number>> = { INT: 4, ARRAY: 12, VAR: 4, DECL_TAG: 4 };
const PER_VLEN: Partial<Record<string, number>> = { STRUCT: 12, UNION: 12, DATASEC: 12, ENUM64: 12, ENUM: 8, FUNC_PROTO: 8 };

/** Where each type record and its trailing records start, for targeted mutations. */
function layout(bytes: Uint8Array): { btf: Btf; recs: number[]; hdr: number; strAt: number; strLen: number } {
  const btf = parseBtf(bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hdr = dv.getUint32(4, true);
  let p = hdr + dv.getUint32(8, true);
  const recs: number[] = [0];
  for (let id = 1; id < btf.types.length; id++) {
    recs.push(p);
    const t = btf.types[id]!;
    p += 12 + (FIXED[t.kind] ?? 0) + t.vlen * (PER_VLEN[t.kind] ?? 0);
  }
  return { btf, recs, hdr, strAt: hdr + dv.getUint32(16, true), strLen: dv.getUint32(20, true) };
}

/** One or two targeted mutations, or a few random byte changes. */
function mutate(seed: Uint8Array, r: () => number): { bytes: Uint8Array; what: string } {
  const L = layout(seed);
  const out = seed.slice();
  const dv = new DataView(out.buffer);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const n = L.btf.types.length;
  const what: string[] = [];
  const interesting = (max: number): number =>
    pick([0, 1, 2, 3, 4, 7, 8, 12, 16, 31, 32, 63, 64, 65, 127, 128, 255, 256, max, max - 1, max + 1, 0xffff, 0xfffff, 0x100000, 0xffffff, 0x1000000, 0x7fffffff, 0xffffffff, Math.floor(r() * (max + 2))].map((x) => Math.max(0, x) >>> 0));
  const rounds = r() < 0.25 ? 2 : 1;
  for (let k = 0; k < rounds; k++) {
    const id = 1 + Math.floor(r() * (n - 1));
    const t = L.btf.types[id]!;
    const at = L.recs[id]!;
    const extra = (i: number): number => at + 12 + 4 * i;
    const which = Math.floor(r() * 16);
    switch (which) {
      case 0: {
        const v = pick([0, 1, interesting(L.strLen), L.strLen - 1, L.strLen, t.nameOff + 1, ...L.btf.types.slice(1).map((u) => u!.nameOff)]);
        dv.setUint32(at, v, true);
        what.push(`[${id}] name_off=${v}`);
        break;
      }
      case 1: {
        const v = pick([0, 1, id, n - 1, n, n + 1, interesting(n), Math.floor(r() * n)]);
        dv.setUint32(at + 8, v, true);
        what.push(`[${id}] size/type=${v}`);
        break;
      }
      case 2: {
        const info = dv.getUint32(at + 4, true);
        const v = pick([0, 1, 2, 3, (info & 0xffff) + 1, Math.max(0, (info & 0xffff) - 1), 0xffff]);
        dv.setUint32(at + 4, ((info & ~0xffff) | v) >>> 0, true);
        what.push(`[${id}] vlen=${v}`);
        break;
      }
      case 3: {
        const info = dv.getUint32(at + 4, true);
        const kind = Math.floor(r() * 32);
        dv.setUint32(at + 4, ((info & ~(0x1f << 24)) | (kind << 24)) >>> 0, true);
        what.push(`[${id}] kind=${kind}`);
        break;
      }
      case 4: {
        dv.setUint32(at + 4, (dv.getUint32(at + 4, true) ^ 0x80000000) >>> 0, true);
        what.push(`[${id}] kind_flag^`);
        break;
      }
      case 5: {
        const bit = pick([16, 20, 23, 29, 30]);
        dv.setUint32(at + 4, (dv.getUint32(at + 4, true) | (1 << bit)) >>> 0, true);
        what.push(`[${id}] info bit ${bit}`);
        break;
      }
      case 6: case 7: {
        // the kind's own words: members, params, values, array, int data, var, decl tag, vsi
        const words = (out.length - extra(0)) >>> 2;
        const span = Math.min(words, ((FIXED[t.kind] ?? 0) + t.vlen * (PER_VLEN[t.kind] ?? 0)) / 4);
        if (span <= 0) {
          dv.setUint32(at + 8, interesting(64), true);
          what.push(`[${id}] size`);
          break;
        }
        const w = Math.floor(r() * span);
        const old = dv.getUint32(extra(w), true);
        const v = pick([interesting(n), old + 1, old - 1, old + 8, old ^ 1, (old & 0xffffff) | (Math.floor(r() * 40) << 24), -1, old * 2, Math.floor(r() * 512)]) >>> 0;
        dv.setUint32(extra(w), v, true);
        what.push(`[${id}] word ${w}=${v}`);
        break;
      }
      case 8: {
        const v = pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 64, 4096, 0xffffffff]);
        dv.setUint32(at + 8, v, true);
        what.push(`[${id}] size=${v}`);
        break;
      }
      case 9: case 10: {
        // string section bytes
        const p = L.strAt + Math.floor(r() * L.strLen);
        const v = pick([0, 46, 45, 32, 10, 0x80, 0xc3, 0xe9, 0xff, 48, 95, 65, 126, 127, 1]);
        out[p] = v;
        what.push(`str[${p - L.strAt}]=${v}`);
        break;
      }
      case 11: {
        const field = pick([4, 8, 12, 16, 20]);
        const old = dv.getUint32(field, true);
        const v = pick([0, old + 1, old - 1, old + 4, old - 4, old + 12, old - 12, 23, 25, 28, 32, interesting(out.length)]) >>> 0;
        dv.setUint32(field, v, true);
        what.push(`hdr@${field}=${v}`);
        break;
      }
      case 12: {
        const p = pick([0, 1, 2, 3]);
        out[p] = pick([0, 1, 2, 0x9f, 0xeb, 0xff]);
        what.push(`hdr byte ${p}=${out[p]}`);
        break;
      }
      case 13: {
        const cut = Math.floor(r() * out.length);
        what.push(`truncate ${cut}`);
        return { bytes: out.slice(0, cut), what: what.join('; ') };
      }
      default: {
        const flips = 1 + Math.floor(r() * 4);
        for (let f = 0; f < flips; f++) {
          const p = Math.floor(r() * out.length);
          out[p] = r() < 0.5 ? out[p]! ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
          what.push(`byte ${p}=${out[p]}`);
        }
      }
    }
  }
  return { bytes: out, what: what.join('; ') };
}

interface Verdict {
  readonly accepted: boolean;
  readonly errno: number;
  readonly line?: string;
}

function kernelVerdict(bytes: Uint8Array): Verdict {
  try {
    closeFd(loadBtf(bytes));
    return { accepted: true, errno: 0 };
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    const line = firstError(e.log ?? '');
    return { accepted: false, errno: e.errno, ...(line !== undefined ? { line } : {}) };
  }
}

function ourVerdict(bytes: Uint8Array): Verdict {
  const [err] = validateBtf(bytes);
  if (!err) return { accepted: true, errno: 0 };
  const line = firstError(err.log);
  return { accepted: false, errno: err.errno, ...(line !== undefined ? { line } : {}) };
}

describe.skipIf(skipWithout('kernel', 'clang-19'))('validateBtf agrees with BPF_BTF_LOAD', () => {
  const dir = tempDir();
  const seeds: [string, Uint8Array][] = [
    ['kinds.c', clangBtf(dir, 'kinds', readFileSync(join(fixturesDir, 'btf/kinds.c'), 'utf8'))],
    ['more.c', clangBtf(dir, 'more', MORE_C)],
    ['builder', builtBlob()],
    ['protos', writeBtf(btfFromProtos(assemble('.func f(u64 a, u64 *b) u64\ncall f\nexit\nf:\nr0 = r1\nexit')).btf)],
  ];

  it('on the unmutated seeds', () => {
    for (const [name, bytes] of seeds) { console.log(name, JSON.stringify(kernelVerdict(bytes))); expect(ourVerdict(bytes), name).toEqual(kernelVerdict(bytes)); }
  });

  it('on thousands of seeded mutations', () => {
    const PER_SEED = 1500;
    const disagreements: string[] = [];
    let tested = 0;
    let rejected = 0;
    const hist = new Map<string, number>();
    for (const [si, [name, seed]] of seeds.entries()) {
      const r = rng(0x5eed + si);
      for (let k = 0; k < PER_SEED; k++) {
        const { bytes, what } = mutate(seed, r);
        const kernel = kernelVerdict(bytes);
        const ours = ourVerdict(bytes);
        tested++;
        if (!kernel.accepted) rejected++;
        if (process.env.BTFV_HIST) hist.set(kernel.line?.replace(/^\[\d+\] /, '') ?? String(kernel.accepted), (hist.get(kernel.line?.replace(/^\[\d+\] /, '') ?? String(kernel.accepted)) ?? 0) + 1);
        if (kernel.accepted !== ours.accepted || kernel.errno !== ours.errno || kernel.line !== ours.line)
          disagreements.push(`${name} #${k} (${what}): kernel ${JSON.stringify(kernel)} ours ${JSON.stringify(ours)}`);
      }
    }
    if (process.env.BTFV_HIST) console.log([...hist].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v}\t${k}`).join('\n'));
    console.log(`validateBtf vs BPF_BTF_LOAD: ${tested} blobs, ${rejected} rejected by the kernel, ${disagreements.length} disagreements`);
    expect(disagreements.slice(0, 20)).toEqual([]);
    expect(KIND.STRUCT).toBe(4);
  });
});
