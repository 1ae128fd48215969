/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the Live Update Orchestrator selftests.
 */
#ifndef _LUO_TEST_UTILS_H
#define _LUO_TEST_UTILS_H

#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "luo_ioctl.h"
#include "luo_selftests.h"

#define KHO_IN_FDT	"/sys/kernel/debug/kho/in/fdt"
#define KHO_IN_LUO	"/sys/kernel/debug/kho/in/sub_fdts/LUO"
#define LUO_SELFTEST	"/sys/kernel/debug/" LUO_SELFTEST_DEBUGFS_DIR "/" LUO_SELFTEST_DEBUGFS_FILE
#define KHO_OUT_LUO	"/sys/kernel/debug/kho/out/sub_fdts/LUO"
#define LUO_PAGE_SIZE	4096

static inline int luo_selftest_open(void)
{
	return open(LUO_SELFTEST, O_RDWR | O_CLOEXEC);
}

/* A test subsystem command through the test hook: 0 or -errno. */
static inline int luo_selftest_cmd(int hook, __u64 cmd, const char *name, void *page)
{
	struct luo_arg_subsystem arg = { .data_page = page };
	struct liveupdate_selftest st = { .cmd = cmd, .arg = (__u64)(unsigned long)&arg };

	snprintf(arg.name, sizeof(arg.name), "%s", name);
	return ioctl(hook, LIVEUPDATE_IOCTL_SELFTESTS, &st) ? -errno : 0;
}

static inline int luo_register(int hook, const char *name, void *page)
{
	return luo_selftest_cmd(hook, LUO_CMD_SUBSYSTEM_REGISTER, name, page);
}

static inline int luo_unregister(int hook, const char *name)
{
	return luo_selftest_cmd(hook, LUO_CMD_SUBSYSTEM_UNREGISTER, name, NULL);
}

static inline int luo_getdata(int hook, const char *name, void *page)
{
	return luo_selftest_cmd(hook, LUO_CMD_SUBSYSTEM_GETDATA, name, page);
}

/* LUO_CMD_ENTER_UPDATED: 0 or -errno. */
static inline int luo_enter_updated(int hook, const char *name, __u64 data)
{
	struct luo_arg_incoming arg = { .data = data };
	struct liveupdate_selftest st = { .cmd = LUO_CMD_ENTER_UPDATED,
					  .arg = (__u64)(unsigned long)&arg };

	snprintf(arg.name, sizeof(arg.name), "%s", name);
	return ioctl(hook, LIVEUPDATE_IOCTL_SELFTESTS, &st) ? -errno : 0;
}

