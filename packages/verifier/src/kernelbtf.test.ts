/**
 * needsKernelBtf: which programs get the kernel's BTF (parsed once, seconds) — those whose
 * verification reads kernel types. A read through a map pointer is one (the kernel reads the
 * map's kernel struct, check_ptr_to_map_access), so is a netfilter program (its context gives
 * BTF pointers) and a program with a map-in-map (its lookups give inner map pointers); a map
 * only passed to a helper is not.
 */
import { assemble, type Program } from '@bpf/isa';
import { describe, expect, it } from 'vitest';
import { needsKernelBtf } from './kernelbtf.js';

const prog = (type: Program['type'], src: string): Program => ({ ...assemble(src), type }) as Program;
const lookup = ['r1 = 0', '*(u64 *)(r10 -8) = r1', 'r2 = r10', 'r2 += -8', 'r1 = m ll', 'call bpf_map_lookup_elem', 'r0 = 0', 'exit'];

describe('needsKernelBtf', () => {
  it('is true for a program reading or writing through a map pointer', () => {
    for (const access of ['r0 = *(u64 *)(r1 +0)', '*(u64 *)(r1 +8) = r2', '*(u32 *)(r1 +4) = 1']) {
      const p = prog('socket_filter', ['.map m array 4 48 1', 'r2 = 0', 'r1 = m ll', access, 'r0 = 0', 'exit'].join('\n'));
      expect(needsKernelBtf(p), access).toBe(true);
    }
  });
  it('not for one that only passes the map to a helper, or overwrites the register first', () => {
    expect(needsKernelBtf(prog('socket_filter', ['.map m array 4 48 1', ...lookup].join('\n')))).toBe(false);
    expect(needsKernelBtf(prog('socket_filter', ['.map m array 4 48 1', 'r1 = m ll', 'r1 = r10', 'r0 = *(u64 *)(r1 -8)', 'exit'].join('\n')))).toBe(false);
  });
  it('is true for a read through an inner map pointer (a map-in-map lookup), not for passing it on', () => {
    const inner = ['.map m array_of_maps 4 4 1', 'r1 = 0', '*(u64 *)(r10 -8) = r1', 'r2 = r10', 'r2 += -8', 'r1 = m ll', 'call bpf_map_lookup_elem', 'if r0 == 0 goto out'];
    expect(needsKernelBtf(prog('socket_filter', [...inner, 'r1 = *(u32 *)(r0 +0)', 'out:', 'r0 = 0', 'exit'].join('\n')))).toBe(true);
    expect(needsKernelBtf(prog('socket_filter', [...inner, 'r1 = r0', 'r2 = r10', 'r2 += -8', 'call bpf_map_lookup_elem', 'out:', 'r0 = 0', 'exit'].join('\n')))).toBe(false);
    // the outer map returned by a subprogram, as verifier_map_ptr_mixing.c's lookup_hash_map_in_map has it
    const viaSubprog = ['.map m array_of_maps 4 4 1', 'call outer', 'r1 = r0', 'r2 = r10', 'r2 += -8', 'call bpf_map_lookup_elem', 'if r0 == 0 goto out', '*(u64 *)(r0 +0) = 1', 'out:', 'r0 = 0', 'exit', 'outer:', 'r0 = m ll', 'exit'];
    expect(needsKernelBtf(prog('socket_filter', viaSubprog.join('\n')))).toBe(true);
  });
  it('follows a map pointer through a copy', () => {
    expect(needsKernelBtf(prog('socket_filter', ['.map m array 4 48 1', 'r1 = m ll', 'r3 = r1', 'r0 = *(u64 *)(r3 +0)', 'r0 = 0', 'exit'].join('\n')))).toBe(true);
  });
  it('is true for a netfilter program (its context holds kernel pointers)', () => {
    expect(needsKernelBtf(prog('netfilter', 'r0 = 1\nexit'))).toBe(true);
  });
  it('is true for a helper that returns a kernel BTF pointer, as the program type gets it', () => {
    const p = prog('kprobe', 'call bpf_get_current_task_btf\nr0 = 0\nexit');
    expect(needsKernelBtf(p)).toBe(true);
    expect(needsKernelBtf(prog('kprobe', 'call bpf_get_current_task\nr0 = 0\nexit'))).toBe(false);
  });
  it('follows the type given over the program own', () => {
    expect(needsKernelBtf(prog('socket_filter', 'r0 = 1\nexit'), 'netfilter')).toBe(true);
  });
});
