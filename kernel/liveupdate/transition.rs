// SPDX-License-Identifier: GPL-2.0

//! A transition: the transition mutex, held, and the steps of the global
//! events it runs.
//!
//! Every change to the [`Update`] goes through a [`Transition`], which
//! lends the registrations to the callbacks it calls and publishes the
//! state; dropping it wakes the unregistrations waiting for a change.

use crate::{
    handover::{Finished, Outgoing},
    orchestrator::{Orchestrator, Update},
    state::State,
};
use kernel::{
    liveupdate::OwnerRef,
    mm,
    prelude::*,
    sync::MutexGuard,
    time::{Instant, Monotonic},
};

/// The transition mutex, held.
pub(crate) struct Transition<'a> {
    luo: &'a Orchestrator,
    /// What the mutex protects.
    pub(crate) update: MutexGuard<'a, Update>,
}

impl Drop for Transition<'_> {
    fn drop(&mut self) {
        self.luo.notify_idle();
    }
}

impl<'a> Transition<'a> {
    /// Wraps the guard of `luo`'s transition mutex.
    pub(crate) fn new(luo: &'a Orchestrator, update: MutexGuard<'a, Update>) -> Self {
        Self { luo, update }
    }

    /// The current global state.
    pub(crate) fn state(&self) -> State {
        self.luo.state()
    }

    /// Sets the state. Back in NORMAL, the owners of the registrations are
    /// free to go; in UPDATED they are held until FINISH.
    pub(crate) fn set_state(&mut self, state: State) {
        match state {
            State::Normal => self.release_owners(),
            // A module going away right now stays unheld: it unregisters.
            State::Updated => {
                let _ = self.hold_owners(false);
            }
            State::Prepared | State::Frozen => (),
        }
        self.changed();
        self.luo.publish_state(state);
    }

    /// Counts a change that may end a registration's use, for the waiting
    /// unregistrations, woken when the transition ends.
    pub(crate) fn changed(&self) {
        let mut shared = self.luo.shared();
        shared.changes = shared.changes.wrapping_add(1);
    }

    /// The owner reference to keep with a new registration: `EAGAIN` if
    /// its module is going away; kept only while LUO holds the owners of
    /// all (see [`crate::orchestrator`]).
    pub(crate) fn owner_to_keep(&self, owner: Option<OwnerRef>) -> Result<Option<OwnerRef>> {
        let owner = owner.ok_or(EAGAIN)?;
        Ok(self.update.owners_held.then_some(owner))
    }

    /// Takes a reference on the owner of every registration whose owner is
    /// not held yet. With `all`, all or none: `EAGAIN` if a module is going
    /// away; otherwise such a module is left out (it is unregistering).
    fn hold_owners(&mut self, all: bool) -> Result {
        let update = &mut *self.update;
        let mut missed = false;
        for s in update.subsystems.iter_mut().filter(|s| s.owner.is_none()) {
            s.owner = s.handle.owner();
            missed |= s.owner.is_none();
        }
        for h in update.files.handlers_mut().filter(|h| h.owner.is_none()) {
            h.owner = h.handle.owner();
            missed |= h.owner.is_none();
        }
        update.owners_held = true;
        if missed && all {
            self.release_owners();
            return Err(EAGAIN);
        }
        Ok(())
    }

    /// Drops every owner reference [`Self::hold_owners`] took.
    fn release_owners(&mut self) {
        let update = &mut *self.update;
        update.subsystems.iter_mut().for_each(|s| s.owner = None);
        update.files.handlers_mut().for_each(|h| h.owner = None);
        update.owners_held = false;
    }

    /// Updates what the subsystems may ask of LUO after the incoming data
    /// changed.
    pub(crate) fn refresh_claims(&self) {
        let update = &*self.update;
        let mut shared = self.luo.shared();
        update
            .subsystems
            .refresh(&mut shared.claims, &update.incoming);
    }

