/**
 * The verifier explorer in Debian's Chromium (playwright-core), on the built site: an example,
 * stepping, the why-chain of a rejected program, the CFG picture, a deep link, a kernel log
 * this test records from the running kernel and pastes, an object of our own C with its
 * line_info, three public objects others wrote (when BPF_REALWORLD_OBJECTS names a directory
 * holding them), a generated 4k-instruction program (long tasks measured, the CFG's size), and
 * the dark theme. Screenshots: test-results/docs/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { loadPrograms } from '@bpf/elf';
import { assemble } from '@bpf/isa';
import { loadWithMaps } from '@bpf/kernel';
import { parseKernelLog } from '@bpf/verifier';
import { fixturesDir, oracleProblem, repoRoot, skipWithout, tempDir } from '@bpf/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCfg, cfgSvg, explainValue, explore, splitStates } from '../src/explorer.js';
import { openSite, shots } from './site.js';


// our own programs: a pointer built over five instructions then read out of bounds, and a branch
const REJECTED = 'r2 = *(u32 *)(r1 + 0)\nr3 = r2\nr3 += 8\nr4 = r10\nr4 += -16\nr4 += r3\nr0 = *(u64 *)(r4 + 0)\nexit\n';
const BRANCHY = 'r2 = *(u32 *)(r1 + 0)\nr0 = 0\nif r2 > 10 goto big\nr0 = 1\ngoto out\nbig:\nr0 = 2\nout:\nexit\n';

/**
 * Our own ~4k-instruction program: four subprograms of 165 branches each (a packet word
 * compared with a constant, both sides joining again), called from main.
 */
function bigProgram(subs = 4, diamonds = 165): string {
  const out = ['main:', 'r6 = r1', 'r9 = 0'];
  for (let s = 0; s < subs; s++) out.push('r1 = r6', `call sub${s}`, 'r9 += r0');
  out.push('r0 = r9', 'exit');
  for (let s = 0; s < subs; s++) {
    out.push(`sub${s}:`, 'r7 = 0');
    for (let d = 0; d < diamonds; d++) out.push('r2 = *(u32 *)(r1 + 0)', `if r2 > ${d * 3 + s} goto l${s}_${d}`, 'r3 = 1', `goto j${s}_${d}`, `l${s}_${d}:`, 'r3 = 2', `j${s}_${d}:`, 'r7 += 1');
    out.push('r0 = r7', 'r0 &= 1', 'exit');
  }
  return out.join('\n') + '\n';
}

/** fixtures/c/elf/calls.c (our own C: BPF-to-BPF calls) built with -g, so it has line_info; undefined without clang-19. */
function callsObject(): Uint8Array | undefined {
  if (oracleProblem('clang-19') !== null) return undefined;
  const out = join(tempDir('explorer-'), 'calls.o');
  execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-c', join(fixturesDir, 'c/elf/calls.c'), '-o', out]);
  return new Uint8Array(readFileSync(out));
}

/** The C lines a kernel verifier log printed (`; line @ file:n`). */
const kernelSourceLines = (log: string): string[] => [...new Set(log.split('\n').filter((l) => l.startsWith('; ')).map((l) => l.slice(2)))];

/**
 * Public objects others wrote, compiled from their projects outside this repository (the
 * records of fixtures/realworld/<collection>.json): `BPF_REALWORLD_OBJECTS` names the directory
 * holding <collection>/<object>. A rejected one (xdp-tutorial's parsing exercise, as shipped), a
 * five-program object, and katran's health-check classifier.
 */
const REALWORLD = [
  { collection: 'xdp-tutorial', object: 'packet01-parsing_xdp_prog_kern.o', program: 'xdp_parser_func' },
  { collection: 'xdp-tutorial', object: 'packet-solutions_xdp_prog_kern_03.o', program: 'xdp_router_func' },
  { collection: 'katran', object: 'healthchecking.bpf.o', program: 'healthcheck_encap' },
] as const;
const realworldDir = process.env.BPF_REALWORLD_OBJECTS;
const realworldFile = (r: (typeof REALWORLD)[number]): string => join(realworldDir ?? '', r.collection, r.object);
if (!realworldDir) console.warn('skipping the public objects in the explorer: BPF_REALWORLD_OBJECTS (a directory of <collection>/<object>.o) is not set');

