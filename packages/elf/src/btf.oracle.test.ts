/**
 * The BTF-dependent stages end to end against libbpf on the running kernel: the object's and
 * vmlinux's BTF as libbpf reads them (`bpftool btf dump -j`), CO-RE records and their results
 * from libbpf's own debug log (`bpftool -d prog loadall`), maps as libbpf created them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, kallsyms, run, skipWithout, tempDir } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { bpftoolBtf, coreRelosFromLibbpfLog, LIBBPF_KIND, libbpfReloAccess } from './bpftoolbtf.test.helper.js';
import { corpus } from './corpus.test.helper.js';
import type { BtfTypeTable, CoreRelo, StructOpsInfo } from './index.js';
import { CORE_KINDS, loadPrograms, parseBtfTable, parseElf, resolveBtfMaps, typeTable } from './index.js';

const dir = corpus();
const els = ['v2.el', 'v3.el', 'v4.el'];

/** libbpf's debug log for `bpftool prog loadall` (stderr), and whatever it pinned. */
function libbpfLoad(obj: string, f: (log: string, pinDir: string) => void): void {
  const fs = tempDir('bpffs-elf-');
  execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
  try {
    const r = spawnSync('bpftool', ['-d', 'prog', 'loadall', obj, join(fs, 'p')], { encoding: 'utf8', maxBuffer: 1 << 28 });
    f(r.stderr, join(fs, 'p'));
  } finally {
    execFileSync('umount', [fs]);
    rmSync(fs, { recursive: true, force: true });
  }
}


