// SPDX-License-Identifier: GPL-2.0

//! Memfds and other shmem files, as a live update preserves and restores
//! them.
//!
//! - [`Shmem`]: a file known to be shmem-backed: its size, position and
//!   seals, the pages present in its page cache, and pinning them.
//! - [`ShmemLock`]: its inode lock, under which the mapping can be frozen
//!   (no resize, no write past the end, no fallocate: `EPERM`).
//! - [`PinnedFolio`]: a folio of a shmem file, pinned (so it neither moves
//!   nor goes away) until dropped.
//! - [`NewMemfd`]: a memfd being rebuilt from preserved folios, not yet
//!   visible to anybody.
//!
//! C headers: [`include/linux/shmem_fs.h`](srctree/include/linux/shmem_fs.h),
//! [`include/linux/memfd.h`](srctree/include/linux/memfd.h),
//! [`include/linux/memfd_luo.h`](srctree/include/linux/memfd_luo.h).

use crate::{
    alloc::{KVec, VVec},
    bindings,
    error::{from_err_ptr, to_result},
    ffi::CStr,
    fs::File,
    kho::IncomingBuffer,
    prelude::*,
    sync::aref::ARef,
    uapi,
};
use core::{marker::PhantomData, ptr::NonNull};

/// The largest order a folio can have (`MAX_PAGE_ORDER`).
pub const MAX_FOLIO_ORDER: u32 = bindings::MAX_PAGE_ORDER;

/// The size of a page, in bytes.
const PAGE_SIZE: u64 = bindings::PAGE_SIZE as u64;

/// A shmem-backed file (a memfd, an `O_TMPFILE` or linked tmpfs file, a
/// shared anonymous mapping); hugetlbfs files are not shmem.
///
/// # Invariants
///
/// `file` is a shmem file and `inode` is its inode.
pub struct Shmem<'a> {
    file: &'a File,
    inode: NonNull<bindings::inode>,
}

impl<'a> Shmem<'a> {
    /// `file` as a shmem file, or `None` if it is not one.
    pub fn new(file: &'a File) -> Option<Self> {
        // SAFETY: `file` is a valid file.
        if !unsafe { bindings::shmem_file(file.as_ptr()) } {
            return None;
        }
        // SAFETY: `file` is a valid file, which always has an inode.
        let inode = NonNull::new(unsafe { bindings::file_inode(file.as_ptr()) })?;
        // INVARIANT: Checked above.
        Some(Self { file, inode })
    }

    fn inode(&self) -> &bindings::inode {
        // SAFETY: The inode lives as long as the file, which outlives `'a`.
        unsafe { self.inode.as_ref() }
    }

    /// A number that identifies the inode while the file is open (two
    /// files can share an inode).
    pub fn inode_key(&self) -> usize {
        self.inode.as_ptr() as usize
    }

    /// Whether the file has a name in a file system (a memfd has none).
    pub fn is_linked(&self) -> bool {
        // SAFETY: Reading the link count of a live inode; both union members are the same
        // integer.
        unsafe { self.inode().__bindgen_anon_1.i_nlink != 0 }
    }

    /// The file size in bytes.
    pub fn size(&self) -> u64 {
        // SAFETY: The inode is valid by the type invariants.
        let size = unsafe { bindings::i_size_read(self.inode.as_ptr()) };
        size.max(0) as u64
    }

    /// The file position.
    pub fn pos(&self) -> i64 {
        // SAFETY: The file is valid; a racy read of the position is what `lseek` reports too.
        unsafe { core::ptr::read_volatile(&(*self.file.as_ptr()).f_pos) }
    }

    /// The memfd seals (`F_SEAL_*`), `0` for a shmem file without seals.
    pub fn seals(&self) -> u32 {
        // SAFETY: The file is valid.
        let seals = unsafe { bindings::memfd_get_seals(self.file.as_ptr()) };
        seals.max(0) as u32
    }

