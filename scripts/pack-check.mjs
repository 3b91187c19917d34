#!/usr/bin/env node
// Publishing checks for every public @bpf package (issue 17):
//  1. publint and @arethetypeswrong/cli (ESM-only profile) on the package;
//  2. pack-and-install: `pnpm pack` the package and the workspace packages it depends on,
//     install the tarballs into an empty temporary project (no workspace links), and run the
//     README's first ```js example there. A missing file in the tarball, a leaked dev
//     dependency or an undeclared one makes the example fail;
//  3. for the browser-clean layers, the same example bundled from that install by esbuild
//     (platform browser) and run in Chromium (Debian's, through playwright-core): its console
//     output must equal the Node run's;
//  4. the README inside the tarball (the one npm shows) has no relative link, and its links to
//     the docs site (the root package.json's `homepage`) name pages that exist
//     (scripts/link-check.mjs, which checks the rest of the repository's links).
// Usage: node scripts/pack-check.mjs [@bpf/name ...]   (build first: pnpm exec tsc -b)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { packedReadmeProblems } from './link-check.mjs';

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

const SAME_CONSOLE = `
const canon = (v) => typeof v === 'string' ? v : JSON.stringify(v, (_k, x) =>
  typeof x === 'bigint' ? x.toString() + 'n' : ArrayBuffer.isView(x) ? Array.from(x, (e) => typeof e === 'bigint' ? e.toString() + 'n' : e) : x instanceof Map ? Object.fromEntries(x) : x instanceof Set ? [...x] : x instanceof Error ? { name: x.name, message: x.message } : x) ?? String(v);
const log = console.log.bind(console);
console.log = (...args) => log(args.map(canon).join(' '));
`;

/** Layers whose packages use no Node built-ins (the root package.json's `browserCleanLayers`). */
const BROWSER_CLEAN = new Set(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).browserCleanLayers.map((l) => `@bpf/${l}`));
let browser;
async function chromiumRun(proj) {
  if (browser === undefined) {
    let executablePath = '';
    try {
      executablePath = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
    } catch {
      /* none */
    }
    if (!executablePath) {
      if (process.env.REQUIRE_ORACLES === '1') throw new Error('chromium is not installed (REQUIRE_ORACLES=1)');
      browser = null;
    } else browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  }
  if (browser === null) return { skipped: 'no chromium' };
  const out = await build({ entryPoints: [join(proj, 'example.mjs')], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent', absWorkingDir: proj });
  const page = await browser.newPage();
  const lines = [];
  const errors = [];
  page.on('console', (m) => lines.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setContent('<!doctype html><title>example</title>');
  await page.addScriptTag({ type: 'module', content: `${out.outputFiles[0].text}\nwindow.__done = true;` });
  await page.waitForFunction(() => window.__done === true || document.title === 'error', null, { timeout: 30_000 }).catch(() => errors.push('timed out'));
  await page.close();
  return { lines, errors };
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
  const result = { name, publint: 'ok', attw: 'ok', links: 'ok', example: 'ok' };
  try {
    const readme = sh('tar', ['-xzOf', pack(name), 'package/README.md'], root);
    const problems = packedReadmeProblems(readme, `${name}@tarball/README.md`);
    if (problems.length) {
      result.links = 'FAIL';
      console.error(`${name}: links in the packed README\n${problems.join('\n')}`);
    }
  } catch (e) {
    result.links = 'FAIL';
    console.error(`${name}: no README.md in the tarball\n${e.stderr ?? e.message}`);
  }
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
      // one console.log format in both runtimes (Node's and Chromium's inspectors differ)
      writeFileSync(join(proj, 'same-console.mjs'), SAME_CONSOLE);
      writeFileSync(join(proj, 'example.mjs'), `import './same-console.mjs';\n${example}`);
      const nodeOut = sh(process.execPath, ['example.mjs'], proj);
      // a package's commands run from the install alone (the bundles and what they load are in it)
      for (const bin of Object.keys(typeof pkgs.get(name).json.bin === 'string' ? { [name.split('/').pop()]: 1 } : (pkgs.get(name).json.bin ?? {}))) {
        for (const args of [['--version'], ['--help']]) if (!sh(join(proj, 'node_modules/.bin', bin), args, proj).trim()) throw new Error(`${bin} ${args[0]} printed nothing`);
        result.bin = `${bin} ok`;
      }
      if (BROWSER_CLEAN.has(name) && /from '(?:node:|@bpf\/[\w-]+\/node')/.test(example)) result.browser = 'n/a (the example uses the Node entry point)';
      else if (BROWSER_CLEAN.has(name)) {
        const b = await chromiumRun(proj);
        if (b.skipped) result.browser = `skipped (${b.skipped})`;
        else if (b.errors.length) throw new Error(`in Chromium: ${b.errors.join('; ')}`);
        else if (b.lines.join('\n').trim() !== nodeOut.trim()) throw new Error(`in Chromium the example printed\n${b.lines.join('\n')}\nbut in Node\n${nodeOut}`);
        else result.browser = 'ok';
      }
    } catch (e) {
      result.example = 'FAIL';
      console.error(`${name}: example in ${proj}\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
    }
  }
  if (Object.values(result).some((v) => String(v).startsWith('FAIL'))) failed++;
  summary.push(result);
  console.log(`${name.padEnd(18)} publint ${result.publint.padEnd(5)} attw ${result.attw.padEnd(5)} links ${result.links.padEnd(5)} example ${result.example.padEnd(5)}${result.browser ? ` chromium ${result.browser}` : ''}${result.bin ? ` bin ${result.bin}` : ''}`);
}
await browser?.close();
mkdirSync(join(root, 'test-results'), { recursive: true });
writeFileSync(join(root, 'test-results/pack-check.json'), JSON.stringify(summary, null, 2));
console.log(`pack-check: ${summary.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
