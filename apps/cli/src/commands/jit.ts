import { parseHex, type ProgType } from '@bpf/isa';
import { formatX86, jitX86 } from '@bpf/jit-x86';
import { runX86InChild } from '@bpf/jit-x86/node';
import { formatArm64, jitArm64 } from '@bpf/jit-arm64';
import { runArm64 } from '@bpf/jit-arm64/node';
import type { Command } from '../context.js';
import { CliError, EXIT, requireFile } from '../errors.js';
import { loadProgram } from '../input.js';
import { INPUT_OPTS, JSON_OPT, TYPE_OPT } from '../options.js';

export const jit: Command = {
  name: 'jit',
  summary: 'compile to native code (x86-64 or arm64), print it, and with --run execute it',
  usage: 'bpf jit FILE --arch x86_64|arm64 [--run] [--mem HEX] [--verify [--type TYPE]] [--json]',
  example: 'bpf jit prog.s --arch x86_64 --run --mem "2a 00 00 00"',
  options: {
    arch: { type: 'string', help: 'target architecture (default x86_64)', values: ['x86_64', 'arm64'] },
    run: { type: 'boolean', help: 'execute the code (x86_64: natively, in a child process; arm64: under qemu-aarch64)' },
    mem: { type: 'string', help: 'hex bytes: r1 points at a copy, r2 holds their length (raw-memory convention)' },
    verify: { type: 'boolean', help: 'verify with @bpf/verifier first (a rejection exits 1) and compile what the kernel would: dead code removed' },
    ...TYPE_OPT,
    ...INPUT_OPTS,
    ...JSON_OPT,
  },
  async run({ args, flags, out }) {
    const file = requireFile(args, 'jit');
    const arch = (flags.arch as string | undefined) ?? 'x86_64';
    let { program } = loadProgram(file, flags as never);
    if (flags.verify === true) {
      // loaded on use, as `bpf run` does; the kernel's JIT compiles the verifier's xlated program
      const { verify } = await import('@bpf/verifier');
      const v = verify(program, { type: (flags.type as ProgType | undefined) ?? program.type ?? 'socket_filter', logLevel: 0 });
      if (!v.accepted) throw new CliError(EXIT.REJECTED, `jit: the verifier rejected the program at insn ${v.error!.insn}: ${v.error!.message}`);
      program = v.xlated!;
    }
    const x86 = arch === 'x86_64' ? jitX86(program) : undefined;
    const arm = arch === 'arm64' ? jitArm64(program) : undefined;
    const result = (x86 ?? arm)!;
    const listing = x86 ? formatX86(x86.listing) : formatArm64(arm!.listing);
    const texts = x86 ? x86.listing.map((l) => ({ offset: l.offset, text: l.text })) : arm!.listing.map((l) => ({ offset: l.offset, text: l.text }));
    let ran: { r0: bigint; mem: Uint8Array } | undefined;
    if (flags.run === true) {
      const mem = typeof flags.mem === 'string' ? parseHex(flags.mem) : new Uint8Array(0);
      if (x86) ran = runX86InChild(x86, { mem });
      else {
        try {
          ran = runArm64(arm!, { mem });
        } catch (e) {
          throw new CliError(EXIT.UNAVAILABLE, `jit: cannot run arm64 code here: ${(e as Error).message}`);
        }
      }
    }
    if (out.json) {
      out.data({
        arch,
        size: result.code.length,
        entries: result.entries,
        lineTable: result.lineTable,
        relocs: result.relocs,
        code: Buffer.from(result.code).toString('hex'),
        listing: texts,
        ...(ran ? { r0: `0x${ran.r0.toString(16)}`, output: Buffer.from(ran.mem).toString('hex') } : {}),
      });
      return EXIT.OK;
    }
    const starts = new Map(result.lineTable.map((off, i) => [off, i] as const).filter(([off]) => off >= 0).reverse());
    texts.forEach((l, k) => {
      const insn = starts.get(l.offset);
      if (insn !== undefined) out.line(out.paint('dim', `; insn ${insn}`));
      out.line(listing[k]!);
    });
    out.line(out.paint('bold', `${result.code.length} bytes, ${result.passes ?? 1} passes`));
    if (ran) out.line(`r0 = 0x${ran.r0.toString(16)} (${BigInt.asIntN(64, ran.r0)})`);
    return EXIT.OK;
  },
};
