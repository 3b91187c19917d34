/**
 * Global (BTF-typed, `linkage global`) subprograms, as the kernel treats them
 * (kernel/bpf/btf.c btf_prepare_func_args, btf_check_func_arg_match; kernel/bpf/verifier.c
 * check_func_call, do_check_subprogs): a call checks the caller's registers against the
 * function's BTF prototype and goes on with R0 an unknown scalar ("assumed valid"); after the
 * main program, every global subprogram that was called is verified once on its own, its
 * arguments typed from BTF (scalar, the context, or nullable memory of the pointee's size).
 */
import type { BtfFunc, LoadInfo } from './btfproto.js';
import { helperMem, isNull } from './callargs.js';
import { VerifierReject, type Env } from './env.js';
import { formatState } from './print.js';
import { mayBeNull, nonNull } from './nullable.js';
import { newFrame, pointer, UNKNOWN, type Frame, type Reg, type State } from './state.js';
import type { ProgType } from '@bpf/isa';

export interface GlobalEnv extends Env {
  readonly load: LoadInfo;
}

/** What a global function's argument is to its callers and to its own verification. */
export type GlobalArg = { readonly kind: 'anything' } | { readonly kind: 'ctx' } | { readonly kind: 'mem'; readonly size: number; readonly nonNull: boolean };

/** The `struct` a program type's context is, as prototypes name it (btf_get_prog_ctx_type). */
export const CTX_STRUCT: Partial<Record<ProgType, string>> = {
  socket_filter: '__sk_buff',
  sched_cls: '__sk_buff',
  sched_act: '__sk_buff',
  cgroup_skb: '__sk_buff',
  lwt_in: '__sk_buff',
  lwt_out: '__sk_buff',
  lwt_xmit: '__sk_buff',
  sk_skb: '__sk_buff',
  flow_dissector: '__sk_buff',
  xdp: 'xdp_md',
  kprobe: 'pt_regs',
  perf_event: 'bpf_perf_event_data',
  sock_ops: 'bpf_sock_ops',
  sk_msg: 'sk_msg_md',
  cgroup_sock: 'bpf_sock',
  cgroup_sock_addr: 'bpf_sock_addr',
  cgroup_sysctl: 'bpf_sysctl',
  cgroup_sockopt: 'bpf_sockopt',
  sk_lookup: 'bpf_sk_lookup',
  raw_tracepoint: 'bpf_raw_tracepoint_args',
};

/** subprog_is_global: a subprogram (not the main program) whose BTF FUNC has global linkage. */
export function isGlobal(env: GlobalEnv, k: number): boolean {
  return k > 0 && env.load.subprogFunc(k)?.linkage === 'global';
}

const nameOf = (env: GlobalEnv, k: number): string => env.load.subprogFunc(k)?.name ?? env.subprogs[k]!.name;

/** btf_prepare_func_args for a global function: its arguments, or the line saying why it cannot be one. */
export function globalArgs(fn: BtfFunc, type: ProgType): { readonly args: readonly GlobalArg[] } | { readonly error: string } {
  if (fn.params.length > 5) return { error: `Global function ${fn.name}() with ${fn.params.length} > 5 args. Buggy compiler.` };
  if (fn.ret.kind !== 'scalar') return { error: `Global function ${fn.name}() doesn't return scalar. Only those are supported.` };
  const args: GlobalArg[] = [];
  for (const [i, p] of fn.params.entries()) {
    const t = p.type;
    const tags = p.tags ?? [];
    if (tags.some((x) => x !== 'ctx' && x !== 'nonnull')) return { error: `arg#${i} has unsupported set of tags` };
    if (tags.includes('ctx')) {
      // __arg_ctx: the context, whatever the pointer's type
      if (t.kind !== 'ptr' || tags.length > 1) return { error: `arg#${i} has unsupported set of tags` };
      args.push({ kind: 'ctx' });
    } else if (t.kind === 'ptr' && t.to.isStruct && CTX_STRUCT[type] === t.to.name) args.push({ kind: 'ctx' });
    else if (t.kind === 'ptr') {
      if (t.to.size === undefined) return { error: `arg#${i} reference type('${t.to.btfKind} ${t.to.name}') size cannot be determined: -22` };
      args.push({ kind: 'mem', size: t.to.size, nonNull: tags.includes('nonnull') });
    } else if (t.kind === 'scalar') args.push({ kind: 'anything' });
    else return { error: `Arg#${i} type ${t.kind === 'void' ? 'UNKNOWN' : t.btfKind} in ${fn.name}() is not supported yet.` };
  }
  return { args };
}

