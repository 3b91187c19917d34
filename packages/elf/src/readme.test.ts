/** The README's embedded object is clang-19's output for the C source quoted next to it. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');

describe.skipIf(skipWithout('clang-19'))('README example', () => {
  it('embeds exactly what clang-19 -target bpfel -O2 -c makes of the quoted source', () => {
    const source = [...readme.matchAll(/^\/\/ {3}(.*)$/gm)].map((m) => m[1]).join('\n') + '\n';
    const b64 = [...readme.matchAll(/^ {2}'([A-Za-z0-9+/=]+)'/gm)].map((m) => m[1]).join('');
    expect(source).toContain('section("xdp")');
    const dir = tempDir();
    writeFileSync(join(dir, 'ex.c'), source);
    run('clang-19', ['-target', 'bpfel', '-O2', '-c', join(dir, 'ex.c'), '-o', join(dir, 'ex.o')]);
    expect(Buffer.from(b64, 'base64').equals(readFileSync(join(dir, 'ex.o')))).toBe(true);
  });
});
