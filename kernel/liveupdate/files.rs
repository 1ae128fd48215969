// SPDX-License-Identifier: GPL-2.0

//! Preserved files: the registry of file handlers, the files preserved in
//! this kernel (outgoing), the files handed over by the previous one
//! (incoming), and everything done to them.
//!
//! Each file has its own state, which can run ahead of the global one (a
//! per-file PREPARE in NORMAL) or behind it (a per-file FINISH in UPDATED).
//! Each belongs to a session ([`crate::sessions`]), or to none: the files
//! of the orchestration uAPI have [`NO_SESSION`]. Tokens are unique within
//! a session; a file is preserved once, whatever its session.
//! Like the subsystems' registry, [`Files`] lives under the transition
//! mutex: a handler is only lent to the transition that holds it, and
//! cannot be unregistered while an outgoing file uses it (`EBUSY`).
//!
//! Their part of the hand-over is [`crate::handover::files`].

use crate::{
    handover::{files::MAX_FILES, valid_name},
    sessions::{SessionId, NO_SESSION},
    state::{Event, State},
};
use kernel::{
    alloc::KVec,
    bindings,
    fs::File,
    liveupdate::{FileHandlerRef, OwnerRef},
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    str::CString,
    sync::aref::ARef,
};

/// A file preserved in this kernel, by session and token.
struct OutgoingFile {
    session: SessionId,
    token: u64,
    file: ARef<File>,
    /// Its handler's address (only compared), which stays registered
    /// while this file exists.
    handler: usize,
    /// NORMAL (recorded only), PREPARED or FROZEN.
    state: State,
    data: u64,
    /// A reference on the handler's owner module.
    _owner: OwnerRef,
}

/// A file handed over by the previous kernel, by session and token.
pub(crate) struct IncomingFile {
    pub(crate) session: SessionId,
    pub(crate) token: u64,
    compatible: CString,
    pub(crate) data: u64,
    /// The restored file, once restored (kept for finish()).
    restored: Option<ARef<File>>,
    /// Why restoring it failed, for [`Again::Share`].
    failed: Option<Error>,
}

impl IncomingFile {
    /// A file handed over with `compatible` and `data`, not restored yet.
    pub(crate) fn new(session: SessionId, token: u64, compatible: CString, data: u64) -> Self {
        Self {
            session,
            token,
            compatible,
            data,
            restored: None,
            failed: None,
        }
    }

    fn key(&self) -> (SessionId, u64) {
        (self.session, self.token)
    }
}

/// Why a file cannot be preserved; each uAPI has its errno for each.
pub(crate) enum Refused {
    /// The token is already used in this session.
    Token,
    /// The file is already preserved, or restored and not finished.
    File,
    /// No registered handler can preserve it.
    NoHandler,
    /// Out of memory, the most files a hand-over carries (`ENOSPC`), the
    /// handler's module going away (`EAGAIN`), or the handler's error.
    Error(Error),
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

/// What restoring a file that was restored before, or failed to, does.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum Again {
    /// `EBUSY` after a success; a failure can be retried (orchestration).
    Refuse,
    /// The same open file after a success; the same error after a
    /// failure (sessions).
    Share,
}

/// A registered file handler.
pub(crate) struct Handler {
    pub(crate) handle: FileHandlerRef,
    /// The reference LUO holds on its owner module while an update uses it.
    pub(crate) owner: Option<OwnerRef>,
}

/// The sessions and tokens, and the files, of the outgoing files: a
/// hand-over carries thousands of files, and each new one is checked
/// against them in logarithmic time.
struct OutgoingKeys {
    tokens: RBTree<(SessionId, u64), ()>,
    files: RBTree<usize, ()>,
}

impl OutgoingKeys {
    fn file_key(file: &File) -> usize {
        file.as_ptr() as usize
    }

    /// Forgets `f`, which leaves the outgoing files.
    fn forget(&mut self, f: &OutgoingFile) {
        self.tokens.remove(&(f.session, f.token));
        self.files.remove(&Self::file_key(&f.file));
    }
}

