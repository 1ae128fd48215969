// SPDX-License-Identifier: GPL-2.0

//! The hand-over: what LUO passes to the next kernel inside KHO.
//!
//! One KHO subtree named `LUO`, a flattened device tree written with
//! [`kernel::fdt::FdtWriter`]:
//!
//! ```text
//! / {
//!     compatible = "luo-v1";
//!     subsystems {
//!         compatible = "subsystems-v1";
//!         <subsystem name> = <u64 data>;      /* one property each */
//!         file-descriptors = <u64 phys>;      /* if files are preserved */
//!     };
//! };
//! ```
//!
//! `file-descriptors` is the physical address of the files' own tree
//! (`file-descriptors-v1`, see [`files`]), in KHO-preserved memory.
//!
//! Versions: `luo-v1` is this root layout; `subsystems-v1` is the layout of
//! the `subsystems` node (one big-endian u64 property per subsystem, named
//! after it). A kernel that changes either layout gives it a new compatible
//! (`luo-v2`, `subsystems-v2`) and may keep reading the old one; a kernel
//! refuses every version it does not know. The names `compatible` and
//! `file-descriptors` are reserved in `subsystems`.
//!
//! The blob is built at PREPARE in memory from `kho_alloc_preserve()`,
//! published with `kho_add_subtree()`, updated in place at FREEZE and
//! removed and freed at CANCEL. The next kernel retrieves it at
//! `early_initcall`, checks everything, copies what it needs and frees it
//! at once; anything malformed rejects the whole hand-over.

pub(crate) mod files;

use crate::sessions::{SessionId, SessionName};
use files::{FileEntry, OutgoingFiles, ReceivedFiles};
use kernel::{
    alloc::KVec,
    fdt::{Fdt, FdtWriter},
    kho::{IncomingSubtree, PreservedBuffer, Subtree},
    prelude::*,
    str::{CStr, CString},
};

/// The KHO subtree name.
const SUBTREE: &CStr = c"LUO";
/// The root's compatible: this version of the hand-over.
const COMPATIBLE: &[u8] = b"luo-v1";
/// The node of the subsystems' data.
const SUBSYSTEMS: &[u8] = b"subsystems";
/// Its compatible: this version of the subsystems' layout.
const SUBSYSTEMS_COMPATIBLE: &[u8] = b"subsystems-v1";
/// The property of `subsystems` that points to the files' tree.
const FILE_DESCRIPTORS: &[u8] = b"file-descriptors";
/// Property names in `subsystems` that are not subsystems.
const RESERVED_NAMES: [&[u8]; 2] = [b"compatible", FILE_DESCRIPTORS];
/// Longest subsystem name.
pub(crate) const MAX_NAME_LEN: usize = 63;
/// The most subsystems a hand-over may carry.
pub(crate) const MAX_SUBSYSTEMS: usize = 1024;

/// Whether `name` can key a subsystem's data in the hand-over: 1 to 63
/// characters from the FDT property name set (`[0-9a-zA-Z,._+?#-]`), not a
/// reserved name.
pub(crate) fn valid_name(name: &[u8]) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b",._+?#-".contains(&c))
        && !RESERVED_NAMES.contains(&name)
}

/// Writes a `luo-v1` tree of `count` subsystems (name, data) and the
/// address of the files' tree, if any; returns the finished writer and the
/// offset of each subsystem's u64 in the blob.
fn write<'a>(
    entries: impl Iterator<Item = (&'a [u8], u64)>,
    count: usize,
    files: Option<u64>,
) -> Result<(FdtWriter, KVec<usize>)> {
    let mut w = FdtWriter::new();
    let mut data_offsets = KVec::with_capacity(count, GFP_KERNEL)?;
    w.begin_node(b"")?;
    w.property_string(b"compatible", COMPATIBLE)?;
    w.begin_node(SUBSYSTEMS)?;
    w.property_string(b"compatible", SUBSYSTEMS_COMPATIBLE)?;
    for (name, data) in entries {
        data_offsets.push(w.property_u64(name, data)?, GFP_KERNEL)?;
    }
    if let Some(phys) = files {
        w.property_u64(FILE_DESCRIPTORS, phys)?;
    }
    w.end_node()?;
    w.end_node()?;
    w.finish()?;
    Ok((w, data_offsets))
}

/// Data the previous kernel handed over for one subsystem.
pub(crate) struct Incoming {
    /// The subsystem's name in the previous kernel.
    pub(crate) name: CString,
    /// Its data.
    pub(crate) data: u64,
}

