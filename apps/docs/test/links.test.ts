/**
 * The repository stands on its own (scripts/link-check.mjs): every relative link resolves
 * inside it, every citation of the stack-arguments reference names a section the page has, no
 * file names the directory outside the repository, and no public package README has a link
 * that breaks on npm. The checker itself is tested on small repositories built here.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '@bpf/testkit';
import { afterAll, describe, expect, it } from 'vitest';

const script = join(repoRoot, 'scripts/link-check.mjs');
function linkCheck(dir: string): { status: number | null; problems: string[]; summary: string } {
  const r = spawnSync(process.execPath, [script, '--root', dir], { encoding: 'utf8' });
  return { status: r.status, problems: r.stderr.split('\n').filter(Boolean), summary: r.stdout.trim() };
}

describe('this repository', () => {
  it('has no broken link, no citation of a missing section, nothing outside it', () => {
    const { status, problems } = linkCheck(repoRoot);
    // the failure names file:line of each problem
    expect(problems.join('\n')).toBe('');
    expect(status).toBe(0);
  });
});

describe('the link checker', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  function repo(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'link-check-'));
    dirs.push(dir);
    const all = { 'package.json': JSON.stringify({ name: 'r', private: true, homepage: 'https://docs.example.invalid/' }), ...files };
    for (const [f, text] of Object.entries(all)) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    return dir;
  }
  const page = '# Stack arguments\n\n## 1. Idea\n\n## 4. Verifier rules\n\n### 4.2 Loads\n';
  // built from parts so that this file does not name the outside directory itself
  const outside = ['shared', 'spec', 'stack-args.md'].join('/');

  it('passes a repository whose links all resolve', () => {
    const dir = repo({
      'README.md': '# r\n\nSee [the rules](apps/docs/stack-args.md#_4-2-loads) and [contributing](CONTRIBUTING.md#set-up).\n',
      'CONTRIBUTING.md': '# Contributing\n\n## Set up\n',
      'apps/docs/stack-args.md': page,
      'apps/docs/index.md': '[guide](/stack-args), [api](/api/), [cli](./cli)\n',
      'src/a.ts': '// apps/docs/stack-args.md §4.2 and stack-args §1\n',
      'packages/p/package.json': JSON.stringify({ name: '@r/p' }),
      'packages/p/README.md': '# p\n\n[loads](https://docs.example.invalid/stack-args#_4-2-loads), [home](https://docs.example.invalid/), [below](#p)\n\n```sh\nsee ../q/README.md\n```\n',
      'examples/a.s': '# a 12-argument call (apps/docs/stack-args.md)\nr0 = 0\nexit\n',
      CODEOWNERS: '/packages/p/ @p-owners\n*.md @docs\n',
    });
    expect(linkCheck(dir)).toEqual({ status: 0, problems: [], summary: 'link-check: 0 problems' });
  });

  it('names the file and line of every problem', () => {
    const dir = repo({
      'README.md': `# r\n\nSee [the spec](../${outside}).\n\n[gone](docs/gone.md) [bad anchor](CONTRIBUTING.md#nope)\n`,
      'CONTRIBUTING.md': '# Contributing\n',
      'apps/docs/stack-args.md': page,
      'apps/docs/guide.md': '[missing](/nowhere)\n',
      'src/a.ts': `const x = 1;\n// per ${outside} §4\n// apps/docs/stack-args.md §4.7\n`,
      'packages/p/package.json': JSON.stringify({ name: '@r/p' }),
      'packages/p/README.md': '# p\n\n[sibling](../q/README.md)\n[docs](https://docs.example.invalid/guide/q)\n',
      'packages/q/package.json': JSON.stringify({ name: '@r/q', private: true }),
      'packages/q/README.md': '# q\n\n[p](../p/README.md)\n',
      'examples/a.s': '# see docs/missing.md\nexit\n',
      CODEOWNERS: '# owners\n/packages/p/ @p-owners\n/packages/gone/ @gone-owners\n*.md @docs\n',
    });
    const { status, problems, summary } = linkCheck(dir);
    expect(status).toBe(1);
    expect(problems.sort()).toEqual(
      [
        `README.md:3: refers to a directory outside the repository (See [the spec](../${outside}).); cite apps/docs/stack-args.md or another file of the repository`,
        `README.md:3: ../${outside}: leads outside the repository`,
        'README.md:5: docs/gone.md: docs/gone.md does not exist',
        'README.md:5: CONTRIBUTING.md#nope: CONTRIBUTING.md has no heading #nope',
        'apps/docs/guide.md:1: /nowhere: no page behind this docs-site path in apps/docs',
        `src/a.ts:2: refers to a directory outside the repository (// per ${outside} §4); cite apps/docs/stack-args.md or another file of the repository`,
        'src/a.ts:3: cites stack-args §4.7, but apps/docs/stack-args.md has no section 4.7',
        'packages/p/README.md:3: relative link ../q/README.md breaks on npm; point at https://docs.example.invalid/… (the root package.json\'s "homepage")',
        'packages/p/README.md:4: https://docs.example.invalid/guide/q: no page apps/docs/guide/q.md behind this docs-site address',
        'examples/a.s:1: docs/missing.md does not exist in the repository',
        'CODEOWNERS:3: /packages/gone/ does not exist',
      ].sort(),
    );
    expect(summary).toBe('link-check: 11 problems');
  });
});
