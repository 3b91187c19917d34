/**
 * Loops as 6.18 tracks them while exploring (kernel/bpf/verifier.c compute_scc_callchain,
 * maybe_enter_scc, add_scc_backedge, maybe_exit_scc, propagate_backedges, incomplete_read_marks):
 * a checkpoint inside a strongly connected component of the CFG opens a visit of that loop for
 * its chain of call sites; a state found equal to one still being explored (an iterator's
 * next() that converged) is kept as a backedge; when the visit's first checkpoint is fully
 * explored, the precision each backedge's equal state gathered meanwhile is propagated along
 * the backedge's path until nothing changes. While a visit has backedges, its checkpoints are
 * compared as if every scalar were precise.
 */
import { cloneState } from './state.js';
import type { Checkpoint, Path } from './precise.js';

/** propagate_backedges gives up after this many rounds (MAX_BACKEDGE_ITERS) and marks everything precise. */
const MAX_BACKEDGE_ITERS = 64;

interface Visit {
  entry: Checkpoint | undefined;
  backedges: { readonly equal: Checkpoint; readonly path: Path }[];
}

/**
 * format_callchain: a call chain as the log prints it. The kernel keeps unused call sites as 0
 * and stops printing at the first 0, so a call at instruction 0 ends the printed sites (`(3)`
 * for the chain (0,3)); the chain itself, as the visit's key, keeps it.
 */
function printed(chain: string | undefined): string {
  if (chain === undefined) return '';
  const parts = chain.slice(1, -1).split(',');
  const zero = parts.indexOf('0');
  return zero < 0 || zero === parts.length - 1 ? chain : `(${[...parts.slice(0, zero), parts[parts.length - 1]].join(',')})`;
}

export class SccVisits {
  private readonly visits = new Map<string, Visit>();
  /** Backedges held over all visits (num_backedges): while 0, no checkpoint is incomplete. */
  private pending = 0;

  constructor(
    /** The CFG's SCC id per instruction, 0 outside loops (@bpf/liveness). */
    private readonly scc: Int32Array | undefined,
    private readonly trace: ((line: string) => void) | undefined,
    /** propagate_precision from `equal` into the path; whether any mark was added. */
    private readonly propagate: (equal: Checkpoint, path: Path) => boolean,
    /** When propagation does not settle: every scalar of the path's checkpoints precise. */
    private readonly giveUp: (path: Path) => void,
  ) {}

  /** compute_scc_callchain: `(callsite,...,scc)` of the outermost frame that is in a loop, or undefined. */
  private callchain(cp: { readonly pc: number; readonly state: Path | Checkpoint['state'] }): string | undefined {
    if (!this.scc) return undefined;
    const frames = cp.state.frames;
    // the call sites before the frame in a loop, as a string built as it goes (no array per
    // checkpoint); a chain of one SCC id, the usual one, is made once per id (issue 25)
    let sites = '';
    for (let i = 0; i < frames.length; i++) {
      const at = i === frames.length - 1 ? cp.pc : frames[i + 1]!.callsite;
      const id = this.scc[at] ?? 0;
      if (id) return sites === '' ? (this.single[id] ??= `(${id})`) : `(${sites}${id})`;
      if (i === frames.length - 1) return undefined;
      sites += `${at},`;
    }
    return undefined;
  }

  /** `(id)` per SCC id, made once. */
  private readonly single: (string | undefined)[] = [];

  /** A checkpoint's call chain, made once: its instruction and call sites never change. */
  private chainOf(cp: Checkpoint): string | undefined {
    if (cp.sccChain === undefined) cp.sccChain = this.callchain(cp) ?? null;
    return cp.sccChain ?? undefined;
  }

  /** maybe_enter_scc: a new checkpoint opens its loop's visit if none is open. */
  enter(cp: Checkpoint): void {
    const chain = this.chainOf(cp);
    if (chain === undefined) return;
    let v = this.visits.get(chain);
    if (!v) this.visits.set(chain, (v = { entry: undefined, backedges: [] }));
    if (v.entry) return;
    v.entry = cp;
    this.trace?.(`SCC enter ${printed(chain)}`);
  }

  /** add_scc_backedge: `path` reached a state equal to `equal`, still being explored. */
  backedge(equal: Checkpoint, path: Path): void {
    const chain = this.chainOf(equal);
    const v = chain === undefined ? undefined : this.visits.get(chain);
    if (!v) return;
    this.trace?.(`SCC backedge ${printed(chain)}`);
    const copy = cloneState(path) as Path;
    copy.hist = path.hist.slice();
    if (path.cp) copy.cp = path.cp;
    v.backedges.unshift({ equal, path: copy });
    this.pending++;
  }

  /** Backedges held (they count among the states alive, as the kernel's num_backedges). */
  get count(): number {
    return this.pending;
  }

  /** maybe_exit_scc: the visit's first checkpoint is fully explored; settle the precision of its backedges. */
  exit(cp: Checkpoint): void {
    const chain = this.chainOf(cp);
    const v = chain === undefined ? undefined : this.visits.get(chain);
    if (!v || v.entry !== cp) return;
    this.trace?.(`SCC exit ${printed(chain)}`);
    v.entry = undefined;
    for (let round = 0; ; round++) {
      if (round > MAX_BACKEDGE_ITERS) {
        this.trace?.('propagate_backedges: too many iterations');
        for (const b of v.backedges) this.giveUp(b.path);
        break;
      }
      let changed = false;
      for (const b of v.backedges) if (this.propagate(b.equal, b.path)) changed = true;
      if (!changed) break;
    }
    this.pending -= v.backedges.length;
    v.backedges = [];
  }

  /** incomplete_read_marks: the checkpoint's loop has backedges not yet settled. */
  incomplete(cp: Checkpoint): boolean {
    if (this.pending === 0) return false;
    const chain = this.chainOf(cp);
    return chain !== undefined && (this.visits.get(chain)?.backedges.length ?? 0) > 0;
  }
}
