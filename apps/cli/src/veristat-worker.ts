/**
 * The entry of a `bpf veristat` worker thread in the shipped command (scripts/bundle.mjs bundles
 * it as dist/bpf/veristat-worker.mjs): loads the worker's code, `veristat-work.cjs`, through
 * V8's code cache, so a worker starts from the bytecode an earlier run compiled instead of
 * parsing and compiling the verifier again, and serves jobs with it. An ES module itself, as it
 * imports `@bpf/kernel` (an ES module) for the bundle when the kernel is asked. The tsc output
 * of this file is never run; the unbundled command's workers run commands/veristat.js.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parentPort } from 'node:worker_threads';
import { loadCached } from './code-cache.js';
import { provideKernel } from './kernel-loader.js';
import { wantsTiering } from './v8-tiering.js';
import type { KernelLoader } from './veristat-work.js';

/** The worker bundle's file (beside this one) and content hash, set by scripts/bundle.mjs. */
declare const BPF_VERISTAT_WORK: { readonly file: string; readonly hash: string };

if (parentPort) {
  // the flags are the process's: the main thread set them when wantsTiering said so (bin-bundled.ts)
  const tag = wantsTiering(['veristat'], process.env, availableParallelism()) ? '-tiered' : '';
  const m = loadCached(fileURLToPath(new URL(BPF_VERISTAT_WORK.file, import.meta.url)), BPF_VERISTAT_WORK.hash, tag, false);
  const { serve } = m.exports as typeof import('./veristat-work.js');
  const kernel: KernelLoader = () => import('@bpf/kernel');
  // the worker's code asks the kernel which helpers it gives a program (kernel-loader.ts)
  provideKernel(() => import('@bpf/kernel'));
  serve(parentPort, kernel, m.save);
}
