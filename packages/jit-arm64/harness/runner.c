/*
 * Runs arm64 JIT output under qemu-aarch64. One run per input line:
 *   CODE_HEX RELOCS MEM_HEX [TABLES [MAPS [CONTEXT [THROW]]]]
 * CODE_HEX is the main program at offset 0, then any program a prog array holds (linked by the
 * caller). RELOCS is '-' or comma-separated OFFSET:KIND:NAME (KIND h = helper id, k = kfunc
 * name, m = prog array or map name, v = NAME@OFFSET, the address of a map's value). TABLES is '-' or comma-separated NAME:MAX_ENTRIES:SLOTS, SLOTS
 * being '/'-separated code offsets of the slots' programs ('-' for an empty slot); each becomes
 * the native prog array the JIT's tail calls read: u32 max_entries, u32 pad, u64 entry[].
 * MAPS and CONTEXT are described in host.c: with a CONTEXT (a packet program type), MEM_HEX is
 * the frame, r1 the context, and the output the packet as the kernel's test run returns it.
 * For each line it maps the code executable, patches every relocation with the address of a
 * native host function (the standard set of fixtures/conformance/README.md, incl. kfuncs with
 * up to 12 arguments: AAPCS64 puts the 9th..12th on the stack, so this checks the JIT's
 * placement against a real callee; bpf_loop, which calls JIT output back; the packet loads
 * behind ld_abs/ld_ind, over the run's memory) or a prog array, calls it with r1 = a copy of
 * the memory and r2 = its length, and prints "R0_HEX MEM_HEX" (or "ERR message").
 * THROW is '-' or comma-separated START:END:CB code offsets, one per program that may throw: its
 * main function's code (a return address in (START, END] is in it) and its exception callback,
 * which the kfunc bpf_throw below enters.
 */
#define _GNU_SOURCE /* MAP_FIXED_NOREPLACE */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef uint64_t u64;
#include "host.c"

static u64 ktime(void) { return 1000000000ull; }
static u64 prandom(void) { return 4; }
static u64 cpu_id(void) { return 0; }
static u64 sum12(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h, u64 i, u64 j, u64 k, u64 l) {
  return a + b + c + d + e + f + g + h + i + j + k + l;
}
static u64 weighted12(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h, u64 i, u64 j, u64 k, u64 l) {
  return 1 * a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h + 9 * i + 10 * j + 11 * k + 12 * l;
}
static u64 deref(u64 *p) { return *p; }

/* bpf_throw (kernel/bpf/helpers.c, arch_bpf_stack_walk over frame records): from the caller's
 * frame record up, the first frame whose return address is in a main function that may throw is
 * the boundary; its exception callback gets x0 = cookie, x1 = 0, x2 = the boundary's x29, as the
 * arm64 kernel passes them, and never returns here. throw_target says, for a return address: the
 * callback to enter, 0 (in the code but no main function: one frame up) or 1 (outside the code:
 * no boundary, a trap). x19..x21 are free to use: the callback restores the boundary's. */
#define MAX_THROW 16
static struct { u64 start, end, cb; } throw_targets[MAX_THROW];
static int nthrow;
static u64 code_start, code_end;
__attribute__((used)) u64 bpf_throw_target(u64 pc) {
  for (int k = 0; k < nthrow; k++)
    if (pc > throw_targets[k].start && pc <= throw_targets[k].end) return throw_targets[k].cb;
  return pc > code_start && pc <= code_end ? 0 : 1;
}
__asm__(".text\n"
        ".global bpf_throw_stub\n"
        ".type bpf_throw_stub, %function\n"
        "bpf_throw_stub:\n"
        "  mov x19, x0\n"
        "  mov x20, x29\n"
        "  mov x21, x30\n"
        "1:\n"
        "  mov x0, x21\n"
        "  bl bpf_throw_target\n"
        "  cmp x0, #1\n"
        "  b.eq 3f\n"
        "  cbz x0, 2f\n"
        "  mov x16, x0\n"
        "  mov x0, x19\n"
        "  mov x1, xzr\n"
        "  mov x2, x20\n"
        "  br x16\n"
        "2:\n"
        "  ldr x21, [x20, #8]\n"
        "  ldr x20, [x20]\n"
        "  b 1b\n"
        "3:\n"
        "  brk #0\n");
