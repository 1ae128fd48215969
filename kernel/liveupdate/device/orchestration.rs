// SPDX-License-Identifier: GPL-2.0

//! The orchestration uAPI of `/dev/liveupdate`: the global state machine
//! and the files of one privileged agent.
//!
//! The ioctls and their argument rules are in [`crate::uapi`]; errors
//! follow iommufd: `ENOTTY` unknown ioctl, `EINVAL` too small or a bad
//! field, `E2BIG` non-zero unknown tail, `EOPNOTSUPP` unsupported value
//! (unknown event, non-zero reserved), `EBUSY` wrong state, `EINTR`
//! interrupted while waiting for a running transition.

use crate::{
    orchestrator::{Orchestrator, Wait},
    state::Event,
    uapi::{
        Arg, FdPreserve, FdRestore, FdUnpreserve, GetFdState, GetState, SetEvent, SetFdEvent,
        UserArg,
    },
};
use kernel::{
    fs::file::{flags::O_CLOEXEC, FileDescriptorReservation},
    prelude::*,
};

/// An ioctl on `/dev/liveupdate`.
pub(super) fn ioctl(luo: &Orchestrator, cmd: u32, arg: usize) -> Result {
    match cmd {
        GetState::CMD => get_state(luo, arg),
        SetEvent::CMD => set_event(luo, arg),
        FdPreserve::CMD => fd_preserve(luo, arg),
        FdUnpreserve::CMD => fd_unpreserve(luo, arg),
        FdRestore::CMD => fd_restore(luo, arg),
        GetFdState::CMD => get_fd_state(luo, arg),
        SetFdEvent::CMD => set_fd_event(luo, arg),
        _ => Err(ENOTTY),
    }
}

/// `LIVEUPDATE_IOCTL_GET_STATE`: reports the global state.
fn get_state(luo: &Orchestrator, arg: usize) -> Result {
    let mut get = UserArg::<GetState>::read(arg)?;
    get.state = luo.state().to_uapi();
    get.write_back()
}

/// `LIVEUPDATE_IOCTL_SET_EVENT`: PREPARE, CANCEL or FINISH. FREEZE comes
/// only from `reboot(LINUX_REBOOT_CMD_KEXEC)`.
fn set_event(luo: &Orchestrator, arg: usize) -> Result {
    let set = UserArg::<SetEvent>::read(arg)?;
    match Event::from_uapi(set.event) {
        None | Some(Event::Freeze) => Err(EOPNOTSUPP),
        Some(event) => luo.event(event, Wait::Interruptible),
    }
}

/// `LIVEUPDATE_IOCTL_FD_PRESERVE`: keeps the file `fd` under `token`.
fn fd_preserve(luo: &Orchestrator, arg: usize) -> Result {
    let preserve = UserArg::<FdPreserve>::read(arg)?;
    luo.fd_preserve(preserve.token, super::fget(preserve.fd)?)
}

/// `LIVEUPDATE_IOCTL_FD_UNPRESERVE`.
fn fd_unpreserve(luo: &Orchestrator, arg: usize) -> Result {
    let unpreserve = UserArg::<FdUnpreserve>::read(arg)?;
    if unpreserve.reserved != 0 {
        return Err(EOPNOTSUPP);
    }
    luo.fd_unpreserve(unpreserve.token)
}

/// `LIVEUPDATE_IOCTL_FD_RESTORE`: a new fd for an incoming token. The fd
/// number is written back first and `fd_install()` comes last, so a failing
/// call leaves no fd.
fn fd_restore(luo: &Orchestrator, arg: usize) -> Result {
    let mut restore = UserArg::<FdRestore>::read(arg)?;
    let reservation = FileDescriptorReservation::get_unused_fd_flags(O_CLOEXEC)?;
    restore.fd = reservation.reserved_fd() as i32;
    restore.write_back()?;
    let file = luo.fd_restore(restore.token)?;
    reservation.fd_install(file);
    Ok(())
}

/// `LIVEUPDATE_IOCTL_GET_FD_STATE`.
fn get_fd_state(luo: &Orchestrator, arg: usize) -> Result {
    let mut get = UserArg::<GetFdState>::read(arg)?;
    if get.reserved != [0; 3] || get.reserved2 != 0 {
        return Err(EOPNOTSUPP);
    }
    let incoming = match get.incoming {
        0 => false,
        1 => true,
        _ => return Err(EINVAL),
    };
    get.state = luo.fd_state(get.token, incoming)?.to_uapi();
    get.write_back()
}

/// `LIVEUPDATE_IOCTL_SET_FD_EVENT`: one file ahead of, or back from, the
/// global state.
fn set_fd_event(luo: &Orchestrator, arg: usize) -> Result {
    let set = UserArg::<SetFdEvent>::read(arg)?;
    let event = Event::from_uapi(set.event).ok_or(EOPNOTSUPP)?;
    luo.fd_event(set.token, event)
}
