/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Live Update Orchestrator: the /dev/liveupdate interface.
 *
 * /dev/liveupdate speaks one of two interfaces, chosen at boot:
 *
 *  - liveupdate=orchestration: the orchestration interface (the first part
 *    of this file). One privileged agent opens /dev/liveupdate
 *    (CAP_SYS_ADMIN, one opener at a time) and drives a kexec-based live
 *    update through the global states with LIVEUPDATE_IOCTL_SET_EVENT.
 *  - liveupdate=on (as in Linux 7.3) or liveupdate=sessions: Linux 7.3's
 *    session interface (the second part). Whoever may open the device node
 *    (its mode decides; one opener at a time) creates named sessions, each
 *    a file descriptor of its own, and preserves files in them; the kexec
 *    reboot freezes every session.
 *
 * Their ioctl numbers overlap (both use type 0xBA from 0x00) and are not
 * told apart: a program must run on a kernel booted for the interface it
 * speaks, or its calls may be taken for the other interface's. Every argument
 * struct starts with its own size, iommufd style: the kernel accepts
 * shorter structs that still contain every field it needs, and longer ones
 * whose unknown tail is zero.
 */
#ifndef _UAPI_LINUX_LIVEUPDATE_H
#define _UAPI_LINUX_LIVEUPDATE_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define LIVEUPDATE_IOCTL_TYPE		0xBA

/**
 * enum liveupdate_state - Global state of a live update.
 * @LIVEUPDATE_STATE_UNDEFINED: Never reported; zero is not a valid state.
 * @LIVEUPDATE_STATE_NORMAL: No live update in progress.
 * @LIVEUPDATE_STATE_PREPARED: Subsystems and files have serialized their
 *	state; workloads still run.
 * @LIVEUPDATE_STATE_FROZEN: The blackout window just before kexec.
 * @LIVEUPDATE_STATE_UPDATED: The new kernel booted with live update data;
 *	consumers restore, then user space sends %LIVEUPDATE_FINISH.
 */
enum liveupdate_state {
	LIVEUPDATE_STATE_UNDEFINED = 0,
	LIVEUPDATE_STATE_NORMAL = 1,
	LIVEUPDATE_STATE_PREPARED = 2,
	LIVEUPDATE_STATE_FROZEN = 3,
	LIVEUPDATE_STATE_UPDATED = 4,
};

/**
 * enum liveupdate_event - Events that drive the state machine.
 * @LIVEUPDATE_PREPARE: NORMAL -> PREPARED.
 * @LIVEUPDATE_FREEZE: PREPARED -> FROZEN; sent by the kernel from
 *	reboot(LINUX_REBOOT_CMD_KEXEC), refused from LIVEUPDATE_IOCTL_SET_EVENT.
 * @LIVEUPDATE_FINISH: UPDATED -> NORMAL, once everything is restored.
 * @LIVEUPDATE_CANCEL: PREPARED or FROZEN -> NORMAL.
 */
enum liveupdate_event {
	LIVEUPDATE_PREPARE = 0,
	LIVEUPDATE_FREEZE = 1,
	LIVEUPDATE_FINISH = 2,
	LIVEUPDATE_CANCEL = 3,
};

/* The ioctl numbers, LIVEUPDATE_IOCTL_* below. */
enum {
	LIVEUPDATE_CMD_FD_PRESERVE = 0x00,
	LIVEUPDATE_CMD_FD_UNPRESERVE = 0x01,
	LIVEUPDATE_CMD_FD_RESTORE = 0x02,
	LIVEUPDATE_CMD_GET_STATE = 0x03,
	LIVEUPDATE_CMD_SET_EVENT = 0x04,
	LIVEUPDATE_CMD_GET_FD_STATE = 0x05,
	LIVEUPDATE_CMD_SET_FD_EVENT = 0x06,
};

/**
 * struct liveupdate_ioctl_fd_preserve - LIVEUPDATE_IOCTL_FD_PRESERVE
 * @size: sizeof(struct liveupdate_ioctl_fd_preserve)
 * @fd: The file to preserve.
 * @token: Caller-chosen key under which the file is kept and restored.
 *
 * Preserve the file @fd across the next live update, with the first file
 * handler that accepts it. Nothing is serialized before PREPARE (global or
 * per file). Allowed in the NORMAL and UPDATED states.
 */
