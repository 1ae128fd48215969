// SPDX-License-Identifier: GPL-2.0
/*
 * memfd live update: the part of mm/memfd_luo.rs that needs mm/internal.h.
 *
 * See include/linux/memfd_luo.h.
 */

#include <linux/fault-inject.h>
#include <linux/fs.h>
#include <linux/folio_batch.h>
#include <linux/highmem.h>
#include <linux/huge_mm.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/memfd_luo.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>
#include <linux/xarray.h>

#include "internal.h"

#ifdef CONFIG_FAULT_INJECTION
/*
 * fail_memfd_luo: fails putting restored memory into a new memfd, like a
 * memory cgroup charge or an xarray node allocation that fails after the
 * first part of a file is in (Documentation/mm/memfd_preservation.rst).
 */
static DECLARE_FAULT_ATTR(fail_memfd_luo);

#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
static int __init fail_memfd_luo_debugfs(void)
{
	return PTR_ERR_OR_ZERO(fault_create_debugfs_attr("fail_memfd_luo", NULL,
							 &fail_memfd_luo));
}
late_initcall(fail_memfd_luo_debugfs);
#endif

static bool memfd_luo_should_fail(void)
{
	return should_fail(&fail_memfd_luo, 1);
}
#else
static inline bool memfd_luo_should_fail(void)
{
	return false;
}
#endif

int memfd_luo_reserve(struct file *file, long pages)
{
	return shmem_inode_acct_blocks(file_inode(file), pages);
}

void memfd_luo_settle(struct file *file, long pages)
{
	/* Counts @pages as the file's; what is not in the page cache is released. */
	shmem_recalc_inode(file_inode(file), pages, 0);
}

int memfd_luo_add_folio(struct file *file, struct folio *folio, pgoff_t index)
{
	struct address_space *mapping = file_inode(file)->i_mapping;
	gfp_t gfp = mapping_gfp_mask(mapping);
	int err;

	if (!IS_ALIGNED(index, folio_nr_pages(folio)))
		return -EINVAL;
	if (memfd_luo_should_fail())
		return -ENOMEM;

	/* A large folio restored by KHO is compound but not yet rmappable. */
	page_rmappable_folio(&folio->page);
	__folio_set_locked(folio);
	__folio_set_swapbacked(folio);

	err = mem_cgroup_charge(folio, NULL, gfp);
	if (err)
		goto fail;
	err = shmem_add_to_page_cache(folio, mapping, index, NULL, gfp);
	if (err) {
		mem_cgroup_uncharge(folio);
		goto fail;
	}
	folio_mark_uptodate(folio);
	folio_mark_dirty(folio);
	folio_add_lru(folio);
	folio_unlock(folio);
	folio_put(folio);
	return 0;
fail:
	/* The caller keeps the folio and may try again. */
	__folio_clear_swapbacked(folio);
	__folio_clear_locked(folio);
	return err;
}

/* A folio fallocate reserved but nobody wrote holds stale bytes: zero it. */
static void memfd_luo_make_uptodate(struct folio *folio)
{
	if (folio_test_uptodate(folio))
		return;
	folio_lock(folio);
	if (!folio_test_uptodate(folio)) {
		folio_zero_range(folio, 0, folio_size(folio));
		flush_dcache_folio(folio);
		folio_mark_uptodate(folio);
	}
	folio_unlock(folio);
}

/* The pages of a range go into the page cache this many per lock hold. */
#define MEMFD_LUO_BATCH 64

int memfd_luo_add_pages(struct file *file, struct page *page, unsigned long nr,
			pgoff_t index, unsigned long *added)
{
	struct address_space *mapping = file_inode(file)->i_mapping;
	gfp_t gfp = mapping_gfp_mask(mapping);
	unsigned long done = 0, i;
	int err = 0;

	while (done < nr && !err) {
		unsigned long n = min(nr - done, MEMFD_LUO_BATCH), ready, in = 0;
		struct page *first = page + done;
		XA_STATE(xas, &mapping->i_pages, index + done);

		if (memfd_luo_should_fail()) {
			err = -ENOMEM;
			break;
		}
		/* Set the folios up as shmem_add_to_page_cache() would, unlocked. */
		for (ready = 0; ready < n; ready++) {
			struct folio *folio = page_folio(first + ready);

			err = mem_cgroup_charge(folio, NULL, gfp);
			if (err)
				break;
			__folio_set_locked(folio);
			__folio_set_swapbacked(folio);
			__folio_mark_uptodate(folio);
			folio->mapping = mapping;
			folio->index = index + done + ready;
			folio_ref_inc(folio);	/* the page cache's reference */
		}

		/* Store them under one lock hold; retried when xarray nodes are needed. */
		do {
			xas_lock_irq(&xas);
			while (in < ready) {
				struct folio *folio = page_folio(first + in);

				if (xas_load(&xas)) {
					xas_set_err(&xas, -EEXIST);
					break;
				}
				xas_store(&xas, folio);
				if (xas_error(&xas))
					break;
				lruvec_stat_mod_folio(folio, NR_FILE_PAGES, 1);
				lruvec_stat_mod_folio(folio, NR_SHMEM, 1);
				mapping->nrpages++;
				in++;
				xas_next(&xas);
			}
			xas_unlock_irq(&xas);
		} while (xas_nomem(&xas, gfp));
		if (!err)
			err = xas_error(&xas);

		for (i = 0; i < ready; i++) {
			struct folio *folio = page_folio(first + i);

			if (i < in) {
				folio_mark_dirty(folio);
				folio_add_lru(folio);
				folio_unlock(folio);
				folio_put(folio);
				continue;
			}
			/* Prepared but not stored: back to how the caller gave it. */
			folio->mapping = NULL;
			folio_ref_dec(folio);
			mem_cgroup_uncharge(folio);
			folio_clear_uptodate(folio);
			__folio_clear_swapbacked(folio);
			__folio_clear_locked(folio);
		}
		done += in;
	}
	*added = done;
	return err;
}

