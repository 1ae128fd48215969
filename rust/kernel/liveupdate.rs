// SPDX-License-Identifier: GPL-2.0

//! Live Update Orchestrator (LUO) subsystems.
//!
//! A live update is a kexec reboot into a new kernel during which selected
//! state survives. A subsystem takes part by registering callbacks that LUO
//! calls as the update moves NORMAL -> PREPARED -> FROZEN -> (kexec) ->
//! UPDATED -> NORMAL; each hands one `u64` to the next kernel.
//!
//! This module has two sides:
//!
//! - For drivers: the [`Subsystem`] trait and its [`Registration`], and
//!   the [`FileHandler`] trait and its [`FileHandlerRegistration`], which
//!   unregister on drop. No `unsafe` is needed to use them.
//! - For the orchestrator itself: [`SubsystemRef`] and [`FileHandlerRef`],
//!   a subsystem or a file handler registered through the C API, owned by
//!   the registry that holds it until it is unregistered, with safe methods
//!   to call their callbacks, and [`OwnerRef`], a reference on the module
//!   that provides them.
//!
//! C header: [`include/linux/liveupdate.h`](srctree/include/linux/liveupdate.h).

use crate::{
    bindings,
    error::{to_result, Error, Result, VTABLE_DEFAULT_ERROR},
    ffi::{c_int, CStr},
    fs::File,
    module::this_module,
    prelude::*,
    sync::aref::ARef,
    types::Opaque,
};
use core::{marker::PhantomData, ptr::NonNull};

/// Whether live update is enabled on this boot (`liveupdate=on`, `sessions`
/// or `orchestration`).
///
/// Registrations succeed either way (they fail with `ENODEV` only before
/// LUO is set up at `early_initcall`); without it, no update can be
/// prepared and nothing is handed over, so drivers may skip their set-up.
pub fn enabled() -> bool {
    // SAFETY: Reads a boot-time setting; no requirements.
    unsafe { bindings::liveupdate_enabled() }
}