struct liveupdate_ioctl_fd_preserve {
	__u32 size;
	__s32 fd;
	__aligned_u64 token;
};

#define LIVEUPDATE_IOCTL_FD_PRESERVE \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_FD_PRESERVE)

/**
 * struct liveupdate_ioctl_fd_unpreserve - LIVEUPDATE_IOCTL_FD_UNPRESERVE
 * @size: sizeof(struct liveupdate_ioctl_fd_unpreserve)
 * @reserved: Must be zero.
 * @token: The token given to LIVEUPDATE_IOCTL_FD_PRESERVE.
 *
 * Stop preserving a file; a prepared or frozen file is cancelled first.
 * Allowed in the NORMAL and UPDATED states.
 */
struct liveupdate_ioctl_fd_unpreserve {
	__u32 size;
	__u32 reserved;
	__aligned_u64 token;
};

#define LIVEUPDATE_IOCTL_FD_UNPRESERVE \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_FD_UNPRESERVE)

/**
 * struct liveupdate_ioctl_fd_restore - LIVEUPDATE_IOCTL_FD_RESTORE
 * @size: sizeof(struct liveupdate_ioctl_fd_restore)
 * @fd: Output: the new file descriptor, with O_CLOEXEC set.
 * @token: The token the file was preserved under in the previous kernel.
 *
 * Get back a file the previous kernel handed over. Allowed in the UPDATED
 * state only, once per token. On failure no file descriptor is installed.
 */
struct liveupdate_ioctl_fd_restore {
	__u32 size;
	__s32 fd;
	__aligned_u64 token;
};

#define LIVEUPDATE_IOCTL_FD_RESTORE \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_FD_RESTORE)

/**
 * struct liveupdate_ioctl_get_state - LIVEUPDATE_IOCTL_GET_STATE
 * @size: sizeof(struct liveupdate_ioctl_get_state)
 * @state: Output: the current &enum liveupdate_state.
 *
 * Read the global state.
 */
struct liveupdate_ioctl_get_state {
	__u32 size;
	__u32 state;
};

#define LIVEUPDATE_IOCTL_GET_STATE \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_GET_STATE)

/**
 * struct liveupdate_ioctl_set_event - LIVEUPDATE_IOCTL_SET_EVENT
 * @size: sizeof(struct liveupdate_ioctl_set_event)
 * @event: The &enum liveupdate_event to send (PREPARE, CANCEL or FINISH).
 *
 * Move the global state machine. FREEZE is refused: it comes from
 * reboot(LINUX_REBOOT_CMD_KEXEC).
 */
struct liveupdate_ioctl_set_event {
	__u32 size;
	__u32 event;
};

#define LIVEUPDATE_IOCTL_SET_EVENT \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SET_EVENT)

/**
 * struct liveupdate_ioctl_get_fd_state - LIVEUPDATE_IOCTL_GET_FD_STATE
 * @size: sizeof(struct liveupdate_ioctl_get_fd_state)
 * @incoming: 1 to ask about a file handed over by the previous kernel,
 *	0 about one preserved in this kernel.
 * @reserved: Must be zero.
 * @token: The file's token.
 * @state: Output: the file's &enum liveupdate_state.
 * @reserved2: Must be zero.
 *
 * Read the state of one file: NORMAL, PREPARED or FROZEN for a file
 * preserved in this kernel, UPDATED for one handed over by the previous
 * kernel that is not finished yet.
 */
struct liveupdate_ioctl_get_fd_state {
	__u32 size;
	__u8 incoming;
	__u8 reserved[3];
	__aligned_u64 token;
	__u32 state;
	__u32 reserved2;
};

#define LIVEUPDATE_IOCTL_GET_FD_STATE \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_GET_FD_STATE)

/**
 * struct liveupdate_ioctl_set_fd_event - LIVEUPDATE_IOCTL_SET_FD_EVENT
 * @size: sizeof(struct liveupdate_ioctl_set_fd_event)
 * @event: The &enum liveupdate_event to apply to this one file.
 * @token: The file's token.
 *
 * Move one file ahead of, or back from, the global state: PREPARE,
 * FREEZE and CANCEL act on a file preserved in this kernel while the
 * global state is NORMAL or UPDATED; FINISH acts on a file handed over by
 * the previous kernel, in the UPDATED state.
 */
