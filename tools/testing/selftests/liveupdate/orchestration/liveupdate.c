// SPDX-License-Identifier: GPL-2.0-only
/*
 * Live Update Orchestrator selftests for a kernel booted with
 * liveupdate=orchestration: the device, its open rules, the state machine as driven
 * from user space, every row of the ioctl error table, the sysfs state
 * file and its poll() notification.
 */
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "../../kselftest_harness.h"
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

static void expect_state(struct __test_metadata *_metadata, int fd, int state,
			 const char *name)
{
	char buf[64];

	EXPECT_EQ(state, luo_get_state(fd));
	ASSERT_LT(0, luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)));
	EXPECT_STREQ(name, buf);
}

TEST_F(luo, prepare_then_cancel)
{
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	expect_state(_metadata, self->fd, LIVEUPDATE_STATE_PREPARED, "prepared\n");
	EXPECT_EQ(-EBUSY, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	expect_state(_metadata, self->fd, LIVEUPDATE_STATE_NORMAL, "normal\n");
}

TEST_F(luo, cancel_in_normal_is_busy)
{
	EXPECT_EQ(-EBUSY, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	expect_state(_metadata, self->fd, LIVEUPDATE_STATE_NORMAL, "normal\n");
}

TEST_F(luo, finish_outside_updated_is_busy)
{
	EXPECT_EQ(-EBUSY, luo_set_event(self->fd, LIVEUPDATE_FINISH));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(-EBUSY, luo_set_event(self->fd, LIVEUPDATE_FINISH));
	expect_state(_metadata, self->fd, LIVEUPDATE_STATE_PREPARED, "prepared\n");
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
}

/* FREEZE comes only from reboot(LINUX_REBOOT_CMD_KEXEC). */
TEST_F(luo, freeze_from_user_space_unsupported)
{
	EXPECT_EQ(-EOPNOTSUPP, luo_set_event(self->fd, LIVEUPDATE_FREEZE));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_PREPARE));
	EXPECT_EQ(-EOPNOTSUPP, luo_set_event(self->fd, LIVEUPDATE_FREEZE));
	EXPECT_EQ(LIVEUPDATE_STATE_PREPARED, luo_get_state(self->fd));
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
}

TEST_F(luo, unknown_event_unsupported)
{
	EXPECT_EQ(-EOPNOTSUPP, luo_set_event(self->fd, 4));
	EXPECT_EQ(-EOPNOTSUPP, luo_set_event(self->fd, 0xffffffff));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
}

TEST_F(luo, set_event_too_small)
{
	struct liveupdate_ioctl_set_event arg = { .size = 4, .event = LIVEUPDATE_PREPARE };

	EXPECT_EQ(-1, ioctl(self->fd, LIVEUPDATE_IOCTL_SET_EVENT, &arg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
}

TEST_F(luo, set_event_nonzero_tail)
{
	struct {
		struct liveupdate_ioctl_set_event s;
		uint32_t tail;
	} arg = { .s = { .size = sizeof(arg), .event = LIVEUPDATE_PREPARE }, .tail = 1 };

	EXPECT_EQ(-1, ioctl(self->fd, LIVEUPDATE_IOCTL_SET_EVENT, &arg));
	EXPECT_EQ(E2BIG, errno);
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
}

/* Closing the device before the reboot cancels a prepared update. */
TEST(close_in_prepared_cancels)
{
	int fd = luo_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, luo_set_event(fd, LIVEUPDATE_PREPARE));
	ASSERT_EQ(0, close(fd));
	fd = luo_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(fd));
	close(fd);
}