/** btf_check_func_arg_match: the caller's R1..R5 against the arguments. */
function checkArgs(env: GlobalEnv, st: State, f: Frame, pc: number, args: readonly GlobalArg[]): void {
  args.forEach((a, i) => {
    const regno = i + 1;
    const r: Reg = f.regs[regno]!;
    switch (a.kind) {
      case 'anything':
        if (r.type !== 'scalar') env.reject(pc, `R${regno} is not a scalar`);
        return;
      case 'ctx':
        if (r.type === 'ctx' && r.off) env.reject(pc, `dereference of modified ctx ptr R${regno} off=${r.off} disallowed`);
        if (r.type !== 'ctx') env.reject(pc, `arg#${i} expects pointer to ctx`);
        return;
      case 'mem': {
        if (isNull(r)) return;
        // check_mem_reg: the memory must allow reading and writing `size` bytes, NULL aside
        const p = mayBeNull(r) ? nonNull(r) : r;
        helperMem(env, st, pc, regno, p, a.size, false, true);
        helperMem(env, st, pc, regno, p, a.size, true, true, false);
        if (a.nonNull && mayBeNull(r)) env.reject(pc, `arg#${i} is expected to be non-NULL`);
        return;
      }
    }
  });
}

/** check_func_call for a global subprogram: its arguments checked, the call logged; the caller clears R0..R5 after. */
export function globalCall(env: GlobalEnv, st: State, f: Frame, pc: number, k: number): void {
  const name = nameOf(env, k);
  const fn = env.load.subprogFunc(k)!;
  const prepared = globalArgs(fn, env.type);
  try {
    if ('error' in prepared) env.reject(pc, prepared.error);
    checkArgs(env, st, f, pc, prepared.args);
  } catch (e) {
    if (!(e instanceof VerifierReject)) throw e;
    env.reject(pc, ...e.lines, `Caller passes invalid args into func#${k} ('${name}')`);
  }
  env.log2(`Func#${k} ('${name}') is global and assumed valid.`);
  env.load.calledGlobals.add(k);
}

/** The frame a global subprogram is verified in on its own: R1..R5 from its prototype. */
export function globalEntry(env: GlobalEnv, k: number): Frame {
  const fn = env.load.subprogFunc(k)!;
  const prepared = globalArgs(fn, env.type);
  if ('error' in prepared) env.reject(env.subprogs[k]!.start, prepared.error);
  const f = newFrame(k, -1);
  prepared.args.forEach((a, i) => {
    if (a.kind === 'mem') f.regs[i + 1] = a.nonNull ? pointer('mem', { memSize: a.size }) : pointer('mem_or_null', { memSize: a.size, id: env.nextId() });
    else f.regs[i + 1] = a.kind === 'ctx' ? pointer('ctx') : UNKNOWN;
  });
  return f;
}

/**
 * do_check_subprogs: each global subprogram called (directly or from another one verified
 * here) is verified once, in order of its number, until no new one is called.
 */
export function verifyCalledGlobals(env: GlobalEnv, explore: (k: number) => void): void {
  const done = new Set<number>();
  for (let again = true; again; ) {
    again = false;
    for (let k = 1; k < env.subprogs.length; k++) {
      if (!env.load.calledGlobals.has(k) || done.has(k)) continue;
      done.add(k);
      env.log2(`Validating ${nameOf(env, k)}() func#${k}...`);
      explore(k);
      env.log2(`Func#${k} ('${nameOf(env, k)}') is safe for any args that match its prototype`);
      again = true;
    }
  }
}

/** The level-1 line with a global subprogram's entry state. */
export const entryLine = (env: GlobalEnv, f: Frame): string => `${env.subprogs[f.subprog]!.start}:${formatState(f, 0, [], { all: true, regs: 0, slots: new Set() })}`;
