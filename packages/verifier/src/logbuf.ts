/**
 * The kernel's log buffer (kernel/bpf/log.c) as a program load sees it: how large the log ever
 * grew (log_true_size), and what a buffer of `log_size` bytes holds at the end.
 *
 * The kernel writes its log as one stream of bytes. At level 1 the stream is cut back whenever a
 * queued path is taken up and when a function verifies, so the bytes it needs (the largest end the
 * stream ever reached, plus the terminating zero) can be far more than what is left. A buffer
 * smaller than that fails the load with ENOSPC, even for a program that verifies. By default the
 * buffer keeps the stream's last bytes (it rotates); with BPF_LOG_FIXED it keeps the first ones.
 */

const enc = new TextEncoder();
const dec = new TextDecoder();
/** A UTF-16 unit past ASCII. */
const NON_ASCII = /[\u0080-\uffff]/;
/**
 * UTF-8 bytes of a log line (the kernel counts bytes; BTF names may hold any). The test for a
 * unit past ASCII is a regular expression, not a loop over charCodeAt: a level-2 log's chunks
 * handed to a log sink are ~50 KB each, hundreds of megabytes in all (issue 25: a fifth of a
 * tracee program's level-2 run was that loop).
 */
export const utf8Length = (s: string): number => (NON_ASCII.test(s) ? enc.encode(s).length : s.length);

export interface LogBufferOptions {
  /** The buffer's size in bytes (log_size); undefined: as large as the log needs. */
  readonly size?: number;
  /** BPF_LOG_FIXED: keep the first bytes instead of the last. */
  readonly fixed?: boolean;
}

export class LogBuffer {
  /** Bytes of lines[0..k) for every k whose lines can no longer change (all but the last line). */
  private readonly prefix: number[] = [0];
  /** The largest end plus its terminating zero (the kernel's len_max). */
  private max = 0;
  /** The rotating buffer's first byte in the stream (the kernel's start_pos). */
  private start = 0;

  constructor(private readonly opts: LogBufferOptions) {}

  /** The stream's length now: lines, each with its newline unless it runs into the next (`open`). */
  private length(lines: readonly string[], open: ReadonlySet<number>): number {
    const n = lines.length;
    if (n === 0) return 0;
    const p = this.prefix;
    while (p.length < n) {
      const k = p.length - 1;
      p.push(p[k]! + utf8Length(lines[k]!) + (open.has(k) ? 0 : 1));
    }
    return p[n - 1]! + utf8Length(lines[n - 1]!) + (open.has(n - 1) ? 0 : 1);
  }

  /** The stream reached its present end: what bpf_verifier_vlog does at each write, for the largest end since the last cut. */
  private reached(end: number): void {
    if (end + 1 > this.max) this.max = end + 1;
    const size = this.opts.size;
    if (size && end + 1 - this.start > size) this.start = end + 1 - size;
  }

  /** Before the log is cut back to `keep` lines (bpf_vlog_reset): the end it had reached. */
  beforeCut(lines: readonly string[], open: ReadonlySet<number>, keep: number): void {
    this.reached(this.length(lines, open));
    // the line at the cut becomes the last one and may change
    if (this.prefix.length > Math.max(keep, 1)) this.prefix.length = Math.max(keep, 1);
  }

  /** After the cut: a window that started past the new end is empty. */
  afterCut(lines: readonly string[], open: ReadonlySet<number>): void {
    const end = this.length(lines, open);
    if (end < this.start) this.start = end;
  }

  /**
   * The finished log: `trueSize` (log_true_size), `text` (what the buffer holds) and whether the
   * log did not fit (the kernel's ENOSPC). `full` is the whole stream's text.
   */
  finish(lines: readonly string[], open: ReadonlySet<number>, full: string): { trueSize: number; text: string; truncated: boolean } {
    const end = this.length(lines, open);
    this.reached(end);
    const { size, fixed } = this.opts;
    if (size === undefined) return { trueSize: this.max, text: full, truncated: false };
    // no buffer (log_size 0): the size is still reported, nothing is cut
    if (size === 0) return { trueSize: this.max, text: '', truncated: false };
    const truncated = this.max > size;
    const [from, to] = fixed ? [0, Math.min(end, size - 1)] : [this.start, end];
    if (from === 0 && to >= end) return { trueSize: this.max, text: full, truncated };
    const ascii = utf8Length(full) === full.length;
    const text = ascii ? full.slice(from, to) : dec.decode(enc.encode(full).subarray(from, to));
    return { trueSize: this.max, text, truncated };
  }
}
