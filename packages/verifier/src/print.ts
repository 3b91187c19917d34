/**
 * Register and stack states in the kernel log's words (kernel/bpf/log.c: print_reg_state,
 * print_scalar_ranges, print_verifier_state): `R1=ctx()`, `R2=scalar(smin=0,smax=umax=255,
 * var_off=(0x0; 0xff))`, `fp-8=mmmm????`.
 */
import { innerMapMeta } from './mapfields.js';
import { btfPtr, type MapWithInner } from './nullable.js';
import { SLOT_CHAR, SLOTS, SlotType, S32_MAX_N, S32_MIN_N, S64_MAX, S64_MIN, U32_MAX_N, type Frame, type Reg, type RefState } from './state.js';
import { tnumIsConst, tnumIsUnknown, tnumStr, U64_MAX } from './tnum.js';

/** Unsigned values up to U16_MAX print in decimal, larger ones in hex. */
export const unum = (n: bigint): string => (n <= 0xffffn ? n.toString() : `0x${BigInt.asUintN(64, n).toString(16)}`);
/** Signed values within S16 print in decimal, others as the 64-bit pattern in hex. */
export const snum = (n: bigint): string => (n >= -0x8000n && n <= 0x7fffn ? n.toString() : `0x${BigInt.asUintN(64, n).toString(16)}`);

const TYPE_STR: Record<string, string> = {
  scalar: 'scalar',
  ctx: 'ctx',
  fp: 'fp',
  map_ptr: 'map_ptr',
  map_value: 'map_value',
  map_value_or_null: 'map_value_or_null',
  pkt: 'pkt',
  pkt_end: 'pkt_end',
  pkt_meta: 'pkt_meta',
  ringbuf_mem: 'ringbuf_mem',
  ringbuf_mem_or_null: 'ringbuf_mem_or_null',
  func: 'func',
  arena: 'arena',
  not_init: '?',
};

/**
 * A lookup in a map-in-map travels as `map_value_or_null` of the outer map until its NULL check
 * (nullable.ts nonNull) and is the kernel's CONST_PTR_TO_MAP | PTR_MAYBE_NULL of the inner map's
 * meta (no name) before it: shown so.
 */
const shown = (r: Reg): Reg => {
  if (r.type !== 'map_value_or_null' || !(r.map as MapWithInner | undefined)?.inner) return r;
  const inner = innerMapMeta(r.map as MapWithInner);
  return { ...r, type: 'map_ptr_or_null' as Reg['type'], ...(inner ? { map: inner } : {}) };
};

