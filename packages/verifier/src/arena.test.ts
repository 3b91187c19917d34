/**
 * Arena pointers (arena.ts). Three oracles:
 * - the running kernel, for fixtures/c/arena/arena_verifier.c (our own programs): verdict, first
 *   error and processed count, where it makes arenas. This machine's kernel refuses to create
 *   arena maps (EPERM) before any program is verified, so there the comparison is skipped with
 *   that reason, and what our verifier answers is checked against Linux 6.18's rules as read
 *   from kernel/bpf/verifier.c;
 * - the kernel selftests' own annotations of verifier_arena.c and verifier_arena_large.c
 *   (`__success`, `__failure`, `__msg(...)`, `__retval(...)`: BTF decl tags
 *   "comment:test_*"): the verdicts and messages their authors expected of their kernel
 *   (6.12 sources) — their expectations, recorded in the objects, not the output of a kernel
 *   run here (`__retval` needs a run of the program, which this machine cannot make: not
 *   checked). The objects are the real-world corpus's (BPF_REALWORLD_OBJECTS names the folder
 *   of `<collection>/<object>.o`);
 * - the selftests whose prog_tests only load them (arena_htab, arena_list, arena_atomics): their
 *   authors expect every program to load, when BPF_REALWORLD_OBJECTS holds them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { btfString, parseBtf } from '@bpf/btf';
import type { Insn, Program } from '@bpf/isa';
import { fixturesDir, skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { verify } from './index.js';
import { buildC, haveVmlinux, kernelApi, kernelBtf, kernelVerdict } from './kernel.test.helper.js';

const SOURCE = join(fixturesDir, 'c/arena/arena_verifier.c');
// test_loader.c's prog_flags (BPF_F_TEST_RND_HI32 | BPF_F_TEST_REG_INVARIANTS), BPF_F_SLEEPABLE for syscall programs
const TEST_FLAGS = 4 | 128;
const SLEEPABLE = 1 << 4;
const sleepable = (p: Program): boolean => (p as { readonly sleepable?: boolean }).sleepable === true;

/** Why the kernel gives no verdict for a program with an arena: undefined when it does give one. */
function arenaRefusal(p: Program): string | undefined {
  try {
    kernelVerdict(p);
    return undefined;
  } catch (e) {
    const m = (e as Error).message;
    if (/EPERM/.test(m)) return `this kernel refuses arena maps (${m})`;
    throw e;
  }
}

const modes = (insns: readonly Insn[]): string[] => insns.map((i) => i.code.toString(16).padStart(2, '0'));

