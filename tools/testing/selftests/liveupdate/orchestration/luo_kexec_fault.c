// SPDX-License-Identifier: GPL-2.0-only
/*
 * Allocation failures while the next kernel restores memfds (see
 * luo_fault_utils.h). Stage 1 preserves COPIES memfds of three shapes (1 MiB
 * written page by page, preserved as a range of pages; 256 KiB with one
 * page in 16 written, preserved as single folios; a hugetlb memfd of two
 * 2 MiB pages, the second a hole, from the pool the command line sets
 * aside) and one more 4 MiB memfd the next kernel abandons, then kexecs.
 *
 * Stage 2 restores copy j of each shape with its jth allocation failing:
 * every allocation of a restore fails once, in a fresh restore, until j
 * is past the last one (fail_memfd_luo, a fault site of the memfd handler,
 * counts as one: it fails putting memory into the new memfd, like a
 * memory cgroup charge). Each failure must be ENOMEM (ENOSPC when shmem
 * cannot allocate the new file's inode) and leave the file
 * restorable, and the next FD_RESTORE, which goes on where the failed one
 * stopped, must give back every byte. The abandoned file is left
 * half-restored by a failure late in its restore: FINISH must free all of
 * it, and closing the restored files must free them too. The restored
 * huge pages join the pool, one per hugetlb memfd, in use until closed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/memfd.h>
#include <sys/mman.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"
#include "luo_fault_utils.h"

/* More than the allocations of one restore, in the debug lane's kernel too. */
#define COPIES		48
#define LUO_FAILMEMFD	"/sys/kernel/debug/fail_memfd_luo/"
#define HUGE_2M		(2 * SZ_1M)
#define POOL_2M		"/sys/kernel/mm/hugepages/hugepages-2048kB/"
/* hugepages= of the suite's command line. */
#define BOOT_POOL	56

struct shape {
	const char *name;
	__u64 token;		/* of copy 0; copy j is token + j */
	size_t size;
	int every;		/* one page in `every` is written */
	int copies;
	int huge;		/* a hugetlb memfd of 2 MiB pages */
	int sites;		/* stage 2: allocations that failed a restore */
};

static struct shape shapes[] = {
	{ "dense", 0xf100, SZ_1M, 1, COPIES },
	{ "sparse", 0xf200, SZ_1M / 4, 16, COPIES },
	{ "hugetlb", 0xf400, 2 * HUGE_2M, HUGE_2M / LUO_PAGE_SIZE * 2, COPIES, 1 },
	/* Large enough that the debug lane's noise in free memory is small. */
	{ "abandoned", 0xf300, 4 * SZ_1M, 1, 1 },
};

#define NR_SHAPES	ARRAY_SIZE(shapes)
#define NR_RESTORED	3
#define ABANDONED	(&shapes[3])

/* A counter of the 2 MiB pool ("nr_hugepages", "free_hugepages"). */
static long pool_2m(const char *what)
{
	char path[128], buf[32] = "";

	snprintf(path, sizeof(path), POOL_2M "%s", what);
	return luo_read_file(path, buf, sizeof(buf)) > 0 ? atol(buf) : -1;
}

/*
 * The bytes of copy @j of @s: written into @fd if it is >= 0 (through a
 * mapping for hugetlb, which has no write()); their sum.
 */
static uint64_t content(const struct shape *s, int j, int fd)
{
	static unsigned char page[LUO_PAGE_SIZE];
	uint64_t h = LUO_SUM_INIT;
	unsigned char *map = NULL;

	if (fd >= 0 && s->huge) {
		/* Without reserving the holes: the pool holds the pages written. */
		map = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			   fd, 0);
		if (map == MAP_FAILED)
			return 0;
	}
	for (size_t off = 0; off < s->size; off += LUO_PAGE_SIZE) {
		int written = (off / LUO_PAGE_SIZE) % s->every == 0;

		memset(page, 0, sizeof(page));
		if (written)
			luo_fill_page(page, s->token + j + off);
		if (map && written)
			memcpy(map + off, page, sizeof(page));
		else if (fd >= 0 && written && pwrite(fd, page, sizeof(page), off) != sizeof(page))
			return 0;
		h = luo_sum(h, page, sizeof(page));
	}
	if (map && munmap(map, s->size))
		return 0;
	return h;
}

static void stage_1(void)
{
	int luo = luo_open(), ok = luo >= 0;

	ksft_set_plan(1);
	for (size_t i = 0; ok && i < NR_SHAPES; i++) {
		for (int j = 0; ok && j < shapes[i].copies; j++) {
			int fd = memfd_create(shapes[i].name,
					      shapes[i].huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0);

			ok = fd >= 0 && !ftruncate(fd, shapes[i].size) &&
			     content(&shapes[i], j, fd) &&
			     !luo_fd_preserve(luo, fd, shapes[i].token + j);
		}
	}
	ksft_test_result(ok && !luo_set_event(luo, LIVEUPDATE_PREPARE),
			 "%d memfds preserved, PREPARE\n", NR_RESTORED * COPIES + 1);
	LUO_KEXEC_OR_FAIL();
}

/*
 * Restores copy @j of @s with its @nth allocation failing (0: none).
 * Returns the fd, or -1 (reported) on a bad outcome; *@failed says
 * whether the first FD_RESTORE failed, *@absorbed whether a failure was
 * injected but did not fail it (a fallback took over).
 */
