// SPDX-License-Identifier: GPL-2.0
/*
 * init.c - PID 1 of the LUO-rs test VM.
 *
 * The host (workbench/vmrun.py) boots the kernel with an initramfs holding
 * this init, the test programs under /bin, the kernel image at
 * /boot/bzImage and a plan at /luotest/plan. The kernel command line
 * carries the stage: luotest.stage=N.
 *
 * Plan, one directive per line:
 *   run PROG [ARG...]   run PROG in stage 1 (plain boot), in order
 *   last PROG [ARG...]  run PROG in the kernel where the plan ends (put it
 *                       after the other lines)
 *   kexec PROG [N [ARG...]]
 *                       N stages (default 2): each stage but the last
 *                       loads the next kernel with kexec_file_load (so KHO
 *                       data travels), then runs "PROG <stage> [ARG...]";
 *                       if PROG returns 0 without rebooting, init kexecs
 *                       itself, leaving PROG's children running. The last
 *                       stage only runs "PROG N [ARG...]". An ARG that is
 *                       {stage} is replaced by the stage number, which is
 *                       then not inserted first: "kexec PROG 2 -s {stage}"
 *                       runs "PROG -s 1", then "PROG -s 2" (upstream's
 *                       liveupdate selftests take their stage so).
 *
 * Every program run is framed on the console by
 *   LUOTEST START <prog> stage=<n>  ...  LUOTEST END <prog> stage=<n> rc=<rc>
 * and the host collects the KTAP printed in between. After the last step
 * init powers the VM off.
 *
 * The initrd for the next kernel is written by init itself (a newc cpio of
 * its own root file system), so a kernel can be kexec'd any number of times.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define NEXT_INITRD "/tmp/next-initrd.cpio"
#define KERNEL_IMAGE "/boot/bzImage"

static int stage = 1;

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("LUOTEST ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* Without ACPI power-off, QEMU's -no-reboot turns a reboot into exit. */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static void setup_mounts(void)
{
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);

	int fd = open("/dev/console", O_RDWR);

	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static char *read_cmdline(void)
{
	static char buf[4096];
	int fd = open("/proc/cmdline", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static int run(char *const argv[])
{
	int status;
	pid_t pid;

	say("START %s stage=%d", argv[0], stage);
	pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		printf("exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		say("END %s stage=%d rc=%d", argv[0], stage, 126);
		return 126;
	}
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	say("END %s stage=%d rc=%d", argv[0], stage, rc);
	return rc;
}

/* --- a newc cpio writer, for the next kernel's initrd ------------------- */

static int cpio_fd;
static unsigned long cpio_off, cpio_ino = 1;

static int cpio_write(const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(cpio_fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
		cpio_off += n;
	}
	return 0;
}

static int cpio_pad(void)
{
	static const char zeros[4];

	return cpio_write(zeros, (4 - cpio_off % 4) % 4);
}

static int cpio_header(const char *name, unsigned int mode, unsigned long size,
		       unsigned int rmaj, unsigned int rmin)
{
	char hdr[256];

	if (size > 0xffffffffUL)
		return -1;	/* newc sizes are 32-bit */
	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 (unsigned int)cpio_ino++, mode, 0, 0, 1, 0, (unsigned int)size,
		 0, 0, rmaj, rmin, (unsigned int)strlen(name) + 1, 0);
	if (cpio_write(hdr, 110) || cpio_write(name, strlen(name) + 1))
		return -1;
	return cpio_pad();
}

static int cpio_add_tree(const char *dir)
{
	char path[4096];
	struct dirent *de;
	DIR *d = opendir(dir);
	int ret = 0;

	if (!d)
		return -1;
	while (!ret && (de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", de->d_name);
		if (!strcmp(path, "/proc") || !strcmp(path, "/sys") ||
		    !strcmp(path, "/dev") || !strcmp(path, "/tmp"))
			continue;
		if (lstat(path, &st))
			return -1;
		if (S_ISDIR(st.st_mode)) {
			ret = cpio_header(path + 1, st.st_mode, 0, 0, 0);
			if (!ret)
				ret = cpio_add_tree(path);
		} else if (S_ISREG(st.st_mode)) {
			int fd = open(path, O_RDONLY);
			char buf[65536];
			ssize_t n;

			ret = fd < 0 ? -1 : cpio_header(path + 1, st.st_mode, st.st_size, 0, 0);
			while (!ret && (n = read(fd, buf, sizeof(buf))) > 0)
				ret = cpio_write(buf, n);
			if (!ret)
				ret = cpio_pad();
			if (fd >= 0)
				close(fd);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlink(path, target, sizeof(target));

			ret = n < 0 ? -1 : cpio_header(path + 1, st.st_mode, n, 0, 0);
			if (!ret)
				ret = cpio_write(target, n) || cpio_pad();
		}
	}
	closedir(d);
	return ret;
}

static int write_next_initrd(void)
{
	cpio_fd = open(NEXT_INITRD, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cpio_off = 0;
	if (cpio_fd < 0)
		return -1;
	int ret = cpio_header("dev", S_IFDIR | 0755, 0, 0, 0) ||
		  cpio_header("dev/console", S_IFCHR | 0600, 0, 5, 1) ||
		  cpio_header("proc", S_IFDIR | 0755, 0, 0, 0) ||
		  cpio_header("sys", S_IFDIR | 0755, 0, 0, 0) ||
		  cpio_header("tmp", S_IFDIR | 01777, 0, 0, 0) ||
		  cpio_add_tree("/") ||
		  cpio_header("TRAILER!!!", 0, 0, 0, 0);

	if (close(cpio_fd))
		ret = -1;
	return ret ? -1 : 0;
}

/* --- kexec ---------------------------------------------------------------- */

static int load_next_kernel(void)
{
	char next[4096];
	const char *cmdline = read_cmdline();
	const char *s = strstr(cmdline, "luotest.stage=");
	int kfd, ifd;
	long ret;

	if (!s) {
		snprintf(next, sizeof(next), "%s luotest.stage=%d", cmdline, stage + 1);
	} else {
		const char *end = s + strcspn(s, " ");

		snprintf(next, sizeof(next), "%.*sluotest.stage=%d%s",
			 (int)(s - cmdline), cmdline, stage + 1, end);
	}
	if (write_next_initrd()) {
		printf("init: cannot write %s: %s\n", NEXT_INITRD, strerror(errno));
		return -1;
	}
	kfd = open(KERNEL_IMAGE, O_RDONLY);
	ifd = open(NEXT_INITRD, O_RDONLY);
	if (kfd < 0 || ifd < 0) {
		printf("init: cannot open the next kernel: %s\n", strerror(errno));
		return -1;
	}
	ret = syscall(SYS_kexec_file_load, kfd, ifd, strlen(next) + 1, next, 0UL);
	close(kfd);
	close(ifd);
	if (ret) {
		printf("init: kexec_file_load: %s\n", strerror(errno));
		return -1;
	}
	say("LOADED next kernel: %s", next);
	return 0;
}

static void kexec_now(void)
{
	say("KEXEC stage=%d", stage);
	sync();
	if (reboot(LINUX_REBOOT_CMD_KEXEC))
		say("KEXEC-FAILED stage=%d errno=%d (%s)", stage, errno, strerror(errno));
}

/* --- the plan ------------------------------------------------------------- */

static void run_plan(void)
{
	char line[1024];
	FILE *plan = fopen("/luotest/plan", "r");

	if (!plan) {
		say("NO-PLAN");
		return;
	}
	while (fgets(line, sizeof(line), plan)) {
		char *argv[32], *save = NULL, *tok;
		int argc = 0;

		line[strcspn(line, "\n")] = 0;
		tok = strtok_r(line, " ", &save);
		if (!tok || tok[0] == '#')
			continue;
		if (!strcmp(tok, "run")) {
			while (argc < 31 && (argv[argc] = strtok_r(NULL, " ", &save)))
				argc++;
			argv[argc] = NULL;
			if (stage == 1 && argc)
				run(argv);
		} else if (!strcmp(tok, "last")) {
			/* After all the rest, in whichever kernel the plan ends. */
			while (argc < 31 && (argv[argc] = strtok_r(NULL, " ", &save)))
				argc++;
			argv[argc] = NULL;
			if (argc)
				run(argv);
		} else if (!strcmp(tok, "kexec")) {
			char arg[16], *n;
			int stages, i, placed = 0;

			argv[0] = strtok_r(NULL, " ", &save);
			n = strtok_r(NULL, " ", &save);
			stages = n ? atoi(n) : 2;
			snprintf(arg, sizeof(arg), "%d", stage);
			argc = 1;
			while (argc < 30 && (argv[argc] = strtok_r(NULL, " ", &save)))
				argc++;
			argv[argc] = NULL;
			for (i = 1; i < argc; i++) {
				if (!strcmp(argv[i], "{stage}")) {
					argv[i] = arg;
					placed = 1;
				}
			}
			if (!placed) {
				/* "PROG <stage> ARG...": argv[1..argc] move up. */
				memmove(&argv[2], &argv[1], argc * sizeof(*argv));
				argv[1] = arg;
				argc++;
			}
			if (!argv[0] || stage > stages)
				continue;
			if (stage < stages && load_next_kernel()) {
				say("END %s stage=%d rc=125", argv[0], stage);
				continue;
			}
			if (run(argv) == 0 && stage < stages)
				kexec_now();
		}
	}
	fclose(plan);
}

/* Loads every module in /lib/modules (built with the kernel), in any order. */
static void load_modules(void)
{
	DIR *dir = opendir("/lib/modules");
	struct dirent *d;

	while (dir && (d = readdir(dir))) {
		char path[300];
		int fd;

		if (!strstr(d->d_name, ".ko"))
			continue;
		snprintf(path, sizeof(path), "/lib/modules/%s", d->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0))
			say("module %s: %s", d->d_name, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	if (dir)
		closedir(dir);
}

int main(void)
{
	setup_mounts();
	load_modules();
	const char *s = strstr(read_cmdline(), "luotest.stage=");

	if (s)
		stage = atoi(s + strlen("luotest.stage="));
	setenv("PATH", "/bin", 1);
	say("BOOT stage=%d", stage);
	run_plan();
	say("DONE stage=%d", stage);
	power_off();
	return 0;
}
