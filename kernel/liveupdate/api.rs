// SPDX-License-Identifier: GPL-2.0

//! The in-kernel C interface of `include/linux/liveupdate.h`.
//!
//! Each function is exported with `#[export]`, which checks its signature
//! against the prototype in the header at build time.

use crate::{orchestrator::LUO, state::State};
use kernel::{bindings, prelude::*};

/// Whether the kernel was booted with `liveupdate=on`.
///
/// # Safety
///
/// No requirements: callable from any context.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_enabled() -> bool {
    LUO.enabled()
}

/// The current global state, as an `enum liveupdate_state`.
///
/// # Safety
///
/// No requirements: callable from any context.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_get_state() -> bindings::liveupdate_state {
    LUO.state().to_uapi()
}

/// Whether this kernel booted from a live update that has not finished.
///
/// # Safety
///
/// No requirements: callable from any context.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_state_updated() -> bool {
    LUO.state() == State::Updated
}

/// Whether no live update is in progress.
///
/// # Safety
///
/// No requirements: callable from any context.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_state_normal() -> bool {
    LUO.state() == State::Normal
}

/// Called by `kernel_kexec()` right before the jump to the next kernel.
///
/// With no update prepared (the NORMAL state) there is nothing to freeze and
/// nothing is handed over: the kexec goes on.
///
/// # Safety
///
/// Must be called from process context (it may sleep), as `kernel_kexec()`
/// does with the kexec lock held.
#[export]
pub(crate) unsafe extern "C" fn liveupdate_reboot() -> c_int {
    match LUO.state() {
        State::Normal | State::Updated => 0,
        // The state machine arrives with the LUO core; until then no
        // update can be prepared, so these states are never reached.
        State::Prepared | State::Frozen => EBUSY.to_errno(),
    }
}