    /// The number of pages in the page cache, including pages fallocated
    /// beyond the end of the file.
    pub fn nr_pages(&self) -> u64 {
        // SAFETY: `i_mapping` of a live inode is valid; `nrpages` is read racily as
        // `READ_ONCE` would.
        unsafe { core::ptr::read_volatile(&(*self.inode().i_mapping).nrpages) as u64 }
    }

    /// Reads pages that are out on swap back into the page cache.
    pub fn swap_in(&self) -> Result {
        // SAFETY: The file is a valid shmem file.
        to_result(unsafe { bindings::memfd_luo_swap_in(self.file.as_ptr()) })
    }

    /// Takes the inode lock.
    pub fn lock(&self) -> ShmemLock<'_> {
        // SAFETY: The inode is valid; the lock is released by `ShmemLock::drop`.
        unsafe { bindings::inode_lock(self.inode.as_ptr()) };
        // INVARIANT: Locked above.
        ShmemLock {
            inode: self.inode,
            _shmem: PhantomData,
        }
    }

    /// Calls `f(first, count)` for every run of consecutive pages present in
    /// the page cache below the end of the file, in order. Holes are
    /// skipped; a run may span several folios.
    pub fn for_each_present_run(&self, mut f: impl FnMut(u64, u64) -> Result) -> Result {
        let end = self.size().div_ceil(PAGE_SIZE);
        let mut run: Option<(u64, u64)> = None;
        let mut start: usize = 0;
        // SAFETY: An all-zero `folio_batch` is an empty, initialized batch (`folio_batch_init`).
        let mut batch: bindings::folio_batch = unsafe { core::mem::zeroed() };
        while (start as u64) < end {
            // SAFETY: The mapping is valid; `batch` is empty, `filemap_get_folios` fills it
            // with referenced folios and advances `start`.
            let found = unsafe {
                bindings::filemap_get_folios(
                    self.inode().i_mapping,
                    &mut start,
                    (end - 1) as usize,
                    &mut batch,
                )
            };
            if found == 0 {
                break;
            }
            let mut result = Ok(());
            for &folio in &batch.folios[..usize::from(batch.nr)] {
                // SAFETY: The batch holds a reference on each of its folios.
                let (pos, order) =
                    unsafe { (bindings::folio_pos(folio), bindings::folio_order(folio)) };
                let first = pos as u64 / PAGE_SIZE;
                let count = (1u64 << order).min(end.saturating_sub(first));
                run = match run {
                    Some((a, n)) if a + n == first => Some((a, n + count)),
                    Some((a, n)) => {
                        result = f(a, n);
                        Some((first, count))
                    }
                    None => Some((first, count)),
                };
                if result.is_err() {
                    break;
                }
            }
            // SAFETY: Drops the references the batch holds and empties it.
            unsafe { bindings::folio_batch_release(&mut batch) };
            result?;
            if start == 0 {
                // `start` wrapped after the last possible index.
                break;
            }
        }
        match run {
            Some((a, n)) => f(a, n),
            None => Ok(()),
        }
    }

    /// Pins the folios covering pages `first..first + count`, which must all
    /// be present (see [`Self::for_each_present_run`]), and appends them
    /// to `out` in order. Pinning moves folios out of memory that the next
    /// kernel reuses (KHO scratch, CMA).
    pub fn pin(&self, first: u64, count: u64, out: &mut VVec<PinnedFolio>) -> Result {
        const BATCH: usize = 512;
        let mut raw: KVec<*mut bindings::folio> = KVec::with_capacity(BATCH, GFP_KERNEL)?;
        let mut next = first;
        let end = first.checked_add(count).ok_or(EINVAL)?;
        while next < end {
            out.reserve(BATCH, GFP_KERNEL)?;
            let last_byte = (end * PAGE_SIZE).min(self.size()) - 1;
            let mut offset: usize = 0;
            // SAFETY: The file is a valid shmem file; `raw` has room for `BATCH` pointers.
            let pinned = unsafe {
                bindings::memfd_pin_folios(
                    self.file.as_ptr(),
                    (next * PAGE_SIZE) as bindings::loff_t,
                    last_byte as bindings::loff_t,
                    raw.as_mut_ptr(),
                    BATCH as u32,
                    &mut offset,
                )
            };
            let pinned = usize::try_from(to_result_long(pinned)?).map_err(|_| EINVAL)?;
            if pinned == 0 || pinned > BATCH {
                return Err(EINVAL);
            }
            for i in 0..pinned {
                // SAFETY: `memfd_pin_folios` wrote `pinned` valid pointers.
                let folio = unsafe { *raw.as_ptr().add(i) };
                // INVARIANT: `memfd_pin_folios` pinned it once for us.
                let folio = PinnedFolio(NonNull::new(folio).ok_or(EINVAL)?);
                next = folio.index() + folio.nr_pages();
                // Cannot fail: room was reserved above.
                out.push(folio, GFP_KERNEL)?;
            }
        }
        Ok(())
    }
}

