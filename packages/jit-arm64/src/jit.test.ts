import { assemble, type Program } from '@bpf/isa';
import { randomProgram } from '@bpf/reliability';
import { loadConformance, run as runTool, skipWithout } from '@bpf/testkit';
import { run, VmError } from '@bpf/vm';
import { describe, expect, it } from 'vitest';
import { jitArm64 } from './index.js';
import { runArm64, runArm64Batch } from './node.js';

describe.skipIf(skipWithout('qemu-aarch64', 'aarch64-linux-gnu-gcc'))('arm64 JIT output, run under qemu-aarch64, agrees with @bpf/vm', () => {
  it('the conformance suite', () => {
    const cases = loadConformance().filter((c) => c.error === undefined);
    const results = runArm64Batch(cases.map((c) => ({ result: jitArm64(assemble(c.asm)), ...(c.mem ? { mem: c.mem } : {}) })));
    const bad: string[] = [];
    cases.forEach((c, k) => {
      const r = results[k]!;
      const vm = run(assemble(c.asm), c.mem ? { mem: c.mem } : {});
      if (r instanceof Error) bad.push(`${c.name}: ${r.message}`);
      else if (r.r0 !== vm.r0 || r.r0 !== c.result) bad.push(`${c.name}: arm64 0x${r.r0.toString(16)}, vm 0x${vm.r0.toString(16)}`);
      else if (Buffer.compare(Buffer.from(r.mem), Buffer.from(vm.mem)) !== 0) bad.push(`${c.name}: memory differs`);
    });
    expect(bad).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(28);
  });

  it('spec §6: 12-argument BPF-to-BPF call (78) and 12-argument kfunc, order-sensitive (650)', () => {
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

describe.skipIf(skipWithout('llvm-mc-19'))('encodings agree with llvm-mc-19 --disassemble -triple=aarch64', () => {
  it('every instruction word of the conformance programs decodes to our mnemonic', () => {
    const bad: string[] = [];
    for (const c of loadConformance()) {
      const r = jitArm64(assemble(c.asm));
      const words = r.listing.filter((l) => !l.text.startsWith('.word'));
      const input = words.map((l) => [0, 8, 16, 24].map((b) => `0x${((l.word >>> b) & 0xff).toString(16)}`).join(' ')).join('\n');
      const out = runTool('llvm-mc-19', ['--disassemble', '-triple=aarch64', '-mattr=+lse', '--print-imm-hex'], input);
      const theirs = out.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('.'));
      words.forEach((l, k) => {
        const mine = l.text.split(' ')[0]!;
        const their = (theirs[k] ?? '').split(/\s/)[0]!;
        // llvm prints aliases (mov for movz/movn/orr, cmp for subs...): compare the canonical families
        const fam = (m: string): string => ({ movz: 'mov', movn: 'mov', orr: 'mov', mvn: 'mvn', tst: 'tst', cmp: 'cmp' } as Record<string, string>)[m] ?? m;
        if (fam(mine) !== fam(their) && !(mine === 'mov' && their === 'mov')) bad.push(`${c.name}@${l.offset}: ours '${l.text}' llvm '${theirs[k]}'`);
      });
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });
});