    /// PREPARE: holds the owners, prepares every subsystem in registration
    /// order and every file, and publishes the hand-over. On failure what
    /// was prepared is cancelled and nothing changed.
    pub(crate) fn prepare(&mut self) -> Result {
        self.hold_owners(true)?;
        if let Err(e) = self.update.subsystems.prepare() {
            self.release_owners();
            return Err(e);
        }
        let update = &mut *self.update;
        let published = update.files.prepare().and_then(|()| {
            let published = Outgoing::publish(
                update.subsystems.outgoing(),
                update.files.outgoing(),
                update.sessions.outgoing(),
            );
            published.inspect_err(|e| pr_warn!("cannot publish the hand-over: {}\n", e.to_errno()))
        });
        match published {
            Ok(outgoing) => {
                update.outgoing = Some(outgoing);
                Ok(())
            }
            Err(e) => {
                self.cancel();
                self.release_owners();
                Err(e)
            }
        }
    }

    /// FREEZE: every subsystem in registration order, then every file; the
    /// hand-over gets their new data in place. A failure cancels the whole
    /// update (everything was prepared) and leaves NORMAL.
    pub(crate) fn freeze(&mut self) -> Result {
        let update = &mut *self.update;
        let mut outgoing = update.outgoing.as_mut();
        let mut frozen = update.subsystems.freeze(|index, data| {
            if let Some(o) = outgoing.as_mut() {
                o.update(index, data);
            }
        });
        if frozen.is_ok() {
            frozen = update.files.freeze(|index, data| {
                if let Some(o) = outgoing.as_mut() {
                    o.update_file(index, data);
                }
            });
            if let Err(e) = &frozen {
                pr_warn!("a file failed to freeze: {}\n", e.to_errno());
            }
        }
        if let Err(e) = frozen {
            self.cancel();
            self.set_state(State::Normal);
            return Err(e);
        }
        Ok(())
    }

    /// FREEZE, then FROZEN, committed to the kexec with `commit`; `start` is
    /// when the reboot's work began, for the log line.
    pub(crate) fn freeze_for_kexec(&mut self, start: Instant<Monotonic>, commit: bool) -> Result {
        self.freeze()?;
        pr_info!(
            "frozen in {} us, handing over\n",
            start.elapsed().as_micros_ceil()
        );
        #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
        crate::test_hook::damage(&mut self.update);
        self.update.committed = commit;
        self.set_state(State::Frozen);
        Ok(())
    }

    /// CANCEL: removes the hand-over, cancels every file and every
    /// subsystem, last registered first.
    pub(crate) fn cancel(&mut self) {
        let update = &mut *self.update;
        drop(update.outgoing.take());
        update.files.cancel();
        update.subsystems.cancel_all();
    }

    /// With the session uAPI: ends the update once no incoming session is
    /// left, with a FINISH for whatever else was handed over.
    pub(crate) fn end_sessions_update(&mut self) {
        if self.state() == State::Updated && !self.update.sessions.has_incoming() {
            self.finish();
            self.set_state(State::Normal);
        }
    }

    /// FINISH: every subsystem, with its incoming data or 0; then every
    /// incoming file, through its handler. What KHO gives back meanwhile
    /// (the memory of files never restored, of data a handler refused, of
    /// subsystem data) is counted; data no registered subsystem or handler
    /// claims is counted too, and stays reserved: only its owner knows
    /// which memory it is.
    pub(crate) fn finish(&mut self) {
        let before = mm::totalram_pages();
        let update = &mut *self.update;
        let incoming = core::mem::take(&mut update.incoming);
        let unclaimed_subsystems = update.subsystems.finish(&incoming);
        drop(incoming);
        let unclaimed_files = update.files.finish();
        update.sessions.forget_incoming_all();
        self.refresh_claims();
        let released = mm::totalram_pages().saturating_sub(before);
        let finished = Finished {
            released_kib: (released as u64) * (kernel::page::PAGE_SIZE as u64 / 1024),
            unclaimed_files,
            unclaimed_subsystems,
        };
        pr_info!("live update finished: {}\n", finished);
        self.luo.set_finished(finished);
    }
}
