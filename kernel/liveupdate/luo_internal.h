/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live Update Orchestrator: the interface between LUO's Rust crate and its
 * C files (luo_boot.c, luo_selftests.c). Nothing outside kernel/liveupdate/ may use it.
 *
 * rust/bindings/bindings_helper.h includes this header so that #[export]
 * checks the Rust definitions against these prototypes.
 */
#ifndef _KERNEL_LIVEUPDATE_LUO_INTERNAL_H
#define _KERNEL_LIVEUPDATE_LUO_INTERNAL_H

#include <linux/types.h>

/*
 * What liveupdate= chose, from early_param(): LUO off, or on with the uAPI
 * /dev/liveupdate speaks: Linux 7.3's sessions (liveupdate=on, as in 7.3,
 * or liveupdate=sessions) or the orchestration uAPI
 * (liveupdate=orchestration).
 */
enum luo_cmdline {
	LUO_OFF,
	LUO_SESSIONS,
	LUO_ORCHESTRATION,
};

void luo_cmdline_set(enum luo_cmdline value);

/* Allocates the orchestrator, at early_initcall. */
int luo_early_init(void);

/*
 * Test hook (CONFIG_LIVEUPDATE_SELFTESTS): enter UPDATED as if the previous
 * kernel had handed @data over for the subsystem @name.
 */
int luo_selftest_add_incoming(const char *name, u64 data);

/* Test hook: damage the hand-over right before kexec (LUO_DAMAGE_*). */
int luo_selftest_damage_handover(u32 how);

/*
 * FROZEN as the reboot path makes it, but without committing to a kexec:
 * CANCEL still works.
 */
int luo_selftest_freeze(void);

#endif /* _KERNEL_LIVEUPDATE_LUO_INTERNAL_H */
