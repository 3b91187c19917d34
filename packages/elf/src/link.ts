/**
 * From object to loadable programs, as libbpf's bpf_object__relocate does: each entry
 * program gets its own copy of the `.text` subprograms it reaches (appended depth-first in
 * the order calls are met, tools/lib/bpf/libbpf.c: bpf_object__reloc_code), call and
 * function-address immediates are rewritten to the final relative offsets, and map / global
 * data references become `ld_imm64` with src BPF_PSEUDO_MAP_IDX(_VALUE) whose imm indexes
 * the program's `maps` (the kernel resolves those through `fd_array`), each also listed
 * as a `Reloc` for hosts that patch file descriptors themselves. A program's exception
 * callback (exccb.ts) is appended last, as libbpf appends it.
 */
import type { Insn, Program, Reloc, Subprog } from '@bpf/isa';
import { PseudoCall, PseudoLd } from '@bpf/isa';
import { ElfError } from './errors.js';
import type { ElfMap } from './maps.js';
import type { ElfFunction, ElfObject, InsnReloc } from './object.js';
import { findCiliumSecDef, type SecDef } from './sections.js';

/** `{ ...i, src, off, imm }` written as a literal: every slot keeps the decoder's one object shape. */
const slot = (i: Insn, src: number, off: number, imm: number): Insn => ({ code: i.code, dst: i.dst, src, off, imm });
const withImm = (i: Insn, imm: number): Insn => slot(i, i.src, i.off, imm);

/** A program ready for the verifier, the JITs or `@bpf/kernel`. */
export interface ElfProgram extends Program {
  readonly name: string;
  /** The `SEC()` name it came from. */
  readonly section: string;
  readonly insns: readonly Insn[];
  readonly subprogs: readonly Subprog[];
  readonly relocs: readonly Reloc[];
  readonly maps: readonly ElfMap[];
  /** libbpf's convention for the section, when it follows one. */
  readonly secDef?: SecDef;
  /** Load with BPF_F_SLEEPABLE. */
  readonly sleepable?: boolean;
  /** Load with BPF_F_XDP_HAS_FRAGS. */
  readonly xdpFrags?: boolean;
  /** False for `SEC("?...")` programs, which libbpf does not load unless asked. */
  readonly autoload: boolean;
  /** Kernel function / tracepoint a tracing, LSM or iterator program attaches to (from the section). */
  readonly attachTo?: string;
  /** Its vmlinux BTF id (`attach_btf_id` at load time), when a kernel BTF was given. */
  readonly attachBtfId?: number;
  /**
   * struct_ops programs: the member index they implement in the kernel's ops struct, passed
   * as expected_attach_type (with `attachBtfId` the ops struct).
   */
  readonly structOpsMember?: number;
  readonly kernVersion?: number;
  /**
   * 'big' for the programs of a big-endian object: their instructions are decoded, but their
   * data (map contents, `.rodata`) keeps the object's byte order, so a little-endian kernel must
   * not load them (libbpf and cilium/ebpf refuse such objects too). Absent for little-endian objects.
   */
  readonly endian?: 'big';
  /** For each final slot: the section and slot it was copied from (for func/line info). */
  readonly origin: readonly { readonly sectionIndex: number; readonly insn: number }[];
  /**
   * Why the object's own loader refuses to load this program, though the object opened and its
   * other programs load: an extern or attach target it resolves only when it loads this program
   * (cilium/ebpf resolves kfuncs, ksyms and attach targets program by program; libbpf looks up
   * the attach target of a `SEC("?...")` program only if asked to load it). The error names the
   * section, the instruction and the extern. `@bpf/kernel` throws it instead of loading.
   */
  readonly unresolved?: ElfError;
}

/** Attach types whose target is named by the section suffix and found in kernel BTF. */
const ATTACH_BY_BTF = new Set(['trace_raw_tp', 'trace_fentry', 'trace_fexit', 'modify_return', 'lsm_mac', 'lsm_cgroup', 'trace_iter']);

