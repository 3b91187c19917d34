/**
 * A real arm64 Linux kernel as oracle (Node only; tests, the recorder and the bench use it):
 * Debian's arm64 kernel image (fetched by scripts/setup.sh through
 * packages/jit-arm64/oracle/fetch-kernel.sh) boots under `qemu-system-aarch64 -M virt` with an
 * initramfs of three entries (/dev/console, /init and /batch.bin) written here. /init is our
 * static loader (oracle/loader.c): it loads every program of the batch with bpf(BPF_PROG_LOAD),
 * prints the verdict, jited_prog_len, the JIT image, the xlated program and a
 * BPF_PROG_TEST_RUN result as one JSON line per program, and powers off. One boot per batch.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATTACH_TYPES, encode, PROG_TYPES, type Insn, type Program } from '@bpf/isa';

const oracleDir = join(dirname(fileURLToPath(import.meta.url)), '../../oracle');

export class Arm64KernelError extends Error {
  override readonly name = 'Arm64KernelError';
}

/** Where scripts/setup.sh leaves the kernel image (BPF_ARM64_KERNEL overrides). */
export function arm64KernelImage(): string {
  if (process.env.BPF_ARM64_KERNEL) return process.env.BPF_ARM64_KERNEL;
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cache, 'bpf-toolchain', 'arm64-kernel', 'vmlinuz');
}

const onPath = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

/** Why the oracle cannot run here, or null. */
export function arm64KernelProblem(): string | null {
  if (!onPath('qemu-system-aarch64')) return 'qemu-system-aarch64 is not installed (run scripts/setup.sh)';
  if (!onPath('aarch64-linux-gnu-gcc')) return 'aarch64-linux-gnu-gcc is not installed (run scripts/setup.sh)';
  if (!existsSync(arm64KernelImage())) return `no arm64 kernel image at ${arm64KernelImage()} (run scripts/setup.sh)`;
  return null;
}

/** The static loader, built once per source version. */
function loader(): string {
  const src = join(oracleDir, 'loader.c');
  const bin = join(tmpdir(), 'bpf-jit-arm64', `oracle-init-${createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12)}`);
  if (!existsSync(bin)) {
    mkdirSync(dirname(bin), { recursive: true });
    try {
      execFileSync('aarch64-linux-gnu-gcc', ['-static', '-O2', '-o', `${bin}.tmp`, src], { stdio: 'pipe' });
      execFileSync('mv', [`${bin}.tmp`, bin]);
    } catch (e) {
      throw new Arm64KernelError(`cannot build the oracle loader: ${(e as { stderr?: Buffer }).stderr?.toString() ?? String(e)}`);
    }
  }
  return bin;
}

interface CpioEntry {
  readonly name: string;
  readonly mode: number;
  readonly data?: Uint8Array;
  readonly rdev?: readonly [number, number];
}

