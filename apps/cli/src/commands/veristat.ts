import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { ProgType } from '@bpf/isa';
import type { Command } from '../context.js';
import { describeError, EXIT, usage } from '../errors.js';
import { kernelBtfFor, kernelSymbolsFor, nrCpuIds, loadProgram } from '../input.js';
import { JSON_OPT, TYPE_OPT } from '../options.js';

interface Row {
  file: string;
  program: string;
  verdict: string;
  insns: number;
  states: number;
  timeUs: number;
  kernelVerdict?: string;
  kernelInsns?: number;
  kernelStates?: number;
  kernelTimeUs?: number;
  /** Why the kernel refused before verifying, when it did. */
  kernelError?: string;
  error?: string;
}

/** One object's work: its programs verified by us and, when `kernel`, loaded by the kernel. */
interface Job {
  readonly file: string;
  readonly type: ProgType | undefined;
  readonly kernel: boolean;
}

/** Tells a worker started on this module (see statInWorkers) from any other worker. */
const WORKER_TAG = 'bpf-veristat-worker';

/** The rows of one object, in its programs' order. */
async function statFile(job: Job): Promise<Row[]> {
  // loaded on use: `bpf --help` and the other commands start without them
  const { verify, needsKernelBtf } = await import('@bpf/verifier');
  const { loadWithMaps } = job.kernel ? await import('@bpf/kernel') : { loadWithMaps: undefined };
  const { file } = job;
  let programs;
  try {
    const input = loadProgram(file, {});
    programs = input.all.length ? input.all : [input.program];
  } catch (e) {
    return [{ file, program: '—', verdict: 'error', insns: 0, states: 0, timeUs: 0, error: describeError(e, file).line.replace(/^bpf: /, '') }];
  }
  const rows: Row[] = [];
  for (const program of programs) {
    const type = job.type ?? program.type ?? 'socket_filter';
    const t0 = process.hrtime.bigint();
    const r = verify(program, { type, logLevel: 0, kernelBtf: kernelBtfFor(needsKernelBtf(program, type)), kernelSymbols: kernelSymbolsFor(program), nrCpuIds: nrCpuIds() });
    const row: Row = { file, program: program.name ?? 'main', verdict: r.accepted ? 'success' : 'failure', insns: r.stats.processedInsns, states: r.stats.totalStates, timeUs: Number(process.hrtime.bigint() - t0) / 1000 };
    if (!r.accepted) row.error = r.error!.message;
    if (loadWithMaps) {
      try {
        const l = loadWithMaps(program, { type, logLevel: 4 });
        Object.assign(row, { kernelVerdict: l.accepted ? 'success' : 'failure', kernelInsns: l.stats?.processedInsns, kernelStates: l.stats?.totalStates, kernelTimeUs: l.stats?.verificationTimeUsec });
        l.close();
      } catch (e) {
        // the kernel refused before verifying (a map, the BTF, a big-endian object): say so in the row
        Object.assign(row, { kernelVerdict: 'error', kernelError: e instanceof Error ? e.message : String(e) });
      }
    }
    rows.push(row);
  }
  return rows;
}

// A worker started by statInWorkers: take jobs, answer with their rows, until the pool ends.
if (!isMainThread && parentPort && (workerData as { tag?: unknown } | null)?.tag === WORKER_TAG) {
  const port = parentPort;
  port.on('message', (m: { id: number; job: Job }) => {
    void statFile(m.job).then(
      (rows) => port.postMessage({ id: m.id, rows }),
      (e: unknown) => port.postMessage({ id: m.id, rows: [{ file: m.job.file, program: '—', verdict: 'error', insns: 0, states: 0, timeUs: 0, error: e instanceof Error ? e.message : String(e) }] }),
    );
  });
}

/**
 * The objects shared out over `jobs` worker threads, one object at a time to each; the rows come
 * back in the order of `jobs`, whichever finishes first. `done` is called as each one finishes.
 */
