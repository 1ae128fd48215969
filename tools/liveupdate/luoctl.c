// SPDX-License-Identifier: GPL-2.0
/*
 * luoctl - reference agent for the Live Update Orchestrator (LUO)
 *
 * LUO is driven through /dev/liveupdate, which has one opener at a time,
 * and closing it releases every preserved file and cancels a prepared
 * update. So the agent must hold the device from the first preserve until
 * the kexec. luoctl does that with a daemon:
 *
 *   luoctl [-s SOCKET] daemon                 hold /dev/liveupdate, serve
 *   luoctl [-s SOCKET] status                 state, outgoing and incoming files
 *   luoctl watch [--count N] [--until STATE]  follow the state (poll POLLPRI)
 *   luoctl [-s SOCKET] preserve PID FD TOKEN [NAME]
 *   luoctl [-s SOCKET] unpreserve TOKEN
 *   luoctl [-s SOCKET] prepare | cancel | finish
 *   luoctl [-s SOCKET] restore TOKEN PATH     hand the file to PATH (SCM_RIGHTS)
 *   luoctl [-s SOCKET] kexec [--force]        the daemon calls reboot(KEXEC)
 *   luoctl [-s SOCKET] stop                   stop the daemon (closes the device)
 *
 * SOCKET defaults to $LUOCTL_SOCKET, else /run/luoctl.sock. TOKEN is a
 * 64-bit number (decimal, 0x hex or 0 octal).
 *
 * Modes. Every command but daemon and watch first connects to the daemon's
 * control socket. If no daemon listens there (ENOENT, ECONNREFUSED), the
 * read-only or self-contained commands (status, restore, finish, kexec
 * --force) open /dev/liveupdate themselves for one call ("direct mode");
 * the others refuse, because the device would be closed, and the file
 * released or the update cancelled, as soon as luoctl exits.
 *
 * Control protocol. The socket is an AF_UNIX SOCK_SEQPACKET socket, mode
 * 0600, and the daemon serves only peers with its own uid or uid 0
 * (SO_PEERCRED). A client sends one message: "luoctl1" followed by the
 * command and its arguments, each NUL-terminated. The daemon runs the
 * command exactly as direct mode would and answers with one message: the
 * exit status in decimal, a newline, then the text the command printed
 * (at most 64 KiB). The client prints the text (to stderr if the status is
 * not zero) and exits with the status: 0 success, 1 the operation failed
 * (the message names the errno and what it means), 2 usage error.
 * Commands are served one at a time.
 *
 * Handing a restored file over. "restore TOKEN PATH" connects to the
 * AF_UNIX socket PATH (SOCK_STREAM, else SOCK_SEQPACKET) before restoring,
 * so a missing receiver costs nothing, then sends one message
 * "luoctl-fd 0x<token> <name>\n" carrying the new fd in SCM_RIGHTS. If the
 * send fails, the daemon keeps the fd and a later restore of the same
 * token retries the hand-over. Once handed over, a second restore of the
 * token gets EBUSY from the kernel (each token restores once).
 *
 * Incoming tokens. The kernel does not list the files handed over by the
 * previous kernel, so the daemon preserves a manifest of its own: at
 * prepare it writes a memfd holding
 *
 *   "luoctl-manifest v1\n" then one line per file: "0x<token> <name>\n"
 *
 * (names are printable, without spaces or newlines, at most 127 bytes) and
 * preserves it under the reserved token 0x6c756f63746c6d66 ("luoctlmf"),
 * which users cannot take. On cancel it drops it again. A daemon started
 * in the state UPDATED restores the manifest, checks every line, and lists
 * those tokens as incoming; files preserved by other agents can still be
 * restored by token.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/liveupdate.h>
#include <linux/reboot.h>

#include "luo_ioctl.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define KEXEC_LOADED_FILE	"/sys/kernel/kexec_loaded"
#define DEFAULT_SOCKET		"/run/luoctl.sock"
#define MANIFEST_TOKEN		0x6c756f63746c6d66ULL
#define MANIFEST_MAGIC		"luoctl-manifest v1\n"
#define REQUEST_MAGIC		"luoctl1"
#define MAX_FILES		1024
#define NAME_LEN		128
#define MSG_MAX			65536
#define MAX_ARGS		16
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

enum op {
	OP_OPEN,
	OP_PRESERVE,
	OP_UNPRESERVE,
	OP_RESTORE,
	OP_PREPARE,
	OP_CANCEL,
	OP_FINISH,
	OP_FD_STATE,
	OP_GET_STATE,
	OP_GETFD,
	OP_KEXEC,
	OP_HANDOVER,
	OP_RESTORE_STATE,
	OP_WATCH,
};

struct luo_file {
	__u64 token;
	char name[NAME_LEN];
	int fd;			/* incoming: restored, not yet handed over */
	bool incoming;
	bool handed_over;
	bool finished;
};

struct luoctl {
	int dev;
	bool daemon;
	bool stop;
	bool manifest_seen;	/* an incoming manifest was read */
	bool manifest_out;	/* our manifest is preserved */
	struct luo_file files[MAX_FILES];
	int nr_files;
};

