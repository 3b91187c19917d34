/**
 * The verifier explorer's engine: assembly, an ELF object or a kernel verifier log in, a
 * listing, the verifier's trace (or the log's, parsed) and a control-flow graph per
 * subprogram out. Pure (no DOM): the page runs it in a Web Worker and the tests in Node.
 */
import { assemble, formatInsn, type Program, type ProgType } from '@bpf/isa';
import { loadPrograms } from '@bpf/elf';
import { parseKernelLog, verify, type Trace, type TraceExplained, type TraceState } from '@bpf/verifier';

export type ExplorerInput =
  | { readonly kind: 'asm'; readonly text: string; readonly type?: ProgType }
  | { readonly kind: 'elf'; readonly bytes: Uint8Array; readonly program?: string }
  | { readonly kind: 'log'; readonly text: string };

export interface ListingLine {
  readonly pc: number;
  /** Opcode byte. */
  readonly code: number;
  /** The instruction in the kernel log's syntax. */
  readonly text: string;
  /** C source line (line_info of an object, or the log's `; ...` line). */
  readonly source?: string;
}

export interface CfgBlock {
  readonly id: number;
  readonly start: number;
  /** Last instruction of the block (inclusive). */
  readonly end: number;
  readonly succ: readonly number[];
}

export interface SubprogCfg {
  readonly start: number;
  readonly end: number;
  readonly blocks: readonly CfgBlock[];
}

export interface ExplorerModel {
  readonly source: 'verifier' | 'kernel-log';
  readonly listing: readonly ListingLine[];
  readonly trace: Trace;
  readonly accepted: boolean;
  readonly error?: { readonly insn: number; readonly message: string };
  readonly cfg: readonly SubprogCfg[];
  /** Programs of an ELF object (the one shown is `program`). */
  readonly programs?: readonly string[];
  readonly program?: string;
  readonly processed: number;
}

export class ExplorerError extends Error {
  constructor(
    readonly code: 'assemble' | 'elf' | 'log',
    message: string,
  ) {
    super(message);
  }
}

/** A jump's or a BPF-to-BPF call's target from the kernel-syntax text (`goto pc+2`, `call pc+5`). */
const targetOf = (l: ListingLine): number | undefined => {
  const m = /(?:goto|call) pc([+-]\d+)/.exec(l.text);
  return m ? l.pc + Number(m[1]) + 1 : undefined;
};
const isExit = (l: ListingLine): boolean => l.code === 0x95;
const isJa = (l: ListingLine): boolean => l.code === 0x05 || l.code === 0x06;
const isCond = (l: ListingLine): boolean => ((l.code & 7) === 5 || (l.code & 7) === 6) && !isJa(l) && l.code !== 0x85 && l.code !== 0x95 && /goto/.test(l.text);
const isCall = (l: ListingLine): boolean => l.code === 0x85 && /call pc/.test(l.text);

/** Basic blocks and edges of each subprogram (a subprogram starts at 0 and at each call target). */
export function buildCfg(listing: readonly ListingLine[]): SubprogCfg[] {
  if (!listing.length) return [];
  const byPc = new Map(listing.map((l) => [l.pc, l]));
  const starts = new Set<number>([listing[0]!.pc]);
  for (const l of listing) if (isCall(l)) starts.add(targetOf(l)!);
  const subStarts = [...starts].sort((a, b) => a - b);
  const last = listing[listing.length - 1]!.pc;
  return subStarts.map((start, k) => {
    const end = (subStarts[k + 1] ?? last + 1) - 1;
    const lines = listing.filter((l) => l.pc >= start && l.pc <= end);
    const leaders = new Set<number>([start]);
    lines.forEach((l, n) => {
      const next = lines[n + 1]?.pc;
      if (isCond(l) || isJa(l)) {
        const t = targetOf(l);
        if (t !== undefined) leaders.add(t);
        if (next !== undefined) leaders.add(next);
      } else if (isExit(l) && next !== undefined) leaders.add(next);
    });
    const sorted = [...leaders].filter((p) => byPc.has(p) && p >= start && p <= end).sort((a, b) => a - b);
    const blockAt = new Map(sorted.map((p, id) => [p, id]));
    const blocks = sorted.map((s, id): CfgBlock => {
      const bl = lines.filter((l) => l.pc >= s && l.pc < (sorted[id + 1] ?? end + 1));
      const tail = bl[bl.length - 1]!;
      const succ: number[] = [];
      const fall = sorted[id + 1];
      const t = targetOf(tail);
      if (isJa(tail)) {
        if (t !== undefined && blockAt.has(t)) succ.push(blockAt.get(t)!);
      } else if (!isExit(tail)) {
        if (fall !== undefined) succ.push(id + 1);
        if (isCond(tail) && t !== undefined && blockAt.has(t)) succ.push(blockAt.get(t)!);
      }
      return { id, start: s, end: tail.pc, succ };
    });
    return { start, end, blocks };
  });
}

