/**
 * What a `bpf veristat` worker does with one object: its programs verified by us and, when asked,
 * loaded by the kernel. Shared by the command (one object after another with `--jobs 1`), its
 * worker threads under the unbundled command, and the shipped command's worker bundle
 * (scripts/bundle.mjs: `veristat-work.cjs`, CommonJS so V8's code cache keeps its compiled code,
 * started by `veristat-worker.mjs`). `@bpf/kernel` comes through `loadKernel`, from the caller:
 * an ES module, which a bundle loaded through `vm.Script` cannot import itself.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ProgType } from '@bpf/isa';
import { verify, needsKernelBtf } from '@bpf/verifier';
import { describeError } from './errors.js';
import { kernelBtfFor, kernelProbesFor, kernelSymbolsFor, nrCpuIds, loadProgram } from './input.js';

export interface Row {
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
export interface Job {
  readonly file: string;
  readonly type: ProgType | undefined;
  readonly kernel: boolean;
}

/** What veristat takes of `@bpf/kernel`. */
export type KernelLoader = () => Promise<Pick<typeof import('@bpf/kernel'), 'loadWithMaps'>>;

/** The row of an object that failed as a whole (unreadable, or its worker died). */
export const errorRow = (file: string, error: string): Row => ({ file, program: '—', verdict: 'error', insns: 0, states: 0, timeUs: 0, error });

/** The rows of one object, in its programs' order. */
export async function statFile(job: Job, loadKernel: KernelLoader): Promise<Row[]> {
  const { loadWithMaps } = job.kernel ? await loadKernel() : { loadWithMaps: undefined };
  const { file } = job;
  let programs;
  try {
    const input = loadProgram(file, {});
    programs = input.all.length ? input.all : [input.program];
  } catch (e) {
    return [errorRow(file, describeError(e, file).line.replace(/^bpf: /, ''))];
  }
  const rows: Row[] = [];
  for (const program of programs) {
    const type = job.type ?? program.type ?? 'socket_filter';
    const probes = await kernelProbesFor(program, type);
    // what the verifier is given, read before the clock starts: the first program that needs
    // the kernel's BTF would otherwise count its parse (and the first one naming a kernel
    // symbol /proc/kallsyms) as verification time
    const kernelBtf = kernelBtfFor(needsKernelBtf(program, type));
    const kernelSymbols = kernelSymbolsFor(program);
    const cpus = nrCpuIds();
    const t0 = process.hrtime.bigint();
    const r = verify(program, { type, logLevel: 0, kernelBtf, kernelSymbols, nrCpuIds: cpus, ...probes });
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

/** A message to a worker: an object to do, or the end of the run. */
export type ToWorker = { readonly id: number; readonly job: Job } | { readonly stop: true };

/**
 * A worker's side: take jobs from `port` and answer each with its rows, one at a time. On
 * `stop`, `beforeExit` runs (the worker bundle saves its code cache then) and the port closes,
 * which ends the thread.
 */
export function serve(port: MessagePort, loadKernel: KernelLoader, beforeExit: () => void = () => {}): void {
  port.on('message', (m: ToWorker) => {
    if ('stop' in m) {
      try {
        beforeExit();
      } finally {
        port.close();
      }
      return;
    }
    void statFile(m.job, loadKernel).then(
      (rows) => port.postMessage({ id: m.id, rows }),
      (e: unknown) => port.postMessage({ id: m.id, rows: [errorRow(m.job.file, e instanceof Error ? e.message : String(e))] }),
    );
  });
}
