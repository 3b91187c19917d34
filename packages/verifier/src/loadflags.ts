/**
 * How a program is loaded, beyond its instructions: the `BPF_F_*` bits of `prog_flags` and the
 * `expected_attach_type` (include/uapi/linux/bpf.h), by name and number.
 */
import { ATTACH_TYPES, type AttachType } from '@bpf/isa';

/** `BPF_F_*` bits of BPF_PROG_LOAD's prog_flags, by their name without the prefix, lower-case. */
export const PROG_FLAGS = {
  strict_alignment: 1 << 0,
  any_alignment: 1 << 1,
  test_rnd_hi32: 1 << 2,
  test_state_freq: 1 << 3,
  sleepable: 1 << 4,
  xdp_has_frags: 1 << 5,
  xdp_dev_bound_only: 1 << 6,
  test_reg_invariants: 1 << 7,
  token_fd: 1 << 16,
} as const;

export type ProgFlagName = keyof typeof PROG_FLAGS;

/**
 * prog_flags from a list such as `BPF_F_STRICT_ALIGNMENT|test_state_freq` or a number (`0x9`);
 * throws a RangeError naming an unknown flag.
 */
export function parseProgFlags(text: string): number {
  let flags = 0;
  for (const part of text.split(/[|,\s]+/).filter(Boolean)) {
    if (/^(0x[0-9a-f]+|\d+)$/i.test(part)) {
      flags |= Number(part);
      continue;
    }
    const name = part.toLowerCase().replace(/^bpf_f_/, '');
    const bit = (PROG_FLAGS as Readonly<Record<string, number>>)[name];
    if (bit === undefined) throw new RangeError(`unknown program flag '${part}' (known: ${Object.keys(PROG_FLAGS).map((n) => `BPF_F_${n.toUpperCase()}`).join(', ')})`);
    flags |= bit;
  }
  return flags >>> 0;
}

/** An attach type from its name (`cgroup_inet4_connect`, `BPF_CGROUP_INET4_CONNECT`) or number; undefined for none. */
export function attachTypeOf(v: string | number | undefined): AttachType | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number' || /^\d+$/.test(v)) {
    const t = ATTACH_TYPES[Number(v)];
    if (t === undefined) throw new RangeError(`unknown attach type ${v}`);
    return t;
  }
  const name = v.toLowerCase().replace(/^bpf_/, '');
  if (!(ATTACH_TYPES as readonly string[]).includes(name)) throw new RangeError(`unknown attach type '${v}'`);
  return name as AttachType;
}
