// SPDX-License-Identifier: GPL-2.0

//! The one Live Update Orchestrator instance and its state machine.
//!
//! All of LUO's run-time state lives in [`Orchestrator`]. There is exactly
//! one, allocated at `early_initcall` (so that drivers can register from
//! any initcall level) and reached through [`luo()`].
//!
//! Transitions are serialized by the *transition* mutex, whose guard is the
//! [`Ticket`]; the data lives under the *inner* mutex. Callbacks run while
//! the ticket is held but the inner mutex is not, so a callback may read
//! LUO's state and data; it must not register or unregister (that takes
//! the ticket: a deadlock lockdep reports). Waiting for the ticket from an
//! ioctl is interruptible (`EINTR`, nothing changed); the kernel's own
//! paths (reboot, registration, close) wait uninterruptibly.
//!
//! Lock order: the transition mutex, then whatever the callbacks take (a
//! file handler's own mutexes, the inode lock, the page cache's `i_pages`
//! lock, the test hook's `luo_tests_data_lock`), then the inner mutex,
//! which is only ever held for short sections that call nothing outside
//! LUO except `try_module_get()`/`module_put()`. The test hook's
//! `luo_tests_lock` comes before the transition mutex.
//!
//! Module references: LUO holds one on the owner of every registered
//! subsystem and file handler while an update uses them, from PREPARE
//! back to NORMAL and in an updated kernel until FINISH, and one on a file
//! handler's owner for each file preserved with it. A module in use cannot
//! be removed (`delete_module()` fails with `EWOULDBLOCK`), so its exit
//! unregisters at once. Only an unregistration outside a module's exit
//! (built-in code, or a module's init that fails after an update took it
//! in) can find its registration in use: the `_sync` variants wait for the
//! next change that may end that, in `TASK_IDLE`.

use crate::{
    files::{Files, IncomingFile, OutgoingFile},
    handover::{self, Finished, Outgoing, Received},
    state::{Event, State},
    subsystems::Subsystems,
};
use kernel::{
    alloc::KVec,
    bindings,
    fs::File,
    liveupdate::{FileHandlerRef, SubsystemRef},
    mm, new_condvar, new_mutex,
    prelude::*,
    str::CString,
    sync::{
        aref::ARef,
        atomic::{Acquire, Atomic, AtomicFlag, Release},
        CondVar, Mutex, MutexGuard, SetOnce,
    },
    time::{Instant, Monotonic},
};

/// The orchestrator, once [`init`] has run.
static LUO: SetOnce<Pin<KBox<Orchestrator>>> = SetOnce::new();

/// The orchestrator; `None` before `early_initcall` or if it could not be
/// allocated.
pub(crate) fn luo() -> Option<&'static Orchestrator> {
    LUO.as_ref().map(|luo| &**luo)
}

/// Allocates the orchestrator, at `early_initcall`.
pub(crate) fn init() -> Result {
    let luo = KBox::pin_init(Orchestrator::new(), GFP_KERNEL)?;
    if !LUO.populate(luo) {
        return Err(EBUSY);
    }
    Ok(())
}

/// How to wait for a running transition.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum Wait {
    /// From user space: a signal ends the wait with `EINTR`.
    Interruptible,
    /// From the kernel's own paths, which cannot fail that way.
    Uninterruptible,
}

/// Data the previous kernel handed over for one subsystem.
pub(crate) struct Incoming {
    /// The subsystem's name in the previous kernel.
    pub(crate) name: CString,
    /// Its data.
    pub(crate) data: u64,
}

/// What the inner mutex protects.
struct Inner {
    /// Counts the changes that may end a registration's use: state
    /// changes and outgoing files dropped.
    changes: u64,
    /// Whether LUO holds the owners of the registrations (each entry says
    /// whether its own is held).
    owners_held: bool,
    /// The registered subsystems.
    subsystems: Subsystems,
    /// Data handed over by the previous kernel, by subsystem name; only
    /// non-empty in the UPDATED state.
    incoming: KVec<Incoming>,
    /// This kernel's published hand-over, from PREPARE to CANCEL.
    outgoing: Option<Outgoing>,
    /// File handlers, and the files preserved or handed over.
    files: Files,
    /// The reboot path froze the update and the kexec cannot fail any
    /// more: nothing may tear the hand-over down (the point of no return).
    committed: bool,
}

