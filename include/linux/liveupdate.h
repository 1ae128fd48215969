/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live Update Orchestrator (LUO): the in-kernel interface.
 *
 * LUO is written in Rust (kernel/liveupdate/); the functions below are
 * exported from Rust with #[export], which checks at build time that the
 * Rust signatures match these prototypes.
 */
#ifndef _LINUX_LIVEUPDATE_H
#define _LINUX_LIVEUPDATE_H

#include <linux/errno.h>
#include <linux/types.h>
#include <uapi/linux/liveupdate.h>

struct file;
struct liveupdate_file_handler;
struct liveupdate_subsystem;
struct module;

/**
 * struct liveupdate_subsystem_ops - Callbacks of a live-updatable subsystem.
 * @prepare: NORMAL -> PREPARED: serialize the state to hand over and store
 *	a u64 describing it (typically the physical address of KHO-preserved
 *	memory) in @data. Workloads keep running. Optional.
 * @freeze: PREPARED -> FROZEN, in the reboot path just before kexec: the
 *	final, fast update. @data holds the value from @prepare and may be
 *	changed. Optional.
 * @cancel: Undo @prepare (and @freeze); called with the latest data. Must
 *	not fail. Optional.
 * @boot: In the next kernel, the data the previous kernel handed over;
 *	called at registration when the subsystem has incoming data. Optional.
 * @finish: The update is complete (UPDATED -> NORMAL); release what was
 *	restored. Called with the incoming data, or 0. Must not fail. Optional.
 * @owner: The module providing the callbacks; LUO holds a reference on it
 *	while a live update uses the subsystem (from PREPARE until CANCEL,
 *	and in an updated kernel until FINISH): the module cannot be removed
 *	meanwhile.
 *
 * Callbacks run in process context with LUO's transitions serialized; they
 * may sleep, and must not register or unregister subsystems.
 */
struct liveupdate_subsystem_ops {
	int (*prepare)(struct liveupdate_subsystem *h, u64 *data);
	int (*freeze)(struct liveupdate_subsystem *h, u64 *data);
	void (*cancel)(struct liveupdate_subsystem *h, u64 data);
	void (*boot)(struct liveupdate_subsystem *h, u64 data);
	void (*finish)(struct liveupdate_subsystem *h, u64 data);
	struct module *owner;
};

/**
 * struct liveupdate_subsystem - A subsystem that takes part in live update.
 * @ops: Its callbacks.
 * @name: Unique name; it keys the data handed to the next kernel, so the
 *	same subsystem must use the same name in both kernels.
 *
 * Embed it in your own structure and use container_of() in the callbacks.
 * It must stay valid while registered. LUO keeps its bookkeeping to itself.
 */
struct liveupdate_subsystem {
	const struct liveupdate_subsystem_ops *ops;
	const char *name;
};

/**
 * struct liveupdate_file_ops - Callbacks of a handler of preserved files.
 * @prepare: Serialize @file for the next kernel (at the global or a per-file
 *	PREPARE) and store a u64 describing it in @data. Required.
 * @freeze: Final update just before kexec, for a file in the PREPARED
 *	state (one frozen by a per-file FREEZE keeps its data); may change
 *	@data. Optional.
 * @cancel: Undo @prepare (and @freeze); called with the latest data.
 *	Required.
 * @finish: In the next kernel, at FINISH, for every incoming file of this
 *	handler: @reclaimed tells whether it was restored (then @file is the
 *	restored file), otherwise @file is NULL and the handler frees what it
 *	kept. Required.
 * @retrieve: In the next kernel, rebuild a file from @data and return it
 *	(one reference) in @file. Required.
 * @can_preserve: Whether this handler can preserve @file. Required.
 * @owner: The module providing the callbacks; LUO holds a reference on it
 *	for each file preserved with the handler, and while a live update
 *	uses the handler (as for subsystems).
 *
 * Callbacks run in process context and may sleep; nothing handed over by
 * the previous kernel may be trusted by @retrieve and @finish. They must
 * not register or unregister subsystems or handlers. @can_preserve runs
 * with LUO's lock held: it must not call LUO functions other than the
 * state queries.
 */
