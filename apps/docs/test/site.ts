/**
 * Test-only: the built docs site served on loopback, and Debian's Chromium through
 * playwright-core (no browser download), for the browser tests of this folder.
 *
 * The site is built once per test run, whichever test file asks first: the test files run in
 * parallel workers, and two `vitepress build`s writing one `.vitepress/dist` at once would
 * delete each other's output under the tests that read it. The first caller takes a lock
 * directory and builds; the others wait for its stamp. A run is the vitest process that forked
 * the workers (their common parent); a lock left by a dead builder is taken over.
 * `DOCS_PREBUILT=1` skips the build and serves the site as last built.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { repoRoot } from '@bpf/testkit';
import { chromium, type Browser } from 'playwright-core';

export const dist = join(repoRoot, 'apps/docs/.vitepress/dist');
export const shots = join(repoRoot, 'test-results/docs');

const lock = join(repoRoot, 'test-results/docs-build.lock');
const stamp = join(repoRoot, 'test-results/docs-build.stamp');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json', '.woff2': 'font/woff2' };

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const read = (f: string): string | undefined => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return undefined;
  }
};

/** Builds the site unless another test file of this run has; resolves when `dist` is complete. */
export async function buildSiteOnce(): Promise<void> {
  // DOCS_PREBUILT=1: test the site as last built (`pnpm --filter docs build`), e.g. while editing a test
  if (process.env.DOCS_PREBUILT === '1' && existsSync(join(dist, 'index.html'))) return;
  const run = String(process.ppid);
  mkdirSync(join(repoRoot, 'test-results'), { recursive: true });
  for (;;) {
    if (read(stamp) === run) return;
    try {
      mkdirSync(lock);
    } catch {
      const owner = Number(read(join(lock, 'pid')));
      if (owner && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      await new Promise((ok) => setTimeout(ok, 500));
      continue;
    }
    try {
      writeFileSync(join(lock, 'pid'), String(process.pid));
      if (read(stamp) === run) return;
      rmSync(stamp, { force: true });
      const r = spawnSync('pnpm', ['--filter', 'docs', 'build'], { cwd: repoRoot, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`docs build failed:\n${r.stdout}\n${r.stderr}`);
      writeFileSync(stamp, run);
      return;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

/** Serves `dir` on 127.0.0.1 (a free port); `.html` may be left out of page URLs, as on the site. */
export function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    let file = normalize(join(dir, url));
    if (!file.startsWith(dir)) return void res.writeHead(403).end();
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file) && existsSync(file + '.html')) file += '.html';
    if (!existsSync(file)) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

/** The built site served, its base URL, and a Chromium; screenshots go to `shots`. */
export async function openSite(): Promise<{ server: Server; base: string; browser: Browser }> {
  await buildSiteOnce();
  mkdirSync(shots, { recursive: true });
  const server = await serve(dist);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base, browser: await launchChromium() };
}

/** Debian's chromium, headless, with nothing reaching the network. */
export function launchChromium(): Promise<Browser> {
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
