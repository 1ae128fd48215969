// SPDX-License-Identifier: GPL-2.0-only
/*
 * The session uAPI (liveupdate=on) in one boot: what upstream's own
 * liveupdate selftest does not check. The errno of each bad call, in the
 * order Linux 7.3 checks them; session file descriptors as user space
 * sees them (anon_inode:[luo_session] <name>, close-on-exec); sessions
 * outliving /dev/liveupdate's file descriptor; a closed session giving
 * its files back; who may open the device; and that the orchestration
 * uAPI is not spoken.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"

#define NR_DEVICE(nr)	_IO(LIVEUPDATE_IOCTL_TYPE, nr)

/* An ioctl's errno (0 on success). */
static int err(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? errno : 0;
}

static void errnos(int luo)
{
	struct liveupdate_ioctl_create_session create = { .size = sizeof(create) };
	struct liveupdate_session_preserve_fd preserve = { .size = sizeof(preserve) };
	struct liveupdate_session_retrieve_fd retrieve = { .size = sizeof(retrieve) };
	struct liveupdate_session_finish finish = { .size = sizeof(finish) };
	struct liveupdate_session_get_name get = { .size = sizeof(get), .reserved = 1 };
	struct { struct liveupdate_ioctl_create_session s; __u64 tail; } big = {
		.s.size = sizeof(big), .s.name = "big", .tail = 1 };
	int s;

	ksft_test_result(err(luo, NR_DEVICE(2), &create) == EINVAL,
			 "device: a number past RETRIEVE_SESSION is EINVAL\n");
	ksft_test_result(err(luo, LIVEUPDATE_IOCTL_CREATE_SESSION, (void *)8) == EFAULT,
			 "device: an unreadable argument is EFAULT\n");
	ksft_test_result(err(luo, _IOWR(LIVEUPDATE_IOCTL_TYPE, 0, create), &create) == ENOTTY,
			 "device: another encoding of CREATE_SESSION is ENOTTY\n");
	create.size = sizeof(create) - 1;
	strcpy((char *)create.name, "short");
	ksft_test_result(err(luo, LIVEUPDATE_IOCTL_CREATE_SESSION, &create) == EINVAL,
			 "device: a struct shorter than its name is EINVAL\n");
	ksft_test_result(err(luo, LIVEUPDATE_IOCTL_CREATE_SESSION, &big) == E2BIG,
			 "device: a non-zero tail is E2BIG\n");
	big.tail = 0;
	ksft_test_result(err(luo, LIVEUPDATE_IOCTL_CREATE_SESSION, &big) == 0 && big.s.fd >= 0,
			 "device: a zero tail is accepted\n");
	close(big.s.fd);
	ksft_test_result(err(luo, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &big) == ENOENT,
			 "device: RETRIEVE_SESSION on a cold boot is ENOENT\n");

	s = luo_create_session(luo, "errnos");
	if (s < 0) {
		ksft_test_result_fail("CREATE_SESSION: %d\n", s);
		return;
	}
	ksft_test_result(err(s, NR_DEVICE(0), &create) == EINVAL,
			 "session: a device number is EINVAL\n");
	ksft_test_result(err(s, NR_DEVICE(0x44), &create) == EINVAL,
			 "session: a number past GET_NAME is EINVAL\n");
	ksft_test_result(err(s, LIVEUPDATE_SESSION_PRESERVE_FD, (void *)8) == EFAULT,
			 "session: an unreadable argument is EFAULT\n");
	retrieve.size = 0;
	ksft_test_result(err(s, LIVEUPDATE_SESSION_RETRIEVE_FD, &retrieve) == EINVAL &&
			 err(s, LIVEUPDATE_SESSION_FINISH, &finish) == EINVAL,
			 "session: RETRIEVE_FD and FINISH on an outgoing session are EINVAL\n");
	ksft_test_result(err(s, LIVEUPDATE_SESSION_GET_NAME, &get) == EINVAL,
			 "session: GET_NAME with a reserved field set is EINVAL\n");
	preserve.fd = -1;
	ksft_test_result(err(s, LIVEUPDATE_SESSION_PRESERVE_FD, &preserve) == EBADF,
			 "session: PRESERVE_FD of a bad fd is EBADF\n");
	preserve.fd = open("/", O_PATH);
	ksft_test_result(err(s, LIVEUPDATE_SESSION_PRESERVE_FD, &preserve) == EBADF,
			 "session: PRESERVE_FD of an O_PATH fd is EBADF\n");
	close(preserve.fd);
	ksft_test_result(ioctl(luo, LIVEUPDATE_IOCTL_GET_STATE, &create) && errno == EINVAL,
			 "the orchestration uAPI is not spoken (GET_STATE is EINVAL)\n");
	close(s);
}

