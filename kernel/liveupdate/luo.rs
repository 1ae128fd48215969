// SPDX-License-Identifier: GPL-2.0

//! Live Update Orchestrator (LUO).
//!
//! A live update is a kexec reboot into a new kernel during which selected
//! resources stay alive. LUO coordinates it with a global state machine
//! (NORMAL -> PREPARED -> FROZEN -> kexec -> UPDATED -> NORMAL) driven by one
//! privileged agent through `/dev/liveupdate` and by the kexec path, and
//! carries the preserved state to the next kernel through Kexec HandOver.
//!
//! The crate, one file per concept:
//!
//! - [`orchestrator`]: the single LUO instance, its locks, and the entry
//!   points of the device, the C API and the boot path.
//! - [`transition`]: the transition mutex, held, and the steps of the
//!   global events (prepare, freeze, cancel, finish).
//! - [`state`]: the states, events and transition rules.
//! - [`subsystems`]: the registry of subsystems, in registration order,
//!   and their part of each transition.
//! - [`files`]: file handlers, preserved files, and everything done to
//!   them.
//! - [`sessions`]: the named groups of files of the session uAPI.
//! - [`handover`]: the `luo-v1` hand-over in KHO, written at PREPARE and
//!   read, never trusted, by the next kernel; [`handover::files`] is the
//!   files' and the sessions' `file-descriptors` part of it.
//! - [`api`]: the in-kernel C interface of `include/linux/liveupdate.h`.
//! - [`cmdline`]: `liveupdate=` (which uAPI `/dev/liveupdate` speaks) and
//!   the `early_initcall` (from `luo_boot.c`).
//! - [`device`]: the `/dev/liveupdate` misc device and its two uAPIs,
//!   [`device::orchestration`] and [`device::sessions`].
//! - [`uapi`]: ioctl numbers and argument layouts of
//!   `include/uapi/linux/liveupdate.h`, iommufd-style argument copying.
//! - [`sysfs`]: the state file, `/sys/kernel/liveupdate/state`.
//! - [`test_hook`]: entry points only the C test hook uses.
//!
//! C: `luo_boot.c` (boot hooks, which need linker sections) and, with
//! `CONFIG_LIVEUPDATE_SELFTESTS`, `luo_selftests.c` (the test hook, a C user
//! of the C API).

use kernel::prelude::*;

mod api;
mod cmdline;
mod device;
mod files;
mod handover;
mod orchestrator;
mod sessions;
mod state;
mod subsystems;
#[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
mod sysfs;
#[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
mod test_hook;
mod transition;
mod uapi;

module! {
    type: LiveUpdateModule,
    name: "liveupdate",
    description: "Live Update Orchestrator",
    license: "GPL",
}

/// The module: owns the `/dev/liveupdate` registration, present only when
/// the kernel was booted with `liveupdate=` on (either uAPI).
struct LiveUpdateModule {
    _device: Option<Pin<KBox<device::Registration>>>,
}

impl kernel::Module for LiveUpdateModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // KHO may have failed to start since the early check.
        if !cmdline::require_kho() {
            return Ok(Self { _device: None });
        }
        let luo = orchestrator::luo().ok_or(ENOMEM)?;
        #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
        luo.create_sysfs_files()?;
        let device = KBox::pin_init(device::register(), GFP_KERNEL)?;
        if luo.uapi() == cmdline::Uapi::Sessions {
            luo.start_sessions();
        }
        pr_info!(
            "live update orchestrator enabled ({:?} uAPI), state {}\n",
            luo.uapi(),
            luo.state().name()
        );
        Ok(Self {
            _device: Some(device),
        })
    }
}
