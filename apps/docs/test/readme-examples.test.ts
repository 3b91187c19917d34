/**
 * The README example of every browser-clean layer, bundled for the browser with esbuild and run
 * in Debian's Chromium: it must run without an error and print what it prints in Node. (Examples
 * that import a `./node` entry — native runners — are Node-only and skipped.)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, skipWithout } from '@bpf/testkit';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './site.js';

const LAYERS = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { browserCleanLayers: string[] }).browserCleanLayers;

function example(pkg: string): string | null {
  const m = /```(?:js|javascript|mjs)\n([\s\S]*?)```/.exec(readFileSync(join(repoRoot, 'packages', pkg, 'README.md'), 'utf8'));
  return m && !/^\s*import[^\n]*from '@bpf\/[\w-]+\/node'/m.test(m[1]!) ? m[1]! : null;
}

describe.skipIf(skipWithout('chromium'))('README examples of the browser-clean layers, in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    execFileSync('pnpm', ['exec', 'tsc', '-b'], { cwd: repoRoot, stdio: 'inherit' });
    browser = await launchChromium();
  }, 300_000);
  afterAll(async () => browser?.close());

  it.each(LAYERS.filter((l) => example(l) !== null))('@bpf/%s', async (pkg) => {
    const out = await build({
      stdin: { contents: example(pkg)!, resolveDir: join(repoRoot, 'packages', pkg), loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const page = await browser.newPage();
    const logs: string[] = [];
    const errors: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setContent('<html><body></body></html>');
    // the flag is set once the module (top-level awaits included) has run: a fixed wait is too
    // short on a loaded machine
    await page.addScriptTag({ content: `${out.outputFiles[0]!.text}\nwindow.__done = true;`, type: 'module' });
    await page.waitForFunction(() => (window as unknown as { __done?: boolean }).__done === true || document.title === 'error', null, { timeout: 30_000 }).catch(() => errors.push('timed out'));
    await page.close();
    expect(errors).toEqual([]);
    expect(logs.length).toBeGreaterThan(0);
  });
});
