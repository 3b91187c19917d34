/** Words per tape (64 KiB: a new tape is made when the one being written is full). */
const TAPE_WORDS = 1 << 14;
let tapeWords = TAPE_WORDS;

/** For tests: tapes of `words` words from the next one made (small ones make histories cross tapes); undefined, the default. */
export function setTapeWords(words: number | undefined): void {
  tapeWords = words ?? TAPE_WORDS;
  tape = newTape(0);
  tapeEnd = 0;
}

/**
 * A tape of at least `n` words: 32-bit integers (every word is one), half the bytes of an array
 * of small integers, made in one allocation (an array of 16K small integers, made by
 * `new Array(n).fill(0)`, took ~10 times as long: 2% of a generated loop's verification).
 */
function newTape(n: number): Int32Array {
  return new Int32Array(Math.max(n, tapeWords));
}

/** The tape being written, and where its writing ends. */
let tape: Int32Array = newTape(0);
let tapeEnd = 0;

/**
 * A path's jump history (the kernel's jmp_history: every instruction since the path's last
 * checkpoint, with what precision backtracking needs to know of it) as small integers: no object
 * per entry, and no copy when two paths' histories part (issue 25: an object per noted entry and
 * a copy per fork were ~4.5 MB per verification of cilium's bpf_lxc.o, and reading them a share
 * of precision tracking's time).
 *
 * An entry is one word, `pc * 8 + depth` (frames are fewer than 8), when the instruction left no
 * note; otherwise its words are, in order, one per linked register (see {@link linkedWord}), a
 * note word (the `NOTE_*` bits below, the number of linked registers at {@link NOTE_LINKED_SHIFT}),
 * and `~(pc * 8 + depth)`, negative: read from the end, a negative word says a note word and the
 * linked registers come before it.
 *
 * Every history writes into one shared tape (a fixed-size array, a new one when it is full): a
 * history is its words `a[start..end)` after the segments of `prev` (older entries, frozen, maybe
 * shared with other histories), and it appends in place only when it ends where the tape's
 * writing ends; otherwise its words so far become a frozen segment and it goes on at the tape's
 * end. A word below the tape's end is never written again, so what any history sees never
 * changes; an entry never spans two segments. A fork is a new view of the same words. (Each
 * history had an array of its own, copied when two parted: the arrays' growth and copies were
 * ~10 MB per pass over bpf_lxc.o, 8% of what it allocated.)
 */
export class JumpHist {
  constructor(
    /** The tape this history's last segment is in. */
    public a: Int32Array = tape,
    /** Where its last segment starts in `a`. */
    public start = tapeEnd,
    /** Where it ends in `a` (exclusive). */
    public end = tapeEnd,
    /** The segments before the last (older entries), frozen. */
    public prev?: JumpHist,
  ) {}

  /** Whether the history has no entry. */
  isEmpty(): boolean {
    return this.end === this.start && (this.prev === undefined || this.prev.isEmpty());
  }

  /** Makes room for `n` words at the tape's end, this history's last segment ending there. */
  private toTapeEnd(n: number): void {
    if (tapeEnd + n > tape.length) {
      tape = newTape(n);
      tapeEnd = 0;
    }
    if (this.end > this.start) this.prev = new JumpHist(this.a, this.start, this.end, this.prev);
    this.a = tape;
    this.start = this.end = tapeEnd;
  }

  /** Appends instruction `pc`'s entry (frame `depth`, `note` the NOTE_* bits, `linked` the words of {@link linkedWord}). */
  add(pc: number, depth: number, note: number, linked: readonly number[] | undefined): void {
    const head = pc * 8 + depth;
    if (note === 0 && linked === undefined) {
      if (this.a !== tape || this.end !== tapeEnd || tapeEnd === tape.length) this.toTapeEnd(1);
      tape[tapeEnd++] = head;
    } else {
      const nl = linked === undefined ? 0 : linked.length;
      if (this.a !== tape || this.end !== tapeEnd || tapeEnd + nl + 2 > tape.length) this.toTapeEnd(nl + 2);
      for (let n = 0; n < nl; n++) tape[tapeEnd++] = linked![n]!;
      tape[tapeEnd++] = note | (nl << NOTE_LINKED_SHIFT);
      tape[tapeEnd++] = ~head;
    }
    this.end = tapeEnd;
  }

  /** Another history with the same entries (the kernel copies the history when it copies a state). */
  slice(): JumpHist {
    return new JumpHist(this.a, this.start, this.end, this.prev);
  }

  /** The instruction of the last entry, -1 when empty. */
  lastPc(): number {
    if (this.end === this.start) return this.prev === undefined ? -1 : this.prev.lastPc();
    const h = this.a[this.end - 1]!;
    return (h >= 0 ? h : ~h) >>> 3;
  }

  /** Takes the last entry off and returns it as a history of its own (for {@link append}); the history must not be empty. */
  pop(): JumpHist {
    // the frozen segments are shared: when the last entry is in one, this history takes its place
    while (this.end === this.start) {
      const p = this.prev!;
      this.a = p.a;
      this.start = p.start;
      this.end = p.end;
      this.prev = p.prev;
    }
    const a = this.a;
    const end = this.end;
    let start = end - 1;
    if (a[start]! < 0) start -= 1 + ((a[start - 1]! >> NOTE_LINKED_SHIFT) & 7);
    this.end = start;
    return new JumpHist(a, start, end, undefined);
  }

  /** Appends the entries of `h`. */
  append(h: JumpHist): void {
    if (h.prev !== undefined) this.append(h.prev);
    const n = h.end - h.start;
    if (n === 0) return;
    if (this.a !== tape || this.end !== tapeEnd || tapeEnd + n > tape.length) this.toTapeEnd(n);
    for (let k = h.start; k < h.end; k++) tape[tapeEnd++] = h.a[k]!;
    this.end = tapeEnd;
  }
}

/** Note bits: the stack slot a register spill or fill used, plus one (0: none), bits 0-6. */
export const NOTE_SPI_MASK = 0x7f;
/** The frame of that slot, bits 7-10. */
export const NOTE_SPI_FRAME_SHIFT = 7;
/** An exit from a callback (bpf_loop and friends). */
export const NOTE_CB = 1 << 11;
/** A conditional jump's source (INSN_F_SRC_REG_STACK) or destination (_DST_REG_STACK) was a stack pointer: never precise. */
export const NOTE_SRC_STACK = 1 << 12;
export const NOTE_DST_STACK = 1 << 13;
/** The number of linked-register words before the note word (at most LINKED_REGS_MAX, 6). */
export const NOTE_LINKED_SHIFT = 14;

/** The note of a register spill or fill of slot `spi` of frame `frame`. */
export const noteSpill = (spi: number, frame: number): number => (spi + 1) | (frame << NOTE_SPI_FRAME_SHIFT);

/** A scalar sharing an id at a conditional jump (the kernel's linked_regs): register `n`, or stack slot `n` when `slot`, of frame `frame`. */
export const linkedWord = (frame: number, n: number, slot: boolean): number => (frame << 7) | (n << 1) | (slot ? 1 : 0);
