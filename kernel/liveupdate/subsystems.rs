// SPDX-License-Identifier: GPL-2.0

//! The registry of subsystems that take part in live updates, and their
//! part of each transition.
//!
//! Subsystems are kept in registration order: prepare and freeze run in
//! that order, cancel in the reverse one. The registry lives under the
//! transition mutex (see [`crate::orchestrator`]): it owns each
//! [`SubsystemRef`] from registration to unregistration and lends it only
//! to the transition that holds the mutex, so no callback can run after
//! its subsystem is unregistered.

use crate::handover::Incoming;
use kernel::{
    alloc::KVec,
    bindings,
    liveupdate::{OwnerRef, SubsystemRef},
    prelude::*,
    str::CStr,
};

/// A registered subsystem and the data LUO keeps for it.
pub(crate) struct Subsystem {
    /// The subsystem's C structure and callbacks.
    pub(crate) handle: SubsystemRef,
    /// The data for the next kernel, from prepare and freeze.
    pub(crate) outgoing: u64,
    /// The reference LUO holds on its owner module while an update uses it.
    pub(crate) owner: Option<OwnerRef>,
}

/// What a subsystem may ask of LUO from a callback, when the transition
/// mutex is held: whether it is registered and the data handed over for
/// it. Kept under the orchestrator's shared mutex.
pub(crate) struct Claim {
    /// The subsystem's address, only compared.
    subsystem: usize,
    data: Option<u64>,
}

/// Every registered subsystem's [`Claim`] (an entry for each entry of
/// [`Subsystems`]).
pub(crate) struct Claims(KVec<Claim>);

impl Claims {
    /// No subsystem registered.
    pub(crate) const fn new() -> Self {
        Self(KVec::new())
    }

    /// Adds the claim of a subsystem registered last.
    pub(crate) fn push(
        &mut self,
        subsystem: *const bindings::liveupdate_subsystem,
        data: Option<u64>,
    ) -> Result {
        let subsystem = subsystem as usize;
        self.0.push(Claim { subsystem, data }, GFP_KERNEL)?;
        Ok(())
    }

    /// Removes the claim of `subsystem`.
    pub(crate) fn remove(&mut self, subsystem: *const bindings::liveupdate_subsystem) {
        if let Some(index) = self
            .0
            .iter()
            .position(|c| c.subsystem == subsystem as usize)
        {
            let _ = self.0.remove(index);
        }
    }

    /// `liveupdate_get_subsystem_data()` once the state is UPDATED: the data
    /// of `ptr`, `ENOENT` if it is not registered, `ENODATA` if nothing was
    /// handed over for it.
    pub(crate) fn data(&self, ptr: *const bindings::liveupdate_subsystem) -> Result<u64> {
        let claim = self.0.iter().find(|c| c.subsystem == ptr as usize);
        claim.ok_or(ENOENT)?.data.ok_or(ENODATA)
    }
}

/// The data handed over for `name`, if any.
pub(crate) fn incoming_data(incoming: &[Incoming], name: &CStr) -> Option<u64> {
    let found = incoming
        .iter()
        .find(|i| i.name.to_bytes() == name.to_bytes());
    found.map(|i| i.data)
}

/// The registered subsystems, in registration order.
pub(crate) struct Subsystems {
    list: KVec<Subsystem>,
}

impl Subsystems {
    /// An empty registry.
    pub(crate) const fn new() -> Self {
        Self { list: KVec::new() }
    }

    /// The subsystems' names and data, in registration order, to write
    /// the hand-over.
    pub(crate) fn outgoing(&self) -> impl ExactSizeIterator<Item = (&[u8], u64)> {
        self.list
            .iter()
            .map(|s| (s.handle.name().to_bytes(), s.outgoing))
    }

    /// The subsystems, to hold or release their owners.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Subsystem> {
        self.list.iter_mut()
    }

    /// The registered subsystem `ptr`, if it is one.
    pub(crate) fn find(&self, ptr: *const bindings::liveupdate_subsystem) -> Option<&Subsystem> {
        self.list.iter().find(|s| s.handle.is(ptr))
    }

    /// The registered subsystem called `name`, if there is one.
    pub(crate) fn find_by_name(&self, name: &CStr) -> Option<&Subsystem> {
        self.list
            .iter()
            .find(|s| s.handle.name().to_bytes() == name.to_bytes())
    }

    /// Adds `handle` at the end; `EEXIST` if it or its name is registered.
    pub(crate) fn add(&mut self, handle: SubsystemRef, owner: Option<OwnerRef>) -> Result {
        if self.list.iter().any(|s| s.handle.is(handle.as_ptr()))
            || self.find_by_name(handle.name()).is_some()
        {
            return Err(EEXIST);
        }
        self.list.push(
            Subsystem {
                handle,
                outgoing: 0,
                owner,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// Removes `ptr`; `ENOENT` if it is not registered. Dropping the
    /// result ends the registration.
    pub(crate) fn remove(
        &mut self,
        ptr: *const bindings::liveupdate_subsystem,
    ) -> Result<Subsystem> {
        let index = self
            .list
            .iter()
            .position(|s| s.handle.is(ptr))
            .ok_or(ENOENT)?;
        Ok(self.list.remove(index)?)
    }

    /// Updates `claims` after `incoming` changed.
    pub(crate) fn refresh(&self, claims: &mut Claims, incoming: &[Incoming]) {
        for claim in claims.0.iter_mut() {
            claim.data = self
                .find(claim.subsystem as *const bindings::liveupdate_subsystem)
                .and_then(|s| incoming_data(incoming, s.handle.name()));
        }
    }

    /// PREPARE: every subsystem in registration order. On the first
    /// failure, the ones before it are cancelled and the error returned.
    pub(crate) fn prepare(&mut self) -> Result {
        for index in 0..self.list.len() {
            let s = &mut self.list[index];
            match s.handle.prepare() {
                Ok(data) => s.outgoing = data,
                Err(e) => {
                    pr_warn!(
                        "subsystem {} failed to prepare: {}\n",
                        s.handle.name(),
                        e.to_errno()
                    );
                    self.cancel(index);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// FREEZE: every subsystem in registration order; `frozen(index, data)`
    /// records each one's new data. The caller cancels on failure.
    pub(crate) fn freeze(&mut self, mut frozen: impl FnMut(usize, u64)) -> Result {
        for (index, s) in self.list.iter_mut().enumerate() {
            match s.handle.freeze(s.outgoing) {
                Ok(data) => {
                    s.outgoing = data;
                    frozen(index, data);
                }
                Err(e) => {
                    pr_warn!(
                        "subsystem {} failed to freeze: {}\n",
                        s.handle.name(),
                        e.to_errno()
                    );
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// CANCEL of every subsystem, last registered first.
    pub(crate) fn cancel_all(&mut self) {
        self.cancel(self.list.len());
    }

    /// CANCEL of the first `count` subsystems, last registered first.
    fn cancel(&mut self, count: usize) {
        for s in self.list.iter_mut().take(count).rev() {
            s.handle.cancel(s.outgoing);
            s.outgoing = 0;
        }
    }

    /// FINISH: every subsystem with its incoming data or 0. Returns how
    /// many entries of `incoming` no registered subsystem claims.
    pub(crate) fn finish(&self, incoming: &[Incoming]) -> usize {
        for s in self.list.iter() {
            s.handle
                .finish(incoming_data(incoming, s.handle.name()).unwrap_or(0));
        }
        incoming
            .iter()
            .filter(|i| self.find_by_name(&i.name).is_none())
            .count()
    }
}
