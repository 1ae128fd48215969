// SPDX-License-Identifier: GPL-2.0
/*
 * demo.c - the guest half of 'make demo' and of the check suite 'demo':
 * a workload keeps its state in a memfd, luoctl carries the memfd across a
 * live update, and a new workload continues where the old one stopped.
 *
 * Run by init as a two-stage kexec program ("demo 1 [SIZE [RUN]]", then
 * "demo 2 [SIZE [RUN]]"); the programs /bin/luoctl and /bin/workload sit
 * beside it. SIZE is the workload's data in MiB (default 16), RUN the
 * seconds the resumed workload runs (default 1).
 *
 * Stage 1: start the luoctl daemon and a workload, check luoctl's answers
 * to bad requests, preserve the workload's memfd and a small notes memfd
 * (where the driver writes the counter and digest the workload paused at),
 * prepare, cancel, prepare again, pause the workload, "luoctl kexec".
 * Stage 2: a new daemon lists the incoming tokens from its manifest, the
 * notes come back, a new workload receives its memfd from "luoctl
 * restore", and must resume at the paused counter and digest, find every
 * byte intact and keep counting; finish, stop.
 *
 * Prints KTAP; every check compares what happened with what must happen.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LUOCTL		"/bin/luoctl"
#define WORKLOAD	"/bin/workload"
#define CTL_SOCK	"/tmp/luoctl.sock"
#define WL_SOCK		"/tmp/workload.sock"
#define NOTES_SOCK	"/tmp/notes.sock"
#define WL_TOKEN	"0x10"
#define NOTES_TOKEN	"0x11"
#define NOTES_MAGIC	0x64656d6f6e6f7465ULL	/* "demonote" */
#define STAGE1_TESTS	24
#define STAGE2_TESTS	18

struct notes {
	uint64_t magic;
	uint64_t counter;
	char digest[32];
	uint64_t size_mib;
};

static int failed, test_nr;
static char out[65536];		/* output of the last luoctl run */
static const char *ctl_sock = CTL_SOCK;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++test_nr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failed |= !ok;
}