function listingOf(p: Program): ListingLine[] {
  // As the kernel prints line_info in a verifier log (kernel/bpf/log.c verbose_linfo): the
  // line with leading blanks dropped, ` @ `, the file's base name, `:line`; a record naming the
  // same file and line as the one before it is not repeated (records differing by column only).
  const src = new Map<number, string>();
  let prev = '';
  for (const li of p.lineInfo ?? []) {
    if (!li.source) continue;
    const key = `${li.fileName ?? ''}:${li.line}`;
    if (key === prev) continue;
    prev = key;
    src.set(li.insnOff, `${li.source.trimStart()} @ ${(li.fileName ?? '').replace(/^.*\//, '')}:${li.line}`);
  }
  const out: ListingLine[] = [];
  for (let pc = 0; pc < p.insns.length; pc++) {
    const i = p.insns[pc]!;
    const s = src.get(pc);
    // the opcode byte is its own field, as in a kernel log's listing
    out.push({ pc, code: i.code, text: formatInsn(p.insns, pc, { syntax: 'kernel' }).replace(/^\([0-9a-f]{2}\) /, ''), ...(s ? { source: s } : {}) });
    if (i.code === 0x18) pc++;
  }
  return out;
}

/** The program an input opens (assembly, or the chosen program of an object); undefined for a kernel log. */
function programOf(input: ExplorerInput): { program: Program; extra: { programs?: readonly string[]; program?: string } } | undefined {
  if (input.kind === 'asm') {
    try {
      return { program: { ...assemble(input.text), type: input.type ?? 'socket_filter' }, extra: {} };
    } catch (e) {
      throw new ExplorerError('assemble', (e as Error).message);
    }
  }
  if (input.kind === 'elf') {
    let progs: (Program & { readonly name: string })[];
    try {
      progs = loadPrograms(input.bytes);
    } catch (e) {
      throw new ExplorerError('elf', (e as Error).message);
    }
    if (!progs.length) throw new ExplorerError('elf', 'the object has no programs');
    const chosen = progs.find((p) => p.name === input.program) ?? progs[0]!;
    return { program: chosen, extra: { programs: progs.map((p) => p.name), program: chosen.name } };
  }
  return undefined;
}

/**
 * "Where did this value come from": the instructions the value of register `reg` before step
 * `step` came from, by the verifier's own backward walk (a second verification, traced up to
 * that step). Undefined for a kernel log, which holds no such data, or a step never reached.
 */
export function explainValue(input: ExplorerInput, step: number, reg: number): TraceExplained | undefined {
  const p = programOf(input);
  if (!p) return undefined;
  return verify(p.program, { trace: { maxSteps: step + 1, explain: { step, regs: [reg] } }, logLevel: 0 }).trace?.explained;
}

function fromProgram(p: Program, extra: { programs?: readonly string[]; program?: string } = {}): ExplorerModel {
  const r = verify(p, { trace: true, logLevel: 0 });
  const listing = listingOf(p);
  return {
    source: 'verifier',
    listing,
    trace: r.trace!,
    accepted: r.accepted,
    ...(r.error ? { error: r.error } : {}),
    cfg: buildCfg(listing),
    ...extra,
    processed: r.stats.processedInsns,
  };
}

