/**
 * The playground's engine: from assembly text to every pane, using the real packages in the
 * browser. Pure (no DOM), so the same code is unit-tested in Node and driven by the page.
 */
import { assemble, disassemble, formatInsn, type Program, type ProgType } from '@bpf/isa';
import { computeLiveness, formatLiveRegs } from '@bpf/liveness';
import { verify } from '@bpf/verifier';
import { formatX86, jitX86 } from '@bpf/jit-x86';
import { formatArm64, jitArm64 } from '@bpf/jit-arm64';
import { jitWasm, loadWasm, runWasm } from '@bpf/jit-wasm';

export interface StageError {
  readonly message: string;
  /** 1-based source line the error points at, when known. */
  readonly line?: number;
}

export interface PlaygroundResult {
  readonly program?: Program;
  readonly assembleError?: StageError;
  readonly disasm: string;
  readonly verifier: { readonly accepted: boolean; readonly log: string; readonly error?: StageError & { readonly insn: number } } | { readonly failed: string };
  readonly liveness: string;
  readonly x86: string;
  readonly arm64: string;
}

const guard = (f: () => string): string => {
  try {
    return f();
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
};

/** Source line of each instruction slot, from the assembler's map or by counting. */
export function insnLine(program: Program, insn: number): number | undefined {
  const map = (program as Program & { sourceLines?: readonly number[] }).sourceLines;
  return map?.[insn];
}

export function analyse(text: string, type: ProgType = 'socket_filter'): PlaygroundResult {
  let program: Program;
  try {
    program = { ...assemble(text), type };
  } catch (e) {
    const err = e as Error & { location?: { line: number } };
    const message = err.message;
    return {
      assembleError: err.location ? { message, line: err.location.line } : { message },
      disasm: '',
      verifier: { failed: message },
      liveness: '',
      x86: '',
      arm64: '',
    };
  }
  const disasm = guard(() => disassemble(program.insns, { syntax: 'llvm', ...(program.subprogs ? { subprogs: program.subprogs } : {}) }));
  let verifier: PlaygroundResult['verifier'];
  try {
    const r = verify(program, { type, logLevel: 1 });
    const line = r.error ? insnLine(program, r.error.insn) : undefined;
    verifier = {
      accepted: r.accepted,
      log: r.log,
      ...(r.error ? { error: { message: r.error.message, insn: r.error.insn, ...(line !== undefined ? { line } : {}) } } : {}),
    };
  } catch (e) {
    verifier = { failed: (e as Error).message };
  }
  const liveness = guard(() => formatLiveRegs(computeLiveness(program, { progType: type }), (insns, i) => formatInsn(insns, i, { syntax: 'kernel' })));
  const x86 = guard(() => formatX86(jitX86(program).listing).join('\n'));
  const arm64 = guard(() => formatArm64(jitArm64(program).listing).join('\n'));
  return { program, disasm, verifier, liveness, x86, arm64 };
}

/**
 * Run the program compiled to WebAssembly (memory-checked, @bpf/vm's results) on 64 zero bytes
 * (r1 points at them, r2 holds their length). Asynchronous: the browser compiles the module off
 * its main thread.
 */
export async function runProgram(program: Program): Promise<string> {
  try {
    const jit = jitWasm(program);
    await loadWasm(jit);
    const r = runWasm(jit, { mem: new Uint8Array(64), budget: 1_000_000 });
    const changed = Array.from(r.mem, (b) => b.toString(16).padStart(2, '0')).join(' ');
    return [
      `r0 = 0x${r.r0.toString(16)} (${BigInt.asIntN(64, r.r0)})`,
      `${r.insns} instructions executed (WebAssembly, ${jit.bytes.length}-byte module, compiled in ${jit.compileMs.toFixed(2)} ms)`,
      ...(r.mem.some((b) => b !== 0) ? [`memory after: ${changed}`] : []),
      ...r.printk.map((l) => `trace_printk: ${l}`),
    ].join('\n');
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}
