/**
 * The kernel-recorded corpus (fixtures/kernel/corpus.json, written by
 * packages/kernel/scripts/record-fixtures.mjs) and the `Program` each case was made from, so
 * every layer compares itself with the kernel without clang or the kernel at hand.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir } from './index.js';

/** Kept free of @bpf/isa (which tests with this package): plain shapes of its types. */
interface MapRecord {
  readonly name: string;
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
  /** Initial contents, hex. */
  readonly data?: string;
}
type RelocRecord =
  | { readonly insn: number; readonly kind: 'kfunc' | 'ksym' | 'map' | 'subprog'; readonly name: string }
  | { readonly insn: number; readonly kind: 'map_value'; readonly name: string; readonly offset: number };

export interface KernelStatsRecord {
  readonly processedInsns: number;
  readonly totalStates: number;
  readonly peakStates: number;
  readonly maxStatesPerInsn: number;
  readonly verificationTimeUsec?: number;
}

export interface KernelCase {
  /** `asm/kernel/x.s`, `conformance/x.data`, `random/N` or `c/progs/file.v3.o#prog`. */
  readonly name: string;
  readonly type: string;
  readonly expectedAttachType?: string;
  /** The program's instructions as loaded (map references not yet fds), hex. */
  readonly insns: string;
  readonly maps?: readonly MapRecord[];
  readonly relocs?: readonly RelocRecord[];
  /** BTF func_info of C programs with subprograms (the kernel needs it for callbacks). */
  readonly funcInfo?: readonly { readonly insnOff: number; readonly typeId: number }[];
  readonly accepted: boolean;
  readonly errno: number;
  readonly error: string | null;
  readonly stats: KernelStatsRecord | null;
  readonly xlated: string | null;
  readonly jitedLen: number | null;
  readonly retval: number | null;
  /** The packet given to BPF_PROG_TEST_RUN and what came back (C programs). */
  readonly dataIn?: string;
  readonly dataOut?: string;
  readonly log: string;
  readonly logTruncated?: boolean;
}

interface CorpusFile {
  readonly cases: readonly KernelCase[];
  /** Each C object's BTF (as the kernel was given it with its programs), hex, by object file name (`strings.v3.o`). */
  readonly btf?: Readonly<Record<string, string>>;
}

let cached: CorpusFile | undefined;
const corpusFile = (): CorpusFile => (cached ??= JSON.parse(readFileSync(join(fixturesDir, 'kernel/corpus.json'), 'utf8')) as CorpusFile);

/** Every recorded case. */
export function kernelCorpus(): readonly KernelCase[] {
  return corpusFile().cases;
}

/** What a case was recorded from: assembly text, or instructions with their maps. */
export type CorpusSource =
  | { readonly kind: 'asm'; readonly text: string; readonly type: string }
  | {
      readonly kind: 'insns';
      readonly bytes: Uint8Array;
      readonly type: string;
      readonly expectedAttachType?: string;
      readonly maps: readonly (Omit<MapRecord, 'data'> & { readonly data?: Uint8Array })[];
      readonly relocs: readonly RelocRecord[];
      readonly funcInfo?: readonly { readonly insnOff: number; readonly typeId: number }[];
      /** The object's BTF, which funcInfo's type ids index (C programs). */
      readonly btf?: Uint8Array;
    };

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** The source of a case: `assemble(text)` or `decode(bytes)` it with @bpf/isa. */
export function corpusSource(c: KernelCase): CorpusSource {
  if (c.name.startsWith('asm/')) return { kind: 'asm', type: c.type, text: readFileSync(join(fixturesDir, c.name), 'utf8') };
  if (c.name.startsWith('conformance/'))
    return { kind: 'asm', type: c.type, text: readFileSync(join(fixturesDir, c.name), 'utf8').split('-- asm\n')[1]!.split(/^-- /m)[0]! };
  const object = /^c\/progs\/(.*)#/.exec(c.name)?.[1];
  const objectBtf = object === undefined ? undefined : corpusFile().btf?.[object];
  return {
    kind: 'insns',
    bytes: hex(c.insns),
    type: c.type,
    ...(c.expectedAttachType ? { expectedAttachType: c.expectedAttachType } : {}),
    maps: (c.maps ?? []).map(({ data, ...m }) => ({ ...m, ...(data ? { data: hex(data) } : {}) })),
    relocs: c.relocs ?? [],
    ...(c.funcInfo ? { funcInfo: c.funcInfo } : {}),
    ...(objectBtf ? { btf: hex(objectBtf) } : {}),
  };
}

/**
 * A level-2 log reduced to what both sides print the same way: instruction lines, the state
 * after each (whether on the instruction's line after `;` or on a line of its own after the
 * precision-backtracking lines), the `mark_precise:` and `propagating` lines of precision
 * tracking with the `P` marks of checkpoint states, "from X to Y" and "safe" lines, and the
 * stack liveness trace (`(0) frame 0 insn 6 +live -8`). Left out: source lines, the kernel's
 * live-registers tables and SCC lines, the lines around BPF-to-BPF calls, and map addresses in
 * ld_imm64 (in instruction and mark_precise lines).
 */
export function normaliseKernelLog(log: string): string[] {
  const lines: string[] = [];
  for (const raw of log.split('\n')) {
    if (raw === '' || /^(; |func#|Live regs|processed|SCC|caller:|callee:|returning from|to caller|\s)/.test(raw)) continue;
    const l = raw.replace(/^(\d+: \(18\) r\d+ = ).*$/, '$1X').replace(/^(mark_precise: .* before \d+: \(18\) r\d+ = ).*$/, '$1X');
    const m = /^(\d+: \([0-9a-f]{2}\) .*?)\s+;(.*)$/.exec(l);
    if (m) lines.push(m[1]!.trimEnd(), `  ;${m[2]}`);
    else if (/^\d+:( |$)/.test(l) && !/^\d+: \(/.test(l) && /^\d+: \(/.test(lines[lines.length - 1] ?? '')) lines.push(`  ;${l.replace(/^\d+:/, '')}`);
    else lines.push(l.trimEnd());
  }
  return lines;
}

/**
 * Our normalised log against the kernel's. A log too long for the recorder keeps its head and
 * tail around a `...` line, each cut in the middle of a line: those are compared with ours'.
 */
export function compareKernelLog(c: KernelCase, ours: string): { same: boolean; ours: string[]; kernel: string[] } {
  let kernel = normaliseKernelLog(c.log);
  let mine = normaliseKernelLog(ours);
  const cut = kernel.indexOf('...');
  if (c.logTruncated && cut >= 0) {
    const head = kernel.slice(0, cut - 1);
    const tail = kernel.slice(cut + 2);
    kernel = [...head, '...', ...tail];
    mine = [...mine.slice(0, head.length), '...', ...mine.slice(mine.length - tail.length)];
  }
  return { same: JSON.stringify(mine) === JSON.stringify(kernel), ours: mine, kernel };
}