/** Opens assembly, an ELF object or a kernel log. Bad input throws an ExplorerError naming the place. */
export function explore(input: ExplorerInput): ExplorerModel {
  const p = programOf(input);
  if (p) return fromProgram(p.program, p.extra);
  if (input.kind !== 'log') throw new ExplorerError('elf', 'nothing to open');
  const t = parseKernelLog(input.text);
  if (!t.listing.length) throw new ExplorerError('log', 'no instruction lines (`N: (op) ...`) in the log: is it a verifier log at level 1 or 2?');
  const listing = t.listing.map((l) => ({ pc: l.pc, code: l.code, text: l.text, ...(l.source ? { source: l.source } : {}) }));
  return {
    source: 'kernel-log',
    listing,
    trace: t,
    accepted: !t.rejection,
    ...(t.rejection ? { error: { insn: t.rejection.pc, message: t.rejection.message } } : {}),
    cfg: buildCfg(listing),
    processed: t.processed ?? t.steps.length,
  };
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The register and stack states of one step, which the page receives apart from the model. */
export interface StepStates {
  readonly before?: TraceState;
  readonly after?: TraceState;
}

/**
 * The model without its per-step states (and the states of pruned paths, which the page does
 * not show), and those states by step index. A 4k-instruction program's trace is megabytes of
 * states: sent in one message, the page's thread would spend a long task decoding it; the
 * worker sends the model first and the states in slices (`STATE_SLICE` steps per message).
 */
export function splitStates(m: ExplorerModel): { readonly model: ExplorerModel; readonly states: readonly StepStates[] } {
  const states = m.trace.steps.map((s) => ({ ...(s.before ? { before: s.before } : {}), ...(s.after ? { after: s.after } : {}) }));
  const steps = m.trace.steps.map(({ before: _b, after: _a, ...rest }) => rest);
  const prunes = m.trace.prunes.map(({ state: _s, ...rest }) => rest);
  return { model: { ...m, trace: { ...m.trace, steps, prunes } }, states };
}
export const STATE_SLICE = 200;

/** The block of `cfg` holding instruction `pc`, if any. */
export const blockOf = (cfg: SubprogCfg, pc: number): CfgBlock | undefined => cfg.blocks.find((b) => pc >= b.start && pc <= b.end);

/**
 * A subprogram's CFG as SVG: blocks top to bottom in instruction order, forward jumps on the
 * right, back edges (loops) on the left, each edge in a lane by its length (longer edges
 * further out, so nested jumps do not cross); blocks a path ran are filled, the number of
 * states that reached each block's first instruction beside it, the rejecting block and the
 * why-chain's blocks marked. The page marks the selected block itself (class `cfg-sel` on the
 * block's `g[data-pc]`) so that stepping does not redraw the picture. The SVG has no fixed
 * size: its width is `--cfg-zoom` (default 1) times its natural width, its height follows.
 */
export function cfgSvg(
  cfg: SubprogCfg,
  opts: {
    visits: ReadonlyMap<number, number>;
    selected?: number;
    rejected?: number;
    chain?: ReadonlySet<number>;
    /** Draw only blocks `from` to `to - 1` (a big subprogram's part around the selection); edges leaving it end in a label naming their target. */
    window?: { readonly from: number; readonly to: number };
  },
): string {
  const W = 150;
  const H = 26;
  const GAP = 16;
  const LANES = 8;
  const LANE = 8;
  const X = 14 + LANES * LANE + 8;
  const lane = (span: number): number => 14 + LANE * Math.min(LANES - 1, Math.floor(Math.log2(Math.max(1, span))));
  const from = opts.window?.from ?? 0;
  const to = Math.min(cfg.blocks.length, opts.window?.to ?? cfg.blocks.length);
  const y = (id: number): number => 10 + (id - from) * (H + GAP);
  const width = X + W + 14 + LANES * LANE + 8;
  const height = y(to) + 10;
  const inBlock = (pc: number | undefined, b: CfgBlock): boolean => pc !== undefined && pc >= b.start && pc <= b.end;
  let edges = '';
  let nodes = '';
  for (const b of cfg.blocks.slice(from, to)) {
    for (const s of b.succ) {
      const t = cfg.blocks[s]!;
      if (s < from || s >= to) {
        // out of the drawn part: a stub and the target's first instruction
        const out = s < from ? '↑' : '↓';
        edges += `<line x1="${X + W}" y1="${y(b.id) + H / 2}" x2="${X + W + 12}" y2="${y(b.id) + H / 2}" class="cfg-edge"/><text x="${X + W + 14}" y="${y(b.id) + H / 2 + 4}" class="cfg-count cfg-out" data-pc="${t.start}">${out}${t.start}</text>`;
      } else if (s === b.id + 1) edges += `<line x1="${X + W / 2}" y1="${y(b.id) + H}" x2="${X + W / 2}" y2="${y(s)}" class="cfg-edge" marker-end="url(#arr)"/>`;
      else {
        const back = t.start <= b.start;
        const d = lane(Math.abs(s - b.id));
        const x0 = back ? X : X + W;
        const xl = back ? X - d : X + W + d;
        edges += `<path d="M${x0} ${y(b.id) + H / 2} C${xl} ${y(b.id) + H / 2} ${xl} ${y(s) + H / 2} ${x0} ${y(s) + H / 2}" class="cfg-edge ${back ? 'cfg-back' : ''}" fill="none" marker-end="url(#arr)"/>`;
      }
    }
    const n = opts.visits.get(b.start) ?? 0;
    const cls = ['cfg-node', n ? 'cfg-seen' : '', inBlock(opts.selected, b) ? 'cfg-sel' : '', inBlock(opts.rejected, b) ? 'cfg-rej' : '', opts.chain && [...opts.chain].some((pc) => pc >= b.start && pc <= b.end) ? 'cfg-chain' : ''].filter(Boolean).join(' ');
    nodes += `<g class="${cls}" data-pc="${b.start}" data-end="${b.end}"><rect x="${X}" y="${y(b.id)}" width="${W}" height="${H}" rx="4"/><text x="${X + 8}" y="${y(b.id) + 17}">${esc(b.start === b.end ? `${b.start}` : `${b.start}–${b.end}`)}</text>${n ? `<text x="${X + W - 8}" y="${y(b.id) + 17}" text-anchor="end" class="cfg-count">${n}×</text>` : ''}</g>`;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" class="cfg" style="width: calc(${width}px * var(--cfg-zoom, 1))" viewBox="0 0 ${width} ${height}" data-height="${height}"><defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0 0L10 5L0 10z" class="cfg-arrow"/></marker></defs>${edges}${nodes}</svg>`;
}
