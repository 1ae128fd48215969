// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update Orchestrator: boot-time hooks.
 *
 * C glue, because both hooks work by placing an entry in a linker section
 * (.init.setup for early_param(), .initcallearly.init for early_initcall())
 * and Rust has no abstraction for either. Built-in Rust code otherwise
 * starts at device_initcall, too late for drivers that register from
 * earlier initcalls. This file only forwards to the Rust crate.
 */
#include <linux/errno.h>
#include <linux/init.h>
#include <linux/kstrtox.h>

#include "luo_internal.h"

static int __init liveupdate_setup(char *str)
{
	bool enabled;

	if (!str || kstrtobool(str, &enabled))
		return -EINVAL;
	luo_cmdline_set_enabled(enabled);
	return 0;
}
early_param("liveupdate", liveupdate_setup);

static int __init liveupdate_early_init(void)
{
	return luo_early_init();
}
early_initcall(liveupdate_early_init);