describe.skipIf(skipWithout('clang-19', 'kernel') || !haveVmlinux())('arena pointers (fixtures/c/arena/arena_verifier.c)', () => {
  const programs = buildC(readFileSync(SOURCE, 'utf8'));
  const byName = new Map(programs.map((p) => [p.name, p]));
  const ours = (name: string, logLevel: 0 | 1 | 2 = 1) =>
    verify(byName.get(name)!, { kernelBtf: kernelBtf(), logLevel, flags: sleepable(byName.get(name)!) ? SLEEPABLE : 0, nrCpuIds: kernelApi!.possibleCpus() });
  const refused = arenaRefusal(programs[0]!);

  it.skipIf(refused !== undefined).each(programs.map((p) => [p.name, p] as const))('%s: the running kernel', (_n, p) => {
    const k = kernelVerdict(p, { logLevel: 1 });
    // the kernel of this build also refuses every arena kfunc ("calling kernel function ... is not allowed")
    if (k.error?.startsWith('calling kernel function bpf_arena_')) return;
    const o = ours(p.name);
    expect({ accepted: o.accepted, error: o.error?.message, processed: String(o.stats.processedInsns) }).toEqual({
      accepted: k.accepted,
      error: k.error,
      processed: /processed (\d+) insns/.exec(k.log)?.[1],
    });
  });

  it("what the verifier answers where the kernel cannot be asked (Linux 6.18's rules)", () => {
    if (refused) console.warn(`skipping the live comparison: ${refused}`);
    const err = (n: string): string | undefined => ours(n).error?.message;
    for (const n of ['global_rw', 'unbounded_index', 'alloc_free', 'call_global', 'atomic_add', 'cast_both_ways']) expect([n, err(n)]).toEqual([n, undefined]);
    // the global's address is a scalar; the cast makes it an arena pointer, printed `arena`
    const log = ours('global_rw', 2).log;
    expect(log).toMatch(/r1 = 0x\w+ +; R1=scalar\(\)\n/);
    expect(log).toMatch(/r1 = addr_space_cast\(r1, 0, 1\) +; R1=arena\n/);
    // arithmetic keeps it an arena pointer, a stack spill and fill too; the cast back is a scalar
    const both = ours('cast_both_ways', 2).log;
    expect(both).toContain('; R2=arena\n');
    expect(both).toMatch(/r2 \+= 8 +; R2=arena\n/);
    expect(both).toMatch(/r4 = \*\(u64 \*\)\(r10 -8\) +; R4=arena/);
    expect(both).toMatch(/r0 = addr_space_cast\(r4, 1, 0\) +; R0=scalar\(\) R4=arena\n/);
    // a global function's __arg_arena argument takes an arena pointer or a scalar
    expect(ours('call_global', 2).log).toContain('R1=arena');
    expect(err('helper_arena_dst')).toBe('R1 type=arena expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_');
    expect(err('atomic_fetch_and')).toMatch(/^BPF_ATOMIC stores into R\d arena is not allowed$/);
    expect(err('scalar_plus_arena')).toBe('R3 pointer arithmetic on arena prohibited');
    expect(err('cast_other_space')).toBe('addr_space_cast insn can only convert between address space 1 and 0');
    expect(err('arena_ptr_as_map')).toBe("pointer in R1 isn't map pointer");
    expect(err('alloc_not_sleepable')).toBe('program must be sleepable to call sleepable kfunc bpf_arena_alloc_pages');
  });

  it('the xlated program: arena accesses are BPF_PROBE_MEM32 (atomics BPF_PROBE_ATOMIC), casts to address space 0 are 32-bit moves, 64-bit arithmetic on arena pointers 32-bit', () => {
    const x = (n: string): string[] => modes(ours(n, 0).xlated!.insns);
    // global_rw: the cast becomes `w1 = w1` (bc), the load and the store through it probe-mem32 (79 -> b9, 7b -> bb)
    expect(x('global_rw')).toEqual(['18', '00', 'bc', 'b9', '07', 'bb', '95']);
    // the atomic add through the arena pointer: BPF_PROBE_ATOMIC (db -> fb)
    expect(x('atomic_add')).toEqual(['18', '00', 'bc', 'b7', 'fb', '95']);
    // `r2 += 8` on an arena pointer becomes `w2 += 8` (07 -> 04); the stack spill and fill stay plain
    // (7b, 79); the store through the filled pointer is probe-mem32 (62 -> a2); the cast back to
    // address space 1 stays for the JIT (bf)
    expect(x('cast_both_ways')).toEqual(['18', '00', 'b7', 'bc', '04', '04', 'b9', '7b', '79', 'a2', 'bf', '57', '95']);
  });
});

/** The selftests' annotations of one program: test_loader.c's reading of its decl tags. */
interface Annotations {
  readonly expect: 'success' | 'failure' | undefined;
  readonly msgs: readonly string[];
  readonly retval: string | undefined;
  readonly logLevel: number;
}

function annotations(p: Program & { readonly name: string }): Annotations {
  const btf = parseBtf(p.btf!.bytes);
  const fn = btf.types.findIndex((t) => t?.kind === 'FUNC' && btfString(btf, t.nameOff) === p.name);
  const tags = btf.types.filter((t) => t?.kind === 'DECL_TAG' && t.sizeOrType === fn && t.componentIdx === -1).map((t) => btfString(btf, t!.nameOff));
  const msgs = tags.flatMap((t) => /^comment:test_expect_msg=\d+=(.*)$/s.exec(t)?.[1] ?? []);
  return {
    expect: tags.includes('comment:test_expect_success') ? 'success' : tags.includes('comment:test_expect_failure') ? 'failure' : undefined,
    msgs,
    retval: tags.flatMap((t) => /^comment:test_retval=(.*)$/.exec(t)?.[1] ?? [])[0],
    logLevel: Number(tags.flatMap((t) => /^comment:test_log_level=(\d+)$/.exec(t)?.[1] ?? [])[0] ?? 0),
  };
}

