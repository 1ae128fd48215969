// SPDX-License-Identifier: GPL-2.0

//! The one Live Update Orchestrator instance.
//!
//! All of LUO's run-time state lives in [`Orchestrator`]; there is exactly
//! one, [`LUO`], because a kernel has one live update at a time.

use crate::state::State;
use kernel::sync::atomic::{Acquire, Atomic, AtomicFlag, Relaxed, Release};

/// The state of the Live Update Orchestrator.
pub(crate) struct Orchestrator {
    /// Set once at early boot from `liveupdate=`; read-only afterwards.
    enabled: AtomicFlag,
    /// The global [`State`], in its uapi encoding.
    state: Atomic<u32>,
    /// Whether `/dev/liveupdate` is open (it has at most one opener).
    device_open: AtomicFlag,
}

/// The orchestrator.
pub(crate) static LUO: Orchestrator = Orchestrator {
    enabled: AtomicFlag::new(false),
    state: Atomic::new(State::Normal.to_uapi()),
    device_open: AtomicFlag::new(false),
};

impl Orchestrator {
    /// Whether live update was enabled on the command line.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// Records the `liveupdate=` boot parameter.
    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Relaxed);
    }

    /// The current global state.
    pub(crate) fn state(&self) -> State {
        // Only valid encodings are ever stored.
        State::from_uapi(self.state.load(Acquire)).unwrap_or(State::Normal)
    }

    /// Claims the device for one opener: `false` if it is already open.
    pub(crate) fn claim_device(&self) -> bool {
        self.device_open.cmpxchg(false, true, Acquire).is_ok()
    }

    /// Releases the device claimed by [`Self::claim_device`].
    pub(crate) fn release_device(&self) {
        self.device_open.store(false, Release);
    }
}
