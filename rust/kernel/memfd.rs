// SPDX-License-Identifier: GPL-2.0

//! Memfds and other shmem and hugetlbfs files, as a live update preserves
//! and restores them.
//!
//! - [`Memfd`]: a file known to be shmem- or hugetlbfs-backed ([`Backing`]):
//!   its size, position and seals, the pages present in its page cache,
//!   and holding them.
//! - [`MemfdLock`]: its inode lock, under which the mapping can be frozen
//!   (no resize, no write past the end, no fallocate: `EPERM`).
//! - [`HeldFolios`]: the folios of a memfd, in runs of physically
//!   contiguous folios holding consecutive pages ([`HeldRun`]), held (so
//!   that they neither move nor go away) until dropped.
//! - [`NewMemfd`]: a memfd being rebuilt from preserved folios, not yet
//!   visible to anybody.
//!
//! C headers: [`include/linux/shmem_fs.h`](srctree/include/linux/shmem_fs.h),
//! [`include/linux/hugetlb.h`](srctree/include/linux/hugetlb.h),
//! [`include/linux/memfd.h`](srctree/include/linux/memfd.h),
//! [`include/linux/memfd_luo.h`](srctree/include/linux/memfd_luo.h).

use crate::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::CStr,
    fs::File,
    kho::Restored,
    mm::folio::{cond_resched, Folio, FolioRange},
    prelude::*,
    sync::aref::ARef,
    uapi,
};
use core::ptr::NonNull;

/// The largest order of a shmem folio: a buddy allocation, at most
/// `MAX_PAGE_ORDER` (C's `MAX_FOLIO_ORDER` also counts gigantic pages).
pub const MAX_SHMEM_FOLIO_ORDER: u32 = bindings::MAX_PAGE_ORDER;

/// The largest order of a hugetlb page: C's `MAX_FOLIO_ORDER`, which counts
/// gigantic pages (order 22, 16 GiB, on x86-64, whose largest huge page
/// is 1 GiB, order 18).
pub const MAX_HUGETLB_ORDER: u32 = bindings::MAX_FOLIO_ORDER;

/// The size of a page, in bytes.
const PAGE_SIZE: u64 = bindings::PAGE_SIZE as u64;

/// What holds a memfd's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// shmem: single pages and transparent huge pages.
    Shmem,
    /// hugetlbfs: huge pages of `1 << order` pages each, and only those.
    Hugetlb {
        /// The order of the file's huge pages.
        order: u32,
    },
}

/// A shmem- or hugetlbfs-backed file: a memfd (`MFD_HUGETLB` or not), an
/// `O_TMPFILE` or linked tmpfs or hugetlbfs file, a shared anonymous
/// mapping.
///
/// # Invariants
///
/// `file` is a shmem or hugetlbfs file as `backing` says, and `inode` is
/// its inode.
pub struct Memfd<'a> {
    file: &'a File,
    inode: NonNull<bindings::inode>,
    backing: Backing,
}

impl<'a> Memfd<'a> {
    /// `file` as a shmem or hugetlbfs file, or `None` if it is neither.
    pub fn new(file: &'a File) -> Option<Self> {
        // SAFETY: `file` is a valid file.
        let order = unsafe { bindings::memfd_luo_page_order(file.as_ptr()) };
        let backing = match u32::try_from(order).ok()? {
            0 => Backing::Shmem,
            order => Backing::Hugetlb { order },
        };
        // SAFETY: `file` is a valid file, which always has an inode.
        let inode = NonNull::new(unsafe { bindings::file_inode(file.as_ptr()) })?;
        // INVARIANT: `memfd_luo_page_order` told the backing.
        Some(Self {
            file,
            inode,
            backing,
        })
    }

    /// What holds the file's memory.
    pub fn backing(&self) -> Backing {
        self.backing
    }

    /// A number that identifies the inode while the file is open (two
    /// files can share an inode).
    pub fn inode_key(&self) -> usize {
        self.inode.as_ptr() as usize
    }

