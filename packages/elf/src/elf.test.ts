import type { Insn } from '@bpf/isa';
import { insn } from '@bpf/isa';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ElfError, findCiliumSecDef, findSecDef, loadPrograms, parseElf, parseElfFile, placeExtInfo, R_BPF } from './index.js';
import type { WObject } from './elfwriter.test.helper.js';
import { code, cstr, writeElf } from './elfwriter.test.helper.js';

const X = 0x6; // SHF_ALLOC | SHF_EXECINSTR
const exit = insn(0x95, 0, 0, 0, 0);
const mov = (dst: number, imm: number): Insn => insn(0xb7, dst, 0, 0, imm);
const call = (imm: number): Insn => insn(0x85, 0, 1, 0, imm);
const ld64 = (dst: number, imm = 0): Insn[] => [insn(0x18, dst, 0, 0, imm), insn(0, 0, 0, 0, 0)];

/** xdp prog calling two .text subprogs, one via a section-symbol relocation, plus a map and data. */
function sample(endian: 'little' | 'big' = 'little'): WObject {
  const text = [mov(0, 1), exit, /* f2 */ call(-3), exit, /* unused */ mov(0, 9), exit];
  const prog = [...ld64(1), ...ld64(2, 4), call(-1), call(-1), exit];
  return {
    endian,
    sections: [
      { name: '.text', flags: X, data: code(text, endian) },
      { name: 'xdp', flags: X, data: code(prog, endian) },
      { name: 'maps', flags: 3, data: new Uint8Array(20).fill(0).map((_, k) => (k === (endian === 'little' ? 0 : 3) ? 2 : k === (endian === 'little' ? 4 : 7) ? 4 : k === (endian === 'little' ? 8 : 11) ? 8 : k === (endian === 'little' ? 12 : 15) ? 1 : 0)) },
      { name: '.data', flags: 3, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) },
      { name: 'license', flags: 3, data: cstr('GPL') },
    ],
    symbols: [
      { name: '.text', section: '.text', type: 3 },
      { name: '.data', section: '.data', type: 3 },
      { name: 'f1', section: '.text', value: 0, size: 16, type: 2 },
      { name: 'f2', section: '.text', value: 16, size: 16, type: 2, bind: 1 },
      { name: 'unused', section: '.text', value: 32, size: 16, type: 2, bind: 1 },
      { name: 'prog', section: 'xdp', value: 0, size: prog.length * 8, type: 2, bind: 1 },
      { name: 'm', section: 'maps', value: 0, size: 20, type: 1, bind: 1 },
    ],
    relocs: [
      { section: 'xdp', offset: 0, type: R_BPF['64_64'], symbol: 'm' },
      { section: 'xdp', offset: 16, type: R_BPF['64_64'], symbol: '.data' },
      { section: 'xdp', offset: 32, type: R_BPF['64_32'], symbol: 'f2' },
      { section: 'xdp', offset: 40, type: R_BPF['64_32'], symbol: '.text' },
    ],
  };
}

