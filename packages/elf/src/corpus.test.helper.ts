/* eslint-disable no-restricted-imports -- test-only helper; its name keeps it out of the published files */
/**
 * Test-only: the C corpus (fixtures/c/elf) built by its build.sh with clang-19, into
 * fixtures/build/elf (gitignored). Rebuilt when an object is missing or older than a source;
 * built in a temporary directory and renamed into place so concurrent test files never see
 * a half-written object.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, oracleProblem, tempDir } from '@bpf/testkit';

export const srcDir = join(fixturesDir, 'c/elf');
export const buildDir = join(fixturesDir, 'build/elf');
export const sources = readdirSync(srcDir).filter((f) => f.endsWith('.c')).map((f) => f.slice(0, -2)).sort();
export const variants = ['v2', 'v3', 'v4'].flatMap((cpu) => ['el', 'eb'].map((end) => `${cpu}.${end}`));

/** The build directory, brought up to date when clang-19 is there (else as it is). */
export function corpus(): string {
  if (oracleProblem('clang-19') !== null) return buildDir;
  const newest = Math.max(...readdirSync(srcDir).map((f) => statSync(join(srcDir, f)).mtimeMs));
  const stale = sources.some((s) =>
    variants.some((v) => {
      const o = join(buildDir, `${s}.${v}.o`);
      return !existsSync(o) || statSync(o).mtimeMs < newest;
    }),
  );
  if (stale) {
    const tmp = tempDir('elf-corpus-');
    execFileSync('sh', [join(srcDir, 'build.sh'), tmp], { stdio: 'pipe' });
    mkdirSync(buildDir, { recursive: true });
    for (const f of readdirSync(tmp)) {
      try {
        renameSync(join(tmp, f), join(buildDir, f));
      } catch {
        // Another file system (EXDEV): fall back to a build in place.
        execFileSync('sh', [join(srcDir, 'build.sh'), buildDir], { stdio: 'pipe' });
        break;
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  }
  return buildDir;
}
