// SPDX-License-Identifier: GPL-2.0-only
/*
 * Files across a live update, with the test hook's file handler: stage 1
 * preserves two memfds (one will be restored, one never), prepares and
 * kexecs; stage 2 restores the first with its bytes, refuses a second
 * restore and unknown tokens, and FINISH releases the one never restored.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"

static const char content[] = "the bytes of a running workload";

static void stage1(void)
{
	int fd = luo_open(), a = memfd_create("ksft_kept", 0), b = memfd_create("ksft_lost", 0);

	ksft_set_plan(4);
	if (fd < 0 || a < 0 || b < 0)
		ksft_exit_fail_msg("cannot open the device or create memfds\n");
	ksft_test_result(write(a, content, sizeof(content)) == sizeof(content) &&
			 write(b, "x", 1) == 1, "write the memfds\n");
	ksft_test_result(!luo_fd_preserve(fd, a, 0xa11ce) && !luo_fd_preserve(fd, b, 0xb0b),
			 "FD_PRESERVE both\n");
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_PREPARE) &&
			 luo_fd_state(fd, 0xa11ce, 0) == LIVEUPDATE_STATE_PREPARED, "PREPARE\n");
	ksft_test_result(1, "reboot(KEXEC)\n");
	LUO_KEXEC_OR_FAIL();
}

static void stage2(void)
{
	int fd = luo_open(), restored;
	char buf[64] = "";

	ksft_set_plan(8);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	ksft_test_result(luo_get_state(fd) == LIVEUPDATE_STATE_UPDATED &&
			 luo_fd_state(fd, 0xa11ce, 1) == LIVEUPDATE_STATE_UPDATED &&
			 luo_fd_state(fd, 0xb0b, 1) == LIVEUPDATE_STATE_UPDATED,
			 "UPDATED, with both files incoming\n");
	ksft_test_result(luo_fd_restore(fd, 0x5eed) == -ENOENT, "unknown token: ENOENT\n");
	restored = luo_fd_restore(fd, 0xa11ce);
	ksft_test_result(restored >= 0, "FD_RESTORE\n");
	ksft_test_result(restored >= 0 && pread(restored, buf, sizeof(buf), 0) == sizeof(content) &&
			 !memcmp(buf, content, sizeof(content)), "the bytes came back\n");
	ksft_test_result(luo_fd_restore(fd, 0xa11ce) == -EBUSY, "a second restore fails\n");
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_FINISH) &&
			 luo_get_state(fd) == LIVEUPDATE_STATE_NORMAL, "FINISH\n");
	ksft_test_result(luo_log_contains("luo_selftest: file 0x") &&
			 luo_log_contains("finished, never restored"),
			 "the file never restored was released at FINISH\n");
	ksft_test_result(luo_fd_state(fd, 0xb0b, 1) == -ENOENT, "no incoming file left\n");
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
