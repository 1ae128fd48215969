// SPDX-License-Identifier: GPL-2.0

//! Memfds and other shmem files, as a live update preserves and restores
//! them.
//!
//! - [`Shmem`]: a file known to be shmem-backed: its size, position and
//!   seals, the pages present in its page cache, and pinning them.
//! - [`ShmemLock`]: its inode lock, under which the mapping can be frozen
//!   (no resize, no write past the end, no fallocate: `EPERM`).
//! - [`PinnedFolio`]: a folio of a shmem file, pinned (so it neither moves
//!   nor goes away) until dropped, and preserved with KHO on request.
//! - [`NewMemfd`]: a memfd being rebuilt from preserved folios, not yet
//!   visible to anybody.
//!
//! C headers: [`include/linux/shmem_fs.h`](srctree/include/linux/shmem_fs.h),
//! [`include/linux/memfd.h`](srctree/include/linux/memfd.h),
//! [`include/linux/memfd_luo.h`](srctree/include/linux/memfd_luo.h).

use crate::{
    alloc::KVec,
    bindings,
    error::{from_err_ptr, to_result},
    ffi::CStr,
    fs::File,
    kho::{IncomingBuffer, IncomingPages},
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

    /// Pins every folio the file holds below its end and calls `f` for
    /// each, in index order. Holes stay holes. Folios in memory that the
    /// next kernel reuses (KHO scratch, which is CMA) are migrated first;
    /// folios that fallocate reserved but nobody wrote are zeroed.
    pub fn pin_present(&self, mut f: impl FnMut(PinnedFolio, FolioInfo) -> Result) -> Result {
        const BATCH: usize = 512;
        let pages = self.size().div_ceil(PAGE_SIZE);
        if pages == 0 {
            return Ok(());
        }
        let end = usize::try_from(pages - 1).map_err(|_| EFBIG)?;
        // A small file needs small buffers.
        let batch = BATCH.min(usize::try_from(pages).unwrap_or(BATCH));
        let mut raw: KVec<*mut bindings::folio> = KVec::with_capacity(batch, GFP_KERNEL)?;
        let mut info: KVec<bindings::memfd_luo_folio> = KVec::with_capacity(batch, GFP_KERNEL)?;
        let mut start: usize = 0;
        loop {
            // SAFETY: The file is a valid shmem file; `raw` and `info` have room for `batch`
            // entries; `start` is valid for reads and writes.
            let pinned = unsafe {
                bindings::memfd_luo_pin_folios(
                    self.file.as_ptr(),
                    &mut start,
                    end,
                    raw.as_mut_ptr(),
                    info.as_mut_ptr(),
                    batch as u32,
                )
            };
            let pinned = usize::try_from(to_result_long(pinned)?).map_err(|_| EINVAL)?;
            if pinned == 0 {
                return Ok(());
            }
            let mut result = Ok(());
            for i in 0..pinned.min(batch) {
                // SAFETY: The call wrote `pinned` valid entries to both arrays.
                let (folio, at) = unsafe { (*raw.as_ptr().add(i), *info.as_ptr().add(i)) };
                let Some(folio) = NonNull::new(folio) else {
                    continue;
                };
                // INVARIANT: `memfd_luo_pin_folios` pinned it once for us.
                let folio = PinnedFolio(folio);
                let at = FolioInfo {
                    pfn: at.pfn as u64,
                    index: at.index as u64,
                    order: at.order,
                };
                // After a failure, the rest are only unpinned (dropped).
                if result.is_ok() {
                    result = f(folio, at);
                }
            }
            result?;
        }
    }
}

/// Where a pinned folio is: a copy, for building a hand-over.
#[derive(Clone, Copy, Debug)]
pub struct FolioInfo {
    /// Its first page frame.
    pub pfn: u64,
    /// Its first page index in the file.
    pub index: u64,
    /// It holds `1 << order` pages.
    pub order: u32,
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

    /// Undoes [`Self::preserve`]; KHO warns if the folio is not preserved.
    pub fn unpreserve(&self) {
        // SAFETY: As above; KHO checks for itself that the folio is preserved.
        unsafe { bindings::kho_unpreserve_folio(self.as_ptr()) }
    }

    /// Preserves `run`, physically contiguous folios of one page each, as
    /// one range of pages: KHO records it as a few large aligned chunks
    /// instead of one entry per page, and the next kernel reserves it that
    /// fast. It comes back with [`crate::kho::IncomingPages`]. `EINVAL` if
    /// the folios are not single, contiguous pages.
    pub fn preserve_pages(run: &[PinnedFolio]) -> Result {
        let first = Self::check_pages(run)?;
        // SAFETY: The folios are pinned and valid; a folio starts with its first page, and
        // the `run.len()` pages from there are the run's folios, checked contiguous above.
        to_result(unsafe { bindings::kho_preserve_pages(first, run.len()) })
    }

