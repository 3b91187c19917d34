/**
 * Memory typed by the kernel's BTF (kernel/bpf/btf.c btf_ctx_access, btf_struct_access): the
 * arguments of the function or tracepoint a tracing program attaches to, read from its
 * context (pointers to structs are trusted `PTR_TO_BTF_ID`s), and reads of kernel structs
 * through such pointers (scalars, or pointers to further structs).
 */
import { structFieldRead } from './btfproto.js';
import type { Env } from './env.js';
import { btfPtr, btfPtrType } from './nullable.js';
import { pointer, UNKNOWN, type Reg } from './state.js';

/** A tracing program's context slot at `off` when its BTF says it is a struct pointer. */
export function tracingCtxArg(env: Env, off: number): Reg | undefined {
  if (env.type !== 'tracing') return undefined;
  const arg = env.load.tracingArg(off);
  if (arg?.type.kind !== 'ptr' || !arg.type.to.isStruct) return undefined;
  env.log2(`func '${arg.func}' arg${arg.arg} has btf_id ${arg.type.to.id} type STRUCT '${arg.type.to.name}'`);
  return pointer(btfPtrType(arg.type.to.name, 'trusted_'));
}

/** A load through a pointer to a kernel struct; undefined when `r` is no such pointer. */
export function kernelStructRead(env: Env, pc: number, r: Reg, off: number, size: number, write: boolean): Reg | undefined {
  const b = btfPtr(r.type);
  const btf = env.load.kernelBtf;
  if (!b || b.orNull || r.memSize !== undefined || !btf) return undefined;
  if (write) env.reject(pc, 'only read is supported');
  const field = structFieldRead(btf, b.struct, off, size);
  if ('error' in field) env.reject(pc, field.error);
  return field.kind === 'ptr' ? pointer(btfPtrType(field.to)) : UNKNOWN;
}