static int restore_one(int luo, int fail_nth, const struct shape *s, int j, int nth,
		       int *failed, int *absorbed)
{
	__u64 token = s->token + j;
	int fd, injected;

	if (nth && luo_fault_arm(fail_nth, nth))
		ksft_exit_fail_msg("cannot arm fail-nth: %s\n", strerror(errno));
	fd = luo_fd_restore(luo, token);
	injected = nth && luo_fault_disarm(fail_nth);
	*failed = fd < 0;
	*absorbed = fd >= 0 && injected;
	if (fd < 0) {
		if (!injected || (fd != -ENOMEM && fd != -ENOSPC)) {
			ksft_print_msg("%s %d: allocation %d %s, FD_RESTORE: %s\n", s->name, j,
				       nth, injected ? "failed" : "did not fail", strerror(-fd));
			return -1;
		}
		if (luo_fd_state(luo, token, 1) < 0) {
			ksft_print_msg("%s %d: gone after a failed FD_RESTORE\n", s->name, j);
			return -1;
		}
		fd = luo_fd_restore(luo, token);
		if (fd < 0) {
			ksft_print_msg("%s %d: FD_RESTORE after allocation %d failed: %s\n",
				       s->name, j, nth, strerror(-fd));
			return -1;
		}
	}
	if (luo_file_sum(fd, s->size) != content(s, j, -1)) {
		ksft_print_msg("%s %d: bytes differ after allocation %d failed\n", s->name, j,
			       nth);
		close(fd);
		return -1;
	}
	return fd;
}

static void stage_2(void)
{
	int luo = luo_open(), fail_nth = luo_fault_setup(), fds[NR_RESTORED][COPIES];
	long before, after, restored_kib = 0;
	int failed, absorbed, finished, abandoned;

	ksft_set_plan(8);
	if (luo < 0)
		ksft_exit_fail_msg("cannot open %s: %s\n", LUO_DEVICE, strerror(errno));
	if (fail_nth < 0)
		ksft_exit_fail_msg("no fault injection (%s): see config\n", strerror(-fail_nth));

	for (int i = 0; i < NR_RESTORED; i++) {
		struct shape *s = &shapes[i];
		int bad = 0, absorbed_n = 0, past_last = 0;

		for (int j = 0; j < s->copies; j++) {
			fds[i][j] = restore_one(luo, fail_nth, s, j, j + 1, &failed, &absorbed);
			bad += fds[i][j] < 0;
			s->sites += failed;
			absorbed_n += absorbed;
			past_last |= fds[i][j] >= 0 && !failed && !absorbed;
			if (!s->huge)
				restored_kib += s->size / 1024 / s->every;
		}
		ksft_test_result(!bad && past_last && s->sites,
				 "%s: each allocation of a restore failed once (%d failed it, %d were absorbed by a fallback); each file restored intact by the next FD_RESTORE\n",
				 s->name, s->sites, absorbed_n);
	}

	ksft_test_result(pool_2m("nr_hugepages") == BOOT_POOL + COPIES &&
			 pool_2m("free_hugepages") == BOOT_POOL,
			 "each restored hugetlb memfd adds one page in use to the pool (%ld)\n",
			 pool_2m("nr_hugepages"));

	/*
	 * Leave the abandoned file half-restored, then FINISH: fail_memfd_luo
	 * lets two batches of its pages into the new memfd and fails the third.
	 */
	if (luo_write_file(LUO_FAILMEMFD "probability", "100") ||
	    luo_write_file(LUO_FAILMEMFD "space", "3") ||
	    luo_write_file(LUO_FAILMEMFD "times", "1"))
		ksft_exit_fail_msg("cannot set up %s\n", LUO_FAILMEMFD);
	abandoned = luo_fd_restore(luo, ABANDONED->token);
	luo_write_file(LUO_FAILMEMFD "probability", "0");
	ksft_test_result(abandoned == -ENOMEM,
			 "another %zu MiB file stops half-way through its restore: %s\n",
			 ABANDONED->size >> 20,
			 abandoned < 0 ? strerror(-abandoned) : "restored");
	before = luo_free_kib();
	finished = !luo_set_event(luo, LIVEUPDATE_FINISH);
	after = luo_free_kib_once_grown(before, (long)(ABANDONED->size / 1024) * 3 / 4);
	ksft_test_result(finished && luo_get_state(luo) == LIVEUPDATE_STATE_NORMAL &&
			 luo_fd_state(luo, ABANDONED->token, 1) == -ENOENT &&
			 after - before >= (long)(ABANDONED->size / 1024) * 3 / 4,
			 "FINISH frees the half-restored file: state NORMAL, free %ld -> %ld KiB\n",
			 before, after);

	before = luo_free_kib();
	for (int i = 0; i < NR_RESTORED; i++)
		for (int j = 0; j < COPIES; j++)
			close(fds[i][j]);
	after = luo_free_kib();
	ksft_test_result(pool_2m("free_hugepages") == BOOT_POOL + COPIES &&
			 pool_2m("surplus_hugepages") == 0,
			 "closing them frees their huge pages into the pool\n");
	ksft_test_result(after - before >= restored_kib * 3 / 4,
			 "closing the restored memfds frees their %ld KiB: free %ld -> %ld KiB\n",
			 restored_kib, before, after);
}

int main(int argc, char **argv)
{
	int stage = argc > 1 ? atoi(argv[1]) : 0;

	ksft_print_header();
	if (stage == 1)
		stage_1();
	else if (stage == 2)
		stage_2();
	else
		ksft_exit_fail_msg("usage: %s <stage 1|2>\n", argv[0]);
	ksft_finished();
}
