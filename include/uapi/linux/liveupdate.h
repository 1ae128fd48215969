/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Live Update Orchestrator: the /dev/liveupdate interface.
 *
 * One privileged agent opens /dev/liveupdate (CAP_SYS_ADMIN, one opener at a
 * time) and drives a kexec-based live update with these ioctls. Every
 * argument struct starts with its own size, iommufd style: the kernel
 * accepts shorter structs that still contain every field it needs, and
 * longer ones whose unknown tail is zero.
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

#endif /* _UAPI_LINUX_LIVEUPDATE_H */
