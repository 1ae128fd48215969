// SPDX-License-Identifier: GPL-2.0

//! The states of the live update state machine.
//!
//! ```text
//!           PREPARE              reboot(KEXEC)
//!   NORMAL ---------> PREPARED ---------------> FROZEN --kexec--> UPDATED
//!     ^ ^    CANCEL      |          CANCEL         |                 |
//!     | +----------------+-------------------------+                 |
//!     +------------------------------ FINISH ------------------------+
//! ```

use kernel::uapi;

/// A global live update state, with the numbering of
/// `enum liveupdate_state` in `include/uapi/linux/liveupdate.h`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum State {
    /// No live update in progress.
    Normal = uapi::liveupdate_state_LIVEUPDATE_STATE_NORMAL,
    /// Subsystems and files have serialized their state; workloads run.
    Prepared = uapi::liveupdate_state_LIVEUPDATE_STATE_PREPARED,
    /// The blackout window just before kexec.
    Frozen = uapi::liveupdate_state_LIVEUPDATE_STATE_FROZEN,
    /// Booted from a live update that has not finished yet.
    Updated = uapi::liveupdate_state_LIVEUPDATE_STATE_UPDATED,
}

impl State {
    /// The uapi value of this state.
    pub(crate) const fn to_uapi(self) -> u32 {
        self as u32
    }

    /// The state with uapi value `value`, if there is one.
    pub(crate) const fn from_uapi(value: u32) -> Option<Self> {
        match value {
            uapi::liveupdate_state_LIVEUPDATE_STATE_NORMAL => Some(Self::Normal),
            uapi::liveupdate_state_LIVEUPDATE_STATE_PREPARED => Some(Self::Prepared),
            uapi::liveupdate_state_LIVEUPDATE_STATE_FROZEN => Some(Self::Frozen),
            uapi::liveupdate_state_LIVEUPDATE_STATE_UPDATED => Some(Self::Updated),
            _ => None,
        }
    }
}
