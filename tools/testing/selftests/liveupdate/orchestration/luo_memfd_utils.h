/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers of the memfd live update selftests: memfds filled with
 * reproducible pseudo-random bytes, checksums over whole files, and
 * /proc/meminfo readings.
 */
#ifndef _LUO_MEMFD_UTILS_H
#define _LUO_MEMFD_UTILS_H

#include <fcntl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SZ_1M (1024UL * 1024)

/* The pseudo-random word number i of the stream seed (splitmix64). */
static inline uint64_t luo_word(uint64_t seed, uint64_t i)
{
	uint64_t z = seed * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Fills len bytes (a multiple of 8) at p with the stream seed from byte off. */
static inline void luo_fill(void *p, size_t len, uint64_t seed, uint64_t off)
{
	uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = luo_word(seed, off / 8 + i);
}

/* FNV-1a over 64-bit words, fed in order: a checksum of a whole file. */
static inline uint64_t luo_sum(uint64_t h, const void *p, size_t len)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return h;
}

#define LUO_SUM_INIT 0xcbf29ce484222325ULL

/*
 * The checksum of a file's first len bytes, read with pread: reading a hole
 * returns zeros without filling it (a read through a shared mapping would
 * allocate a page). 0 on error.
 */
static inline uint64_t luo_file_sum(int fd, size_t len)
{
	static uint64_t buf[SZ_1M / 8];
	uint64_t h = LUO_SUM_INIT;

	for (size_t off = 0; off < len; off += sizeof(buf)) {
		size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);

		if (pread(fd, buf, n, off) != (ssize_t)n)
			return 0;
		h = luo_sum(h, buf, n);
	}
	return h;
}

/* The checksum luo_fill() data of len bytes has, computed without a file. */
static inline uint64_t luo_stream_sum(uint64_t seed, size_t len)
{
	uint64_t h = LUO_SUM_INIT, w[512];

	for (size_t off = 0; off < len; off += sizeof(w)) {
		size_t n = len - off < sizeof(w) ? len - off : sizeof(w);

		luo_fill(w, n, seed, off);
		h = luo_sum(h, w, n);
	}
	return h;
}

/* Writes len bytes of the stream seed at byte off of fd; 0 or -1. */
static inline int luo_write_stream(int fd, size_t len, uint64_t seed, uint64_t off)
{
	static uint64_t buf[(2 * SZ_1M) / 8];

	for (size_t done = 0; done < len; done += sizeof(buf)) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);

		luo_fill(buf, n, seed, off + done);
		if (pwrite(fd, buf, n, off + done) != (ssize_t)n)
			return -1;
	}
	return 0;
}

/*
 * A memfd of len bytes (a multiple of 8) filled with the stream seed,
 * written with pwrite (so shmem may use huge pages); -1 on error.
 */
static inline int luo_memfd_random(const char *name, size_t len, uint64_t seed,
				   unsigned int flags)
{
	int fd = memfd_create(name, flags);

	if (fd < 0 || ftruncate(fd, len) || luo_write_stream(fd, len, seed, 0))
		return -1;
	return fd;
}

/* Writes a short string to a file (sysctl, sysfs); 0 or -errno. */
static inline int luo_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -errno;
}

/* A "key<sep>value" line's value in a /proc file, -1 if absent. */
static inline long luo_proc_value(const char *path, const char *key, char sep)
{
	char line[128];
	size_t n = strlen(key);
	long value = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, n) && line[n] == sep) {
			value = atol(line + n + 1);
			break;
		}
	}
	fclose(f);
	return value;
}

/* A /proc/meminfo value in KiB ("MemFree", "ShmemHugePages"), -1 if absent. */
static inline long luo_meminfo(const char *key)
{
	return luo_proc_value("/proc/meminfo", key, ':');
}

/*
 * Free memory in KiB, counting the pages that wait in the per-CPU lists
 * (/proc/zoneinfo "count:"), which MemFree leaves out: freeing a few MiB
 * may not move MemFree at all. The caches are dropped first.
 */
static inline long luo_free_kib(void)
{
	long free_kib, pcp = 0;
	char line[128];
	FILE *f;

	luo_write_file("/proc/sys/vm/drop_caches", "3");
	free_kib = luo_meminfo("MemFree");
	f = fopen("/proc/zoneinfo", "re");
	if (!f || free_kib < 0)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " ");

		if (!strncmp(p, "count: ", 7))
			pcp += atol(p + 7);
	}
	fclose(f);
	return free_kib + pcp * 4;
}

/*
 * luo_free_kib() once it is @kib more than @before, or after a second: a
 * page that someone else (compaction) holds for a moment is freed when
 * they let go, which is not a leak; a leak never comes back.
 */
static inline long luo_free_kib_once_grown(long before, long kib)
{
	long after = luo_free_kib();

	for (int tries = 0; tries < 10 && after - before < kib; tries++) {
		usleep(100 * 1000);
		after = luo_free_kib();
	}
	return after;
}

/*
 * How much less free memory than before a test accepts once everything
 * is given back: @slack_kib, or 16 MiB on the debug lane's kernel (the
 * one with kmemleak), where KASAN's quarantine holds freed objects for a
 * while and kmemleak's scan looks for leaked objects instead.
 */
static inline long luo_free_slack_kib(long slack_kib)
{
	return access("/sys/kernel/debug/kmemleak", F_OK) ? slack_kib : 16 * 1024;
}

/*
 * Touches the static buffers of luo_write_stream() and luo_file_sum(), so
 * that memory measured after this call does not count them.
 */
static inline void luo_touch_buffers(void)
{
	int fd = memfd_create("luo_touch", 0);

	if (fd < 0)
		return;
	if (!luo_write_stream(fd, 2 * SZ_1M, 1, 0))
		luo_file_sum(fd, SZ_1M);
	close(fd);
}

/* A /proc/vmstat counter, -1 if absent. */
static inline long luo_vmstat(const char *key)
{
	return luo_proc_value("/proc/vmstat", key, ' ');
}

/* Folio pins held right now, system-wide. */
static inline long luo_pins(void)
{
	return luo_vmstat("nr_foll_pin_acquired") - luo_vmstat("nr_foll_pin_released");
}

/* The memory a file holds, in 4 KiB pages (from st_blocks). */
static inline long luo_file_pages(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (long)(st.st_blocks / 8);
}

#endif /* _LUO_MEMFD_UTILS_H */