void bpf_throw_stub(u64 cookie);

/* THROW: the programs that may throw; 0 or -1 on a malformed spec. */
static int build_throw(char *spec, uint8_t *code, size_t code_len) {
  nthrow = 0;
  code_start = (u64)(uintptr_t)code;
  code_end = code_start + code_len;
  if (!spec || !strcmp(spec, "-")) return 0;
  char *save = 0;
  for (char *e = strtok_r(spec, ",", &save); e; e = strtok_r(0, ",", &save)) {
    unsigned long a, b, c;
    if (nthrow == MAX_THROW || sscanf(e, "%lu:%lu:%lu", &a, &b, &c) != 3 || b > code_len || c >= code_len) return -1;
    throw_targets[nthrow].start = code_start + a;
    throw_targets[nthrow].end = code_start + b;
    throw_targets[nthrow].cb = code_start + c;
    nthrow++;
  }
  return 0;
}

/* bpf_loop (kernel/bpf/bpf_iter.c): the callback is JIT output, an AAPCS64 function */
typedef u64 (*callback_fn)(u64, u64, u64, u64, u64);
static u64 bpf_loop(u64 nr, u64 fn, u64 ctx, u64 flags) {
  uint32_t n = (uint32_t)nr;
  if (flags) return (u64)-22; /* -EINVAL */
  if (n > 1u << 23) return (u64)-7; /* -E2BIG: BPF_MAX_LOOPS */
  for (uint32_t i = 0; i < n; i++)
    if (((callback_fn)fn)(i, ctx, 0, 0, 0)) return (u64)i + 1;
  return n;
}

/* The packet loads ld_abs/ld_ind call (net/core/filter.c bpf_skb_load_helper_N_no_cache): the
 * packet is the run's memory, read big-endian at an int offset; SKF_NET_OFF offsets count from
 * its start too. Out of range: -EFAULT. */
static const uint8_t *packet;
static size_t packet_len;
static u64 packet_load(int off, int size) {
  long o = off;
  if (o < 0 && o >= -0x100000) o += 0x100000;
  if (o < 0 || (size_t)o + (size_t)size > packet_len) return (u64)-14;
  u64 v = 0;
  for (int k = 0; k < size; k++) v = v << 8 | packet[o + k];
  return v;
}
static u64 load8(void *ctx, int off) { (void)ctx; return packet_load(off, 1); }
static u64 load16(void *ctx, int off) { (void)ctx; return packet_load(off, 2); }
static u64 load32(void *ctx, int off) { (void)ctx; return packet_load(off, 4); }

/* bpf_test_sumN / bpf_test_weightedN for N < 12: the unused trailing arguments are whatever the
 * caller left in those registers/slots, so the N-argument versions are separate functions. */
static u64 sum_n(int n, u64 *v, int weighted) {
  u64 r = 0;
  for (int k = 0; k < n; k++) r += (weighted ? (u64)(k + 1) : 1) * v[k];
  return r;
}
#define DEF(n) \
  static u64 s##n(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h, u64 i, u64 j, u64 k, u64 l) { u64 v[12] = {a,b,c,d,e,f,g,h,i,j,k,l}; return sum_n(n, v, 0); } \
  static u64 w##n(u64 a, u64 b, u64 c, u64 d, u64 e, u64 f, u64 g, u64 h, u64 i, u64 j, u64 k, u64 l) { u64 v[12] = {a,b,c,d,e,f,g,h,i,j,k,l}; return sum_n(n, v, 1); }
