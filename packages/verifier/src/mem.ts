/**
 * Memory accesses (kernel/bpf/verifier.c check_mem_access and what it calls): the stack with
 * byte-exact slot types and register spills/fills, the context per program type, map values,
 * packets and ring buffer records, each with the kernel's checks and messages.
 */
import { dynptrStackWrite } from './dynptr.js';
import { fastcallContract } from './fastcall.js';
import { allocFieldRead, checkFieldAccess, FIELD_NAME, kptrAccess, mapRecord, objRecord, shownStruct } from './kptr.js';
import type { Env, MaxAccess } from './env.js';
import { ctxAccess, tcpSockUnconvertible, type CtxPtr } from './ctx.js';
import { CTX_LAYOUT } from './ctxlayout.js';
import { PROG_FLAGS } from './loadflags.js';
import { btfCtxAccess, usesBtfCtx } from './btfctx.js';
import { kernelStructRead, mapPtrRead } from './btfmem.js';
import { MAP_TYPE_NAMES } from './helper-protos.js';
import { btfPtr } from './nullable.js';
import { regTypeStr, regTypeStrBare } from './print.js';
import { sockAccess } from './sockmem.js';
import { coerceToSize, coerceToSizeSx } from './scalar.js';
import { copyReg, known, pointer, S64_MIN, setSlotType, setSpilled, SlotType, STACK_SIZE, unlinked, UNKNOWN, type Frame, type Reg, type RegType, type State } from './state.js';
import { fls64, tnumAdd, tnumConst, tnumIsConst, tnumStr, type Tnum } from './tnum.js';

const BPF_MAX_VAR_OFF = 1n << 29n;

export interface Access {
  readonly write: boolean;
  /** The stored register (stx), or undefined for an immediate store or a read. */
  readonly value?: Reg;
  /** Its register number. */
  readonly valueRegno?: number;
  /** The immediate of a BPF_ST store. */
  readonly stImm?: number;
  /** Whether the read goes into a register (false for atomics' plain reads and helpers). */
  readonly intoReg?: boolean;
  readonly signed?: boolean;
  /** check_ptr_alignment's strict_alignment_once: atomics are aligned whatever the flags. */
  readonly strictOnce?: boolean;
}


/** __check_mem_access and its message per pointer type. */
function memOk(off: bigint, size: number, memSize: number, zeroOk: boolean): boolean {
  const sizeOk = size > 0 || (size === 0 && zeroOk);
  return off >= 0n && sizeOk && off + BigInt(size) <= BigInt(memSize);
}

function memMsg(r: Reg, regno: number, off: bigint, size: number, memSize: number): string {
  if (r.type === 'map_value') return `invalid access to map value, value_size=${memSize} off=${off} size=${size}`;
  if (r.type === 'map_key') return `invalid access to map key, key_size=${memSize} off=${off} size=${size}`;
  if (r.type === 'pkt' || r.type === 'pkt_meta') return `invalid access to packet, off=${off} size=${size}, R${regno}(id=${r.id ?? 0},off=${off},r=${memSize})`;
  return `invalid access to memory, mem_size=${memSize} off=${off} size=${size}`;
}

/**
 * A read at a known offset of a frozen read-only array map (BPF_F_RDONLY_PROG, as `.rodata`) is
 * its initial contents (the kernel's bpf_map_direct_read; narrower reads are extended after).
 */
function rdonlyRead(r: Reg, off: number, size: number): Reg | undefined {
  const map = r.map;
  if (!map?.data || map.type !== 'array' || !((map.flags ?? 0) & 0x80) || r.var.mask !== 0n || ![1, 2, 4, 8].includes(size)) return undefined;
  const at = off + Number(r.var.value); // `off` already includes the pointer's fixed offset
  if (at < 0 || at + size > map.data.length) return undefined;
  let v = 0n;
  for (let k = size - 1; k >= 0; k--) v = (v << 8n) | BigInt(map.data[at + k]!);
  return known(v);
}