/// The state of the Live Update Orchestrator.
#[pin_data]
pub(crate) struct Orchestrator {
    /// Held for each transition, registration and file operation.
    #[pin]
    transition: Mutex<()>,
    #[pin]
    inner: Mutex<Inner>,
    /// Signalled, with the inner mutex, when a transition ends.
    #[pin]
    idle: CondVar,
    /// The global [`State`] in its uapi encoding, for lock-free readers.
    /// Written only by the ticket holder.
    state: Atomic<u32>,
    /// Whether `/dev/liveupdate` is open (it has at most one opener).
    device_open: AtomicFlag,
    /// `/sys/kernel/liveupdate/state`, once created.
    #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
    state_file: SetOnce<Pin<KBox<crate::sysfs::StateFile>>>,
    /// `/sys/kernel/liveupdate/handover`, once created.
    #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
    handover_file: SetOnce<Pin<KBox<crate::sysfs::HandoverFile>>>,
    /// What became of the previous kernel's hand-over, set at boot.
    received: SetOnce<Received>,
    /// What FINISH gave back of it, set at FINISH.
    finished: SetOnce<Finished>,
    /// Test hook: how to damage the hand-over right before kexec (0: not).
    #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
    damage: Atomic<u32>,
}

/// The transition ticket: the transition mutex, held. Dropping it wakes
/// the waiters of [`Orchestrator::unregister`].
struct Ticket<'a> {
    luo: &'a Orchestrator,
    _guard: MutexGuard<'a, ()>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.luo.idle.notify_all();
    }
}

