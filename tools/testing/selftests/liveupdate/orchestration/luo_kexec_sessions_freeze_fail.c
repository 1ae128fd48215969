// SPDX-License-Identifier: GPL-2.0-only
/*
 * A reboot that fails with the session uAPI loses nothing: in a kernel
 * that received sessions, reboot(LINUX_REBOOT_CMD_KEXEC) with a subsystem
 * whose freeze fails (the test hook's) fails with its error, and then the
 * incoming session is still there with its file, the update is still
 * UPDATED, and the outgoing session's memfd is frozen again. Once the
 * failing subsystem is gone the next reboot hands the outgoing session
 * over, and not the incoming one nobody carried on.
 *
 * Three kernels (the VM harness kexecs after stages 1 and 2):
 *   1: session "carry" with a memfd;
 *   2: the failing reboot, then session "next" carries the memfd on;
 *   3: "next" has the data, "carry" is gone.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"

static const char data[] = "carried over twice";

static int holds_data(int fd)
{
	char buf[sizeof(data)] = "";

	return fd >= 0 && pread(fd, buf, sizeof(buf), 0) == sizeof(buf) && !strcmp(buf, data);
}

static void stage1(void)
{
	int luo = luo_open(), carry = luo_create_session(luo, "carry");
	int memfd = memfd_create("carry", 0);

	ksft_set_plan(1);
	ksft_test_result(carry >= 0 && memfd >= 0 &&
			 pwrite(memfd, data, sizeof(data), 0) == sizeof(data) &&
			 !luo_session_preserve(carry, memfd, 1), "session carry with a memfd\n");
	close(luo);
	luo_hold_until_kexec();
}

static void stage2(void)
{
	static unsigned char page[LUO_PAGE_SIZE];
	int luo = luo_open(), hook = luo_selftest_open(), next, carry, memfd = -1;
	int second = memfd_create("second", 0);
	const char *failing = LUO_SELFTEST_FREEZE_FAIL "_sessions";

	ksft_set_plan(9);
	if (luo < 0 || hook < 0)
		ksft_exit_fail_msg("cannot open the device or the test hook\n");
	next = luo_create_session(luo, "next");
	luo_fill_page(page, 3);
	ksft_test_result(luo_state_is("updated") && next >= 0 && second >= 0 &&
			 pwrite(second, data, sizeof(data), 0) == sizeof(data) &&
			 !luo_session_preserve(next, second, 2) &&
			 !luo_register(hook, failing, page),
			 "updated; session next with a memfd; a subsystem whose freeze fails\n");
	ksft_test_result(luo_kexec_reboot() == -EIO, "reboot(KEXEC) fails with the freeze error\n");
	ksft_test_result(luo_state_is("updated"), "still updated\n");
	ksft_test_result(ftruncate(second, 8192) && errno == EPERM,
			 "the outgoing memfd is frozen again\n");
	carry = luo_retrieve_session(luo, "carry");
	if (carry >= 0)
		memfd = luo_session_retrieve(carry, 1);
	ksft_test_result(holds_data(memfd), "the incoming session still has its file\n");
	ksft_test_result(!luo_session_finish(carry) && !luo_session_preserve(next, memfd, 1),
			 "finished, and preserved again in session next\n");
	ksft_test_result(!luo_unregister(hook, failing), "the failing subsystem is gone\n");
	close(carry);
	ksft_test_result(luo_state_is("normal"), "closing the incoming session ends the update\n");
	ksft_test_result(ftruncate(memfd, 8192) && errno == EPERM,
			 "the memfd carried on is frozen\n");
	close(luo);
	luo_hold_until_kexec();
}

static void stage3(void)
{
	int luo = luo_open(), next = luo_retrieve_session(luo, "next");

	ksft_set_plan(3);
	ksft_test_result(holds_data(next >= 0 ? luo_session_retrieve(next, 1) : -1),
			 "session next brought the memfd carried on\n");
	ksft_test_result(holds_data(next >= 0 ? luo_session_retrieve(next, 2) : -1),
			 "and the one preserved before the failed reboot\n");
	ksft_test_result(luo_retrieve_session(luo, "carry") == -ENOENT,
			 "session carry was not handed on\n");
}

LUO_KEXEC_TEST_MAIN3(stage1, stage2, stage3)
