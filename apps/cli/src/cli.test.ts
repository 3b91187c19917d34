/**
 * End-to-end: spawn the built `bpf` binary on real inputs and check stdout, stderr and exit
 * codes, bad input of each kind included. Build first (`pnpm exec tsc -b`); the suite builds
 * the CLI itself when dist is missing or stale.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, skipWithout, tempDir } from '@bpf/testkit';
import { beforeAll, describe, expect, it } from 'vitest';

// the shipped command: the bundles of scripts/bundle.mjs (package.json "bin")
const bin = join(repoRoot, 'apps/cli/dist/bpf/bin.cjs');
const examples = join(repoRoot, 'examples');
const tmp = tempDir('bpf-cli-');

function bpf(args: readonly string[], input?: string | Uint8Array): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  execFileSync('pnpm', ['exec', 'tsc', '-b', 'apps/cli'], { cwd: repoRoot, stdio: 'inherit' });
  execFileSync(process.execPath, [join(repoRoot, 'apps/cli/scripts/copy-examples.mjs')]);
  execFileSync(process.execPath, [join(repoRoot, 'apps/cli/scripts/bundle.mjs')]);
}, 300_000);

describe('bpf (usage)', () => {
  it('prints help with every command and exits 0', () => {
    const r = bpf(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['asm', 'disasm', 'elf', 'liveness']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });
  it('every command has --help with an example', () => {
    for (const c of ['asm', 'disasm', 'elf', 'liveness']) {
      const r = bpf([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Example:');
    }
  });
  it('rejects an unknown command and an unknown flag with exit 2, one line, no stack', () => {
    const a = bpf(['frobnicate']);
    expect(a.code).toBe(2);
    expect(a.stderr).toBe("bpf: unknown command 'frobnicate' (see 'bpf --help')\n");
    const b = bpf(['disasm', '--frob', 'x']);
    expect(b.code).toBe(2);
    expect(b.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(b.stderr).not.toContain('    at ');
  });
  it('a missing file is an input error naming the file', () => {
    const r = bpf(['disasm', join(tmp, 'nope.bin')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('nope.bin: cannot read (ENOENT)');
  });
  it('prints a completion script', () => {
    const r = bpf(['completion']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('complete -F _bpf bpf');
  });
});

describe('bpf asm / disasm', () => {
  it('assembles the 12-argument example to the same bytes llvm-mc would, round trip through disasm', () => {
    const out = join(tmp, 'call12.bin');
    const a = bpf(['asm', join(examples, 'call12.s'), '-o', out, '--format', 'raw']);
    expect(a.code, a.stderr).toBe(0);
    const bytes = readFileSync(out);
    expect(bytes.length % 8).toBe(0);
    // *(u64 *)(r11 - 8) = 6 is opcode 0x7a with dst r11
    expect([...bytes.subarray(5 * 8, 5 * 8 + 4)]).toEqual([0x7a, 0x0b, 0xf8, 0xff]);
    const d = bpf(['disasm', out]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^ +5: \*\(u64 \*\)\(r11 - 0x8\) = 0x6$/m);
  });
  it('detects hex input, prints kernel syntax, and JSON', () => {
    const hex = join(tmp, 'p.hex');
    writeFileSync(hex, 'b7 00 00 00 2a 00 00 00\n95 00 00 00 00 00 00 00\n');
    const k = bpf(['disasm', hex, '--syntax', 'kernel']);
    expect(k.code, k.stderr).toBe(0);
    expect(k.stdout).toBe('0: (b7) r0 = 42\n1: (95) exit\n');
    const j = JSON.parse(bpf(['disasm', hex, '--json']).stdout) as { input: string; insns: { index: number; text: string }[] };
    expect(j.input).toBe('hex');
    expect(j.insns.map((i) => i.text)).toEqual(['r0 = 0x2a', 'exit']);
  });
  it('reads stdin with -', () => {
    const r = bpf(['asm', '-', '--format', 'hex'], 'r0 = 1\nexit\n');
    expect(r.stdout).toBe('b7 00 00 00 01 00 00 00\n95 00 00 00 00 00 00 00\n');
  });
  it('names line:column of an assembly error and exits 3', () => {
    const r = bpf(['asm', '-'], 'r0 = 1\nr0 +== 2\nexit\n');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^bpf: -: 2:\d+: /);
  });
  it('names the byte offset of truncated raw input', () => {
    const f = join(tmp, 'trunc.bin');
    writeFileSync(f, Uint8Array.from([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0]));
    const r = bpf(['disasm', f, '--input', 'raw']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('byte 8');
  });
});

describe.skipIf(skipWithout('clang-19'))('bpf elf / disasm on a clang object', () => {
  it('lists programs and maps, and disassembles the object', () => {
    const dir = tempDir();
    const c = join(dir, 'p.c');
    writeFileSync(
      c,
      'struct { int type; int max_entries; } m __attribute__((section(".maps"))); \n' +
        '__attribute__((section("xdp"), used)) int prog(void *ctx) { return 2; }\n' +
        'char _license[] __attribute__((section("license"), used)) = "GPL";\n',
    );
    execFileSync('clang-19', ['-target', 'bpf', '-O2', '-c', c, '-o', join(dir, 'p.o')]);
    const e = bpf(['elf', join(dir, 'p.o'), '--json']);
    expect(e.code, e.stderr).toBe(0);
    const j = JSON.parse(e.stdout) as { programs: { name: string; section: string; type: string }[]; license: string };
    expect(j.programs).toEqual([expect.objectContaining({ name: 'prog', section: 'xdp', type: 'xdp' })]);
    expect(j.license).toBe('GPL');
    const d = bpf(['disasm', join(dir, 'p.o')]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('r0 = 0x2');
    const bad = bpf(['elf', join(dir, 'p.c')]);
    expect(bad.code).toBe(3);
  });
});

describe('bpf verify', () => {
  it('accepts the 12-argument call (exit 0) and reports the analysed subprograms', () => {
    const r = bpf(['verify', join(examples, 'call12.s'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { accepted: boolean; subprogs: { name: string; argCount: number; incomingStackArgs: number }[] };
    expect(j.accepted).toBe(true);
    expect(j.subprogs.map((s) => [s.name, s.argCount, s.incomingStackArgs])).toEqual([['main', 5, 0], ['sum12', 12, 7]]);
  });
  it('rejects with the spec message and exit 1', () => {
    const r = bpf(['verify', join(examples, 'reject-r11-after-call.s')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('r11 load must be before any r11 store or call insn');
    const u = bpf(['verify', join(examples, 'reject-uninit.s'), '--json']);
    expect(JSON.parse(u.stdout)).toMatchObject({ accepted: false, error: { insn: 0, message: 'R2 !read_ok' } });
  });
});

describe('bpf verify --map-addresses', () => {
  const prog = ['.prog_type socket_filter', '.map m array 4 8 4', 'r1 = 0', '*(u32 *)(r10 - 4) = r1', 'r1 = m ll', 'r2 = r10', 'r2 += -4', 'call bpf_map_lookup_elem', 'r0 = 0', 'exit', ''].join('\n');
  it("prints the addresses a kernel log shows in ld_imm64 lines; a log it cannot read is an input error", () => {
    const file = join(tmp, 'mapaddr.s');
    writeFileSync(file, prog);
    const log = join(tmp, 'mapaddr.log');
    writeFileSync(log, '2: (18) r1 = 0xffff88810a2b3c00\n');
    const r = bpf(['verify', file, '--log-level', '2', '--map-addresses', log]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^2: \(18\) r1 = 0xffff88810a2b3c00 +; R1=map_ptr\(map=m,ks=4,vs=8\)$/m);
    expect(bpf(['verify', file, '--log-level', '2', '--map-addresses', '-'], '2: (18) r1 = 0xffff88810a2b3c00\n').stdout).toContain('r1 = 0xffff88810a2b3c00');
    expect(bpf(['verify', file, '--log-level', '2']).stdout).not.toContain('0xffff88810a2b3c00');
    const missing = bpf(['verify', file, '--map-addresses', join(tmp, 'no-such.log')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('--map-addresses');
  });
  it.skipIf(skipWithout('kernel'))("with the kernel's own level-2 log, ours is the kernel's byte for byte", () => {
    const file = join(tmp, 'mapaddr-live.s');
    writeFileSync(file, prog);
    const k = JSON.parse(bpf(['kernel', 'load', file, '--log-level', '2', '--json']).stdout) as { accepted: boolean; log: string };
    expect(k.accepted).toBe(true);
    const log = join(tmp, 'mapaddr-live.log');
    writeFileSync(log, k.log);
    const ours = JSON.parse(bpf(['verify', file, '--log-level', '2', '--map-addresses', log, '--json']).stdout) as { accepted: boolean; log: string };
    expect(ours.log).toBe(k.log);
  });
});

describe('bpf verify --trace', () => {
  // a variable stack offset built from a context load: the verifier rejects the read, and the
  // why-chain is its own backtracking from R3 at the read to the load that made R2
  const why = 'r2 = *(u32 *)(r1 + 0)\nr2 <<= 2\nr3 = r10\nr3 += -8\nr3 += r2\nr0 = *(u8 *)(r3 + 0)\nexit\n';
  it('prints the rejection\'s why-chain as instructions, newest first', () => {
    const r = bpf(['verify', '-', '--trace', '--log-level', '0'], why);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('rejected at insn 5: invalid unbounded variable-offset read from stack R3');
    expect(r.stdout).toContain('trace: 6 steps on 1 paths, 0 checkpoints, 0 pruned');
    const chain = r.stdout.slice(r.stdout.indexOf('why: R3 at insn 5')).split('\n').slice(1, 6).map((l) => Number(l.trim().split(':')[0]));
    expect(chain).toEqual([4, 3, 2, 1, 0]);
  });
  it('--json carries the whole trace; --trace-max-steps bounds it and must be a positive integer', () => {
    const j = JSON.parse(bpf(['verify', '-', '--trace', '--json'], why).stdout) as { trace: { steps: unknown[]; rejection: { pc: number; chain: { pc: number }[] } } };
    expect(j.trace.steps).toHaveLength(6);
    expect(j.trace.rejection.chain.map((l) => l.pc)).toEqual([4, 3, 2, 1, 0]);
    const cut = JSON.parse(bpf(['verify', join(examples, 'call12.s'), '--trace', '--trace-max-steps', '10', '--json']).stdout) as { trace: { steps: unknown[]; truncated: boolean } };
    expect(cut.trace).toMatchObject({ truncated: true });
    expect(cut.trace.steps).toHaveLength(10);
    expect(bpf(['verify', join(examples, 'call12.s'), '--trace', '--trace-max-steps', '0'])).toMatchObject({ code: 2, stderr: "bpf: --trace-max-steps takes a positive integer, not '0'\n" });
  });
});

describe('bpf run', () => {
  it('runs the 12-argument call in the interpreter: 78', () => {
    const r = bpf(['run', join(examples, 'call12.s'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ r0: '0x4e', insns: 34, output: '', printk: [] });
  });
  it('uses the raw-memory convention and reports a memory violation as a runtime error', () => {
    const ok = bpf(['run', '-', '--mem', '2a 00 00 00'], 'r0 = *(u32 *)(r1 + 0)\nr0 += r2\nexit\n');
    expect(ok.stdout).toContain('r0 = 0x2e (46)');
    const bad = bpf(['run', '-', '--mem', '00'], 'r0 = *(u64 *)(r1 + 0)\nexit\n');
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/^bpf: -: insn 0: read of 8 bytes at mem\+0/);
  });
  it('runs a packet program on --data as BPF_PROG_TEST_RUN lays it out, and prints the packet after', () => {
    const xdp = 'r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 14\nif r4 > r3 goto out\nr5 = 255\n*(u8 *)(r2 + 0) = r5\nr0 = 2\nexit\nout:\nr0 = 1\nexit\n';
    const frame = '11'.repeat(14) + '22'.repeat(20);
    const r = bpf(['run', '-', '--type', 'xdp', '--data', frame, '--json'], xdp);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ r0: '0x2', insns: 9, output: '', packet: `ff${frame.slice(2)}`, printk: [] });
    const short = bpf(['run', '-', '--type', 'xdp', '--data', '11'.repeat(8)], xdp);
    expect(short.stdout).toMatch(/^r0 = 0x1 \(1\)\n7 instructions executed\npacket after: 1{16}\n$/);
    const notPacket = bpf(['run', '-', '--type', 'kprobe', '--data', '00'], xdp);
    expect(notPacket.code).toBe(2);
    expect(notPacket.stderr).toMatch(/^bpf: run: --data needs a packet program type .*the program's type is kprobe\n$/);
  });
  it('--engine: WebAssembly (the default) and the interpreter give the same result; the native JITs r0', () => {
    const vm = bpf(['run', join(examples, 'call12.s'), '--engine', 'vm', '--json']);
    for (const engine of ['wasm', undefined]) {
      const r = bpf(['run', join(examples, 'call12.s'), ...(engine ? ['--engine', engine] : []), '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(vm.stdout);
    }
    if (process.arch === 'x64') expect(JSON.parse(bpf(['run', join(examples, 'call12.s'), '--engine', 'x86_64', '--json']).stdout)).toEqual({ r0: '0x4e', output: '', printk: [] });
    const bad = bpf(['run', join(examples, 'call12.s'), '--engine', 'z80']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("bpf: run: --engine must be one of wasm, vm, x86_64, arm64 (got 'z80')\n");
  });
  it('--verify refuses what the verifier rejects (exit 1)', () => {
    const r = bpf(['run', join(examples, 'reject-uninit.s'), '--verify']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('bpf: run: the verifier rejected the program at insn 0: R2 !read_ok\n');
  });
});

describe('bpf jit', () => {
  it('compiles the 12-argument call for x86-64 and runs it natively in a child process: 78', () => {
    const r = bpf(['jit', join(examples, 'call12.s'), '--arch', 'x86_64', '--run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { r0: string; size: number; listing: { text: string }[] };
    expect(j.r0).toBe('0x4e');
    expect(j.listing.map((l) => l.text)).toContain('mov r9d, 0x6');
    const text = bpf(['jit', join(examples, 'call12.s')]);
    expect(text.stdout).toMatch(/; insn 5\n +[0-9a-f]+: 41 b9 06 00 00 00 +mov r9d, 0x6/);
  });
  it.skipIf(skipWithout('qemu-aarch64', 'aarch64-linux-gnu-gcc'))('compiles for arm64 and runs it under qemu-aarch64: 78', () => {
    const r = bpf(['jit', join(examples, 'call12.s'), '--arch', 'arm64', '--run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { r0: string; listing: { text: string }[] };
    expect(j.r0).toBe('0x4e');
    expect(j.listing.map((l) => l.text)).toContain('mov x5, #0x6');
  });
});

describe.skipIf(skipWithout('kernel'))('bpf kernel', () => {
  it('loads: accepted with stats in JSON, rejected with the kernel message and exit 1', () => {
    const ok = bpf(['kernel', 'load', join(examples, 'hello.s'), '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ accepted: true, errno: 0, stats: { processedInsns: 2 } });
    const bad = bpf(['kernel', 'load', join(examples, 'reject-uninit.s'), '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ accepted: false, errno: 13, error: 'R2 !read_ok' });
  });
  it('compares our verdict with the kernel\'s, side by side', () => {
    const r = bpf(['kernel', 'compare', join(examples, 'reject-uninit.s'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ agree: true, ours: { accepted: false, error: 'R2 !read_ok' }, kernel: { accepted: false, error: 'R2 !read_ok' } });
  });
  it('compare: a kprobe reading through the task pointer bpf_get_current_task_btf returns (our verifier gets the kernel BTF for it)', () => {
    const src = 'call bpf_get_current_task_btf\nr0 = *(u32 *)(r0 + 0)\nr0 = 0\nexit\n';
    const r = bpf(['kernel', 'compare', '-', '--type', 'kprobe', '--license', 'GPL', '--json'], src);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { agree: boolean; ours: { accepted: boolean; processedInsns: number }; kernel: { accepted: boolean; processedInsns: number } };
    expect(j.ours).toMatchObject({ accepted: j.kernel.accepted, processedInsns: j.kernel.processedInsns });
    expect(j.agree).toBe(true);
  });
  it('veristat: a table with ours beside the kernel', () => {
    const r = bpf(['veristat', join(examples, 'hello.s'), join(examples, 'reject-uninit.s')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^File +Program +Verdict +Insns +States +Time \(us\) +Kernel verdict/);
    expect(r.stdout).toMatch(/hello\.s +main +success +2 /);
    expect(r.stdout).toMatch(/reject-uninit\.s +main +failure +1 .* failure/);
  });
  it('veristat: worker threads give the rows of --jobs 1, in the order of the files', () => {
    const files = ['reject-uninit.s', 'hello.s', 'call12.s', 'kfunc12.s', 'reject-r11-after-call.s'].map((f) => join(examples, f));
    const seq = bpf(['veristat', '--no-kernel', '--json', '--jobs', '1', ...files]);
    const par = bpf(['veristat', '--no-kernel', '--json', '--jobs', '3', ...files]);
    expect(seq.code, seq.stderr).toBe(0);
    expect(par.code, par.stderr).toBe(0);
    // piped stderr: no progress bar
    expect(par.stderr).toBe('');
    const strip = (s: string) => (JSON.parse(s) as { programs: { timeUs: number }[] }).programs.map(({ timeUs: _t, ...r }) => r);
    expect(strip(par.stdout)).toEqual(strip(seq.stdout));
    expect(strip(par.stdout).map((r) => (r as { file: string }).file)).toEqual(files);
    expect(strip(par.stdout)[0]).toMatchObject({ verdict: 'failure', insns: 1, error: 'R2 !read_ok' });
    const bad = bpf(['veristat', '--jobs', '0', ...files]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--jobs must be a positive integer/);
  });
  it.skipIf(skipWithout('clang-19'))('runs a clang XDP object with its maps and BTF: same retval and packet as bpf run', () => {
    const dir = tempDir('bpf-cli-c-');
    execFileSync('bash', [join(repoRoot, 'fixtures/c/progs/build.sh'), dir]);
    const obj = join(dir, 'xdp_parse.v3.o');
    // Ethernet + IPv4 + UDP to port 53
    const frame = `${'02'.repeat(6)}${'04'.repeat(6)}08004500002400000000401100000a0000010a00000204d20035001e${'00'.repeat(22)}`;
    for (const prog of ['xdp_swap_mac', 'xdp_count_proto', 'xdp_drop_udp_port']) {
      const k = bpf(['kernel', 'run', obj, '--prog', prog, '--data', frame, '--json']);
      expect(k.code, k.stderr).toBe(0);
      const v = bpf(['run', obj, '--prog', prog, '--data', frame, '--json']);
      expect(v.code, v.stderr).toBe(0);
      const kj = JSON.parse(k.stdout) as { retval: number; dataOut: string };
      const vj = JSON.parse(v.stdout) as { r0: string; packet: string };
      expect({ retval: Number(vj.r0), data: vj.packet }, prog).toEqual({ retval: kj.retval, data: kj.dataOut });
    }
  });
  it.skipIf(skipWithout('clang-19'))('verify and kernel load agree on typed kernel variables (__ksym): the kernel\'s symbols decide', () => {
    // fixtures/c/elf/externs.c: kfuncs, a typed kernel variable and __kconfig values
    const o = join(tmp, 'externs.o');
    execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-c', join(repoRoot, 'fixtures/c/elf/externs.c'), '-o', o]);
    for (const prog of ['handle_newtask', 'read_kernel_var']) {
      const ours = JSON.parse(bpf(['verify', o, '--prog', prog, '--log-level', '0', '--json']).stdout) as { accepted: boolean; error: { message: string } | null };
      const k = JSON.parse(bpf(['kernel', 'load', o, '--prog', prog, '--json']).stdout) as { accepted: boolean; log: string; refusedBeforeVerifier: boolean };
      if (k.refusedBeforeVerifier) continue;
      expect(ours.accepted, prog).toBe(k.accepted);
      if (!k.accepted) expect(k.log).toContain(ours.error!.message);
    }
  });
  it('run: a program the kernel rejects says why', () => {
    const r = bpf(['kernel', 'run', join(examples, 'reject-uninit.s')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the kernel rejected the program: R2 !read_ok \(errno 13\)\n$/);
  });
  it('runs: the retval of BPF_PROG_TEST_RUN', () => {
    const r = bpf(['kernel', 'run', join(examples, 'hello.s'), '--data', '00'.repeat(64)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^retval = 42 \(0x2a\)/);
  });
});

describe('bpf demo', () => {
  it('assembles, disassembles and analyses the 12-argument program', () => {
    const r = bpf(['demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('assembled: 34 instructions, 272 bytes');
    expect(r.stdout).toContain('5: (7a) *(u64 *)(r11 -8) = 6');
    expect(r.stdout).toContain('Live regs before insn:');
    expect(r.stdout).toContain('r0 = 78 after 34 instructions');
    expect(r.stdout).toContain('sum12: 12 args, 7 incoming and 0 outgoing stack-arg slots');
    expect(r.stdout).toContain('ran natively: r0 = 78 (the interpreter agrees: yes)');
    expect(r.stdout).toContain('ran under qemu-aarch64: r0 = 78 (the interpreter agrees: yes)');
    expect(r.stdout).toContain('verifier: accepted; the kfunc');
    expect(r.stdout).toContain('@bpf/vm: r0 = 650');
    expect(r.stdout).toContain('System V entry point: r0 = 650');
    expect(r.stdout).toContain('a 12-argument C function: r0 = 650');
  });
});

describe.skipIf(skipWithout('bpftool'))('bpf btf dump', () => {
  it('dumps vmlinux BTF exactly as bpftool does', () => {
    const r = spawnSync(process.execPath, [bin, 'btf', 'dump', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout === execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 1 << 30 })).toBe(true);
  });
  it('--format c writes the same vmlinux.h as bpftool', () => {
    const r = spawnSync(process.execPath, [bin, 'btf', 'dump', '/sys/kernel/btf/vmlinux', '--format', 'c'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith('#ifndef __VMLINUX_H__\n')).toBe(true);
    expect(r.stdout === execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { encoding: 'utf8', maxBuffer: 1 << 30 })).toBe(true);
  });
  it('bad BTF is an input error naming the byte', () => {
    const f = join(tmp, 'bad.btf');
    writeFileSync(f, Uint8Array.of(1, 2, 3));
    const r = bpf(['btf', 'dump', f]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('byte 0: BTF is 3 bytes');
  });
});

describe('bpf liveness', () => {
  it('prints the kernel block for the 12-argument example', () => {
    const r = bpf(['liveness', join(examples, 'call12.s')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('Live regs before insn:');
    expect(r.stdout).toMatch(/^ +0: \.{10} \(b7\) r1 = 1$/m);
    const j = JSON.parse(bpf(['liveness', join(examples, 'call12.s'), '--json']).stdout) as { insns: { index: number; stackArgs: string[] }[] };
    // all seven outgoing slots are live right before the call (insn 12)
    expect(j.insns.find((i) => i.index === 12)?.stackArgs).toEqual(['sa0', 'sa1', 'sa2', 'sa3', 'sa4', 'sa5', 'sa6']);
  });
});


describe.skipIf(skipWithout('clang-19'))('bpf verify --replaces (extension programs)', () => {
  // fixtures/c/freplace/freplace.c's extensions, against an XDP program with the global functions they replace
  const dir = tempDir('cli-freplace-');
  const target = join(dir, 'target.o');
  const exts = join(dir, 'freplace.o');
  beforeAll(() => {
    writeFileSync(
      join(dir, 'target.c'),
      `#include "bpf_defs.h"
__attribute__((noinline)) int parse(struct xdp_md *ctx) { return ctx->data_end > ctx->data ? 2 : 1; }
__attribute__((noinline)) int scale(int x) { return x + 1; }
SEC("xdp") int on_xdp(struct xdp_md *ctx) { return parse(ctx) + scale(ctx->ingress_ifindex) > 3 ? 1 : 2; }
char _license[] SEC("license") = "GPL";
`,
    );
    const cc = (src: string, out: string): void => void execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-I', join(repoRoot, 'fixtures/c/elf'), '-c', src, '-o', out]);
    cc(join(dir, 'target.c'), target);
    cc(join(repoRoot, 'fixtures/c/freplace/freplace.c'), exts);
  });
  const verdict = (...args: string[]): { accepted: boolean; error: { insn: number; message: string } | null } => JSON.parse(bpf(['verify', exts, ...args, '--json']).stdout) as { accepted: boolean; error: { insn: number; message: string } | null };
  it("takes the function from the section (freplace/FUNC) or OBJECT:FUNC, and the target's type", () => {
    expect(verdict('--prog', 'parse', '--replaces', target).accepted).toBe(true);
    expect(verdict('--prog', 'scale', '--replaces', `${target}:scale`).accepted).toBe(true);
    // as XDP: its context
    expect(verdict('--prog', 'parse_far', '--replaces', target).error?.message).toBe('invalid bpf_context access off=32 size=4');
  });
  it("refuses the pair as bpf_check_attach_target does: the kernel's messages", () => {
    expect(verdict('--prog', 'scale_long', '--replaces', target).error).toEqual({ insn: 0, message: 'arg0 in scale_long() has size 8 while scale() has 4' });
    expect(verdict('--prog', 'parse_pull', '--replaces', target).error?.message).toBe('Extension program changes packet data, while original does not');
  });
  it('says what is wrong with the flag', () => {
    const missing = bpf(['verify', exts, '--prog', 'parse', '--replaces', `${target}:nosuch`]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`no program of ${target} has a function nosuch in its BTF`);
    const notExt = bpf(['verify', target, '--prog', 'on_xdp', '--replaces', target]);
    expect(notExt.code).toBe(2);
    expect(notExt.stderr).toContain('--replaces: only extension programs');
  });
});

describe.skipIf(skipWithout('clang-19', 'bpftool'))('bpf elf link (objects built to be linked first)', () => {
  const dir = tempDir('bpf-cli-link-');
  const o = (n: string): string => join(dir, `${n}.o`);
  beforeAll(() => {
    for (const f of ['app', 'lib']) execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-c', join(repoRoot, `fixtures/c/elf/linked/${f}.c`), '-o', o(f)]);
    execFileSync('bpftool', ['gen', 'object', o('theirs'), o('app'), o('lib')]);
  });
  it('writes what bpftool gen object writes; the result verifies and lists both files\' programs', () => {
    const r = bpf(['elf', 'link', '-o', o('ours'), o('app'), o('lib')]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(o('ours')).equals(readFileSync(o('theirs')))).toBe(true);
    expect(r.stdout).toContain(`linked from ${o('app')}, ${o('lib')}`);
    const doc = JSON.parse(bpf(['elf', 'link', o('app'), o('lib'), '--json']).stdout) as { programs: { name: string }[]; linked: unknown };
    expect([doc.programs.map((p) => p.name), doc.linked]).toEqual([['app_xdp', 'lib_socket'], { output: null, inputs: [o('app'), o('lib')] }]);
    for (const prog of ['app_xdp', 'lib_socket']) expect(bpf(['verify', o('ours'), '--prog', prog]).code).toBe(0);
  });
  it('bpf verify / bpf kernel load FILE --link OBJECT: link first, then pick the program', () => {
    const v = JSON.parse(bpf(['verify', o('app'), '--link', o('lib'), '--prog', 'app_xdp', '--json']).stdout) as { accepted: boolean };
    expect(v.accepted).toBe(true);
    // alone, app.o's externs (lib.c's function, map and variable) are taken for kernel ones: refused
    expect(bpf(['verify', o('app'), '--prog', 'app_xdp']).code).not.toBe(0);
    if (!skipWithout('kernel')) {
      const k = JSON.parse(bpf(['kernel', 'load', o('lib'), '--link', o('app'), '--prog', 'app_xdp', '--json']).stdout) as { accepted: boolean };
      expect(k.accepted).toBe(true);
    }
  });
  it('refuses two strong definitions of a symbol, naming both objects (exit 3)', () => {
    const r = bpf(['elf', 'link', '-o', o('dup'), o('lib'), o('lib')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`conflicting non-weak definitions of 'lib_scale' in ${o('lib')} and ${o('lib')}`);
  });
});
