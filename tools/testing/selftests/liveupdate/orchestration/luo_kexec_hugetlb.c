// SPDX-License-Identifier: GPL-2.0-only
/*
 * hugetlb memfds across three live updates: four kernels, in a VM with
 * 8 GiB booted with a pool of one 1 GiB page and 160 2 MiB pages (the
 * last kernel with no pool at all).
 *
 * Kernel 1 fills a 1 GiB memfd on one 1 GiB page and a 256 MiB memfd on
 * 2 MiB pages with holes, seals the second and moves its position,
 * preserves both, checks that a preserved hugetlb file can neither be
 * resized, fallocated, punched nor sealed, and fills one hole after
 * PREPARE (FREEZE must see it). Kernels 2 and 3 restore both, check every
 * byte, size, position and seals, and the hugetlb counters of both sizes
 * before restore, after restore and after FINISH: the restored pages join
 * the pool of their size in use, nothing else moves. Kernel 3 preserves a
 * third file it never gets back, and loads the last kernel without any
 * hugepages= option. Kernel 4 restores both into no pool, FINISH frees
 * the third, closing the files leaves their pages free in the pool, and
 * shrinking the pools brings every counter back to zero.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#define KERNELS		4
#define GIANT		0x1e
#define SMALL		0x2e
#define LOST		0x3e
#define GIANT_SIZE	(1024 * SZ_1M)
#define SMALL_SIZE	(256 * SZ_1M)
#define LOST_SIZE	(32 * SZ_1M)
#define HUGE_2M		(2 * SZ_1M)
#define SEED		77
#define POS		12345
#define SEALS		(F_SEAL_SHRINK | F_SEAL_GROW)
/* The 2 MiB page kernel 1 fills after PREPARE, and the byte it writes. */
#define LATE_PAGE	5
#define LATE_BYTE	0x42
#define NEXT_INITRD	"/tmp/next-initrd.cpio"
#define SYSFS_HUGE	"/sys/kernel/mm/hugepages/hugepages-"

/* The 2 MiB pages of the small memfd that stay holes. */
static int is_hole(size_t page)
{
	return page == 6 || (page >= 64 && page < 80) || page == 127;
}

/*
 * The small memfd's 1 MiB at off once LATE_PAGE is written: the stream
 * outside the holes and LATE_PAGE, which holds one byte.
 */
static void small_chunk(uint64_t *buf, size_t off)
{
	size_t page = off / HUGE_2M;

	if (is_hole(page) || page == LATE_PAGE)
		memset(buf, 0, SZ_1M);
	else
		luo_fill(buf, SZ_1M, SEED + 1, off);
	if (off == LATE_PAGE * HUGE_2M)
		((unsigned char *)buf)[0] = LATE_BYTE;
}

static uint64_t expected_sum(int small)
{
	static uint64_t buf[SZ_1M / 8];
	size_t size = small ? SMALL_SIZE : GIANT_SIZE;
	uint64_t h = LUO_SUM_INIT;

	for (size_t off = 0; off < size; off += SZ_1M) {
		if (small)
			small_chunk(buf, off);
		else
			luo_fill(buf, SZ_1M, SEED, off);
		h = luo_sum(h, buf, SZ_1M);
	}
	return h;
}

/* The hugetlb counters of one page size. */
struct pool {
	long nr, free, resv, surplus;
};

