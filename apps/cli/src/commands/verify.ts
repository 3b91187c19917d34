import { existsSync, readFileSync } from 'node:fs';
import { findByName, parseBtf } from '@bpf/btf';
import { formatInsn, type Insn, type Program, type ProgType } from '@bpf/isa';
import type { Trace, VerifyOptions } from '@bpf/verifier';
import type { Command } from '../context.js';
import { CliError, EXIT, requireFile, usage } from '../errors.js';
import { inputOptsOf, kernelProbesFor, kernelBtfFor, kernelSymbolsFor, nrCpuIds, loadProgram, refuseUnresolved } from '../input.js';
import { HOST_OPTS, INPUT_OPTS, JSON_OPT, LICENSE_OPT, LOAD_OPTS, loadOptsOf, LOG_SIZE_OPTS, logSizeOf, TYPE_OPT } from '../options.js';

export const verify: Command = {
  name: 'verify',
  summary: 'verify a program like the kernel does; exit 0 when accepted, 1 when rejected',
  usage: 'bpf verify FILE [--type T] [--attach-type A] [--flags F] [--attach-to FUNC] [--replaces OBJECT[:FUNC]] [--function NAME=FILE] [--license L] [--log-level 1|2] [--log-size N [--log-fixed]] [--map-addresses LOG] [--no-jit] [--no-kernel-probe] [--trace] [--json]',
  example: 'bpf verify prog.s --type xdp --log-level 1',
  options: {
    'log-level': { type: 'string', help: 'log level (default 1)', values: ['0', '1', '2'] },
    ...LOG_SIZE_OPTS,
    'map-addresses': {
      type: 'string',
      help: "LOG: a kernel verifier log of the same program (bpf kernel load's, bpftool's, level 1 or 2): ld_imm64 lines naming a map, a map value or a kernel symbol print the addresses it shows, as the kernel prints them, instead of the encoded immediate (only the log changes; '-' reads standard input)",
    },
    'no-jit': { type: 'boolean', help: 'assume the program will be interpreted (stack arguments then fail)' },
    'no-kernel-probe': { type: 'boolean', help: "decide which helpers and kfuncs the program's type may call by the tables made from the kernel's sources alone; by default (on Linux, with bpf() allowed) the running kernel is asked about each one the program calls, as its build may take one away" },
    trace: { type: 'boolean', help: 'record the walk: with --json the whole trace (states before and after each processed insn, paths, prunes, the why-chain); as text a summary and, for a rejection, the instructions its values came from' },
    'trace-max-steps': { type: 'string', help: 'keep at most N traced steps (default 200000)' },
    replaces: {
      type: 'string',
      help: "extension (freplace) programs: the ELF object whose global function FUNC the program replaces (FUNC defaults to the section's freplace/FUNC); verified as that program's type, after the kernel's checks of the pair (prototypes, packet changes)",
    },
    ...TYPE_OPT,
    ...LOAD_OPTS,
    ...HOST_OPTS,
    ...LICENSE_OPT,
    ...INPUT_OPTS,
    ...JSON_OPT,
  },
  async run({ args, flags, out }) {
    // loaded on use: `bpf --help` and the other commands start without it
    const { verify: runVerifier, parseProgFlags, attachTypeOf, needsKernelBtf, mapAddressesFromLog } = await import('@bpf/verifier');
    const file = requireFile(args, 'verify');
    const { program: read } = loadProgram(file, inputOptsOf(flags));
    // a program its loader refuses (an extern this kernel lacks, resolved program by program
    // under cilium/ebpf's rules): that loader's error, not a verdict on code it never sends
    refuseUnresolved(read);
    const program = typeof flags.license === 'string' ? { ...read, license: flags.license } : read;
    const type = (flags.type as ProgType | undefined) ?? program.type ?? 'socket_filter';
    const load = loadOptsOf(flags, program as { readonly sleepable?: boolean }, parseProgFlags);
    const maxSteps = flags['trace-max-steps'] === undefined ? undefined : positiveInt(flags['trace-max-steps'] as string, '--trace-max-steps');
    const trace = flags.trace === true ? (maxSteps === undefined ? true : { maxSteps }) : false;
    const replaces = typeof flags.replaces === 'string' ? replacedFunction(flags.replaces, program, type, attachTypeOf) : undefined;
    const logLevel = Number(flags['log-level'] ?? 1) as 0 | 1 | 2;
    const mapAddresses = typeof flags['map-addresses'] === 'string' ? mapAddressesFromLog(program, readLog(flags['map-addresses'])) : undefined;
    const probes = flags['no-kernel-probe'] === true ? {} : await kernelProbesFor(program, type, load);
    const r = runVerifier(program, { type, ...load, ...(replaces ? { replaces } : {}), ...(mapAddresses ? { mapAddresses } : {}), logLevel, ...logSizeOf(flags, logLevel), jit: flags['no-jit'] !== true, kernelBtf: kernelBtfFor(needsKernelBtf(program, type, load.attachType)), kernelSymbols: kernelSymbolsFor(program), nrCpuIds: nrCpuIds(), ...probes, trace });
    if (out.json) {
      out.data({
        accepted: r.accepted,
        error: r.error ?? null,
        stats: r.stats,
        subprogs: r.program?.subprogs ?? [],
        log: r.log,
        logTrueSize: r.logTrueSize,
        logTruncated: r.logTruncated === true,
        ...(r.trace ? { trace: r.trace } : {}),
      });
    } else {
      out.line(r.log.trimEnd());
      if (r.accepted) out.line(out.paint('green', 'accepted'));
      else if (r.logTruncated) out.line(out.paint('red', `refused: the log needs ${r.logTrueSize} bytes, more than --log-size ${String(flags['log-size'])} (ENOSPC)${r.error ? `; the verifier also rejected it at insn ${r.error.insn}: ${r.error.message}` : ''}`));
      else out.line(out.paint('red', `rejected at insn ${r.error!.insn}: ${r.error!.message}`));
      if (r.trace) for (const line of traceSummary(r.trace, program.insns)) out.line(line);
    }
    return r.accepted ? EXIT.OK : EXIT.REJECTED;
  },
};

