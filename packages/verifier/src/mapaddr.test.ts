import { assemble } from '@bpf/isa';
import { describe, expect, it } from 'vitest';
import { mapAddressesFromLog, verify } from './index.js';

describe('map and kernel-symbol addresses read back from a kernel log', () => {
  it("a map's address, its value's (the printed one less the offset) and a ksym's, each printed where the kernel printed it", () => {
    const base = assemble(['.map m array 4 48 1', 'r6 = m ll', 'r7 = m ll', 'r8 = 0 ll', 'r0 = 0', 'exit'].join('\n'));
    // pc 2: a reference into m's value at offset 16; pc 4: a typeless ksym (BPF_PSEUDO_BTF_ID, imm 0)
    const insns = base.insns.map((i, k) => (k === 2 ? { ...i, src: 2 } : k === 3 ? { ...i, imm: 16 } : k === 4 ? { ...i, src: 3 } : i));
    const relocs = [...(base.relocs ?? []).map((r) => (r.insn === 2 ? { ...r, kind: 'map_value' as const, offset: 16 } : r)), { insn: 4, kind: 'ksym' as const, name: 'bpf_prog_active' }];
    const p = { ...base, insns, relocs };
    const kernelLog = [
      '0: (18) r6 = 0xffff888100000800       ; R6_w=map_ptr(map=m,ks=4,vs=48)',
      '2: (18) r7 = 0xffff888100000940       ; R7_w=map_value(map=m,ks=4,vs=48,off=16)',
      '      4: ......67.. (18) r8 = 0xffffffff81528810',
    ].join('\n');
    const addrs = mapAddressesFromLog(p, kernelLog);
    expect(addrs).toEqual({ m: { map: 0xffff888100000800n, value: 0xffff888100000930n }, bpf_prog_active: { ksym: 0xffffffff81528810n } });
    const log = verify(p, { logLevel: 2, mapAddresses: addrs }).log;
    expect(log).toContain('(18) r6 = 0xffff888100000800 ');
    expect(log).toContain('(18) r7 = 0xffff888100000940 ');
    expect(log).toContain('(18) r8 = 0xffffffff81528810');
    // without them: the encoded immediates, as before
    expect(verify(p, { logLevel: 2 }).log).toContain('(18) r7 = 0x1000000000');
  });
});