const isCallInsn = (i: Insn): boolean => i.code === 0x85;
const isPseudoCall = (i: Insn): boolean => i.code === 0x85 && i.src === PseudoCall.CALL;
const isLd64 = (i: Insn): boolean => i.code === 0x18;

/**
 * Whose rules link the object's BPF-to-BPF calls:
 * - `libbpf`: callees are `.text` functions, appended depth-first in the order calls are met
 *   (tools/lib/bpf/libbpf.c: bpf_object__reloc_code); a call or function address into any
 *   other executable section is refused, as libbpf refuses it ("bad call relo against ...").
 * - `cilium/ebpf`: every function of every executable section may be called (a `static`
 *   function in a section of its own, `__section("static")`); callees are appended whole,
 *   breadth first, each function's callees in name order (linker.go: flattenInstructions over
 *   asm.Instructions.FunctionReferences, which sorts them), and an `ld_imm64` of an undefined
 *   symbol that is neither a `.ksyms` nor a `.kconfig` extern stays as clang wrote it, a
 *   reference for the host to rewrite (elf_reader.go: relocateInstruction, inline-asm
 *   symbols).
 */
export type Linker = 'libbpf' | 'cilium/ebpf';

/** Whether some relocated call or function address of the object leads into an executable section other than `.text` (libbpf refuses the object). */
export function hasCrossSectionCalls(obj: ElfObject): boolean {
  for (const rels of obj.insnRelocs.values())
    for (const r of rels.values())
      if ((r.kind === 'call' || r.kind === 'func') && obj.sections[r.symbol.shndx]?.name !== '.text') return true;
  return false;
}

/** How linkProgram links (beyond the maps and kconfig offsets). */
export interface LinkOptions {
  /** Whose rules (default `libbpf`). */
  readonly linker?: Linker;
  /** The object's `.ksyms` externs (its BTF's `.ksyms` DATASEC): cilium/ebpf leaves other undefined `ld_imm64` symbols as written. */
  readonly ksyms?: ReadonlySet<string>;
}

/** Link every entry program of a parsed object. */
export function linkPrograms(
  obj: ElfObject,
  maps: readonly ElfMap[] = obj.maps,
  kconfig: ReadonlyMap<string, number> = new Map(),
  hostFunctions: ReadonlyMap<string, readonly Insn[]> = new Map(),
  exceptionCallbacks: ReadonlyMap<string, string> = new Map(),
  opts: LinkOptions = {},
): ElfProgram[] {
  return obj.programs.map((p) => linkProgram(obj, p, maps, kconfig, hostFunctions, exceptionCallbacks.get(p.name), opts));
}

/** The `origin` section index of a function the host supplied (it comes from no section). */
export const HOST_FUNCTION_SECTION = -1;

/**
 * Link one entry program. `kconfig` gives the offset in the `.kconfig` map of each
 * `__kconfig` extern (known from the object's BTF); other variable externs are ksyms.
 */
