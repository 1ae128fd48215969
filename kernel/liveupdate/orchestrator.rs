// SPDX-License-Identifier: GPL-2.0

//! The one Live Update Orchestrator instance, and the entry points of the
//! device, the C API and the boot path.
//!
//! All of LUO's run-time state lives in [`Orchestrator`]. There is exactly
//! one, allocated at `early_initcall` (so that drivers can register from
//! any initcall level) and reached through [`luo()`].
//!
//! Locks:
//!
//! - The *transition* mutex protects the [`Update`]: the registries, the
//!   preserved files and the hand-over. Its guard is the [`Transition`],
//!   held for each transition, registration and file operation. Callbacks
//!   run while it is held, borrowing their registration from it, so none
//!   can be unregistered under them; a callback must not register or
//!   unregister (a deadlock lockdep reports). Waiting for it from an ioctl
//!   is interruptible (`EINTR`, nothing changed); the kernel's own paths
//!   (reboot, registration, close) wait uninterruptibly.
//! - The *shared* mutex protects what a callback may ask of LUO while the
//!   transition mutex is held ([`Shared`]): it is only held for short
//!   sections that call no callback (they may allocate).
//!
//! Lock order: the transition mutex, then whatever the callbacks take (a
//! file handler's own mutexes, the inode lock, the page cache's `i_pages`
//! lock, the test hook's `luo_tests_data_lock`), then the shared mutex.
//! The test hook's `luo_tests_lock` comes before the transition mutex.
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
    cmdline::{self, Uapi},
    files::{Again, Files, Refused},
    handover::{self, files::ReceivedFiles, valid_name, Finished, Incoming, Outgoing, Received},
    sessions::{Sessions, NO_SESSION},
    state::{Event, State},
    subsystems::{incoming_data, Claims, Subsystems},
    transition::Transition,
};
use kernel::{
    alloc::KVec,
    bindings,
    fs::File,
    liveupdate::{FileHandlerRef, SubsystemRef},
    new_condvar, new_mutex,
    prelude::*,
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

/// What the transition mutex protects.
pub(crate) struct Update {
    /// The registered subsystems.
    pub(crate) subsystems: Subsystems,
    /// File handlers, and the files preserved or handed over.
    pub(crate) files: Files,
    /// The sessions of the session uAPI, outgoing and incoming.
    pub(crate) sessions: Sessions,
    /// Data handed over by the previous kernel, by subsystem name; only
    /// non-empty in the UPDATED state.
    pub(crate) incoming: KVec<Incoming>,
    /// This kernel's published hand-over, from PREPARE to CANCEL.
    pub(crate) outgoing: Option<Outgoing>,
    /// Whether LUO holds the owners of the registrations (each entry says
    /// whether its own is held).
    pub(crate) owners_held: bool,
    /// The reboot path froze the update and the kexec cannot fail any
    /// more: nothing may tear the hand-over down (the point of no return).
    pub(crate) committed: bool,
}

/// What the shared mutex protects.
pub(crate) struct Shared {
    /// Counts the changes that may end a registration's use: state
    /// changes and outgoing files dropped.
    pub(crate) changes: u64,
    /// What each registered subsystem may ask of LUO.
    pub(crate) claims: Claims,
}

/// The state of the Live Update Orchestrator.
#[pin_data]
pub(crate) struct Orchestrator {
    #[pin]
    transition: Mutex<Update>,
    #[pin]
    shared: Mutex<Shared>,
    /// Signalled, with the shared mutex, when a transition ends.
    #[pin]
    idle: CondVar,
    /// The global [`State`] in its uapi encoding, for lock-free readers.
    /// Written only with the transition mutex held.
    state: Atomic<u32>,
    /// Whether `/dev/liveupdate` is open (it has at most one opener).
    device_open: AtomicFlag,
    /// The uAPI `/dev/liveupdate` speaks, chosen at boot.
    uapi: Uapi,
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
}

impl Orchestrator {
    fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            transition <- new_mutex!(Update {
                subsystems: Subsystems::new(),
                files: Files::new(),
                sessions: Sessions::new(),
                incoming: KVec::new(),
                outgoing: None,
                owners_held: false,
                committed: false,
            }, "luo_transition"),
            shared <- new_mutex!(Shared {
                changes: 0,
                claims: Claims::new(),
            }, "luo_shared"),
            idle <- new_condvar!("luo_idle"),
            state: Atomic::new(State::Normal.to_uapi()),
            device_open: AtomicFlag::new(false),
            uapi: cmdline::uapi(),
            #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
            state_file: SetOnce::new(),
            #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
            handover_file: SetOnce::new(),
            received: SetOnce::new(),
            finished: SetOnce::new(),
        })
    }

    /// The uAPI `/dev/liveupdate` speaks.
    pub(crate) fn uapi(&self) -> Uapi {
        self.uapi
    }

    /// The current global state.
    pub(crate) fn state(&self) -> State {
        // Only valid encodings are ever stored.
        State::from_uapi(self.state.load(Acquire)).unwrap_or(State::Normal)
    }

    /// Publishes the state; only a [`Transition`] calls it.
    pub(crate) fn publish_state(&self, state: State) {
        self.state.store(state.to_uapi(), Release);
        #[cfg(CONFIG_LIVEUPDATE_SYSFS_API)]
        if let Some(file) = self.state_file.as_ref() {
            file.notify();
        }
    }

    /// The shared data.
    pub(crate) fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock()
    }

    /// Wakes the waiters of [`Self::unregister`], when a transition ends.
    pub(crate) fn notify_idle(&self) {
        self.idle.notify_all();
    }

    /// Records what FINISH gave back.
    pub(crate) fn set_finished(&self, finished: Finished) {
        self.finished.populate(finished);
    }

    /// Claims the device for one opener: `false` if it is already open.
    pub(crate) fn claim_device(&self) -> bool {
        self.device_open.cmpxchg(false, true, Acquire).is_ok()
    }

    /// The last close of the device: cancels a pending update and releases
    /// every preserved file, unless the hand-over is past the point of no
    /// return, then releases the device. Cancelling first means that a new
    /// opener never sees this opener's update. With the session uAPI, the
    /// sessions live on through their own file descriptors.
    pub(crate) fn close_device(&self) {
        if self.uapi == Uapi::Sessions {
            self.device_open.store(false, Release);
            return;
        }
        if let Ok(mut t) = self.transition(Wait::Uninterruptible) {
            if !t.update.committed {
                if matches!(t.state(), State::Prepared | State::Frozen) {
                    t.cancel();
                    t.set_state(State::Normal);
                }
                if t.update.files.release() {
                    t.changed();
                }
            }
        }
        self.device_open.store(false, Release);
    }

    /// Waits for and takes the transition mutex.
    pub(crate) fn transition(&self, wait: Wait) -> Result<Transition<'_>> {
        let guard = match wait {
            Wait::Interruptible => self.transition.lock_interruptible()?,
            Wait::Uninterruptible => self.transition.lock(),
        };
        Ok(Transition::new(self, guard))
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
    fn enter_updated(&self, incoming: KVec<Incoming>, (files, names): ReceivedFiles) -> Result {
        let mut t = self.transition(Wait::Uninterruptible)?;
        if t.state() != State::Normal {
            return Err(EBUSY);
        }
        let (count, file_count, session_count) = (incoming.len(), files.len(), names.len());
        t.update.sessions.set_incoming(names)?;
        t.update.incoming = incoming;
        t.update.files.set_incoming(files);
        t.refresh_claims();
        t.set_state(State::Updated);
        pr_info!(
            "live update: {} subsystem(s), {} file(s) and {} session(s) handed over\n",
            count,
            file_count,
            session_count
        );
        Ok(())
    }

    /// With the session uAPI, once built-in drivers have registered: an
    /// update that brought no session ends at once.
    pub(crate) fn start_sessions(&self) {
        if let Ok(mut t) = self.transition(Wait::Uninterruptible) {
            t.end_sessions_update();
        }
    }

    /// Takes the transition mutex for a registration change, which is
    /// allowed in NORMAL and UPDATED only (`EBUSY`).
    fn registration(&self) -> Result<Transition<'_>> {
        let t = self.transition(Wait::Uninterruptible)?;
        if !t.state().is_idle() {
            return Err(EBUSY);
        }
        Ok(t)
    }

    /// `liveupdate_register_subsystem()`. In UPDATED, a subsystem with
    /// handed-over data gets `boot()` at once.
    pub(crate) fn register_subsystem(&self, handle: SubsystemRef) -> Result {
        if !valid_name(handle.name().to_bytes()) {
            return Err(EINVAL);
        }
        let mut t = self.registration()?;
        let owner = t.owner_to_keep(handle.owner())?;
        let data = incoming_data(&t.update.incoming, handle.name());
        let ptr = handle.as_ptr();
        // Checks for a duplicate first: the claims follow the registry.
        t.update.subsystems.add(handle, owner)?;
        if let Err(e) = self.shared().claims.push(ptr, data) {
            drop(t.update.subsystems.remove(ptr));
            return Err(e);
        }
        if let (Some(data), State::Updated) = (data, self.state()) {
            if let Some(s) = t.update.subsystems.find(ptr) {
                s.handle.boot(data);
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
        let removed = self.unregister(sync, |t| {
            let removed = t.update.subsystems.remove(ptr)?;
            self.shared().claims.remove(ptr);
            Ok(removed)
        })?;
        drop(removed);
        Ok(())
    }

    /// `liveupdate_register_file_handler()`.
    pub(crate) fn register_file_handler(&self, handle: FileHandlerRef) -> Result {
        let mut t = self.registration()?;
        let owner = t.owner_to_keep(handle.owner())?;
        t.update.files.add_handler(handle, owner)
    }

    /// `liveupdate_unregister_file_handler()`; `sync` as for subsystems.
    pub(crate) fn unregister_file_handler(
        &self,
        ptr: *const bindings::liveupdate_file_handler,
        sync: bool,
    ) -> Result {
        let removed = self.unregister(sync, |t| t.update.files.remove_handler(ptr))?;
        drop(removed);
        Ok(())
    }

    /// Unregistration, under the rules of [`Self::registration`]: `remove`
    /// returns the entry, which the caller drops once the transition mutex
    /// is released. With `sync`, `EBUSY` (a live update or a preserved file
    /// uses it) is waited out, in `TASK_IDLE` (it may last as long as user
    /// space keeps the update prepared): each change that may end it is a
    /// retry.
    fn unregister<T>(
        &self,
        sync: bool,
        mut remove: impl FnMut(&mut Transition<'_>) -> Result<T>,
    ) -> Result<T> {
        loop {
            let mut t = self.transition(Wait::Uninterruptible)?;
            let removed = if t.state().is_idle() {
                remove(&mut t)
            } else {
                Err(EBUSY)
            };
            match removed {
                Err(e) if e == EBUSY && sync => {
                    // Only transitions count changes, so none is missed
                    // between reading the count and waiting for the next.
                    let seen = self.shared().changes;
                    drop(t);
                    let mut shared = self.shared();
                    while shared.changes == seen {
                        self.idle.wait_idle(&mut shared);
                    }
                }
                removed => return removed,
            }
        }
    }

    /// `liveupdate_get_subsystem_data()`; callable from a callback.
    pub(crate) fn subsystem_data(&self, ptr: *const bindings::liveupdate_subsystem) -> Result<u64> {
        if self.state() != State::Updated {
            return Err(EBUSY);
        }
        self.shared().claims.data(ptr)
    }

    /// Sends `event` (from user space or the reboot path).
    pub(crate) fn event(&self, event: Event, wait: Wait) -> Result {
        let mut t = self.transition(wait)?;
        let next = t.state().on(event)?;
        if t.update.committed {
            return Err(EBUSY);
        }
        match event {
            Event::Prepare => t.prepare()?,
            Event::Freeze => t.freeze()?,
            Event::Cancel => t.cancel(),
            Event::Finish => t.finish(),
        }
        t.set_state(next);
        Ok(())
    }

    /// The reboot path, `liveupdate_reboot()`: freezes a prepared update;
    /// nothing to do otherwise. `kernel_kexec()` calls it last before the
    /// kexec, which cannot fail once it returns 0: from then on the update
    /// is committed, and CANCEL gets `EBUSY` and closing the device
    /// cancels nothing, so that no other thread or process can tear the
    /// hand-over down while the kexec is in flight.
    ///
    /// With the session uAPI, the reboot is the whole update
    /// ([`Self::reboot_sessions`]).
    pub(crate) fn reboot(&self) -> Result {
        match self.uapi {
            Uapi::Sessions => self.reboot_sessions(),
            Uapi::Orchestration => self.freeze(true),
        }
    }

    /// Freezes a prepared update; with `commit`, for the kexec that
    /// follows (the test hook freezes without it: CANCEL still works).
    pub(crate) fn freeze(&self, commit: bool) -> Result {
        let mut t = self.transition(Wait::Uninterruptible)?;
        if t.state() == State::Frozen && commit {
            // Frozen by the test hook, and now the kexec goes on.
            t.update.committed = true;
            return Ok(());
        }
        if t.state() != State::Prepared {
            return Ok(());
        }
        t.freeze_for_kexec(Instant::now(), commit)
    }

    /// Takes the transition mutex for a file operation from user space,
    /// which `allowed` in the current state (`EBUSY` otherwise).
    fn file_operation(&self, allowed: impl FnOnce(State) -> bool) -> Result<Transition<'_>> {
        let t = self.transition(Wait::Interruptible)?;
        if !allowed(t.state()) {
            return Err(EBUSY);
        }
        Ok(t)
    }

    /// FD_PRESERVE: records `file` under `token`; it is serialized at
    /// PREPARE.
    pub(crate) fn fd_preserve(&self, token: u64, file: ARef<File>) -> Result {
        let mut t = self.file_operation(State::is_idle)?;
        t.update
            .files
            .preserve(NO_SESSION, token, file)
            .map_err(|refused| match refused {
                Refused::Token | Refused::File => EEXIST,
                Refused::NoHandler => EOPNOTSUPP,
                Refused::Error(e) => e,
            })
    }

    /// FD_UNPRESERVE: drops `token`, cancelling it first if prepared.
    pub(crate) fn fd_unpreserve(&self, token: u64) -> Result {
        let mut t = self.file_operation(State::is_idle)?;
        t.update.files.unpreserve(NO_SESSION, token)?;
        t.changed();
        Ok(())
    }

    /// FD_RESTORE: rebuilds the incoming file `token` (once).
    pub(crate) fn fd_restore(&self, token: u64) -> Result<ARef<File>> {
        let mut t = self.file_operation(|s| s == State::Updated)?;
        t.update.files.restore(NO_SESSION, token, Again::Refuse)
    }

    /// GET_FD_STATE: the state of an outgoing or (`incoming`) incoming
    /// file, once a running transition has ended.
    pub(crate) fn fd_state(&self, token: u64, incoming: bool) -> Result<State> {
        let t = self.file_operation(|_| true)?;
        t.update.files.state(NO_SESSION, token, incoming)
    }

    /// SET_FD_EVENT: moves one file ahead of, or back from, the global
    /// state. PREPARE, FREEZE and CANCEL act on an outgoing file while the
    /// global state is NORMAL or UPDATED; FINISH on an incoming file.
    pub(crate) fn fd_event(&self, token: u64, event: Event) -> Result {
        if event == Event::Finish {
            let mut t = self.file_operation(|s| s == State::Updated)?;
            return t.update.files.finish_one(NO_SESSION, token);
        }
        let mut t = self.file_operation(State::is_idle)?;
        t.update.files.event(NO_SESSION, token, event)
    }
}
