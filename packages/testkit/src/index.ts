/**
 * Test helpers shared by every package. Node-only; never imported by product code.
 *
 * Oracles (clang, llvm-mc, llvm-objdump, bpftool, qemu, the kernel) are detected once per
 * process. A suite that needs a missing oracle is skipped with a reason, except under
 * `REQUIRE_ORACLES=1` (CI), where asking for it throws so the suite fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Oracle =
  | 'clang-19'
  | 'llvm-mc-19'
  | 'llvm-objdump-19'
  | 'bpftool'
  | 'qemu-aarch64'
  | 'aarch64-linux-gnu-gcc'
  | 'chromium'
  | 'kernel';

/** Repository root (the directory holding pnpm-workspace.yaml). */
export const repoRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('testkit: cannot find the repository root');
    dir = up;
  }
  return dir;
})();

/** Shared test data lives here (see fixtures/README.md). */
export const fixturesDir: string = join(repoRoot, 'fixtures');

export const requireOracles: boolean = process.env.REQUIRE_ORACLES === '1';

const cache = new Map<Oracle, string | null>();

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** Why the oracle is unusable, or null when it is usable. */
export function oracleProblem(name: Oracle): string | null {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  let problem: string | null = null;
  if (name === 'kernel') {
    if (process.platform !== 'linux') problem = 'not Linux';
    else if (typeof process.getuid === 'function' && process.getuid() !== 0) problem = 'bpf() needs root';
    else if (!existsSync('/sys/kernel/btf/vmlinux')) problem = 'no /sys/kernel/btf/vmlinux';
  } else if (!onPath(name)) {
    problem = `${name} is not installed (run scripts/setup.sh)`;
  }
  cache.set(name, problem);
  return problem;
}

/**
 * True when the suite must be skipped. Under REQUIRE_ORACLES=1 a missing oracle throws,
 * so the suite fails instead of silently skipping.
 *
 *     describe.skipIf(skipWithout('llvm-mc-19'))('llvm-mc agreement', () => { ... })
 */
export function skipWithout(...names: Oracle[]): boolean {
  for (const n of names) {
    const p = oracleProblem(n);
    if (p !== null) {
      if (requireOracles) throw new Error(`oracle ${n} is required (REQUIRE_ORACLES=1): ${p}`);
      console.warn(`skipping: oracle ${n} unavailable: ${p}`);
      return true;
    }
  }
  return false;
}

/** Run a tool and return stdout; throws with stderr on failure. */
export function run(tool: string, args: readonly string[], input?: string | Uint8Array): string {
  return execFileSync(tool, args, {
    input,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

let kallsymsRead: ReadonlyMap<string, bigint> | undefined;

/** Kernel symbol addresses from /proc/kallsyms (a name's first address, as libbpf takes it), read once. */
export function kallsyms(): ReadonlyMap<string, bigint> {
  if (kallsymsRead) return kallsymsRead;
  const out = new Map<string, bigint>();
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [addr, , name] = line.split(/\s+/);
    if (name && addr && !out.has(name)) out.set(name, BigInt(`0x${addr}`));
  }
  return (kallsymsRead = out);
}

/**
 * The running kernel's nr_cpu_ids: one past the highest possible CPU
 * (/sys/devices/system/cpu/possible, e.g. `0-3` or `0,2-5`), what bpf_get_smp_processor_id
 * returns less than; undefined when the file cannot be read.
 */
export function nrCpuIds(): number | undefined {
  try {
    const last = Number(readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(/[,-]/).pop());
    return Number.isInteger(last) && last >= 0 ? last + 1 : undefined;
  } catch {
    return undefined;
  }
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'bpf-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Compile one C source with clang-19 for BPF (`-O2 -g`, little-endian unless `target` says
 * otherwise) and return the object's bytes.
 */
export function clangBpfObject(source: string, opts: { target?: 'bpfel' | 'bpfeb'; args?: readonly string[] } = {}): Uint8Array {
  const dir = tempDir();
  const src = join(dir, 'in.c');
  const obj = join(dir, 'out.o');
  writeFileSync(src, source);
  run('clang-19', ['-target', opts.target ?? 'bpfel', '-O2', '-g', ...(opts.args ?? []), '-c', src, '-o', obj]);
  return new Uint8Array(readFileSync(obj));
}

/** Assemble LLVM-syntax BPF text with llvm-mc-19 and return the .text bytes. */
export function llvmMcBytes(asm: string, opts: { bigEndian?: boolean; mcpu?: string } = {}): Uint8Array {
  const dir = tempDir();
  const src = join(dir, 'in.s');
  const obj = join(dir, 'out.o');
  writeFileSync(src, asm);
  run('llvm-mc-19', [
    '-triple',
    opts.bigEndian ? 'bpfeb' : 'bpfel',
    `-mcpu=${opts.mcpu ?? 'v4'}`,
    '-filetype=obj',
    '-o',
    obj,
    src,
  ]);
  const out = join(dir, 'text.bin');
  run('llvm-objcopy-19', ['-O', 'binary', '--only-section=.text', obj, out]);
  return new Uint8Array(readFileSync(out));
}
export * from './conformance.js';
export * from './corpus.js';
export * from './levellog.js';
export * from './throwing.js';
export * from './throwinglive.js';