static void say(const char *fmt, ...)
{
	va_list ap;

	printf("demo: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Runs luoctl with these arguments; its output goes to out[] and, as
 * comment lines, to the console. Returns its exit status.
 */
static int luoctl(const char *first, ...)
{
	const char *argv[16] = { LUOCTL, "-s", ctl_sock, first };
	int argc = 4, p[2], status;
	size_t len = 0;
	va_list ap;
	pid_t pid;
	ssize_t n;
	char *line, *save;

	va_start(ap, first);
	while (argc < 15 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execv(LUOCTL, (char **)argv);
		_exit(127);
	}
	close(p[1]);
	while (len < sizeof(out) - 1 && (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	out[len] = 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	printf("$ luoctl%s%s", strcmp(ctl_sock, CTL_SOCK) ? " -s " : "",
	       strcmp(ctl_sock, CTL_SOCK) ? ctl_sock : "");
	for (int i = 3; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	{
		char copy[sizeof(out)];

		memcpy(copy, out, len + 1);
		for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			printf("  %s\n", line);
	}
	fflush(stdout);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int has(const char *needle)
{
	return strstr(out, needle) != NULL;
}

static pid_t spawn(const char **argv, int ack_write, int out_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (ack_write >= 0 && ack_write != 3) {
			dup2(ack_write, 3);
			close(ack_write);
		}
		if (out_fd >= 0) {
			dup2(out_fd, 1);
			dup2(out_fd, 2);
		}
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	return pid;
}

/* One line from a workload's ack pipe, waiting at most timeout_ms. */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;

	while (n < len - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, timeout_ms) <= 0 || read(fd, buf + n, 1) != 1)
			break;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return n;
}

static pid_t start_daemon(void)
{
	const char *argv[] = { LUOCTL, "-s", CTL_SOCK, "daemon", NULL };
	pid_t pid = spawn(argv, -1, -1);

	/* Ready when it answers. */
	for (int i = 0; i < 100; i++) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = CTL_SOCK };
		int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		int ok = s >= 0 && !connect(s, (struct sockaddr *)&sun, sizeof(sun));

		if (s >= 0)
			close(s);
		if (ok)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(50000);
	}
	return -1;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(fd, 4))
		return -1;
	return fd;
}

/* Accepts one connection and receives the fd it carries, or -1. */
static int receive_fd(int lfd)
{
	char control[CMSG_SPACE(sizeof(int))], msg[256];
	struct iovec iov = { .iov_base = msg, .iov_len = sizeof(msg) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	struct cmsghdr *cm;
	int conn, fd = -1;

	if (poll(&pfd, 1, 2000) != 1)
		return -1;
	conn = accept(lfd, NULL, NULL);
	if (conn < 0)
		return -1;
	if (recvmsg(conn, &mh, 0) > 0) {
		cm = CMSG_FIRSTHDR(&mh);
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	}
	close(conn);
	return fd;
}

static void stage1(long size)
{
	const char *watch_argv[] = { LUOCTL, "watch", NULL };
	const char *watch2_argv[] = { LUOCTL, "watch", "--count", "2", NULL };
	char size_arg[16], line[256], pid_s[16], fd_s[16], notes_fd_s[16], self_s[16];
	char pipe_fd_s[16], wl_counter[32] = "", wl_digest[32] = "";
	const char *wl_argv[] = { WORKLOAD, "new", size_arg, "--ack-fd", "3", NULL };
	int ack[2], junk[2], wpipe[2], notes_fd, wl_pid = -1, wl_fd = -1, rc = -1;
	struct notes *notes;
	pid_t daemon, wl, watch2;
	size_t wlen = 0;
	ssize_t n;
	char wout[1024];

	printf("TAP version 13\n1..%d\n", STAGE1_TESTS);
	say("stage 1: the running kernel; workload data %ld MiB", size);
	snprintf(size_arg, sizeof(size_arg), "%ld", size);
	snprintf(self_s, sizeof(self_s), "%d", getpid());

	daemon = start_daemon();
	check(daemon > 0, "luoctl daemon starts and answers on its socket");
	spawn(watch_argv, -1, -1);

	ctl_sock = "/tmp/second.sock";
	rc = luoctl("daemon", NULL);
	ctl_sock = CTL_SOCK;
	check(rc == 1 && has("EBUSY") && has("one agent at a time"),
	      "a second daemon is refused: EBUSY, the device has one opener");

	say("starting the workload (%ld MiB in a memfd)", size);
	if (pipe2(ack, O_CLOEXEC))
		exit(1);
	wl = spawn(wl_argv, ack[1], -1);
	close(ack[1]);
	if (read_line(ack[0], line, sizeof(line), 120000) &&
	    sscanf(line, "ready pid=%d fd=%d", &wl_pid, &wl_fd) == 2)
		;
	check(wl_pid == wl && wl_fd >= 0, "workload ready, its memfd is fd %d", wl_fd);
	snprintf(pid_s, sizeof(pid_s), "%d", wl_pid);
	snprintf(fd_s, sizeof(fd_s), "%d", wl_fd);

	rc = luoctl("kexec", NULL);
	check(rc == 1 && has("EBUSY") && has("not prepared"),
	      "kexec before prepare is refused: EBUSY");

	if (pipe(junk))
		exit(1);
	snprintf(pipe_fd_s, sizeof(pipe_fd_s), "%d", junk[0]);
	rc = luoctl("preserve", self_s, pipe_fd_s, "0x99", NULL);
	check(rc == 1 && has("EOPNOTSUPP") && has("memfd"),
	      "preserve of a pipe: EOPNOTSUPP, only memfds");
	rc = luoctl("preserve", "999999", "3", "0x98", NULL);
	check(rc == 1 && has("ESRCH"), "preserve from a process that does not exist: ESRCH");
	rc = luoctl("preserve", pid_s, "999", "0x98", NULL);
	check(rc == 1 && has("EBADF"), "preserve of an fd the process lacks: EBADF");
	rc = luoctl("preserve", pid_s, fd_s, "twelve", NULL);
	check(rc == 2 && has("bad TOKEN"), "preserve with a token that is no number: usage error");

	rc = luoctl("preserve", pid_s, fd_s, WL_TOKEN, "workload-memory", NULL);
	check(rc == 0 && has("preserved 0x10"), "preserve the workload's memfd as " WL_TOKEN);

	notes_fd = memfd_create("demo-notes", 0);
	if (notes_fd < 0 || ftruncate(notes_fd, 4096))
		exit(1);
	snprintf(notes_fd_s, sizeof(notes_fd_s), "%d", notes_fd);
	rc = luoctl("preserve", self_s, notes_fd_s, WL_TOKEN, NULL);
	check(rc == 1 && has("EEXIST"), "preserve under a token in use: EEXIST");
	rc = luoctl("preserve", self_s, notes_fd_s, "0x6c756f63746c6d66", NULL);
	check(rc == 1 && has("reserved"), "preserve under luoctl's manifest token: refused");
	rc = luoctl("preserve", self_s, notes_fd_s, NOTES_TOKEN, "demo-notes", NULL);
	check(rc == 0, "preserve the driver's notes memfd as " NOTES_TOKEN);
	rc = luoctl("unpreserve", "0xdead", NULL);
	check(rc == 1 && has("ENOENT"), "unpreserve of an unknown token: ENOENT");
	rc = luoctl("finish", NULL);
	check(rc == 1 && has("EBUSY") && has("state is normal"),
	      "finish without an update: EBUSY, state normal");
	rc = luoctl("status", NULL);
	check(rc == 0 && has("state: normal") && has("0x0000000000000010  normal") &&
	      has("0x0000000000000011  normal"), "status lists both files, state normal");

	/* A watcher that stops after two transitions: prepare, cancel. */
	if (pipe(wpipe))
		exit(1);
	watch2 = spawn(watch2_argv, -1, wpipe[1]);
	close(wpipe[1]);
	usleep(200000);
	rc = luoctl("prepare", NULL);
	check(rc == 0 && has("prepared"), "prepare");
	rc = luoctl("status", NULL);
	check(rc == 0 && has("state: prepared") && has("0x0000000000000010  prepared"),
	      "status: state prepared, the workload's file prepared");
	rc = luoctl("preserve", self_s, pipe_fd_s, "0x97", NULL);
	check(rc == 1 && has("EBUSY") && has("in progress"),
	      "preserve while prepared: EBUSY");
	rc = luoctl("cancel", NULL);
	check(rc == 0 && has("cancelled"), "cancel");
	{
		struct pollfd pfd = { .fd = wpipe[0], .events = POLLIN };

		while (wlen < sizeof(wout) - 1 && poll(&pfd, 1, 3000) == 1 &&
		       (n = read(wpipe[0], wout + wlen, sizeof(wout) - 1 - wlen)) > 0)
			wlen += n;
		wout[wlen] = 0;
		close(wpipe[0]);
		kill(watch2, SIGTERM);
		waitpid(watch2, NULL, 0);
	}
	check(strstr(wout, "normal -> prepared") && strstr(wout, "prepared -> normal"),
	      "watch saw normal -> prepared -> normal");
	rc = luoctl("cancel", NULL);
	check(rc == 1 && has("EBUSY") && has("nothing to cancel"),
	      "cancel without a prepared update: EBUSY");

	say("the live update: prepare, pause the workload, kexec");
	rc = luoctl("prepare", NULL);
	check(rc == 0, "prepare again");

	kill(wl, SIGUSR1);
	if (read_line(ack[0], line, sizeof(line), 10000))
		sscanf(line, "paused counter=%31s digest=%31s", wl_counter, wl_digest);
	check(wl_counter[0] && wl_digest[0], "workload paused at counter %s digest %s",
	      wl_counter, wl_digest);

	notes = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, notes_fd, 0);
	if (notes != MAP_FAILED) {
		notes->counter = strtoull(wl_counter, NULL, 10);
		snprintf(notes->digest, sizeof(notes->digest), "%s", wl_digest);
		notes->size_mib = size;
		notes->magic = NOTES_MAGIC;
	}
	check(notes != MAP_FAILED, "notes written into the prepared notes memfd");
	say("kexec: the daemon calls reboot(LINUX_REBOOT_CMD_KEXEC)");
	rc = luoctl("kexec", NULL);
	/* Only reached if the kexec failed. */
	check(0, "luoctl kexec returned %d", rc);
}

static void stage2(long run)
{
	char run_s[16], line[256], counter[32] = "", dig[32] = "", done_counter[32] = "";
	const char *wl_argv[] = { WORKLOAD, "resume", WL_SOCK, "--ack-fd", "3",
				  "--seconds", run_s, NULL };
	struct notes notes = { 0 };
	int lfd, nfd, ack[2], rc, status;
	pid_t daemon, wl;

	printf("TAP version 13\n1..%d\n", STAGE2_TESTS);
	say("stage 2: the new kernel");
	snprintf(run_s, sizeof(run_s), "%ld", run);

	daemon = start_daemon();
	check(daemon > 0, "luoctl daemon starts in the new kernel");
	rc = luoctl("status", NULL);
	check(rc == 0 && has("state: updated") && has("0x0000000000000010  waiting") &&
	      has("workload-memory") && has("0x0000000000000011  waiting"),
	      "status: state updated, the manifest lists both incoming tokens");

	lfd = listen_on(NOTES_SOCK);
	rc = luoctl("restore", NOTES_TOKEN, NOTES_SOCK, NULL);
	nfd = receive_fd(lfd);
	if (nfd >= 0 && pread(nfd, &notes, sizeof(notes), 0) != sizeof(notes))
		notes.magic = 0;
	check(rc == 0 && notes.magic == NOTES_MAGIC,
	      "notes restored over a unix socket: counter %llu digest %s",
	      (unsigned long long)notes.counter, notes.digest);

	say("starting a new workload; it gets its memfd from luoctl restore");
	if (pipe2(ack, O_CLOEXEC))
		exit(1);
	wl = spawn(wl_argv, ack[1], -1);
	close(ack[1]);
	read_line(ack[0], line, sizeof(line), 10000);
	check(!strcmp(line, "listening"), "the new workload listens on " WL_SOCK);
	rc = luoctl("restore", WL_TOKEN, WL_SOCK, NULL);
	check(rc == 0 && has("handed over"), "restore " WL_TOKEN " to the workload");
	read_line(ack[0], line, sizeof(line), 10000);
	sscanf(line, "resumed counter=%31s digest=%31s", counter, dig);
	check(counter[0] && strtoull(counter, NULL, 10) == notes.counter,
	      "the counter continues: resumed at %s, paused at %llu", counter,
	      (unsigned long long)notes.counter);
	check(dig[0] && !strcmp(dig, notes.digest), "the state digest is the one it paused with");
	read_line(ack[0], line, sizeof(line), 120000);
	check(!strcmp(line, "verified ok"), "every chunk of the %llu MiB checksums right (%s)",
	      (unsigned long long)notes.size_mib, line);
	read_line(ack[0], line, sizeof(line), (run + 30) * 1000);
	sscanf(line, "done counter=%31s", done_counter);
	check(strtoull(done_counter, NULL, 10) > notes.counter,
	      "the workload keeps counting: %s", done_counter);
	check(waitpid(wl, &status, 0) == wl && WIFEXITED(status) && !WEXITSTATUS(status),
	      "the workload exits 0");

	rc = luoctl("restore", WL_TOKEN, NOTES_SOCK, NULL);
	check(rc == 1 && has("EBUSY") && has("restores once"),
	      "a second restore of the same token: EBUSY");
	close(receive_fd(lfd));
	rc = luoctl("restore", "0xbad", NOTES_SOCK, NULL);
	check(rc == 1 && has("ENOENT") && has("handed over no file"),
	      "restore of an unknown token: ENOENT");
	close(receive_fd(lfd));
	rc = luoctl("restore", "0x12", "/tmp/nobody.sock", NULL);
	check(rc == 1 && has("ENOENT") && has("nobody listens"),
	      "restore to a socket nobody listens on: ENOENT");

	rc = luoctl("finish", NULL);
	check(rc == 0 && has("2 incoming file(s) restored, 0 never restored"), "finish");
	rc = luoctl("status", NULL);
	check(rc == 0 && has("state: normal"), "status: state normal again");
	rc = luoctl("stop", NULL);
	check(rc == 0 && waitpid(daemon, &status, 0) == daemon && WIFEXITED(status) &&
	      !WEXITSTATUS(status), "stop: the daemon exits 0");
	rc = luoctl("prepare", NULL);
	check(rc == 1 && has("needs one"), "prepare without a daemon is refused");
	rc = luoctl("status", NULL);
	check(rc == 0 && has("direct mode") && has("state: normal"),
	      "status without a daemon: direct mode");
}

int main(int argc, char **argv)
{
	long size = argc > 2 ? strtol(argv[2], NULL, 0) : 16;
	long run = argc > 3 ? strtol(argv[3], NULL, 0) : 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && atoi(argv[1]) == 1)
		stage1(size);
	else if (argc > 1 && atoi(argv[1]) == 2)
		stage2(run);
	else
		return 2;
	fflush(stdout);
	return failed;
}
