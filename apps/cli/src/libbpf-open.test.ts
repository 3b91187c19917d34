/**
 * What libbpf 1.x refuses when it opens an object, live: an extern its BTF does not describe
 * (no VAR/FUNC of its name, no DATASEC listing it, no `.BTF` at all) and a static entry
 * program. `bpftool -d prog loadall` is the oracle; `bpf kernel load` must give libbpf's own
 * line, and `--opener raw` (loaders that read the ELF file themselves) must not refuse.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, skipWithout, tempDir } from '@bpf/testkit';
import { beforeAll, describe, expect, it } from 'vitest';

const HEAD = '#define SEC(n) __attribute__((section(n), used))\nchar _license[] SEC("license") = "GPL";\n';
const CASES: readonly { readonly name: string; readonly src: string; readonly debug: boolean; readonly place: string }[] = [
  // an extern function outside .ksyms: a FUNC, but no DATASEC lists it
  { name: 'func-no-datasec', src: 'extern int helper_elsewhere(int x);\nSEC("tc") int prog(void *ctx) { return helper_elsewhere(1); }\n', debug: true, place: 'section tc, insn 1' },
  // the same without -g: no .BTF at all (-ESRCH)
  { name: 'no-btf', src: 'extern int helper_elsewhere(int x);\nSEC("tc") int prog(void *ctx) { return helper_elsewhere(1); }\n', debug: false, place: 'section tc, insn 1' },
  // a function named only in inline asm: clang writes no BTF for it (-ENOENT)
  { name: 'asm-only', src: 'SEC("tc") int prog(void *ctx) { asm volatile("call asm_only_fn" ::: "r0", "r1", "r2", "r3", "r4", "r5"); return 0; }\n', debug: true, place: 'section tc, insn 0' },
  // an extern variable in no section
  { name: 'var-no-datasec', src: 'extern int some_var;\nSEC("tc") int prog(void *ctx) { return some_var; }\n', debug: true, place: 'section tc, insn 0' },
  // a static entry program (checked before the externs)
  { name: 'static-prog', src: 'SEC("tc") static int prog(void *ctx) { return 0; }\n', debug: true, place: 'section tc, byte 64' },
];

describe.skipIf(skipWithout('clang-19', 'bpftool', 'kernel'))("libbpf's open-time refusals, live", { timeout: 300_000 }, () => {
  const dir = tempDir('bpf-libbpf-open-');
  beforeAll(() => {
    for (const c of CASES) {
      writeFileSync(join(dir, `${c.name}.c`), HEAD + c.src);
      execFileSync('clang-19', ['-target', 'bpfel', '-O2', ...(c.debug ? ['-g'] : []), '-c', join(dir, `${c.name}.c`), '-o', join(dir, `${c.name}.o`)]);
    }
    execFileSync('pnpm', ['exec', 'tsc', '-b', 'apps/cli'], { cwd: repoRoot, stdio: 'inherit' });
  }, 300_000);
  const bpf = (...args: string[]): { code: number; stderr: string } => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'apps/cli/dist/bin.js'), ...args], { encoding: 'utf8' });
    return { code: r.status ?? -1, stderr: r.stderr };
  };

  it('bpf kernel load refuses each object with libbpf\'s own line, naming the extern and its place; --opener raw lets the kernel see it', () => {
    const fs = join(dir, 'bpffs');
    mkdirSync(fs);
    execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
    const said = new Map<string, string>();
    try {
      for (const c of CASES) {
        const r = spawnSync('bpftool', ['-d', 'prog', 'loadall', join(dir, `${c.name}.o`), join(fs, c.name)], { encoding: 'utf8' });
        expect(r.status, c.name).not.toBe(0);
        expect(r.stderr, c.name).toContain('Error: failed to open object file');
        const line = r.stderr.split('\n').find((l) => /^libbpf: (failed to find BTF for extern|sec '.*' is static and not supported|sec '.*': program '.*' is static)/.test(l));
        expect(line, c.name).toBeDefined();
        said.set(c.name, line!.slice('libbpf: '.length));
      }
    } finally {
      execFileSync('umount', [fs]);
      rmSync(fs, { recursive: true, force: true });
    }
    for (const c of CASES) {
      const o = join(dir, `${c.name}.o`);
      const r = bpf('kernel', 'load', o);
      expect(r.code, c.name).not.toBe(0);
      expect(r.stderr, c.name).toContain(c.place);
      expect(r.stderr, c.name).toContain(`(libbpf: ${said.get(c.name)})`);
      // a loader that reads the ELF itself does not look at externs: the kernel answers
      // (the unresolved call is its to refuse), and a static program loads
      const raw = bpf('kernel', 'load', o, '--opener', 'raw');
      expect(raw.stderr, c.name).not.toContain('libbpf refuses the object');
      if (c.name === 'static-prog') expect(raw.code, raw.stderr).toBe(0);
      // reading the object still works
      expect(bpf('elf', o).code, c.name).toBe(0);
      expect(bpf('disasm', o).code, c.name).toBe(0);
    }
  });
});