// an anonymous struct of the program's BTF travels as `#<id>` (kptr.ts localStructName) and prints without a name
export const regTypeStr = (reg: Reg): string => {
  const r = shown(reg);
  return TYPE_STR[r.type] ?? r.type.replace(/#\d+$/, '');
};
/** The kernel's name of a register's type (reg_type_str). */
export const typeName = regTypeStr;

/** reg_type_str exactly: a BTF pointer without its struct's name (`rcu_ptr_or_null_`), as the kernel's messages print it. */
export const regTypeStrBare = (r: Reg): string => {
  const b = btfPtr(r.type);
  return b ? `${b.flag}ptr_${b.orNull ? 'or_null_' : ''}` : regTypeStr(r);
};

/** A 32-bit signed bound as the kernel stores it for printing: hex ones as their u32 pattern. */
const s32Print = (v: number): bigint => BigInt(v >= -0x8000 && v <= 0x7fff ? v : v >>> 0);

function scalarRanges(r: Reg): string[] {
  const items: { name: string; val: bigint; omit: boolean }[] = [
    { name: 'smin', val: r.smin, omit: r.smin === S64_MIN },
    { name: 'smax', val: r.smax, omit: r.smax === S64_MAX },
    { name: 'umin', val: r.umin, omit: r.umin === 0n },
    { name: 'umax', val: r.umax, omit: r.umax === U64_MAX },
    { name: 'smin32', val: s32Print(r.s32min), omit: r.s32min === S32_MIN_N },
    { name: 'smax32', val: s32Print(r.s32max), omit: r.s32max === S32_MAX_N },
    { name: 'umin32', val: BigInt(r.u32min), omit: r.u32min === 0 },
    { name: 'umax32', val: BigInt(r.u32max), omit: r.u32max === U32_MAX_N },
  ];
  const out: string[] = [];
  for (let k = 0; k < items.length; k++) {
    const m1 = items[k]!;
    if (m1.omit) continue;
    const neg1 = m1.name[0] === 's' && m1.val < 0n;
    let s = `${m1.name}=`;
    for (let j = k + 2; j < items.length; j += 2) {
      const m2 = items[j]!;
      // values compare as the kernel's u64 fields do
      if (m2.omit || BigInt.asUintN(64, m2.val) !== BigInt.asUintN(64, m1.val)) continue;
      const neg2 = m2.name[0] === 's' && m2.val < 0n;
      if (neg2 !== neg1) continue;
      m2.omit = true;
      s += `${m2.name}=`;
    }
    out.push(s + (m1.name[0] === 's' ? snum(m1.val) : unum(m1.val)));
  }
  return out;
}

/** One register as print_reg_state prints it; `frameno` is the frame being printed. */
export function formatReg(reg: Reg, frameno: number, precise = false): string {
  const r = shown(reg);
  if (r.type === 'scalar' && precise) return 'P' + formatReg(r, frameno);
  if (r.type === 'scalar' && tnumIsConst(r.var)) return snum(BigInt.asIntN(64, r.var.value));
  let s = regTypeStr(r);
  // an arena pointer prints its type alone (print_reg_state)
  if (r.type === 'arena') return s;
  if (r.type === 'fp') {
    if ((r.frame ?? frameno) !== frameno) s += `[${r.frame}]`;
    if (tnumIsConst(r.var)) return s + snum(BigInt.asIntN(64, r.var.value + BigInt(r.off)));
  }
  const parts: string[] = [];
  if (r.id) parts.push(`id=${r.id}${r.addConst ? (r.off >= 0 ? `+${r.off}` : `${r.off}`) : ''}`);
  if (r.refObjId) parts.push(`ref_obj_id=${r.refObjId}`);
  if (r.nonOwn) parts.push('non_own_ref');
  if (r.type === 'map_ptr' || (r.type as string) === 'map_ptr_or_null' || r.type === 'map_value' || r.type === 'map_value_or_null' || r.type === 'map_key') {
    // the kernel keeps a map's name in BPF_OBJ_NAME_LEN (16) bytes: 15 characters and a NUL
    if (r.map?.name) parts.push(`map=${r.map.name.slice(0, 15)}`);
    // a ring buffer has neither key nor value in the kernel (ringbuf_map_alloc refuses sizes;
    // loaders create it with 0 and 0 whatever types the object declares for it)
    const noKV = r.map?.type === 'ringbuf' || r.map?.type === 'user_ringbuf';
    parts.push(noKV ? 'ks=0,vs=0' : `ks=${r.map?.keySize ?? 0},vs=${r.map?.valueSize ?? 0}`);
  }
  if (r.type !== 'scalar' && r.off) parts.push(`off=${snum(BigInt(r.off))}`);
  if (r.type === 'pkt' || r.type === 'pkt_meta') parts.push(`r=${(r.range ?? 0) < 0 ? unum(BigInt.asUintN(64, BigInt(r.range ?? 0))) : (r.range ?? 0)}`);
  if (r.memSize !== undefined && MEM_TYPES.has(r.type)) parts.push(`sz=${r.memSize ?? 0}`);
  if (r.buf) parts.push(`buf=fp[${r.buf.frame}]${r.buf.off}+${r.buf.size}`);
  if (r.type === 'dynptr_ptr') parts.push(`type=${r.dynptr?.kind ?? '<invalid>'}`);
  if (tnumIsConst(r.var)) {
    if (r.var.value) parts.push(`imm=${r.var.value.toString(16)}`);
  } else {
    parts.push(...scalarRanges(r));
    if (!tnumIsUnknown(r.var)) parts.push(`var_off=${tnumStr(r.var)}`);
  }
  return `${s}(${parts.join(',')})`;
}

const MEM_TYPES = new Set(['ringbuf_mem', 'ringbuf_mem_or_null', 'mem', 'mem_or_null', 'rdonly_mem', 'rdonly_mem_or_null', 'rdonly_untrusted_mem']);

/** Which registers and stack slots to print (the kernel's scratch marks), or everything. */
export interface Scratch {
  all: boolean;
  regs: number;
  slots: Set<number>;
}

/** Precision marks of a checkpoint's frame, printed as the kernel's `P`. */
export interface PreciseMarks {
  readonly regs: number;
  readonly slots: { has(slot: number): boolean };
}

/** print_verifier_state: ` R0=... fp-8=... refs=...` for the registers and slots selected. */
export function formatState(f: Frame, frameno: number, refs: readonly RefState[], scratch: Scratch, precise?: PreciseMarks): string {
  let s = frameno ? ` frame${frameno}:` : '';
  f.regs.forEach((r, k) => {
    if (r.type === 'not_init') return;
    if (!scratch.all && !(scratch.regs & (1 << k))) return;
    s += ` R${k}=${formatReg(r, frameno, precise !== undefined && (precise.regs & (1 << k)) !== 0)}`;
  });
  // (most lines print no slot: the slots are looked at only when some are selected)
  for (let slot = 0; slot < SLOTS && (scratch.all || scratch.slots.size > 0); slot++) {
    if (!scratch.all && !scratch.slots.has(slot)) continue;
    const base = slot * 8;
    let used = false;
    for (let b = base; b < base + 8 && !used; b++) used = f.slotTypes[b] !== SlotType.Invalid;
    if (!used) continue;
    const types = f.slotTypes.subarray(base, base + 8);
    const at = -(slot + 1) * 8;
    if (types[7] === SlotType.Dynptr) {
      // print_verifier_state skips to the dynptr's first slot, the next one up; the running
      // kernel prints `dynptr_id=1` for every dynptr there (its first-slot flag, as observed)
      slot++;
      const d = f.spilled[slot];
      const ids = d?.dynptr ? [`id=${d.dynptr.id}`, ...(d.refObjId ? [`ref_id=${d.refObjId}`] : []), `dynptr_id=${d.dynptr.first ? 1 : 0}`] : [];
      s += ` fp${-(slot + 1) * 8}=dynptr_${d?.dynptr?.kind ?? '<invalid>'}(${ids.join(',')})`;
      continue;
    }
    if (types[7] === SlotType.Iter) {
      // only an iterator's first slot carries its reference; the others print nothing
      const it = f.spilled[slot];
      if (it?.iter && it.refObjId) s += ` fp${at}=iter_${it.iter.kind}(ref_id=${it.refObjId},state=${it.iter.state},depth=${it.iter.depth})`;
      continue;
    }
    if (types[7] === SlotType.Spill)
      s += ` fp${at}=${Array.from(types.filter((t) => t !== SlotType.Spill), (t) => SLOT_CHAR[t]).join('')}${formatReg(f.spilled[slot]!, frameno, precise?.slots.has(slot) ?? false)}`;
    else s += ` fp${at}=${Array.from(types, (t) => SLOT_CHAR[t]).join('')}`;
  }
  // the kernel prints the list when its first entry has an id (a lock of a global value has none)
  if (refs.length && refs[0]!.id) s += ` refs=${refs.filter((r) => r.id).map((r) => r.id).join(',')}`;
  if (f.callbackRet) s += ' cb';
  if (f.asyncCb) s += ' async_cb';
  return s;
}
