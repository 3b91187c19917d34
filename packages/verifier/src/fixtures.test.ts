import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, kallsyms, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, haveVmlinux, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

/**
 * Every program of the C objects of fixtures/c/elf (externs, map-in-map, struct_ops, CO-RE,
 * tracing, callbacks), linked for this kernel as libbpf links them: our verdict and message
 * are the kernel's — with the kernel's symbols, since a typed `__ksym` variable whose address
 * /proc/kallsyms does not list is refused before verifying.
 */

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('fixtures/c/elf: the kernel verdict and message, program by program', () => {
  const dir = join(fixturesDir, 'c/elf');
  const sources = readdirSync(dir).filter((f) => f.endsWith('.c')).sort();
  const programs = sources.flatMap((f) => buildC(readFileSync(join(dir, f), 'utf8')).map((p) => [`${f}#${p.name}`, p] as const));
  it.each(programs)('%s', (_n, p) => {
    const kernel = kernelVerdict(p);
    const ours = verify(p, { kernelBtf: kernelBtf(), kernelSymbols: kallsyms() });
    // a machine may refuse whole program kinds before the verifier runs (fentry/LSM loads: EPERM,
    // an empty log): there is no verdict to compare with
    if (!kernel.accepted && kernel.log === '') return;
    expect({ accepted: ours.accepted, error: ours.error?.message }).toEqual({ accepted: kernel.accepted, error: kernel.error });
  });
  it('covers the objects', () => {
    expect(programs.length).toBeGreaterThanOrEqual(25);
  });
});
