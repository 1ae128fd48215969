// SPDX-License-Identifier: GPL-2.0

//! The `liveupdate=` boot parameter.
//!
//! `luo_cmdline.c` registers the early parameter and parses the boolean;
//! this file records it in the orchestrator.

use crate::orchestrator::LUO;
use kernel::prelude::*;

/// Records the value of `liveupdate=<bool>`.
///
/// # Safety
///
/// No requirements: callable from any context, including early boot.
#[export]
pub(crate) unsafe extern "C" fn luo_cmdline_set_enabled(enabled: bool) {
    LUO.set_enabled(enabled);
}
