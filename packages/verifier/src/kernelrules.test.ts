/**
 * Rules the Linux selftests' verifier_*.c programs exercise, each shown by small programs of our
 * own against the running kernel (verdict, first error, processed count, level-2 log):
 * BPF_F_RDONLY_PROG / BPF_F_WRONLY_PROG maps (check_map_access_type), bpf_get_local_storage's
 * flags, an ld_imm64 whose imm is no map's file descriptor, reads through a map pointer
 * (check_ptr_to_map_access), a helper's pointer arguments' offsets (check_func_arg_reg_off),
 * pointer offsets after known moves (check_reg_sane_offset), enum bpf_map_type values, one
 * instruction used with two kinds of pointer (save_aux_ptr_type), flow keys arithmetic, the
 * depth of a chain of calls, a maybe-NULL pointer compared with
 * a non-NULL one (mark_ptr_not_null_reg), and LD_ABS / LD_IND in subprograms (check_ld_abs's
 * hidden exit, check_btf_func's return type).
 */
import { assemble, type Program, type ProgType } from '@bpf/isa';
import { skipWithout } from '@bpf/testkit';
import { describe, it } from 'vitest';
import { buildC, expectSameAsKernel, haveVmlinux } from './kernel.test.helper.js';

const prog = (type: ProgType, src: string): Program => ({ ...assemble(src), type }) as Program;
const RDONLY_PROG = 0x80;
const WRONLY_PROG = 0x100;