describe('parseElf on written objects', () => {
  it.each(['little', 'big'] as const)('links a %s-endian object as libbpf does', (endian) => {
    const [p] = loadPrograms(writeElf(sample(endian)));
    expect(p!.name).toBe('prog');
    expect(p!.type).toBe('xdp');
    expect(p!.license).toBe('GPL');
    // prog (7 slots), then f2 (first call), then f1 (called by f2); 'unused' is not appended.
    expect(p!.subprogs.map((s) => [s.name, s.start, s.end])).toEqual([['prog', 0, 7], ['f2', 7, 9], ['f1', 9, 11]]);
    expect(p!.insns[4]).toMatchObject({ code: 0x85, src: 1, imm: 7 - 5 });
    expect(p!.insns[5]).toMatchObject({ code: 0x85, src: 1, imm: 9 - 6 });
    expect(p!.insns[7]).toMatchObject({ code: 0x85, src: 1, imm: 9 - 8 });
    expect(p!.insns[0]).toMatchObject({ code: 0x18, src: 5, imm: 0 });
    expect(p!.insns[2]).toMatchObject({ code: 0x18, src: 6, imm: 1 });
    expect(p!.insns[3]!.imm).toBe(4);
    expect(p!.relocs).toEqual([
      { insn: 0, kind: 'map', name: 'm' },
      { insn: 2, kind: 'map_value', name: '.data', offset: 4 },
    ]);
    expect(p!.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries])).toEqual([['m', 'array', 4, 8, 1], ['.data', 'array', 4, 8, 1]]);
  });

  it('names symbols, sections and relocation types', () => {
    const obj = parseElf(writeElf(sample()));
    expect(obj.sections.map((s) => s.name)).toEqual(['', '.text', 'xdp', 'maps', '.data', 'license', '.relxdp', '.strtab', '.symtab']);
    expect(obj.symbols.find((s) => s.name === 'f2')).toMatchObject({ bind: 'global', type: 'func', value: 16, size: 16 });
    expect(obj.relocations.map((r) => r.typeName)).toEqual(['R_BPF_64_64', 'R_BPF_64_64', 'R_BPF_64_32', 'R_BPF_64_32']);
    expect(obj.subprograms.map((f) => f.name)).toEqual(['f1', 'f2', 'unused']);
  });

  const bad: [string, (o: WObject) => WObject, string][] = [
    ['call into a program section', (o) => ({ ...o, relocs: o.relocs!.map((r) => (r.symbol === 'f2' ? { ...r, symbol: 'prog' } : r)) }), 'BAD_RELOC'],
    ['relocation on a mov', (o) => ({ ...o, relocs: [{ section: 'xdp', offset: 48, type: 1, symbol: 'm' }] }), 'BAD_RELOC'],
    ['misaligned relocation', (o) => ({ ...o, relocs: [{ section: 'xdp', offset: 3, type: 1, symbol: 'm' }] }), 'BAD_RELOC'],
    ['function past its section', (o) => ({ ...o, symbols: o.symbols!.map((s) => (s.name === 'unused' ? { ...s, size: 64 } : s)) }), 'BAD_PROGRAM'],
    ['short maps section', (o) => ({ ...o, sections: o.sections.map((s) => (s.name === 'maps' ? { ...s, data: new Uint8Array(12) } : s)) }), 'BAD_MAP'],
  ];
  it.each(bad)('%s gives a typed error', (_, edit, code) => {
    const bytes = writeElf(edit(sample()));
    let err: unknown;
    try {
      loadPrograms(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ElfError);
    expect((err as ElfError).code).toBe(code);
    expect((err as ElfError).message).toMatch(/section|byte/);
  });

  it('reports header problems with their byte offset', () => {
    const b = writeElf(sample());
    const shoff = Number(new DataView(b.buffer).getBigUint64(40, true));
    const cases: [Uint8Array, string, number][] = [
      [Uint8Array.of(1, 2, 3), 'BAD_MAGIC', 0],
      [Uint8Array.from([...b.subarray(0, 4), 1, ...b.subarray(5)]), 'UNSUPPORTED', 4],
      [Uint8Array.from([...b.subarray(0, 18), 62, 0, ...b.subarray(20)]), 'UNSUPPORTED', 18],
      [b.subarray(0, 40), 'TRUNCATED', 40],
      [b.subarray(0, b.length - 10), 'TRUNCATED', shoff],
    ];
    for (const [bytes, code, off] of cases) {
      try {
        parseElfFile(bytes);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(ElfError);
        expect([(e as ElfError).code, (e as ElfError).byteOffset]).toEqual([code, off]);
      }
    }
  });
});

