import { existsSync } from 'node:fs';
import { ATTACH_TYPES, parseHex, type Program } from '@bpf/isa';
import type { LoadedWithMaps, LoadWithMapsOptions } from '@bpf/kernel';
import type { ProgType } from '@bpf/isa';
import type { Command, Flags, Output } from '../context.js';
import { CliError, EXIT, usage, type ExitCode } from '../errors.js';
import { inputOptsOf, kernelProbesFor, kernelBtfFor, kernelSymbolsFor, nrCpuIds, loadProgram as readProgram, NoProgramsError } from '../input.js';
import { HOST_OPTS, INPUT_OPTS, JSON_OPT, LICENSE_OPT, LOAD_OPTS, loadOptsOf, LOG_SIZE_OPTS, logSizeOf, MAP_OPTS, mapInnerOf, mapMaxEntriesOf, mapValueSizeOf, TYPE_OPT } from '../options.js';

export const kernel: Command = {
  name: 'kernel',
  summary: 'ask the running kernel: load (verdict, log, stats), test-run, or compare with our verifier',
  usage: 'bpf kernel load|run|compare FILE [--type T] [--attach-type A] [--flags F] [--attach-to FUNC] [--attach-prog OBJECT[:PROG]] [--function NAME=FILE] [--set NAME=VALUE] [--license L] [--map-max-entries NAME=N] [--log-level N] [--log-size N [--log-fixed]] [--data HEX] [--repeat N] [--json]',
  example: 'bpf kernel load prog.s --type xdp --log-level 2',
  subcommands: ['load', 'run', 'compare'],
  options: {
    'log-level': { type: 'string', help: 'verifier log level: 1, 2, or 4 (stats)', values: ['0', '1', '2', '3', '4', '5', '6', '7'] },
    ...LOG_SIZE_OPTS,
    data: { type: 'string', help: 'run: hex bytes of packet data' },
    repeat: { type: 'string', help: 'run: repetitions for the duration measurement (default 1)' },
    'attach-prog': {
      type: 'string',
      help: "ELF fentry/fexit programs: OBJECT[:PROG] loads PROG of OBJECT (its first program by default) and attaches the object's fentry/fexit programs to its function (attach_prog_fd), as perf stat -b and bpftool prog profile do with libbpf's bpf_program__set_attach_target(prog, fd, name)",
    },
    ...TYPE_OPT,
    ...LOAD_OPTS,
    ...HOST_OPTS,
    ...LICENSE_OPT,
    ...MAP_OPTS,
    ...INPUT_OPTS,
    ...JSON_OPT,
  },
  async run({ args, flags, out }) {
    // loaded on use: `bpf --help` and the other commands start without it
    const { errnoName, ldimm64FullRangeOffsets, loadWithMaps, possibleCpus, probe, testRun, withHostMaps } = await import('@bpf/kernel');
    // An empty log means the kernel said no before its verifier ran: say so instead of an empty reason.
    const rejection = (l: LoadedWithMaps): string =>
      l.refusedBeforeVerifier === true
        ? `refused before the verifier ran (${errnoName(l.errno)}, empty log): the kernel checked the load's attributes, capabilities or a security module's bpf_prog_load hook first; the code was not verified`
        : l.errno === 28 && l.error === undefined && l.logTrueSize > 0
          ? `the log needs ${l.logTrueSize} bytes, more than --log-size ${String(flags['log-size'])} (ENOSPC)`
          : `${l.error ?? ''} (errno ${l.errno})`;
    const { verify, parseProgFlags, needsKernelBtf } = await import('@bpf/verifier');
    const { jitX86 } = await import('@bpf/jit-x86');
    const [sub, file] = args;
    if (sub !== 'load' && sub !== 'run' && sub !== 'compare') throw usage(`kernel: expected 'load', 'run' or 'compare' (got '${sub ?? ''}')`);
    if (file === undefined) throw usage(`kernel ${sub}: missing FILE`);
    const p = probe();
    if (!p.canLoad) throw new CliError(EXIT.UNAVAILABLE, `kernel: cannot load programs here: ${p.reason ?? 'unknown reason'}`);
    // --attach-prog: the target program is loaded first, and stays loaded while ours is
    const target = typeof flags['attach-prog'] === 'string' ? loadTarget(flags['attach-prog'], loadWithMaps) : undefined;
    let read;
    try {
      // __arena globals go where libbpf puts them for this kernel (its ld_imm64 offset probe)
      const arena = (): { fullRangeOffsets: boolean } => ({ fullRangeOffsets: ldimm64FullRangeOffsets() });
      read = readProgram(file, { ...inputOptsOf(flags), ...(target ? { attachBtfId: target.btfId } : {}), arena }).program;
    } catch (e) {
      target?.close();
      // an object of maps only: `load` creates its maps, as its loader would
      if (e instanceof NoProgramsError && e.maps.length > 0 && sub === 'load') return createObjectMaps(e, flags, out, await import('@bpf/kernel'));
      throw e;
    }
    // --license replaces the object's: the kernel and our verifier both see it
    const program = typeof flags.license === 'string' ? { ...read, license: flags.license } : read;
    const type = (flags.type as ProgType | undefined) ?? program.type ?? 'socket_filter';
    const how = loadOptsOf(flags, program as { readonly sleepable?: boolean }, parseProgFlags);
    const attach = how.attachType !== undefined ? { expectedAttachType: ATTACH_TYPES.indexOf(how.attachType) } : {};
    const mapMaxEntries = mapMaxEntriesOf(flags, possibleCpus);
    const mapValueSize = mapValueSizeOf(flags);
    const mapInner = mapInnerOf(flags);
    let load: LoadedWithMaps | undefined;
    try {
      // the program's maps are created (global data written, .rodata frozen) and its BTF loaded, as libbpf does
      // level 1 even for run: a rejection then says why
      // --log-size: one load with that buffer, the kernel's answer as it is (no retry with a larger one)
      const level = Number(flags['log-level'] ?? 1);
      const sized = logSizeOf(flags, level);
      const logOpts = sized.logSize === undefined ? { logLevel: level } : { logLevel: sized.logFixed ? level | 8 : level, logSize: sized.logSize, logGrow: false };
      load = loadWithMaps(program, { type, ...attach, flags: how.flags, ...logOpts, ...(mapMaxEntries ? { mapMaxEntries } : {}), ...(mapValueSize ? { mapValueSize } : {}), ...(mapInner ? { mapInner } : {}), ...(target ? { attachProgFd: target.fd } : {}) });
      if (sub === 'compare') {
        // our verifier sees the maps as the kernel got them (the sizes and inner maps given)
        const hosted = withHostMaps(program, { ...(mapMaxEntries ? { mapMaxEntries } : {}), ...(mapValueSize ? { mapValueSize } : {}), ...(mapInner ? { mapInner } : {}) });
        const probes = await kernelProbesFor(program, type, how);
        const ours = verify(hosted, { type, ...how, logLevel: 0, kernelBtf: kernelBtfFor(needsKernelBtf(program, type, how.attachType)), kernelSymbols: kernelSymbolsFor(program), nrCpuIds: nrCpuIds(), ...probes });
        const jited = ours.accepted ? jitX86(ours.program!).code.length : null;
        const row = (label: string, a: string | number | null | undefined, b: string | number | null | undefined): string => `${label.padEnd(22)} ${String(a ?? '—').padEnd(40)} ${String(b ?? '—')}`;
        const agree = ours.accepted === load.accepted && (load.accepted || ours.error?.message === load.error);
        if (out.json) {
          out.data({
            agree,
            ours: { accepted: ours.accepted, error: ours.error?.message ?? null, processedInsns: ours.stats.processedInsns, totalStates: ours.stats.totalStates, jitedLen: jited },
            kernel: { accepted: load.accepted, error: load.error ?? null, processedInsns: load.stats?.processedInsns ?? null, totalStates: load.stats?.totalStates ?? null, jitedLen: load.jitedLen ?? null },
          });
        } else {
          out.line(out.paint('bold', row('', '@bpf/verifier + jit-x86', `kernel ${p.kernelRelease}`)));
          out.line(row('verdict', ours.accepted ? 'accepted' : 'rejected', load.accepted ? 'accepted' : 'rejected'));
          out.line(row('first error', ours.error?.message, load.error));
          out.line(row('processed insns', ours.stats.processedInsns, load.stats?.processedInsns));
          out.line(row('total states', ours.stats.totalStates, load.stats?.totalStates));
          out.line(row('x86-64 code bytes', jited, load.jitedLen));
          out.line(agree ? out.paint('green', 'verdicts agree') : out.paint('red', 'verdicts DISAGREE'));
        }
        return agree ? EXIT.OK : EXIT.REJECTED;
      }
      if (sub === 'load') {
        if (out.json) {
          out.data({ accepted: load.accepted, errno: load.errno, error: load.error ?? null, refusedBeforeVerifier: load.refusedBeforeVerifier === true, btfRefused: load.btfRefused?.errnoName ?? null, log: load.log, logTrueSize: load.logTrueSize, stats: load.stats ?? {}, verifiedInsns: load.verifiedInsns ?? null, jitedLen: load.jitedLen ?? null, xlatedInsns: load.xlated?.length ?? null });
        } else {
          if (load.log) out.line(load.log.trimEnd());
          if (load.btfRefused) out.line(`note: the kernel refused the object's BTF (${load.btfRefused.errnoName}); loaded without it, as libbpf does (maps without key and value types, no func_info or line_info)`);
          out.line(load.accepted ? out.paint('green', `accepted (${load.jitedLen ?? 0} bytes JIT'd)`) : out.paint('red', `rejected: ${rejection(load)}`));
        }
        return load.accepted ? EXIT.OK : EXIT.REJECTED;
      }
      if (!load.accepted) throw new CliError(EXIT.REJECTED, `kernel run: the kernel rejected the program: ${rejection(load)}`);
      const repeat = flags.repeat === undefined ? 1 : Number(flags.repeat);
      const r = testRun(load.fd!, { data: typeof flags.data === 'string' ? parseHex(flags.data) : new Uint8Array(64), repeat });
      if (out.json) out.data({ retval: r.retval, duration: r.duration, dataOut: Buffer.from(r.dataOut).toString('hex') });
      else out.line(`retval = ${r.retval} (0x${r.retval.toString(16)}), ${r.duration} ns per run`);
      return EXIT.OK;
    } finally {
      load?.close();
      target?.close();
    }
  },
};

