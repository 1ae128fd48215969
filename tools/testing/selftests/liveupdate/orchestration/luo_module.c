// SPDX-License-Identifier: GPL-2.0-only
/*
 * Modules that take part in live updates: LUO holds a reference on the
 * owner module of a subsystem while a live update uses it, so removing the
 * module is refused at once (EWOULDBLOCK) from PREPARE to CANCEL and in an
 * updated kernel until FINISH, and works at once otherwise; loading it
 * again registers it again.
 *
 * The module is the Rust sample, samples/rust/rust_liveupdate.rs, built as
 * a module (CONFIG_SAMPLE_RUST_LIVEUPDATE=m) and loaded by the test VM's
 * init at boot. Before the fix a Rust registration had no owner and its
 * drop() slept in a loop while the update was in progress: rmmod hung until
 * CANCEL.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"

#define MODULE		"rust_liveupdate"
#define MODULE_PATH	"/lib/modules/" MODULE ".ko"
/* A refused removal returns at once; a hung one is given this long. */
#define TIMEOUT_MS	10000

static int loaded(void)
{
	char buf[8192];

	if (luo_read_file("/proc/modules", buf, sizeof(buf)) < 0)
		return 0;
	return !!strstr(buf, MODULE " ");
}

static int load(void)
{
	int fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	int ret = fd < 0 || syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;

	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * Removes the module in a child and waits for it at most TIMEOUT_MS:
 * 0 or -errno, -ETIMEDOUT if it hangs (the child is then left to finish
 * once the update ends, and reaped by finish_removal()).
 */
static pid_t hung = -1;

static int unload(void)
{
	int status, pipefd[2], err = 0;
	pid_t pid;

	if (pipe(pipefd))
		return -errno;
	pid = fork();
	if (pid == 0) {
		err = syscall(SYS_delete_module, MODULE, O_NONBLOCK) ? errno : 0;
		if (write(pipefd[1], &err, sizeof(err)) != sizeof(err))
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	for (int ms = 0; ms < TIMEOUT_MS; ms += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			if (read(pipefd[0], &err, sizeof(err)) != sizeof(err))
				err = EIO;
			close(pipefd[0]);
			return -err;
		}
		usleep(10000);
	}
	close(pipefd[0]);
	hung = pid;
	return -ETIMEDOUT;
}

static void finish_removal(void)
{
	if (hung > 0)
		waitpid(hung, NULL, 0);
	hung = -1;
}

int main(void)
{
	static unsigned char page[LUO_PAGE_SIZE];
	int fd, hook, kmsg, ret;

	ksft_print_header();
	if (access(MODULE_PATH, R_OK))
		ksft_exit_skip("%s was not built as a module\n", MODULE);
	if (!loaded())
		ksft_exit_fail_msg("%s was built as a module but is not loaded\n", MODULE);
	ksft_set_plan(10);
	fd = luo_open();
	hook = luo_selftest_open();
	kmsg = luo_kmsg_open();
	if (fd < 0 || hook < 0 || kmsg < 0)
		ksft_exit_fail_msg("cannot open the device, the test hook or /dev/kmsg\n");

	ret = unload();
	ksft_test_result(!ret && !loaded(), "NORMAL: rmmod works at once (%s)\n",
			 strerror(-ret));
	ret = load();
	ksft_test_result(!ret && loaded() && luo_register(hook, MODULE, page) == -EEXIST,
			 "loaded again, it registers again (%s)\n", strerror(-ret));

	ret = luo_set_event(fd, LIVEUPDATE_PREPARE);
	ksft_test_result(!ret && luo_kmsg_contains(kmsg, MODULE ": prepare:"),
			 "PREPARE reaches the module\n");
	ret = unload();
	ksft_test_result(ret == -EWOULDBLOCK && loaded(),
			 "PREPARED: rmmod refused at once (%s)\n", strerror(-ret));
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_CANCEL) &&
			 luo_kmsg_contains(kmsg, MODULE ": cancel:"),
			 "CANCEL reaches the module\n");
	finish_removal();
	ret = unload();
	ksft_test_result(!ret && !loaded(), "NORMAL again: rmmod works at once (%s)\n",
			 strerror(-ret));

	ret = load();
	ksft_test_result(!ret && !luo_enter_updated(hook, MODULE, 5) &&
			 luo_kmsg_contains(kmsg, MODULE ": boot: this kernel is generation 5"),
			 "loaded again in UPDATED with data handed over\n");
	ret = unload();
	ksft_test_result(ret == -EWOULDBLOCK && loaded(),
			 "UPDATED: rmmod refused at once (%s)\n", strerror(-ret));
	ksft_test_result(!luo_set_event(fd, LIVEUPDATE_FINISH) &&
			 luo_kmsg_contains(kmsg, MODULE ": finish:"),
			 "FINISH reaches the module\n");
	finish_removal();
	ret = unload();
	ksft_test_result(!ret && !loaded() && !load(),
			 "NORMAL after FINISH: rmmod works at once, and loading again (%s)\n",
			 strerror(-ret));
	ksft_finished();
}
