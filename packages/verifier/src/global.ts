/**
 * Global (BTF-typed, `linkage global`) subprograms, as the kernel treats them
 * (kernel/bpf/btf.c btf_prepare_func_args, btf_check_func_arg_match; kernel/bpf/verifier.c
 * check_func_call, do_check_subprogs): a call checks the caller's registers against the
 * function's BTF prototype and goes on with R0 an unknown scalar ("assumed valid"); after the
 * main program, every global subprogram that was called is verified once on its own, its
 * arguments typed from BTF (scalar, the context, or nullable memory of the pointee's size).
 */
import { btfString, type Btf } from '@bpf/btf';
import type { ProgType } from '@bpf/isa';
import { kindStr, type BtfFunc, type BtfTarget, type LoadInfo } from './btfproto.js';
import { helperMem, isNull } from './callargs.js';
import { isDynptrStruct, processDynptrArg } from './dynptr.js';
import { VerifierReject, type Env } from './env.js';
import { activeLocks } from './locks.js';
import { ptrOffOk } from './mem.js';
import { btfPtr, btfPtrType, mayBeNull, nonNull } from './nullable.js';
import { regTypeStrBare } from './print.js';
import { inSleepable, newFrame, pointer, UNKNOWN, type Frame, type Reg, type State } from './state.js';

export interface GlobalEnv extends Env {
  readonly load: LoadInfo;
  /** The program's exception callback subprogram (exceptions.ts), if it names one. */
  readonly exceptionCb?: number | undefined;
}

/** What a global function's argument is to its callers and to its own verification (bpf_subprog_arg_info). */
export type GlobalArg =
  | { readonly kind: 'anything' }
  | { readonly kind: 'ctx' }
  | { readonly kind: 'mem'; readonly size: number; readonly nonNull: boolean }
  /** arg:trusted / arg:untrusted on a pointer to a kernel struct (ARG_PTR_TO_BTF_ID). */
  | { readonly kind: 'btf'; readonly struct: string; readonly trusted: boolean; readonly nullable: boolean }
  /** arg:untrusted on a pointer to void or a primitive: read-only untrusted memory of size 0. */
  | { readonly kind: 'untrusted_mem' }
  /** arg:arena: a pointer into the arena or a scalar; an unknown scalar inside. */
  | { readonly kind: 'arena' }
  /** A `struct bpf_dynptr *` (ARG_PTR_TO_DYNPTR | MEM_RDONLY). */
  | { readonly kind: 'dynptr' };
/** The `struct` a program type's context is, as prototypes name it (btf_get_prog_ctx_type; include/linux/bpf_types.h). */
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
  raw_tracepoint_writable: 'bpf_raw_tracepoint_args',
  lwt_seg6local: '__sk_buff',
  cgroup_device: 'bpf_cgroup_dev_ctx',
  sk_reuseport: 'sk_reuseport_md',
  netfilter: 'bpf_nf_ctx',
};

/** subprog_is_global: a subprogram (not the main program) whose BTF FUNC has global linkage. */
export function isGlobal(env: GlobalEnv, k: number): boolean {
  return k > 0 && env.load.subprogFunc(k)?.linkage === 'global';
}

export const nameOf = (env: GlobalEnv, k: number): string => env.load.subprogFunc(k)?.name ?? env.subprogs[k]!.name;

/** The `arg:` decl tags btf_prepare_func_args knows (enum btf_arg_tag). */
const ARG_TAGS: ReadonlySet<string> = new Set(['ctx', 'nonnull', 'nullable', 'trusted', 'untrusted', 'arena']);

/** btf_is_projection_of: the kernel's own context struct standing for the UAPI one. */
const PROJECTION: Readonly<Record<string, string>> = { __sk_buff: 'sk_buff', xdp_md: 'xdp_buff' };

/** Program types whose `__arg_ctx` may point to anything (btf_validate_prog_ctx_type). */
const CTX_ANYTHING: ReadonlySet<ProgType> = new Set(['tracepoint', 'syscall', 'ext']);

/** check_func_arg_reg_off: register types whose fixed and variable offsets are both allowed. */
const OFF_ANY: ReadonlySet<string> = new Set(['scalar', 'fp', 'pkt', 'pkt_meta', 'map_key', 'map_value', 'mem', 'rdonly_mem', 'ringbuf_mem', 'buf', 'rdonly_buf']);

