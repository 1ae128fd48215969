// SPDX-License-Identifier: GPL-2.0-only
/*
 * Allocation failures in every allocation FD_PRESERVE, a per-file PREPARE
 * and the global PREPARE make, one at a time (see luo_fault_utils.h): each
 * failure is ENOMEM and leaves a consistent state: the global state and
 * every file's state as before, no pin, no preserved memfd, no hand-over
 * published, the files not frozen. The data is intact at the end and
 * closing everything gives the memory back.
 *
 * Needs CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC and
 * CONFIG_FAULT_INJECTION_DEBUG_FS (see config).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/memfd.h>
#include <sys/mman.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"
#include "luo_fault_utils.h"

#define MEMFD_STATS	"/sys/kernel/debug/memfd_luo/outgoing"
#define MAX_NTH		5000
/* Memory that may stay used after everything is closed: caches, per-CPU lists. */
#define SLACK_KIB	1024
/* The pin counters are per-CPU, folded into /proc/vmstat in batches. */
#define PIN_SLACK	256

struct memfd {
	const char *name;
	__u64 token;
	size_t size;
	/* Write one page in `every`, or all of them (1); 0 writes nothing. */
	int every;
	/*
	 * A hugetlb memfd of 2 MiB pages, written through a mapping; preserved
	 * after the FD_PRESERVE test, which needs the list of files to grow.
	 */
	int huge;
	int preserved;
	int fd;
	uint64_t sum;
};

static struct memfd files[] = {
	{ "dense", 0xd1, 4 * SZ_1M, 1 },
	{ "sparse", 0xd2, SZ_1M, 16 },
	{ "page", 0xd3, LUO_PAGE_SIZE, 1 },
	{ "empty", 0xd4, 0, 0 },
	{ "hugetlb", 0xd6, 4 * SZ_1M, 512, 1 },
};

#define HUGE (&files[4])

#define NR_FILES ARRAY_SIZE(files)

static int make_file(struct memfd *f)
{
	static unsigned char page[LUO_PAGE_SIZE];

	unsigned char *map = NULL;

	f->fd = memfd_create(f->name, f->huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0);
	if (f->fd < 0 || ftruncate(f->fd, f->size))
		return -1;
	if (f->huge) {
		map = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
		if (map == MAP_FAILED)
			return -1;
	}
	for (size_t off = 0; f->every && off < f->size; off += f->every * LUO_PAGE_SIZE) {
		luo_fill_page(page, f->token + off);
		if (map)
			memcpy(map + off, page, sizeof(page));
		else if (pwrite(f->fd, page, sizeof(page), off) != sizeof(page))
			return -1;
	}
	if (map && munmap(map, f->size))
		return -1;
	f->sum = luo_file_sum(f->fd, f->size);
	return 0;
}

/* "files N" of the memfd handler's statistics, -1 if unreadable. */
static long preserved_memfds(void)
{
	char buf[256];
	long n = -1;

	if (luo_read_file(MEMFD_STATS, buf, sizeof(buf)) < 0 || sscanf(buf, "files %ld", &n) != 1)
		return -1;
	return n;
}

/*
 * Nothing of a PREPARE is left: the global state and every file's state
 * are @state and @file_state, no memfd is preserved, no folio pinned
 * beyond @pins, no hand-over is published, and the files can grow again.
 * Returns what is wrong, or NULL.
 */
static const char *leftovers(int luo, int state, int file_state, long pins)
{
	for (size_t i = 0; i < NR_FILES; i++)
		if (files[i].preserved && luo_fd_state(luo, files[i].token, 0) != file_state)
			return "a file's state changed";
	if (luo_get_state(luo) != state)
		return "the global state changed";
	if (preserved_memfds() != 0)
		return "a memfd is still preserved";
	if (luo_pins() > pins + PIN_SLACK)
		return "folios are still pinned";
	if (luo_path_exists(KHO_OUT_LUO))
		return "a hand-over is still published";
	if (ftruncate(files[0].fd, files[0].size + LUO_PAGE_SIZE) ||
	    ftruncate(files[0].fd, files[0].size))
		return "a file is still frozen";
	if (ftruncate(HUGE->fd, HUGE->size + 2 * SZ_1M) || ftruncate(HUGE->fd, HUGE->size))
		return "the hugetlb file is still frozen";
	return NULL;
}

/*
 * Calls @call with each of its allocations failing in turn until it
 * succeeds with none injected; @undo undoes a success. Each failure must
 * be ENOMEM and leave no trace (checked by @clean). Returns the number of
 * failures injected, or -1 (reported) on a bad outcome.
 */