static const char *const state_names[] = {
	[LIVEUPDATE_STATE_UNDEFINED] = "undefined",
	[LIVEUPDATE_STATE_NORMAL] = "normal",
	[LIVEUPDATE_STATE_PREPARED] = "prepared",
	[LIVEUPDATE_STATE_FROZEN] = "frozen",
	[LIVEUPDATE_STATE_UPDATED] = "updated",
};

static int got_signal;

static void on_signal(int sig)
{
	__atomic_store_n(&got_signal, sig, __ATOMIC_RELAXED);
}

static const char *state_name(int state)
{
	if (state < 0 || state > LIVEUPDATE_STATE_UPDATED)
		return "unknown";
	return state_names[state];
}

static const char *errname(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "E?";
}

/* The global state from sysfs, without the newline; "unknown" if unreadable. */
static const char *sysfs_state(char *buf, size_t len)
{
	int fd = open(LUO_SYSFS_STATE, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return "unknown";
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

/*
 * What an errno means for the user of each operation. OP_ANY rows apply to
 * every operation; "%s" in a message is the current state.
 */
#define OP_ANY	-1
static const struct meaning {
	int op;
	int err;
	const char *msg;
} meanings[] = {
	{ OP_ANY, ENOTTY,
	  "this kernel does not implement the LUO v3 /dev/liveupdate ioctls (another LUO version?)",
	},
	{ OP_ANY, E2BIG,
	  "the kernel does not know a field luoctl set: rebuild luoctl against this kernel's uapi headers",
	},
	{ OP_ANY, EINTR, "interrupted by a signal; nothing was changed, try again" },
	{ OP_ANY, ENOMEM, "the kernel ran out of memory" },
	{ OP_ANY, EFAULT, "bad address passed to the kernel (a luoctl bug)" },
	{ OP_OPEN, ENOENT,
	  "no /dev/liveupdate: the kernel was not booted with liveupdate=orchestration, or has no CONFIG_LIVEUPDATE",
	},
	{ OP_OPEN, ENODEV,
	  "no /dev/liveupdate: the kernel was not booted with liveupdate=orchestration, or has no CONFIG_LIVEUPDATE",
	},
	{ OP_OPEN, EPERM, "opening /dev/liveupdate needs CAP_SYS_ADMIN: run luoctl as root" },
	{ OP_OPEN, EACCES, "opening /dev/liveupdate needs CAP_SYS_ADMIN: run luoctl as root" },
	{ OP_OPEN, EBUSY,
	  "another process holds /dev/liveupdate open (one agent at a time): is a luoctl daemon already running? Talk to it with --socket",
	},
	{ OP_PRESERVE, EBADF, "that is not an open file" },
	{ OP_PRESERVE, EEXIST,
	  "the token is already in use, or this file is already preserved under another token: pick another token or unpreserve first",
	},
	{ OP_PRESERVE, EOPNOTSUPP,
	  "no file handler can preserve this kind of file: LUO preserves memfds (shmem); pipes, sockets, regular files and hugetlb memfds cannot be preserved",
	},
	{ OP_PRESERVE, EBUSY,
	  "a live update is in progress (state %s): files can only be preserved in the states normal and updated; cancel it first",
	},
	{ OP_PRESERVE, EINVAL, "the kernel rejected the request (argument size or a field)" },
	{ OP_UNPRESERVE, ENOENT, "no file is preserved under this token" },
	{ OP_UNPRESERVE, EBUSY,
	  "a live update is in progress (state %s): unpreserve works only in the states normal and updated; cancel first",
	},
	{ OP_UNPRESERVE, EOPNOTSUPP, "the kernel refused a reserved field (a luoctl bug)" },
	{ OP_RESTORE, ENOENT,
	  "the previous kernel handed over no file under this token (luoctl status lists the incoming tokens)",
	},
	{ OP_RESTORE_STATE, EBUSY,
	  "nothing to restore: files are restored only after a live update (state updated), the state is %s",
	},
	{ OP_RESTORE, EBUSY, "this token was already restored: each token restores once" },
	{ OP_RESTORE, EOPNOTSUPP,
	  "this kernel has no file handler for the kind of file the previous kernel preserved",
	},
	{ OP_RESTORE, EINVAL,
	  "the hand-over data of this file is invalid, it cannot be restored (see dmesg)",
	},
	{ OP_RESTORE, EMFILE, "too many open files in luoctl" },
	{ OP_PREPARE, EBUSY,
	  "prepare needs the state normal, the state is %s (cancel aborts a prepared update, finish ends an applied one)",
	},
	{ OP_PREPARE, EEXIST, "luoctl's manifest token is already preserved by someone else" },
	{ OP_PREPARE, 0,
	  "a subsystem or file handler failed to prepare; the update was cancelled, the state is %s (see dmesg)",
	},
	{ OP_CANCEL, EBUSY,
	  "nothing to cancel: cancel applies to a prepared or frozen update, the state is %s",
	},
	{ OP_FINISH, EBUSY,
	  "finish applies only after a live update (state updated), the state is %s",
	},
	{ OP_FD_STATE, ENOENT, "no such token (released, or never preserved)" },
	{ OP_GETFD, ESRCH, "no such process" },
	{ OP_GETFD, EPERM,
	  "not allowed to take file descriptors from this process (needs ptrace access: run luoctl as root)",
	},
	{ OP_GETFD, EBADF, "the process has no such file descriptor" },
	{ OP_GETFD, EMFILE, "too many open files in luoctl" },
	{ OP_KEXEC, EPERM,
	  "reboot(LINUX_REBOOT_CMD_KEXEC) needs CAP_SYS_BOOT: run luoctl as root",
	},
	{ OP_KEXEC, EINVAL,
	  "no kernel is loaded for kexec: load one with kexec_file_load (kexec -s -l) first",
	},
	{ OP_KEXEC, 0,
	  "the kexec failed, probably in the FREEZE step; the update was cancelled, the state is %s (see dmesg)",
	},
	{ OP_HANDOVER, ENOENT, "nobody listens on that socket path (start the receiver first)" },
	{ OP_HANDOVER, ECONNREFUSED, "the receiver's socket exists but nobody accepts on it" },
	{ OP_HANDOVER, EACCES, "no permission to connect to that socket" },
	{ OP_HANDOVER, ENAMETOOLONG, "the socket path is too long" },
	{ OP_HANDOVER, 0, "could not hand the file over to the receiver" },
	{ OP_WATCH, ENOENT,
	  "no LUO state file: the kernel was not booted with liveupdate=orchestration, or has no CONFIG_LIVEUPDATE_SYSFS_API",
	},
};

static const char *explain(int what, int err)
{
	static char buf[512];
	char sbuf[32];
	const char *state = sysfs_state(sbuf, sizeof(sbuf));
	size_t i;

	/* EBUSY from restore means two things: the state, or restored once. */
	if (what == OP_RESTORE && err == EBUSY && strcmp(state, "updated"))
		what = OP_RESTORE_STATE;
	for (i = 0; i < ARRAY_SIZE(meanings); i++) {
		const struct meaning *m = &meanings[i];

		if ((m->op == what || m->op == OP_ANY) && (m->err == err || !m->err)) {
			snprintf(buf, sizeof(buf), m->msg, state);
			return buf;
		}
	}
	snprintf(buf, sizeof(buf), "%s", strerror(err));
	return buf;
}

/* Prints "luoctl: WHAT: ENAME: meaning" and returns the exit status 1. */
static int fail(struct luoctl *l, FILE *out, int what, int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "luoctl: ");
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fprintf(out, ": %s: %s\n", errname(err), explain(what, err));
	return 1;
}

static int usage_error(FILE *out, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "luoctl: ");
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fprintf(out, " (luoctl help for usage)\n");
	return 2;
}

