/**
 * CO-RE, BTF-defined maps and externs over hand-built type tables shaped like the corpus'
 * BTF (core.c, maps.c) and like vmlinux. The expected CO-RE values are the ones libbpf
 * logged for core.c against this kernel (`bpftool -d prog loadall`): task_struct.tgid at
 * 1268, .tasks.prev at 1064, and so on.
 */
import type { Insn } from '@bpf/isa';
import { insn } from '@bpf/isa';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BtfMember, BtfTypeInfo, CoreRelo } from './index.js';
import { calcCoreRelo, CORE_POISON_IMM, ElfError, patchCoreInsn, resolveBtfMaps, typeTable } from './index.js';
import type { ElfMap } from './index.js';

const int = (name: string, size: number, signed: boolean): BtfTypeInfo => ({ kind: 'int', name, size, signed, bits: size * 8, bitOffset: 0 });
const mem = (name: string, type: number, bitOffset: number, bitfieldSize = 0): BtfMember => ({ name, type, bitOffset, bitfieldSize });

// Local BTF, as clang writes it for core.c.
const local = typeTable([
  { kind: 'void' },
  /* 1 */ int('int', 4, true),
  /* 2 */ int('unsigned int', 4, false),
  /* 3 */ { kind: 'struct', name: 'list_head', size: 16, members: [mem('next', 4, 0), mem('prev', 4, 64)] },
  /* 4 */ { kind: 'ptr', type: 3 },
  /* 5 */ { kind: 'struct', name: 'task_struct', size: 40, members: [mem('pid', 1, 0), mem('tgid', 1, 32), mem('flags', 2, 64), mem('tasks', 3, 128), mem('field_that_does_not_exist', 1, 256)] },
  /* 6 */ { kind: 'enum', name: 'pid_type', size: 4, signed: false, values: [{ name: 'PIDTYPE_PID', value: 0n }, { name: 'PIDTYPE_TGID', value: 1n }, { name: 'PIDTYPE_PGID', value: 2n }, { name: 'PIDTYPE_NOT_THERE', value: 99n }] },
  /* 7 */ { kind: 'struct', name: 'type_not_in_vmlinux', size: 4, members: [mem('x', 1, 0)] },
  /* 8 */ { kind: 'struct', name: 'bits___local', size: 4, members: [mem('a', 2, 0, 5), mem('b', 2, 5, 3), mem('c', 1, 8, 24)] },
]);

// The target (vmlinux-like): different layout, extra members, an anonymous union.
const target = typeTable([
  { kind: 'void' },
  /* 1 */ int('int', 4, true),
  /* 2 */ int('unsigned int', 4, false),
  /* 3 */ { kind: 'struct', name: 'list_head', size: 16, members: [mem('next', 4, 0), mem('prev', 4, 64)] },
  /* 4 */ { kind: 'ptr', type: 3 },
  /* 5 */ { kind: 'union', name: '', size: 4, members: [mem('flags', 2, 0), mem('raw_flags', 2, 0)] },
  /* 6 */ { kind: 'struct', name: 'task_struct', size: 4096, members: [mem('__state', 2, 0), mem('', 5, 44 * 8), mem('tasks', 3, 1056 * 8), mem('pid', 1, 1264 * 8), mem('tgid', 1, 1268 * 8)] },
  /* 7 */ { kind: 'enum', name: 'pid_type', size: 4, signed: false, values: [{ name: 'PIDTYPE_PID', value: 0n }, { name: 'PIDTYPE_TGID', value: 1n }, { name: 'PIDTYPE_PGID', value: 2n }, { name: 'PIDTYPE_SID', value: 3n }] },
  /* 8 */ { kind: 'struct', name: 'bits', size: 8, members: [mem('z', 2, 0), mem('a', 2, 32, 5), mem('b', 2, 37, 3), mem('c', 1, 40, 24)] },
]);

const relo = (kind: number, typeId: number, access: string): CoreRelo => ({ insnOff: 0, typeId, access, kind });
const val = (r: CoreRelo, big = false) => calcCoreRelo(local, target, r, { bigEndian: big });

