// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update Orchestrator: /sys/kernel/liveupdate/state.
 *
 * C glue for now: 7.3's Rust has no kobject or sysfs attribute abstraction.
 * The file only reads the state through the public liveupdate_get_state(),
 * so it holds no state of its own.
 */
#include <linux/init.h>
#include <linux/kobject.h>
#include <linux/liveupdate.h>
#include <linux/sysfs.h>

static const char *const luo_state_names[] = {
	[LIVEUPDATE_STATE_NORMAL] = "normal",
	[LIVEUPDATE_STATE_PREPARED] = "prepared",
	[LIVEUPDATE_STATE_FROZEN] = "frozen",
	[LIVEUPDATE_STATE_UPDATED] = "updated",
};

static ssize_t state_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	enum liveupdate_state state = liveupdate_get_state();

	if (state >= ARRAY_SIZE(luo_state_names) || !luo_state_names[state])
		return -EIO;
	return sysfs_emit(buf, "%s\n", luo_state_names[state]);
}

static struct kobj_attribute state_attribute = __ATTR_RO(state);

static struct attribute *luo_attrs[] = {
	&state_attribute.attr,
	NULL,
};

static const struct attribute_group luo_attr_group = {
	.attrs = luo_attrs,
};

static int __init luo_sysfs_init(void)
{
	struct kobject *kobj;
	int err;

	if (!liveupdate_enabled())
		return 0;

	kobj = kobject_create_and_add("liveupdate", kernel_kobj);
	if (!kobj)
		return -ENOMEM;
	err = sysfs_create_group(kobj, &luo_attr_group);
	if (err)
		kobject_put(kobj);
	return err;
}
late_initcall(luo_sysfs_init);
