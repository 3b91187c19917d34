import { describe, expect, it } from 'vitest';
import { continuesMessage } from './kernellog.js';

describe('continuesMessage', () => {
  it('knows the lines that follow a multi-line message, and nothing else', () => {
    // as the kernel prints them (kernel/bpf/verifier.c: is_state_visited, check_kfunc_call's nomerge advice)
    expect(continuesMessage('cur state: R1=ctx() R10=fp0')).toBe(true);
    expect(continuesMessage('old state: R1=ctx() R10=fp0')).toBe(true);
    expect(continuesMessage('use one call for each type: bpf_obj_drop_impl')).toBe(true);
    expect(continuesMessage('or mark the callee with __attribute__((nomerge))')).toBe(true);
    expect(continuesMessage('infinite loop detected at insn 3')).toBe(false);
    expect(continuesMessage('R1 invalid mem access \'scalar\'')).toBe(false);
    expect(continuesMessage('  cur state: indented is not the kernel\'s form')).toBe(false);
  });
});