/** A pointer to u64, the context of raw tracepoints, fentry/fexit/fmod_ret, LSM and struct_ops programs. */
const isU64 = (to: BtfTarget): boolean => to.btfKind === 'INT' && to.size === 8;

/**
 * btf_validate_prog_ctx_type's special cases (kernel/bpf/btf.c): what else than the program
 * type's canonical context struct an `__arg_ctx` pointer may point to, by program type (and,
 * for tracing programs, attach type).
 */
const CTX_SPECIAL: Partial<Record<ProgType, (to: BtfTarget, attach: string | undefined) => boolean>> = {
  kprobe: (to) => to.isStruct && to.name === 'pt_regs',
  // bpf_user_pt_regs_t is struct pt_regs on x86-64 (the typedef itself is skipped here)
  perf_event: (to) => to.isStruct && to.name === 'pt_regs',
  raw_tracepoint: isU64,
  raw_tracepoint_writable: isU64,
  tracing: (to, attach) =>
    attach === 'trace_raw_tp'
      ? (to.isStruct && to.name === 'bpf_raw_tracepoint_args') || isU64(to)
      : attach === 'trace_iter'
        ? to.isStruct && to.name.startsWith('bpf_iter__')
        : (attach === 'trace_fentry' || attach === 'trace_fexit' || attach === 'modify_return') && isU64(to),
  lsm: isU64,
  struct_ops: isU64,
};

/** btf_validate_prog_ctx_type for an `__arg_ctx` pointer: undefined when valid, else the kernel's line. */
function validateCtxArg(to: BtfTarget, i: number, type: ProgType, attach: string | undefined): string | undefined {
  if (to.isVoid || CTX_ANYTHING.has(type)) return undefined;
  if (!to.name) return `arg#${i} type doesn't have a name`;
  if (CTX_SPECIAL[type]?.(to, attach) === true) return undefined;
  const ctx = CTX_STRUCT[type];
  if (ctx === undefined) return `arg#${i} should be void pointer`;
  if (!to.isStruct || to.name !== ctx) return `arg#${i} should be \`struct ${ctx} *\``;
  return undefined;
}

/** bpf_core_essential_name_len: a name without its `___flavour` suffix. */
const essentialName = (name: string): string => {
  const at = name.indexOf('___');
  return at > 0 ? name.slice(0, at) : name;
};

/**
 * btf_get_ptr_to_btf_id: the kernel type a program's pointer target stands for, found as CO-RE
 * finds candidates (same kind, same essential name) in the kernel's BTF; without it, the
 * program's own name is taken as the kernel's. The kernel also searches modules: not modelled.
 */
function kernelTarget(kernelBtf: Btf | undefined, to: BtfTarget, i: number): { readonly name: string; readonly kind: string } | { readonly error: string } {
  if (!kernelBtf) return { name: to.name, kind: to.btfKind };
  const want = essentialName(to.name);
  let found = 0;
  let kind = to.btfKind;
  // the candidate's own name: a flavor (task_struct___local) stands for the kernel's task_struct
  let name = to.name;
  for (let id = kernelBtf.firstId; id < kernelBtf.types.length; id++) {
    const t = kernelBtf.types[id];
    if (!t || kindStr(t) !== to.btfKind || !t.nameOff) continue;
    const n = btfString(kernelBtf, t.nameOff);
    if (n.startsWith(want) && essentialName(n).length === want.length) {
      found++;
      kind = kindStr(t);
      name = n;
    }
  }
  if (found !== 1) return { error: `arg#${i} reference type('${to.btfKind} ${to.name}') ${found === 0 ? 'has no matches' : 'is ambiguous'}` };
  return { name, kind };
}