/* Issues an FD ioctl with a struct of the given size; returns -errno. */
static int fd_ioctl(int fd, unsigned long cmd, void *arg, __u32 size)
{
	*(__u32 *)arg = size;
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

TEST_F(luo, fd_ioctls_check_size)
{
	uint8_t buf[64];
	static const struct {
		unsigned long cmd;
		__u32 size;
		int zeroed;	/* the error for an all-zero, well-formed request */
	} ioctls[] = {
		/* fd 0 is the console, which no handler preserves */
		{ LIVEUPDATE_IOCTL_FD_PRESERVE, sizeof(struct liveupdate_ioctl_fd_preserve),
		  -EOPNOTSUPP },
		{ LIVEUPDATE_IOCTL_FD_UNPRESERVE, sizeof(struct liveupdate_ioctl_fd_unpreserve),
		  -ENOENT },
		{ LIVEUPDATE_IOCTL_FD_RESTORE, sizeof(struct liveupdate_ioctl_fd_restore), -EBUSY },
		{ LIVEUPDATE_IOCTL_GET_FD_STATE, sizeof(struct liveupdate_ioctl_get_fd_state),
		  -ENOENT },
		{ LIVEUPDATE_IOCTL_SET_FD_EVENT, sizeof(struct liveupdate_ioctl_set_fd_event),
		  -ENOENT },
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(ioctls); i++) {
		memset(buf, 0, sizeof(buf));
		EXPECT_EQ(-EINVAL, fd_ioctl(self->fd, ioctls[i].cmd, buf, ioctls[i].size - 4));
		memset(buf, 0, sizeof(buf));
		buf[ioctls[i].size] = 1;
		EXPECT_EQ(-E2BIG, fd_ioctl(self->fd, ioctls[i].cmd, buf, ioctls[i].size + 8));
		/* A longer struct with a zero tail is a normal request. */
		memset(buf, 0, sizeof(buf));
		EXPECT_EQ(ioctls[i].zeroed,
			  fd_ioctl(self->fd, ioctls[i].cmd, buf, ioctls[i].size + 8));
	}
}

/* The minimum of GET_FD_STATE ends after its output and reserved2. */
TEST_F(luo, get_fd_state_minimum_includes_output)
{
	struct liveupdate_ioctl_get_fd_state arg = {};

	EXPECT_EQ(24, sizeof(arg));
	EXPECT_EQ(-EINVAL, fd_ioctl(self->fd, LIVEUPDATE_IOCTL_GET_FD_STATE, &arg, 20));
	EXPECT_EQ(-EINVAL, fd_ioctl(self->fd, LIVEUPDATE_IOCTL_GET_FD_STATE, &arg, 16));
}

TEST_F(luo, fd_ioctls_reserved_fields)
{
	struct liveupdate_ioctl_fd_unpreserve unpreserve = { .reserved = 1 };
	struct liveupdate_ioctl_get_fd_state get = {};

	EXPECT_EQ(-EOPNOTSUPP, fd_ioctl(self->fd, LIVEUPDATE_IOCTL_FD_UNPRESERVE, &unpreserve,
					sizeof(unpreserve)));
	get.reserved[2] = 1;
	EXPECT_EQ(-EOPNOTSUPP,
		  fd_ioctl(self->fd, LIVEUPDATE_IOCTL_GET_FD_STATE, &get, sizeof(get)));
	memset(&get, 0, sizeof(get));
	get.reserved2 = 1;
	EXPECT_EQ(-EOPNOTSUPP,
		  fd_ioctl(self->fd, LIVEUPDATE_IOCTL_GET_FD_STATE, &get, sizeof(get)));
}

TEST_F(luo, get_fd_state_bad_incoming)
{
	struct liveupdate_ioctl_get_fd_state get = { .incoming = 2 };

	EXPECT_EQ(-EINVAL, fd_ioctl(self->fd, LIVEUPDATE_IOCTL_GET_FD_STATE, &get, sizeof(get)));
}

TEST_F(luo, set_fd_event_unknown_event)
{
	struct liveupdate_ioctl_set_fd_event set = { .event = 7 };

	EXPECT_EQ(-EOPNOTSUPP,
		  fd_ioctl(self->fd, LIVEUPDATE_IOCTL_SET_FD_EVENT, &set, sizeof(set)));
}

static void *prepare_later(void *arg)
{
	usleep(200 * 1000);
	return (void *)(long)luo_set_event(*(int *)arg, LIVEUPDATE_PREPARE);
}

/* poll() on the sysfs state file wakes up on a state change. */
TEST_F(luo, sysfs_poll_wakes_on_change)
{
	struct pollfd pfd = { .events = POLLPRI | POLLERR };
	pthread_t thread;
	char buf[64];
	void *ret;

	pfd.fd = open(LUO_SYSFS_STATE, O_RDONLY);
	ASSERT_LE(0, pfd.fd);
	ASSERT_LT(0, read(pfd.fd, buf, sizeof(buf)));
	ASSERT_EQ(0, pthread_create(&thread, NULL, prepare_later, &self->fd));
	EXPECT_EQ(1, poll(&pfd, 1, 10000));
	EXPECT_TRUE(pfd.revents & POLLPRI);
	ASSERT_EQ(0, pthread_join(thread, &ret));
	EXPECT_EQ(0, (long)ret);
	ASSERT_EQ(0, (int)lseek(pfd.fd, 0, SEEK_SET));
	memset(buf, 0, sizeof(buf));
	ASSERT_LT(0, read(pfd.fd, buf, sizeof(buf) - 1));
	EXPECT_STREQ("prepared\n", buf);
	close(pfd.fd);
	ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
}

#define RACE_ROUNDS 3000

struct race_arg {
	int fd;
	__u32 event;
	int unexpected;
};

static void *race(void *p)
{
	struct race_arg *arg = p;

	for (int i = 0; i < RACE_ROUNDS; i++) {
		int err = luo_set_event(arg->fd, arg->event);

		if (err && err != -EBUSY)
			arg->unexpected++;
	}
	return NULL;
}

/* PREPARE and CANCEL racing from two threads keep the state consistent. */
TEST_F(luo, prepare_cancel_race)
{
	struct race_arg prep = { .fd = self->fd, .event = LIVEUPDATE_PREPARE };
	struct race_arg cancel = { .fd = self->fd, .event = LIVEUPDATE_CANCEL };
	pthread_t t1, t2;
	char buf[64];
	int state;

	ASSERT_EQ(0, pthread_create(&t1, NULL, race, &prep));
	ASSERT_EQ(0, pthread_create(&t2, NULL, race, &cancel));
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	EXPECT_EQ(0, prep.unexpected);
	EXPECT_EQ(0, cancel.unexpected);

	state = luo_get_state(self->fd);
	ASSERT_TRUE(state == LIVEUPDATE_STATE_NORMAL || state == LIVEUPDATE_STATE_PREPARED);
	ASSERT_LT(0, luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)));
	EXPECT_STREQ(state == LIVEUPDATE_STATE_NORMAL ? "normal\n" : "prepared\n", buf);
	if (state == LIVEUPDATE_STATE_PREPARED)
		ASSERT_EQ(0, luo_set_event(self->fd, LIVEUPDATE_CANCEL));
	EXPECT_EQ(LIVEUPDATE_STATE_NORMAL, luo_get_state(self->fd));
}

TEST_HARNESS_MAIN
