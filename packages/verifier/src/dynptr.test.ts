import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, haveVmlinux, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

/** fixtures/c/dynptr: the programs with their header inlined (buildC compiles one file). */
const source = (): string => {
  const dir = join(fixturesDir, 'c/dynptr');
  return readFileSync(join(dir, 'dynptr.c'), 'utf8').replace('#include "dynptr.h"', readFileSync(join(dir, 'dynptr.h'), 'utf8'));
};

/** Level-2 log lines both sides print alike (source lines, liveness tables and map addresses aside). */
const lines = (log: string): string[] =>
  log
    .split('\n')
    .filter((l) => l !== '' && !/^( |;|Live regs|func#\d+ @|\(\d+(,\d+)?\) |processed |arg#\d reference type\('UNKNOWN '\))/.test(l))
    .map((l) => l.replace(/\(18\) (r\d) = 0x[0-9a-f]+ */, '(18) $1 = MAP '));

/** Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree). */
const LOG_DIFFERS = new Set<string>([]);

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('dynptrs: the kernel verdict, message, processed count and log, program by program', () => {
  const programs = buildC(source());
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => {
    const kernel = kernelVerdict(p, { logLevel: 2 });
    const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
    if (process.env.DYNPTR_DUMP) {
      writeFileSync(`/tmp/dynptr-logs/${name}.kernel`, kernel.log);
      writeFileSync(`/tmp/dynptr-logs/${name}.ours`, ours.log);
    }
    const processed = (log: string): string | undefined => /processed (\d+) insns/.exec(log)?.[1];
    expect({ accepted: ours.accepted, error: ours.error?.message, processed: String(ours.stats.processedInsns) }).toEqual({
      accepted: kernel.accepted,
      error: kernel.error,
      processed: processed(kernel.log),
    });
    if (!LOG_DIFFERS.has(name)) expect(lines(ours.log)).toEqual(lines(kernel.log));
  });
  it('covers local, ringbuf, skb and xdp dynptrs, accepted and rejected', () => {
    expect(programs.length).toBeGreaterThanOrEqual(40);
  });
});