struct liveupdate_file_ops {
	int (*prepare)(struct liveupdate_file_handler *h, struct file *file, u64 *data);
	int (*freeze)(struct liveupdate_file_handler *h, struct file *file, u64 *data);
	void (*cancel)(struct liveupdate_file_handler *h, struct file *file, u64 data);
	void (*finish)(struct liveupdate_file_handler *h, struct file *file, u64 data,
		       bool reclaimed);
	int (*retrieve)(struct liveupdate_file_handler *h, u64 data, struct file **file);
	bool (*can_preserve)(struct liveupdate_file_handler *h, struct file *file);
	struct module *owner;
};

/**
 * struct liveupdate_file_handler - A handler of preserved files.
 * @ops: Its callbacks.
 * @compatible: Unique name of the handler and of its data format (for
 *	example "memfd-v1"); the next kernel picks the handler by it.
 *
 * Embed it in your own structure and use container_of() in the callbacks.
 * It must stay valid while registered.
 */
struct liveupdate_file_handler {
	const struct liveupdate_file_ops *ops;
	const char *compatible;
};

#ifdef CONFIG_LIVEUPDATE

/**
 * liveupdate_enabled - Is live update enabled on this boot?
 *
 * Return: true when the kernel was booted with live update on (liveupdate=on,
 * sessions or orchestration: either uAPI).
 */
bool liveupdate_enabled(void);

/**
 * liveupdate_reboot - Freeze a prepared live update before kexec.
 *
 * Called by kernel_kexec() just before the jump to the next kernel. A
 * PREPARED update becomes FROZEN: every subsystem's freeze() runs. If one
 * fails, the whole update is cancelled (state NORMAL) and the error is
 * returned, which makes the kexec fail. Without a prepared update there is
 * nothing to hand over and it returns 0.
 *
 * Return: 0 when the kexec may go on, a negative errno to abort it.
 */
int liveupdate_reboot(void);

/**
 * liveupdate_get_state - The current global live update state.
 *
 * Return: one of LIVEUPDATE_STATE_NORMAL, _PREPARED, _FROZEN or _UPDATED.
 */
enum liveupdate_state liveupdate_get_state(void);

/**
 * liveupdate_state_updated - Did this kernel boot from a live update that
 * has not finished yet?
 *
 * Return: true in the UPDATED state.
 */
bool liveupdate_state_updated(void);

/**
 * liveupdate_state_normal - Is no live update in progress?
 *
 * Return: true in the NORMAL state.
 */
bool liveupdate_state_normal(void);

/**
 * liveupdate_register_subsystem - Take part in live updates.
 * @h: The subsystem; stays valid until unregistered.
 *
 * Allowed in NORMAL and UPDATED; waits for a running transition. In UPDATED,
 * a subsystem for which the previous kernel handed over data gets its
 * boot() callback before this returns. Works from any initcall level.
 *
 * Registration does not depend on liveupdate=: it also succeeds when live
 * update is disabled, and then nothing is ever prepared.
 *
 * Return: 0; -EINVAL for a NULL @h, a subsystem without ops or name, or a
 * name that cannot key the hand-over (1 to 63 characters from
 * [0-9a-zA-Z,._+?#-], neither "compatible" nor "file-descriptors");
 * -EBUSY in the PREPARED or FROZEN state; -EEXIST if @h or its name is
 * registered; -EAGAIN if the owner module is going away; -ENODEV before
 * LUO is set up (early_initcall); -ENOMEM.
 */
int liveupdate_register_subsystem(struct liveupdate_subsystem *h);

/**
 * liveupdate_unregister_subsystem - Stop taking part in live updates.
 * @h: A registered subsystem.
 *
 * Return: 0; -EBUSY in the PREPARED or FROZEN state; -ENOENT if @h is not
 * registered.
 */
int liveupdate_unregister_subsystem(struct liveupdate_subsystem *h);

