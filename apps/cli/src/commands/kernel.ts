import { parseHex } from '@bpf/isa';
import { createMap, loadProgram, probe, testRun, type KernelLoad } from '@bpf/kernel';
import type { ProgType } from '@bpf/isa';
import type { Command } from '../context.js';
import { CliError, EXIT, usage } from '../errors.js';
import { loadProgram as readProgram } from '../input.js';
import { INPUT_OPTS, JSON_OPT, TYPE_OPT } from '../options.js';

export const kernel: Command = {
  name: 'kernel',
  summary: 'ask the running kernel: load a program (verdict, log, stats) or test-run it',
  usage: 'bpf kernel load|run FILE [--type T] [--log-level N] [--data HEX] [--repeat N] [--json]',
  example: 'bpf kernel load prog.s --type xdp --log-level 2',
  subcommands: ['load', 'run'],
  options: {
    'log-level': { type: 'string', help: 'verifier log level: 1, 2, or 4 (stats)', values: ['0', '1', '2', '3', '4', '5', '6', '7'] },
    data: { type: 'string', help: 'run: hex bytes of packet data' },
    repeat: { type: 'string', help: 'run: repetitions for the duration measurement (default 1)' },
    ...TYPE_OPT,
    ...INPUT_OPTS,
    ...JSON_OPT,
  },
  run({ args, flags, out }) {
    const [sub, file] = args;
    if (sub !== 'load' && sub !== 'run') throw usage(`kernel: expected 'load' or 'run' (got '${sub ?? ''}')`);
    if (file === undefined) throw usage(`kernel ${sub}: missing FILE`);
    const p = probe();
    if (!p.canLoad) throw new CliError(EXIT.UNAVAILABLE, `kernel: cannot load programs here: ${p.reason ?? 'unknown reason'}`);
    const { program } = readProgram(file, flags as never);
    const type = (flags.type as ProgType | undefined) ?? program.type ?? 'socket_filter';
    const maps = (program.maps ?? []).map((m) => createMap({ type: m.type as never, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, name: m.name }));
    let load: KernelLoad | undefined;
    try {
      load = loadProgram(program, {
        type,
        logLevel: Number(flags['log-level'] ?? (sub === 'load' ? 1 : 0)),
        mapFds: Object.fromEntries((program.maps ?? []).map((m, k) => [m.name, maps[k]!.fd])),
      });
      if (sub === 'load') {
        if (out.json) {
          out.data({ accepted: load.accepted, errno: load.errno, error: load.error ?? null, log: load.log, stats: load.stats ?? {}, verifiedInsns: load.verifiedInsns ?? null, jitedLen: load.jitedLen ?? null, xlatedInsns: load.xlated?.length ?? null });
        } else {
          if (load.log) out.line(load.log.trimEnd());
          out.line(load.accepted ? out.paint('green', `accepted (${load.jitedLen ?? 0} bytes JIT'd)`) : out.paint('red', `rejected: ${load.error ?? ''} (errno ${load.errno})`));
        }
        return load.accepted ? EXIT.OK : EXIT.REJECTED;
      }
      if (!load.accepted) throw new CliError(EXIT.REJECTED, `kernel run: the kernel rejected the program: ${load.error ?? ''}`);
      const repeat = flags.repeat === undefined ? 1 : Number(flags.repeat);
      const r = testRun(load.fd!, { data: typeof flags.data === 'string' ? parseHex(flags.data) : new Uint8Array(64), repeat });
      if (out.json) out.data({ retval: r.retval, duration: r.duration, dataOut: Buffer.from(r.dataOut).toString('hex') });
      else out.line(`retval = ${r.retval} (0x${r.retval.toString(16)}), ${r.duration} ns per run`);
      return EXIT.OK;
    } finally {
      load?.close();
      for (const m of maps) m.close();
    }
  },
};