/// The published hand-over of this kernel.
pub(crate) struct Outgoing {
    subtree: Subtree,
    /// Offset in the blob of each subsystem's u64, in registration order.
    data_offsets: KVec<usize>,
    /// The files' tree, when files are preserved.
    files: Option<OutgoingFiles>,
}

impl Outgoing {
    /// Builds the hand-over of `subsystems` (name, prepared data), `files`
    /// and `sessions` and publishes it.
    pub(crate) fn publish<'a>(
        subsystems: impl ExactSizeIterator<Item = (&'a [u8], u64)>,
        files: impl ExactSizeIterator<Item = FileEntry<'a>>,
        sessions: impl ExactSizeIterator<Item = (SessionId, &'a SessionName)>,
    ) -> Result<Self> {
        let files = match (files.len(), sessions.len()) {
            (0, 0) => None,
            _ => Some(OutgoingFiles::write(files, sessions)?),
        };
        let count = subsystems.len();
        let files_at = files.as_ref().map(|f| f.phys());
        let (w, data_offsets) = write(subsystems, count, files_at)?;
        let mut buffer = PreservedBuffer::new(w.total_size())?;
        w.write_to(buffer.as_mut_slice())?;
        Ok(Self {
            subtree: Subtree::publish(SUBTREE, buffer)?,
            data_offsets,
            files,
        })
    }

    /// Updates the data of the file at `index` in place (at FREEZE).
    pub(crate) fn update_file(&mut self, index: usize, data: u64) {
        if let Some(files) = self.files.as_mut() {
            files.update(index, data);
        }
    }

    /// Updates the data of the subsystem at `index` in place (at FREEZE).
    pub(crate) fn update(&mut self, index: usize, data: u64) {
        if let Some(&at) = self.data_offsets.get(index) {
            self.subtree.as_mut_slice()[at..at + 8].copy_from_slice(&data.to_be_bytes());
        }
    }

    /// Damages the published blob, for the test hook: makes the next
    /// kernel's rejection path run for real.
    #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
    pub(crate) fn damage(&mut self, how: u32) -> Result {
        let first = self.data_offsets.first().copied();
        let second = self.data_offsets.get(1).copied();
        let blob = self.subtree.as_mut_slice();
        let be32 =
            |at: usize| u32::from_be_bytes([blob[at], blob[at + 1], blob[at + 2], blob[at + 3]]);
        let (at, value) = match (how, first, second) {
            // Not an FDT.
            (1, _, _) => (0, 0xdead_beef),
            // A version of the hand-over this kernel does not know: the
            // root compatible's value follows BEGIN_NODE "" (8 bytes) and
            // the PROP token, length and name offset (12 bytes).
            (2, _, _) => (HEADER_AND_RSVMAP + 20, u32::from_be_bytes(*b"xuo-")),
            // Truncated: the FDT claims more bytes than were handed over.
            (3, _, _) => (4, 0x0100_0000),
            // A property length far past the end of the blob.
            (4, Some(at), _) => (at - 8, 0x7fff_fff0),
            // Two subsystems with the same name: the second takes the
            // first one's name offset.
            (5, Some(a), Some(b)) => (b - 4, be32(a - 4)),
            // A subsystem's data that is not a u64.
            (6, Some(at), _) => (at - 8, 4),
            _ => return Err(EINVAL),
        };
        blob[at..at + 4].copy_from_slice(&value.to_be_bytes());
        Ok(())
    }
}

/// Where the structure block starts in blobs from [`FdtWriter`].
#[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
const HEADER_AND_RSVMAP: usize = kernel::fdt::HEADER_SIZE + 16;

/// An owned copy of a name read from a hand-over (checked: no NUL).
pub(crate) fn owned_name(name: &[u8]) -> Result<CString> {
    let mut owned = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
    owned.extend_from_slice(name, GFP_KERNEL)?;
    owned.push(0, GFP_KERNEL)?;
    Ok(CString::try_from(
        CStr::from_bytes_with_nul(&owned).map_err(|_| EINVAL)?,
    )?)
}

/// What became of the previous kernel's hand-over.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum Received {
    /// None: a cold boot, or a kexec without a prepared update.
    Nothing,
    /// Accepted: the state is UPDATED.
    Accepted,
    /// Refused, with the reason; the state stayed NORMAL.
    Rejected(&'static str),
}

impl Received {
    /// How `/sys/kernel/liveupdate/handover` shows it.
    pub(crate) fn describe(self) -> (&'static str, &'static str) {
        match self {
            Self::Nothing => ("none", ""),
            Self::Accepted => ("accepted", ""),
            Self::Rejected(why) => ("rejected: ", why),
        }
    }
}

/// What FINISH gave back of an accepted hand-over.
#[derive(Copy, Clone)]
pub(crate) struct Finished {
    /// Memory KHO gave back to the system during FINISH: that of files
    /// never restored, of data their handler refused, of subsystem data.
    pub(crate) released_kib: u64,
    /// Files of a compatible no registered handler has, and subsystem
    /// data no registered subsystem took: their memory stays reserved.
    pub(crate) unclaimed_files: usize,
    pub(crate) unclaimed_subsystems: usize,
}

impl kernel::fmt::Display for Finished {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        write!(
            f,
            "{} KiB released, {} file(s) and {} subsystem(s) unclaimed",
            self.released_kib, self.unclaimed_files, self.unclaimed_subsystems
        )
    }
}