describe('CO-RE values (libbpf relo_core.c semantics)', () => {
  it.each([
    ['field_byte_offset tgid', relo(0, 5, '0:1'), 4n, 1268n],
    ['field_byte_size tgid', relo(1, 5, '0:1'), 4n, 4n],
    ['field_signed flags (through an anonymous union)', relo(3, 5, '0:2'), 0n, 0n],
    ['field_exists pid', relo(2, 5, '0:0'), 1n, 1n],
    ['field_exists missing field', relo(2, 5, '0:4'), 1n, 0n],
    ['field_lshift_u64 pid', relo(4, 5, '0:0'), 32n, 32n],
    ['field_rshift_u64 pid', relo(5, 5, '0:0'), 32n, 32n],
    ['field_byte_offset tasks.prev', relo(0, 5, '0:3:1'), 24n, 1064n],
    ['field_byte_offset flags', relo(0, 5, '0:2'), 8n, 44n],
    ['type_exists task_struct', relo(8, 5, '0'), 1n, 1n],
    ['type_exists absent type', relo(8, 7, '0'), 1n, 0n],
    ['type_size list_head', relo(9, 3, '0'), 16n, 16n],
    ['type_matches list_head', relo(12, 3, '0'), 1n, 1n],
    ['type_id_target task_struct', relo(7, 5, '0'), 5n, 6n],
    ['type_id_local task_struct', relo(6, 5, '0'), 5n, 5n],
    ['enumval_exists PIDTYPE_TGID', relo(10, 6, '1'), 1n, 1n],
    ['enumval_exists PIDTYPE_NOT_THERE', relo(10, 6, '3'), 1n, 0n],
    ['enumval_value PIDTYPE_PGID', relo(11, 6, '2'), 2n, 2n],
  ] as const)('%s', (_, r, orig, value) => {
    const res = val(r);
    expect([res.orig, res.value]).toEqual([orig, value]);
  });

  it('bitfields: aligned load offset and shifts, both byte orders', () => {
    // b: 3 bits at bit 5 locally; at bit 37 in the target (inside the second u32).
    expect(val(relo(0, 8, '0:1')).value).toBe(4n);
    expect(val(relo(1, 8, '0:1')).value).toBe(4n);
    expect(val(relo(4, 8, '0:1')).value).toBe(64n - (37n + 3n - 32n));
    expect(val(relo(5, 8, '0:1')).value).toBe(61n);
    expect(val(relo(4, 8, '0:1'), true).value).toBe((8n - 4n) * 8n + (37n - 32n));
    // c: 24 bits at bit 8 of an int: a 4-byte load at 4 in the target covers bits 32..63.
    expect(val(relo(0, 8, '0:2')).value).toBe(4n);
    expect(val(relo(3, 8, '0:2')).value).toBe(1n);
  });

  it('a field missing in the target poisons the instruction, as libbpf does', () => {
    const res = val(relo(0, 5, '0:4'));
    expect(res.value).toBeUndefined();
    const insns: Insn[] = [insn(0xb7, 1, 0, 0, 32)];
    patchCoreInsn(insns, res, (m) => new ElfError('BAD_CORE', m));
    expect(insns[0]).toEqual({ code: 0x85, dst: 0, src: 0, off: 0, imm: CORE_POISON_IMM });
  });

  it('a poisoned ld_imm64 has both slots poisoned, as libbpf does (cilium/ebpf testdata errors.c poisoned_double: the kernel then says "invalid func unknown#195896080", not "unknown opcode 00")', () => {
    const res = val(relo(0, 5, '0:4'));
    const insns: Insn[] = [insn(0x18, 1, 0, 0, 7), insn(0, 0, 0, 0, 0), insn(0x95, 0, 0, 0, 0)];
    patchCoreInsn(insns, res, (m) => new ElfError('BAD_CORE', m));
    const poison = { code: 0x85, dst: 0, src: 0, off: 0, imm: CORE_POISON_IMM };
    expect(insns).toEqual([poison, poison, insn(0x95, 0, 0, 0, 0)]);
  });

  it('patches ALU imm, load offsets (and size) and ld_imm64, checking the original value', () => {
    const fail = (m: string): ElfError => new ElfError('BAD_CORE', m);
    const alu: Insn[] = [insn(0xb7, 2, 0, 0, 4)];
    patchCoreInsn(alu, val(relo(0, 5, '0:1')), fail);
    expect(alu[0]!.imm).toBe(1268);
    const ldx: Insn[] = [insn(0x61, 0, 1, 4, 0)];
    patchCoreInsn(ldx, val(relo(0, 5, '0:1')), fail);
    expect(ldx[0]).toMatchObject({ code: 0x61, off: 1268 });
    const ld64: Insn[] = [insn(0x18, 2, 0, 0, 5), insn(0, 0, 0, 0, 0)];
    patchCoreInsn(ld64, { ...val(relo(7, 5, '0')), insnOff: 0 }, fail);
    expect(ld64[0]!.imm).toBe(6);
    const wrong: Insn[] = [insn(0xb7, 2, 0, 0, 5)];
    expect(() => patchCoreInsn(wrong, val(relo(0, 5, '0:1')), fail)).toThrow(/imm 5, expected 4/);
  });

  it('bad access strings and roots give BAD_CORE', () => {
    for (const r of [relo(0, 5, '0:9'), relo(0, 5, 'x'), relo(0, 99, '0'), relo(8, 5, '0:1'), relo(13, 5, '0')]) {
      expect(() => val(r)).toThrow(ElfError);
    }
  });
});