static bool parse_u64(const char *s, unsigned long long *v)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && !*end;
}

static bool parse_int(const char *s, int *v)
{
	unsigned long long u;

	if (!parse_u64(s, &u) || u > INT_MAX)
		return false;
	*v = (int)u;
	return true;
}

/* Names go into the manifest: printable, no spaces, bounded. */
static void clean_name(char *dst, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i < NAME_LEN - 1; i++)
		dst[i] = (src[i] > ' ' && src[i] < 127) ? src[i] : '_';
	dst[i] = 0;
	if (!i)
		snprintf(dst, NAME_LEN, "-");
}

static struct luo_file *find_file(struct luoctl *l, __u64 token, bool incoming)
{
	int i;

	for (i = 0; i < l->nr_files; i++)
		if (l->files[i].token == token && l->files[i].incoming == incoming)
			return &l->files[i];
	return NULL;
}

static struct luo_file *add_file(struct luoctl *l, __u64 token, const char *name,
				 bool incoming)
{
	struct luo_file *f;

	if (l->nr_files == MAX_FILES)
		return NULL;
	f = &l->files[l->nr_files++];
	memset(f, 0, sizeof(*f));
	f->token = token;
	f->fd = -1;
	f->incoming = incoming;
	clean_name(f->name, name);
	return f;
}

static void drop_file(struct luoctl *l, struct luo_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	*f = l->files[--l->nr_files];
}

/* --- the manifest --------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Writes the manifest of our outgoing files and preserves it: 0 or -errno. */
static int manifest_preserve(struct luoctl *l)
{
	char line[NAME_LEN + 32];
	int fd, ret = 0, i;

	fd = memfd_create("luoctl-manifest", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write_all(fd, MANIFEST_MAGIC, strlen(MANIFEST_MAGIC)))
		ret = -errno;
	for (i = 0; !ret && i < l->nr_files; i++) {
		struct luo_file *f = &l->files[i];

		if (f->incoming)
			continue;
		snprintf(line, sizeof(line), "0x%llx %s\n", (unsigned long long)f->token, f->name);
		if (write_all(fd, line, strlen(line)))
			ret = -errno;
	}
	if (!ret)
		ret = luo_fd_preserve(l->dev, fd, MANIFEST_TOKEN);
	close(fd);
	if (!ret)
		l->manifest_out = true;
	return ret;
}