fn to_result_long(ret: isize) -> Result<isize> {
    if ret < 0 {
        Err(Error::from_errno(ret as i32))
    } else {
        Ok(ret)
    }
}

/// The inode lock of a [`Shmem`] file, released on drop.
///
/// # Invariants
///
/// `inode` is the locked inode of a shmem file that outlives `'a`.
pub struct ShmemLock<'a> {
    inode: NonNull<bindings::inode>,
    _shmem: PhantomData<&'a Shmem<'a>>,
}

impl ShmemLock<'_> {
    /// Freezes or thaws the mapping: while frozen, changing the size,
    /// writing past the end and fallocate fail with `EPERM`.
    pub fn set_frozen(&mut self, frozen: bool) {
        // SAFETY: The inode is a locked shmem inode by the type invariants.
        unsafe { bindings::shmem_freeze(self.inode.as_ptr(), frozen) };
    }
}

impl Drop for ShmemLock<'_> {
    fn drop(&mut self) {
        // SAFETY: Locked by the type invariants.
        unsafe { bindings::inode_unlock(self.inode.as_ptr()) };
    }
}

/// A pinned folio of a shmem file; unpinned on drop.
///
/// # Invariants
///
/// The folio is pinned (`FOLL_PIN`) once on behalf of this value.
pub struct PinnedFolio(NonNull<bindings::folio>);

// SAFETY: A pin may be dropped from any task.
unsafe impl Send for PinnedFolio {}
// SAFETY: Shared references only read immutable properties of the folio.
unsafe impl Sync for PinnedFolio {}

impl PinnedFolio {
    pub(crate) fn as_ptr(&self) -> *mut bindings::folio {
        self.0.as_ptr()
    }

    /// Its first page frame number.
    pub fn pfn(&self) -> u64 {
        // SAFETY: The folio is pinned, so valid, by the type invariants.
        unsafe { bindings::folio_pfn(self.as_ptr()) as u64 }
    }

    /// Its order: it holds `1 << order` pages.
    pub fn order(&self) -> u32 {
        // SAFETY: As above; a pinned folio is not split.
        unsafe { bindings::folio_order(self.as_ptr()) }
    }

    /// The number of pages it holds.
    pub fn nr_pages(&self) -> u64 {
        1 << self.order()
    }

    /// Its page index in the file.
    pub fn index(&self) -> u64 {
        // SAFETY: As above; a pinned shmem folio stays in its file (the file is referenced by
        // whoever pinned it, and truncation waits for pins to go).
        unsafe { bindings::folio_pos(self.as_ptr()) as u64 / PAGE_SIZE }
    }

    /// Preserves the folio for the next kernel (KHO), where it comes back
    /// whole, with its order.
    pub fn preserve(&self) -> Result {
        // SAFETY: The folio is pinned, so valid, by the type invariants.
        to_result(unsafe { bindings::kho_preserve_folio(self.as_ptr()) })
    }

    /// Undoes [`Self::preserve`].
    pub fn unpreserve(&self) {
        // SAFETY: As above; unpreserving a folio that is not preserved does nothing.
        unsafe { bindings::kho_unpreserve_folio(self.as_ptr()) }
    }

