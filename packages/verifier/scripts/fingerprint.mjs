#!/usr/bin/env node
// A guard for changes that must not change an answer (speed work on the verifier): verifies
// every kernel-corpus program (fixtures/kernel/corpus.json, read as scripts/agreement.mjs and
// bench/compare.mjs read it), bench's generated programs, and every program of the objects given
// with --objects FILE... (linked through @bpf/elf against this machine's kernel BTF as the
// real-world recorder links them), at log levels 0, 1 and 2, and prints one SHA-256 over every
// verdict, error (insn and message), stats (processed insns, states, stack depths), max access,
// xlated program and log. Run it before and after a change: the same hash says no answer moved;
// with --each it prints one hash per program and level, so two outputs can be diffed to find
// the program that moved. Build first: pnpm exec tsc -b.
//
//   node packages/verifier/scripts/fingerprint.mjs [--each] [--levels 0,1,2] [--no-corpus]
//        [--type TYPE] [--linker NAME] [--objects FILE...]
//
// --type is the program type of object programs whose section names none (cilium's, loaded by
// cilium/ebpf as sched_cls, the default). --linker links the objects by a loader's rules other
// than libbpf 1.x's (@bpf/elf's `linker` option: e.g. cilium/ebpf, for cilium's bpf_lxc.o, whose
// static tail-call programs libbpf 1.x refuses, and the OpenTelemetry profiler's object).
// Objects are not part of this repository (public programs others wrote, e.g. cilium's
// bpf_lxc.o): give their paths. Level-2 logs of programs processing many instructions are
// hundreds of megabytes of text; they are hashed as they come, never kept.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { assemble, decode } from '../../isa/dist/index.js';
import { parseBtf } from '../../btf/dist/index.js';
import { loadPrograms, parseBtfTable } from '../../elf/dist/index.js';
import { corpusSource } from '../../testkit/dist/index.js';
import { needsKernelBtf, verify } from '../dist/index.js';

const { values, positionals } = parseArgs({
  options: {
    each: { type: 'boolean', default: false },
    levels: { type: 'string', default: '0,1,2' },
    'no-corpus': { type: 'boolean', default: false },
    objects: { type: 'string', multiple: true, default: [] },
    type: { type: 'string', default: 'sched_cls' },
    linker: { type: 'string' },
  },
  allowPositionals: true,
  strict: true,
});
// `--objects a.o b.o` as well as `--objects a.o --objects b.o`: the files after the first are positionals
const objects = [...values.objects, ...positionals];
const levels = values.levels.split(',').map(Number);
if (levels.some((l) => l !== 0 && l !== 1 && l !== 2)) throw new Error(`--levels: 0, 1 or 2 (got ${values.levels})`);

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Every program to verify: { name, program, opts }. */
const programs = [];
if (!values['no-corpus']) {
  const corpus = JSON.parse(readFileSync(join(root, 'fixtures/kernel/corpus.json'), 'utf8'));
  for (const c of corpus.cases) {
    const s = corpusSource(c);
    const program = s.kind === 'asm' ? assemble(s.text) : { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs, ...(s.funcInfo ? { funcInfo: s.funcInfo } : {}), ...(c.expectedAttachType ? { expectedAttachType: c.expectedAttachType } : {}) };
    programs.push({ name: c.name, program, opts: { type: c.type } });
  }
  // bench/compare.mjs's and bench/verifier.mjs's generated programs
  const gen = (name, lines) => programs.push({ name: `generated/${name}`, program: assemble(lines.join('\n')), opts: { type: 'socket_filter' } });
  gen('large-20006', ['r0 = 0', 'r1 = 0', ...Array.from({ length: 20000 }, (_, k) => `r0 += ${k % 7}`), 'l:', 'r0 ^= r1', 'r1 += 1', 'if r1 < 200 goto l', 'exit']);
  gen('loop-2000', ['r0 = 0', 'r1 = 0', 'l:', 'r2 = r1', 'r2 &= 7', 'if r2 != 3 goto s', 'r0 += 1', 's:', 'r0 += r2', 'r1 += 1', 'if r1 < 2000 goto l', 'exit']);
  gen('nested-40', ['r0 = 0', 'r1 = 0', 'o:', 'r2 = 0', 'i:', 'r0 += r2', 'r2 += 1', 'if r2 < r1 goto i', 'r1 += 1', 'if r1 < 40 goto o', 'exit']);
}

if (objects.length > 0) {
  const VMLINUX = '/sys/kernel/btf/vmlinux';
  const table = existsSync(VMLINUX) ? parseBtfTable(new Uint8Array(readFileSync(VMLINUX)), 'kernel BTF').table : undefined;
  const kernelBtf = existsSync(VMLINUX) ? parseBtf(new Uint8Array(readFileSync(VMLINUX))) : undefined;
  const kallsyms = new Map();
  try {
    for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
      const [addr, , sym] = line.split(/\s+/);
      if (sym && addr && !kallsyms.has(sym)) kallsyms.set(sym, BigInt(`0x${addr}`));
    }
  } catch {
    /* no kallsyms: typeless ksyms stay unresolved */
  }
  for (const file of objects) {
    const bytes = new Uint8Array(readFileSync(file));
    const linker = values.linker ? { linker: values.linker } : {};
    let all;
    try {
      all = loadPrograms(bytes, table ? { kernelBtf: table, kallsyms, ...linker } : linker);
    } catch {
      all = loadPrograms(bytes, linker);
    }
    for (const p of all) {
      // the kernel's BTF only for a program that needs it, as the CLI decides (needsKernelBtf)
      const type = p.type ?? values.type;
      const btf = needsKernelBtf(p, type) ? kernelBtf : undefined;
      const hasKsym = p.relocs?.some((r) => r.kind === 'ksym') === true;
      programs.push({
        name: `${basename(file)}/${p.section}/${p.name}`,
        program: p,
        opts: { type, flags: p.sleepable ? 1 << 4 : 0, ...(btf ? { kernelBtf: btf } : {}), ...(hasKsym && kallsyms.size ? { kernelSymbols: kallsyms } : {}) },
      });
    }
  }
}

const json = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? Array.from(x) : x));
const total = createHash('sha256');
let processed = 0, accepted = 0, runs = 0;
const t0 = process.hrtime.bigint();
for (const { name, program, opts } of programs) {
  for (const logLevel of levels) {
    let r;
    try {
      r = verify(program, { ...opts, logLevel });
    } catch (e) {
      // verify never throws for a bad program; if it does, that is part of the answer too
      r = { thrown: `${e?.name}: ${e?.message}` };
    }
    const h = createHash('sha256');
    h.update(json({ accepted: r.accepted, error: r.error, stats: r.stats, maxAccess: r.maxAccess, thrown: r.thrown }));
    h.update('\0');
    h.update(r.xlated ? json(r.xlated.insns) : '-');
    h.update('\0');
    h.update(r.log ?? '');
    const d = h.digest('hex');
    total.update(`${name}\0${logLevel}\0${d}\n`);
    runs++;
    if (logLevel === levels[0]) {
      processed += r.stats?.processedInsns ?? 0;
      accepted += r.accepted ? 1 : 0;
    }
    if (values.each) console.log(`${d.slice(0, 16)}  L${logLevel}  ${r.accepted ? 'accept' : 'reject'}  ${String(r.stats?.processedInsns ?? '-').padStart(7)}  ${name}`);
  }
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`${total.digest('hex')}  ${programs.length} programs (${accepted} accepted, ${processed} processed insns at level ${levels[0]}), levels ${levels.join(',')}, ${runs} verifications in ${secs.toFixed(1)} s`);
