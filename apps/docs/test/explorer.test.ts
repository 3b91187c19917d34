/**
 * The verifier explorer in Debian's Chromium (playwright-core), on the built site: an example,
 * stepping, the why-chain of a rejected program, the CFG picture, a deep link, and a kernel
 * log this test records from the running kernel and pastes. Screenshots: test-results/docs/.
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { assemble } from '@bpf/isa';
import { loadWithMaps } from '@bpf/kernel';
import { skipWithout } from '@bpf/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCfg, explainValue, explore } from '../src/explorer.js';
import { openSite, shots } from './site.js';


// our own programs: a pointer built over five instructions then read out of bounds, and a branch
const REJECTED = 'r2 = *(u32 *)(r1 + 0)\nr3 = r2\nr3 += 8\nr4 = r10\nr4 += -16\nr4 += r3\nr0 = *(u64 *)(r4 + 0)\nexit\n';
const BRANCHY = 'r2 = *(u32 *)(r1 + 0)\nr0 = 0\nif r2 > 10 goto big\nr0 = 1\ngoto out\nbig:\nr0 = 2\nout:\nexit\n';

describe('explorer engine', () => {
  it('builds basic blocks and edges from the listing', () => {
    const m = explore({ kind: 'asm', text: BRANCHY });
    expect(m.cfg).toHaveLength(1);
    expect(m.cfg[0]!.blocks.map((b) => [b.start, b.end, b.succ])).toEqual([
      [0, 2, [1, 2]],
      [3, 4, [3]],
      [5, 5, [3]],
      [6, 6, []],
    ]);
    expect(buildCfg([])).toEqual([]);
  });
  it('explains where a register at a step came from (the verifier\'s backward walk)', () => {
    const input = { kind: 'asm', text: REJECTED } as const;
    const step = explore(input).trace.steps.findIndex((s) => s.pc === 5);
    // before insn 5 (r4 += r3): r3 = r2 + 8, r2 = *(ctx + 0)
    expect(explainValue(input, step, 3)!.chain.map((l) => l.pc)).toEqual([2, 1, 0]);
    expect(explainValue({ kind: 'log', text: '0: (b7) r0 = 0\n' }, 0, 0)).toBeUndefined();
  });
  it('names the bad input', () => {
    expect(() => explore({ kind: 'log', text: 'hello' })).toThrow(/no instruction lines/);
    expect(() => explore({ kind: 'asm', text: 'r0 = \nexit' })).toThrow();
  });
});

describe.skipIf(skipWithout('chromium'))('verifier explorer in Chromium', () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  let base: string;

  beforeAll(async () => {
    ({ server, base, browser } = await openSite());
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  const verdict = () => page.locator('[data-testid=ex-verdict]').textContent();
  const paste = async (text: string): Promise<void> => {
    await page.locator('.ex-paste').evaluate((d) => ((d as HTMLDetailsElement).open = true));
    await page.locator('[data-testid=ex-paste]').fill(text);
    await page.locator('[data-testid=ex-open-paste]').click();
  };

  it('opens an example and steps along the path', async () => {
    await page.goto(`${base}/explorer`);
    await expect.poll(verdict, { timeout: 30_000 }).toBe('rejected');
    await expect(page.locator('[data-testid=ex-step-title]').textContent()).resolves.toMatch(/^Step 1: insn 0/);
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await expect(page.locator('[data-testid=ex-step-title]').textContent()).resolves.toMatch(/^Step 3: insn 2/);
    await page.locator('[data-testid=ex-prev]').click();
    await expect(page.locator('[data-testid=ex-step-title]').textContent()).resolves.toMatch(/^Step 2: insn 1/);
    await expect.poll(() => page.url()).toBe(`${base}/explorer#insn=1`);
    await page.screenshot({ path: join(shots, 'explorer-example.png') });
  });

  it('shows the why-chain of a rejected program and jumps to the error', async () => {
    await paste(REJECTED);
    await expect.poll(() => page.locator('[data-testid=ex-why] .ex-link').count(), { timeout: 30_000 }).toBe(6);
    await page.locator('[data-testid=ex-error]').click();
    await expect(page.locator('.ex-insn.sel').getAttribute('data-insn')).resolves.toBe('6');
    await expect(page.locator('.ex-insn.rej').getAttribute('data-insn')).resolves.toBe('6');
    await expect(page.locator('.ex-insn.chain').evaluateAll((els) => els.map((e) => e.getAttribute('data-insn')))).resolves.toEqual(['0', '1', '2', '3', '4', '5']);
    await expect(page.locator('[data-testid=ex-why]').textContent()).resolves.toContain('R4 came from');
    await page.screenshot({ path: join(shots, 'explorer-why.png') });
  });

  it('answers "where did this value come from" for a register clicked in the state table', async () => {
    await paste(REJECTED);
    await expect.poll(verdict, { timeout: 30_000 }).toBe('rejected');
    await page.locator('.ex-insn[data-insn="5"]').click();
    await page.locator('[data-testid=ex-state] td.nm[data-reg="R3"]').click();
    await expect.poll(() => page.locator('[data-testid=ex-origin] .ex-link').count(), { timeout: 30_000 }).toBe(3);
    await expect(page.locator('[data-testid=ex-origin]').textContent()).resolves.toContain('R3 before insn 5');
    await expect(page.locator('.ex-insn.chain').evaluateAll((els) => els.map((e) => e.getAttribute('data-insn')))).resolves.toEqual(['0', '1', '2']);
    await page.screenshot({ path: join(shots, 'explorer-origin.png') });
  });

  it('draws the CFG with the blocks the paths ran', async () => {
    await paste(BRANCHY);
    await expect.poll(verdict, { timeout: 30_000 }).toBe('accepted');
    const svg = page.locator('[data-testid=ex-cfg] svg');
    await expect(svg.locator('.cfg-node').count()).resolves.toBe(4);
    await expect(svg.locator('.cfg-node.cfg-seen').count()).resolves.toBe(4);
    await svg.locator('.cfg-node[data-pc="5"]').click();
    await expect(page.locator('.ex-insn.sel').getAttribute('data-insn')).resolves.toBe('5');
    await page.locator('[data-testid=ex-cfg]').screenshot({ path: join(shots, 'explorer-cfg.png') });
  });

  it('opens at a deep link', async () => {
    await page.goto(`${base}/explorer#insn=3`);
    await expect.poll(() => page.locator('.ex-insn.sel').getAttribute('data-insn'), { timeout: 30_000 }).toBe('3');
  });

  it.skipIf(skipWithout('kernel'))('reads a kernel log recorded from the running kernel', async () => {
    const k = loadWithMaps(assemble(REJECTED), { logLevel: 2 });
    k.close();
    expect(k.accepted).toBe(false);
    await paste(k.log);
    await expect.poll(() => page.locator('[data-testid=ex-status]').textContent(), { timeout: 30_000 }).toContain('kernel log');
    await expect(verdict()).resolves.toBe('rejected');
    await expect(page.locator('.ex-insn.rej').getAttribute('data-insn')).resolves.toBe('6');
    const last = k.log.trim().split('\n').filter((l) => !l.startsWith('processed')).at(-1)!;
    await expect(page.locator('[data-testid=ex-why]').textContent()).resolves.toContain(last);
    await page.locator('[data-testid=ex-error]').click();
    // the state that failed: r4 is a stack pointer with a variable offset
    await expect(page.locator('[data-testid=ex-state] .ex-regs').textContent()).resolves.toContain('fp');
    await page.screenshot({ path: join(shots, 'explorer-kernel-log.png') });
  });
});
