/**
 * Run x86-64 JIT output natively in this process (Node only): map the code into executable
 * memory, point each relocation at a native function (helpers and kfuncs are JS functions made
 * callable from native code by koffi, so the System V argument placement is checked by a real
 * native callee), a prog array or a map, call the program with r1 = a copy of `mem` and r2 =
 * its length (or r1 = a packet context over `mem`), and read back r0 and the memory.
 * Maps (array, percpu_array, hash) and packet contexts with their helpers are in host.ts.
 * `runX86InChild` does the same in a child process, so a crash of the generated code cannot
 * take the caller down.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { JitResult, MapDef } from '@bpf/isa';
import { BPF_THROW } from './jit.js';
import { throwStub, type ThrowTarget } from './throw.js';
import { contextSize, layoutData, NativeHostError, NativeMaps, packetContext, PACKET_PROG_TYPES, type HostArg, type HostFn, type NativeContext, type PacketProgType } from './host.js';

type Koffi = typeof import('koffi');
const require = createRequire(import.meta.url);
let koffiLib: Koffi | undefined;
function koffi(): Koffi {
  koffiLib ??= require('koffi') as Koffi;
  return koffiLib;
}

// koffi type names are process-wide: declare each prototype once.
const protos = new Map<string, unknown>();
function proto(decl: string): ReturnType<Koffi['proto']> {
  let p = protos.get(decl);
  if (p === undefined) {
    p = koffi().proto(decl);
    protos.set(decl, p);
  }
  return p as ReturnType<Koffi['proto']>;
}
let libcFns: { mmap: (...a: unknown[]) => unknown; mprotect: (...a: unknown[]) => unknown; munmap: (...a: unknown[]) => unknown } | undefined;

export class NativeRunError extends Error {
  override readonly name = 'NativeRunError';
}

/** A host function: helpers get r1..r5, kfuncs their declared number of arguments (all u64). */
export type NativeFn = (...args: bigint[]) => bigint;

export interface RunX86Options {
  /** The memory r1 points to; with a `context`, the Ethernet frame of the packet instead. */
  readonly mem?: Uint8Array;
  /** Helpers by id (the standard ones are provided, bpf_loop, map and packet helpers included). */
  readonly helpers?: Readonly<Record<number, NativeFn>>;
  /** kfuncs by name, with their argument count (the standard `bpf_test_*` ones are provided). */
  readonly kfuncs?: Readonly<Record<string, { readonly args: number; readonly fn: NativeFn }>>;
  /**
   * Prog arrays by map name, one element per slot (the length is max_entries): the JIT output
   * of the slot's program, or null for an empty slot. Every program named here is linked next
   * to the main one; each array becomes the native table the JIT's tail calls read.
   */
  readonly progArrays?: Readonly<Record<string, readonly (JitResult | null)[]>>;
  /**
   * Maps the code refers to (array, percpu_array as one CPU, hash; `data` is element 0's
   * initial contents), by name; a relocation named `map#k` (an ld_imm64 without a relocation)
   * is the k-th. Prog arrays here that `progArrays` does not fill are empty.
   */
  readonly maps?: readonly MapDef[];
  /**
   * Run as a packet program, as BPF_PROG_TEST_RUN does: `mem` is the frame, r1 the context
   * (`__sk_buff` or `xdp_md`, @bpf/vm's layout), and `mem` of the result the packet as the
   * kernel returns it in data_out.
   */
  readonly context?: PacketProgType;
  /**
   * Run the program this many times on the same memory (default 1), as BPF_PROG_TEST_RUN's
   * `repeat` does; `r0` and `mem` are the last run's.
   */
  readonly repeat?: number;
}

export interface RunX86Result {
  readonly r0: bigint;
  readonly mem: Uint8Array;
  /** Mean wall time of one run in ns, measured around the native calls (each includes koffi's call, ~0.2 µs). */
  readonly duration: number;
}

/** Call `f` `n` times: the last result, and the mean time of one call in ns. */
function timed<T>(n: number, f: () => T): { value: T; duration: number } {
  const t = process.hrtime.bigint();
  let value = f();
  for (let k = 1; k < n; k++) value = f();
  return { value, duration: Number(process.hrtime.bigint() - t) / n };
}

const PROT_READ = 1,
  PROT_WRITE = 2,
  PROT_EXEC = 4,
  MAP_PRIVATE = 2,
  MAP_ANONYMOUS = 0x20,
  /** x86-64: map in the first 2 GiB (packet contexts hold u32 pointers). */
  MAP_32BIT = 0x40;
