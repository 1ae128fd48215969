/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Thin wrappers around the /dev/liveupdate ioctls of <linux/liveupdate.h>,
 * shared by luoctl, the liveupdate kselftests and the LUO-rs workbench.
 * Each fills the argument struct, sizes it, and returns what the ioctl
 * gives back (0, a state or a file descriptor) or -errno.
 */
#ifndef _LUO_IOCTL_H
#define _LUO_IOCTL_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/liveupdate.h>

#define LUO_DEVICE		"/dev/liveupdate"
#define LUO_SYSFS_STATE		"/sys/kernel/liveupdate/state"
#define LUO_SYSFS_HANDOVER	"/sys/kernel/liveupdate/handover"

/* Opens /dev/liveupdate: the fd, or -1 with errno set (like open()). */
static inline int luo_open(void)
{
	return open(LUO_DEVICE, O_RDWR | O_CLOEXEC);
}

/* LIVEUPDATE_IOCTL_GET_STATE: the global state, or -errno. */
static inline int luo_get_state(int fd)
{
	struct liveupdate_ioctl_get_state arg = { .size = sizeof(arg) };

	return ioctl(fd, LIVEUPDATE_IOCTL_GET_STATE, &arg) ? -errno : (int)arg.state;
}

/* LIVEUPDATE_IOCTL_SET_EVENT: 0 or -errno. */
static inline int luo_set_event(int fd, __u32 event)
{
	struct liveupdate_ioctl_set_event arg = { .size = sizeof(arg), .event = event };

	return ioctl(fd, LIVEUPDATE_IOCTL_SET_EVENT, &arg) ? -errno : 0;
}

/* LIVEUPDATE_IOCTL_FD_PRESERVE: 0 or -errno. */
static inline int luo_fd_preserve(int fd, int file, __u64 token)
{
	struct liveupdate_ioctl_fd_preserve arg = { .size = sizeof(arg), .fd = file,
						    .token = token };

	return ioctl(fd, LIVEUPDATE_IOCTL_FD_PRESERVE, &arg) ? -errno : 0;
}

/* LIVEUPDATE_IOCTL_FD_UNPRESERVE: 0 or -errno. */
static inline int luo_fd_unpreserve(int fd, __u64 token)
{
	struct liveupdate_ioctl_fd_unpreserve arg = { .size = sizeof(arg), .token = token };

	return ioctl(fd, LIVEUPDATE_IOCTL_FD_UNPRESERVE, &arg) ? -errno : 0;
}

/* LIVEUPDATE_IOCTL_FD_RESTORE: the new fd or -errno. */
static inline int luo_fd_restore(int fd, __u64 token)
{
	struct liveupdate_ioctl_fd_restore arg = { .size = sizeof(arg), .token = token };

	return ioctl(fd, LIVEUPDATE_IOCTL_FD_RESTORE, &arg) ? -errno : arg.fd;
}

/* LIVEUPDATE_IOCTL_GET_FD_STATE: the file's state or -errno. */
static inline int luo_fd_state(int fd, __u64 token, int incoming)
{
	struct liveupdate_ioctl_get_fd_state arg = { .size = sizeof(arg), .token = token,
						     .incoming = incoming };

	return ioctl(fd, LIVEUPDATE_IOCTL_GET_FD_STATE, &arg) ? -errno : (int)arg.state;
}

/* LIVEUPDATE_IOCTL_SET_FD_EVENT: 0 or -errno. */
static inline int luo_fd_event(int fd, __u64 token, __u32 event)
{
	struct liveupdate_ioctl_set_fd_event arg = { .size = sizeof(arg), .event = event,
						     .token = token };

	return ioctl(fd, LIVEUPDATE_IOCTL_SET_FD_EVENT, &arg) ? -errno : 0;
}

/*
 * The session uAPI (liveupdate=sessions). A name of 64 bytes or more fills
 * the buffer without a NUL (which the kernel refuses).
 */

static inline void luo_copy_name(__u8 *buf, const char *name)
{
	memcpy(buf, name, strnlen(name, LIVEUPDATE_SESSION_NAME_LENGTH));
}

/* LIVEUPDATE_IOCTL_CREATE_SESSION: the session fd or -errno. */
static inline int luo_create_session(int fd, const char *name)
{
	struct liveupdate_ioctl_create_session arg = { .size = sizeof(arg) };

	luo_copy_name(arg.name, name);
	return ioctl(fd, LIVEUPDATE_IOCTL_CREATE_SESSION, &arg) ? -errno : arg.fd;
}

/* LIVEUPDATE_IOCTL_RETRIEVE_SESSION: the session fd or -errno. */
static inline int luo_retrieve_session(int fd, const char *name)
{
	struct liveupdate_ioctl_retrieve_session arg = { .size = sizeof(arg) };

	luo_copy_name(arg.name, name);
	return ioctl(fd, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &arg) ? -errno : arg.fd;
}

/* LIVEUPDATE_SESSION_PRESERVE_FD: 0 or -errno. */
static inline int luo_session_preserve(int session, int file, __u64 token)
{
	struct liveupdate_session_preserve_fd arg = { .size = sizeof(arg), .fd = file,
						      .token = token };

	return ioctl(session, LIVEUPDATE_SESSION_PRESERVE_FD, &arg) ? -errno : 0;
}

/* LIVEUPDATE_SESSION_RETRIEVE_FD: the file's new fd or -errno. */
static inline int luo_session_retrieve(int session, __u64 token)
{
	struct liveupdate_session_retrieve_fd arg = { .size = sizeof(arg), .token = token };

	return ioctl(session, LIVEUPDATE_SESSION_RETRIEVE_FD, &arg) ? -errno : arg.fd;
}

/* LIVEUPDATE_SESSION_FINISH: 0 or -errno. */
static inline int luo_session_finish(int session)
{
	struct liveupdate_session_finish arg = { .size = sizeof(arg) };

	return ioctl(session, LIVEUPDATE_SESSION_FINISH, &arg) ? -errno : 0;
}

/* LIVEUPDATE_SESSION_GET_NAME into name[64]: 0 or -errno. */
static inline int luo_session_name(int session, char *name)
{
	struct liveupdate_session_get_name arg = { .size = sizeof(arg) };
	int ret = ioctl(session, LIVEUPDATE_SESSION_GET_NAME, &arg) ? -errno : 0;

	memcpy(name, arg.name, sizeof(arg.name));
	return ret;
}

#endif /* _LUO_IOCTL_H */
