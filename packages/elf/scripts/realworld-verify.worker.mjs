// Worker of realworld.mjs: our verifier's verdict on one program at a time (the CLI's input
// path). Long-lived: the CLI's modules and the kernel BTF are read once per worker; the parent
// replaces the worker when a program runs past its timeout.
import { parentPort } from 'node:worker_threads';
import { loadProgram, kernelBtfFor } from '../../../apps/cli/dist/input.js';
import { verify } from '../../verifier/dist/index.js';

parentPort.on('message', ({ id, file, section, prog, type }) => {
  try {
    const { program } = loadProgram(file, { section, prog });
    const r = verify(program, { type, logLevel: 0, kernelBtf: kernelBtfFor(program) });
    parentPort.postMessage({ id, accepted: r.accepted, error: r.accepted ? null : (r.error?.message ?? null) });
  } catch (e) {
    parentPort.postMessage({ id, accepted: null, error: `${e.code ?? e.name}: ${e.message}` });
  }
});
