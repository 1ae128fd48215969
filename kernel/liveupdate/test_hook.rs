// SPDX-License-Identifier: GPL-2.0

//! Entry points for the test hook (`CONFIG_LIVEUPDATE_SELFTESTS`,
//! `luo_selftests.c`) that the public C API does not offer.

use crate::{api::to_c, orchestrator::luo};
use kernel::{ffi::c_char, prelude::*, str::CStr};

/// Enters UPDATED as if the previous kernel had handed `data` over for the
/// subsystem `name`: the path an accepted hand-over takes.
///
/// # Safety
///
/// `name` is null or a valid NUL-terminated string.
#[export]
pub(crate) unsafe extern "C" fn luo_selftest_add_incoming(name: *const c_char, data: u64) -> c_int {
    if name.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: The caller passes a valid NUL-terminated string.
    let name = unsafe { CStr::from_char_ptr(name) };
    to_c(
        luo()
            .ok_or(ENODEV)
            .and_then(|luo| luo.add_incoming(name, data)),
    )
}

/// Damages the hand-over right before the next kexec, in way `how`
/// (`LUO_DAMAGE_*` of `luo_selftests.h`; 0: do not).
///
/// # Safety
///
/// No requirements.
#[export]
pub(crate) unsafe extern "C" fn luo_selftest_damage_handover(how: u32) -> c_int {
    match luo() {
        Some(luo) => {
            luo.set_damage(how);
            0
        }
        None => ENODEV.to_errno(),
    }
}

/// Freezes a prepared update as the reboot path does, without committing
/// to a kexec: CANCEL still works.
///
/// # Safety
///
/// No requirements.
#[export]
pub(crate) unsafe extern "C" fn luo_selftest_freeze() -> c_int {
    to_c(luo().ok_or(ENODEV).and_then(|luo| luo.freeze_only()))
}
