/**
 * Fuzz targets: every parser and entry point, each with an input generator (fast-check
 * arbitraries built from valid seeds and mutations of them) and the typed error classes it may
 * throw. Anything else thrown — or an input that takes too long — is a finding.
 */
import fc from 'fast-check';
import { assemble, decode, encode, formatInsn, IsaError, parseHex } from '@bpf/isa';
import { randomProgram } from './gen.js';

export interface FuzzTarget<T = unknown> {
  readonly name: string;
  readonly input: fc.Arbitrary<T>;
  /** Run the entry point; returning normally or throwing an allowed error is a pass. */
  run(input: T): void;
  /** Error class names this target may throw. */
  readonly allowed: readonly string[];
}

/** Bytes: random, or a valid program's bytes with a few positions overwritten / truncated. */
export const programBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc
    .tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat({ max: 16 }))
    .map(([seed, edits, cut]) => {
      const b = encode(randomProgram(seed, { size: 12 }).insns);
      for (const [at, v] of edits) b[at % b.length] = v;
      return b.subarray(0, Math.max(0, b.length - cut));
    }),
);

const ASM_WORDS = ['r0', 'r1', 'w2', 'r10', 'r11', '=', '+=', '-', '*(u64 *)', '(r10 - 8)', 'goto', 'if', '<', 's>', 'call', 'exit', 'lock', 'll', '0x7fffffff', '-1', ':', 'l1', '.func', '.kfunc', '(', ')', ',', 'u64', '\n', '#', 'bswap16', 'may_goto', 'gotol'];

/** Assembly text: random words, or a valid program's text with edits. */
export const asmText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.array(fc.constantFrom(...ASM_WORDS), { maxLength: 40 }).map((w) => w.join(' ')),
  fc.tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.nat(), fc.string({ maxLength: 6 })).map(([seed, at, junk]) => {
    const p = randomProgram(seed, { size: 8 });
    const lines: string[] = [];
    for (let i = 0; i < p.insns.length; i++) {
      lines.push(formatInsn(p.insns, i, { syntax: 'llvm' }));
      if (p.insns[i]!.code === 0x18) i++;
    }
    const text = lines.join('\n');
    const k = at % (text.length + 1);
    return text.slice(0, k) + junk + text.slice(k);
  }),
);

export const isaTargets: readonly FuzzTarget[] = [
  {
    name: 'isa.decode',
    input: programBytes,
    run: (b) => void decode(b as Uint8Array),
    allowed: ['IsaError'],
  },
  {
    name: 'isa.decode-big-endian',
    input: programBytes,
    run: (b) => void decode(b as Uint8Array, { endian: 'big' }),
    allowed: ['IsaError'],
  },
  {
    name: 'isa.assemble',
    input: asmText,
    run: (t) => void assemble(t as string),
    allowed: ['IsaError'],
  },
  {
    name: 'isa.parseHex',
    input: fc.string({ maxLength: 100 }),
    run: (t) => void parseHex(t as string),
    allowed: ['IsaError'],
  },
  {
    name: 'isa.disassemble-any-slot',
    input: programBytes,
    run: (b) => {
      const insns = decode(b as Uint8Array, { strict: false });
      for (let i = 0; i < insns.length; i++) {
        formatInsn(insns, i, { syntax: 'llvm' });
        formatInsn(insns, i, { syntax: 'kernel' });
      }
    },
    allowed: ['IsaError'],
  },
];

export interface FuzzReport {
  readonly target: string;
  readonly inputs: number;
  readonly crashes: number;
  readonly slow: number;
  readonly firstCrash?: { readonly input: string; readonly error: string };
}

const show = (x: unknown): string =>
  x instanceof Uint8Array ? Buffer.from(x).toString('hex') : typeof x === 'string' ? JSON.stringify(x) : JSON.stringify(x);

/** Run a target on `runs` inputs from a fixed seed; count crashes (disallowed errors) and slow inputs. */
export function fuzz(target: FuzzTarget, runs: number, seed = 42, slowMs = 1000): FuzzReport {
  let inputs = 0;
  let crashes = 0;
  let slow = 0;
  let firstCrash: FuzzReport['firstCrash'];
  fc.assert(
    fc.property(target.input, (x) => {
      inputs++;
      const t0 = performance.now();
      try {
        target.run(x);
      } catch (e) {
        const name = e instanceof Error ? e.name : typeof e;
        if (!target.allowed.includes(name)) {
          crashes++;
          firstCrash ??= { input: show(x), error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
        }
      }
      if (performance.now() - t0 > slowMs) slow++;
    }),
    { numRuns: runs, seed },
  );
  return { target: target.name, inputs, crashes, slow, ...(firstCrash ? { firstCrash } : {}) };
}

export { IsaError };