/**
 * --attach-prog OBJECT[:PROG]: PROG of OBJECT loaded into the kernel (with its maps), and the id
 * of its function in its own BTF (func_info[0], the program's main function), which an fentry /
 * fexit program names as attach_btf_id with the target's fd as attach_prog_fd.
 */
function loadTarget(spec: string, loadWithMaps: (p: Program, o: LoadWithMapsOptions) => LoadedWithMaps): { fd: number; btfId: number; close(): void } {
  const colon = spec.lastIndexOf(':');
  const named = colon > 0 && !existsSync(spec) && /^[A-Za-z_]\w*$/.test(spec.slice(colon + 1));
  const object = named ? spec.slice(0, colon) : spec;
  const t = readProgram(object, { input: 'elf', ...(named ? { prog: spec.slice(colon + 1) } : {}) }).program;
  const btfId = t.funcInfo?.[0]?.typeId;
  if (t.btf === undefined || btfId === undefined) throw new CliError(EXIT.INPUT, `--attach-prog ${spec}: ${t.name ?? 'the program'} has no BTF func_info; the kernel finds an fentry/fexit target in the target program's BTF`);
  const l = loadWithMaps(t, { type: t.type ?? 'socket_filter', logLevel: 1 });
  if (!l.accepted || l.fd === undefined) {
    l.close();
    throw new CliError(EXIT.INPUT, `--attach-prog ${spec}: the kernel rejected the target program ${t.name ?? ''}: ${l.error ?? `errno ${l.errno}`}`);
  }
  return { fd: l.fd, btfId, close: () => l.close() };
}