/* Reads new kernel log records until none is left; 1 if one contains s. */
static inline int luo_kmsg_contains(int kmsg, const char *s)
{
	char rec[1024];
	ssize_t n;
	int found = 0;

	while ((n = read(kmsg, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n > 0) {
			rec[n] = 0;
			found |= !!strstr(rec, s);
		}
	}
	return found;
}

/* /dev/kmsg, positioned after the records already logged. */
static inline int luo_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* LIVEUPDATE_IOCTL_FREEZE through the test hook: 0 or -errno. */
static inline int luo_freeze(int hook)
{
	return ioctl(hook, LIVEUPDATE_IOCTL_FREEZE) ? -errno : 0;
}

/* Fills a page with a pattern derived from seed. */
static inline void luo_fill_page(unsigned char *page, unsigned int seed)
{
	for (int i = 0; i < LUO_PAGE_SIZE; i++)
		page[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
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

/* reboot(LINUX_REBOOT_CMD_KEXEC); returns only on failure, with -errno. */
static inline int luo_kexec_reboot(void)
{
	sync();
	return syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
		       LINUX_REBOOT_CMD_KEXEC, NULL) ? -errno : 0;
}

/*
 * The end of a kexec test's stage: its output flushed, the reboot into the
 * kernel loaded for the next stage; a reboot that returns fails the test.
 */
#define LUO_KEXEC_OR_FAIL()							\
	do {									\
		fflush(stdout);							\
		luo_kexec_reboot();						\
		ksft_exit_fail_msg("reboot(KEXEC) returned: %s\n", strerror(errno)); \
	} while (0)

/* Whether /sys/kernel/liveupdate/state reads `state` ("normal", ...). */
static inline int luo_state_is(const char *state)
{
	char buf[32] = "";

	return luo_read_file(LUO_SYSFS_STATE, buf, sizeof(buf)) > 0 &&
	       !strncmp(buf, state, strlen(state)) && buf[strlen(state)] == '\n';
}

/*
 * Keeps this process's file descriptors (sessions, files) open until the
 * kexec, in a child that outlives the stage: the VM harness kexecs once the
 * stage returns, and the reboot finds them open.
 */
static inline void luo_hold_until_kexec(void)
{
	fflush(stdout);
	if (!fork()) {
		close(0);
		close(1);
		close(2);
		for (;;)
			pause();
	}
}

/* The whole kernel log so far contains s (1), or not (0). */
static inline int luo_log_contains(const char *s)
{
	int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int found;

	if (kmsg < 0)
		return 0;
	found = luo_kmsg_contains(kmsg, s);
	close(kmsg);
	return found;
}

/*
 * Prints a file as "# ATTACH <name> <hex>" lines (KTAP diagnostics); the
 * VM harness saves it on the host, and decodes a .dtb with dtc.
 */
static inline int luo_attach_file(const char *path, const char *name)
{
	unsigned char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		printf("# ATTACH %s ", name);
		for (ssize_t i = 0; i < n; i++)
			printf("%02x", buf[i]);
		printf("\n");
	}
	close(fd);
	fflush(stdout);
	return n < 0 ? -errno : 0;
}

/*
 * main() of a two-stage kexec test (include ../kselftest.h first): the VM
 * harness runs "PROG 1" before the kexec and "PROG 2" after it; the stages
 * read any arguments that follow ("PROG 1 ARG...") with luo_stage_arg().
 */
#define LUO_KEXEC_TEST_MAIN(stage1, stage2)				\
	LUO_KEXEC_TEST_MAIN3(stage1, stage2, luo_no_stage)

static inline void luo_no_stage(void)
{
}

/* The command line of a kexec test, kept by its main(). */
static inline char ***luo_stage_argv(void)
{
	static char **argv;

	return &argv;
}

/* Argument i after the stage ("PROG <stage> ARG0 ARG1..."), or NULL. */
static inline const char *luo_stage_arg(int i)
{
	char **argv = *luo_stage_argv();

	for (int n = 0; n < i + 2; n++)
		if (!argv || !argv[n])
			return NULL;
	return argv[i + 2];
}

/* main() of a three-stage kexec test. */
#define LUO_KEXEC_TEST_MAIN3(stage1, stage2, stage3)			\
int main(int argc, char **argv)						\
{									\
	int stage = argc > 1 ? atoi(argv[1]) : 0;			\
	typeof(luo_no_stage) *third = (stage3);				\
									\
	*luo_stage_argv() = argv;					\
	ksft_print_header();						\
	if (stage == 1)							\
		stage1();						\
	else if (stage == 2)						\
		stage2();						\
	else if (stage == 3 && third != luo_no_stage)			\
		third();						\
	else								\
		ksft_exit_fail_msg("usage: %s <stage>\n", argv[0]);	\
	ksft_finished();						\
}

/*
 * main() of a kexec test of `kernels` stages that carries its files along:
 * "PROG 1" runs first(), "PROG N" for N = 2..kernels runs next(N).
 */
#define LUO_KEXEC_CHAIN_MAIN(kernels, first, next)			\
int main(int argc, char **argv)						\
{									\
	int stage = argc > 1 ? atoi(argv[1]) : 0, last = (kernels);	\
									\
	*luo_stage_argv() = argv;					\
	ksft_print_header();						\
	if (stage == 1)							\
		first();						\
	else if (stage >= 2 && stage <= last)				\
		next(stage);						\
	else								\
		ksft_exit_fail_msg("usage: %s <stage 1..%d>\n", argv[0], last); \
	ksft_finished();						\
}

#endif /* _LUO_TEST_UTILS_H */
