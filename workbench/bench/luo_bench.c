// SPDX-License-Identifier: GPL-2.0-only
/*
 * luo_bench - one memfd across one live update, timed (run by
 * workbench/bench.py, two stages around a kexec, like the kselftests).
 *
 * The case comes from the kernel command line, luobench.case=NAME:
 *   dense64, dense256, dense1024   a memfd of that many MiB, fully written
 *   sparse256                      256 MiB with one page in 16 written
 *
 * Stage 1 fills the memfd, then times FD_PRESERVE and PREPARE, prints the
 * memfd handler's metadata counters and kexecs. Stage 2 times FD_RESTORE,
 * the verification of every byte, and FINISH. Lines starting with "BENCH "
 * carry the figures; the host reads the blackout off its own timestamps of
 * "BENCH kexec" and "BENCH verified".
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <time.h>

#include "../../tools/testing/selftests/liveupdate/luo_test_utils.h"
#include "../../tools/testing/selftests/liveupdate/luo_memfd_utils.h"

#define TOKEN 0xbe7c
#define SEED 77

struct bench_case {
	const char *name;
	size_t size;
	unsigned int stride;	/* one page in stride written */
};

static const struct bench_case cases[] = {
	{ "dense64", 64 * MiB, 1 },
	{ "dense256", 256 * MiB, 1 },
	{ "dense1024", 1024 * MiB, 1 },
	{ "sparse256", 256 * MiB, 16 },
};

static const struct bench_case *pick_case(void)
{
	char cmdline[4096], *p;

	if (luo_read_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
		return NULL;
	p = strstr(cmdline, "luobench.case=");
	if (!p)
		return NULL;
	p += strlen("luobench.case=");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].name);

		if (!strncmp(p, cases[i].name, n) && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return &cases[i];
	}
	return NULL;
}

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* The checksum the file must have: written pages from the stream, holes zero. */
static uint64_t expected_sum(const struct bench_case *c)
{
	static uint64_t page[LUO_PAGE_SIZE / 8], zero[LUO_PAGE_SIZE / 8];
	uint64_t h = LUO_SUM_INIT;

	if (c->stride == 1)
		return luo_stream_sum(SEED, c->size);
	for (size_t i = 0; i < c->size / LUO_PAGE_SIZE; i++) {
		if (i % c->stride == 0) {
			luo_fill(page, LUO_PAGE_SIZE, SEED, i * LUO_PAGE_SIZE);
			h = luo_sum(h, page, LUO_PAGE_SIZE);
		} else {
			h = luo_sum(h, zero, LUO_PAGE_SIZE);
		}
	}
	return h;
}

static void fail(const char *what)
{
	printf("BENCH error %s: %s\n", what, strerror(errno));
	exit(1);
}

static void stage1(const struct bench_case *c)
{
	int fd = luo_open(), file = memfd_create("luo_bench", 0);
	char stats[256] = "";
	long t0, t1, t2;

	if (fd < 0 || file < 0 || ftruncate(file, c->size))
		fail("setup");
	if (c->stride == 1) {
		if (luo_write_stream(file, c->size, SEED, 0))
			fail("fill");
	} else {
		for (size_t i = 0; i < c->size / LUO_PAGE_SIZE; i += c->stride)
			if (luo_write_stream(file, LUO_PAGE_SIZE, SEED, i * LUO_PAGE_SIZE))
				fail("fill");
	}
	t0 = now_us();
	if (luo_fd_preserve(fd, file, TOKEN))
		fail("FD_PRESERVE");
	t1 = now_us();
	if (luo_set_event(fd, LIVEUPDATE_PREPARE))
		fail("PREPARE");
	t2 = now_us();
	printf("BENCH case=%s size=%zu pages_written=%ld\n", c->name, c->size,
	       luo_file_pages(file));
	printf("BENCH preserve_us=%ld prepare_us=%ld\n", t1 - t0, t2 - t1);
	luo_read_file("/sys/kernel/debug/memfd_luo/outgoing", stats, sizeof(stats));
	for (char *p = stats; (p = strchr(p, '\n')); )
		*p = ' ';
	printf("BENCH memfd_luo %s\n", stats);
	printf("BENCH kexec\n");
	fflush(stdout);
	luo_kexec_reboot();
	fail("reboot(KEXEC)");
}

static void stage2(const struct bench_case *c)
{
	int fd = luo_open(), file;
	long t0, t1, t2, t3;
	uint64_t sum;

	t0 = now_us();
	file = luo_fd_restore(fd, TOKEN);
	t1 = now_us();
	if (fd < 0 || file < 0)
		fail("FD_RESTORE");
	sum = luo_file_sum(file, c->size);
	t2 = now_us();
	if (sum != expected_sum(c)) {
		printf("BENCH error the bytes differ\n");
		exit(1);
	}
	printf("BENCH verified\n");
	fflush(stdout);
	t2 = now_us();
	if (luo_set_event(fd, LIVEUPDATE_FINISH))
		fail("FINISH");
	t3 = now_us();
	printf("BENCH restore_us=%ld verify_us=%ld finish_us=%ld pages_restored=%ld\n",
	       t1 - t0, t2 - t1, t3 - t2, luo_file_pages(file));
}

int main(int argc, char **argv)
{
	const struct bench_case *c = pick_case();
	int stage = argc > 1 ? atoi(argv[1]) : 0;

	if (!c) {
		printf("BENCH error no luobench.case= on the command line\n");
		return 1;
	}
	if (stage == 1)
		stage1(c);
	else if (stage == 2)
		stage2(c);
	else
		return 2;
	return 0;
}
