import { basename } from 'node:path';
import type { ProgType } from '@bpf/isa';
import type { Command } from '../context.js';
import { describeError, EXIT, usage } from '../errors.js';
import { kernelBtfFor, kernelSymbolsFor, loadProgram } from '../input.js';
import { JSON_OPT, TYPE_OPT } from '../options.js';

interface Row {
  file: string;
  program: string;
  verdict: string;
  insns: number;
  states: number;
  timeUs: number;
  kernelVerdict?: string;
  kernelInsns?: number;
  kernelStates?: number;
  kernelTimeUs?: number;
  /** Why the kernel refused before verifying, when it did. */
  kernelError?: string;
  error?: string;
}

export const veristat: Command = {
  name: 'veristat',
  summary: "a table of verdicts, processed insns, states and time per program, ours beside the kernel's",
  usage: 'bpf veristat FILES... [--type T] [--no-kernel] [--json]',
  example: 'bpf veristat prog1.o prog2.s',
  options: { 'no-kernel': { type: 'boolean', help: 'do not ask the kernel even when it is available' }, ...TYPE_OPT, ...JSON_OPT },
  async run({ args, flags, out }) {
    // loaded on use: `bpf --help` and the other commands start without it
    const { loadWithMaps, probe } = await import('@bpf/kernel');
    const { verify } = await import('@bpf/verifier');
    if (args.length === 0) throw usage('veristat: missing FILES');
    const k = flags['no-kernel'] === true ? { canLoad: false } : probe();
    const rows: Row[] = [];
    const tty = process.stderr.isTTY && !out.json;
    args.forEach((file, n) => {
      if (tty) process.stderr.write(`\r[${'#'.repeat(Math.round(((n + 1) / args.length) * 30)).padEnd(30)}] ${n + 1}/${args.length} ${basename(file)}`.slice(0, 100).padEnd(100));
      let programs;
      try {
        const input = loadProgram(file, {});
        programs = input.all.length ? input.all : [input.program];
      } catch (e) {
        rows.push({ file, program: '—', verdict: 'error', insns: 0, states: 0, timeUs: 0, error: describeError(e, file).line.replace(/^bpf: /, '') });
        return;
      }
      for (const program of programs) {
        const type = (flags.type as ProgType | undefined) ?? program.type ?? 'socket_filter';
        const t0 = process.hrtime.bigint();
        const r = verify(program, { type, logLevel: 0, kernelBtf: kernelBtfFor(program), kernelSymbols: kernelSymbolsFor(program) });
        const row: Row = { file, program: program.name ?? 'main', verdict: r.accepted ? 'success' : 'failure', insns: r.stats.processedInsns, states: r.stats.totalStates, timeUs: Number(process.hrtime.bigint() - t0) / 1000 };
        if (!r.accepted) row.error = r.error!.message;
        if (k.canLoad) {
          try {
            const l = loadWithMaps(program, { type, logLevel: 4 });
            Object.assign(row, { kernelVerdict: l.accepted ? 'success' : 'failure', kernelInsns: l.stats?.processedInsns, kernelStates: l.stats?.totalStates, kernelTimeUs: l.stats?.verificationTimeUsec });
            l.close();
          } catch (e) {
            // the kernel refused before verifying (a map, the BTF, a big-endian object): say so in the row
            Object.assign(row, { kernelVerdict: 'error', kernelError: e instanceof Error ? e.message : String(e) });
          }
        }
        rows.push(row);
      }
    });
    if (tty) process.stderr.write('\r'.padEnd(101) + '\r');
    if (out.json) {
      out.data({ kernel: k.canLoad, programs: rows });
      return rows.some((r) => r.verdict === 'error') ? EXIT.INPUT : EXIT.OK;
    }
    const cols = ['File', 'Program', 'Verdict', 'Insns', 'States', 'Time (us)', ...(k.canLoad ? ['Kernel verdict', 'Kernel insns', 'Kernel states', 'Kernel time (us)'] : [])];
    const cells = rows.map((r) => [basename(r.file), r.program, r.verdict, String(r.insns), String(r.states), r.timeUs.toFixed(0), ...(k.canLoad ? [r.kernelVerdict ?? '—', String(r.kernelInsns ?? '—'), String(r.kernelStates ?? '—'), String(r.kernelTimeUs ?? '—')] : [])]);
    const w = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
    out.line(cols.map((c, i) => c.padEnd(w[i]!)).join('  '));
    out.line(w.map((x) => '-'.repeat(x)).join('  '));
    for (const row of cells) out.line(row.map((c, i) => c.padEnd(w[i]!)).join('  '));
    return rows.some((r) => r.verdict === 'error') ? EXIT.INPUT : EXIT.OK;
  },
};
