// SPDX-License-Identifier: GPL-2.0

//! The in-kernel C interface of `include/linux/liveupdate.h`.
//!
//! Each function is exported with `#[export]`, which checks its signature
//! against the prototype in the header at build time. The functions that
//! register are the boundary where the C caller's promise (valid until
//! unregistered) becomes a [`SubsystemRef`] or a [`FileHandlerRef`], which
//! the registry owns until the unregistration drops it.

use crate::{cmdline, orchestrator::luo, state::State};
use kernel::{
    bindings,
    liveupdate::{FileHandlerRef, SubsystemRef},
    prelude::*,
};

/// The state, `NORMAL` before the orchestrator exists.
fn state() -> State {
    luo().map_or(State::Normal, |luo| luo.state())
}

/// Turns a result into the C convention: 0 or a negative errno.
pub(crate) fn to_c(result: Result) -> c_int {
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Whether the kernel was booted with live update on (`liveupdate=on`,
/// `sessions` or `orchestration`).
///
/// # Safety
///
/// No requirements: callable from any context.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_enabled() -> bool {
    cmdline::enabled()
}

/// The current global state, as an `enum liveupdate_state`.
///
/// # Safety
///
/// No requirements: callable from any context.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_get_state() -> bindings::liveupdate_state {
    state().to_uapi()
}

/// Whether this kernel booted from a live update that has not finished.
///
/// # Safety
///
/// No requirements: callable from any context.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_state_updated() -> bool {
    state() == State::Updated
}

/// Whether no live update is in progress.
///
/// # Safety
///
/// No requirements: callable from any context.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_state_normal() -> bool {
    state() == State::Normal
}

/// Called by `kernel_kexec()` right before the jump to the next kernel:
/// freezes a prepared update. A failed freeze cancels the update and its
/// error aborts the kexec.
///
/// # Safety
///
/// Must be called from process context (it may sleep), as `kernel_kexec()`
/// does with the kexec lock held.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_reboot() -> c_int {
    match luo() {
        Some(luo) => to_c(luo.reboot()),
        None => 0,
    }
}

/// `liveupdate_register_subsystem()`.
///
/// # Safety
///
/// `h` is null or points to a subsystem that, with its ops and name, stays
/// valid and unchanged until it is unregistered.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_register_subsystem(
    h: *mut bindings::liveupdate_subsystem,
) -> c_int {
    // SAFETY: Guaranteed by the caller, as documented in the header.
    let handle = match unsafe { SubsystemRef::from_raw(h) } {
        Ok(handle) => handle,
        Err(e) => return e.to_errno(),
    };
    to_c(
        luo()
            .ok_or(ENODEV)
            .and_then(|luo| luo.register_subsystem(handle)),
    )
}

/// `liveupdate_unregister_subsystem()`.
///
/// # Safety
///
/// No requirements: `h` is only compared with registered subsystems.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_unregister_subsystem(
    h: *mut bindings::liveupdate_subsystem,
) -> c_int {
    to_c(
        luo()
            .ok_or(ENOENT)
            .and_then(|luo| luo.unregister_subsystem(h, false)),
    )
}

/// `liveupdate_unregister_subsystem_sync()`.
///
/// # Safety
///
/// Must be called from process context (it may sleep); `h` is only
/// compared with registered subsystems.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_unregister_subsystem_sync(
    h: *mut bindings::liveupdate_subsystem,
) -> c_int {
    to_c(
        luo()
            .ok_or(ENOENT)
            .and_then(|luo| luo.unregister_subsystem(h, true)),
    )
}

/// `liveupdate_get_subsystem_data()`.
///
/// # Safety
///
/// `data` is valid for writes; `h` is only compared with registered
/// subsystems.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_get_subsystem_data(
    h: *mut bindings::liveupdate_subsystem,
    data: *mut u64,
) -> c_int {
    let luo = match luo() {
        Some(luo) => luo,
        None => return EBUSY.to_errno(),
    };
    match luo.subsystem_data(h) {
        Ok(value) => {
            // SAFETY: The caller guarantees that `data` is valid for writes.
            unsafe { data.write(value) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `liveupdate_register_file_handler()`.
///
/// # Safety
///
/// `h` is null or points to a handler that, with its ops and compatible,
/// stays valid and unchanged until it is unregistered.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_register_file_handler(
    h: *mut bindings::liveupdate_file_handler,
) -> c_int {
    // SAFETY: Guaranteed by the caller, as documented in the header.
    let handler = match unsafe { FileHandlerRef::from_raw(h) } {
        Ok(handler) => handler,
        Err(e) => return e.to_errno(),
    };
    to_c(
        luo()
            .ok_or(ENODEV)
            .and_then(|luo| luo.register_file_handler(handler)),
    )
}

/// `liveupdate_unregister_file_handler()`.
///
/// # Safety
///
/// No requirements: `h` is only compared with registered handlers.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_unregister_file_handler(
    h: *mut bindings::liveupdate_file_handler,
) -> c_int {
    to_c(
        luo()
            .ok_or(ENOENT)
            .and_then(|luo| luo.unregister_file_handler(h, false)),
    )
}

/// `liveupdate_unregister_file_handler_sync()`.
///
/// # Safety
///
/// Must be called from process context (it may sleep); `h` is only
/// compared with registered handlers.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_unregister_file_handler_sync(
    h: *mut bindings::liveupdate_file_handler,
) -> c_int {
    to_c(
        luo()
            .ok_or(ENOENT)
            .and_then(|luo| luo.unregister_file_handler(h, true)),
    )
}