static long hp_read(const char *size, const char *what)
{
	char path[128], buf[32] = "";

	snprintf(path, sizeof(path), SYSFS_HUGE "%s/%s", size, what);
	if (luo_read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	return atol(buf);
}

static struct pool pool_of(const char *size)
{
	return (struct pool){ hp_read(size, "nr_hugepages"), hp_read(size, "free_hugepages"),
			      hp_read(size, "resv_hugepages"), hp_read(size, "surplus_hugepages") };
}

static int pool_is(const char *what, const char *size, struct pool want)
{
	struct pool p = pool_of(size);
	int ok = !memcmp(&p, &want, sizeof(p));

	ksft_print_msg("%s, %s: total %ld free %ld rsvd %ld surplus %ld%s\n", what, size, p.nr,
		       p.free, p.resv, p.surplus, ok ? "" : " (unexpected)");
	if (!ok)
		ksft_print_msg("  wanted total %ld free %ld rsvd %ld surplus %ld\n", want.nr,
			       want.free, want.resv, want.surplus);
	return ok;
}

static int memfd_huge(const char *name, unsigned int size_flag, size_t size)
{
	int fd = memfd_create(name, MFD_HUGETLB | size_flag | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, size)) {
		ksft_print_msg("%s: %s\n", name, strerror(errno));
		return -1;
	}
	return fd;
}

/*
 * Fills size bytes of fd with the stream seed, but for the small memfd's
 * holes and LATE_PAGE if small; 0 or -1.
 */
static int fill(int fd, size_t size, uint64_t seed, int small)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -1;
	for (size_t off = 0; off < size; off += SZ_1M) {
		if (small && (is_hole(off / HUGE_2M) || off / HUGE_2M == LATE_PAGE))
			continue;
		luo_fill(p + off, SZ_1M, seed, off);
	}
	return munmap(p, size);
}

/* The counters of a page size with `restored` pages restored beside a pool of `pool`. */
static struct pool restored_into(long pool, long restored)
{
	return (struct pool){ pool + restored, pool, 0, 0 };
}

/* Pages of the small memfd that hold data, LATE_PAGE included. */
static long small_pages(void)
{
	long n = 0;

	for (size_t page = 0; page < SMALL_SIZE / HUGE_2M; page++)
		n += !is_hole(page);
	return n;
}

/* Checks what a restored file must be: bytes, size, position, seals. */
static int restored_ok(int fd, int small)
{
	size_t size = small ? SMALL_SIZE : GIANT_SIZE;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) || (size_t)st.st_size != size)
		return 0;
	if (luo_file_sum(fd, size) != expected_sum(small))
		return 0;
	if (!small)
		return 1;
	return lseek(fd, 0, SEEK_CUR) == POS && fcntl(fd, F_GET_SEALS) == SEALS;
}

static void preserve_and_kexec(int fd, int giant, int small)
{
	ksft_test_result(!luo_fd_preserve(fd, giant, GIANT) && !luo_fd_preserve(fd, small, SMALL),
			 "preserve both\n");
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_PREPARE), "PREPARE\n");
	LUO_KEXEC_OR_FAIL();
}

/*
 * Loads the next kernel again, with this kernel's command line but for
 * every hugepagesz= and hugepages= option: a kernel without a pool.
 */
static int load_without_pools(void)
{
	char cmdline[4096] = "", next[4096] = "", *word, *save;
	int kfd, ifd, stage = 0;
	long ret;

	if (luo_read_file("/proc/cmdline", cmdline, sizeof(cmdline)) <= 0)
		return -1;
	cmdline[strcspn(cmdline, "\n")] = 0;
	for (word = strtok_r(cmdline, " ", &save); word; word = strtok_r(NULL, " ", &save)) {
		if (!strncmp(word, "hugepages", 9) || !strncmp(word, "default_hugepagesz", 18))
			continue;
		if (sscanf(word, "luotest.stage=%d", &stage) == 1)
			continue;
		strncat(next, word, sizeof(next) - strlen(next) - 2);
		strcat(next, " ");
	}
	snprintf(next + strlen(next), sizeof(next) - strlen(next), "luotest.stage=%d",
		 stage + 1);
	kfd = open("/boot/bzImage", O_RDONLY);
	ifd = open(NEXT_INITRD, O_RDONLY);
	if (kfd < 0 || ifd < 0)
		return -1;
	ret = syscall(SYS_kexec_file_load, kfd, ifd, strlen(next) + 1, next, 0UL);
	close(kfd);
	close(ifd);
	ksft_print_msg("next kernel: %s\n", next);
	return ret ? -1 : 0;
}

