/**
 * The site in a real browser: build it, serve it on loopback, drive Debian's Chromium with
 * playwright-core (no browser download). Screenshots go to test-results/docs/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { skipWithout } from '@bpf/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dist, openSite, shots } from './site.js';

describe.skipIf(skipWithout('chromium'))('docs site in Chromium', () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  let base: string;

  beforeAll(async () => {
    ({ server, base, browser } = await openSite());
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('serves the home page and the stack-arguments guide', async () => {
    await page.goto(`${base}/`);
    await expect(page.locator('h1').first().textContent()).resolves.toContain('@bpf');
    await page.goto(`${base}/stack-args`);
    await expect(page.locator('h1').first().textContent()).resolves.toContain('Stack arguments');
    await page.screenshot({ path: join(shots, 'stack-args.png') });
  });

  it('renders the stack-arguments reference: frame diagrams, and every section the guides cite', async () => {
    await page.goto(`${base}/stack-args`);
    const diagrams = page.locator('pre', { hasText: '┌' });
    await expect(diagrams.count()).resolves.toBe(2);
    for (const [k, name] of ['x86', 'arm64'].entries()) {
      const d = diagrams.nth(k);
      await d.scrollIntoViewIfNeeded();
      // a box drawn in a proportional font would not line up: the block must be monospace
      await expect(d.evaluate((el) => getComputedStyle(el.querySelector('code') ?? el).fontFamily)).resolves.toMatch(/mono/i);
      const box = await d.boundingBox();
      expect(box!.height).toBeGreaterThan(300);
      await d.screenshot({ path: join(shots, `stack-args-${name}-frame.png`) });
    }
    await expect(diagrams.nth(0).textContent()).resolves.toContain('[rbp_G + 8]');
    await expect(diagrams.nth(1).textContent()).resolves.toContain('[x29_F + 16]');
    // the guide pages (package READMEs) cite sections by the docs site's address; on the site
    // they are site-relative and land on the heading
    for (const [guide, anchor] of [['jit-x86', '_5-1-x86-64-system-v'], ['jit-arm64', '_5-2-arm64-aapcs64'], ['vm', '_7-interpreter'], ['liveness', '_6-liveness'], ['verifier', '_4-8-pruning']] as const) {
      await page.goto(`${base}/guide/${guide}`);
      const link = page.locator(`a[href="/stack-args#${anchor}"]`).first();
      await link.click();
      await expect.poll(() => page.url()).toBe(`${base}/stack-args#${anchor}`);
      // the client router changes the URL before it renders the page: wait for the heading
      await page.locator(`[id="${anchor}"]`).waitFor({ state: 'visible', timeout: 15_000 });
    }
  });

  it('names nothing outside the repository anywhere in the built site', () => {
    // `shared` then a slash, built so that this file does not name it
    const outside = new RegExp(['shared', '\\/'].join(''));
    const hits: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(html|js|json|md|txt)$/.test(e.name) && outside.test(readFileSync(p, 'utf8'))) hits.push(p);
      }
    };
    walk(dist);
    expect(hits).toEqual([]);
  });

  it('accepts a typed program in the playground, then highlights an error', async () => {
    await page.goto(`${base}/playground`);
    const editor = page.locator('[data-testid=editor] .cm-content');
    await editor.waitFor();
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('r0 = 7\nr0 += 35\nexit\n');
    await expect.poll(() => page.locator('[data-testid=verdict]').textContent(), { timeout: 10_000 }).toBe('accepted');
    await page.screenshot({ path: join(shots, 'playground-accepted.png') });

    // introduce an error: read r2 before writing it
    await page.keyboard.press('Control+A');
    await page.keyboard.type('r0 = 7\nr0 += r2\nexit\n');
    await expect.poll(() => page.locator('[data-testid=verdict]').textContent(), { timeout: 10_000 }).toContain('R2 !read_ok');
    await expect(page.locator('[data-testid=pane-verifier] .err').first().textContent()).resolves.toBe('R2 !read_ok');
    await expect(page.locator('.cm-line.pg-err-line').textContent()).resolves.toBe('r0 += r2');
    await page.screenshot({ path: join(shots, 'playground-rejected.png') });
  });

  it('shows JIT listings for both architectures and the liveness table', async () => {
    // back to the 12-argument example (select another first: re-selecting the current one is no change)
    await page.locator('[data-testid=example]').selectOption({ index: 1 });
    await page.locator('[data-testid=example]').selectOption({ index: 0 });
    await page.locator('[data-testid=tab-x86]').click();
    await expect.poll(() => page.locator('[data-testid=pane-x86]').textContent()).toMatch(/push rbp[\s\S]*mov r9d, 0x6/);
    await page.screenshot({ path: join(shots, 'playground-x86.png') });
    await page.locator('[data-testid=tab-arm64]').click();
    await expect.poll(() => page.locator('[data-testid=pane-arm64]').textContent()).toMatch(/stp x29, x30[\s\S]*mov x5, #0x6/);
    await page.screenshot({ path: join(shots, 'playground-arm64.png') });
    await page.locator('[data-testid=tab-liveness]').click();
    await expect.poll(() => page.locator('[data-testid=pane-liveness]').textContent()).toContain('Live regs before insn:');
  });

  it('runs the program compiled to WebAssembly, with the interpreter\'s result', async () => {
    await page.locator('[data-testid=tab-run]').click();
    await expect.poll(() => page.locator('[data-testid=pane-run]').textContent(), { timeout: 10_000 }).toMatch(/^r0 = 0x4e \(78\)\n34 instructions executed \(WebAssembly/);
    await page.screenshot({ path: join(shots, 'playground-run.png') });
  });
});