const EFAULT = 14n;
const EINVAL = 22n;
const E2BIG = 7n;
/** include/uapi/linux/filter.h */
const SKF_NET_OFF = -0x100000;

/** The standard kfuncs of fixtures/conformance/README.md, natively callable. */
function standardKfunc(name: string): { args: number; fn: NativeFn } | undefined {
  const m = /^bpf_test_(sum|weighted)(\d+)$/.exec(name);
  if (m) {
    const n = Number(m[2]);
    return {
      args: n,
      fn: (...a) => BigInt.asUintN(64, a.reduce((x, y, k) => x + (m[1] === 'sum' ? y : BigInt(k + 1) * y), 0n)),
    };
  }
  return undefined;
}

/** The packet loads behind ld_abs/ld_ind: the packet (the run's memory, or the context's packet) read big-endian at an `int` offset. */
function packetLoad(name: string, packetOf: () => Uint8Array): NativeFn | undefined {
  const m = /^bpf_skb_load_helper_(8|16|32)_no_cache$/.exec(name);
  if (!m) return undefined;
  const size = Number(m[1]) / 8;
  return (_ctx, offset) => {
    let off = Number(BigInt.asIntN(32, offset ?? 0n));
    if (off < 0 && off >= SKF_NET_OFF) off -= SKF_NET_OFF;
    const packet = packetOf();
    if (off < 0 || off + size > packet.length) return BigInt.asUintN(64, -EFAULT);
    let v = 0n;
    for (let k = 0; k < size; k++) v = (v << 8n) | BigInt(packet[off + k]!);
    return v;
  };
}

function libc(): NonNullable<typeof libcFns> {
  if (libcFns === undefined) {
    const lib = koffi().load('libc.so.6');
    libcFns = {
      mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)'),
      mprotect: lib.func('int mprotect(void *addr, size_t len, int prot)'),
      munmap: lib.func('int munmap(void *addr, size_t len)'),
    };
  }
  return libcFns;
}

/** Host-side failures (maps, contexts) surface as the runner's error. */
function host<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof NativeHostError) throw new NativeRunError(e.message);
    throw e;
  }
}

/**
 * Code that needs no linking (no relocations, no prog arrays, no maps, no packet context) stays
 * mapped between runs of the same JitResult, so a repeated run costs a call and no mmap,
 * mprotect or munmap; the mapping goes when the JitResult is collected.
 */
const pureCode = new WeakMap<JitResult, { readonly code: Uint8Array; readonly fn: (mem: Uint8Array, len: number) => bigint | number }>();
let unmapPure: FinalizationRegistry<{ readonly ptr: unknown; readonly size: number }> | undefined;
/** What r1 points to when the run has no memory (unverified code may still write there). */
const scratch = new Uint8Array(8);

function runPure(result: JitResult, frame: Uint8Array, repeat: number): RunX86Result {
  let m = pureCode.get(result);
  if (m !== undefined && Buffer.compare(m.code, result.code) !== 0) m = undefined; // the bytes changed since
  if (m === undefined) {
    const k = koffi();
    const { mmap, mprotect, munmap } = libc();
    const size = Math.max(4096, (result.code.length + 4095) & ~4095);
    const ptr: unknown = mmap(null, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptr === null || k.address(ptr) === 0xffffffffffffffffn) throw new NativeRunError(`mmap of ${size} bytes failed`);
    new Uint8Array(k.view(ptr, size)).set(result.code);
    if (mprotect(ptr, size, PROT_READ | PROT_EXEC) !== 0) {
      munmap(ptr, size);
      throw new NativeRunError('mprotect failed');
    }
    // a function object for the entry point: a repeated run is one plain native call
    const fn = k.decode(ptr, proto('uint64_t bpf_prog_entry(void *, uint64_t)')) as (mem: Uint8Array, len: number) => bigint | number;
    m = { code: Uint8Array.from(result.code), fn };
    pureCode.set(result, m);
    unmapPure ??= new FinalizationRegistry((r) => munmap(r.ptr, r.size));
    unmapPure.register(result, { ptr, size });
  }
  const mem = new Uint8Array(frame);
  const { fn } = m;
  const arg = mem.length ? mem : scratch;
  const { value: r0, duration } = timed(repeat, () => fn(arg, mem.length));
  return { r0: BigInt.asUintN(64, BigInt(r0)), mem, duration };
}

