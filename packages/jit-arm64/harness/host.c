/*
 * The host side of a run beyond plain memory, included by runner.c: maps (array, percpu_array
 * as one CPU, hash) with the map helpers, and packet contexts (socket filter, tc, XDP) laid
 * out as the kernel's BPF_PROG_TEST_RUN and @bpf/vm (packages/vm/src/context.ts) do, with
 * their helpers. The context and the packet live below 4 GiB, so that the u32 data/data_end
 * fields of __sk_buff and xdp_md hold whole pointers: the JIT loads them as the program says,
 * without the kernel's context rewrite.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define EFAULT_ ((u64)-14)
#define EINVAL_ ((u64)-22)

/* ---- maps ---- */

#define MAX_MAPS 16
struct map {
  uint32_t max_entries; /* first, as in struct bpf_array */
  uint32_t is_array;
  uint32_t key_size, value_size, stride, count;
  char name[64];
  uint8_t *values, *keys, *used;
};
static struct map maps[MAX_MAPS];
static int nmaps;

static void free_maps(void) {
  for (int k = 0; k < nmaps; k++) {
    free(maps[k].values);
    free(maps[k].keys);
    free(maps[k].used);
  }
  nmaps = 0;
}

static int hexv(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/* MAPS: '-' or comma-separated NAME:TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES:DATA_HEX|- */
static int build_maps(char *spec) {
  free_maps();
  if (!spec || !strcmp(spec, "-")) return 0;
  char *save = 0;
  for (char *e = strtok_r(spec, ",", &save); e; e = strtok_r(0, ",", &save)) {
    if (nmaps == MAX_MAPS) return -1;
    char name[64], type[32], data[4096 * 2 + 1];
    unsigned ks, vs, max;
    if (sscanf(e, "%63[^:]:%31[^:]:%u:%u:%u:%8192s", name, type, &ks, &vs, &max, data) != 6) return -1;
    struct map *m = &maps[nmaps++];
    memset(m, 0, sizeof *m);
    strcpy(m->name, name);
    m->is_array = !strcmp(type, "array") || !strcmp(type, "percpu_array");
    if (!m->is_array && strcmp(type, "hash") && strcmp(type, "percpu_hash") && strcmp(type, "lru_hash")) return -1;
    m->key_size = ks;
    m->value_size = vs;
    m->stride = (vs + 7) & ~7u;
    m->max_entries = max;
    m->values = calloc(max ? max : 1, m->stride);
    if (!m->is_array) {
      m->keys = calloc(max ? max : 1, ks);
      m->used = calloc(max ? max : 1, 1);
    }
    if (strcmp(data, "-"))
      for (size_t k = 0; 2 * k + 1 < strlen(data) && k < vs; k++) m->values[k] = (uint8_t)(hexv(data[2 * k]) << 4 | hexv(data[2 * k + 1]));
  }
  return nmaps;
}

static struct map *find_map(const char *name) {
  for (int k = 0; k < nmaps; k++)
    if (!strcmp(maps[k].name, name)) return &maps[k];
  return 0;
}

static long hash_slot(struct map *m, const uint8_t *key) {
  for (uint32_t s = 0; s < m->max_entries; s++)
    if (m->used[s] && !memcmp(m->keys + (size_t)s * m->key_size, key, m->key_size)) return s;
  return -1;
}

/* bpf_map_lookup_elem(map, key) */
static u64 map_lookup(struct map *m, const uint8_t *key) {
  if (m->is_array) {
    uint32_t idx;
    memcpy(&idx, key, 4);
    return idx < m->max_entries ? (u64)(uintptr_t)(m->values + (size_t)idx * m->stride) : 0;
  }
  long s = hash_slot(m, key);
  return s < 0 ? 0 : (u64)(uintptr_t)(m->values + (size_t)s * m->stride);
}

/* bpf_map_update_elem(map, key, value, flags): BPF_NOEXIST = 1, BPF_EXIST = 2 */
static u64 map_update(struct map *m, const uint8_t *key, const uint8_t *value, u64 flags) {
  if (m->is_array) {
    uint32_t idx;
    memcpy(&idx, key, 4);
    if (idx >= m->max_entries) return (u64)-7; /* -E2BIG */
    if (flags == 1) return (u64)-17;            /* -EEXIST */
    memcpy(m->values + (size_t)idx * m->stride, value, m->value_size);
    return 0;
  }
  long s = hash_slot(m, key);
  if (flags == 1 && s >= 0) return (u64)-17;
  if (flags == 2 && s < 0) return (u64)-2; /* -ENOENT */
  if (s < 0) {
    if (m->count >= m->max_entries) return (u64)-7;
    for (s = 0; m->used[s]; s++) {
    }
    m->used[s] = 1;
    m->count++;
    memcpy(m->keys + (size_t)s * m->key_size, key, m->key_size);
  }
  memcpy(m->values + (size_t)s * m->stride, value, m->value_size);
  return 0;
}

/* bpf_map_delete_elem(map, key) */
static u64 map_delete(struct map *m, const uint8_t *key) {
  if (m->is_array) return EINVAL_;
  long s = hash_slot(m, key);
  if (s < 0) return (u64)-2;
  m->used[s] = 0;
  m->count--;
  return 0;
}

/* ---- packet contexts ---- */

#define LOW_REGION ((void *)0x30000000ul)
#define LOW_SIZE (1ul << 20)
#define ETH_HLEN 14
#define XDP_HEADROOM 256
enum { CTX_NONE, CTX_SOCKET, CTX_TC, CTX_XDP };
static int ctx_kind;
static uint8_t *low;           /* ctx at low, the packet buffer at low + 4096 */
static uint8_t *pkt_buf;       /* the whole buffer (frame, or headroom + frame for XDP) */
static size_t pkt_buf_len, pkt_start, pkt_end;

/* The bytes ld_abs and the packet helpers see: skb->data .. end, or xdp data .. data_end. */
static uint8_t *pkt(void) { return pkt_buf + pkt_start; }
static size_t pkt_len(void) { return pkt_end - pkt_start; }

static void put32(uint8_t *at, uint32_t v) { memcpy(at, &v, 4); }
static void put16(uint8_t *at, uint16_t v) { memcpy(at, &v, 2); }

/* Lay out a context over `frame`; returns r1, or 0 when the kind is unknown or mapping fails. */
static void *make_context(const char *kind, const uint8_t *frame, size_t len) {
  ctx_kind = !strcmp(kind, "socket_filter") ? CTX_SOCKET : !strcmp(kind, "sched_cls") || !strcmp(kind, "sched_act") ? CTX_TC : !strcmp(kind, "xdp") ? CTX_XDP : CTX_NONE;
  if (ctx_kind == CTX_NONE || len + XDP_HEADROOM + 4096 > LOW_SIZE) return 0;
  if (!low) {
    low = mmap(LOW_REGION, LOW_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (low == MAP_FAILED || (uintptr_t)low + LOW_SIZE > 0xffffffffu) { low = 0; return 0; }
  }
  memset(low, 0, 4096 + XDP_HEADROOM + len);
  pkt_buf = low + 4096;
  uint32_t base = (uint32_t)(uintptr_t)pkt_buf;
  if (ctx_kind == CTX_XDP) {
    memcpy(pkt_buf + XDP_HEADROOM, frame, len);
    pkt_buf_len = XDP_HEADROOM + len;
    pkt_start = XDP_HEADROOM;
    pkt_end = pkt_buf_len;
    put32(low + 0, base + XDP_HEADROOM);  /* data */
    put32(low + 4, base + (uint32_t)pkt_end); /* data_end */
    put32(low + 8, base + XDP_HEADROOM);  /* data_meta */
    put32(low + 12, 1);                   /* ingress_ifindex: loopback */
    return low;
  }
  memcpy(pkt_buf, frame, len);
  pkt_buf_len = pkt_end = len;
  /* a socket filter sees the packet from the network header; tc from the Ethernet header */
  pkt_start = ctx_kind == CTX_SOCKET ? (len < ETH_HLEN ? len : ETH_HLEN) : 0;
  put32(low + 0, (uint32_t)(len - pkt_start)); /* len */
  put32(low + 4, 3);                            /* pkt_type: PACKET_OTHERHOST */
  if (len >= ETH_HLEN) put16(low + 16, (uint16_t)(frame[12] | frame[13] << 8)); /* protocol, as in the frame */
  put32(low + 40, 1);                           /* ifindex */
  if (ctx_kind == CTX_TC) {
    put32(low + 76, base);                      /* data */
    put32(low + 80, base + (uint32_t)len);      /* data_end */
    put32(low + 140, base);                     /* data_meta */
  }
  return low;
}

/* The packet as BPF_PROG_TEST_RUN returns it (data_out). */
static void context_output(const uint8_t **out, size_t *len) {
  if (ctx_kind == CTX_XDP) {
    *out = pkt();
    *len = pkt_len();
    return;
  }
  if (ctx_kind == CTX_SOCKET) memset(pkt_buf, 0, pkt_start);
  *out = pkt_buf;
  *len = pkt_buf_len;
}

/* bpf_skb_load_bytes(skb, offset, to, len) / bpf_xdp_load_bytes(xdp, offset, buf, len) */
static u64 load_bytes(void *ctx, u64 off, uint8_t *to, u64 len) {
  (void)ctx;
  if (off > pkt_len() || len > pkt_len() - off) {
    memset(to, 0, len);
    return EFAULT_;
  }
  memcpy(to, pkt() + off, len);
  return 0;
}
/* bpf_skb_store_bytes(skb, offset, from, len, flags) */
static u64 store_bytes(void *ctx, u64 off, const uint8_t *from, u64 len, u64 flags) {
  (void)ctx, (void)flags;
  if (len > 0xffff || off > pkt_len() || len > pkt_len() - off) return EFAULT_;
  memcpy(pkt() + off, from, len);
  return 0;
}

static uint32_t swap16(uint32_t w) { return (w & 0xff) << 8 | (w >> 8 & 0xff); }
/* RFC 1624 incremental update of the checksum at `off`, as net/core/filter.c bpf_l3_csum_replace */
static u64 csum_replace(u64 off, u64 from, u64 to, u64 size) {
  if (size != 0 && size != 2 && size != 4) return EINVAL_;
  if (size == 0 && from != 0) return EINVAL_;
  if (pkt_len() < 2 || off > pkt_len() - 2) return EFAULT_;
  uint8_t *p = pkt() + off;
  uint32_t sum = ~((uint32_t)p[0] << 8 | p[1]) & 0xffff;
  if (size == 0) {
    uint32_t d = (uint32_t)to;
    sum += swap16(d & 0xffff) + swap16(d >> 16);
  } else {
    sum += ~swap16(from & 0xffff) & 0xffff;
    if (size == 4) sum += ~swap16(from >> 16 & 0xffff) & 0xffff;
    sum += swap16(to & 0xffff);
    if (size == 4) sum += swap16(to >> 16 & 0xffff);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  uint32_t res = ~sum & 0xffff;
  p[0] = (uint8_t)(res >> 8);
  p[1] = (uint8_t)res;
  return 0;
}
static u64 l3_csum_replace(void *ctx, u64 off, u64 from, u64 to, u64 size) { (void)ctx; return csum_replace(off, from, to, size); }
static u64 l4_csum_replace(void *ctx, u64 off, u64 from, u64 to, u64 flags) { (void)ctx; return csum_replace(off, from, to, flags & 0xf); }

/* bpf_xdp_adjust_head(xdp, delta): data moves within the headroom, at least ETH_HLEN remain */
static u64 xdp_adjust_head(uint8_t *ctx, u64 delta) {
  long next = (long)pkt_start + (int32_t)delta;
  if (next < 0 || (long)pkt_end - next < ETH_HLEN) return EINVAL_;
  pkt_start = (size_t)next;
  put32(ctx + 0, (uint32_t)(uintptr_t)(pkt_buf + pkt_start));
  put32(ctx + 8, (uint32_t)(uintptr_t)(pkt_buf + pkt_start));
  return 0;
}
