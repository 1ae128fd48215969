// SPDX-License-Identifier: GPL-2.0

//! The session uAPI of `/dev/liveupdate`, Linux 7.3's, and the session
//! file descriptors.
//!
//! `/dev/liveupdate` takes CREATE_SESSION and RETRIEVE_SESSION, each of
//! which returns a session file descriptor: a file on the anonymous inode
//! named `[luo_session] <name>` (user space recognises sessions by it),
//! which takes PRESERVE_FD and GET_NAME (outgoing), RETRIEVE_FD, FINISH and
//! GET_NAME (incoming). The sessions themselves are in [`crate::sessions`].
//!
//! The checks run in the order of Linux 7.3, so that each bad call gets
//! the same errno: an ioctl number out of the file's range is `EINVAL`; then
//! an unreadable argument `EFAULT`; then another encoding of an in-range
//! number `ENOTTY`; then, on a session, an ioctl for the other kind of
//! session `EINVAL`; then the argument's size (`EINVAL`, `E2BIG`, see
//! [`UserArg`]). A new file descriptor is then reserved before the rest is
//! checked (`EMFILE` first), its number is written back before it is
//! installed, and a failure on the way leaves none, and leaves a session
//! being retrieved retrievable again.

use super::fget;
use crate::{
    orchestrator::Orchestrator,
    sessions::{SessionId, SessionName, NAME_SIZE},
    uapi::{
        check_readable, Arg, CreateSession, Finish, GetName, PreserveFd, RetrieveFd,
        RetrieveSession, UserArg,
    },
};
use core::ops::RangeInclusive;
use kernel::{
    alloc::KVec,
    fs::{
        anon_inode::{self, AnonInodeOps},
        file::{
            flags::{O_CLOEXEC, O_RDWR},
            FileDescriptorReservation,
        },
        File,
    },
    ioctl::_IOC_NR,
    prelude::*,
    str::CStr,
    sync::{
        aref::ARef,
        atomic::{AtomicFlag, Relaxed},
        Arc, ArcBorrow,
    },
    uapi,
};

/// The ioctl numbers of `/dev/liveupdate`, and of a session.
const DEVICE_NRS: RangeInclusive<u32> =
    uapi::LIVEUPDATE_CMD_CREATE_SESSION..=uapi::LIVEUPDATE_CMD_RETRIEVE_SESSION;
const SESSION_NRS: RangeInclusive<u32> =
    uapi::LIVEUPDATE_CMD_SESSION_PRESERVE_FD..=uapi::LIVEUPDATE_CMD_SESSION_GET_NAME;

/// An ioctl on `/dev/liveupdate`.
pub(super) fn ioctl(luo: &'static Orchestrator, cmd: u32, arg: usize) -> Result {
    if !DEVICE_NRS.contains(&_IOC_NR(cmd)) {
        return Err(EINVAL);
    }
    check_readable(arg)?;
    match cmd {
        CreateSession::CMD => create_session(luo, arg),
        RetrieveSession::CMD => retrieve_session(luo, arg),
        _ => Err(ENOTTY),
    }
}

/// `LIVEUPDATE_IOCTL_CREATE_SESSION`.
fn create_session(luo: &'static Orchestrator, arg: usize) -> Result {
    let mut create = UserArg::<CreateSession>::read(arg)?;
    let reservation = FileDescriptorReservation::get_unused_fd_flags(O_CLOEXEC)?;
    let name = SessionName::from_uapi(&create.name)?;
    let id = luo.create_session(name.clone())?;
    // Until it is installed, dropping the file closes the session.
    let (session, file) = SessionFile::open(luo, id, name, Kind::Outgoing)?;
    create.fd = reservation.reserved_fd() as i32;
    create.write_back()?;
    session.installed.store(true, Relaxed);
    reservation.fd_install(file);
    Ok(())
}

/// `LIVEUPDATE_IOCTL_RETRIEVE_SESSION`.
fn retrieve_session(luo: &'static Orchestrator, arg: usize) -> Result {
    let mut retrieve = UserArg::<RetrieveSession>::read(arg)?;
    let reservation = FileDescriptorReservation::get_unused_fd_flags(O_CLOEXEC)?;
    let (id, name) = luo.retrieve_session(&retrieve.name)?;
    // Until it is installed, dropping the file gives the session back.
    let (session, file) = SessionFile::open(luo, id, name, Kind::Incoming)?;
    retrieve.fd = reservation.reserved_fd() as i32;
    retrieve.write_back()?;
    session.installed.store(true, Relaxed);
    reservation.fd_install(file);
    Ok(())
}

/// Whether a session was created in this kernel or handed over.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Kind {
    Outgoing,
    Incoming,
}