/// What an accepted hand-over carries: the subsystems' data, the files and
/// the sessions.
pub(crate) type Handover = (KVec<Incoming>, ReceivedFiles);

/// Retrieves and checks the previous kernel's hand-over. Its memory is
/// freed before this returns, whatever the outcome.
pub(crate) fn receive() -> core::result::Result<Option<Handover>, &'static str> {
    let subtree = match IncomingSubtree::retrieve(SUBTREE) {
        Ok(subtree) => subtree,
        Err(e) if e == ENOENT => return Ok(None),
        Err(_) => return Err("KHO does not hold the LUO blob it announces"),
    };
    parse(subtree.as_slice()).map(Some)
}

/// Parses a `luo-v1` blob into the subsystems' and the files' data.
fn parse(blob: &[u8]) -> core::result::Result<Handover, &'static str> {
    let fdt = Fdt::new(blob).map_err(|_| "malformed or truncated FDT")?;
    let root = fdt.root().map_err(|_| "malformed FDT")?;
    if root.property_string(b"compatible") != Ok(Some(COMPATIBLE)) {
        return Err("unknown hand-over version (compatible is not luo-v1)");
    }
    let subsystems = match root.subnode(SUBSYSTEMS) {
        Ok(Some(node)) => node,
        _ => return Err("no subsystems node"),
    };
    if subsystems.property_string(b"compatible") != Ok(Some(SUBSYSTEMS_COMPATIBLE)) {
        return Err("unknown subsystems version (compatible is not subsystems-v1)");
    }
    let mut incoming: KVec<Incoming> = KVec::new();
    let mut files_at = None;
    for property in subsystems.properties() {
        let (name, value) = property.map_err(|_| "malformed FDT")?;
        if name == b"compatible" {
            continue;
        }
        let value: Option<[u8; 8]> = value.try_into().ok();
        if name == FILE_DESCRIPTORS && files_at.is_none() {
            let phys = value.ok_or("file-descriptors is not a u64")?;
            files_at = Some(u64::from_be_bytes(phys));
            continue;
        }
        if !valid_name(name) {
            return Err("invalid subsystem name");
        }
        let data = value.ok_or("subsystem data is not a u64")?;
        if incoming.len() >= MAX_SUBSYSTEMS {
            return Err("too many subsystems");
        }
        if incoming.iter().any(|i| i.name.to_bytes() == name) {
            return Err("duplicate subsystem name");
        }
        let name = owned_name(name).map_err(|_| "out of memory")?;
        let data = u64::from_be_bytes(data);
        incoming
            .push(Incoming { name, data }, GFP_KERNEL)
            .map_err(|_| "out of memory")?;
    }
    if subsystems.subnodes().next().is_some() {
        return Err("unexpected node in subsystems");
    }
    let files = match files_at {
        Some(phys) => files::receive(phys)?,
        None => (KVec::new(), KVec::new()),
    };
    Ok((incoming, files))
}

#[kunit_tests(liveupdate_handover)]
mod tests {
    use super::*;

    fn blob_of(entries: &[(&[u8], u64)]) -> Result<KVec<u8>> {
        let (w, _) = write(entries.iter().copied(), entries.len(), None)?;
        let mut blob = KVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        Ok(blob)
    }

    /// A tree with the given root compatible and subsystems node content.
    fn custom(compatible: &[u8], build: impl FnOnce(&mut FdtWriter) -> Result) -> Result<KVec<u8>> {
        let mut w = FdtWriter::new();
        w.begin_node(b"")?;
        w.property_string(b"compatible", compatible)?;
        w.begin_node(SUBSYSTEMS)?;
        build(&mut w)?;
        w.end_node()?;
        w.end_node()?;
        w.finish()?;
        let mut blob = KVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        Ok(blob)
    }