    /// Whether the file has a name in a file system (a memfd has none).
    pub fn is_linked(&self) -> bool {
        let inode = self.inode.as_ptr();
        // SAFETY: The inode lives as long as the file, which outlives `'a`. The link count
        // changes under us (C reads it without a lock too), so it is read through a raw pointer,
        // never a reference; both members of its union are the same integer.
        unsafe { (&raw const (*inode).__bindgen_anon_1.i_nlink).read_volatile() != 0 }
    }

    /// The file size in bytes.
    pub fn size(&self) -> u64 {
        // SAFETY: The inode is valid by the type invariants.
        let size = unsafe { bindings::i_size_read(self.inode.as_ptr()) };
        size.max(0) as u64
    }

    /// The file position.
    pub fn pos(&self) -> i64 {
        let file = self.file.as_ptr();
        // SAFETY: The file is valid. The position changes under us (a racy read is what
        // `lseek()` reports too), so it is read through a raw pointer, never a reference.
        unsafe { (&raw const (*file).f_pos).read_volatile() }
    }

    /// The memfd seals (`F_SEAL_*`), `0` for a shmem file without seals.
    pub fn seals(&self) -> u32 {
        // SAFETY: The file is valid.
        let seals = unsafe { bindings::memfd_get_seals(self.file.as_ptr()) };
        seals.max(0) as u32
    }

    /// How many pages were ever allocated to the file. The count only
    /// grows, and while the mapping is frozen only filling a hole adds to
    /// it: two equal readings mean no hole was filled in between, and a
    /// reading taken before [`Self::hold_present`] is ordered before its
    /// walk.
    pub fn allocs(&self) -> u64 {
        // SAFETY: The file is a valid shmem or hugetlbfs file.
        unsafe { bindings::memfd_luo_allocs(self.file.as_ptr()) as u64 }
    }

    /// Reads pages that are out on swap back into the page cache
    /// (hugetlbfs has no swap).
    pub fn swap_in(&self) -> Result {
        // SAFETY: The file is a valid shmem or hugetlbfs file.
        to_result(unsafe { bindings::memfd_luo_swap_in(self.file.as_ptr()) })
    }

    /// Takes the inode lock.
    pub fn lock(&self) -> MemfdLock<'_> {
        // SAFETY: The inode is valid; the lock is released by `MemfdLock::drop`.
        unsafe { bindings::inode_lock(self.inode.as_ptr()) };
        // INVARIANT: Locked above.
        MemfdLock { memfd: self }
    }

    /// Holds every folio the file holds below its end, grouped into runs
    /// of at most `max_count` folios; holes stay holes. The mapping must be
    /// frozen ([`MemfdLock::set_frozen`]), or the file may change under the
    /// runs. Folios in memory that the next kernel reuses (KHO scratch,
    /// which is CMA) are migrated first; folios that fallocate reserved but
    /// nobody wrote are zeroed. A hugetlbfs file's runs are of its huge
    /// pages.
    pub fn hold_present(&self, max_count: u64) -> Result<HeldFolios> {
        const BATCH: usize = 1024;
        let mut held = HeldFolios { runs: KVVec::new() };
        let pages = self.size().div_ceil(PAGE_SIZE);
        if pages == 0 {
            return Ok(held);
        }
        let end = usize::try_from(pages - 1).map_err(|_| EFBIG)?;
        // A small file needs a small buffer: it has no more folios than pages.
        let room = BATCH.min(usize::try_from(pages).unwrap_or(BATCH));
        let mut batch: KVVec<bindings::memfd_luo_folios> = KVVec::with_capacity(room, GFP_KERNEL)?;
        let mut start: usize = 0;
        loop {
            // SAFETY: The file is a valid memfd; `batch` has room for `room` entries;
            // `start` is valid for reads and writes.
            let got = unsafe {
                bindings::memfd_luo_hold_folios(
                    self.file.as_ptr(),
                    &mut start,
                    end,
                    batch.as_mut_ptr(),
                    room as u32,
                )
            };
            let got = usize::try_from(to_result_long(got)?).map_err(|_| EINVAL)?;
            if got == 0 {
                return Ok(held);
            }
            // SAFETY: The call wrote `got <= room` entries.
            unsafe { batch.inc_len(got.min(room)) };
            let mut result = Ok(());
            for f in batch.drain_all() {
                // SAFETY: The call took a reference on each of the `f.nr` folios of order
                // `f.order`, physically contiguous from `f.pfn`, for us.
                let folios = unsafe { FolioRange::from_raw(f.pfn as u64, f.order, f.nr as u64) };
                if result.is_ok() {
                    result = held.push(f.index as u64, folios, max_count);
                }
            }
            result?;
        }
    }
}

