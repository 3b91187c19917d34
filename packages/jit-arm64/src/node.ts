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
import type { JitResult, MapDef } from '@bpf/isa';

export class QemuRunError extends Error {
  override readonly name = 'QemuRunError';
}

const harnessDir = join(dirname(fileURLToPath(import.meta.url)), '../harness');
const source = join(harnessDir, 'runner.c');

/** Path of the built harness (built once per source version). */
export function harness(): string {
  const hash = createHash('sha256');
  for (const f of ['runner.c', 'host.c']) hash.update(readFileSync(join(harnessDir, f)));
  const dir = join(tmpdir(), 'bpf-jit-arm64');
  const bin = join(dir, `runner-${hash.digest('hex').slice(0, 12)}`);
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
  /**
   * Maps the code refers to (array, percpu_array as one CPU, hash), by name; a relocation
   * named `map#k` (an ld_imm64 without a relocation) is the k-th. Prog arrays here that
   * `progArrays` does not fill are empty.
   */
  readonly maps?: readonly MapDef[];
  /** Run as a packet program: `mem` is the frame, r1 the context, and `mem` of the result the packet as BPF_PROG_TEST_RUN returns it. */
  readonly context?: 'socket_filter' | 'sched_cls' | 'sched_act' | 'xdp';
}

/** One harness input line: the linked code, relocations, memory, prog arrays, maps and context. */
function inputLine({ result, mem, progArrays, maps, context }: Arm64Job): string {
  const programs: JitResult[] = [result];
  for (const slots of Object.values(progArrays ?? {})) for (const p of slots) if (p && !programs.includes(p)) programs.push(p);
  const bases: number[] = [];
  let len = 0;
  for (const p of programs) {
    bases.push(len);
    len = (len + p.code.length + 15) & ~15;
  }
  // prog arrays: the ones filled, then the empty ones among the maps; the harness knows them as P0.., other maps as M0..
  const arrays = new Map<string, readonly (JitResult | null)[]>(Object.entries(progArrays ?? {}));
  for (const m of maps ?? []) if (m.type === 'prog_array' && !arrays.has(m.name)) arrays.set(m.name, Array.from({ length: m.maxEntries }, () => null));
  const others = (maps ?? []).filter((m) => !arrays.has(m.name));
  const mapName = (name: string): string => {
    const k = /^map#(\d+)$/.exec(name);
    const byIndex = k ? maps?.[Number(k[1])]?.name : undefined;
    const n = arrays.has(name) || others.some((m) => m.name === name) ? name : (byIndex ?? name);
    const a = [...arrays.keys()].indexOf(n);
    if (a >= 0) return `P${a}`;
    const o = others.findIndex((m) => m.name === n);
    if (o >= 0) return `M${o}`;
    throw new QemuRunError(`relocation to map ${name}, which the run was not given`);
  };
  const code = new Uint8Array(len);
  const relocs: string[] = [];
  programs.forEach((p, n) => {
    code.set(p.code, bases[n]);
    for (const r of p.relocs) {
      const at = bases[n]! + r.offset;
      if (r.symbol.kind === 'helper') relocs.push(`${at}:h:${r.symbol.id}`);
      else if (r.symbol.kind === 'kfunc') relocs.push(`${at}:k:${r.symbol.name}`);
      else if (r.symbol.kind === 'map') relocs.push(`${at}:m:${mapName(r.symbol.name)}`);
      else if (r.symbol.kind === 'map_value' && mapName(r.symbol.name).startsWith('M')) relocs.push(`${at}:v:${mapName(r.symbol.name)}@${r.symbol.offset}`);
      else throw new QemuRunError(`relocation to ${r.symbol.kind} ${r.symbol.name} is not supported by the harness`);
    }
  });
  const tables = [...arrays.values()].map((slots, k) => {
    const entry = (p: JitResult | null): string => (p ? String(bases[programs.indexOf(p)]! + (p.entries[0] ?? 0)) : '-');
    return `P${k}:${slots.length}:${slots.map(entry).join('/') || '-'}`;
  });
  const mapSpecs = others.map((m, k) => `M${k}:${m.type}:${m.keySize}:${m.valueSize}:${m.maxEntries}:${m.data?.length ? Buffer.from(m.data).toString('hex') : '-'}`);
  if ((result.entries[0] ?? 0) !== 0) throw new QemuRunError('the main program must start at offset 0');
  // the harness's bpf_throw unwinds to the main function of whichever program threw and enters its exception callback
  for (const p of programs)
    if (p.exceptionCallback === undefined && p.relocs.some((r) => r.symbol.kind === 'kfunc' && r.symbol.name === 'bpf_throw'))
      throw new QemuRunError("the program calls bpf_throw but has no exception callback (JIT the verifier's xlated program: it adds the default one)");
  const throwing = programs.flatMap((p, n) => {
    if (p.exceptionCallback === undefined) return [];
    const base = bases[n]!;
    return [`${base + (p.entries[0] ?? 0)}:${base + (p.entries[1] ?? p.code.length)}:${base + p.entries[p.exceptionCallback]!}`];
  });
  return `${hex(code)} ${relocs.join(',') || '-'} ${hex(mem ?? new Uint8Array(0))} ${tables.join(',') || '-'} ${mapSpecs.join(',') || '-'} ${context ?? '-'} ${throwing.join(',') || '-'}\n`;
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
  // one qemu process for all; when a program crashes the harness, it gets the error and the rest run in a new process
  const todo = lines.flatMap((l, k) => (typeof l === 'string' ? [k] : []));
  const results: (Arm64Run | QemuRunError | undefined)[] = lines.map((l) => (l instanceof QemuRunError ? l : undefined));
  let from = 0;
  while (from < todo.length) {
    const input = todo.slice(from).map((k) => lines[k] as string).join('');
    const p = spawnSync('qemu-aarch64', ['-cpu', 'max', harness()], { input, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120_000 });
    if (p.error) throw new QemuRunError(`qemu-aarch64: ${p.error.message}`);
    const out = p.stdout.split('\n');
    out.pop(); // the partial line after the last newline
    out.forEach((l, n) => {
      results[todo[from + n]!] = l.startsWith('ERR ') ? new QemuRunError(l.slice(4)) : parseRun(l);
    });
    from += out.length;
    if (!p.signal) break;
    if (from < todo.length) results[todo[from]!] = new QemuRunError(`the arm64 code crashed the harness (${p.signal})`);
    from++;
  }
  return results.map((r) => r ?? new QemuRunError('no output'));
}

function parseRun(l: string): Arm64Run {
  const [r0, mem] = l.split(' ');
  return { r0: BigInt(`0x${r0}`), mem: mem === '-' ? new Uint8Array(0) : Uint8Array.from(Buffer.from(mem!, 'hex')) };
}

/** Run one program under qemu-aarch64 with r1 = a copy of `mem`, r2 = its length (and its prog arrays linked). */
export function runArm64(result: JitResult, opts: Omit<Arm64Job, 'result'> = {}): Arm64Run {
  const [r] = runArm64Batch([{ result, ...opts }]);
  if (r instanceof QemuRunError) throw r;
  return r!;
}
