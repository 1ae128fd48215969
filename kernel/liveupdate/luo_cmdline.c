// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update Orchestrator: the liveupdate= boot parameter.
 *
 * C glue, because early_param() works by placing a struct obs_kernel_param
 * in the .init.setup linker section, which Rust has no abstraction for.
 * This file only parses the value; the Rust crate owns the setting.
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