/// Physically contiguous folios of one order, held, that hold consecutive
/// pages of a file.
pub struct HeldRun {
    index: u64,
    folios: FolioRange,
}

impl HeldRun {
    /// The page index of the first folio in the file.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The folios.
    pub fn folios(&self) -> &FolioRange {
        &self.folios
    }
}

/// The folios of a memfd, held with a reference each so that they
/// neither move nor go away (see [`Memfd::hold_present`]), in runs;
/// released on drop.
///
/// A plain reference is enough while the mapping is frozen: see
/// Documentation/mm/memfd_preservation.rst, "Holding, not pinning".
pub struct HeldFolios {
    /// Sorted by index, not overlapping.
    runs: KVVec<HeldRun>,
}

impl Drop for HeldFolios {
    fn drop(&mut self) {
        // Many small runs make a long loop too.
        for run in self.runs.drain_all() {
            drop(run);
            cond_resched();
        }
    }
}

impl HeldFolios {
    /// The runs, in file order.
    pub fn runs(&self) -> &[HeldRun] {
        &self.runs
    }

    /// Adds `folios`, which hold the file's pages from `index` on, after
    /// every folio held so far: as many as the last run has room for (it
    /// has at most `max_count` folios) to it if they continue it there and
    /// in memory, the others as new runs (`ENOMEM`: what is not added is
    /// dropped). The one place runs are formed.
    fn push(&mut self, mut index: u64, mut folios: FolioRange, max_count: u64) -> Result {
        if max_count == 0 {
            return Err(EINVAL);
        }
        if let Some(last) = self.runs.last_mut() {
            let room = max_count.saturating_sub(last.folios.count());
            if room > 0 && last.index + last.folios.pages() == index && last.folios.ends_at(&folios)
            {
                let front = folios.split_front(room);
                index += front.pages();
                // Cannot fail: it continues the run, which has room for it.
                last.folios.append(front, max_count).map_err(|_| EINVAL)?;
            }
        }
        while folios.count() > 0 {
            let front = folios.split_front(max_count);
            let pages = front.pages();
            self.runs.push(
                HeldRun {
                    index,
                    folios: front,
                },
                GFP_KERNEL,
            )?;
            index += pages;
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

/// The inode lock of a [`Memfd`], released on drop.
///
/// # Invariants
///
/// The inode of `memfd` is locked.
pub struct MemfdLock<'a> {
    memfd: &'a Memfd<'a>,
}

impl MemfdLock<'_> {
    /// Freezes or thaws the mapping: while frozen, changing the size,
    /// writing past the end, fallocate and adding seals fail with `EPERM`.
    pub fn set_frozen(&mut self, frozen: bool) {
        // SAFETY: The file is a memfd whose inode is locked, by the type invariants.
        unsafe { bindings::memfd_luo_freeze(self.memfd.file.as_ptr(), frozen) };
    }
}

impl Drop for MemfdLock<'_> {
    fn drop(&mut self) {
        // SAFETY: Locked by the type invariants.
        unsafe { bindings::inode_unlock(self.memfd.inode.as_ptr()) };
    }
}

/// A memfd being rebuilt, not yet visible to user space.
///
/// # Invariants
///
/// The file is a memfd of `backing`. `reserved` pages are accounted with
/// `memfd_luo_reserve()` and not yet settled (only ever for shmem), and
/// `added` of them are in the file.
pub struct NewMemfd {
    file: ARef<File>,
    backing: Backing,
    reserved: u64,
    added: u64,
}

