// SPDX-License-Identifier: GPL-2.0

//! The `/dev/liveupdate` uapi: ioctl numbers and argument structs of
//! `include/uapi/linux/liveupdate.h`, and iommufd-style argument copying.
//!
//! Every argument starts with `__u32 size`, the size user space built the
//! struct with. [`IoctlArg::read`] gives `copy_struct_from_user()` semantics:
//! a size below the struct's minimum is `EINVAL`, bytes past what the kernel
//! knows must be zero (`E2BIG`), missing trailing bytes read as zero.
//! [`IoctlArg::write_back`] copies `min(user size, kernel size)` bytes.

use kernel::{
    ioctl::_IO,
    prelude::*,
    uaccess::{UserPtr, UserSlice},
    uapi,
};

const fn cmd(nr: u32) -> u32 {
    _IO(uapi::LIVEUPDATE_IOCTL_TYPE, nr)
}

/// `LIVEUPDATE_IOCTL_GET_STATE`.
pub(crate) const IOCTL_GET_STATE: u32 = cmd(uapi::LIVEUPDATE_CMD_GET_STATE);

/// `struct liveupdate_ioctl_get_state`: `__u32 size; __u32 state (out)`.
pub(crate) const GET_STATE_SIZE: usize = 8;
/// The minimum size ends at the last field, the output `state` included.
pub(crate) const GET_STATE_MIN_SIZE: usize = 8;
const _: () = assert!(GET_STATE_SIZE == size_of::<uapi::liveupdate_ioctl_get_state>());

/// An ioctl argument copied in from user space into a kernel buffer of the
/// struct's size, `N` bytes.
pub(crate) struct IoctlArg<const N: usize> {
    ptr: UserPtr,
    user_size: usize,
    /// The struct as the kernel knows it, zero-extended.
    pub(crate) bytes: [u8; N],
}

impl<const N: usize> IoctlArg<N> {
    /// Copies the argument at `arg` in, with `copy_struct_from_user()`
    /// semantics; `min_size` ends at the struct's last used field.
    pub(crate) fn read(arg: usize, min_size: usize) -> Result<Self> {
        let ptr = UserPtr::from_addr(arg);
        let user_size = UserSlice::new(ptr, size_of::<u32>())
            .reader()
            .read::<u32>()? as usize;
        if user_size < min_size {
            return Err(EINVAL);
        }
        let mut reader = UserSlice::new(ptr, user_size).reader();
        let mut bytes = [0u8; N];
        let known = user_size.min(N);
        reader.read_slice(&mut bytes[..known])?;
        // Whatever user space knows beyond the kernel's struct must be zero.
        let mut chunk = [0u8; 64];
        while !reader.is_empty() {
            let len = reader.len().min(chunk.len());
            reader.read_slice(&mut chunk[..len])?;
            if chunk[..len].iter().any(|&b| b != 0) {
                return Err(E2BIG);
            }
        }
        Ok(Self {
            ptr,
            user_size,
            bytes,
        })
    }

    /// Sets the `__u32` at byte `offset` of the struct.
    pub(crate) fn set_u32_at(&mut self, offset: usize, value: u32) {
        self.bytes[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
    }

    /// Copies the struct back: `min(user size, kernel size)` bytes.
    pub(crate) fn write_back(&self) -> Result {
        let len = self.user_size.min(N);
        UserSlice::new(self.ptr, len)
            .writer()
            .write_slice(&self.bytes[..len])
    }
}
