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
//! - [`IncomingPages`]: in the next kernel, a range of single pages the
//!   previous kernel preserved as one, taken one by one.
//!
//! C header: [`include/linux/kexec_handover.h`](srctree/include/linux/kexec_handover.h).

use crate::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::CStr,
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
    /// Allocates and preserves `len` zeroed bytes (`len > 0`).
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
/// `folio` was restored with `kho_restore_folio()` and is owned by this
/// value; its memory starts at `ptr` and holds at least `len` bytes.
pub struct IncomingBuffer {
    folio: NonNull<bindings::folio>,
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
        // SAFETY: `folio` is a valid folio that we now own.
        let (addr, size) = unsafe {
            (
                bindings::folio_address(folio.as_ptr()),
                bindings::folio_size(folio.as_ptr()),
            )
        };
        let ptr = NonNull::new(addr.cast::<u8>());
        let len = len.unwrap_or(size);
        match ptr {
            Some(ptr) if len <= size => {
                // INVARIANT: Restored above; the folio holds `size >= len` bytes at `ptr`.
                Ok(Self { folio, ptr, len })
            }
            _ => {
                // SAFETY: We own the folio and drop it.
                unsafe { bindings::folio_put(folio.as_ptr()) };
                Err(EINVAL)
            }
        }
    }

    /// The order of the restored folio: it holds `PAGE_SIZE << order` bytes.
    pub fn order(&self) -> u32 {
        // SAFETY: We own the folio by the type invariants.
        unsafe { bindings::folio_order(self.folio.as_ptr()) }
    }

    /// The folio, still owned by this value.
    #[cfg(CONFIG_LIVEUPDATE_MEMFD)]
    pub(crate) fn as_folio_ptr(&self) -> *mut bindings::folio {
        self.folio.as_ptr()
    }

    /// Gives up ownership of the folio, with its one reference, to whoever
    /// took it through [`Self::as_folio_ptr`].
    #[cfg(CONFIG_LIVEUPDATE_MEMFD)]
    pub(crate) fn forget(self) {
        core::mem::forget(self);
    }

    /// The handed-over bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: The folio holds at least `len` bytes at `ptr` by the type invariants; the
        // previous kernel wrote them, so they are initialized.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for IncomingBuffer {
    fn drop(&mut self) {
        // SAFETY: We own the folio by the type invariants.
        unsafe { bindings::folio_put(self.folio.as_ptr()) };
    }
}

/// A range of single pages the previous kernel preserved together
/// (`kho_preserve_pages()`), restored; each page is taken as an
/// [`IncomingBuffer`] by iterating, the pages not taken are freed on drop.
///
/// The pages are reached by page frame number, never by arithmetic on
/// `struct page` pointers, which is only valid where the memory map is
/// virtually contiguous (`SPARSEMEM_VMEMMAP`).
///
/// # Invariants
///
/// `next` is the page frame of the first of `left` restored, physically
/// contiguous pages, owned by this value, each with one reference.
pub struct IncomingPages {
    next: u64,
    left: u64,
}

// SAFETY: The pages are owned by this value.
unsafe impl Send for IncomingPages {}

impl IncomingPages {
    /// Restores the `nr` pages at `phys`, an address and count the previous
    /// kernel handed over, which must match one `kho_preserve_pages()`
    /// exactly; `EINVAL` otherwise (including addresses outside memory).
    pub fn restore(phys: u64, nr: u64) -> Result<Self> {
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
        // INVARIANT: Restored above, each page with one reference.
        Ok(Self {
            next: first,
            left: nr,
        })
    }
}

impl IncomingPages {
    /// The pages not taken yet, still owned by this value: the page frame
    /// of the first one and how many.
    #[cfg(CONFIG_LIVEUPDATE_MEMFD)]
    pub(crate) fn as_raw(&self) -> (u64, u64) {
        (self.next, self.left)
    }

    /// Gives up ownership of the first `n` pages not taken yet, with their
    /// references, to whoever took them through [`Self::as_raw`]; at most
    /// all of them.
    #[cfg(CONFIG_LIVEUPDATE_MEMFD)]
    pub(crate) fn forget_front(&mut self, n: u64) {
        let n = n.min(self.left);
        self.left -= n;
        // INVARIANT: The pages are physically contiguous.
        self.next += n;
    }
}

impl Iterator for IncomingPages {
    type Item = IncomingBuffer;

    fn next(&mut self) -> Option<IncomingBuffer> {
        if self.left == 0 {
            return None;
        }
        // The page frame fits: it has a `struct page`.
        let pfn = self.next as usize;
        // SAFETY: `pfn` is the page frame of a restored page, which has a `struct page`. A
        // single page with a reference is an order-0 folio.
        let folio = unsafe { bindings::pfn_folio(pfn) };
        // SAFETY: `pfn_folio()` computes the address of a `struct page`: never NULL.
        let folio = unsafe { NonNull::new_unchecked(folio) };
        // INVARIANT: The first page is taken, the others are physically contiguous.
        self.next += 1;
        self.left -= 1;
        // SAFETY: We own the folio.
        let addr = unsafe { bindings::folio_address(folio.as_ptr()) };
        // INVARIANT: We hand over the page we owned; it holds `PAGE_SIZE` bytes at `addr`.
        NonNull::new(addr.cast::<u8>()).map(|ptr| IncomingBuffer {
            folio,
            ptr,
            len: bindings::PAGE_SIZE,
        })
    }
}

impl Drop for IncomingPages {
    fn drop(&mut self) {
        for page in self.by_ref() {
            drop(page);
        }
    }
}
