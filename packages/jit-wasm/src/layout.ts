/**
 * Where things live in the WebAssembly linear memory every compiled program shares, and how a
 * BPF pointer maps onto it.
 *
 * A BPF pointer is a u64 as in @bpf/vm: a region id in bits 32..47 and, in the low 32 bits, the
 * linear address of the byte plus `BIAS` (2^31). The bias keeps arithmetic that runs below a
 * region (r10 - 520) inside the same id, where the check reports it as out of bounds, and makes
 * the linear address one `xor` away. Region ids index the region table at linear address 0:
 * 16 bytes per region, { start, readable length, writable length } — -1 as a length sends every
 * access of that kind to the host (read-only regions, a context whose fields the host answers).
 */
export const BIAS = 0x8000_0000;
export const TABLE = 0;
export const ENTRY = 16;
export const MAX_REGIONS = 0x10000;
/** The eight frame stacks (ids 1..8), 512 bytes each, right after the table. */
export const STACKS = TABLE + ENTRY * MAX_REGIONS;
export const STACK = 512;
export const MAX_FRAMES = 8;
/** Regions the host maps (memory, context, packet, map values) start here. */
export const HEAP = STACKS + STACK * MAX_FRAMES;
export const PAGE = 0x10000;
/** Pages the memory starts with: the table, the stacks and a first megabyte of heap. */
export const INITIAL_PAGES = Math.ceil((HEAP + 0x10_0000) / PAGE);

/** `ld_imm64` with src 4 (a function reference) yields this tag with the target's instruction index, as @bpf/vm. */
export const FUNC_TAG = 0x4000_0000_0000_0000n;

/** Errors the compiled code raises through the `fault` import, in the order of their codes. */
export const FAULTS = ['BUDGET', 'CALL_DEPTH', 'STACK_ARG_UNINIT', 'KFUNC_STACK_ARG_UNINIT', 'FELL_OFF', 'INVALID_INSN', 'CALLBACK', 'MAP_REF'] as const;
export type Fault = (typeof FAULTS)[number];
export const faultCode = (f: Fault): number => FAULTS.indexOf(f);
