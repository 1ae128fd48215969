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
 * liveupdate=<bool> or liveupdate=sessions, from early_param(): whether LUO
 * is enabled, and with @sessions, that /dev/liveupdate speaks the session
 * interface.
 */
void luo_cmdline_set(bool enabled, bool sessions);

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
