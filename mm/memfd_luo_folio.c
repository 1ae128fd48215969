// SPDX-License-Identifier: GPL-2.0
/*
 * memfd live update: the part of mm/memfd_luo/ that needs mm/internal.h.
 *
 * See include/linux/memfd_luo.h.
 */

#include <linux/delay.h>
#include <linux/fault-inject.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/huge_mm.h>
#include <linux/hugetlb.h>
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

int memfd_luo_page_order(struct file *file)
{
	if (shmem_file(file))
		return 0;
#ifdef CONFIG_HUGETLBFS
	if (is_file_hugepages(file))
		return huge_page_order(hstate_file(file));
#endif
	return -EINVAL;
}

void memfd_luo_freeze(struct file *file, bool freeze)
{
	struct inode *inode = file_inode(file);

	lockdep_assert_held_write(&inode->i_rwsem);
	if (shmem_file(file))
		shmem_freeze(inode, freeze);
#ifdef CONFIG_HUGETLBFS
	else if (is_file_hugepages(file))
		hugetlbfs_freeze(inode, freeze);
#endif
}

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

	if (!IS_ALIGNED(index, folio_nr_pages(folio)) ||
	    folio_order(folio) > mapping_max_folio_order(mapping))
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

int memfd_luo_add_hugetlb_folio(struct file *file, struct folio *folio, pgoff_t index)
{
#ifdef CONFIG_HUGETLBFS
	if (!is_file_hugepages(file) || !IS_ALIGNED(index, folio_nr_pages(folio)))
		return -EINVAL;
	if (memfd_luo_should_fail())
		return -ENOMEM;
	return hugetlb_add_preserved_folio(file, folio, index >> folio_order(folio));
#else
	return -EINVAL;
#endif
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

/* Whether two charged folios are charged to the same memory cgroup. */
static bool memfd_luo_same_memcg(struct folio *a, struct folio *b)
{
#ifdef CONFIG_MEMCG
	return folio_objcg(a) == folio_objcg(b);
#else
	return true;
#endif
}

/* The pages of a range go into the page cache this many per lock hold. */
#define MEMFD_LUO_BATCH 64

int memfd_luo_add_pages(struct file *file, unsigned long pfn, unsigned long nr,
			pgoff_t index, unsigned long *added)
{
	struct address_space *mapping = file_inode(file)->i_mapping;
	gfp_t gfp = mapping_gfp_mask(mapping);
	struct folio *folios[MEMFD_LUO_BATCH];
	unsigned long done = 0;
	int err = 0;

	while (done < nr && !err) {
		unsigned int n = min(nr - done, MEMFD_LUO_BATCH), ready, charged, in = 0, i;

		if (memfd_luo_should_fail()) {
			err = -ENOMEM;
			break;
		}
		/*
		 * Set the folios up as for shmem_add_to_page_cache(), dirty
		 * already (shmem's dirty_folio only sets the flag): nobody
		 * else sees them yet. A batch stays on one node.
		 */
		for (ready = 0; ready < n; ready++) {
			folios[ready] = pfn_folio(pfn + done + ready);
			if (ready && folio_nid(folios[ready]) != folio_nid(folios[0]))
				break;
		}
		/*
		 * One charge for the batch; near the memory cgroup's limit,
		 * one per folio, so that it reclaims (or stops) as for faults.
		 * A batch is one memory cgroup's, and the task may move to
		 * another between two charges: the batch ends there.
		 */
		if (mem_cgroup_charge_new_folios(folios, ready, gfp)) {
			for (charged = 0; charged < ready; charged++) {
				err = mem_cgroup_charge(folios[charged], NULL, gfp);
				if (err)
					break;
				if (!memfd_luo_same_memcg(folios[charged], folios[0])) {
					mem_cgroup_uncharge(folios[charged]);
					break;
				}
			}
			ready = charged;
		}
		for (i = 0; i < ready; i++) {
			struct folio *folio = folios[i];

			__folio_set_locked(folio);
			__folio_set_swapbacked(folio);
			__folio_mark_uptodate(folio);
			__set_bit(PG_dirty, folio_flags(folio, 0));
		}
		if (ready) {
			int ret = shmem_add_folios_to_page_cache(folios, ready, mapping,
								 index + done, gfp, &in);
			if (!err)
				err = ret;
		}

		folios_add_lru_new(folios, in);
		for (i = 0; i < ready; i++) {
			struct folio *folio = folios[i];

			if (i < in) {
				/* The page cache has taken over our reference. */
				folio_unlock(folio);
				continue;
			}
			/* Prepared but not added: back to how the caller gave it. */
			mem_cgroup_uncharge(folio);
			__folio_clear_dirty(folio);
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
 * stay, so that their pages can move one by one when no free huge page is
 * left outside CMA to move them whole. The caller holds no reference on
 * them.
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
		/* A huge page of hugetlbfs cannot be split: it moves whole or not. */
		if (folio_test_large(folio) && !folio_test_hugetlb(folio) &&
		    !folio_is_longterm_pinnable(folio)) {
			folio_lock(folio);
			err = split_folio(folio);
			folio_unlock(folio);
		}
		folio_put(folio);
	}
	return err;
}

/* Folios moved out of CMA or ZONE_MOVABLE per memfd_pin_folios() call. */
#define MEMFD_LUO_MOVE_BATCH 32
/* Times a split that finds a folio busy is tried again. */
#define MEMFD_LUO_SPLIT_TRIES 10
/* Folios looked at per call, between RCU read sections. */
#define MEMFD_LUO_WALK_BATCH 4096

/* The folios held so far by one call of memfd_luo_hold_folios(). */
struct memfd_luo_held {
	struct memfd_luo_folios *folios;
	unsigned int nr;
	unsigned int max;
};

/*
 * Records a held folio: it joins the last entry if it continues it in the
 * file and in memory with the same order, as dense files' folios mostly
 * do, so that nothing is written per folio; else it starts an entry.
 * False if there is no room for that. Inlined even where the kernel is
 * built for size (-Os): the walk calls it for every folio.
 */
static __always_inline bool memfd_luo_add(struct memfd_luo_held *held, struct folio *folio)
{
	struct memfd_luo_folios *f = held->nr ? &held->folios[held->nr - 1] : NULL;
	unsigned long pfn = folio_pfn(folio);
	unsigned int order = folio_order(folio);

	if (f && f->order == order && f->pfn + (f->nr << order) == pfn &&
	    f->index + (f->nr << order) == folio->index) {
		f->nr++;
		return true;
	}
	if (held->nr == held->max)
		return false;
	f = &held->folios[held->nr++];
	f->pfn = pfn;
	f->index = folio->index;
	f->order = order;
	f->nr = 1;
	return true;
}

/*
 * Moves the folios of pages first..last, all present, out of memory where
 * they may not stay (CMA, which KHO scratch is, or ZONE_MOVABLE) and holds
 * each with a reference, recorded in @held. memfd_pin_folios() does the
 * moving; its pin is traded for a reference, once the folio is seen under
 * its lock to be still in the file. Returns the index after the last folio
 * held, @first if none was (no room left, or the first one left the file),
 * or a negative errno (-EINTR on a fatal signal); the caller then releases
 * @held.
 */
static long memfd_luo_move_folios(struct file *file, pgoff_t first, pgoff_t last,
				  struct memfd_luo_held *held)
{
	struct folio *folios[MEMFD_LUO_MOVE_BATCH];
	loff_t size = i_size_read(file_inode(file));
	pgoff_t next = first;
	bool split_done = false;
	unsigned int tries;
	pgoff_t off;
	long ret, i;
	int err = 0;

	for (;;) {
		ret = memfd_pin_folios(file, (loff_t)first << PAGE_SHIFT,
				       min((loff_t)(last + 1) << PAGE_SHIFT, size) - 1,
				       folios, MEMFD_LUO_MOVE_BATCH, &off);
		/* A huge page of hugetlbfs moves whole or not at all. */
		if (ret != -ENOMEM || split_done || is_file_hugepages(file))
			break;
		/*
		 * A large folio did not move whole (memfd_pin_folios() says
		 * -ENOMEM for any folio migrate_pages() gave up on: no huge
		 * page free outside CMA, or busy): split it and move its pages;
		 * retry once. A split fails with -EAGAIN while someone holds
		 * one more reference for a moment: MADV_COLLAPSE, next to it,
		 * unlocks a folio just before it drops its reference, and the
		 * split waiting for the lock comes in between. Wait a little
		 * longer each time, about 0.1 s in all, before giving up.
		 */
		split_done = true;
		for (tries = 0;; tries++) {
			ret = memfd_luo_split_unpinnable(file->f_mapping, first, last);
			if (ret != -EAGAIN || tries == MEMFD_LUO_SPLIT_TRIES)
				break;
			if (fatal_signal_pending(current))
				return -EINTR;
			fsleep((2 * tries + 1) * USEC_PER_MSEC);
		}
		if (ret)
			return ret;
	}
	if (ret <= 0)
		return ret ? ret : -EINVAL;
	for (i = 0; i < ret; i++) {
		struct folio *folio = folios[i];
		bool in_file = false;

		/* As in the walk: what is still in the file under its lock. */
		if (!err && !folio_lock_killable(folio)) {
			in_file = folio->mapping == file->f_mapping;
			folio_unlock(folio);
		} else {
			err = -EINTR;
		}
		/*
		 * Without room, the rest goes back and the next call takes it;
		 * what left the file is looked at again.
		 */
		if (in_file && next == folio->index && memfd_luo_add(held, folio)) {
			folio_get(folio);
			next = folio_next_index(folio);
		}
		unpin_folio(folio);
	}
	return err ? err : next;
}

static void memfd_luo_release_held(struct memfd_luo_held *held)
{
	unsigned long j;
	unsigned int i;

	for (i = 0; i < held->nr; i++)
		for (j = 0; j < held->folios[i].nr; j++)
			folio_put(pfn_folio(held->folios[i].pfn + (j << held->folios[i].order)));
}

long memfd_luo_hold_folios(struct file *file, pgoff_t *start, pgoff_t end,
			   struct memfd_luo_folios *folios, unsigned int max)
{
	XA_STATE(xas, &file->f_mapping->i_pages, *start);
	struct memfd_luo_held held = { .folios = folios, .max = max };
	unsigned long pfn, block, fine_block = ULONG_MAX, j;
	unsigned int seen = 0, i;
	pgoff_t first, last, index, next_index = *start;
	bool stale = false, done = false;
	struct folio *folio;
	long next;

	if (*start > end || !max)
		return 0;
	cond_resched();
	rcu_read_lock();
	/*
	 * A batch ends after MEMFD_LUO_WALK_BATCH folios, but not before it
	 * holds one: a call that holds nothing means the walk is done.
	 */
	for (folio = xas_find(&xas, end); seen < MEMFD_LUO_WALK_BATCH || !held.nr;
	     folio = xas_next_entry(&xas, end)) {
		if (!folio) {
			done = true;
			break;
		}
		if (xas_retry(&xas, folio))
			continue;
		if (xa_is_value(folio)) {
			/*
			 * Swapped out again since memfd_luo_swap_in(): read it
			 * back and look again.
			 */
			index = xas.xa_index;
			xas_pause(&xas);
			rcu_read_unlock();
			folio = shmem_read_folio(file->f_mapping, index);
			if (IS_ERR(folio)) {
				memfd_luo_release_held(&held);
				return PTR_ERR(folio);
			}
			folio_put(folio);
			seen++;
			xas_set(&xas, index);
			rcu_read_lock();
			continue;
		}
		if (!folio_try_get(folio))
			goto reset;
		if (unlikely(folio != xas_reload(&xas))) {
			folio_put(folio);
			goto reset;
		}
		/*
		 * A reference taken without the folio lock may come too late:
		 * khugepaged's collapse checks the references of the folios
		 * it replaces once, with them locked, and takes them out of
		 * the file after that. Under the lock, a folio still in the
		 * mapping stays there as long as we hold it. A locked folio is
		 * waited for outside RCU and looked up again.
		 */
		if (!folio_trylock(folio)) {
			index = xas.xa_index;
			xas_pause(&xas);
			rcu_read_unlock();
			if (folio_lock_killable(folio)) {
				folio_put(folio);
				memfd_luo_release_held(&held);
				return -EINTR;
			}
			rcu_read_lock();
			/* Go on after it if it stays, or look at its index again. */
			xas_set(&xas, folio->mapping == file->f_mapping ?
				folio_next_index(folio) : index);
		}
		if (unlikely(folio->mapping != file->f_mapping)) {
			folio_unlock(folio);
			folio_put(folio);
			seen++;
			goto reset;
		}
		folio_unlock(folio);
		pfn = folio_pfn(folio);
		/*
		 * Where a folio may stay is decided per pageblock (its
		 * migratetype) and zone: look once per pageblock.
		 */
		block = pfn >> pageblock_order;
		if (block != fine_block || folio_test_large(folio)) {
			if (!folio_is_longterm_pinnable(folio)) {
				/*
				 * In CMA (KHO scratch) or ZONE_MOVABLE: it moves
				 * first, with the present folios that follow it,
				 * which can be done only without holding them.
				 */
				first = folio->index;
				last = folio_next_index(folio) - 1;
				folio_put(folio);
				for (i = 1; i < MEMFD_LUO_MOVE_BATCH; i++) {
					folio = xas_find(&xas, end);
					if (!folio || xa_is_internal(folio) || xa_is_value(folio) ||
					    folio->index != last + 1)
						break;
					last = folio_next_index(folio) - 1;
				}
				xas_pause(&xas);
				rcu_read_unlock();
				next = memfd_luo_move_folios(file, first, last, &held);
				if (next < 0) {
					memfd_luo_release_held(&held);
					return next;
				}
				if (next == first && held.nr < max) {
					/* It left the file meanwhile: look again. */
					cond_resched();
					seen++;
					xas_set(&xas, first);
					rcu_read_lock();
					continue;
				}
				next_index = next;
				if (next == first)
					/* No room left for it. */
					goto out;
				seen += next - first;
				stale = true;
				xas_set(&xas, next);
				rcu_read_lock();
				continue;
			}
			fine_block = folio_test_large(folio) ? ULONG_MAX : block;
		}
		if (!memfd_luo_add(&held, folio)) {
			/* No room left: the next call takes it. */
			folio_put(folio);
			break;
		}
		next_index = folio_next_index(folio);
		stale |= !folio_test_uptodate(folio);
		seen++;
		continue;
reset:
		xas_reset(&xas);
	}
	rcu_read_unlock();
out:
	/* Nothing left: the next call returns 0. */
	*start = done ? end + 1 : next_index;
	/* What fallocate reserved but nobody wrote holds stale bytes: zero it. */
	for (i = 0; stale && i < held.nr; i++)
		for (j = 0; j < folios[i].nr; j++)
			memfd_luo_make_uptodate(pfn_folio(folios[i].pfn + (j << folios[i].order)));
	return held.nr;
}

unsigned long memfd_luo_allocs(struct file *file)
{
	struct inode *inode = file_inode(file);
	struct shmem_inode_info *info;
	unsigned long allocs;

	if (is_file_hugepages(file)) {
		/*
		 * hugetlb_add_to_page_cache() adds to i_blocks under i_lock;
		 * only truncation and punching holes, which the freeze forbids
		 * (truncating to the same size included), take from it.
		 */
		spin_lock(&inode->i_lock);
		allocs = inode->i_blocks >> (PAGE_SHIFT - 9);
		spin_unlock(&inode->i_lock);
		return allocs;
	}
	info = SHMEM_I(inode);
	spin_lock(&info->lock);
	allocs = info->allocs;
	spin_unlock(&info->lock);
	return allocs;
}

int memfd_luo_swap_in(struct file *file)
{
#ifdef CONFIG_SWAP
	struct address_space *mapping = file->f_mapping;
	struct inode *inode = file_inode(file);
	loff_t size = i_size_read(inode);
	pgoff_t index = 0, end;

	if (!shmem_file(file) || !size || !READ_ONCE(SHMEM_I(inode)->swapped))
		return 0;
	/*
	 * Below EOF only: pages fallocated past it (FALLOC_FL_KEEP_SIZE) may be
	 * out on swap too, and are neither handed over nor readable.
	 */
	end = (size - 1) >> PAGE_SHIFT;
	while (index <= end) {
		XA_STATE(xas, &mapping->i_pages, index);
		struct folio *folio;
		void *entry;
		bool found = false;

		rcu_read_lock();
		xas_for_each(&xas, entry, end) {
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
