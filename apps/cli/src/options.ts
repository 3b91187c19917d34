/** Options shared by the commands that take a program. */
import type { OptionSpec } from './context.js';
import { PROG_TYPES } from '@bpf/isa';

export const JSON_OPT: Record<string, OptionSpec> = { json: { type: 'boolean', help: 'print a JSON document instead of text' } };

export const INPUT_OPTS: Record<string, OptionSpec> = {
  input: { type: 'string', help: 'force the input kind instead of detecting it', values: ['raw', 'hex', 'asm', 'elf'] },
  section: { type: 'string', help: 'ELF: the program section to use (e.g. xdp, tc, socket)' },
  prog: { type: 'string', help: 'ELF: the program (function symbol) to use' },
  endian: { type: 'string', help: 'byte order of raw/hex input', values: ['little', 'big'] },
};

export const TYPE_OPT: Record<string, OptionSpec> = {
  type: { type: 'string', help: "program type, the kernel's bpf_prog_type without the prefix (default socket_filter)", values: PROG_TYPES.slice(1) },
};

export const MEM_OPTS: Record<string, OptionSpec> = {
  mem: { type: 'string', help: 'hex bytes: r1 points at a copy, r2 holds their length (raw-memory convention)' },
  data: { type: 'string', help: 'hex bytes of packet data for --type programs (skb/xdp)' },
  verify: { type: 'boolean', help: 'verify with @bpf/verifier before running' },
};