/**
 * --replaces OBJECT[:FUNC]: the program of OBJECT whose BTF has the global function FUNC (libbpf's
 * bpf_program__set_attach_target), as the target of the extension `ext`.
 */
function replacedFunction(spec: string, ext: Program, type: ProgType, attachTypeOf: (v: string | undefined) => VerifyOptions['attachType']): NonNullable<VerifyOptions['replaces']> {
  if (type !== 'ext') throw usage(`--replaces: only extension programs (--type ext, SEC("freplace/FUNC")) replace a function; this one is ${type}`);
  const colon = spec.lastIndexOf(':');
  const named = colon > 0 && !existsSync(spec) && /^[A-Za-z_]\w*$/.test(spec.slice(colon + 1));
  const object = named ? spec.slice(0, colon) : spec;
  const section = (ext as Program & { readonly section?: string }).section;
  const func = named ? spec.slice(colon + 1) : /^freplace\/(.+)$/.exec(section ?? '')?.[1];
  if (func === undefined) throw usage(`--replaces ${spec}: name the function (OBJECT:FUNC); the program's section names none`);
  const { all } = loadProgram(object, { input: 'elf' });
  const has = (p: Program): boolean => {
    if (!p.btf || !p.funcInfo) return false;
    const btf = parseBtf(p.btf.bytes);
    const ids = new Set(findByName(btf, func, 'FUNC'));
    return p.funcInfo.some((f) => ids.has(f.typeId));
  };
  const target = all.find(has);
  if (!target) throw new CliError(EXIT.INPUT, `--replaces ${spec}: no program of ${object} has a function ${func} in its BTF`);
  return { type: target.type ?? 'socket_filter', attachType: attachTypeOf(target.expectedAttachType), program: target, func };
}

/** --map-addresses LOG: the log's text ('-': standard input). */
function readLog(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new CliError(EXIT.INPUT, `--map-addresses ${file}: ${(e as Error).message}`);
  }
}

function positiveInt(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw usage(`${name} takes a positive integer, not '${v}'`);
  return n;
}

/** The trace as text: its size, and a rejection's why-chain as the instructions themselves. */
export function traceSummary(t: Trace, insns: readonly Insn[]): string[] {
  const lines = [`trace: ${t.steps.length} steps${t.truncated ? ' (truncated)' : ''} on ${t.paths.length} paths, ${t.checkpoints.length} checkpoints, ${t.prunes.length} pruned`];
  const rej = t.rejection;
  if (rej) {
    const regs = rej.regs.map((n) => `R${n}`).join(', ');
    lines.push(`why: ${regs || 'the value'} at insn ${rej.pc} came from (newest first):`);
    for (const l of rej.chain) {
      const needs = [...l.regs.map((n) => `R${n}`), ...l.slots.map((o) => `fp${o}`)].join(' ');
      lines.push(`  ${String(l.pc).padStart(5)}: ${formatInsn(insns, l.pc, { syntax: 'kernel' })}${l.frame ? `  (frame ${l.frame})` : ''}${needs ? `  ; needs ${needs}` : ''}`);
    }
    if (rej.chain.length === 0) lines.push('  (no earlier instruction: the value was there at the start)');
  }
  return lines;
}
