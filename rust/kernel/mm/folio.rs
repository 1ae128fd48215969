// SPDX-License-Identifier: GPL-2.0

//! Folios held by a reference: one ([`Folio`]) or a physically contiguous
//! run of them ([`FolioRange`]).
//!
//! Code that moves memory between owners (the page cache, Kexec HandOver)
//! passes these values around, so that a reference always has exactly one
//! owner and is dropped once.
//!
//! A run is reached by page frame number, never by arithmetic on `struct
//! page` pointers, which is only valid where the memory map is virtually
//! contiguous (`SPARSEMEM_VMEMMAP`).
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).

use crate::{bindings, prelude::*};
use core::ptr::NonNull;

/// A reference on a folio, dropped with `folio_put()`.
///
/// # Invariants
///
/// `self.0` is a folio on which this value holds one reference.
pub struct Folio(NonNull<bindings::folio>);

// SAFETY: A folio reference may be used and dropped from any task.
unsafe impl Send for Folio {}
// SAFETY: `&Folio` only reads what the reference keeps stable.
unsafe impl Sync for Folio {}

impl Folio {
    /// Takes over one reference on `folio`.
    ///
    /// # Safety
    ///
    /// `folio` is a folio, and the caller gives this value one reference on
    /// it.
    pub unsafe fn from_raw(folio: NonNull<bindings::folio>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self(folio)
    }

    /// The folio.
    pub fn as_ptr(&self) -> *mut bindings::folio {
        self.0.as_ptr()
    }

    /// Its order: it holds `PAGE_SIZE << order` bytes.
    pub fn order(&self) -> u32 {
        // SAFETY: The folio is valid: we hold a reference on it.
        unsafe { bindings::folio_order(self.as_ptr()) }
    }

    /// Its size in bytes.
    pub fn size(&self) -> usize {
        // SAFETY: As above.
        unsafe { bindings::folio_size(self.as_ptr()) }
    }

    /// Its address in the kernel's direct map; `None` for high memory.
    pub fn address(&self) -> Option<NonNull<u8>> {
        // SAFETY: As above.
        NonNull::new(unsafe { bindings::folio_address(self.as_ptr()) }.cast::<u8>())
    }
}

impl Drop for Folio {
    fn drop(&mut self) {
        // SAFETY: We hold one reference by the type invariants; it goes.
        unsafe { bindings::folio_put(self.as_ptr()) };
    }
}

/// Physically contiguous folios of one order, each held by a reference
/// this value owns; dropped with it. Dropping it may sleep.
///
/// # Invariants
///
/// `pfn` is the first page frame of the first of `count` folios of order
/// `order`, the `i`-th of which starts at page frame `pfn + (i << order)`;
/// this value holds one reference on each.
pub struct FolioRange {
    pfn: u64,
    order: u32,
    count: u64,
}

// SAFETY: Folio references may be used and dropped from any task.
unsafe impl Send for FolioRange {}
// SAFETY: `&FolioRange` only reads what the references keep stable.
unsafe impl Sync for FolioRange {}

