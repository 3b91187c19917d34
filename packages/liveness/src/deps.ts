// Re-exports of @bpf/isa used here, in one place.
export { decodeOp, stackArgAccess } from '@bpf/isa';
export type { Insn, Program, ProgType } from '@bpf/isa';
