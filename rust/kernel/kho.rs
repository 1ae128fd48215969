// SPDX-License-Identifier: GPL-2.0

//! Kexec HandOver (KHO): memory that survives a kexec.
//!
//! The outgoing kernel preserves memory and publishes named blobs
//! ("subtrees"); the next kernel retrieves them by name. KHO carries the
//! preserved state with every `kexec_file_load`: there is no separate
//! finalize step, a published subtree is part of the hand-over until it is
//! removed.
//!
//! - [`PreservedBuffer`]: zeroed, physically contiguous memory preserved
//!   for the next kernel, freed and unpreserved on drop.
//! - [`Subtree`]: a preserved buffer published under a name, removed from
//!   the hand-over on drop.
//! - [`IncomingBuffer`]: in the next kernel, a subtree or other memory the
//!   previous kernel handed over, returned to the page allocator on drop.
//! - [`preserve_folios`], [`preserve_pages`]: folios held by a
//!   [`FolioRange`], preserved whole or as one range of pages;
//!   [`restore_pages`] takes such a range back in the next kernel.
//! - [`Restored`]: a folio or range KHO gave back, which nothing else uses.
//!
//! C header: [`include/linux/kexec_handover.h`](srctree/include/linux/kexec_handover.h).

use crate::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::CStr,
    mm::folio::{Folio, FolioRange},
    prelude::*,
};
use core::ptr::NonNull;

/// Whether KHO is enabled on this boot (`kho=`).
pub fn is_enabled() -> bool {
    // SAFETY: Reads a boot-time setting; no requirements.
    unsafe { bindings::kho_is_enabled() }
}

/// Whether this kernel was started by a kexec that carried KHO data.
pub fn is_kho_boot() -> bool {
    // SAFETY: Reads a boot-time setting; no requirements.
    unsafe { bindings::is_kho_boot() }
}

/// Zeroed, physically contiguous memory preserved for the next kernel.
///
/// # Invariants
///
/// `ptr` was returned by `kho_alloc_preserve(len)` for `len > 0`, is
/// preserved, and is owned by this value.
pub struct PreservedBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: The buffer is plain memory owned by this value.
unsafe impl Send for PreservedBuffer {}
// SAFETY: Shared references only give `&[u8]`.
unsafe impl Sync for PreservedBuffer {}

impl PreservedBuffer {
    /// The most bytes one buffer holds: one folio of the largest order.
    pub const MAX_LEN: usize = bindings::PAGE_SIZE << bindings::MAX_PAGE_ORDER;

    /// Allocates and preserves `len` zeroed bytes (`0 < len <=` [`Self::MAX_LEN`]).
    pub fn new(len: usize) -> Result<Self> {
        if len == 0 {
            return Err(EINVAL);
        }
        // SAFETY: `kho_alloc_preserve` accepts any size and reports errors with `ERR_PTR`.
        let ptr = from_err_ptr(unsafe { bindings::kho_alloc_preserve(len) })?;
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: Allocated and preserved above.
        Ok(Self { ptr, len })
    }

    /// The buffer.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialized (zeroed) bytes by the type invariants.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The buffer's physical address, to hand it over.
    pub fn phys(&self) -> u64 {
        // SAFETY: `ptr` is a valid direct-map address (folio memory) by the type invariants.
        unsafe { bindings::virt_to_phys(self.ptr.as_ptr().cast()) }
    }

    /// The buffer, to write it.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: As above, and `&mut self` gives exclusive access.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for PreservedBuffer {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `kho_alloc_preserve` and is not used after this.
        unsafe { bindings::kho_unpreserve_free(self.ptr.as_ptr().cast()) };
    }
}

/// A [`PreservedBuffer`] published in the hand-over under a name.
///
/// # Invariants
///
/// `buffer` is published with `kho_add_subtree()` until this value drops.
pub struct Subtree {
    buffer: PreservedBuffer,
}

impl Subtree {
    /// Publishes `buffer` as the subtree `name`; `EEXIST` if the name is
    /// taken. On failure the buffer is freed.
    pub fn publish(name: &'static CStr, buffer: PreservedBuffer) -> Result<Self> {
        // SAFETY: `name` is a valid string that outlives the subtree; the buffer is preserved
        // memory of `len` bytes that stays allocated until `drop` removes the subtree.
        to_result(unsafe {
            bindings::kho_add_subtree(name.as_char_ptr(), buffer.ptr.as_ptr().cast(), buffer.len)
        })?;
        // INVARIANT: Published above.
        Ok(Self { buffer })
    }

    /// The published bytes, to update them in place.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.buffer.as_mut_slice()
    }
}