    /// Undoes [`Self::preserve_pages`] for the same run.
    pub fn unpreserve_pages(run: &[PinnedFolio]) {
        if let Ok(first) = Self::check_pages(run) {
            // SAFETY: As in `preserve_pages`.
            unsafe { bindings::kho_unpreserve_pages(first, run.len()) }
        }
    }

    fn check_pages(run: &[PinnedFolio]) -> Result<*mut bindings::page> {
        let first = run.first().ok_or(EINVAL)?;
        for (i, folio) in run.iter().enumerate() {
            if folio.order() != 0 || folio.pfn() != first.pfn() + i as u64 {
                return Err(EINVAL);
            }
        }
        Ok(first.as_ptr().cast())
    }
}

impl Drop for PinnedFolio {
    fn drop(&mut self) {
        // SAFETY: We hold one pin by the type invariants.
        unsafe { bindings::unpin_folio(self.as_ptr()) };
    }
}

/// A memfd being rebuilt, not yet visible to user space.
///
/// # Invariants
///
/// `reserved` pages are accounted with `memfd_luo_reserve()` and not yet
/// settled.
pub struct NewMemfd {
    file: ARef<File>,
    reserved: u64,
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
        // INVARIANT: Nothing reserved yet.
        Ok(Self { file, reserved: 0 })
    }

    /// Accounts the blocks of `pages` pages at once, before they come in
    /// one by one; what does not come in is released when this value goes.
    pub fn reserve(&mut self, pages: u64) -> Result {
        let pages = isize::try_from(pages).map_err(|_| EFBIG)?;
        self.settle();
        // SAFETY: The file is a memfd nobody else sees.
        to_result(unsafe { bindings::memfd_luo_reserve(self.file.as_ptr(), pages) })?;
        // INVARIANT: Reserved above.
        self.reserved = pages as u64;
        Ok(())
    }

    fn settle(&mut self) {
        if self.reserved != 0 {
            // SAFETY: `reserved` pages were reserved by the type invariants.
            unsafe { bindings::memfd_luo_settle(self.file.as_ptr(), self.reserved as isize) };
            self.reserved = 0;
        }
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
    /// file at page `index`, charged to the current task; its blocks must
    /// be in [`Self::reserve`]. `EINVAL` for an index that is not a multiple
    /// of the folio's size, `EEXIST` if the index is taken, `ENOMEM`. On
    /// failure the folio comes back with the error, unchanged.
    pub fn add_folio(
        &mut self,
        folio: IncomingBuffer,
        index: u64,
    ) -> core::result::Result<(), (Error, IncomingBuffer)> {
        let Ok(index) = usize::try_from(index) else {
            return Err((EFBIG, folio));
        };
        // SAFETY: The file is a memfd nobody else sees; `folio` is a restored folio with one
        // reference, which the call consumes on success only.
        let ret = unsafe {
            bindings::memfd_luo_add_folio(self.file.as_ptr(), folio.as_folio_ptr(), index)
        };
        match to_result(ret) {
            Ok(()) => {
                folio.forget();
                Ok(())
            }
            Err(e) => Err((e, folio)),
        }
    }

    /// Puts `pages`, a range of single pages handed over by the previous
    /// kernel, into the file from page `index` on, like
    /// [`Self::add_folio`] for each but faster; `index` moves past the pages
    /// added. On failure the pages that are not in the file stay in
    /// `pages`, unchanged, so the same call can be made again.
    pub fn add_pages(&mut self, pages: &mut IncomingPages, index: &mut u64) -> Result {
        let (first, nr) = pages.as_raw();
        let start = usize::try_from(*index).map_err(|_| EFBIG)?;
        let nr = usize::try_from(nr).map_err(|_| EFBIG)?;
        let mut added = 0;
        // SAFETY: The file is a memfd nobody else sees; `first` is the first of `nr` restored,
        // contiguous pages with one reference each; the call consumes the first `added`.
        let ret = unsafe {
            bindings::memfd_luo_add_pages(self.file.as_ptr(), first, nr, start, &mut added)
        };
        pages.forget_front(added as u64);
        *index += added as u64;
        to_result(ret)
    }

    /// The finished file.
    pub fn into_file(mut self) -> ARef<File> {
        self.settle();
        self.file.clone()
    }
}

impl Drop for NewMemfd {
    fn drop(&mut self) {
        self.settle();
    }
}
