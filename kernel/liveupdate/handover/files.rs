// SPDX-License-Identifier: GPL-2.0

//! The files' part of the hand-over: their own flattened device tree,
//! `file-descriptors-v1`, whose physical address is the `file-descriptors`
//! property of the LUO tree's `subsystems` node:
//!
//! ```text
//! / {
//!     compatible = "file-descriptors-v1";
//!     0x<token> { compatible = "<handler compatible>"; data = <u64>; };
//! };
//! ```
//!
//! A later kernel that changes this layout names it `file-descriptors-v2`;
//! a kernel refuses every version it does not know. Node names are the
//! token in lower-case hexadecimal with a `0x` prefix and no leading zeros.

use super::{owned_name, valid_name};
use crate::files::IncomingFile;
use kernel::{
    alloc::KVec,
    fdt::{Fdt, FdtWriter},
    kho::{IncomingBuffer, PreservedBuffer},
    prelude::*,
};

/// The files tree's compatible.
const COMPATIBLE: &[u8] = b"file-descriptors-v1";
/// Why a hand-over is refused when memory runs out while reading it.
const OOM: &str = "out of memory";
/// The most files one hand-over may carry.
pub(crate) const MAX_FILES: usize = 65536;

/// The files' part of this kernel's hand-over.
pub(crate) struct OutgoingFiles {
    buffer: PreservedBuffer,
    /// Offset of each file's data in the blob, in the order written.
    data_offsets: KVec<usize>,
}

/// Writes a node name for `token`: `0x` and lower-case hex digits.
fn token_name(token: u64, out: &mut [u8; 18]) -> &[u8] {
    out[0] = b'0';
    out[1] = b'x';
    let digits = if token == 0 {
        1
    } else {
        16 - token.leading_zeros() as usize / 4
    };
    for i in 0..digits {
        let nibble = ((token >> (4 * (digits - 1 - i))) & 0xf) as u8;
        out[2 + i] = if nibble < 10 {
            b'0' + nibble
        } else {
            b'a' + nibble - 10
        };
    }
    &out[..2 + digits]
}

/// Parses a node name written by [`token_name`].
fn parse_token_name(name: &[u8]) -> Option<u64> {
    let digits = name.strip_prefix(b"0x")?;
    if digits.is_empty() || digits.len() > 16 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut token = 0u64;
    for &c in digits {
        let nibble = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        token = (token << 4) | u64::from(nibble);
    }
    Some(token)
}

impl OutgoingFiles {
    /// Writes the files tree of `files` (token, handler compatible, data)
    /// into preserved memory.
    pub(crate) fn write<'a>(
        files: impl ExactSizeIterator<Item = (u64, &'a [u8], u64)>,
    ) -> Result<Self> {
        let mut w = FdtWriter::new();
        let mut data_offsets = KVec::with_capacity(files.len(), GFP_KERNEL)?;
        w.begin_node(b"")?;
        w.property_string(b"compatible", COMPATIBLE)?;
        for (token, compatible, data) in files {
            let mut name = [0u8; 18];
            w.begin_node(token_name(token, &mut name))?;
            w.property_string(b"compatible", compatible)?;
            data_offsets.push(w.property_u64(b"data", data)?, GFP_KERNEL)?;
            w.end_node()?;
        }
        w.end_node()?;
        w.finish()?;
        let mut buffer = PreservedBuffer::new(w.total_size())?;
        w.write_to(buffer.as_mut_slice())?;
        Ok(Self {
            buffer,
            data_offsets,
        })
    }

    /// The physical address the LUO tree points to.
    pub(crate) fn phys(&self) -> u64 {
        self.buffer.phys()
    }

    /// Updates the data of the file at `index` (in the order written).
    pub(crate) fn update(&mut self, index: usize, data: u64) {
        if let Some(&at) = self.data_offsets.get(index) {
            self.buffer.as_mut_slice()[at..at + 8].copy_from_slice(&data.to_be_bytes());
        }
    }
}

/// Restores and parses the files tree at `phys`, and frees it.
pub(crate) fn receive(phys: u64) -> core::result::Result<KVec<IncomingFile>, &'static str> {
    let buffer = IncomingBuffer::restore_folio(phys)
        .map_err(|_| "file-descriptors address is not preserved memory")?;
    parse(buffer.as_slice())
}

