/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bench_common.h - the memfd live update benchmark, written once for two
 * kernels: bench_ours.c drives our /dev/liveupdate, bench_upstream.c the
 * sessions API of Linux 7.3's C LUO. Each defines a struct bench_driver and
 * calls bench_main().
 *
 * Run as "PROG <stage> CASE" in each kernel, where CASE is one of:
 *   dense64 ... dense4096          one memfd of that many MiB, fully written
 *   sparse256                      256 MiB with one page in 16 written
 *   many1000                       1000 one-page memfds
 *
 * Stage 1 fills the memfds, times preserving them (and PREPARE where the
 * driver has one), prints what it cost and kexecs. Stage 2 times restoring,
 * verifying every byte and FINISH. Lines starting with "BENCH " carry the
 * figures; the host takes anything spanning the kexec from its own
 * timestamps of "BENCH kexec", the next kernel's first line, init's first
 * line and "BENCH verified".
 */
#ifndef _BENCH_COMMON_H
#define _BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <linux/reboot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../tools/testing/selftests/liveupdate/orchestration/luo_memfd_utils.h"

#define BENCH_TOKEN	0xbe7c
#define BENCH_SEED	77
#define PAGE		4096

struct bench_case {
	const char *name;
	size_t size;		/* of each file */
	unsigned int stride;	/* one page in stride written */
	unsigned int files;
	unsigned int memfd_flags;	/* MFD_HUGETLB | MFD_HUGE_*: a hugetlb memfd */
};

/* bench.py boots the hugetlb cases with a pool that holds them. */
static const struct bench_case bench_cases[] = {
	{ "dense64", 64 * SZ_1M, 1, 1, 0 },
	{ "dense256", 256 * SZ_1M, 1, 1, 0 },
	{ "dense1024", 1024 * SZ_1M, 1, 1, 0 },
	{ "dense4096", 4096 * SZ_1M, 1, 1, 0 },
	{ "sparse256", 256 * SZ_1M, 16, 1, 0 },
	{ "many1000", PAGE, 1, 1000, 0 },
	{ "huge2m1024", 1024 * SZ_1M, 1, 1, MFD_HUGETLB | MFD_HUGE_2MB },
	{ "huge1g1024", 1024 * SZ_1M, 1, 1, MFD_HUGETLB | MFD_HUGE_1GB },
};

/* The metadata LUO-rs's memfd handler hands over, from its debugfs counters. */
static inline long luo_rs_metadata_bytes(const struct bench_case *c, long pages)
{
	return luo_proc_value("/sys/kernel/debug/memfd_luo/outgoing", "metadata_bytes", ' ');
}

/* One LUO: 0 or -errno from each step. */
struct bench_driver {
	const char *name;
	int (*open_outgoing)(void);
	int (*preserve)(int dev, int file, __u64 token);
	int (*prepare)(int dev);		/* may be NULL */
	/* What the preserved files' metadata costs, in bytes, or -1. */
	long (*metadata_bytes)(const struct bench_case *c, long pages);
	int (*open_incoming)(void);
	int (*restore)(int dev, __u64 token);
	int (*finish)(int dev);
};

static inline long bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static inline void bench_fail(const char *what, int err)
{
	printf("BENCH error %s: %s\n", what, strerror(err < 0 ? -err : errno));
	exit(1);
}

static inline const struct bench_case *bench_pick_case(const char *name)
{
	for (size_t i = 0; name && i < sizeof(bench_cases) / sizeof(bench_cases[0]); i++)
		if (!strcmp(name, bench_cases[i].name))
			return &bench_cases[i];
	return NULL;
}

/* The seed of file i: every file has its own bytes. */
static inline uint64_t bench_seed(unsigned int i)
{
	return BENCH_SEED + i;
}

/* The checksum file i must have: written pages from its stream, holes zero. */
static inline uint64_t bench_expected_sum(const struct bench_case *c, unsigned int i)
{
	static uint64_t page[PAGE / 8], zero[PAGE / 8];
	uint64_t h = LUO_SUM_INIT;

	if (c->stride == 1)
		return luo_stream_sum(bench_seed(i), c->size);
	for (size_t p = 0; p < c->size / PAGE; p++) {
		if (p % c->stride == 0) {
			luo_fill(page, PAGE, bench_seed(i), p * PAGE);
			h = luo_sum(h, page, PAGE);
		} else {
			h = luo_sum(h, zero, PAGE);
		}
	}
	return h;
}

