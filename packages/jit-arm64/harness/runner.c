/*
 * Runs arm64 JIT output under qemu-aarch64. One program per input line:
 *   CODE_HEX RELOCS MEM_HEX
 * RELOCS is '-' or comma-separated OFFSET:KIND:NAME (KIND h = helper id, k = kfunc name).
 * For each line it maps the code executable, patches every relocation with the address of a
 * native host function (the standard set of fixtures/conformance/README.md, incl. kfuncs with
 * up to 12 arguments: AAPCS64 puts the 9th..12th on the stack, so this checks the JIT's
 * placement against a real callee), calls it with r1 = a copy of the memory and r2 = its
 * length, and prints "R0_HEX MEM_HEX" (or "ERR message").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef uint64_t u64;
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
    return 0;
  }
  int n;
  if (sscanf(name, "bpf_test_sum%d", &n) == 1 && n >= 1 && n <= 12) return sums[n];
  if (sscanf(name, "bpf_test_weighted%d", &n) == 1 && n >= 1 && n <= 12) return weights[n];
  if (!strcmp(name, "bpf_test_deref")) return (void *)deref;
  return 0;
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }
static size_t unhex(const char *s, size_t len, uint8_t *out) {
  for (size_t k = 0; k + 1 < len + 1 && 2 * k + 1 < len + 1 && 2 * k < len; k++) out[k] = (uint8_t)(hexval(s[2 * k]) << 4 | hexval(s[2 * k + 1]));
  return len / 2;
}

int main(void) {
  static char line[1 << 22];
  while (fgets(line, sizeof line, stdin)) {
    char *code_hex = strtok(line, " \n");
    char *relocs = strtok(0, " \n");
    char *mem_hex = strtok(0, " \n");
    if (!code_hex || !relocs || !mem_hex) { printf("ERR malformed input\n"); fflush(stdout); continue; }
    size_t code_len = strlen(code_hex) / 2;
    size_t page = (code_len + 4095) & ~(size_t)4095;
    uint8_t *code = mmap(0, page ? page : 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED) { printf("ERR mmap\n"); fflush(stdout); continue; }
    unhex(code_hex, strlen(code_hex), code);
    int bad = 0;
    if (strcmp(relocs, "-")) {
      for (char *r = strtok(relocs, ","); r; r = strtok(0, ",")) {
        char kind, name[128];
        unsigned long off;
        if (sscanf(r, "%lu:%c:%127s", &off, &kind, name) != 3) { bad = 1; break; }
        void *fn = resolve(kind, name);
        if (!fn) { printf("ERR no host function for %c:%s\n", kind, name); bad = 2; break; }
        memcpy(code + off, &fn, 8);
      }
    }
    if (bad) { if (bad == 1) printf("ERR bad relocation\n"); fflush(stdout); munmap(code, page); continue; }
    __builtin___clear_cache((char *)code, (char *)code + code_len);
    size_t mem_len = strcmp(mem_hex, "-") ? strlen(mem_hex) / 2 : 0;
    uint8_t *mem = calloc(mem_len + 8, 1);
    if (mem_len) unhex(mem_hex, strlen(mem_hex), mem);
    u64 (*prog)(void *, u64) = (u64 (*)(void *, u64))code;
    u64 r0 = prog(mem, mem_len);
    printf("%016llx ", (unsigned long long)r0);
    if (!mem_len) printf("-");
    for (size_t k = 0; k < mem_len; k++) printf("%02x", mem[k]);
    printf("\n");
    fflush(stdout);
    free(mem);
    munmap(code, page);
  }
  return 0;
}
