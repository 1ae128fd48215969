// SPDX-License-Identifier: GPL-2.0

//! Boot-time entry points: the `liveupdate=` parameter and the
//! `early_initcall` that allocates the orchestrator.
//!
//! `luo_boot.c` registers both hooks (they need linker sections) and
//! forwards here.

use crate::orchestrator;
use kernel::{
    prelude::*,
    sync::atomic::{AtomicFlag, Relaxed},
};

/// `liveupdate=`: set once at early boot, before the orchestrator exists.
static ENABLED: AtomicFlag = AtomicFlag::new(false);

/// Whether the kernel was booted with `liveupdate=on`.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// Records the value of `liveupdate=<bool>`.
///
/// # Safety
///
/// No requirements: callable from any context, including early boot.
#[export]
pub(crate) unsafe extern "C" fn luo_cmdline_set_enabled(enabled: bool) {
    ENABLED.store(enabled, Relaxed);
}

/// Allocates the orchestrator at `early_initcall`, before any driver can
/// register a subsystem, and takes the previous kernel's hand-over.
///
/// # Safety
///
/// Called once, from process context during boot.
#[export]
pub(crate) unsafe extern "C" fn luo_early_init() -> c_int {
    match orchestrator::init() {
        Ok(()) => {
            if let Some(luo) = orchestrator::luo() {
                luo.receive_handover(enabled());
            }
            0
        }
        Err(e) => {
            pr_err!("cannot allocate the orchestrator: {:?}\n", e);
            e.to_errno()
        }
    }
}
