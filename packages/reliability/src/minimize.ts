/**
 * Greedy minimisation of a failing program: remove one instruction at a time (fixing up the
 * offsets of jumps and calls that cross it) and keep the removal whenever the failure persists,
 * until no single removal does. Used to save kernel disagreements as small regression fixtures.
 */
import { insn, type Insn } from '@bpf/isa';

const isJump = (i: Insn): boolean => {
  const cls = i.code & 7;
  const op = i.code & 0xf0;
  return (cls === 5 || cls === 6) && op !== 0x90 && !(op === 0x80 && i.src !== 1);
};

/** The program without slot `at` (both slots of an ld_imm64), or null when a jump lands on it. */
export function removeInsn(insns: readonly Insn[], at: number): Insn[] | null {
  const width = insns[at]!.code === 0x18 ? 2 : 1;
  const out: Insn[] = [];
  for (let pc = 0; pc < insns.length; pc++) {
    if (pc >= at && pc < at + width) continue;
    let i = insns[pc]!;
    if (isJump(i)) {
      const useImm = i.code === 0x06 || (i.code === 0x85 && i.src === 1);
      const target = pc + (useImm ? i.imm : i.off) + 1;
      if (target >= at && target < at + width) return null;
      const newPc = pc > at ? pc - width : pc;
      const newTarget = target > at ? target - width : target;
      const rel = newTarget - newPc - 1;
      i = useImm ? insn(i.code, i.dst, i.src, i.off, rel) : insn(i.code, i.dst, i.src, rel, i.imm);
    }
    out.push(i);
  }
  return out;
}

/** Shrink `insns` while `fails` stays true. `fails(insns)` must be true for the input. */
export function minimize(insns: readonly Insn[], fails: (insns: readonly Insn[]) => boolean, maxSteps = 10_000): Insn[] {
  let cur = insns.slice();
  let steps = 0;
  for (let changed = true; changed && steps < maxSteps; ) {
    changed = false;
    for (let at = 0; at < cur.length && steps < maxSteps; at++) {
      if (at > 0 && cur[at - 1]!.code === 0x18) continue;
      const next = removeInsn(cur, at);
      steps++;
      if (next !== null && next.length > 0 && fails(next)) {
        cur = next;
        changed = true;
        at--;
      }
    }
  }
  return cur;
}
