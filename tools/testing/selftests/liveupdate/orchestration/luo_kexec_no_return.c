// SPDX-License-Identifier: GPL-2.0-only
/*
 * The point of no return: once reboot(LINUX_REBOOT_CMD_KEXEC) has frozen
 * the update, the kexec cannot fail, and nothing may tear the hand-over
 * down while it is in flight.
 *
 * Stage 1: an agent process holds /dev/liveupdate, preserves a memfd and
 * prepares. One of its threads polls GET_STATE and sends CANCEL the moment
 * it reads FROZEN; the agent itself watches the sysfs state and closes the
 * device the moment it reads "frozen". Another process, which does not
 * hold the device, calls reboot(LINUX_REBOOT_CMD_KEXEC). Stage 2: the next
 * kernel must have received everything: UPDATED, the memfd restores with
 * every byte.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/wait.h>

#include "../../kselftest.h"
#include "luo_test_utils.h"
#include "luo_memfd_utils.h"

#define TOKEN	0x9017
#define SIZE	(8 * SZ_1M)
#define SEED	91

static int device = -1;

/* Sends CANCEL as soon as GET_STATE reads FROZEN. */
static void *cancel_when_frozen(void *arg)
{
	(void)arg;
	while (luo_get_state(device) != LIVEUPDATE_STATE_FROZEN)
		;
	printf("# agent: CANCEL while FROZEN: %s\n",
	       strerror(-luo_set_event(device, LIVEUPDATE_CANCEL)));
	fflush(stdout);
	return NULL;
}

/* The agent: prepares, tells the parent, then races the reboot. */
static int run_agent(int ready)
{
	char state[32] = "";
	pthread_t thread;
	int memfd, ok;

	device = luo_open();
	memfd = luo_memfd_random("luo_no_return", SIZE, SEED, 0);
	ok = device >= 0 && memfd >= 0 && !luo_fd_preserve(device, memfd, TOKEN) &&
	     !luo_set_event(device, LIVEUPDATE_PREPARE) &&
	     !pthread_create(&thread, NULL, cancel_when_frozen, NULL);
	if (write(ready, ok ? "1" : "0", 1) != 1 || !ok)
		return 1;
	close(ready);
	while (luo_read_file(LUO_SYSFS_STATE, state, sizeof(state)) <= 0 ||
	       strcmp(state, "frozen\n"))
		;
	close(device);
	printf("# agent: closed the device while frozen\n");
	fflush(stdout);
	pthread_join(thread, NULL);
	pause();
	return 0;
}

static void stage1(void)
{
	int pipefd[2], ret;
	char ready = '0';
	pid_t pid;

	ksft_set_plan(2);
	if (pipe(pipefd))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		_exit(run_agent(pipefd[1]));
	}
	close(pipefd[1]);
	ksft_test_result(pid > 0 && read(pipefd[0], &ready, 1) == 1 && ready == '1',
			 "an agent preserved a memfd and prepared\n");
	if (ready != '1')
		ksft_exit_fail_msg("the agent could not prepare\n");
	ksft_test_result_pass("reboot(LINUX_REBOOT_CMD_KEXEC) from a process without the device\n");
	ret = luo_kexec_reboot();
	kill(pid, SIGKILL);
	ksft_exit_fail_msg("reboot(LINUX_REBOOT_CMD_KEXEC): %s\n", strerror(-ret));
}

static void stage2(void)
{
	int fd = luo_open(), memfd;

	ksft_set_plan(4);
	ksft_test_result(fd >= 0 && luo_get_state(fd) == LIVEUPDATE_STATE_UPDATED,
			 "the next kernel is UPDATED: the hand-over survived\n");
	memfd = fd < 0 ? -1 : luo_fd_restore(fd, TOKEN);
	ksft_test_result(memfd >= 0, "the memfd restores (%s)\n",
			 memfd < 0 ? strerror(-memfd) : "ok");
	ksft_test_result(memfd >= 0 && luo_file_sum(memfd, SIZE) == luo_stream_sum(SEED, SIZE),
			 "every byte came across\n");
	ksft_test_result(fd >= 0 && !luo_set_event(fd, LIVEUPDATE_FINISH), "FINISH\n");
}

LUO_KEXEC_TEST_MAIN(stage1, stage2)
