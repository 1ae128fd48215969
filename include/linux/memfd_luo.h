/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memfd live update: the C helpers of mm/memfd_luo/.
 *
 * The memfd file handler is written in Rust (mm/memfd_luo/, through the
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
 * memfd_luo_page_order - What kind of memfd a file is.
 * @file: Any file.
 *
 * Return: 0 for a shmem file, the order of its huge pages for a hugetlbfs
 * file, -EINVAL for any other file.
 */
int memfd_luo_page_order(struct file *file);

/**
 * memfd_luo_freeze - Freeze or thaw a memfd's mapping for a live update.
 * @file: A shmem or hugetlbfs file whose inode lock the caller holds.
 * @freeze: Whether to freeze or thaw.
 *
 * While frozen, changing the file's size, writing past its end, fallocate()
 * and adding seals fail with -EPERM (shmem_freeze(), hugetlbfs_freeze()).
 */
void memfd_luo_freeze(struct file *file, bool freeze);

/**
 * memfd_luo_reserve - Account the blocks of pages about to go into a memfd
 * being rebuilt.
 * @file: A shmem file that nobody else uses yet.
 * @pages: How many pages; call it again for the next ones, once those
 *	taken back from KHO count as the system's memory again (until
 *	then, a file bigger than the rest of memory would not fit).
 *
 * Must be followed by memfd_luo_settle() with the sum of the @pages once
 * the folios are in, whether all of them made it or not.
 *
 * Return: 0, or -ENOSPC / -ENOMEM.
 */
int memfd_luo_reserve(struct file *file, long pages);

/**
 * memfd_luo_settle - Count the pages reserved by memfd_luo_reserve() as the
 * file's; the part that did not make it into the page cache is released.
 * @file: The file.
 * @pages: The sum of the numbers given to memfd_luo_reserve().
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
 * memfd_luo_add_hugetlb_folio - Put a restored huge page into a new
 *	hugetlb memfd.
 * @file: A hugetlb memfd that nobody else uses yet.
 * @folio: A compound folio of the file's huge page size restored from KHO,
 *	with one reference, not in any page cache; its content becomes the
 *	file's content at @index.
 * @index: The page index of the folio in @file, a multiple of its size.
 *
 * hugetlb_add_preserved_folio() does the work: the folio becomes an in-use
 * huge page of the file, charged like one a fault allocates. On success
 * the caller's reference is consumed; on failure the caller keeps the folio
 * as it was, and may try again.
 *
 * Return: 0, or a negative errno (-EINVAL for a folio of another size or
 * a misaligned @index, -EEXIST if @index is taken, -EAGAIN if someone
 * else holds a reference to the folio right now, -ENOSPC for a hugetlb
 * cgroup limit, -ENOMEM).
 */
int memfd_luo_add_hugetlb_folio(struct file *file, struct folio *folio, pgoff_t index);

/**
 * memfd_luo_add_pages - Put a restored range of single pages into a new memfd.
 * @file: As for memfd_luo_add_folio().
 * @pfn: The page frame of the first of @nr physically contiguous pages
 *	restored from KHO with kho_restore_pages(), each with one reference.
 *	They are reached by page frame number: the memory map of a physical
 *	range need not be virtually contiguous without SPARSEMEM_VMEMMAP.
 * @nr: How many.
 * @index: The page index in @file of the first one; the others follow.
 * @added: Where to store how many pages went into the file.
 *
 * Like memfd_luo_add_folio() for each page, but a batch of pages goes into
 * the page cache under one lock hold. The references of the first @added
 * pages are consumed; on failure the caller keeps the others, with their
 * references and content, and may try again from @pfn + @added.
 *
 * Return: 0, or a negative errno (-EEXIST if an index is taken, -ENOMEM).
 */
int memfd_luo_add_pages(struct file *file, unsigned long pfn, unsigned long nr,
			pgoff_t index, unsigned long *added);

/**
 * struct memfd_luo_folios - Folios held by memfd_luo_hold_folios() that
 *	follow each other in the file and in memory.
 * @pfn: The first page frame of the first folio.
 * @index: Its page index in the file.
 * @order: Each folio holds 1 << @order pages.
 * @nr: How many folios, physically contiguous from @pfn, holding the
 *	file's pages from @index on.
 */
struct memfd_luo_folios {
	unsigned long pfn;
	pgoff_t index;
	unsigned int order;
	unsigned long nr;
};

/**
 * memfd_luo_hold_folios - Hold the folios present in a memfd.
 * @file: A shmem or hugetlbfs file whose mapping is frozen (shmem_freeze(),
 *	hugetlbfs_freeze()).
 * @start: The first page index to look at; advanced past the folios
 *	returned, so that the next call goes on from there.
 * @end: The last page index to look at.
 * @folios: Receives the folios held, in index order, each entry as many
 *	as follow each other in the file and in memory with one order.
 * @max: Room in @folios, in entries.
 *
 * Takes one reference on each folio the file holds from @start on, a few
 * thousand folios per call: with the mapping frozen, that keeps the folio
 * where it is and in the file (migration, compaction, splitting, collapse
 * and swap-out all give up on a folio with a reference they do not know
 * about; collapse looks once, under the folio locks, so each folio is
 * checked under its lock to be still in the file once the reference is
 * taken). Unlike memfd_pin_folios() it leaves holes alone: only what the
 * file holds is taken; a page out on swap is read back first. A folio in
 * memory where it may not stay (CMA, such as KHO scratch, or ZONE_MOVABLE)
 * is migrated by memfd_pin_folios() first (a hugetlbfs huge page whole,
 * if a huge page is free outside CMA to take it, else -ENOMEM; a shmem
 * large folio split into small ones if none is). A folio that fallocate
 * reserved but nobody wrote is zeroed and marked up to date, so that it can
 * be handed over as it reads. The caller drops the references with
 * folio_put().
 *
 * Return: the number of entries written, 0 when there is nothing left, or
 * a negative errno (then nothing is held from this call): -EAGAIN if a
 * large folio that must be split stayed busy, -ENOMEM, -EINTR.
 */
long memfd_luo_hold_folios(struct file *file, pgoff_t *start, pgoff_t end,
			   struct memfd_luo_folios *folios, unsigned int max);

/**
 * memfd_luo_allocs - How many pages were ever allocated to a memfd.
 * @file: A shmem or hugetlbfs file.
 *
 * The count only grows: a page written or faulted into a hole, or
 * fallocated, adds to it; swapping out and in, migrating and freeing do
 * not. With the mapping frozen only a hole being filled can add to it, so
 * two equal readings mean no hole was filled in between. A reading taken
 * before a walk of the page cache is ordered before it: the count is read
 * under info->lock, which shmem updates it under after inserting the page
 * (khugepaged's collapse counts before it inserts; a collapse racing with
 * the walk is not covered by this count).
 *
 * For a hugetlbfs file the count is its i_blocks in pages, which only
 * grows while frozen (hugetlbfs_freeze()): only truncation (to the same
 * size too) and punching holes take from it, and the freeze refuses both.
 *
 * Return: the count.
 */
unsigned long memfd_luo_allocs(struct file *file);

/**
 * memfd_luo_swap_in - Bring a shmem file's swapped-out pages back.
 * @file: A shmem file; a hugetlbfs file, which has no swap, is left alone.
 *
 * Pages of a shmem file that are out on swap are not in its page cache; a
 * live update only carries memory, so they are read back first.
 *
 * Return: 0, or a negative errno from reading a page back.
 */
int memfd_luo_swap_in(struct file *file);

#endif /* _LINUX_MEMFD_LUO_H */