/** btf_prepare_func_args: a function's arguments, or the line saying why it cannot be global. */
export function globalArgs(fn: BtfFunc, type: ProgType, kernelBtf?: Btf, attach?: string): { readonly args: readonly GlobalArg[] } | { readonly error: string } {
  if (fn.params.length > 5) return { error: `Global function ${fn.name}() with ${fn.params.length} > 5 args. Buggy compiler.` };
  if (fn.ret.kind !== 'scalar') return { error: `Global function ${fn.name}() doesn't return scalar. Only those are supported.` };
  const args: GlobalArg[] = [];
  for (const [i, p] of fn.params.entries()) {
    const t = p.type;
    const tags = new Set<string>();
    for (const tag of p.tags ?? []) {
      if (!ARG_TAGS.has(tag)) return { error: `arg#${i} has unsupported set of tags` };
      tags.add(tag);
    }
    const only = (tag: string): boolean => [...tags].every((x) => x === tag);
    if (t.kind !== 'ptr') {
      if (tags.size) return { error: `arg#${i} has pointer tag, but is not a pointer type` };
      if (t.kind === 'scalar') {
        args.push({ kind: 'anything' });
        continue;
      }
      return { error: `Arg#${i} type ${t.kind === 'void' ? 'UNKNOWN' : t.btfKind} in ${fn.name}() is not supported yet.` };
    }
    const to = t.to;
    const ctx = CTX_STRUCT[type];
    if (tags.has('ctx') || (to.isStruct && ctx !== undefined && (to.name === ctx || PROJECTION[ctx] === to.name))) {
      if (!only('ctx')) return { error: `arg#${i} has invalid combination of tags` };
      const bad = tags.has('ctx') ? validateCtxArg(to, i, type, attach) : undefined;
      if (bad) return { error: bad };
      args.push({ kind: 'ctx' });
    } else if (isDynptrStruct(to)) {
      if (tags.size) return { error: `arg#${i} has invalid combination of tags` };
      args.push({ kind: 'dynptr' });
    } else if (tags.has('trusted')) {
      if (tags.has('nonnull')) return { error: `arg#${i} has invalid combination of tags` };
      const k = kernelTarget(kernelBtf, to, i);
      if ('error' in k) return k;
      args.push({ kind: 'btf', struct: k.name, trusted: true, nullable: tags.has('nullable') });
    } else if (tags.has('untrusted')) {
      if (!only('untrusted')) return { error: `arg#${i} untrusted cannot be combined with any other tags` };
      if (to.isVoid || to.btfKind === 'INT' || to.btfKind === 'ENUM' || to.btfKind === 'ENUM64') {
        args.push({ kind: 'untrusted_mem' });
        continue;
      }
      const k = kernelTarget(kernelBtf, to, i);
      if ('error' in k) return k;
      if (k.kind !== 'STRUCT' && k.kind !== 'UNION') return { error: `arg#${i} has type ${k.kind} '', but only struct or primitive types are allowed` };
      args.push({ kind: 'btf', struct: k.name, trusted: false, nullable: false });
    } else if (tags.has('arena')) {
      if (!only('arena')) return { error: `arg#${i} arena cannot be combined with any other tags` };
      args.push({ kind: 'arena' });
    } else {
      // a generic pointer to the caller's memory
      if (tags.has('nullable')) return { error: `arg#${i} has invalid combination of tags` };
      if (to.size === undefined) return { error: `arg#${i} reference type('${to.btfKind} ${to.name}') size cannot be determined: -22` };
      args.push({ kind: 'mem', size: to.size, nonNull: tags.has('nonnull') });
    }
  }
  return { args };
}

/** What btf_prepare_func_args makes of a static function: its arguments, or a failure (with the line it logs, if any). */
function staticArgs(fn: BtfFunc, type: ProgType): { readonly args: readonly GlobalArg[] } | { readonly line?: string } {
  if (fn.params.length > 5 || fn.ret.kind !== 'scalar') return {};
  const args: GlobalArg[] = [];
  for (const [i, p] of fn.params.entries()) {
    if (p.tags?.length) return { line: `arg#${i} type tag is not supported in static functions` };
    const t = p.type;
    if (t.kind === 'scalar') {
      args.push({ kind: 'anything' });
      continue;
    }
    if (t.kind !== 'ptr') return {};
    const ctx = CTX_STRUCT[type];
    if (t.to.isStruct && ctx !== undefined && (t.to.name === ctx || PROJECTION[ctx] === t.to.name)) args.push({ kind: 'ctx' });
    else if (isDynptrStruct(t.to)) args.push({ kind: 'dynptr' });
    else return {};
  }
  return { args };
}

/** An environment that records which functions' BTF the kernel would mark unreliable. */
export interface StaticCallEnv extends GlobalEnv {
  /** func_info_aux[].unreliable: subprograms whose BTF did not match a call (btf_check_subprog_call). */
  readonly unreliable: Set<number>;
}