let bigModel: ReturnType<typeof explore> | undefined;
/** The 4k-instruction program as the engine opens it (once: it takes seconds). */
const big = (): ReturnType<typeof explore> => (bigModel ??= explore({ kind: 'asm', text: bigProgram() }));

describe('explorer engine', () => {
  it('prints line_info as the kernel prints it in a verifier log', () => {
    const bytes = callsObject();
    if (!bytes) {
      console.warn('skipping line_info: clang-19 is not installed');
      return;
    }
    const m = explore({ kind: 'elf', bytes, program: 'tc_second' });
    const src = m.listing.filter((l) => l.source).map((l) => l.source!);
    expect(src.length).toBeGreaterThan(3);
    for (const l of src) expect(l).toMatch(/^\S.* @ calls\.c:\d+$/);
    // the C lines of the program and of the subprograms it calls
    expect(src.some((l) => l.startsWith('return global_mix(skb->mark) + square(2);'))).toBe(true);
    expect(src.some((l) => l.startsWith('return x * x;'))).toBe(true);
    if (skipWithout('kernel')) return;
    const p = loadPrograms(bytes).find((q) => q.name === 'tc_second')!;
    const k = loadWithMaps(p, { logLevel: 2, logSize: 1 << 22 });
    k.close();
    const kernel = kernelSourceLines(k.log);
    expect(kernel.length).toBeGreaterThan(3);
    expect(kernel.filter((l) => !src.includes(l))).toEqual([]);
  });
  it('splits the states off the model and keeps every one', () => {
    const m = explore({ kind: 'asm', text: BRANCHY });
    const { model, states } = splitStates(m);
    expect(states).toHaveLength(m.trace.steps.length);
    expect(model.trace.steps.every((s) => s.before === undefined && s.after === undefined)).toBe(true);
    expect(model.trace.steps.map((s, k) => ({ ...s, ...states[k] }))).toEqual(m.trace.steps);
  });
  it('verifies a 4k-instruction program and draws one CFG per subprogram', { timeout: 300_000 }, () => {
    const m = big();
    expect(m.listing.length).toBeGreaterThan(3900);
    expect(m.accepted).toBe(true);
    // main is one block; each subprogram its entry, three per branch (one side, the other, the join) and the exit
    expect(m.cfg.map((c) => c.blocks.length)).toEqual([1, 496, 496, 496, 496]);
    expect(m.trace.truncated).toBe(false);
    // a part of a subprogram: its blocks only, the edges leaving it labelled with their targets
    const svg = cfgSvg(m.cfg[1]!, { visits: new Map(), window: { from: 100, to: 200 } });
    expect(svg.match(/class="cfg-node/g)).toHaveLength(100);
    expect(svg.match(/class="cfg-count cfg-out" data-pc="(\d+)"/g)!.length).toBeGreaterThan(0);
  });

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
    await expect.poll(() => page.locator('[data-testid=ex-status]').textContent(), { timeout: 120_000 }).not.toMatch(/verifying|loading states/);
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

  const openFile = async (name: string, bytes: Uint8Array, program?: string): Promise<void> => {
    await page.locator('[data-testid=ex-file]').setInputFiles({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) });
    if (program) {
      await expect.poll(() => page.locator('[data-testid=ex-program]').count(), { timeout: 60_000 }).toBe(1);
      await page.locator('[data-testid=ex-program]').selectOption(program);
      await expect.poll(() => page.locator('[data-testid=ex-status]').textContent(), { timeout: 120_000 }).toContain(`· ${program} ·`);
    }
    await expect.poll(() => page.locator('[data-testid=ex-status]').textContent(), { timeout: 120_000 }).not.toMatch(/verifying|loading states/);
  };
  const insnCount = () => page.locator('[data-testid=ex-listing] .ex-insn').count();
  /** Every line of the listing, scrolled through from the top (it draws the lines near its scroll position). */
  const listing = () =>
    page.locator('[data-testid=ex-listing]').evaluate(async (pane) => {
      const insns = new Set<string>();
      const src: string[] = [];
      const seen = new Set<string>();
      for (let top = 0; ; top += pane.clientHeight) {
        pane.scrollTop = top;
        await new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
        for (const e of pane.querySelectorAll('.ex-insn')) insns.add(e.getAttribute('data-insn')!);
        for (const e of pane.querySelectorAll('.ex-src')) {
          // a C line stands before its instruction (at the edge of the drawn lines, the next window has both)
          const at = (e.nextElementSibling as HTMLElement | null)?.dataset.insn;
          if (at === undefined || seen.has(at)) continue;
          seen.add(at);
          src.push((e.textContent ?? '').replace(/^; /, ''));
        }
        if (top + pane.clientHeight >= pane.scrollHeight) break;
      }
      pane.scrollTop = 0;
      return { insns: insns.size, src, lines: Number(pane.dataset.lines) };
    });
  const sourceLines = async () => (await listing()).src;

  it('opens an object of our own C and shows its C source lines (line_info) beside the instructions', async () => {
    const bytes = callsObject();
    if (!bytes) {
      console.warn('skipping: clang-19 is not installed');
      return;
    }
    await page.goto(`${base}/explorer`);
    await expect.poll(verdict, { timeout: 30_000 }).toBe('rejected');
    await openFile('calls.o', bytes, 'tc_second');
    const m = explore({ kind: 'elf', bytes, program: 'tc_second' });
    await expect(verdict()).resolves.toBe(m.accepted ? 'accepted' : 'rejected');
    await expect.poll(async () => (await listing()).insns, { timeout: 30_000 }).toBe(m.listing.length);
    const shown = await sourceLines();
    expect(shown).toEqual(m.listing.filter((l) => l.source).map((l) => l.source));
    if (!skipWithout('kernel')) {
      const k = loadWithMaps(loadPrograms(bytes).find((q) => q.name === 'tc_second')!, { logLevel: 2, logSize: 1 << 22 });
      k.close();
      await expect(verdict()).resolves.toBe(k.accepted ? 'accepted' : 'rejected');
      expect(kernelSourceLines(k.log).filter((l) => !shown.includes(l))).toEqual([]);
    }
    // one picture per subprogram (tc_second, global_mix, sum_squares, square)
    await expect(page.locator('[data-testid=ex-cfg] svg.cfg').count()).resolves.toBe(m.cfg.length);
    expect(m.cfg.length).toBe(4);
    await page.locator('.ex').screenshot({ path: join(shots, 'explorer-elf-line-info.png') });
  });

  it.skipIf(!realworldDir)('opens three public objects from the fixtures: listing, CFG, verdict and C lines as the running kernel', async () => {
    await page.goto(`${base}/explorer`);
    await expect.poll(verdict, { timeout: 30_000 }).toBe('rejected');
    // the default example's states are in before an object replaces it
    await expect.poll(() => page.locator('[data-testid=ex-status]').textContent(), { timeout: 60_000 }).not.toContain('loading states');
    for (const r of REALWORLD) {
      const recorded = (JSON.parse(readFileSync(join(fixturesDir, 'realworld', `${r.collection}.json`), 'utf8')) as { records: { object: string; program: string }[] }).records;
      expect(recorded.some((x) => x.object === r.object && x.program === r.program)).toBe(true);
      expect(existsSync(realworldFile(r)), realworldFile(r)).toBe(true);
      const bytes = new Uint8Array(readFileSync(realworldFile(r)));
      const programs = loadPrograms(bytes);
      const p = programs.find((q) => q.name === r.program)!;
      await openFile(r.object, bytes, programs.length > 1 ? r.program : undefined);
      await expect.poll(() => page.locator('[data-testid=ex-status]').textContent(), { timeout: 30_000 }).toContain(r.program);
      // every instruction, the second half of an ld_imm64 folded into the first as in a kernel log
      await expect.poll(async () => (await listing()).insns, { timeout: 30_000 }).toBe(p.insns.length - p.insns.filter((i) => i.code === 0x18).length);
      const shown = await sourceLines();
      expect(shown.length).toBeGreaterThan(5);
      // the CFG view: the subprogram holding the selection drawn as blocks
      await expect.poll(() => page.locator('[data-testid=ex-cfg] details[open] .cfg-node').count(), { timeout: 30_000 }).toBeGreaterThan(0);
      if (!skipWithout('kernel')) {
        const k = loadWithMaps(p, { logLevel: 2, logSize: 1 << 24 });
        k.close();
        await expect(verdict()).resolves.toBe(k.accepted ? 'accepted' : 'rejected');
        expect(kernelSourceLines(k.log).filter((l) => !shown.includes(l))).toEqual([]);
        if (!k.accepted) {
          await page.locator('[data-testid=ex-error]').click();
          await expect(page.locator('.ex-insn.rej').getAttribute('data-insn')).resolves.toBe(String(parseKernelLog(k.log).rejection!.pc));
          await expect(page.locator('[data-testid=ex-why]').textContent()).resolves.toContain(parseKernelLog(k.log).rejection!.message);
        }
      }
      await page.locator('.ex').screenshot({ path: join(shots, `explorer-public-${r.object.replace(/\.o$/, '')}.png`) });
    }
  }, 600_000);

  it('shows each frame of a BPF-to-BPF call as its own column, the stack-argument area (r11) as another', async () => {
    const call12 = readFileSync(join(repoRoot, 'examples/call12.s'), 'utf8');
    const m = explore({ kind: 'asm', text: call12 });
    // insn 19 is the callee's first read of a stack argument (r1 = *(u64 *)(r11 + 8)): frame 1, called from insn 12
    const at = m.trace.steps.find((s) => s.pc === 19)!;
    expect(at.frame).toBe(1);
    await page.goto(`${base}/explorer`);
    await expect.poll(verdict, { timeout: 30_000 }).toBe('rejected');
    await page.locator('[data-testid=ex-example]').selectOption({ label: '12-argument BPF-to-BPF call' });
    await expect.poll(verdict, { timeout: 30_000 }).toBe('accepted');
    await expect.poll(() => page.locator('[data-testid=ex-status]').textContent(), { timeout: 30_000 }).not.toContain('loading states');
    await page.locator('.ex-insn[data-insn="19"]').click();
    await expect(page.locator('[data-testid=ex-step-title]').textContent()).resolves.toMatch(/insn 19 .* frame 1/);
    const frames = page.locator('[data-testid=ex-frames] section.ex-frame');
    // innermost first: the callee, then its caller
    await expect(frames.evaluateAll((els) => els.map((e) => e.getAttribute('data-frame')))).resolves.toEqual(['1', '0']);
    await expect(frames.nth(0).locator('h5').textContent()).resolves.toContain('called at insn 12 (current)');
    await expect(frames.nth(1).locator('h5').textContent()).resolves.toContain('(caller)');
    // each frame's registers as the verifier's trace has them
    const cells = (sec: ReturnType<typeof frames.nth>) =>
      sec.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    const expectFrame = async (k: number): Promise<void> => {
      const f = at.before!.frames[k]!;
      const want = f.regs.flatMap((r, n) => (r ? [[`R${n}`, r.text]] : []));
      const shown = (await cells(frames.nth(1 - k))).filter((c) => /^R\d+$/.test(c[0]!)).map((c) => [c[0], c[1]]);
      expect(shown).toEqual(want);
    };
    await expectFrame(1);
    await expectFrame(0);
    expect(at.before!.frames[1]!.regs[1]!.text).toBe('1');
    // the frame tables hold no r11 rows; the caller's outgoing arguments 6..12 are a column of their own
    const tables = await page.locator('[data-testid=ex-frames] .ex-regs').allTextContents();
    expect(tables).toHaveLength(2);
    for (const t of tables) expect(t).not.toContain('r11');
    const args = page.locator('[data-testid=ex-stack-args]');
    await expect(args.count()).resolves.toBe(1);
    await expect(args.getAttribute('data-frame')).resolves.toBe('0');
    const argCells = await cells(args);
    expect(argCells.map((c) => [c[0], c[1]])).toEqual([6, 7, 8, 9, 10, 11, 12].map((v, k) => [`r11-${(k + 1) * 8}`, String(v)]));
    expect(at.before!.frames[0]!.stackArgs.map((r) => r?.text)).toEqual(['6', '7', '8', '9', '10', '11', '12']);
    // in main, before the call: one frame; the store to r11 - 8 shows in the argument column, changed
    await page.locator('.ex-insn[data-insn="5"]').click();
    await expect(frames.count()).resolves.toBe(1);
    await expect(args.locator('tr.changed').textContent()).resolves.toMatch(/^r11-8\s*6$/);
    await page.locator('.ex-insn[data-insn="19"]').click();
    await page.locator('[data-testid=ex-state]').screenshot({ path: join(shots, 'explorer-frames.png') });
  });

  it('opens the playground\'s program from its "Open in explorer" link', async () => {
    const text = 'r0 = 5\nif r0 > 3 goto out\nr0 = 1\nout:\nexit\n';
    const m = explore({ kind: 'asm', text });
    await page.goto(`${base}/playground`);
    const editor = page.locator('[data-testid=editor] .cm-content');
    await editor.waitFor();
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.type(text);
    await expect.poll(() => page.locator('[data-testid=verdict]').textContent(), { timeout: 10_000 }).toBe('accepted');
    await page.locator('[data-testid=open-explorer]').click();
    await expect.poll(() => new URL(page.url()).pathname, { timeout: 30_000 }).toMatch(/\/explorer(\.html)?$/);
    await expect.poll(verdict, { timeout: 30_000 }).toBe('accepted');
    await expect(page.locator('[data-testid=ex-status]').textContent()).resolves.toContain(`${m.listing.length} insns`);
    await expect(page.locator('.ex-insn').evaluateAll((els) =>
        els.map((e) => {
          // the instruction's text without its number and visit count
          const c = e.cloneNode(true) as HTMLElement;
          for (const x of c.querySelectorAll('.pc, .cnt')) x.remove();
          return (c.textContent ?? '').trim();
        }),
      )).resolves.toEqual(m.listing.map((l) => l.text));
    // handed over once: a reload opens the page's own example again
    await page.reload();
    await expect.poll(verdict, { timeout: 30_000 }).toBe('rejected');
  });

  /** Drops a file onto the explorer as a browser does: a `drop` event whose DataTransfer holds it. */
  const dropFile = (name: string, bytes: Uint8Array): Promise<void> =>
    page.locator('.ex').evaluate(
      (el, f) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(f.bytes)], f.name));
        el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
        el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      },
      { name, bytes: [...bytes] },
    );

  it('opens a file dropped onto the page (assembly, our own C object, a kernel log)', async () => {
    await page.goto(`${base}/explorer`);
    await expect.poll(verdict, { timeout: 30_000 }).toBe('rejected');
    await dropFile('branchy.s', new TextEncoder().encode(BRANCHY));
    await expect.poll(verdict, { timeout: 30_000 }).toBe('accepted');
    await expect(page.locator('[data-testid=ex-status]').textContent()).resolves.toContain(`${explore({ kind: 'asm', text: BRANCHY }).listing.length} insns`);
    const bytes = callsObject();
    if (bytes) {
      await dropFile('calls.o', bytes);
      await expect.poll(() => page.locator('[data-testid=ex-program]').count(), { timeout: 60_000 }).toBe(1);
      const names = loadPrograms(bytes).map((p) => p.name);
      await expect(page.locator('[data-testid=ex-program] option').evaluateAll((os) => os.map((o) => o.textContent))).resolves.toEqual(names);
      await expect(page.locator('[data-testid=ex-status]').textContent()).resolves.toContain(`· ${names[0]} ·`);
    } else console.warn('skipping the dropped object: clang-19 is not installed');
    if (!skipWithout('kernel')) {
      const k = loadWithMaps(assemble(REJECTED), { logLevel: 2 });
      k.close();
      await dropFile('verifier.log', new TextEncoder().encode(k.log));
      await expect.poll(() => page.locator('[data-testid=ex-status]').textContent(), { timeout: 30_000 }).toContain('kernel log');
      await expect(verdict()).resolves.toBe('rejected');
      await expect(page.locator('.ex-insn.rej').getAttribute('data-insn')).resolves.toBe('6');
    }
  });

  it('opens a 4k-instruction program without a long task and keeps its CFG readable', async () => {
    await page.goto(`${base}/explorer`);
    await expect.poll(verdict, { timeout: 30_000 }).toBe('rejected');
    // the page's thread: every task over 50 ms from the click on Open until the states are in
    await page.evaluate(() => {
      const w = window as unknown as { longTasks: number[] };
      w.longTasks = [];
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) w.longTasks.push(Math.round(e.duration));
      }).observe({ type: 'longtask' });
    });
    const t0 = Date.now();
    await page.locator('[data-testid=ex-file]').setInputFiles({ name: 'big.s', mimeType: 'text/plain', buffer: Buffer.from(bigProgram()) });
    await expect.poll(verdict, { timeout: 300_000 }).toBe('accepted');
    // the time the verification took in the worker (and the model's trip): the page's thread would have frozen as long without it
    const verified = Date.now() - t0;
    await expect.poll(() => page.locator('[data-testid=ex-status]').textContent(), { timeout: 300_000 }).not.toContain('loading states');
    await expect(page.locator('[data-testid=ex-status]').textContent()).resolves.toContain(`${big().listing.length} insns`);
    // the listing draws the lines near its scroll position only
    await expect(insnCount()).resolves.toBeLessThan(600);
    const opened = Date.now() - t0;
    const openTasks = await page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks.splice(0));
    // step along and jump to the end: each step redraws two listing rows and moves the CFG mark
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    for (let k = 0; k < 20; k++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('End');
    await expect.poll(() => page.locator('[data-testid=ex-step-title]').textContent()).toMatch(new RegExp(`^Step ${big().trace.steps.length}:`));
    // an instruction near the end of the last subprogram, by its link; then one picked in the listing
    const deep = big().listing.at(-4)!.pc;
    await page.evaluate((pc) => (location.hash = `#insn=${pc}`), deep + 1);
    await expect.poll(() => page.locator('.ex-insn.sel').getAttribute('data-insn')).toBe(String(deep + 1));
    await page.locator(`.ex-insn[data-insn="${deep}"]`).click();
    await expect(page.locator('.ex-insn.sel').getAttribute('data-insn')).resolves.toBe(String(deep));
    const stepTasks = await page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks.splice(0));
    console.log(`4k-insn program: verified in the worker ${verified} ms, states in ${opened} ms; long tasks while opening ${JSON.stringify(openTasks)}, while stepping ${JSON.stringify(stepTasks)}`);
    // no freeze: the verification ran in the worker, so no task on the page's thread comes near
    // its time (a ratio, as a loaded machine slows both; the task lengths themselves are
    // printed above, not asserted: tests check behaviour, the bench measures time)
    expect(Math.max(0, ...openTasks, ...stepTasks)).toBeLessThan(verified / 2);
    // the CFG: only the subprogram holding the selection drawn, its selected block in view, text at its size
    const cfg = page.locator('[data-testid=ex-cfg]');
    await expect(cfg.locator('details[open]').count()).resolves.toBe(1);
    await expect(cfg.locator('details[open]').getAttribute('data-sub')).resolves.toBe(String(big().cfg.at(-1)!.start));
    await expect(cfg.locator('details').count()).resolves.toBe(5);
    const view = await cfg.evaluate((pane) => {
      const box = pane.getBoundingClientRect();
      const sel = pane.querySelector('.cfg-node.cfg-sel')!.getBoundingClientRect();
      const text = pane.querySelector('.cfg-node text')!.getBoundingClientRect();
      return { inView: sel.top >= box.top && sel.bottom <= box.bottom, textHeight: text.height };
    });
    expect(view.inView).toBe(true);
    // a bounded part of the subprogram's 496 blocks is drawn, the one holding the selection
    await expect(cfg.locator('details[open] .cfg-node').count()).resolves.toBeLessThanOrEqual(120);
    expect(view.textHeight).toBeGreaterThanOrEqual(10);
    await page.screenshot({ path: join(shots, 'explorer-4k.png') });
    // fit: the whole subprogram's graph in the pane's height, an overview
    await page.locator('[data-testid=ex-zoom-fit]').click();
    const fit = await cfg.evaluate((pane) => ({ pane: pane.clientHeight, svg: pane.querySelector('details[open] svg.cfg')!.getBoundingClientRect().height }));
    expect(fit.svg).toBeLessThanOrEqual(fit.pane);
    await cfg.screenshot({ path: join(shots, 'explorer-4k-cfg-fit.png') });
    await page.locator('[data-testid=ex-zoom-1]').click();
  }, 600_000);

  it('follows the dark theme (the system setting and the switch) with readable colours', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1600, height: 1000 }, colorScheme: 'light' });
    const p = await ctx.newPage();
    try {
      await p.goto(`${base}/explorer`);
      await expect.poll(() => p.locator('[data-testid=ex-verdict]').textContent(), { timeout: 30_000 }).toBe('rejected');
      await p.locator('[data-testid=ex-error]').click();
      const colours = () =>
        p.evaluate(() => {
          const rgb = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
          /** The background a box shows: its own, else the first ancestor's that is not transparent. */
          const bg = (e: Element | null): string => {
            for (; e; e = e.parentElement) {
              const c = getComputedStyle(e).backgroundColor;
              if ((rgb(c)[3] ?? 1) > 0) return c;
            }
            return getComputedStyle(document.documentElement).backgroundColor;
          };
          const lum = (c: string): number => {
            const [r, g, b] = rgb(c).slice(0, 3).map((v) => {
              const s = v / 255;
              return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
            });
            return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
          };
          const contrast = (a: string, b: string): number => {
            const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m);
            return (x! + 0.05) / (y! + 0.05);
          };
          const insn = document.querySelector('.ex-insn:not(.sel):not(.rej):not(.chain):not(.unseen)')!;
          const rej = document.querySelector('.ex-insn.rej')!;
          const node = document.querySelector('.cfg-node text')!;
          const page = bg(document.querySelector('.ex-listing'));
          return {
            dark: document.documentElement.classList.contains('dark'),
            page,
            text: getComputedStyle(insn).color,
            rejMark: getComputedStyle(rej).borderLeftColor,
            cfgText: getComputedStyle(node).fill,
            textContrast: contrast(getComputedStyle(insn).color, page),
            rejContrast: contrast(getComputedStyle(rej).borderLeftColor, page),
            verdictContrast: contrast(getComputedStyle(document.querySelector('[data-testid=ex-verdict]')!).color, bg(document.querySelector('[data-testid=ex-verdict]'))),
          };
        });
      const light = await colours();
      await p.emulateMedia({ colorScheme: 'dark' });
      await expect.poll(() => p.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(true);
      const dark = await colours();
      await p.screenshot({ path: join(shots, 'explorer-dark.png') });
      expect(light.dark).toBe(false);
      for (const k of ['page', 'text', 'rejMark', 'cfgText'] as const) expect(dark[k], k).not.toBe(light[k]);
      for (const c of [light, dark]) {
        // WCAG AA: 4.5 for text, 3 for a mark that carries meaning
        expect(c.textContrast).toBeGreaterThanOrEqual(4.5);
        expect(c.verdictContrast).toBeGreaterThanOrEqual(4.5);
        expect(c.rejContrast).toBeGreaterThanOrEqual(3);
      }
      // the theme switch in the navigation bar turns it back
      await p.locator('.VPNavBar .VPSwitchAppearance').first().click();
      await expect.poll(() => p.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(false);
      await expect(colours()).resolves.toMatchObject({ page: light.page, text: light.text, rejMark: light.rejMark });
    } finally {
      await ctx.close();
    }
  });
});