static inline int bench_make_file(const struct bench_case *c, unsigned int i)
{
	int file = memfd_create("luo_bench", c->memfd_flags);
	void *p;

	if (file < 0 || ftruncate(file, c->size))
		return -1;
	if (c->memfd_flags) {
		/* hugetlbfs has no write(): through a mapping, densely. */
		p = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
		if (p == MAP_FAILED)
			return -1;
		luo_fill(p, c->size, bench_seed(i), 0);
		return munmap(p, c->size) ? -1 : file;
	}
	for (size_t p = 0; p < c->size / PAGE; p += c->stride) {
		size_t len = c->stride == 1 ? c->size : PAGE;

		if (luo_write_stream(file, len, bench_seed(i), p * PAGE))
			return -1;
		if (c->stride == 1)
			break;
	}
	return file;
}

static inline void bench_stage1(const struct bench_driver *d, const struct bench_case *c)
{
	int dev = d->open_outgoing(), ret;
	long t0, t1, t2, free0, free1, pages = 0;
	int *files = calloc(c->files, sizeof(int));

	if (dev < 0)
		bench_fail("open", dev);
	for (unsigned int i = 0; i < c->files; i++) {
		files[i] = bench_make_file(c, i);
		if (files[i] < 0)
			bench_fail("fill", -errno);
		pages += luo_file_pages(files[i]);
	}
	free0 = luo_meminfo("MemFree");
	t0 = bench_now_us();
	for (unsigned int i = 0; i < c->files; i++) {
		ret = d->preserve(dev, files[i], BENCH_TOKEN + i);
		/* No handler takes it: EOPNOTSUPP here, ENOENT in Linux 7.3. */
		if ((ret == -EOPNOTSUPP || ret == -ENOENT) && c->memfd_flags) {
			printf("BENCH unable: hugetlb memfds cannot be preserved\n");
			exit(0);
		}
		if (ret)
			bench_fail("preserve", ret);
	}
	t1 = bench_now_us();
	if (d->prepare) {
		ret = d->prepare(dev);
		if (ret)
			bench_fail("prepare", ret);
	}
	t2 = bench_now_us();
	free1 = luo_meminfo("MemFree");
	printf("BENCH side=%s case=%s size=%zu files=%u pages_written=%ld\n", d->name, c->name,
	       c->size, c->files, pages);
	printf("BENCH preserve_us=%ld prepare_us=%ld memory_used_kib=%ld metadata_bytes=%ld\n",
	       t1 - t0, t2 - t1, free0 - free1, d->metadata_bytes(c, pages));
	printf("BENCH kexec\n");
	fflush(stdout);
	sync();
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC, NULL);
	bench_fail("reboot(KEXEC)", -errno);
}

static inline void bench_stage2(const struct bench_driver *d, const struct bench_case *c)
{
	long t0, t1, t2, t3, t4, pages = 0;
	int dev, ret, *files = calloc(c->files, sizeof(int));

	t0 = bench_now_us();
	dev = d->open_incoming();
	if (dev < 0)
		bench_fail("open", dev);
	for (unsigned int i = 0; i < c->files; i++) {
		files[i] = d->restore(dev, BENCH_TOKEN + i);
		if (files[i] < 0)
			bench_fail("restore", files[i]);
	}
	t1 = bench_now_us();
	for (unsigned int i = 0; i < c->files; i++) {
		if (luo_file_sum(files[i], c->size) != bench_expected_sum(c, i)) {
			printf("BENCH error the bytes of file %u differ\n", i);
			exit(1);
		}
		pages += luo_file_pages(files[i]);
	}
	t2 = bench_now_us();
	printf("BENCH verified\n");
	fflush(stdout);
	t3 = bench_now_us();
	ret = d->finish(dev);
	if (ret)
		bench_fail("finish", ret);
	t4 = bench_now_us();
	printf("BENCH restore_us=%ld verify_us=%ld finish_us=%ld pages_restored=%ld\n",
	       t1 - t0, t2 - t1, t4 - t3, pages);
}

static inline int bench_main(const struct bench_driver *d, int argc, char **argv)
{
	const struct bench_case *c = bench_pick_case(argc > 2 ? argv[2] : NULL);
	int stage = argc > 1 ? atoi(argv[1]) : 0;

	if (!c) {
		printf("BENCH error no case: %s <stage> <case>\n", argv[0]);
		return 1;
	}
	if (stage == 1)
		bench_stage1(d, c);
	else if (stage == 2)
		bench_stage2(d, c);
	else
		return 2;
	return 0;
}

#endif /* _BENCH_COMMON_H */