describe('libbpf section conventions', () => {
  it.each([
    ['xdp', 'xdp', 'xdp'],
    ['xdp.frags', 'xdp', 'xdp'],
    ['socket', 'socket_filter', undefined],
    ['tc', 'sched_cls', undefined],
    ['classifier', 'sched_cls', undefined],
    ['tc/ingress', 'sched_cls', 'tcx_ingress'],
    ['kprobe/do_sys_open', 'kprobe', undefined],
    ['kretprobe/do_sys_open', 'kprobe', undefined],
    ['tracepoint/syscalls/sys_enter_openat', 'tracepoint', undefined],
    ['raw_tracepoint/sys_enter', 'raw_tracepoint', undefined],
    ['fentry/do_unlinkat', 'tracing', 'trace_fentry'],
    ['fexit/do_unlinkat', 'tracing', 'trace_fexit'],
    ['lsm/file_open', 'lsm', 'lsm_mac'],
    ['lsm.s/file_open', 'lsm', 'lsm_mac'],
    ['cgroup_skb/ingress', 'cgroup_skb', 'cgroup_inet_ingress'],
    ['cgroup/connect4', 'cgroup_sock_addr', 'cgroup_inet4_connect'],
    ['struct_ops/init', 'struct_ops', undefined],
    ['sk_skb/stream_parser', 'sk_skb', 'sk_skb_stream_parser'],
  ])('%s -> %s / %s', (name, type, attach) => {
    const d = findSecDef(name);
    expect(d?.progType).toBe(type);
    expect(d?.attachType).toBe(attach);
  });
  it('needs the exact name or a "/" after a "+" prefix, else a libbpf 0.x prefix', () => {
    expect(findSecDef('xdpfoo')).toMatchObject({ progType: 'xdp', pattern: 'xdp*', legacy: true });
    expect(findSecDef('socket/3')).toMatchObject({ progType: 'socket_filter', legacy: true });
    expect(findSecDef('classifier_egress')).toMatchObject({ progType: 'sched_cls', legacy: true });
    expect(findSecDef('cgroup/sock1')).toMatchObject({ progType: 'cgroup_sock', attachType: 'cgroup_inet_sock_create' });
    expect(findSecDef('kprobes/x')).toBeUndefined();
    expect(findSecDef('2/1')).toBeUndefined();
    expect(findSecDef('from-container')).toBeUndefined();
    expect(findSecDef('kprobe')?.progType).toBe('kprobe');
    expect(findSecDef('lsm.s/x')?.sleepable).toBe(true);
    expect(findSecDef('xdp.frags')?.xdpFrags).toBe(true);
    expect(findSecDef('?tc')?.progType).toBe('sched_cls');
  });
  it("cilium/ebpf's rule for names libbpf does not know: a plain pattern is a prefix, `+` wants the name before any `/`", () => {
    expect(findSecDef('tc_ingress')).toBeUndefined();
    expect(findCiliumSecDef('tc_ingress')).toMatchObject({ pattern: 'tc', progType: 'sched_cls' });
    expect(findCiliumSecDef('?tc_egress')?.progType).toBe('sched_cls');
    expect(findCiliumSecDef('sk_msg_x')).toMatchObject({ progType: 'sk_msg', attachType: 'sk_msg_verdict' });
    expect(findCiliumSecDef('kprobe/x/y')?.progType).toBe('kprobe');
    expect(findCiliumSecDef('kprobes/x')).toBeUndefined();
    expect(findCiliumSecDef('from-container')).toBeUndefined();
  });
  it('a section only cilium/ebpf types gets its type when linked by its rules, and none by libbpf\'s', () => {
    const o = sample();
    const renamed = (name: string): WObject => ({
      ...o,
      sections: o.sections.map((x) => (x.name === 'xdp' ? { ...x, name } : x)),
      symbols: o.symbols!.map((x) => (x.section === 'xdp' ? { ...x, section: name } : x)),
      relocs: o.relocs!.map((x) => (x.section === 'xdp' ? { ...x, section: name } : x)),
    });
    const bytes = writeElf(renamed('tc_ingress'));
    expect(loadPrograms(bytes, { linker: 'cilium/ebpf' })[0]).toMatchObject({ section: 'tc_ingress', type: 'sched_cls' });
    expect(loadPrograms(bytes)[0]!.type).toBeUndefined();
    // a name libbpf knows keeps libbpf's row under either linker
    expect(loadPrograms(writeElf(renamed('xdp')), { linker: 'cilium/ebpf' })[0]).toMatchObject({ type: 'xdp', expectedAttachType: 'xdp' });
  });
});

describe('fuzz: malformed objects give ElfError and nothing else', () => {
  const seeds = [writeElf(sample('little')), writeElf(sample('big'))];
  const onlyElfErrors = (bytes: Uint8Array): void => {
    try {
      loadPrograms(bytes);
    } catch (e) {
      if (!(e instanceof ElfError)) throw e;
    }
  };
  it('random byte edits of valid objects', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        (seed, edits) => {
          const b = seed.slice();
          for (const [at, v] of edits) b[at % b.length] = v;
          onlyElfErrors(b);
        },
      ),
      { numRuns: 3000 },
    );
  });
  it('edits of header and section-header fields with extreme values', () => {
    const seed = seeds[0]!;
    const shoff = Number(new DataView(seed.buffer).getBigUint64(40, true));
    const fields = [16, 18, 40, 58, 60, 62, ...Array.from({ length: 10 }, (_, k) => [4, 24, 32, 40, 44, 56].map((f) => shoff + k * 64 + f)).flat()];
    fc.assert(
      fc.property(
        fc.constantFrom(...fields),
        fc.constantFrom(0, 1, 7, 0xff, 0xffff, 0x7fffffff, 0xffffffff),
        fc.boolean(),
        (at, v, wide) => {
          const b = seed.slice();
          const view = new DataView(b.buffer);
          if (at + (wide ? 8 : 4) <= b.length) {
            if (wide) view.setBigUint64(at, BigInt(v) * 0x100000001n, true);
            else view.setUint32(at, v, true);
          }
          onlyElfErrors(b);
        },
      ),
      { numRuns: 2000 },
    );
  });
  it('truncations and arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.nat(), (seed, n) => onlyElfErrors(seed.subarray(0, n % seed.length))),
      { numRuns: 500 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (b) => onlyElfErrors(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, ...b]))), { numRuns: 1000 });
  });
});