/// A subsystem that takes part in live updates.
///
/// Every callback is optional: a missing `prepare` hands over `0`, a
/// missing `freeze` keeps the data from `prepare`. Callbacks run in process
/// context, may sleep, and must not register or unregister subsystems.
///
/// # Examples
///
/// ```
/// use kernel::liveupdate::Subsystem;
/// use kernel::prelude::*;
///
/// struct Counter;
///
/// #[vtable]
/// impl Subsystem for Counter {
///     fn prepare(&self) -> Result<u64> {
///         Ok(42)
///     }
///
///     fn boot(&self, data: u64) {
///         pr_info!("the previous kernel handed over {data}\n");
///     }
/// }
/// ```
#[vtable]
pub trait Subsystem: Send + Sync {
    /// NORMAL -> PREPARED: serializes the state to hand over and returns the
    /// `u64` describing it, typically the physical address of memory
    /// preserved with KHO. Workloads keep running.
    fn prepare(&self) -> Result<u64> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// PREPARED -> FROZEN, just before kexec: the final, fast update of the
    /// data returned by [`Subsystem::prepare`].
    fn freeze(&self, _data: u64) -> Result<u64> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Undoes [`Subsystem::prepare`] and [`Subsystem::freeze`]; called with
    /// the latest data.
    fn cancel(&self, _data: u64) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// In the next kernel: the data the previous kernel handed over, called
    /// at registration.
    fn boot(&self, _data: u64) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The update is complete: releases what was restored. Called with the
    /// incoming data, or `0` when there was none.
    fn finish(&self, _data: u64) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A registered [`Subsystem`]; dropping it unregisters.
///
/// Dropping a registration while an update is prepared or frozen waits
/// until the update is cancelled or finished, since LUO still uses it.
///
/// # Invariants
///
/// `raw` holds a `struct liveupdate_subsystem` with the callbacks of
/// `SubsystemVTable<T>` (the trampolines to `T`'s methods), registered with LUO
/// for as long as this value lives, and `data` is initialized before `raw`
/// is registered.
#[pin_data(PinnedDrop)]
pub struct Registration<T: Subsystem> {
    data: T,
    #[pin]
    raw: Opaque<bindings::liveupdate_subsystem>,
}

// SAFETY: LUO may call the callbacks from any task, which only get `&T`, and
// `T: Send + Sync`.
unsafe impl<T: Subsystem> Send for Registration<T> {}
// SAFETY: As above; `&Registration` only gives access to `&T`.
unsafe impl<T: Subsystem> Sync for Registration<T> {}

impl<T: Subsystem> Registration<T> {
    /// Registers `data` as the subsystem `name`. The name keys the data
    /// handed to the next kernel, so use the same name in both kernels.
    ///
    /// In the UPDATED state, [`Subsystem::boot`] runs before this returns
    /// when the previous kernel handed data over for `name`.
    pub fn register(name: &'static CStr, data: T) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            data,
            raw <- Opaque::try_ffi_init(move |slot: *mut bindings::liveupdate_subsystem| {
                // SAFETY: `slot` is valid for writes; the name and the vtable are `'static`.
                unsafe {
                    slot.write(bindings::liveupdate_subsystem {
                        ops: SubsystemVTable::<T>::build(),
                        name: name.as_char_ptr(),
                    })
                };
                // SAFETY: `slot` is a fully initialized subsystem whose memory is pinned and
                // stays valid until `drop` unregisters it; `data`, which the callbacks use, was
                // initialized first.
                to_result(unsafe { bindings::liveupdate_register_subsystem(slot) })
            }),
        })
    }

    /// The subsystem's data.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The data the previous kernel handed over, in the UPDATED state.
    pub fn incoming_data(&self) -> Result<u64> {
        let mut data = 0;
        // SAFETY: `raw` is registered by the type invariants; `data` is valid for writes.
        to_result(unsafe { bindings::liveupdate_get_subsystem_data(self.raw.get(), &mut data) })?;
        Ok(data)
    }
}

#[pinned_drop]
impl<T: Subsystem> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // A live update in progress that still uses the subsystem is waited
        // for. A module's exit never waits (LUO holds the module while it
        // is in use); a failing init or built-in code may.
        // SAFETY: `raw` is registered by the type invariants.
        unsafe { bindings::liveupdate_unregister_subsystem_sync(self.raw.get()) };
    }
}

/// The C callbacks of a [`Registration<T>`].
struct SubsystemVTable<T: Subsystem>(PhantomData<T>);

impl<T: Subsystem> SubsystemVTable<T> {
    const VTABLE: bindings::liveupdate_subsystem_ops = bindings::liveupdate_subsystem_ops {
        prepare: if T::HAS_PREPARE {
            Some(Self::prepare)
        } else {
            None
        },
        freeze: if T::HAS_FREEZE {
            Some(Self::freeze)
        } else {
            None
        },
        cancel: if T::HAS_CANCEL {
            Some(Self::cancel)
        } else {
            None
        },
        boot: if T::HAS_BOOT { Some(Self::boot) } else { None },
        finish: if T::HAS_FINISH {
            Some(Self::finish)
        } else {
            None
        },
        owner: this_module::<T::OwnerModule>().as_ptr(),
    };