/// The file handlers and the preserved files.
///
/// # Invariants
///
/// `keys` holds the session and token, and the file, of each of
/// `outgoing`, and nothing else.
pub(crate) struct Files {
    handlers: KVec<Handler>,
    /// In the order preserved.
    outgoing: KVec<OutgoingFile>,
    keys: OutgoingKeys,
    /// Sorted by session and token.
    incoming: KVec<IncomingFile>,
}

/// The handler `ptr` among `handlers`.
fn handler(handlers: &[Handler], ptr: usize) -> Result<&FileHandlerRef> {
    let found = handlers.iter().find(|h| h.handle.as_ptr() as usize == ptr);
    found.map(|h| &h.handle).ok_or(ENOENT)
}

/// Cancels `f` if it is prepared or frozen.
fn cancel(handlers: &[Handler], f: &mut OutgoingFile) {
    if matches!(f.state, State::Prepared | State::Frozen) {
        if let Ok(handler) = handler(handlers, f.handler) {
            handler.cancel(&f.file, f.data);
        }
        (f.state, f.data) = (State::Normal, 0);
    }
}

impl Files {
    pub(crate) fn new() -> Self {
        Self {
            handlers: KVec::new(),
            outgoing: KVec::new(),
            keys: OutgoingKeys {
                tokens: RBTree::new(),
                files: RBTree::new(),
            },
            incoming: KVec::new(),
        }
    }

    /// The registered handler with `compatible`, if any.
    fn handler_for(&self, compatible: &[u8]) -> Option<&FileHandlerRef> {
        self.handlers
            .iter()
            .find(|h| h.handle.compatible().to_bytes() == compatible)
            .map(|h| &h.handle)
    }

    /// The handlers, to hold or release their owners.
    pub(crate) fn handlers_mut(&mut self) -> impl Iterator<Item = &mut Handler> {
        self.handlers.iter_mut()
    }

    /// Registers `handle`; `EEXIST` if it or its compatible is registered,
    /// `EINVAL` for a compatible that cannot name it in the hand-over.
    pub(crate) fn add_handler(
        &mut self,
        handle: FileHandlerRef,
        owner: Option<OwnerRef>,
    ) -> Result {
        if !valid_name(handle.compatible().to_bytes()) {
            return Err(EINVAL);
        }
        if self.handlers.iter().any(|h| h.handle.is(handle.as_ptr()))
            || self.handler_for(handle.compatible().to_bytes()).is_some()
        {
            return Err(EEXIST);
        }
        self.handlers.push(Handler { handle, owner }, GFP_KERNEL)?;
        Ok(())
    }

    /// Unregisters `ptr`; `EBUSY` while an outgoing file uses it. Dropping
    /// the result ends the registration.
    pub(crate) fn remove_handler(
        &mut self,
        ptr: *const bindings::liveupdate_file_handler,
    ) -> Result<Handler> {
        let index = self
            .handlers
            .iter()
            .position(|h| h.handle.is(ptr))
            .ok_or(ENOENT)?;
        if self.outgoing.iter().any(|f| f.handler == ptr as usize) {
            return Err(EBUSY);
        }
        Ok(self.handlers.remove(index)?)
    }

    fn outgoing_index(&self, session: SessionId, token: u64) -> Result<usize> {
        let found = self
            .outgoing
            .iter()
            .position(|f| (f.session, f.token) == (session, token));
        found.ok_or(ENOENT)
    }

    fn incoming_index(&self, session: SessionId, token: u64) -> Result<usize> {
        let found = self
            .incoming
            .binary_search_by_key(&(session, token), IncomingFile::key);
        found.map_err(|_| ENOENT)
    }

    /// The incoming files of `session`, as a range of indices.
    fn incoming_range(&self, session: SessionId) -> core::ops::Range<usize> {
        let start = self.incoming.partition_point(|f| f.session < session);
        let end = self.incoming.partition_point(|f| f.session <= session);
        start..end
    }

    /// The outgoing files, in the order preserved: (session, token, handler
    /// compatible, data), to write the hand-over.
    pub(crate) fn outgoing(
        &self,
    ) -> impl ExactSizeIterator<Item = (SessionId, u64, &[u8], u64)> + Clone {
        self.outgoing.iter().map(|f| {
            let compatible = handler(&self.handlers, f.handler).map(|h| h.compatible());
            let compatible = compatible.map_or(&b""[..], |c| c.to_bytes());
            (f.session, f.token, compatible, f.data)
        })
    }

