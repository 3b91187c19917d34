#!/usr/bin/env node
// vmlinux BTF: parse alone, parse + raw dump vs `bpftool btf dump file /sys/kernel/btf/vmlinux`,
// and parse + C dump (vmlinux.h) vs `bpftool btf dump file /sys/kernel/btf/vmlinux format c`.
// bpftool's times include its process start; ours are in a warm process (best of N either way),
// and one more row times our whole CLI command cold, as bpftool's.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpC, dumpRaw, parseBtf } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const file = '/sys/kernel/btf/vmlinux';
const rows = [];
if (!existsSync(file)) rows.push({ benchmark: 'BTF parse + raw dump of vmlinux', note: 'no /sys/kernel/btf/vmlinux here' });
else {
  const bytes = new Uint8Array(readFileSync(file));
  const runs = process.argv.includes('--quick') ? 2 : 5;
  /** Best wall time of `runs` calls of f, and its last result. */
  const best = (f) => {
    let ms = Infinity;
    let out;
    for (let k = 0; k < runs; k++) {
      const t0 = performance.now();
      out = f();
      ms = Math.min(ms, performance.now() - t0);
    }
    return { ms, out };
  };
  /** bpftool's best time for the same dump (undefined when bpftool is missing), and its output. */
  const bpftool = (args) => {
    try {
      const { ms } = best(() => execFileSync('sh', ['-c', `bpftool btf dump file ${file} ${args} > /dev/null`]));
      return { ms, out: execFileSync('bpftool', ['btf', 'dump', 'file', file, ...args.split(' ').filter(Boolean)], { encoding: 'utf8', maxBuffer: 1 << 30 }) };
    } catch {
      return { ms: undefined, out: undefined };
    }
  };
  // parseBtf makes the type objects on first use of `types` (dumpC never uses them): touch them,
  // so this row is the whole parse
  const parse = best(() => {
    const btf = parseBtf(bytes);
    void btf.types.length;
    return btf;
  });
  rows.push({ benchmark: 'BTF parse of vmlinux (type objects made)', ours: parse.ms, unit: 'ms', note: `${bytes.length} bytes, ${parse.out.types.length - 1} types; best of ${runs}` });
  for (const [what, dump, args] of [['raw dump', dumpRaw, ''], ['format c dump', dumpC, 'format c']]) {
    const ours = best(() => dump(parseBtf(bytes)));
    const ref = bpftool(args);
    const same = ref.out === undefined ? 'bpftool missing' : ours.out === ref.out ? 'output identical' : 'OUTPUT DIFFERS';
    rows.push({ benchmark: `BTF parse + ${what} of vmlinux vs bpftool${args ? ` ${args}` : ''}`, ours: ours.ms, reference: ref.ms, unit: 'ms', note: `${ours.out.length} chars; ${same}; best of ${runs}` });
  }
  // the whole command, cold: a fresh Node process (start, module load, JIT warm-up) running
  // `bpf btf dump --format c`, against the bpftool process; best of N either way
  const cli = join(root, 'apps/cli/dist/bin.js');
  if (existsSync(cli)) {
    const cold = best(() => execFileSync(process.execPath, [cli, 'btf', 'dump', file, '--format', 'c'], { maxBuffer: 1 << 30 }));
    const ref = bpftool('format c');
    rows.push({ benchmark: 'bpf btf dump vmlinux --format c (cold process) vs bpftool', ours: cold.ms, reference: ref.ms, unit: 'ms', note: `process start included on both sides; a first dumpC in a fresh process runs before V8 has optimised it; best of ${runs}` });
  }
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/btf.json'), JSON.stringify({ rows }, null, 2));
console.table(rows);
