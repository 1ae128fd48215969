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
//! - [`orchestrator`]: the single LUO instance: whether it is enabled, the
//!   global state, the exclusive opener of the device.
//! - [`state`]: the states of the state machine and their uapi encoding.
//! - [`api`]: the in-kernel C interface of `include/linux/liveupdate.h`.
//! - [`cmdline`]: the `liveupdate=` boot parameter (parsed by `luo_cmdline.c`).
//! - [`device`]: the `/dev/liveupdate` misc device and its ioctl dispatch.
//! - [`uapi`]: ioctl numbers and argument structs of
//!   `include/uapi/linux/liveupdate.h`.
//!
//! C glue, where Rust has no abstraction yet: `luo_cmdline.c` (early
//! parameter) and `luo_sysfs.c` (`/sys/kernel/liveupdate/state`).

use kernel::prelude::*;

mod api;
mod cmdline;
mod device;
mod orchestrator;
mod state;
mod uapi;

module! {
    type: LiveUpdateModule,
    name: "liveupdate",
    authors: ["LUO-rs developers"],
    description: "Live Update Orchestrator",
    license: "GPL",
}

/// The module: owns the `/dev/liveupdate` registration, present only when
/// the kernel was booted with `liveupdate=on`.
struct LiveUpdateModule {
    _device: Option<Pin<KBox<device::Registration>>>,
}

impl kernel::Module for LiveUpdateModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if !orchestrator::LUO.enabled() {
            return Ok(Self { _device: None });
        }
        let device = KBox::pin_init(device::register(), GFP_KERNEL)?;
        pr_info!("live update orchestrator enabled\n");
        Ok(Self {
            _device: Some(device),
        })
    }
}
