import { BtfBuilder, findByName, type Btf } from '@bpf/btf';
import { assemble, type Program } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { RAW_TP_NULL_ARGS } from './btfctx-tables.js';
import { rawTpArgFlags } from './btfctx.js';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, haveVmlinux, kernelBtf } from './kernel.test.helper.js';

/**
 * tp_btf arguments that raw_tp_null_args marks as possible ERR_PTRs (nibble bit 0x2): btf_ctx_access
 * checks the pointer as usual (`func '%s' arg%d has btf_id ...`), then makes it a scalar and logs
 * `marking pointer arg%d as scalar as it may encode error` — without a newline, so the next thing
 * the verifier prints continues that line (kernel/bpf/btf.c, 6.18).
 */
const errArgs = (tp: string): number[] => [...Array(12).keys()].filter((a) => rawTpArgFlags(tp, a) & 2);
const ERR_TRACEPOINTS = Object.keys(RAW_TP_NULL_ARGS).filter((tp) => errArgs(tp).length > 0);

/**
 * A kernel BTF holding one tracepoint like 6.18's cachefiles_lookup (raw_tp_null_args 0x201: arg0
 * may be NULL, arg2 may be an ERR_PTR); its struct types stand in for the kernel's.
 */
function cachefilesBtf(): { btf: Btf; id: number; dentry: number; object: number } {
  const b = new BtfBuilder();
  const object = b.struct('cachefiles_object');
  const dentry = b.struct('dentry');
  const proto = b.funcProto(0, [
    { name: '__data', type: b.ptr(0) },
    { name: 'obj', type: b.ptr(object) },
    { name: 'dir', type: b.ptr(dentry) },
    { name: 'de', type: b.ptr(dentry) },
  ]);
  const id = b.add({ kind: 'TYPEDEF', nameOff: b.str('btf_trace_cachefiles_lookup'), kindFlag: false, vlen: 0, sizeOrType: b.ptr(proto) });
  return { btf: b.build(), id, dentry, object };
}

const tpBtf = (src: string, attachBtfId: number): Program => ({ ...assemble(src), type: 'tracing', expectedAttachType: 'trace_raw_tp', license: 'GPL', attachBtfId }) as Program;

describe('tp_btf arguments that may be ERR_PTRs (raw_tp_null_args)', () => {
  it("the table marks such arguments in module tracepoints (cachefiles, rpcrdma, nfs) and, since a stable update, signal_generate's and signal_deliver's info", () => {
    expect(Object.fromEntries(ERR_TRACEPOINTS.map((tp) => [tp, errArgs(tp)]))).toEqual({
      cachefiles_lookup: [2],
      mr_integ_alloc: [3],
      nfs4_inode_callback_event: [2],
      nfs4_inode_stateid_callback_event: [2],
      signal_generate: [1],
      signal_deliver: [1],
    });
  });

  const { btf, id, dentry, object } = cachefilesBtf();
  it('reads the argument as a scalar after checking its type, the message running into the next line', () => {
    const r = verify(tpBtf('r2 = *(u64 *)(r1 +16)\nr0 = 0\nexit', id), { kernelBtf: btf, logLevel: 2 });
    expect(r.error).toBeUndefined();
    expect(r.log).toContain(
      `0: (79) r2 = *(u64 *)(r1 +16)\nfunc 'cachefiles_lookup' arg2 has btf_id ${dentry} type STRUCT 'dentry'\nmarking pointer arg2 as scalar as it may encode error1: R1=ctx() R2=scalar()\n1: (b7) r0 = 0`,
    );
    // level 1 keeps the failing path only (an accepted program logs its stats line alone), with
    // the same run-on line
    expect(verify(tpBtf('r2 = *(u64 *)(r1 +16)\nr0 = 0\nexit', id), { kernelBtf: btf, logLevel: 1 }).log.split('\n').filter(Boolean)).toHaveLength(1);
    const l1 = verify(tpBtf('r2 = *(u64 *)(r1 +16)\nr0 = 0\nr0 = *(u32 *)(r2 +0)\nexit', id), { kernelBtf: btf, logLevel: 1 });
    expect(l1.log).toContain('marking pointer arg2 as scalar as it may encode error1: R1=ctx() R2=scalar()\n1: (b7) r0 = 0');
  });
  it('so it cannot be dereferenced, unlike the NULL-only argument once checked', () => {
    const deref = verify(tpBtf('r2 = *(u64 *)(r1 +16)\nr0 = *(u32 *)(r2 +0)\nexit', id), { kernelBtf: btf, logLevel: 2 });
    expect(deref.error?.message).toBe("R2 invalid mem access 'scalar'");
    const obj = verify(tpBtf('r2 = *(u64 *)(r1 +0)\nr0 = 0\nexit', id), { kernelBtf: btf, logLevel: 2 });
    expect(obj.log).toContain(`func 'cachefiles_lookup' arg0 has btf_id ${object} type STRUCT 'cachefiles_object'\n1: R1=ctx() R2=trusted_ptr_or_null_cachefiles_object(id=1)`);
    expect(obj.log).not.toContain('may encode error');
  });
});

/** Where the running kernel's BTF has such a tracepoint, the same read compared with it. */
describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('ERR_PTR tracepoint arguments against the running kernel', () => {
  const present = ERR_TRACEPOINTS.filter((tp) => findByName(kernelBtf(), `btf_trace_${tp}`, 'TYPEDEF').length > 0);
  const why = "none of the ERR_PTR tracepoints of raw_tp_null_args is in this kernel's vmlinux BTF (they are in modules)";
  it.skipIf(present.length === 0)('each one this kernel has, its ERR_PTR argument read', () => {
    const programs = buildC(`#include "bpf_defs.h"\n${present.map((tp) => `SEC("tp_btf/${tp}") int ${tp}(unsigned long long *ctx) { return ctx[${errArgs(tp)[0]}] != 0; }`).join('\n')}\nchar _license[] SEC("license") = "GPL";\n`);
    for (const p of programs) expectSameAsKernel(p.name, p);
  });
  it('says why when it cannot compare', () => {
    if (present.length === 0) console.warn(`skipping the live comparison: ${why}`);
    expect(present.every((tp) => RAW_TP_NULL_ARGS[tp] !== undefined)).toBe(true);
  });
  // the rows btfctx-tables.ts takes from a later btf.c than the tree it was generated from
  // (gen-btf-ctx.mjs --raw-tp-null-args): the running kernel has them. Each argument read and
  // used as a pointer: an ERR_PTR one is a scalar, a NULL one must be checked first.
  it.each([
    ['signal_deliver', 1],
    ['signal_generate', 1],
    ['sched_process_wait', 0],
  ] as const)('%s arg%i as the running kernel reads it (a row later than the 6.18.26 sources)', (tp, arg) => {
    if (findByName(kernelBtf(), `btf_trace_${tp}`, 'TYPEDEF').length === 0) {
      console.warn(`skipping ${tp}: not in this kernel's BTF`);
      return;
    }
    const programs = buildC(`#include "bpf_defs.h"\nSEC("tp_btf/${tp}") int ${tp}_arg(unsigned long long *ctx) { return *(volatile int *)ctx[${arg}]; }\nchar _license[] SEC("license") = "GPL";\n`);
    for (const p of programs) expectSameAsKernel(p.name, p);
  });
});
