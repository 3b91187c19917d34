/*
 * The init of the arm64 kernel oracle (packages/jit-arm64/oracle): PID 1 of an initramfs booted
 * under qemu-system-aarch64. It reads the batch /batch.bin written by src/node/kernel-oracle.ts,
 * loads each program with bpf(BPF_PROG_LOAD) (its maps created first), reads back the verdict,
 * jited_prog_len, the JIT image and the xlated program, test-runs it when asked, prints one
 * JSON line per program on the console ("BPFJ {...}") and powers the machine off.
 *
 * Batch (little-endian u32 unless said): "B64K", count, then per program:
 *   prog_type, expected_attach_type, insn_cnt, insns[insn_cnt * 8],
 *   map_cnt, per map { type, key_size, value_size, max_entries, flags, freeze, data_len, data },
 *   run (0 none, 1 BPF_PROG_TEST_RUN), data_len, data[data_len], repeat.
 * An ld_imm64 with src_reg 1 (map fd) or 2 (map value) carries the map's index in imm.
 *
 * Built with aarch64-linux-gnu-gcc -static.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/reboot.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static unsigned char *batch;
static size_t batch_len, at;

static uint32_t u32(void) {
	uint32_t v = 0;
	if (at + 4 <= batch_len) memcpy(&v, batch + at, 4);
	at += 4;
	return v;
}
static const unsigned char *bytes(size_t n) {
	const unsigned char *p = batch + at;
	at += n;
	return p;
}

static long sys_bpf(int cmd, union bpf_attr *attr) {
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static void put_hex(const char *key, const unsigned char *p, size_t n) {
	printf(",\"%s\":\"", key);
	for (size_t k = 0; k < n; k++) printf("%02x", p[k]);
	putchar('"');
}
static void put_str(const char *key, const char *s) {
	printf(",\"%s\":\"", key);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') printf("\\%c", c);
		else if (c == '\n') printf("\\n");
		else if (c < 0x20 || c >= 0x7f) printf("\\u%04x", c);
		else putchar(c);
	}
	putchar('"');
}

#define LOG_SIZE (1 << 20)
#define MAX_MAPS 64
static char log_buf[LOG_SIZE];
static unsigned char data_out[1 << 16];

static void one(uint32_t index) {
	uint32_t type = u32(), attach = u32(), cnt = u32();
	struct bpf_insn *insns = malloc((size_t)cnt * 8 + 8);
	memcpy(insns, bytes((size_t)cnt * 8), (size_t)cnt * 8);
	uint32_t nmaps = u32();
	int fds[MAX_MAPS];
	int map_errno = 0;
	for (uint32_t m = 0; m < nmaps; m++) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_type = u32();
		a.key_size = u32();
		a.value_size = u32();
		a.max_entries = u32();
		a.map_flags = u32();
		uint32_t freeze = u32(), len = u32();
		const unsigned char *data = bytes(len);
		int fd = (int)sys_bpf(BPF_MAP_CREATE, &a);
		if (fd < 0 && !map_errno) map_errno = errno;
		if (m < MAX_MAPS) fds[m] = fd;
		if (fd >= 0 && len) {
			unsigned char key[64] = {0};
			union bpf_attr u;
			memset(&u, 0, sizeof(u));
			u.map_fd = fd;
			u.key = (uint64_t)(uintptr_t)key;
			u.value = (uint64_t)(uintptr_t)data;
			if (sys_bpf(BPF_MAP_UPDATE_ELEM, &u) < 0 && !map_errno) map_errno = errno;
			if (freeze) {
				memset(&u, 0, sizeof(u));
				u.map_fd = fd;
				sys_bpf(BPF_MAP_FREEZE, &u);
			}
		}
	}
	uint32_t run = u32(), dlen = u32();
	const unsigned char *data_in = bytes(dlen);
	uint32_t repeat = u32();
	for (uint32_t k = 0; k < cnt; k++) {
		if (insns[k].code == (BPF_LD | BPF_DW | BPF_IMM) && (insns[k].src_reg == 1 || insns[k].src_reg == 2)) {
			uint32_t m = (uint32_t)insns[k].imm;
			insns[k].imm = m < nmaps && m < MAX_MAPS ? fds[m] : -1;
		}
	}

	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.expected_attach_type = attach;
	a.insn_cnt = cnt;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.license = (uint64_t)(uintptr_t)"GPL";
	a.log_level = 1;
	a.log_size = LOG_SIZE;
	a.log_buf = (uint64_t)(uintptr_t)log_buf;
	log_buf[0] = 0;
	int fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
	int load_errno = fd < 0 ? errno : 0;
	printf("BPFJ {\"i\":%u,\"accepted\":%s,\"errno\":%d", index, fd >= 0 ? "true" : "false", load_errno);
	if (map_errno) printf(",\"mapErrno\":%d", map_errno);
	if (fd < 0) {
		/* the error is at the end of the log: keep its tail */
		size_t n = strlen(log_buf);
		put_str("log", n > 2048 ? log_buf + n - 2048 : log_buf);
	} else {
		struct bpf_prog_info info;
		memset(&info, 0, sizeof(info));
		union bpf_attr q;
		memset(&q, 0, sizeof(q));
		q.info.bpf_fd = fd;
		q.info.info_len = sizeof(info);
		q.info.info = (uint64_t)(uintptr_t)&info;
		if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &q) == 0) {
			uint32_t jl = info.jited_prog_len, xl = info.xlated_prog_len;
			unsigned char *jited = malloc(jl + 1), *xlated = malloc(xl + 1);
			memset(&info, 0, sizeof(info));
			info.jited_prog_len = jl;
			info.xlated_prog_len = xl;
			info.jited_prog_insns = (uint64_t)(uintptr_t)jited;
			info.xlated_prog_insns = (uint64_t)(uintptr_t)xlated;
			q.info.info_len = sizeof(info);
			if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &q) == 0) {
				printf(",\"jitedLen\":%u", jl);
				put_hex("jited", jited, info.jited_prog_len < jl ? info.jited_prog_len : jl);
				put_hex("xlated", xlated, info.xlated_prog_len < xl ? info.xlated_prog_len : xl);
			}
			free(jited);
			free(xlated);
		}
		if (run) {
			union bpf_attr t;
			memset(&t, 0, sizeof(t));
			t.test.prog_fd = fd;
			t.test.data_in = (uint64_t)(uintptr_t)data_in;
			t.test.data_size_in = dlen;
			t.test.data_out = (uint64_t)(uintptr_t)data_out;
			t.test.data_size_out = sizeof(data_out);
			t.test.repeat = repeat;
			if (sys_bpf(BPF_PROG_TEST_RUN, &t) == 0) {
				printf(",\"retval\":%u,\"duration\":%u", t.test.retval, t.test.duration);
				put_hex("dataOut", data_out, t.test.data_size_out < sizeof(data_out) ? t.test.data_size_out : sizeof(data_out));
			} else
				printf(",\"runErrno\":%d", errno);
		}
		close(fd);
	}
	printf("}\n");
	fflush(stdout);
	for (uint32_t m = 0; m < nmaps && m < MAX_MAPS; m++)
		if (fds[m] >= 0) close(fds[m]);
	free(insns);
}

int main(void) {
	/* the kernel opened /dev/console for us (the initramfs holds the node) */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	int fd = open("/batch.bin", O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("BPFJ-ERROR cannot open /batch.bin: %d\n", errno);
	} else {
		batch_len = (size_t)st.st_size;
		batch = malloc(batch_len + 1);
		size_t got = 0;
		while (got < batch_len) {
			ssize_t n = read(fd, batch + got, batch_len - got);
			if (n <= 0) break;
			got += (size_t)n;
		}
		if (got != batch_len || batch_len < 8 || memcmp(batch, "B64K", 4) != 0) {
			printf("BPFJ-ERROR bad batch (%zu bytes)\n", batch_len);
		} else {
			at = 4;
			uint32_t count = u32();
			struct utsname u;
			if (uname(&u) == 0) printf("BPFJ-KERNEL %s\n", u.release);
			for (uint32_t k = 0; k < count && at <= batch_len; k++) one(k);
			printf("BPFJ-END %u\n", count);
		}
	}
	fflush(stdout);
	sync();
	reboot(LINUX_REBOOT_CMD_POWER_OFF);
	return 0;
}
