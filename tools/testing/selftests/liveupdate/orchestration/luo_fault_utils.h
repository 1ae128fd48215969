/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Allocation failures on demand for the LUO selftests, with the kernel's
 * fault-injection framework (Documentation/fault-injection/): failslab and
 * fail_page_alloc made to fail any allocation, sleeping or not, and
 * /proc/thread-self/fail-nth to fail the Nth one the calling thread makes.
 *
 * The usual loop: for n = 1, 2, ... arm n, make the call, disarm; while
 * the fault was injected the call must fail cleanly, and the first n that
 * is not injected is one more than the number of allocations the call
 * makes, so every one of them has failed once.
 */
#ifndef _LUO_FAULT_UTILS_H
#define _LUO_FAULT_UTILS_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../kselftest.h"
#include "luo_memfd_utils.h"

#define LUO_FAIL_NTH	"/proc/thread-self/fail-nth"
#define LUO_FAILSLAB	"/sys/kernel/debug/failslab/"
#define LUO_FAILPAGE	"/sys/kernel/debug/fail_page_alloc/"

/*
 * Makes failslab and fail_page_alloc fail any allocation fail-nth points
 * at, quietly (one line per injected failure). Returns the calling
 * thread's fail-nth file, kept open so that arming and disarming make no
 * allocation of their own, or -errno.
 */
static inline int luo_fault_setup(void)
{
	static const char * const knobs[][2] = {
		{ LUO_FAILSLAB "ignore-gfp-wait", "N" },
		{ LUO_FAILSLAB "verbose", "1" },
		{ LUO_FAILPAGE "ignore-gfp-wait", "N" },
		{ LUO_FAILPAGE "ignore-gfp-highmem", "N" },
		{ LUO_FAILPAGE "min-order", "0" },
		{ LUO_FAILPAGE "verbose", "1" },
	};
	int err, fd;

	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++) {
		err = luo_write_file(knobs[i][0], knobs[i][1]);
		if (err)
			return err;
	}
	fd = open(LUO_FAIL_NTH, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Makes the calling thread's nth allocation from now on fail. */
static inline int luo_fault_arm(int nth, int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	return pwrite(nth, buf, len, 0) == len ? 0 : -errno;
}

/*
 * Disarms and says whether the failure armed last was injected. errno is
 * kept, so that it can be called right after the call under test.
 */
static inline int luo_fault_disarm(int nth)
{
	int saved = errno;
	char buf[16] = "";
	ssize_t n;

	n = pread(nth, buf, sizeof(buf) - 1, 0);
	if (pwrite(nth, "0", 1, 0) != 1)
		n = -1;
	errno = saved;
	return n > 0 && atoi(buf) == 0;
}

#endif /* _LUO_FAULT_UTILS_H */
