// SPDX-License-Identifier: GPL-2.0-only
/*
 * Live Update Orchestrator selftests for a kernel booted with
 * liveupdate=on: the device, its open rules, GET_STATE and its argument
 * checking, the sysfs state file.
 */
#include <linux/capability.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "luo_test_utils.h"

TEST(device_present)
{
	struct stat st;

	ASSERT_EQ(0, stat(LUO_DEVICE, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 0777);
}

TEST(second_open_is_busy)
{
	int fd1, fd2;

	fd1 = luo_open();
	ASSERT_LE(0, fd1);
	fd2 = luo_open();
	EXPECT_EQ(-1, fd2);
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, close(fd1));

	/* Closing releases the device for the next opener. */
	fd2 = luo_open();
	ASSERT_LE(0, fd2);
	close(fd2);
}

/* Opening needs CAP_SYS_ADMIN even when file permissions allow it. */
TEST(open_needs_cap_sys_admin)
{
	pid_t pid;
	int status;

	ASSERT_EQ(0, chmod(LUO_DEVICE, 0666));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct __user_cap_header_struct hdr = {
			.version = _LINUX_CAPABILITY_VERSION_3,
		};
		struct __user_cap_data_struct data[2] = {};

		if (syscall(SYS_capget, &hdr, data))
			_exit(2);
		data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
		if (syscall(SYS_capset, &hdr, data))
			_exit(3);
		_exit(luo_open() == -1 && errno == EPERM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	chmod(LUO_DEVICE, 0600);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

FIXTURE(luo)
{
	int fd;
};

FIXTURE_SETUP(luo)
{
	self->fd = luo_open();
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(luo)
{
	close(self->fd);
}

TEST_F(luo, get_state_is_normal)
{
	ASSERT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
}

/* A size that ends before the output field is refused. */
TEST_F(luo, get_state_too_small)
{
	struct liveupdate_ioctl_get_state arg = { .size = 4, .state = 0xdead };

	EXPECT_EQ(-1, ioctl(self->fd, LIVEUPDATE_IOCTL_GET_STATE, &arg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0xdead, arg.state);
	arg.size = 0;
	EXPECT_EQ(-1, ioctl(self->fd, LIVEUPDATE_IOCTL_GET_STATE, &arg));
	EXPECT_EQ(EINVAL, errno);
}

/* A longer struct is accepted when its tail is zero, refused otherwise. */
TEST_F(luo, get_state_larger_struct)
{
	struct {
		struct liveupdate_ioctl_get_state s;
		uint8_t tail[200];
	} big;

	memset(&big, 0, sizeof(big));
	big.s.size = sizeof(big);
	big.tail[sizeof(big.tail) - 1] = 0x5a;
	EXPECT_EQ(-1, ioctl(self->fd, LIVEUPDATE_IOCTL_GET_STATE, &big));
	EXPECT_EQ(E2BIG, errno);

	big.tail[sizeof(big.tail) - 1] = 0;
	big.tail[0] = 0;
	memset(big.tail, 0, sizeof(big.tail));
	ASSERT_EQ(0, ioctl(self->fd, LIVEUPDATE_IOCTL_GET_STATE, &big));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, big.s.state);
}

/* Only min(user size, kernel size) bytes are written back. */
TEST_F(luo, get_state_copies_back_kernel_size)
{
	struct {
		struct liveupdate_ioctl_get_state s;
		uint32_t canary;
	} big = { .s.size = sizeof(big.s) };

	big.canary = 0xa5a5a5a5;
	ASSERT_EQ(0, ioctl(self->fd, LIVEUPDATE_IOCTL_GET_STATE, &big));
	EXPECT_EQ(0xa5a5a5a5, big.canary);
	EXPECT_EQ(sizeof(big.s), big.s.size);
}

TEST_F(luo, get_state_bad_pointer)
{
	EXPECT_EQ(-1, ioctl(self->fd, LIVEUPDATE_IOCTL_GET_STATE, NULL));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(luo, unknown_ioctl)
{
	struct liveupdate_ioctl_get_state arg = { .size = sizeof(arg) };

	EXPECT_EQ(-1, ioctl(self->fd, _IO(LIVEUPDATE_IOCTL_TYPE, 0x0f), &arg));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IO('x', LIVEUPDATE_CMD_GET_STATE), &arg));
	EXPECT_EQ(ENOTTY, errno);
}

TEST(sysfs_state_is_normal)
{
	char buf[64];
	struct stat st;

	ASSERT_LT(0, luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)));
	EXPECT_STREQ("normal\n", buf);
	ASSERT_EQ(0, stat(LUO_SYSFS_STATE, &st));
	EXPECT_EQ(0444, st.st_mode & 0777);
}

TEST_HARNESS_MAIN