impl NewMemfd {
    /// Creates an empty memfd named `name` (shown as `/memfd:<name>`) that
    /// allows sealing, of `backing`: `EINVAL` for a huge page size this
    /// kernel has no hugetlb pool for.
    pub fn new(name: &CStr, backing: Backing) -> Result<Self> {
        let flags = match backing {
            Backing::Shmem => uapi::MFD_ALLOW_SEALING,
            Backing::Hugetlb { order } => {
                let shift = order.checked_add(bindings::PAGE_SHIFT).ok_or(EINVAL)?;
                if shift > uapi::MFD_HUGE_MASK {
                    return Err(EINVAL);
                }
                uapi::MFD_ALLOW_SEALING | uapi::MFD_HUGETLB | shift << uapi::MFD_HUGE_SHIFT
            }
        };
        // SAFETY: `name` is a valid string; the call returns a new file or an `ERR_PTR`.
        let file = from_err_ptr(unsafe { bindings::memfd_alloc_file(name.as_char_ptr(), flags) })?;
        let file = NonNull::new(file.cast::<File>()).ok_or(ENOMEM)?;
        // SAFETY: `memfd_alloc_file` returned a file with one reference, which we take over;
        // `File` wraps `struct file` transparently.
        let file = unsafe { ARef::from_raw(file) };
        // The kernel picks the hstate from the size: make sure it is the one asked for.
        if Memfd::new(&file).map(|m| m.backing()) != Some(backing) {
            return Err(EINVAL);
        }
        // INVARIANT: Created above as `backing`; nothing reserved yet.
        Ok(Self {
            file,
            backing,
            reserved: 0,
            added: 0,
        })
    }

    /// Accounts the blocks of `pages` pages about to come in, beyond those
    /// accounted that did not come in yet; what is accounted and does not
    /// come in is released when this value goes. Memory handed over counts
    /// as the system's once taken back, and a file can be most of it:
    /// its blocks are accounted as its memory comes back, a run at a time,
    /// not all before (`ENOSPC`). A hugetlb memfd's huge pages are
    /// accounted one by one by hugetlbfs.
    fn reserve(&mut self, pages: u64) -> Result {
        let spare = self.reserved - self.added;
        if self.backing != Backing::Shmem || pages <= spare {
            return Ok(());
        }
        let more = isize::try_from(pages - spare).map_err(|_| EFBIG)?;
        // SAFETY: The file is a memfd nobody else sees.
        to_result(unsafe { bindings::memfd_luo_reserve(self.file.as_ptr(), more) })?;
        // INVARIANT: Reserved above.
        self.reserved += more as u64;
        Ok(())
    }

