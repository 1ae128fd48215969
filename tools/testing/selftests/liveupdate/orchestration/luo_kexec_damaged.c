// SPDX-License-Identifier: GPL-2.0-only
/*
 * A damaged hand-over is rejected whole, without a panic: stage 1 prepares
 * two subsystems and asks the test hook to damage the blob right before
 * kexec, in the way its argument names ("luo_kexec_damaged 1 <kind>",
 * LUO_DAMAGE_*); stage 2 must come up NORMAL, say why in sysfs and the
 * log, and deliver nothing to any subsystem.
 */
#include "../../kselftest.h"
#include "luo_test_utils.h"

static int damage_kind(void)
{
	const char *kind = luo_stage_arg(0);

	return kind ? atoi(kind) : -1;
}

static void stage1(void)
{
	static unsigned char page[LUO_PAGE_SIZE];
	int fd = luo_open(), hook = luo_selftest_open();
	struct liveupdate_selftest st = { .cmd = LUO_CMD_DAMAGE_HANDOVER };

	ksft_set_plan(3);
	if (fd < 0 || hook < 0 || damage_kind() <= 0)
		ksft_exit_fail_msg("no device, test hook or damage kind (PROG 1 <kind>)\n");
	luo_fill_page(page, 1);
	ksft_test_result(!luo_register(hook, "ksft_damaged_1", page) &&
			 !luo_register(hook, "ksft_damaged_2", page) &&
			 !luo_set_event(fd, LIVEUPDATE_PREPARE), "PREPARE with two subsystems\n");
	st.arg = damage_kind();
	ksft_test_result(!ioctl(hook, LIVEUPDATE_IOCTL_SELFTESTS, &st),
			 "damage the hand-over (kind %d)\n", damage_kind());
	ksft_test_result(1, "reboot(KEXEC)\n");
	LUO_KEXEC_OR_FAIL();
}

static void stage2(void)
{
	static unsigned char page[LUO_PAGE_SIZE];
	int fd = luo_open(), hook = luo_selftest_open();
	char buf[256] = "";

	ksft_set_plan(5);
	if (fd < 0 || hook < 0)
		ksft_exit_fail_msg("cannot open the device or the test hook\n");
	ksft_test_result(luo_path_exists(KHO_IN_LUO), "a LUO blob was handed over\n");
	ksft_test_result(luo_get_state(fd) == LIVEUPDATE_STATE_NORMAL, "state NORMAL\n");
	luo_read_file(LUO_SYSFS_HANDOVER, buf, sizeof(buf));
	printf("# handover: %s", buf);
	ksft_test_result(!strncmp(buf, "rejected: ", 10), "sysfs says it was rejected\n");
	ksft_test_result(luo_log_contains("rejecting the previous kernel's hand-over"),
			 "one log line says why\n");
	ksft_test_result(!luo_register(hook, "ksft_damaged_1", page) &&
			 luo_getdata(hook, "ksft_damaged_1", page) == -ENODATA &&
			 !luo_log_contains("rust_liveupdate: boot:"),
			 "nothing reached a subsystem\n");
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