describe('BTF-defined maps', () => {
  it('reads type, sizes, max_entries and flags from the .maps VARs', () => {
    const btf = typeTable([
      { kind: 'void' },
      /* 1 */ int('int', 4, true),
      /* 2 */ { kind: 'array', elemType: 1, nelems: 1 },
      /* 3 */ { kind: 'ptr', type: 2 },
      /* 4 */ { kind: 'array', elemType: 1, nelems: 1024 },
      /* 5 */ { kind: 'ptr', type: 4 },
      /* 6 */ int('unsigned int', 4, false),
      /* 7 */ { kind: 'typedef', name: '__u32', type: 6 },
      /* 8 */ { kind: 'ptr', type: 7 },
      /* 9 */ int('unsigned long long', 8, false),
      /* 10 */ { kind: 'ptr', type: 9 },
      /* 11 */ { kind: 'struct', name: '', size: 40, members: [mem('type', 3, 0), mem('max_entries', 5, 64), mem('key', 8, 128), mem('value', 10, 192), mem('map_flags', 3, 256)] },
      /* 12 */ { kind: 'var', name: 'counts', type: 11, linkage: 'global' },
      /* 13 */ { kind: 'datasec', name: '.maps', size: 40, vars: [{ type: 12, offset: 0, size: 40 }] },
    ]);
    const pending: ElfMap = { kind: 'btf', name: 'counts', type: 'unknown', keySize: 0, valueSize: 0, maxEntries: 0, section: '.maps', sectionIndex: 5, offset: 0, btfPending: true };
    expect(resolveBtfMaps([pending], btf)).toEqual([
      { kind: 'btf', name: 'counts', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1024, flags: 1, btfKeyTypeId: 7, btfValueTypeId: 9, section: '.maps', sectionIndex: 5, offset: 0 },
    ]);
    expect(() => resolveBtfMaps([{ ...pending, name: 'other' }], btf)).toThrow(/no VAR/);
  });
});

