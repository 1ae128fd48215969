// SPDX-License-Identifier: GPL-2.0

//! The registry of subsystems that take part in live updates.
//!
//! Subsystems are kept in registration order: prepare and freeze run in
//! that order, cancel in the reverse one. The registry belongs to the
//! [`Orchestrator`](crate::orchestrator::Orchestrator), which serializes
//! every change with its transitions.

use kernel::{alloc::KVec, liveupdate::SubsystemRef, prelude::*, str::CStr};

/// A registered subsystem and the data LUO keeps for it.
pub(crate) struct Subsystem {
    /// The subsystem's C structure and callbacks.
    pub(crate) handle: SubsystemRef,
    /// The data for the next kernel, from prepare and freeze.
    pub(crate) outgoing: u64,
    /// Whether LUO holds a reference on its owner module.
    pub(crate) owner_held: bool,
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

    /// The number of registered subsystems.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// The subsystem at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&Subsystem> {
        self.list.get(index)
    }

    /// The subsystem at `index`, to update its data.
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut Subsystem> {
        self.list.get_mut(index)
    }

    /// The registered subsystem `ptr`, if it is one.
    pub(crate) fn find(
        &self,
        ptr: *const kernel::bindings::liveupdate_subsystem,
    ) -> Option<&Subsystem> {
        self.list.iter().find(|s| s.handle.is(ptr))
    }

    /// The registered subsystem called `name`, if there is one.
    pub(crate) fn find_by_name(&self, name: &CStr) -> Option<&Subsystem> {
        self.list
            .iter()
            .find(|s| s.handle.name().to_bytes() == name.to_bytes())
    }

    /// The subsystems, to hold or release their owners.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Subsystem> {
        self.list.iter_mut()
    }

    /// Adds `handle` at the end; `EEXIST` if it or its name is registered.
    pub(crate) fn add(&mut self, handle: SubsystemRef, owner_held: bool) -> Result {
        if self.list.iter().any(|s| s.handle.is(handle.as_ptr()))
            || self.find_by_name(handle.name()).is_some()
        {
            return Err(EEXIST);
        }
        self.list.push(
            Subsystem {
                handle,
                outgoing: 0,
                owner_held,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// Removes `ptr`; `ENOENT` if it is not registered.
    pub(crate) fn remove(
        &mut self,
        ptr: *const kernel::bindings::liveupdate_subsystem,
    ) -> Result<Subsystem> {
        let index = self
            .list
            .iter()
            .position(|s| s.handle.is(ptr))
            .ok_or(ENOENT)?;
        Ok(self.list.remove(index)?)
    }
}
