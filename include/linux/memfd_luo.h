/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memfd live update: the C helpers of mm/memfd_luo.rs.
 *
 * The memfd file handler is written in Rust (mm/memfd_luo.rs, through the
 * safe abstraction rust/kernel/memfd.rs). Putting a folio handed over by the
 * previous kernel into a shmem page cache takes functions of mm/internal.h,
 * which only code in mm/ may call: they are wrapped here.
 */
#ifndef _LINUX_MEMFD_LUO_H
#define _LINUX_MEMFD_LUO_H

#include <linux/types.h>

struct file;
struct folio;

/**
 * memfd_luo_add_folio - Put a restored folio into a new memfd.
 * @file: A shmem file that nobody else uses yet.
 * @folio: A folio restored from KHO, with one reference, not in any page
 *	cache; its content becomes the file's content at @index.
 * @index: The page index of the folio in @file, a multiple of its size.
 *
 * The folio is charged to the current task's memory cgroup, added to the
 * page cache and LRU as an up-to-date, dirty shmem folio, and accounted to
 * the file. The caller's reference is consumed in every case: on failure
 * the folio is freed.
 *
 * Return: 0, or a negative errno (-EEXIST if @index is taken, -ENOMEM,
 * -ENOSPC).
 */
int memfd_luo_add_folio(struct file *file, struct folio *folio, pgoff_t index);

/**
 * memfd_luo_swap_in - Bring a shmem file's swapped-out pages back.
 * @file: A shmem file.
 *
 * Pages of a shmem file that are out on swap are not in its page cache; a
 * live update only carries memory, so they are read back first.
 *
 * Return: 0, or a negative errno from reading a page back.
 */
int memfd_luo_swap_in(struct file *file);

#endif /* _LINUX_MEMFD_LUO_H */
