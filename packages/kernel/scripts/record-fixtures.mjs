#!/usr/bin/env node
// Runs the corpus through the running kernel and writes fixtures/kernel/corpus.json: for each
// program its verdict, errno, first error, full log at level 2, stats, xlated instructions
// (hex), jited length and, for accepted programs, a test-run retval and output packet. The
// corpus: the assembly of fixtures/asm/kernel, every conformance case that uses no test
// kfunc, seeded random programs, and the C programs of fixtures/c/progs compiled by clang-19
// -O2 for -mcpu=v2, v3 and v4 (fixtures/c/progs/build.sh) and linked by @bpf/elf.
// Usage (root, Linux): pnpm fixtures:kernel   (build first: pnpm exec tsc -b)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble, encode } from '../../isa/dist/index.js';
import { createMap, loadProgram, loadWithMaps, probe, testRun } from '../dist/index.js';
import { loadPrograms } from '../../elf/dist/index.js';
import { randomProgram } from '../../reliability/dist/index.js';
import { disassemble } from '../../isa/dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const p = probe();
if (!p.canLoad) {
  console.error(`cannot record: ${p.reason}`);
  process.exit(1);
}
const sources = [];
const asmDir = join(root, 'fixtures/asm/kernel');
for (const f of readdirSync(asmDir).filter((f) => f.endsWith('.s')).sort()) sources.push({ name: `asm/kernel/${f}`, text: readFileSync(join(asmDir, f), 'utf8') });
const confDir = join(root, 'fixtures/conformance');
for (const f of readdirSync(confDir).filter((f) => f.endsWith('.data')).sort()) {
  const text = readFileSync(join(confDir, f), 'utf8');
  if (/\.kfunc|r11/.test(text)) continue; // stack arguments and test kfuncs are newer than this kernel
  const asm = text.split('-- asm\n')[1].split(/^-- /m)[0];
  sources.push({ name: `conformance/${f}`, text: asm });
}
// seeded random programs without stack arguments (this kernel predates them) or buffer accesses
for (let seed = 1; seed <= 200; seed++) {
  const p = randomProgram(seed, { size: 25, calls: seed % 2 === 0, memSize: 0 });
  if (p.insns.some((i) => i.dst === 11 || i.src === 11)) continue;
  sources.push({ name: `random/${seed}`, text: disassemble(p.insns, { syntax: 'kernel' }) });
}
/** The packet every test run gets: Ethernet + IPv4 (valid checksum) + UDP to port 53 + payload. */
function testPacket() {
  const b = Buffer.alloc(64);
  Buffer.from('02000000000102000000000208004500', 'hex').copy(b, 0); // MACs, IPv4, ihl 5, tos 0
  b.writeUInt16BE(50, 16); // total length
  b.writeUInt16BE(0x1234, 18); // id
  b[22] = 1; // ttl
  b[23] = 17; // UDP
  Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]).copy(b, 26);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += b.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, 24);
  b.writeUInt16BE(1234, 34);
  b.writeUInt16BE(53, 36);
  b.writeUInt16BE(30, 38);
  for (let i = 42; i < 64; i++) b[i] = i;
  return new Uint8Array(b);
}
const packet = testPacket();
/** Logs of runaway programs reach hundreds of MB at level 2: keep the head and the tail. */
function clip(log) {
  const max = 1 << 18;
  if (log.length <= max) return { log };
  return { log: `${log.slice(0, max - (1 << 14))}\n...\n${log.slice(-(1 << 14))}`, logTruncated: true };
}
const TEST_RUN_TYPES = new Set(['socket_filter', 'xdp', 'sched_cls', 'sched_act']);

const cases = [];
for (const s of sources) {
  const program = assemble(s.text);
  const maps = (program.maps ?? []).map((m) => createMap({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, name: m.name }));
  const mapFds = Object.fromEntries((program.maps ?? []).map((m, k) => [m.name, maps[k].fd]));
  const load = loadProgram(program, { logLevel: 2, mapFds });
  let retval;
  if (load.accepted && (program.type ?? 'socket_filter') !== 'kprobe') {
    try {
      retval = testRun(load.fd, { data: new Uint8Array(64) }).retval;
    } catch {
      retval = null;
    }
  }
  cases.push({
    name: s.name,
    type: program.type ?? 'socket_filter',
    insns: Buffer.from(encode(program.insns)).toString('hex'),
    accepted: load.accepted,
    errno: load.errno,
    error: load.error ?? null,
    stats: load.stats ?? null,
    xlated: load.xlated ? Buffer.from(encode(load.xlated)).toString('hex') : null,
    jitedLen: load.jitedLen ?? null,
    retval: retval ?? null,
    log: load.log,
  });
  load.close();
  for (const m of maps) m.close();
}
// C programs: compile, link with @bpf/elf (CO-RE against this kernel's BTF), load with maps.
const build = mkdtempSync(join(tmpdir(), 'bpf-progs-'));
execFileSync('sh', [join(root, 'fixtures/c/progs/build.sh'), build], { stdio: 'inherit' });
const vmlinux = new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'));
// each object's BTF, given to the kernel with its programs: what funcInfo's type ids index
const btf = {};
for (const f of readdirSync(build).filter((f) => f.endsWith('.o')).sort()) {
  for (const prog of loadPrograms(new Uint8Array(readFileSync(join(build, f))), { kernelBtf: vmlinux })) {
    if (prog.btf) btf[f] = Buffer.from(prog.btf.bytes).toString('hex');
    const load = loadWithMaps(prog, { logLevel: 2 });
    let run;
    if (load.accepted && TEST_RUN_TYPES.has(prog.type)) {
      try {
        const r = testRun(load.fd, { data: packet });
        run = { retval: r.retval, dataOut: Buffer.from(r.dataOut).toString('hex') };
      } catch {
        run = undefined;
      }
    }
    cases.push({
      name: `c/progs/${f}#${prog.name}`,
      type: prog.type,
      ...(prog.expectedAttachType ? { expectedAttachType: prog.expectedAttachType } : {}),
      insns: Buffer.from(encode(prog.insns)).toString('hex'),
      // what a consumer needs to rebuild the Program without clang
      maps: prog.maps.map((m) => ({ name: m.name, type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, ...(m.flags ? { flags: m.flags } : {}), ...(m.data ? { data: Buffer.from(m.data).toString('hex') } : {}) })),
      relocs: prog.relocs,
      ...(prog.funcInfo?.length ? { funcInfo: prog.funcInfo.map((f) => ({ insnOff: f.insnOff, typeId: f.typeId })) } : {}),
      accepted: load.accepted,
      errno: load.errno,
      error: load.error ?? null,
      stats: load.stats ?? null,
      xlated: load.xlated ? Buffer.from(encode(load.xlated)).toString('hex') : null,
      jitedLen: load.jitedLen ?? null,
      retval: run?.retval ?? null,
      ...(run ? { dataIn: Buffer.from(packet).toString('hex'), dataOut: run.dataOut } : {}),
      ...clip(load.log),
    });
    load.close();
  }
}
rmSync(build, { recursive: true, force: true });

writeFileSync(
  join(root, 'fixtures/kernel/corpus.json'),
  JSON.stringify({ generator: 'packages/kernel/scripts/record-fixtures.mjs', kernel: p.kernelRelease, jit: p.jitEnabled, btf, cases }, null, 1) + '\n',
);
const acc = cases.filter((c) => c.accepted).length;
console.log(`recorded ${cases.length} programs (${acc} accepted, ${cases.length - acc} rejected) from Linux ${p.kernelRelease}`);
