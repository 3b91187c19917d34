/**
 * Run arm64 JIT output under qemu-aarch64 (Node only): a small static C harness
 * (harness/runner.c), built with aarch64-linux-gnu-gcc on first use and cached, maps the code,
 * patches relocations with native host functions and calls it. Several programs go through one
 * qemu process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JitResult } from '@bpf/isa';

export class QemuRunError extends Error {
  override readonly name = 'QemuRunError';
}

const source = join(dirname(fileURLToPath(import.meta.url)), '../harness/runner.c');

/** Path of the built harness (built once per source version). */
export function harness(): string {
  const text = readFileSync(source);
  const dir = join(tmpdir(), 'bpf-jit-arm64');
  const bin = join(dir, `runner-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    try {
      execFileSync('aarch64-linux-gnu-gcc', ['-static', '-O2', '-o', bin, source], { stdio: 'pipe' });
    } catch (e) {
      throw new QemuRunError(`cannot build the arm64 harness: ${(e as { stderr?: Buffer }).stderr?.toString() ?? String(e)}`);
    }
  }
  return bin;
}

export interface Arm64Run {
  readonly r0: bigint;
  readonly mem: Uint8Array;
}

const hex = (b: Uint8Array): string => (b.length ? Buffer.from(b).toString('hex') : '-');

/** Run several programs in one qemu-aarch64 process. */
export function runArm64Batch(jobs: readonly { result: JitResult; mem?: Uint8Array }[]): (Arm64Run | QemuRunError)[] {
  const input = jobs
    .map(({ result, mem }) => {
      const relocs = result.relocs
        .map((r) => {
          if (r.symbol.kind === 'helper') return `${r.offset}:h:${r.symbol.id}`;
          if (r.symbol.kind === 'kfunc') return `${r.offset}:k:${r.symbol.name}`;
          throw new QemuRunError(`relocation to ${r.symbol.kind} ${r.symbol.name} is not supported by the harness`);
        })
        .join(',');
      return `${hex(result.code)} ${relocs || '-'} ${hex(mem ?? new Uint8Array(0))}\n`;
    })
    .join('');
  const p = spawnSync('qemu-aarch64', ['-cpu', 'max', harness()], { input, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120_000 });
  if (p.error) throw new QemuRunError(`qemu-aarch64: ${p.error.message}`);
  if (p.signal) throw new QemuRunError(`the arm64 code crashed the harness (${p.signal}) after ${p.stdout.split('\n').length - 1} of ${jobs.length} programs`);
  const lines = p.stdout.trim().split('\n');
  return jobs.map((_, k) => {
    const l = lines[k];
    if (l === undefined) return new QemuRunError('no output');
    if (l.startsWith('ERR ')) return new QemuRunError(l.slice(4));
    const [r0, mem] = l.split(' ');
    return { r0: BigInt(`0x${r0}`), mem: mem === '-' ? new Uint8Array(0) : Uint8Array.from(Buffer.from(mem!, 'hex')) };
  });
}

/** Run one program under qemu-aarch64 with r1 = a copy of `mem`, r2 = its length. */
export function runArm64(result: JitResult, opts: { mem?: Uint8Array } = {}): Arm64Run {
  const [r] = runArm64Batch([{ result, ...(opts.mem ? { mem: opts.mem } : {}) }]);
  if (r instanceof QemuRunError) throw r;
  return r!;
}
