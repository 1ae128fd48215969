// SPDX-License-Identifier: GPL-2.0

//! The states of the live update state machine and its transition rules.
//!
//! ```text
//!           PREPARE              reboot(KEXEC)
//!   NORMAL ---------> PREPARED ---------------> FROZEN --kexec--> UPDATED
//!     ^ ^    CANCEL      |          CANCEL         |                 |
//!     | +----------------+-------------------------+                 |
//!     +------------------------------ FINISH ------------------------+
//! ```

use kernel::{prelude::*, uapi};

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

/// An event that moves the state machine, with the numbering of
/// `enum liveupdate_event`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Event {
    /// NORMAL -> PREPARED.
    Prepare = uapi::liveupdate_event_LIVEUPDATE_PREPARE,
    /// PREPARED -> FROZEN.
    Freeze = uapi::liveupdate_event_LIVEUPDATE_FREEZE,
    /// UPDATED -> NORMAL.
    Finish = uapi::liveupdate_event_LIVEUPDATE_FINISH,
    /// PREPARED or FROZEN -> NORMAL.
    Cancel = uapi::liveupdate_event_LIVEUPDATE_CANCEL,
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

    /// The name shown in `/sys/kernel/liveupdate/state`.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Prepared => "prepared",
            Self::Frozen => "frozen",
            Self::Updated => "updated",
        }
    }

    /// The state `event` leads to from this one; `EBUSY` when the event is
    /// not allowed in this state.
    pub(crate) const fn on(self, event: Event) -> Result<Self> {
        match (self, event) {
            (Self::Normal, Event::Prepare) => Ok(Self::Prepared),
            (Self::Prepared, Event::Freeze) => Ok(Self::Frozen),
            (Self::Prepared | Self::Frozen, Event::Cancel) => Ok(Self::Normal),
            (Self::Updated, Event::Finish) => Ok(Self::Normal),
            _ => Err(EBUSY),
        }
    }

    /// Whether no update is prepared or frozen (NORMAL or UPDATED): only
    /// then may subsystems and file handlers (un)register and outgoing
    /// files change, since an update in progress uses them.
    pub(crate) const fn is_idle(self) -> bool {
        matches!(self, Self::Normal | Self::Updated)
    }
}

impl Event {
    /// The event with uapi value `value`, if there is one.
    pub(crate) const fn from_uapi(value: u32) -> Option<Self> {
        match value {
            uapi::liveupdate_event_LIVEUPDATE_PREPARE => Some(Self::Prepare),
            uapi::liveupdate_event_LIVEUPDATE_FREEZE => Some(Self::Freeze),
            uapi::liveupdate_event_LIVEUPDATE_FINISH => Some(Self::Finish),
            uapi::liveupdate_event_LIVEUPDATE_CANCEL => Some(Self::Cancel),
            _ => None,
        }
    }
}

#[kunit_tests(liveupdate_state)]
mod tests {
    use super::*;

    const STATES: [State; 4] = [
        State::Normal,
        State::Prepared,
        State::Frozen,
        State::Updated,
    ];
    const EVENTS: [Event; 4] = [Event::Prepare, Event::Freeze, Event::Finish, Event::Cancel];

    #[test]
    fn allowed_transitions() {
        assert_eq!(State::Normal.on(Event::Prepare), Ok(State::Prepared));
        assert_eq!(State::Prepared.on(Event::Freeze), Ok(State::Frozen));
        assert_eq!(State::Prepared.on(Event::Cancel), Ok(State::Normal));
        assert_eq!(State::Frozen.on(Event::Cancel), Ok(State::Normal));
        assert_eq!(State::Updated.on(Event::Finish), Ok(State::Normal));
    }

    #[test]
    fn everything_else_is_busy() {
        let mut allowed = 0;
        for state in STATES {
            for event in EVENTS {
                match state.on(event) {
                    Ok(_) => allowed += 1,
                    Err(e) => assert_eq!(e, EBUSY),
                }
            }
        }
        assert_eq!(allowed, 5);
    }

    #[test]
    fn registration_only_when_idle() {
        assert!(State::Normal.is_idle());
        assert!(State::Updated.is_idle());
        assert!(!State::Prepared.is_idle());
        assert!(!State::Frozen.is_idle());
    }

    #[test]
    fn uapi_round_trip() {
        for state in STATES {
            assert_eq!(State::from_uapi(state.to_uapi()), Some(state));
        }
        for event in EVENTS {
            assert_eq!(Event::from_uapi(event as u32), Some(event));
        }
        assert_eq!(
            State::from_uapi(uapi::liveupdate_state_LIVEUPDATE_STATE_UNDEFINED),
            None
        );
        assert_eq!(State::from_uapi(5), None);
        assert_eq!(Event::from_uapi(4), None);
    }
}
