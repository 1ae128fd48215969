/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live Update Orchestrator: the interface between LUO's Rust crate and its
 * C glue (luo_boot.c). Nothing outside kernel/liveupdate/ may use it.
 *
 * rust/bindings/bindings_helper.h includes this header so that #[export]
 * checks the Rust definitions against these prototypes.
 */
#ifndef _KERNEL_LIVEUPDATE_LUO_INTERNAL_H
#define _KERNEL_LIVEUPDATE_LUO_INTERNAL_H

#include <linux/types.h>

/* liveupdate=<bool>, from early_param(). */
void luo_cmdline_set_enabled(bool enabled);

/* Allocates the orchestrator, at early_initcall. */
int luo_early_init(void);

#endif /* _KERNEL_LIVEUPDATE_LUO_INTERNAL_H */
