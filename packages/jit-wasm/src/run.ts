/**
 * Running a compiled program: one WebAssembly memory, table and set of globals shared by every
 * module of this realm (so a tail call can reach another program's module), and per run an
 * address space over that memory with @bpf/vm's host functions. Takes the options of @bpf/vm's
 * `run` and gives its result.
 */
import type { Program } from '@bpf/isa';
import { isPacketProgType, packetContext, STANDARD_HELPERS, standardKfunc, VmError, VmMap, type HostContext, type PacketContext, type RunOptions, type RunResult } from '@bpf/vm';
import { jitWasm, type WasmJitOptions, type WasmJitResult } from './compile.js';
import { FAULTS, INITIAL_PAGES, type Fault } from './layout.js';
import { WasmSpace, type LinearMemory } from './space.js';

/** The parts of the standard `WebAssembly` namespace this package uses (Node and browsers). */
interface WasmGlobal {
  value: number | bigint;
}
interface WasmTable {
  readonly length: number;
  grow(n: number): number;
  set(i: number, f: unknown): void;
}
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmApi {
  Memory: new (d: { initial: number }) => LinearMemory;
  Table: new (d: { element: 'anyfunc'; initial: number }) => WasmTable;
  Global: new (d: { value: 'i32' | 'i64'; mutable: boolean }, v: number | bigint) => WasmGlobal;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => WasmInstance;
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(m: object, imports: object): Promise<WasmInstance>;
}
const wasm = (): WasmApi => {
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) throw new Error('@bpf/jit-wasm: this JavaScript engine has no WebAssembly');
  return api;
};

interface Runtime {
  readonly memory: LinearMemory;
  readonly table: WasmTable;
  readonly depth: WasmGlobal;
  readonly count: WasmGlobal;
  readonly budget: WasmGlobal;
  readonly mayGoto: WasmGlobal;
  readonly fieldsId: WasmGlobal;
  readonly oob: WasmGlobal;
}

let shared: Runtime | undefined;
function runtime(): Runtime {
  if (shared) return shared;
  const W = wasm();
  const g = (value: 'i32' | 'i64'): WasmGlobal => new W.Global({ value, mutable: true }, value === 'i64' ? 0n : 0);
  shared = { memory: new W.Memory({ initial: INITIAL_PAGES }), table: new W.Table({ element: 'anyfunc', initial: 0 }), depth: g('i32'), count: g('i64'), budget: g('i64'), mayGoto: g('i64'), fieldsId: g('i32'), oob: g('i32') };
  return shared;
}

/**
 * What one run needs from the imports of every module it enters; it is also the `HostContext`
 * helpers and kfuncs get. One object per run, nothing else allocated for a run without maps.
 */
class RunState implements HostContext {
  insn = 0;
  readonly printk: string[] = [];
  tailCalls = 0;
  pctx: PacketContext | undefined = undefined;
  /** Linear address of the `mem` buffer (raw-memory convention), or -1. */
  memStart = -1;

  constructor(
    readonly mem: WasmSpace,
    readonly opts: WasmRunOptions,
    readonly maps: readonly VmMap[],
    /** The caller's bytes (ld_abs reads the copy at memStart). */
    readonly memBytes: Uint8Array,
  ) {}

  get space(): WasmSpace {
    return this.mem;
  }

  mapOf(ptr: bigint): VmMap | undefined {
    for (const m of this.maps) if (m.handle === ptr) return m;
    return undefined;
  }
}

/** An `ld_imm64` of a map or map value, as the runner resolves it at the start of a run. */
interface Ref {
  readonly global: WasmGlobal;
  /** The map pseudo sources (1, 5) take the map's handle, the others (2, 6) a value's address. */
  readonly handle: boolean;
  /** The map by name (a relocation), or else by index. */
  readonly name: string | undefined;
  readonly index: number;
  readonly offset: bigint;
}

interface Loaded {
  readonly jit: WasmJitResult;
  readonly instance: WasmInstance;
  readonly entry: (r1: bigint, r2: bigint, r3: bigint, r4: bigint, r5: bigint) => bigint;
  /** Slot of its entry in the shared table (for tail calls). */
  readonly slot: number;
  readonly refs: readonly Ref[];
  /** The run that last set its map references. */
  preparedFor: RunState | undefined;
}