/** check_mem_region_access: the fixed offset plus the variable part's bounds within [0, memSize). */
export function memRegion(env: Env, pc: number, r: Reg, regno: number, off: number, size: number, memSize: number, zeroOk: boolean): void {
  // bounds in [0, BPF_MAX_VAR_OFF) and an access inside the region (almost every one): the
  // tests below in numbers (exact there), without their BigInts (issue 25); anything else, and
  // every failure, goes through them
  if (r.smin >= 0n && r.smin < BPF_MAX_VAR_OFF && r.umax < BPF_MAX_VAR_OFF && (size > 0 || (size === 0 && zeroOk))) {
    const lo = Number(r.smin) + off;
    const hi = Number(r.umax) + off;
    if (lo >= 0 && hi >= 0 && lo + size <= memSize && hi + size <= memSize) return;
  }
  const o = BigInt(off);
  if (r.smin < 0n && (r.smin === S64_MIN || BigInt.asIntN(32, o + r.smin) !== o + r.smin || r.smin + o < 0n))
    env.reject(pc, `R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
  if (!memOk(r.smin + o, size, memSize, zeroOk)) env.reject(pc, memMsg(r, regno, r.smin + o, size, memSize), `R${regno} min value is outside of the allowed memory range`);
  if (r.umax >= BPF_MAX_VAR_OFF) env.reject(pc, `R${regno} unbounded memory access, make sure to bounds check any such access`);
  if (!memOk(r.umax + o, size, memSize, zeroOk)) env.reject(pc, memMsg(r, regno, r.umax + o, size, memSize), `R${regno} max value is outside of the allowed memory range`);
}

/** check_packet_access. */
export function packetAccess(env: Env, pc: number, r: Reg, regno: number, off: number, size: number, zeroOk: boolean): void {
  if (r.smin < 0n) env.reject(pc, `R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
  const range = r.range ?? 0;
  if (range < 0) env.reject(pc, `R${regno} offset is outside of the packet`);
  if (!(off >= 0 && (size > 0 || (size === 0 && zeroOk)) && off + size <= range)) env.reject(pc, memMsg(r, regno, BigInt(off), size, range), `R${regno} offset is outside of the packet`);
}

/** __check_ptr_off_reg: pointers passed on or dereferenced in their original form only. */
export function ptrOffOk(env: Env, pc: number, r: Reg, regno: number, fixedOffOk: boolean): void {
  if (r.off < 0) env.reject(pc, `negative offset ${regTypeStr(r)} ptr R${regno} off=${r.off} disallowed`);
  if (!fixedOffOk && r.off) env.reject(pc, `dereference of modified ${regTypeStr(r)} ptr R${regno} off=${r.off} disallowed`);
  if (!tnumIsConst(r.var) || r.var.value) env.reject(pc, `variable ${regTypeStr(r)} access var_off=${tnumStr(r.var)} disallowed`);
}

// ---- the stack ----

/** check_stack_access_within_bounds; returns the lowest offset touched. */
export function stackBounds(env: Env, pc: number, r: Reg, regno: number, off: number, size: number, what: string): [number, number] {
  // a pointer at a constant offset of zero (almost every stack access): the same tests in numbers
  if (r.var.mask === 0n && r.var.value === 0n && off >= -STACK_SIZE && off <= -1 && off + size <= 0 && size >= 0) return [off, off + size];
  let lo: bigint;
  let hi: bigint;
  if (tnumIsConst(r.var)) {
    lo = BigInt.asIntN(64, r.var.value) + BigInt(off);
    hi = lo + BigInt(size);
  } else {
    if (r.smax >= BPF_MAX_VAR_OFF || r.smin <= -BPF_MAX_VAR_OFF) env.reject(pc, `invalid unbounded variable-offset${what} stack R${regno}`);
    lo = r.smin + BigInt(off);
    hi = r.smax + BigInt(off) + BigInt(size);
  }
  if (lo < -BigInt(STACK_SIZE) || lo > -1n || hi > 0n || size < 0) {
    if (tnumIsConst(r.var)) env.reject(pc, `invalid${what} stack R${regno} off=${off} size=${size}`);
    env.reject(pc, `invalid variable-offset${what} stack R${regno} var_off=${tnumStr(r.var)} off=${off} size=${size}`);
  }
  return [Number(lo), Number(hi)];
}

const byteIndex = (at: number): number => -at - 1;

/** Where the frame a stack pointer points into is, and track the subprogram's depth. */
export function stackFrame(env: Env, st: State, r: Reg, lowest: number): Frame {
  const k = r.frame ?? st.frames.length - 1;
  const f = st.frames[k]!;
  env.depth[f.subprog] = Math.max(env.depth[f.subprog]!, -lowest);
  // grow_stack_state: the frame's allocated_stack covers the access, rounded up to a slot
  const size = (-lowest + 7) & ~7;
  if (size > (f.allocated ?? 0)) f.allocated = size;
  return f;
}

function spillSize(f: Frame, slot: number): number {
  let n = 0;
  for (let j = 7; j >= 0 && f.slotTypes[slot * 8 + j] === SlotType.Spill; j--) n++;
  return n;
}

/** save_register_state: spill `reg` into `slot`, `size` bytes of it. */
function saveSpill(f: Frame, slot: number, reg: Reg, size: number): void {
  setSpilled(f, slot, reg);
  for (let j = 7; j >= 8 - size; j--) setSlotType(f, slot * 8 + j, SlotType.Spill);
  for (let j = 7 - size; j >= 0; j--) {
    const t = f.slotTypes[slot * 8 + j]!;
    if (t !== SlotType.Zero && t !== SlotType.Invalid) setSlotType(f, slot * 8 + j, SlotType.Misc);
  }
}

/** A write of plain data into a slot: the spilled register is gone. */
function scrubSlot(f: Frame, slot: number): void {
  const t7 = f.slotTypes[slot * 8 + 7];
  // scrub_special_slot: a spilled register, an iterator or a dynptr is gone as a whole
  if (t7 === SlotType.Spill || t7 === SlotType.Iter || t7 === SlotType.Dynptr)
    for (let j = 0; j < 8; j++) if (f.slotTypes[slot * 8 + j] !== SlotType.Invalid) setSlotType(f, slot * 8 + j, SlotType.Misc);
  setSpilled(f, slot, undefined);
}

const isZero = (r: Reg | undefined): boolean => r !== undefined && r.type === 'scalar' && tnumIsConst(r.var) && r.var.value === 0n;

function stackWriteFixed(env: Env, f: Frame, frameNo: number, cur: Frame, at: number, size: number, a: Access, pc: number): void {
  const b = byteIndex(at);
  const slot = b >> 3;
  env.scratchSlot(slot);
  // each spill below: saveSpill(f, slot, r, size) then env.noteStackAccess(frameNo, slot), written
  // out (a closure for it was made on every stack write; issue 25)
  const reg = a.value;
  if (reg && at % 8 === 0 && reg.type === 'scalar') {
    const fits = fls64(reg.umax) <= size * 8;
    let v = reg;
    // assign_scalar_id_before_mov: a link with an offset cannot be shared, the spill starts a new one
    if (fits && v.addConst) v = unlinked(v);
    if (fits && !v.id && !tnumIsConst(v.var)) {
      const o = copyReg(v, false, true);
      o.id = env.nextId();
      v = o;
    }
    // the source register itself changes (it shares the new id)
    if (v !== reg && a.valueRegno !== undefined && cur.regs[a.valueRegno] === reg) cur.regs[a.valueRegno] = v;
    saveSpill(f, slot, fits ? v : unlinked(v, false), size);
    env.noteStackAccess(frameNo, slot);
    return;
  }
  if (!reg && at % 8 === 0 && a.stImm !== undefined) {
    saveSpill(f, slot, known(BigInt(a.stImm)), size);
    env.noteStackAccess(frameNo, slot);
    return;
  }
  if (reg && reg.type !== 'scalar' && reg.type !== 'not_init') {
    if (size !== 8) env.reject(pc, ...env.sourceLine(pc), 'invalid size of register spill');
    if (f !== cur && reg.type === 'fp') env.reject(pc, 'cannot spill pointers to stack into stack frame of the caller');
    saveSpill(f, slot, reg, size);
    env.noteStackAccess(frameNo, slot);
    return;
  }
  scrubSlot(f, slot);
  const zero = (reg && isZero(reg)) || (!reg && a.stImm === 0);
  if (zero && a.valueRegno !== undefined) env.precise(a.valueRegno);
  for (let k = 0; k < size; k++) setSlotType(f, b - k, zero ? SlotType.Zero : SlotType.Misc);
}

function stackWriteVar(env: Env, f: Frame, r: Reg, off: number, size: number, a: Access): void {
  const lo = Number(r.smin) + off;
  const hi = Number(r.smax) + off + size;
  const zero = (a.value && isZero(a.value)) || (!a.value && a.stImm === 0);
  // check_stack_write_var_off's zero_used: the value written is known zero and that kept a
  // byte zero (a spilled zero, or STACK_ZERO); only then is it marked precise
  let zeroUsed = false;
  for (let at = lo; at < hi; at++) {
    const b = byteIndex(at);
    const slot = b >> 3;
    env.scratchSlot(slot);
    const t = f.slotTypes[b]!;
    if (zero && t === SlotType.Spill && isZero(f.spilled[slot])) {
      zeroUsed = true;
      continue;
    }
    if (f.slotTypes[slot * 8 + 7] === SlotType.Spill) scrubSlot(f, slot);
    if (zero && t === SlotType.Zero) zeroUsed = true;
    setSlotType(f, b, zero && t === SlotType.Zero ? SlotType.Zero : SlotType.Misc);
  }
  if (zeroUsed && a.valueRegno !== undefined) env.precise(a.valueRegno);
}

/** mark_reg_stack_read: zero when every byte read is known zero, else unknown. */
function stackReadValue(env: Env, f: Frame, lo: number, hi: number): Reg {
  let zeros = 0;
  for (let at = lo; at < hi; at++) {
    const b = byteIndex(at);
    env.scratchSlot(b >> 3);
    if (f.slotTypes[b] !== SlotType.Zero) break;
    zeros++;
  }
  return zeros === hi - lo ? known(0n) : UNKNOWN;
}

function stackReadFixed(env: Env, f: Frame, frameNo: number, at: number, size: number, a: Access, pc: number): Reg | undefined {
  const b = byteIndex(at);
  const slot = b >> 3;
  env.scratchSlot(slot);
  if (f.slotTypes[slot * 8 + 7] === SlotType.Spill) {
    const reg = f.spilled[slot]!;
    const spilled = spillSize(f, slot);
    if (size !== 8 || spilled !== 8) {
      if (reg.type !== 'scalar') env.reject(pc, ...env.sourceLine(pc), 'invalid size of register fill');
      if (!a.intoReg) return undefined;
      if (size <= spilled && at % 8 === 0) {
        env.noteStackAccess(frameNo, slot);
        // the relation breaks on a narrowing fill, and on a sign-extending one whose value may
        // have the sign bit of its size set (the live 6.18.44 kernel, as for movsx: the 6.18.26
        // sources keep the id there)
        const breaks = fls64(reg.umax) > size * 8 || (a.signed === true && reg.umax >= 1n << BigInt(size * 8 - 1));
        return breaks ? unlinked(reg) : reg;
      }
      let spillCnt = 0;
      let zeroCnt = 0;
      for (let k = 0; k < size; k++) {
        const t = f.slotTypes[b - k];
        if (t === SlotType.Spill) spillCnt++;
        else if (t === SlotType.Zero) zeroCnt++;
      }
      if (spillCnt === size && isZero(reg)) {
        env.noteStackAccess(frameNo, slot);
        return known(0n);
      }
      if (zeroCnt === size) return known(0n);
      return UNKNOWN;
    }
    if (!a.intoReg) return undefined;
    // a fill copies the spilled register as it is: 6.18 gives a scalar its id at the spill, not here
    env.noteStackAccess(frameNo, slot);
    return reg;
  }
  // an iterator's or dynptr's slots are not data (check_stack_read_fixed_off)
  for (let k = 0; k < size; k++) {
    const t = f.slotTypes[b - k];
    if (t === SlotType.Iter || t === SlotType.Dynptr) env.reject(pc, `invalid read from stack off ${at}+${k} size ${size}`);
  }
  if (!a.intoReg) return undefined;
  return stackReadValue(env, f, at, at + size);
}

function stackAccess(env: Env, st: State, cur: Frame, r: Reg, regno: number, off: number, size: number, a: Access, pc: number): Reg | undefined {
  // stackBounds' own fast case (a constant zero offset: almost every access) without its pair
  const lo = r.var.mask === 0n && r.var.value === 0n && off >= -STACK_SIZE && off <= -1 && off + size <= 0 && size >= 0 ? off : stackBounds(env, pc, r, regno, off, size, a.write ? ' write to' : ' read from')[0];
  const f = stackFrame(env, st, r, lo);
  // check_stack_{read,write}_{fixed,var}_off: instructions (and the slots a dynptr, iterator or
  // irq flag takes), not a helper's memory arguments
  if (env.fastcall && a.intoReg !== false) fastcallContract(env.fastcall, f.subprog, pc, lo);
  const frameNo = r.frame ?? st.frames.length - 1;
  if (tnumIsConst(r.var)) {
    const at = (r.var.value === 0n ? 0 : Number(BigInt.asIntN(64, r.var.value))) + off;
    if (a.write) {
      dynptrStackWrite(env, st, frameNo, at, at + size, pc);
      // only a whole slot written counts as written (check_stack_write_fixed_off)
      if (at % 8 === 0 && size === 8) env.stackLive?.write(frameNo, byteIndex(at) >> 3);
      stackWriteFixed(env, f, frameNo, cur, at, size, a, pc);
      return undefined;
    }
    env.stackLive?.read(frameNo, byteIndex(at) >> 3);
    return stackReadFixed(env, f, frameNo, at, size, a, pc);
  }
  if (a.write) {
    dynptrStackWrite(env, st, frameNo, Number(r.smin) + off, Number(r.smax) + off + size, pc);
    stackWriteVar(env, f, r, off, size, a);
    return undefined;
  }
  if (!a.intoReg) env.reject(pc, `variable offset stack pointer cannot be passed into helper function; var_off=${tnumStr(r.var)} off=${off} size=${size}`);
  // check_stack_range_initialized: every slot the range touches may be read
  env.stackLive?.read(frameNo, byteIndex(Number(r.smax) + off + size - 1) >> 3, byteIndex(Number(r.smin) + off) >> 3);
  return stackReadValue(env, f, Number(r.smin) + off, Number(r.smax) + off + size);
}

/** A constant var_off prints as its value, as 6.18 prints it in the alignment messages; else as a tnum. */
const varOffStr = (t: Tnum): string => (tnumIsConst(t) ? String(BigInt.asIntN(64, t.value)) : tnumStr(t));

/** check_ptr_alignment's name for each pointer type it checks. */
const ALIGN_DESC: Partial<Record<RegType, string>> = { fp: 'stack ', map_value: 'value ', ctx: 'context ', flow_keys: 'flow keys ', sock: 'sock ', sock_common: 'sock_common ', tcp_sock: 'tcp_sock ' };

/**
 * check_ptr_alignment: packets with NET_IP_ALIGN (2) in front, other pointers as they are; the
 * stack always, others under BPF_F_STRICT_ALIGNMENT (the kernel of an architecture with efficient
 * unaligned access, as x86-64 and arm64; BPF_F_ANY_ALIGNMENT turns it off) or for atomics.
 */
export function ptrAlignment(env: Env, pc: number, r: Reg, insnOff: number, size: number, strictOnce: boolean): void {
  // arena accesses are never checked for alignment, not even strictly (check_ptr_alignment)
  if (r.type === 'arena') return;
  let strict = ((env.progFlags & PROG_FLAGS.strict_alignment) !== 0 && (env.progFlags & PROG_FLAGS.any_alignment) === 0) || strictOnce;
  if (r.type === 'fp') strict = true;
  if (!strict || size === 1) return;
  // a pointer without a variable part (the stack pointer, almost always): its fixed offset in numbers;
  // what is misaligned is left to the tests below, which make the message
  if (r.var.mask === 0n && r.var.value === 0n) {
    const n = (r.type === 'pkt' || r.type === 'pkt_meta' ? 2 : 0) + r.off + insnOff;
    if ((n | 0) === n && (n & (size - 1)) === 0) return;
  }
  const mask = BigInt(size - 1);
  if (r.type === 'pkt' || r.type === 'pkt_meta') {
    const t = tnumAdd(r.var, tnumConst(BigInt(2 + r.off + insnOff)));
    if (((t.value | t.mask) & mask) !== 0n) env.reject(pc, `misaligned packet access off 2+${varOffStr(r.var)}+${r.off}+${insnOff} size ${size}`);
    return;
  }
  const t = tnumAdd(r.var, tnumConst(BigInt(r.off + insnOff)));
  if (((t.value | t.mask) & mask) !== 0n) env.reject(pc, `misaligned ${ALIGN_DESC[r.type] ?? ''}access off ${varOffStr(r.var)}+${r.off}+${insnOff} size ${size}`);
}

/** The register a context read gives: a scalar, or the field's pointer (packet pointers with an empty range). */
function ctxRead(ptr: CtxPtr | undefined, env: Env): Reg {
  switch (ptr) {
    case undefined:
      return UNKNOWN;
    case 'pkt':
    case 'pkt_meta':
      return pointer(ptr, { range: 0 });
    case 'sock_or_null':
    case 'sock_common_or_null':
      // a nullable pointer gets its id for the null check (check_mem_access)
      return pointer(ptr, { id: env.nextId() });
    default:
      return pointer(ptr);
  }
}


/**
 * check_ptr_to_btf_access and btf_struct_access for an object bpf_obj_new allocated: a fixed,
 * non-negative offset inside the struct, never over one of its special fields.
 */
function allocAccess(env: Env, pc: number, r: Reg, regno: number, off: number, size: number): Reg {
  const struct = btfPtr(r.type)!.struct;
  const shown = shownStruct(struct);
  if (off < 0) env.reject(pc, `R${regno} is ptr_${shown} invalid negative access: off=${off}`);
  if (!tnumIsConst(r.var)) env.reject(pc, `R${regno} is ptr_${shown} invalid variable offset: off=${off}, var_off=${tnumStr(r.var)}`);
  const at = off + Number(r.var.value);
  for (const f of objRecord(env, struct)?.fields ?? []) if (at < f.off + f.size && f.off < at + size) env.reject(pc, `direct access to ${FIELD_NAME[f.type]} is disallowed`);
  if (at + size > r.memSize!) env.reject(pc, `access beyond struct ${shown} at off ${at} size ${size}`);
  return allocFieldRead(env, pc, struct, at, size);
}

const BUF_INFO = { tp: 'tracepoint', rdonly: 'rdonly', rdwr: 'rdwr' } as const;

/**
 * check_buffer_access / check_tp_buffer_access: a buffer whose size the verifier does not know
 * (an iterator's key or value, a writable tracepoint's arguments) takes any access at a constant,
 * non-negative offset; the furthest end is recorded for the attach to check against the real size.
 */
export function bufferAccess(env: Env, pc: number, r: Reg, regno: number, off: number, size: number, kind: keyof MaxAccess): void {
  if (off < 0) env.reject(pc, `R${regno} invalid ${BUF_INFO[kind]} buffer access: off=${off}, size=${size}`);
  if (!tnumIsConst(r.var) || r.var.value) env.reject(pc, `R${regno} invalid variable buffer offset: off=${off}, var_off=${tnumStr(r.var)}`);
  if (off + size > env.maxAccess[kind]) env.maxAccess[kind] = off + size;
}

/** BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG: what programs may do with a map's values (bpf_map_flags_to_cap). */
const RDONLY_PROG = 0x80;
const WRONLY_PROG = 0x100;

/** check_map_access_type: a write into a map programs may only read, or a read from one they may only write. */
export function mapAccessType(env: Env, pc: number, r: Reg, off: number, size: number, write: boolean): void {
  const flags = r.map!.flags ?? 0;
  const bad = write ? (flags & RDONLY_PROG) !== 0 : (flags & (RDONLY_PROG | WRONLY_PROG)) === WRONLY_PROG;
  if (bad) env.reject(pc, `${write ? 'write into' : 'read from'} map forbidden, value_size=${r.map!.valueSize} off=${off} size=${size}`);
}

/** Whether the program type may write packet data directly (may_access_direct_pkt_data). */
// cgroup_sockopt: a getsockopt program writes the option's value (optval..optval_end) in place
const PKT_WRITE = new Set(['sched_cls', 'sched_act', 'xdp', 'lwt_xmit', 'sk_skb', 'sk_msg', 'cgroup_sockopt']);

/**
 * check_mem_access through register `regno` holding `r`, at insn offset `insnOff`. Returns the
 * register a read produces (when `a.intoReg`).
 */
export function memAccess(env: Env, st: State, f: Frame, pc: number, regno: number, r: Reg, insnOff: number, size: number, a: Access): Reg | undefined {
  ptrAlignment(env, pc, r, insnOff, size, a.strictOnce === true);
  const off = insnOff + r.off;
  let out: Reg | undefined;
  switch (r.type) {
    case 'map_value': {
      mapAccessType(env, pc, r, off, size, a.write);
      memRegion(env, pc, r, regno, off, size, r.map!.valueSize, false);
      // the value's special fields (check_map_access) and its kptrs (check_map_kptr_access)
      const kptr = checkFieldAccess(env, pc, mapRecord(env, r.map!), r, off, size, false);
      if (kptr) {
        out = kptrAccess(env, st, pc, kptr, { write: a.write, atomic: a.strictOnce === true, ...(a.value ? { value: a.value, valueRegno: a.valueRegno! } : {}), ...(a.stImm !== undefined ? { stImm: a.stImm } : {}) });
        return out;
      }
      out = a.write ? undefined : (rdonlyRead(r, off, size) ?? UNKNOWN);
      break;
    }
    case 'arena':
      // PTR_TO_ARENA: no bounds, any size; a load gives an unknown value (arena.ts)
      out = a.write ? undefined : UNKNOWN;
      break;
    case 'map_ptr':
      out = mapPtrRead(env, st, pc, r, regno, off, size, a.write, MAP_TYPE_NAMES.indexOf(r.map!.type));
      break;
    case 'rdonly_untrusted_mem':
      // accessed through probe loads: no bounds to check (check_mem_access, rdonly_untrusted)
      if (a.write) env.reject(pc, `R${regno} cannot write into ${regTypeStr(r)}`);
      out = UNKNOWN;
      break;
    case 'map_key':
      // check_mem_access: a callback reads its key, never writes it
      if (a.write) env.reject(pc, `write to change key R${regno} not allowed`);
      memRegion(env, pc, r, regno, off, size, r.map!.keySize, false);
      out = UNKNOWN;
      break;
    case 'rdonly_mem':
    case 'ringbuf_mem':
    case 'mem':
      if (a.write && r.type === 'rdonly_mem') env.reject(pc, `R${regno} cannot write into ${regTypeStr(r)}`);
      memRegion(env, pc, r, regno, off, size, r.memSize ?? 0, false);
      out = a.write ? undefined : UNKNOWN;
      break;
    case 'ctx': {
      ptrOffOk(env, pc, r, regno, false);
      // tracing and LSM programs: btf_ctx_access over the attach target's prototype, when known
      const btfCtx = usesBtfCtx(env) ? btfCtxAccess(env, pc, off, size, a.write) : undefined;
      if (btfCtx?.known) {
        out = btfCtx.reg;
        break;
      }
      const res = ctxAccess(env.type, off, size, { write: a.write, ldsx: a.signed === true, attach: env.attach });
      // check_mem_access prints the source line after check_ctx_access's message
      if (!res.ok) env.reject(pc, `invalid bpf_context access off=${off} size=${size}`, ...env.sourceLine(pc));
      if (!a.write) out = ctxRead(res.ptr, env);
      break;
    }
    case 'fp':
      out = stackAccess(env, st, f, r, regno, off, size, a, pc);
      break;
    case 'sock':
    case 'sock_common':
    case 'tcp_sock':
    case 'xdp_sock':
      out = sockAccess(env, pc, r, regno, off, size, a.write);
      if (r.type === 'tcp_sock' && tcpSockUnconvertible(off)) env.reject(pc, 'verifier bug: error during ctx access conversion (0)');
      break;
    case 'flow_keys':
      if (off < 0 || off + size > CTX_LAYOUT.bpf_flow_keys.size) env.reject(pc, `invalid access to flow keys off=${off} size=${size}`);
      out = a.write ? undefined : UNKNOWN;
      break;
    case 'tp_buffer':
      bufferAccess(env, pc, r, regno, off, size, 'tp');
      out = a.write ? undefined : UNKNOWN;
      break;
    case 'rdonly_buf':
      if (a.write) env.reject(pc, `R${regno} cannot write into ${regTypeStr(r)}`);
      bufferAccess(env, pc, r, regno, off, size, 'rdonly');
      out = a.write ? undefined : UNKNOWN;
      break;
    case 'buf':
      bufferAccess(env, pc, r, regno, off, size, 'rdwr');
      out = a.write ? undefined : UNKNOWN;
      break;
    case 'pkt':
    case 'pkt_meta':
      if (a.write && !PKT_WRITE.has(env.type)) env.reject(pc, 'cannot write into packet');
      packetAccess(env, pc, r, regno, off, size, false);
      out = a.write ? undefined : UNKNOWN;
      break;
    default:
      // an object bpf_obj_new allocated (a BTF pointer carrying its size): its bytes, like memory
      if (r.memSize !== undefined && btfPtr(r.type) && !btfPtr(r.type)!.orNull && !btfPtr(r.type)!.flag.includes('percpu_')) {
        const read = allocAccess(env, pc, r, regno, off, size);
        out = a.write ? undefined : read;
        break;
      }
      // a per-CPU allocated object (MEM_ALLOC | MEM_PERCPU): only its CPU copies, reached through
      // bpf_per_cpu_ptr/bpf_this_cpu_ptr, are memory (check_ptr_to_btf_access, in its order)
      if (r.memSize !== undefined && btfPtr(r.type) && !btfPtr(r.type)!.orNull) {
        const b = btfPtr(r.type)!;
        if (off < 0) env.reject(pc, `R${regno} is ptr_${b.struct} invalid negative access: off=${off}`);
        if (!tnumIsConst(r.var) || r.var.value !== 0n) env.reject(pc, `R${regno} is ptr_${b.struct} invalid variable offset: off=${off}, var_off=${tnumStr(r.var)}`);
        env.reject(pc, `R${regno} is ptr_${b.struct} access percpu memory: off=${off}`);
      }
      out = kernelStructRead(env, st, pc, r, regno, off, size, a.write);
      if (out) break;
      env.reject(pc, `R${regno} invalid mem access '${regTypeStrBare(r)}'`);
  }
  if (!a.intoReg || a.write || !out) return out;
  if (size < 8 && out.type === 'scalar') return a.signed ? coerceToSizeSx(out, size as 1 | 2 | 4) : coerceToSize(out, size);
  return out;
}
