// SPDX-License-Identifier: GPL-2.0
/*
 * memfd live update: the part of mm/memfd_luo.rs that needs mm/internal.h.
 *
 * See include/linux/memfd_luo.h.
 */

#include <linux/fault-inject.h>
#include <linux/fs.h>
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

int memfd_luo_add_pages(struct file *file, unsigned long pfn, unsigned long nr,
			pgoff_t index, unsigned long *added)
{
	struct address_space *mapping = file_inode(file)->i_mapping;
	gfp_t gfp = mapping_gfp_mask(mapping);
	unsigned long done = 0, i;
	int err = 0;

	while (done < nr && !err) {
		unsigned long n = min(nr - done, MEMFD_LUO_BATCH), ready, in = 0;
		unsigned long first = pfn + done;
		XA_STATE(xas, &mapping->i_pages, index + done);

		if (memfd_luo_should_fail()) {
			err = -ENOMEM;
			break;
		}
		/* Set the folios up as shmem_add_to_page_cache() would, unlocked. */
		for (ready = 0; ready < n; ready++) {
			struct folio *folio = pfn_folio(first + ready);

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
				struct folio *folio = pfn_folio(first + in);

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
			struct folio *folio = pfn_folio(first + i);

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
		if (folio_test_large(folio) && !folio_is_longterm_pinnable(folio)) {
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
/* Folios looked at per call, between RCU read sections. */
#define MEMFD_LUO_WALK_BATCH 4096

struct memfd_luo_runs {
	struct memfd_luo_run *run;
	unsigned int nr;
	unsigned int max;
	unsigned long max_count;
};

/* Appends a held folio; false if it needs a new run and there is no room. */
static bool memfd_luo_append(struct memfd_luo_runs *runs, unsigned long pfn, pgoff_t index,
			     unsigned int order)
{
	struct memfd_luo_run *run = runs->nr ? &runs->run[runs->nr - 1] : NULL;

	if (run && run->order == order && run->count < runs->max_count &&
	    run->pfn + (run->count << order) == pfn &&
	    run->index + (run->count << order) == index) {
		run->count++;
		return true;
	}
	if (runs->nr == runs->max)
		return false;
	run = &runs->run[runs->nr++];
	run->pfn = pfn;
	run->index = index;
	run->count = 1;
	run->order = order;
	return true;
}

/*
 * Moves the folios of pages first..last, all present, out of memory where
 * they may not stay (CMA, which KHO scratch is, or ZONE_MOVABLE) and holds
 * each with a reference, appended to @runs. memfd_pin_folios() does the
 * moving; its pin is traded for a reference, once the folio is seen under
 * its lock to be still in the file. Returns the index after the last folio
 * held, @first if none was (no room left, or the first one left the file),
 * or a negative errno (-EINTR on a fatal signal); the caller then releases
 * @runs.
 */
static long memfd_luo_move_folios(struct file *file, pgoff_t first, pgoff_t last,
				  struct memfd_luo_runs *runs)
{
	struct folio *folios[MEMFD_LUO_MOVE_BATCH];
	loff_t size = i_size_read(file_inode(file));
	pgoff_t next = first;
	bool split_done = false;
	pgoff_t off;
	long ret, i;
	int err = 0;

	for (;;) {
		ret = memfd_pin_folios(file, (loff_t)first << PAGE_SHIFT,
				       min((loff_t)(last + 1) << PAGE_SHIFT, size) - 1,
				       folios, MEMFD_LUO_MOVE_BATCH, &off);
		if (ret != -ENOMEM || split_done)
			break;
		/*
		 * No huge page left outside CMA to move a large folio to:
		 * split it and move its pages; retry once.
		 */
		split_done = true;
		ret = memfd_luo_split_unpinnable(file->f_mapping, first, last);
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
		if (in_file && next == folio->index &&
		    memfd_luo_append(runs, folio_pfn(folio), folio->index, folio_order(folio))) {
			folio_get(folio);
			next = folio_next_index(folio);
		}
		unpin_folio(folio);
	}
	return err ? err : next;
}

void memfd_luo_release_folios(unsigned long pfn, unsigned int order, unsigned long nr)
{
	unsigned long i;

	for (i = 0; i < nr; i++) {
		folio_put(pfn_folio(pfn + (i << order)));
		if (!(i & 4095))
			cond_resched();
	}
}

static void memfd_luo_release_runs(struct memfd_luo_runs *runs)
{
	unsigned int i;

	for (i = 0; i < runs->nr; i++)
		memfd_luo_release_folios(runs->run[i].pfn, runs->run[i].order,
					 runs->run[i].count);
}

long memfd_luo_hold_folios(struct file *file, pgoff_t *start, pgoff_t end,
			   struct memfd_luo_run *run, unsigned int max,
			   unsigned long max_count)
{
	XA_STATE(xas, &file->f_mapping->i_pages, *start);
	struct memfd_luo_runs runs = {
		.run = run, .max = max, .max_count = max_count,
	};
	unsigned long pfn, block, fine_block = ULONG_MAX;
	/* The last run, extended in registers: where its next folio would be. */
	unsigned long open_pfn = 0, open_count = 0;
	pgoff_t open_index = 0, index;
	unsigned int open_order = 0, order, seen = 0;
	pgoff_t first, last;
	bool stale = false, done = false;
	struct folio *folio;
	long next, i, j;

	if (*start > end || !max || !max_count)
		return 0;
	cond_resched();
	rcu_read_lock();
	/*
	 * A batch ends after MEMFD_LUO_WALK_BATCH folios, but not before it
	 * holds one: a call that holds nothing means the walk is done.
	 */
	for (folio = xas_find(&xas, end); seen < MEMFD_LUO_WALK_BATCH || !runs.nr;
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
				if (open_count)
					run[runs.nr - 1].count = open_count;
				memfd_luo_release_runs(&runs);
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
				if (open_count)
					run[runs.nr - 1].count = open_count;
				memfd_luo_release_runs(&runs);
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
				if (open_count)
					run[runs.nr - 1].count = open_count;
				open_count = 0;
				next = memfd_luo_move_folios(file, first, last, &runs);
				if (next < 0) {
					memfd_luo_release_runs(&runs);
					return next;
				}
				if (next == first && runs.nr < max) {
					/* It left the file meanwhile: look again. */
					cond_resched();
					seen++;
					xas_set(&xas, first);
					rcu_read_lock();
					continue;
				}
				*start = next;
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
		index = folio->index;
		order = folio_order(folio);
		if (open_count && pfn == open_pfn && index == open_index && order == open_order &&
		    open_count < max_count) {
			open_count++;
		} else {
			if (open_count)
				run[runs.nr - 1].count = open_count;
			if (!memfd_luo_append(&runs, pfn, index, order)) {
				/* No room left: the next call takes it. */
				folio_put(folio);
				break;
			}
			open_count = run[runs.nr - 1].count;
			open_order = order;
		}
		open_pfn = pfn + (1UL << order);
		open_index = index + (1UL << order);
		stale |= !folio_test_uptodate(folio);
		seen++;
		continue;
reset:
		xas_reset(&xas);
	}
	rcu_read_unlock();
	if (open_count) {
		run[runs.nr - 1].count = open_count;
		*start = open_index;
	}
	if (done)
		/* Nothing left: the next call returns 0. */
		*start = end + 1;
out:
	/* What fallocate reserved but nobody wrote holds stale bytes: zero it. */
	for (i = 0; stale && i < runs.nr; i++)
		for (j = 0; j < run[i].count; j++)
			memfd_luo_make_uptodate(pfn_folio(run[i].pfn + (j << run[i].order)));
	return runs.nr;
}

unsigned long memfd_luo_allocs(struct file *file)
{
	struct shmem_inode_info *info = SHMEM_I(file_inode(file));
	unsigned long allocs;

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

	if (!size || !READ_ONCE(SHMEM_I(inode)->swapped))
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
