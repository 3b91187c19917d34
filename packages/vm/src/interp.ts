/**
 * The reference interpreter: every instruction of @bpf/isa with the kernel's semantics
 * (kernel/bpf/core.c ___bpf_prog_run, plus the verifier's fixups that define division by zero
 * and signed division by -1), BPF-to-BPF calls with per-frame stacks and stack arguments
 * (apps/docs/stack-args.md §7: arguments 6..12 through r11), helpers, kfuncs and tail calls
 * supplied by the host, and a bounds-checked address space.
 */
import { analyseFrames, type AnalysedProgram, type Insn, type MapDef, type Program, type ProgType } from '@bpf/isa';
import { STANDARD_HELPERS, standardKfunc, VmMap, type Helper, type HostContext, type Kfunc } from './host.js';
import { isPacketProgType, packetContext, type PacketContext } from './context.js';
import { AddressSpace, VmError } from './memory.js';

export interface RunOptions {
  /** Bytes r1 points to (raw-memory convention); r2 holds their length. */
  readonly mem?: Uint8Array;
  /**
   * A packet (an Ethernet frame) for a packet program (`type` socket_filter, sched_cls,
   * sched_act or xdp): r1 points at the context BPF_PROG_TEST_RUN would build for it, and the
   * result's `packet` is what the kernel returns as data_out.
   */
  readonly data?: Uint8Array;
  /** Program type for `data` (default: the program's). */
  readonly type?: ProgType;
  /** Context bytes r1 points to instead (read-only unless `ctxWritable`). */
  readonly ctx?: Uint8Array;
  readonly ctxWritable?: boolean;
  /** Maps by index (ld_imm64 map fd/idx immediates) — defaults to `program.maps`. */
  readonly maps?: readonly MapDef[];
  /** Extra or replacement helpers by id (the standard set is always there). */
  readonly helpers?: Readonly<Record<number, Helper>>;
  /** Kfuncs by name (the standard `bpf_test_*` set is always there). */
  readonly kfuncs?: Readonly<Record<string, Kfunc>>;
  /** Programs a prog-array map may tail-call, by index. */
  readonly tailCallTargets?: readonly Program[];
  /** Contents of prog-array maps by name: slot -> index in `tailCallTargets`. */
  readonly progArrays?: Readonly<Record<string, readonly number[]>>;
  /** Maximum instructions executed (default 10M). */
  readonly budget?: number;
  /** may_goto iterations (the kernel's BPF_MAX_LOOPS, 8M). */
  readonly mayGotoBudget?: number;
}

export interface RunResult {
  readonly r0: bigint;
  /** Instructions executed. */
  readonly insns: number;
  /** The memory r1 pointed to, after the run. */
  readonly mem: Uint8Array;
  readonly printk: readonly string[];
  readonly maps: readonly VmMap[];
  /** With `data`: the packet after the run, as the kernel's test run returns it. */
  readonly packet?: Uint8Array;
}

/** What the interpreter needs of the program a frame runs (a tail call swaps it for the frame's rest). */
interface ProgState {
  readonly prog: AnalysedProgram;
  readonly insns: readonly Insn[];
  /** Pre-decoded operands: the immediate as a u64, the offset as a BigInt. */
  readonly IMM: readonly bigint[];
  readonly OFF: readonly bigint[];
  readonly kfuncByInsn: ReadonlyMap<number, string>;
  readonly mapByInsn: ReadonlyMap<number, { readonly kind: 'map'; readonly name: string } | { readonly kind: 'map_value'; readonly name: string; readonly offset: number }>;
}

function progState(program: Program): ProgState {
  const prog = analyseFrames(program);
  return {
    prog,
    insns: prog.insns,
    IMM: prog.insns.map((x) => BigInt.asUintN(64, BigInt(x.imm))),
    OFF: prog.insns.map((x) => BigInt(x.off)),
    kfuncByInsn: new Map((prog.relocs ?? []).filter((r) => r.kind === 'kfunc').map((r) => [r.insn, r.name])),
    mapByInsn: new Map((prog.relocs ?? []).filter((r) => r.kind === 'map' || r.kind === 'map_value').map((r) => [r.insn, r])),
  };
}

/** A bpf_loop in progress: the callback runs in frames whose return pc is LOOP_RET. */
interface LoopState {
  readonly n: bigint;
  i: bigint;
  readonly fnPc: number;
  readonly ctx: bigint;
  readonly retPc: number;
}