/**
 * btf_check_subprog_call for a static function `sub` called (or passed as a callback) with the
 * registers of `f`: btf_prepare_func_args as a static function takes its BTF, then
 * btf_check_func_arg_match compares R1..R5 with it. The call goes on either way; the first
 * failure logs the kernel's line, if it has one, and marks the function's BTF unreliable, after
 * which it is not looked at again. An unreliable function cannot be replaced by an extension
 * (bpf_check_attach_target: `Cannot replace static functions`).
 */
export function checkStaticCall(env: StaticCallEnv, f: Frame, sub: number): void {
  if (env.unreliable.has(sub)) return;
  const fn = env.load.subprogFunc(sub);
  const prepared = fn ? staticArgs(fn, env.type) : {};
  let line: string | undefined;
  if (!('args' in prepared)) line = prepared.line;
  else {
    const bad = prepared.args.findIndex((a, i) => {
      const r = f.regs[i + 1]!;
      if (a.kind === 'anything') return r.type !== 'scalar';
      return a.kind === 'ctx' && (r.type !== 'ctx' || r.off !== 0);
    });
    if (bad < 0) return;
    const r = f.regs[bad + 1]!;
    if (prepared.args[bad]!.kind === 'anything') line = `R${bad + 1} is not a scalar`;
    // check_func_arg_reg_off (__check_ptr_off_reg) before the type
    else if (r.type !== 'ctx') line = `arg#${bad} expects pointer to ctx`;
    else line = r.off < 0 ? `negative offset ctx ptr R${bad + 1} off=${r.off} disallowed` : `dereference of modified ctx ptr R${bad + 1} off=${r.off} disallowed`;
  }
  if (line !== undefined) env.log2(line);
  env.unreliable.add(sub);
}

/** is_trusted_reg: referenced, PTR_TRUSTED, or an allocated object. */
const isTrustedReg = (r: Reg): boolean => !!r.refObjId || btfPtr(r.type)?.flag === 'trusted_' || (r.memSize !== undefined && btfPtr(r.type)?.flag === '');

/** check_reg_type's list for ARG_PTR_TO_BTF_ID (btf_ptr_types). */
const BTF_PTR_TYPES = ['ptr_', 'trusted_ptr_', 'rcu_ptr_'];

/** btf_check_func_arg_match: the caller's R1..R5 against the arguments. */
function checkArgs(env: GlobalEnv, st: State, f: Frame, pc: number, args: readonly GlobalArg[]): void {
  args.forEach((a, i) => {
    const regno = i + 1;
    const r: Reg = f.regs[regno]!;
    switch (a.kind) {
      case 'anything':
        if (r.type !== 'scalar') env.reject(pc, `R${regno} is not a scalar`);
        return;
      case 'untrusted_mem':
        // read-only and read through probe loads: anything goes
        return;
      case 'ctx':
        // check_func_arg_reg_off first: offsets are fine on scalars and memory pointers, fixed
        // ones on BTF pointers; anything else (the context, an uninitialized register:
        // "variable ? access var_off=... disallowed") must be as it was made
        if (!OFF_ANY.has(r.type)) ptrOffOk(env, pc, r, regno, btfPtr(r.type) !== undefined);
        if (r.type !== 'ctx') env.reject(pc, `arg#${i} expects pointer to ctx`);
        return;
      case 'mem': {
        if (isNull(r)) {
          // the running kernel backtracks a NULL argument's precision before it looks further
          env.precise(regno);
          if (a.nonNull) env.reject(pc, `arg#${i} is expected to be non-NULL`);
          return;
        }
        // check_mem_reg: the memory must allow reading and writing `size` bytes, NULL aside
        const p = mayBeNull(r) ? nonNull(r) : r;
        helperMem(env, st, pc, regno, p, a.size, false, true);
        helperMem(env, st, pc, regno, p, a.size, true, true, false);
        if (a.nonNull && mayBeNull(r)) env.reject(pc, `arg#${i} is expected to be non-NULL`);
        return;
      }
      case 'arena':
        if (r.type !== 'scalar' && r.type !== 'arena') env.reject(pc, `R${regno} is not a pointer to arena or scalar.`);
        return;
      case 'dynptr':
        processDynptrArg(env, st, f, pc, regno, { uninit: false, rdonly: true });
        return;
      case 'btf': {
        if (!a.trusted) return;
        if (isNull(r) && a.nullable) {
          env.precise(regno);
          return;
        }
        // the running 6.18 kernel asks for a trusted register before it looks at the type
        if (!isTrustedReg(r)) env.reject(pc, `R${regno} must be referenced or trusted`);
        const b = btfPtr(r.type);
        const folded = b && a.nullable ? { ...b, orNull: false } : b;
        if (!folded || folded.orNull || !BTF_PTR_TYPES.includes(`${folded.flag}ptr_`))
          env.reject(pc, `R${regno} type=${regTypeStrBare(r)} expected=${BTF_PTR_TYPES.join(', ')}`);
        if (folded.struct !== a.struct) env.reject(pc, `R${regno} is of type ${folded.struct} but ${a.struct} is expected`);
        return;
      }
    }
  });
}

