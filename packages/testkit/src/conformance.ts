/**
 * The conformance suite shared by the interpreter and both JITs (fixtures/conformance, format
 * in its README): one file per case with `-- asm`, optional `-- mem`, and `-- result` or
 * `-- error`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir } from './index.js';

export interface ConformanceCase {
  readonly name: string;
  readonly description: string;
  readonly asm: string;
  readonly mem?: Uint8Array;
  /** Expected r0. */
  readonly result?: bigint;
  /** Expected VmError code. */
  readonly error?: string;
  readonly memAfter?: Uint8Array;
}

const hexBytes = (t: string): Uint8Array => Uint8Array.from((t.replace(/#.*$/gm, '').match(/[0-9a-fA-F]{2}/g) ?? []).map((h) => parseInt(h, 16)));

export function parseConformance(name: string, text: string): ConformanceCase {
  const sections = new Map<string, string>();
  const desc: string[] = [];
  let current: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^-- (\S+)\s*$/.exec(line);
    if (m) {
      current = m[1]!;
      sections.set(current, '');
    } else if (current === null) {
      if (line.startsWith('#')) desc.push(line.replace(/^#\s?/, ''));
    } else sections.set(current, sections.get(current)! + line + '\n');
  }
  const asm = sections.get('asm');
  if (asm === undefined) throw new Error(`${name}: no '-- asm' section`);
  const result = sections.get('result')?.trim();
  const error = sections.get('error')?.trim();
  if ((result === undefined) === (error === undefined)) throw new Error(`${name}: exactly one of '-- result' and '-- error' is needed`);
  const mem = sections.get('mem');
  const after = sections.get('mem-after');
  return {
    name,
    description: desc.join(' '),
    asm,
    ...(mem !== undefined ? { mem: hexBytes(mem) } : {}),
    ...(result !== undefined ? { result: BigInt.asUintN(64, BigInt(result)) } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(after !== undefined ? { memAfter: hexBytes(after) } : {}),
  };
}

/** Every case of fixtures/conformance, sorted by name. */
export function loadConformance(): ConformanceCase[] {
  const dir = join(fixturesDir, 'conformance');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.data'))
    .sort()
    .map((f) => parseConformance(f.replace(/\.data$/, ''), readFileSync(join(dir, f), 'utf8')));
}
