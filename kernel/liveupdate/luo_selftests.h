/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live Update Orchestrator: the test hook (CONFIG_LIVEUPDATE_SELFTESTS).
 *
 * Shared by the kernel (luo_selftests.c) and the kselftests: ioctls on the
 * debugfs file liveupdate/luo_selftest that reach FROZEN without rebooting
 * and register test subsystems through the in-kernel C API.
 *
 * A test subsystem keeps a copy of a page given by user space. At prepare
 * it preserves that page with KHO and hands over its physical address as
 * its data. A subsystem whose name starts with "ksft_prepare_fail" fails
 * prepare, one starting with "ksft_freeze_fail" fails freeze, and one
 * starting with "ksft_prepare_slow" takes a second to prepare (to test
 * waiting for a running transition).
 */
#ifndef _KERNEL_LIVEUPDATE_LUO_SELFTESTS_H
#define _KERNEL_LIVEUPDATE_LUO_SELFTESTS_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define LUO_SELFTEST_DEBUGFS_DIR	"liveupdate"
#define LUO_SELFTEST_DEBUGFS_FILE	"luo_selftest"

/* Up to this many test subsystems at a time (more: -ENOSPC). */
#define LUO_SELFTEST_MAX_SUBSYSTEMS	16
#define LUO_SELFTEST_NAME_LENGTH	32
#define LUO_SELFTEST_PREPARE_FAIL	"ksft_prepare_fail"
#define LUO_SELFTEST_FREEZE_FAIL	"ksft_freeze_fail"
#define LUO_SELFTEST_PREPARE_SLOW	"ksft_prepare_slow"

/*
 * The test file handler: preserves the first 4080 bytes of a memfd whose
 * name starts with "ksft_" and restores them into a new memfd.
 */
#define LUO_SELFTEST_FILE_COMPATIBLE	"ksft-memfd-head-v1"

/**
 * struct liveupdate_selftest - argument of LIVEUPDATE_IOCTL_SELFTESTS
 * @cmd: LUO_CMD_SUBSYSTEM_*.
 * @arg: User pointer to a struct luo_arg_subsystem.
 */
struct liveupdate_selftest {
	__u64 cmd;
	__u64 arg;
};

/*
 * LUO_CMD_SUBSYSTEM_REGISTER: register a test subsystem named @name with a
 *	copy of the page at @data_page.
 * LUO_CMD_SUBSYSTEM_UNREGISTER: unregister the test subsystem @name.
 * LUO_CMD_SUBSYSTEM_GETDATA: copy the page that @name's data points to into
 *	@data_page: in UPDATED the page the previous kernel handed over,
 *	otherwise the page this kernel hands over. -ENODATA when there is none
 *	(not prepared, or cancelled).
 */
enum {
	LUO_CMD_SUBSYSTEM_REGISTER = 0,
	LUO_CMD_SUBSYSTEM_UNREGISTER = 1,
	LUO_CMD_SUBSYSTEM_GETDATA = 2,
	LUO_CMD_ENTER_UPDATED = 3,
	LUO_CMD_DAMAGE_HANDOVER = 4,
};

/*
 * LUO_CMD_DAMAGE_HANDOVER: @arg is not a pointer but one of these; the
 * hand-over is damaged that way right before the kexec (after FREEZE), so
 * that the next kernel must reject it. LUO_DAMAGE_NONE undoes it.
 */
enum {
	LUO_DAMAGE_NONE = 0,
	LUO_DAMAGE_MAGIC = 1,		/* not an FDT */
	LUO_DAMAGE_COMPATIBLE = 2,	/* unknown version */
	LUO_DAMAGE_TRUNCATED = 3,	/* FDT larger than the blob */
	LUO_DAMAGE_HUGE_LENGTH = 4,	/* property length past the end */
	LUO_DAMAGE_DUPLICATE = 5,	/* two subsystems, one name (needs two) */
	LUO_DAMAGE_DATA_SIZE = 6,	/* subsystem data is not a u64 */
	LUO_DAMAGE_MAX = LUO_DAMAGE_DATA_SIZE,
};

/**
 * struct luo_arg_incoming - LUO_CMD_ENTER_UPDATED: enter (or stay in) the
 *	UPDATED state as if the previous kernel had handed @data over for
 *	the subsystem @name, the path an accepted hand-over takes. Allowed in
 *	NORMAL and UPDATED; -EEXIST if @name already has data.
 * @name: NUL-terminated subsystem name.
 * @data: Its data.
 */
struct luo_arg_incoming {
	char name[LUO_SELFTEST_NAME_LENGTH];
	__u64 data;
};

/**
 * struct luo_arg_subsystem - a test subsystem
 * @name: NUL-terminated name.
 * @data_page: User pointer to one page (4096 bytes).
 */
struct luo_arg_subsystem {
	char name[LUO_SELFTEST_NAME_LENGTH];
	void *data_page;
};

/* Reach FROZEN without rebooting: runs the reboot path's freeze. */
#define LIVEUPDATE_IOCTL_FREEZE		_IO(0xBA, 0x05)
#define LIVEUPDATE_IOCTL_SELFTESTS	_IOWR(0xBA, 0x08, struct liveupdate_selftest)

#endif /* _KERNEL_LIVEUPDATE_LUO_SELFTESTS_H */
