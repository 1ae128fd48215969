// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/liveupdate/state` (`CONFIG_LIVEUPDATE_SYSFS_API`): the
//! global state, read-only, one of `normal`, `prepared`, `frozen`,
//! `updated` and a newline; `poll()` wakes on every change.

use crate::orchestrator::luo;
use kernel::{page::PAGE_SIZE, prelude::*, sysfs};

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

/// Creates `/sys/kernel/liveupdate/state`.
pub(crate) fn create() -> impl PinInit<StateFile, Error> {
    sysfs::KernelFile::new(c"liveupdate", c"state", ShowState)
}
