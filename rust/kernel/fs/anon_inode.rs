// SPDX-License-Identifier: GPL-2.0

//! Files on the anonymous inode.
//!
//! A file with its own file operations and no path in any file system, like
//! the file descriptors `eventfd()` or `epoll_create()` return: user space
//! sees it as `anon_inode:<name>` in `/proc/<pid>/fd/`.
//!
//! C header: [`include/linux/anon_inodes.h`](srctree/include/linux/anon_inodes.h)

use crate::{
    bindings,
    error::{from_err_ptr, VTABLE_DEFAULT_ERROR},
    fs::File,
    module::this_module,
    prelude::*,
    str::CStr,
    sync::aref::ARef,
    types::ForeignOwnable,
};
use core::{marker::PhantomData, ptr::NonNull};

/// The operations of a file on the anonymous inode, and its private data.
///
/// The value [`new_file`] makes the file with is the file's private data
/// until the last reference to the file goes and [`AnonInodeOps::release`]
/// gets it back. The data lives as long as the file, which user space
/// decides: it cannot borrow anything (`'static`).
#[vtable]
pub trait AnonInodeOps: Sized + 'static {
    /// What kind of pointer the private data is kept in.
    type Ptr: ForeignOwnable + Send + Sync + 'static;

    /// Called when the last reference to the file goes, with the private
    /// data; the file itself is going away and is not passed.
    fn release(data: Self::Ptr) {
        drop(data);
    }

    /// Handler for ioctls.
    ///
    /// The `cmd` argument is usually manipulated using the utilities in [`kernel::ioctl`].
    ///
    /// [`kernel::ioctl`]: mod@crate::ioctl
    fn ioctl(
        _data: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handler for ioctls of 32-bit user space on 64-bit platforms; `arg` is the raw value
    /// user space passed (a pointer needs `compat_ptr()`).
    ///
    /// Only needed for ioctls whose structures have another layout there; without it, 32-bit
    /// ioctls go to [`AnonInodeOps::ioctl`] through `compat_ptr_ioctl`, as for a misc device.
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(
        _data: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// Makes a new file on the anonymous inode, named `name` (`anon_inode:<name>` in
/// `/proc/<pid>/fd/`), with the operations of `T` and `data` as its private data, opened with
/// `flags` (`O_RDWR`, ...). The file shares the one anonymous inode with every such file.
///
/// The file holds `data` until its last reference goes. On failure `data` is dropped before
/// this returns, in the caller's context: the caller must not hold a lock that dropping it
/// takes.
pub fn new_file<T: AnonInodeOps>(name: &CStr, data: T::Ptr, flags: u32) -> Result<ARef<File>> {
    let private = data.into_foreign();
    let flags = flags as c_int;
    let vtable = AnonInodeVTable::<T>::build();
    // SAFETY: `name` is a valid string for the duration of the call (the file copies it), the
    // vtable is static, and `private` is a pointer from `into_foreign()` that the operations of
    // `AnonInodeVTable<T>` cast back.
    let file = from_err_ptr(unsafe {
        bindings::anon_inode_getfile(name.as_char_ptr(), vtable, private, flags)
    });
    // `anon_inode_getfile()` returns a file or an `ERR_PTR`, never NULL.
    match file.map(|file| NonNull::new(file.cast::<File>())) {
        // SAFETY: `anon_inode_getfile()` returned a file with one reference, which we take
        // over; `File` wraps `struct file` transparently. No `fdget_pos` is active on a new
        // file.
        Ok(Some(file)) => Ok(unsafe { ARef::from_raw(file) }),
        failed => {
            // SAFETY: The file was not made, so nothing else owns `private`, which comes from
            // `into_foreign()` above.
            drop(unsafe { <T::Ptr as ForeignOwnable>::from_foreign(private) });
            Err(failed.err().unwrap_or(ENOMEM))
        }
    }
}

/// The file operations of the files [`new_file`] makes for `T`.
struct AnonInodeVTable<T: AnonInodeOps>(PhantomData<T>);

impl<T: AnonInodeOps> AnonInodeVTable<T> {
    /// # Safety
    ///
    /// `file` must be a file that [`new_file`] made for `T` and that is being released.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: The release call of a file owns the private data, which `new_file` set from
        // `into_foreign()`.
        let data = unsafe { <T::Ptr as ForeignOwnable>::from_foreign((*file).private_data) };
        T::release(data);
        0
    }

    /// # Safety
    ///
    /// `file` must be a valid file that [`new_file`] made for `T`.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: The ioctl call of a file can access the private data.
        let private = unsafe { (*file).private_data };
        // SAFETY: Ioctl calls can borrow the private data of the file: it is only given back in
        // `release`, which cannot run during an ioctl.
        let data = unsafe { <T::Ptr as ForeignOwnable>::borrow(private) };
        // SAFETY:
        // * The file is valid for the duration of this call.
        // * There is no active fdget_pos region on the file on this thread.
        let file = unsafe { File::from_raw_file(file) };
        match T::ioctl(data, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(err) => err.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// `file` must be a valid file that [`new_file`] made for `T`.
    #[cfg(CONFIG_COMPAT)]
    unsafe extern "C" fn compat_ioctl(
        file: *mut bindings::file,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long {
        // SAFETY: The compat ioctl call of a file can access the private data.
        let private = unsafe { (*file).private_data };
        // SAFETY: As in `ioctl`.
        let data = unsafe { <T::Ptr as ForeignOwnable>::borrow(private) };
        // SAFETY:
        // * The file is valid for the duration of this call.
        // * There is no active fdget_pos region on the file on this thread.
        let file = unsafe { File::from_raw_file(file) };
        match T::compat_ioctl(data, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(err) => err.to_errno() as c_long,
        }
    }

    const VTABLE: bindings::file_operations = bindings::file_operations {
        release: Some(Self::release),
        unlocked_ioctl: if T::HAS_IOCTL {
            Some(Self::ioctl)
        } else {
            None
        },
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: if T::HAS_COMPAT_IOCTL {
            Some(Self::compat_ioctl)
        } else if T::HAS_IOCTL {
            bindings::compat_ptr_ioctl
        } else {
            None
        },
        owner: this_module::<T::OwnerModule>().as_ptr(),
        ..pin_init::zeroed()
    };

    const fn build() -> &'static bindings::file_operations {
        &Self::VTABLE
    }
}
