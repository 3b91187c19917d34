/**
 * What a host loader does to an object before loading it, given on the command line and
 * checked end to end against the running kernel: a map sized at load time
 * (`--map-max-entries`, as falco's loader sizes its per-CPU maps; `--map-value-size`, as bcc's
 * profile sizes its stack trace map's values), a license string of the
 * loader's own (`--license`), an extern function linked in (`--function`, as tetragon links
 * its CEL expressions), and an attach target replacing a placeholder section's (`--attach-to`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadObject } from '@bpf/elf';
import { repoRoot, skipWithout, tempDir } from '@bpf/testkit';
import { beforeAll, describe, expect, it } from 'vitest';

// Our own programs, one object each (libbpf refuses a whole object over one unresolved
// extern): a legacy `maps` section whose array is declared with max_entries 0 (its loader
// sizes it) and a GPL-only helper; an extern function; an fentry placeholder.
const HEAD = `
typedef unsigned int u32;
typedef unsigned long long u64;
#define SEC(n) __attribute__((section(n), used))
`;
const SRC = {
  maps: `${HEAD}
struct bpf_map_def { u32 type, key_size, value_size, max_entries, map_flags; };
struct bpf_map_def SEC("maps") slots = { .type = 2 /* array */, .key_size = 4, .value_size = 8, .max_entries = 0 };
static void *(*map_lookup)(void *map, const void *key) = (void *)1;
static long (*probe_read_user)(void *dst, u32 size, const void *src) = (void *)112; /* GPL only */
SEC("socket") int sized(void *ctx) {
  u32 k = 3;
  u64 *v = map_lookup(&slots, &k);
  return v ? 1 : 2;
}
SEC("socket") int gpl_only(void *ctx) {
  char b[8];
  return probe_read_user(b, sizeof(b), 0) < 0 ? 3 : 4;
}
`,
  linked: `${HEAD}
extern int host_fn(int x);
SEC("socket") int linked(void *ctx) { return host_fn(5) + 1; }
`,
  traced: `${HEAD}
static u64 (*ktime_get_ns)(void) = (void *)5;
SEC("fentry/placeholder") int traced(void *ctx) { return (int)ktime_get_ns() & 0; }
char _license[] SEC("license") = "GPL";
`,
  // what a skeleton sets before loading (rodata->x = v): a .rodata constant the verifier
  // sees, and a .data one it does not
  knobs: `${HEAD}
const volatile u32 limit = 1;
const volatile u32 slot = 0;
volatile int bias = 0;
struct cfg { unsigned char on; unsigned char pad; unsigned short add; } __attribute__((packed));
const volatile struct cfg CFG = {};
SEC("socket") int gated(void *ctx) { return limit > 5 ? 7 + bias : 3 + bias; }
SEC("socket") int configured(void *ctx) { return CFG.on ? CFG.add : 1; }
SEC("socket") int indexed(void *ctx) {
  char b[8] = {};
  b[slot] = 1; /* in bounds only for slot < 8: a constant to the verifier, as .rodata is frozen */
  return b[0];
}
`,
  target: `${HEAD}
SEC("socket") int target_fn(void *ctx) { return 0; }
`,
  watcher: `${HEAD}
SEC("fexit/XXX") int watch(void *ctx) { return 0; }
char _license[] SEC("license") = "GPL";
`,
  // KubeArmor's kubearmor_visibility: a hash of maps declared without its inner map, which the host gives
  nested: `${HEAD}
struct { int (*type)[13 /* hash_of_maps */]; int (*max_entries)[8]; u32 *key; u32 *value; } outer SEC(".maps");
static void *(*map_lookup)(void *map, const void *key) = (void *)1;
SEC("socket") int in_map(void *ctx) {
  u32 k = 1;
  void *inner = map_lookup(&outer, &k);
  if (!inner) return 0;
  u32 *v = map_lookup(inner, &k);
  return v ? *v : 1;
}
`,
  // bpf2go users' perf event arrays (OpenTelemetry's Go auto-instrumentation, cilium/ebpf's uretprobe
  // example): the type only, or a value type for the generated Go type; cilium/ebpf sizes them
  perf: `${HEAD}