export function runX86(result: JitResult, opts: RunX86Options = {}): RunX86Result {
  if (process.arch !== 'x64') throw new NativeRunError(`x86-64 code cannot run natively on ${process.arch}`);
  const context = opts.context;
  if (context !== undefined && !PACKET_PROG_TYPES.includes(context)) throw new NativeRunError(`no packet context for program type ${String(context)}`);
  if ((result.entries[0] ?? 0) !== 0) throw new NativeRunError('the main program must be at offset 0');
  const repeat = opts.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) throw new NativeRunError(`repeat must be a positive integer (got ${repeat})`);
  if (result.relocs.length === 0 && context === undefined && !opts.progArrays && !opts.maps?.length) return runPure(result, opts.mem ?? new Uint8Array(0), repeat);
  const k = koffi();
  const { mmap, mprotect, munmap } = libc();
  // the main program first, then every other program a prog array holds, each 16-byte aligned
  const programs: JitResult[] = [result];
  for (const slots of Object.values(opts.progArrays ?? {})) for (const p of slots) if (p && !programs.includes(p)) programs.push(p);
  const bases: number[] = [];
  let codeLen = 0;
  for (const p of programs) {
    bases.push(codeLen);
    codeLen = (codeLen + p.code.length + 15) & ~15;
  }
  // bpf_throw (throw.ts) after the programs, when one calls it: it unwinds to the boundary of
  // whichever program threw (a tail-called one has its own) and enters its exception callback
  const throwing = programs.filter((p) => p.relocs.some((r) => r.symbol.kind === 'kfunc' && r.symbol.name === BPF_THROW));
  for (const p of throwing) if (p.exceptionCallback === undefined) throw new NativeRunError('the program calls bpf_throw but has no exception callback (JIT the verifier\'s xlated program: it adds the default one)');
  const catching = programs.filter((p) => p.exceptionCallback !== undefined);
  const stubAt = codeLen;
  const stubFor = (at: bigint): Uint8Array => {
    const targets: ThrowTarget[] = catching.map((p) => {
      const base = at + BigInt(bases[programs.indexOf(p)]!);
      return { mainStart: base + BigInt(p.entries[0] ?? 0), mainEnd: base + BigInt(p.entries[1] ?? p.code.length), callback: base + BigInt(p.entries[p.exceptionCallback!]!) };
    });
    return throwStub(targets, { start: at, end: at + BigInt(stubAt) });
  };
  if (throwing.length) codeLen += stubFor(0n).length;
  const maps = opts.maps ?? [];
  const layout = host(() => layoutData(Object.entries(opts.progArrays ?? {}).map(([name, slots]) => [name, slots.length] as const), maps));
  const frame = opts.mem ?? new Uint8Array(0);
  const regions: { ptr: unknown; size: number }[] = [];
  const region = (len: number, flags = 0): { ptr: unknown; at: bigint; bytes: Uint8Array } => {
    const size = Math.max(4096, (len + 4095) & ~4095);
    const ptr: unknown = mmap(null, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (ptr === null || k.address(ptr) === 0xffffffffffffffffn) throw new NativeRunError(`mmap of ${size} bytes failed`);
    regions.push({ ptr, size });
    return { ptr, at: k.address(ptr), bytes: new Uint8Array(k.view(ptr, size)) };
  };
  const callbacks: unknown[] = [];
  try {
    // one mapping: the code pages (made read+exec below), then the data pages, if any
    const codeSize = Math.max(4096, (codeLen + 4095) & ~4095);
    const page = region(codeSize + ((layout.size + 4095) & ~4095));
    const data = { ptr: page.ptr, at: page.at + BigInt(codeSize), bytes: page.bytes.subarray(codeSize) };
    const ctx: NativeContext | undefined = context === undefined ? undefined : host(() => packetContext(context, frame, region(contextSize(frame.length), MAP_32BIT)));
    const code = page.bytes;
    const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
    if (throwing.length) code.set(stubFor(page.at), stubAt);
    // prog arrays: u32 max_entries, u32 pad, u64 entry address per slot (0 when empty)
    const dataView = new DataView(data.bytes.buffer, data.bytes.byteOffset, data.bytes.byteLength);
    for (const [name, t] of layout.tables) {
      dataView.setUint32(t.at, t.slots, true);
      (opts.progArrays?.[name] ?? []).forEach((p, s) => {
        if (p) dataView.setBigUint64(t.at + 8 + 8 * s, page.at + BigInt(bases[programs.indexOf(p)]! + (p.entries[0] ?? 0)), true);
      });
    }
    const nativeMaps = host(() => new NativeMaps(layout, data));
    const mem = Buffer.from(context === undefined ? frame : new Uint8Array(0));
    const buf = mem.length ? mem : Buffer.alloc(8);
    const packet = (): Uint8Array => (ctx ? ctx.packet() : buf.subarray(0, mem.length));
    const helperProto = proto('uint64_t bpf_helper_cb(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t)');
    const hostProto = proto('uint64_t bpf_host_fn(void *, void *, void *, void *, void *)');
    const callbackProto = proto('uint64_t bpf_callback_fn(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t)');
    // bpf_loop (kernel/bpf/bpf_iter.c): the callback is JIT output, called natively from here
    const bpfLoop = (nr: bigint, fn: unknown, ctxArg: bigint, flags: bigint): bigint => {
      const n = Number(nr & 0xffffffffn);
      if (flags !== 0n) return BigInt.asUintN(64, -EINVAL);
      if (n > 1 << 23) return BigInt.asUintN(64, -E2BIG);
      for (let i = 0; i < n; i++) {
        const r = k.call(fn, callbackProto, BigInt(i), ctxArg, 0n, 0n, 0n) as bigint | number;
        if (BigInt(r) !== 0n) return BigInt(i + 1);
      }
      return BigInt(n);
    };
    const STANDARD: Record<number, NativeFn> = { 5: () => 1_000_000_000n, 7: () => 4n, 8: () => 0n };
    const HOST: Record<number, HostFn> = { ...nativeMaps.helpers(), ...ctx?.helpers };
    const big = (x: unknown): bigint => BigInt(x as bigint | number);
    // a pointer argument of a host function: its value, and a view of the bytes it points to
    const arg = (p: unknown): HostArg => ({
      v: p === null ? 0n : k.address(p),
      bytes: (len) => {
        if (len <= 0) return new Uint8Array(0);
        if (p === null) throw new NativeHostError(`a helper was given a null pointer for ${len} bytes`);
        return new Uint8Array(k.view(p, len));
      },
    });
    const resolve = (sym: JitResult['relocs'][number]['symbol']): bigint => {
      let fnPtr: unknown;
      if (sym.kind === 'helper') {
        const fn = opts.helpers?.[sym.id] ?? STANDARD[sym.id];
        const hostFn = opts.helpers?.[sym.id] ? undefined : HOST[sym.id];
        if (hostFn) fnPtr = k.register((...a: unknown[]) => hostFn(...a.map(arg)), k.pointer(hostProto));
        else if (fn) fnPtr = k.register((...a: unknown[]) => fn(...a.map(big)), k.pointer(helperProto));
        else if (sym.id === 181)
          fnPtr = k.register((nr: unknown, f: unknown, c: unknown, flags: unknown) => bpfLoop(big(nr), f, big(c), big(flags)), k.pointer(proto('uint64_t bpf_loop_native(uint64_t, void *, uint64_t, uint64_t, uint64_t)')));
        else throw new NativeRunError(`helper #${sym.id} is not provided`);
      } else if (sym.kind === 'kfunc' && sym.name === BPF_THROW && !opts.kfuncs?.[BPF_THROW]) {
        return page.at + BigInt(stubAt);
      } else if (sym.kind === 'kfunc') {
        const name = sym.name;
        const load = opts.kfuncs?.[name] ? undefined : packetLoad(name, packet);
        if (load) {
          fnPtr = k.register((...a: unknown[]) => load(...a.map(big)), k.pointer(proto('uint64_t kf_skb_load(uint64_t, uint64_t)')));
        } else if (name === 'bpf_test_deref' && !opts.kfuncs?.[name]) {
          // a real pointer argument: read the u64 it points to
          fnPtr = k.register((p: unknown) => k.decode(p, 'uint64_t') as bigint, k.pointer(proto('uint64_t kf_bpf_test_deref(void *)')));
        } else {
          const kf = opts.kfuncs?.[name] ?? standardKfunc(name);
          if (!kf) throw new NativeRunError(`kfunc ${name} is not provided`);
          const decl = `uint64_t kf_args${kf.args}(${Array.from({ length: kf.args }, () => 'uint64_t').join(', ') || 'void'})`;
          fnPtr = k.register((...a: unknown[]) => kf.fn(...a.map(big)), k.pointer(proto(decl)));
        }
      } else if (sym.kind === 'map') return host(() => nativeMaps.handleOf(sym.name, maps));
      else if (sym.kind === 'map_value') return host(() => nativeMaps.valueOf(sym.name, sym.offset, maps));
      else throw new NativeRunError(`relocation to ${(sym as { kind: string }).kind} is not supported by the native runner`);
      callbacks.push(fnPtr);
      return k.address(fnPtr);
    };
    const resolved = new Map<string, bigint>();
    programs.forEach((p, n) => {
      code.set(p.code, bases[n]);
      for (const r of p.relocs) {
        const key = JSON.stringify(r.symbol);
        let v = resolved.get(key);
        if (v === undefined) {
          v = resolve(r.symbol);
          resolved.set(key, v);
        }
        view.setBigUint64(bases[n]! + r.offset, v, true);
      }
    });
    if (mprotect(page.ptr, codeSize, PROT_READ | PROT_EXEC) !== 0) throw new NativeRunError('mprotect failed');
    // r1: the context's address, or the memory
    const entry = k.decode(page.ptr, ctx ? proto('uint64_t bpf_prog_entry_ctx(uint64_t, uint64_t)') : proto('uint64_t bpf_prog_entry(void *, uint64_t)')) as (r1: bigint | Buffer, len: number) => bigint | number;
    const r1 = ctx ? ctx.r1 : buf;
    const len = ctx ? frame.length : mem.length;
    // an exception in a host function reaches us once the native code has returned
    const { value: r0, duration } = host(() => timed(repeat, () => entry(r1, len)));
    return { r0: BigInt.asUintN(64, BigInt(r0)), mem: ctx ? ctx.output() : new Uint8Array(mem), duration };
  } finally {
    for (const c of callbacks) k.unregister(c as never);
    for (const r of regions) munmap(r.ptr, r.size);
  }
}

