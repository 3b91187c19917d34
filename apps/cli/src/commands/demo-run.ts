/** `bpf demo`'s work, loaded only when the command runs (it needs every layer). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble, disassemble, encode, formatHex, formatInsn } from '@bpf/isa';
import { computeLiveness, formatLiveRegs } from '@bpf/liveness';
import { formatX86, jitX86 } from '@bpf/jit-x86';
import { runX86InChild } from '@bpf/jit-x86/node';
import { formatArm64, jitArm64 } from '@bpf/jit-arm64';
import { runArm64 } from '@bpf/jit-arm64/node';
import { run as vmRun } from '@bpf/vm';
import { verify } from '@bpf/verifier';
import { loadProgram, probe } from '@bpf/kernel';
import type { Output } from '../context.js';
import type { ExitCode } from '../errors.js';
import { EXIT } from '../errors.js';

/** An example program: the repository's examples/, copied into the package by its build. */
function exampleText(name = 'call12.s'): string {
  return readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../examples', name), 'utf8');
}

/** The same steps for the 12-argument kfunc call, shorter: verify, interpret, run both JITs, ask the kernel. */
function kfuncPart(out: Output): Record<string, unknown> {
  const program = assemble(exampleText('kfunc12.s'));
  const v = verify(program, { logLevel: 0 });
  const vm = vmRun(program);
  const x86 = process.arch === 'x64' ? runX86InChild(jitX86(v.program ?? program)).r0 : undefined;
  let arm: bigint | undefined;
  try {
    arm = runArm64(jitArm64(v.program ?? program)).r0;
  } catch {
    arm = undefined;
  }
  const k = probe();
  const kernel = k.canLoad ? loadProgram(program, { logLevel: 1 }) : undefined;
  kernel?.close();
  if (!out.json) {
    out.line(`\n${out.paint('bold', '== a 12-argument kfunc call (examples/kfunc12.s): bpf_test_weighted12(1, 2, ..., 12)')}`);
    out.line(`verifier: ${v.accepted ? 'accepted' : `rejected: ${v.error?.message ?? ''}`}; the kfunc's arguments 6..12 are checked as *(R11-8) .. *(R11-56)`);
    out.line(`@bpf/vm: r0 = ${vm.r0}`);
    out.line(`x86-64 JIT, native, the kfunc behind a System V entry point: r0 = ${x86 ?? 'not run on this architecture'}`);
    out.line(`arm64 JIT under qemu-aarch64, the kfunc a 12-argument C function: r0 = ${arm ?? 'not run (qemu-aarch64 or its harness unavailable)'}`);
    if (kernel) out.line(`the running kernel (${k.kernelRelease}, older than stack arguments): ${kernel.accepted ? 'accepted' : `rejected: ${kernel.error ?? ''}`}`);
  }
  return { accepted: v.accepted, vm: `0x${vm.r0.toString(16)}`, x86: x86 === undefined ? null : `0x${x86.toString(16)}`, arm64: arm === undefined ? null : `0x${arm.toString(16)}`, kernel: kernel ? { accepted: kernel.accepted, error: kernel.error ?? null } : null };
}

export function runDemo(out: Output): ExitCode {
  const text = exampleText();
  const program = assemble(text);
  const bytes = encode(program.insns);
  const live = computeLiveness(program);
  const verdict = verify(program, { logLevel: 1 });
  const vm = vmRun(program);
  // the JIT takes the verifier's analysed subprograms (frame sizes, stack-argument counts)
  const jit = jitX86(verdict.program ?? program);
  const native = process.arch === 'x64' ? runX86InChild(jit) : undefined;
  const arm = jitArm64(verdict.program ?? program);
  let armRun: bigint | string;
  try {
    armRun = runArm64(arm).r0;
  } catch (e) {
    armRun = `not run (${(e as Error).message.split('\n')[0] ?? ''})`;
  }
  if (out.json) {
    out.data({
      insns: program.insns.length,
      subprogs: program.subprogs,
      protos: program.protos,
      hex: formatHex(bytes).trim().split('\n'),
      verifier: { accepted: verdict.accepted, error: verdict.error ?? null, subprogs: verdict.program?.subprogs ?? [] },
      vm: { r0: `0x${vm.r0.toString(16)}`, insns: vm.insns },
      x86: { size: jit.code.length, r0: native ? `0x${native.r0.toString(16)}` : null },
      arm64: { size: arm.code.length, r0: typeof armRun === 'bigint' ? `0x${armRun.toString(16)}` : null },
      kfunc12: kfuncPart(out),
    });
    return EXIT.OK;
  }
  const h = (t: string): void => out.line(`\n${out.paint('bold', `== ${t}`)}`);
  h('source (examples/call12.s): arguments 6..12 travel through r11');
  out.line(text.trimEnd());
  h(`assembled: ${program.insns.length} instructions, ${bytes.length} bytes`);
  out.line(formatHex(bytes).trimEnd());
  h('disassembled (llvm-objdump syntax)');
  out.line(disassemble(program.insns, { subprogs: program.subprogs ?? [] }).trimEnd());
  h('disassembled (kernel verifier-log syntax)');
  out.line(disassemble(program.insns, { syntax: 'kernel' }).trimEnd());
  h('liveness (the kernel\'s "Live regs before insn" block)');
  out.line(formatLiveRegs(live, (insns, i) => formatInsn(insns, i, { syntax: 'kernel' })).trimEnd());
  h('verified by @bpf/verifier, stack-argument rules included');
  out.line(verdict.log.trimEnd());
  out.line(verdict.accepted ? out.paint('green', 'accepted') : out.paint('red', `rejected: ${verdict.error?.message ?? ''}`));
  for (const s of verdict.program?.subprogs ?? [])
    out.line(`  ${s.name}: ${s.argCount} args, ${s.incomingStackArgs} incoming and ${s.outgoingStackArgs} outgoing stack-arg slots, ${s.stackDepth} bytes of stack`);
  h('interpreted by @bpf/vm (memory-checked)');
  out.line(`r0 = ${vm.r0} after ${vm.insns} instructions`);
  h(`x86-64 JIT: ${jit.code.length} bytes; argument 6 in r9, 7..12 at [rsp] at the call, read at [rbp+16..]`);
  out.line(formatX86(jit.listing).join('\n'));
  if (native) out.line(out.paint('green', `\nran natively: r0 = ${native.r0} (the interpreter agrees: ${native.r0 === vm.r0 ? 'yes' : 'NO'})`));
  h(`arm64 JIT: ${arm.code.length} bytes; r0 in x8, arguments 6..8 in x5..x7, 9..12 at [sp] at the call, read at [fp+16..]`);
  out.line(formatArm64(arm.listing).join('\n'));
  out.line(typeof armRun === 'bigint' ? out.paint('green', `\nran under qemu-aarch64: r0 = ${armRun} (the interpreter agrees: ${armRun === vm.r0 ? 'yes' : 'NO'})`) : `\narm64: ${armRun}`);
  kfuncPart(out);
  return EXIT.OK;
}