impl FolioRange {
    /// Takes over the references of `count` folios of order `order` from
    /// page frame `pfn` on.
    ///
    /// # Safety
    ///
    /// The folios are physically contiguous as the type invariants say,
    /// and the caller gives this value one reference on each.
    pub unsafe fn from_raw(pfn: u64, order: u32, count: u64) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self { pfn, order, count }
    }

    /// Allocates `1 << order` physically contiguous single pages, each its
    /// own order-0 folio (`split_page()`), to be freed one by one.
    pub fn alloc_pages(order: u32) -> Result<Self> {
        if order > bindings::MAX_PAGE_ORDER {
            return Err(EINVAL);
        }
        // SAFETY: Any order up to `MAX_PAGE_ORDER` may be asked for; `GFP_KERNEL` makes no
        // compound page.
        let page = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL, order) };
        if page.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `page` heads a non-compound allocation of `order`, which `split_page()` turns
        // into `1 << order` pages with one reference each, order-0 folios.
        let pfn = unsafe {
            bindings::split_page(page, order);
            bindings::page_to_pfn(page) as u64
        };
        // INVARIANT: Contiguous order-0 folios whose references we own.
        Ok(Self {
            pfn,
            order: 0,
            count: 1 << order,
        })
    }

    /// The first page frame of the first folio.
    pub fn pfn(&self) -> u64 {
        self.pfn
    }

    /// The order of each folio.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// How many folios.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many pages.
    pub fn pages(&self) -> u64 {
        self.count << self.order
    }

    /// Whether `next` is of the same order and starts where this range
    /// ends in memory.
    pub fn ends_at(&self, next: &FolioRange) -> bool {
        next.order == self.order && next.pfn == self.pfn + self.pages()
    }

    /// Appends `next` if it is of the same order, starts where this range
    /// ends, and both together have at most `max` folios; otherwise gives
    /// it back.
    pub fn append(&mut self, next: FolioRange, max: u64) -> core::result::Result<(), FolioRange> {
        if !self.ends_at(&next) || self.count.saturating_add(next.count) > max {
            return Err(next);
        }
        // INVARIANT: `next`'s folios follow ours, and its references become ours.
        self.count += next.count;
        core::mem::forget(next);
        Ok(())
    }

    /// The `i`-th folio, still held by this value; `None` past the end.
    pub fn folio_ptr(&self, i: u64) -> Option<NonNull<bindings::folio>> {
        if i >= self.count {
            return None;
        }
        // The page frame fits: it has a `struct page`.
        let pfn = (self.pfn + (i << self.order)) as usize;
        // SAFETY: `pfn` starts a folio we hold by the type invariants.
        NonNull::new(unsafe { bindings::pfn_folio(pfn) })
    }

    /// Gives the references of the first `n` folios (at most all of them)
    /// up, to whoever took them over through [`Self::folio_ptr`] or
    /// [`Self::pfn`]; they are not dropped.
    pub fn forget_front(&mut self, n: u64) {
        let n = n.min(self.count);
        self.count -= n;
        // INVARIANT: The folios are physically contiguous.
        self.pfn += n << self.order;
    }
}

impl FolioRange {
    /// Takes the first `n` folios (at most all of them) as a range of
    /// their own.
    pub fn split_front(&mut self, n: u64) -> FolioRange {
        let n = n.min(self.count);
        let front = FolioRange {
            pfn: self.pfn,
            order: self.order,
            count: n,
        };
        // INVARIANT: The first `n` references now belong to `front`.
        self.forget_front(n);
        front
    }

    /// Takes the first folio.
    pub fn pop_front(&mut self) -> Option<Folio> {
        let folio = self.folio_ptr(0)?;
        // Our reference on the first folio goes to the `Folio`.
        self.forget_front(1);
        // SAFETY: `folio` is a folio whose reference we owned.
        Some(unsafe { Folio::from_raw(folio) })
    }
}

impl Drop for FolioRange {
    fn drop(&mut self) {
        crate::task::might_sleep();
        let mut i = 0u64;
        while let Some(folio) = self.pop_front() {
            drop(folio);
            i += 1;
            if i % 4096 == 0 {
                cond_resched();
            }
        }
    }
}

/// Gives the CPU to another task if one should run: a long loop in process
/// context calls it now and then.
pub fn cond_resched() {
    // SAFETY: `cond_resched()` has no requirements; it may sleep, which every caller allows
    // (`might_sleep()` checks it where it matters).
    unsafe { bindings::cond_resched() };
}

#[kunit_tests(rust_mm_folio)]
mod tests {
    use super::*;

    /// Four physically contiguous pages, each its own folio, and what
    /// [`FolioRange::append`] makes of them.
    #[test]
    fn append_takes_only_what_continues() -> Result {
        let mut pages = FolioRange::alloc_pages(2)?;
        let pfn = pages.pfn();
        let mut page = || pages.split_front(1);
        let (mut run, second, third, fourth) = (page(), page(), page(), page());
        assert!(run.append(second, 3).is_ok());
        // Not where the run ends.
        let fourth = run.append(fourth, 3).err().ok_or(EINVAL)?;
        assert!(run.append(third, 3).is_ok());
        assert_eq!((run.pfn(), run.count(), run.pages()), (pfn, 3, 3));
        // Too many folios for `max`.
        let fourth = run.append(fourth, 3).err().ok_or(EINVAL)?;
        assert!(run.append(fourth, 4).is_ok());
        assert_eq!(run.count(), 4);
        // Taking one from the front leaves the rest.
        let first = run.pop_front().ok_or(EINVAL)?;
        assert_eq!(first.order(), 0);
        assert_eq!((run.pfn(), run.count()), (pfn + 1, 3));
        Ok(())
    }
}
