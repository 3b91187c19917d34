import { parseHex } from '@bpf/isa';
import type { ProgType } from '@bpf/isa';
import type { Command } from '../context.js';
import { CliError, EXIT, requireFile, usage } from '../errors.js';
import { loadProgram } from '../input.js';
import { INPUT_OPTS, JSON_OPT, TYPE_OPT } from '../options.js';

export const run: Command = {
  name: 'run',
  summary: 'run a program in the reference interpreter (memory-checked) and print r0',
  usage: 'bpf run FILE [--mem HEX] [--data HEX] [--type T] [--budget N] [--json]',
  example: 'bpf run prog.s --mem "01 02 03 04"',
  options: {
    mem: { type: 'string', help: 'hex bytes: r1 points at a copy, r2 holds their length (raw-memory convention)' },
    data: { type: 'string', help: 'hex bytes of an Ethernet frame for a packet program (--type socket_filter, sched_cls, sched_act, xdp), laid out as BPF_PROG_TEST_RUN does' },
    budget: { type: 'string', help: 'maximum instructions to execute (default 10000000)' },
    verify: { type: 'boolean', help: 'verify with @bpf/verifier first (a rejection exits 1)' },
    ...TYPE_OPT,
    ...INPUT_OPTS,
    ...JSON_OPT,
  },
  async run({ args, flags, out }) {
    // loaded on use: `bpf --help` and the other commands start without it
    const { isPacketProgType, PACKET_PROG_TYPES, run: vmRun } = await import('@bpf/vm');
    const { verify } = await import('@bpf/verifier');
    const file = requireFile(args, 'run');
    const { program } = loadProgram(file, flags as never);
    if (flags.verify === true) {
      const v = verify(program, { type: (flags.type as ProgType | undefined) ?? program.type ?? 'socket_filter', logLevel: 0 });
      if (!v.accepted) throw new CliError(EXIT.REJECTED, `run: the verifier rejected the program at insn ${v.error!.insn}: ${v.error!.message}`);
    }
    const mem = flags.mem === undefined ? new Uint8Array(0) : parseHex(flags.mem as string);
    // as `bpf kernel run`: a program without a type runs as a socket filter
    const type = (flags.type as ProgType | undefined) ?? program.type ?? 'socket_filter';
    let data: Uint8Array | undefined;
    if (flags.data !== undefined) {
      if (!isPacketProgType(type)) throw usage(`run: --data needs a packet program type (--type ${PACKET_PROG_TYPES.join(', ')}); the program's type is ${type}`);
      data = parseHex(flags.data as string);
    }
    const budget = flags.budget === undefined ? undefined : Number(flags.budget);
    if (budget !== undefined && !(Number.isInteger(budget) && budget > 0)) throw usage(`run: --budget must be a positive integer (got '${String(flags.budget)}')`);
    const r = vmRun(program, { mem, ...(data ? { data, type } : {}), ...(budget !== undefined ? { budget } : {}) });
    const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    const output = hex(r.mem);
    const packet = r.packet ? hex(r.packet) : undefined;
    if (out.json) {
      out.data({ r0: `0x${r.r0.toString(16)}`, insns: r.insns, output, ...(packet !== undefined ? { packet } : {}), printk: r.printk });
      return EXIT.OK;
    }
    out.line(`r0 = 0x${r.r0.toString(16)} (${BigInt.asIntN(64, r.r0)})`);
    out.line(`${r.insns} instructions executed`);
    if (output) out.line(`memory after: ${output}`);
    if (packet !== undefined) out.line(`packet after: ${packet}`);
    for (const l of r.printk) out.line(`trace_printk: ${l}`);
    return EXIT.OK;
  },
};
