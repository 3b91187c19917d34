#!/usr/bin/env node
// The release flow, rehearsed: `changeset version` on a scratch copy of the workspace's
// manifests, changesets and changelogs, then a check that every public package would get a
// new version and a CHANGELOG entry, and a print of what `changeset publish` would publish.
// The checkout itself is left untouched (run `pnpm changeset version` to cut a release).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(join(tmpdir(), 'bpf-release-'));
const workspaces = ['packages', 'apps'].flatMap((g) => readdirSync(join(root, g)).map((d) => join(g, d))).filter((d) => existsSync(join(root, d, 'package.json')));
const manifest = (dir, base = root) => JSON.parse(readFileSync(join(base, dir, 'package.json'), 'utf8'));
try {
  for (const f of ['package.json', 'pnpm-workspace.yaml', '.changeset']) cpSync(join(root, f), join(scratch, f), { recursive: true });
  for (const d of workspaces) {
    cpSync(join(root, d, 'package.json'), join(scratch, d, 'package.json'));
    if (existsSync(join(root, d, 'CHANGELOG.md'))) cpSync(join(root, d, 'CHANGELOG.md'), join(scratch, d, 'CHANGELOG.md'));
  }
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
  // changesets reads git only for `status`/`--since`; `version` needs none, but wants a repo
  execFileSync('git', ['init', '-q'], { cwd: scratch });
  execFileSync(process.execPath, [join(root, 'node_modules/@changesets/cli/bin.js'), 'version'], { cwd: scratch, stdio: ['ignore', 'ignore', 'inherit'] });

  const problems = [];
  const rows = [];
  for (const d of workspaces) {
    const before = manifest(d);
    if (before.private) continue;
    const after = manifest(d, scratch);
    const log = existsSync(join(scratch, d, 'CHANGELOG.md')) ? readFileSync(join(scratch, d, 'CHANGELOG.md'), 'utf8') : '';
    const entry = log.split(/^## /m)[1];
    if (!existsSync(join(root, d, 'CHANGELOG.md'))) problems.push(`${before.name}: no CHANGELOG.md in ${d}`);
    if (after.version !== before.version && !entry?.startsWith(after.version)) problems.push(`${before.name}: ${after.version} has no CHANGELOG entry`);
    rows.push({ name: before.name, from: before.version, to: after.version, changes: entry ? entry.split('\n').filter((l) => /^- /.test(l)).length : 0 });
  }
  const width = Math.max(...rows.map((r) => r.name.length));
  console.log('changeset version (dry run): what the next release would publish');
  for (const r of rows) console.log(`  ${r.name.padEnd(width)}  ${r.from} -> ${r.to === r.from ? `${r.to} (unchanged)` : r.to}  ${r.changes} changelog line(s)`);
  const leftover = readdirSync(join(scratch, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
  if (leftover.length) problems.push(`changesets not consumed: ${leftover.join(', ')}`);
  if (problems.length) {
    console.error(problems.map((p) => `release dry run: ${p}`).join('\n'));
    process.exitCode = 1;
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