struct liveupdate_ioctl_set_fd_event {
	__u32 size;
	__u32 event;
	__aligned_u64 token;
};

#define LIVEUPDATE_IOCTL_SET_FD_EVENT \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SET_FD_EVENT)

/*
 * The session interface (liveupdate=sessions), as in Linux 7.3.
 *
 * /dev/liveupdate takes LIVEUPDATE_IOCTL_CREATE_SESSION and
 * LIVEUPDATE_IOCTL_RETRIEVE_SESSION; each returns a session file descriptor
 * (an anonymous inode named "[luo_session] <name>", close-on-exec), which
 * takes the LIVEUPDATE_SESSION_* ioctls. Sessions outlive the
 * /dev/liveupdate file descriptor they were made with.
 *
 * Common errnos: EINVAL for an ioctl number out of the range of the file
 * descriptor it is sent to, for an ioctl that does not apply to this kind of
 * session (outgoing or incoming), for a struct shorter than its last field
 * and for a non-zero reserved field; ENOTTY for another ioctl encoding of an
 * in-range number; E2BIG for a non-zero tail past the struct; EFAULT.
 */

/* The maximum length of session name including null termination */
#define LIVEUPDATE_SESSION_NAME_LENGTH 64

/* The /dev/liveupdate ioctl commands */
enum {
	LIVEUPDATE_CMD_BASE = 0x00,
	LIVEUPDATE_CMD_CREATE_SESSION = LIVEUPDATE_CMD_BASE,
	LIVEUPDATE_CMD_RETRIEVE_SESSION = 0x01,
};

/* ioctl commands for session file descriptors */
enum {
	LIVEUPDATE_CMD_SESSION_BASE = 0x40,
	LIVEUPDATE_CMD_SESSION_PRESERVE_FD = LIVEUPDATE_CMD_SESSION_BASE,
	LIVEUPDATE_CMD_SESSION_RETRIEVE_FD = 0x41,
	LIVEUPDATE_CMD_SESSION_FINISH = 0x42,
	LIVEUPDATE_CMD_SESSION_GET_NAME = 0x43,
};

/**
 * struct liveupdate_ioctl_create_session - ioctl(LIVEUPDATE_IOCTL_CREATE_SESSION)
 * @size:	Input; sizeof(struct liveupdate_ioctl_create_session)
 * @fd:		Output; The new file descriptor for the created session.
 * @name:	Input; A null-terminated string for the session name, max
 *		length %LIVEUPDATE_SESSION_NAME_LENGTH including termination
 *		character.
 *
 * Creates a new outgoing session, whose files the next kexec reboot hands
 * over. Names are unique among outgoing sessions (EEXIST); an incoming
 * session may have the same name. Closing the session file descriptor
 * before the reboot unpreserves its files and frees the name.
 *
 * Return: 0 on success; EINVAL for an empty or unterminated name, EEXIST,
 * ENOSPC past the most sessions one hand-over carries, EMFILE, ENOMEM,
 * EBUSY once the reboot has frozen the sessions.
 */
struct liveupdate_ioctl_create_session {
	__u32		size;
	__s32		fd;
	__u8		name[LIVEUPDATE_SESSION_NAME_LENGTH];
};

#define LIVEUPDATE_IOCTL_CREATE_SESSION					\
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_CREATE_SESSION)

/**
 * struct liveupdate_ioctl_retrieve_session - ioctl(LIVEUPDATE_IOCTL_RETRIEVE_SESSION)
 * @size:    Input; sizeof(struct liveupdate_ioctl_retrieve_session)
 * @fd:      Output; The new file descriptor for the retrieved session.
 * @name:    Input; A null-terminated string identifying the session to retrieve.
 *           The name must exactly match the name used when the session was
 *           created in the previous kernel.
 *
 * Retrieves an incoming session, handed over by the previous kernel, by its
 * name. Its files are then retrieved with LIVEUPDATE_SESSION_RETRIEVE_FD.
 * Closing the session file descriptor finishes the session
 * (LIVEUPDATE_SESSION_FINISH) and forgets it.
 *
 * Return: 0 on success; ENOENT if no incoming session has this name
 * (among them: one finished and closed), EINVAL if it is already retrieved,
 * EMFILE, ENOMEM.
 */