/** check_func_call for a global subprogram: its arguments checked, the call logged; the caller clears R0..R5 after. */
export function globalCall(env: GlobalEnv, st: State, f: Frame, pc: number, k: number, mightSleep: boolean): void {
  const name = nameOf(env, k);
  const fn = env.load.subprogFunc(k)!;
  const prepared = globalArgs(fn, env.type, env.load.kernelBtf, env.attach);
  // btf_check_subprog_call logs why the arguments do not match; the verdict on them comes last
  let argLines: readonly string[] | undefined;
  try {
    if ('error' in prepared) env.reject(pc, prepared.error);
    checkArgs(env, st, f, pc, prepared.args);
  } catch (e) {
    if (!(e instanceof VerifierReject)) throw e;
    argLines = e.lines;
  }
  const lines = argLines ?? [];
  if (activeLocks(st)) env.reject(pc, ...lines, 'global function calls are not allowed while holding a lock,', 'use static function instead');
  if (mightSleep && (st.rcuLock || st.preemptLocks || st.irqId || !inSleepable(env, st)))
    env.reject(pc, ...lines, 'global functions that may sleep are not allowed in non-sleepable context,', 'i.e., in a RCU/IRQ/preempt-disabled section, or in', 'a non-sleepable BPF program context');
  if (argLines) env.reject(pc, ...argLines, `Caller passes invalid args into func#${k} ('${name}')`);
  env.log2(`Func#${k} ('${name}') is global and assumed valid.`);
  env.load.calledGlobals.add(k);
}

/**
 * The kernel's reg->dynptr.type of a global function's dynptr argument as the running 6.18
 * kernel prints it (`dynptr_ptr(id=3,type=skb)`), although do_check_common asks for a local one.
 */
const GLOBAL_DYNPTR_KIND = 'skb';

/** The register a global function's argument is on entry (do_check_common). */
function entryReg(env: GlobalEnv, a: GlobalArg): Reg {
  switch (a.kind) {
    case 'ctx':
      return pointer('ctx');
    case 'anything':
    case 'arena':
      return UNKNOWN;
    case 'mem':
      return a.nonNull ? pointer('mem', { memSize: a.size }) : pointer('mem_or_null', { memSize: a.size, id: env.nextId() });
    case 'untrusted_mem':
      return pointer('rdonly_untrusted_mem', { memSize: 0 });
    case 'btf':
      return pointer(btfPtrType(a.struct, a.trusted ? 'trusted_' : 'untrusted_', a.nullable), { id: env.nextId() });
    case 'dynptr': {
      const id = env.nextId();
      return pointer('dynptr_ptr', { id, dynptr: { kind: GLOBAL_DYNPTR_KIND, first: true, id } });
    }
  }
}

/** The frame a global subprogram is verified in on its own: R1..R5 from its prototype. */
export function globalEntry(env: GlobalEnv, k: number): Frame {
  const fn = env.load.subprogFunc(k)!;
  const prepared = globalArgs(fn, env.type, env.load.kernelBtf, env.attach);
  if ('error' in prepared) env.reject(env.subprogs[k]!.start, prepared.error);
  const f = newFrame(k, -1);
  if (k === env.exceptionCb) {
    // do_check_common: the exception callback takes the cookie, one scalar, and returns as the program does
    if (prepared.args.length !== 1 || prepared.args[0]!.kind !== 'anything') env.reject(env.subprogs[k]!.start, 'exception cb only supports single integer argument');
    f.excCb = true;
  }
  prepared.args.forEach((a, i) => (f.regs[i + 1] = entryReg(env, a)));
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

