// SPDX-License-Identifier: GPL-2.0

//! The files' part of the hand-over: their own flattened device tree,
//! whose physical address is the `file-descriptors` property of the LUO
//! tree's `subsystems` node:
//!
//! ```text
//! / {
//!     compatible = "file-descriptors-v2";
//!     0x<token> { compatible = "<handler compatible>"; data = <u64>; };
//!     sessions {
//!         0x<n> {
//!             name = "<session name>";
//!             0x<token> { compatible = "<handler compatible>"; data = <u64>; };
//!         };
//!     };
//! };
//! ```
//!
//! The files at the root belong to no session (the orchestration uAPI's);
//! `sessions` holds the sessions, numbered from 1 in the order they were
//! created, each with its name and its files. `file-descriptors-v1` is the
//! same without `sessions`: a hand-over without sessions is written as v1,
//! so that a kernel that knows only v1 still reads it, and refuses one
//! with sessions. A kernel refuses every version it does not know. Node
//! names are a number in lower-case hexadecimal with a `0x` prefix and no
//! leading zeros.

use super::{owned_name, valid_name, MAX_NAME_LEN};
use crate::{
    files::IncomingFile,
    sessions::{SessionId, SessionName, NO_SESSION},
};
use kernel::{
    alloc::KVec,
    fdt::{Fdt, FdtWriter, Node},
    kho::{IncomingBuffer, PreservedBuffer},
    prelude::*,
};

/// The files tree's compatible without sessions, and with them.
const COMPATIBLE_V1: &[u8] = b"file-descriptors-v1";
const COMPATIBLE_V2: &[u8] = b"file-descriptors-v2";
/// The node of the sessions.
const SESSIONS: &[u8] = b"sessions";
/// Why a hand-over is refused when memory runs out while reading it.
const OOM: &str = "out of memory";
/// The most files one hand-over may carry, and the most sessions: the
/// tree of that many, with the longest names, fits in one preserved buffer
/// (tested below).
pub(crate) const MAX_FILES: usize = 16384;
pub(crate) const MAX_SESSIONS: usize = 16384;

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

/// An outgoing file: (session, token, handler compatible, data).
pub(crate) type FileEntry<'a> = (SessionId, u64, &'a [u8], u64);