static void manifest_drop(struct luoctl *l)
{
	if (l->manifest_out && !luo_fd_unpreserve(l->dev, MANIFEST_TOKEN))
		l->manifest_out = false;
}

/*
 * Restores the previous kernel's manifest and adds its files as incoming.
 * Returns the number of files, or -errno (-ENOENT: no manifest, -EINVAL:
 * a malformed one, of which nothing is used).
 */
static int manifest_read(struct luoctl *l)
{
	char *buf, *line, *save = NULL;
	struct stat st;
	int fd, n = 0, total = 0, ret = 0;

	fd = luo_fd_restore(l->dev, MANIFEST_TOKEN);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || st.st_size < (off_t)strlen(MANIFEST_MAGIC) ||
	    st.st_size > MAX_FILES * (NAME_LEN + 24) + 64) {
		close(fd);
		return -EINVAL;
	}
	buf = calloc(1, st.st_size + 1);
	if (!buf || pread(fd, buf, st.st_size, 0) != st.st_size) {
		free(buf);
		close(fd);
		return -EINVAL;
	}
	close(fd);
	if (strncmp(buf, MANIFEST_MAGIC, strlen(MANIFEST_MAGIC)) ||
	    strlen(buf) != (size_t)st.st_size) {
		free(buf);
		return -EINVAL;
	}
	/* First check every line, then add them all. */
	for (int pass = 0; pass < 2 && !ret; pass++) {
		char *copy = strdup(buf + strlen(MANIFEST_MAGIC));

		if (!copy) {
			ret = -ENOMEM;
			break;
		}
		save = NULL;
		n = 0;
		for (line = strtok_r(copy, "\n", &save); line && !ret;
		     line = strtok_r(NULL, "\n", &save)) {
			char *name = strchr(line, ' ');
			unsigned long long token;

			if (!name || strchr(name + 1, ' ') || !name[1] ||
			    strlen(name + 1) >= NAME_LEN) {
				ret = -EINVAL;
				break;
			}
			*name++ = 0;
			if (!parse_u64(line, &token) || token == MANIFEST_TOKEN) {
				ret = -EINVAL;
				break;
			}
			if (pass == 0) {
				if (++total > MAX_FILES - l->nr_files)
					ret = -EINVAL;
				continue;
			}
			if (!find_file(l, token, true))
				add_file(l, token, name, true);
			n++;
		}
		free(copy);
	}
	free(buf);
	if (!ret)
		l->manifest_seen = true;
	return ret ? ret : n;
}

/* --- commands --------------------------------------------------------------- */

