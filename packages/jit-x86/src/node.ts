/**
 * Run x86-64 JIT output natively in this process (Node only): map the code into executable
 * memory, point each relocation at a native function (helpers and kfuncs are JS functions made
 * callable from native code by koffi, so the System V argument placement is checked by a real
 * native callee), call the program with r1 = a copy of `mem` and r2 = its length, and read
 * back r0 and the memory. `runX86InChild` does the same in a child process, so a crash of the
 * generated code cannot take the caller down.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { JitResult } from '@bpf/isa';

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
  readonly mem?: Uint8Array;
  /** Helpers by id (the standard ones are provided). */
  readonly helpers?: Readonly<Record<number, NativeFn>>;
  /** kfuncs by name, with their argument count (the standard `bpf_test_*` ones are provided). */
  readonly kfuncs?: Readonly<Record<string, { readonly args: number; readonly fn: NativeFn }>>;
}

export interface RunX86Result {
  readonly r0: bigint;
  readonly mem: Uint8Array;
}

const PROT_READ = 1,
  PROT_WRITE = 2,
  PROT_EXEC = 4,
  MAP_PRIVATE = 2,
  MAP_ANONYMOUS = 0x20;

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

export function runX86(result: JitResult, opts: RunX86Options = {}): RunX86Result {
  if (process.arch !== 'x64') throw new NativeRunError(`x86-64 code cannot run natively on ${process.arch}`);
  const k = koffi();
  if (libcFns === undefined) {
    const libc = k.load('libc.so.6');
    libcFns = {
      mmap: libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)'),
      mprotect: libc.func('int mprotect(void *addr, size_t len, int prot)'),
      munmap: libc.func('int munmap(void *addr, size_t len)'),
    };
  }
  const { mmap, mprotect, munmap } = libcFns;
  const size = Math.max(4096, (result.code.length + 4095) & ~4095);
  const page: unknown = mmap(null, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (k.address(page) === 0xffffffffffffffffn || page === null) throw new NativeRunError('mmap failed');
  const callbacks: unknown[] = [];
  try {
    const code = new Uint8Array(k.view(page, size));
    code.set(result.code);
    const helperProto = proto('uint64_t bpf_helper_cb(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t)');
    const STANDARD: Record<number, NativeFn> = { 5: () => 1_000_000_000n, 7: () => 4n, 8: () => 0n };
    const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
    for (const r of result.relocs) {
      let fnPtr: unknown;
      if (r.symbol.kind === 'helper') {
        const fn = opts.helpers?.[r.symbol.id] ?? STANDARD[r.symbol.id];
        if (!fn) throw new NativeRunError(`helper #${r.symbol.id} is not provided`);
        fnPtr = k.register((...a: (bigint | number)[]) => fn(...a.map((x) => BigInt(x))), k.pointer(helperProto));
      } else if (r.symbol.kind === 'kfunc') {
        const name = r.symbol.name;
        if (name === 'bpf_test_deref' && !opts.kfuncs?.[name]) {
          // a real pointer argument: read the u64 it points to
          fnPtr = k.register((p: unknown) => k.decode(p, 'uint64_t') as bigint, k.pointer(proto('uint64_t kf_bpf_test_deref(void *)')));
        } else {
          const kf = opts.kfuncs?.[name] ?? standardKfunc(name);
          if (!kf) throw new NativeRunError(`kfunc ${name} is not provided`);
          const decl = `uint64_t kf_args${kf.args}(${Array.from({ length: kf.args }, () => 'uint64_t').join(', ') || 'void'})`;
          fnPtr = k.register((...a: (bigint | number)[]) => kf.fn(...a.map((x) => BigInt(x))), k.pointer(proto(decl)));
        }
      } else throw new NativeRunError(`relocation to ${r.symbol.kind} ${r.symbol.name} is not supported by the native runner`);
      callbacks.push(fnPtr);
      view.setBigUint64(r.offset, k.address(fnPtr), true);
    }
    if (mprotect(page, size, PROT_READ | PROT_EXEC) !== 0) throw new NativeRunError('mprotect failed');
    const mem = Buffer.from(opts.mem ?? new Uint8Array(0));
    const buf = mem.length ? mem : Buffer.alloc(8);
    if ((result.entries[0] ?? 0) !== 0) throw new NativeRunError('the main program must be at offset 0');
    const r0 = k.call(page, proto('uint64_t bpf_prog_entry(void *, uint64_t)'), buf, BigInt(mem.length)) as bigint | number;
    return { r0: BigInt.asUintN(64, BigInt(r0)), mem: new Uint8Array(mem) };
  } finally {
    for (const c of callbacks) k.unregister(c as never);
    munmap(page, size);
  }
}

/** Run in a child process: a crash (SIGSEGV, SIGILL) becomes a NativeRunError, not our death. */
export function runX86InChild(result: JitResult, opts: { mem?: Uint8Array } = {}): RunX86Result {
  const input = JSON.stringify({
    code: Buffer.from(result.code).toString('hex'),
    entries: result.entries,
    relocs: result.relocs,
    mem: Buffer.from(opts.mem ?? new Uint8Array(0)).toString('hex'),
  });
  const script = `
    import { runX86 } from ${JSON.stringify(import.meta.url)};
    let s = '';
    process.stdin.on('data', (d) => (s += d));
    process.stdin.on('end', () => {
      const j = JSON.parse(s);
      const r = runX86({ arch: 'x86_64', code: Buffer.from(j.code, 'hex'), entries: j.entries, lineTable: [], relocs: j.relocs }, { mem: Buffer.from(j.mem, 'hex') });
      process.stdout.write(JSON.stringify({ r0: r.r0.toString(), mem: Buffer.from(r.mem).toString('hex') }));
    });`;
  const p = spawnSync(process.execPath, ['--input-type=module', '-e', script], { input, encoding: 'utf8' });
  if (p.signal) throw new NativeRunError(`the native code crashed the child process (${p.signal})`);
  if (p.status !== 0) throw new NativeRunError(`native run failed: ${p.stderr.trim().split('\n').pop() ?? ''}`);
  const out = JSON.parse(p.stdout) as { r0: string; mem: string };
  return { r0: BigInt(out.r0), mem: Uint8Array.from(Buffer.from(out.mem, 'hex')) };
}
