/** Throughput on the corpus and with vmlinux-sized BTF (numbers printed for the record). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { bpftoolBtf } from './bpftoolbtf.test.helper.js';
import { corpus } from './corpus.test.helper.js';
import { loadPrograms } from './index.js';

const dir = corpus();

describe.skipIf(skipWithout('clang-19', 'bpftool', 'kernel'))('performance', () => {
  it('parses and links every corpus object quickly; resolves externs against vmlinux once', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.o'));
    expect(files.length).toBeGreaterThanOrEqual(30);
    const objs = files.map((f) => new Uint8Array(readFileSync(join(dir, f))));
    const t0 = performance.now();
    let progs = 0;
    for (let rep = 0; rep < 10; rep++) for (const b of objs) progs += loadPrograms(b).length;
    const perObject = (performance.now() - t0) / (10 * objs.length);
    const vmlinux = bpftoolBtf('/sys/kernel/btf/vmlinux');
    const ext = join(dir, 'externs.v3.el.o');
    const local = bpftoolBtf(ext);
    const bytes = new Uint8Array(readFileSync(ext));
    const t1 = performance.now();
    for (let rep = 0; rep < 5; rep++) loadPrograms(bytes, { objectBtf: local, kernelBtf: vmlinux });
    const withBtf = (performance.now() - t1) / 5;
    console.log(`elf perf: ${perObject.toFixed(3)} ms per object (${progs / 10} programs per pass); ${withBtf.toFixed(1)} ms per load with vmlinux BTF (${vmlinux.count} types, index cached)`);
    expect(perObject).toBeLessThan(20);
    expect(withBtf).toBeLessThan(500);
  });
});
