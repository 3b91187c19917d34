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

let cached: readonly KernelCase[] | undefined;

/** Every recorded case. */
export function kernelCorpus(): readonly KernelCase[] {
  cached ??= (JSON.parse(readFileSync(join(fixturesDir, 'kernel/corpus.json'), 'utf8')) as { cases: KernelCase[] }).cases;
  return cached;
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
    };

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** The source of a case: `assemble(text)` or `decode(bytes)` it with @bpf/isa. */
export function corpusSource(c: KernelCase): CorpusSource {
  if (c.name.startsWith('asm/')) return { kind: 'asm', type: c.type, text: readFileSync(join(fixturesDir, c.name), 'utf8') };
  if (c.name.startsWith('conformance/'))
    return { kind: 'asm', type: c.type, text: readFileSync(join(fixturesDir, c.name), 'utf8').split('-- asm\n')[1]!.split(/^-- /m)[0]! };
  return {
    kind: 'insns',
    bytes: hex(c.insns),
    type: c.type,
    ...(c.expectedAttachType ? { expectedAttachType: c.expectedAttachType } : {}),
    maps: (c.maps ?? []).map(({ data, ...m }) => ({ ...m, ...(data ? { data: hex(data) } : {}) })),
    relocs: c.relocs ?? [],
    ...(c.funcInfo ? { funcInfo: c.funcInfo } : {}),
  };
}
