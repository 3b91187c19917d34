import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { ProgType } from '@bpf/isa';
import type { Command } from '../context.js';
import { EXIT, usage } from '../errors.js';
import { JSON_OPT, TYPE_OPT } from '../options.js';
import type { Job, KernelLoader, Row, ToWorker } from '../veristat-work.js';

/** Tells a worker started on this module (see statInWorkers) from any other worker. */
const WORKER_TAG = 'bpf-veristat-worker';

/**
 * Set by scripts/bundle.mjs in the shipped command: the worker's entry (beside this bundle) and
 * the CommonJS bundle it loads through V8's code cache. Undefined in the tsc output, whose
 * workers run this module itself.
 */
declare const BPF_VERISTAT_WORKER: string | undefined;

const kernel: KernelLoader = () => import('@bpf/kernel');

// loaded on use: `bpf --help` and the other commands start without the verifier
const work = (): Promise<typeof import('../veristat-work.js')> => import('../veristat-work.js');

// A worker started by statInWorkers on this module (the unbundled command): take jobs, answer with their rows, until the pool ends.
if (!isMainThread && parentPort && (workerData as { tag?: unknown } | null)?.tag === WORKER_TAG) {
  const port = parentPort;
  void work().then((w) => w.serve(port, kernel));
}

/** The worker's file: the shipped command's entry beside its bundle, else this module. */
const workerFile = (): URL => (typeof BPF_VERISTAT_WORKER === 'string' ? new URL(BPF_VERISTAT_WORKER, import.meta.url) : new URL(import.meta.url));

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
      const start = (): Worker => new Worker(workerFile(), { workerData: { tag: WORKER_TAG } });
      let w = start();
      let current = -1;
      const give = (): void => {
        if (next >= jobs.length) {
          // the worker ends itself (after saving its code cache, when it has one to save)
          w.once('exit', () => resolve());
          w.postMessage({ stop: true } satisfies ToWorker);
          return;
        }
        current = next++;
        w.postMessage({ id: current, job: jobs[current]! } satisfies ToWorker);
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
        w = start();
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
      const { statFile } = await work();
      for (const [n, job] of jobs.entries()) {
        perFile.push(await statFile(job, kernel));
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