    /// Makes the folio up to date: a folio that fallocate reserved but
    /// nobody wrote holds stale bytes until zeroed, so zero it now.
    pub fn make_uptodate(&self) {
        // SAFETY: As above.
        if unsafe { bindings::folio_test_uptodate(self.as_ptr()) } {
            return;
        }
        // SAFETY: As above; the folio lock serializes with shmem, which zeroes a folio that
        // is not up to date under the same lock.
        unsafe {
            bindings::folio_lock(self.as_ptr());
            if !bindings::folio_test_uptodate(self.as_ptr()) {
                bindings::folio_zero_range(self.as_ptr(), 0, bindings::folio_size(self.as_ptr()));
                bindings::folio_mark_uptodate(self.as_ptr());
            }
            bindings::folio_unlock(self.as_ptr());
        }
    }
}

impl Drop for PinnedFolio {
    fn drop(&mut self) {
        // SAFETY: We hold one pin by the type invariants.
        unsafe { bindings::unpin_folio(self.as_ptr()) };
    }
}

/// A memfd being rebuilt, not yet visible to user space.
pub struct NewMemfd {
    file: ARef<File>,
}

impl NewMemfd {
    /// Creates an empty memfd named `name` (shown as `/memfd:<name>`) that
    /// allows sealing.
    pub fn new(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is a valid string; the call returns a new file or an `ERR_PTR`.
        let file = from_err_ptr(unsafe {
            bindings::memfd_alloc_file(name.as_char_ptr(), uapi::MFD_ALLOW_SEALING)
        })?;
        let file = NonNull::new(file.cast::<File>()).ok_or(ENOMEM)?;
        // SAFETY: `memfd_alloc_file` returned a file with one reference, which we take over;
        // `File` wraps `struct file` transparently.
        let file = unsafe { ARef::from_raw(file) };
        Ok(Self { file })
    }

    fn inode(&self) -> *mut bindings::inode {
        // SAFETY: The file is valid.
        unsafe { bindings::file_inode(self.file.as_ptr()) }
    }

    /// Sets the size in bytes.
    pub fn set_size(&mut self, size: u64) -> Result {
        let size = i64::try_from(size).map_err(|_| EFBIG)?;
        // SAFETY: The inode is valid; nobody else can see the file yet, so no lock is needed.
        unsafe { bindings::i_size_write(self.inode(), size) };
        Ok(())
    }

    /// Sets the file position.
    pub fn set_pos(&mut self, pos: i64) -> Result {
        // SAFETY: The file is valid and not shared yet.
        let ret = unsafe { bindings::vfs_setpos(self.file.as_ptr(), pos, i64::MAX) };
        if ret < 0 {
            return Err(Error::from_errno(ret as i32));
        }
        Ok(())
    }

    /// Adds `seals` (`F_SEAL_*`); `EINVAL` for unknown bits.
    pub fn add_seals(&mut self, seals: u32) -> Result {
        if seals == 0 {
            return Ok(());
        }
        // SAFETY: The file is a valid memfd.
        to_result(unsafe { bindings::memfd_add_seals(self.file.as_ptr(), seals) })
    }

    /// Puts `folio`, memory handed over by the previous kernel, into the
    /// file at page `index`, charged to the current task. `EINVAL` for an
    /// index that is not a multiple of the folio's size, `EEXIST` if the
    /// index is taken.
    pub fn add_folio(&mut self, folio: IncomingBuffer, index: u64) -> Result {
        let index = usize::try_from(index).map_err(|_| EFBIG)?;
        let folio = folio.into_folio();
        // SAFETY: The file is a memfd nobody else sees; `folio` is a restored folio with one
        // reference, which the call consumes.
        to_result(unsafe { bindings::memfd_luo_add_folio(self.file.as_ptr(), folio, index) })
    }

    /// The finished file.
    pub fn into_file(self) -> ARef<File> {
        self.file
    }
}
