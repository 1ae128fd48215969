// SPDX-License-Identifier: GPL-2.0-only
/*
 * memfds and swap across a live update: pages out on swap at PREPARE are
 * read back and handed over, and a page written into a hole after PREPARE
 * is handed over even when pages fallocated past the end of the file went
 * out to swap meanwhile (the page cache then holds as many pages at FREEZE
 * as it did at PREPARE, which a count of the page cache cannot tell apart).
 *
 * Stage 1 makes a swap device (a RAM disk: the test VM has no disk), runs
 * in a memory cgroup and pushes the cgroup's pages out with memory.reclaim:
 *
 *   pages 0-3      written, pushed out to swap before PREPARE
 *   pages 4-7      written
 *   pages 8-11     holes at PREPARE, written after PREPARE
 *   pages 12-15    holes
 *   pages 16-19    fallocated past the end (FALLOC_FL_KEEP_SIZE), pushed
 *                  out to swap after PREPARE
 *
 * Stage 2 restores the memfd and checks every byte and that holes stayed
 * holes.
 */
#define _GNU_SOURCE
#include <linux/falloc.h>
#include <sys/mount.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <linux/mman.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#define TOKEN		0x5a9
#define PAGES		16
#define SIZE		(PAGES * LUO_PAGE_SIZE)
#define SWAP_DEV	"/dev/ram0"
#define CGROUP		"/sys/fs/cgroup"
#define CHILD		CGROUP "/luo_swap"

/* The seed of page i, 0 for a hole. */
static uint64_t seed_of(size_t i)
{
	return i < 8 ? 300 + i : i < 12 ? 400 + i : 0;
}

static uint64_t expected_sum(void)
{
	static uint64_t page[LUO_PAGE_SIZE / 8];
	uint64_t h = LUO_SUM_INIT;

	for (size_t i = 0; i < PAGES; i++) {
		memset(page, 0, sizeof(page));
		if (seed_of(i))
			luo_fill(page, LUO_PAGE_SIZE, seed_of(i), 0);
		h = luo_sum(h, page, LUO_PAGE_SIZE);
	}
	return h;
}

static int write_page(int fd, size_t i)
{
	static uint64_t page[LUO_PAGE_SIZE / 8];

	luo_fill(page, LUO_PAGE_SIZE, seed_of(i), 0);
	return pwrite(fd, page, LUO_PAGE_SIZE, i * LUO_PAGE_SIZE) == LUO_PAGE_SIZE ? 0 : -errno;
}

