// SPDX-License-Identifier: GPL-2.0

//! Sessions: named groups of preserved files, the unit of Linux's session
//! uAPI ([`crate::device::sessions`]).
//!
//! An *outgoing* session is created in this kernel: its files, preserved
//! with [`crate::files`] under the session's number, go to the next kernel
//! with the session's name. An *incoming* session is one the previous
//! kernel handed over: it is retrieved by name, once, and its files then
//! one by one; FINISH lets go of them. Names are unique among the outgoing
//! sessions and among the incoming ones, not across the two.
//!
//! Each session's file descriptor owns its session: closing it unpreserves
//! an outgoing session's files, and finishes and forgets an incoming one.
//! Closing `/dev/liveupdate` changes nothing. Once the reboot path has
//! frozen the update, sessions can no longer change (`EBUSY`), and closing
//! their file descriptors changes nothing either.
//!
//! With the session uAPI, the reboot path is the update: it prepares and
//! freezes whatever is preserved ([`Orchestrator::reboot_sessions`]), and
//! the next kernel's update ends when its last incoming session is closed.
//!
//! The registry lives in the [`Update`], under the transition mutex.
//!
//! [`Update`]: crate::orchestrator::Update

use crate::{
    files::{Again, Refused},
    handover::files::MAX_SESSIONS,
    orchestrator::{Orchestrator, Wait},
    state::{Event, State},
    transition::Transition,
};
use kernel::{
    alloc::KVec,
    fs::File,
    prelude::*,
    sync::aref::ARef,
    time::{Instant, Monotonic},
    uapi,
};

/// A session's number, given out in the order sessions are created (or,
/// for those handed over, in the order the previous kernel created them),
/// never reused; [`NO_SESSION`] for the files of the orchestration uAPI.
pub(crate) type SessionId = u64;

/// The session of the files of the orchestration uAPI.
pub(crate) const NO_SESSION: SessionId = 0;

/// The size of a name in the uAPI, its NUL included.
pub(crate) const NAME_SIZE: usize = uapi::LIVEUPDATE_SESSION_NAME_LENGTH as usize;

/// A session's name: 1 to 63 bytes, none of them NUL.
#[derive(Clone)]
pub(crate) struct SessionName {
    bytes: [u8; NAME_SIZE],
    len: usize,
}

impl SessionName {
    /// `name` as a session name, if it is one.
    pub(crate) fn new(name: &[u8]) -> Option<Self> {
        if !(1..NAME_SIZE).contains(&name.len()) || name.contains(&0) {
            return None;
        }
        let mut bytes = [0; NAME_SIZE];
        bytes[..name.len()].copy_from_slice(name);
        Some(Self {
            bytes,
            len: name.len(),
        })
    }

    /// The name in a uAPI buffer, which ends at its first NUL; `EINVAL` if
    /// it is empty or has no NUL.
    pub(crate) fn from_uapi(raw: &[u8; NAME_SIZE]) -> Result<Self> {
        let len = raw.iter().position(|&c| c == 0).ok_or(EINVAL)?;
        Self::new(&raw[..len]).ok_or(EINVAL)
    }

    /// The name, without a NUL.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The name and its NUL, as the uAPI returns it.
    pub(crate) fn with_nul(&self) -> &[u8] {
        &self.bytes[..=self.len]
    }
}

/// A session of this kernel or of the previous one.
struct Session {
    id: SessionId,
    name: SessionName,
}

/// A session the previous kernel handed over.
struct IncomingSession {
    session: Session,
    /// Whether a file descriptor was made for it (it is made once).
    retrieved: bool,
}

/// The registry of sessions.
pub(crate) struct Sessions {
    /// In the order created, which is the order of their numbers.
    outgoing: KVec<Session>,
    incoming: KVec<IncomingSession>,
    /// The number the next session gets; never reused.
    next_id: SessionId,
}

impl Sessions {
    pub(crate) const fn new() -> Self {
        Self {
            outgoing: KVec::new(),
            incoming: KVec::new(),
            next_id: 1,
        }
    }

