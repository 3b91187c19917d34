/**
 * The kernel's per-subprogram effects that spread from callee to caller (check_cfg's
 * merge_callee_effects: might_sleep, changes_pkt_data; and the running kernel's "might throw"):
 * a subprogram has the effect when one of its call instructions has it directly, or when a
 * subprogram it calls (BPF-to-BPF, not a callback it passes on) has it.
 */
import type { Insn } from '@bpf/isa';
import type { Env } from './env.js';

/** One effect's answers, per program (keyed by its instructions) and subprogram. */
export type EffectMemo = WeakMap<object, Map<number, boolean>>;

/**
 * Whether subprogram `sub` has the effect: `direct` answers for a helper or kfunc call (src 0
 * or 2) at `pc`; calls of other subprograms are followed, each subprogram walked once.
 */
export function subprogHas(env: Pick<Env, 'insns' | 'subprogs'>, memos: EffectMemo, sub: number, direct: (pc: number, x: Insn) => boolean): boolean {
  let memo = memos.get(env.insns);
  if (!memo) memos.set(env.insns, (memo = new Map<number, boolean>()));
  const known = memo.get(sub);
  if (known !== undefined) return known;
  memo.set(sub, false); // a recursive call adds nothing
  const { start, end } = env.subprogs[sub]!;
  let found = false;
  for (let pc = start; pc < end && !found; pc++) {
    const x = env.insns[pc]!;
    if (x.code !== 0x85) continue;
    if (x.src === 1) {
      const callee = env.subprogs.findIndex((s) => s.start === pc + x.imm + 1);
      found = callee >= 0 && subprogHas(env, memos, callee, direct);
    } else found = direct(pc, x);
  }
  memo.set(sub, found);
  return found;
}
