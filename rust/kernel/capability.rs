// SPDX-License-Identifier: GPL-2.0

//! POSIX capabilities of the current task.
//!
//! C header: [`include/linux/capability.h`](srctree/include/linux/capability.h).

use crate::bindings;

/// A POSIX capability, as numbered in `include/uapi/linux/capability.h`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Capability(i32);

impl Capability {
    /// `CAP_SYS_ADMIN`: the catch-all administrative capability.
    pub const SYS_ADMIN: Self = Self(bindings::CAP_SYS_ADMIN as i32);
}

/// Returns whether the current task has `cap` in its effective set, in the
/// initial user namespace; a successful check is audited and marks the task
/// as having used its privilege (`PF_SUPERPRIV`), as C's `capable()` does.
///
/// Without `CONFIG_MULTIUSER` every task is privileged and this returns
/// `true`, as the C stub does.
#[inline]
pub fn capable(cap: Capability) -> bool {
    #[cfg(CONFIG_MULTIUSER)]
    {
        // SAFETY: `capable()` only reads the current task's credentials and
        // accepts any capability number (unknown ones fail the check).
        unsafe { bindings::capable(cap.0) }
    }
    #[cfg(not(CONFIG_MULTIUSER))]
    {
        let _ = cap;
        true
    }
}
