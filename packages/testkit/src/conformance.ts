/**
 * The conformance suite shared by the interpreter and both JITs (fixtures/conformance, format
 * in its README): one file per case with `-- asm`, optional `-- mem`, and `-- result` or
 * `-- error`; tail-call cases add `-- prog NAME` (another program) and `-- prog-array MAP`
 * (the slots of a prog array: program names, `-` for an empty slot).
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
  /** Further programs (tail-call targets), by name, in file order. */
  readonly progs?: readonly { readonly name: string; readonly asm: string }[];
  /** Prog-array contents by map name: each slot's program (`main` or a `-- prog` name), null when empty. */
  readonly progArrays?: Readonly<Record<string, readonly (string | null)[]>>;
}

const hexBytes = (t: string): Uint8Array => Uint8Array.from((t.replace(/#.*$/gm, '').match(/[0-9a-fA-F]{2}/g) ?? []).map((h) => parseInt(h, 16)));

export function parseConformance(name: string, text: string): ConformanceCase {
  const sections = new Map<string, string>();
  const desc: string[] = [];
  let current: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^-- (\S+(?: \S+)?)\s*$/.exec(line);
    if (m) {
      current = m[1]!;
      if (sections.has(current)) throw new Error(`${name}: section '-- ${current}' appears twice`);
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
  const progs = [...sections].filter(([k]) => k.startsWith('prog ')).map(([k, v]) => ({ name: k.slice(5), asm: v }));
  const arrays = [...sections].filter(([k]) => k.startsWith('prog-array ')).map(([k, v]) => {
    const slots = v.replace(/#.*$/gm, '').split(/\s+/).filter(Boolean).map((t) => (t === '-' ? null : t));
    for (const t of slots) if (t !== null && t !== 'main' && !progs.some((p) => p.name === t)) throw new Error(`${name}: prog array slot names '${t}', which is no '-- prog'`);
    return [k.slice(11), slots] as const;
  });
  return {
    name,
    description: desc.join(' '),
    asm,
    ...(mem !== undefined ? { mem: hexBytes(mem) } : {}),
    ...(result !== undefined ? { result: BigInt.asUintN(64, BigInt(result)) } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(after !== undefined ? { memAfter: hexBytes(after) } : {}),
    ...(progs.length ? { progs } : {}),
    ...(arrays.length ? { progArrays: Object.fromEntries(arrays) } : {}),
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

/**
 * The tail-call setup of a case in the form engines take: the programs by index (0 = main,
 * then the `-- prog` sections in order) and each prog array's slots as indices (-1 = empty).
 */
export function conformanceTailCalls(c: ConformanceCase): { readonly names: readonly string[]; readonly progArrays: Readonly<Record<string, readonly number[]>> } {
  const names = ['main', ...(c.progs ?? []).map((p) => p.name)];
  const progArrays = Object.fromEntries(Object.entries(c.progArrays ?? {}).map(([m, slots]) => [m, slots.map((s) => (s === null ? -1 : names.indexOf(s)))]));
  return { names, progArrays };
}
