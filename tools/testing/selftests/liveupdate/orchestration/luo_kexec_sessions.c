// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sessions across a kexec (liveupdate=on), beyond upstream's own
 * kexec selftests: incoming and outgoing names apart, a session retrieved
 * once, a file retrieved twice being one open file, a retrieved file not
 * preservable again until FINISH, FINISH letting go of files never
 * retrieved, a closed incoming session forgotten, and the update ending
 * with the last incoming session; and a RETRIEVE_SESSION failing on an
 * allocation leaving the session retrievable.
 *
 * Stage 1 creates four sessions and returns; the VM harness keeps every
 * process alive (this one's session fds stay open in a child) and kexecs:
 * the reboot path freezes the sessions.
 *   keep:     memfd token 1 ("one", 3 pages), memfd token 2 ("two"),
 *             hugetlb memfd token 3 (4 2 MiB pages, the third a hole)
 *   drop:     memfd token 1, never retrieved: closing the session frees it
 *   empty:    no file
 *   leftover: memfd token 7, retrieved last
 */
#define _GNU_SOURCE
#include <linux/memfd.h>
#include <signal.h>
#include <sys/mman.h>

#include "../../kselftest.h"
#include "luo_fault_utils.h"
#include "luo_test_utils.h"

#define PAGES 3
#define HUGE_2M (2UL << 20)
#define HUGE_POOL "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
/* hugepages= of the suite's command line. */
#define HUGE_BOOT_POOL 8

/* A hugetlb memfd of four 2 MiB pages holding text, the third a hole. */
static int huge_with(const char *text)
{
	int fd = memfd_create(text, MFD_HUGETLB | MFD_HUGE_2MB);
	char *p;

	if (fd < 0 || ftruncate(fd, 4 * HUGE_2M))
		return -1;
	p = mmap(NULL, 4 * HUGE_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	for (int page = 0; page < 4; page++)
		if (page != 2)
			snprintf(p + page * HUGE_2M, 32, "%s %d", text, page);
	return munmap(p, 4 * HUGE_2M) ? -1 : fd;
}

/* Whether fd is what huge_with(text) made, and its 3 pages joined the pool. */
static int huge_holds(int fd, const char *text)
{
	char buf[32], want[32], pool[16] = "";

	for (int page = 0; page < 4; page++) {
		memset(buf, 0, sizeof(buf));
		snprintf(want, sizeof(want), "%s %d", text, page);
		if (fd < 0 || pread(fd, buf, sizeof(buf), page * HUGE_2M) != sizeof(buf) ||
		    strcmp(buf, page == 2 ? "" : want))
			return 0;
	}
	return luo_read_file(HUGE_POOL, pool, sizeof(pool)) > 0 &&
	       atoi(pool) == HUGE_BOOT_POOL + 3;
}

static int memfd_with(const char *text, size_t pages)
{
	int fd = memfd_create(text, 0);

	if (fd < 0 || ftruncate(fd, pages * LUO_PAGE_SIZE) ||
	    pwrite(fd, text, strlen(text) + 1, (pages - 1) * LUO_PAGE_SIZE) < 0)
		return -1;
	return fd;
}

/* Whether fd holds `text` in its last of `pages` pages. */
static int holds(int fd, const char *text, size_t pages)
{
	char buf[32] = "";

	return fd >= 0 && pread(fd, buf, sizeof(buf), (pages - 1) * LUO_PAGE_SIZE) > 0 &&
	       !strcmp(buf, text);
}

static void stage1(void)
{
	int luo = luo_open(), keep, drop, empty, leftover;

	ksft_set_plan(4);
	keep = luo_create_session(luo, "keep");
	drop = luo_create_session(luo, "drop");
	empty = luo_create_session(luo, "empty");
	leftover = luo_create_session(luo, "leftover");
	ksft_test_result(keep >= 0 && drop >= 0 && empty >= 0 && leftover >= 0,
			 "four sessions\n");
	ksft_test_result(!luo_session_preserve(keep, memfd_with("one", PAGES), 1) &&
			 !luo_session_preserve(keep, memfd_with("two", 1), 2) &&
			 !luo_session_preserve(keep, huge_with("huge"), 3),
			 "keep: two memfds and a hugetlb memfd\n");
	ksft_test_result(!luo_session_preserve(drop, memfd_with("dropped", 1), 1) &&
			 !luo_session_preserve(leftover, memfd_with("left", 1), 7),
			 "drop and leftover: a memfd each\n");
	close(luo);
	ksft_test_result(luo_state_is("normal"), "state normal until the reboot\n");
	luo_hold_until_kexec();
}

/*
 * RETRIEVE_SESSION with each of its allocations failing in turn: each
 * failure is clean and leaves the session retrievable (never ENOENT or
 * EINVAL), until it succeeds. An injected failure may also be absorbed by
 * a fallback (kvmalloc() growing the fd table, say): then it succeeds.
 */
static int retrieve_under_faults(int luo, const char *name)
{
	int nth = luo_fault_setup(), n, fd = -1, injected = 0;

	for (n = 1; nth >= 0 && n < 100; n++) {
		if (luo_fault_arm(nth, n))
			break;
		fd = luo_retrieve_session(luo, name);
		injected += luo_fault_disarm(nth);
		if (fd >= 0 || fd == -ENOENT || fd == -EINVAL)
			break;
	}
	if (nth >= 0)
		close(nth);
	ksft_test_result(injected > 0 && fd >= 0,
			 "RETRIEVE_SESSION survives %d allocation failures (%d)\n", injected, fd);
	return fd;
}

static void stage2(void)
{
	int luo = luo_open(), keep, out, one, again, drop, s;
	char name[64] = "";

	ksft_set_plan(22);
	ksft_test_result(luo_state_is("updated"), "state updated\n");
	ksft_test_result(luo_retrieve_session(luo, "none") == -ENOENT,
			 "an unknown session is ENOENT\n");
	keep = luo_retrieve_session(luo, "keep");
	ksft_test_result(keep >= 0, "keep is retrieved\n");
	ksft_test_result(luo_retrieve_session(luo, "keep") == -EINVAL,
			 "retrieving it again is EINVAL\n");
	ksft_test_result(!luo_session_name(keep, name) && !strcmp(name, "keep"),
			 "GET_NAME on an incoming session\n");
	out = luo_create_session(luo, "keep");
	ksft_test_result(out >= 0, "an outgoing session may take an incoming one's name\n");
	ksft_test_result(luo_session_preserve(keep, memfd_with("x", 1), 9) == -EINVAL,
			 "PRESERVE_FD on an incoming session is EINVAL\n");
	ksft_test_result(luo_session_retrieve(keep, 99) == -ENOENT,
			 "an unknown token is ENOENT\n");
	one = luo_session_retrieve(keep, 1);
	ksft_test_result(holds(one, "one", PAGES), "token 1 comes back with its data\n");
	again = luo_session_retrieve(keep, 1);
	ksft_test_result(again >= 0 && again != one && lseek(one, 100, SEEK_SET) == 100 &&
			 lseek(again, 0, SEEK_CUR) == 100,
			 "retrieving it again gives the same open file\n");
	ksft_test_result(huge_holds(luo_session_retrieve(keep, 3), "huge"),
			 "the hugetlb memfd comes back: 3 pages, a hole; the pool grew by 3\n");
	ksft_test_result(luo_session_preserve(out, one, 1) == -EBUSY,
			 "a retrieved file is not preserved again before FINISH (EBUSY)\n");
	ksft_test_result(!luo_session_finish(keep), "FINISH\n");
	ksft_test_result(luo_session_retrieve(keep, 2) == -ENOENT,
			 "after FINISH, a file never retrieved is gone\n");
	ksft_test_result(!luo_session_finish(keep), "FINISH again does nothing\n");
	ksft_test_result(holds(one, "one", PAGES) && !luo_session_preserve(out, one, 1),
			 "after FINISH the file is the caller's, and can be preserved again\n");
	close(keep);
	ksft_test_result(luo_retrieve_session(luo, "keep") == -ENOENT,
			 "a finished and closed session is forgotten\n");
	drop = retrieve_under_faults(luo, "drop");
	s = luo_retrieve_session(luo, "empty");
	ksft_test_result(drop >= 0 && s >= 0 && luo_session_retrieve(s, 1) == -ENOENT,
			 "drop and empty are retrieved; empty has no file\n");
	close(drop);
	close(s);
	ksft_test_result(luo_state_is("updated"), "updated while a session is left\n");
	s = luo_retrieve_session(luo, "leftover");
	one = luo_session_retrieve(s, 7);
	ksft_test_result(holds(one, "left", 1), "leftover's file comes back\n");
	close(s);
	ksft_test_result(luo_state_is("normal"), "closing the last session ends the update\n");
	close(out);
	close(luo);
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