/// Writes the node of one file, recording where its data is at `index`.
fn write_file(
    w: &mut FdtWriter,
    offsets: &mut [usize],
    (index, &(_, token, compatible, data)): (usize, &FileEntry<'_>),
) -> Result {
    let mut name = [0u8; 18];
    w.begin_node(token_name(token, &mut name))?;
    w.property_string(b"compatible", compatible)?;
    offsets[index] = w.property_u64(b"data", data)?;
    w.end_node()
}

/// Builds the files tree of `files` and `sessions` (number, name, in the
/// order created); returns the finished writer and the offset of each
/// file's data in the blob, in the order of `files`.
fn tree<'a>(
    files: impl ExactSizeIterator<Item = FileEntry<'a>>,
    sessions: impl ExactSizeIterator<Item = (SessionId, &'a SessionName)>,
) -> Result<(FdtWriter, KVec<usize>)> {
    let mut entries = KVec::with_capacity(files.len(), GFP_KERNEL)?;
    for file in files {
        entries.push(file, GFP_KERNEL)?;
    }
    // Each session's files together, in the order preserved.
    let mut order = KVec::with_capacity(entries.len(), GFP_KERNEL)?;
    for index in 0..entries.len() {
        order.push(index, GFP_KERNEL)?;
    }
    order.sort_unstable_by_key(|&i| (entries[i].0, i));
    let mut data_offsets = KVec::from_elem(0usize, entries.len(), GFP_KERNEL)?;
    let mut sorted = order.iter().map(|&i| (i, &entries[i])).peekable();
    let mut w = FdtWriter::new();
    w.begin_node(b"")?;
    let compatible = if sessions.len() == 0 {
        COMPATIBLE_V1
    } else {
        COMPATIBLE_V2
    };
    w.property_string(b"compatible", compatible)?;
    while let Some(file) = sorted.next_if(|(_, f)| f.0 == NO_SESSION) {
        write_file(&mut w, &mut data_offsets, file)?;
    }
    if sessions.len() > 0 {
        w.begin_node(SESSIONS)?;
        for (n, (id, name)) in (1u64..).zip(sessions) {
            let mut node = [0u8; 18];
            w.begin_node(token_name(n, &mut node))?;
            w.property_string(b"name", name.as_bytes())?;
            while let Some(file) = sorted.next_if(|(_, f)| f.0 == id) {
                write_file(&mut w, &mut data_offsets, file)?;
            }
            w.end_node()?;
        }
        w.end_node()?;
    }
    // Every file belongs to a session listed, in the order of their numbers.
    if sorted.next().is_some() {
        return Err(EINVAL);
    }
    w.end_node()?;
    w.finish()?;
    Ok((w, data_offsets))
}

impl OutgoingFiles {
    /// Writes the files tree of `files` and `sessions` (number, name, in
    /// the order created) into preserved memory.
    pub(crate) fn write<'a>(
        files: impl ExactSizeIterator<Item = FileEntry<'a>>,
        sessions: impl ExactSizeIterator<Item = (SessionId, &'a SessionName)>,
    ) -> Result<Self> {
        let (w, data_offsets) = tree(files, sessions)?;
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

/// What the files tree carries: the files, sorted by session and token,
/// and the names of the sessions, the session numbered `n` at `n - 1`.
pub(crate) type ReceivedFiles = (KVec<IncomingFile>, KVec<SessionName>);

/// Restores and parses the files tree at `phys`, and frees it.
pub(crate) fn receive(phys: u64) -> core::result::Result<ReceivedFiles, &'static str> {
    let buffer = IncomingBuffer::restore_folio(phys)
        .map_err(|_| "file-descriptors address is not preserved memory")?;
    parse(buffer.as_slice())
}

/// Parses the file nodes under `node` into `files`, for `session`;
/// `skip` is the name of a subnode that is not a file.
fn parse_files(
    node: &Node<'_>,
    session: SessionId,
    skip: Option<&[u8]>,
    files: &mut KVec<IncomingFile>,
) -> core::result::Result<(), &'static str> {
    for node in node.subnodes() {
        let node = node.map_err(|_| "malformed file-descriptors FDT")?;
        if skip.is_some() && Some(node.name()) == skip {
            continue;
        }
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
        let compatible = owned_name(compatible).map_err(|_| OOM)?;
        let file = IncomingFile::new(session, token, compatible, data);
        files.push(file, GFP_KERNEL).map_err(|_| OOM)?;
    }
    Ok(())
}

/// Whether two of `names` are the same, in O(n log n).
fn has_duplicate_name(names: &[SessionName]) -> core::result::Result<bool, &'static str> {
    let mut sorted = KVec::with_capacity(names.len(), GFP_KERNEL).map_err(|_| OOM)?;
    for name in names {
        sorted.push(name.as_bytes(), GFP_KERNEL).map_err(|_| OOM)?;
    }
    sorted.sort_unstable();
    Ok(sorted.windows(2).any(|w| w[0] == w[1]))
}

fn parse(blob: &[u8]) -> core::result::Result<ReceivedFiles, &'static str> {
    let fdt = Fdt::new(blob).map_err(|_| "malformed file-descriptors FDT")?;
    let root = fdt.root().map_err(|_| "malformed file-descriptors FDT")?;
    let v2 = match root.property_string(b"compatible") {
        Ok(Some(COMPATIBLE_V1)) => false,
        Ok(Some(COMPATIBLE_V2)) => true,
        _ => return Err("unknown file-descriptors version"),
    };
    let mut files: KVec<IncomingFile> = KVec::new();
    let mut names: KVec<SessionName> = KVec::new();
    parse_files(&root, NO_SESSION, v2.then_some(SESSIONS), &mut files)?;
    let session_nodes = root
        .subnodes()
        .filter(|n| n.as_ref().is_ok_and(|n| n.name() == SESSIONS));
    if session_nodes.count() > usize::from(v2) {
        return Err("unexpected sessions node");
    }
    if v2 {
        let sessions = match root.subnode(SESSIONS) {
            Ok(Some(node)) => node,
            _ => return Err("no sessions node"),
        };
        for (id, node) in (1u64..).zip(sessions.subnodes()) {
            let node = node.map_err(|_| "malformed file-descriptors FDT")?;
            if names.len() >= MAX_SESSIONS {
                return Err("too many sessions");
            }
            if parse_token_name(node.name()) != Some(id) {
                return Err("sessions out of order");
            }
            let name = match node.property_string(b"name") {
                Ok(Some(name)) => SessionName::new(name).ok_or("bad session name")?,
                _ => return Err("bad session name"),
            };
            names.push(name, GFP_KERNEL).map_err(|_| OOM)?;
            parse_files(&node, id, None, &mut files)?;
        }
    }
    // Sorted, duplicates are neighbours: O(n log n) for any input.
    files.sort_unstable_by_key(|f| (f.session, f.token));
    if files
        .windows(2)
        .any(|w| (w[0].session, w[0].token) == (w[1].session, w[1].token))
    {
        return Err("duplicate token");
    }
    if has_duplicate_name(&names)? {
        return Err("duplicate session name");
    }
    Ok((files, names))
}

