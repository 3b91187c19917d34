/**
 * What helper and kfunc argument checks share (kernel/bpf/verifier.c check_helper_mem_access,
 * release_reference): memory a call reads or writes, and dropping a released reference.
 */
import { fastcallContract } from './fastcall.js';
import { checkFieldAccess, mapRecord } from './kptr.js';
import { checkMapFieldAccess } from './mapfields.js';
import type { Env } from './env.js';
import { bufferAccess, mapAccessType, memAccess, packetAccess, memRegion, stackBounds, stackFrame } from './mem.js';
import { regTypeStr, regTypeStrBare } from './print.js';
import { setSlotType, setSpilled, SlotType, UNKNOWN, type Reg, type State } from './state.js';
import { tnumIsConst, tnumStr } from './tnum.js';
import { btfPtr } from './nullable.js';
import { kernelStructRead } from './btfmem.js';

export const isNull = (r: Reg): boolean => r.type === 'scalar' && tnumIsConst(r.var) && r.var.value === 0n;

/**
 * Program types whose verifier ops have no convert_ctx_access (kernel/trace/bpf_trace.c,
 * kernel/bpf/syscall.c, bpf_lsm.c, cgroup.c cg_dev, bpf_struct_ops.c, bpf-lirc.c,
 * nf_bpf_link.c): check_helper_mem_access checks memory in their context byte by byte.
 */
const NO_CTX_CONVERSION: ReadonlySet<string> = new Set(['kprobe', 'tracepoint', 'raw_tracepoint', 'raw_tracepoint_writable', 'tracing', 'lsm', 'syscall', 'cgroup_device', 'struct_ops', 'lirc_mode2', 'netfilter']);

/** Register types a helper or kfunc may take at any offset, fixed or variable (check_func_arg_reg_off). */
const ANY_OFF: ReadonlySet<string> = new Set(['fp', 'pkt', 'pkt_meta', 'map_key', 'map_value', 'mem', 'rdonly_mem', 'ringbuf_mem', 'buf', 'rdonly_buf', 'arena', 'scalar']);
/** BTF pointers that may carry a fixed offset: plain, trusted, RCU, allocated (and their non-owning references). */
const BTF_FIXED_OFF: ReadonlySet<string> = new Set(['', 'trusted_', 'rcu_']);

/**
 * check_func_arg_reg_off: a pointer argument in the form it may be passed in — any offset for
 * memory-like pointers, a fixed one for BTF pointers, none for the rest (ctx, sockets, ...);
 * a released one at offset 0.
 */
export function funcArgRegOff(env: Env, pc: number, regno: number, r: Reg, release: boolean): void {
  if (release) {
    if (r.off) env.reject(pc, `R${regno} must have zero offset when passed to release func or trusted arg to kfunc`);
  } else if (ANY_OFF.has(r.type)) return;
  const b = btfPtr(r.type);
  const name = regTypeStrBare(r);
  if (r.off < 0) env.reject(pc, `negative offset ${name} ptr R${regno} off=${r.off} disallowed`);
  const fixedOk = !release && b !== undefined && !b.orNull && BTF_FIXED_OFF.has(b.flag);
  if (r.off && !fixedOk) env.reject(pc, `dereference of modified ${name} ptr R${regno} off=${r.off} disallowed`);
  if (!tnumIsConst(r.var) || r.var.value) env.reject(pc, `variable ${name} access var_off=${tnumStr(r.var)} disallowed`);
}