static void session_fds(int luo)
{
	char path[64], link[128] = "", name[64];
	int s = luo_create_session(luo, "fd view");
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", s);
	len = readlink(path, link, sizeof(link) - 1);
	ksft_test_result(len > 0 && !strcmp(link, "anon_inode:[luo_session] fd view"),
			 "a session fd is anon_inode:[luo_session] <name> (%s)\n", link);
	ksft_test_result(s >= 0 && (fcntl(s, F_GETFD) & FD_CLOEXEC),
			 "a session fd is close-on-exec\n");
	memset(name, 'x', sizeof(name));
	ksft_test_result(!luo_session_name(s, name) && !strcmp(name, "fd view") &&
			 name[8] == 0 && name[63] == 0,
			 "GET_NAME: the name, its NUL, and the caller's bytes after it\n");
	close(s);
}

/* ftruncate(fd, len) errno, 0 on success. */
static int truncate_err(int fd, off_t len)
{
	return ftruncate(fd, len) ? errno : 0;
}

static void lifetime(void)
{
	int luo = luo_open(), s, s2, memfd = memfd_create("life", MFD_ALLOW_SEALING);
	int exe = open("/proc/self/exe", O_RDONLY), reopened;
	char path[64];

	s = luo_create_session(luo, "outlives");
	ksft_test_result(s >= 0 && memfd >= 0 && !truncate_err(memfd, 4096) &&
			 !luo_session_preserve(s, memfd, 1),
			 "a memfd is preserved\n");
	ksft_test_result(truncate_err(memfd, 8192) == EPERM,
			 "a preserved memfd's size is frozen (EPERM)\n");
	ksft_test_result(luo_session_preserve(s, memfd, 2) == -EBUSY,
			 "the same file under another token is EBUSY\n");
	close(luo);
	luo = luo_open();
	ksft_test_result(luo >= 0 && luo_create_session(luo, "outlives") == -EEXIST,
			 "closing /dev/liveupdate keeps the sessions\n");
	s2 = luo_create_session(luo, "other");
	ksft_test_result(s2 >= 0 && luo_session_preserve(s2, exe, 1) == -ENOENT,
			 "a file no handler takes is ENOENT\n");
	ksft_test_result(luo_session_preserve(s2, memfd, 1) == -EBUSY,
			 "a file preserved in another session is EBUSY\n");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	reopened = open(path, O_RDWR);
	ksft_test_result(reopened >= 0 && luo_session_preserve(s2, reopened, 2) == -EBUSY,
			 "the same memfd opened again is EBUSY\n");
	close(reopened);
	close(s);
	ksft_test_result(!truncate_err(memfd, 8192),
			 "closing the session unpreserves its files\n");
	ksft_test_result(!luo_session_preserve(s2, memfd, 1),
			 "the file can be preserved again, in another session\n");
	s = luo_create_session(luo, "outlives");
	ksft_test_result(s >= 0, "the closed session's name is free again\n");
	close(s);
	close(s2);
	close(memfd);
	close(exe);
	close(luo);
}

/* Who may open: the device node's mode, no capability. */
static void permissions(void)
{
	pid_t pid;
	int status = -1;

	if (chmod(LUO_DEVICE, 0666)) {
		ksft_test_result_fail("chmod %s: %d\n", LUO_DEVICE, errno);
		return;
	}
	pid = fork();
	if (!pid) {
		int luo, s;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		luo = luo_open();
		s = luo < 0 ? -1 : luo_create_session(luo, "unprivileged");
		_exit(s >= 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	chmod(LUO_DEVICE, 0600);
	ksft_test_result(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			 "an unprivileged user creates a session when the node is 0666\n");
}

int main(void)
{
	char buf[64] = "";
	int luo;

	ksft_print_header();
	ksft_set_plan(31);
	luo = luo_open();
	if (luo < 0)
		ksft_exit_fail_msg("open %s: %d\n", LUO_DEVICE, errno);
	ksft_test_result(luo_open() < 0 && errno == EBUSY, "one opener at a time (EBUSY)\n");
	ksft_test_result(luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)) > 0 &&
			 !strcmp(buf, "normal\n"), "sysfs state is normal\n");
	errnos(luo);
	session_fds(luo);
	close(luo);
	lifetime();
	permissions();
	ksft_finished();
}