/// A session file descriptor's private data; dropping it (the last close)
/// closes the session.
struct SessionFile {
    luo: &'static Orchestrator,
    id: SessionId,
    name: SessionName,
    kind: Kind,
    /// Whether the file reached user space: before, dropping it gives an
    /// incoming session back instead of finishing it.
    installed: AtomicFlag,
}

impl Drop for SessionFile {
    fn drop(&mut self) {
        match (self.kind, self.installed.load(Relaxed)) {
            (Kind::Outgoing, _) => self.luo.close_outgoing_session(self.id),
            (Kind::Incoming, true) => self.luo.close_incoming_session(self.id),
            (Kind::Incoming, false) => self.luo.unretrieve_session(self.id),
        }
    }
}

/// The name of a session's file: `[luo_session] <name>`.
const FILE_NAME_PREFIX: &[u8] = b"[luo_session] ";

impl SessionFile {
    /// The file of the session `id`, which closes the session when it goes
    /// (and at once if it cannot be made), and the session, to mark it
    /// installed. Called without the transition mutex, which a failure
    /// takes.
    fn open(
        luo: &'static Orchestrator,
        id: SessionId,
        name: SessionName,
        kind: Kind,
    ) -> Result<(Arc<SessionFile>, ARef<File>)> {
        let session = SessionFile {
            luo,
            id,
            name,
            kind,
            installed: AtomicFlag::new(false),
        };
        let mut file_name = KVec::with_capacity(FILE_NAME_PREFIX.len() + NAME_SIZE, GFP_KERNEL)?;
        file_name.extend_from_slice(FILE_NAME_PREFIX, GFP_KERNEL)?;
        file_name.extend_from_slice(session.name.with_nul(), GFP_KERNEL)?;
        let file_name = CStr::from_bytes_with_nul(&file_name).map_err(|_| EINVAL)?;
        let session = Arc::new(session, GFP_KERNEL)?;
        let file = anon_inode::new_file::<SessionFile>(file_name, session.clone(), O_RDWR)?;
        Ok((session, file))
    }

    /// `LIVEUPDATE_SESSION_PRESERVE_FD`.
    fn preserve_fd(&self, arg: usize) -> Result {
        let preserve = UserArg::<PreserveFd>::read(arg)?;
        let file = fget(preserve.fd)?;
        self.luo.session_preserve_fd(self.id, preserve.token, file)
    }

    /// `LIVEUPDATE_SESSION_RETRIEVE_FD`.
    fn retrieve_fd(&self, arg: usize) -> Result {
        let mut retrieve = UserArg::<RetrieveFd>::read(arg)?;
        let reservation = FileDescriptorReservation::get_unused_fd_flags(O_CLOEXEC)?;
        let file = self.luo.session_retrieve_fd(self.id, retrieve.token)?;
        retrieve.fd = reservation.reserved_fd() as i32;
        retrieve.write_back()?;
        reservation.fd_install(file);
        Ok(())
    }

    /// `LIVEUPDATE_SESSION_FINISH`.
    fn finish(&self, arg: usize) -> Result {
        let finish = UserArg::<Finish>::read(arg)?;
        if finish.reserved != 0 {
            return Err(EINVAL);
        }
        self.luo.finish_session(self.id)
    }

    /// `LIVEUPDATE_SESSION_GET_NAME`: the name and its NUL; the bytes after
    /// it are what user space passed.
    fn get_name(&self, arg: usize) -> Result {
        let mut get = UserArg::<GetName>::read(arg)?;
        if get.reserved != 0 {
            return Err(EINVAL);
        }
        let name = self.name.with_nul();
        get.name[..name.len()].copy_from_slice(name);
        get.write_back()
    }
}

#[vtable]
impl AnonInodeOps for SessionFile {
    type Ptr = Arc<Self>;

    fn ioctl(
        session: ArcBorrow<'_, SessionFile>,
        _file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize> {
        if !SESSION_NRS.contains(&_IOC_NR(cmd)) {
            return Err(EINVAL);
        }
        check_readable(arg)?;
        // Each ioctl applies to one kind of session, GET_NAME to both.
        let applies = match cmd {
            PreserveFd::CMD => session.kind == Kind::Outgoing,
            RetrieveFd::CMD | Finish::CMD => session.kind == Kind::Incoming,
            GetName::CMD => true,
            _ => return Err(ENOTTY),
        };
        if !applies {
            return Err(EINVAL);
        }
        match cmd {
            PreserveFd::CMD => session.preserve_fd(arg),
            RetrieveFd::CMD => session.retrieve_fd(arg),
            Finish::CMD => session.finish(arg),
            _ => session.get_name(arg),
        }?;
        Ok(0)
    }
}