export function linkProgram(
  obj: ElfObject,
  main: ElfFunction,
  maps: readonly ElfMap[],
  kconfig: ReadonlyMap<string, number> = new Map(),
  hostFunctions: ReadonlyMap<string, readonly Insn[]> = new Map(),
  exceptionCallback?: string,
  opts: LinkOptions = {},
): ElfProgram {
  const cilium = opts.linker === 'cilium/ebpf';
  const insns: Insn[] = [];
  /** Calls to extern functions the host supplies: patched once their bodies are appended. */
  const hostCalls: { pc: number; name: string }[] = [];
  const origin: { sectionIndex: number; insn: number }[] = [];
  const subprogs: Subprog[] = [];
  const relocs: Reloc[] = [];
  /** Where each function's copy starts in `insns`. */
  const placed = new Map<ElfFunction, number>();
  const bySection = new Map<number, ElfFunction[]>();
  for (const f of [...obj.programs, ...obj.subprograms]) {
    const list = bySection.get(f.sectionIndex);
    if (list) list.push(f);
    else bySection.set(f.sectionIndex, [f]);
  }
  for (const list of bySection.values()) list.sort((a, b) => a.start - b.start);
  const mapIndexByName = new Map<string, number>();
  maps.forEach((m, k) => { if (!mapIndexByName.has(m.name)) mapIndexByName.set(m.name, k); });

  const append = (fn: ElfFunction): number => {
    const code = obj.code.get(fn.sectionIndex)!;
    const at = insns.length;
    placed.set(fn, at);
    for (let k = fn.start; k < fn.end; k++) {
      insns.push(code[k]!);
      origin.push({ sectionIndex: fn.sectionIndex, insn: k });
    }
    // a hidden global subprogram is static to the kernel (kernelbtf.ts marks its FUNC so)
    const vis = obj.symbols[fn.symbolIndex]?.visibility;
    const hidden = at > 0 && fn.section === '.text' && (vis === 'hidden' || vis === 'internal');
    subprogs.push({ start: at, end: insns.length, name: fn.name, linkage: hidden ? 'static' : fn.linkage });
    return at;
  };

  const functionAt = (sectionIndex: number, slot: number, place: { section: string; insn: number }): ElfFunction => {
    const list = bySection.get(sectionIndex) ?? [];
    // Binary search: the last function starting at or before `slot`.
    let lo = 0, hi = list.length - 1, hit: ElfFunction | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const f = list[mid]!;
      if (f.start <= slot) { hit = f; lo = mid + 1; } else hi = mid - 1;
    }
    if (!hit || slot >= hit.end) {
      const sec = obj.sections[sectionIndex];
      throw new ElfError('BAD_RELOC', `call into ${sec?.name ?? `section ${sectionIndex}`} slot ${slot}, which is in no function`, { ...place, ...(sec ? { byteOffset: sec.offset + Math.max(0, slot) * 8 } : {}) });
    }
    return hit;
  };

  const mapIndex = (name: string, r: InsnReloc): number => {
    const k = mapIndexByName.get(name);
    if (k === undefined) throw new ElfError('BAD_RELOC', `no map named ${name}`, { section: main.section, insn: r.insn, byteOffset: r.raw.fileOffset });
    return k;
  };

  /** Where slot `k` of `fn` (as clang wrote it) calls or takes the address of, if it does. */
  const targetOf = (fn: ElfFunction, k: number, i: Insn): { sectionIndex: number; slot: number } | undefined => {
    const r = obj.insnRelocs.get(fn.sectionIndex)?.get(k);
    if (r?.kind === 'call' || r?.kind === 'func') {
      const sec = obj.sections[r.symbol.shndx];
      // libbpf: "bad call relo against '%s' in section '%s'" (bpf_program__record_reloc)
      if (!cilium && sec?.name !== '.text')
        throw new ElfError('BAD_RELOC', `${r.kind === 'call' ? 'call relocation against' : 'address of'} ${r.name} in ${sec?.name ?? `section ${r.symbol.shndx}`}; libbpf links subprograms from .text only (cilium/ebpf links this object)`, {
          section: fn.section,
          insn: k,
          byteOffset: r.raw.fileOffset,
        });
      return r.kind === 'call' ? { sectionIndex: r.symbol.shndx, slot: r.symbol.value / 8 + i.imm + 1 } : { sectionIndex: r.symbol.shndx, slot: r.symbol.value / 8 + i.imm / 8 };
    }
    if (!r && isPseudoCall(i)) return { sectionIndex: fn.sectionIndex, slot: k + i.imm + 1 };
    if (!r && isLd64(i) && i.src === PseudoLd.FUNC) return { sectionIndex: fn.sectionIndex, slot: k + i.imm + 1 };
    return undefined;
  };

  /**
   * Relocate one slot of the copy of `fn` placed at `at`. Returns a callee to append and
   * relocate before going on (libbpf recurses at that point; we keep an explicit stack so a
   * long call chain cannot overflow the JavaScript stack).
   */
  const relocateSlot = (fn: ElfFunction, at: number, k: number): ElfFunction | undefined => {
    const rels = obj.insnRelocs.get(fn.sectionIndex);
    const pc = at + (k - fn.start);
    const i = insns[pc]!;
    const r = rels?.get(k);
    const where = { section: fn.section, insn: k };
    if (isLd64(i) && k + 1 >= fn.end) throw new ElfError('BAD_PROGRAM', `ld_imm64 at the end of ${fn.name} has no second slot`, where);
    const target = targetOf(fn, k, i);
    if (target) {
      const callee = functionAt(target.sectionIndex, target.slot, where);
      const start = placed.get(callee);
      if (start === undefined) return callee;
      const rel = start + (target.slot - callee.start) - (pc + 1);
      if (isLd64(i)) {
        insns[pc] = slot(i, PseudoLd.FUNC, i.off, rel);
        insns[pc + 1] = withImm(insns[pc + 1]!, 0);
      } else insns[pc] = withImm(i, rel);
    } else if (r?.kind === 'map') {
      insns[pc] = slot(i, PseudoLd.MAP_IDX, i.off, mapIndex(r.name, r));
      relocs.push({ insn: pc, kind: 'map', name: r.name });
    } else if (r?.kind === 'map_value') {
      const offset = r.symbol.value + i.imm;
      insns[pc] = slot(i, PseudoLd.MAP_IDX_VALUE, i.off, mapIndex(r.name, r));
      insns[pc + 1] = withImm(insns[pc + 1]!, offset);
      relocs.push({ insn: pc, kind: 'map_value', name: r.name, offset });
    } else if (r?.kind === 'arena') {
      // libbpf: an `__arena` global is a value of the object's one ARENA map, at the offset its
      // globals were placed at (bpf_program__record_reloc, bpf_object__relocate_data)
      const k = maps.findIndex((m) => m.type === 'arena');
      if (k < 0) throw new ElfError('BAD_RELOC', `bad arena data relocation at insn ${r.insn}, no arena maps defined`, { section: fn.section, insn: r.insn, byteOffset: r.raw.fileOffset });
      const arena = maps[k]!;
      const offset = r.symbol.value + i.imm + (arena.arenaGlobals?.offset ?? 0);
      insns[pc] = slot(i, PseudoLd.MAP_IDX_VALUE, i.off, k);
      insns[pc + 1] = withImm(insns[pc + 1]!, offset);
      relocs.push({ insn: pc, kind: 'map_value', name: arena.name, offset });
    } else if (r?.kind === 'extern_call' && hostFunctions.has(r.name)) {
      insns[pc] = slot(i, PseudoCall.CALL, 0, 0);
      hostCalls.push({ pc, name: r.name });
    } else if (r?.kind === 'extern_call') {
      // BPF_PSEUDO_KFUNC_CALL; imm (the kfunc's vmlinux BTF id) is the host's to fill from
      // the reloc until kernel BTF resolution lands.
      insns[pc] = slot(i, PseudoCall.KFUNC, 0, 0);
      relocs.push({ insn: pc, kind: 'kfunc', name: r.name });
    } else if (r?.kind === 'extern_ld' && kconfig.has(r.name)) {
      const offset = kconfig.get(r.name)!;
      insns[pc] = slot(i, PseudoLd.MAP_IDX_VALUE, i.off, mapIndex('.kconfig', r));
      insns[pc + 1] = withImm(insns[pc + 1]!, offset);
      relocs.push({ insn: pc, kind: 'map_value', name: '.kconfig', offset });
    } else if (r?.kind === 'extern_ld' && cilium && !opts.ksyms?.has(r.name)) {
      // cilium/ebpf: an inline-asm symbol (`r0 = MY_CONST ll`), left for the host to rewrite
    } else if (r?.kind === 'extern_ld') {
      insns[pc] = slot(i, PseudoLd.BTF_ID, i.off, 0);
      insns[pc + 1] = withImm(insns[pc + 1]!, 0);
      relocs.push({ insn: pc, kind: 'ksym', name: r.name });
    } else if (isCallInsn(i) && i.src === PseudoCall.KFUNC) {
      throw new ElfError('BAD_RELOC', 'kfunc call without a relocation naming the kfunc', where);
    }
    return undefined;
  };

  const relocate = (first: ElfFunction, firstAt: number): void => {
    const stack = [{ fn: first, at: firstAt, k: first.start }];
    while (stack.length) {
      const f = stack[stack.length - 1]!;
      if (f.k >= f.fn.end) {
        stack.pop();
        continue;
      }
      const callee = relocateSlot(f.fn, f.at, f.k);
      if (callee) {
        // Append, relocate the callee completely, then redo this slot (now placed).
        stack.push({ fn: callee, at: append(callee), k: callee.start });
        continue;
      }
      f.k += isLd64(insns[f.at + (f.k - f.fn.start)]!) ? 2 : 1;
    }
  };

  if (cilium) {
    // Every function the program reaches, breadth first, each one's callees in name order;
    // all are placed before any is relocated, so relocateSlot never asks for an append.
    const order: ElfFunction[] = [main];
    const seen = new Set<ElfFunction>([main]);
    for (let q = 0; q < order.length; q++) {
      const fn = order[q]!;
      const code = obj.code.get(fn.sectionIndex)!;
      const callees = new Map<string, ElfFunction>();
      for (let k = fn.start; k < fn.end; k += isLd64(code[k]!) ? 2 : 1) {
        const t = targetOf(fn, k, code[k]!);
        if (t) {
          const callee = functionAt(t.sectionIndex, t.slot, { section: fn.section, insn: k });
          // cilium/ebpf would append the program's own code a second time and refuse it
          // (asm: "duplicate symbol")
          if (callee === main) throw new ElfError('BAD_RELOC', `call to ${main.name}, the program itself: cilium/ebpf refuses a program that calls its own entry`, { section: fn.section, insn: k });
          callees.set(callee.name, callee);
        }
      }
      for (const name of [...callees.keys()].sort()) {
        const callee = callees.get(name)!;
        if (!seen.has(callee)) {
          seen.add(callee);
          order.push(callee);
        }
      }
    }
    const at = order.map((fn) => append(fn));
    order.forEach((fn, n) => {
      for (let k = fn.start; k < fn.end; k += isLd64(insns[at[n]! + (k - fn.start)]!) ? 2 : 1) relocateSlot(fn, at[n]!, k);
    });
  } else relocate(main, append(main));
  // The exception callback (exccb.ts) is called by no instruction: appended after what the
  // program reaches, unless a call placed it already (which the verifier then refuses).
  const cb = exceptionCallback === undefined ? undefined : obj.subprograms.find((f) => f.name === exceptionCallback);
  if (cb && !placed.has(cb)) relocate(cb, append(cb));
  // Host-supplied bodies go after the object's code, each once, as static subprograms.
  const hostAt = new Map<string, number>();
  for (const c of hostCalls) {
    let at = hostAt.get(c.name);
    if (at === undefined) {
      at = insns.length;
      hostAt.set(c.name, at);
      hostFunctions.get(c.name)!.forEach((x, k) => {
        insns.push(x);
        origin.push({ sectionIndex: HOST_FUNCTION_SECTION, insn: k });
      });
      subprogs.push({ start: at, end: insns.length, name: c.name, linkage: 'static' });
    }
    insns[c.pc] = withImm(insns[c.pc]!, at - (c.pc + 1));
  }
  // cilium/ebpf types a section libbpf does not know by its own prefix rule
  const d = main.secDef ?? (cilium ? findCiliumSecDef(main.section) : undefined);
  return {
    name: main.name,
    section: main.section,
    insns,
    subprogs,
    relocs,
    maps,
    origin,
    autoload: !main.section.startsWith('?'),
    ...(d && ATTACH_BY_BTF.has(d.attachType ?? '') && main.section.includes('/') ? { attachTo: main.section.slice(main.section.indexOf('/') + 1) } : {}),
    ...(d ? { secDef: d, type: d.progType } : {}),
    ...(d?.attachType !== undefined ? { expectedAttachType: d.attachType } : {}),
    ...(d?.sleepable ? { sleepable: true } : {}),
    ...(d?.xdpFrags ? { xdpFrags: true } : {}),
    ...(obj.license !== undefined ? { license: obj.license } : {}),
    ...(obj.kernVersion !== undefined ? { kernVersion: obj.kernVersion } : {}),
    ...(obj.endian === 'big' ? { endian: 'big' as const } : {}),
  };
}
