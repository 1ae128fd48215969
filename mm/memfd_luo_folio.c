// SPDX-License-Identifier: GPL-2.0
/*
 * memfd live update: the part of mm/memfd_luo.rs that needs mm/internal.h.
 *
 * See include/linux/memfd_luo.h.
 */

#include <linux/fs.h>
#include <linux/memcontrol.h>
#include <linux/memfd_luo.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>
#include <linux/xarray.h>

#include "internal.h"

int memfd_luo_add_folio(struct file *file, struct folio *folio, pgoff_t index)
{
	struct inode *inode = file_inode(file);
	struct address_space *mapping = inode->i_mapping;
	gfp_t gfp = mapping_gfp_mask(mapping);
	long nr = folio_nr_pages(folio);
	int err;

	if (!IS_ALIGNED(index, nr)) {
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
	err = shmem_inode_acct_blocks(inode, nr);
	if (err) {
		filemap_remove_folio(folio);
		goto out;
	}
	folio_mark_uptodate(folio);
	folio_mark_dirty(folio);
	folio_add_lru(folio);
	shmem_recalc_inode(inode, nr, 0);
out:
	folio_unlock(folio);
	folio_put(folio);
	return err;
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