    #[test]
    fn round_trip() -> Result {
        let blob = blob_of(&[(b"alpha", 1), (b"beta_2", u64::MAX), (b"x.y,z+1", 0)])?;
        let (incoming, _) = parse(&blob).map_err(|_| EINVAL)?;
        assert_eq!(incoming.len(), 3);
        assert_eq!(incoming[0].name.to_bytes(), b"alpha");
        assert_eq!(incoming[1].data, u64::MAX);
        assert_eq!(incoming[2].name.to_bytes(), b"x.y,z+1");
        assert!(parse(&blob_of(&[])?).map_err(|_| EINVAL)?.0.is_empty());
        Ok(())
    }

    #[test]
    fn names() {
        assert!(valid_name(b"rust_liveupdate"));
        assert!(!valid_name(b""));
        assert!(!valid_name(b"compatible"));
        assert!(!valid_name(b"file-descriptors"));
        assert!(!valid_name(b"a b"));
        assert!(!valid_name(b"a/b"));
        assert!(!valid_name(&[b'a'; MAX_NAME_LEN + 1]));
        assert!(valid_name(&[b'a'; MAX_NAME_LEN]));
    }

    #[test]
    fn bad_versions_and_layouts_are_rejected() -> Result {
        let ok = |w: &mut FdtWriter| -> Result {
            w.property_string(b"compatible", SUBSYSTEMS_COMPATIBLE)?;
            w.property_u64(b"a", 1)?;
            Ok(())
        };
        assert!(parse(&custom(COMPATIBLE, ok)?).is_ok());
        assert!(parse(&custom(b"luo-v2", ok)?).is_err());
        let rejected = [
            custom(COMPATIBLE, |w| {
                w.property_string(b"compatible", b"subsystems-v2")?;
                Ok(())
            })?,
            custom(COMPATIBLE, |w| {
                w.property_u64(b"a", 1)?;
                Ok(())
            })?,
            custom(COMPATIBLE, |w| {
                ok(w)?;
                w.property_u32(b"short", 1)?;
                Ok(())
            })?,
            custom(COMPATIBLE, |w| {
                ok(w)?;
                w.property_u64(b"bad name", 1)?;
                Ok(())
            })?,
            custom(COMPATIBLE, |w| {
                ok(w)?;
                w.property_u64(b"a", 2)?;
                Ok(())
            })?,
            custom(COMPATIBLE, |w| {
                ok(w)?;
                w.property_u64(b"file-descriptors", 2)?;
                Ok(())
            })?,
            custom(COMPATIBLE, |w| {
                ok(w)?;
                w.property_u32(b"file-descriptors", 0x1000)?;
                Ok(())
            })?,
            custom(COMPATIBLE, |w| {
                ok(w)?;
                w.begin_node(b"nested")?;
                w.end_node()
            })?,
        ];
        for blob in &rejected {
            assert!(parse(blob).is_err());
        }
        Ok(())
    }

    #[test]
    fn too_many_subsystems() -> Result {
        let mut names = KVec::new();
        for i in 0..=MAX_SUBSYSTEMS {
            names.push(CString::try_from_fmt(fmt!("s{i}"))?, GFP_KERNEL)?;
        }
        let entries = names.iter().map(|n| (n.to_bytes(), 0u64));
        let (w, _) = write(entries.clone().take(MAX_SUBSYSTEMS), MAX_SUBSYSTEMS, None)?;
        let mut blob = KVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        assert!(parse(&blob).is_ok());
        let (w, _) = write(entries, MAX_SUBSYSTEMS + 1, None)?;
        let mut blob = KVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        assert_eq!(parse(&blob).err(), Some("too many subsystems"));
        Ok(())
    }

    /// Thousands of mutated blobs: each is accepted or rejected, never a
    /// crash, and truncations are always rejected.
    #[test]
    fn mutated_blobs_never_crash() -> Result {
        let blob = blob_of(&[(b"alpha", 1), (b"beta", 2), (b"gamma", 3)])?;
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut buf = KVec::from_elem(0u8, blob.len(), GFP_KERNEL)?;
        let mut rejected = 0;
        for round in 0..4000 {
            buf.copy_from_slice(&blob);
            for _ in 0..1 + next() % 3 {
                let at = (next() % blob.len() as u64) as usize;
                buf[at] = match next() % 3 {
                    0 => buf[at] ^ (1 << (next() % 8)),
                    1 => next() as u8,
                    _ => 0xff,
                };
            }
            let len = if round % 5 == 0 {
                (next() % blob.len() as u64) as usize
            } else {
                buf.len()
            };
            match parse(&buf[..len]) {
                Ok((incoming, _)) => assert!(incoming.len() <= 3 && len == buf.len()),
                Err(_) => rejected += 1,
            }
        }
        assert!(rejected > 0);
        Ok(())
    }
}