async function statInWorkers(jobs: readonly Job[], threads: number, done: (n: number, file: string) => void): Promise<Row[][]> {
  const results: Row[][] = new Array<Row[]>(jobs.length);
  let next = 0;
  let finished = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      let w = new Worker(new URL(import.meta.url), { workerData: { tag: WORKER_TAG } });
      let current = -1;
      const give = (): void => {
        if (next >= jobs.length) {
          void w.terminate().then(() => resolve());
          return;
        }
        current = next++;
        w.postMessage({ id: current, job: jobs[current] });
      };
      const onMessage = (m: { id: number; rows: Row[] }): void => {
        results[m.id] = m.rows;
        done(++finished, jobs[m.id]!.file);
        give();
      };
      // a worker that died (out of memory, a native crash) costs its object a row, not the run
      const onError = (e: Error): void => {
        if (current >= 0 && results[current] === undefined) {
          results[current] = [{ file: jobs[current]!.file, program: '—', verdict: 'error', insns: 0, states: 0, timeUs: 0, error: `worker: ${e.message}` }];
          done(++finished, jobs[current]!.file);
        }
        w = new Worker(new URL(import.meta.url), { workerData: { tag: WORKER_TAG } });
        w.on('message', onMessage);
        w.on('error', onError);
        give();
      };
      w.on('message', onMessage);
      w.on('error', onError);
      give();
    });
  await Promise.all(Array.from({ length: threads }, one));
  return results;
}

/** Worker threads run this module's own file: only when it is JavaScript (not under a TypeScript test runner). */
const canFork = (): boolean => /\.m?js$/.test(new URL(import.meta.url).pathname);

export const veristat: Command = {
  name: 'veristat',
  summary: "a table of verdicts, processed insns, states and time per program, ours beside the kernel's",
  usage: 'bpf veristat FILES... [--type T] [--no-kernel] [--jobs N] [--json]',
  example: 'bpf veristat prog1.o prog2.s',
  options: {
    'no-kernel': { type: 'boolean', help: 'do not ask the kernel even when it is available' },
    jobs: { type: 'string', help: 'objects verified at once, each in a worker thread (default: one per CPU core)' },
    ...TYPE_OPT,
    ...JSON_OPT,
  },
  async run({ args, flags, out }) {
    if (args.length === 0) throw usage('veristat: missing FILES');
    let threads = availableParallelism();
    if (typeof flags.jobs === 'string') {
      threads = Number(flags.jobs);
      if (!Number.isInteger(threads) || threads < 1) throw usage(`--jobs must be a positive integer (got '${flags.jobs}')`);
    }
    threads = Math.min(threads, args.length);
    // @bpf/kernel (and koffi's native code) only when the kernel is asked: ~50 ms of CPU before the first worker starts
    const k = flags['no-kernel'] === true ? { canLoad: false } : (await import('@bpf/kernel')).probe();
    const jobs: Job[] = args.map((file) => ({ file, type: flags.type as ProgType | undefined, kernel: k.canLoad }));
    const tty = process.stderr.isTTY && !out.json;
    const progress = (n: number, file: string): void => {
      if (tty) process.stderr.write(`\r[${'#'.repeat(Math.round((n / args.length) * 30)).padEnd(30)}] ${n}/${args.length} ${basename(file)}`.slice(0, 100).padEnd(100));
    };
    let perFile: Row[][];
    if (threads > 1 && canFork()) perFile = await statInWorkers(jobs, threads, progress);
    else {
      perFile = [];
      for (const [n, job] of jobs.entries()) {
        perFile.push(await statFile(job));
        progress(n + 1, job.file);
      }
    }
    const rows = perFile.flat();
    if (tty) process.stderr.write('\r'.padEnd(101) + '\r');
    if (out.json) {
      out.data({ kernel: k.canLoad, programs: rows });
      return rows.some((r) => r.verdict === 'error') ? EXIT.INPUT : EXIT.OK;
    }
    const cols = ['File', 'Program', 'Verdict', 'Insns', 'States', 'Time (us)', ...(k.canLoad ? ['Kernel verdict', 'Kernel insns', 'Kernel states', 'Kernel time (us)'] : [])];
    const cells = rows.map((r) => [basename(r.file), r.program, r.verdict, String(r.insns), String(r.states), r.timeUs.toFixed(0), ...(k.canLoad ? [r.kernelVerdict ?? '—', String(r.kernelInsns ?? '—'), String(r.kernelStates ?? '—'), String(r.kernelTimeUs ?? '—')] : [])]);
    const w = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
    out.line(cols.map((c, i) => c.padEnd(w[i]!)).join('  '));
    out.line(w.map((x) => '-'.repeat(x)).join('  '));
    for (const row of cells) out.line(row.map((c, i) => c.padEnd(w[i]!)).join('  '));
    return rows.some((r) => r.verdict === 'error') ? EXIT.INPUT : EXIT.OK;
  },
};