static int cmd_status(struct luoctl *l, FILE *out)
{
	char hbuf[256];
	int state = luo_get_state(l->dev), i, fd, shown = 0;
	ssize_t n;

	if (state < 0)
		return fail(l, out, OP_GET_STATE, -state, "GET_STATE");
	fprintf(out, "state: %s\n", state_name(state));
	fd = open(LUO_SYSFS_HANDOVER, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, hbuf, sizeof(hbuf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		hbuf[n] = 0;
		hbuf[strcspn(hbuf, "\n")] = 0;
		fprintf(out, "handover from the previous kernel: %s\n", hbuf);
	}
	fprintf(out, "agent: %s\n", l->daemon ? "luoctl daemon" : "none (direct mode)");

	fprintf(out, "outgoing files (preserved for the next kernel):\n");
	for (i = 0; i < l->nr_files; i++) {
		struct luo_file *f = &l->files[i];
		int s;

		if (f->incoming)
			continue;
		s = luo_fd_state(l->dev, f->token, false);
		fprintf(out, "  0x%016llx  %-9s %s\n", (unsigned long long)f->token,
			s < 0 ? errname(-s) : state_name(s), f->name);
		shown++;
	}
	if (!shown)
		fprintf(out, "  (none)\n");

	if (state != LIVEUPDATE_STATE_UPDATED)
		return 0;
	fprintf(out, "incoming files (from the previous kernel):\n");
	shown = 0;
	for (i = 0; i < l->nr_files; i++) {
		struct luo_file *f = &l->files[i];
		const char *what;

		if (!f->incoming)
			continue;
		if (f->handed_over)
			what = "restored";
		else if (f->fd >= 0)
			what = "restored, not handed over";
		else if (luo_fd_state(l->dev, f->token, true) == -ENOENT)
			what = "gone";
		else
			what = "waiting";
		fprintf(out, "  0x%016llx  %-9s %s\n", (unsigned long long)f->token, what,
			f->name);
		shown++;
	}
	if (!l->daemon && luo_fd_state(l->dev, MANIFEST_TOKEN, true) >= 0)
		fprintf(out, "%s",
			"  (a luoctl manifest was handed over: start luoctl daemon to list it)\n");
	else if (!l->manifest_seen)
		fprintf(out, "  (no luoctl manifest was handed over: incoming tokens unknown)\n");
	else if (!shown)
		fprintf(out, "  (none)\n");
	return 0;
}

static int cmd_preserve(struct luoctl *l, FILE *out, int argc, char **argv)
{
	unsigned long long token;
	char link[64], target[NAME_LEN];
	int pid, tfd, pidfd, fd, ret;
	ssize_t n;

	if (argc < 4 || argc > 5)
		return usage_error(out, "usage: preserve PID FD TOKEN [NAME]");
	if (!parse_int(argv[1], &pid) || pid <= 0)
		return usage_error(out, "preserve: bad PID '%s'", argv[1]);
	if (!parse_int(argv[2], &tfd))
		return usage_error(out, "preserve: bad FD '%s'", argv[2]);
	if (!parse_u64(argv[3], &token))
		return usage_error(out, "preserve: bad TOKEN '%s' (a 64-bit number)", argv[3]);
	if (token == MANIFEST_TOKEN) {
		fprintf(out,
			"luoctl: preserve 0x%llx: EEXIST: this token is reserved for luoctl's manifest\n",
			token);
		return 1;
	}
	if (l->nr_files == MAX_FILES) {
		fprintf(out, "luoctl: preserve: ENOSPC: luoctl tracks at most %d files\n",
			MAX_FILES);
		return 1;
	}

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return fail(l, out, OP_GETFD, errno, "preserve: pidfd_open(%d)", pid);
	fd = syscall(SYS_pidfd_getfd, pidfd, tfd, 0);
	ret = errno;
	close(pidfd);
	if (fd < 0)
		return fail(l, out, OP_GETFD, ret, "preserve: pidfd_getfd(pid %d, fd %d)", pid,
			    tfd);

	ret = luo_fd_preserve(l->dev, fd, token);
	if (ret) {
		close(fd);
		return fail(l, out, OP_PRESERVE, -ret, "preserve 0x%llx (pid %d fd %d)", token,
			    pid, tfd);
	}
	close(fd);
	if (argc == 5) {
		snprintf(target, sizeof(target), "%s", argv[4]);
	} else {
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", pid, tfd);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
	}
	add_file(l, token, target, false);
	fprintf(out, "preserved 0x%llx: pid %d fd %d (%s)\n", token, pid, tfd,
		find_file(l, token, false)->name);
	return 0;
}

static int cmd_unpreserve(struct luoctl *l, FILE *out, int argc, char **argv)
{
	unsigned long long token;
	struct luo_file *f;
	int ret;

	if (argc != 2)
		return usage_error(out, "usage: unpreserve TOKEN");
	if (!parse_u64(argv[1], &token))
		return usage_error(out, "unpreserve: bad TOKEN '%s'", argv[1]);
	if (token == MANIFEST_TOKEN) {
		fprintf(out,
			"luoctl: unpreserve 0x%llx: EPERM: this token is reserved for luoctl's manifest\n",
			token);
		return 1;
	}
	ret = luo_fd_unpreserve(l->dev, token);
	if (ret)
		return fail(l, out, OP_UNPRESERVE, -ret, "unpreserve 0x%llx", token);
	f = find_file(l, token, false);
	if (f)
		drop_file(l, f);
	fprintf(out, "unpreserved 0x%llx\n", token);
	return 0;
}

static int cmd_prepare(struct luoctl *l, FILE *out)
{
	int ret, i, n = 0;

	ret = luo_get_state(l->dev);
	if (ret != LIVEUPDATE_STATE_NORMAL)
		return fail(l, out, OP_PREPARE, ret < 0 ? -ret : EBUSY, "prepare");
	ret = manifest_preserve(l);
	if (ret)
		return fail(l, out, OP_PREPARE, -ret, "prepare: preserving the manifest");
	ret = luo_set_event(l->dev, LIVEUPDATE_PREPARE);
	if (ret) {
		manifest_drop(l);
		return fail(l, out, OP_PREPARE, -ret, "prepare");
	}
	for (i = 0; i < l->nr_files; i++)
		n += !l->files[i].incoming;
	fprintf(out, "prepared: %d file(s) and the manifest serialized; state prepared\n", n);
	return 0;
}

static int cmd_cancel(struct luoctl *l, FILE *out)
{
	int ret = luo_set_event(l->dev, LIVEUPDATE_CANCEL);

	if (ret)
		return fail(l, out, OP_CANCEL, -ret, "cancel");
	manifest_drop(l);
	fprintf(out, "cancelled: state normal, files stay preserved\n");
	return 0;
}

static int cmd_finish(struct luoctl *l, FILE *out)
{
	int ret = luo_set_event(l->dev, LIVEUPDATE_FINISH), i, restored = 0, released = 0;

	if (ret)
		return fail(l, out, OP_FINISH, -ret, "finish");
	for (i = 0; i < l->nr_files; ) {
		struct luo_file *f = &l->files[i];

		if (!f->incoming) {
			i++;
			continue;
		}
		if (f->handed_over)
			restored++;
		else
			released++;
		drop_file(l, f);
	}
	l->manifest_seen = false;
	fprintf(out,
		"finished: state normal; %d incoming file(s) restored, %d never restored (released by the kernel)\n",
		restored, released);
	return 0;
}

/* Connects to the receiver's AF_UNIX socket: fd or -errno. */
static int connect_unix(const char *path, int type)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

static int send_fd(int sock, int fd, const char *msg)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ? 0 : -errno;
}

