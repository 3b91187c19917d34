/**
 * The `--json` shapes are a contract: apps/cli/schemas/<command>.schema.json (JSON Schema
 * 2020-12) documents each. Spawn the built `bpf` on real inputs — the examples, hand-made
 * bytes, clang objects, the running kernel — and validate every document against its schema;
 * check that every command taking --json has a schema and that the schemas document every field.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, skipWithout, tempDir } from '@bpf/testkit';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';

// the shipped command: the bundles of scripts/bundle.mjs (package.json "bin")
const bin = join(repoRoot, 'apps/cli/dist/bpf/bin.cjs');
const examples = join(repoRoot, 'examples');
const schemaDir = join(repoRoot, 'apps/cli/schemas');
const tmp = tempDir('bpf-cli-schemas-');
const EXAMPLES = ['call12.s', 'kfunc12.s', 'hello.s', 'reject-uninit.s', 'reject-r11-after-call.s'];
/** The C programs of the verifier corpus, compiled for -mcpu=v3. */
const C_PROGS = readdirSync(join(repoRoot, 'fixtures/c/progs')).filter((f) => f.endsWith('.c')).map((f) => f.slice(0, -2));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function bpf(args: readonly string[], input?: string): Result {
  const r = spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Doc = Record<string, Json>;

const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
const schemas = new Map<string, Record<string, unknown>>();
const validators = new Map<string, ValidateFunction>();
for (const f of readdirSync(schemaDir).filter((f) => f.endsWith('.schema.json'))) {
  const name = f.slice(0, -'.schema.json'.length);
  const schema = JSON.parse(readFileSync(join(schemaDir, f), 'utf8')) as Record<string, unknown>;
  schemas.set(name, schema);
  validators.set(name, ajv.compile(schema));
}

/** Run `bpf ARGS --json`, expect one of the exit codes, and validate stdout against SCHEMA. */
function check(schema: string, args: readonly string[], codes: number | readonly number[] = 0, input?: string): Doc {
  const r = bpf([...args, '--json'], input);
  expect(typeof codes === 'number' ? [codes] : codes, `bpf ${args.join(' ')}: exit ${r.code}: ${r.stderr}`).toContain(r.code);
  const doc = JSON.parse(r.stdout) as Doc;
  const validate = validators.get(schema);
  if (!validate) throw new Error(`no schema ${schema}`);
  expect(validate(doc), `bpf ${args.join(' ')}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  return doc;
}

beforeAll(() => {
  execFileSync('pnpm', ['exec', 'tsc', '-b', 'apps/cli'], { cwd: repoRoot, stdio: 'inherit' });
  execFileSync(process.execPath, [join(repoRoot, 'apps/cli/scripts/copy-examples.mjs')]);
  execFileSync(process.execPath, [join(repoRoot, 'apps/cli/scripts/bundle.mjs')]);
}, 300_000);

describe('the schemas', () => {
  /** Every `properties` member, `$defs` entry and tuple item, with its path. */
  function* documented(node: unknown, path: string): Generator<[string, Record<string, unknown>]> {
    if (node === null || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    for (const [key, group] of [['properties', '.'], ['$defs', '#']] as const) {
      const members = n[key] as Record<string, Record<string, unknown>> | undefined;
      for (const [k, v] of Object.entries(members ?? {})) {
        yield [`${path}${group}${k}`, v];
        yield* documented(v, `${path}${group}${k}`);
      }
    }
    for (const [i, v] of ((n.prefixItems as Record<string, unknown>[] | undefined) ?? []).entries()) {
      yield [`${path}[${i}]`, v];
      yield* documented(v, `${path}[${i}]`);
    }
    // (if/then/else only constrain which properties are required: nothing to document there)
    for (const key of ['items', 'anyOf', 'oneOf'])
      for (const sub of [n[key]].flat()) yield* documented(sub, `${path}${key === 'items' ? '[]' : ''}`);
  }

  it('are draft 2020-12 with $id, title and description, and describe every property', () => {
    expect(schemas.size).toBeGreaterThanOrEqual(13);
    for (const [name, s] of schemas) {
      expect(s.$schema, name).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(s.$id, name).toMatch(new RegExp(`/${name}\\.schema\\.json$`));
      expect([typeof s.title, typeof s.description], name).toEqual(['string', 'string']);
      let n = 0;
      for (const [path, prop] of documented(s, name)) {
        expect(typeof prop.description === 'string' && prop.description.length > 0, `${path} has no description`).toBe(true);
        if (prop.properties !== undefined) expect(prop.additionalProperties, `${path} is not closed`).toBe(false);
        n++;
      }
      expect(n, name).toBeGreaterThan(0);
      expect(s.additionalProperties, `${name}: the document is not closed`).toBe(false);
    }
  });

  it('cover every command that takes --json (and nothing else)', () => {
    const main = bpf(['--help']);
    expect(main.code).toBe(0);
    const names = [...main.stdout.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]!);
    expect(names).toContain('asm');
    const wanted: string[] = [];
    for (const c of names) {
      const help = bpf([c, '--help']).stdout;
      if (!/^\s+--json\b/m.test(help)) continue;
      // `Usage: bpf kernel load|run|compare FILE ...`: one schema per subcommand
      const subs = /^Usage: bpf \S+ ([a-z]+(?:\|[a-z]+)*)(?= |$)/m.exec(help)?.[1];
      wanted.push(...(subs ? subs.split('|').map((s) => `${c}-${s}`) : [c]));
    }
    expect(wanted.filter((w) => !schemas.has(w)), 'commands without a schema').toEqual([]);
    expect([...schemas.keys()].filter((s) => !wanted.includes(s)), 'schemas without a command').toEqual([]);
  });

  it('reject a field they do not document', () => {
    const doc = check('run', ['run', join(examples, 'hello.s')]);
    expect(validators.get('run')!({ ...doc, extra: 1 })).toBe(false);
  });
});

describe('errors under --json', () => {
  it('print nothing on stdout and one line `bpf: FILE: place: message` on stderr', () => {
    const bad = bpf(['asm', '-', '--json'], 'r0 = 1\nr0 +== 2\nexit\n');
    expect(bad).toMatchObject({ code: 3, stdout: '' });
    expect(bad.stderr).toMatch(/^bpf: -: 2:\d+: [^\n]+\n$/);
    const fault = bpf(['run', '-', '--mem', '00', '--json'], 'r0 = *(u64 *)(r1 + 0)\nexit\n');
    expect(fault).toMatchObject({ code: 5, stdout: '' });
    expect(fault.stderr).toMatch(/^bpf: -: insn 0: [^\n]+\n$/);
  });
});

describe('asm, disasm, liveness, verify, run, jit on the examples', () => {
  it.each(EXAMPLES)('%s', (name) => {
    const f = join(examples, name);
    const asm = check('asm', ['asm', f]);
    expect(asm.hex).toHaveLength(asm.insns as number);
    for (const syntax of ['llvm', 'kernel']) check('disasm', ['disasm', f, '--syntax', syntax]);
    check('liveness', ['liveness', f]);
    const v = check('verify', ['verify', f], name.startsWith('reject-') ? 1 : 0);
    expect(v.accepted).toBe(!name.startsWith('reject-'));
    check('verify', ['verify', f, '--log-level', '2'], [0, 1]);
    const traced = check('verify', ['verify', f, '--trace', '--log-level', '0'], [0, 1]);
    expect((traced.trace as Doc).source).toBe('verifier');
    check('run', ['run', f]);
    const jit = check('jit', ['jit', f, '--arch', 'x86_64']);
    expect(jit.r0).toBeUndefined();
    check('jit', ['jit', f, '--arch', 'arm64']);
  });
  it.skipIf(process.arch !== 'x64')('jit --run on x86-64', () => {
    for (const name of EXAMPLES) {
      const j = check('jit', ['jit', join(examples, name), '--run']);
      expect(j.arch).toBe('x86_64');
      if (name === 'call12.s') expect(j.r0).toBe('0x4e');
    }
    check('jit', ['jit', '-', '--run', '--mem', '2a 00 00 00'], 0, 'r0 = *(u32 *)(r1 + 0)\nexit\n');
  });
  it.skipIf(skipWithout('qemu-aarch64', 'aarch64-linux-gnu-gcc'))('jit --arch arm64 --run under qemu-aarch64', () => {
    for (const name of ['call12.s', 'kfunc12.s', 'hello.s']) check('jit', ['jit', join(examples, name), '--arch', 'arm64', '--run']);
    const j = check('jit', ['jit', '-', '--arch', 'arm64', '--run', '--mem', '2a 00 00 00'], 0, 'r0 = *(u32 *)(r1 + 0)\nexit\n');
    expect(j).toMatchObject({ arch: 'arm64', r0: '0x2a', output: '2a000000' });
  });
  it('other inputs: hex, a loop, memory, packets', () => {
    const hex = join(tmp, 'p.hex');
    writeFileSync(hex, '18 01 00 00 01 00 00 00\n00 00 00 00 02 00 00 00\nb7 00 00 00 2a 00 00 00\n95 00 00 00 00 00 00 00\n');
    const d = check('disasm', ['disasm', hex]);
    expect(d).toMatchObject({ input: 'hex', name: null });
    expect(d.insns).toHaveLength(3);
    check('verify', ['verify', hex, '--log-level', '0']);
    const loop = check('liveness', ['liveness', '-'], 0, 'r0 = 0\nr1 = 10\nloop:\nr0 += 1\nr1 -= 1\nif r1 != 0 goto loop\nexit\n');
    expect(loop.backEdges).toEqual([[4, 2]]);
    const mem = check('run', ['run', '-', '--mem', '2a 00 00 00'], 0, '*(u32 *)(r1 + 0) = 7\nr0 = r2\nexit\n');
    expect(mem).toMatchObject({ r0: '0x4', output: '07000000' });
    const xdp = 'r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr5 = 255\n*(u8 *)(r2 + 0) = r5\nr0 = 2\nexit\nout:\nr0 = 1\nexit\n';
    const pkt = check('run', ['run', '-', '--type', 'xdp', '--data', '11'.repeat(20)], 0, xdp);
    expect(pkt.packet).toBe(`ff${'11'.repeat(19)}`);
  });
});

describe('btf dump', () => {
  /** A raw BTF blob by hand: btf_header (24 bytes), one INT type (16 bytes), strings "\0int\0". */
  function intBtf(): string {
    const blob = Buffer.alloc(24 + 16 + 5);
    blob.writeUInt16LE(0xeb9f, 0);
    blob.writeUInt8(1, 2);
    blob.writeUInt32LE(24, 4);
    blob.writeUInt32LE(0, 8);
    blob.writeUInt32LE(16, 12);
    blob.writeUInt32LE(16, 16);
    blob.writeUInt32LE(5, 20);
    blob.writeUInt32LE(1, 24); // name "int"
    blob.writeUInt32LE(1 << 24, 28); // kind INT
    blob.writeUInt32LE(4, 32); // size
    blob.writeUInt32LE((1 << 24) | 32, 36); // signed, 32 bits
    blob.write('\0int\0', 40, 'latin1');
    const f = join(tmp, 'int.btf');
    writeFileSync(f, blob);
    return f;
  }
  it('a hand-made blob: one INT', () => {
    expect(check('btf-dump', ['btf', 'dump', intBtf()])).toEqual({ endian: 'little', types: 1, raw: ["[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED"] });
  });
  it('--format c: the header as one string', () => {
    const doc = check('btf-dump', ['btf', 'dump', intBtf(), '--format', 'c']);
    expect(doc).toMatchObject({ endian: 'little', types: 1 });
    expect(doc.raw).toBeUndefined();
    expect(doc.c).toMatch(/^#ifndef __VMLINUX_H__\n/);
  });
  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('vmlinux', () => {
    const doc = check('btf-dump', ['btf', 'dump', '/sys/kernel/btf/vmlinux']);
    expect(doc.types).toBeGreaterThan(1000);
  });
});

describe('veristat and demo', () => {
  it('veristat --no-kernel, with an unreadable FILE', () => {
    const doc = check('veristat', ['veristat', '--no-kernel', ...EXAMPLES.map((e) => join(examples, e))]);
    expect(doc.kernel).toBe(false);
    const bad = join(tmp, 'junk.s');
    writeFileSync(bad, 'this is not assembly\n');
    const withError = check('veristat', ['veristat', '--no-kernel', join(examples, 'hello.s'), bad], [3]);
    expect((withError.programs as Doc[]).map((p) => p.verdict)).toEqual(['success', 'error']);
  });
  it('demo', () => {
    const doc = check('demo', ['demo']);
    expect(doc.vm).toEqual({ r0: '0x4e', insns: 34 });
  });
});

describe.skipIf(skipWithout('kernel'))('kernel', () => {
  it('load, run, compare the examples', () => {
    for (const name of EXAMPLES) {
      const f = join(examples, name);
      const load = check('kernel-load', ['kernel', 'load', f], [0, 1]);
      check('kernel-load', ['kernel', 'load', f, '--log-level', '0'], [0, 1]);
      check('kernel-load', ['kernel', 'load', f, '--log-level', '4'], [0, 1]);
      check('kernel-compare', ['kernel', 'compare', f], [0, 1]);
      if (load.accepted === true) check('kernel-run', ['kernel', 'run', f, '--data', '00'.repeat(64), '--repeat', '3']);
    }
    expect(check('kernel-load', ['kernel', 'load', join(examples, 'hello.s'), '--log-level', '0']).stats).toEqual({});
  });
  it.skipIf(skipWithout('clang-19'))('load an object of maps only (fixtures/c/elf/maps_only.c): its maps', () => {
    const f = join(tmp, 'maps_only.o');
    execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-c', join(repoRoot, 'fixtures/c/elf/maps_only.c'), '-o', f]);
    expect(check('elf', ['elf', f]).programs).toEqual([]);
    const doc = check('kernel-load', ['kernel', 'load', f]);
    expect((doc.maps as Doc[]).map((m) => [m.name, m.created])).toEqual(['counters_by_flow', 'shared_page', 'events', 'seen_addresses', 'recent_peers', '.rodata', '.bss'].map((n) => [n, true]));
  });
  it('veristat beside the kernel', () => {
    const doc = check('veristat', ['veristat', ...EXAMPLES.map((e) => join(examples, e))]);
    expect(doc.kernel).toBe(true);
  });
});

describe.skipIf(skipWithout('clang-19'))('clang objects (fixtures/c/progs, -mcpu=v3)', () => {
  const dir = tempDir('bpf-cli-schemas-c-');
  const obj = (name: string): string => join(dir, `${name}.v3.o`);
  beforeAll(() => {
    execFileSync('bash', [join(repoRoot, 'fixtures/c/progs/build.sh'), dir]);
  }, 300_000);

  it('elf link: the listing of the linked object, where it went and what it came from', () => {
    const linkSrc = join(repoRoot, 'fixtures/c/elf/linked');
    for (const f of ['app', 'lib']) execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-c', join(linkSrc, `${f}.c`), '-o', join(dir, `${f}.link.o`)]);
    const ins = ['app', 'lib'].map((f) => join(dir, `${f}.link.o`));
    expect(check('elf', ['elf', 'link', '-o', join(dir, 'linked.o'), ...ins]).linked).toEqual({ output: join(dir, 'linked.o'), inputs: ins });
    expect(check('elf', ['elf', 'link', ...ins]).linked).toEqual({ output: null, inputs: ins });
  });

  it.each(C_PROGS)('%s: elf, disasm, btf dump (raw and c), liveness, verify, jit', (name) => {
    const f = obj(name);
    const elf = check('elf', ['elf', f]);
    check('disasm', ['disasm', f]);
    check('btf-dump', ['btf', 'dump', f]);
    check('btf-dump', ['btf', 'dump', f, '--format', 'c']);
    for (const p of elf.programs as Doc[]) {
      const pick = ['--prog', p.name as string];
      check('disasm', ['disasm', f, ...pick, '--syntax', 'kernel']);
      check('liveness', ['liveness', f, ...pick]);
      check('verify', ['verify', f, ...pick], [0, 1]);
      check('jit', ['jit', f, ...pick]);
      check('jit', ['jit', f, ...pick, '--arch', 'arm64']);
    }
    // reject.o holds a program that reaches the 1M processed-insn limit: verify and both JITs each
    // walk it, as the kernel-load test below walks every object (its budget, for the same reason)
  }, 180_000);
  it('run a packet program', () => {
    const frame = `${'02'.repeat(6)}${'04'.repeat(6)}08004500002400000000401100000a0000010a00000204d20035001e${'00'.repeat(22)}`;
    const r = check('run', ['run', obj('xdp_parse'), '--prog', 'xdp_swap_mac', '--data', frame]);
    expect(typeof r.packet).toBe('string');
  });
  it.skipIf(skipWithout('kernel'))('kernel load, compare, run and veristat', () => {
    for (const name of C_PROGS) {
      const f = obj(name);
      check('kernel-load', ['kernel', 'load', f], [0, 1]);
      check('kernel-compare', ['kernel', 'compare', f], [0, 1]);
    }
    const frame = `${'02'.repeat(6)}${'04'.repeat(6)}08004500002400000000401100000a0000010a00000204d20035001e${'00'.repeat(22)}`;
    check('kernel-run', ['kernel', 'run', obj('xdp_parse'), '--prog', 'xdp_swap_mac', '--data', frame]);
    const v = check('veristat', ['veristat', ...C_PROGS.map(obj)]);
    expect((v.programs as Doc[]).length).toBeGreaterThan(C_PROGS.length);
  }, 180_000);
});
