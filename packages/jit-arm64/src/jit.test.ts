import { assemble, decode, type MapDef, type ProgType, type Program } from '@bpf/isa';
import { randomProgram } from '@bpf/reliability';
import { conformanceTailCalls, corpusSource, kernelCorpus, loadConformance, run as runTool, skipWithout, tempDir, type ConformanceCase } from '@bpf/testkit';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, VmError, type RunOptions } from '@bpf/vm';
import { describe, expect, it } from 'vitest';
import { jitArm64, TAIL_CALL_OFFSET } from './index.js';
import { runArm64, runArm64Batch, type Arm64Job } from './node.js';

/** A conformance case for the VM and for the qemu runner: memory, and the programs its prog arrays hold. */
function setup(c: ConformanceCase): { program: Program; vm: RunOptions; job: Arm64Job } {
  const program = assemble(c.asm);
  const main = jitArm64(program);
  const mem = c.mem ? { mem: c.mem } : {};
  if (!c.progArrays) return { program, vm: mem, job: { result: main, ...mem } };
  const { progArrays } = conformanceTailCalls(c);
  const programs = [program, ...(c.progs ?? []).map((p) => assemble(p.asm))];
  const jits = [main, ...programs.slice(1).map((p) => jitArm64(p))];
  const arrays = Object.fromEntries(
    Object.entries(progArrays).map(([name, slots]) => {
      const max = program.maps?.find((m) => m.name === name)?.maxEntries ?? slots.length;
      return [name, Array.from({ length: max }, (_, s) => ((slots[s] ?? -1) < 0 ? null : jits[slots[s]!]!))];
    }),
  );
  return { program, vm: { ...mem, tailCallTargets: programs, progArrays }, job: { result: main, ...mem, progArrays: arrays } };
}

describe.skipIf(skipWithout('qemu-aarch64', 'aarch64-linux-gnu-gcc'))('arm64 JIT output, run under qemu-aarch64, agrees with @bpf/vm', () => {
  it('the conformance suite', () => {
    const cases = loadConformance().filter((c) => c.error === undefined);
    const setups = cases.map(setup);
    const results = runArm64Batch(setups.map((s) => s.job));
    const bad: string[] = [];
    cases.forEach((c, k) => {
      const r = results[k]!;
      const vm = run(setups[k]!.program, setups[k]!.vm);
      if (r instanceof Error) bad.push(`${c.name}: ${r.message}`);
      else if (r.r0 !== vm.r0 || r.r0 !== c.result) bad.push(`${c.name}: arm64 0x${r.r0.toString(16)}, vm 0x${vm.r0.toString(16)}`);
      else if (Buffer.compare(Buffer.from(r.mem), Buffer.from(vm.mem)) !== 0) bad.push(`${c.name}: memory differs`);
    });
    expect(bad).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(39);
  });

  it('a tail call lands TAIL_CALL_OFFSET bytes in, past the frame record and the count slot', () => {
    const l = jitArm64(assemble('.map jt prog_array 4 4 1\nr2 = jt ll\nr3 = 0\ncall bpf_tail_call\nr0 = 0\nexit')).listing;
    expect(l.filter((x) => x.offset < TAIL_CALL_OFFSET).map((x) => x.text)).toEqual(['stp x29, x30, [sp, #-0x10]!', 'mov x29, sp', 'stp xzr, x26, [sp, #-0x10]!', 'mov x26, sp']);
    expect(l.some((x) => x.text === 'br x11')).toBe(true);
  });

  it('pushes only the callee-saved registers a function uses, in pairs', () => {
    const texts = (asm: string): string[] => jitArm64(assemble(asm)).listing.map((x) => x.text);
    expect(texts('r0 = 1\nexit').filter((t) => t.startsWith('stp'))).toEqual(['stp x29, x30, [sp, #-0x10]!', 'stp xzr, x26, [sp, #-0x10]!']);
    expect(texts('r7 = 1\nr0 = r7\nexit').filter((t) => t.startsWith('stp') || t.startsWith('ldp'))).toEqual([
      'stp x29, x30, [sp, #-0x10]!', 'stp xzr, x26, [sp, #-0x10]!', 'stp x20, xzr, [sp, #-0x10]!',
      'ldp x20, xzr, [sp], #0x10', 'ldp xzr, x26, [sp], #0x10', 'ldp x29, x30, [sp], #0x10',
    ]);
    // r10 only as a base: sp-relative (the kernel's JIT does the same), no x25
    expect(texts('r6 = 1\n*(u64 *)(r10 - 8) = r6\nr0 = *(u64 *)(r10 - 8)\nexit')).toEqual(expect.arrayContaining(['stp x19, xzr, [sp, #-0x10]!', 'str x19, [sp, #0x8]', 'ldr x8, [sp, #0x8]']));
    expect(texts('r1 = r10\nr1 += -8\n*(u64 *)(r1 + 0) = 1\nr0 = *(u64 *)(r10 - 8)\nexit')).toContain('stp x25, xzr, [sp, #-0x10]!');
  });

  it('stack-args §9: 12-argument BPF-to-BPF call (78) and 12-argument kfunc, order-sensitive (650)', () => {
    const call = assemble(`.func s(${Array.from({ length: 12 }, (_, k) => `u64 a${k}`).join(', ')}) u64
      r1 = 1
      r2 = 2
      r3 = 3
      r4 = 4
      r5 = 5
      ${Array.from({ length: 7 }, (_, k) => `*(u64 *)(r11 - ${8 * (k + 1)}) = ${k + 6}`).join('\n')}
      call s
      exit
      s:
      r0 = r1
      r0 += r2
      r0 += r3
      r0 += r4
      r0 += r5
      ${Array.from({ length: 7 }, (_, k) => `r1 = *(u64 *)(r11 + ${8 * (k + 1)})\nr0 += r1`).join('\n')}
      exit`);
    expect(runArm64(jitArm64(call)).r0).toBe(78n);
  });

  it('1,000 seeded random programs (ALU, branches, loops, memory, calls with up to 12 args)', () => {
    const jobs: { p: Program; mem: Uint8Array; vm: bigint; vmMem: Uint8Array }[] = [];
    for (let seed = 1; seed <= 1000; seed++) {
      const p = randomProgram(seed, { size: 30 });
      const mem = new Uint8Array(64).map((_, k) => (k * 37 + seed) & 0xff);
      try {
        const r = run(p, { mem, budget: 200_000 });
        jobs.push({ p, mem, vm: r.r0, vmMem: r.mem });
      } catch (e) {
        if (!(e instanceof VmError && e.code === 'BUDGET')) throw e;
      }
    }
    const results = runArm64Batch(jobs.map((j) => ({ result: jitArm64(j.p), mem: j.mem })));
    const bad = jobs
      .map((j, k) => {
        const r = results[k]!;
        if (r instanceof Error) return `${j.p.name}: ${r.message}`;
        return r.r0 !== j.vm || Buffer.compare(Buffer.from(r.mem), Buffer.from(j.vmMem)) !== 0 ? `${j.p.name}: arm64 0x${r.r0.toString(16)} vm 0x${j.vm.toString(16)}` : null;
      })
      .filter(Boolean);
    expect(bad.slice(0, 5)).toEqual([]);
    expect(jobs.length).toBeGreaterThan(950);
  }, 120_000);
});