/*
 * Splits the large folios of pages first..last that sit where they may not
 * stay pinned, so that their pages can move one by one when no free huge
 * page is left outside CMA to move them whole. The caller holds no
 * reference on them.
 */
static int memfd_luo_split_unpinnable(struct address_space *mapping, pgoff_t first,
				      pgoff_t last)
{
	pgoff_t index = first;
	struct folio *folio;
	int err = 0;

	while (index <= last && !err) {
		folio = filemap_get_folio(mapping, index);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		index = folio_next_index(folio);
		if (folio_test_large(folio) && !folio_is_longterm_pinnable(folio)) {
			folio_lock(folio);
			err = split_folio(folio);
			folio_unlock(folio);
		}
		folio_put(folio);
	}
	return err;
}

long memfd_luo_pin_folios(struct file *file, pgoff_t *start, pgoff_t end,
			  struct folio **folios, struct memfd_luo_folio *info,
			  unsigned int max)
{
	loff_t last = i_size_read(file_inode(file)) - 1;
	pgoff_t stretch = 0, stretch_end = 0;
	struct folio_batch fbatch;
	bool split_done = false;
	unsigned int i, j, found;
	long nr = 0, ret;
	int err = 0;
	pgoff_t off;

	folio_batch_init(&fbatch);
	while (nr < max && *start <= end) {
		found = filemap_get_folios(file->f_mapping, start, end, &fbatch);
		if (!found)
			break;
		for (i = 0; i < found && !err; i++) {
			struct folio *folio = fbatch.folios[i];

			if (nr == max) {
				/* Resume at this folio next time. */
				*start = folio->index;
				break;
			}
			if (folio_is_longterm_pinnable(folio)) {
				err = try_grab_folio(folio, 1, FOLL_PIN);
				if (!err)
					folios[nr++] = folio;
				continue;
			}
			/*
			 * In CMA (KHO scratch) or ZONE_MOVABLE: it has to move
			 * before it is pinned, which memfd_pin_folios() does, but
			 * not while this batch holds references on it. Take the
			 * whole stretch of consecutive folios from here, so that
			 * one call (one LRU drain, one migration batch) covers it.
			 */
			stretch = folio->index;
			stretch_end = folio_next_index(folio);
			for (j = i + 1; j < found && fbatch.folios[j]->index == stretch_end; j++)
				stretch_end = folio_next_index(fbatch.folios[j]);
			*start = stretch;
			break;
		}
		folio_batch_release(&fbatch);
		if (err)
			break;
		if (!stretch_end)
			continue;

		ret = memfd_pin_folios(file, (loff_t)stretch << PAGE_SHIFT,
				       min((loff_t)stretch_end << PAGE_SHIFT, last + 1) - 1,
				       &folios[nr], max - nr, &off);
		if (ret == -ENOMEM && !split_done) {
			/*
			 * No huge page left outside CMA to move a large folio
			 * to: split it and move its pages; retry once.
			 */
			split_done = true;
			err = memfd_luo_split_unpinnable(file->f_mapping, stretch, stretch_end - 1);
		} else if (ret <= 0) {
			err = ret ? ret : -EINVAL;
		} else {
			nr += ret;
			*start = folio_next_index(folios[nr - 1]);
		}
		stretch_end = 0;
	}
	if (err) {
		unpin_folios(folios, nr);
		return err;
	}
	for (i = 0; i < nr; i++) {
		memfd_luo_make_uptodate(folios[i]);
		info[i].pfn = folio_pfn(folios[i]);
		info[i].index = folios[i]->index;
		info[i].order = folio_order(folios[i]);
	}
	return nr;
}

int memfd_luo_swap_in(struct file *file)
{
#ifdef CONFIG_SWAP
	struct address_space *mapping = file->f_mapping;
	struct inode *inode = file_inode(file);
	pgoff_t index = 0;

	while (READ_ONCE(SHMEM_I(inode)->swapped)) {
		XA_STATE(xas, &mapping->i_pages, index);
		struct folio *folio;
		void *entry;
		bool found = false;

		rcu_read_lock();
		xas_for_each(&xas, entry, ULONG_MAX) {
			if (xas_retry(&xas, entry))
				continue;
			if (xa_is_value(entry)) {
				found = true;
				break;
			}
		}
		rcu_read_unlock();
		if (!found)
			break;
		index = xas.xa_index;
		folio = shmem_read_folio(mapping, index);
		if (IS_ERR(folio))
			return PTR_ERR(folio);
		index = folio_next_index(folio);
		folio_put(folio);
		cond_resched();
	}
#endif
	return 0;
}