impl Drop for Subtree {
    fn drop(&mut self) {
        // SAFETY: The buffer is published by the type invariants; `buffer` is freed after this.
        unsafe { bindings::kho_remove_subtree(self.buffer.ptr.as_ptr().cast()) };
    }
}

/// The order of the folio the previous kernel preserved at `phys`, an
/// address it handed over, if one starts there and is not restored yet.
/// Checked quietly: any address is accepted.
pub fn preserved_folio_order(phys: u64) -> Option<u32> {
    let page = bindings::PAGE_SIZE as u64;
    if phys % page != 0 {
        return None;
    }
    let pfn = usize::try_from(phys / page).ok()?;
    // SAFETY: `pfn_valid` accepts any number.
    if unsafe { bindings::pfn_valid(pfn) } == 0 {
        return None;
    }
    // SAFETY: `kho_preserved_folio_order` accepts any address.
    u32::try_from(unsafe { bindings::kho_preserved_folio_order(phys) }).ok()
}

/// Memory handed over by the previous kernel, restored from KHO.
///
/// Its content comes from another kernel and must be validated before use.
///
/// # Invariants
///
/// `folio` was restored with `kho_restore_folio()`; its memory starts at
/// `ptr` and holds at least `len` bytes.
pub struct IncomingBuffer {
    folio: Folio,
    ptr: NonNull<u8>,
    len: usize,
}

/// A subtree handed over by the previous kernel.
pub type IncomingSubtree = IncomingBuffer;

// SAFETY: The memory is a folio owned by this value.
unsafe impl Send for IncomingBuffer {}
// SAFETY: Shared references only give `&[u8]`.
unsafe impl Sync for IncomingBuffer {}

impl IncomingBuffer {
    /// Restores the subtree `name` from the previous kernel. `ENOENT` when
    /// there is none (or this is no KHO boot); `EINVAL` when KHO's record of
    /// it does not match preserved memory of its size.
    pub fn retrieve(name: &CStr) -> Result<Self> {
        let mut phys: bindings::phys_addr_t = 0;
        let mut len: usize = 0;
        // SAFETY: `name` is a valid string; the out-pointers are valid.
        to_result(unsafe {
            bindings::kho_retrieve_subtree(name.as_char_ptr(), &mut phys, &mut len)
        })?;
        Self::restore(phys, len)
    }

    /// Restores `len` bytes at `phys`, an address the previous kernel
    /// handed over, which must be the start of a preserved folio of at
    /// least `len` bytes; `EINVAL` otherwise (including addresses outside
    /// memory). A folio can be restored once.
    pub fn restore(phys: u64, len: usize) -> Result<Self> {
        if len == 0 {
            return Err(EINVAL);
        }
        Self::restore_up_to(phys, Some(len))
    }

    /// Restores the whole preserved folio at `phys`, an address the
    /// previous kernel handed over; `EINVAL` if none starts there.
    pub fn restore_folio(phys: u64) -> Result<Self> {
        Self::restore_up_to(phys, None)
    }

    fn restore_up_to(phys: u64, len: Option<usize>) -> Result<Self> {
        // Checked quietly first: `kho_restore_folio` warns.
        preserved_folio_order(phys).ok_or(EINVAL)?;
        // SAFETY: `phys` is in memory with a struct page; `kho_restore_folio` checks that a
        // preserved folio starts there and returns NULL otherwise.
        let folio = NonNull::new(unsafe { bindings::kho_restore_folio(phys) }).ok_or(EINVAL)?;
        // SAFETY: A restored folio comes with one reference, which we take over.
        let folio = unsafe { Folio::from_raw(folio) };
        let len = len.unwrap_or(folio.size());
        match folio.address() {
            // INVARIANT: Restored above; the folio holds at least `len` bytes at `ptr`.
            Some(ptr) if len <= folio.size() => Ok(Self { folio, ptr, len }),
            _ => Err(EINVAL),
        }
    }

    /// The order of the restored folio: it holds `PAGE_SIZE << order` bytes.
    pub fn order(&self) -> u32 {
        self.folio.order()
    }

    /// The restored folio, to use it as memory of the new kernel.
    pub fn into_folio(self) -> Restored<Folio> {
        // INVARIANT: A restored folio is referenced by us alone and used by nothing.
        Restored(self.folio)
    }