/** check_helper_mem_access for a helper argument of `size` bytes. */
export function helperMem(env: Env, st: State, pc: number, regno: number, r: Reg, size: number, write: boolean, zeroOk: boolean, scratch = true, raw = false): void {
  switch (r.type) {
    case 'pkt':
    case 'pkt_meta':
      return packetAccess(env, pc, r, regno, r.off, size, zeroOk);
    case 'map_key':
      // a callback's key (bpf_for_each_map_elem) is read-only memory of the map's key size
      if (write) env.reject(pc, `R${regno} cannot write into ${regTypeStr(r)}`);
      return memRegion(env, pc, r, regno, r.off, size, r.map!.keySize, false);
    case 'map_value':
      mapAccessType(env, pc, r, r.off, size, write);
      memRegion(env, pc, r, regno, r.off, size, r.map!.valueSize, zeroOk);
      checkMapFieldAccess(env, pc, r, r.off, size);
      // kptrs are not in that record: no helper reads or writes them (check_map_access, ACCESS_HELPER)
      checkFieldAccess(env, pc, mapRecord(env, r.map!), r, r.off, size, true);
      return;
    case 'ringbuf_mem':
    case 'rdonly_mem':
    case 'mem':
      return memRegion(env, pc, r, regno, r.off, size, r.memSize ?? 0, zeroOk);
    case 'rdonly_buf':
      // the argument's type check has refused a write into it already (check_reg_type, MEM_RDONLY)
      return bufferAccess(env, pc, r, regno, r.off, size, 'rdonly');
    case 'buf':
      return bufferAccess(env, pc, r, regno, r.off, size, 'rdwr');
    case 'fp': {
      if (size === 0 && !zeroOk) env.reject(pc, 'invalid zero-sized read');
      const [lo, hi] = stackBounds(env, pc, r, regno, r.off, size, write ? ' write to' : ' read from');
      const f = stackFrame(env, st, r, lo);
      // check_helper_call marks raw-mode memory written byte by byte with check_mem_access, which
      // checks the bpf_fastcall contract (check_stack_range_initialized does not)
      if (raw && env.fastcall) fastcallContract(env.fastcall, f.subprog, pc, lo);
      // check_stack_range_initialized: an iterator's or dynptr's bytes are not memory to pass;
      // memory the helper only writes (raw mode) may cover an iterator, which the write then
      // destroys, but never a dynptr
      if (tnumIsConst(r.var))
        for (let at = lo; at < hi; at++) {
          const t = f.slotTypes[-at - 1];
          if (raw) {
            if (t === SlotType.Dynptr) env.reject(pc, `potential write to dynptr at off=${at} disallowed`);
          } else if (t === SlotType.Iter || t === SlotType.Dynptr) env.reject(pc, `invalid read from stack R${regno} off ${lo}+${at - lo} size ${size}`);
        }
      // check_stack_range_initialized marks every slot of the range read, unless the helper only
      // writes it (raw mode, MEM_UNINIT at a constant offset)
      if (hi > lo && !(raw && tnumIsConst(r.var))) env.stackLive?.read(r.frame ?? st.frames.length - 1, (-(hi - 1) - 1) >> 3, (-lo - 1) >> 3);
      // privileged programs may pass uninitialised stack; what a helper writes becomes STACK_MISC
      if (write && tnumIsConst(r.var))
        for (let at = lo; at < hi; at++) {
          const b = -at - 1;
          const slot = b >> 3;
          if (scratch) env.scratchSlot(slot);
          // a spilled register or an iterator is gone as a whole (scrub_special_slot): raw mode
          // writes each byte as a store does (check_stack_write_fixed_off), which scrubs the slot
          // whatever byte it writes; check_stack_range_initialized's clobber scrubs a spill only
          // for a byte of the spill itself, so a byte already STACK_MISC beside a narrow spill
          // (`*(u8 *)(r10 -72) = r7` over a wider one) leaves that spill as it was
          const t7 = f.slotTypes[slot * 8 + 7];
          if (raw ? t7 === SlotType.Spill || t7 === SlotType.Iter : f.slotTypes[b] === SlotType.Spill) {
            for (let j = 0; j < 8; j++) if (f.slotTypes[slot * 8 + j] !== SlotType.Invalid) setSlotType(f, slot * 8 + j, SlotType.Misc);
            setSpilled(f, slot, undefined);
          }
          setSlotType(f, b, SlotType.Misc);
        }
      return;
    }
    default:
      // a program type whose context the kernel does not rewrite (no convert_ctx_access):
      // its last byte is checked as a 1-byte context access (a 0-byte one may pass)
      if (r.type === 'ctx' && NO_CTX_CONVERSION.has(env.type) && (size > 0 || zeroOk)) {
        if (size > 0) memAccess(env, st, st.frames[st.frames.length - 1]!, pc, regno, r, size - 1, 1, { write, intoReg: false });
        return;
      }
      if (zeroOk && size === 0 && isNull(r)) return;
      // check_helper_mem_access: a kernel struct's bytes, read as check_ptr_to_btf_access reads them
      if (btfPtr(r.type) && kernelStructRead(env, st, pc, r, regno, r.off, size, false) !== undefined) return;
      env.reject(pc, `R${regno} type=${regTypeStr(r)} expected=fp`);
  }
}

/** Every register and spill holding reference `id` becomes unknown (release_reference). */
export function releaseReference(st: State, id: number): void {
  st.refs = st.refs.filter((x) => x.id !== id);
  for (const fr of st.frames) {
    fr.regs.forEach((r, k) => {
      if (r.refObjId === id) fr.regs[k] = UNKNOWN;
    });
    fr.spilled.forEach((r, k) => {
      if (r?.refObjId === id) setSpilled(fr, k, UNKNOWN);
    });
  }
}

