// SPDX-License-Identifier: GPL-2.0-only
/*
 * A kexec with nothing prepared: the next kernel comes up through a KHO
 * kexec, finds no LUO data and is in the NORMAL state.
 *
 * Two stages, run by the VM harness: "luo_kexec_simple 1" before the kexec
 * (the harness has already loaded the next kernel with kexec_file_load and
 * kexecs when this returns 0), "luo_kexec_simple 2" in the next kernel.
 */
#include <stdlib.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"

static void check_normal(void)
{
	char buf[64] = "";
	int fd = luo_open();

	ksft_test_result(fd >= 0, "device opens\n");
	ksft_test_result(fd >= 0 && luo_get_state(fd) == LIVEUPDATE_STATE_NORMAL,
			 "GET_STATE is NORMAL\n");
	ksft_test_result(luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)) > 0 &&
			 !strcmp(buf, "normal\n"), "sysfs state is normal\n");
	if (fd >= 0)
		close(fd);
}

static void stage1(void)
{
	char buf[8] = "";

	ksft_set_plan(5);
	ksft_test_result(!luo_path_exists(KHO_IN_FDT), "cold boot: no incoming KHO data\n");
	check_normal();
	ksft_test_result(luo_read_file("/sys/kernel/kexec_loaded", buf, sizeof(buf)) > 0 &&
			 buf[0] == '1', "next kernel is loaded\n");
}

static void stage2(void)
{
	ksft_set_plan(5);
	ksft_test_result(luo_path_exists(KHO_IN_FDT), "booted through a KHO kexec\n");
	ksft_test_result(!luo_path_exists(KHO_IN_LUO), "no LUO data handed over\n");
	check_normal();
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
