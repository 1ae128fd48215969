// SPDX-License-Identifier: GPL-2.0

//! The `/dev/liveupdate` uapi: the argument structs of
//! `include/uapi/linux/liveupdate.h` as typed values, with their ioctl
//! numbers, and iommufd-style argument copying; for both uAPIs (the
//! orchestration uAPI's, then the session uAPI's).
//!
//! Every argument starts with `__u32 size`, the size user space built the
//! struct with. [`UserArg::read`] gives `copy_struct_from_user()` semantics:
//! a size below the struct's minimum (which ends at its last field, outputs
//! included) is `EINVAL`, bytes past what the kernel knows must be zero
//! (`E2BIG`), bytes user space did not pass read as zero.
//! [`UserArg::write_back`] copies `min(user size, kernel size)` bytes.
//!
//! The structs come from the C header through bindgen; their layouts are
//! checked at build time.

use core::{
    mem::offset_of,
    ops::{Deref, DerefMut},
};
use kernel::{
    ioctl::_IO,
    prelude::*,
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
    uapi,
};

/// An ioctl argument: a uapi struct that starts with `__u32 size`.
pub(crate) trait Arg: FromBytes + AsBytes {
    /// The ioctl number.
    const CMD: u32;
}

/// Declares the wrapper of a uapi ioctl argument struct, which derefs to
/// it and is copied to and from user space whole. Every field must be
/// listed: the build fails unless they fill the struct, with no padding.
macro_rules! ioctl_arg {
    ($(#[$meta:meta])* $name:ident($uapi:ident { $($field:ident),+ }) = $nr:ident) => {
        $(#[$meta])*
        #[repr(transparent)]
        pub(crate) struct $name(uapi::$uapi);

        // No padding: the fields listed fill the struct.
        const _: () = {
            const V: uapi::$uapi = pin_init::zeroed();
            assert!(size_of::<uapi::$uapi>() == 0 $(+ core::mem::size_of_val(&V.$field))+);
        };

        // SAFETY: The uapi struct is made of integers without padding (asserted above), so any
        // bytes are a valid value.
        unsafe impl FromBytes for $name {}
        // SAFETY: Without padding, every byte of a value is initialized.
        unsafe impl AsBytes for $name {}

        impl Arg for $name {
            const CMD: u32 = _IO(uapi::LIVEUPDATE_IOCTL_TYPE, uapi::$nr);
        }

        impl Deref for $name {
            type Target = uapi::$uapi;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
}

ioctl_arg!(
    /// `LIVEUPDATE_IOCTL_GET_STATE`: `size, state (out)`.
    GetState(liveupdate_ioctl_get_state { size, state }) = LIVEUPDATE_CMD_GET_STATE
);
ioctl_arg!(
    /// `LIVEUPDATE_IOCTL_SET_EVENT`: `size, event`.
    SetEvent(liveupdate_ioctl_set_event { size, event }) = LIVEUPDATE_CMD_SET_EVENT
);
ioctl_arg!(
    /// `LIVEUPDATE_IOCTL_FD_PRESERVE`: `size, fd, token`.
    FdPreserve(liveupdate_ioctl_fd_preserve { size, fd, token }) = LIVEUPDATE_CMD_FD_PRESERVE
);
ioctl_arg!(
    /// `LIVEUPDATE_IOCTL_FD_UNPRESERVE`: `size, reserved, token`.
    FdUnpreserve(liveupdate_ioctl_fd_unpreserve { size, reserved, token })
        = LIVEUPDATE_CMD_FD_UNPRESERVE
);
ioctl_arg!(
    /// `LIVEUPDATE_IOCTL_FD_RESTORE`: `size, fd (out), token`.
    FdRestore(liveupdate_ioctl_fd_restore { size, fd, token }) = LIVEUPDATE_CMD_FD_RESTORE
);
ioctl_arg!(
    /// `LIVEUPDATE_IOCTL_GET_FD_STATE`: `size, incoming, reserved[3], token,
    /// state (out), reserved2`.
    GetFdState(liveupdate_ioctl_get_fd_state {
        size, incoming, reserved, token, state, reserved2
    }) = LIVEUPDATE_CMD_GET_FD_STATE
);
ioctl_arg!(
    /// `LIVEUPDATE_IOCTL_SET_FD_EVENT`: `size, event, token`.
    SetFdEvent(liveupdate_ioctl_set_fd_event { size, event, token }) = LIVEUPDATE_CMD_SET_FD_EVENT
);

ioctl_arg!(
    /// `LIVEUPDATE_IOCTL_CREATE_SESSION`: `size, fd (out), name`.
    CreateSession(liveupdate_ioctl_create_session { size, fd, name })
        = LIVEUPDATE_CMD_CREATE_SESSION
);
ioctl_arg!(
    /// `LIVEUPDATE_IOCTL_RETRIEVE_SESSION`: `size, fd (out), name`.
    RetrieveSession(liveupdate_ioctl_retrieve_session { size, fd, name })
        = LIVEUPDATE_CMD_RETRIEVE_SESSION
);
ioctl_arg!(
    /// `LIVEUPDATE_SESSION_PRESERVE_FD`: `size, fd, token`.
    PreserveFd(liveupdate_session_preserve_fd { size, fd, token })
        = LIVEUPDATE_CMD_SESSION_PRESERVE_FD
);
ioctl_arg!(
    /// `LIVEUPDATE_SESSION_RETRIEVE_FD`: `size, fd (out), token`.
    RetrieveFd(liveupdate_session_retrieve_fd { size, fd, token })
        = LIVEUPDATE_CMD_SESSION_RETRIEVE_FD
);
ioctl_arg!(
    /// `LIVEUPDATE_SESSION_FINISH`: `size, reserved`.
    Finish(liveupdate_session_finish { size, reserved }) = LIVEUPDATE_CMD_SESSION_FINISH
);
ioctl_arg!(
    /// `LIVEUPDATE_SESSION_GET_NAME`: `size, reserved, name (out)`.
    GetName(liveupdate_session_get_name { size, reserved, name }) = LIVEUPDATE_CMD_SESSION_GET_NAME
);

// The layouts of Linux 7.3's session uAPI.
const _: () = {
    use uapi::*;
    assert!(offset_of!(liveupdate_ioctl_create_session, fd) == 4);
    assert!(offset_of!(liveupdate_ioctl_create_session, name) == 8);
    assert!(size_of::<liveupdate_ioctl_create_session>() == 72);
    assert!(offset_of!(liveupdate_ioctl_retrieve_session, name) == 8);
    assert!(size_of::<liveupdate_ioctl_retrieve_session>() == 72);
    assert!(offset_of!(liveupdate_session_preserve_fd, token) == 8);
    assert!(size_of::<liveupdate_session_preserve_fd>() == 16);
    assert!(offset_of!(liveupdate_session_retrieve_fd, token) == 8);
    assert!(size_of::<liveupdate_session_retrieve_fd>() == 16);
    assert!(size_of::<liveupdate_session_finish>() == 8);
    assert!(offset_of!(liveupdate_session_get_name, name) == 8);
    assert!(size_of::<liveupdate_session_get_name>() == 72);
};

// The layouts the spec fixes.
const _: () = {
    use uapi::*;
    assert!(offset_of!(liveupdate_ioctl_fd_preserve, fd) == 4);
    assert!(offset_of!(liveupdate_ioctl_fd_preserve, token) == 8);
    assert!(size_of::<liveupdate_ioctl_fd_preserve>() == 16);
    assert!(offset_of!(liveupdate_ioctl_fd_unpreserve, reserved) == 4);
    assert!(offset_of!(liveupdate_ioctl_fd_unpreserve, token) == 8);
    assert!(size_of::<liveupdate_ioctl_fd_unpreserve>() == 16);
    assert!(offset_of!(liveupdate_ioctl_fd_restore, fd) == 4);
    assert!(offset_of!(liveupdate_ioctl_fd_restore, token) == 8);
    assert!(size_of::<liveupdate_ioctl_fd_restore>() == 16);
    assert!(offset_of!(liveupdate_ioctl_get_state, state) == 4);
    assert!(size_of::<liveupdate_ioctl_get_state>() == 8);
    assert!(offset_of!(liveupdate_ioctl_set_event, event) == 4);
    assert!(size_of::<liveupdate_ioctl_set_event>() == 8);
    assert!(offset_of!(liveupdate_ioctl_get_fd_state, incoming) == 4);
    assert!(offset_of!(liveupdate_ioctl_get_fd_state, reserved) == 5);
    assert!(offset_of!(liveupdate_ioctl_get_fd_state, token) == 8);
    assert!(offset_of!(liveupdate_ioctl_get_fd_state, state) == 16);
    assert!(offset_of!(liveupdate_ioctl_get_fd_state, reserved2) == 20);
    assert!(size_of::<liveupdate_ioctl_get_fd_state>() == 24);
    assert!(offset_of!(liveupdate_ioctl_set_fd_event, event) == 4);
    assert!(offset_of!(liveupdate_ioctl_set_fd_event, token) == 8);
    assert!(size_of::<liveupdate_ioctl_set_fd_event>() == 16);
};

/// An ioctl argument copied in from user space.
pub(crate) struct UserArg<T> {
    ptr: UserPtr,
    user_size: usize,
    value: T,
}

/// Reads the `size` every argument starts with, only to fault (`EFAULT`) on
/// a bad pointer before the command is looked at, as Linux 7.3's session
/// uAPI does.
pub(crate) fn check_readable(arg: usize) -> Result {
    UserSlice::new(UserPtr::from_addr(arg), size_of::<u32>())
        .reader()
        .read::<u32>()?;
    Ok(())
}

impl<T: Arg> UserArg<T> {
    /// Copies the argument at `arg` in, with `copy_struct_from_user()`
    /// semantics. Every struct's minimum size is its full size: each ends
    /// with a field the kernel needs.
    pub(crate) fn read(arg: usize) -> Result<Self> {
        let ptr = UserPtr::from_addr(arg);
        let user_size = UserSlice::new(ptr, size_of::<u32>())
            .reader()
            .read::<u32>()? as usize;
        if user_size < size_of::<T>() {
            return Err(EINVAL);
        }
        let value = UserSlice::new(ptr, user_size).reader().read_struct()?;
        Ok(Self {
            ptr,
            user_size,
            value,
        })
    }

    /// Copies the argument back: `min(user size, kernel size)` bytes.
    pub(crate) fn write_back(&self) -> Result {
        UserSlice::new(self.ptr, self.user_size)
            .writer()
            .write_struct(&self.value)
    }
}

impl<T> Deref for UserArg<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for UserArg<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}
