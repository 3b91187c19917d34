export { jitWasm, type MapRef, type WasmJitOptions, type WasmJitResult } from './compile.js';
export { loadWasm, runWasm, type WasmRunOptions } from './run.js';
export { VmError } from '@bpf/vm';