struct liveupdate_ioctl_retrieve_session {
	__u32		size;
	__s32		fd;
	__u8		name[LIVEUPDATE_SESSION_NAME_LENGTH];
};

#define LIVEUPDATE_IOCTL_RETRIEVE_SESSION \
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_RETRIEVE_SESSION)

/* Session specific IOCTLs */

/**
 * struct liveupdate_session_preserve_fd - ioctl(LIVEUPDATE_SESSION_PRESERVE_FD)
 * @size:  Input; sizeof(struct liveupdate_session_preserve_fd)
 * @fd:    Input; The user-space file descriptor to be preserved.
 * @token: Input; An opaque, unique token for preserved resource.
 *
 * Preserves the file @fd in an outgoing session under @token, unique in
 * the session. Its handler serializes it at once (a memfd's size and seals
 * are frozen from then on; its contents stay writable); the kexec reboot
 * freezes it. The session holds its own reference: closing @fd changes
 * nothing.
 *
 * Return: 0 on success; EEXIST for a token already used in this session,
 * EBADF, ENOENT if no handler can preserve this file, EBUSY if the file is
 * already preserved (in any session) or the reboot has frozen the sessions,
 * ENOSPC, ENOMEM, or the handler's error.
 */
struct liveupdate_session_preserve_fd {
	__u32		size;
	__s32		fd;
	__aligned_u64	token;
};

#define LIVEUPDATE_SESSION_PRESERVE_FD					\
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_PRESERVE_FD)

/**
 * struct liveupdate_session_retrieve_fd - ioctl(LIVEUPDATE_SESSION_RETRIEVE_FD)
 * @size:  Input; sizeof(struct liveupdate_session_retrieve_fd)
 * @fd:    Output; The new file descriptor representing the fully restored
 *         kernel resource.
 * @token: Input; An opaque, token that was used to preserve the resource.
 *
 * Retrieves a file of an incoming session by the token it was preserved
 * with, as a new file descriptor (close-on-exec). Retrieving it again gives
 * another file descriptor of the same open file. If a retrieve of a token
 * fails, subsequent attempts to retrieve the token fail with the same error
 * code: failed retrieves are not retried.
 *
 * Return: 0 on success; ENOENT for an unknown token (or once the session
 * is finished), EMFILE, or the handler's error.
 */
struct liveupdate_session_retrieve_fd {
	__u32		size;
	__s32		fd;
	__aligned_u64	token;
};

#define LIVEUPDATE_SESSION_RETRIEVE_FD					\
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_RETRIEVE_FD)

/**
 * struct liveupdate_session_finish - ioctl(LIVEUPDATE_SESSION_FINISH)
 * @size:     Input; sizeof(struct liveupdate_session_finish)
 * @reserved: Input; Must be zero. Reserved for future use.
 *
 * Ends the restoration of an incoming session: LUO lets go of every file
 * of the session; the memory of files never retrieved is freed. The session
 * file descriptor stays open and the session empty; finishing it again
 * does nothing.
 *
 * Return: 0 on success; EINVAL for a non-zero @reserved.
 */
struct liveupdate_session_finish {
	__u32		size;
	__u32		reserved;
};

#define LIVEUPDATE_SESSION_FINISH					\
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_FINISH)

/**
 * struct liveupdate_session_get_name - ioctl(LIVEUPDATE_SESSION_GET_NAME)
 * @size:  Input; sizeof(struct liveupdate_session_get_name)
 * @reserved: Input; Must be zero. Reserved for future use.
 * @name:  Output; A null-terminated string with the full session name.
 *
 * Retrieves the full name of the session associated with this file descriptor.
 * This is useful because the kernel may truncate the name shown in /proc.
 *
 * Return: 0 on success, negative error code on failure.
 */
struct liveupdate_session_get_name {
	__u32		size;
	__u32		reserved;
	__u8		name[LIVEUPDATE_SESSION_NAME_LENGTH];
};

#define LIVEUPDATE_SESSION_GET_NAME					\
	_IO(LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_CMD_SESSION_GET_NAME)

#endif /* _UAPI_LINUX_LIVEUPDATE_H */