    /// The handed-over bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: The folio holds at least `len` bytes at `ptr` by the type invariants; the
        // previous kernel wrote them, so they are initialized.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

/// Preserves each folio of `folios` whole for the next kernel, with its
/// order; all or nothing. The folios must stay allocated until
/// [`unpreserve_folios`], or the next kernel finds other data there.
pub fn preserve_folios(folios: &FolioRange) -> Result {
    for i in 0..folios.count() {
        let Some(folio) = folios.folio_ptr(i) else {
            break;
        };
        // SAFETY: `folio` is a folio `folios` holds.
        if let Err(e) = to_result(unsafe { bindings::kho_preserve_folio(folio.as_ptr()) }) {
            for j in 0..i {
                if let Some(folio) = folios.folio_ptr(j) {
                    // SAFETY: As above; it was preserved just before.
                    unsafe { bindings::kho_unpreserve_folio(folio.as_ptr()) };
                }
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Undoes [`preserve_folios`]; KHO warns about what is not preserved.
pub fn unpreserve_folios(folios: &FolioRange) {
    for i in 0..folios.count() {
        if let Some(folio) = folios.folio_ptr(i) {
            // SAFETY: `folio` is a folio `folios` holds.
            unsafe { bindings::kho_unpreserve_folio(folio.as_ptr()) };
        }
    }
}

/// Preserves `pages`, single pages (order 0, `EINVAL` otherwise), as one
/// range: KHO records it as a few large aligned chunks instead of one entry
/// per page, and the next kernel reserves it that fast; it comes back with
/// [`restore_pages`]. All or nothing; the same rule as [`preserve_folios`].
pub fn preserve_pages(pages: &FolioRange) -> Result {
    if pages.order() != 0 {
        return Err(EINVAL);
    }
    let (Some(first), Ok(count)) = (pages.folio_ptr(0), usize::try_from(pages.count())) else {
        return Err(EINVAL);
    };
    // SAFETY: The `count` pages are held order-0 folios, physically contiguous from `first`; a
    // folio starts with its first page. KHO rolls a failed range back itself.
    to_result(unsafe { bindings::kho_preserve_pages(first.as_ptr().cast(), count) })
}

/// Undoes [`preserve_pages`]; KHO warns about what is not preserved.
pub fn unpreserve_pages(pages: &FolioRange) {
    if let (0, Some(first)) = (pages.order(), pages.folio_ptr(0)) {
        // SAFETY: As in `preserve_pages`.
        unsafe { bindings::kho_unpreserve_pages(first.as_ptr().cast(), pages.count() as usize) };
    }
}

/// In the next kernel: restores the `nr` single pages at `phys`, an address
/// and count the previous kernel handed over, which must match one
/// [`preserve_pages`] exactly; `EINVAL` otherwise (including addresses
/// outside memory).
pub fn restore_pages(phys: u64, nr: u64) -> Result<Restored<FolioRange>> {
    let page = bindings::PAGE_SIZE as u64;
    if phys % page != 0 || nr == 0 {
        return Err(EINVAL);
    }
    let first = phys / page;
    let last = first.checked_add(nr - 1).ok_or(EINVAL)?;
    for pfn in [first, last] {
        let pfn = usize::try_from(pfn).map_err(|_| EINVAL)?;
        // SAFETY: `pfn_valid` accepts any number.
        if unsafe { bindings::pfn_valid(pfn) } == 0 {
            return Err(EINVAL);
        }
    }
    let nr_pages = usize::try_from(nr).map_err(|_| EINVAL)?;
    // SAFETY: `kho_pages_are_preserved` accepts any range.
    if !unsafe { bindings::kho_pages_are_preserved(phys, nr_pages) } {
        // Checked quietly first: `kho_restore_pages` warns.
        return Err(EINVAL);
    }
    // SAFETY: The range starts and ends in memory with struct pages; KHO checks that each
    // of its chunks was preserved and returns NULL otherwise.
    if unsafe { bindings::kho_restore_pages(phys, nr_pages) }.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: Restored above: `nr` contiguous pages, each with one reference, which is an
    // order-0 folio.
    let pages = unsafe { FolioRange::from_raw(first, 0, nr) };
    // INVARIANT: Restored pages are referenced by us alone and used by nothing.
    Ok(Restored(pages))
}

/// A [`Folio`] or [`FolioRange`] KHO restored: memory of the previous
/// kernel that nothing in this one uses yet, which may become a page
/// cache's, a mapping's or anybody's.
///
/// # Invariants
///
/// The folios of `self.0` are referenced by it alone, and are in no page
/// cache, on no LRU list and mapped nowhere.
pub struct Restored<T>(T);

impl<T> Restored<T> {
    /// The folio or range.
    pub fn get(&self) -> &T {
        &self.0
    }
}

impl Restored<FolioRange> {
    /// Gives the first `n` folios up to whoever took them over through
    /// [`FolioRange::pfn`]; see [`FolioRange::forget_front`].
    pub fn forget_front(&mut self, n: u64) {
        // INVARIANT: The folios left are still ours alone.
        self.0.forget_front(n);
    }
}
