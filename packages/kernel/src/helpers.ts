import { ATTACH_TYPES, type Insn, type ProgType } from '@bpf/isa';
import { loadProgram } from './prog.js';

/** How a program is loaded, as far as which helpers its type gets depends on it. */
export interface HelperProbeTarget {
  readonly type: ProgType;
  /** Expected attach type, by its `ATTACH_TYPES` name. */
  readonly expectedAttachType?: string;
  /** BTF id of what a tracing, LSM or struct_ops program attaches to. */
  readonly attachBtfId?: number;
  /** Loaded with BPF_F_SLEEPABLE. */
  readonly sleepable?: boolean;
}

const probes = new Map<string, (id: number) => boolean>();

/** What a probe asks about: a helper (`call id`) or a kfunc of vmlinux (`call` BPF_PSEUDO_KFUNC_CALL of BTF id `id`). */
type Kind = 'helper' | 'kfunc';
/** The kernel's first complaint when the program's type may not call it (check_helper_call, fetch_kfunc_meta). */
const REFUSED: Record<Kind, RegExp> = {
  helper: /^(program of this type cannot use helper|unknown func|invalid func)/,
  kfunc: /^calling kernel function \S+ is not allowed$/,
};

/**
 * Which helpers the running kernel gives programs loaded as `target`, asked of the kernel
 * itself: a helper id is loaded in `call id; r0 = 0; exit` with the program's type, attach type,
 * attach target and sleepability, and is available unless the kernel's first complaint is that
 * the type cannot use it. The verifier's first check of a helper call is that one
 * (check_helper_call asks the type's get_func_proto before it looks at an argument), so
 * whatever else the kernel says of such a program is about something after it.
 *
 * This is for a kernel built from sources that differ from the ones a helper table was made
 * from (a distribution's or a vendor's patch taking a helper away from a program type): the
 * verifier takes the answer as `VerifyOptions.helperAvailable`. Nothing is loaded until a helper
 * is asked about; each id is asked once per process and target. Where the kernel cannot be
 * asked (no bpf() for this process, or a program type it refuses before verifying: one whose
 * loads need a target program, or one a security module turns away) every helper is available,
 * and the tables decide. Undefined off Linux.
 */
export function helperProbe(target: HelperProbeTarget): ((id: number) => boolean) | undefined {
  return probe('helper', target);
}

/**
 * Which kfuncs of vmlinux (by BTF id) the running kernel lets programs loaded as `target` call,
 * asked as `helperProbe` asks about helpers: the kfunc's call is loaded, and it is available
 * unless the kernel answers `calling kernel function NAME is not allowed` (fetch_kfunc_meta: no
 * kfunc set registered for the program's type holds it, checked before any argument). For
 * `@bpf/verifier`'s `kfuncAvailable` option: this machine kind's kernel refuses the arena kfuncs
 * to every program type, which its sources register for all.
 */
export function kfuncProbe(target: HelperProbeTarget): ((btfId: number) => boolean) | undefined {
  return probe('kfunc', target);
}

function probe(kind: Kind, target: HelperProbeTarget): ((id: number) => boolean) | undefined {
  if (process.platform !== 'linux') return undefined;
  const key = `${kind}/${target.type}/${target.expectedAttachType ?? ''}/${target.attachBtfId ?? ''}/${target.sleepable === true}`;
  let asked = probes.get(key);
  if (asked === undefined) probes.set(key, (asked = askKernel(kind, target)));
  return asked;
}

function askKernel(kind: Kind, target: HelperProbeTarget): (id: number) => boolean {
  const expectedAttachType = target.expectedAttachType === undefined ? -1 : (ATTACH_TYPES as readonly string[]).indexOf(target.expectedAttachType);
  const load = (insns: readonly Insn[]) => {
    const k = loadProgram(
      { insns, type: target.type },
      {
        type: target.type,
        logLevel: 1,
        logSize: 4096,
        license: 'GPL',
        readInfo: false,
        ...(expectedAttachType >= 0 ? { expectedAttachType } : {}),
        ...(target.attachBtfId !== undefined ? { attachBtfId: target.attachBtfId } : {}),
        ...(target.sleepable ? { flags: 1 << 4 } : {}),
      },
    );
    k.close();
    return k;
  };
  let answers: Map<number, boolean> | null | undefined;
  return (id) => {
    if (answers === undefined) {
      try {
        // r0 = 0; exit: a type this kernel refuses before its verifier runs has nothing to tell
        const trivial = load([MOV_R0_0, EXIT]);
        answers = trivial.accepted || trivial.log !== '' ? new Map() : null;
      } catch {
        answers = null; // no bpf() here (no koffi, no privilege): nothing to ask
      }
    }
    if (answers === null) return true;
    let a = answers.get(id);
    if (a === undefined) {
      const error = load([{ code: 0x85, dst: 0, src: kind === 'kfunc' ? 2 : 0, off: 0, imm: id }, MOV_R0_0, EXIT]).error ?? '';
      answers.set(id, (a = !REFUSED[kind].test(error)));
    }
    return a;
  };
}

const MOV_R0_0: Insn = { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 };
const EXIT: Insn = { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 };