/** An uncompressed "newc" cpio archive (the initramfs format the kernel unpacks). */
export function cpio(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Buffer[] = [];
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const hex8 = (v: number): string => (v >>> 0).toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }] as CpioEntry[]) {
    const data = Buffer.from(e.data ?? new Uint8Array(0));
    const name = Buffer.from(`${e.name}\0`);
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map(hex8).join('')}`);
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** `enum bpf_map_type` numbers of the map types a batch may create (include/uapi/linux/bpf.h). */
const MAP_TYPE: Readonly<Record<string, number>> = {
  hash: 1, array: 2, prog_array: 3, perf_event_array: 4, percpu_hash: 5, percpu_array: 6, stack_trace: 7,
  lru_hash: 9, lru_percpu_hash: 10, lpm_trie: 11, queue: 22, stack: 23, ringbuf: 27, bloom_filter: 30,
};
const BPF_F_RDONLY_PROG = 1 << 7;

export interface Arm64KernelJob {
  readonly program: Program;
  /** BPF_PROG_TEST_RUN with this packet (omit: load only). */
  readonly run?: { readonly data: Uint8Array; readonly repeat?: number };
}

export interface Arm64KernelResult {
  readonly accepted: boolean;
  readonly errno: number;
  /** The tail of the verifier log (level 1) of a rejected program. */
  readonly log?: string;
  readonly jitedLen?: number;
  readonly jited?: Uint8Array;
  readonly xlated?: Uint8Array;
  readonly retval?: number;
  readonly dataOut?: Uint8Array;
  /** errno of a failed map creation or update (the load then usually fails too). */
  readonly mapErrno?: number;
  readonly runErrno?: number;
}

/** The batch file /init reads (see oracle/loader.c). */
export function batchFile(jobs: readonly Arm64KernelJob[]): Uint8Array {
  const out: Buffer[] = [Buffer.from('B64K'), u32(jobs.length)];
  for (const [k, { program, run }] of jobs.entries()) {
    const where = `batch program ${k}${program.name ? ` (${program.name})` : ''}`;
    const type = PROG_TYPES.indexOf(program.type ?? 'socket_filter');
    const attach = program.expectedAttachType === undefined ? 0 : (ATTACH_TYPES as readonly string[]).indexOf(program.expectedAttachType);
    if (type < 0 || attach < 0) throw new Arm64KernelError(`${where}: unknown program or attach type`);
    const maps = program.maps ?? [];
    const insns: Insn[] = program.insns.map((i) => ({ ...i }));
    for (const r of program.relocs ?? []) {
      if (r.kind !== 'map' && r.kind !== 'map_value') continue;
      const m = maps.findIndex((d) => d.name === r.name);
      if (m < 0) throw new Arm64KernelError(`${where}: insn ${r.insn} refers to map '${r.name}', which the program does not define`);
      insns[r.insn] = { ...insns[r.insn]!, src: r.kind === 'map' ? 1 : 2, imm: m };
      if (r.kind === 'map_value') insns[r.insn + 1] = { ...insns[r.insn + 1]!, imm: r.offset };
    }
    out.push(u32(type), u32(attach), u32(insns.length), Buffer.from(encode(insns)), u32(maps.length));
    for (const m of maps) {
      const t = MAP_TYPE[m.type];
      if (t === undefined) throw new Arm64KernelError(`${where}: map '${m.name}' of type ${m.type} is not supported by the oracle`);
      const data = m.data ?? new Uint8Array(0);
      out.push(u32(t), u32(m.keySize), u32(m.valueSize), u32(m.maxEntries), u32(m.flags ?? 0), u32(((m.flags ?? 0) & BPF_F_RDONLY_PROG) !== 0 ? 1 : 0), u32(data.length), Buffer.from(data));
    }
    const data = run?.data ?? new Uint8Array(0);
    out.push(u32(run ? 1 : 0), u32(data.length), Buffer.from(data), u32(run?.repeat ?? 1));
  }
  return new Uint8Array(Buffer.concat(out));
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

export interface Arm64KernelBoot {
  /** `uname -r` of the booted kernel. */
  readonly kernel: string;
  readonly results: readonly Arm64KernelResult[];
  /** Wall time of the boot, ms. */
  readonly ms: number;
}

/**
 * The CPU qemu emulates: an Armv8.2 core with LSE atomics (the kernel's JIT then uses them, as
 * ours does) and without pointer authentication, which TCG emulates slowly.
 */
export const ORACLE_CPU = 'neoverse-n1';

/** Boot the arm64 kernel once and run the batch. */
export function runArm64Kernel(jobs: readonly Arm64KernelJob[], opts: { readonly timeoutMs?: number } = {}): Arm64KernelBoot {
  const problem = arm64KernelProblem();
  if (problem) throw new Arm64KernelError(problem);
  const dir = mkdtempSync(join(tmpdir(), 'bpf-arm64-kernel-'));
  try {
    const initrd = join(dir, 'initrd.cpio');
    writeFileSync(
      initrd,
      cpio([
        { name: 'dev', mode: 0o40755 },
        { name: 'dev/console', mode: 0o20600, rdev: [5, 1] },
        { name: 'init', mode: 0o100755, data: readFileSync(loader()) },
        { name: 'batch.bin', mode: 0o100644, data: batchFile(jobs) },
      ]),
    );
    const t0 = Date.now();
    const r = spawnSync(
      'qemu-system-aarch64',
      [
        '-M', 'virt', '-cpu', ORACLE_CPU, '-m', '1024', '-smp', '1',
        '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
        '-kernel', arm64KernelImage(), '-initrd', initrd,
        '-append', 'console=ttyAMA0 quiet loglevel=1 panic=-1 rdinit=/init',
      ],
      { encoding: 'utf8', timeout: opts.timeoutMs ?? 300_000, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const ms = Date.now() - t0;
    const out = r.stdout ?? '';
    const lines = out.split(/\r?\n/);
    const kernel = lines.find((l) => l.startsWith('BPFJ-KERNEL '))?.slice(12).trim();
    const end = lines.find((l) => l.startsWith('BPFJ-END '));
    const err = lines.find((l) => l.startsWith('BPFJ-ERROR '));
    if (!kernel || !end || err) {
      const why = err ?? (r.error ? String(r.error) : `qemu exited ${r.status ?? r.signal}`);
      throw new Arm64KernelError(`arm64 kernel batch failed: ${why}\n${out.slice(-4000)}${r.stderr ?? ''}`);
    }
    const results = lines
      .filter((l) => l.startsWith('BPFJ {'))
      .map((l) => {
        const j = JSON.parse(l.slice(5)) as Record<string, string | number | boolean>;
        const hex = (k: string): Uint8Array | undefined => (typeof j[k] === 'string' ? Uint8Array.from(Buffer.from(j[k], 'hex')) : undefined);
        const num = (k: string): number | undefined => (typeof j[k] === 'number' ? j[k] : undefined);
        const res: Arm64KernelResult = {
          accepted: j.accepted === true,
          errno: num('errno') ?? 0,
          ...(typeof j.log === 'string' ? { log: j.log } : {}),
          ...(num('jitedLen') !== undefined ? { jitedLen: num('jitedLen')! } : {}),
          ...(hex('jited') ? { jited: hex('jited')! } : {}),
          ...(hex('xlated') ? { xlated: hex('xlated')! } : {}),
          ...(num('retval') !== undefined ? { retval: num('retval')! } : {}),
          ...(hex('dataOut') ? { dataOut: hex('dataOut')! } : {}),
          ...(num('mapErrno') !== undefined ? { mapErrno: num('mapErrno')! } : {}),
          ...(num('runErrno') !== undefined ? { runErrno: num('runErrno')! } : {}),
        };
        return [num('i') ?? -1, res] as const;
      });
    if (results.length !== jobs.length || results.some(([i], k) => i !== k))
      throw new Arm64KernelError(`arm64 kernel batch: ${results.length} results for ${jobs.length} programs\n${out.slice(-4000)}`);
    return { kernel, results: results.map(([, res]) => res), ms };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
