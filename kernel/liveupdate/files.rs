// SPDX-License-Identifier: GPL-2.0

//! Preserved files: the registry of file handlers, the files preserved in
//! this kernel (outgoing), the files handed over by the previous one
//! (incoming), and everything done to them.
//!
//! Each file has its own state, which can run ahead of the global one (a
//! per-file PREPARE in NORMAL) or behind it (a per-file FINISH in UPDATED).
//! Like the subsystems' registry, [`Files`] lives under the transition
//! mutex: a handler is only lent to the transition that holds it, and
//! cannot be unregistered while an outgoing file uses it (`EBUSY`).
//!
//! Their part of the hand-over is [`crate::handover::files`].

use crate::{
    handover::valid_name,
    state::{Event, State},
};
use kernel::{
    alloc::KVec,
    bindings,
    fs::File,
    liveupdate::{FileHandlerRef, OwnerRef},
    prelude::*,
    str::CString,
    sync::aref::ARef,
};

/// A file preserved in this kernel, by token.
struct OutgoingFile {
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

/// A file handed over by the previous kernel, by token.
pub(crate) struct IncomingFile {
    pub(crate) token: u64,
    compatible: CString,
    pub(crate) data: u64,
    /// The restored file, once FD_RESTORE succeeded (kept for finish()).
    restored: Option<ARef<File>>,
}

impl IncomingFile {
    /// A file handed over with `compatible` and `data`, not restored yet.
    pub(crate) fn new(token: u64, compatible: CString, data: u64) -> Self {
        Self {
            token,
            compatible,
            data,
            restored: None,
        }
    }
}

/// A registered file handler.
pub(crate) struct Handler {
    pub(crate) handle: FileHandlerRef,
    /// The reference LUO holds on its owner module while an update uses it.
    pub(crate) owner: Option<OwnerRef>,
}

/// The file handlers and the preserved files.
pub(crate) struct Files {
    handlers: KVec<Handler>,
    outgoing: KVec<OutgoingFile>,
    /// Sorted by token.
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
    pub(crate) const fn new() -> Self {
        Self {
            handlers: KVec::new(),
            outgoing: KVec::new(),
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

    fn outgoing_index(&self, token: u64) -> Result<usize> {
        let index = self.outgoing.iter().position(|f| f.token == token);
        index.ok_or(ENOENT)
    }

    fn incoming_index(&self, token: u64) -> Result<usize> {
        let found = self.incoming.binary_search_by_key(&token, |f| f.token);
        found.map_err(|_| ENOENT)
    }

    /// The outgoing files, in the order preserved: (token, handler
    /// compatible, data), to write the hand-over.
    pub(crate) fn outgoing(&self) -> impl ExactSizeIterator<Item = (u64, &[u8], u64)> {
        self.outgoing.iter().map(|f| {
            let compatible = handler(&self.handlers, f.handler).map(|h| h.compatible());
            (
                f.token,
                compatible.map_or(&b""[..], |c| c.to_bytes()),
                f.data,
            )
        })
    }

    /// Takes the files of an accepted hand-over, sorted by token.
    pub(crate) fn set_incoming(&mut self, incoming: KVec<IncomingFile>) {
        self.incoming = incoming;
    }

    /// FD_PRESERVE: records `file` under `token` with the first handler
    /// that accepts it (`EOPNOTSUPP` if none does). `EEXIST` if the token
    /// or the file is already preserved; `EAGAIN` if the handler's module
    /// is going away.
    pub(crate) fn preserve(&mut self, token: u64, file: ARef<File>) -> Result {
        if self.outgoing_index(token).is_ok()
            || self
                .outgoing
                .iter()
                .any(|f| f.file.as_ptr() == file.as_ptr())
        {
            return Err(EEXIST);
        }
        let handler = self.handlers.iter().find(|h| h.handle.can_preserve(&file));
        let handler = &handler.ok_or(EOPNOTSUPP)?.handle;
        let owner = handler.owner().ok_or(EAGAIN)?;
        let f = OutgoingFile {
            token,
            file,
            handler: handler.as_ptr() as usize,
            state: State::Normal,
            data: 0,
            _owner: owner,
        };
        self.outgoing.push(f, GFP_KERNEL)?;
        Ok(())
    }

    /// FD_UNPRESERVE: drops `token`, cancelling it first if prepared.
    pub(crate) fn unpreserve(&mut self, token: u64) -> Result {
        let mut f = self.outgoing.remove(self.outgoing_index(token)?)?;
        cancel(&self.handlers, &mut f);
        Ok(())
    }

    /// FD_RESTORE: rebuilds the incoming file `token` (once: `EBUSY`
    /// after that; `EOPNOTSUPP` without a handler for it).
    pub(crate) fn restore(&mut self, token: u64) -> Result<ARef<File>> {
        let index = self.incoming_index(token)?;
        let f = &self.incoming[index];
        if f.restored.is_some() {
            return Err(EBUSY);
        }
        let handler = self
            .handler_for(f.compatible.to_bytes())
            .ok_or(EOPNOTSUPP)?;
        let file = handler.retrieve(f.data)?;
        self.incoming[index].restored = Some(file.clone());
        Ok(file)
    }

    /// GET_FD_STATE: the state of an outgoing or (`incoming`) incoming file.
    pub(crate) fn state(&self, token: u64, incoming: bool) -> Result<State> {
        if incoming {
            self.incoming_index(token)?;
            Ok(State::Updated)
        } else {
            Ok(self.outgoing[self.outgoing_index(token)?].state)
        }
    }

    /// SET_FD_EVENT on an outgoing file: PREPARE, FREEZE or CANCEL, one
    /// step ahead of, or back from, the global state (`EBUSY` otherwise).
    pub(crate) fn event(&mut self, token: u64, event: Event) -> Result {
        let index = self.outgoing_index(token)?;
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

    /// SET_FD_EVENT FINISH on an incoming file: finishes it alone.
    pub(crate) fn finish_one(&mut self, token: u64) -> Result {
        let f = self.incoming.remove(self.incoming_index(token)?)?;
        self.finish_incoming(&f);
        Ok(())
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

    /// Drops every outgoing file (closing the device), cancelling it first,
    /// the last first.
    pub(crate) fn release(&mut self) {
        self.cancel();
        self.outgoing.clear();
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