/* mkswap: a version 1 swap header on the whole device; 0 or -errno. */
static int make_swap(const char *dev)
{
	static unsigned char header[LUO_PAGE_SIZE];
	uint32_t *words = (uint32_t *)(header + 1024);
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
	int ret = 0;

	if (size < 16 * LUO_PAGE_SIZE) {
		ret = fd < 0 ? -errno : -ENOSPC;
		goto out;
	}
	words[0] = 1;					/* version */
	words[1] = size / LUO_PAGE_SIZE - 1;		/* last page */
	memcpy(header + LUO_PAGE_SIZE - 10, "SWAPSPACE2", 10);
	if (pwrite(fd, header, sizeof(header), 0) != sizeof(header) || fsync(fd))
		ret = -errno;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Moves this process into a new memory cgroup; 0 or -errno. */
static int enter_memcg(void)
{
	char pid[16];

	mkdir(CGROUP, 0755);
	if (mount("cgroup2", CGROUP, "cgroup2", 0, NULL) && errno != EBUSY)
		return -errno;
	if (luo_write_file(CGROUP "/cgroup.subtree_control", "+memory"))
		return -errno;
	if (mkdir(CHILD, 0755) && errno != EEXIST)
		return -errno;
	snprintf(pid, sizeof(pid), "%d", getpid());
	return luo_write_file(CHILD "/cgroup.procs", pid);
}

/*
 * How many of pages first..first+n-1 of the memfd are in its page cache,
 * by cachestat(), which may look past the end of the file: a page out on
 * swap is not, a page fallocated and never written is. -1 on error.
 */
static long resident(int memfd, size_t first, size_t n)
{
	struct cachestat_range range = { first * LUO_PAGE_SIZE, n * LUO_PAGE_SIZE };
	struct cachestat cs;

	if (syscall(__NR_cachestat, memfd, &range, &cs, 0))
		return -1;
	return cs.nr_cache;
}

/*
 * Pushes what it can of the cgroup's memory out to swap, until pages
 * first..first+n-1 of the memfd are out; returns how many are still in.
 */
static long push_out(int memfd, size_t first, size_t n)
{
	long in = resident(memfd, first, n);

	/* memory.reclaim fails with EAGAIN when it got less than asked: fine. */
	for (int i = 0; i < 8 && in != 0; i++) {
		luo_write_file(CHILD "/memory.reclaim", "8M");
		in = resident(memfd, first, n);
	}
	return in;
}

static void stage1(void)
{
	int fd, memfd, ok = 1, ret;
	long in;

	ksft_set_plan(8);
	ret = make_swap(SWAP_DEV);
	ret = ret ? ret : swapon(SWAP_DEV, 0) ? -errno : 0;
	if (ret)
		ksft_exit_fail_msg("swap on %s: %s\n", SWAP_DEV, strerror(-ret));
	ret = enter_memcg();
	if (ret)
		ksft_exit_fail_msg("memory cgroup: %s\n", strerror(-ret));
	ksft_test_result_pass("swap on a RAM disk, in a memory cgroup\n");

	fd = luo_open();
	memfd = memfd_create("luo_swap", 0);
	if (fd < 0 || memfd < 0 || ftruncate(memfd, SIZE))
		ksft_exit_fail_msg("device or memfd: %s\n", strerror(errno));
	for (size_t i = 0; ok && i < 4; i++)
		ok = !write_page(memfd, i);
	in = push_out(memfd, 0, 4);
	ksft_test_result(ok && in == 0, "pages 0-3 out on swap (%ld still in memory)\n", in);

	for (size_t i = 4; ok && i < 8; i++)
		ok = !write_page(memfd, i);
	ok = ok && !fallocate(memfd, FALLOC_FL_KEEP_SIZE, SIZE, 4 * LUO_PAGE_SIZE);
	ksft_test_result(ok && !luo_fd_preserve(fd, memfd, TOKEN) &&
			 !luo_set_event(fd, LIVEUPDATE_PREPARE),
			 "pages 4-7 written, 16-19 fallocated past the end, PREPARE\n");

	/* Only what is not held can go out: the pages past the end. */
	in = push_out(memfd, PAGES, 4);
	ksft_test_result(in == 0, "pages past the end out on swap (%ld still in memory)\n", in);
	ksft_test_result(resident(memfd, 0, 8) == 8,
			 "the held pages stayed in memory, pages 0-3 read back at PREPARE\n");

	for (size_t i = 8; ok && i < 12; i++)
		ok = !write_page(memfd, i);
	ksft_test_result(ok && luo_file_sum(memfd, SIZE) == expected_sum(),
			 "pages 8-11 written into holes after PREPARE\n");
	ksft_test_result(luo_file_pages(memfd) == 16,
			 "the file holds 16 pages, 4 of them past the end\n");
	ksft_test_result_pass("reboot(KEXEC)\n");
	fflush(stdout);
	ret = luo_kexec_reboot();
	ksft_exit_fail_msg("reboot(KEXEC): %s\n", strerror(-ret));
}

static void stage2(void)
{
	int fd = luo_open(), memfd;

	ksft_set_plan(4);
	ksft_test_result(fd >= 0 && luo_get_state(fd) == LIVEUPDATE_STATE_UPDATED, "UPDATED\n");
	memfd = fd < 0 ? -1 : luo_fd_restore(fd, TOKEN);
	ksft_test_result(memfd >= 0 && luo_file_sum(memfd, SIZE) == expected_sum(),
			 "every byte: the pages from swap and those written after PREPARE\n");
	ksft_test_result(memfd >= 0 && luo_file_pages(memfd) == 12,
			 "holes stay holes: 12 pages (%ld)\n",
			 memfd >= 0 ? luo_file_pages(memfd) : -1);
	ksft_test_result(fd >= 0 && !luo_set_event(fd, LIVEUPDATE_FINISH), "FINISH\n");
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
