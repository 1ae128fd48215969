// SPDX-License-Identifier: GPL-2.0

//! Entry points for the test hook (`CONFIG_LIVEUPDATE_SELFTESTS`,
//! `luo_selftests.c`) that the public C API does not offer.

use crate::{
    api::to_c,
    handover::Incoming,
    orchestrator::{luo, Orchestrator, Update, Wait},
    state::State,
    subsystems::incoming_data,
};
use kernel::{
    ffi::c_char,
    prelude::*,
    str::{CStr, CString},
    sync::atomic::{Atomic, Relaxed},
};

/// How to damage the hand-over right before kexec (`LUO_DAMAGE_*`; 0: not).
static DAMAGE: Atomic<u32> = Atomic::new(0);

/// Damages `update`'s hand-over, if asked to, once it is frozen.
pub(crate) fn damage(update: &mut Update) {
    let how = DAMAGE.load(Relaxed);
    if let (true, Some(outgoing)) = (how != 0, update.outgoing.as_mut()) {
        pr_warn!("test hook: damaging the hand-over ({})\n", how);
        let _ = outgoing.damage(how);
    }
}

/// Enters (or stays in) UPDATED with `data` handed over for `name`, as
/// when the previous kernel's hand-over is accepted; allowed from NORMAL
/// and UPDATED. A registered subsystem `name` gets `boot()` now, a later
/// one at registration. `EEXIST` if `name` already has data.
fn add_incoming(luo: &Orchestrator, name: &CStr, data: u64) -> Result {
    let mut t = luo.transition(Wait::Uninterruptible)?;
    if !t.state().is_idle() {
        return Err(EBUSY);
    }
    if incoming_data(&t.update.incoming, name).is_some() {
        return Err(EEXIST);
    }
    let name = CString::try_from(name)?;
    t.update
        .incoming
        .push(Incoming { name, data }, GFP_KERNEL)?;
    t.refresh_claims();
    t.set_state(State::Updated);
    let name = &t.update.incoming[t.update.incoming.len() - 1].name;
    if let Some(s) = t.update.subsystems.find_by_name(name) {
        s.handle.boot(data);
    }
    Ok(())
}

/// Enters UPDATED as if the previous kernel had handed `data` over for the
/// subsystem `name`: the path an accepted hand-over takes.
///
/// # Safety
///
/// `name` is null or a valid NUL-terminated string.
#[export]
pub(crate) unsafe extern "C" fn luo_selftest_add_incoming(name: *const c_char, data: u64) -> c_int {
    if name.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: The caller passes a valid NUL-terminated string.
    let name = unsafe { CStr::from_char_ptr(name) };
    to_c(
        luo()
            .ok_or(ENODEV)
            .and_then(|luo| add_incoming(luo, name, data)),
    )
}

/// Damages the hand-over right before the next kexec, in way `how`
/// (`LUO_DAMAGE_*` of `luo_selftests.h`; 0: do not).
///
/// # Safety
///
/// No requirements.
#[export]
pub(crate) unsafe extern "C" fn luo_selftest_damage_handover(how: u32) -> c_int {
    if luo().is_none() {
        return ENODEV.to_errno();
    }
    DAMAGE.store(how, Relaxed);
    0
}

/// Freezes a prepared update as the reboot path does, without committing
/// to a kexec: CANCEL still works.
///
/// # Safety
///
/// No requirements.
#[export]
pub(crate) unsafe extern "C" fn luo_selftest_freeze() -> c_int {
    to_c(luo().ok_or(ENODEV).and_then(|luo| luo.freeze(false)))
}