    /// Takes the sessions of an accepted hand-over: the session numbered
    /// `n` there is `names[n - 1]`, and keeps its number here.
    pub(crate) fn set_incoming(&mut self, names: KVec<SessionName>) -> Result {
        if self.next_id != 1 {
            return Err(EBUSY);
        }
        let mut incoming = KVec::with_capacity(names.len(), GFP_KERNEL)?;
        for (id, name) in (1..).zip(names) {
            let session = Session { id, name };
            incoming.push(
                IncomingSession {
                    session,
                    retrieved: false,
                },
                GFP_KERNEL,
            )?;
        }
        self.next_id = incoming.len() as SessionId + 1;
        self.incoming = incoming;
        Ok(())
    }

    /// The outgoing sessions, in the order created: (number, name).
    pub(crate) fn outgoing(&self) -> impl ExactSizeIterator<Item = (SessionId, &SessionName)> {
        self.outgoing.iter().map(|s| (s.id, &s.name))
    }

    /// Whether an incoming session is left.
    pub(crate) fn has_incoming(&self) -> bool {
        !self.incoming.is_empty()
    }

    /// A new outgoing session: `EEXIST` if an outgoing one has this name,
    /// `ENOSPC` past the most sessions a hand-over carries.
    fn create(&mut self, name: SessionName) -> Result<SessionId> {
        if self
            .outgoing
            .iter()
            .any(|s| s.name.as_bytes() == name.as_bytes())
        {
            return Err(EEXIST);
        }
        if self.outgoing.len() >= MAX_SESSIONS {
            return Err(ENOSPC);
        }
        let id = self.next_id;
        self.outgoing.push(Session { id, name }, GFP_KERNEL)?;
        self.next_id += 1;
        Ok(id)
    }

    /// Forgets the outgoing session `id`.
    fn remove(&mut self, id: SessionId) {
        self.outgoing.retain(|s| s.id != id);
    }

    /// Retrieves the incoming session named as in `raw`, compared over
    /// the whole buffer: `ENOENT` if there is none, `EINVAL` if it was
    /// retrieved already.
    fn retrieve(&mut self, raw: &[u8; NAME_SIZE]) -> Result<(SessionId, SessionName)> {
        let found = self
            .incoming
            .iter_mut()
            .find(|s| s.session.name.with_nul() == &raw[..=s.session.name.len]);
        let s = found.ok_or(ENOENT)?;
        if s.retrieved {
            return Err(EINVAL);
        }
        s.retrieved = true;
        Ok((s.session.id, s.session.name.clone()))
    }

    /// Makes the incoming session `id` retrievable again.
    fn unretrieve(&mut self, id: SessionId) {
        if let Some(s) = self.incoming.iter_mut().find(|s| s.session.id == id) {
            s.retrieved = false;
        }
    }

    /// Forgets the incoming session `id`.
    fn forget_incoming(&mut self, id: SessionId) {
        self.incoming.retain(|s| s.session.id != id);
    }

    /// Forgets every incoming session, when the update finishes; their
    /// file descriptors, if any, then find no file.
    pub(crate) fn forget_incoming_all(&mut self) {
        self.incoming.clear();
    }
}

