/**
 * A path's jump history (the kernel's jmp_history: every instruction since the path's last
 * checkpoint, with what precision backtracking needs to know of it) as small integers in one
 * array: no object per entry, and a copy made when two paths' histories part, not when a path
 * is forked (issue 25: an object per noted entry and a copy per fork were ~4.5 MB per
 * verification of cilium's bpf_lxc.o, and reading them a share of precision tracking's time).
 *
 * An entry is one word, `pc * 8 + depth` (frames are fewer than 8), when the instruction left no
 * note; otherwise its words are, in order, one per linked register (see {@link linkedWord}), a
 * note word (the `NOTE_*` bits below, the number of linked registers at {@link NOTE_LINKED_SHIFT}),
 * and `~(pc * 8 + depth)`, negative: read from the end, a negative word says a note word and the
 * linked registers come before it.
 *
 * Several histories may share one array: a history is the array's first `length` words, and it
 * appends in place only when it ends where the array ends (the array is never shortened, so the
 * words any other history sees are never written again); otherwise it appends to a copy of its
 * own words first. A fork is then a new view of the same array.
 */
export class JumpHist {
  constructor(
    /** The words, shared with other histories (only the first `length` are this history's). */
    public a: number[] = [],
    /** How many words of `a` are this history's. */
    public length = 0,
  ) {}

  /** Appends instruction `pc`'s entry (frame `depth`, `note` the NOTE_* bits, `linked` the words of {@link linkedWord}). */
  add(pc: number, depth: number, note: number, linked: readonly number[] | undefined): void {
    let a = this.a;
    if (this.length !== a.length) this.a = a = a.slice(0, this.length);
    const head = pc * 8 + depth;
    if (note === 0 && linked === undefined) a.push(head);
    else {
      let n = 0;
      if (linked !== undefined) for (; n < linked.length; n++) a.push(linked[n]!);
      a.push(note | (n << NOTE_LINKED_SHIFT));
      a.push(~head);
    }
    this.length = a.length;
  }

  /** Another history with the same entries (the kernel copies the history when it copies a state). */
  slice(): JumpHist {
    return new JumpHist(this.a, this.length);
  }

  /** The instruction of the last entry, -1 when empty. */
  lastPc(): number {
    if (this.length === 0) return -1;
    const h = this.a[this.length - 1]!;
    return (h >= 0 ? h : ~h) >>> 3;
  }

  /** Takes the last entry off and returns it as a history of its own (for {@link append}). */
  pop(): JumpHist {
    const end = this.length;
    let start = end - 1;
    if (this.a[start]! < 0) start -= 1 + ((this.a[start - 1]! >> NOTE_LINKED_SHIFT) & 7);
    this.length = start;
    const out = this.a.slice(start, end);
    return new JumpHist(out, out.length);
  }

  /** Appends the entries of `h`. */
  append(h: JumpHist): void {
    let a = this.a;
    if (this.length !== a.length) this.a = a = a.slice(0, this.length);
    for (let k = 0; k < h.length; k++) a.push(h.a[k]!);
    this.length = a.length;
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