const realworld = process.env.BPF_REALWORLD_OBJECTS;
const corpusObject = (name: string): string | undefined => {
  const path = realworld === undefined ? undefined : join(realworld, 'linux-selftests-verifier', name);
  return path !== undefined && existsSync(path) ? path : undefined;
};

/**
 * __msg substrings the authors saw that our log at their level does not print: the kernel's
 * level-1 log carries each instruction's state too (print_insn_state prints the registers an
 * instruction scratched when the walk reaches the next one: `3: (79) r1 = *(u64 *)(r1 +48)  ;
 * R1=untrusted_ptr_bpf_map()`, measured on this kernel with another program), ours prints
 * states at level 2 only; so iter_maps3's `untrusted_ptr_bpf_map` is looked for at level 2.
 */
const MSG_ONLY_AT_LEVEL2 = new Set(['verifier_arena.o/iter_maps3']);

describe.skipIf(skipWithout('clang-19') || !haveVmlinux())("the selftests' arena programs against their authors' annotations (expectations, not a kernel run)", () => {
  for (const object of ['verifier_arena.o', 'verifier_arena_large.o']) {
    it(`${object}: __success / __failure and __msg as the authors expected`, (ctx) => {
      if (realworld === undefined) return ctx.skip('BPF_REALWORLD_OBJECTS is not set');
      const path = corpusObject(object);
      if (path === undefined) return ctx.skip(`${object} is not in BPF_REALWORLD_OBJECTS/linux-selftests-verifier`);
      const programs = loadCorpus(path);
      const seen: unknown[] = [];
      for (const p of programs) {
        const a = annotations(p);
        if (a.expect === undefined) continue;
        // test_loader.c loads each program at its __log_level (libbpf retries a failed load at level 1)
        const level = (a.logLevel & 3 || 1) as 1 | 2;
        const flags = TEST_FLAGS | (sleepable(p) ? SLEEPABLE : 0);
        const r = verify(p, { kernelBtf: kernelBtf(), logLevel: MSG_ONLY_AT_LEVEL2.has(`${object}/${p.name}`) ? 2 : level, flags, nrCpuIds: kernelApi!.possibleCpus() });
        let at = 0;
        for (const m of a.msgs) {
          const k = r.log.indexOf(m, at);
          expect([p.name, m, k >= 0]).toEqual([p.name, m, true]);
          at = k + m.length;
        }
        seen.push([p.name, r.accepted ? 'success' : 'failure']);
        expect([p.name, r.accepted ? 'success' : 'failure', r.error?.message]).toEqual([p.name, a.expect, r.accepted ? undefined : r.error?.message]);
      }
      expect(seen.length).toBeGreaterThan(0);
    });
  }

  it('arena_htab, arena_htab_asm, arena_list, arena_atomics: every program loads, as their prog_tests expect', (ctx) => {
    if (realworld === undefined) return ctx.skip('BPF_REALWORLD_OBJECTS is not set');
    const objects = ['arena_htab.o', 'arena_htab_asm.o', 'arena_list.o', 'arena_atomics.o'].filter((o) => corpusObject(o) !== undefined);
    if (objects.length === 0) return ctx.skip('the arena_*.o selftests are not in BPF_REALWORLD_OBJECTS/linux-selftests-verifier');
    for (const object of objects)
      for (const p of loadCorpus(corpusObject(object)!)) {
        const r = verify(p, { kernelBtf: kernelBtf(), flags: sleepable(p) ? SLEEPABLE : 0, nrCpuIds: kernelApi!.possibleCpus() });
        expect([object, p.name, r.error?.message]).toEqual([object, p.name, undefined]);
      }
  });
});

interface ElfApi {
  loadPrograms(bytes: Uint8Array, opts: { kernelBtf: Uint8Array }): (Program & { readonly name: string })[];
}
const elfModule = '@bpf/elf';
const elfApi: ElfApi | undefined = await import(/* @vite-ignore */ elfModule).then(
  (m: Partial<ElfApi>) => (typeof m.loadPrograms === 'function' ? (m as ElfApi) : undefined),
  () => undefined,
);
function loadCorpus(path: string): (Program & { readonly name: string })[] {
  return elfApi!.loadPrograms(new Uint8Array(readFileSync(path)), { kernelBtf: new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux')) });
}
