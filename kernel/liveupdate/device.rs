// SPDX-License-Identifier: GPL-2.0

//! `/dev/liveupdate`: the misc device, which speaks the uAPI chosen at boot
//! ([`crate::cmdline`]).
//!
//! - [`orchestration`]: the state machine of the v3 design, driven by one
//!   privileged agent (`CAP_SYS_ADMIN`, else `EPERM`); closing the device
//!   cancels a pending update.
//! - [`sessions`]: Linux 7.3's session uAPI; the device node's mode decides
//!   who may open it, and sessions outlive the device's file descriptor.
//!
//! Either way the device has one opener at a time (`EBUSY`): one open file
//! description, which a process may share with its children.

pub(crate) mod orchestration;
pub(crate) mod sessions;

use crate::{
    cmdline::Uapi,
    orchestrator::{luo, Orchestrator},
};
use kernel::{
    capability::{capable, Capability},
    fs::{File, LocalFile},
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
    sync::aref::ARef,
};

/// The registration of `/dev/liveupdate`.
pub(crate) type Registration = MiscDeviceRegistration<LiveUpdateDevice>;

/// Registers `/dev/liveupdate`.
pub(crate) fn register() -> impl PinInit<Registration, Error> {
    MiscDeviceRegistration::register(MiscDeviceOptions {
        name: c"liveupdate",
    })
}

/// The one open of `/dev/liveupdate`; dropping it (the last close) releases
/// the device, and with the orchestration uAPI cancels a pending update.
pub(crate) struct LiveUpdateDevice {
    luo: &'static Orchestrator,
    uapi: Uapi,
}

impl Drop for LiveUpdateDevice {
    fn drop(&mut self) {
        self.luo.close_device();
    }
}

#[vtable]
impl MiscDevice for LiveUpdateDevice {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &Registration) -> Result<KBox<Self>> {
        let luo = luo().ok_or(ENODEV)?;
        let uapi = luo.uapi();
        if uapi == Uapi::Orchestration && !capable(Capability::SYS_ADMIN) {
            return Err(EPERM);
        }
        if !luo.claim_device() {
            return Err(EBUSY);
        }
        // On allocation failure the value is dropped, which releases the claim.
        Ok(KBox::new(LiveUpdateDevice { luo, uapi }, GFP_KERNEL)?)
    }

    fn ioctl(device: &LiveUpdateDevice, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match device.uapi {
            Uapi::Orchestration => orchestration::ioctl(device.luo, cmd, arg)?,
            Uapi::Sessions => sessions::ioctl(device.luo, cmd, arg)?,
        }
        Ok(0)
    }
}

/// The file of the caller's file descriptor `fd` (`EBADF` if there is none),
/// for an ioctl to keep.
fn fget(fd: i32) -> Result<ARef<File>> {
    let fd = u32::try_from(fd).map_err(|_| EBADF)?;
    let file = LocalFile::fget(fd).map_err(|_| EBADF)?;
    // SAFETY: This runs in an ioctl, where the current thread holds no `fdget_pos()`.
    Ok(unsafe { LocalFile::assume_no_fdget_pos(file) })
}