static int cmd_restore(struct luoctl *l, FILE *out, int argc, char **argv)
{
	unsigned long long token;
	char msg[NAME_LEN + 64];
	struct luo_file *f;
	int sock, fd, ret;

	if (argc != 3)
		return usage_error(out, "usage: restore TOKEN SOCKET");
	if (!parse_u64(argv[1], &token))
		return usage_error(out, "restore: bad TOKEN '%s'", argv[1]);
	if (token == MANIFEST_TOKEN) {
		fprintf(out,
			"luoctl: restore 0x%llx: EPERM: this token is reserved for luoctl's manifest\n",
			token);
		return 1;
	}
	sock = connect_unix(argv[2], SOCK_STREAM);
	if (sock == -EPROTOTYPE)
		sock = connect_unix(argv[2], SOCK_SEQPACKET);
	if (sock < 0)
		return fail(l, out, OP_HANDOVER, -sock, "restore 0x%llx: connecting to %s",
			    token, argv[2]);

	f = find_file(l, token, true);
	if (f && f->fd >= 0) {
		fd = f->fd;
	} else {
		fd = luo_fd_restore(l->dev, token);
		if (fd < 0) {
			close(sock);
			return fail(l, out, OP_RESTORE, -fd, "restore 0x%llx", token);
		}
		if (!f)
			f = add_file(l, token, "-", true);
		if (f)
			f->fd = fd;
	}
	snprintf(msg, sizeof(msg), "luoctl-fd 0x%llx %s\n", token, f ? f->name : "-");
	ret = send_fd(sock, fd, msg);
	close(sock);
	if (ret) {
		if (!f || !l->daemon) {
			close(fd);
			if (f)
				f->fd = -1;
		}
		return fail(l, out, OP_HANDOVER, -ret, "restore 0x%llx: sending the fd to %s%s",
			    token, argv[2],
			    f && l->daemon ? " (the daemon keeps it, retry)" : "");
	}
	close(fd);
	if (f) {
		f->fd = -1;
		f->handed_over = true;
	}
	fprintf(out, "restored 0x%llx (%s), handed over to %s\n", token, f ? f->name : "-",
		argv[2]);
	return 0;
}

static int cmd_kexec(struct luoctl *l, FILE *out, int argc, char **argv)
{
	bool force = argc == 2 && !strcmp(argv[1], "--force");
	char c = '0';
	int fd, state;

	if (argc > 2 || (argc == 2 && !force))
		return usage_error(out, "usage: kexec [--force]");
	state = luo_get_state(l->dev);
	if (state != LIVEUPDATE_STATE_PREPARED && !force) {
		fprintf(out,
			"luoctl: kexec: EBUSY: the state is %s, not prepared: a kexec now would carry no files (run prepare first, or kexec --force for a plain kexec)\n",
			state_name(state));
		return 1;
	}
	fd = open(KEXEC_LOADED_FILE, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = '0';
		close(fd);
	}
	if (c != '1')
		return fail(l, out, OP_KEXEC, EINVAL, "kexec");
	printf("luoctl: kexec: rebooting into the loaded kernel (state %s)\n",
	       state_name(state));
	fflush(stdout);
	sync();
	reboot(LINUX_REBOOT_CMD_KEXEC);
	return fail(l, out, OP_KEXEC, errno, "kexec: reboot(LINUX_REBOOT_CMD_KEXEC)");
}

static const char usage_text[] =
	"usage: luoctl [-s SOCKET] COMMAND [ARGS]\n"
	"  daemon                      hold " LUO_DEVICE " and serve the commands below\n"
	"  status                      global state, outgoing and incoming files\n"
	"  watch [--count N] [--until STATE]\n"
	"                              print every state transition with a timestamp\n"
	"  preserve PID FD TOKEN [NAME]  preserve fd FD of process PID under TOKEN\n"
	"  unpreserve TOKEN            drop a preserved file\n"
	"  prepare                     serialize everything (state prepared)\n"
	"  cancel                      abort a prepared update (state normal)\n"
	"  kexec [--force]             reboot into the loaded kernel (the live update)\n"
	"  restore TOKEN SOCKET        restore TOKEN and send it over the AF_UNIX\n"
	"                              socket SOCKET (SCM_RIGHTS)\n"
	"  finish                      end the update (state normal); unrestored\n"
	"                              files are released\n"
	"  stop                        stop the daemon (cancels a prepared update)\n"
	"SOCKET: the daemon's control socket, default $LUOCTL_SOCKET or " DEFAULT_SOCKET "\n";