DEF(1) DEF(2) DEF(3) DEF(4) DEF(5) DEF(6) DEF(7) DEF(8) DEF(9) DEF(10) DEF(11)
static void *sums[13] = {0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, sum12};
static void *weights[13] = {0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, weighted12};

static void *resolve(char kind, const char *name) {
  if (kind == 'h') {
    long id = strtol(name, 0, 10);
    if (id == 5) return (void *)ktime;
    if (id == 7) return (void *)prandom;
    if (id == 8) return (void *)cpu_id;
    if (id == 181) return (void *)bpf_loop;
    if (id == 1) return (void *)map_lookup;
    if (id == 2) return (void *)map_update;
    if (id == 3) return (void *)map_delete;
    if (id == 9) return (void *)store_bytes;
    if (id == 10) return (void *)l3_csum_replace;
    if (id == 11) return (void *)l4_csum_replace;
    if (id == 26 || id == 189) return (void *)load_bytes;
    if (id == 44) return (void *)xdp_adjust_head;
    return 0;
  }
  int n;
  if (sscanf(name, "bpf_test_sum%d", &n) == 1 && n >= 1 && n <= 12) return sums[n];
  if (sscanf(name, "bpf_test_weighted%d", &n) == 1 && n >= 1 && n <= 12) return weights[n];
  if (!strcmp(name, "bpf_test_deref")) return (void *)deref;
  if (!strcmp(name, "bpf_throw")) return (void *)bpf_throw_stub;
  if (!strcmp(name, "bpf_skb_load_helper_8_no_cache")) return (void *)load8;
  if (!strcmp(name, "bpf_skb_load_helper_16_no_cache")) return (void *)load16;
  if (!strcmp(name, "bpf_skb_load_helper_32_no_cache")) return (void *)load32;
  return 0;
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }
static size_t unhex(const char *s, size_t len, uint8_t *out) {
  for (size_t k = 0; k + 1 < len + 1 && 2 * k + 1 < len + 1 && 2 * k < len; k++) out[k] = (uint8_t)(hexval(s[2 * k]) << 4 | hexval(s[2 * k + 1]));
  return len / 2;
}

#define MAX_TABLES 16
struct table {
  char name[64];
  uint8_t *mem;
};