describe.skipIf(skipWithout('qemu-aarch64', 'aarch64-linux-gnu-gcc'))('differential with the kernel corpus (fixtures/kernel/corpus.json), as @bpf/vm runs it', () => {
  const corpus = kernelCorpus();
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

  it('accepted programs with a recorded retval: the same r0 as @bpf/vm, and the kernel retval', () => {
    // as vm.test.ts: nondeterministic on the kernel side (time, pointers, uninitialised stack)
    const cases = corpus.filter((c) => c.accepted && c.retval !== null && c.dataIn === undefined && !/ktime|ptr-leak|uninit-stack|uninit_stack|xdp/.test(c.name));
    const m: MapDef = { name: 'm', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 };
    const runs = cases.map((c) => {
      const program: Program = { insns: decode(Uint8Array.from(Buffer.from(c.insns, 'hex'))) };
      // @bpf/vm's map 'm' holds no programs: natively, where a tail call reads the map, an empty prog array
      const tail = program.insns.some((i) => i.code === 0x85 && i.src === 0 && i.imm === 12);
      return { c, vm: run(program, { maps: [m], mem: new Uint8Array(64) }).r0, job: { result: jitArm64(program), mem: new Uint8Array(64), maps: [tail ? { ...m, type: 'prog_array' } : m] } };
    });
    const results = runArm64Batch(runs.map((r) => r.job));
    const bad = runs.flatMap(({ c, vm }, k) => {
      const r = results[k]!;
      if (r instanceof Error) return [`${c.name}: ${r.message}`];
      return r.r0 !== vm || Number(r.r0 & 0xffffffffn) !== c.retval ? [`${c.name}: arm64 0x${r.r0.toString(16)}, vm 0x${vm.toString(16)}, kernel ${c.retval}`] : [];
    });
    expect(bad).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(130);
  });

  it('C packet programs (socket filter, tc, XDP; maps, tail calls, helpers): the kernel retval and data_out, as @bpf/vm', () => {
    const cases = corpus.filter((c) => c.accepted && c.dataIn !== undefined && !/uninit_stack/.test(c.name));
    const runs = cases.map((c) => {
      const s = corpusSource(c);
      if (s.kind !== 'insns') throw new Error('C cases carry their instructions');
      const program: Program = { insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs as Program['relocs'], type: c.type as ProgType };
      const data = Buffer.from(c.dataIn!, 'hex');
      const vm = run(program, { data });
      return { c, vm: { retval: Number(vm.r0 & 0xffffffffn), data: hex(vm.packet!) }, job: { result: jitArm64(program), mem: data, maps: s.maps, context: c.type as 'socket_filter' | 'sched_cls' | 'xdp' } };
    });
    const results = runArm64Batch(runs.map((r) => r.job));
    const bad = runs.flatMap(({ c, vm }, k) => {
      const r = results[k]!;
      if (r instanceof Error) return [`${c.name}: ${r.message}`];
      const ours = { retval: Number(r.r0 & 0xffffffffn), data: hex(r.mem) };
      const kernel = { retval: c.retval, data: c.dataOut };
      return JSON.stringify(ours) !== JSON.stringify(kernel) || JSON.stringify(ours) !== JSON.stringify(vm) ? [`${c.name}: arm64 ${JSON.stringify(ours)}, kernel ${JSON.stringify(kernel)}`] : [];
    });
    expect(bad).toEqual([]);
    expect(new Set(cases.map((c) => c.type))).toEqual(new Set(['socket_filter', 'sched_cls', 'xdp']));
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  it('a stack buffer reached through a copy of r10 gets MAX_BPF_STACK when the depth is syntactic', () => {
    const p = assemble('r6 = r10\nr6 += -32\n*(u64 *)(r6 + 0) = 7\nr0 = *(u64 *)(r6 + 0)\nexit');
    expect(jitArm64(p).listing.map((l) => l.text)).toContain('sub sp, sp, #0x200');
    expect(runArm64(jitArm64(p)).r0).toBe(7n);
  });
});

describe.skipIf(skipWithout('llvm-mc-19', 'llvm-objdump-19'))('the listing is llvm-objdump-19 --triple=aarch64 text for our bytes', () => {
  it('every instruction of the conformance, corpus and 300 random programs, word for word', () => {
    const listings = [
      ...loadConformance().map((c) => ({ name: c.name, r: jitArm64(assemble(c.asm)) })),
      ...kernelCorpus()
        .filter((c) => c.accepted && c.name.startsWith('c/'))
        .map((c) => {
          const s = corpusSource(c);
          if (s.kind !== 'insns') throw new Error('C cases carry their instructions');
          return { name: c.name, r: jitArm64({ insns: decode(s.bytes, { strict: false }), maps: s.maps, relocs: s.relocs as Program['relocs'], type: c.type as ProgType }) };
        }),
      ...Array.from({ length: 300 }, (_, k) => ({ name: `random/${k + 1}`, r: jitArm64(randomProgram(k + 1, { size: 40, calls: k % 2 === 0 })) })),
    ];
    // one object: every program's words in a row (.inst), disassembled once
    const words = listings.flatMap(({ name, r }) => r.listing.map((l) => ({ name, l })));
    const dir = tempDir();
    writeFileSync(join(dir, 'in.s'), `.text\n${words.map(({ l }) => `.inst 0x${l.word.toString(16).padStart(8, '0')}`).join('\n')}\n`);
    runTool('llvm-mc-19', ['-triple=aarch64', '-mattr=+lse', '-filetype=obj', '-o', join(dir, 'out.o'), join(dir, 'in.s')]);
    const out = runTool('llvm-objdump-19', ['-d', '--no-show-raw-insn', '--print-imm-hex', '--mattr=+lse', join(dir, 'out.o')]);
    const theirs: string[] = [];
    for (const line of out.split('\n')) {
      const m = /^\s+([0-9a-f]+):\s+(.*)$/.exec(line);
      if (m) theirs[parseInt(m[1]!, 16) / 4] = m[2]!.replace(/\t/g, ' ').replace(/\s+\/\/.*$/, '').trim();
    }
    const bad: string[] = [];
    words.forEach(({ name, l }, k) => {
      if (l.text.startsWith('.word')) return; // literal data (objdump elides zeros)
      // objdump prints PC-relative targets as addresses of the object: ours made absolute
      const pcrel = /^(.*?)#(-?)0x([0-9a-f]+)$/.exec(l.text);
      const mine = pcrel && /^(b|b\.\w+|bl|cbn?z|adr|ldr x\d+,) /.test(l.text) && !l.text.includes('[')
        ? `${pcrel[1]}0x${(k * 4 + (pcrel[2] ? -1 : 1) * parseInt(pcrel[3]!, 16)).toString(16)}`
        : l.text;
      const their = (theirs[k] ?? '').replace(/ <.*>$/, '');
      if (mine !== their) bad.push(`${name}@${l.offset}: ours '${l.text}', llvm-objdump '${theirs[k] ?? ''}'`);
    });
    expect(bad.slice(0, 10)).toEqual([]);
    expect(words.length).toBeGreaterThan(20_000);
  }, 120_000);
});