struct event { u32 pid; u64 ts; };
struct { int (*type)[4 /* perf_event_array */]; } bare SEC(".maps");
struct { int (*type)[4 /* perf_event_array */]; struct event *value; } typed SEC(".maps");
static long (*perf_event_output)(void *ctx, void *map, u64 flags, void *data, u64 size) = (void *)25;
SEC("kprobe/do_nanosleep") int emit(void *ctx) {
  struct event e = { 1, 2 };
  perf_event_output(ctx, &bare, 0xffffffffULL, &e, sizeof(e));
  return perf_event_output(ctx, &typed, 0xffffffffULL, &e, sizeof(e)) < 0;
}
char _license[] SEC("license") = "GPL";
`,
  perf_wide: `${HEAD}
struct { int (*type)[4 /* perf_event_array */]; int (*key_size)[8]; } wide SEC(".maps");
static long (*perf_event_output)(void *ctx, void *map, u64 flags, void *data, u64 size) = (void *)25;
SEC("kprobe/do_nanosleep") int emit(void *ctx) { u64 x = 0; return perf_event_output(ctx, &wide, 0xffffffffULL, &x, 8) < 0; }
char _license[] SEC("license") = "GPL";
`,
  // a CPU map whose size the loader gives (cilium/ebpf: one entry per possible CPU), and a perf
  // event array declared for 128 CPUs (cilium's EVENTS_MAP), which cilium/ebpf cuts to the machine's
  cpus: `${HEAD}
struct { int (*type)[16 /* cpumap */]; int (*key_size)[4]; int (*value_size)[4]; } cpus SEC(".maps");
struct { int (*type)[4 /* perf_event_array */]; int (*key_size)[4]; int (*value_size)[4]; int (*max_entries)[128]; } events SEC(".maps");
static long (*redirect_map)(void *map, u64 key, u64 flags) = (void *)51;
static long (*perf_event_output)(void *ctx, void *map, u64 flags, void *data, u64 size) = (void *)25;
SEC("xdp") int spread(void *ctx) { u64 x = 1; perf_event_output(ctx, &events, 0xffffffffULL, &x, 8); return redirect_map(&cpus, 0, 0); }
char _license[] SEC("license") = "GPL";
`,
  // bcc's profile / offcputime: a stack trace map declaring only its key, its values sized by the tool
  stacks: `${HEAD}