    fn settle(&mut self) {
        if self.reserved != 0 {
            // SAFETY: `reserved` pages were reserved by the type invariants.
            unsafe { bindings::memfd_luo_settle(self.file.as_ptr(), self.reserved as isize) };
            (self.reserved, self.added) = (0, 0);
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
    /// file at page `index`, charged to the current task, its blocks
    /// accounted to the file. A hugetlb memfd takes only folios of its
    /// huge page size, which become its huge pages. `EINVAL` for an index
    /// that is not a multiple of the folio's size or a folio that does not
    /// fit, `EEXIST` if the index is taken, `ENOSPC` for a cgroup limit,
    /// `ENOMEM`. On failure the folio comes back with the error, unchanged.
    pub fn add_folio(
        &mut self,
        folio: Restored<Folio>,
        index: u64,
    ) -> core::result::Result<(), (Error, Restored<Folio>)> {
        let Ok(index) = usize::try_from(index) else {
            return Err((EFBIG, folio));
        };
        let fits = match self.backing {
            Backing::Shmem => folio.get().order() <= MAX_SHMEM_FOLIO_ORDER,
            Backing::Hugetlb { order } => folio.get().order() == order,
        };
        if !fits {
            return Err((EINVAL, folio));
        }
        let pages = 1u64 << folio.get().order();
        if let Err(e) = self.reserve(pages) {
            return Err((e, folio));
        }
        let (file, raw) = (self.file.as_ptr(), folio.get().as_ptr());
        // SAFETY: The file is a memfd nobody else sees, of the backing each call is for;
        // `folio` is a folio with one reference that nothing else uses (`Restored`), which the
        // call consumes on success only.
        let ret = unsafe {
            match self.backing {
                Backing::Shmem => bindings::memfd_luo_add_folio(file, raw, index),
                Backing::Hugetlb { .. } => bindings::memfd_luo_add_hugetlb_folio(file, raw, index),
            }
        };
        match to_result(ret) {
            Ok(()) => {
                core::mem::forget(folio);
                if self.backing == Backing::Shmem {
                    self.added += pages;
                }
                Ok(())
            }
            Err(e) => Err((e, folio)),
        }
    }

    /// Puts `pages`, single pages handed over by the previous kernel, into
    /// the file from page `index` on, like [`Self::add_folio`] for each but
    /// faster; `index` moves past the pages added. On failure the pages
    /// that are not in the file stay in `pages`, unchanged, so the same
    /// call can be made again. `EINVAL` for large folios or a hugetlb memfd.
    pub fn add_pages(&mut self, pages: &mut Restored<FolioRange>, index: &mut u64) -> Result {
        if pages.get().order() != 0 || self.backing != Backing::Shmem {
            return Err(EINVAL);
        }
        let start = usize::try_from(*index).map_err(|_| EFBIG)?;
        let first = usize::try_from(pages.get().pfn()).map_err(|_| EFBIG)?;
        let nr = usize::try_from(pages.get().count()).map_err(|_| EFBIG)?;
        self.reserve(nr as u64)?;
        let mut added = 0;
        // SAFETY: The file is a shmem memfd nobody else sees; `first` is the page frame of the
        // first of `nr` physically contiguous pages with one reference each that nothing else uses
        // (`Restored`); the call consumes the first `added`.
        let ret = unsafe {
            bindings::memfd_luo_add_pages(self.file.as_ptr(), first, nr, start, &mut added)
        };
        // The call took the references of the first `added` pages over.
        pages.forget_front(added as u64);
        *index += added as u64;
        self.added += added as u64;
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

#[kunit_tests(rust_kernel_memfd)]
mod tests {
    use super::*;

    /// `held` has the runs `want`: (index, first page frame, folios).
    fn assert_runs(held: &HeldFolios, want: &[(u64, u64, u64)]) {
        assert_eq!(held.runs().len(), want.len());
        for (run, want) in held.runs().iter().zip(want) {
            assert_eq!(
                (run.index(), run.folios().pfn(), run.folios().count()),
                *want
            );
        }
    }

    /// Runs continue where the file and the memory both continue, up to
    /// the most folios a run may have; a hole starts a new run.
    #[test]
    fn runs_break_at_holes_and_at_the_count_limit() -> Result {
        let mut pages = FolioRange::alloc_pages(2)?;
        let pfn = pages.pfn();
        let mut held = HeldFolios { runs: KVVec::new() };
        held.push(0, pages.split_front(1), 2)?;
        held.push(1, pages.split_front(1), 2)?;
        // Continues in the file and in memory, but the run is full.
        held.push(2, pages.split_front(1), 2)?;
        // Continues in memory, after a hole in the file.
        held.push(4, pages.split_front(1), 2)?;
        let want = [(0, pfn, 2), (2, pfn + 2, 1), (4, pfn + 3, 1)];
        assert_runs(&held, &want);
        Ok(())
    }

    /// Folios that come several at a time fill the last run up and go on
    /// in new runs of at most the most folios a run may have.
    #[test]
    fn ranges_fill_the_last_run_and_split() -> Result {
        let mut pages = FolioRange::alloc_pages(3)?;
        let pfn = pages.pfn();
        let mut held = HeldFolios { runs: KVVec::new() };
        held.push(0, pages.split_front(2), 3)?;
        held.push(2, pages.split_front(6), 3)?;
        let want = [(0, pfn, 3), (3, pfn + 3, 3), (6, pfn + 6, 2)];
        assert_runs(&held, &want);
        Ok(())
    }
}
