// SPDX-License-Identifier: GPL-2.0

//! Boot-time entry points: the `liveupdate=` parameter and the
//! `early_initcall` that allocates the orchestrator.
//!
//! `liveupdate=on` (any true boolean, as in Linux 7.3) or
//! `liveupdate=sessions` enables LUO with Linux 7.3's session uAPI
//! ([`crate::device::sessions`]), which user space already speaks;
//! `liveupdate=orchestration` enables it with the orchestration uAPI of the
//! v3 design ([`crate::device::orchestration`]). The two share their ioctl
//! numbers, so `/dev/liveupdate` speaks one of them.
//!
//! `luo_boot.c` registers both hooks (they need linker sections) and
//! forwards here.

use crate::orchestrator;
use kernel::{
    bindings, kho,
    prelude::*,
    sync::atomic::{AtomicFlag, Relaxed},
};

/// The uAPI `/dev/liveupdate` speaks.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Uapi {
    /// The state machine of the v3 design: `liveupdate=orchestration`.
    Orchestration,
    /// Linux 7.3's sessions: `liveupdate=on` or `liveupdate=sessions`.
    Sessions,
}

/// `liveupdate=`: set once at early boot, before the orchestrator exists.
static ENABLED: AtomicFlag = AtomicFlag::new(false);
static ORCHESTRATION: AtomicFlag = AtomicFlag::new(false);

/// Whether the kernel was booted with live update enabled.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// The uAPI chosen at boot (meaningful when [`enabled()`]).
pub(crate) fn uapi() -> Uapi {
    if ORCHESTRATION.load(Relaxed) {
        Uapi::Orchestration
    } else {
        Uapi::Sessions
    }
}

/// Turns live update off if KHO is off, and tells whether it stays on.
///
/// Everything either uAPI hands over lives in KHO: without it (`kho=off`,
/// no room for KHO's scratch area, or `kho_init()` failing at
/// `fs_initcall`, after [`luo_early_init`]), as in Linux 7.3, no LUO.
pub(crate) fn require_kho() -> bool {
    if enabled() && !kho::is_enabled() {
        pr_warn!("disabling live update: KHO is disabled\n");
        ENABLED.store(false, Relaxed);
    }
    enabled()
}

/// Records the value of `liveupdate=`.
///
/// # Safety
///
/// No requirements: callable from any context, including early boot.
#[export]
pub(crate) unsafe extern "C" fn luo_cmdline_set(value: bindings::luo_cmdline) {
    ENABLED.store(value != bindings::luo_cmdline_LUO_OFF, Relaxed);
    ORCHESTRATION.store(value == bindings::luo_cmdline_LUO_ORCHESTRATION, Relaxed);
}

/// Allocates the orchestrator at `early_initcall`, before any driver can
/// register a subsystem, and takes the previous kernel's hand-over.
///
/// # Safety
///
/// Called once, from process context during boot.
#[export]
pub(crate) unsafe extern "C" fn luo_early_init() -> c_int {
    require_kho();
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
