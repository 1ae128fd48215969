// SPDX-License-Identifier: GPL-2.0
/*
 * memfd live update: the part of mm/memfd_luo.rs that needs mm/internal.h.
 *
 * See include/linux/memfd_luo.h.
 */

#include <linux/fs.h>
#include <linux/folio_batch.h>
#include <linux/highmem.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/memfd_luo.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>
#include <linux/xarray.h>

#include "internal.h"

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

	if (!IS_ALIGNED(index, folio_nr_pages(folio))) {
		folio_put(folio);
		return -EINVAL;
	}

	/* A large folio restored by KHO is compound but not yet rmappable. */
	page_rmappable_folio(&folio->page);
	__folio_set_locked(folio);
	__folio_set_swapbacked(folio);

	err = mem_cgroup_charge(folio, NULL, gfp);
	if (err)
		goto out;
	err = shmem_add_to_page_cache(folio, mapping, index, NULL, gfp);
	if (err)
		goto out;
	folio_mark_uptodate(folio);
	folio_mark_dirty(folio);
	folio_add_lru(folio);
out:
	folio_unlock(folio);
	folio_put(folio);
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

long memfd_luo_pin_folios(struct file *file, pgoff_t *start, pgoff_t end,
			  struct folio **folios, struct memfd_luo_folio *info,
			  unsigned int max)
{
	loff_t last = i_size_read(file_inode(file)) - 1;
	struct folio_batch fbatch;
	unsigned int i, j, found;
	pgoff_t span_end;
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
			loff_t pos = folio_pos(folio);

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
			 * In CMA (KHO scratch) or ZONE_MOVABLE: memfd_pin_folios()
			 * migrates, then pins. Hand it the whole stretch of
			 * consecutive folios from here, so that one call (one LRU
			 * drain, one migration batch) covers them.
			 */
			span_end = folio_next_index(folio);
			for (j = i + 1; j < found && fbatch.folios[j]->index == span_end; j++)
				span_end = folio_next_index(fbatch.folios[j]);
			ret = memfd_pin_folios(file, pos,
					       min((loff_t)(span_end << PAGE_SHIFT) - 1, last),
					       &folios[nr], max - nr, &off);
			if (ret <= 0) {
				err = ret ? ret : -EINVAL;
			} else {
				nr += ret;
				*start = folio_next_index(folios[nr - 1]);
				break;
			}
		}
		folio_batch_release(&fbatch);
		if (err)
			break;
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