/* Runs one command against the open device, printing to out: exit status. */
static int run_command(struct luoctl *l, FILE *out, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (!strcmp(cmd, "status") && argc == 1)
		return cmd_status(l, out);
	if (!strcmp(cmd, "preserve"))
		return cmd_preserve(l, out, argc, argv);
	if (!strcmp(cmd, "unpreserve"))
		return cmd_unpreserve(l, out, argc, argv);
	if (!strcmp(cmd, "prepare") && argc == 1)
		return cmd_prepare(l, out);
	if (!strcmp(cmd, "cancel") && argc == 1)
		return cmd_cancel(l, out);
	if (!strcmp(cmd, "finish") && argc == 1)
		return cmd_finish(l, out);
	if (!strcmp(cmd, "restore"))
		return cmd_restore(l, out, argc, argv);
	if (!strcmp(cmd, "kexec"))
		return cmd_kexec(l, out, argc, argv);
	if (!strcmp(cmd, "stop") && argc == 1 && l->daemon) {
		int state = luo_get_state(l->dev);

		l->stop = true;
		if (state == LIVEUPDATE_STATE_PREPARED || state == LIVEUPDATE_STATE_FROZEN)
			fprintf(out, "stopping the daemon: closing %s cancels the %s update\n",
				LUO_DEVICE, state_name(state));
		else
			fprintf(out, "stopping the daemon\n");
		return 0;
	}
	return usage_error(out, "unknown command or wrong arguments: %s", cmd);
}

/* --- the daemon ------------------------------------------------------------ */

static int open_device(struct luoctl *l, FILE *out)
{
	l->dev = luo_open();
	if (l->dev < 0)
		return fail(l, out, OP_OPEN, errno, "open %s", LUO_DEVICE);
	return 0;
}

static int listen_control(const char *path, FILE *out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, sfd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(out, "luoctl: daemon: %s: ENAMETOOLONG: the socket path is too long\n",
			path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/* A live daemon would have kept us from opening the device: stale. */
	sfd = connect_unix(path, SOCK_SEQPACKET);
	if (sfd >= 0) {
		close(sfd);
		fprintf(out,
			"luoctl: daemon: %s: EADDRINUSE: another daemon answers on this socket\n",
			path);
		return -1;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	old = umask(0077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || listen(fd, 8)) {
		umask(old);
		fprintf(out, "luoctl: daemon: cannot listen on %s: %s: %s\n", path,
			errname(errno), strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	return fd;
}

static void serve_one(struct luoctl *l, int conn)
{
	static char req[4096];
	char *argv[MAX_ARGS + 1], *reply = NULL, *p, status[8];
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	size_t rlen = 0;
	int argc = 0, rc;
	ssize_t n;
	FILE *out;

	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    (cred.uid != 0 && cred.uid != getuid()))
		return;
	n = recv(conn, req, sizeof(req) - 1, 0);
	if (n <= (ssize_t)sizeof(REQUEST_MAGIC) ||
	    memcmp(req, REQUEST_MAGIC, sizeof(REQUEST_MAGIC)))
		return;
	req[n] = 0;
	for (p = req + sizeof(REQUEST_MAGIC); p < req + n && argc < MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	if (!argc)
		return;

	out = open_memstream(&reply, &rlen);
	if (!out)
		return;
	fprintf(out, "%3d\n", 0);	/* room for the status line */
	rc = run_command(l, out, argc, argv);
	fclose(out);
	snprintf(status, sizeof(status), "%3d", rc);
	memcpy(reply, status, 3);
	if (rlen > MSG_MAX)
		rlen = MSG_MAX;
	if (send(conn, reply, rlen, MSG_NOSIGNAL) < 0)
		fprintf(stderr, "luoctl daemon: reply: %s\n", strerror(errno));
	printf("luoctl daemon: %s%s%s -> %d\n", argv[0], argc > 1 ? " " : "",
	       argc > 1 ? argv[1] : "", rc);
	fflush(stdout);
	free(reply);
}

static int cmd_daemon(struct luoctl *l, const char *path)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int lfd, state, n;

	if (open_device(l, stderr))
		return 1;
	l->daemon = true;
	lfd = listen_control(path, stderr);
	if (lfd < 0)
		return 1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	state = luo_get_state(l->dev);
	printf("luoctl daemon: holding %s (state %s), control socket %s\n", LUO_DEVICE,
	       state_name(state), path);
	if (state == LIVEUPDATE_STATE_UPDATED) {
		n = manifest_read(l);
		if (n >= 0)
			printf("%s: manifest from the previous kernel: %d incoming file(s)\n",
			       "luoctl daemon", n);
		else
			printf("%s: no usable manifest from the previous kernel: %s: %s\n",
			       "luoctl daemon",
			       errname(-n), n == -ENOENT ? "none was handed over" :
			       n == -EINVAL ? "malformed, ignored" : strerror(-n));
	}
	fflush(stdout);

	while (!l->stop && !__atomic_load_n(&got_signal, __ATOMIC_RELAXED)) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int conn;

		if (poll(&pfd, 1, -1) <= 0)
			continue;
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		serve_one(l, conn);
		close(conn);
	}
	state = luo_get_state(l->dev);
	unlink(path);
	close(lfd);
	close(l->dev);
	printf("luoctl daemon: exiting (state was %s)%s\n", state_name(state),
	       state == LIVEUPDATE_STATE_PREPARED ? ": the update is cancelled" : "");
	return 0;
}

/* --- the client ------------------------------------------------------------- */

/* Sends the command to the daemon. Returns the exit status, or -errno if no
 * daemon could be reached.
 */
static int client(const char *path, int argc, char **argv)
{
	static char buf[MSG_MAX + 1];
	size_t len = sizeof(REQUEST_MAGIC);
	int sock, i, rc;
	ssize_t n;

	memcpy(buf, REQUEST_MAGIC, len);
	for (i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;

		if (len + l > 4095 || i >= MAX_ARGS) {
			fprintf(stderr, "luoctl: E2BIG: the command is too long\n");
			return 2;
		}
		memcpy(buf + len, argv[i], l);
		len += l;
	}
	sock = connect_unix(path, SOCK_SEQPACKET);
	if (sock < 0)
		return sock;
	if (!strcmp(argv[0], "kexec")) {
		printf("luoctl: asking the daemon to kexec\n");
		fflush(stdout);
	}
	if (send(sock, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		rc = -errno;
		close(sock);
		return rc == -ENOENT ? -EPIPE : rc;
	}
	n = recv(sock, buf, MSG_MAX, 0);
	close(sock);
	if (n < 4) {
		fprintf(stderr,
			"luoctl: the daemon at %s closed the connection without an answer\n",
			path);
		return 1;
	}
	buf[n] = 0;
	rc = atoi(buf);
	fputs(buf + 4, rc ? stderr : stdout);
	return rc;
}

/* --- watch ------------------------------------------------------------------ */

static int cmd_watch(int argc, char **argv)
{
	char cur[32] = "", buf[32], stamp[64];
	const char *until = NULL;
	int fd, count = -1, seen = 0, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc && parse_int(argv[i + 1], &count))
			i++;
		else if (!strcmp(argv[i], "--until") && i + 1 < argc)
			until = argv[++i];
		else
			return usage_error(stderr, "usage: watch [--count N] [--until STATE]");
	}
	fd = open(LUO_SYSFS_STATE, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "luoctl: watch: %s: %s: %s\n", LUO_SYSFS_STATE, errname(errno),
			explain(OP_WATCH, errno));
		return 1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLPRI | POLLERR };
		struct timespec ts;
		struct tm tm;
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		if (n < 0) {
			fprintf(stderr, "luoctl: watch: read: %s\n", strerror(errno));
			return 1;
		}
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
		if (strcmp(buf, cur)) {
			clock_gettime(CLOCK_REALTIME, &ts);
			gmtime_r(&ts.tv_sec, &tm);
			strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
			printf("%s.%06ld luoctl watch: state %s%s%s\n", stamp, ts.tv_nsec / 1000,
			       cur[0] ? cur : "", cur[0] ? " -> " : "", buf);
			fflush(stdout);
			if (cur[0])
				seen++;
			snprintf(cur, sizeof(cur), "%s", buf);
			if ((until && !strcmp(cur, until)) || (count >= 0 && seen >= count))
				return 0;
		}
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
			fprintf(stderr, "luoctl: watch: poll: %s\n", strerror(errno));
			return 1;
		}
	}
}