fn parse(blob: &[u8]) -> core::result::Result<KVec<IncomingFile>, &'static str> {
    let fdt = Fdt::new(blob).map_err(|_| "malformed file-descriptors FDT")?;
    let root = fdt.root().map_err(|_| "malformed file-descriptors FDT")?;
    if root.property_string(b"compatible") != Ok(Some(COMPATIBLE)) {
        return Err("unknown file-descriptors version");
    }
    let mut files: KVec<IncomingFile> = KVec::new();
    for node in root.subnodes() {
        let node = node.map_err(|_| "malformed file-descriptors FDT")?;
        let token = parse_token_name(node.name()).ok_or("bad token node name")?;
        if files.len() >= MAX_FILES {
            return Err("too many files");
        }
        let compatible = match node.property_string(b"compatible") {
            Ok(Some(c)) if valid_name(c) => c,
            _ => return Err("bad file handler compatible"),
        };
        let data = match node.property_u64(b"data") {
            Ok(Some(d)) => d,
            _ => return Err("file data is not a u64"),
        };
        let file = IncomingFile::new(token, owned_name(compatible).map_err(|_| OOM)?, data);
        files.push(file, GFP_KERNEL).map_err(|_| OOM)?;
    }
    // Sorted, duplicates are neighbours: O(n log n) for any input.
    files.sort_unstable_by_key(|f| f.token);
    if files.windows(2).any(|w| w[0].token == w[1].token) {
        return Err("duplicate token");
    }
    Ok(files)
}

#[kunit_tests(liveupdate_files)]
mod tests {
    use super::*;
    use kernel::alloc::KVVec;

    /// A files tree of `tokens`, all with the compatible `m`.
    fn blob_of(tokens: impl Iterator<Item = u64>) -> Result<KVVec<u8>> {
        let mut w = FdtWriter::new();
        w.begin_node(b"")?;
        w.property_string(b"compatible", COMPATIBLE)?;
        for token in tokens {
            let mut name = [0u8; 18];
            w.begin_node(token_name(token, &mut name))?;
            w.property_string(b"compatible", b"m")?;
            w.property_u64(b"data", token)?;
            w.end_node()?;
        }
        w.end_node()?;
        w.finish()?;
        let mut blob = KVVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        Ok(blob)
    }

    /// The most files a hand-over may carry, in the order that made the
    /// duplicate check quadratic, are checked in O(n log n); one more, or
    /// one duplicate, is refused.
    #[test]
    fn the_most_files() -> Result {
        let max = MAX_FILES as u64;
        let files = parse(&blob_of((0..max).rev())?).map_err(|_| EINVAL)?;
        assert_eq!(files.len(), MAX_FILES);
        assert!(files.windows(2).all(|w| w[0].token < w[1].token));
        assert_eq!(files[7].data, 7);
        let duplicate = Iterator::chain((1..max).rev(), core::iter::once(max - 1));
        assert_eq!(parse(&blob_of(duplicate)?).err(), Some("duplicate token"));
        assert_eq!(parse(&blob_of(0..max + 1)?).err(), Some("too many files"));
        Ok(())
    }

    #[test]
    fn token_names() {
        let mut buf = [0u8; 18];
        assert_eq!(token_name(0, &mut buf), b"0x0");
        assert_eq!(token_name(0x1a2b, &mut buf), b"0x1a2b");
        assert_eq!(token_name(u64::MAX, &mut buf), b"0xffffffffffffffff");
        for token in [0u64, 1, 0xf, 0x10, 0xdead_beef, u64::MAX, 1 << 63] {
            let mut buf = [0u8; 18];
            assert_eq!(parse_token_name(token_name(token, &mut buf)), Some(token));
        }
        assert_eq!(parse_token_name(b"0x"), None);
        assert_eq!(parse_token_name(b"0x01"), None);
        assert_eq!(parse_token_name(b"0X1"), None);
        assert_eq!(parse_token_name(b"0x1g"), None);
        assert_eq!(parse_token_name(b"0xABC"), None);
        assert_eq!(parse_token_name(b"0x10000000000000000"), None);
    }
}
