// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reboot path: with a prepared update, reboot(LINUX_REBOOT_CMD_KEXEC)
 * runs every subsystem's freeze. A failing freeze makes the reboot fail
 * with its error and cancels the update (state NORMAL, nothing preserved);
 * once the failing subsystem is gone the same reboot goes through.
 *
 * Stage 1 calls reboot() itself; stage 2 runs in the kexec'd kernel.
 */
#include "../../kselftest.h"
#include "luo_test_utils.h"

static void stage1(void)
{
	static unsigned char page[LUO_PAGE_SIZE], out[LUO_PAGE_SIZE];
	int fd = luo_open(), hook = luo_selftest_open();
	char buf[64] = "";

	ksft_set_plan(8);
	if (fd < 0 || hook < 0)
		ksft_exit_fail_msg("cannot open the device or the test hook\n");
	luo_fill_page(page, 7);
	ksft_test_result(!luo_register(hook, "ksft_kexec_ok", page) &&
			 !luo_register(hook, LUO_SELFTEST_FREEZE_FAIL "_kexec", page),
			 "register two subsystems, one failing freeze\n");
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_PREPARE), "PREPARE\n");
	ksft_test_result(luo_kexec_reboot() == -EIO, "reboot(KEXEC) fails with the freeze error\n");
	ksft_test_result(luo_get_state(fd) == LIVEUPDATE_STATE_NORMAL &&
			 luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)) > 0 &&
			 !strcmp(buf, "normal\n"), "the update was cancelled\n");
	ksft_test_result(luo_getdata(hook, "ksft_kexec_ok", out) == -ENODATA,
			 "the other subsystem was cancelled\n");
	ksft_test_result(!luo_unregister(hook, LUO_SELFTEST_FREEZE_FAIL "_kexec") &&
			 !luo_set_event(fd, LIVEUPDATE_PREPARE), "PREPARE again\n");
	ksft_test_result(!luo_getdata(hook, "ksft_kexec_ok", out) &&
			 !memcmp(page, out, sizeof(page)), "data prepared\n");
	ksft_test_result(1, "reboot(KEXEC) with a prepared update\n");
	LUO_KEXEC_OR_FAIL();
}

static void stage2(void)
{
	int fd = luo_open();

	ksft_set_plan(2);
	ksft_test_result(luo_path_exists(KHO_IN_FDT), "booted through a KHO kexec\n");
	ksft_test_result(fd >= 0, "device opens in the next kernel\n");
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
