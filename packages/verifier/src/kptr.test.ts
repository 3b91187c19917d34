import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, haveVmlinux, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

/** fixtures/c/kptr: a program file with its header inlined (buildC compiles one file). */
const source = (file: string): string => {
  const dir = join(fixturesDir, 'c/kptr');
  return readFileSync(join(dir, file), 'utf8').replace('#include "kptr.h"', readFileSync(join(dir, 'kptr.h'), 'utf8'));
};

/** Level-2 log lines both sides print alike (source lines, liveness tables and map addresses aside). */
const lines = (log: string): string[] =>
  log
    .split('\n')
    .filter((l) => l !== '' && !/^( |;|Live regs|func#\d+ @|\(\d+\) |processed )/.test(l))
    .map((l) => l.replace(/\(18\) (r\d) = 0x[0-9a-f]+ */, '(18) $1 = MAP '));

/**
 * Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree):
 * bpf_rbtree_add's less() callback loop is not one of our SCCs (no `SCC enter/backedge`, its
 * scalars forced precise instead), and the state after the call prints only R0.
 */
const LOG_DIFFERS = new Set<string>(['rb_add_first_remove']);

const DUMP = process.env.KPTR_DUMP;

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('allocated objects and kptrs: the kernel verdict, message, processed count and log, program by program', () => {
  for (const file of ['kptr.c', 'graph.c']) {
    const programs = buildC(source(file));
    it.each(programs.map((p) => [p.name, p] as const))(`${file} %s`, (name, p) => {
      const kernel = kernelVerdict(p, { logLevel: 2 });
      const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 2 });
      if (DUMP) {
        writeFileSync(join(DUMP, `${name}.kernel`), kernel.log);
        writeFileSync(join(DUMP, `${name}.ours`), ours.log);
      }
      const processed = (log: string): string | undefined => /processed (\d+) insns/.exec(log)?.[1];
      expect({ accepted: ours.accepted, error: ours.error?.message, processed: String(ours.stats.processedInsns) }).toEqual({
        accepted: kernel.accepted,
        error: kernel.error,
        processed: processed(kernel.log),
      });
      if (!LOG_DIFFERS.has(name)) expect(lines(ours.log)).toEqual(lines(kernel.log));
    });
    it(`${file}: covers its accepting and rejecting programs`, () => {
      expect(programs.length).toBeGreaterThanOrEqual(file === 'kptr.c' ? 31 : 13);
    });
  }
});
