/**
 * The shipped command (dist/bpf/, scripts/bundle.mjs) against the sources and the unbundled
 * command (dist/bin.js, `main` in cli.ts): the manifest answers --version and --help with the
 * texts of cli.ts, each command group runs as the unbundled command does, and the V8 code cache is used, and made
 * anew when it does not fit.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, skipWithout, tempDir } from '@bpf/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { mainHelp, VERSION } from './cli.js';
import { commands } from './commands/index.js';
import { helpText } from './dispatch.js';

const shipped = join(repoRoot, 'apps/cli/dist/bpf/bin.cjs');
const unbundled = join(repoRoot, 'apps/cli/dist/bin.js');
const cacheDir = join(repoRoot, 'apps/cli/dist/bpf/.cache');
const examples = join(repoRoot, 'examples');

function run(bin: string, args: readonly string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  execFileSync('pnpm', ['exec', 'tsc', '-b', 'apps/cli'], { cwd: repoRoot, stdio: 'inherit' });
  execFileSync(process.execPath, [join(repoRoot, 'apps/cli/scripts/copy-examples.mjs')]);
  execFileSync(process.execPath, [join(repoRoot, 'apps/cli/scripts/bundle.mjs')]);
}, 300_000);

describe('the shipped bpf command', () => {
  it('answers --version, --help and CMD --help from its manifest as main() does', () => {
    expect(run(shipped, ['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(run(shipped, ['-V']).stdout).toBe(`${VERSION}\n`);
    expect(run(shipped, ['--help'])).toEqual({ code: 0, stdout: mainHelp(), stderr: '' });
    expect(run(shipped, [])).toEqual({ code: 2, stdout: mainHelp(), stderr: '' });
    expect(run(shipped, ['frobnicate'])).toEqual({ code: 2, stdout: '', stderr: "bpf: unknown command 'frobnicate' (see 'bpf --help')\n" });
    for (const c of commands) expect(run(shipped, [c.name, '--help']), c.name).toEqual({ code: 0, stdout: helpText(c), stderr: '' });
    expect(run(shipped, ['btf', 'dump', '-h']).stdout).toBe(helpText(commands.find((c) => c.name === 'btf')!));
  }, 300_000);
  it('each command group runs as the unbundled command: output, errors and exit codes', () => {
    for (const args of [
      ['asm', join(examples, 'call12.s'), '--format', 'hex'],
      ['disasm', join(examples, 'call12.s'), '--syntax', 'kernel'],
      ['liveness', join(examples, 'call12.s'), '--json'],
      ['verify', join(examples, 'reject-uninit.s')],
      ['run', join(examples, 'hello.s')],
      ['jit', join(examples, 'hello.s'), '--arch', 'arm64'],
      ['elf', join(examples, 'hello.s')],
      ['disasm', '--frob'],
      ['completion'],
    ]) {
      const a = run(shipped, args);
      const b = run(unbundled, args);
      expect(a, args.join(' ')).toEqual(b);
    }
  }, 300_000);
  it.skipIf(skipWithout('kernel'))("verify asks the running kernel which helpers the program's type gets, as the unbundled command does, and as the kernel answers", () => {
    // bpf_xdp_adjust_meta (54), which the kernel's sources give XDP programs and a patched build
    // may not (this machine kind's 6.18.44-fc build does not); bpf_xdp_adjust_head (44) every
    // kernel gives them
    const dir = tempDir('bpf-probe-');
    for (const [name, id] of [['meta', 54], ['head', 44]] as const) {
      const file = join(dir, `${name}.s`);
      writeFileSync(file, `r2 = -4\ncall ${id}\nr0 = 2\nexit\n`);
      const kernel = JSON.parse(run(unbundled, ['kernel', 'load', file, '--type', 'xdp', '--json']).stdout) as { accepted: boolean; error: string | null };
      for (const bin of [shipped, unbundled]) {
        const ours = run(bin, ['verify', file, '--type', 'xdp', '--json']);
        const r = JSON.parse(ours.stdout) as { accepted: boolean; error: { message: string } | null };
        expect([name, bin, r.accepted, r.error?.message ?? null]).toEqual([name, bin, kernel.accepted, kernel.error]);
        // by the tables alone the sources' answer: XDP programs get both helpers
        expect(JSON.parse(run(bin, ['verify', file, '--type', 'xdp', '--json', '--no-kernel-probe']).stdout)).toMatchObject({ accepted: true });
      }
    }
  }, 300_000);
  it.skipIf(skipWithout('kernel'))("keeps the kernel's answers for this boot in the user's temporary folder, and a later run takes them from there", () => {
    const dir = tempDir('bpf-probe-cache-');
    const env = { TMPDIR: dir };
    const file = join(dir, 'meta.s');
    writeFileSync(file, 'r2 = -4\ncall 54\nr0 = 2\nexit\n');
    const verdict = (): boolean => (JSON.parse(run(shipped, ['verify', file, '--type', 'xdp', '--json'], env).stdout) as { accepted: boolean }).accepted;
    const kernel = (JSON.parse(run(unbundled, ['kernel', 'load', file, '--type', 'xdp', '--json']).stdout) as { accepted: boolean }).accepted;
    expect(verdict()).toBe(kernel);
    const cache = join(dir, `bpf-cli-${process.getuid!()}`, 'kernel-probes.json');
    const kept = JSON.parse(readFileSync(cache, 'utf8')) as { boot: string; answers: Record<string, Record<string, boolean>> };
    expect(kept.answers['helper xdp///false']).toEqual({ 54: kernel });
    // the answer is read back, not asked again: one turned the other way turns our verdict
    writeFileSync(cache, JSON.stringify({ ...kept, answers: { 'helper xdp///false': { 54: !kernel } } }));
    expect(verdict()).toBe(!kernel);
    // answers of another boot are not used
    writeFileSync(cache, JSON.stringify({ boot: 'another boot', answers: { 'helper xdp///false': { 54: !kernel } } }));
    expect(verdict()).toBe(kernel);
  }, 300_000);
  it('keeps a V8 code cache per command group, and replaces one that does not fit', () => {
    const hello = join(examples, 'hello.s');
    const plain = { BPF_V8_TIERING: '0' };
    const first = run(shipped, ['disasm', hello], plain);
    expect(first.code, first.stderr).toBe(0);
    const cache = readdirSync(cacheDir).find((f) => f.startsWith('disasm.cjs.') && f.endsWith(`.${process.version}-${process.arch}.v8cache`));
    expect(cache).toBeDefined();
    const path = join(cacheDir, cache!);
    // bytes V8 must reject (its header check fails): the command still runs, and the cache is made anew
    const junk = Buffer.alloc(4096, 0x5a);
    writeFileSync(path, junk);
    const again = run(shipped, ['disasm', hello], plain);
    expect(again).toEqual(first);
    expect(existsSync(path)).toBe(true);
    expect(readFileSync(path).equals(junk)).toBe(false);
  }, 300_000);
  it("veristat's workers and --jobs 1 load the worker bundle through the code cache and give the unbundled command's rows", () => {
    const files = ['hello.s', 'call12.s', 'reject-uninit.s'].map((f) => join(examples, f));
    const isWorkCache = (f: string): boolean => f.startsWith('veristat-work.cjs.') && f.endsWith('.v8cache');
    // the cache is looked up beside the bundle, then in the user's temporary directory, where any
    // run of a bundle with the same contents on this machine may have left one (another clone's
    // tests, a benchmark): with one there the workers would load it and have nothing to save
    for (const dir of [cacheDir, join(tmpdir(), `bpf-cli-${process.getuid?.() ?? 0}`)]) if (existsSync(dir)) for (const f of readdirSync(dir)) if (isWorkCache(f)) rmSync(join(dir, f), { force: true });
    const rows = (r: { code: number; stdout: string; stderr: string }): unknown => {
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { programs: { timeUs?: number }[] }).programs.map(({ timeUs: _, ...row }) => row);
    };
    const workers = rows(run(shipped, ['veristat', '--no-kernel', '--json', '--jobs', '2', ...files]));
    // the workers saved the cache when they were told to stop
    expect(readdirSync(cacheDir).some(isWorkCache)).toBe(true);
    expect(rows(run(shipped, ['veristat', '--no-kernel', '--json', '--jobs', '2', ...files]))).toEqual(workers);
    expect(rows(run(shipped, ['veristat', '--no-kernel', '--json', '--jobs', '1', ...files]))).toEqual(workers);
    expect(rows(run(unbundled, ['veristat', '--no-kernel', '--json', '--jobs', '2', ...files]))).toEqual(workers);
  }, 300_000);
  it('keeps the code cache made with its V8 tiering flags apart from one made without them', () => {
    const hello = join(examples, 'hello.s');
    const tuned = run(shipped, ['disasm', hello], { BPF_V8_TIERING: '1' });
    const tunedCache = readdirSync(cacheDir).find((f) => f.startsWith('disasm.cjs.') && f.endsWith(`.${process.version}-${process.arch}-tiered.v8cache`));
    expect(tunedCache).toBeDefined();
    const before = readFileSync(join(cacheDir, tunedCache!));
    // V8 refuses a cache made under other flags: without the tuning the command keeps its own
    const plain = run(shipped, ['disasm', hello], { BPF_V8_TIERING: '0' });
    expect(plain).toEqual(tuned);
    expect(readdirSync(cacheDir).some((f) => f.startsWith('disasm.cjs.') && f.endsWith(`.${process.version}-${process.arch}.v8cache`))).toBe(true);
    expect(readFileSync(join(cacheDir, tunedCache!)).equals(before)).toBe(true);
  }, 300_000);
});