int main(int argc, char **argv)
{
	static struct luoctl l = { .dev = -1 };
	const char *path = getenv("LUOCTL_SOCKET");
	const char *cmd;
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int rc;

	if (!path || !*path)
		path = DEFAULT_SOCKET;
	argv++;
	argc--;
	while (argc >= 2 && (!strcmp(argv[0], "-s") || !strcmp(argv[0], "--socket"))) {
		path = argv[1];
		argv += 2;
		argc -= 2;
	}
	if (argc < 1) {
		fputs(usage_text, stderr);
		return 2;
	}
	cmd = argv[0];
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "watch"))
		return cmd_watch(argc, argv);
	if (!strcmp(cmd, "daemon")) {
		if (argc != 1)
			return usage_error(stderr, "usage: daemon (the socket comes from -s)");
		return cmd_daemon(&l, path);
	}

	rc = client(path, argc, argv);
	if (rc >= 0)
		return rc;
	if (rc != -ENOENT && rc != -ECONNREFUSED) {
		fprintf(stderr, "luoctl: cannot reach the daemon at %s: %s: %s\n", path,
			errname(-rc), strerror(-rc));
		return 1;
	}

	/* Direct mode: nobody holds the device for us. */
	if (strcmp(cmd, "status") && strcmp(cmd, "restore") && strcmp(cmd, "finish") &&
	    strcmp(cmd, "kexec")) {
		if (strcmp(cmd, "preserve") && strcmp(cmd, "unpreserve") &&
		    strcmp(cmd, "prepare") && strcmp(cmd, "cancel") && strcmp(cmd, "stop"))
			return usage_error(stderr, "unknown command: %s", cmd);
		fprintf(stderr,
			"luoctl: %s: no luoctl daemon at %s: %s needs one, because closing %s releases every preserved file and cancels a prepared update (start: luoctl -s %s daemon)\n",
			cmd, path, cmd, LUO_DEVICE, path);
		return 1;
	}
	if (open_device(&l, stderr))
		return 1;
	out = open_memstream(&text, &len);
	if (!out)
		return 1;
	rc = run_command(&l, out, argc, argv);
	fclose(out);
	fputs(text, rc ? stderr : stdout);
	free(text);
	close(l.dev);
	return rc;
}
