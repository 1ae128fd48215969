// SPDX-License-Identifier: GPL-2.0-only
/*
 * A chain of three kernels: prepare and kexec, finish, prepare and kexec
 * again. The Rust sample subsystem counts the generations: 1, then 2.
 */
#include "../../kselftest.h"
#include "luo_test_utils.h"

static void prepare_and_kexec(int fd)
{
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_PREPARE), "PREPARE\n");
	LUO_KEXEC_OR_FAIL();
}

static void check_updated(int fd, const char *generation)
{
	char line[96];

	snprintf(line, sizeof(line), "rust_liveupdate: boot: this kernel is generation %s",
		 generation);
	ksft_test_result(luo_get_state(fd) == LIVEUPDATE_STATE_UPDATED, "state UPDATED\n");
	ksft_test_result(luo_log_contains(line), "generation %s\n", generation);
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_FINISH) &&
			 luo_get_state(fd) == LIVEUPDATE_STATE_NORMAL, "FINISH\n");
}

static void stage1(void)
{
	int fd = luo_open();

	ksft_set_plan(1);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	prepare_and_kexec(fd);
}

static void stage2(void)
{
	int fd = luo_open();

	ksft_set_plan(4);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	check_updated(fd, "1");
	prepare_and_kexec(fd);
}

static void stage3(void)
{
	int fd = luo_open();

	ksft_set_plan(3);
	if (fd < 0)
		ksft_exit_fail_msg("cannot open the device\n");
	check_updated(fd, "2");
}

LUO_KEXEC_TEST_MAIN3(stage1, stage2, stage3)
