/**
 * CLI argument handling under fuzzing: random argv (commands, flags, values, files that do and
 * do not exist) through `main()` in-process. It must always return an exit code from the
 * documented set — never throw, never hang — and print one line on stderr for errors.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@bpf/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from './cli.js';
import { EXIT } from './errors.js';

const dir = tempDir('bpf-cli-fuzz-');
const files = {
  asm: join(dir, 'p.s'),
  hex: join(dir, 'p.hex'),
  raw: join(dir, 'p.bin'),
  junk: join(dir, 'junk'),
};
const CODES = new Set<number>(Object.values(EXIT));

let err = '';
beforeAll(() => {
  writeFileSync(files.asm, 'r0 = 1\nexit\n');
  writeFileSync(files.hex, 'b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00\n');
  writeFileSync(files.raw, Uint8Array.of(0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0));
  writeFileSync(files.junk, Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 1, 2, 3));
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err += String(s);
    return true;
  });
});
afterAll(() => vi.restoreAllMocks());

const word = fc.oneof(
  fc.constantFrom('asm', 'disasm', 'btf', 'dump', 'elf', 'liveness', 'verify', 'run', 'jit', 'veristat', 'completion', 'frob', '-', '--help', '--json', '--debug'),
  fc.constantFrom('--input', 'raw', 'hex', 'asm', 'elf', 'bad', '--syntax', 'kernel', 'llvm', '--type', 'xdp', 'nonsense', '--mem', '00 01', 'zz', '--arch', 'x86_64', 'arm64', 'sparc', '--format', '--budget', '-5', '10', '--log-level', '9', '-o'),
  fc.constantFrom(files.asm, files.hex, files.raw, files.junk, join(dir, 'missing')),
  fc.string({ maxLength: 8 }),
);

describe('bpf CLI argument handling (fuzzed)', () => {
  it('always returns a documented exit code, never throws, and errors are one line', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(word, { maxLength: 7 }), async (argv) => {
        // `run`/`jit --run` execute code: keep the fuzzer to argument handling
        if (argv.includes('run') || argv.includes('--run') || argv.includes('-')) return;
        err = '';
        const code = await main(argv);
        expect(CODES.has(code)).toBe(true);
        if (code !== 0 && !argv.includes('--debug')) expect(err.trim().split('\n').length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 400, seed: 42 },
    );
  });
});