interface Frame {
  readonly retPc: number;
  /** The program the caller runs (restored on exit: a tail call may have replaced the callee's). */
  readonly retState: ProgState;
  readonly saved: bigint[];
  readonly fp: bigint;
  /** Outgoing stack-argument slots (arguments 6..12) this frame has stored. */
  readonly out: (bigint | undefined)[];
  readonly subprog: number;
}

const M64 = 0xffffffffffffffffn;
const M32 = 0xffffffffn;
const STACK = 512;
const MAX_FRAMES = 8;
const FUNC_TAG = 0x4000_0000_0000_0000n;
/** The kernel's MAX_TAIL_CALL_CNT (include/linux/bpf.h). */
const MAX_TAIL_CALL_CNT = 33;
/** BPF_MAX_LOOPS: bpf_loop refuses more iterations (kernel/bpf/bpf_iter.c). */
const BPF_MAX_LOOPS = 1n << 23n;
/** The kfunc that ends the program in its exception callback. */
const BPF_THROW = 'bpf_throw';
/** Return pc of a bpf_loop callback's frame. */
const LOOP_RET = -2;
/** SKF_NET_OFF (include/uapi/linux/filter.h): ld_abs offsets from here are relative to the network header (the packet start here). */
const SKF_NET_OFF = -0x100000;
const EINVAL = BigInt.asUintN(64, -22n);
const E2BIG = BigInt.asUintN(64, -7n);

const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
const u64 = (v: bigint): bigint => v & M64;
const sext = (v: bigint, bits: number): bigint => BigInt.asUintN(64, BigInt.asIntN(bits, v));
const bswap = (v: bigint, bytes: number): bigint => {
  let r = 0n;
  for (let k = 0; k < bytes; k++) r = (r << 8n) | ((v >> BigInt(8 * k)) & 0xffn);
  return r;
};

/** Pre-decoded programs, kept per (readonly) Program object across runs. */
const states = new WeakMap<Program, ProgState>();
const stateOf = (p: Program): ProgState => {
  let st = states.get(p);
  if (st === undefined) {
    st = progState(p);
    states.set(p, st);
  }
  return st;
};

