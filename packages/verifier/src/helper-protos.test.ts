import { existsSync, readFileSync } from 'node:fs';
import { findByName } from '@bpf/btf';
import { ATTACH_TYPES, HELPER_NAMES, PROG_TYPES, type Insn, type Program, type ProgType } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { PROG_TYPE_HELPERS, PROTOS } from './helper-protos.js';
import { configGatedProto, helperIds, helperProto, verify } from './index.js';
import { haveVmlinux, kernelApi, kernelBtf } from './kernel.test.helper.js';

const MAX_ID = 211;
const UAPI = '/usr/include/linux/bpf.h';

/** `__BPF_FUNC_MAPPER`: `FN(name, id, ...)` since Linux 6.1, `FN(name)` in id order before. */
function uapiNames(text: string): (readonly [number, string])[] {
  const body = text.slice(text.indexOf('#define ___BPF_FUNC_MAPPER') >= 0 ? text.indexOf('#define ___BPF_FUNC_MAPPER') : text.indexOf('#define __BPF_FUNC_MAPPER'));
  const end = body.indexOf('/* */');
  return [...body.slice(0, end).matchAll(/FN\((\w+)(?:,\s*(\d+))?/g)].map((m, i) => [m[2] !== undefined ? Number(m[2]) : i, `bpf_${m[1]}`] as const);
}

describe('the generated table', () => {
  it('names every helper of the UAPI by its id (__BPF_FUNC_MAPPER)', () => {
    // the installed UAPI header when there is one, else the isa package's own table
    const names = existsSync(UAPI)
      ? uapiNames(readFileSync(UAPI, 'utf8'))
      : HELPER_NAMES.map((n, id) => [id, n] as const);
    expect(names.length).toBeGreaterThan(200);
    for (const [id, name] of names) expect(HELPER_NAMES[id]).toBe(name);
  });
  it('gives every helper id 1..211 a prototype in some program type', () => {
    const missing: number[] = [];
    for (let id = 1; id <= MAX_ID; id++) if (!configGatedProto(id) && !PROG_TYPES.some((t) => helperProto(id, t) !== undefined) && !Object.entries(PROG_TYPE_HELPERS).some(([t, r]) => Object.keys(r.byAttach ?? {}).some((a) => helperProto(id, t as ProgType, a)))) missing.push(id);
    expect(missing).toEqual([]);
  });
  it('reads prototypes in the kernel terms: bpf_sk_lookup_tcp acquires a socket, bpf_sk_release releases one', () => {
    const lookup = helperProto(84, 'sched_cls')!;
    expect(lookup.ret).toMatchObject({ base: 'socket', maybeNull: true });
    expect(lookup.args.map((a) => a.base)).toEqual(['ctx', 'mem', 'size_or_zero', 'anything', 'anything']);
    expect(helperProto(86, 'sched_cls')!.args[0]).toMatchObject({ base: 'btf_id_sock_common', release: true });
    expect(helperProto(35, 'tracepoint')).toMatchObject({ func: 'bpf_get_current_task', ret: { base: 'integer' }, gpl: true });
    expect(PROTOS.length).toBeGreaterThan(200);
  });
  it('decides availability per program type and attach type', () => {
    expect(helperIds('socket_filter')).not.toContain(44);
    expect(helperIds('xdp')).toContain(44);
    // Linux 6.18 gives bpf_get_current_task to every program type (bpf_base_func_proto)
    expect(helperIds('socket_filter')).toContain(35);
    expect(helperProto(126, 'tracing', 'trace_iter')?.func).toBe('bpf_seq_printf');
    expect(helperProto(126, 'tracing', 'trace_fentry')).toBeUndefined();
  });
});

/** How each program type is loaded for the comparison: its attach type and target. */
interface Load {
  readonly attach?: string;
  readonly btf?: readonly [string, 'TYPEDEF' | 'FUNC' | 'STRUCT'];
  readonly sleepable?: boolean;
}
const LOADS: Partial<Record<ProgType, Load>> = {
  tracing: { attach: 'trace_raw_tp', btf: ['btf_trace_sched_switch', 'TYPEDEF'] },
  lsm: { attach: 'lsm_mac', btf: ['bpf_lsm_file_open', 'FUNC'] },
  syscall: { sleepable: true },
  sk_lookup: { attach: 'sk_lookup' },
  netfilter: { attach: 'netfilter' },
  lirc_mode2: { attach: 'lirc_mode2' },
  flow_dissector: { attach: 'flow_dissector' },
};
/** Program types left out, and why. */
const SKIPPED: Partial<Record<ProgType, string>> = {
  unspec: 'not a program type',
  ext: 'an extension takes its target program type; it needs a loaded target program',
  struct_ops: 'loaded only as a member of a registered struct_ops map',
};

interface KernelProg {
  loadProgram(p: Program, o: { type: ProgType; expectedAttachType?: number; attachBtfId?: number; flags?: number; logLevel: number; license: string }): { accepted: boolean; errno: number; error?: string; log: string; close(): void };
  helperProbe(t: { type: ProgType; expectedAttachType?: string; attachBtfId?: number; sleepable?: boolean }): ((id: number) => boolean) | undefined;
}
const kernel = kernelApi as unknown as KernelProg | undefined;

const callOnly = (id: number): readonly Insn[] => [
  { code: 0x85, dst: 0, src: 0, off: 0, imm: id },
  { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 },
  { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
];

describe.skipIf(skipWithout('kernel') || kernel === undefined || !haveVmlinux())('every helper in every program type against the live kernel', () => {
  const types = PROG_TYPES.filter((t) => SKIPPED[t] === undefined);
  // one batch of loads per program type: `call N; r0 = 0; exit` for each helper id, whose first
  // error is availability (`program of this type cannot use helper`), the license, sleepability
  // or the first argument's type. Ours is asked as `bpf verify` asks it: with the running
  // kernel's answer to which of the helpers our tables give the type it gives
  // (@bpf/kernel's helperProbe, VerifyOptions.helperAvailable). A kernel built from patched
  // sources can take a helper away (this machine's 6.18.44-fc build refuses
  // bpf_xdp_adjust_meta in XDP programs, which its sources give them); the probe only ever
  // takes away, so a helper the kernel gives and our tables do not still fails here.
  it.for(types)('%s', (type, ctx) => {
    const load = LOADS[type] ?? {};
    const attach = load.attach ?? PROG_TYPE_HELPERS[type]?.attach;
    const btfId = load.btf ? findByName(kernelBtf(), load.btf[0], load.btf[1])[0] : undefined;
    const diffs: string[] = [];
    let available = 0;
    const kernelLoad = (insns: readonly Insn[]) => {
      const p: Program = { insns, type, ...(attach !== undefined ? { expectedAttachType: attach } : {}), ...(btfId !== undefined ? { attachBtfId: btfId } : {}) };
      const k = kernel!.loadProgram(p, {
        type,
        logLevel: 1,
        license: 'GPL',
        ...(attach !== undefined ? { expectedAttachType: (ATTACH_TYPES as readonly string[]).indexOf(attach) } : {}),
        ...(btfId !== undefined ? { attachBtfId: btfId } : {}),
        ...(load.sleepable ? { flags: 1 << 4 } : {}),
      });
      k.close();
      return { p, k };
    };
    // a program type this kernel lacks (a config option off) or refuses before verifying (an LSM
    // program where the BPF LSM is not active) has nothing to compare
    const trivial = kernelLoad(callOnly(0).slice(1)).k;
    if (!trivial.accepted && trivial.log === '') {
      ctx.skip(`the kernel refuses ${type} programs before verifying them (errno ${trivial.errno})`);
      return;
    }
    const helperAvailable = kernel!.helperProbe({ type, ...(attach !== undefined ? { expectedAttachType: attach } : {}), ...(btfId !== undefined ? { attachBtfId: btfId } : {}), ...(load.sleepable ? { sleepable: true } : {}) });
    for (let id = 1; id <= MAX_ID + 2; id++) {
      const { p, k } = kernelLoad(callOnly(id));
      const ours = verify(p, { type, kernelBtf: kernelBtf(), ...(load.sleepable ? { sleepable: true } : {}), ...(helperAvailable ? { helperAvailable } : {}) });
      const theirs = k.accepted ? undefined : (k.error ?? `errno ${k.errno} without a log`);
      if (!(theirs ?? '').startsWith('program of this type')) available++;
      if ((ours.error?.message ?? undefined) !== theirs) diffs.push(`${HELPER_NAMES[id] ?? id}#${id}: kernel ${theirs ?? 'accepts'}, ours ${ours.error?.message ?? 'accepts'}`);
    }
    expect(available).toBeGreaterThan(10);
    expect(diffs).toEqual([]);
  });
});
