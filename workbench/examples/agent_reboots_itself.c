// SPDX-License-Identifier: GPL-2.0
/*
 * agent_reboots_itself.c - an example agent for 'make vmtest', and a test
 * of the harness: stage 1 finds the next kernel already loaded and calls
 * reboot(LINUX_REBOOT_CMD_KEXEC) itself; stage 2 checks it got there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <linux/reboot.h>
#include <unistd.h>
#include <fcntl.h>

static int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n > 0;
}

int main(int argc, char **argv)
{
	char buf[4096];
	int stage = argc > 1 ? atoi(argv[1]) : 0;

	printf("TAP version 13\n1..1\n");
	if (stage == 1) {
		int loaded = read_file("/sys/kernel/kexec_loaded", buf, sizeof(buf)) &&
			     buf[0] == '1';

		printf("%sok 1 next kernel loaded before the agent runs\n", loaded ? "" : "not ");
		fflush(stdout);
		if (!loaded)
			return 1;
		sync();
		reboot(LINUX_REBOOT_CMD_KEXEC);
		perror("reboot(LINUX_REBOOT_CMD_KEXEC)");
		return 1;
	}
	if (stage == 2) {
		int ok = read_file("/proc/cmdline", buf, sizeof(buf)) &&
			 strstr(buf, "luotest.stage=2");

		printf("%sok 1 running in the kexec'd kernel\n", ok ? "" : "not ");
		return !ok;
	}
	return 2;
}