impl Orchestrator {
    /// Takes the transition mutex for a session operation from user space:
    /// `EBUSY` once the update is frozen for the kexec. The wait is not
    /// interruptible, as in Linux 7.3, whose callers do not expect `EINTR`.
    fn session_operation(&self) -> Result<Transition<'_>> {
        let t = self.transition(Wait::Uninterruptible)?;
        if t.update.committed {
            return Err(EBUSY);
        }
        Ok(t)
    }

    /// CREATE_SESSION: a new outgoing session named `name`.
    pub(crate) fn create_session(&self, name: SessionName) -> Result<SessionId> {
        self.session_operation()?.update.sessions.create(name)
    }

    /// The last close of an outgoing session's file descriptor: its files
    /// are unpreserved and its name is free again; nothing once frozen.
    pub(crate) fn close_outgoing_session(&self, id: SessionId) {
        let Ok(mut t) = self.session_operation() else {
            return;
        };
        if t.update.files.unpreserve_session(id) {
            t.changed();
        }
        t.update.sessions.remove(id);
    }

    /// PRESERVE_FD: preserves `file` under `token` in the outgoing session
    /// `id`, and serializes it at once.
    pub(crate) fn session_preserve_fd(
        &self,
        id: SessionId,
        token: u64,
        file: ARef<File>,
    ) -> Result {
        let mut t = self.session_operation()?;
        let files = &mut t.update.files;
        files
            .preserve(id, token, file)
            .map_err(|refused| match refused {
                Refused::Token => EEXIST,
                Refused::File => EBUSY,
                Refused::NoHandler => ENOENT,
                Refused::Error(e) => e,
            })?;
        if let Err(e) = files.event(id, token, Event::Prepare) {
            // Nothing was prepared: dropping it calls nothing.
            let _ = files.unpreserve(id, token);
            return Err(e);
        }
        Ok(())
    }

    /// RETRIEVE_SESSION: the incoming session named as in `raw`.
    pub(crate) fn retrieve_session(
        &self,
        raw: &[u8; NAME_SIZE],
    ) -> Result<(SessionId, SessionName)> {
        let mut t = self.session_operation()?;
        if t.state() != State::Updated {
            return Err(ENOENT);
        }
        t.update.sessions.retrieve(raw)
    }

    /// Undoes RETRIEVE_SESSION of `id` when its file descriptor could not
    /// be made: the session can be retrieved again.
    pub(crate) fn unretrieve_session(&self, id: SessionId) {
        if let Ok(mut t) = self.transition(Wait::Uninterruptible) {
            t.update.sessions.unretrieve(id);
        }
    }

    /// RETRIEVE_FD: the file `token` of the incoming session `id`.
    pub(crate) fn session_retrieve_fd(&self, id: SessionId, token: u64) -> Result<ARef<File>> {
        let mut t = self.session_operation()?;
        t.update.files.restore(id, token, Again::Share)
    }

    /// FINISH: lets go of every file of the incoming session `id`.
    pub(crate) fn finish_session(&self, id: SessionId) -> Result {
        let mut t = self.session_operation()?;
        t.update.files.finish_session(id);
        Ok(())
    }

    /// The last close of an incoming session's file descriptor: finishes
    /// and forgets it; the update ends with the last incoming session.
    pub(crate) fn close_incoming_session(&self, id: SessionId) {
        let Ok(mut t) = self.session_operation() else {
            return;
        };
        t.update.files.finish_session(id);
        t.update.sessions.forget_incoming(id);
        t.end_sessions_update();
    }

    /// The reboot path with the session uAPI: the reboot is the update.
    /// Everything preserved is prepared (the files of sessions were when
    /// preserved), frozen and committed. The previous kernel's hand-over,
    /// if still there, is left alone: what nobody took is not handed on.
    /// If this fails, the reboot fails, the update is cancelled, the files
    /// of the sessions are prepared again and an incoming update is back
    /// as it was.
    pub(crate) fn reboot_sessions(&self) -> Result {
        let mut t = self.transition(Wait::Uninterruptible)?;
        if t.update.committed {
            return Ok(());
        }
        let was = t.state();
        let start = Instant::<Monotonic>::now();
        let frozen = t.prepare().and_then(|()| {
            t.set_state(State::Prepared);
            t.freeze_for_kexec(start, true)
        });
        if let Err(e) = frozen {
            if let Err(again) = t.update.files.prepare() {
                pr_warn!(
                    "a file of a session cannot be prepared again ({}); it will be at the next reboot\n",
                    again.to_errno()
                );
            }
            t.set_state(was);
            return Err(e);
        }
        Ok(())
    }
}
