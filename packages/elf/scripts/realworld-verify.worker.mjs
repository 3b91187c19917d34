// Worker of realworld.mjs: our verifier's verdict on one program (the CLI's input path).
import { parentPort, workerData } from 'node:worker_threads';
import { loadProgram, kernelBtfFor } from '../../../apps/cli/dist/input.js';
import { verify } from '../../verifier/dist/index.js';

const { file, section, prog, type } = workerData;
try {
  const { program } = loadProgram(file, { section, prog });
  const r = verify(program, { type, logLevel: 0, kernelBtf: kernelBtfFor(program) });
  parentPort.postMessage({ accepted: r.accepted, error: r.accepted ? null : (r.error?.message ?? null) });
} catch (e) {
  parentPort.postMessage({ accepted: null, error: `${e.code ?? e.name}: ${e.message}` });
}
