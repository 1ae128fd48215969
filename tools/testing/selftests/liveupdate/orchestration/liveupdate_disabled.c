// SPDX-License-Identifier: GPL-2.0-only
/*
 * Live Update Orchestrator selftests for a kernel booted without
 * liveupdate=on: LUO stays out of the way, with no device and no sysfs
 * directory.
 */
#include "../../kselftest_harness.h"
#include "luo_test_utils.h"

TEST(device_absent)
{
	EXPECT_FALSE(luo_path_exists(LUO_DEVICE));
	EXPECT_EQ(-1, luo_open());
	EXPECT_EQ(ENOENT, errno);
}

TEST(sysfs_absent)
{
	EXPECT_FALSE(luo_path_exists("/sys/kernel/liveupdate"));
}

TEST_HARNESS_MAIN