/** Run a program to completion. Throws `VmError` on a memory violation or exhausted budget. */
export function run(program: Program, opts: RunOptions = {}): RunResult {
  const mem = new AddressSpace();
  const memBytes = opts.mem ? Uint8Array.from(opts.mem) : new Uint8Array(0);
  const maps = (opts.maps ?? program.maps ?? []).map((d) => new VmMap(d, mem));
  const byHandle = new Map(maps.map((m) => [m.handle, m]));
  for (const m of maps) (opts.progArrays?.[m.def.name] ?? []).forEach((target, slot) => m.progs.set(slot, target));
  const printk: string[] = [];
  let insnCount = 0;
  const budget = opts.budget ?? 10_000_000;
  let mayGoto = opts.mayGotoBudget ?? 8_388_608;
  let tailCalls = 0;

  let r1: bigint;
  let r2 = 0n;
  let pctx: PacketContext | undefined;
  if (opts.data) {
    const type = opts.type ?? program.type ?? 'socket_filter';
    if (!isPacketProgType(type)) throw new VmError('INVALID_INSN', `--data needs a packet program type (socket_filter, sched_cls, sched_act, xdp), not ${type}`, 0);
    pctx = packetContext(type, opts.data, mem);
    r1 = pctx.r1;
  } else if (opts.ctx) r1 = mem.map('ctx', Uint8Array.from(opts.ctx), { writable: opts.ctxWritable ?? false, name: 'ctx' });
  else {
    r1 = mem.map('mem', memBytes, { name: 'mem' });
    r2 = BigInt(memBytes.length);
  }

  const done = (r0: bigint): RunResult => ({ r0, insns: insnCount, mem: memBytes, printk, maps, ...(pctx ? { packet: pctx.output() } : {}) });
  let cur = stateOf(program);
  let { prog, insns, IMM, OFF, kfuncByInsn, mapByInsn } = cur;
  const switchTo = (st: ProgState): void => {
    cur = st;
    ({ prog, insns, IMM, OFF, kfuncByInsn, mapByInsn } = st);
  };
  const loops: LoopState[] = [];
  const R: bigint[] = new Array<bigint>(11).fill(0n);
  R[1] = r1;
  R[2] = r2;
  const frames: Frame[] = [];
  const newFrame = (retPc: number, subprog: number): Frame => {
    const fp = mem.map('stack', new Uint8Array(STACK), { name: `stack of frame ${frames.length}` }) + BigInt(STACK);
    return { retPc, retState: cur, saved: [R[6]!, R[7]!, R[8]!, R[9]!], fp, out: new Array<bigint | undefined>(7).fill(undefined), subprog };
  };
  frames.push(newFrame(-1, 0));
  R[10] = frames[0]!.fp;

  const subprogAt = (pc: number): number => prog.subprogs.findIndex((s) => pc >= s.start && pc < s.end);

  let pc = 0;
  const host: HostContext & { insn: number } = {
    mem,
    insn: 0,
    printk,
    mapOf: (p) => byHandle.get(p),
  };

  /** Enter the callback of the innermost bpf_loop for its iteration `i`: callback(i, ctx, 0, 0, 0). */
  const enterCallback = (loop: LoopState, at: number): void => {
    if (frames.length >= MAX_FRAMES) throw new VmError('CALL_DEPTH', `call depth exceeds ${MAX_FRAMES} frames`, at);
    const f = newFrame(LOOP_RET, subprogAt(loop.fnPc));
    frames.push(f);
    R[1] = loop.i;
    R[2] = loop.ctx;
    R[3] = R[4] = R[5] = 0n;
    R[10] = f.fp;
    pc = loop.fnPc;
  };

  /** The exit instruction: back to the caller, or on to the bpf_loop driving this callback. True when the program is done. */
  const leave = (): boolean => {
    const f = frames.pop()!;
    if (frames.length === 0) return true;
    [R[6], R[7], R[8], R[9]] = f.saved;
    R[10] = frames[frames.length - 1]!.fp;
    switchTo(f.retState);
    if (f.retPc !== LOOP_RET) {
      // the callee's return consumes the slots the caller stored for it (stack-args §4.4)
      frames[frames.length - 1]!.out.fill(undefined);
      pc = f.retPc;
      return false;
    }
    // bpf_loop: a non-zero return stops the loop; the helper returns the iterations run
    const loop = loops[loops.length - 1]!;
    loop.i++;
    if (R[0] === 0n && loop.i < loop.n) {
      enterCallback(loop, pc);
      return false;
    }
    loops.pop();
    R[0] = loop.i;
    frames[frames.length - 1]!.out.fill(undefined);
    pc = loop.retPc;
    return false;
  };

  const mapFor = (pcAt: number, i: Insn): VmMap => {
    const reloc = mapByInsn.get(pcAt);
    const m = reloc ? maps.find((x) => x.def.name === reloc.name) : maps[i.imm];
    if (!m) throw new VmError('BAD_POINTER', `ld_imm64 refers to map ${reloc ? `'${reloc.name}'` : `#${i.imm}`}, which the run was not given`, pcAt);
    return m;
  };

  for (;;) {
    if (++insnCount > budget) throw new VmError('BUDGET', `instruction budget of ${budget} exhausted`, pc);
    const i = insns[pc];
    if (i === undefined) throw new VmError('FELL_OFF', 'execution ran past the last instruction', pc);
    const cls = i.code & 7;
    const x = (i.code & 8) !== 0;
    switch (cls) {
      case 0x07:
      case 0x04: {
        const is64 = cls === 0x07;
        const op = i.code & 0xf0;
        const d = R[i.dst]!;
        let s = x ? R[i.src]! : IMM[pc]!;
        if (!is64) s &= M32;
        const dv = is64 ? d : d & M32;
        let v: bigint;
        switch (op) {
          case 0x00: v = dv + s; break;
          case 0x10: v = dv - s; break;
          case 0x20: v = dv * s; break;
          case 0x30:
            if (i.off === 1) {
              const a = is64 ? s64(dv) : s32(dv);
              const b = is64 ? s64(s) : s32(s);
              v = b === 0n ? 0n : b === -1n ? -a : a / b;
            } else v = s === 0n ? 0n : dv / s;
            break;
          case 0x40: v = dv | s; break;
          case 0x50: v = dv & s; break;
          case 0x60: v = dv << (s & (is64 ? 63n : 31n)); break;
          case 0x70: v = dv >> (s & (is64 ? 63n : 31n)); break;
          case 0x80: v = -dv; break;
          case 0x90:
            if (i.off === 1) {
              const a = is64 ? s64(dv) : s32(dv);
              const b = is64 ? s64(s) : s32(s);
              v = b === 0n ? a : b === -1n ? 0n : a % b;
            } else v = s === 0n ? dv : dv % s;
            break;
          case 0xa0: v = dv ^ s; break;
          case 0xb0:
            if (x && (i.off === 8 || i.off === 16 || i.off === 32)) v = sext(R[i.src]!, i.off);
            else v = s;
            break;
          case 0xc0: v = (is64 ? s64(dv) : s32(dv)) >> (s & (is64 ? 63n : 31n)); break;
          case 0xd0: {
            const bits = i.imm;
            if (is64) v = bswap(d, bits / 8);
            else if (x) v = bswap(d, bits / 8); // to big endian (host is little-endian)
            else v = bits === 64 ? d : d & ((1n << BigInt(bits)) - 1n);
            R[i.dst] = u64(v);
            pc++;
            continue;
          }
          default:
            throw new VmError('INVALID_INSN', `invalid ALU opcode 0x${i.code.toString(16)}`, pc);
        }
        R[i.dst] = is64 ? u64(v) : v & M32;
        pc++;
        continue;
      }
      case 0x05:
      case 0x06: {
        const op = i.code & 0xf0;
        if (op === 0x90 && cls === 0x05) {
          // exit
          if (leave()) return done(R[0]!);
          continue;
        }
        if (op === 0x80 && cls === 0x05) {
          host.insn = pc;
          if (i.src === 1) {
            if (frames.length >= MAX_FRAMES) throw new VmError('CALL_DEPTH', `call depth exceeds ${MAX_FRAMES} frames`, pc);
            const target = pc + i.imm + 1;
            const f = newFrame(pc + 1, subprogAt(target));
            frames.push(f);
            R[10] = f.fp;
            pc = target;
            continue;
          }
          const caller = frames[frames.length - 1]!;
          if (i.src === 2) {
            const name = kfuncByInsn.get(pc);
            if (name === BPF_THROW && !opts.kfuncs?.[BPF_THROW]) {
              // bpf_throw(cookie) (kernel/bpf/helpers.c): every frame down to the main program's
              // goes (bpf_loop callbacks may not throw), and the program's exception callback runs
              // in the main frame's place with r1 = cookie; its return is the program's
              const mainState = frames.length > 1 ? frames[1]!.retState : cur;
              const cb = mainState.prog.subprogs.findIndex((s) => s.exceptionCallback === true);
              if (cb < 0) throw new VmError('NO_EXCEPTION_CB', "bpf_throw in a program without an exception callback (run the verifier's xlated program: it adds the default one)", pc);
              const cookie = R[1]!;
              [R[6], R[7], R[8], R[9]] = frames[0]!.saved;
              frames.length = 0;
              loops.length = 0;
              switchTo(mainState);
              const f = newFrame(-1, cb);
              frames.push(f);
              R[1] = cookie;
              R[2] = R[3] = R[4] = R[5] = 0n;
              R[10] = f.fp;
              pc = prog.subprogs[cb]!.start;
              continue;
            }
            const fn = name === undefined ? undefined : (opts.kfuncs?.[name] ?? standardKfunc(name));
            if (!fn) throw new VmError('UNKNOWN_KFUNC', `kfunc ${name ?? `#${i.imm}`} is not provided`, pc);
            const proto = (prog.protos ?? []).find((p) => p.name === name);
            const n = proto?.params.length ?? 5;
            const args: bigint[] = [R[1]!, R[2]!, R[3]!, R[4]!, R[5]!].slice(0, Math.min(n, 5));
            for (let k = 5; k < n; k++) {
              const v = caller.out[k - 5];
              if (v === undefined) throw new VmError('STACK_ARG_UNINIT', `kfunc ${name} expects ${n} args, stack arg${k - 4} is not initialized`, pc);
              args.push(v);
            }
            R[0] = u64(fn(host, args));
          } else if (i.imm === 12) {
            // bpf_tail_call(ctx, prog_array, index), as the JITs do it (arch/x86/net/bpf_jit_comp.c
            // emit_bpf_tail_call_indirect): index >= max_entries, MAX_TAIL_CALL_CNT tail calls
            // already taken, or an empty slot -> fall through; the count grows only on a jump.
            // The target replaces the current frame's program: it starts with r1 = ctx, and its
            // exit returns to this frame's caller.
            const m = host.mapOf(R[2]!);
            const index = Number(R[3]! & M32);
            const target = m !== undefined && index < m.def.maxEntries && tailCalls < MAX_TAIL_CALL_CNT ? m.progs.get(index) : undefined;
            const next = target === undefined ? undefined : opts.tailCallTargets?.[target];
            if (next !== undefined) {
              tailCalls++;
              switchTo(stateOf(next));
              caller.out.fill(undefined);
              pc = 0;
              continue;
            }
            // r0 is not defined after a failed tail call (the helper returns void); the JITs leave whatever they left there
            R[0] = 0n;
          } else if (i.imm === 181) {
            // bpf_loop(nr_loops, callback_fn, callback_ctx, flags) (kernel/bpf/bpf_iter.c)
            const n = R[1]! & M32;
            if (R[4] !== 0n) R[0] = EINVAL;
            else if (n > BPF_MAX_LOOPS) R[0] = E2BIG;
            else if (n === 0n) R[0] = 0n;
            else {
              if ((R[2]! & FUNC_TAG) === 0n) throw new VmError('BAD_POINTER', `bpf_loop callback 0x${R[2]!.toString(16)} is not a function pointer`, pc);
              const loop: LoopState = { n, i: 0n, fnPc: Number(R[2]! & ~FUNC_TAG), ctx: R[3]!, retPc: pc + 1 };
              loops.push(loop);
              enterCallback(loop, pc);
              continue;
            }
          } else {
            const fn = opts.helpers?.[i.imm] ?? pctx?.helpers[i.imm] ?? STANDARD_HELPERS[i.imm];
            if (!fn) throw new VmError('UNKNOWN_HELPER', `helper #${i.imm} is not provided`, pc);
            R[0] = u64(fn(host, R[1]!, R[2]!, R[3]!, R[4]!, R[5]!));
          }
          // r1..r5 are clobbered by calls; outgoing stack arguments are consumed (stack-args §4.4)
          caller.out.fill(undefined);
          pc++;
          continue;
        }
        let taken: boolean;
        if (op === 0x00) {
          pc += (cls === 0x06 ? i.imm : i.off) + 1;
          continue;
        }
        if (op === 0xe0) {
          // may_goto: fall through while the budget lasts, then jump
          if (mayGoto > 0) {
            mayGoto--;
            pc++;
          } else pc += i.off + 1;
          continue;
        }
        const is64 = cls === 0x05;
        let a = R[i.dst]!;
        let b = x ? R[i.src]! : IMM[pc]!;
        if (!is64) {
          a &= M32;
          b &= M32;
        }
        const sa = is64 ? s64(a) : s32(a);
        const sb = is64 ? s64(b) : s32(b);
        switch (op) {
          case 0x10: taken = a === b; break;
          case 0x20: taken = a > b; break;
          case 0x30: taken = a >= b; break;
          case 0x40: taken = (a & b) !== 0n; break;
          case 0x50: taken = a !== b; break;
          case 0x60: taken = sa > sb; break;
          case 0x70: taken = sa >= sb; break;
          case 0xa0: taken = a < b; break;
          case 0xb0: taken = a <= b; break;
          case 0xc0: taken = sa < sb; break;
          case 0xd0: taken = sa <= sb; break;
          default:
            throw new VmError('INVALID_INSN', `invalid jump opcode 0x${i.code.toString(16)}`, pc);
        }
        pc += taken ? i.off + 1 : 1;
        continue;
      }
      case 0x00: {
        const mode = i.code & 0xe0;
        if (i.code === 0x18) {
          const hi = insns[pc + 1];
          if (hi === undefined) throw new VmError('INVALID_INSN', 'truncated ld_imm64', pc);
          const raw = (BigInt(hi.imm >>> 0) << 32n) | BigInt(i.imm >>> 0);
          switch (i.src) {
            case 0: R[i.dst] = raw; break;
            case 1:
            case 5: R[i.dst] = mapFor(pc, i).handle; break;
            case 2:
            case 6: {
              const m = mapFor(pc, i);
              const reloc = mapByInsn.get(pc);
              const off = reloc?.kind === 'map_value' ? BigInt(reloc.offset) : BigInt(hi.imm >>> 0);
              R[i.dst] = m.lookup(new Uint8Array(4)) + off;
              break;
            }
            case 4: R[i.dst] = FUNC_TAG | BigInt(pc + i.imm + 1); break;
            default: R[i.dst] = 0n;
          }
          pc += 2;
          continue;
        }
        if (mode === 0x20 || mode === 0x40) {
          // legacy packet load from the skb's data (big-endian); out of bounds ends the program with 0
          // The verifier's rewrite (net/core/filter.c bpf_gen_ld_abs): r2 = imm or src + imm (64-bit),
          // call bpf_skb_load_helper_N_no_cache(ctx, offset) whose offset is an int, and an
          // out-of-range load exits the current function with r0 = 0.
          const size = ([4, 2, 1, 8] as const)[(i.code >> 3) & 3];
          let off = Number(BigInt.asIntN(32, (mode === 0x40 ? R[i.src]! : 0n) + BigInt(i.imm)));
          if (off < 0 && off >= SKF_NET_OFF) off -= SKF_NET_OFF;
          for (let k = 1; k <= 5; k++) R[k] = 0n;
          const pkt = pctx ? pctx.packet() : memBytes;
          if (off < 0 || off + size > pkt.length) {
            R[0] = 0n;
            if (leave()) return done(0n);
            continue;
          }
          let v = 0n;
          for (let k = 0; k < size; k++) v = (v << 8n) | BigInt(pkt[off + k]!);
          R[0] = v;
          pc++;
          continue;
        }
        throw new VmError('INVALID_INSN', `invalid opcode 0x${i.code.toString(16)}`, pc);
      }
      default: {
        // LDX, ST, STX
        const size = ([4, 2, 1, 8] as const)[(i.code >> 3) & 3];
        const mode = i.code & 0xe0;
        if (cls === 0x01) {
          if (i.src === 11) {
            // callee reads argument 5+k from its caller's outgoing area
            const k = i.off / 8 - 1;
            const caller = frames[frames.length - 2];
            const v = caller?.out[k];
            if (v === undefined) throw new VmError('STACK_ARG_UNINIT', `read of stack arg ${k + 6} that the caller did not store`, pc);
            R[i.dst] = v;
            pc++;
            continue;
          }
          const v = mem.load(u64(R[i.src]! + OFF[pc]!), size, pc);
          R[i.dst] = mode === 0x80 ? sext(v, size * 8) : v;
          pc++;
          continue;
        }
        if (i.dst === 11) {
          frames[frames.length - 1]!.out[-i.off / 8 - 1] = cls === 0x02 ? IMM[pc]! : R[i.src]!;
          pc++;
          continue;
        }
        const addr = u64(R[i.dst]! + OFF[pc]!);
        if (cls === 0x02) {
          mem.store(addr, size, IMM[pc]!, pc);
          pc++;
          continue;
        }
        if (mode === 0x60) {
          mem.store(addr, size, R[i.src]!, pc);
          pc++;
          continue;
        }
        // atomics
        if (i.imm === 0x100) {
          R[i.dst] = mem.load(u64(R[i.src]! + OFF[pc]!), size, pc);
        } else if (i.imm === 0x110) {
          mem.store(addr, size, R[i.src]!, pc);
        } else {
          const old = mem.load(addr, size, pc);
          const mask = size === 8 ? M64 : M32;
          const s = R[i.src]! & mask;
          const base = i.imm & ~1;
          let nv: bigint;
          if (i.imm === 0xf1) {
            const r0 = R[0]! & mask;
            if (old === r0) mem.store(addr, size, s, pc);
            R[0] = old;
            pc++;
            continue;
          }
          if (i.imm === 0xe1) nv = s;
          else if (base === 0x00) nv = (old + s) & mask;
          else if (base === 0x40) nv = old | s;
          else if (base === 0x50) nv = old & s;
          else if (base === 0xa0) nv = old ^ s;
          else throw new VmError('INVALID_INSN', `invalid atomic operation 0x${i.imm.toString(16)}`, pc);
          mem.store(addr, size, nv, pc);
          if (i.imm & 1) R[i.src] = old;
        }
        pc++;
        continue;
      }
    }
  }
}
