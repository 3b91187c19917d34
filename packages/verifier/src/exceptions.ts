/**
 * BPF exceptions (kernel/bpf/verifier.c, Linux 6.18): `bpf_throw(cookie)` ends the whole
 * program at once, unwinding every frame; the program's exception callback — named by a BTF
 * decl tag `exception_callback:NAME` on the main function's FUNC, else the kernel's default,
 * which returns the cookie — runs then and its return value is the program's.
 *
 * - bpf_find_exception_callback_insn_off / add_subprog_and_kfunc: the callback is found
 *   through the tag and func_info, before any instruction is looked at; it is a callback
 *   (is_cb, is_async_cb) that is always verified, as a global function of one scalar argument
 *   (do_check_common: "exception cb only supports single integer argument") whose return
 *   value is checked as the program's (check_return_code, in_exception_callback_fn).
 * - check_kfunc_call: with the default callback the cookie is the return value, so R1 is
 *   checked as R0 would be at the program's exit; then process_bpf_exit_full(exception_exit):
 *   no lock, no reference (in any frame), no IRQ, RCU or preemption section may be open
 *   ("bpf_throw would lead to reference leak", ...), and the path ends there.
 * - check_max_stack_depth_subprog: bpf_throw may not be reached from a callback (sync or
 *   async, the exception callback included), and nothing calls the exception callback.
 */
import type { FuncInfo } from '@bpf/isa';
import { btfString, type Btf } from '@bpf/btf';
import { VerifierReject, type Env } from './env.js';
import { subprogHas, type EffectMemo } from './subprogwalk.js';

const TAG = 'exception_callback:';

/** The kernel's BTF_FUNC_GLOBAL (the linkage kept in a FUNC's vlen). */
const BTF_FUNC_GLOBAL = 1;

/** Types named by a FUNC / DECL_TAG of the program's BTF (ids from `btf.firstId`). */
function funcName(btf: Btf, id: number): string | undefined {
  const t = btf.types[id];
  return t?.kind === 'FUNC' ? btfString(btf, t.nameOff) : undefined;
}

/**
 * bpf_find_exception_callback_insn_off: the first instruction of the exception callback the
 * main function's BTF names, or undefined when it names none (or the program has no
 * func_info). Rejects as the kernel does when the tag is given twice, names no FUNC, names a
 * static one, or one func_info does not place.
 */
export function exceptionCallbackInsn(env: Env, btf: Btf | undefined, funcInfo: readonly FuncInfo[] | undefined): number | undefined {
  if (!btf || !funcInfo?.length) return undefined;
  const mainId = funcInfo[0]!.typeId;
  if (btf.types[mainId] === undefined) env.reject(0, 'invalid btf id for main subprog in func_info');
  // btf_find_decl_tag_value: one tag of the main FUNC as a whole (component -1) with the key
  let name: string | undefined;
  for (let id = btf.firstId; id < btf.types.length; id++) {
    const t = btf.types[id];
    if (t?.kind !== 'DECL_TAG' || t.sizeOrType !== mainId || t.componentIdx !== -1) continue;
    const value = btfString(btf, t.nameOff);
    if (!value.startsWith(TAG)) continue;
    if (name !== undefined) env.reject(0, 'multiple exception callback tags for main subprog');
    name = value.slice(TAG.length);
  }
  if (name === undefined) return undefined;
  // btf_find_by_name_kind(BTF_KIND_FUNC): the first FUNC of that name
  let cbId: number | undefined;
  for (let id = btf.firstId; id < btf.types.length && cbId === undefined; id++) if (funcName(btf, id) === name) cbId = id;
  if (cbId === undefined) env.reject(0, `exception callback '${name}' could not be found in BTF`);
  if (btf.types[cbId]!.vlen !== BTF_FUNC_GLOBAL) env.reject(0, `exception callback '${name}' must have global linkage`);
  let at: number | undefined;
  for (const fi of funcInfo) {
    if (fi.typeId !== cbId) continue;
    if (fi.insnOff === 0) env.reject(0, 'invalid exception callback insn_off in func_info: 0');
    at = fi.insnOff;
  }
  if (at === undefined) env.reject(0, 'exception callback type id not found in func_info');
  return at;
}

/** What check_max_stack_depth needs to know of the program's callbacks, learnt while verifying it. */
export interface CallbackMarks {
  /** Subprograms called as callbacks (the kernel's is_cb), the exception callback included. */
  readonly isCb: ReadonlySet<number>;
  /** Callbacks that run on their own later (is_async_cb): timers, workqueues, the exception callback. */
  readonly isAsyncCb: ReadonlySet<number>;
  /** The exception callback's subprogram, if any. */
  readonly exceptionCb: number | undefined;
}

/**
 * The checks check_max_stack_depth_subprog makes about exceptions at instruction `pc` of
 * subprogram `sub`, reached through the chain of callers `callers` (outermost first).
 * `callee` is the subprogram a call or callback address at `pc` names, if any.
 */
export function stackWalkCheck(env: Env, marks: CallbackMarks, pc: number, sub: number, callers: readonly number[], what: { readonly throws: boolean; readonly callee?: number; readonly direct: boolean }): 'skip' | 'enter' {
  if (what.throws) {
    if (marks.isCb.has(sub) || callers.some((c) => marks.isCb.has(c))) env.reject(pc, `bpf_throw kfunc (insn ${pc}) cannot be called from callback subprog ${sub}`);
    return 'skip';
  }
  if (what.callee === undefined) return 'skip';
  if (marks.isAsyncCb.has(what.callee)) {
    // an async callback's stack is its own unless it is called directly
    if (!what.direct) return 'skip';
    // the kernel prints this line without a newline
    if (what.callee === marks.exceptionCb) throw new VerifierReject(pc, [`insn ${pc} cannot call exception cb directly`], true);
  }
  return 'enter';
}

const throwing: EffectMemo = new WeakMap();
/**
 * Whether subprogram `sub` may throw: it calls bpf_throw (`isThrow`), or a subprogram it calls
 * directly may (callbacks it passes on do not count; they may not throw at all). The running
 * 6.18 kernel checks a call of a global function that may throw as a throw at the call
 * (references, locks and sections; found live, beyond the 6.18 sources we read).
 */
export const subprogMightThrow = (env: Env, sub: number, isThrow: (pc: number) => boolean): boolean => subprogHas(env, throwing, sub, (pc, x) => x.src === 2 && isThrow(pc));
