// SPDX-License-Identifier: GPL-2.0

//! The `/dev/liveupdate` uapi: ioctl numbers and argument layouts of
//! `include/uapi/linux/liveupdate.h`, and iommufd-style argument copying.
//!
//! Every argument starts with `__u32 size`, the size user space built the
//! struct with. [`IoctlArg::read`] gives `copy_struct_from_user()` semantics:
//! a size below the struct's minimum (which ends at its last field, outputs
//! included) is `EINVAL`, bytes past what the kernel knows must be zero
//! (`E2BIG`), bytes user space did not pass read as zero.
//! [`IoctlArg::write_back`] copies `min(user size, kernel size)` bytes.
//!
//! Sizes and field offsets are checked against the C header at build time.

use core::mem::offset_of;
use kernel::{
    ioctl::_IO,
    prelude::*,
    uaccess::{UserPtr, UserSlice},
    uapi,
};

/// One ioctl: its number and the size of its argument struct.
pub(crate) struct Ioctl {
    pub(crate) cmd: u32,
    pub(crate) size: usize,
}

const fn ioctl<T>(nr: u32) -> Ioctl {
    Ioctl {
        cmd: _IO(uapi::LIVEUPDATE_IOCTL_TYPE, nr),
        size: size_of::<T>(),
    }
}

/// `LIVEUPDATE_IOCTL_FD_PRESERVE`: `size, fd, token`.
pub(crate) const FD_PRESERVE: Ioctl =
    ioctl::<uapi::liveupdate_ioctl_fd_preserve>(uapi::LIVEUPDATE_CMD_FD_PRESERVE);
/// `LIVEUPDATE_IOCTL_FD_UNPRESERVE`: `size, reserved, token`.
pub(crate) const FD_UNPRESERVE: Ioctl =
    ioctl::<uapi::liveupdate_ioctl_fd_unpreserve>(uapi::LIVEUPDATE_CMD_FD_UNPRESERVE);
/// `LIVEUPDATE_IOCTL_FD_RESTORE`: `size, fd (out), token`.
pub(crate) const FD_RESTORE: Ioctl =
    ioctl::<uapi::liveupdate_ioctl_fd_restore>(uapi::LIVEUPDATE_CMD_FD_RESTORE);
/// `LIVEUPDATE_IOCTL_GET_STATE`: `size, state (out)`.
pub(crate) const GET_STATE: Ioctl =
    ioctl::<uapi::liveupdate_ioctl_get_state>(uapi::LIVEUPDATE_CMD_GET_STATE);
/// `LIVEUPDATE_IOCTL_SET_EVENT`: `size, event`.
pub(crate) const SET_EVENT: Ioctl =
    ioctl::<uapi::liveupdate_ioctl_set_event>(uapi::LIVEUPDATE_CMD_SET_EVENT);
/// `LIVEUPDATE_IOCTL_GET_FD_STATE`: `size, incoming, reserved[3], token,
/// state (out), reserved2`.
pub(crate) const GET_FD_STATE: Ioctl =
    ioctl::<uapi::liveupdate_ioctl_get_fd_state>(uapi::LIVEUPDATE_CMD_GET_FD_STATE);
/// `LIVEUPDATE_IOCTL_SET_FD_EVENT`: `size, event, token`.
pub(crate) const SET_FD_EVENT: Ioctl =
    ioctl::<uapi::liveupdate_ioctl_set_fd_event>(uapi::LIVEUPDATE_CMD_SET_FD_EVENT);

/// Byte offsets of the fields after `size`.
pub(crate) mod off {
    use super::*;

    pub(crate) const FD: usize = offset_of!(uapi::liveupdate_ioctl_fd_preserve, fd);
    pub(crate) const TOKEN: usize = offset_of!(uapi::liveupdate_ioctl_fd_preserve, token);
    pub(crate) const RESERVED: usize = offset_of!(uapi::liveupdate_ioctl_fd_unpreserve, reserved);
    pub(crate) const STATE: usize = offset_of!(uapi::liveupdate_ioctl_get_state, state);
    pub(crate) const EVENT: usize = offset_of!(uapi::liveupdate_ioctl_set_event, event);
    pub(crate) const FD_INCOMING: usize = offset_of!(uapi::liveupdate_ioctl_get_fd_state, incoming);
    pub(crate) const FD_RESERVED: usize = offset_of!(uapi::liveupdate_ioctl_get_fd_state, reserved);
    pub(crate) const FD_TOKEN: usize = offset_of!(uapi::liveupdate_ioctl_get_fd_state, token);
    pub(crate) const FD_STATE: usize = offset_of!(uapi::liveupdate_ioctl_get_fd_state, state);
    pub(crate) const FD_RESERVED2: usize =
        offset_of!(uapi::liveupdate_ioctl_get_fd_state, reserved2);