/**
 * `bpf kernel load` of an object without programs: each map created as the object's loader
 * creates it (type, sizes, flags, map_extra, BTF key and value types, initial contents), with
 * what the kernel then reports of it (BPF_OBJ_GET_INFO_BY_FD, as `bpftool map show`) or its
 * refusal. Exit 0 when every map was created, 1 when the kernel refused one.
 */
function createObjectMaps(e: NoProgramsError, flags: Flags, out: Output, k: typeof import('@bpf/kernel')): ExitCode {
  const mapMaxEntries = mapMaxEntriesOf(flags, k.possibleCpus);
  const mapValueSize = mapValueSizeOf(flags);
  const mapInner = mapInnerOf(flags);
  const made = k.createMaps(e.maps, { ...(e.btf ? { btf: e.btf } : {}), ...(mapMaxEntries ? { mapMaxEntries } : {}), ...(mapValueSize ? { mapValueSize } : {}), ...(mapInner ? { mapInner } : {}) });
  try {
    const maps = made.maps.map((m, n) => {
      const d = e.maps[n]!;
      const info = m.map ? k.mapInfo(m.map.fd) : undefined;
      const extra = info ? info.mapExtra : d.mapExtra;
      return {
        name: m.name,
        type: String(info?.type ?? d.type),
        keySize: info?.keySize ?? d.keySize,
        valueSize: info?.valueSize ?? mapValueSize?.[d.name] ?? d.valueSize,
        maxEntries: info?.maxEntries ?? mapMaxEntries?.[d.name] ?? d.maxEntries,
        flags: info?.flags ?? d.flags ?? 0,
        mapExtra: extra === undefined || extra === 0n ? null : `0x${extra.toString(16)}`,
        created: m.map !== undefined,
        id: info?.id ?? null,
        btfId: info && info.btfId !== 0 ? info.btfId : null,
        errno: m.error?.errno ?? 0,
        error: m.error ? m.error.message : null,
      };
    });
    const refused = made.maps.find((m) => m.error);
    const accepted = refused === undefined;
    if (out.json) {
      out.data({ accepted, errno: refused?.error?.errno ?? 0, error: refused?.error?.message ?? null, refusedBeforeVerifier: false, btfRefused: made.btfRefused ? k.errnoName(made.btfRefused.errno) : null, log: '', stats: {}, verifiedInsns: null, jitedLen: null, xlatedInsns: null, maps });
    } else {
      out.line(`the object has no programs: its ${maps.length} map${maps.length === 1 ? '' : 's'}, created as its loader creates them`);
      if (made.btfRefused) out.line(`note: the kernel refused the object's BTF (${k.errnoName(made.btfRefused.errno)}); maps created without key and value types, as libbpf does`);
      for (const m of maps) {
        const shape = `${m.type} key ${m.keySize} value ${m.valueSize} max_entries ${m.maxEntries} flags 0x${m.flags.toString(16)}${m.mapExtra ? ` map_extra ${m.mapExtra}` : ''}`;
        out.line(m.created ? out.paint('green', `created ${m.name}: ${shape} (id ${m.id}${m.btfId !== null ? `, btf_id ${m.btfId}` : ''})`) : out.paint('red', `refused ${m.name}: ${shape}: ${m.error}`));
      }
    }
    return accepted ? EXIT.OK : EXIT.REJECTED;
  } finally {
    made.close();
  }
}
