// SPDX-License-Identifier: GPL-2.0
/*
 * agent_holds_device.c - an example agent for 'make vmtest', and a test of
 * the harness: stage 1 leaves a child running that holds /dev/liveupdate
 * open across the kexec, and returns 0 so the harness kexecs.
 *
 *   gcc -static -I../../tools/liveupdate -o /tmp/agent agent_holds_device.c
 *   make vmtest PROG=/tmp/agent
 *
 * Prints KTAP; exits non-zero when a check fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "luo_ioctl.h"

static int failed;

static void check(int ok, int n, const char *what)
{
	printf("%sok %d %s\n", ok ? "" : "not ", n, what);
	failed |= !ok;
}

static void stage1(void)
{
	int ready[2];
	char c;

	printf("TAP version 13\n1..2\n");
	fflush(stdout);
	if (pipe(ready))
		exit(1);
	if (fork() == 0) {
		/* The agent: holds the device until the kexec takes the machine. */
		int fd = luo_open();

		c = fd >= 0 && luo_get_state(fd) == LIVEUPDATE_STATE_NORMAL ? 'y' : 'n';
		write(ready[1], &c, 1);
		for (;;)
			pause();
	}
	check(read(ready[0], &c, 1) == 1 && c == 'y', 1, "agent opened /dev/liveupdate");
	/* The agent is alive: the device has one opener at a time. */
	check(luo_open() < 0 && errno == EBUSY, 2, "device busy while the agent runs");
}

static void stage2(void)
{
	int fd = luo_open();

	printf("TAP version 13\n1..1\n");
	check(fd >= 0 && luo_get_state(fd) == LIVEUPDATE_STATE_NORMAL, 1,
	      "next kernel: device free, state NORMAL");
}

int main(int argc, char **argv)
{
	if (argc > 1 && atoi(argv[1]) == 1)
		stage1();
	else if (argc > 1 && atoi(argv[1]) == 2)
		stage2();
	else
		return 2;
	fflush(stdout);
	return failed;
}
