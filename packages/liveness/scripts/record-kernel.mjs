#!/usr/bin/env node
// Records the running kernel's "Live regs before insn:" block (log level 2) for the programs of
// fixtures/asm/liveness/*.s and for a seeded set of random, structurally valid programs, into
// fixtures/kernel/liveness.json. The assembly is turned into bytes by llvm-mc-19 (a fixture
// generator may use the oracles; product code never does).
//
// Usage (root, Linux, llvm-19): node packages/liveness/scripts/record-kernel.mjs [--random N]
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const require = createRequire(join(here, '../../kernel/package.json'));
const koffi = require('koffi');
const libc = koffi.load('libc.so.6');
const syscall = libc.func('long syscall(long nr, long cmd, void *attr, uint32 size)');
const close = libc.func('int close(int fd)');
const NR_BPF = process.arch === 'arm64' ? 280 : 321;
const TYPES = { socket_filter: 1, kprobe: 2, sched_cls: 3, xdp: 6 };

function load(bytes, type) {
  const insns = Buffer.from(bytes);
  const lic = Buffer.from('GPL\0');
  const log = Buffer.alloc(1 << 22);
  const attr = Buffer.alloc(128);
  attr.writeUInt32LE(TYPES[type], 0);
  attr.writeUInt32LE(insns.length / 8, 4);
  attr.writeBigUInt64LE(BigInt(koffi.address(insns)), 8);
  attr.writeBigUInt64LE(BigInt(koffi.address(lic)), 16);
  attr.writeUInt32LE(2, 24);
  attr.writeUInt32LE(log.length, 28);
  attr.writeBigUInt64LE(BigInt(koffi.address(log)), 32);
  const fd = Number(syscall(NR_BPF, 5, attr, 128));
  if (fd >= 0) close(fd);
  const text = log.toString('utf8', 0, log.indexOf(0));
  const lines = text.split('\n');
  const at = lines.indexOf('Live regs before insn:');
  let block = null;
  if (at >= 0) {
    let end = at + 1;
    while (end < lines.length && /^[ 0-9]{4}[ 0-9]{3}: [.0-9]{10} /.test(lines[end])) end++;
    block = lines.slice(at, end).join('\n') + '\n';
  }
  const firstError = at < 0 ? lines.find((l) => l && !/^func#\d+ @\d+$/.test(l)) ?? null : null;
  return { accepted: fd >= 0, block, firstError };
}

function assemble(path) {
  const dir = mkdtempSync(join(tmpdir(), 'liveness-'));
  execFileSync('llvm-mc-19', ['-triple', 'bpfel', '-mcpu=v4', '-filetype=obj', '-o', join(dir, 'o.o'), path]);
  execFileSync('llvm-objcopy-19', ['-O', 'binary', '--only-section=.text', join(dir, 'o.o'), join(dir, 't.bin')]);
  return readFileSync(join(dir, 't.bin'));
}

// A small seeded PRNG (mulberry32) so the corpus is reproducible.
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random program: ALU, loads/stores on the stack, conditional jumps anywhere, helper and
 * subprogram calls, ld_imm64; every slot reachable (no unconditional jumps but the last). */
function randomProgram(seed) {
  const r = rng(seed);
  const pick = (n) => Math.floor(r() * n);
  const slots = [];
  const len = 6 + pick(40);
  const enc = (code, dst, src, off, imm) => {
    const b = Buffer.alloc(8);
    b[0] = code;
    b[1] = (src << 4) | dst;
    b.writeInt16LE(off, 2);
    b.writeInt32LE(imm, 4);
    return b;
  };
  const withSub = r() < 0.3;
  const jumps = [];
  while (slots.length < len) {
    const k = pick(10);
    const reg = pick(10);
    const reg2 = pick(10);
    if (k < 3) slots.push(enc([0x07, 0x0f, 0xb7, 0xbf, 0x04, 0x0c, 0x27, 0x5f, 0xdc, 0x87][pick(10)], reg, reg2, 0, pick(100)));
    else if (k === 3) slots.push(enc(0x7b, 10, reg, -8 * (1 + pick(4)), 0));
    else if (k === 4) slots.push(enc(0x79, reg, 10, -8 * (1 + pick(4)), 0));
    else if (k === 5) slots.push(enc(0x85, 0, 0, 0, 1 + pick(211)));
    else if (k === 6 && withSub) slots.push({ call: true });
    else if (k === 7) {
      slots.push(enc(0x18, reg, 0, 0, pick(1000)));
      slots.push(enc(0, 0, 0, 0, 0));
    } else {
      jumps.push(slots.length);
      slots.push({ jmp: [0x15, 0x1d, 0x25, 0x2d, 0x55, 0x65, 0xa5, 0xbd, 0x16, 0x6e][pick(10)], dst: reg, src: reg2 });
    }
  }
  slots.push(enc(0x95, 0, 0, 0, 0));
  const mainLen = slots.length;
  const sub = withSub ? [enc(0xbf, 0, 1, 0, 0), enc(0x0f, 0, 2, 0, 0), enc(0x95, 0, 0, 0, 0)] : [];
  const hi = new Set();
  slots.forEach((s, i) => { if (Buffer.isBuffer(s) && s[0] === 0x18) hi.add(i + 1); });
  const out = slots.map((s, i) => {
    if (Buffer.isBuffer(s)) return s;
    if (s.call) return enc(0x85, 0, 1, 0, mainLen - i - 1);
    let t;
    do t = pick(mainLen); while (hi.has(t) || t === i + 1);
    return enc(s.jmp, s.dst, (s.jmp & 8) ? s.src : 0, t - i - 1, pick(50));
  });
  return Buffer.concat([...out, ...sub]);
}

const args = process.argv.slice(2);
const nRandom = Number(args[args.indexOf('--random') + 1] ?? 0) || 300;
const cases = [];
const asmDir = join(root, 'fixtures/asm/liveness');
for (const f of readdirSync(asmDir).filter((f) => f.endsWith('.s')).sort()) {
  const bytes = assemble(join(asmDir, f));
  for (const type of ['socket_filter', 'xdp']) cases.push({ name: `${f}:${type}`, type, hex: bytes.toString('hex'), ...load(bytes, type) });
}
for (let seed = 1; seed <= nRandom; seed++) {
  const bytes = randomProgram(seed);
  const type = ['socket_filter', 'xdp', 'kprobe', 'sched_cls'][seed % 4];
  cases.push({ name: `random-${seed}:${type}`, type, hex: bytes.toString('hex'), ...load(bytes, type) });
}
const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
writeFileSync(
  join(root, 'fixtures/kernel/liveness.json'),
  JSON.stringify({ generator: 'packages/liveness/scripts/record-kernel.mjs', kernel: release, cases }, null, 1) + '\n',
);
const withBlock = cases.filter((c) => c.block).length;
console.log(`recorded ${cases.length} programs (${withBlock} with a liveness block) from Linux ${release}`);