    // The layouts this file assumes, which the spec fixes: no implicit padding anywhere.
    const _: () = {
        assert!(FD == 4 && TOKEN == 8 && RESERVED == 4 && STATE == 4 && EVENT == 4);
        assert!(offset_of!(uapi::liveupdate_ioctl_fd_unpreserve, token) == TOKEN);
        assert!(offset_of!(uapi::liveupdate_ioctl_fd_restore, fd) == FD);
        assert!(offset_of!(uapi::liveupdate_ioctl_fd_restore, token) == TOKEN);
        assert!(offset_of!(uapi::liveupdate_ioctl_set_fd_event, event) == EVENT);
        assert!(offset_of!(uapi::liveupdate_ioctl_set_fd_event, token) == TOKEN);
        assert!(FD_INCOMING == 4 && FD_RESERVED == 5 && FD_TOKEN == 8);
        assert!(FD_STATE == 16 && FD_RESERVED2 == 20);
        assert!(FD_PRESERVE.size == 16 && FD_UNPRESERVE.size == 16 && FD_RESTORE.size == 16);
        assert!(GET_STATE.size == 8 && SET_EVENT.size == 8);
        assert!(GET_FD_STATE.size == 24 && SET_FD_EVENT.size == 16);
    };
}

/// The largest argument struct.
pub(crate) const MAX_SIZE: usize = 24;

/// An ioctl argument copied in from user space, zero-extended to the
/// kernel's size of the struct.
pub(crate) struct IoctlArg {
    ptr: UserPtr,
    user_size: usize,
    size: usize,
    bytes: [u8; MAX_SIZE],
}

impl IoctlArg {
    /// Copies the argument of `ioctl` at `arg` in, with
    /// `copy_struct_from_user()` semantics. Every struct's minimum size is
    /// its full size: each ends with a field the kernel needs.
    pub(crate) fn read(ioctl: &Ioctl, arg: usize) -> Result<Self> {
        let ptr = UserPtr::from_addr(arg);
        let user_size = UserSlice::new(ptr, size_of::<u32>())
            .reader()
            .read::<u32>()? as usize;
        if user_size < ioctl.size {
            return Err(EINVAL);
        }
        let mut reader = UserSlice::new(ptr, user_size).reader();
        let mut bytes = [0u8; MAX_SIZE];
        reader.read_slice(&mut bytes[..ioctl.size])?;
        // Whatever user space knows beyond the kernel's struct must be zero.
        if !reader.is_zero_remaining()? {
            return Err(E2BIG);
        }
        Ok(Self {
            ptr,
            user_size,
            size: ioctl.size,
            bytes,
        })
    }

    /// The byte at `offset`.
    pub(crate) fn u8_at(&self, offset: usize) -> u8 {
        self.bytes[offset]
    }

    /// The `__u32` at `offset`.
    pub(crate) fn u32_at(&self, offset: usize) -> u32 {
        let mut v = [0u8; 4];
        v.copy_from_slice(&self.bytes[offset..offset + 4]);
        u32::from_ne_bytes(v)
    }

    /// The `__u64` at `offset`.
    pub(crate) fn u64_at(&self, offset: usize) -> u64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&self.bytes[offset..offset + 8]);
        u64::from_ne_bytes(v)
    }

    /// Whether the bytes in `range` are all zero (reserved fields).
    pub(crate) fn is_zero(&self, range: core::ops::Range<usize>) -> bool {
        self.bytes[range].iter().all(|&b| b == 0)
    }

    /// Sets the `__u32` at `offset`.
    pub(crate) fn set_u32_at(&mut self, offset: usize, value: u32) {
        self.bytes[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
    }

    /// Copies the struct back: `min(user size, kernel size)` bytes.
    pub(crate) fn write_back(&self) -> Result {
        let len = self.user_size.min(self.size);
        UserSlice::new(self.ptr, len)
            .writer()
            .write_slice(&self.bytes[..len])
    }
}