let current: RunState | undefined;
const state = (): RunState => {
  if (current === undefined) throw new Error('@bpf/jit-wasm: compiled code called outside a run');
  return current;
};
const isJit = (p: Program | WasmJitResult): p is WasmJitResult => 'mapRefs' in p && 'bytes' in p;
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const M32 = 0xffffffffn;
/** The kernel's MAX_TAIL_CALL_CNT (include/linux/bpf.h). */
const MAX_TAIL_CALL_CNT = 33;

function imports(jit: WasmJitResult, rt: Runtime): object {
  const prog = jit.program;
  const kfuncName = (insn: number): string => prog.relocs?.find((r) => r.kind === 'kfunc' && r.insn === insn)?.name ?? `#${prog.insns[insn]?.imm}`;
  const messages: Record<Fault, (insn: number, arg: bigint) => VmError> = {
    BUDGET: (insn) => new VmError('BUDGET', `instruction budget of ${state().opts.budget ?? 10_000_000} exhausted`, insn),
    CALL_DEPTH: (insn) => new VmError('CALL_DEPTH', 'call depth exceeds 8 frames', insn),
    STACK_ARG_UNINIT: (insn, arg) => new VmError('STACK_ARG_UNINIT', `read of stack arg ${arg} that the caller did not store`, insn),
    KFUNC_STACK_ARG_UNINIT: (insn, arg) => {
      const name = kfuncName(insn);
      return new VmError('STACK_ARG_UNINIT', `kfunc ${name} expects ${jit.kfuncs.find((k) => k.name === name)?.args} args, stack arg${Number(arg) - 4} is not initialized`, insn);
    },
    FELL_OFF: (insn) => new VmError('FELL_OFF', 'execution ran past the last instruction', insn + 1),
    INVALID_INSN: (insn) => new VmError('INVALID_INSN', `invalid opcode 0x${prog.insns[insn]!.code.toString(16)}`, insn),
    CALLBACK: (insn, arg) => new VmError('BAD_POINTER', `bpf_loop callback 0x${u64(arg).toString(16)} is not a function pointer`, insn),
    MAP_REF: (insn) => {
      const reloc = prog.relocs?.find((r) => r.insn === insn && (r.kind === 'map' || r.kind === 'map_value'));
      return new VmError('BAD_POINTER', `ld_imm64 refers to map ${reloc ? `'${reloc.name}'` : `#${prog.insns[insn]!.imm}`}, which the run was not given`, insn);
    },
  };
  const bpf = {
    mem: rt.memory,
    tab: rt.table,
    depth: rt.depth,
    count: rt.count,
    budget: rt.budget,
    mayGoto: rt.mayGoto,
    fieldsId: rt.fieldsId,
    oob: rt.oob,
    fault: (code: number, insn: number, arg: bigint): void => {
      throw messages[FAULTS[code]!](insn, arg);
    },
    ld: (addr: bigint, how: number, insn: number): bigint => {
      const size = (how & 0xf) as 1 | 2 | 4 | 8;
      const v = state().space.load(u64(addr), size, insn);
      return how & 0x10 ? BigInt.asIntN(size * 8, v) : v;
    },
    st: (addr: bigint, value: bigint, size: number, insn: number): void => state().space.store(u64(addr), size as 1 | 2 | 4 | 8, value, insn),
    helper: (id: number, r1: bigint, r2: bigint, r3: bigint, r4: bigint, r5: bigint, insn: number): bigint => {
      const st = state();
      const fn = st.opts.helpers?.[id] ?? st.pctx?.helpers[id] ?? STANDARD_HELPERS[id];
      if (!fn) throw new VmError('UNKNOWN_HELPER', `helper #${id} is not provided`, insn);
      st.insn = insn;
      st.space.enterHost();
      try {
        return fn(st, u64(r1), u64(r2), u64(r3), u64(r4), u64(r5));
      } finally {
        st.space.leaveHost();
      }
    },
    // bpf_tail_call(ctx, prog_array, index), as @bpf/vm and the JITs: the slot of the target's entry, or -1 to fall through
    tail: (map: bigint, index: bigint, _insn: number): number => {
      const st = state();
      const m = st.mapOf(u64(map));
      const idx = Number(index & M32);
      const target = m !== undefined && idx < m.def.maxEntries && st.tailCalls < MAX_TAIL_CALL_CNT ? m.progs.get(idx) : undefined;
      const next = target === undefined ? undefined : st.opts.tailCallTargets?.[target];
      if (next === undefined) return -1;
      st.tailCalls++;
      const loaded = load(isJit(next) ? next : compiled(next, { checks: jit.checks }));
      prepare(st, loaded);
      return loaded.slot;
    },
    // ld_abs / ld_ind: the big-endian packet bytes at `off`; out of bounds sets `oob` (the function returns 0)
    ldabs: (off: number, size: number): bigint => {
      const st = state();
      const pkt = st.pctx ? st.pctx.packet() : st.memBytes;
      const at = st.pctx ? st.space.linearOf(pkt) : st.memStart;
      if (off < 0 || off + size > pkt.length || at === undefined || at < 0) {
        rt.oob.value = 1;
        return 0n;
      }
      rt.oob.value = 0;
      const u8 = st.space.bytes();
      let v = 0n;
      for (let k = 0; k < size; k++) v = (v << 8n) | BigInt(u8[at + off + k]!);
      return v;
    },
  };
  const kfunc: Record<string, (...a: bigint[]) => bigint> = {};
  for (const { name, args } of jit.kfuncs) {
    kfunc[name] = (...a: (bigint | number)[]): bigint => {
      const st = state();
      const insn = a[args] as number;
      const fn = st.opts.kfuncs?.[name] ?? standardKfunc(name);
      if (!fn) throw new VmError('UNKNOWN_KFUNC', `kfunc ${name} is not provided`, insn);
      st.insn = insn;
      st.space.enterHost();
      try {
        return fn(st, (a.slice(0, args) as bigint[]).map(u64));
      } finally {
        st.space.leaveHost();
      }
    };
  }
  return { bpf, kfunc };
}

const loadedOf = new WeakMap<WasmJitResult, Loaded>();
const modules = new WeakMap<WasmJitResult, object>();

function register(jit: WasmJitResult, instance: WasmInstance): Loaded {
  const rt = runtime();
  const slot = rt.table.grow(1);
  rt.table.set(slot, instance.exports.entry);
  const prog = jit.program;
  const byReloc = new Map((prog.relocs ?? []).filter((r) => r.kind === 'map' || r.kind === 'map_value').map((r) => [r.insn, r]));
  const refs = jit.mapRefs.map((ref): Ref => {
    const i = prog.insns[ref.insn]!;
    const reloc = byReloc.get(ref.insn);
    const offset = reloc?.kind === 'map_value' ? BigInt(reloc.offset) : BigInt(prog.insns[ref.insn + 1]!.imm >>> 0);
    return { global: instance.exports[ref.global] as WasmGlobal, handle: i.src === 1 || i.src === 5, name: reloc?.name, index: i.imm, offset };
  });
  const entry = instance.exports.entry as Loaded['entry'];
  const l: Loaded = { jit, instance, entry, slot, refs, preparedFor: undefined };
  loadedOf.set(jit, l);
  return l;
}

function load(jit: WasmJitResult): Loaded {
  const l = loadedOf.get(jit);
  if (l) return l;
  const W = wasm();
  const module = modules.get(jit) ?? new W.Module(jit.bytes);
  return register(jit, new W.Instance(module, imports(jit, runtime())));
}

/**
 * Compile and instantiate asynchronously (browsers refuse synchronous compilation of larger
 * modules on their main thread); `runWasm` then starts at once.
 */
export async function loadWasm(jit: WasmJitResult): Promise<void> {
  if (loadedOf.has(jit)) return;
  const W = wasm();
  const module = await W.compile(jit.bytes);
  modules.set(jit, module);
  const instance = await W.instantiate(module, imports(jit, runtime()));
  if (!loadedOf.has(jit)) register(jit, instance);
}

/** Compiled programs kept per (readonly) Program object and checks setting. */
const cache = new WeakMap<Program, Map<boolean, WasmJitResult>>();
function compiled(p: Program, opts: WasmJitOptions): WasmJitResult {
  const checks = opts.checks ?? true;
  let byChecks = cache.get(p);
  if (!byChecks) cache.set(p, (byChecks = new Map<boolean, WasmJitResult>()));
  let j = byChecks.get(checks);
  if (!j) byChecks.set(checks, (j = jitWasm(p, { checks })));
  return j;
}

export interface WasmRunOptions extends Omit<RunOptions, 'tailCallTargets'> {
  /** Programs a prog-array map may tail-call, by index: compiled ones or programs (compiled on use with the caller's checks). */
  readonly tailCallTargets?: readonly (Program | WasmJitResult)[];
}

/** Set the map references of a module for this run (maps as @bpf/vm resolves them). */
function prepare(st: RunState, l: Loaded): void {
  if (l.preparedFor === st) return;
  l.preparedFor = st;
  for (const ref of l.refs) {
    const m = ref.name !== undefined ? st.maps.find((x) => x.def.name === ref.name) : st.maps[ref.index];
    let v = -1n;
    if (m) {
      if (ref.handle) v = m.handle;
      else {
        st.space.enterHost();
        v = m.lookup(new Uint8Array(4)) + ref.offset;
        st.space.leaveHost();
      }
    }
    ref.global.value = BigInt.asIntN(64, v);
  }
}

const NO_BYTES = new Uint8Array(0);

/**
 * Run a compiled program (or a program, compiled on first use and cached) with @bpf/vm's
 * options and result. Throws `VmError` as the interpreter does.
 */
export function runWasm(program: WasmJitResult | Program, opts: WasmRunOptions & WasmJitOptions = {}): RunResult {
  const jit = isJit(program) ? program : compiled(program, opts);
  const prog = jit.program;
  const rt = runtime();
  const space = new WasmSpace(rt.memory);
  space.mapStacks();
  // the caller's bytes go straight into linear memory; the result's `mem` is copied out at the end
  const memIn = opts.mem ?? NO_BYTES;
  const mapDefs = opts.maps ?? prog.maps;
  const maps = mapDefs === undefined || mapDefs.length === 0 ? [] : mapDefs.map((d) => new VmMap(d, space));
  if (opts.progArrays) for (const m of maps) (opts.progArrays[m.def.name] ?? []).forEach((target, slot) => m.progs.set(slot, target));
  const st = new RunState(space, opts, maps, memIn);
  let r1: bigint;
  let r2 = 0n;
  if (opts.data) {
    const type = opts.type ?? prog.type ?? 'socket_filter';
    if (!isPacketProgType(type)) throw new VmError('INVALID_INSN', `--data needs a packet program type (socket_filter, sched_cls, sched_act, xdp), not ${type}`, 0);
    st.pctx = packetContext(type, opts.data, space);
    r1 = st.pctx.r1;
  } else if (opts.ctx) r1 = space.own('ctx', opts.ctx, { writable: opts.ctxWritable ?? false, name: 'ctx' });
  else {
    r1 = space.own('mem', memIn, { name: 'mem' });
    st.memStart = Number(r1 & M32) - 0x8000_0000;
    r2 = BigInt(memIn.length);
  }
  const budget = opts.budget ?? 10_000_000;
  rt.depth.value = 0;
  rt.count.value = 0n;
  rt.budget.value = BigInt(budget);
  rt.mayGoto.value = BigInt(opts.mayGotoBudget ?? 8_388_608);
  rt.fieldsId.value = space.fieldsRegion();
  const saved = current;
  current = st;
  let r0: bigint;
  try {
    const l = load(jit);
    prepare(st, l);
    r0 = u64(l.entry(r1, r2, 0n, 0n, 0n));
  } catch (e) {
    if (e instanceof Error && e.name === 'RangeError' && /call stack/i.test(e.message)) throw new VmError('CALL_DEPTH', 'call stack exhausted', 0);
    throw e;
  } finally {
    current = saved;
  }
  const insns = Number(rt.count.value);
  if (insns > budget) throw new VmError('BUDGET', `instruction budget of ${budget} exhausted`, prog.insns.length - 1);
  // the caller's buffer, and the owners' bytes (packet, map values) as the program left them
  const mem = st.memStart >= 0 ? space.bytes().slice(st.memStart, st.memStart + memIn.length) : memIn.slice();
  space.enterHost();
  if (st.pctx) return { r0, insns, mem, printk: st.printk, maps, packet: st.pctx.output() };
  return { r0, insns, mem, printk: st.printk, maps };
}
