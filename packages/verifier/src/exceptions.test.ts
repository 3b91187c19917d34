import { btfString, parseBtf, writeBtf, type Btf } from '@bpf/btf';
import type { Insn, Program } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, expectSameAsKernel, fixtureSource, haveVmlinux, kernelBtf, kernelXlated } from './kernel.test.helper.js';
import { DEFAULT_EXCEPTION_CB } from './xlate.js';

/** A copy of `p` whose BTF has `from` (a whole string of its string section) renamed `to`, of the same length. */
function renamed(p: Program, from: string, to: string): Program {
  const bytes = p.btf!.bytes.slice();
  const at = Buffer.from(bytes).indexOf(Buffer.from(`${from}\0`));
  expect(at).toBeGreaterThan(0);
  bytes.set(Buffer.from(to), at);
  return { ...p, btf: { bytes } };
}

/** A copy of `p` whose BTF FUNC `name` has static linkage. */
function madeStatic(p: Program, name: string): Program {
  const btf = parseBtf(p.btf!.bytes);
  const types = btf.types.map((t) => (t?.kind === 'FUNC' && btfString(btf, t.nameOff) === name ? { ...t, vlen: 0 } : t));
  return { ...p, btf: { bytes: writeBtf({ ...btf, types } as Btf) } };
}

/** Programs whose level-2 logs still differ somewhere (verdict, error and processed count agree): none. */
const LOG_DIFFERS = new Set<string>([]);

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('exceptions: the kernel verdict, message, processed count and log, program by program', () => {
  const programs = buildC(fixtureSource('exceptions', 'exceptions.c', 'exceptions.h'));
  const dump = process.env.BPF_DUMP_LOGS;
  it.each(programs.map((p) => [p.name, p] as const))('%s', (name, p) => expectSameAsKernel(name, p, { logDiffers: LOG_DIFFERS, ...(dump ? { dump } : {}) }));
  // the tag's own checks (bpf_find_exception_callback_insn_off), which a libbpf-style loader
  // never lets through: the BTF is edited after linking, and the kernel judges the result
  it.each([
    ['a callback no FUNC has', (p: Program) => renamed(p, 'exception_callback:catch_low_bit', 'exception_callback:catch_low_bix')],
    ['a FUNC of no func_info entry', (p: Program) => renamed(p, 'exception_callback:catch_low_bit', 'exception_callback:catch_rethrow')],
    ['a static callback', (p: Program) => madeStatic(p, 'catch_low_bit')],
  ] as const)('cb_named with %s', (what, edit) => {
    const p = programs.find((x) => x.name === 'cb_named')!;
    expectSameAsKernel(`cb_named (${what})`, edit(p), dump ? { dump } : {});
  });
  // do_misc_fixups' hidden default exception callback: a program that throws without a callback
  // of its own ends, as the kernel hands it to its JIT, in `r0 = r1; exit` (add_hidden_subprog).
  // The kernel's other rewrites are not xlate's (context loads, bpf_loop inlining, division
  // checks, call and map encodings): instructions are compared by opcode and registers, and the
  // programs the kernel rewrites otherwise are named with the rewrite
  const OTHER_REWRITES = new Map([
    ['throw_beside_loop_cb', 'inline_bpf_loop'],
    ['require_ne_zero', 'the division by a register guarded'],
    ['throw_xdp_cookie', 'xdp_md loads converted (convert_ctx_accesses)'],
    ['require_pkt', 'xdp_md loads converted (convert_ctx_accesses)'],
    ['tail_in_static_pkt_kept', 'xdp_md loads converted (convert_ctx_accesses)'],
    ['tail_in_main_pkt_kept', 'xdp_md loads converted (convert_ctx_accesses)'],
  ]);
  it("xlated: the kernel's hidden default exception callback, program by program", () => {
    // a map's ld_imm64 is dumped as BPF_PSEUDO_MAP_FD whichever way the loader named the map
    const shape = (x: readonly Insn[]): string[] => x.map((i) => `${i.code.toString(16)} ${i.dst} ${i.code === 0x18 ? '' : i.src}`);
    const exact = (i: Insn | undefined): string => (i ? `${i.code.toString(16)} ${i.dst} ${i.src} ${i.off} ${i.imm}` : '-');
    let hidden = 0;
    let compared = 0;
    for (const p of programs) {
      const kx = kernelXlated(p);
      if (!kx) continue;
      const ours = verify(p, { kernelBtf: kernelBtf(), logLevel: 0 });
      expect(ours.accepted, p.name).toBe(true);
      const ox = ours.xlated!;
      compared++;
      if (ox.subprogs.at(-1)!.name === DEFAULT_EXCEPTION_CB) hidden++;
      expect(kx.slice(-2).map(exact), p.name).toEqual(ox.insns.slice(-2).map(exact));
      if (OTHER_REWRITES.has(p.name)) expect(shape(kx), p.name).not.toEqual(shape(ox.insns));
      else expect(shape(kx), p.name).toEqual(shape(ox.insns));
    }
    expect(compared).toBeGreaterThanOrEqual(20);
    expect(hidden).toBeGreaterThanOrEqual(15);
  });
  it('covers bpf_throw, exception callbacks, what a throw must release, callbacks and assertions', () => {
    expect(programs.length).toBeGreaterThanOrEqual(40);
    expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['tail_in_static', 'tail_in_static_pkt_after', 'tail_in_main_pkt_kept', 'throw_default', 'cgroup_cookie_out_of_range', 'throw_in_static', 'cb_named', 'cb_no_arg', 'cb_throws', 'cb_called_directly', 'cb_twice', 'throw_in_rcu', 'throw_holding_record', 'throw_in_loop_cb', 'throw_in_timer_cb', 'require_within_index']));
  });
});
