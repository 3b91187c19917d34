/**
 * kernelBtfFor: which programs get the kernel's BTF (parsed once, seconds) — those whose
 * verification reads kernel types. A read through a map pointer is one (the kernel reads the
 * map's kernel struct, check_ptr_to_map_access), so is a netfilter program (its context gives
 * BTF pointers); a map only passed to a helper is not.
 */
import { existsSync } from 'node:fs';
import { assemble, type Program } from '@bpf/isa';
import { describe, expect, it } from 'vitest';
import { kernelBtfFor } from './input.js';

const haveBtf = existsSync('/sys/kernel/btf/vmlinux');
const prog = (type: Program['type'], src: string): Program => ({ ...assemble(src), type }) as Program;
const lookup = ['r1 = 0', '*(u64 *)(r10 -8) = r1', 'r2 = r10', 'r2 += -8', 'r1 = m ll', 'call bpf_map_lookup_elem', 'r0 = 0', 'exit'];

describe('kernelBtfFor', () => {
  it('gives the kernel BTF to a program reading or writing through a map pointer', () => {
    for (const access of ['r0 = *(u64 *)(r1 +0)', '*(u64 *)(r1 +8) = r2', '*(u32 *)(r1 +4) = 1']) {
      const p = prog('socket_filter', ['.map m array 4 48 1', 'r2 = 0', 'r1 = m ll', access, 'r0 = 0', 'exit'].join('\n'));
      expect(kernelBtfFor(p) !== undefined, access).toBe(haveBtf);
    }
  });
  it('not to one that only passes the map to a helper, or overwrites the register first', () => {
    expect(kernelBtfFor(prog('socket_filter', ['.map m array 4 48 1', ...lookup].join('\n')))).toBeUndefined();
    expect(kernelBtfFor(prog('socket_filter', ['.map m array 4 48 1', 'r1 = m ll', 'r1 = r10', 'r0 = *(u64 *)(r1 -8)', 'exit'].join('\n')))).toBeUndefined();
  });
  it('gives it to a netfilter program (its context holds kernel pointers)', () => {
    expect(kernelBtfFor(prog('netfilter', 'r0 = 1\nexit')) !== undefined).toBe(haveBtf);
  });
});