#[kunit_tests(liveupdate_files)]
mod tests {
    use super::*;
    use kernel::alloc::KVVec;

    /// A files tree of `tokens`, all with the compatible `m`.
    fn blob_of(tokens: impl Iterator<Item = u64>) -> Result<KVVec<u8>> {
        let mut w = FdtWriter::new();
        w.begin_node(b"")?;
        w.property_string(b"compatible", COMPATIBLE_V1)?;
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
        let (files, _) = parse(&blob_of((0..max).rev())?).map_err(|_| EINVAL)?;
        assert_eq!(files.len(), MAX_FILES);
        assert!(files.windows(2).all(|w| w[0].token < w[1].token));
        assert_eq!(files[7].data, 7);
        let duplicate = Iterator::chain((1..max).rev(), core::iter::once(max - 1));
        assert_eq!(parse(&blob_of(duplicate)?).err(), Some("duplicate token"));
        assert_eq!(parse(&blob_of(0..max + 1)?).err(), Some("too many files"));
        Ok(())
    }

    /// Sessions and their files come back as written, each file with its
    /// session's number and its data where the writer says it is.
    #[test]
    fn sessions_round_trip() -> Result {
        let (a, b) = (
            SessionName::new(b"vm-1").ok_or(EINVAL)?,
            SessionName::new(b"\xffb c").ok_or(EINVAL)?,
        );
        let empty = SessionName::new(b"empty").ok_or(EINVAL)?;
        let files: [FileEntry<'_>; 4] = [
            (7, 1, b"m", 10),
            (0, 1, b"m", 11),
            (5, 1, b"m", 12),
            (7, 2, b"m", 13),
        ];
        let sessions = [(5, &a), (6, &empty), (7, &b)];
        let (w, offsets) = tree(files.iter().copied(), sessions.iter().copied())?;
        let mut blob = KVVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        for (i, at) in offsets.iter().enumerate() {
            assert_eq!(blob[*at..*at + 8], files[i].3.to_be_bytes());
        }
        let (incoming, names) = parse(&blob).map_err(|_| EINVAL)?;
        assert_eq!(names.len(), 3);
        assert_eq!(names[2].as_bytes(), b"\xffb c");
        let got = incoming.iter().map(|f| (f.session, f.token, f.data));
        assert!(got.eq([(0, 1, 11), (1, 1, 12), (3, 1, 10), (3, 2, 13)]));
        // Without sessions the tree is v1, which a v1 reader knows.
        let (w, _) = tree(files[1..2].iter().copied(), [].into_iter())?;
        let mut blob = KVVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        let fdt = Fdt::new(&blob)?;
        assert_eq!(
            fdt.root()?.property_string(b"compatible")?,
            Some(COMPATIBLE_V1)
        );
        Ok(())
    }

    /// Sessions with the same name, or out of order, are refused.
    #[test]
    fn bad_sessions_are_refused() -> Result {
        let name = SessionName::new(b"s").ok_or(EINVAL)?;
        let (w, _) = tree([].into_iter(), [(1, &name), (2, &name)].into_iter())?;
        let mut blob = KVVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        assert_eq!(parse(&blob).err(), Some("duplicate session name"));
        let mut w = FdtWriter::new();
        w.begin_node(b"")?;
        w.property_string(b"compatible", COMPATIBLE_V2)?;
        w.begin_node(SESSIONS)?;
        w.begin_node(b"0x2")?;
        w.property_string(b"name", b"s")?;
        w.end_node()?;
        w.end_node()?;
        w.end_node()?;
        w.finish()?;
        let mut blob = KVVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        assert_eq!(parse(&blob).err(), Some("sessions out of order"));
        Ok(())
    }

    /// The most files and sessions, with the longest names and tokens,
    /// fit in one preserved buffer.
    #[test]
    fn the_most_fit_in_a_buffer() -> Result {
        let compatible = [b'c'; MAX_NAME_LEN];
        let name = SessionName::new(&[b'n'; MAX_NAME_LEN]).ok_or(EINVAL)?;
        let files = (0..MAX_FILES)
            .map(|i| i as u64)
            .map(|i| (i % 2, !i, &compatible[..], i));
        let sessions = (0..MAX_SESSIONS).map(|i| (i as u64 + 1, &name));
        let (w, _) = tree(files, sessions)?;
        assert!(w.total_size() <= PreservedBuffer::MAX_LEN);
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
