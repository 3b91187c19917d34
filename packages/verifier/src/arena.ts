/**
 * BPF arenas (kernel/bpf/arena.c; PTR_TO_ARENA in kernel/bpf/verifier.c, Linux 6.18).
 *
 * An arena is a map of pages shared with user space; a program sees its addresses in two forms.
 * In address space 1 (`__arena` in C) a value is the user-space address and, to the verifier,
 * a plain scalar: an `ld_imm64` of an `.addr_space.1` global (BPF_PSEUDO_MAP_VALUE of the arena
 * map) and the pointer bpf_arena_alloc_pages returns (`void *`, a scalar) are both unknown
 * scalars. `addr_space_cast` with imm 1 (as(1) to as(0)) makes such a value a PTR_TO_ARENA: an
 * address the program may load from and store to with no bounds to check (the JIT turns each
 * access into a faulting-safe probe access, BPF_PROBE_MEM32); imm 1<<16 (as(0) to as(1)) makes it
 * an unknown scalar again. Any arithmetic on an arena pointer keeps it one, unchanged (a 64-bit
 * operation is narrowed to 32 bits in the xlated program: the arena is 4 GiB); a scalar plus an
 * arena pointer is refused like any pointer arithmetic the kernel does not know.
 *
 * What the kernel refuses: an addr_space_cast in a program with no arena map, between address
 * spaces other than 1 and 0; AND, OR and XOR with BPF_FETCH on arena memory (the x86-64 JIT's
 * bpf_jit_supports_insn); an arena pointer where a helper or kfunc wants a typed pointer (it is
 * neither a map nor memory of known size). A global function's `__arg_arena` argument takes an
 * arena pointer or a scalar.
 *
 * This machine's kernel refuses to create arena maps and to call the arena kfuncs (EPERM), so
 * the tests compare these rules with the kernel selftests' own annotated expectations.
 */
import type { Insn } from '@bpf/isa';
import type { Env } from './env.js';
import { copyReg, UNKNOWN, type Frame, type Reg } from './state.js';

/** mark_reg_unknown, then PTR_TO_ARENA: an arena pointer knows nothing of its value. */
export const ARENA: Reg = arenaReg();

function arenaReg(): Reg {
  // a copy of UNKNOWN's shape (state.ts copyReg), not a spread's map of its own
  const o = copyReg(UNKNOWN);
  o.type = 'arena';
  return o;
}

/** BPF_ADDR_SPACE_CAST's imm: from address space 1 to 0 (a pointer the program may dereference). */
export const CAST_KERN = 1;
/** ... and from address space 0 to 1 (the user-space address, a scalar). */
export const CAST_USER = 1 << 16;

/** Whether a program has an arena (the kernel's prog->aux->arena, set for the arena map it uses). */
export const hasArena = (env: Pick<Env, 'maps'>): boolean => env.maps.some((m) => m.type === 'arena');

/**
 * `rD = addr_space_cast(rS, 0, 1)` and `(..., 1, 0)` (check_alu_op's BPF_MOV with off
 * BPF_ADDR_SPACE_CAST): the address spaces, then the program's arena, then the operands.
 */
export function addrSpaceCast(env: Env, f: Frame, i: Insn, pc: number): void {
  if (i.imm !== CAST_KERN && i.imm !== CAST_USER) env.reject(pc, 'addr_space_cast insn can only convert between address space 1 and 0');
  if (!hasArena(env)) env.reject(pc, 'addr_space_cast insn can only be used in a program that has an associated arena');
  env.readReg(f, i.src, pc);
  env.writeReg(f, i.dst, pc);
  f.regs[i.dst] = i.imm === CAST_KERN ? ARENA : UNKNOWN;
}

/**
 * atomic_ptr_type_ok for arena memory: bpf_jit_supports_insn(insn, true) of the x86-64 JIT
 * refuses the fetching AND, OR and XOR (it has no single instruction for them that can fault
 * safely); every other atomic operation is allowed.
 */
export function arenaAtomicOk(op: string, fetch: boolean): boolean {
  return !(fetch && (op === 'and' || op === 'or' || op === 'xor'));
}