describe.skipIf(skipWithout('kernel') || !haveVmlinux())('verifier rules against the running kernel', () => {
  it('a map programs may only read, or only write: each access kind through a pointer into its value', () => {
    const accesses: Record<string, string> = {
      store: '*(u64 *)(r0 +8) = r6',
      'store imm': '*(u32 *)(r0 +4) = 1',
      load: 'r1 = *(u16 *)(r0 +2)',
      atomic: 'r1 = 1\nlock *(u64 *)(r0 +0) += r1',
      // bpf_skb_load_bytes writes 8 bytes into the value; bpf_csum_diff reads 4 of it
      'helper writes': 'r1 = r6\nr2 = 0\nr3 = r0\nr4 = 8\ncall bpf_skb_load_bytes',
      'helper reads': 'r1 = r0\nr2 = 4\nr3 = 0\nr4 = 0\nr5 = 0\ncall bpf_csum_diff',
    };
    for (const flags of [0, RDONLY_PROG, WRONLY_PROG])
      for (const [kind, access] of Object.entries(accesses)) {
        const src = [`.map m array 4 48 1 ${flags}`, 'r6 = r1', 'r1 = 0', '*(u64 *)(r10 -8) = r1', 'r2 = r10', 'r2 += -8', 'r1 = m ll', 'call bpf_map_lookup_elem', 'if r0 == 0 goto out', access, 'out:', 'r0 = 0', 'exit'].join('\n');
        expectSameAsKernel(`flags ${flags} ${kind}`, prog('sched_cls', src));
      }
  });

  it("bpf_get_local_storage's flags are 0, known", () => {
    for (const flags of ['r2 = 0', 'r2 = 1', 'call bpf_get_prandom_u32\nr2 = r0\nr2 &= 1']) {
      const src = ['.map st cgroup_storage 16 64 0', flags, 'r1 = st ll', 'call bpf_get_local_storage', 'r0 = *(u32 *)(r0 +0)', 'r0 &= 1', 'exit'].join('\n');
      expectSameAsKernel(flags, prog('cgroup_skb', src));
    }
  });

  it('an ld_imm64 of a map file descriptor with no relocation names no map', () => {
    // compiled and linked: the object's map references are relocations, this one is not
    const progs = buildC(`
#include "bpf_defs.h"
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } m SEC(".maps");
SEC("socket") __attribute__((naked)) int raw_fd(void) {
  asm volatile("r1 = 0; *(u64 *)(r10 - 8) = r1; r2 = r10; r2 += -8; .8byte 0x0000000000001118; .8byte 0; call 3; r0 = 0; exit;");
}
SEC("socket") __attribute__((naked)) int relocated(void) {
  asm volatile("r1 = 0; *(u64 *)(r10 - 8) = r1; r2 = r10; r2 += -8; r1 = %[m] ll; call 3; r0 = 0; exit;" :: [m] "i"(&m));
}
char _license[] SEC("license") = "GPL";
`);
    for (const p of progs) expectSameAsKernel(p.name, p);
  });

  it('a maybe-NULL pointer equal to a non-NULL one is not NULL on the equal branch, that register alone', () => {
    const lookup = ['r1 = 0', '*(u64 *)(r10 -8) = r1', 'r2 = r10', 'r2 += -8', 'r1 = m ll', 'call bpf_map_lookup_elem'];
    for (const cond of ['==', '!='])
      for (const readOnEqual of [true, false])
        for (const reg of ['r7', 'r8']) {
          // r6 checked, r7 not; r8 a copy of r7 (same id), which the comparison does not reach
          const cmp = cond === '==' ? (readOnEqual ? ['if r6 == r7 goto l1', 'goto out', 'l1:'] : ['if r6 == r7 goto out']) : readOnEqual ? ['if r6 != r7 goto out'] : ['if r6 != r7 goto l1', 'goto out', 'l1:'];
          const src = ['.map m array 4 8 1', ...lookup, 'r6 = r0', ...lookup, 'r7 = r0', 'r8 = r7', 'if r6 == 0 goto out', ...cmp, `r0 = *(u64 *)(${reg} +0)`, 'out:', 'r0 = 0', 'exit'].join('\n');
          expectSameAsKernel(`${cond} ${readOnEqual ? 'equal' : 'unequal'} ${reg}`, prog('socket_filter', src));
        }
  });

  it("a map pointer reads as its map's kernel struct: offsets, sizes, a write, map types", () => {
    for (const [type, key, value] of [['array', 4, 48], ['hash', 8, 16], ['percpu_array', 4, 8], ['lru_hash', 4, 4], ['ringbuf', 0, 0]] as const)
      for (const [off, size] of [[-8, 'u64'], [0, 'u64'], [1, 'u32'], [32, 'u64'], [64, 'u64'], [72, 'u32'], [200, 'u64'], [420, 'u32'], [1000, 'u64']] as const) {
        const src = [`.map m ${type} ${key} ${value} ${type === 'ringbuf' ? 4096 : 1}`, 'r1 = m ll', `r6 = *(${size} *)(r1 ${off < 0 ? '-' : '+'}${Math.abs(off)})`, 'r0 = 1', 'exit'].join('\n');
        expectSameAsKernel(`${type} ${size} at ${off}`, prog('socket_filter', src));
      }
    expectSameAsKernel('write', prog('socket_filter', ['.map m array 4 48 1', 'r2 = 0', 'r1 = m ll', '*(u64 *)(r1 +0) = r2', 'r0 = 1', 'exit'].join('\n')));
  });

  it('a pointer passed to a helper in the form its type allows: ctx unmodified, memory at any offset, a released record at 0', () => {
    const cases: Record<string, string> = {
      'ctx - 8': 'r1 = r6\nr1 += -8',
      'ctx + 8': 'r1 = r6\nr1 += 8',
      'ctx + var': 'call bpf_get_prandom_u32\nr0 &= 4\nr1 = r6\nr1 += r0',
      'ctx + var - 4': 'call bpf_get_prandom_u32\nr0 &= 4\nr1 = r6\nr1 += r0\nr1 += -4',
      ctx: 'r1 = r6',
    };
    for (const [name, setup] of Object.entries(cases)) {
      const src = ['r6 = r1', setup, 'r2 = 0', 'r3 = r10', 'r3 += -8', 'r4 = 4', 'call bpf_skb_load_bytes', 'r0 = 0', 'exit'].join('\n');
      expectSameAsKernel(name, prog('sched_cls', src));
    }
    for (const [name, adjust] of [['record', ''], ['record + 8', 'r1 += 8'], ['record - 8', 'r1 += -8']] as const) {
      const src = ['.map rb ringbuf 0 0 4096', 'r1 = rb ll', 'r2 = 16', 'r3 = 0', 'call bpf_ringbuf_reserve', 'if r0 == 0 goto out', 'r1 = r0', adjust, 'r2 = 0', 'call bpf_ringbuf_submit', 'out:', 'r0 = 0', 'exit'].filter((l) => l !== '').join('\n');
      expectSameAsKernel(name, prog('socket_filter', src));
    }
  });

  it('a map of the wrong type for a helper is named by its enum bpf_map_type value', () => {
    for (const [type, key, value, entries] of [['ringbuf', 0, 0, 4096], ['queue', 0, 4, 4], ['stack', 0, 4, 4], ['bloom_filter', 0, 4, 4], ['percpu_array', 4, 4, 1]] as const) {
      const src = [`.map m ${type} ${key} ${value} ${entries}`, 'r1 = 0', '*(u64 *)(r10 -8) = r1', 'r2 = r10', 'r2 += -8', 'r1 = m ll', 'call bpf_map_delete_elem', 'r0 = 0', 'exit'].join('\n');
      expectSameAsKernel(type, prog('socket_filter', src));
    }
  });

  it('a pointer moved by known amounts keeps a sane fixed offset (check_reg_sane_offset on the result)', () => {
    for (const step of [0x1fffffff, -0x1fffffff, 0x10000000, 0x20000000])
      for (const times of [1, 2]) {
        const moves = Array.from({ length: times }, () => `r1 += ${step}`);
        expectSameAsKernel(`fp ${step} x${times}`, prog('socket_filter', ['r1 = r10', ...moves, 'r0 = 42', '*(u8 *)(r1 -1) = r0', 'r0 = 0', 'exit'].join('\n')));
        const src = ['.map m hash 8 8 1', 'r1 = 0', '*(u64 *)(r10 -8) = r1', 'r2 = r10', 'r2 += -8', 'r1 = m ll', 'call bpf_map_lookup_elem', 'if r0 == 0 goto out', 'r1 = r0', ...moves, 'r0 = *(u64 *)(r1 +2)', 'out:', 'r0 = 0', 'exit'].join('\n');
        expectSameAsKernel(`map_value ${step} x${times}`, prog('socket_filter', src));
      }
  });

  it("a flow dissector's keys pointer moves by known amounts only", () => {
    // __sk_buff.flow_keys is at 144
    for (const [name, off] of [['known', 'r8 = 8'], ['unknown', 'r8 = 8\nr8 /= 1\nr8 &= 8'], ['bounded', 'call bpf_get_prandom_u32\nr8 = r0\nr8 &= 8']] as const) {
      const src = ['r6 = r1', off, 'r7 = *(u64 *)(r6 +144)', 'r7 += r8', 'r0 = *(u64 *)(r7 +0)', 'r0 = 0', 'exit'].join('\n');
      expectSameAsKernel(name, prog('flow_dissector', src));
    }
  });

  it('one load or store instruction, two kinds of pointer on two paths', () => {
    const accesses = { load: 'r0 = *(u32 *)(r1 +48)', store: '*(u32 *)(r1 +48) = r2', 'store imm': '*(u32 *)(r1 +48) = 0' };
    // the other path's pointer: the context (r6), or a map value / the stack, both plain memory
    const others = { ctx: 'r1 = r6', map: 'r1 = r7', stack: 'r1 = r10\nr1 += -64' };
    for (const [kind, access] of Object.entries(accesses))
      for (const [first, a] of Object.entries(others))
        for (const [second, b] of Object.entries(others)) {
          if (first === second) continue;
          const src = ['.map m array 4 64 1', 'r6 = r1', 'r1 = 0', '*(u64 *)(r10 -8) = r1', 'r2 = r10', 'r2 += -8', 'r1 = m ll', 'call bpf_map_lookup_elem', 'if r0 == 0 goto out', 'r7 = r0', 'r2 = 0', '*(u64 *)(r10 -16) = r2', '*(u64 *)(r10 -24) = r2', '*(u64 *)(r10 -32) = r2', '*(u64 *)(r10 -40) = r2', '*(u64 *)(r10 -48) = r2', '*(u64 *)(r10 -56) = r2', '*(u64 *)(r10 -64) = r2', 'call bpf_get_prandom_u32', a, 'if r0 == 0 goto l1', b, 'l1:', 'r2 = 0', access, 'out:', 'r0 = 0', 'exit'].join('\n');
          expectSameAsKernel(`${kind} ${first} then ${second}`, prog('socket_filter', src));
        }
  });

  it('a chain of calls is at most 8 frames deep, recursion included (check_max_stack_depth)', () => {
    const progs = buildC(`
#include "bpf_defs.h"
static __noinline __attribute__((naked, used)) void rec(void) {
  asm volatile("r1 += 1; r0 = r1; if r1 < 4 goto 1f; exit; 1: call rec; exit;");
}
static __noinline __attribute__((naked, used)) void d7(void) { asm volatile("r0 = 0; exit;"); }
static __noinline __attribute__((naked, used)) void d6(void) { asm volatile("call d7; exit;"); }
static __noinline __attribute__((naked, used)) void d5(void) { asm volatile("call d6; exit;"); }
static __noinline __attribute__((naked, used)) void d4(void) { asm volatile("call d5; exit;"); }
static __noinline __attribute__((naked, used)) void d3(void) { asm volatile("call d4; exit;"); }
static __noinline __attribute__((naked, used)) void d2(void) { asm volatile("call d3; exit;"); }
static __noinline __attribute__((naked, used)) void d1(void) { asm volatile("call d2; exit;"); }
static __noinline __attribute__((naked, used)) void d0(void) { asm volatile("call d1; exit;"); }
SEC("tracepoint") __attribute__((naked)) int bounded_recursion(void) { asm volatile("r1 = 0; call rec; exit;"); }
SEC("tracepoint") __attribute__((naked)) int eight_frames(void) { asm volatile("call d1; r0 = 0; exit;"); }
SEC("tracepoint") __attribute__((naked)) int nine_frames(void) { asm volatile("call d0; r0 = 0; exit;"); }
char _license[] SEC("license") = "GPL";
`);
    for (const p of progs) expectSameAsKernel(p.name, p);
  });

  it('a map pointer compared with 0 is never NULL: one branch followed (reg_not_null)', () => {
    for (const cond of ['==', '!=']) expectSameAsKernel(cond, prog('socket_filter', ['.map m hash 8 8 1', 'r1 = m ll', `if r1 ${cond} 0 goto l0`, 'r0 = 1', 'exit', 'l0:', 'r0 = 0', 'exit'].join('\n')));
  });

  it('LD_ABS and LD_IND in a subprogram: a failed load returns 0 from it; it, and one that tail-calls, must return int', () => {
    const progs = buildC(`
#include "bpf_defs.h"
static __noinline __attribute__((naked, used)) int abs_int(void) {
  asm volatile("r6 = r1; r0 = *(u8 *)skb[0]; r0 = 1; exit;");
}
static __noinline __attribute__((naked, used)) int ind_int(void) {
  asm volatile("r6 = r1; r7 = 2; r0 = *(u16 *)skb[r7]; r0 = 1; exit;");
}
static __noinline __attribute__((naked, used)) void abs_void(void) {
  asm volatile("r6 = r1; r0 = *(u32 *)skb[0]; exit;");
}
SEC("socket") __attribute__((naked)) int abs_then_exit(void) {
  asm volatile("call abs_int; r0 = 0; exit;");
}
SEC("socket") __attribute__((naked)) int ind_then_exit(void) {
  asm volatile("call ind_int; r0 = 0; exit;");
}
SEC("socket") __attribute__((naked)) int abs_zero_path_reads_r9(void) {
  asm volatile("call abs_int; if r0 != 0 goto 1f; r0 = r9; 1: r0 = 0; exit;");
}
SEC("socket") __attribute__((naked)) int abs_one_path_reads_r9(void) {
  asm volatile("call abs_int; if r0 == 0 goto 1f; r0 = r9; 1: r0 = 0; exit;");
}
SEC("socket") __attribute__((naked)) int abs_in_void(void) {
  asm volatile("call abs_void; r0 = 0; exit;");
}
struct { __uint(type, 3); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } pa SEC(".maps");
static __noinline __attribute__((naked, used)) void tail_void(void) {
  asm volatile("r2 = %[pa] ll; r3 = 0; call 12; exit;" :: [pa] "i"(&pa));
}
SEC("socket") __attribute__((naked)) int tail_call_in_void(void) {
  asm volatile("call tail_void; r0 = 0; exit;");
}
char _license[] SEC("license") = "GPL";
`);
    for (const p of progs) expectSameAsKernel(p.name, p);
  });

  it("bpf_get_smp_processor_id returns a CPU number below nr_cpu_ids (do_refine_retval_range)", () => {
    // the range prints in the level-2 log, decides a comparison's branch, and bounds a
    // variable stack offset (a write the kernel allows only inside the frame)
    const uses = [
      'r6 = r0',
      'if r0 > 1 goto big\nr0 = 0\nexit\nbig:\nr0 = 1',
      'if r0 s< 0 goto neg\nr0 = 0\nexit\nneg:\nr0 = 1',
      'r0 <<= 3\nr1 = r10\nr1 += -64\nr1 += r0\nr2 = 1\n*(u64 *)(r1 +0) = r2\nr0 = 0',
      'r0 <<= 3\nr1 = r10\nr1 += -8\nr1 += r0\nr2 = 1\n*(u64 *)(r1 +0) = r2\nr0 = 0',
    ];
    for (const use of uses) expectSameAsKernel(use, prog('socket_filter', ['call bpf_get_smp_processor_id', use, 'r0 = 0', 'exit'].join('\n')));
  });

  it('a variable-offset stack write of zero marks the value precise only where a byte stays zero (zero_used)', () => {
    // r1: fp-64 plus 0 or 8 (bpf_get_smp_processor_id on a machine with 2 possible CPUs, or more)
    const at = ['call bpf_get_smp_processor_id', 'r0 &= 1', 'r0 <<= 3', 'r1 = r10', 'r1 += -64', 'r1 += r0'];
    const zeros = ['r2 = 0', '*(u64 *)(r10 -64) = r2', '*(u64 *)(r10 -56) = r2'];
    const cases: Record<string, string[]> = {
      'zero into unwritten slots': ['r2 = 0', '*(u64 *)(r1 +0) = r2'],
      'zero u32 into unwritten slots': ['r2 = 0', '*(u32 *)(r1 +0) = r2'],
      'zero into zero slots': [...zeros, '*(u64 *)(r1 +0) = r2'],
      'zero imm into zero slots': [...zeros, '*(u64 *)(r1 +0) = 0'],
      'zero into spilled zeros': ['r2 = 0', '*(u64 *)(r10 -64) = r2', '*(u64 *)(r10 -56) = r2', 'r3 = 0', '*(u32 *)(r1 +0) = r3'],
      'one into zero slots': [...zeros, 'r2 = 1', '*(u64 *)(r1 +0) = r2'],
    };
    for (const [name, body] of Object.entries(cases)) expectSameAsKernel(name, prog('socket_filter', [...at, ...body, 'r0 = 0', 'exit'].join('\n')));
  });

  it('a kfunc call under a non-GPL license is refused before the walk (add_kfunc_call)', () => {
    for (const license of ['MIT', 'GPL']) {
      const progs = buildC(`
#include "bpf_defs.h"
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
SEC("socket") int locked(void *ctx) {
  volatile int x = 1;
  bpf_rcu_read_lock();
  bpf_rcu_read_unlock();
  return x;
}
char _license[] SEC("license") = "${license}";
`);
      for (const p of progs) expectSameAsKernel(`${license} ${p.name}`, p);
    }
  });

  it('a tail call through a map that is no program array: the message the stats line runs into', () => {
    for (const map of ['.map m array 4 4 1', '.map m prog_array 4 4 1'])
      expectSameAsKernel(map, prog('socket_filter', [map, 'r2 = m ll', 'r3 = 0', 'call bpf_tail_call', 'r0 = 0', 'exit'].join('\n')));
  });

  it('a lookup in an xskmap gives an AF_XDP socket: xdp_sock_or_null, then xdp_sock and its queue_id', () => {
    const lookup = ['.map xsks xskmap 4 4 1', 'r1 = 0', '*(u32 *)(r10 -4) = r1', 'r2 = r10', 'r2 += -4', 'r1 = xsks ll', 'call bpf_map_lookup_elem'];
    const uses = ['if r0 == 0 goto out', 'if r0 == 0 goto out\nr0 = *(u32 *)(r0 +0)', 'if r0 == 0 goto out\nr0 = *(u64 *)(r0 +0)', 'if r0 == 0 goto out\nr0 = *(u32 *)(r0 +4)', 'if r0 == 0 goto out\nr1 = 1\n*(u32 *)(r0 +0) = r1', 'r0 = *(u32 *)(r0 +0)', 'r6 = r0\nr0 = 0\nif r6 != 0 goto out\nr0 = 1'];
    for (const use of uses) expectSameAsKernel(use, prog('xdp', [...lookup, use, 'out:', 'r0 = 2', 'exit'].join('\n')));
  });

  it('a ring buffer declared with key and value sizes has neither in the kernel (ks=0,vs=0)', () => {
    for (const map of ['.map rb ringbuf 0 0 4096', '.map rb ringbuf 4 20 4096'])
      expectSameAsKernel(map, prog('socket_filter', [map, 'r1 = rb ll', 'r2 = 8', 'r3 = 0', 'call bpf_ringbuf_reserve', 'if r0 == 0 goto out', 'r1 = r0', 'r2 = 0', 'call bpf_ringbuf_discard', 'out:', 'r0 = 0', 'exit'].join('\n')));
  });

  it('an SCC call chain whose first call site is instruction 0 prints without it (format_callchain)', () => {
    const progs = buildC(`
#include "bpf_defs.h"
static __noinline __attribute__((naked, used)) void loop(void) {
  asm volatile("r1 = 0; 1: r1 += 1; if r1 < 3 goto 1b; r0 = 0; exit;");
}
static __noinline __attribute__((naked, used)) void outer(void) { asm volatile("r2 = 0; call loop; r0 = 0; exit;"); }
SEC("tracepoint") __attribute__((naked)) int call_at_0(void) { asm volatile("call loop; r0 = 0; exit;"); }
SEC("tracepoint") __attribute__((naked)) int call_at_1(void) { asm volatile("r1 = 0; call loop; r0 = 0; exit;"); }
SEC("tracepoint") __attribute__((naked)) int nested_at_0(void) { asm volatile("call outer; r0 = 0; exit;"); }
SEC("tracepoint") __attribute__((naked)) int nested_at_1(void) { asm volatile("r1 = 0; call outer; r0 = 0; exit;"); }
char _license[] SEC("license") = "GPL";
`);
    for (const p of progs) expectSameAsKernel(p.name, p);
  });

  it('an atomic that fetches into its own address register accesses through an unknown scalar (check_reg_arg marks it first)', () => {
    const cases: Record<string, string> = {
      'fetch_add, scalar address': 'r1 = 0\nr1 = atomic_fetch_add((u64 *)(r1 +8), r1)',
      'fetch_add w, scalar address': 'r1 = 0\nw1 = atomic_fetch_add((u32 *)(r1 +0), w1)',
      'fetch_add, stack address': 'r1 = 0\n*(u64 *)(r10 -8) = r1\nr1 = r10\nr1 += -8\nr1 = atomic_fetch_add((u64 *)(r1 +0), r1)',
      'xchg, stack address': 'r1 = 0\n*(u64 *)(r10 -8) = r1\nr1 = r10\nr1 += -8\nr1 = xchg_64(r1 +0, r1)',
      'cmpxchg, address in r0': 'r1 = 0\n*(u64 *)(r10 -8) = r1\nr0 = r10\nr0 += -8\nr0 = cmpxchg_64(r0 +0, r0, r1)',
      'fetch_add into the source only': 'r1 = 0\n*(u64 *)(r10 -8) = r1\nr2 = r10\nr2 += -8\nr1 = atomic_fetch_add((u64 *)(r2 +0), r1)',
      'add without fetch, scalar address': 'r1 = 0\nlock *(u64 *)(r1 +8) += r1',
    };
    for (const [name, body] of Object.entries(cases)) expectSameAsKernel(name, prog('socket_filter', `${body}\nr0 = 0\nexit`));
  });
});
