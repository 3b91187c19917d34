import { parseHex } from '@bpf/isa';
import type { Program, ProgType } from '@bpf/isa';
import type { Command } from '../context.js';
import { CliError, EXIT, requireFile, usage } from '../errors.js';
import { loadProgram } from '../input.js';
import { INPUT_OPTS, JSON_OPT, TYPE_OPT } from '../options.js';

const ENGINES = ['wasm', 'vm', 'x86_64', 'arm64'];

/** A native JIT's run (x86-64 in-process, arm64 under qemu-aarch64), in the shape of @bpf/vm's result: r0 and memory (or the packet). */
async function runNative(engine: string, program: Program, mem: Uint8Array, data: Uint8Array | undefined, type: ProgType): Promise<{ r0: bigint; insns: number; mem: Uint8Array; packet?: Uint8Array; printk: readonly string[] }> {
  const context = data ? (type as 'socket_filter' | 'sched_cls' | 'sched_act' | 'xdp') : undefined;
  const job = { mem: data ?? mem, ...(program.maps?.length ? { maps: program.maps } : {}), ...(context ? { context } : {}) };
  try {
    const r =
      engine === 'x86_64'
        ? (await import('@bpf/jit-x86/node')).runX86((await import('@bpf/jit-x86')).jitX86(program), job)
        : (await import('@bpf/jit-arm64/node')).runArm64((await import('@bpf/jit-arm64')).jitArm64(program), job);
    return { r0: r.r0, insns: -1, mem: data ? mem : r.mem, ...(data ? { packet: r.mem } : {}), printk: [] };
  } catch (e) {
    // a crash or a missing architecture is the run's failure; a missing module (koffi, qemu) is the engine's absence
    if (e instanceof Error && /RunError$/.test(e.name)) throw e;
    throw new CliError(EXIT.UNAVAILABLE, `run: the ${engine} engine cannot run here: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export const run: Command = {
  name: 'run',
  summary: 'run a program (WebAssembly, the interpreter or a native JIT; memory-checked) and print r0',
  usage: 'bpf run FILE [--engine vm|wasm|x86_64|arm64] [--mem HEX] [--data HEX] [--type T] [--budget N] [--json]',
  example: 'bpf run prog.s --mem "01 02 03 04"',
  options: {
    mem: { type: 'string', help: 'hex bytes: r1 points at a copy, r2 holds their length (raw-memory convention)' },
    data: { type: 'string', help: 'hex bytes of an Ethernet frame for a packet program (--type socket_filter, sched_cls, sched_act, xdp), laid out as BPF_PROG_TEST_RUN does' },
    budget: { type: 'string', help: 'maximum instructions to execute (default 10000000)' },
    engine: { type: 'string', help: 'wasm (default: compiled to WebAssembly, the fastest engine that runs everywhere and reports everything), vm (the reference interpreter), x86_64 (native, on x86-64 with koffi) or arm64 (under qemu-aarch64); the native JITs report r0 and memory only' },
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
    const engine = (flags.engine as string | undefined) ?? 'wasm';
    if (!ENGINES.includes(engine)) throw usage(`run: --engine must be one of ${ENGINES.join(', ')} (got '${engine}')`);
    const opts = { mem, ...(data ? { data, type } : {}), ...(budget !== undefined ? { budget } : {}) };
    const r = engine === 'vm' ? vmRun(program, opts) : engine === 'wasm' ? (await import('@bpf/jit-wasm')).runWasm(program, opts) : await runNative(engine, program, mem, data, type);
    const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    const output = hex(r.mem);
    const packet = r.packet ? hex(r.packet) : undefined;
    if (out.json) {
      out.data({ r0: `0x${r.r0.toString(16)}`, ...(r.insns >= 0 ? { insns: r.insns } : {}), output, ...(packet !== undefined ? { packet } : {}), printk: r.printk });
      return EXIT.OK;
    }
    out.line(`r0 = 0x${r.r0.toString(16)} (${BigInt.asIntN(64, r.r0)})`);
    if (r.insns >= 0) out.line(`${r.insns} instructions executed`);
    if (output) out.line(`memory after: ${output}`);
    if (packet !== undefined) out.line(`packet after: ${packet}`);
    for (const l of r.printk) out.line(`trace_printk: ${l}`);
    return EXIT.OK;
  },
};
