/* eslint-disable no-restricted-imports -- test-only helper; its name keeps it out of the published files */
/**
 * Test-only: the running kernel as the oracle for the verifier's tests. C sources are built
 * with clang-19, linked with @bpf/elf against /sys/kernel/btf/vmlinux and loaded with
 * @bpf/kernel; both are imported by name at run time so this package does not depend on them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBtf, type Btf } from '@bpf/btf';
import type { Insn, Program, ProgType } from '@bpf/isa';
import { comparableLines, fixturesDir, kallsyms, tempDir } from '@bpf/testkit';
import { expect } from 'vitest';
import { verify } from './index.js';

export interface KernelVerdict {
  readonly accepted: boolean;
  readonly error: string | undefined;
  readonly log: string;
}

interface KernelApi {
  loadWithMaps(
    p: Program,
    opts?: { logLevel?: number; logSize?: number; logGrow?: boolean; license?: string; flags?: number; attachBtfId?: number; attachProgFd?: number },
  ): { accepted: boolean; errno: number; error?: string; log: string; logTrueSize: number; fd?: number; refusedBeforeVerifier?: boolean; btfRefused?: { readonly errnoName: string }; xlated?: readonly Insn[]; close(): void };
  possibleCpus(): number;
  helperProbe(t: { type: ProgType; expectedAttachType?: string; attachBtfId?: number; sleepable?: boolean }): ((id: number) => boolean) | undefined;
  kfuncProbe(t: { type: ProgType; expectedAttachType?: string; attachBtfId?: number; sleepable?: boolean }): ((id: number) => boolean) | undefined;
}
interface ElfApi {
  loadPrograms(bytes: Uint8Array, opts: { kernelBtf: Uint8Array; kallsyms?: ReadonlyMap<string, bigint> }): (Program & { readonly name: string })[];
}

const kernelModule = '@bpf/kernel';
const elfModule = '@bpf/elf';
export const kernelApi: KernelApi | undefined = await import(/* @vite-ignore */ kernelModule).then(
  (m: Partial<KernelApi>) => (typeof m.loadWithMaps === 'function' ? (m as KernelApi) : undefined),
  () => undefined,
);
const elfApi: ElfApi | undefined = await import(/* @vite-ignore */ elfModule).then(
  (m: Partial<ElfApi>) => (typeof m.loadPrograms === 'function' ? (m as ElfApi) : undefined),
  () => undefined,
);

const VMLINUX = '/sys/kernel/btf/vmlinux';
let vmlinuxBytes: Uint8Array | undefined;
let vmlinux: Btf | undefined;
export const haveVmlinux = (): boolean => existsSync(VMLINUX) && kernelApi !== undefined && elfApi !== undefined;
export function kernelBtf(): Btf {
  vmlinuxBytes ??= new Uint8Array(readFileSync(VMLINUX));
  return (vmlinux ??= parseBtf(vmlinuxBytes));
}

/** The programs of a C source (fixtures/c/elf/bpf_defs.h included), linked for this kernel. */
export function buildC(source: string): (Program & { readonly name: string })[] {
  const dir = tempDir('verifier-c-');
  writeFileSync(join(dir, 'p.c'), source);
  execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-Wall', '-Wno-unused-function', '-I', join(fixturesDir, 'c/elf'), '-c', join(dir, 'p.c'), '-o', join(dir, 'p.o')]);
  kernelBtf();
  return elfApi!.loadPrograms(new Uint8Array(readFileSync(join(dir, 'p.o'))), { kernelBtf: vmlinuxBytes!, kallsyms: kallsyms() });
}

/** The kernel's verdict and first error for a program. */
export function kernelVerdict(p: Program, opts: { license?: string; logLevel?: number } = {}): KernelVerdict {
  // BPF_F_SLEEPABLE for programs whose section says so (SEC("syscall"), "fentry.s/...")
  const sleepable = (p as { readonly sleepable?: boolean }).sleepable === true;
  const k = kernelApi!.loadWithMaps(p, { logLevel: 1, ...(sleepable ? { flags: 1 << 4 } : {}), ...opts });
  try {
    return { accepted: k.accepted, error: k.accepted ? undefined : k.error, log: k.log };
  } finally {
    k.close();
  }
}

/** The program as the kernel hands it to its JIT (BPF_OBJ_GET_INFO_BY_FD's xlated_prog_insns), or undefined when it rejects it. */
export function kernelXlated(p: Program): readonly Insn[] | undefined {
  const sleepable = (p as { readonly sleepable?: boolean }).sleepable === true;
  const k = kernelApi!.loadWithMaps(p, { logLevel: 0, ...(sleepable ? { flags: 1 << 4 } : {}) });
  try {
    return k.accepted ? k.xlated : undefined;
  } finally {
    k.close();
  }
}

/** A C fixture of fixtures/c/DIR with its header inlined (buildC compiles one file). */
export function fixtureSource(dir: string, file: string, header: string): string {
  const at = join(fixturesDir, 'c', dir);
  return readFileSync(join(at, file), 'utf8').replace(`#include "${header}"`, readFileSync(join(at, header), 'utf8'));
}

export { comparableLines };

/**
 * One program, ours against the running kernel: verdict, first error and processed count, and
 * the level-2 log line for line unless `logDiffers` names the program. With `dump` (a folder),
 * both logs are written there for reading.
 */
/**
 * The running kernel's answer to which helpers and kfuncs it lets the program's type call
 * (@bpf/kernel's helperProbe and kfuncProbe), as `bpf verify` asks it: a kernel built from
 * patched sources or with an option off can take away what the tables give (this machine kind's
 * 6.18.44-fc build: bpf_xdp_adjust_meta in XDP, the arena kfuncs everywhere).
 */
export function kernelHelpers(p: Program): { helperAvailable?: (id: number) => boolean; kfuncAvailable?: (id: number) => boolean } {
  const attachBtfId = (p as { readonly attachBtfId?: number }).attachBtfId;
  const target = {
    type: p.type ?? 'socket_filter',
    ...(p.expectedAttachType !== undefined ? { expectedAttachType: p.expectedAttachType } : {}),
    ...(attachBtfId !== undefined ? { attachBtfId } : {}),
    ...((p as { readonly sleepable?: boolean }).sleepable ? { sleepable: true } : {}),
  };
  const helperAvailable = kernelApi?.helperProbe(target);
  const kfuncAvailable = kernelApi?.kfuncProbe(target);
  return { ...(helperAvailable ? { helperAvailable } : {}), ...(kfuncAvailable ? { kfuncAvailable } : {}) };
}

export function expectSameAsKernel(name: string, p: Program, opts: { readonly logDiffers?: ReadonlySet<string>; readonly dump?: string } = {}): void {
  const kernel = kernelVerdict(p, { logLevel: 2 });
  // nr_cpu_ids: the possible CPUs (this machine's /sys/devices/system/cpu/possible is "0-N")
  const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2, nrCpuIds: kernelApi!.possibleCpus(), ...kernelHelpers(p) });
  if (opts.dump) {
    writeFileSync(join(opts.dump, `${name}.kernel`), kernel.log);
    writeFileSync(join(opts.dump, `${name}.ours`), ours.log);
  }
  expect({ accepted: ours.accepted, error: ours.error?.message, processed: String(ours.stats.processedInsns) }).toEqual({
    accepted: kernel.accepted,
    error: kernel.error,
    processed: /processed (\d+) insns/.exec(kernel.log)?.[1],
  });
  if (!opts.logDiffers?.has(name)) expect(comparableLines(ours.log)).toEqual(comparableLines(kernel.log));
}
