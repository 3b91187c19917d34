/**
 * `objdump()` against llvm-objdump-19 `-dr --mcpu=v4`: the listing of every object of the
 * corpus (fixtures/c/elf) and of the old shapes (fixtures/c/elf-shapes, including a .text-only
 * llvm-mc object with a `callx`), byte for byte. LLVM's extra CO-RE lines (read from
 * .BTF.ext) are not ours to print and are left out of the comparison.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, run, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { corpus } from './corpus.test.helper.js';
import { objdump, parseElf } from './index.js';

describe.skipIf(skipWithout('clang-19', 'llvm-mc-19', 'llvm-objdump-19'))('objdump() is llvm-objdump-19 -dr', () => {
  const shapes = tempDir('elf-shapes-');
  execFileSync('sh', [join(fixturesDir, 'c/elf-shapes/build.sh'), shapes], { stdio: 'pipe' });
  const dir = corpus();
  const files = [...readdirSync(dir).map((f) => join(dir, f)), ...readdirSync(shapes).map((f) => join(shapes, f))].filter((f) => f.endsWith('.o'));

  it.each(files.map((f) => [f.slice(f.lastIndexOf('/') + 1), f]))('%s', (_, file) => {
    const theirs = run('llvm-objdump-19', ['-dr', '--mcpu=v4', file]).split('\n').filter((l) => !l.includes('CO-RE <')).join('\n');
    expect(objdump(parseElf(new Uint8Array(readFileSync(file))), { relocs: true, fileName: file })).toBe(theirs);
  });

  it('without relocations it is llvm-objdump-19 -d', () => {
    const file = join(shapes, 'text_only.el.o');
    const ours = objdump(parseElf(new Uint8Array(readFileSync(file))), { fileName: file });
    expect(ours).toBe(run('llvm-objdump-19', ['-d', '--mcpu=v4', file]));
    expect(ours).toContain('callx r1');
  });
});
