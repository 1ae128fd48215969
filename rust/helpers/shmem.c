// SPDX-License-Identifier: GPL-2.0

/*
 * Static inline functions used by rust/kernel/memfd.rs: shmem files, their
 * inode lock and the folios of their page cache.
 */

#include <linux/folio_batch.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>

__rust_helper bool rust_helper_shmem_file(struct file *file)
{
	return shmem_file(file);
}

__rust_helper void rust_helper_shmem_freeze(struct inode *inode, bool freeze)
{
	shmem_freeze(inode, freeze);
}

__rust_helper struct inode *rust_helper_file_inode(const struct file *f)
{
	return file_inode(f);
}

__rust_helper void rust_helper_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

__rust_helper void rust_helper_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

__rust_helper loff_t rust_helper_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

__rust_helper void rust_helper_i_size_write(struct inode *inode, loff_t i_size)
{
	i_size_write(inode, i_size);
}

__rust_helper unsigned long rust_helper_folio_pfn(const struct folio *folio)
{
	return folio_pfn(folio);
}

__rust_helper loff_t rust_helper_folio_pos(const struct folio *folio)
{
	return folio_pos(folio);
}

__rust_helper bool rust_helper_folio_test_uptodate(const struct folio *folio)
{
	return folio_test_uptodate(folio);
}

__rust_helper void rust_helper_folio_mark_uptodate(struct folio *folio)
{
	folio_mark_uptodate(folio);
}

__rust_helper void rust_helper_folio_lock(struct folio *folio)
{
	folio_lock(folio);
}

__rust_helper void rust_helper_folio_zero_range(struct folio *folio,
						size_t start, size_t length)
{
	folio_zero_range(folio, start, length);
}

__rust_helper void rust_helper_folio_batch_release(struct folio_batch *fbatch)
{
	folio_batch_release(fbatch);
}
