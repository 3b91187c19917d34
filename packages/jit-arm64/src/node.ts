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

export interface Arm64Job {
  readonly result: JitResult;
  readonly mem?: Uint8Array;
  /**
   * Prog arrays by map name, one element per slot (the length is max_entries): the JIT output
   * of the slot's program, or null for an empty slot. Every program named here is linked after
   * the main one; each array becomes the native table the JIT's tail calls read
   * (`PROG_ARRAY_ENTRIES`).
   */
  readonly progArrays?: Readonly<Record<string, readonly (JitResult | null)[]>>;
}

/** One harness input line: the linked code, relocations, memory and prog arrays. */
function inputLine({ result, mem, progArrays }: Arm64Job): string {
  const programs: JitResult[] = [result];
  for (const slots of Object.values(progArrays ?? {})) for (const p of slots) if (p && !programs.includes(p)) programs.push(p);
  const bases: number[] = [];
  let len = 0;
  for (const p of programs) {
    bases.push(len);
    len = (len + p.code.length + 15) & ~15;
  }
  const code = new Uint8Array(len);
  const relocs: string[] = [];
  programs.forEach((p, n) => {
    code.set(p.code, bases[n]);
    for (const r of p.relocs) {
      const at = bases[n]! + r.offset;
      if (r.symbol.kind === 'helper') relocs.push(`${at}:h:${r.symbol.id}`);
      else if (r.symbol.kind === 'kfunc') relocs.push(`${at}:k:${r.symbol.name}`);
      else if (r.symbol.kind === 'map' && progArrays?.[r.symbol.name]) relocs.push(`${at}:m:${r.symbol.name}`);
      else throw new QemuRunError(`relocation to ${r.symbol.kind} ${r.symbol.name} is not supported by the harness`);
    }
  });
  const tables = Object.entries(progArrays ?? {}).map(([name, slots]) => {
    if (!/^\w{1,63}$/.test(name)) throw new QemuRunError(`prog array name '${name}' is not supported by the harness`);
    const entry = (p: JitResult | null): string => (p ? String(bases[programs.indexOf(p)]! + (p.entries[0] ?? 0)) : '-');
    return `${name}:${slots.length}:${slots.map(entry).join('/') || '-'}`;
  });
  if ((result.entries[0] ?? 0) !== 0) throw new QemuRunError('the main program must start at offset 0');
  return `${hex(code)} ${relocs.join(',') || '-'} ${hex(mem ?? new Uint8Array(0))} ${tables.join(',') || '-'}\n`;
}

/** Run several programs in one qemu-aarch64 process; a job the harness cannot link gets its own error. */
export function runArm64Batch(jobs: readonly Arm64Job[]): (Arm64Run | QemuRunError)[] {
  const lines: (string | QemuRunError)[] = jobs.map((j) => {
    try {
      return inputLine(j);
    } catch (e) {
      if (e instanceof QemuRunError) return e;
      throw e;
    }
  });
  const input = lines.filter((l) => typeof l === 'string').join('');
  const p = spawnSync('qemu-aarch64', ['-cpu', 'max', harness()], { input, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120_000 });
  if (p.error) throw new QemuRunError(`qemu-aarch64: ${p.error.message}`);
  if (p.signal) throw new QemuRunError(`the arm64 code crashed the harness (${p.signal}) after ${p.stdout.split('\n').length - 1} of ${jobs.length} programs`);
  const out = p.stdout.trim().split('\n');
  let k = 0;
  return lines.map((line) => {
    if (line instanceof QemuRunError) return line;
    const l = out[k++];
    if (l === undefined) return new QemuRunError('no output');
    if (l.startsWith('ERR ')) return new QemuRunError(l.slice(4));
    const [r0, mem] = l.split(' ');
    return { r0: BigInt(`0x${r0}`), mem: mem === '-' ? new Uint8Array(0) : Uint8Array.from(Buffer.from(mem!, 'hex')) };
  });
}

/** Run one program under qemu-aarch64 with r1 = a copy of `mem`, r2 = its length (and its prog arrays linked). */
export function runArm64(result: JitResult, opts: Omit<Arm64Job, 'result'> = {}): Arm64Run {
  const [r] = runArm64Batch([{ result, ...opts }]);
  if (r instanceof QemuRunError) throw r;
  return r!;
}
