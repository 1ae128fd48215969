// SPDX-License-Identifier: GPL-2.0

//! sysfs: read-only files under `/sys/kernel`.
//!
//! A [`KernelFile`] is a read-only file in a directory `/sys/kernel/<dir>`
//! (created with the first file, more go beside it), whose content a
//! [`Show`] implementation produces. User space can `poll()` the file;
//! [`KernelFile::notify`] wakes it up.
//!
//! C headers: [`include/linux/sysfs.h`](srctree/include/linux/sysfs.h),
//! [`include/linux/kobject.h`](srctree/include/linux/kobject.h).

use crate::{
    bindings,
    error::{to_result, Error, Result},
    ffi::{c_char, CStr},
    page::PAGE_SIZE,
    prelude::*,
    types::Opaque,
};

/// Produces the content of a read-only sysfs file.
pub trait Show: Send + Sync {
    /// Writes the file's content into `page` and returns its length.
    fn show(&self, page: &mut [u8; PAGE_SIZE]) -> Result<usize>;
}

/// Where a [`KernelFile`] goes.
enum Parent {
    /// A new directory `/sys/kernel/<name>`.
    Kernel(&'static CStr),
    /// The directory of another file, which holds a reference on it.
    Directory(*mut bindings::kobject),
}

/// The C side of a [`KernelFile`].
#[repr(C)]
struct RawFile {
    attr: bindings::kobj_attribute,
    kobj: *mut bindings::kobject,
}

/// A read-only file in a directory `/sys/kernel/<dir>`.
///
/// # Invariants
///
/// `raw.kobj` is the directory's kobject, of which this value holds a
/// reference, and `raw.attr` is a file of it, created with the
/// `show` callback of this type, until this value is dropped. `data` is
/// initialized before the file is created.
#[pin_data(PinnedDrop)]
pub struct KernelFile<T: Show> {
    data: T,
    #[pin]
    raw: Opaque<RawFile>,
}

// SAFETY: The C side only calls `show`, which gets `&T`, and `T: Send + Sync`.
unsafe impl<T: Show> Send for KernelFile<T> {}
// SAFETY: As above; shared access only reads `raw` and gives `&T`.
unsafe impl<T: Show> Sync for KernelFile<T> {}

impl<T: Show> KernelFile<T> {
    /// Creates `/sys/kernel/<dir>/<name>`, mode 0444, shown by `data`.
    pub fn new(dir: &'static CStr, name: &'static CStr, data: T) -> impl PinInit<Self, Error> {
        Self::create(Parent::Kernel(dir), name, data)
    }

    /// Creates `<name>`, mode 0444, shown by `data`, in the directory of
    /// `sibling`.
    pub fn new_beside<U: Show>(
        sibling: &KernelFile<U>,
        name: &'static CStr,
        data: T,
    ) -> impl PinInit<Self, Error> {
        // SAFETY: `raw` is initialized, so `kobj` is valid, by the type invariants of `sibling`.
        let kobj = unsafe { (*sibling.raw.get()).kobj };
        Self::create(Parent::Directory(kobj), name, data)
    }

    fn create(parent: Parent, name: &'static CStr, data: T) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            data,
            raw <- Opaque::try_ffi_init(move |slot: *mut RawFile| {
                // SAFETY: `slot` is valid for writes; an all-zero `RawFile` is valid.
                unsafe { slot.write(core::mem::zeroed()) };
                // SAFETY: `slot` is valid and initialized; `name` is `'static`. Whether `show`
                // is a union member or not (it depends on CFI), writing it initializes it.
                let attr = unsafe {
                    (*slot).attr.__bindgen_anon_1.show = Some(Self::show_callback);
                    &mut (*slot).attr
                };
                attr.attr.name = name.as_char_ptr();
                attr.attr.mode = 0o444;
                // As `sysfs_attr_init()` does in C: a static lock class for
                // the lockdep map of the file's active references.
                #[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
                {
                    attr.attr.key = crate::static_lock_class!().as_ptr();
                }

                let kobj = match parent {
                    Parent::Kernel(dir) => {
                        // SAFETY: `kernel_kobj` is set at `core_initcall` and never changes after.
                        let parent = unsafe { bindings::kernel_kobj };
                        // SAFETY: `dir` is a valid C string; `parent` is a valid kobject.
                        unsafe { bindings::kobject_create_and_add(dir.as_char_ptr(), parent) }
                    }
                    // SAFETY: `kobj` is the valid directory of a live `KernelFile`.
                    Parent::Directory(kobj) => unsafe { bindings::kobject_get(kobj) },
                };
                if kobj.is_null() {
                    return Err(ENOMEM);
                }
                // SAFETY: `kobj` is valid; the attribute lives as long as `self`, which removes
                // the file before it goes away, and `data` is initialized.
                let ret =
                    unsafe { bindings::sysfs_create_file_ns(kobj, &attr.attr, core::ptr::null()) };
                if let Err(e) = to_result(ret) {
                    // SAFETY: We hold the only reference to `kobj`.
                    unsafe { bindings::kobject_put(kobj) };
                    return Err(e);
                }
                // SAFETY: `slot` is valid for writes.
                unsafe { (*slot).kobj = kobj };
                Ok(())
            }),
        })
    }

    /// The data that shows the file.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// Wakes up whoever `poll()`s the file: its content changed.
    pub fn notify(&self) {
        let raw = self.raw.get();
        // SAFETY: `raw` is initialized and the file exists, by the type invariants.
        unsafe { bindings::sysfs_notify((*raw).kobj, core::ptr::null(), (*raw).attr.attr.name) };
    }

    /// # Safety
    ///
    /// Called by sysfs for a file created by [`Self::new`], with a buffer of `PAGE_SIZE` bytes.
    unsafe extern "C" fn show_callback(
        _kobj: *mut bindings::kobject,
        attr: *mut bindings::kobj_attribute,
        buf: *mut c_char,
    ) -> isize {
        // SAFETY: `attr` is the `attr` field of the `RawFile` inside a `KernelFile<T>`.
        let raw = unsafe { crate::container_of!(attr, RawFile, attr) };
        // SAFETY: `raw` is the value inside the `raw` field of a `KernelFile<T>`.
        let file = unsafe { crate::container_of!(Opaque::cast_from(raw), KernelFile<T>, raw) };
        // SAFETY: sysfs hands over a buffer of `PAGE_SIZE` bytes that nobody else uses.
        let page = unsafe { &mut *buf.cast::<[u8; PAGE_SIZE]>() };
        // SAFETY: `data` is initialized before the file exists; only a shared reference to the
        // field is created.
        match unsafe { &(*file).data }.show(page) {
            Ok(len) => len.min(PAGE_SIZE) as isize,
            Err(e) => e.to_errno() as isize,
        }
    }
}

#[pinned_drop]
impl<T: Show> PinnedDrop for KernelFile<T> {
    fn drop(self: Pin<&mut Self>) {
        let raw = self.raw.get();
        // SAFETY: By the type invariants the file exists and we hold the kobject's reference.
        // Removing the file waits for running `show` calls.
        unsafe {
            bindings::sysfs_remove_file_ns((*raw).kobj, &(*raw).attr.attr, core::ptr::null());
            bindings::kobject_put((*raw).kobj);
        }
    }
}