describe.skipIf(skipWithout('clang-19', 'bpftool', 'kernel'))('BTF stages vs libbpf', () => {
  let vmlinux: BtfTypeTable | undefined;
  const kernel = (): BtfTypeTable => (vmlinux ??= bpftoolBtf('/sys/kernel/btf/vmlinux'));

  it.each(['core', 'core_narrow'].flatMap((b) => els.map((v) => `${b}.${v}`)))("%s.o: every CO-RE relocation gives libbpf's value", (base) => {
    const path = join(dir, `${base}.o`);
    const bytes = new Uint8Array(readFileSync(path));
    const obj = parseElf(bytes);
    const local = bpftoolBtf(path);
    libbpfLoad(path, (log) => {
      const relos = new Map<string, { prog: string; section: string; relo: CoreRelo }>();
      const patched: { prog: string; insn: number; field: string; value: bigint }[] = [];
      const memSz: { prog: string; insn: number; size: number }[] = [];
      for (const line of log.split('\n')) {
        let m = /prog '(\w+)': relo #(\d+): <(\w+)> \[(\d+)\] (.*)$/.exec(line);
        if (m && !relos.has(`${m[1]}#${m[2]}`)) {
          const [, prog, n, kindName, typeId, rest] = m;
          const access = libbpfReloAccess(rest!, Number(typeId), local);
          const fn = obj.programs.find((p) => p.name === prog)!;
          relos.set(`${prog}#${n}`, { prog: prog!, section: fn.section, relo: { insnOff: -1, typeId: Number(typeId), access, kind: LIBBPF_KIND[kindName!]! } });
          continue;
        }
        m = /prog '(\w+)': relo #(\d+): patched insn #(\d+) \(.*\) (imm64|imm|off) (-?\d+) -> (-?\d+)/.exec(line);
        if (m) {
          const fn = obj.programs.find((p) => p.name === m![1])!;
          const r = relos.get(`${m[1]}#${m[2]}`)!;
          relos.set(`${m[1]}#${m[2]}`, { ...r, relo: { ...r.relo, insnOff: (fn.start + Number(m[3])) * 8 } });
          patched.push({ prog: m[1]!, insn: Number(m[3]), field: m[4]!, value: BigInt(m[6]!) });
          continue;
        }
        m = /prog '(\w+)': relo #\d+: patched insn #(\d+) \(.*\) mem_sz \d+ -> (\d+)/.exec(line);
        if (m) memSz.push({ prog: m[1]!, insn: Number(m[2]), size: Number(m[3]) });
      }
      if (base.startsWith('core.')) {
        // Every kind the corpus exercises was seen.
        expect(new Set([...relos.values()].map((r) => CORE_KINDS[r.relo.kind])).size).toBe(13);
        expect(patched.length).toBe(32);
        expect(patched.map((p) => p.value)).toContain(1268n); // task_struct.tgid on this kernel
        // core_anon: sk->__sk_common.skc_num (0:0:2:1:1) through anonymous unions and structs,
        // found by libbpf (and compared below with ours), never poisoned.
        expect(patched.filter((p) => p.prog === 'core_anon').map((p) => p.value)).toEqual([14n, 12n, 4n, 2n]);
      } else expect(memSz.length).toBe(1);
      expect(patched.length).toBe(relos.size);
      const coreRelos = new Map<string, CoreRelo[]>();
      for (const r of relos.values()) coreRelos.set(r.section, [...(coreRelos.get(r.section) ?? []), r.relo]);
      const valueAt = (progs: ReturnType<typeof loadPrograms>, p: { prog: string; insn: number; field: string }): bigint => {
        const prog = progs.find((x) => x.name === p.prog)!;
        const i = prog.insns[p.insn]!;
        if (p.field === 'off') return BigInt(i.off);
        return i.code === 0x18 ? (BigInt(prog.insns[p.insn + 1]!.imm) << 32n) | BigInt(i.imm >>> 0) : BigInt(i.imm);
      };
      const progs = loadPrograms(bytes, { objectBtf: local, kernelBtf: kernel(), btfExt: { coreRelos } });
      for (const p of patched) expect([p.prog, p.insn, valueAt(progs, p)]).toEqual([p.prog, p.insn, p.value]);
      const SIZE: Readonly<Record<number, number>> = { 0x10: 1, 0x08: 2, 0x00: 4, 0x18: 8 };
      for (const m of memSz) expect([m.prog, m.insn, SIZE[progs.find((x) => x.name === m.prog)!.insns[m.insn]!.code & 0x18]]).toEqual([m.prog, m.insn, m.size]);

      // The big-endian object (same BTF, same code layout; libbpf cannot load it here): the
      // same results, except that a bitfield's left shift counts from the other end.
      const eb = new Uint8Array(readFileSync(join(dir, `${base.replace('.el', '.eb')}.o`)));
      const ebProgs = loadPrograms(eb, { objectBtf: local, kernelBtf: kernel(), btfExt: { coreRelos } });
      for (const p of patched) {
        const r = [...relos.values()].find((x) => x.prog === p.prog && x.relo.insnOff === (obj.programs.find((f) => f.name === p.prog)!.start + p.insn) * 8)!;
        const bitfield = p.prog === 'core_bitfields' && r.relo.kind === 4;
        // LE: 64 - (bit_off + bit_sz - byte_off * 8); BE: (8 - byte_sz) * 8 + (bit_off - byte_off * 8).
        const want = bitfield ? (8n - 4n) * 8n + (64n - p.value - 1n) : p.value;
        expect([p.prog, p.insn, valueAt(ebProgs, p)]).toEqual([p.prog, p.insn, want]);
      }
    });
  });

  it('maps.v3.el.o: BTF-defined and global-data maps equal the maps libbpf created', () => {
    const path = join(dir, 'maps.v3.el.o');
    const obj = parseElf(new Uint8Array(readFileSync(path)));
    const maps = resolveBtfMaps(obj.maps, bpftoolBtf(path));
    libbpfLoad(path, (_, pins) => {
      const ids = new Set(['count_packets', 'say_hello'].flatMap((p) => (JSON.parse(run('bpftool', ['prog', 'show', 'pinned', join(pins, p), '-j'])) as { map_ids: number[] }).map_ids));
      // libbpf names global-data maps '<object>.<section>' (truncated); compare the section part.
      const kmaps = [...ids].map((n) => JSON.parse(run('bpftool', ['map', 'show', 'id', String(n), '-j'])) as { id: number; name: string; type: string; bytes_key: number; bytes_value: number; max_entries: number; flags: number; frozen: number });
      expect(kmaps.length).toBe(6);
      for (const k of kmaps) {
        const m = maps.find((x) => x.name === k.name.replace(/^[^.]+(?=\.)/, ''))!;
        expect([m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags ?? 0, m.frozen ? 1 : 0]).toEqual([m.name, k.type, k.bytes_key, k.bytes_value, k.max_entries, k.flags, k.frozen]);
        if (m.kind === 'data') {
          // Initial contents, as libbpf wrote them.
          const id = k.id;
          const [entry] = JSON.parse(run('bpftool', ['map', 'dump', 'id', String(id), '-j'])) as { value: string[] }[];
          expect([m.name, ...m.data!]).toEqual([m.name, ...entry!.value.map((b) => parseInt(b, 16))]);
        }
      }
      expect(maps.find((m) => m.name === 'events')).toMatchObject({ type: 'ringbuf', maxEntries: 4096 });
    });
  });

  it('externs.v3.el.o: kfunc and ksym ids and the kconfig layout agree with libbpf', () => {
    const path = join(dir, 'externs.v3.el.o');
    const bytes = new Uint8Array(readFileSync(path));
    const progs = loadPrograms(bytes, { objectBtf: bpftoolBtf(path), kernelBtf: kernel(), kconfig: { CONFIG_HZ: 250, CONFIG_BPF_SYSCALL: true, CONFIG_NR_CPUS: 256 } });
    libbpfLoad(path, (log) => {
      const want = new Map<string, number>();
      for (const m of log.matchAll(/extern \((?:func|var) ksym\) '(\w+)': resolved to (?:kernel )?\[(\d+)\]/g)) want.set(m[1]!, Number(m[2]));
      expect(want.size).toBe(3);
      for (const p of progs)
        for (const r of p.relocs) if (r.kind === 'kfunc' || r.kind === 'ksym') expect([r.name, p.insns[r.insn]!.imm]).toEqual([r.name, want.get(r.name) ?? 0]);
      // .kconfig layout (offsets) and values, as libbpf logs them.
      const p = progs.find((x) => x.name === 'read_kernel_var')!;
      const kc = p.maps.find((m) => m.name === '.kconfig')!;
      const view = new DataView(kc.data!.buffer);
      const kcfg = [...log.matchAll(/extern \(kcfg\) #\d+: symbol \d+, off (\d+), name (\w+)/g)].map((m) => [m[2]!, Number(m[1])] as const);
      expect(kcfg.length).toBe(3);
      for (const [name, off] of kcfg) {
        const r = p.relocs.find((x) => x.kind === 'map_value' && x.name === '.kconfig' && p.insns[x.insn + 1]!.imm === off);
        expect([name, r !== undefined]).toEqual([name, true]);
        const set = new RegExp(`extern \\(kcfg\\) '${name}': set to (\\w+)`).exec(log)![1]!;
        const want = set === 'y' ? 1n : BigInt(set);
        const size = name === 'CONFIG_NR_CPUS' ? 8 : name === 'CONFIG_HZ' ? 4 : 1;
        const got = size === 8 ? view.getBigUint64(off, true) : BigInt(size === 4 ? view.getUint32(off, true) : view.getUint8(off));
        expect([name, got]).toEqual([name, want]);
      }
    });
  });

  it('map_in_map.v3.el.o: inner map definition and initial slots as libbpf fills them', () => {
    const path = join(dir, 'map_in_map.v3.el.o');
    const obj = parseElf(new Uint8Array(readFileSync(path)));
    const mapsSec = obj.sections.find((x) => x.name === '.maps')!;
    const relocs = obj.relocations.filter((r) => r.target === mapsSec.index).map((r) => ({ offset: r.offset, symbol: obj.symbols[r.symbol]!.name }));
    const maps = resolveBtfMaps(obj.maps, bpftoolBtf(path), relocs);
    const outer = maps.find((m) => m.name === 'outer')!;
    const jumps = maps.find((m) => m.name === 'jumps')!;
    expect(jumps).toMatchObject({ type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 2, initSlots: [null, 'tail'] });
    libbpfLoad(path, () => {
      const all = JSON.parse(run('bpftool', ['map', 'show', '-j'])) as { id: number; name: string; type: string; bytes_key: number; bytes_value: number; max_entries: number }[];
      const k = all.filter((m) => m.name === 'outer').at(-1)!;
      expect([outer.type, outer.keySize, outer.valueSize, outer.maxEntries]).toEqual([k.type, k.bytes_key, k.bytes_value, k.max_entries]);
      const inner = all.filter((m) => m.name === 'inner1').at(-1)!;
      expect([outer.inner!.type, outer.inner!.keySize, outer.inner!.valueSize, outer.inner!.maxEntries]).toEqual([inner.type, inner.bytes_key, inner.bytes_value, inner.max_entries]);
      // The slots libbpf filled: inner map ids by key.
      const slots = JSON.parse(run('bpftool', ['map', 'dump', 'id', String(k.id), '-j'])) as { key: string[]; value: string[] }[];
      const nameById = new Map(all.map((m) => [m.id, m.name]));
      const filled = slots.map((e) => [parseInt(e.key[0]!, 16), nameById.get(new DataView(Uint8Array.from(e.value.map((b) => parseInt(b, 16))).buffer).getUint32(0, true))]);
      expect(filled).toEqual(outer.initSlots!.flatMap((n, i) => (n ? [[i, n]] : [])));
    });
  });

  it('tracing.v3.el.o: attach targets are the BTF ids libbpf used (the kernel accepts them)', () => {
    const path = join(dir, 'tracing.v3.el.o');
    const progs = loadPrograms(new Uint8Array(readFileSync(path)), { kernelBtf: kernel() });
    // The kernel checks attach_btf_id against the program: libbpf's load succeeding means its
    // ids are right; ours are the vmlinux ids of the same names, looked up independently here
    // in bpftool's dump.
    libbpfLoad(path, (_, pins) => expect(run('bpftool', ['prog', 'show', 'pinned', join(pins, 'on_switch')])).toMatch(/tracing/));
    const raw = run('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux']);
    const idOf = (kind: string, name: string): number => Number(new RegExp(`^\\[(\\d+)\\] ${kind} '${name}'`, 'm').exec(raw)![1]);
    expect(progs.map((p) => [p.name, p.attachTo, p.attachBtfId])).toEqual([
      ['on_newtask', 'task_newtask', idOf('TYPEDEF', 'btf_trace_task_newtask')],
      ['on_switch', 'sched_switch', idOf('TYPEDEF', 'btf_trace_sched_switch')],
      ['raw_switch', undefined, undefined],
    ]);
  });

  it('typeless_ksym.v3.el.o: kallsyms addresses as libbpf sets them (and the kernel keeps them)', () => {
    const path = join(dir, 'typeless_ksym.v3.el.o');
    const [p] = loadPrograms(new Uint8Array(readFileSync(path)), { objectBtf: bpftoolBtf(path), kernelBtf: kernel(), kallsyms: kallsyms() });
    libbpfLoad(path, (log, pins) => {
      const set = /extern \(ksym\) 'do_nanosleep': set to (0x[0-9a-f]+)/.exec(log)![1]!;
      const x = JSON.parse(run('bpftool', ['prog', 'dump', 'xlated', 'pinned', join(pins, 'typeless'), '-j'])) as { disasm: string }[];
      const consts = x.flatMap((e) => /\(18\) r\d = (0x[0-9a-f]+)/.exec(e.disasm)?.[1] ?? []).map((h) => BigInt(h));
      const ours = p!.insns.flatMap((i, k) => (i.code === 0x18 ? [(BigInt(p!.insns[k + 1]!.imm >>> 0) << 32n) | BigInt(i.imm >>> 0)] : []));
      expect(ours).toEqual(consts);
      expect(ours).toContain(BigInt(set));
    });
  });

  it('struct_ops.v3.el.o: struct_ops map value and program attach data as libbpf builds them', () => {
    const path = join(dir, 'struct_ops.v3.el.o');
    const progs = loadPrograms(new Uint8Array(readFileSync(path)), { objectBtf: bpftoolBtf(path), kernelBtf: kernel() });
    const map = progs[0]!.maps.find((m) => m.kind === 'struct_ops') as (typeof progs)[0]['maps'][0] & { structOps: StructOpsInfo };
    libbpfLoad(path, (log, pins) => {
      const ids = /struct_ops init_kern elf_test_cc: type_id:\d+ kern_type_id:(\d+) kern_vtype_id:(\d+)/.exec(log)!;
      expect([map.structOps.kernTypeId, map.structOps.kernValueTypeId]).toEqual([Number(ids[1]), Number(ids[2])]);
      const funcs = [...log.matchAll(/func ptr (\w+) is set to prog (\w+) from data\(\+(\d+)\) to kern_data\(\+(\d+)\)/g)].map((m) => [m[1], m[2], Number(m[3]), Number(m[4])]);
      expect(funcs.length).toBe(3);
      expect(map.structOps.funcs.map((f) => [f.member, f.program, f.from, f.to])).toEqual(funcs);
      const copies = [...log.matchAll(/copy (\w+) (\d+) bytes from data\(\+(\d+)\) to kern_data\(\+(\d+)\)/g)].map((m) => [m[1], Number(m[2]), Number(m[3]), Number(m[4])]);
      expect(map.structOps.copies.map((c) => [c.member, c.size, c.from, c.to])).toEqual(copies);
      // The kernel accepted libbpf's programs with the same attach_btf_id / member index.
      for (const p of progs) {
        expect(run('bpftool', ['prog', 'show', 'pinned', join(pins, p.name)])).toMatch(/struct_ops/);
        const f = map.structOps.funcs.find((x) => x.program === p.name)!;
        expect([p.attachBtfId, p.structOpsMember]).toEqual([map.structOps.kernTypeId, f.memberIndex]);
      }
    });
  });

  it('with @bpf/btf reading the .BTF / .BTF.ext itself: the same maps and CO-RE results', () => {
    const vmlinuxBytes = new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'));
    const vmlinux = parseBtfTable(vmlinuxBytes).table;
    for (const base of ['maps', 'core', 'core_narrow', 'map_in_map', 'externs']) {
      const path = join(dir, `${base}.v3.el.o`);
      const bytes = new Uint8Array(readFileSync(path));
      const obj = parseElf(bytes);
      const local = bpftoolBtf(path);
      let coreRelos = new Map<string, CoreRelo[]>();
      libbpfLoad(path, (log) => (coreRelos = coreRelosFromLibbpfLog(log, obj, local)));
      const kconfig = { CONFIG_HZ: 250, CONFIG_BPF_SYSCALL: true, CONFIG_NR_CPUS: 256 };
      // Ours end to end (object BTF and .BTF.ext read by @bpf/btf) vs bpftool's reading and
      // libbpf's records.
      const auto = loadPrograms(bytes, { kernelBtf: base === 'core' ? vmlinuxBytes : vmlinux, kconfig });
      const oracle = loadPrograms(bytes, { objectBtf: local, kernelBtf: kernel(), btfExt: { coreRelos }, kconfig });
      expect([base, auto.map((p) => p.insns)]).toEqual([base, oracle.map((p) => p.insns)]);
      expect([base, auto[0]!.maps]).toEqual([base, oracle[0]!.maps]);
      // func_info placed on every subprogram (needed to load programs with callbacks).
      for (const p of auto) expect([base, p.name, p.funcInfo?.map((f) => f.insnOff)]).toEqual([base, p.name, p.subprogs.map((x) => x.start)]);
    }
  });

  it('a kconfig extern without a value is a typed error, as in libbpf', () => {
    const path = join(dir, 'externs.v3.el.o');
    expect(() => loadPrograms(new Uint8Array(readFileSync(path)), { objectBtf: bpftoolBtf(path), kernelBtf: kernel(), kconfig: { CONFIG_HZ: 100 } })).toThrow(/kconfig extern CONFIG_NR_CPUS: no value given/);
  });

  it('externs the kernel lacks: a typed error naming the first in libbpf\'s order (by name, not by use), as bpftool names it', () => {
    const path = join(dir, 'externs.v3.el.o');
    // the programs use bpf_rcu_read_lock before bpf_prog_active; libbpf resolves its externs sorted by name
    expect(() => loadPrograms(new Uint8Array(readFileSync(path)), { objectBtf: bpftoolBtf(path), kernelBtf: typeTable([{ kind: 'void' }]) })).toThrow(/^section tp_btf\/sched_process_exit, insn 0: kernel variable bpf_prog_active is not in the kernel BTF$/);
    // live: the same source with both externs renamed to names this kernel lacks
    const renamed = join(tempDir('elf-extern-order-'), 'externs.o');
    execFileSync('clang-19', ['-target', 'bpfel', '-mcpu=v3', '-O2', '-g', '-Dbpf_prog_active=bpf_prog_active_absent_for_tests', '-Dbpf_rcu_read_lock=bpf_rcu_read_lock_absent_for_tests',
      '-I', join(fixturesDir, 'c/elf'), '-c', join(fixturesDir, 'c/elf/externs.c'), '-o', renamed]);
    let theirs = '';
    libbpfLoad(renamed, (log) => (theirs = /extern \((?:func|var) ksym\) '(\w+)': not found/.exec(log)?.[1] ?? log));
    expect(theirs).toBe('bpf_prog_active_absent_for_tests');
    const bytes = new Uint8Array(readFileSync(renamed));
    expect(() => loadPrograms(bytes, { objectBtf: bpftoolBtf(renamed), kernelBtf: kernel() })).toThrow(/kernel variable bpf_prog_active_absent_for_tests is not in the kernel BTF$/);
  });
});