/**
 * liveupdate_unregister_subsystem_sync - Unregister, waiting if need be.
 * @h: A registered subsystem.
 *
 * As liveupdate_unregister_subsystem(), but where that returns -EBUSY it
 * waits, uninterruptibly, until the live update in progress no longer
 * needs @h (CANCEL, or the kexec), without counting as a hung task. For
 * teardown paths that cannot fail. A module's exit never waits here: LUO
 * holds a reference on the module while it is in use, so its exit cannot
 * run meanwhile. A module's init that fails after a PREPARE took the
 * module in may wait, and must use this variant.
 *
 * Return: 0; -ENOENT if @h is not registered.
 */
int liveupdate_unregister_subsystem_sync(struct liveupdate_subsystem *h);

/**
 * liveupdate_get_subsystem_data - The data the previous kernel handed over.
 * @h: A registered subsystem.
 * @data: Output.
 *
 * Return: 0; -EBUSY outside the UPDATED state; -ENOENT if @h is not
 * registered; -ENODATA if the previous kernel handed nothing over for it.
 */
int liveupdate_get_subsystem_data(struct liveupdate_subsystem *h, u64 *data);

/**
 * liveupdate_register_file_handler - Handle a kind of preserved files.
 * @h: The handler; stays valid until unregistered.
 *
 * Allowed in NORMAL and UPDATED. FD_PRESERVE picks the first registered
 * handler whose can_preserve() accepts the file.
 *
 * Return: 0; -EINVAL for a NULL @h, a handler without ops, required
 * callbacks or compatible, or a compatible that is not a valid name (as for
 * subsystem names, see liveupdate_register_subsystem()); -EBUSY in the
 * PREPARED or FROZEN state; -EEXIST if @h or its compatible is registered;
 * -EAGAIN if the owner module is going away; -ENODEV before LUO is set up
 * (early_initcall); -ENOMEM.
 */
int liveupdate_register_file_handler(struct liveupdate_file_handler *h);

/**
 * liveupdate_unregister_file_handler - Stop handling preserved files.
 * @h: A registered handler.
 *
 * Return: 0; -EBUSY in the PREPARED or FROZEN state or while a preserved
 * file uses @h; -ENOENT if @h is not registered.
 */
int liveupdate_unregister_file_handler(struct liveupdate_file_handler *h);

/**
 * liveupdate_unregister_file_handler_sync - Unregister, waiting if need be.
 * @h: A registered handler.
 *
 * As liveupdate_unregister_file_handler(), but where that returns -EBUSY
 * it waits, uninterruptibly, until no live update and no preserved file
 * uses @h any more. As for liveupdate_unregister_subsystem_sync(), a
 * module's exit never waits here.
 *
 * Return: 0; -ENOENT if @h is not registered.
 */
int liveupdate_unregister_file_handler_sync(struct liveupdate_file_handler *h);

#else /* CONFIG_LIVEUPDATE */

static inline bool liveupdate_enabled(void)
{
	return false;
}

static inline int liveupdate_reboot(void)
{
	return 0;
}

static inline enum liveupdate_state liveupdate_get_state(void)
{
	return LIVEUPDATE_STATE_NORMAL;
}

static inline bool liveupdate_state_updated(void)
{
	return false;
}

static inline bool liveupdate_state_normal(void)
{
	return true;
}

static inline int liveupdate_register_subsystem(struct liveupdate_subsystem *h)
{
	return 0;
}

static inline int liveupdate_unregister_subsystem(struct liveupdate_subsystem *h)
{
	return 0;
}

static inline int liveupdate_unregister_subsystem_sync(struct liveupdate_subsystem *h)
{
	return 0;
}

static inline int liveupdate_get_subsystem_data(struct liveupdate_subsystem *h,
						u64 *data)
{
	return -ENODATA;
}

static inline int liveupdate_register_file_handler(struct liveupdate_file_handler *h)
{
	return 0;
}

static inline int liveupdate_unregister_file_handler(struct liveupdate_file_handler *h)
{
	return 0;
}

static inline int liveupdate_unregister_file_handler_sync(struct liveupdate_file_handler *h)
{
	return 0;
}

#endif /* CONFIG_LIVEUPDATE */
#endif /* _LINUX_LIVEUPDATE_H */