describe('placeExtInfo', () => {
  it('moves per-section records to the linked layout and drops unplaced ones', () => {
    const obj = parseElf(writeElf(sample()));
    const [p] = loadPrograms(writeElf(sample()));
    const line = (insnOff: number, ln: number) => ({ insnOff, fileNameOff: 1, lineOff: 2, line: ln, column: 3 });
    const placed = placeExtInfo(p!, obj.sections, {
      funcInfo: new Map([
        ['.text', [{ insnOff: 0, typeId: 11 }, { insnOff: 16, typeId: 12 }, { insnOff: 32, typeId: 13 }]],
        ['xdp', [{ insnOff: 0, typeId: 10 }]],
      ]),
      lineInfo: new Map([
        ['.text', [line(0, 100), line(8, 101), line(16, 200), line(40, 300)]],
        ['xdp', [line(0, 1), line(32, 2)]],
      ]),
    });
    // prog at 0, f2 at 7, f1 at 9; 'unused' (.text byte 32) is not in the program.
    expect(placed.funcInfo).toEqual([{ insnOff: 0, typeId: 10 }, { insnOff: 7, typeId: 12 }, { insnOff: 9, typeId: 11 }]);
    expect(placed.lineInfo.map((l) => [l.insnOff, l.line])).toEqual([[0, 1], [4, 2], [7, 200], [9, 100], [10, 101]]);
  });
  it('drops func_info when a subprogram has none', () => {
    const obj = parseElf(writeElf(sample()));
    const [p] = loadPrograms(writeElf(sample()));
    const placed = placeExtInfo(p!, obj.sections, { funcInfo: new Map([['xdp', [{ insnOff: 0, typeId: 10 }]]]), lineInfo: new Map() });
    expect(placed.funcInfo).toBeUndefined();
  });
});

describe('scale', () => {
  it('links a 20000-deep call chain without recursion (a recursive walk would overflow the stack)', () => {
    // .text: f_k: call f_{k+1} (intra-section, no relocation); exit. The last just exits.
    const chain = (n: number): Uint8Array => {
      const text: Insn[] = [];
      for (let k = 0; k < n; k++) text.push(k + 1 < n ? call(1) : mov(0, 0), exit);
      const obj: WObject = {
        sections: [
          { name: '.text', flags: X, data: code(text) },
          { name: 'xdp', flags: X, data: code([call(-1), exit]) },
        ],
        symbols: [
          ...Array.from({ length: n }, (_, k) => ({ name: `f${k}`, section: '.text', value: k * 16, size: 16, type: 2 as const })),
          { name: 'prog', section: 'xdp', value: 0, size: 16, type: 2, bind: 1 },
        ],
        relocs: [{ section: 'xdp', offset: 0, type: R_BPF['64_32'], symbol: 'f0' }],
      };
      return writeElf(obj);
    };
    const n = 20000;
    const bytes = chain(n);
    const [p] = loadPrograms(bytes);
    expect(p!.subprogs.length).toBe(n + 1);
    expect(p!.insns.length).toBe(2 * (n + 1));
    // Every call lands on the next function's copy, appended right after it.
    expect(p!.insns.filter((i, pc) => i.code === 0x85 && pc + i.imm + 1 !== pc + 2).length).toBe(0);
    // (its time is not asserted here: tests check behaviour; a timing ratio of this chain
    // against one ten times shallower failed once on a quiet machine)
  });

  it('reads a relocation section of 200,000 entries (more than one spread call takes)', () => {
    // tracee.bpf.o's .rel.BTF.ext has ~100k: appended with push(...all) they overflowed the stack
    const n = 200_000;
    const bytes = writeElf({
      sections: [{ name: '.data', type: 1, flags: 3, data: new Uint8Array(n * 8) }],
      symbols: [{ name: 'v', section: '.data', value: 0, size: 8, type: 1, bind: 1 }],
      relocs: Array.from({ length: n }, (_, k) => ({ section: '.data', offset: k * 8, type: R_BPF['64_ABS64'], symbol: 'v' })),
    });
    const f = parseElfFile(bytes);
    expect(f.relocations.length).toBe(n);
    expect(f.relocations[n - 1]!.offset).toBe((n - 1) * 8);
  });
});