impl Orchestrator {
    fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            transition <- new_mutex!((), "luo_transition"),
            inner <- new_mutex!(Inner {
                changes: 0,
                owners_held: false,
                subsystems: Subsystems::new(),
                incoming: KVec::new(),
                outgoing: None,
                files: Files::new(),
                committed: false,
            }, "luo_inner"),
            idle <- new_condvar!("luo_idle"),
            state: Atomic::new(State::Normal.to_uapi()),
            device_open: AtomicFlag::new(false),
            #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
            state_file: SetOnce::new(),
            #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
            handover_file: SetOnce::new(),
            received: SetOnce::new(),
            finished: SetOnce::new(),
            #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
            damage: Atomic::new(0),
        })
    }

    /// The current global state.
    pub(crate) fn state(&self) -> State {
        // Only valid encodings are ever stored.
        State::from_uapi(self.state.load(Acquire)).unwrap_or(State::Normal)
    }

    /// Claims the device for one opener: `false` if it is already open.
    pub(crate) fn claim_device(&self) -> bool {
        self.device_open.cmpxchg(false, true, Acquire).is_ok()
    }

    /// Releases the device claimed by [`Self::claim_device`].
    pub(crate) fn release_device(&self) {
        self.device_open.store(false, Release);
    }

    /// Waits for and takes the transition ticket.
    fn ticket(&self, wait: Wait) -> Result<Ticket<'_>> {
        let guard = match wait {
            Wait::Interruptible => self.transition.lock_interruptible()?,
            Wait::Uninterruptible => self.transition.lock(),
        };
        Ok(Ticket {
            luo: self,
            _guard: guard,
        })
    }

    /// Sets the state; only the ticket holder may call it. Back in NORMAL,
    /// the owners of the registrations are free to go; in UPDATED they are
    /// held until FINISH.
    fn set_state(&self, ticket: &Ticket<'_>, state: State) {
        match state {
            State::Normal => self.release_owners(ticket),
            // A module going away right now stays unheld: it unregisters.
            State::Updated => {
                let _ = self.hold_owners(ticket, false);
            }
            State::Prepared | State::Frozen => (),
        }
        self.changed(ticket);
        self.state.store(state.to_uapi(), Release);
        #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
        if let Some(file) = self.state_file.as_ref() {
            file.notify();
        }
    }

    /// Counts a change that may end a registration's use, for
    /// [`Self::unregister`]'s waiters, woken when the ticket is released.
    fn changed(&self, _ticket: &Ticket<'_>) {
        let mut inner = self.inner.lock();
        inner.changes = inner.changes.wrapping_add(1);
    }

    /// Takes a reference on the owner of every registration whose owner is
    /// not held yet. With `all`, all or none: `EAGAIN` if a module is going
    /// away; otherwise such a module is left out (it is unregistering).
    fn hold_owners(&self, ticket: &Ticket<'_>, all: bool) -> Result {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let mut missed = false;
        for s in inner.subsystems.iter_mut().filter(|s| !s.owner_held) {
            s.owner_held = s.handle.get_owner();
            missed |= !s.owner_held;
        }
        for h in inner.files.handlers.iter_mut().filter(|h| !h.owner_held) {
            h.owner_held = h.handle.get_owner();
            missed |= !h.owner_held;
        }
        inner.owners_held = true;
        if missed && all {
            drop(guard);
            self.release_owners(ticket);
            return Err(EAGAIN);
        }
        Ok(())
    }

    /// Drops every owner reference [`Self::hold_owners`] took.
    fn release_owners(&self, _ticket: &Ticket<'_>) {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        for s in inner.subsystems.iter_mut().filter(|s| s.owner_held) {
            s.handle.put_owner();
            s.owner_held = false;
        }
        for h in inner.files.handlers.iter_mut().filter(|h| h.owner_held) {
            h.handle.put_owner();
            h.owner_held = false;
        }
        inner.owners_held = false;
    }

    /// Creates `/sys/kernel/liveupdate/{state,handover}`.
    #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
    pub(crate) fn create_sysfs_files(&self) -> Result {
        let state = KBox::pin_init(crate::sysfs::create_state(), GFP_KERNEL)?;
        let handover = KBox::pin_init(crate::sysfs::create_handover(&state), GFP_KERNEL)?;
        if !self.state_file.populate(state) || !self.handover_file.populate(handover) {
            return Err(EEXIST);
        }
        Ok(())
    }

    /// What became of the previous kernel's hand-over.
    pub(crate) fn received(&self) -> Received {
        self.received.copy().unwrap_or(Received::Nothing)
    }

    /// What FINISH gave back of the hand-over, once it ran.
    pub(crate) fn finished(&self) -> Option<Finished> {
        self.finished.copy()
    }

    /// At boot: takes the previous kernel's hand-over, or refuses it whole
    /// with one log line (the reason is in `/sys/kernel/liveupdate/handover`).
    pub(crate) fn receive_handover(&self, enabled: bool) {
        let start = Instant::<Monotonic>::now();
        let received = match handover::receive() {
            Ok(None) => Received::Nothing,
            Ok(Some(_)) if !enabled => {
                Received::Rejected("live update is disabled (liveupdate=off)")
            }
            Ok(Some((incoming, files))) => match self.enter_updated(incoming, files) {
                Ok(()) => Received::Accepted,
                Err(_) => Received::Rejected("cannot enter the UPDATED state"),
            },
            Err(why) => Received::Rejected(why),
        };
        match &received {
            Received::Rejected(why) => {
                pr_err!("rejecting the previous kernel's hand-over: {}\n", why)
            }
            Received::Accepted => pr_info!(
                "hand-over received in {} us\n",
                start.elapsed().as_micros_ceil()
            ),
            Received::Nothing => (),
        }
        self.received.populate(received);
    }

    /// NORMAL -> UPDATED with the data of an accepted hand-over.
    fn enter_updated(&self, incoming: KVec<Incoming>, files: KVec<IncomingFile>) -> Result {
        let ticket = self.ticket(Wait::Uninterruptible)?;
        if self.state() != State::Normal {
            return Err(EBUSY);
        }
        let (count, file_count) = (incoming.len(), files.len());
        {
            let mut inner = self.inner.lock();
            inner.incoming = incoming;
            inner.files.incoming = files;
        }
        self.set_state(&ticket, State::Updated);
        pr_info!(
            "live update: {} subsystem(s) and {} file(s) handed over\n",
            count,
            file_count
        );
        Ok(())
    }

    /// Test hook: damage the hand-over this way right before kexec.
    #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
    pub(crate) fn set_damage(&self, how: u32) {
        self.damage.store(how, Release);
    }

    /// The subsystem at `index`, read under the mutex.
    fn subsystem(&self, index: usize) -> Option<(SubsystemRef, u64)> {
        let inner = self.inner.lock();
        inner.subsystems.get(index).map(|s| (s.handle, s.outgoing))
    }

    fn subsystem_count(&self) -> usize {
        self.inner.lock().subsystems.len()
    }

    fn set_outgoing(&self, index: usize, data: u64) {
        if let Some(s) = self.inner.lock().subsystems.get_mut(index) {
            s.outgoing = data;
        }
    }

    /// The data handed over for `name`, if any.
    fn incoming_data(&self, name: &CStr) -> Option<u64> {
        let inner = self.inner.lock();
        let found = inner
            .incoming
            .iter()
            .find(|i| i.name.to_bytes() == name.to_bytes());
        found.map(|i| i.data)
    }

    /// `liveupdate_register_subsystem()`.
    pub(crate) fn register_subsystem(&self, handle: SubsystemRef) -> Result {
        if !handover::valid_name(handle.name().to_bytes()) {
            return Err(EINVAL);
        }
        let _ticket = self.register(
            || handle.get_owner(),
            || handle.put_owner(),
            |inner, held| inner.subsystems.add(handle, held),
        )?;
        if self.state() == State::Updated {
            if let Some(data) = self.incoming_data(handle.name()) {
                handle.boot(data);
            }
        }
        Ok(())
    }

    /// `liveupdate_unregister_subsystem()`; with `sync`, waits for a live
    /// update that uses it to end instead of failing with `EBUSY`.
    pub(crate) fn unregister_subsystem(
        &self,
        ptr: *const bindings::liveupdate_subsystem,
        sync: bool,
    ) -> Result {
        let removed = self.unregister(sync, |inner| inner.subsystems.remove(ptr))?;
        if removed.owner_held {
            removed.handle.put_owner();
        }
        Ok(())
    }

    /// The rules shared by subsystems and file handlers: registration waits
    /// for a running transition and is allowed in NORMAL and UPDATED only
    /// (`EBUSY`). The owner module must not be going away (`EAGAIN`); its
    /// reference is kept only while LUO holds the owners of all (see the
    /// module doc). Returns the ticket, still held.
    fn register(
        &self,
        get_owner: impl FnOnce() -> bool,
        put_owner: impl FnOnce(),
        add: impl FnOnce(&mut Inner, bool) -> Result,
    ) -> Result<Ticket<'_>> {
        let ticket = self.ticket(Wait::Uninterruptible)?;
        if !self.state().allows_registration() {
            return Err(EBUSY);
        }
        if !get_owner() {
            return Err(EAGAIN);
        }
        let (added, held) = {
            let mut inner = self.inner.lock();
            let held = inner.owners_held;
            (add(&mut inner, held), held)
        };
        if added.is_err() || !held {
            put_owner();
        }
        added.map(|()| ticket)
    }

    /// Unregistration, under the rules of [`Self::register`]: `remove`
    /// returns the entry, whose owner reference the caller drops if it is
    /// held. With `sync`, `EBUSY` (a live update or a preserved file uses
    /// it) is waited out, in `TASK_IDLE` (it may last as long as user space
    /// keeps the update prepared): each change that may end it is a retry.
    fn unregister<T>(
        &self,
        sync: bool,
        mut remove: impl FnMut(&mut Inner) -> Result<T>,
    ) -> Result<T> {
        loop {
            let ticket = self.ticket(Wait::Uninterruptible)?;
            let removed = if self.state().allows_registration() {
                remove(&mut self.inner.lock())
            } else {
                Err(EBUSY)
            };
            match removed {
                Err(e) if e == EBUSY && sync => {
                    // Only ticket holders count changes, so none is missed
                    // between reading the count and waiting for the next.
                    let seen = self.inner.lock().changes;
                    drop(ticket);
                    let mut inner = self.inner.lock();
                    while inner.changes == seen {
                        self.idle.wait_idle(&mut inner);
                    }
                }
                removed => return removed,
            }
        }
    }

    /// `liveupdate_get_subsystem_data()`.
    pub(crate) fn subsystem_data(&self, ptr: *const bindings::liveupdate_subsystem) -> Result<u64> {
        if self.state() != State::Updated {
            return Err(EBUSY);
        }
        let handle = self.inner.lock().subsystems.find(ptr).map(|s| s.handle);
        let handle = handle.ok_or(ENOENT)?;
        self.incoming_data(handle.name()).ok_or(ENODATA)
    }

    /// Sends `event` (from user space or the reboot path).
    pub(crate) fn event(&self, event: Event, wait: Wait) -> Result {
        let ticket = self.ticket(wait)?;
        let next = self.state().on(event)?;
        if self.committed() {
            return Err(EBUSY);
        }
        match event {
            Event::Prepare => {
                self.hold_owners(&ticket, true)?;
                if let Err(e) = self.prepare_all(&ticket) {
                    self.release_owners(&ticket);
                    return Err(e);
                }
            }
            Event::Freeze => self.freeze_all(&ticket)?,
            Event::Cancel => self.cancel_all(&ticket, self.subsystem_count()),
            Event::Finish => self.finish_all(&ticket),
        }
        self.set_state(&ticket, next);
        Ok(())
    }

    /// Whether the hand-over is past the point of no return.
    fn committed(&self) -> bool {
        self.inner.lock().committed
    }

    /// The reboot path, `liveupdate_reboot()`: freezes a prepared update;
    /// nothing to do otherwise. `kernel_kexec()` calls it last before the
    /// kexec, which cannot fail once it returns 0: from then on the update
    /// is committed, and CANCEL gets `EBUSY` and closing the device
    /// cancels nothing, so that no other thread or process can tear the
    /// hand-over down while the kexec is in flight.
    pub(crate) fn reboot(&self) -> Result {
        self.freeze(true)
    }

    /// FROZEN without a kexec, for the test hook: CANCEL still works.
    #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
    pub(crate) fn freeze_only(&self) -> Result {
        self.freeze(false)
    }

    fn freeze(&self, commit: bool) -> Result {
        let ticket = self.ticket(Wait::Uninterruptible)?;
        if self.state() == State::Frozen && commit {
            // Frozen by the test hook, and now the kexec goes on.
            self.inner.lock().committed = true;
            return Ok(());
        }
        if self.state() != State::Prepared {
            return Ok(());
        }
        let start = Instant::<Monotonic>::now();
        self.freeze_all(&ticket)?;
        pr_info!(
            "frozen in {} us, handing over\n",
            start.elapsed().as_micros_ceil()
        );
        #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
        {
            let how = self.damage.load(Acquire);
            if let (true, Some(outgoing)) = (how != 0, self.inner.lock().outgoing.as_mut()) {
                pr_warn!("test hook: damaging the hand-over ({})\n", how);
                let _ = outgoing.damage(how);
            }
        }
        self.inner.lock().committed = commit;
        self.set_state(&ticket, State::Frozen);
        Ok(())
    }

    /// Enters (or stays in) UPDATED with `data` handed over for `name`, as
    /// when the previous kernel's hand-over is accepted; allowed from
    /// NORMAL and UPDATED. A registered subsystem `name` gets `boot()` now,
    /// a later one at registration. `EEXIST` if `name` already has data.
    pub(crate) fn add_incoming(&self, name: &CStr, data: u64) -> Result {
        let ticket = self.ticket(Wait::Uninterruptible)?;
        if !matches!(self.state(), State::Normal | State::Updated) {
            return Err(EBUSY);
        }
        if self.incoming_data(name).is_some() {
            return Err(EEXIST);
        }
        let owned = CString::try_from(name)?;
        self.inner
            .lock()
            .incoming
            .push(Incoming { name: owned, data }, GFP_KERNEL)?;
        self.set_state(&ticket, State::Updated);
        let handle = self
            .inner
            .lock()
            .subsystems
            .find_by_name(name)
            .map(|s| s.handle);
        if let Some(handle) = handle {
            handle.boot(data);
        }
        Ok(())
    }

    /// Closing the device before the reboot cancels a pending update; past
    /// the point of no return it does nothing.
    pub(crate) fn cancel_pending(&self) {
        let Ok(ticket) = self.ticket(Wait::Uninterruptible) else {
            return;
        };
        if self.committed() {
            return;
        }
        if matches!(self.state(), State::Prepared | State::Frozen) {
            self.cancel_all(&ticket, self.subsystem_count());
            self.set_state(&ticket, State::Normal);
        }
    }

    /// PREPARE: every subsystem in registration order; on the first
    /// failure the ones before it are cancelled and the state is unchanged.
    fn prepare_all(&self, ticket: &Ticket<'_>) -> Result {
        for index in 0..self.subsystem_count() {
            let Some((handle, _)) = self.subsystem(index) else {
                break;
            };
            match handle.prepare() {
                Ok(data) => self.set_outgoing(index, data),
                Err(e) => {
                    pr_warn!(
                        "subsystem {} failed to prepare: {}\n",
                        handle.name(),
                        e.to_errno()
                    );
                    self.cancel_all(ticket, index);
                    return Err(e);
                }
            }
        }
        if let Err(e) = self.prepare_files() {
            self.cancel_all(ticket, self.subsystem_count());
            return Err(e);
        }
        let published = self
            .snapshot()
            .and_then(|(list, files)| Outgoing::publish(&list, &files));
        match published {
            Ok(outgoing) => {
                self.inner.lock().outgoing = Some(outgoing);
                Ok(())
            }
            Err(e) => {
                pr_warn!("cannot publish the hand-over: {}\n", e.to_errno());
                self.cancel_all(ticket, self.subsystem_count());
                Err(e)
            }
        }
    }

    /// The subsystems and their data, in registration order, and the
    /// outgoing files (token, handler, data).
    #[expect(clippy::type_complexity)]
    fn snapshot(&self) -> Result<(KVec<(SubsystemRef, u64)>, KVec<(u64, FileHandlerRef, u64)>)> {
        let inner = self.inner.lock();
        let mut list = KVec::with_capacity(inner.subsystems.len(), GFP_KERNEL)?;
        for index in 0..inner.subsystems.len() {
            if let Some(s) = inner.subsystems.get(index) {
                list.push((s.handle, s.outgoing), GFP_KERNEL)?;
            }
        }
        let mut files = KVec::with_capacity(inner.files.outgoing.len(), GFP_KERNEL)?;
        for f in inner.files.outgoing.iter() {
            files.push((f.token, f.handler, f.data), GFP_KERNEL)?;
        }
        Ok((list, files))
    }

    /// The outgoing file at `index`: a reference to it, its handler, state
    /// and data.
    fn outgoing_file(&self, index: usize) -> Option<(ARef<File>, FileHandlerRef, State, u64)> {
        let inner = self.inner.lock();
        let f = inner.files.outgoing.get(index)?;
        Some((f.file.clone(), f.handler, f.state, f.data))
    }

    fn set_outgoing_file(&self, index: usize, state: State, data: u64) {
        if let Some(f) = self.inner.lock().files.outgoing.get_mut(index) {
            f.state = state;
            f.data = data;
        }
    }

    fn outgoing_file_count(&self) -> usize {
        self.inner.lock().files.outgoing.len()
    }

    /// Prepares every outgoing file not prepared yet (per-file PREPARE may
    /// have run ahead). On failure the caller cancels everything.
    fn prepare_files(&self) -> Result {
        for index in 0..self.outgoing_file_count() {
            let Some((file, handler, state, _)) = self.outgoing_file(index) else {
                break;
            };
            if state == State::Normal {
                let data = handler.prepare(&file)?;
                self.set_outgoing_file(index, State::Prepared, data);
            }
        }
        Ok(())
    }

    /// Cancels every prepared or frozen outgoing file.
    fn cancel_files(&self) {
        for index in (0..self.outgoing_file_count()).rev() {
            if let Some((file, handler, state, data)) = self.outgoing_file(index) {
                if matches!(state, State::Prepared | State::Frozen) {
                    handler.cancel(&file, data);
                    self.set_outgoing_file(index, State::Normal, 0);
                }
            }
        }
    }

    /// FREEZE: every subsystem in registration order; a failure cancels
    /// the whole update (every subsystem was prepared) and leaves NORMAL.
    fn freeze_all(&self, ticket: &Ticket<'_>) -> Result {
        for index in 0..self.subsystem_count() {
            let Some((handle, data)) = self.subsystem(index) else {
                break;
            };
            match handle.freeze(data) {
                Ok(data) => {
                    self.set_outgoing(index, data);
                    if let Some(outgoing) = self.inner.lock().outgoing.as_mut() {
                        outgoing.update(index, data);
                    }
                }
                Err(e) => {
                    pr_warn!(
                        "subsystem {} failed to freeze: {}\n",
                        handle.name(),
                        e.to_errno()
                    );
                    self.cancel_all(ticket, self.subsystem_count());
                    self.set_state(ticket, State::Normal);
                    return Err(e);
                }
            }
        }
        for index in 0..self.outgoing_file_count() {
            let Some((file, handler, state, data)) = self.outgoing_file(index) else {
                break;
            };
            let frozen = match state {
                State::Prepared => handler.freeze(&file, data),
                _ => Ok(data),
            };
            match frozen {
                Ok(data) => {
                    self.set_outgoing_file(index, State::Frozen, data);
                    if let Some(outgoing) = self.inner.lock().outgoing.as_mut() {
                        outgoing.update_file(index, data);
                    }
                }
                Err(e) => {
                    pr_warn!("a file failed to freeze: {}\n", e.to_errno());
                    self.cancel_all(ticket, self.subsystem_count());
                    self.set_state(ticket, State::Normal);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Removes the hand-over and cancels the first `count` subsystems,
    /// last registered first.
    fn cancel_all(&self, _ticket: &Ticket<'_>, count: usize) {
        let outgoing = self.inner.lock().outgoing.take();
        drop(outgoing);
        self.cancel_files();
        for index in (0..count).rev() {
            if let Some((handle, data)) = self.subsystem(index) {
                handle.cancel(data);
                self.set_outgoing(index, 0);
            }
        }
    }

    /// FINISH: every subsystem, with its incoming data or 0; then every
    /// incoming file, through its handler. What KHO gives back meanwhile
    /// (the memory of files never restored, of data a handler refused, of
    /// subsystem data) is counted; data no registered subsystem or handler
    /// claims is counted too, and stays reserved: only its owner knows
    /// which memory it is.
    fn finish_all(&self, _ticket: &Ticket<'_>) {
        let before = mm::totalram_pages();
        for index in 0..self.subsystem_count() {
            if let Some((handle, _)) = self.subsystem(index) {
                handle.finish(self.incoming_data(handle.name()).unwrap_or(0));
            }
        }
        let incoming = core::mem::take(&mut self.inner.lock().incoming);
        let unclaimed_subsystems = incoming
            .iter()
            .filter(|i| self.inner.lock().subsystems.find_by_name(&i.name).is_none())
            .count();
        drop(incoming);
        let files = core::mem::take(&mut self.inner.lock().files.incoming);
        let unclaimed_files = files.iter().filter(|f| !self.finish_file(f)).count();
        drop(files);
        let released = mm::totalram_pages().saturating_sub(before);
        let finished = Finished {
            released_kib: (released as u64) * (kernel::page::PAGE_SIZE as u64 / 1024),
            unclaimed_files,
            unclaimed_subsystems,
        };
        pr_info!("live update finished: {}\n", finished);
        self.finished.populate(finished);
    }

    /// Calls the handler's finish() for an incoming file; `false` if no
    /// handler of its compatible is registered.
    fn finish_file(&self, file: &IncomingFile) -> bool {
        let handler = self
            .inner
            .lock()
            .files
            .handler_for(file.compatible.to_bytes());
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

    /// `liveupdate_register_file_handler()`.
    pub(crate) fn register_file_handler(&self, handler: FileHandlerRef) -> Result {
        self.register(
            || handler.get_owner(),
            || handler.put_owner(),
            |inner, held| inner.files.add_handler(handler, held),
        )?;
        Ok(())
    }

    /// `liveupdate_unregister_file_handler()`; `sync` as for subsystems.
    pub(crate) fn unregister_file_handler(
        &self,
        ptr: *const bindings::liveupdate_file_handler,
        sync: bool,
    ) -> Result {
        let removed = self.unregister(sync, |inner| inner.files.remove_handler(ptr))?;
        if removed.owner_held {
            removed.handle.put_owner();
        }
        Ok(())
    }

    /// FD_PRESERVE: records `file` under `token`, with the first handler
    /// that accepts it. Serialization happens at PREPARE.
    pub(crate) fn fd_preserve(&self, token: u64, file: ARef<File>) -> Result {
        let _ticket = self.ticket(Wait::Interruptible)?;
        if !matches!(self.state(), State::Normal | State::Updated) {
            return Err(EBUSY);
        }
        let mut inner = self.inner.lock();
        let files = &mut inner.files;
        if files.outgoing_index(token).is_some()
            || files
                .outgoing
                .iter()
                .any(|f| f.file.as_ptr() == file.as_ptr())
        {
            return Err(EEXIST);
        }
        let handler = files
            .handlers
            .iter()
            .find(|h| h.handle.can_preserve(&file))
            .map(|h| h.handle);
        let handler = handler.ok_or(EOPNOTSUPP)?;
        if !handler.get_owner() {
            return Err(EAGAIN);
        }
        // From here on, dropping the file drops the reference.
        files.outgoing.push(
            OutgoingFile {
                token,
                file,
                handler,
                state: State::Normal,
                data: 0,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// FD_UNPRESERVE: drops `token`, cancelling it first if prepared.
    pub(crate) fn fd_unpreserve(&self, token: u64) -> Result {
        let ticket = self.ticket(Wait::Interruptible)?;
        if !matches!(self.state(), State::Normal | State::Updated) {
            return Err(EBUSY);
        }
        let f = {
            let mut inner = self.inner.lock();
            let index = inner.files.outgoing_index(token).ok_or(ENOENT)?;
            inner.files.outgoing.remove(index)?
        };
        if matches!(f.state, State::Prepared | State::Frozen) {
            f.handler.cancel(&f.file, f.data);
        }
        drop(f);
        self.changed(&ticket);
        Ok(())
    }

    /// FD_RESTORE: rebuilds the incoming file `token` (once).
    pub(crate) fn fd_restore(&self, token: u64) -> Result<ARef<File>> {
        let _ticket = self.ticket(Wait::Interruptible)?;
        if self.state() != State::Updated {
            return Err(EBUSY);
        }
        let (handler, data) = {
            let inner = self.inner.lock();
            let index = inner.files.incoming_index(token).ok_or(ENOENT)?;
            let f = &inner.files.incoming[index];
            if f.restored.is_some() {
                return Err(EBUSY);
            }
            let handler = inner.files.handler_for(f.compatible.to_bytes());
            (handler.ok_or(EOPNOTSUPP)?, f.data)
        };
        let file = handler.retrieve(data)?;
        let mut inner = self.inner.lock();
        if let Some(index) = inner.files.incoming_index(token) {
            inner.files.incoming[index].restored = Some(file.clone());
        }
        Ok(file)
    }

    /// GET_FD_STATE: the state of an outgoing or (`incoming`) incoming file.
    pub(crate) fn fd_state(&self, token: u64, incoming: bool) -> Result<State> {
        let inner = self.inner.lock();
        if incoming {
            inner.files.incoming_index(token).ok_or(ENOENT)?;
            Ok(State::Updated)
        } else {
            let index = inner.files.outgoing_index(token).ok_or(ENOENT)?;
            Ok(inner.files.outgoing[index].state)
        }
    }

    /// SET_FD_EVENT: moves one file ahead of, or back from, the global
    /// state. PREPARE, FREEZE and CANCEL act on an outgoing file while the
    /// global state is NORMAL or UPDATED; FINISH on an incoming file.
    pub(crate) fn fd_event(&self, token: u64, event: Event) -> Result {
        let _ticket = self.ticket(Wait::Interruptible)?;
        let global = self.state();
        if event == Event::Finish {
            if global != State::Updated {
                return Err(EBUSY);
            }
            let file = {
                let mut inner = self.inner.lock();
                let index = inner.files.incoming_index(token).ok_or(ENOENT)?;
                inner.files.incoming.remove(index)?
            };
            self.finish_file(&file);
            return Ok(());
        }
        if !matches!(global, State::Normal | State::Updated) {
            return Err(EBUSY);
        }
        let index = self
            .inner
            .lock()
            .files
            .outgoing_index(token)
            .ok_or(ENOENT)?;
        let (file, handler, state, data) = self.outgoing_file(index).ok_or(ENOENT)?;
        let (next, data) = match (event, state) {
            (Event::Prepare, State::Normal) => (State::Prepared, handler.prepare(&file)?),
            (Event::Freeze, State::Prepared) => (State::Frozen, handler.freeze(&file, data)?),
            (Event::Cancel, State::Prepared | State::Frozen) => {
                handler.cancel(&file, data);
                (State::Normal, 0)
            }
            _ => return Err(EBUSY),
        };
        self.set_outgoing_file(index, next, data);
        Ok(())
    }

    /// Closing the device releases every preserved file, unless the
    /// hand-over is past the point of no return.
    pub(crate) fn release_files(&self) {
        let Ok(ticket) = self.ticket(Wait::Uninterruptible) else {
            return;
        };
        if self.committed() {
            return;
        }
        let files = core::mem::take(&mut self.inner.lock().files.outgoing);
        for f in files.iter() {
            if matches!(f.state, State::Prepared | State::Frozen) {
                f.handler.cancel(&f.file, f.data);
            }
        }
        drop(files);
        self.changed(&ticket);
    }
}