/* Build the prog arrays of TABLES over the mapped code; returns the count, or -1. */
static int build_tables(char *spec, uint8_t *code, size_t code_len, struct table *t) {
  int n = 0;
  if (!strcmp(spec, "-")) return 0;
  char *save = 0;
  for (char *e = strtok_r(spec, ",", &save); e; e = strtok_r(0, ",", &save)) {
    char *c1 = strchr(e, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : 0;
    if (!c2 || n == MAX_TABLES || c1 - e >= 64) return -1;
    memcpy(t[n].name, e, (size_t)(c1 - e));
    t[n].name[c1 - e] = 0;
    unsigned long max = strtoul(c1 + 1, 0, 10);
    t[n].mem = calloc(1, 8 + 8 * max);
    *(uint32_t *)t[n].mem = (uint32_t)max;
    unsigned long slot = 0;
    char *save2 = 0;
    for (char *s = strtok_r(c2 + 1, "/", &save2); s; s = strtok_r(0, "/", &save2), slot++) {
      if (slot >= max) return -1;
      if (!strcmp(s, "-")) continue;
      unsigned long off = strtoul(s, 0, 10);
      if (off >= code_len) return -1;
      u64 at = (u64)(uintptr_t)(code + off);
      memcpy(t[n].mem + 8 + 8 * slot, &at, 8);
    }
    n++;
  }
  return n;
}

int main(void) {
  static char line[1 << 22];
  while (fgets(line, sizeof line, stdin)) {
    char *code_hex = strtok(line, " \n");
    char *relocs = strtok(0, " \n");
    char *mem_hex = strtok(0, " \n");
    char *tables_spec = strtok(0, " \n");
    char *maps_spec = strtok(0, " \n");
    char *ctx_spec = strtok(0, " \n");
    char *throw_spec = strtok(0, " \n");
    if (!code_hex || !relocs || !mem_hex) { printf("ERR malformed input\n"); fflush(stdout); continue; }
    size_t code_len = strlen(code_hex) / 2;
    size_t page = (code_len + 4095) & ~(size_t)4095;
    uint8_t *code = mmap(0, page ? page : 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) { printf("ERR mmap\n"); fflush(stdout); continue; }
    unhex(code_hex, strlen(code_hex), code);
    struct table tables[MAX_TABLES];
    int ntables = build_tables(tables_spec ? tables_spec : "-", code, code_len, tables);
    int bad = ntables < 0 || build_maps(maps_spec) < 0 || build_throw(throw_spec, code, code_len) < 0 ? 3 : 0;
    if (!bad && strcmp(relocs, "-")) {
      char *save = 0;
      for (char *r = strtok_r(relocs, ",", &save); r; r = strtok_r(0, ",", &save)) {
        char kind, name[128];
        unsigned long off;
        if (sscanf(r, "%lu:%c:%127s", &off, &kind, name) != 3 || off + 8 > code_len) { bad = 1; break; }
        void *fn = 0;
        if (kind == 'm') {
          for (int k = 0; k < ntables; k++)
            if (!strcmp(tables[k].name, name)) fn = tables[k].mem;
          if (!fn) fn = find_map(name);
        } else if (kind == 'v') {
          char *at = strchr(name, '@');
          struct map *m = at ? (*at = 0, find_map(name)) : 0;
          unsigned long voff = at ? strtoul(at + 1, 0, 10) : 0;
          if (m && voff < m->stride * (m->max_entries ? m->max_entries : 1)) fn = m->values + voff;
        } else fn = resolve(kind, name);
        if (!fn) { printf("ERR no host %s for %c:%s\n", kind == 'h' || kind == 'k' ? "function" : "map", kind, name); bad = 2; break; }
        memcpy(code + off, &fn, 8);
      }
    }
    if (bad) {
      if (bad == 1) printf("ERR bad relocation\n");
      if (bad == 3) printf("ERR bad prog array or map\n");
      fflush(stdout);
      for (int k = 0; k < ntables; k++) free(tables[k].mem);
      munmap(code, page);
      continue;
    }
    __builtin___clear_cache((char *)code, (char *)code + code_len);
    size_t mem_len = strcmp(mem_hex, "-") ? strlen(mem_hex) / 2 : 0;
    uint8_t *mem = calloc(mem_len + 8, 1);
    if (mem_len) unhex(mem_hex, strlen(mem_hex), mem);
    void *r1 = mem;
    packet = mem;
    packet_len = mem_len;
    ctx_kind = CTX_NONE;
    if (ctx_spec && strcmp(ctx_spec, "-")) {
      r1 = make_context(ctx_spec, mem, mem_len);
      if (!r1) {
        printf("ERR no packet context %s\n", ctx_spec);
        fflush(stdout);
        free(mem);
        for (int k = 0; k < ntables; k++) free(tables[k].mem);
        munmap(code, page);
        continue;
      }
      packet = pkt();
      packet_len = pkt_len();
    }
    u64 (*prog)(void *, u64) = (u64 (*)(void *, u64))code;
    u64 r0 = prog(r1, mem_len);
    const uint8_t *out = mem;
    size_t out_len = mem_len;
    if (ctx_kind != CTX_NONE) context_output(&out, &out_len);
    printf("%016llx ", (unsigned long long)r0);
    if (!out_len) printf("-");
    for (size_t k = 0; k < out_len; k++) printf("%02x", out[k]);
    printf("\n");
    fflush(stdout);
    free(mem);
    for (int k = 0; k < ntables; k++) free(tables[k].mem);
    munmap(code, page);
  }
  return 0;
}
