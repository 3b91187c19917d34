/**
 * Which programs need the kernel's BTF to be verified as the kernel verifies them: the one
 * decision the `bpf` command, the recorders and the measuring scripts share (parsing the
 * kernel's BTF takes seconds, so a caller hands it only to the programs that read kernel types).
 * Pure: the caller reads the BTF (from /sys/kernel/btf/vmlinux or wherever it has it).
 */
import type { Program, ProgType } from '@bpf/isa';
import { helperReturnsBtf } from './helpers.js';

/** Map types whose lookups return another map's pointer (the inner map, a CONST_PTR_TO_MAP). */
const MAP_IN_MAP = new Set(['array_of_maps', 'hash_of_maps']);
const BPF_FUNC_map_lookup_elem = 1;

/**
 * Whether the program reads or writes through a map pointer (`r1 = map ll` then `*(u64 *)(r1 +0)`):
 * the kernel reads it as its map's kernel struct (check_ptr_to_map_access). Followed in
 * straight-line order, a register holding a map until something else is written to it; copies
 * (`r2 = r1`) hold it too. An inner map's pointer counts: what bpf_map_lookup_elem returns for a
 * map-in-map (with a subprogram's returned `r0` taken as a map-in-map when some subprogram
 * returns one, `r0 = outer ll; exit`).
 */
function accessesMapPointer(program: Program): boolean {
  const insns = program.insns;
  // a linked program's map loads are its relocations (their src is set at load time)
  const mapAt = new Map((program.relocs ?? []).filter((r) => r.kind === 'map').map((r) => [r.insn, r.name]));
  const isOuter = (pc: number): boolean => {
    const name = mapAt.get(pc);
    const m = name === undefined ? undefined : program.maps?.find((d) => d.name === name);
    return m !== undefined && MAP_IN_MAP.has(m.type);
  };
  const returnsOuter = insns.some((x, pc) => x.code === 0x18 && x.dst === 0 && isOuter(pc) && insns[pc + 2]?.code === 0x95);
  // a lookup's result is followed only within its block: at a jump target r0 may be anything
  const targets = new Set<number>();
  insns.forEach((x, pc) => {
    const cls = x.code & 7;
    if ((cls === 5 || cls === 6) && x.code !== 0x85 && x.code !== 0x95) targets.add(pc + 1 + (x.code === 0x06 ? x.imm : x.off));
  });
  const maps = new Set<number>();
  const inner = new Set<number>();
  const outer = new Set<number>();
  const drop = (r: number): void => {
    maps.delete(r);
    inner.delete(r);
    outer.delete(r);
  };
  for (let pc = 0; pc < insns.length; pc++) {
    const x = insns[pc]!;
    const cls = x.code & 7;
    if (targets.has(pc)) inner.clear();
    if (x.code === 0x18) {
      drop(x.dst);
      if (x.src === 1 || mapAt.has(pc)) {
        maps.add(x.dst);
        if (isOuter(pc)) outer.add(x.dst);
      }
      pc++;
      continue;
    }
    const isMap = (r: number): boolean => maps.has(r) || inner.has(r);
    // a load through it (LDX), a store through it (ST, STX)
    if ((cls === 1 && isMap(x.src)) || ((cls === 2 || cls === 3) && isMap(x.dst))) return true;
    if (x.code === 0xbf && x.src !== x.dst) {
      // a copy: the map (and whether it is a map-in-map) goes with it
      const [m, i, o] = [maps.has(x.src), inner.has(x.src), outer.has(x.src)];
      drop(x.dst);
      if (m) maps.add(x.dst);
      if (i) inner.add(x.dst);
      if (o) outer.add(x.dst);
      continue;
    }
    if (cls === 1 || cls === 4 || cls === 7) drop(x.dst);
    if (cls === 5 && (x.code & 0xf0) === 0x80) {
      const lookupInner = x.src === 0 && x.imm === BPF_FUNC_map_lookup_elem && outer.has(1);
      for (let r = 0; r <= 5; r++) drop(r);
      if (lookupInner) inner.add(0);
      if (x.src === 1 && returnsOuter) {
        maps.add(0);
        outer.add(0);
      }
    }
  }
  return false;
}

/**
 * Whether verifying `program` as a program of `type` (its own type when not given) reads the
 * kernel's BTF: kfunc and typed-ksym calls (unless the program declares its kfuncs' prototypes
 * itself), the hook a struct_ops or LSM program implements, a tracing program's typed
 * arguments, a netfilter program's context pointers, a helper returning a kernel BTF pointer
 * (bpf_get_current_task_btf, bpf_skc_to_*, ...), and a read or write through a map pointer, an
 * inner map's included (check_ptr_to_map_access reads `struct bpf_array` and its kin by name).
 */
export function needsKernelBtf(program: Program, type?: ProgType, attachType?: string): boolean {
  if (program.protos?.some((p) => p.kind === 'kfunc') === true) return false;
  const t = type ?? program.type ?? 'socket_filter';
  return (
    program.relocs?.some((r) => r.kind === 'kfunc' || r.kind === 'ksym') === true ||
    t === 'struct_ops' ||
    t === 'lsm' ||
    (t === 'tracing' && 'attachBtfId' in program) ||
    t === 'netfilter' ||
    program.insns.some((x) => x.code === 0x85 && x.src === 0 && helperReturnsBtf(x.imm, t, attachType)) ||
    accessesMapPointer(program)
  );
}