static void stage_first(void)
{
	int fd = luo_open(), giant, small;
	char *late;

	ksft_set_plan(10);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	ksft_test_result(pool_is("booted", "1048576kB", restored_into(1, 0)) &&
			 pool_is("booted", "2048kB", restored_into(160, 0)),
			 "pools of one 1 GiB page and 160 2 MiB pages\n");
	giant = memfd_huge("luo_giant", MFD_HUGE_1GB, GIANT_SIZE);
	small = memfd_huge("luo_small", MFD_HUGE_2MB, SMALL_SIZE);
	ksft_test_result(giant >= 0 && small >= 0 && !fill(giant, GIANT_SIZE, SEED, 0) &&
			 !fill(small, SMALL_SIZE, SEED + 1, 1) &&
			 !fcntl(small, F_ADD_SEALS, SEALS) && lseek(small, POS, SEEK_SET) == POS,
			 "1 GiB on a 1 GiB page, 256 MiB on 2 MiB pages with holes\n");
	ksft_test_result(!luo_fd_preserve(fd, giant, GIANT) && !luo_fd_preserve(fd, small, SMALL),
			 "preserve both\n");
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_PREPARE), "PREPARE\n");

	/* Frozen: the size, the pages and the seals stay as preserved. */
	ksft_test_result(ftruncate(giant, 2 * GIANT_SIZE) && errno == EPERM &&
			 ftruncate(giant, 0) && errno == EPERM,
			 "a preserved hugetlb memfd cannot be resized (EPERM)\n");
	ksft_test_result(fallocate(small, FALLOC_FL_KEEP_SIZE, 6 * HUGE_2M, HUGE_2M) &&
			 errno == EPERM &&
			 fallocate(giant, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
				   GIANT_SIZE) && errno == EPERM,
			 "nor fallocated nor punched (EPERM)\n");
	ksft_test_result(fcntl(giant, F_ADD_SEALS, F_SEAL_WRITE) && errno == EPERM,
			 "nor sealed (EPERM)\n");

	/* A hole filled through a mapping after PREPARE: FREEZE sees it. */
	late = mmap(NULL, HUGE_2M, PROT_READ | PROT_WRITE, MAP_SHARED, small,
		    LATE_PAGE * HUGE_2M);
	ksft_test_result(late != MAP_FAILED && (late[0] = LATE_BYTE, !munmap(late, HUGE_2M)),
			 "a hole filled after PREPARE\n");
	ksft_test_result(luo_file_sum(giant, GIANT_SIZE) == expected_sum(0) &&
			 luo_file_sum(small, SMALL_SIZE) == expected_sum(1),
			 "checksums before the update\n");
	/* The mapping reserved the holes; the reservations outlive it. */
	ksft_test_result(pool_is("preserved", "1048576kB", (struct pool){ 1, 0, 0, 0 }) &&
			 pool_is("preserved", "2048kB",
				 (struct pool){ 160, 160 - small_pages(),
						SMALL_SIZE / HUGE_2M - small_pages(), 0 }),
			 "every preserved page in use\n");
	LUO_KEXEC_OR_FAIL();
}