/** Run in a child process: a crash (SIGSEGV, SIGILL) becomes a NativeRunError, not our death. */
export function runX86InChild(result: JitResult, opts: Pick<RunX86Options, 'mem' | 'progArrays' | 'maps' | 'context'> = {}): RunX86Result {
  const wire = (r: JitResult): unknown => ({ arch: 'x86_64', code: Buffer.from(r.code).toString('hex'), entries: r.entries, lineTable: [], relocs: r.relocs, exceptionCallback: r.exceptionCallback });
  const others: JitResult[] = [];
  for (const slots of Object.values(opts.progArrays ?? {})) for (const p of slots) if (p && p !== result && !others.includes(p)) others.push(p);
  const input = JSON.stringify({
    main: wire(result),
    others: others.map(wire),
    // slot -> 0 for the main program, 1.. for the others, null when empty
    arrays: Object.fromEntries(Object.entries(opts.progArrays ?? {}).map(([m, slots]) => [m, slots.map((p) => (p === null ? null : p === result ? 0 : others.indexOf(p) + 1))])),
    mem: Buffer.from(opts.mem ?? new Uint8Array(0)).toString('hex'),
    maps: (opts.maps ?? []).map((m) => ({ ...m, data: m.data ? Buffer.from(m.data).toString('hex') : undefined })),
    context: opts.context,
  });
  // under a TypeScript test runner this module is the source: the child runs the build
  const self = import.meta.url.endsWith('/src/node.ts') ? import.meta.url.replace(/\/src\/node\.ts$/, '/dist/node.js') : import.meta.url;
  const script = `
    import { runX86 } from ${JSON.stringify(self)};
    let s = '';
    process.stdin.on('data', (d) => (s += d));
    process.stdin.on('end', () => {
      const j = JSON.parse(s);
      const progs = [j.main, ...j.others].map((p) => ({ ...p, code: Buffer.from(p.code, 'hex') }));
      const progArrays = Object.fromEntries(Object.entries(j.arrays).map(([m, slots]) => [m, slots.map((n) => (n === null ? null : progs[n]))]));
      const maps = j.maps.map((m) => (m.data === undefined ? m : { ...m, data: Buffer.from(m.data, 'hex') }));
      const r = runX86(progs[0], { mem: Buffer.from(j.mem, 'hex'), progArrays, maps, ...(j.context ? { context: j.context } : {}) });
      process.stdout.write(JSON.stringify({ r0: r.r0.toString(), mem: Buffer.from(r.mem).toString('hex'), duration: r.duration }));
    });`;
  const p = spawnSync(process.execPath, ['--input-type=module', '-e', script], { input, encoding: 'utf8' });
  if (p.signal) throw new NativeRunError(`the native code crashed the child process (${p.signal})`);
  if (p.status !== 0) throw new NativeRunError(`native run failed: ${p.stderr.trim().split('\n').pop() ?? ''}`);
  const out = JSON.parse(p.stdout) as { r0: string; mem: string; duration: number };
  return { r0: BigInt(out.r0), mem: Uint8Array.from(Buffer.from(out.mem, 'hex')), duration: out.duration };
}
