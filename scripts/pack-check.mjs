#!/usr/bin/env node
// Publishing checks for every public @bpf package (issue 17):
//  1. publint and @arethetypeswrong/cli (ESM-only profile) on the package;
//  2. pack-and-install: `pnpm pack` the package and the workspace packages it depends on,
//     install the tarballs into an empty temporary project (no workspace links), and run the
//     README's first ```js example there. A missing file in the tarball, a leaked dev
//     dependency or an undeclared one makes the example fail.
// Usage: node scripts/pack-check.mjs [@bpf/name ...]   (build first: pnpm exec tsc -b)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dirs = ['packages', 'apps'].flatMap((g) => readdirSync(join(root, g)).map((d) => join(root, g, d)));
const pkgs = new Map();
for (const dir of dirs) {
  const pj = join(dir, 'package.json');
  if (!existsSync(pj)) continue;
  const json = JSON.parse(readFileSync(pj, 'utf8'));
  if (!json.private) pkgs.set(json.name, { dir, json });
}
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const targets = wanted.length ? wanted : [...pkgs.keys()];
const sh = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function closure(name, acc = new Set()) {
  if (acc.has(name) || !pkgs.has(name)) return acc;
  acc.add(name);
  for (const d of Object.keys(pkgs.get(name).json.dependencies ?? {})) closure(d, acc);
  return acc;
}

/** The README's first ```js block: the package's tested example. */
function readmeExample(dir) {
  const readme = join(dir, 'README.md');
  if (!existsSync(readme)) return null;
  const m = /```(?:js|javascript|mjs)\n([\s\S]*?)```/.exec(readFileSync(readme, 'utf8'));
  return m ? m[1] : null;
}

const packDir = mkdtempSync(join(tmpdir(), 'bpf-pack-'));
const tarballs = new Map();
function pack(name) {
  if (!tarballs.has(name)) {
    const out = sh('pnpm', ['pack', '--pack-destination', packDir], pkgs.get(name).dir).trim().split('\n').pop();
    tarballs.set(name, out.startsWith('/') ? out : join(packDir, out));
  }
  return tarballs.get(name);
}

let failed = 0;
const summary = [];
for (const name of targets) {
  const { dir } = pkgs.get(name) ?? {};
  if (!dir) {
    console.error(`unknown package ${name}`);
    failed++;
    continue;
  }
  const result = { name, publint: 'ok', attw: 'ok', example: 'ok' };
  try {
    sh('pnpm', ['exec', 'publint', dir, '--strict'], root);
  } catch (e) {
    result.publint = 'FAIL';
    console.error(`${name}: publint\n${e.stdout}${e.stderr}`);
  }
  try {
    sh('pnpm', ['exec', 'attw', '--pack', dir, '--profile', 'esm-only', '--format', 'table-flipped'], root);
  } catch (e) {
    result.attw = 'FAIL';
    console.error(`${name}: attw\n${e.stdout}${e.stderr}`);
  }
  const example = readmeExample(dir);
  if (example === null) {
    result.example = 'FAIL (no ```js example in README)';
  } else {
    const proj = mkdtempSync(join(tmpdir(), 'bpf-install-'));
    const deps = Object.fromEntries([...closure(name)].map((n) => [n, `file:${pack(n)}`]));
    // peers (optional ones included) are what the README tells a user to install alongside
    for (const n of closure(name)) Object.assign(deps, pkgs.get(n).json.peerDependencies ?? {});
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'pack-check', private: true, type: 'module', dependencies: deps }, null, 2));
    try {
      sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], proj);
      writeFileSync(join(proj, 'example.mjs'), example);
      sh(process.execPath, ['example.mjs'], proj);
    } catch (e) {
      result.example = 'FAIL';
      console.error(`${name}: example in ${proj}\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
    }
  }
  if (Object.values(result).some((v) => String(v).startsWith('FAIL'))) failed++;
  summary.push(result);
  console.log(`${name.padEnd(18)} publint ${result.publint.padEnd(5)} attw ${result.attw.padEnd(5)} example ${result.example}`);
}
mkdirSync(join(root, 'test-results'), { recursive: true });
writeFileSync(join(root, 'test-results/pack-check.json'), JSON.stringify(summary, null, 2));
console.log(`pack-check: ${summary.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