struct { int (*type)[7 /* stack_trace */]; int (*max_entries)[1024]; u32 *key; } stacks SEC(".maps");
static long (*get_stackid)(void *ctx, void *map, u64 flags) = (void *)27;
SEC("kprobe/do_nanosleep") int sampled(void *ctx) { return get_stackid(ctx, &stacks, 0) < 0; }
char _license[] SEC("license") = "GPL";
`,
};

const haveTools = !skipWithout('clang-19', 'kernel');
// each case spawns the CLI a few times, each reading the kernel's BTF
describe.skipIf(!haveTools)('host loader options, live', { timeout: 300_000 }, () => {
  const dir = tempDir('bpf-host-');
  const obj = join(dir, 'maps.o');
  const linkedObj = join(dir, 'linked.o');
  const tracedObj = join(dir, 'traced.o');
  const ret41 = join(dir, 'ret41.s');
  beforeAll(() => {
    for (const [name, src] of Object.entries(SRC)) {
      writeFileSync(join(dir, `${name}.c`), src);
      execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-c', join(dir, `${name}.c`), '-o', join(dir, `${name}.o`)]);
    }
    writeFileSync(ret41, 'r0 = 41\nexit\n');
    execFileSync('pnpm', ['exec', 'tsc', '-b', 'apps/cli'], { cwd: repoRoot, stdio: 'inherit' });
  }, 300_000);
  const bpf = (...args: string[]): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'apps/cli/dist/bin.js'), ...args], { encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const cpus = (): number =>
    readFileSync('/sys/devices/system/cpu/possible', 'utf8')
      .trim()
      .split(',')
      .reduce((n, part) => {
        const [a, b] = part.split('-').map(Number);
        return n + (b === undefined ? 1 : b - a! + 1);
      }, 0);

  it('--map-max-entries: the kernel refuses the map as declared, and the lookup of key 3 finds a slot exactly when the map has more than 3', () => {
    const declared = bpf('kernel', 'run', obj, '--prog', 'sized', '--json');
    expect(declared.code).not.toBe(0);
    expect(declared.stderr).toMatch(/MAP_CREATE: EINVAL/);
    const run = (n: string): number => {
      const r = bpf('kernel', 'run', obj, '--prog', 'sized', '--map-max-entries', `slots=${n}`, '--json');
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { retval: number }).retval;
    };
    expect(run('4')).toBe(1);
    expect(run('3')).toBe(2);
    expect(run('ncpus')).toBe(cpus() > 3 ? 1 : 2);
  });

  it('--map-max-entries names a map the program has, with a u32 or ncpus', () => {
    const unknown = bpf('kernel', 'load', obj, '--prog', 'sized', '--map-max-entries', 'nope=4');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("max_entries given for map 'nope', which the program does not have (its maps: slots)");
    const bad = bpf('kernel', 'load', obj, '--prog', 'sized', '--map-max-entries', 'slots');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--map-max-entries takes NAME=N or NAME=ncpus, not 'slots'");
    const big = bpf('kernel', 'load', obj, '--prog', 'sized', '--map-max-entries', 'slots=4294967296');
    expect(big.code).toBe(2);
  });

  it('--map-value-size: the kernel refuses a stack trace map declared without a value size, and takes it sized as the tool sizes it', () => {
    const stacksObj = join(dir, 'stacks.o');
    const declared = bpf('kernel', 'load', stacksObj, '--prog', 'sampled');
    expect(declared.code).not.toBe(0);
    expect(declared.stderr).toMatch(/MAP_CREATE: EINVAL/);
    const sized = bpf('kernel', 'load', stacksObj, '--prog', 'sampled', '--map-value-size', `stacks=${127 * 8}`);
    expect(sized.code, sized.stderr).toBe(0);
    const unknown = bpf('kernel', 'load', stacksObj, '--prog', 'sampled', '--map-value-size', 'nope=8');
    expect(unknown.stderr).toContain("value_size given for map 'nope', which the program does not have (its maps: stacks)");
    const bad = bpf('kernel', 'load', stacksObj, '--prog', 'sampled', '--map-value-size', 'stacks=ncpus');
    expect([bad.code, bad.stderr.includes("--map-value-size takes NAME=N, not 'stacks=ncpus'")]).toEqual([2, true]);
  });

  it('--map-inner: a map-in-map declared without its inner map takes the host\'s; kernel and ours agree on reads within and past its values', () => {
    const nested = join(dir, 'nested.o');
    const none = bpf('kernel', 'load', nested, '--prog', 'in_map');
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain("map 'outer': a hash_of_maps needs the inner map's definition");
    const compare = (inner: string): { agree: boolean; ours: { accepted: boolean; error: string | null }; kernel: { accepted: boolean; error: string | null } } =>
      JSON.parse(bpf('kernel', 'compare', nested, '--prog', 'in_map', '--map-inner', inner, '--json').stdout) as { agree: boolean; ours: { accepted: boolean; error: string | null }; kernel: { accepted: boolean; error: string | null } };
    expect(compare('outer=hash:4:4:6')).toMatchObject({ agree: true, ours: { accepted: true }, kernel: { accepted: true } });
    // values of 2 bytes: the 4-byte read is past them, for both (the same first error)
    const short = compare('outer=hash:4:2:6');
    expect(short).toMatchObject({ agree: true, kernel: { accepted: false } });
    expect(short.ours.error).toBe(short.kernel.error);
    const badType = bpf('kernel', 'load', nested, '--prog', 'in_map', '--map-inner', 'outer=nope:4:4:6');
    expect(badType.stderr).toContain("inner map type 'nope' is not a map type");
    const notNested = bpf('kernel', 'load', join(dir, 'stacks.o'), '--prog', 'sampled', '--map-value-size', `stacks=${127 * 8}`, '--map-inner', 'stacks=hash:4:4:6');
    expect(notNested.stderr).toContain("map 'stacks': an inner map is given, but it is a stack_trace, not a map-in-map");
    const bad = bpf('kernel', 'load', nested, '--map-inner', 'outer=hash:4:4');
    expect([bad.code, bad.stderr.includes('--map-inner takes NAME=TYPE:KEY:VALUE:MAX')]).toEqual([2, true]);
  });

  it('--license: the kernel and our verifier refuse a GPL-only helper without it and take it with GPL', () => {
    const k = (license?: string): { accepted: boolean; error: string | null } =>
      JSON.parse(bpf('kernel', 'load', obj, '--prog', 'gpl_only', ...(license ? ['--license', license] : []), '--json').stdout) as { accepted: boolean; error: string | null };
    const ours = (license?: string): { accepted: boolean; error: { message: string } | null } =>
      JSON.parse(bpf('verify', obj, '--prog', 'gpl_only', '--log-level', '0', ...(license ? ['--license', license] : []), '--json').stdout) as { accepted: boolean; error: { message: string } | null };
    const none = k();
    expect(none).toMatchObject({ accepted: false, error: 'cannot call GPL-restricted function from non-GPL compatible program' });
    expect(ours()).toMatchObject({ accepted: false, error: { message: none.error } });
    expect(k('GPL').accepted).toBe(true);
    expect(ours('GPL').accepted).toBe(true);
    expect(k('Proprietary').accepted).toBe(false);
  });

  it('--function: the extern is linked in as a static subprogram, and the kernel runs it', () => {
    const r = bpf('kernel', 'run', linkedObj, '--prog', 'linked', '--function', `host_fn=${ret41}`, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { retval: number }).retval).toBe(42);
    const v = bpf('verify', linkedObj, '--prog', 'linked', '--function', `host_fn=${ret41}`, '--json');
    expect(v.code, v.stderr).toBe(0);
    const bad = bpf('kernel', 'load', linkedObj, '--prog', 'linked', '--function', 'host_fn');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--function takes NAME=FILE");
    const elf = bpf('kernel', 'load', linkedObj, '--prog', 'linked', '--function', `host_fn=${tracedObj}`);
    expect(elf.code).toBe(2);
    expect(elf.stderr).toContain('is an ELF object');
  });

  /** The kernel's return value of knobs.o's PROG run with the globals set. */
  const runKnobs = (prog: string, ...set: string[]): number => {
    const r = bpf('kernel', 'run', join(dir, 'knobs.o'), '--prog', prog, ...set.flatMap((x) => ['--set', x]), '--json');
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { retval: number }).retval;
  };

  it('--set: a .rodata constant changes what the kernel and our verifier see, a .data value what runs; names and values are checked', () => {
    const knobs = join(dir, 'knobs.o');
    const run = (...set: string[]): number => runKnobs('gated', ...set);
    expect([run(), run('limit=9'), run('limit=9', 'bias=-2')]).toEqual([3, 7, 5]);
    const both = (slot: string): [boolean, string | null, boolean, string | null] => {
      const k = JSON.parse(bpf('kernel', 'load', knobs, '--prog', 'indexed', '--set', `slot=${slot}`, '--json').stdout) as { accepted: boolean; error: string | null };
      const v = JSON.parse(bpf('verify', knobs, '--prog', 'indexed', '--set', `slot=${slot}`, '--log-level', '0', '--json').stdout) as { accepted: boolean; error: { message: string } | null };
      return [k.accepted, k.error, v.accepted, v.error?.message ?? null];
    };
    const inBounds = both('7');
    expect(inBounds.slice(0, 1).concat(inBounds.slice(2, 3))).toEqual([true, true]);
    const out = both('0x10');
    expect(out[0]).toBe(false);
    expect([out[2], out[3]]).toEqual([false, out[1]]);
    const unknown = bpf('kernel', 'load', knobs, '--prog', 'gated', '--set', 'nope=1');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("no global variable nope in the object's .data, .rodata or .bss sections");
    const wide = bpf('verify', knobs, '--prog', 'gated', '--set', 'limit=0x100000000');
    expect(wide.code).not.toBe(0);
    expect(wide.stderr).toContain('limit: 4294967296 does not fit 4 bytes');
    const bad = bpf('verify', knobs, '--set', 'limit');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--set takes NAME=VALUE");
  });

  it('--set NAME=bytes:HEX: a struct set whole (as cilium/ebpf sets one), run by the kernel; its size is checked', () => {
    const knobs = join(dir, 'knobs.o');
    const run = (...set: string[]): number => runKnobs('configured', ...set);
    expect([run(), run('CFG=bytes:01002a00'), run('CFG=bytes:00002a00')]).toEqual([1, 42, 1]);
    const ours = JSON.parse(bpf('verify', knobs, '--prog', 'configured', '--set', 'CFG=bytes:01002a00', '--log-level', '0', '--json').stdout) as { accepted: boolean };
    expect(ours.accepted).toBe(true);
    const short = bpf('verify', knobs, '--prog', 'configured', '--set', 'CFG=bytes:0100');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('CFG is 4 bytes; 2 bytes given');
    const odd = bpf('verify', knobs, '--set', 'CFG=bytes:010');
    expect(odd.code).toBe(2);
    expect(odd.stderr).toContain('NAME=bytes:HEX');
  });

  it('--attach-prog: an fexit placeholder attached to another BPF program (the target loaded first, its function from its BTF)', () => {
    const watcher = join(dir, 'watcher.o');
    const target = join(dir, 'target.o');
    // without a target the placeholder is no kernel function: no load succeeds
    expect(bpf('kernel', 'load', watcher, '--prog', 'watch').code).not.toBe(0);
    const load = bpf('kernel', 'load', watcher, '--prog', 'watch', '--attach-prog', `${target}:target_fn`, '--json');
    const k = JSON.parse(load.stdout) as { accepted: boolean; refusedBeforeVerifier: boolean; log: string };
    // as for --attach-to: a machine's policy may refuse every fentry/fexit before the verifier runs
    if (!k.refusedBeforeVerifier) expect(k.accepted, k.log).toBe(true);
    const missing = bpf('kernel', 'load', watcher, '--prog', 'watch', '--attach-prog', `${target}:no_such_prog`);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no program matches');
  });

  it('--linker: calls into other sections run as cilium/ebpf links them; libbpf refuses the object, placed', () => {
    const src = join(repoRoot, 'fixtures/c/elf-shapes/btf/cross_section.c');
    const cross = join(dir, 'cross_section.o');
    execFileSync('clang-19', ['-target', 'bpfel', '-O2', '-g', '-c', src, '-o', cross]);
    for (const linker of [[], ['--linker', 'cilium/ebpf']]) {
      const r = bpf('kernel', 'run', cross, '--prog', 'entry', ...linker, '--json');
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { retval: number }).retval).toBe(2);
      expect(bpf('verify', cross, '--prog', 'entry', ...linker).code).toBe(0);
    }
    // libbpf 1.x refuses it when it opens it, over the static function alone in its section
    // (bpftool prog loadall: "sec 'helpers': program 'minus_one' is static and not supported")
    const libbpf = bpf('verify', cross, '--prog', 'entry', '--linker', 'libbpf');
    expect(libbpf.code).not.toBe(0);
    expect(libbpf.stderr).toContain("section helpers, byte 120: program minus_one is static, so libbpf refuses the object when it opens it (libbpf: sec 'helpers': program 'minus_one' is static and not supported)");
    // opened by a loader that takes static programs, libbpf's linker still refuses the call
    const raw = bpf('verify', cross, '--prog', 'entry', '--linker', 'libbpf', '--opener', 'raw');
    expect(raw.code).not.toBe(0);
    expect(raw.stderr).toMatch(/section \.text, insn 1, byte \d+: call relocation against helpers in helpers; libbpf links subprograms from \.text only/);
  });

  it('--linker cilium/ebpf: perf event arrays declared by type alone, or with a value type, get 4-byte keys and values, as cilium/ebpf creates them; libbpf leaves them to the kernel, which refuses them', () => {
    const perf = join(dir, 'perf.o');
    const k = JSON.parse(bpf('kernel', 'compare', perf, '--prog', 'emit', '--linker', 'cilium/ebpf', '--json').stdout) as { agree: boolean; kernel: { accepted: boolean } };
    expect(k).toMatchObject({ agree: true, kernel: { accepted: true } });
    const libbpf = bpf('kernel', 'load', perf, '--prog', 'emit');
    expect(libbpf.code).not.toBe(0);
    expect(libbpf.stderr).toContain('MAP_CREATE: EINVAL: create perf_event_array map');
    // other sizes cilium/ebpf refuses before creating anything
    const wide = bpf('verify', join(dir, 'perf_wide.o'), '--prog', 'emit', '--linker', 'cilium/ebpf');
    expect(wide.code).not.toBe(0);
    expect(wide.stderr).toContain('map wide: KeySize must be zero or four for perf event array (cilium/ebpf)');
  });

  it('--linker cilium/ebpf: a CPU map declared without a size gets one entry per possible CPU and a perf event array at most that many, as cilium/ebpf creates them; libbpf leaves the CPU map to the kernel, which refuses it', () => {
    const obj = join(dir, 'cpus.o');
    const k = JSON.parse(bpf('kernel', 'compare', obj, '--prog', 'spread', '--linker', 'cilium/ebpf', '--json').stdout) as { agree: boolean; kernel: { accepted: boolean } };
    expect(k).toMatchObject({ agree: true, kernel: { accepted: true } });
    const libbpf = bpf('kernel', 'load', obj, '--prog', 'spread');
    expect(libbpf.code).not.toBe(0);
    expect(libbpf.stderr).toContain('MAP_CREATE: EINVAL: create cpumap map');
    // nr_cpu_ids: the highest possible CPU plus one, which cilium/ebpf's PossibleCPU reads
    const ids = Math.max(...readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',').map((p) => Number(p.split('-').pop()))) + 1;
    const sizes = (o: { linker: 'libbpf' | 'cilium/ebpf'; possibleCpus?: number }): Record<string, number> => Object.fromEntries(loadObject(new Uint8Array(readFileSync(obj)), o).maps.map((m) => [m.name, m.maxEntries]));
    expect(sizes({ linker: 'cilium/ebpf', possibleCpus: ids })).toMatchObject({ cpus: ids, events: Math.min(128, ids) });
    expect(sizes({ linker: 'cilium/ebpf', possibleCpus: 200 })).toMatchObject({ cpus: 200, events: 128 });
    expect(sizes({ linker: 'libbpf', possibleCpus: ids })).toMatchObject({ cpus: 0, events: 128 });
  });

  it('--attach-to: the placeholder section is not a kernel function; the flag gives the target, which must exist', () => {
    const load = bpf('kernel', 'load', tracedObj, '--prog', 'traced', '--attach-to', 'security_file_open', '--json');
    const k = JSON.parse(load.stdout) as { accepted: boolean; refusedBeforeVerifier: boolean; log: string };
    // some machines' security policy refuses fentry before the verifier runs: then only the
    // absence of a verdict is checked
    if (!k.refusedBeforeVerifier) expect(k.accepted, k.log).toBe(true);
    const v = bpf('verify', tracedObj, '--prog', 'traced', '--attach-to', 'security_file_open', '--json');
    expect(v.code, v.stderr).toBe(0);
    const missing = bpf('kernel', 'load', tracedObj, '--prog', 'traced', '--attach-to', 'no_such_function_here');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no_such_function_here');
  });
});
