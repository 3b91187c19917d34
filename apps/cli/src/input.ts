/**
 * Program input: a file or `-` (stdin) holding assembly text, raw instruction bytes, hex text,
 * or an ELF object; the kind is detected from the content unless `--input` forces it.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { assemble, decode, parseHex, type Insn, type Program, type ProgType } from '@bpf/isa';
import { parseBtf, type Btf } from '@bpf/btf';
import { btfTable, ElfError, linkObjects, loadObject, parseBtfTable, parseElf, type ArenaLayout, type BtfTypeTable, type ElfMap, type LoadedObject, type LoadOptions as ElfLoadOptions } from '@bpf/elf';
import { CliError, EXIT, usage } from './errors.js';
import { kernelKconfig } from './kconfig.js';
import { loadKernel } from './kernel-loader.js';

export type InputKind = 'raw' | 'hex' | 'asm' | 'elf';
export const INPUT_KINDS: readonly InputKind[] = ['raw', 'hex', 'asm', 'elf'];

export function readInput(file: string): Uint8Array {
  if (file === '-') return new Uint8Array(readFileSync(0));
  try {
    return new Uint8Array(readFileSync(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(EXIT.INPUT, `${file}: cannot read (${code ?? String(e)})`);
  }
}

const isText = (b: Uint8Array): boolean => {
  for (let i = 0; i < Math.min(b.length, 4096); i++) {
    const c = b[i]!;
    if (c === 0 || (c < 0x09) || (c > 0x0d && c < 0x20 && c !== 0x1b)) return false;
  }
  return true;
};

/** Detect the input kind from the bytes. */
export function detectKind(b: Uint8Array): InputKind {
  if (b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) return 'elf';
  if (!isText(b)) return 'raw';
  const text = new TextDecoder().decode(b);
  const body = text.replace(/(#|\/\/)[^\n]*/g, '');
  if (/^[\s,]*((0x)?[0-9a-fA-F]{2}[\s,]*)+$/.test(body)) return 'hex';
  return 'asm';
}

export interface LoadOptions {
  readonly input?: string;
  readonly section?: string;
  readonly prog?: string;
  readonly endian?: 'little' | 'big';
  /**
   * ELF: the attach target of the chosen tracing / LSM program, replacing its section's (a
   * host loader's, as cilium/ebpf's `ProgramSpec.AttachTo`; tetragon's sections are placeholders).
   */
  readonly attachTo?: string;
  /** ELF: bodies of extern functions a host loader links in at load time, by name (tetragon's `cel_expr_N`). */
  readonly functions?: ReadonlyMap<string, readonly Insn[]>;
  /** ELF: global variables set before loading, by name (a skeleton's `rodata->x = v`). */
  readonly globals?: Readonly<Record<string, bigint | Uint8Array>>;
  /** ELF: how the object's BPF-to-BPF calls are linked (default: libbpf's, cilium/ebpf's for calls across sections). */
  readonly linker?: 'libbpf' | 'cilium/ebpf';
  /** ELF: whose rules open the object (default: libbpf 1.x's when libbpf's linker links it; `raw`: no extern checks at open). */
  readonly opener?: 'libbpf' | 'raw';
  /** ELF: the attach target's BTF id, for fentry/fexit programs attached to another BPF program (all of the object's). */
  readonly attachBtfId?: number;
  /** ELF: objects linked after FILE first, as `bpftool gen object OUT FILE LINK...` links them. */
  readonly link?: readonly string[];
  /**
   * ELF: where `__arena` globals go in the arena map, asked only of an object that has them (a
   * kernel probe for `bpf kernel load`, as libbpf probes the kernel it loads into); without it
   * they go at the start of the arena (kernels before 6.19).
   */
  readonly arena?: () => ArenaLayout;
}

export interface LoadedInput {
  readonly kind: InputKind;
  readonly program: Program;
  /** Every program of an ELF object (the chosen one is `program`). */
  readonly all: readonly Program[];
}

/** Read FILE and turn it into a Program, whatever its kind. */
export function loadProgram(file: string, opts: LoadOptions = {}): LoadedInput {
  let bytes = readInput(file);
  if (opts.link?.length) {
    // several objects built to be linked first: libbpf's static linker, then the result
    if (detectKind(bytes) !== 'elf') throw new CliError(EXIT.INPUT, `${file}: --link needs ELF objects`);
    bytes = linkObjects([file, ...opts.link].map((f, i) => ({ name: f, bytes: i === 0 ? bytes : readInput(f) })));
  }
  let kind: InputKind;
  if (opts.input !== undefined) {
    if (!(INPUT_KINDS as readonly string[]).includes(opts.input))
      throw usage(`--input must be one of ${INPUT_KINDS.join(', ')} (got '${opts.input}')`);
    kind = opts.input as InputKind;
  } else kind = detectKind(bytes);
  const strictDecode = (b: Uint8Array): Program => ({ insns: decode(b, { endian: opts.endian ?? 'little' }) });
  switch (kind) {
    case 'raw':
      return { kind, program: strictDecode(bytes), all: [] };
    case 'hex':
      return { kind, program: strictDecode(parseHex(new TextDecoder().decode(bytes))), all: [] };
    case 'asm': {
      const program = assemble(new TextDecoder().decode(bytes));
      return { kind, program, all: [program] };
    }
    case 'elf': {
      const chosen = (p: { readonly name: string; readonly section: string }): boolean => (opts.prog === undefined || p.name === opts.prog) && (opts.section === undefined || p.section === opts.section);
      const object = loadElf(bytes, {
        ...(opts.attachTo !== undefined ? { attachTo: (p) => (chosen(p) ? opts.attachTo : undefined) } : {}),
        // every fentry/fexit program of the object, as perf and bpftool set the target for each
        ...(opts.attachBtfId !== undefined ? { attachBtfId: () => opts.attachBtfId } : {}),
        ...(opts.functions?.size ? { functions: opts.functions } : {}),
        ...(opts.globals ? { globals: opts.globals } : {}),
        ...(opts.linker ? { linker: opts.linker } : {}),
        ...(opts.opener ? { opener: opts.opener } : {}),
        ...(opts.arena ? { arena: opts.arena } : {}),
        // the program asked for is loaded on its own, as by a libbpf host that turns the others'
        // autoload off: an attach target this kernel lacks refuses only the program that has it
        // (its `unresolved`, which verify and kernel load give), not the object
        ...(opts.prog !== undefined || opts.section !== undefined ? { autoload: () => false } : {}),
      });
      const all = object.programs as readonly Program[];
      if (all.length === 0) throw new NoProgramsError(file, object.maps, object.btf);
      const pick = all.filter(
        (p) =>
          (opts.prog === undefined || p.name === opts.prog) &&
          (opts.section === undefined || (p as Program & { section?: string }).section === opts.section),
      );
      if (pick.length === 0) {
        const names = all.map((p) => `${p.name ?? '?'} (${(p as Program & { section?: string }).section ?? '?'})`).join(', ');
        throw new CliError(EXIT.INPUT, `${file}: no program matches --prog/--section; the object has: ${names}`);
      }
      if (pick.length > 1 && (opts.prog !== undefined || opts.section !== undefined || all.length > 1) && opts.prog === undefined && opts.section === undefined) {
        // several programs and no choice: take the first, as llvm-objdump lists them in order
      }
      return { kind, program: pick[0]!, all };
    }
  }
}

/**
 * Throw the error of a program its loader refuses (`@bpf/elf`'s `unresolved`: an extern or
 * attach target this kernel lacks, which cilium/ebpf resolves when it loads each program).
 */
export function refuseUnresolved(program: Program): void {
  const unresolved = (program as { readonly unresolved?: unknown }).unresolved;
  if (unresolved instanceof Error) throw unresolved;
}

/**
 * An ELF object without programs (cilium/ebpf's arena testdata: one map): nothing to verify,
 * run or load as a program; `bpf kernel load` creates its maps instead (`maps`, `btf`).
 */
export class NoProgramsError extends CliError {
  constructor(
    file: string,
    readonly maps: readonly ElfMap[],
    readonly btf?: { readonly bytes: Uint8Array },
  ) {
    const names = maps.map((m) => m.name);
    super(
      EXIT.INPUT,
      maps.length === 0
        ? `${file}: the object has no programs and no maps`
        : `${file}: the object holds maps and no programs (${maps.length} map${maps.length === 1 ? '' : 's'}: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''}); \`bpf kernel load\` creates them`,
    );
  }
}

const VMLINUX = '/sys/kernel/btf/vmlinux';

/**
 * `/proc/kallsyms`, read on the first look-up only (typeless `__ksym` externs need it; most
 * objects never ask).
 */
class Kallsyms extends Map<string, bigint> {
  private loaded = false;
  private fill(): void {
    if (this.loaded) return;
    this.loaded = true;
    let text: string;
    try {
      text = readFileSync('/proc/kallsyms', 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      const [addr, , name] = line.split(/\s+/);
      if (name && addr && !super.has(name)) super.set(name, BigInt(`0x${addr}`));
    }
  }
  override get(name: string): bigint | undefined {
    this.fill();
    return super.get(name);
  }
  override has(name: string): boolean {
    this.fill();
    return super.has(name);
  }
}

/** /proc/kallsyms, read on first use (one per process). */
const kallsyms = new Kallsyms();

/**
 * The kernel's symbols for a program that names kernel variables (`extern ... __ksym`): the
 * verifier refuses one the kernel has no address for, as the kernel does
 * (`ldimm64 failed to find the address for kernel symbol`). Undefined when the program names
 * none or the machine has no readable /proc/kallsyms.
 */
export function kernelSymbolsFor(program: Program): { has(name: string): boolean } | undefined {
  if (program.relocs?.some((r) => r.kind === 'ksym') !== true) return undefined;
  return existsSync('/proc/kallsyms') && kallsyms.has('_text') ? kallsyms : undefined;
}

let cpuIds: number | null | undefined;
/**
 * This machine's nr_cpu_ids (the highest possible CPU number plus one, from
 * /sys/devices/system/cpu/possible, e.g. "0-3" or "0,2-5"): what the running kernel bounds
 * bpf_get_smp_processor_id's result by. Undefined when it cannot be read.
 */
export function nrCpuIds(): number | undefined {
  if (cpuIds === undefined) {
    try {
      const ids = readFileSync('/sys/devices/system/cpu/possible', 'utf8')
        .trim()
        .split(',')
        .map((part) => Number(part.split('-').pop()));
      cpuIds = ids.length > 0 && ids.every((n) => Number.isInteger(n) && n >= 0) ? Math.max(...ids) + 1 : null;
    } catch {
      cpuIds = null;
    }
  }
  return cpuIds ?? undefined;
}

/** Where the kernel's answers are kept for this user (its temporary folder), and the boot they are of. */
function probesFile(): { file: string; boot: string } | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  try {
    const boot = `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()} ${readFileSync('/proc/version', 'utf8').trim()}`;
    return { file: join(tmpdir(), `bpf-cli-${uid}`, 'kernel-probes.json'), boot };
  } catch {
    return undefined;
  }
}

type ProbeAnswers = Record<string, Record<number, boolean>>;

/** The kept answers as this process read them, with the ones it asked since. */
let probes: { readonly at: { file: string; boot: string } | undefined; readonly answers: ProbeAnswers } | undefined;

function readProbes(at: { file: string; boot: string }): ProbeAnswers {
  try {
    const j = JSON.parse(readFileSync(at.file, 'utf8')) as { boot?: string; answers?: ProbeAnswers };
    return j.boot === at.boot && j.answers ? j.answers : {};
  } catch {
    return {};
  }
}

function writeProbes(at: { file: string; boot: string }, answers: ProbeAnswers): void {
  try {
    const dir = dirname(at.file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // only into a folder of this user's (another user could have made it first)
    if (process.getuid !== undefined && statSync(dir).uid !== process.getuid()) return;
    const tmp = `${at.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ boot: at.boot, answers }));
    renameSync(tmp, at.file);
  } catch {
    // no temporary folder to write: the next run asks the kernel again
  }
}

/**
 * Which helpers and vmlinux kfuncs the running kernel lets the program call, for
 * `VerifyOptions.helperAvailable` and `kfuncAvailable` (@bpf/kernel's helperProbe and
 * kfuncProbe): a kernel built from patched sources or with an option off can take away what the
 * verifier's tables, made from the kernel's sources, give the program's type, and the verdict is
 * then that kernel's. Asked on Linux for each helper and kfunc the program calls, loaded as the
 * program is (`attachType`, the BPF_F_* `flags`). The answers are kept for this boot of this
 * kernel in the user's temporary folder (`bpf-cli-UID/kernel-probes.json`), so that a later
 * command whose calls were all asked about before does not load @bpf/kernel at all (importing it
 * and asking cost about 40 ms of a one-shot `bpf verify`).
 */
export async function kernelProbesFor(program: Program, type: ProgType, load: { readonly attachType?: string; readonly flags?: number } = {}): Promise<{ helperAvailable?: (id: number) => boolean; kfuncAvailable?: (id: number) => boolean }> {
  if (process.platform !== 'linux') return {};
  const helperIds = [...new Set(program.insns.filter((i) => i.code === 0x85 && i.src === 0).map((i) => i.imm))];
  const kfuncIds = [...new Set(program.insns.filter((i) => i.code === 0x85 && i.src === 2 && i.off === 0).map((i) => i.imm))];
  if (helperIds.length === 0 && kfuncIds.length === 0) return {};
  const attachType = load.attachType ?? program.expectedAttachType;
  const attachBtfId = (program as { readonly attachBtfId?: number }).attachBtfId;
  const target = {
    type,
    ...(attachType !== undefined ? { expectedAttachType: attachType } : {}),
    ...(attachBtfId !== undefined ? { attachBtfId } : {}),
    ...((load.flags ?? 0) & (1 << 4) ? { sleepable: true } : {}),
  };
  const key = `${target.type}/${target.expectedAttachType ?? ''}/${target.attachBtfId ?? ''}/${target.sleepable === true}`;
  // read once per process (veristat asks for every program): this process's answers are added to it
  probes ??= (() => {
    const at = probesFile();
    return { at, answers: at ? readProbes(at) : {} };
  })();
  const { at, answers } = probes;
  const helpers = (answers[`helper ${key}`] ??= {});
  const kfuncs = (answers[`kfunc ${key}`] ??= {});
  if (helperIds.some((id) => !(id in helpers)) || kfuncIds.some((id) => !(id in kfuncs))) {
    const kernel = await loadKernel();
    if (!kernel) return {};
    const askHelper = helperIds.length ? kernel.helperProbe(target) : undefined;
    const askKfunc = kfuncIds.length ? kernel.kfuncProbe(target) : undefined;
    for (const id of helperIds) if (!(id in helpers) && askHelper) helpers[id] = askHelper(id);
    for (const id of kfuncIds) if (!(id in kfuncs) && askKfunc) kfuncs[id] = askKfunc(id);
    if (at) writeProbes(at, answers);
  }
  const from = (m: Record<number, boolean>) => (id: number) => m[id] ?? true;
  return { ...(helperIds.length ? { helperAvailable: from(helpers) } : {}), ...(kfuncIds.length ? { kfuncAvailable: from(kfuncs) } : {}) };
}

/** Whether a `.BTF.ext` carries CO-RE relocations (its header's core_relo_len). */
function hasCoreRelos(ext: Uint8Array | undefined, littleEndian: boolean): boolean {
  if (!ext || ext.length < 32) return false;
  const dv = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
  return dv.getUint32(4, littleEndian) >= 32 && dv.getUint32(28, littleEndian) > 0;
}

/**
 * An object's programs, linked as libbpf links them for this machine: an object that needs the
 * kernel's BTF (externs, CO-RE, tracing attach targets, struct_ops) has them resolved against
 * `/sys/kernel/btf/vmlinux` when that exists (reading it costs most of a second, so only then).
 * A big-endian object is resolved the same way (its BTF read in its own byte order, CO-RE
 * bitfield shifts computed for a big-endian target), so it verifies as its little-endian twin;
 * loading it into this kernel is refused later, by @bpf/kernel. When that fails the programs come as
 * the object has them, which is still fine to read and disassemble; an extern this kernel lacks
 * (libbpf's rules: cilium/ebpf's put it on the programs that use it) is every program's
 * `unresolved` error, for `verify` and `kernel load` to give.
 */
function loadElf(bytes: Uint8Array, hostOpts: Pick<ElfLoadOptions, 'attachTo' | 'attachBtfId' | 'functions' | 'globals' | 'linker' | 'opener' | 'autoload'> & { readonly arena?: () => ArenaLayout } = {}): LoadedObject {
  const obj = parseElf(bytes);
  // every load below reads this parse instead of parsing the object again
  const load = (opts: ElfLoadOptions): LoadedObject => loadObject(bytes, { ...opts, parsed: obj });
  // the arena layout is a kernel probe: asked only when the object has __arena globals
  const { arena: arenaOf, ...rest } = hostOpts;
  const arena = arenaOf && obj.arenaData ? arenaOf() : undefined;
  const host = { ...rest, ...(arena ? { arena } : {}) };
  // what every load does, kernel or not: variables set, the linker's rules, the arena's layout
  // (cilium/ebpf sizes perf event arrays and CPU maps by this machine's possible CPUs)
  const cpus = host.linker === 'cilium/ebpf' ? nrCpuIds() : undefined;
  const always = { ...(host.globals ? { globals: host.globals } : {}), ...(host.linker ? { linker: host.linker } : {}), ...(cpus !== undefined ? { possibleCpus: cpus } : {}), ...(host.opener ? { opener: host.opener } : {}), ...(arena ? { arena } : {}) };
  const hostNoKernel = { ...always, ...(host.functions ? { functions: host.functions } : {}), ...(host.attachBtfId ? { attachBtfId: host.attachBtfId } : {}) };
  // what the user asked the host loader to do must happen, or fail saying why
  const asked = host.attachTo !== undefined || host.functions !== undefined || host.attachBtfId !== undefined;
  const littleEndian = obj.endian === 'little';
  /** The object linked against this kernel's BTF (read and parsed once per process). */
  // kconfig values are read (/proc/config.gz, about 25 ms) only for an object that has externs:
  // a `.kconfig` variable is one, and without any loadObject never asks for them
  const hasExterns = obj.symbols.some((x) => x.shndx === 0 && x.name !== '' && (x.bind === 'global' || x.bind === 'weak'));
  const withKernel = (kernelBtf: Uint8Array): LoadedObject => {
    const kconfig = hasExterns ? kernelKconfig() : undefined;
    // parsed once per process (the recorder and the tests load many objects in one), and the
    // same parse serves the verifier (kernelBtfFor)
    if (kernelBtfTable === undefined) {
      if (vmlinux) kernelBtfTable = btfTable(vmlinux);
      else {
        const parsed = parseBtfTable(kernelBtf, 'kernel BTF');
        kernelBtfTable = parsed.table;
        vmlinux ??= parsed.btf;
      }
    }
    return load({ kernelBtf: kernelBtfTable, kallsyms, ...(kconfig ? { kconfig } : {}), ...host });
  };
  // An object that needs the kernel's BTF whatever its programs (externs, CO-RE, struct_ops, or
  // what the user asked) is linked against it first, and when that works it is the answer: the
  // load without the kernel below is not made. That load does nothing the one against the
  // kernel does not also do, on the same sections (CO-RE changes immediates and offsets, not
  // relocations), so it could not have failed where this one works; when this one fails, every
  // step below runs as before, in its order, and decides.
  const needsKernelAnyway =
    hasExterns ||
    hasCoreRelos(obj.btfExt, littleEndian) ||
    asked ||
    obj.sections.some((x) => x.name.startsWith('.struct_ops'));
  if (needsKernelAnyway && existsSync(VMLINUX)) {
    try {
      return withKernel((kernelBtfBytes ??= new Uint8Array(readFileSync(VMLINUX))));
    } catch {
      // decided below, as without this shortcut
    }
  }
  let plain: LoadedObject;
  try {
    // (with the functions the host links in: those are no externs libbpf would look up)
    plain = load(host.functions ? { ...always, functions: host.functions } : always);
  } catch (e) {
    if (!(e instanceof ElfError) || host.opener === 'raw') throw e;
    // libbpf refuses the object when it opens it (an extern its BTF does not describe, a static
    // entry program): reading and disassembling still work, every program carries that error
    // for `verify` and `kernel load` to give, as bpftool gives it
    let raw: LoadedObject;
    try {
      raw = load({ ...always, opener: 'raw' });
    } catch {
      throw e;
    }
    return { ...raw, programs: raw.programs.map((p) => ({ ...p, unresolved: e })) };
  }
  const needsKernel =
    hasExterns ||
    hasCoreRelos(obj.btfExt, littleEndian) ||
    asked ||
    plain.programs.some((p) => p.attachTo !== undefined) ||
    obj.sections.some((x) => x.name.startsWith('.struct_ops'));
  if (asked && !existsSync(VMLINUX)) {
    // linking host functions needs no kernel; attach targets do
    if (host.attachTo !== undefined) throw new CliError(EXIT.UNAVAILABLE, `--attach-to: resolving an attach target needs the kernel's BTF (${VMLINUX})`);
    return load(hostNoKernel);
  }
  if (!needsKernel || !existsSync(VMLINUX)) return plain;
  let kernelBtf: Uint8Array;
  try {
    kernelBtf = kernelBtfBytes ??= new Uint8Array(readFileSync(VMLINUX));
  } catch {
    return plain;
  }
  try {
    return withKernel(kernelBtf);
  } catch (e) {
    if (!(e instanceof ElfError)) throw e;
    // an attach target asked for must resolve; functions link without the kernel's BTF
    if (host.attachTo !== undefined || host.attachBtfId !== undefined) throw e;
    // an object of maps only has nothing else to show: why its maps cannot be made (a
    // struct_ops type this kernel lacks) is the answer, as libbpf's
    if (plain.programs.length === 0) throw e;
    const fallback = host.functions ? load(hostNoKernel) : plain;
    // libbpf resolves every extern before it loads anything (bpf_object__resolve_externs): one
    // this kernel lacks refuses the whole object, so every program carries that error, which
    // `verify` and `kernel load` give (reading and disassembling still work)
    if (e.code === 'UNRESOLVED_EXTERN' && e.extern !== undefined) return { ...fallback, programs: fallback.programs.map((p) => ({ ...p, unresolved: e })) };
    return fallback;
  }
}

/** /sys/kernel/btf/vmlinux's bytes and their type table, read once per process. */
let kernelBtfBytes: Uint8Array | undefined;
let kernelBtfTable: BtfTypeTable | undefined;

let vmlinux: Btf | null | undefined;

/**
 * The kernel's BTF, parsed, for a program whose verification needs it — `needed`, as
 * @bpf/verifier's needsKernelBtf decides for the program and its type (the caller has the
 * verifier loaded; this module does not load it); read on the first such program only.
 */
export function kernelBtfFor(needed: boolean): Btf | undefined {
  if (!needed) return undefined;
  if (vmlinux === undefined) {
    try {
      vmlinux = existsSync(VMLINUX) ? parseBtf(new Uint8Array(readFileSync(VMLINUX))) : null;
    } catch {
      vmlinux = null;
    }
  }
  return vmlinux ?? undefined;
}

/**
 * --function NAME=FILE (repeatable): the body of extern function NAME, read from FILE
 * (assembly, hex or raw instructions; self-contained code, no maps or calls out).
 */
export function functionsOf(flags: Readonly<Record<string, unknown>>): ReadonlyMap<string, readonly Insn[]> | undefined {
  const given = flags.function;
  const list = typeof given === 'string' ? [given] : Array.isArray(given) ? (given as string[]) : [];
  if (list.length === 0) return undefined;
  const out = new Map<string, readonly Insn[]>();
  for (const item of list) {
    const at = item.indexOf('=');
    const name = item.slice(0, at).trim();
    const file = item.slice(at + 1);
    if (at <= 0 || file === '' || !/^[A-Za-z_]\w*$/.test(name)) throw usage(`--function takes NAME=FILE (FILE: assembly, hex or raw instructions), not '${item}'`);
    const { kind, program } = loadProgram(file);
    if (kind === 'elf') throw usage(`--function ${name}: ${file} is an ELF object; give the function's instructions (assembly, hex or raw)`);
    if ((program.relocs?.length ?? 0) > 0) throw usage(`--function ${name}: ${file} refers to maps or functions; a linked-in function must be self-contained`);
    if (out.has(name)) throw usage(`--function ${name} given twice`);
    out.set(name, program.insns);
  }
  return out;
}

/**
 * --set NAME=VALUE (repeatable): global variables set before loading, as a libbpf skeleton's
 * `skel->rodata->NAME = VALUE` (VALUE an integer, decimal or 0x hex, possibly negative), or
 * NAME=bytes:HEX, the variable's bytes as stored (a struct set whole, as cilium/ebpf's
 * `VariableSpec.Set` writes one; exactly the variable's size).
 */
export function globalsOf(flags: Readonly<Record<string, unknown>>): Readonly<Record<string, bigint | Uint8Array>> | undefined {
  const given = flags.set;
  const list = typeof given === 'string' ? [given] : Array.isArray(given) ? (given as string[]) : [];
  if (list.length === 0) return undefined;
  const out: Record<string, bigint | Uint8Array> = {};
  for (const item of list) {
    const m = /^([A-Za-z_]\w*)=(-?(?:0x[0-9a-fA-F]+|\d+)|bytes:(?:[0-9a-fA-F]{2})+)$/.exec(item.trim());
    if (!m) throw usage(`--set takes NAME=VALUE (an integer, decimal or 0x hex) or NAME=bytes:HEX (the variable's bytes, two hex digits each), not '${item}'`);
    if (Object.hasOwn(out, m[1]!)) throw usage(`--set ${m[1]} given twice`);
    if (m[2]!.startsWith('bytes:')) {
      out[m[1]!] = Uint8Array.from(m[2]!.slice(6).match(/../g)!, (h) => parseInt(h, 16));
      continue;
    }
    const neg = m[2]!.startsWith('-');
    const v = BigInt(neg ? m[2]!.slice(1) : m[2]!);
    out[m[1]!] = neg ? -v : v;
  }
  return out;
}

/** The options of loadProgram a command's flags give (--input, --section, --prog, --endian, --attach-to, --function, --set, --linker, --opener, --link). */
export function inputOptsOf(flags: Readonly<Record<string, unknown>>): LoadOptions {
  const str = (k: string): string | undefined => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined);
  const functions = functionsOf(flags);
  const globals = globalsOf(flags);
  const linker = str('linker');
  if (linker !== undefined && linker !== 'libbpf' && linker !== 'cilium/ebpf') throw usage(`--linker must be libbpf or cilium/ebpf (got '${linker}')`);
  const opener = str('opener');
  if (opener !== undefined && opener !== 'libbpf' && opener !== 'raw') throw usage(`--opener must be libbpf or raw (got '${opener}')`);
  const pick = { input: str('input'), section: str('section'), prog: str('prog'), endian: str('endian') as 'little' | 'big' | undefined, attachTo: str('attach-to'), linker, opener };
  const link = typeof flags.link === 'string' ? [flags.link] : Array.isArray(flags.link) ? (flags.link as string[]) : [];
  return { ...Object.fromEntries(Object.entries(pick).filter(([, v]) => v !== undefined)), ...(functions ? { functions } : {}), ...(globals ? { globals } : {}), ...(link.length ? { link } : {}) };
}
