/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the Live Update Orchestrator selftests.
 */
#ifndef _LUO_TEST_UTILS_H
#define _LUO_TEST_UTILS_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/liveupdate.h>

#define LUO_DEVICE	"/dev/liveupdate"
#define LUO_SYSFS_STATE	"/sys/kernel/liveupdate/state"
#define KHO_IN_FDT	"/sys/kernel/debug/kho/in/fdt"
#define KHO_IN_LUO	"/sys/kernel/debug/kho/in/sub_fdts/LUO"

static inline int luo_open(void)
{
	return open(LUO_DEVICE, O_RDWR | O_CLOEXEC);
}

/* The global state through LIVEUPDATE_IOCTL_GET_STATE, or -errno. */
static inline int luo_get_state(int fd)
{
	struct liveupdate_ioctl_get_state arg = { .size = sizeof(arg) };

	if (ioctl(fd, LIVEUPDATE_IOCTL_GET_STATE, &arg))
		return -errno;
	return arg.state;
}

/* Reads a small text file into buf, newline kept; -errno on failure. */
static inline int luo_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return n;
}

static inline int luo_path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

#endif /* _LUO_TEST_UTILS_H */