static int each_failure(int nth, const char *what, int (*call)(int), int (*undo)(int),
			const char *(*clean)(int), int luo)
{
	const char *bad;
	int n, ret, injected;

	for (n = 1; n <= MAX_NTH; n++) {
		if (luo_fault_arm(nth, n))
			ksft_exit_fail_msg("cannot arm fail-nth: %s\n", strerror(errno));
		ret = call(luo);
		injected = luo_fault_disarm(nth);
		if (!ret) {
			if (undo(luo)) {
				ksft_print_msg("%s: cannot undo it: %s\n", what, strerror(errno));
				return -1;
			}
			if (!injected)
				return n - 1;
			/* A fallback absorbed the failure. */
			continue;
		}
		if (!injected) {
			ksft_print_msg("%s failed with no failure injected: %s\n", what,
				       strerror(-ret));
			return -1;
		}
		if (ret != -ENOMEM) {
			ksft_print_msg("%s: allocation %d failed it with %s, not ENOMEM\n", what, n,
				       strerror(-ret));
			return -1;
		}
		bad = clean(luo);
		if (bad) {
			ksft_print_msg("%s: after allocation %d failed: %s\n", what, n, bad);
			return -1;
		}
	}
	ksft_print_msg("%s: still failing after %d allocations\n", what, MAX_NTH);
	return -1;
}

static long pins0;

static int prepare(int luo)
{
	return luo_set_event(luo, LIVEUPDATE_PREPARE);
}

static int cancel(int luo)
{
	return luo_set_event(luo, LIVEUPDATE_CANCEL);
}

static const char *prepare_clean(int luo)
{
	return leftovers(luo, LIVEUPDATE_STATE_NORMAL, LIVEUPDATE_STATE_NORMAL, pins0);
}

static int file_prepare(int luo)
{
	return luo_fd_event(luo, files[0].token, LIVEUPDATE_PREPARE);
}

static int file_cancel(int luo)
{
	return luo_fd_event(luo, files[0].token, LIVEUPDATE_CANCEL);
}

static int huge_prepare(int luo)
{
	return luo_fd_event(luo, HUGE->token, LIVEUPDATE_PREPARE);
}

static int huge_cancel(int luo)
{
	return luo_fd_event(luo, HUGE->token, LIVEUPDATE_CANCEL);
}

#define EXTRA_TOKEN 0xd5
static int extra_fd = -1;

static int extra_preserve(int luo)
{
	return luo_fd_preserve(luo, extra_fd, EXTRA_TOKEN);
}

static int extra_unpreserve(int luo)
{
	return luo_fd_unpreserve(luo, EXTRA_TOKEN);
}

static const char *extra_clean(int luo)
{
	if (luo_fd_state(luo, EXTRA_TOKEN, 0) != -ENOENT)
		return "the token is recorded";
	if (luo_fd_preserve(luo, extra_fd, EXTRA_TOKEN) || luo_fd_unpreserve(luo, EXTRA_TOKEN))
		return "the file cannot be preserved afterwards";
	return prepare_clean(luo);
}

static void report(int failures, const char *what)
{
	ksft_test_result(failures > 0, "%s: %d allocation failures, each ENOMEM, no trace left\n",
			 what, failures);
}

int main(void)
{
	long free_before, free_after;
	int luo, nth, intact = 1;

	ksft_print_header();
	ksft_set_plan(6);
	nth = luo_fault_setup();
	if (nth < 0)
		ksft_exit_fail_msg("no fault injection (%s): see config\n", strerror(-nth));
	luo_touch_buffers();
	free_before = luo_free_kib();
	pins0 = luo_pins();

	luo = luo_open();
	if (luo < 0)
		ksft_exit_fail_msg("cannot open %s: %s\n", LUO_DEVICE, strerror(errno));
	for (size_t i = 0; i < NR_FILES; i++) {
		if (make_file(&files[i]))
			ksft_exit_fail_msg("cannot make memfd %s\n", files[i].name);
		files[i].preserved = !files[i].huge;
		if (files[i].preserved && luo_fd_preserve(luo, files[i].fd, files[i].token))
			ksft_exit_fail_msg("cannot preserve memfd %s\n", files[i].name);
	}
	extra_fd = memfd_create("extra", 0);

	report(each_failure(nth, "FD_PRESERVE", extra_preserve, extra_unpreserve, extra_clean,
			    luo), "FD_PRESERVE");
	report(each_failure(nth, "per-file PREPARE", file_prepare, file_cancel, prepare_clean,
			    luo), "per-file PREPARE of a 4 MiB memfd");
	if (luo_fd_preserve(luo, HUGE->fd, HUGE->token))
		ksft_exit_fail_msg("cannot preserve memfd %s\n", HUGE->name);
	HUGE->preserved = 1;
	report(each_failure(nth, "per-file PREPARE", huge_prepare, huge_cancel, prepare_clean,
			    luo), "per-file PREPARE of a hugetlb memfd");
	report(each_failure(nth, "PREPARE", prepare, cancel, prepare_clean, luo),
	       "PREPARE of 5 memfds and the subsystems");

	for (size_t i = 0; i < NR_FILES; i++)
		intact &= luo_file_sum(files[i].fd, files[i].size) == files[i].sum;
	ksft_test_result(intact, "every memfd's bytes are intact\n");

	close(luo);
	close(extra_fd);
	for (size_t i = 0; i < NR_FILES; i++)
		close(files[i].fd);
	free_after = luo_free_kib();
	ksft_test_result(free_after >= free_before - luo_free_slack_kib(SLACK_KIB) &&
			 luo_pins() <= pins0 + PIN_SLACK,
			 "memory given back: free %ld -> %ld KiB, pins %ld -> %ld\n",
			 free_before, free_after, pins0, luo_pins());
	ksft_finished();
}
