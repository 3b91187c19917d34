/**
 * The stack-arguments reference (apps/docs/stack-args.md) quotes real output: its §5 listings
 * are excerpts of what both JITs emit for the page's own `sum9` program, its §1 example returns
 * what it says, and every message of its §8 table is one our layers print. When a JIT's code or
 * a message changes, these tests name the line of the page to update.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemble } from '@bpf/isa';
import { formatArm64, jitArm64 } from '@bpf/jit-arm64';
import { formatX86, jitX86 } from '@bpf/jit-x86';
import { repoRoot } from '@bpf/testkit';
import { run } from '@bpf/vm';
import { describe, expect, it } from 'vitest';

const pagePath = 'apps/docs/stack-args.md';
const page = readFileSync(join(repoRoot, pagePath), 'utf8');

/** The page's fenced code blocks, with the 1-based line of their first content line. */
function blocks(): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const lines = page.split('\n');
  for (let k = 0; k < lines.length; k++) {
    if (!lines[k]!.startsWith('```')) continue;
    const start = k + 1;
    let end = start;
    while (end < lines.length && !lines[end]!.startsWith('```')) end++;
    out.push({ line: start + 1, text: lines.slice(start, end).join('\n') });
    k = end;
  }
  return out;
}
const program = (head: string): string => {
  const b = blocks().find((x) => x.text.startsWith(head));
  if (!b) throw new Error(`${pagePath} has no code block starting with ${head}`);
  return b.text;
};
const norm = (l: string): string => l.trim().replace(/\s+/g, ' ');

/** Every listing line of the block after `heading`, checked against the JIT's own lines. */
function checkListing(marker: string, actual: readonly string[]): void {
  const b = blocks().find((x) => x.text.includes(marker));
  if (!b) throw new Error(`${pagePath} has no listing with ${marker}`);
  const have = new Set(actual.map(norm));
  const stale: string[] = [];
  b.text.split('\n').forEach((l, k) => {
    if (l.startsWith(';') || l.trim() === '') return;
    const code = l.split(/\s;\s/)[0]!;
    if (!have.has(norm(code))) stale.push(`${pagePath}:${b.line + k}: ${code.trim()}`);
  });
  expect(stale, `listing lines the JIT no longer emits; update them from its output:\n${actual.join('\n')}`).toEqual([]);
}

describe('the stack-arguments reference quotes real output', () => {
  const sum9 = assemble(program('.func sum9'));

  it('§5: the sum9 program returns 31 in the interpreter', () => {
    expect(run(sum9).r0).toBe(31n);
  });

  it('§5.1: every x86-64 listing line is what the x86-64 JIT emits', () => {
    checkListing('mov r9d, 0x6', formatX86(jitX86(sum9).listing));
  });

  it('§5.2: every arm64 listing line is what the arm64 JIT emits', () => {
    checkListing('stp x29, x30', formatArm64(jitArm64(sum9).listing));
  });

  it('§1: the seven-argument example returns 28', () => {
    expect(run(assemble(program('.func sum7'))).r0).toBe(28n);
  });

  it('§8: every message in the table appears in the layer that prints it', () => {
    const sources = ['packages/isa/src/check.ts', 'packages/verifier/src/verify.ts', 'packages/verifier/src/calls.ts', 'packages/vm/src/interp.ts']
      .map((f) => readFileSync(join(repoRoot, f), 'utf8'))
      .join('\n');
    const table = page.slice(page.indexOf('## 8. Messages'), page.indexOf('## 9.'));
    const messages = [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
    expect(messages.length).toBeGreaterThan(10);
    // numbers and names are what a template fills in: the fixed words around them, in order, on one source line
    const pattern = (m: string): RegExp =>
      new RegExp(m.split(/-?\d+|\bf\b|\bNAME\b|\bSTRUCT\b|\*\(R11-8\)/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?'));
    const missing = messages.filter((m) => !pattern(m).test(sources));
    expect(missing).toEqual([]);
  });
});
