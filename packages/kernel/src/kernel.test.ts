import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { findByName, parseBtf } from '@bpf/btf';
import { assemble } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { run } from '@bpf/vm';
import { describe, expect, it } from 'vitest';
import { closeFd, createMap, createProgramMap, firstError, helperProbe, KernelError, kfuncProbe, loadBtf, loadProgram, loadWithMaps, probe, testRun } from './index.js';
import { pageSize, possibleCpus, ringbufSize } from './object.js';

describe.skipIf(skipWithout('kernel'))('the running kernel', () => {
  it('probes: root can load, JIT state known', () => {
    const p = probe();
    expect(p.canLoad, p.reason).toBe(true);
    expect(p.kernelRelease).toMatch(/^\d+\.\d+/);
  });

  it('accepts a program, reports stats, xlated insns and jited bytes', () => {
    const load = loadProgram(assemble('r0 = 7\nr0 += 35\nexit'), { logLevel: 2 });
    try {
      expect(load.accepted).toBe(true);
      expect(load.stats).toMatchObject({ processedInsns: 3, totalStates: 0 });
      expect(load.log).toContain('Live regs before insn:');
      expect(load.xlated?.map((i) => i.code)).toEqual([0xb7, 0x07, 0x95]);
      expect(load.jitedLen).toBeGreaterThan(0);
      expect(load.jited?.length).toBe(load.jitedLen);
      expect(load.verifiedInsns).toBe(3);
    } finally {
      load.close();
    }
  });

  it('rejects with errno EACCES and the verifier message on the failing line', () => {
    const load = loadProgram(assemble('r0 = r2\nexit'));
    expect(load.accepted).toBe(false);
    expect(load.errno).toBe(13);
    expect(load.error).toBe('R2 !read_ok');
  });

  it("a message the kernel follows with more lines is still the first error: 'infinite loop detected' before its cur/old state lines", () => {
    const load = loadProgram(assemble('r0 = 0\nif r0 == 0 goto -1\nexit'), { logLevel: 1 });
    expect(load.accepted).toBe(false);
    expect(load.log).toMatch(/^old state:/m);
    expect(load.error).toBe('infinite loop detected at insn 1');
  });

  it('grows the log buffer until the whole log fits', () => {
    const body = Array.from({ length: 300 }, (_, k) => `r0 += ${k}`).join('\n');
    const load = loadProgram(assemble(`r0 = 0\n${body}\nexit`), { logLevel: 2, logSize: 256 });
    try {
      expect(load.accepted).toBe(true);
      expect(load.log).toMatch(/processed 302 insns/);
    } finally {
      load.close();
    }
  });

  it('keeps the log as bytes with logBytes: the text of an ordinary load, the stats and error read from its end', () => {
    const body = Array.from({ length: 300 }, (_, k) => `r0 += ${k}`).join('\n');
    const p = assemble(`r0 = 0\n${body}\nexit`);
    const text = loadProgram(p, { logLevel: 2, readInfo: false });
    const bytes = loadProgram(p, { logLevel: 2, logSize: 256, readInfo: false, logBytes: true });
    try {
      expect(bytes.log).toBe('');
      expect(Buffer.from(bytes.logBytes!).toString('utf8')).toBe(text.log);
      expect(bytes.stats).toEqual(text.stats);
    } finally {
      text.close();
      bytes.close();
    }
    // a log of several MiB (a counted loop walked to its end at level 2): the error from its last MiB
    const loop = loadProgram(assemble('r0 = 0\nr0 += 1\nif r0 < 20000 goto -2\nr0 = r2\nexit'), { logLevel: 2, logBytes: true });
    expect(loop.accepted).toBe(false);
    expect(loop.logBytes!.length).toBeGreaterThan(2 << 20);
    expect(loop.error).toBe('R2 !read_ok');
    expect(loop.stats?.processedInsns).toBe(40002);
  });

  it("helperProbe answers as a load of the helper's call answers: available unless the type cannot use it", () => {
    const xdp = helperProbe({ type: 'xdp' })!;
    const call = (id: number) => assemble(`call ${id}\nr0 = 0\nexit`).insns;
    // every id an XDP program is, or is not, given: the probe and a load of its call agree
    for (const id of [1, 14, 44, 54, 65, 130, 189, 211, 212, 300]) {
      const k = loadProgram({ insns: call(id), type: 'xdp' }, { type: 'xdp', logLevel: 1, readInfo: false });
      k.close();
      expect([id, xdp(id)]).toEqual([id, !/^(program of this type cannot use helper|unknown func|invalid func)/.test(k.error ?? '')]);
    }
    // map lookups and packet-head adjustment are XDP's; an id past the last helper is no one's
    expect([xdp(1), xdp(44), xdp(212)]).toEqual([true, true, false]);
    // a socket filter may not change a packet's head
    expect(helperProbe({ type: 'socket_filter' })!(44)).toBe(false);
    // one answer per process and target: the same function again
    expect(helperProbe({ type: 'xdp' })).toBe(xdp);
  });

  it("kfuncProbe answers as a load of the kfunc's call answers: available unless the type may not call it", () => {
    const btf = parseBtf(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux')));
    const syscall = kfuncProbe({ type: 'syscall', sleepable: true })!;
    for (const name of ['bpf_task_acquire', 'bpf_task_release', 'bpf_arena_alloc_pages', 'bpf_xdp_metadata_rx_hash', 'bpf_dynptr_from_skb', 'bpf_sock_addr_set_sun_path']) {
      const id = findByName(btf, name, 'FUNC')[0]!;
      const k = loadProgram({ insns: [{ code: 0x85, dst: 0, src: 2, off: 0, imm: id }, ...assemble('r0 = 0\nexit').insns], type: 'syscall' }, { type: 'syscall', flags: 1 << 4, logLevel: 1, readInfo: false });
      k.close();
      expect([name, syscall(id)]).toEqual([name, !/^calling kernel function \S+ is not allowed$/.test(k.error ?? '')]);
    }
    // a syscall program may acquire a task, and may not make a dynptr of a packet it has none of
    expect(syscall(findByName(btf, 'bpf_task_acquire', 'FUNC')[0]!)).toBe(true);
    expect(syscall(findByName(btf, 'bpf_dynptr_from_skb', 'FUNC')[0]!)).toBe(false);
  });

  it('test-runs a socket filter: the retval agrees with @bpf/vm', () => {
    const p = assemble('r0 = 0x2a\nr0 *= 3\nexit');
    const load = loadProgram(p);
    try {
      const r = testRun(load.fd!, { data: new Uint8Array(64), repeat: 10 });
      expect(r.retval).toBe(126);
      expect(BigInt(r.retval)).toBe(run(p).r0);
    } finally {
      load.close();
    }
  });

  it('a perf event array declared with max_entries 0 (old samples/bpf, iproute2 objects) gets one slot per possible CPU', () => {
    // the kernel refuses max_entries 0 itself; libbpf and iproute2 size the map before creating it
    expect(() => createMap({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 0 })).toThrow(KernelError);
    const m = createProgramMap({ name: 'events', type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 0 });
    try {
      expect(m.spec.maxEntries).toBeGreaterThanOrEqual(cpus().length);
      expect(m.spec.maxEntries).toBe(possibleCpus());
    } finally {
      m.close();
    }
  });

  it('ring buffers declared below a page are created as libbpf sizes them: the next power-of-2 number of pages', () => {
    // the page size as the C library reports it (getconf, sysconf(_SC_PAGE_SIZE) as libbpf asks)
    expect(pageSize()).toBe(Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()));
    // the kernel refuses the declared size itself
    expect(() => createMap({ type: 'user_ringbuf', keySize: 0, valueSize: 0, maxEntries: 8 })).toThrow(KernelError);
    for (const [type, declared] of [['user_ringbuf', 8], ['ringbuf', 64], ['ringbuf', 3 * pageSize()]] as const) {
      const m = createProgramMap({ name: 'rb', type, keySize: 0, valueSize: 0, maxEntries: declared });
      try {
        expect([type, declared, m.spec.maxEntries]).toEqual([type, declared, declared < pageSize() ? pageSize() : 4 * pageSize()]);
      } finally {
        m.close();
      }
    }
    // a size that already is a power-of-2 number of pages stays; 0 stays for the kernel to refuse
    expect([ringbufSize(8192, 4096), ringbufSize(4096, 4096), ringbufSize(0, 4096), ringbufSize(4097, 4096)]).toEqual([8192, 4096, 0, 8192]);
  });

  it('maps: create, update, lookup, iterate, delete', () => {
    const m = createMap({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16, name: 'test' });
    try {
      for (let k = 0; k < 5; k++) m.update(Uint8Array.of(k, 0, 0, 0), Uint8Array.of(k * 2, 0, 0, 0, 0, 0, 0, 0));
      expect([...m.lookup(Uint8Array.of(3, 0, 0, 0))!]).toEqual([6, 0, 0, 0, 0, 0, 0, 0]);
      expect([...m.keys()].length).toBe(5);
      expect(m.delete(Uint8Array.of(3, 0, 0, 0))).toBe(true);
      expect(m.lookup(Uint8Array.of(3, 0, 0, 0))).toBeUndefined();
      expect(() => m.update(Uint8Array.of(1, 0, 0, 0), new Uint8Array(8), 'noexist')).toThrow(KernelError);
    } finally {
      m.close();
    }
  });

  it('per-CPU arrays return one value per possible CPU; ring buffers and prog arrays are created and closed', () => {
    const pc = createMap({ type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: 2 });
    try {
      const v = pc.lookup(Uint8Array.of(1, 0, 0, 0))!;
      expect(v.length % 8).toBe(0);
      expect(v.length).toBeGreaterThanOrEqual(8);
      pc.update(Uint8Array.of(1, 0, 0, 0), new Uint8Array(v.length).fill(3));
      expect([...pc.lookup(Uint8Array.of(1, 0, 0, 0))!].every((b) => b === 3)).toBe(true);
    } finally {
      pc.close();
    }
    const rb = createMap({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096 });
    expect(rb.fd).toBeGreaterThan(0);
    rb.close();
    const pa = createMap({ type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 4 });
    const target = loadProgram(assemble('r0 = 7\nexit'));
    try {
      const fd = Buffer.alloc(4);
      fd.writeUInt32LE(target.fd!, 0);
      pa.update(Uint8Array.of(0, 0, 0, 0), fd);
      expect(pa.lookup(Uint8Array.of(1, 0, 0, 0))).toBeUndefined();
    } finally {
      target.close();
      pa.close();
    }
  });

  it('relocates a map reference and the program sees the map', () => {
    const m = createMap({ type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
    m.update(Uint8Array.of(0, 0, 0, 0), Uint8Array.of(99, 0, 0, 0, 0, 0, 0, 0));
    const p = assemble(`.map m array 4 8 1
      r1 = 0
      *(u32 *)(r10 - 4) = r1
      r1 = m ll
      r2 = r10
      r2 += -4
      call bpf_map_lookup_elem
      if r0 == 0 goto out
      r0 = *(u64 *)(r0 + 0)
      out:
      exit`);
    const load = loadProgram(p, { mapFds: { m: m.fd } });
    try {
      expect(load.accepted, load.log).toBe(true);
      expect(testRun(load.fd!, { data: new Uint8Array(64) }).retval).toBe(99);
    } finally {
      load.close();
      m.close();
    }
  });

  it('may_goto ends a loop: the kernel by time (timed may_goto on x86-64), @bpf/vm after BPF_MAX_LOOPS', () => {
    // Since 6.15 the x86-64 JIT refreshes the may_goto budget for as long as a time limit
    // allows (kernel/bpf/core.c, bpf_check_timed_may_goto), so the kernel's count depends on the
    // machine's speed; @bpf/vm keeps the deterministic count of the interpreter, BPF_MAX_LOOPS.
    const p = assemble('r6 = 0\nl:\nmay_goto out\nr6 += 1\ngoto l\nout:\nr0 = r6\nexit');
    const load = loadProgram(p, {});
    try {
      expect(load.accepted, load.log).toBe(true);
      expect(testRun(load.fd!, { data: new Uint8Array(64) }).retval).toBeGreaterThanOrEqual(65_535);
      expect(run(p, { mem: new Uint8Array(64), budget: 40_000_000 }).r0).toBe(8_388_608n);
      // the budget is the host's to set
      expect(run(p, { mayGotoBudget: 5 }).r0).toBe(5n);
    } finally {
      load.close();
    }
  });

  it('relocates a map value reference (BPF_PSEUDO_MAP_VALUE with its offset)', () => {
    const m = createMap({ type: 'array', keySize: 4, valueSize: 16, maxEntries: 1 });
    m.update(Uint8Array.of(0, 0, 0, 0), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0));
    const base = assemble('r1 = 0 ll\nr0 = *(u64 *)(r1 + 0)\nexit');
    const p = { ...base, relocs: [{ insn: 0, kind: 'map_value' as const, name: 'g', offset: 8 }] };
    const load = loadProgram(p, { mapFds: { g: m.fd } });
    try {
      expect(load.accepted, load.log).toBe(true);
      expect(testRun(load.fd!, { data: new Uint8Array(64) }).retval).toBe(7);
    } finally {
      load.close();
      m.close();
    }
  });

  it('loadWithMaps: mapMaxEntries sizes a map at load time, as falco\'s loader sizes its per-CPU maps', () => {
    // key 2 of the array: the program returns 1 when the lookup finds a slot, 0 when not
    const base = assemble('r1 = 0 ll\nr2 = r10\nr2 += -4\n*(u32 *)(r10 - 4) = 2\ncall 1\nr1 = r0\nr0 = 0\nif r1 == 0 goto +1\nr0 = 1\nexit');
    const p = { ...base, relocs: [{ insn: 0, kind: 'map' as const, name: 'slots' }], maps: [{ name: 'slots', type: 'array', keySize: 4, valueSize: 8, maxEntries: 0 }] };
    // as declared, the kernel will not create the map
    expect(() => loadWithMaps(p)).toThrow(KernelError);
    for (const [n, found] of [[3, 1], [2, 0]] as const) {
      const load = loadWithMaps(p, { mapMaxEntries: { slots: n } });
      try {
        expect(load.accepted, load.log).toBe(true);
        expect(load.maps.get('slots')?.spec.maxEntries).toBe(n);
        expect(testRun(load.fd!, { data: new Uint8Array(64) }).retval).toBe(found);
      } finally {
        load.close();
      }
    }
    expect(() => loadWithMaps(p, { mapMaxEntries: { nope: 1 } })).toThrow("max_entries given for map 'nope', which the program does not have (its maps: slots)");
    expect(() => loadWithMaps(p, { mapMaxEntries: { slots: -1 } })).toThrow('is not a u32');
  });

  it('loadWithMaps: NAME.inner sizes the template inner map of a map-in-map, as falco sizes its array of ring buffers', () => {
    // the outer map's slot 0 looked up; the template ring buffer declares no size
    const base = assemble('r1 = 0 ll\nr2 = r10\nr2 += -4\n*(u32 *)(r10 - 4) = 0\ncall 1\nr0 = 0\nexit');
    const inner = { name: 'ringbuf_maps.inner', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 0 };
    const p = { ...base, relocs: [{ insn: 0, kind: 'map' as const, name: 'ringbuf_maps' }], maps: [{ name: 'ringbuf_maps', type: 'array_of_maps', keySize: 4, valueSize: 4, maxEntries: 0, inner }] };
    // as declared, the kernel will not create the template (a ring buffer of 0 bytes)
    expect(() => loadWithMaps(p, { mapMaxEntries: { ringbuf_maps: 2 } })).toThrow(KernelError);
    const load = loadWithMaps(p, { mapMaxEntries: { ringbuf_maps: 2, 'ringbuf_maps.inner': 4096 } });
    try {
      expect(load.accepted, load.log).toBe(true);
      expect(load.maps.get('ringbuf_maps')?.spec.maxEntries).toBe(2);
    } finally {
      load.close();
    }
    expect(() => loadWithMaps(p, { mapMaxEntries: { 'slots.inner': 1 } })).toThrow("max_entries given for map 'slots.inner', which the program does not have");
  });

  it("loadWithMaps: mapValueSize sizes a map's values at load time, as bcc's profile sizes its stack trace map", () => {
    // bpf_get_stackid(ctx, &stacks, 0) from a kprobe program; the map declares only its key
    const base = assemble('r2 = 0 ll\nr3 = 0\ncall 27\nr0 = 0\nexit');
    const p = { ...base, relocs: [{ insn: 0, kind: 'map' as const, name: 'stacks' }], maps: [{ name: 'stacks', type: 'stack_trace', keySize: 4, valueSize: 0, maxEntries: 1024 }] };
    // as declared, the kernel will not create the map (value_size 0)
    expect(() => loadWithMaps(p, { type: 'kprobe' })).toThrow(KernelError);
    const load = loadWithMaps(p, { type: 'kprobe', mapValueSize: { stacks: 127 * 8 } });
    try {
      expect(load.accepted, load.log).toBe(true);
      expect(load.maps.get('stacks')?.spec.valueSize).toBe(127 * 8);
    } finally {
      load.close();
    }
    expect(() => loadWithMaps(p, { type: 'kprobe', mapValueSize: { nope: 8 } })).toThrow("value_size given for map 'nope', which the program does not have (its maps: stacks)");
  });

  it('loads BTF, then a program with func_info and line_info: the log shows the source line', () => {
    // BTF by hand: [1] INT 'int', [2] FUNC_PROTO int(void), [3] FUNC 'main'; strings: '', 'int', 'main', 'f.c', 'return 42;'
    const strs = Buffer.from('\0int\0main\0f.c\0return 42;\0');
    const types = Buffer.alloc(16 + 12 + 12);
    types.writeUInt32LE(1, 0);
    types.writeUInt32LE(0x01000000, 4);
    types.writeUInt32LE(4, 8);
    types.writeUInt32LE((1 << 24) | 32, 12);
    types.writeUInt32LE(0, 16);
    types.writeUInt32LE(0x0d000000, 20);
    types.writeUInt32LE(1, 24);
    types.writeUInt32LE(5, 28);
    types.writeUInt32LE(0x0c000001, 32);
    types.writeUInt32LE(2, 36);
    const hdr = Buffer.alloc(24);
    hdr.writeUInt16LE(0xeb9f, 0);
    hdr.writeUInt8(1, 2);
    hdr.writeUInt32LE(24, 4);
    hdr.writeUInt32LE(0, 8);
    hdr.writeUInt32LE(types.length, 12);
    hdr.writeUInt32LE(types.length, 16);
    hdr.writeUInt32LE(strs.length, 20);
    const btfFd = loadBtf(Buffer.concat([hdr, types, strs]));
    const load = loadProgram(assemble('r0 = 42\nexit'), {
      btfFd,
      logLevel: 2,
      funcInfo: [{ insnOff: 0, typeId: 3 }],
      lineInfo: [{ insnOff: 0, fileNameOff: 10, lineOff: 14, line: 7, column: 3 }],
    });
    try {
      expect(load.accepted, load.log).toBe(true);
      expect(load.log).toContain('; return 42; @ f.c:7');
    } finally {
      load.close();
      closeFd(btfFd);
    }
  });

  it('BTF_LOAD rejection carries the kernel log', () => {
    const bad = new Uint8Array(24); // a header with a bad magic
    try {
      loadBtf(bad);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KernelError);
      expect((e as KernelError).errno).toBe(22);
      expect((e as KernelError).log).toContain('Invalid magic');
    }
  });

  it('loads a BTF whose level-1 log would not fit (the kernel prints every type): first without a log', () => {
    // 6,000 empty structs named s0..s5999: valid BTF whose level-1 log is far past 64 KiB.
    const n = 6000;
    const names = Array.from({ length: n }, (_, i) => `s${i}`);
    const strs = Buffer.from(`\0${names.join('\0')}\0`);
    const types = Buffer.alloc(12 * n);
    let off = 1;
    for (let i = 0; i < n; i++) {
      types.writeUInt32LE(off, 12 * i);
      types.writeUInt32LE(0x04000000, 12 * i + 4); // STRUCT, vlen 0
      types.writeUInt32LE(0, 12 * i + 8);
      off += names[i]!.length + 1;
    }
    const hdr = Buffer.alloc(24);
    hdr.writeUInt16LE(0xeb9f, 0);
    hdr.writeUInt8(1, 2);
    hdr.writeUInt32LE(24, 4);
    hdr.writeUInt32LE(types.length, 12);
    hdr.writeUInt32LE(types.length, 16);
    hdr.writeUInt32LE(strs.length, 20);
    const btf = Buffer.concat([hdr, types, strs]);
    // Asked for a level-1 log in 64 KiB, the kernel fails the load with ENOSPC ...
    expect(() => loadBtf(btf, { logLevel: 1 })).toThrow(expect.objectContaining({ errno: 28 }));
    // ... which is why the default loads without one.
    closeFd(loadBtf(btf));
  });

  it('loads and closes 10,000 programs and maps without leaking a file descriptor', () => {
    const before = readdirSync('/proc/self/fd').length;
    const p = assemble('r0 = 0\nexit');
    for (let k = 0; k < 5000; k++) {
      loadProgram(p, { logLevel: 0 }).close();
      createMap({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 }).close();
    }
    expect(readdirSync('/proc/self/fd').length).toBe(before);
  }, 120_000);
});

describe('firstError', () => {
  it('takes the first line of a message the kernel prints over several lines (6.18.44: a kfunc call shared by two object types)', () => {
    // the tail of a 6.18.44 log (Linux selftests local_kptr_stash.c stash_rb_nodes), as the kernel printed it
    const log = [
      '56: (85) call bpf_obj_drop_impl#64633',
      'same call cannot be used with different types',
      'use one call for each type: inline the static function that holds the call,',
      'or mark the callee with __attribute__((nomerge))',
      'processed 124 insns (limit 1000000) max_states_per_insn 1 total_states 12 peak_states 12 mark_read 0',
      '',
    ].join('\n');
    expect(firstError(log)).toBe('same call cannot be used with different types');
  });
});