    /// Takes the files of an accepted hand-over, sorted by session and
    /// token.
    pub(crate) fn set_incoming(&mut self, incoming: KVec<IncomingFile>) {
        self.incoming = incoming;
    }

    /// Records `file` under `token` in `session` with the first handler
    /// that accepts it.
    pub(crate) fn preserve(
        &mut self,
        session: SessionId,
        token: u64,
        file: ARef<File>,
    ) -> core::result::Result<(), Refused> {
        if self.keys.tokens.get(&(session, token)).is_some() {
            return Err(Refused::Token);
        }
        let same = |f: &ARef<File>| f.as_ptr() == file.as_ptr();
        // In a session, as in Linux 7.3, a restored file is LUO's until its
        // session is finished.
        let restored = |f: &IncomingFile| f.restored.as_ref().is_some_and(same);
        let key = OutgoingKeys::file_key(&file);
        if self.keys.files.get(&key).is_some()
            || (session != NO_SESSION && self.incoming.iter().any(restored))
        {
            return Err(Refused::File);
        }
        if self.outgoing.len() >= MAX_FILES {
            return Err(Refused::Error(ENOSPC));
        }
        let handler = self.handlers.iter().find(|h| h.handle.can_preserve(&file));
        let handler = &handler.ok_or(Refused::NoHandler)?.handle;
        let owner = handler.owner().ok_or(EAGAIN)?;
        let token_node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let file_node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let f = OutgoingFile {
            session,
            token,
            file,
            handler: handler.as_ptr() as usize,
            state: State::Normal,
            data: 0,
            _owner: owner,
        };
        self.outgoing.push(f, GFP_KERNEL).map_err(Error::from)?;
        // INVARIANT: the new file's session, token and file, neither there
        // before (checked above).
        self.keys
            .tokens
            .insert(token_node.into_node((session, token), ()));
        self.keys.files.insert(file_node.into_node(key, ()));
        Ok(())
    }

    /// Drops `token` of `session`, cancelling it first if prepared.
    pub(crate) fn unpreserve(&mut self, session: SessionId, token: u64) -> Result {
        let mut f = self.outgoing.remove(self.outgoing_index(session, token)?)?;
        self.keys.forget(&f);
        cancel(&self.handlers, &mut f);
        Ok(())
    }

    /// Drops every file of `session`, the last preserved first, cancelling
    /// each first if prepared; `false` if it had none.
    pub(crate) fn unpreserve_session(&mut self, session: SessionId) -> bool {
        let handlers = &self.handlers;
        let mut found = false;
        for f in self
            .outgoing
            .iter_mut()
            .rev()
            .filter(|f| f.session == session)
        {
            cancel(handlers, f);
            self.keys.forget(f);
            found = true;
        }
        self.outgoing.retain(|f| f.session != session);
        found
    }

    /// Rebuilds the incoming file `token` of `session` (`EOPNOTSUPP`
    /// without a handler for it); `again` says what a second call does.
    pub(crate) fn restore(
        &mut self,
        session: SessionId,
        token: u64,
        again: Again,
    ) -> Result<ARef<File>> {
        let index = self.incoming_index(session, token)?;
        let f = &self.incoming[index];
        match (again, &f.restored, f.failed) {
            (Again::Refuse, Some(_), _) => return Err(EBUSY),
            (Again::Share, Some(file), _) => return Ok(file.clone()),
            (Again::Share, None, Some(e)) => return Err(e),
            _ => (),
        }
        let handler = self.handler_for(f.compatible.to_bytes());
        let restored = handler.ok_or(EOPNOTSUPP).and_then(|h| h.retrieve(f.data));
        let f = &mut self.incoming[index];
        match restored {
            Ok(file) => {
                f.restored = Some(file.clone());
                Ok(file)
            }
            Err(e) => {
                f.failed = Some(e);
                Err(e)
            }
        }
    }

