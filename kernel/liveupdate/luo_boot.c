// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update Orchestrator: boot-time hooks and exports.
 *
 * C glue, because each of these works by placing an entry in a linker
 * section (.init.setup for early_param(), .initcallearly.init for
 * early_initcall(), __ksymtab for EXPORT_SYMBOL_GPL()) and Rust has no
 * abstraction for any of them. Built-in Rust code otherwise starts at
 * device_initcall, too late for drivers that register from earlier
 * initcalls. This file only forwards to the Rust crate.
 */
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/kstrtox.h>
#include <linux/liveupdate.h>
#include <linux/string.h>

#include "luo_internal.h"

static int __init liveupdate_setup(char *str)
{
	bool enabled;

	if (!str)
		return -EINVAL;
	if (!strcmp(str, "orchestration"))
		luo_cmdline_set(LUO_ORCHESTRATION);
	else if (!strcmp(str, "sessions"))
		luo_cmdline_set(LUO_SESSIONS);
	else if (!kstrtobool(str, &enabled))
		luo_cmdline_set(enabled ? LUO_SESSIONS : LUO_OFF);
	else
		return -EINVAL;
	return 0;
}
early_param("liveupdate", liveupdate_setup);

static int __init liveupdate_early_init(void)
{
	return luo_early_init();
}
early_initcall(liveupdate_early_init);

/*
 * The interface of include/linux/liveupdate.h, implemented in Rust (api.rs)
 * with #[export], for modules. liveupdate_reboot() is for kernel_kexec()
 * alone.
 */
EXPORT_SYMBOL_GPL(liveupdate_enabled);
EXPORT_SYMBOL_GPL(liveupdate_get_state);
EXPORT_SYMBOL_GPL(liveupdate_state_updated);
EXPORT_SYMBOL_GPL(liveupdate_state_normal);
EXPORT_SYMBOL_GPL(liveupdate_register_subsystem);
EXPORT_SYMBOL_GPL(liveupdate_unregister_subsystem);
EXPORT_SYMBOL_GPL(liveupdate_unregister_subsystem_sync);
EXPORT_SYMBOL_GPL(liveupdate_get_subsystem_data);
EXPORT_SYMBOL_GPL(liveupdate_register_file_handler);
EXPORT_SYMBOL_GPL(liveupdate_unregister_file_handler);
EXPORT_SYMBOL_GPL(liveupdate_unregister_file_handler_sync);
