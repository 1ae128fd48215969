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
struct page;

/**
 * memfd_luo_reserve - Account the blocks of a memfd being rebuilt, up front.
 * @file: A shmem file that nobody else uses yet.
 * @pages: The pages it will hold.
 *
 * Must be followed by memfd_luo_settle() with the same @pages once the
 * folios are in, whether all of them made it or not.
 *
 * Return: 0, or -ENOSPC / -ENOMEM.
 */
int memfd_luo_reserve(struct file *file, long pages);

/**
 * memfd_luo_settle - Count the pages reserved by memfd_luo_reserve() as the
 * file's; the part that did not make it into the page cache is released.
 * @file: The file.
 * @pages: The same number as for memfd_luo_reserve().
 */
void memfd_luo_settle(struct file *file, long pages);

/**
 * memfd_luo_add_folio - Put a restored folio into a new memfd.
 * @file: A shmem file that nobody else uses yet, with blocks reserved by
 *	memfd_luo_reserve().
 * @folio: A folio restored from KHO, with one reference, not in any page
 *	cache; its content becomes the file's content at @index.
 * @index: The page index of the folio in @file, a multiple of its size.
 *
 * The folio is charged to the current task's memory cgroup and added to
 * the page cache and LRU as an up-to-date, dirty shmem folio. On success
 * the caller's reference is consumed; on failure the caller keeps the
 * folio, its reference and its content, and may try again.
 *
 * Return: 0, or a negative errno (-EINVAL for a misaligned @index, -EEXIST
 * if @index is taken, -ENOMEM).
 */
int memfd_luo_add_folio(struct file *file, struct folio *folio, pgoff_t index);

/**
 * memfd_luo_add_pages - Put a restored range of single pages into a new memfd.
 * @file: As for memfd_luo_add_folio().
 * @page: The first of @nr contiguous pages restored from KHO with
 *	kho_restore_pages(), each with one reference.
 * @nr: How many.
 * @index: The page index in @file of the first one; the others follow.
 * @added: Where to store how many pages went into the file.
 *
 * Like memfd_luo_add_folio() for each page, but a batch of pages goes into
 * the page cache under one lock hold. The references of the first @added
 * pages are consumed; on failure the caller keeps the others, with their
 * references and content, and may try again from @page + @added.
 *
 * Return: 0, or a negative errno (-EEXIST if an index is taken, -ENOMEM).
 */
int memfd_luo_add_pages(struct file *file, struct page *page, unsigned long nr,
			pgoff_t index, unsigned long *added);

/**
 * struct memfd_luo_folio - Where a pinned folio is.
 * @pfn: Its first page frame.
 * @index: Its first page index in the file.
 * @order: It holds 1 << @order pages.
 */
struct memfd_luo_folio {
	unsigned long pfn;
	pgoff_t index;
	unsigned int order;
};

/**
 * memfd_luo_pin_folios - Pin the folios present in a shmem file.
 * @file: A shmem file.
 * @start: The first page index to look at; advanced past the folios
 *	returned, so that the next call goes on from there.
 * @end: The last page index to look at.
 * @folios: Receives the folios, in index order, each pinned (FOLL_PIN) once.
 * @info: Receives where each of them is.
 * @max: Room in @folios and @info.
 *
 * Unlike memfd_pin_folios() it leaves holes alone: only what the file holds
 * is pinned. A folio in memory where it may not stay pinned (CMA, such as
 * KHO scratch, or ZONE_MOVABLE) is migrated by memfd_pin_folios() first.
 * A folio that fallocate reserved but nobody wrote is zeroed and marked up
 * to date, so that it can be handed over as it reads.
 *
 * Return: the number of folios pinned, 0 when there are none left, or a
 * negative errno (then nothing stays pinned).
 */
long memfd_luo_pin_folios(struct file *file, pgoff_t *start, pgoff_t end,
			  struct folio **folios, struct memfd_luo_folio *info,
			  unsigned int max);

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