describe('fuzz: CO-RE records never fail with anything but ElfError', () => {
  it('random kinds, type ids, access strings and offsets', () => {
    const cyclic = typeTable([
      { kind: 'void' },
      { kind: 'typedef', name: 'a', type: 2 },
      { kind: 'typedef', name: 'b', type: 1 },
      { kind: 'array', elemType: 3, nelems: 4 },
      { kind: 'struct', name: 'task_struct', size: 8, members: [mem('pid', 1, 0), mem('self', 4, 0)] },
    ]);
    fc.assert(
      fc.property(
        fc.constantFrom(local, cyclic),
        fc.constantFrom(target, cyclic, local),
        fc.integer({ min: -1, max: 14 }),
        fc.integer({ min: -1, max: 10 }),
        fc.oneof(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 5 }).map((a) => a.join(':')), fc.string({ maxLength: 6 })),
        fc.integer({ min: -16, max: 64 }),
        (l, t, kind, typeId, access, insnOff) => {
          const insns: Insn[] = [insn(0xb7, 1, 0, 0, 4), insn(0x61, 0, 1, 4, 0), insn(0x18, 2, 0, 0, 5), insn(0, 0, 0, 0, 0), insn(0x0f, 1, 2, 0, 0)];
          try {
            const res = calcCoreRelo(l, t, { insnOff, typeId, access, kind });
            patchCoreInsn(insns, res, (m) => new ElfError('BAD_CORE', m));
          } catch (e) {
            if (!(e instanceof ElfError)) throw e;
          }
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('fuzz: arbitrary type tables', () => {
  it('BTF maps and CO-RE over random (even cyclic or dangling) types give ElfError or a result', () => {
    const id = fc.integer({ min: 0, max: 9 });
    const name = fc.constantFrom('', 'task_struct', 'type', 'key', 'value', 'max_entries', 'counts', 'x___v2', '.maps');
    const ty: fc.Arbitrary<BtfTypeInfo> = fc.oneof(
      fc.record({ kind: fc.constant('int' as const), name, size: fc.constantFrom(1, 2, 4, 8, 0), signed: fc.boolean(), bits: fc.constant(32), bitOffset: fc.constantFrom(0, 3) }),
      fc.record({ kind: fc.constant('ptr' as const), type: id }),
      fc.record({ kind: fc.constant('array' as const), elemType: id, nelems: fc.nat(2000) }),
      fc.record({ kind: fc.constantFrom('struct' as const, 'union' as const), name, size: fc.nat(64), members: fc.array(fc.record({ name, type: id, bitOffset: fc.nat(512), bitfieldSize: fc.constantFrom(0, 0, 1, 3, 40) }), { maxLength: 4 }) }),
      fc.record({ kind: fc.constant('enum' as const), name, size: fc.constant(4), signed: fc.boolean(), values: fc.array(fc.record({ name, value: fc.bigInt({ min: -5n, max: 5n }) }), { maxLength: 3 }) }),
      fc.record({ kind: fc.constantFrom('typedef' as const, 'const' as const), name, type: id }),
      fc.record({ kind: fc.constant('var' as const), name, type: id, linkage: fc.constant('global' as const) }),
      fc.record({ kind: fc.constant('datasec' as const), name: fc.constant('.maps'), size: fc.nat(64), vars: fc.array(fc.record({ type: id, offset: fc.nat(64), size: fc.nat(64) }), { maxLength: 3 }) }),
    );
    const table = fc.array(ty, { minLength: 1, maxLength: 9 }).map((ts) => typeTable([{ kind: 'void' }, ...ts]));
    const pending: ElfMap = { kind: 'btf', name: 'counts', type: 'unknown', keySize: 0, valueSize: 0, maxEntries: 0, section: '.maps', sectionIndex: 1, offset: 0, btfPending: true };
    fc.assert(
      fc.property(table, table, fc.integer({ min: 0, max: 12 }), id, fc.constantFrom('0', '0:0', '0:1:0', '1:2', '0:0:0:0'), (l, t, kind, typeId, access) => {
        for (const f of [() => resolveBtfMaps([pending], l), () => calcCoreRelo(l, t, { insnOff: 0, typeId, access, kind })]) {
          try {
            f();
          } catch (e) {
            if (!(e instanceof ElfError)) throw e;
          }
        }
      }),
      { numRuns: 5000 },
    );
  });
});

it('a bitfield of a zero-sized type is a typed error, not a RangeError', () => {
  const t = typeTable([{ kind: 'void' }, int('z', 0, false), { kind: 'struct', name: 's', size: 4, members: [mem('b', 1, 3, 2)] }]);
  expect(() => calcCoreRelo(t, t, { insnOff: 0, typeId: 2, access: '0:0', kind: 0 })).toThrow(ElfError);
});
