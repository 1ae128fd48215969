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

#include <linux/types.h>
#include <uapi/linux/liveupdate.h>

#ifdef CONFIG_LIVEUPDATE

/**
 * liveupdate_enabled - Is live update enabled on this boot?
 *
 * Return: true when the kernel was booted with liveupdate=on.
 */
bool liveupdate_enabled(void);

/**
 * liveupdate_reboot - Freeze a prepared live update before kexec.
 *
 * Called by kernel_kexec() just before the jump to the next kernel. In the
 * NORMAL state there is nothing to hand over and it returns 0.
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

#endif /* CONFIG_LIVEUPDATE */
#endif /* _LINUX_LIVEUPDATE_H */