static void stage_next(int stage)
{
	int fd = luo_open(), giant, small, lost, last = stage == KERNELS;
	long pool_1g = last ? 0 : 1, pool_2m = last ? 0 : 160;
	long free_before, free_after;

	ksft_set_plan(10);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	ksft_test_result(pool_is("booted", "1048576kB", restored_into(pool_1g, 0)) &&
			 pool_is("booted", "2048kB", restored_into(pool_2m, 0)),
			 "kernel %d: %s\n", stage, last ? "no pool" : "its own pools");
	giant = luo_fd_restore(fd, GIANT);
	small = luo_fd_restore(fd, SMALL);
	ksft_test_result(restored_ok(giant, 0), "kernel %d: the 1 GiB memfd, every byte\n", stage);
	ksft_test_result(restored_ok(small, 1),
			 "kernel %d: the 256 MiB memfd: bytes, holes, size, position, seals\n",
			 stage);
	ksft_test_result(pool_is("restored", "1048576kB", restored_into(pool_1g, 1)) &&
			 pool_is("restored", "2048kB", restored_into(pool_2m, small_pages())),
			 "restored pages join the pool, in use; no surplus\n");
	/* Only the last kernel has a file never restored, for FINISH to free. */
	free_before = last ? luo_free_kib() : 0;
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_FINISH), "FINISH\n");
	free_after = last ? luo_free_kib_once_grown(free_before, LOST_SIZE / 1024 * 3 / 4) : 0;
	ksft_test_result(pool_is("finished", "1048576kB", restored_into(pool_1g, 1)) &&
			 pool_is("finished", "2048kB", restored_into(pool_2m, small_pages())),
			 "FINISH changes no counter\n");
	if (last) {
		/* Less what the kernel allocates meanwhile. */
		ksft_test_result(free_after - free_before >= LOST_SIZE / 1024 * 3 / 4,
				 "FINISH gave the unrestored file's %lu MiB back (%ld KiB)\n",
				 LOST_SIZE / SZ_1M, free_after - free_before);
	} else {
		/* Mapping reserves the holes only: the restored pages are the file's. */
		char *p = mmap(NULL, SMALL_SIZE, PROT_READ, MAP_SHARED, small, 0);
		long holes = SMALL_SIZE / HUGE_2M - small_pages();

		ksft_test_result(p != MAP_FAILED &&
				 pool_is("mapped", "2048kB", (struct pool){ pool_2m + small_pages(),
					 pool_2m, holes, 0 }) &&
				 !munmap(p, SMALL_SIZE),
				 "mapping reserves the %ld holes, not the restored pages\n", holes);
	}
	if (!last) {
		if (stage == KERNELS - 1) {
			lost = memfd_huge("luo_lost", MFD_HUGE_2MB, LOST_SIZE);
			ksft_test_result(lost >= 0 && !fill(lost, LOST_SIZE, SEED + 2, 0) &&
					 !luo_fd_preserve(fd, lost, LOST) && !load_without_pools(),
					 "a file the last kernel never restores; no pool there\n");
		} else {
			ksft_test_result_skip("a file never restored: in kernel %d\n", KERNELS - 1);
		}
		preserve_and_kexec(fd, giant, small);
		return;
	}

	/* No pool here: a mapping needs reservations for holes, not for pages restored. */
	{
		char *p = mmap(NULL, GIANT_SIZE, PROT_READ, MAP_SHARED, giant, 0);

		ksft_test_result(p != MAP_FAILED && p[GIANT_SIZE - 1] ==
				 (char)(luo_word(SEED, GIANT_SIZE / 8 - 1) >> 56) &&
				 !munmap(p, GIANT_SIZE),
				 "the 1 GiB memfd maps with no pool: its page is its own\n");
		p = mmap(NULL, SMALL_SIZE, PROT_READ, MAP_SHARED, small, 0);
		ksft_test_result(p == MAP_FAILED && errno == ENOMEM,
				 "the 256 MiB memfd's holes cannot be reserved with no pool\n");
	}
	close(giant);
	close(small);
	ksft_test_result(pool_is("closed", "1048576kB", (struct pool){ 1, 1, 0, 0 }) &&
			 pool_is("closed", "2048kB",
				 (struct pool){ small_pages(), small_pages(), 0, 0 }) &&
			 !luo_write_file(SYSFS_HUGE "1048576kB/nr_hugepages", "0") &&
			 !luo_write_file(SYSFS_HUGE "2048kB/nr_hugepages", "0") &&
			 pool_is("shrunk", "1048576kB", restored_into(0, 0)) &&
			 pool_is("shrunk", "2048kB", restored_into(0, 0)),
			 "closing the files frees their pages into the pool, which gives them back\n");
}

LUO_KEXEC_CHAIN_MAIN(KERNELS, stage_first, stage_next)
