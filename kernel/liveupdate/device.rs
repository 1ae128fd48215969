// SPDX-License-Identifier: GPL-2.0

//! `/dev/liveupdate`: the misc device through which one privileged agent
//! drives a live update.
//!
//! Opening needs `CAP_SYS_ADMIN` (`EPERM`) and the device has one opener at
//! a time (`EBUSY`). The ioctls are defined in [`crate::uapi`].

use crate::{orchestrator::LUO, uapi};
use kernel::{
    capability::{capable, Capability},
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

/// The registration of `/dev/liveupdate`.
pub(crate) type Registration = MiscDeviceRegistration<LiveUpdateDevice>;

/// Registers `/dev/liveupdate`.
pub(crate) fn register() -> impl PinInit<Registration, Error> {
    MiscDeviceRegistration::register(MiscDeviceOptions {
        name: c"liveupdate",
    })
}

/// One open of `/dev/liveupdate`; dropping it releases the device.
pub(crate) struct LiveUpdateDevice;

impl Drop for LiveUpdateDevice {
    fn drop(&mut self) {
        LUO.release_device();
    }
}

#[vtable]
impl MiscDevice for LiveUpdateDevice {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &Registration) -> Result<KBox<Self>> {
        if !capable(Capability::SYS_ADMIN) {
            return Err(EPERM);
        }
        if !LUO.claim_device() {
            return Err(EBUSY);
        }
        // On allocation failure the new value is dropped, releasing the claim.
        Ok(KBox::new(LiveUpdateDevice, GFP_KERNEL)?)
    }

    fn ioctl(_device: &LiveUpdateDevice, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::IOCTL_GET_STATE => get_state(arg),
            _ => Err(ENOTTY),
        }
    }
}

/// `LIVEUPDATE_IOCTL_GET_STATE`: reports the global state.
fn get_state(arg: usize) -> Result<isize> {
    let mut get = uapi::IoctlArg::<{ uapi::GET_STATE_SIZE }>::read(arg, uapi::GET_STATE_MIN_SIZE)?;
    get.set_u32_at(4, LUO.state().to_uapi());
    get.write_back()?;
    Ok(0)
}