    /// The state of an outgoing or (`incoming`) incoming file.
    pub(crate) fn state(&self, session: SessionId, token: u64, incoming: bool) -> Result<State> {
        if incoming {
            self.incoming_index(session, token)?;
            Ok(State::Updated)
        } else {
            Ok(self.outgoing[self.outgoing_index(session, token)?].state)
        }
    }

    /// PREPARE, FREEZE or CANCEL for one outgoing file, one step ahead of,
    /// or back from, the global state (`EBUSY` otherwise).
    pub(crate) fn event(&mut self, session: SessionId, token: u64, event: Event) -> Result {
        let index = self.outgoing_index(session, token)?;
        let f = &mut self.outgoing[index];
        let handler = handler(&self.handlers, f.handler)?;
        let (state, data) = match (event, f.state) {
            (Event::Prepare, State::Normal) => (State::Prepared, handler.prepare(&f.file)?),
            (Event::Freeze, State::Prepared) => (State::Frozen, handler.freeze(&f.file, f.data)?),
            (Event::Cancel, State::Prepared | State::Frozen) => {
                handler.cancel(&f.file, f.data);
                (State::Normal, 0)
            }
            _ => return Err(EBUSY),
        };
        (f.state, f.data) = (state, data);
        Ok(())
    }

    /// FINISH for one incoming file alone.
    pub(crate) fn finish_one(&mut self, session: SessionId, token: u64) -> Result {
        let f = self.incoming.remove(self.incoming_index(session, token)?)?;
        self.finish_incoming(&f);
        Ok(())
    }

    /// FINISH for every incoming file of `session`, restored or not, the
    /// last first. Returns how many no registered handler claims.
    pub(crate) fn finish_session(&mut self, session: SessionId) -> usize {
        let range = self.incoming_range(session);
        let unclaimed = self.incoming[range]
            .iter()
            .rev()
            .filter(|f| !self.finish_incoming(f))
            .count();
        self.incoming.retain(|f| f.session != session);
        unclaimed
    }

    /// Prepares every outgoing file not prepared yet (per-file PREPARE may
    /// have run ahead). On failure the caller cancels everything.
    pub(crate) fn prepare(&mut self) -> Result {
        for f in self
            .outgoing
            .iter_mut()
            .filter(|f| f.state == State::Normal)
        {
            f.data = handler(&self.handlers, f.handler)?.prepare(&f.file)?;
            f.state = State::Prepared;
        }
        Ok(())
    }

    /// FREEZE: every outgoing file not frozen yet; `frozen(index, data)`
    /// records each one's data in the order preserved. On failure the
    /// caller cancels everything.
    pub(crate) fn freeze(&mut self, mut frozen: impl FnMut(usize, u64)) -> Result {
        for (index, f) in self.outgoing.iter_mut().enumerate() {
            if f.state == State::Prepared {
                f.data = handler(&self.handlers, f.handler)?.freeze(&f.file, f.data)?;
                f.state = State::Frozen;
            }
            frozen(index, f.data);
        }
        Ok(())
    }

    /// Cancels every prepared or frozen outgoing file, the last first.
    pub(crate) fn cancel(&mut self) {
        for f in self.outgoing.iter_mut().rev() {
            cancel(&self.handlers, f);
        }
    }

    /// Drops every outgoing file of the orchestration uAPI (closing the
    /// device), cancelling it first, the last first; `false` if none.
    pub(crate) fn release(&mut self) -> bool {
        self.unpreserve_session(NO_SESSION)
    }

    /// FINISH: calls the handler's finish() for every incoming file and
    /// drops it. Returns how many no registered handler claims.
    pub(crate) fn finish(&mut self) -> usize {
        let files = core::mem::take(&mut self.incoming);
        files.iter().filter(|f| !self.finish_incoming(f)).count()
    }

    /// Calls the handler's finish() for an incoming file; `false` if no
    /// handler of its compatible is registered.
    fn finish_incoming(&self, file: &IncomingFile) -> bool {
        let handler = self.handler_for(file.compatible.to_bytes());
        match handler {
            Some(handler) => handler.finish(file.restored.as_deref(), file.data),
            None => pr_warn!(
                "no handler for incoming file {:#x} ({:?}): its memory stays reserved\n",
                file.token,
                &*file.compatible
            ),
        }
        handler.is_some()
    }
}