    const fn build() -> &'static bindings::liveupdate_subsystem_ops {
        &Self::VTABLE
    }

    /// # Safety
    ///
    /// `h` is the `raw` field of a live [`Registration<T>`] whose `data` is initialized.
    unsafe fn data<'a>(h: *mut bindings::liveupdate_subsystem) -> &'a T {
        let raw = Opaque::cast_from(h);
        // SAFETY: Per the function's requirements `raw` is the `raw` field of a
        // `Registration<T>`, so the container pointer stays inside its allocation.
        let reg = unsafe { crate::container_of!(raw, Registration<T>, raw) };
        // SAFETY: `data` is initialized before registration and outlives it; only a shared
        // reference to the field is created.
        unsafe { &(*reg).data }
    }

    /// # Safety
    ///
    /// Called by LUO with a subsystem registered by [`Registration::register`] and a valid `data`.
    unsafe extern "C" fn prepare(h: *mut bindings::liveupdate_subsystem, data: *mut u64) -> c_int {
        // SAFETY: Per the function's requirements.
        match T::prepare(unsafe { Self::data(h) }) {
            Ok(value) => {
                // SAFETY: `data` is valid for writes per the function's requirements.
                unsafe { data.write(value) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by LUO with a subsystem registered by [`Registration::register`] and a valid `data`.
    unsafe extern "C" fn freeze(h: *mut bindings::liveupdate_subsystem, data: *mut u64) -> c_int {
        // SAFETY: `data` is valid for reads per the function's requirements.
        let old = unsafe { data.read() };
        // SAFETY: Per the function's requirements.
        match T::freeze(unsafe { Self::data(h) }, old) {
            Ok(value) => {
                // SAFETY: `data` is valid for writes per the function's requirements.
                unsafe { data.write(value) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by LUO with a subsystem registered by [`Registration::register`].
    unsafe extern "C" fn cancel(h: *mut bindings::liveupdate_subsystem, data: u64) {
        // SAFETY: Per the function's requirements.
        T::cancel(unsafe { Self::data(h) }, data)
    }

    /// # Safety
    ///
    /// Called by LUO with a subsystem registered by [`Registration::register`].
    unsafe extern "C" fn boot(h: *mut bindings::liveupdate_subsystem, data: u64) {
        // SAFETY: Per the function's requirements.
        T::boot(unsafe { Self::data(h) }, data)
    }

    /// # Safety
    ///
    /// Called by LUO with a subsystem registered by [`Registration::register`].
    unsafe extern "C" fn finish(h: *mut bindings::liveupdate_subsystem, data: u64) {
        // SAFETY: Per the function's requirements.
        T::finish(unsafe { Self::data(h) }, data)
    }
}

/// A handler of preserved files of one kind, for example memfds.
///
/// FD_PRESERVE picks the first registered handler whose
/// [`FileHandler::can_preserve`] accepts the file. The handler serializes
/// the file at PREPARE and describes it with one `u64`; in the next kernel
/// it rebuilds the file from that `u64`, which, like everything the
/// previous kernel handed over, it must not trust.
///
/// Callbacks run in process context and may sleep.
#[vtable]
pub trait FileHandler: Send + Sync {
    /// Whether this handler can preserve `file`.
    fn can_preserve(&self, file: &File) -> bool;

    /// Serializes `file` for the next kernel (at the global or a per-file
    /// PREPARE) and returns the `u64` describing it.
    fn prepare(&self, file: &File) -> Result<u64>;

    /// The final update just before kexec; returns the new data. Without
    /// it the data from [`FileHandler::prepare`] is handed over.
    fn freeze(&self, _file: &File, _data: u64) -> Result<u64> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Undoes [`FileHandler::prepare`] and [`FileHandler::freeze`]; called
    /// with the latest data.
    fn cancel(&self, file: &File, data: u64);

    /// In the next kernel: rebuilds the file described by `data`.
    fn retrieve(&self, data: u64) -> Result<ARef<File>>;

    /// In the next kernel, at FINISH, for every incoming file of this
    /// handler: `file` is the restored file, or `None` if it was never
    /// restored, in which case the handler frees what it kept for it.
    fn finish(&self, file: Option<&File>, data: u64);
}

/// A registered [`FileHandler`]; dropping it unregisters.
///
/// Dropping it while a preserved file uses it, or while an update is
/// prepared or frozen, waits until that ends.
///
/// # Invariants
///
/// `raw` holds a `struct liveupdate_file_handler` with the callbacks of
/// `FileHandlerVTable<T>` (the trampolines to `T`'s methods), registered with LUO
/// for as long as this value lives, and `data` is initialized before `raw`
/// is registered.
#[pin_data(PinnedDrop)]
pub struct FileHandlerRegistration<T: FileHandler> {
    #[pin]
    data: T,
    #[pin]
    raw: Opaque<bindings::liveupdate_file_handler>,
}

// SAFETY: LUO may call the callbacks from any task, which only get `&T`, and
// `T: Send + Sync`.
unsafe impl<T: FileHandler> Send for FileHandlerRegistration<T> {}
// SAFETY: As above; `&FileHandlerRegistration` only gives access to `&T`.
unsafe impl<T: FileHandler> Sync for FileHandlerRegistration<T> {}

impl<T: FileHandler> FileHandlerRegistration<T> {
    /// Registers `data` as the handler `compatible`, the name of the handler
    /// and of its data format; the next kernel picks the handler by it.
    pub fn register(
        compatible: &'static CStr,
        data: impl PinInit<T, Error>,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            data <- data,
            raw <- Opaque::try_ffi_init(move |slot: *mut bindings::liveupdate_file_handler| {
                // SAFETY: `slot` is valid for writes; the name and the vtable are `'static`.
                unsafe {
                    slot.write(bindings::liveupdate_file_handler {
                        ops: FileHandlerVTable::<T>::build(),
                        compatible: compatible.as_char_ptr(),
                    })
                };
                // SAFETY: `slot` is a fully initialized handler whose memory is pinned and stays
                // valid until `drop` unregisters it; `data`, which the callbacks use, was
                // initialized first.
                to_result(unsafe { bindings::liveupdate_register_file_handler(slot) })
            }),
        })
    }

    /// The handler's data.
    pub fn data(&self) -> &T {
        &self.data
    }
}

#[pinned_drop]
impl<T: FileHandler> PinnedDrop for FileHandlerRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // As for subsystems: a preserved file or an update in progress that
        // still uses the handler is waited for.
        // SAFETY: `raw` is registered by the type invariants.
        unsafe { bindings::liveupdate_unregister_file_handler_sync(self.raw.get()) };
    }
}

/// The C callbacks of a [`FileHandlerRegistration<T>`].
struct FileHandlerVTable<T: FileHandler>(PhantomData<T>);

impl<T: FileHandler> FileHandlerVTable<T> {
    const VTABLE: bindings::liveupdate_file_ops = bindings::liveupdate_file_ops {
        prepare: Some(Self::prepare),
        freeze: if T::HAS_FREEZE {
            Some(Self::freeze)
        } else {
            None
        },
        cancel: Some(Self::cancel),
        finish: Some(Self::finish),
        retrieve: Some(Self::retrieve),
        can_preserve: Some(Self::can_preserve),
        owner: this_module::<T::OwnerModule>().as_ptr(),
    };

    const fn build() -> &'static bindings::liveupdate_file_ops {
        &Self::VTABLE
    }

    /// # Safety
    ///
    /// `h` is the `raw` field of a live [`FileHandlerRegistration<T>`] whose `data` is
    /// initialized.
    unsafe fn data<'a>(h: *mut bindings::liveupdate_file_handler) -> &'a T {
        let raw = Opaque::cast_from(h);
        // SAFETY: Per the function's requirements `raw` is the `raw` field of a
        // `FileHandlerRegistration<T>`, so the container pointer stays inside its allocation.
        let reg = unsafe { crate::container_of!(raw, FileHandlerRegistration<T>, raw) };
        // SAFETY: `data` is initialized before registration and outlives it; only a shared
        // reference to the field is created.
        unsafe { &(*reg).data }
    }

    /// # Safety
    ///
    /// Called by LUO with a handler registered by [`FileHandlerRegistration::register`] and a
    /// valid file.
    unsafe extern "C" fn can_preserve(
        h: *mut bindings::liveupdate_file_handler,
        file: *mut bindings::file,
    ) -> bool {
        // SAFETY: Per the function's requirements; LUO holds a reference on `file` for the call.
        let (data, file) = unsafe { (Self::data(h), File::from_raw_file(file)) };
        T::can_preserve(data, file)
    }

    /// # Safety
    ///
    /// Called by LUO with a handler registered by [`FileHandlerRegistration::register`], a
    /// valid file and a valid `out`.
    unsafe extern "C" fn prepare(
        h: *mut bindings::liveupdate_file_handler,
        file: *mut bindings::file,
        out: *mut u64,
    ) -> c_int {
        // SAFETY: Per the function's requirements; LUO holds a reference on `file` for the call.
        let (data, file) = unsafe { (Self::data(h), File::from_raw_file(file)) };
        match T::prepare(data, file) {
            Ok(value) => {
                // SAFETY: `out` is valid for writes per the function's requirements.
                unsafe { out.write(value) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by LUO with a handler registered by [`FileHandlerRegistration::register`], a
    /// valid file and a valid `inout`.
    unsafe extern "C" fn freeze(
        h: *mut bindings::liveupdate_file_handler,
        file: *mut bindings::file,
        inout: *mut u64,
    ) -> c_int {
        // SAFETY: Per the function's requirements; LUO holds a reference on `file` for the call.
        let (data, file) = unsafe { (Self::data(h), File::from_raw_file(file)) };
        // SAFETY: `inout` is valid for reads per the function's requirements.
        let old = unsafe { inout.read() };
        match T::freeze(data, file, old) {
            Ok(value) => {
                // SAFETY: `inout` is valid for writes per the function's requirements.
                unsafe { inout.write(value) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by LUO with a handler registered by [`FileHandlerRegistration::register`] and a
    /// valid file.
    unsafe extern "C" fn cancel(
        h: *mut bindings::liveupdate_file_handler,
        file: *mut bindings::file,
        value: u64,
    ) {
        // SAFETY: Per the function's requirements; LUO holds a reference on `file` for the call.
        let (data, file) = unsafe { (Self::data(h), File::from_raw_file(file)) };
        T::cancel(data, file, value)
    }

    /// # Safety
    ///
    /// Called by LUO with a handler registered by [`FileHandlerRegistration::register`] and a
    /// valid `out`.
    unsafe extern "C" fn retrieve(
        h: *mut bindings::liveupdate_file_handler,
        value: u64,
        out: *mut *mut bindings::file,
    ) -> c_int {
        // SAFETY: Per the function's requirements.
        match T::retrieve(unsafe { Self::data(h) }, value) {
            Ok(file) => {
                // SAFETY: `out` is valid for writes; LUO takes over the reference.
                unsafe { out.write(ARef::into_raw(file).as_ptr().cast()) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by LUO with a handler registered by [`FileHandlerRegistration::register`] and a
    /// file that is null or valid.
    unsafe extern "C" fn finish(
        h: *mut bindings::liveupdate_file_handler,
        file: *mut bindings::file,
        value: u64,
        reclaimed: bool,
    ) {
        let file = if reclaimed && !file.is_null() {
            // SAFETY: Non-null and valid per the function's requirements; LUO holds a reference
            // on it for the call.
            Some(unsafe { File::from_raw_file(file) })
        } else {
            None
        };
        // SAFETY: Per the function's requirements.
        T::finish(unsafe { Self::data(h) }, file, value)
    }
}

/// A reference on the module that provides a subsystem or a file handler
/// (none for built-in code), dropped with this value.
///
/// # Invariants
///
/// `0` is null or a module on which this value holds one reference.
pub struct OwnerRef(*mut bindings::module);

// SAFETY: A module reference may be dropped from any task.
unsafe impl Send for OwnerRef {}
// SAFETY: `&OwnerRef` gives access to nothing.
unsafe impl Sync for OwnerRef {}

impl OwnerRef {
    /// Takes a reference on `module`; `None` if it is going away.
    ///
    /// # Safety
    ///
    /// `module` is null or points to a live module.
    unsafe fn get(module: *mut bindings::module) -> Option<Self> {
        // SAFETY: Per the function's requirements; `try_module_get()` accepts null.
        // INVARIANT: On success it holds one reference.
        unsafe { bindings::try_module_get(module) }.then_some(Self(module))
    }
}

impl Drop for OwnerRef {
    fn drop(&mut self) {
        // SAFETY: This value holds one reference on `self.0` (or it is null), by the type
        // invariants.
        unsafe { bindings::module_put(self.0) }
    }
}

/// A subsystem registered through the C API, as the orchestrator sees it.
///
/// It is not `Copy` or `Clone`: the registry owns it from registration to
/// unregistration and lends it only as a borrow, so no use of it can
/// outlive the registration.
///
/// # Invariants
///
/// `self.0` points to a `struct liveupdate_subsystem` whose `ops` table and
/// `name` string are non-null, and which, with them, stays valid and
/// unchanged for as long as this value lives; `ops->owner` is null or the
/// module that provides them, which stays loaded as long as they are valid.
pub struct SubsystemRef(NonNull<bindings::liveupdate_subsystem>);

// SAFETY: The C API lets LUO call a subsystem's callbacks from any task.
unsafe impl Send for SubsystemRef {}
// SAFETY: As above; all methods take `&self` and only read the subsystem.
unsafe impl Sync for SubsystemRef {}

impl SubsystemRef {
    /// Checks a subsystem handed to `liveupdate_register_subsystem()`.
    ///
    /// Returns `EINVAL` for a null pointer, null `ops` or null `name`.
    ///
    /// # Safety
    ///
    /// `ptr` is null or points to a `struct liveupdate_subsystem` whose `ops`
    /// and `name`, when non-null, stay valid and unchanged until the
    /// returned value is dropped (the C API: until the subsystem is
    /// unregistered, which drops it).
    pub unsafe fn from_raw(ptr: *mut bindings::liveupdate_subsystem) -> Result<Self> {
        let ptr = NonNull::new(ptr).ok_or(EINVAL)?;
        // SAFETY: `ptr` is valid for reads per the function's requirements.
        let raw = unsafe { ptr.as_ref() };
        if raw.ops.is_null() || raw.name.is_null() {
            return Err(EINVAL);
        }
        // INVARIANT: Checked above, and guaranteed by the function's requirements.
        Ok(Self(ptr))
    }

    /// The raw pointer, which identifies the subsystem.
    pub fn as_ptr(&self) -> *mut bindings::liveupdate_subsystem {
        self.0.as_ptr()
    }

    /// Whether `ptr` is this subsystem.
    pub fn is(&self, ptr: *const bindings::liveupdate_subsystem) -> bool {
        core::ptr::eq(self.0.as_ptr(), ptr)
    }

    fn raw(&self) -> &bindings::liveupdate_subsystem {
        // SAFETY: Valid by the type invariants.
        unsafe { self.0.as_ref() }
    }

    fn ops(&self) -> &bindings::liveupdate_subsystem_ops {
        // SAFETY: `ops` is non-null and valid by the type invariants.
        unsafe { &*self.raw().ops }
    }

    /// The subsystem's name.
    pub fn name(&self) -> &CStr {
        // SAFETY: `name` is a non-null, valid C string by the type invariants.
        unsafe { CStr::from_char_ptr(self.raw().name) }
    }

    /// A reference on the owner module; `None` if it is going away.
    pub fn owner(&self) -> Option<OwnerRef> {
        // SAFETY: `owner` is null (built in) or a live module, by the type invariants.
        unsafe { OwnerRef::get(self.ops().owner) }
    }

    /// Calls `prepare()`: the data to hand over (`0` without a callback).
    pub fn prepare(&self) -> Result<u64> {
        let mut data = 0;
        if let Some(prepare) = self.ops().prepare {
            // SAFETY: The callback belongs to this valid subsystem; `data` is valid for writes.
            to_result(unsafe { prepare(self.as_ptr(), &mut data) })?;
        }
        Ok(data)
    }

    /// Calls `freeze()` with the prepared `data`; returns the new data.
    pub fn freeze(&self, mut data: u64) -> Result<u64> {
        if let Some(freeze) = self.ops().freeze {
            // SAFETY: The callback belongs to this valid subsystem; `data` is valid.
            to_result(unsafe { freeze(self.as_ptr(), &mut data) })?;
        }
        Ok(data)
    }

    /// Calls `cancel()`.
    pub fn cancel(&self, data: u64) {
        if let Some(cancel) = self.ops().cancel {
            // SAFETY: The callback belongs to this valid subsystem.
            unsafe { cancel(self.as_ptr(), data) }
        }
    }

    /// Calls `boot()` with the data from the previous kernel.
    pub fn boot(&self, data: u64) {
        if let Some(boot) = self.ops().boot {
            // SAFETY: The callback belongs to this valid subsystem.
            unsafe { boot(self.as_ptr(), data) }
        }
    }

    /// Calls `finish()`.
    pub fn finish(&self, data: u64) {
        if let Some(finish) = self.ops().finish {
            // SAFETY: The callback belongs to this valid subsystem.
            unsafe { finish(self.as_ptr(), data) }
        }
    }
}

/// A file handler registered through the C API, as the orchestrator sees it.
///
/// Owned by the registry and lent as a borrow, as [`SubsystemRef`] is.
///
/// # Invariants
///
/// `self.0` points to a `struct liveupdate_file_handler` whose `ops` table,
/// with its required callbacks (`prepare`, `cancel`, `finish`, `retrieve`,
/// `can_preserve`), and `compatible` string are non-null, and which, with
/// them, stays valid and unchanged for as long as this value lives;
/// `ops->owner` is null or the module that provides them, which stays
/// loaded as long as they are valid.
pub struct FileHandlerRef(NonNull<bindings::liveupdate_file_handler>);

// SAFETY: The C API lets LUO call a handler's callbacks from any task.
unsafe impl Send for FileHandlerRef {}
// SAFETY: As above; all methods take `&self` and only read the handler.
unsafe impl Sync for FileHandlerRef {}

impl FileHandlerRef {
    /// Checks a handler handed to `liveupdate_register_file_handler()`.
    ///
    /// Returns `EINVAL` for a null pointer, null `ops`, a missing required
    /// callback or a null `compatible`.
    ///
    /// # Safety
    ///
    /// `ptr` is null or points to a `struct liveupdate_file_handler` whose
    /// `ops` and `compatible`, when non-null, stay valid and unchanged until
    /// the returned value is dropped (the C API: until the handler is
    /// unregistered, which drops it).
    pub unsafe fn from_raw(ptr: *mut bindings::liveupdate_file_handler) -> Result<Self> {
        let ptr = NonNull::new(ptr).ok_or(EINVAL)?;
        // SAFETY: `ptr` is valid for reads per the function's requirements.
        let raw = unsafe { ptr.as_ref() };
        if raw.ops.is_null() || raw.compatible.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: `ops` is non-null and valid per the function's requirements.
        let ops = unsafe { &*raw.ops };
        if ops.prepare.is_none()
            || ops.cancel.is_none()
            || ops.finish.is_none()
            || ops.retrieve.is_none()
            || ops.can_preserve.is_none()
        {
            return Err(EINVAL);
        }
        // INVARIANT: Checked above, and guaranteed by the function's requirements.
        Ok(Self(ptr))
    }

    /// The raw pointer, which identifies the handler.
    pub fn as_ptr(&self) -> *mut bindings::liveupdate_file_handler {
        self.0.as_ptr()
    }

    /// Whether `ptr` is this handler.
    pub fn is(&self, ptr: *const bindings::liveupdate_file_handler) -> bool {
        core::ptr::eq(self.0.as_ptr(), ptr)
    }

    fn ops(&self) -> &bindings::liveupdate_file_ops {
        // SAFETY: `ptr` and its `ops` are valid by the type invariants.
        unsafe { &*self.0.as_ref().ops }
    }

    /// The handler's compatible string.
    pub fn compatible(&self) -> &CStr {
        // SAFETY: `compatible` is a non-null, valid C string by the type invariants.
        unsafe { CStr::from_char_ptr(self.0.as_ref().compatible) }
    }

    /// A reference on the owner module; `None` if it is going away.
    pub fn owner(&self) -> Option<OwnerRef> {
        // SAFETY: `owner` is null (built in) or a live module, by the type invariants.
        unsafe { OwnerRef::get(self.ops().owner) }
    }

    /// Calls `can_preserve()`.
    pub fn can_preserve(&self, file: &File) -> bool {
        match self.ops().can_preserve {
            // SAFETY: The callback belongs to this valid handler; `file` is a valid file.
            Some(f) => unsafe { f(self.as_ptr(), file.as_ptr()) },
            None => false,
        }
    }

    /// Calls `prepare()`: the data to hand over.
    pub fn prepare(&self, file: &File) -> Result<u64> {
        let mut data = 0;
        if let Some(f) = self.ops().prepare {
            // SAFETY: The callback belongs to this valid handler; the pointers are valid.
            to_result(unsafe { f(self.as_ptr(), file.as_ptr(), &mut data) })?;
        }
        Ok(data)
    }

    /// Calls `freeze()` with the prepared `data`; returns the new data.
    pub fn freeze(&self, file: &File, mut data: u64) -> Result<u64> {
        if let Some(f) = self.ops().freeze {
            // SAFETY: The callback belongs to this valid handler; the pointers are valid.
            to_result(unsafe { f(self.as_ptr(), file.as_ptr(), &mut data) })?;
        }
        Ok(data)
    }

    /// Calls `cancel()`.
    pub fn cancel(&self, file: &File, data: u64) {
        if let Some(f) = self.ops().cancel {
            // SAFETY: The callback belongs to this valid handler; `file` is valid.
            unsafe { f(self.as_ptr(), file.as_ptr(), data) }
        }
    }

    /// Calls `finish()` for an incoming file, restored (`file`) or not.
    pub fn finish(&self, file: Option<&File>, data: u64) {
        let (ptr, reclaimed) = match file {
            Some(file) => (file.as_ptr(), true),
            None => (core::ptr::null_mut(), false),
        };
        if let Some(f) = self.ops().finish {
            // SAFETY: The callback belongs to this valid handler; `ptr` is null or valid.
            unsafe { f(self.as_ptr(), ptr, data, reclaimed) }
        }
    }

    /// Calls `retrieve()`: the file rebuilt from `data`.
    pub fn retrieve(&self, data: u64) -> Result<ARef<File>> {
        let f = self.ops().retrieve.ok_or(EINVAL)?;
        let mut file: *mut bindings::file = core::ptr::null_mut();
        // SAFETY: The callback belongs to this valid handler; `file` is valid for writes.
        to_result(unsafe { f(self.as_ptr(), data, &mut file) })?;
        let file = NonNull::new(file.cast::<File>()).ok_or(EINVAL)?;
        // SAFETY: On success `retrieve()` hands over one reference to a valid file, which
        // `File` wraps transparently.
        Ok(unsafe { ARef::from_raw(file) })
    }
}
