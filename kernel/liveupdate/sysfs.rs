// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/liveupdate/` (`CONFIG_LIVEUPDATE_SYSFS_API`), read-only:
//!
//! - `state`: the global state, one of `normal`, `prepared`, `frozen`,
//!   `updated` and a newline; `poll()` wakes on every change.
//! - `handover`: what became of the previous kernel's hand-over: `none`,
//!   `accepted`, or `rejected: <reason>`; after FINISH, `accepted, finished:`
//!   and what FINISH gave back.

use crate::orchestrator::luo;
use core::fmt::Write;
use kernel::{page::PAGE_SIZE, prelude::*, str::Formatter, sysfs};

/// The `state` file.
pub(crate) type StateFile = sysfs::KernelFile<ShowState>;

/// Shows the orchestrator's state.
pub(crate) struct ShowState;

impl sysfs::Show for ShowState {
    fn show(&self, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
        let name = luo().ok_or(ENODEV)?.state().name().as_bytes();
        page[..name.len()].copy_from_slice(name);
        page[name.len()] = b'\n';
        Ok(name.len() + 1)
    }
}

/// The `handover` file.
pub(crate) type HandoverFile = sysfs::KernelFile<ShowHandover>;

/// Shows what became of the previous kernel's hand-over.
pub(crate) struct ShowHandover;

impl sysfs::Show for ShowHandover {
    fn show(&self, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
        let luo = luo().ok_or(ENODEV)?;
        let (what, why) = luo.received().describe();
        let mut f = Formatter::new(page);
        match luo.finished() {
            Some(finished) => f.write_fmt(fmt!("{what}{why}, finished: {finished}\n")),
            None => f.write_fmt(fmt!("{what}{why}\n")),
        }
        .map_err(|_| EINVAL)?;
        Ok(f.bytes_written())
    }
}

/// Creates `/sys/kernel/liveupdate/state`.
pub(crate) fn create_state() -> impl PinInit<StateFile, Error> {
    sysfs::KernelFile::new(c"liveupdate", c"state", ShowState)
}

/// Creates `/sys/kernel/liveupdate/handover` beside `state`.
pub(crate) fn create_handover(state: &StateFile) -> impl PinInit<HandoverFile, Error> + '_ {
    sysfs::KernelFile::new_beside(state, c"handover", ShowHandover)
}
