// SPDX-License-Identifier: GPL-2.0

//! Flattened device trees (FDT, "DTB"): a writer and a reader.
//!
//! The format is the one of the Devicetree Specification, chapter 5, as
//! produced by `dtc` and read by libfdt: a 40-byte big-endian header, a
//! memory reservation block, a structure block of tokens (nodes and
//! properties) and a strings block holding property names.
//!
//! [`FdtWriter`] builds a tree in memory, de-duplicating property names, and
//! knows the blob's total size before it is written into memory the caller
//! provides (for example memory preserved across kexec), so nothing is
//! committed until the tree is complete. Every byte it writes is initialized.
//!
//! [`Fdt`] reads a blob that may come from anywhere, such as a previous
//! kernel: every offset, length and count is checked, and malformed input
//! gives `EINVAL`, never a panic.
//!
//! # Examples
//!
//! ```
//! use kernel::fdt::{Fdt, FdtWriter};
//!
//! let mut w = FdtWriter::new();
//! w.begin_node(b"")?;
//! w.property_string(b"compatible", b"example-v1")?;
//! w.begin_node(b"child")?;
//! w.property_u64(b"value", 42)?;
//! w.end_node()?;
//! w.end_node()?;
//! w.finish()?;
//!
//! let mut blob = KVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
//! w.write_to(&mut blob)?;
//!
//! let fdt = Fdt::new(&blob)?;
//! let child = fdt.root()?.subnode(b"child")?.ok_or(EINVAL)?;
//! assert_eq!(child.property_u64(b"value")?, Some(42));
//! # Ok::<(), Error>(())
//! ```

use crate::{
    alloc::{KVVec, KVec},
    prelude::*,
};

/// `FDT_MAGIC`.
pub const MAGIC: u32 = 0xd00d_feed;
/// The version this writer produces.
pub const VERSION: u32 = 17;
/// The oldest version a reader of our output must support.
pub const LAST_COMPATIBLE_VERSION: u32 = 16;
/// Size of the header of a version 17 tree.
pub const HEADER_SIZE: usize = 40;
/// Nesting limit of the reader (and the writer).
pub const MAX_DEPTH: usize = 32;

const TOKEN_BEGIN_NODE: u32 = 1;
const TOKEN_END_NODE: u32 = 2;
const TOKEN_PROP: u32 = 3;
const TOKEN_NOP: u32 = 4;
const TOKEN_END: u32 = 9;

/// The (empty) memory reservation block: one terminating 16-byte entry.
const RSVMAP_SIZE: usize = 16;

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn push_be32(v: &mut KVVec<u8>, value: u32) -> Result {
    v.extend_from_slice(&value.to_be_bytes(), GFP_KERNEL)?;
    Ok(())
}

fn pad4(v: &mut KVVec<u8>) -> Result {
    while v.len() % 4 != 0 {
        v.push(0, GFP_KERNEL)?;
    }
    Ok(())
}

/// Builds a flattened device tree.
///
/// Call [`Self::begin_node`] with an empty name for the root, add
/// properties and child nodes, close every node with [`Self::end_node`],
/// then [`Self::finish`]. [`Self::total_size`] is then the exact size of
/// the blob [`Self::write_to`] writes.
pub struct FdtWriter {
    structure: KVVec<u8>,
    strings: KVVec<u8>,
    depth: usize,
    nodes: usize,
    finished: bool,
}

impl Default for FdtWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl FdtWriter {
    /// An empty tree.
    pub const fn new() -> Self {
        Self {
            structure: KVVec::new(),
            strings: KVVec::new(),
            depth: 0,
            nodes: 0,
            finished: false,
        }
    }

    fn check_open(&self) -> Result {
        if self.finished || self.depth == 0 {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Opens a node called `name` (empty for the root, which must be the
    /// only top-level node). Names must not contain NUL.
    pub fn begin_node(&mut self, name: &[u8]) -> Result {
        if self.finished || (self.depth == 0 && (self.nodes > 0 || !name.is_empty())) {
            return Err(EINVAL);
        }
        if self.depth > 0 && name.is_empty() {
            return Err(EINVAL);
        }
        if self.depth >= MAX_DEPTH || name.contains(&0) {
            return Err(EINVAL);
        }
        push_be32(&mut self.structure, TOKEN_BEGIN_NODE)?;
        self.structure.extend_from_slice(name, GFP_KERNEL)?;
        self.structure.push(0, GFP_KERNEL)?;
        pad4(&mut self.structure)?;
        self.depth += 1;
        self.nodes += 1;
        Ok(())
    }

    /// Closes the innermost open node.
    pub fn end_node(&mut self) -> Result {
        if self.finished || self.depth == 0 {
            return Err(EINVAL);
        }
        push_be32(&mut self.structure, TOKEN_END_NODE)?;
        self.depth -= 1;
        Ok(())
    }

    /// The offset of `name` in the strings block, adding it if needed.
    fn string_offset(&mut self, name: &[u8]) -> Result<u32> {
        if name.is_empty() || name.contains(&0) {
            return Err(EINVAL);
        }
        let mut start = 0;
        for (i, &b) in self.strings.iter().enumerate() {
            if b == 0 {
                if &self.strings[start..i] == name {
                    return u32::try_from(start).map_err(|_| E2BIG);
                }
                start = i + 1;
            }
        }
        let offset = u32::try_from(self.strings.len()).map_err(|_| E2BIG)?;
        self.strings.extend_from_slice(name, GFP_KERNEL)?;
        self.strings.push(0, GFP_KERNEL)?;
        Ok(offset)
    }

    /// Adds property `name` with `value` to the open node. Returns the
    /// offset of the value from the start of the blob, so that it can be
    /// updated in place later (same length).
    pub fn property(&mut self, name: &[u8], value: &[u8]) -> Result<usize> {
        self.check_open()?;
        let nameoff = self.string_offset(name)?;
        let len = u32::try_from(value.len()).map_err(|_| E2BIG)?;
        push_be32(&mut self.structure, TOKEN_PROP)?;
        push_be32(&mut self.structure, len)?;
        push_be32(&mut self.structure, nameoff)?;
        let offset = self.structure.len();
        self.structure.extend_from_slice(value, GFP_KERNEL)?;
        pad4(&mut self.structure)?;
        Ok(Self::struct_offset() + offset)
    }

    /// Adds a big-endian `u32` property.
    pub fn property_u32(&mut self, name: &[u8], value: u32) -> Result<usize> {
        self.property(name, &value.to_be_bytes())
    }

    /// Adds a big-endian `u64` property.
    pub fn property_u64(&mut self, name: &[u8], value: u64) -> Result<usize> {
        self.property(name, &value.to_be_bytes())
    }

    /// Adds a string property (`value` without its NUL, which is added).
    pub fn property_string(&mut self, name: &[u8], value: &[u8]) -> Result<usize> {
        if value.contains(&0) {
            return Err(EINVAL);
        }
        self.check_open()?;
        let mut v = KVec::with_capacity(value.len() + 1, GFP_KERNEL)?;
        v.extend_from_slice(value, GFP_KERNEL)?;
        v.push(0, GFP_KERNEL)?;
        self.property(name, &v)
    }

    /// Ends the tree; every node must be closed.
    pub fn finish(&mut self) -> Result {
        if self.finished || self.depth != 0 || self.nodes == 0 {
            return Err(EINVAL);
        }
        push_be32(&mut self.structure, TOKEN_END)?;
        self.finished = true;
        Ok(())
    }

    const fn struct_offset() -> usize {
        HEADER_SIZE + RSVMAP_SIZE
    }

    /// The exact size of the blob, once finished.
    pub fn total_size(&self) -> usize {
        Self::struct_offset() + self.structure.len() + self.strings.len()
    }

    /// Writes the finished blob to the start of `out` and zeroes the rest
    /// of `out`. Returns the blob's size; `ENOSPC` if `out` is too small.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize> {
        if !self.finished {
            return Err(EINVAL);
        }
        let total = self.total_size();
        if out.len() < total {
            return Err(ENOSPC);
        }
        let size = |n: usize| u32::try_from(n).map_err(|_| E2BIG);
        let off_struct = Self::struct_offset();
        let off_strings = off_struct + self.structure.len();
        let header = [
            MAGIC,
            size(total)?,
            size(off_struct)?,
            size(off_strings)?,
            size(HEADER_SIZE)?,
            VERSION,
            LAST_COMPATIBLE_VERSION,
            0,
            size(self.strings.len())?,
            size(self.structure.len())?,
        ];
        for (i, field) in header.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&field.to_be_bytes());
        }
        out[HEADER_SIZE..off_struct].fill(0);
        out[off_struct..off_strings].copy_from_slice(&self.structure);
        out[off_strings..total].copy_from_slice(&self.strings);
        out[total..].fill(0);
        Ok(total)
    }
}

/// A token of the structure block.
enum Token<'a> {
    BeginNode(&'a [u8]),
    EndNode,
    Prop { name: &'a [u8], value: &'a [u8] },
    End,
}

/// A validated flattened device tree.
///
/// # Invariants
///
/// `structure` and `strings` are the blocks of a blob whose header was
/// checked, and `structure` holds exactly one well-nested root node
/// followed by the end token.
#[derive(Clone, Copy)]
pub struct Fdt<'a> {
    structure: &'a [u8],
    strings: &'a [u8],
}

fn be32(bytes: &[u8], offset: usize) -> Result<u32> {
    let b = bytes
        .get(offset..offset.checked_add(4).ok_or(EINVAL)?)
        .ok_or(EINVAL)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The bytes of `block` from `start` up to the next NUL, excluded.
fn c_string(block: &[u8], start: usize) -> Result<&[u8]> {
    let rest = block.get(start..).ok_or(EINVAL)?;
    let len = rest.iter().position(|&b| b == 0).ok_or(EINVAL)?;
    Ok(&rest[..len])
}

impl<'a> Fdt<'a> {
    /// Checks `blob` and returns the tree it holds; `EINVAL` if it is not
    /// a well-formed flattened device tree of version 16 or 17.
    pub fn new(blob: &'a [u8]) -> Result<Self> {
        if be32(blob, 0)? != MAGIC {
            return Err(EINVAL);
        }
        let field = |i: usize| be32(blob, i * 4).map(|v| v as usize);
        let total = field(1)?;
        let (off_struct, off_strings, off_rsvmap) = (field(2)?, field(3)?, field(4)?);
        let (version, last_comp) = (field(5)?, field(6)?);
        let (size_strings, size_struct) = (field(8)?, field(9)?);
        if total < HEADER_SIZE || total > blob.len() || version < 16 || last_comp > 17 {
            return Err(EINVAL);
        }
        let blob = &blob[..total];
        let block = |off: usize, size: usize| {
            blob.get(off..off.checked_add(size).ok_or(EINVAL)?)
                .ok_or(EINVAL)
        };
        if off_struct % 4 != 0 || off_rsvmap % 8 != 0 || off_rsvmap < HEADER_SIZE {
            return Err(EINVAL);
        }
        block(off_rsvmap, RSVMAP_SIZE)?;
        let fdt = Self {
            structure: block(off_struct, size_struct)?,
            strings: block(off_strings, size_strings)?,
        };
        fdt.check_structure()?;
        // INVARIANT: The header and the structure were checked above.
        Ok(fdt)
    }

    /// The token at `offset` and the offset of the next one.
    fn token(&self, offset: usize) -> Result<(Token<'a>, usize)> {
        let mut offset = offset;
        loop {
            let tag = be32(self.structure, offset)?;
            offset += 4;
            return match tag {
                TOKEN_NOP => continue,
                TOKEN_BEGIN_NODE => {
                    let name = c_string(self.structure, offset)?;
                    Ok((Token::BeginNode(name), align4(offset + name.len() + 1)))
                }
                TOKEN_END_NODE => Ok((Token::EndNode, offset)),
                TOKEN_END => Ok((Token::End, offset)),
                TOKEN_PROP => {
                    let len = be32(self.structure, offset)? as usize;
                    let nameoff = be32(self.structure, offset + 4)? as usize;
                    let start = offset + 8;
                    let end = start.checked_add(len).ok_or(EINVAL)?;
                    let value = self.structure.get(start..end).ok_or(EINVAL)?;
                    let name = c_string(self.strings, nameoff)?;
                    Ok((Token::Prop { name, value }, align4(end)))
                }
                _ => Err(EINVAL),
            };
        }
    }

    /// Checks the nesting: one root node, then the end token.
    fn check_structure(&self) -> Result {
        let (first, mut offset) = self.token(0)?;
        if !matches!(first, Token::BeginNode(name) if name.is_empty()) {
            return Err(EINVAL);
        }
        let mut depth = 1usize;
        let mut in_props = true;
        while depth > 0 {
            let (token, next) = self.token(offset)?;
            match token {
                Token::BeginNode(name) => {
                    if name.is_empty() || depth >= MAX_DEPTH {
                        return Err(EINVAL);
                    }
                    depth += 1;
                    in_props = true;
                }
                Token::EndNode => {
                    depth -= 1;
                    in_props = false;
                }
                // Properties come before the subnodes of their node.
                Token::Prop { .. } if in_props => {}
                Token::Prop { .. } | Token::End => return Err(EINVAL),
            }
            offset = next;
        }
        match self.token(offset)? {
            (Token::End, _) => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// The root node.
    pub fn root(&self) -> Result<Node<'a>> {
        let (_, body) = self.token(0)?;
        Ok(Node {
            fdt: *self,
            name: b"",
            body,
        })
    }
}

/// A node of an [`Fdt`].
#[derive(Clone, Copy)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    name: &'a [u8],
    /// Offset of the first token after the node's name.
    body: usize,
}

impl<'a> Node<'a> {
    /// The node's name (empty for the root).
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The properties (name, value), in order. A malformed blob ends the
    /// walk with one `Err`.
    pub fn properties(&self) -> Properties<'a> {
        Properties {
            fdt: self.fdt,
            offset: Some(self.body),
        }
    }

    /// The direct child nodes, in order. A malformed blob ends the walk
    /// with one `Err`.
    pub fn subnodes(&self) -> Subnodes<'a> {
        Subnodes {
            fdt: self.fdt,
            offset: Some(self.body),
        }
    }

    /// The value of property `name`, if the node has it.
    pub fn property(&self, name: &[u8]) -> Result<Option<&'a [u8]>> {
        for property in self.properties() {
            match property? {
                (n, value) if n == name => return Ok(Some(value)),
                _ => (),
            }
        }
        Ok(None)
    }

    /// The value of the big-endian `u64` property `name`; `EINVAL` if it
    /// is not 8 bytes long.
    pub fn property_u64(&self, name: &[u8]) -> Result<Option<u64>> {
        match self.property(name)? {
            None => Ok(None),
            Some(v) => Ok(Some(u64::from_be_bytes(v.try_into().map_err(|_| EINVAL)?))),
        }
    }

    /// The value of the big-endian `u32` property `name`; `EINVAL` if it
    /// is not 4 bytes long.
    pub fn property_u32(&self, name: &[u8]) -> Result<Option<u32>> {
        match self.property(name)? {
            None => Ok(None),
            Some(v) => Ok(Some(u32::from_be_bytes(v.try_into().map_err(|_| EINVAL)?))),
        }
    }

    /// The string property `name` without its NUL; `EINVAL` unless it is
    /// exactly one NUL-terminated string.
    pub fn property_string(&self, name: &[u8]) -> Result<Option<&'a [u8]>> {
        match self.property(name)? {
            None => Ok(None),
            Some(v) => match v.split_last() {
                Some((0, s)) if !s.contains(&0) => Ok(Some(s)),
                _ => Err(EINVAL),
            },
        }
    }

    /// The child node `name`, if there is one.
    pub fn subnode(&self, name: &[u8]) -> Result<Option<Node<'a>>> {
        for node in self.subnodes() {
            let node = node?;
            if node.name == name {
                return Ok(Some(node));
            }
        }
        Ok(None)
    }
}

/// The properties of a [`Node`], from [`Node::properties`].
pub struct Properties<'a> {
    fdt: Fdt<'a>,
    /// The next token; `None` once the walk ended.
    offset: Option<usize>,
}

impl<'a> Iterator for Properties<'a> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.offset.take()?;
        match self.fdt.token(offset) {
            Ok((Token::Prop { name, value }, next)) => {
                self.offset = Some(next);
                Some(Ok((name, value)))
            }
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// The direct child nodes of a [`Node`], from [`Node::subnodes`].
pub struct Subnodes<'a> {
    fdt: Fdt<'a>,
    /// The next token; `None` once the walk ended.
    offset: Option<usize>,
}

impl<'a> Iterator for Subnodes<'a> {
    type Item = Result<Node<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut offset = self.offset.take()?;
        loop {
            let (token, next) = match self.fdt.token(offset) {
                Ok(token) => token,
                Err(e) => return Some(Err(e)),
            };
            match token {
                Token::BeginNode(name) => {
                    let node = Node {
                        fdt: self.fdt,
                        name,
                        body: next,
                    };
                    // The next call goes on after this child's subtree.
                    return Some(skip_node(self.fdt, next).map(|after| {
                        self.offset = Some(after);
                        node
                    }));
                }
                Token::EndNode => return None,
                Token::Prop { .. } => offset = next,
                Token::End => return Some(Err(EINVAL)),
            }
        }
    }
}

/// The offset after the `END_NODE` of the node whose body starts at
/// `offset`.
fn skip_node(fdt: Fdt<'_>, mut offset: usize) -> Result<usize> {
    let mut depth = 0usize;
    loop {
        let (token, next) = fdt.token(offset)?;
        match token {
            Token::BeginNode(_) => depth += 1,
            Token::EndNode if depth == 0 => return Ok(next),
            Token::EndNode => depth -= 1,
            Token::Prop { .. } => {}
            Token::End => return Err(EINVAL),
        }
        offset = next;
    }
}

#[cfg(CONFIG_RUST_FDT_KUNIT_TEST)]
#[kunit_tests(rust_kernel_fdt)]
mod tests {
    use super::*;
    use crate::str::CStr;

    fn sample() -> Result<KVec<u8>> {
        let mut w = FdtWriter::new();
        w.begin_node(b"")?;
        w.property_string(b"compatible", b"luo-v1")?;
        w.begin_node(b"subsystems")?;
        w.property_string(b"compatible", b"subsystems-v1")?;
        w.property_u64(b"alpha", 0x0123_4567_89ab_cdef)?;
        w.property_u64(b"beta", 7)?;
        w.property_u32(b"small", 0xdead_beef)?;
        w.property(b"empty", &[])?;
        w.begin_node(b"deeper")?;
        w.property(b"odd", &[1, 2, 3])?;
        w.end_node()?;
        w.end_node()?;
        w.begin_node(b"second")?;
        w.end_node()?;
        w.end_node()?;
        w.finish()?;
        let mut blob = KVec::from_elem(0xffu8, w.total_size() + 8, GFP_KERNEL)?;
        assert_eq!(w.write_to(&mut blob)?, w.total_size());
        // The tail of the buffer is zeroed too.
        assert!(blob[w.total_size()..].iter().all(|&b| b == 0));
        blob.truncate(w.total_size());
        Ok(blob)
    }

    /// Visits every node and property, as a consumer would.
    fn walk(node: Node<'_>) -> Result<usize> {
        let mut count = 1;
        for property in node.properties() {
            property?;
            count += 1;
        }
        for child in node.subnodes() {
            count += walk(child?)?;
        }
        let _ = node.property_u64(b"alpha");
        let _ = node.property_string(b"compatible");
        Ok(count)
    }

    #[test]
    fn round_trip() -> Result {
        let blob = sample()?;
        let fdt = Fdt::new(&blob)?;
        let root = fdt.root()?;
        assert_eq!(root.property_string(b"compatible")?, Some(&b"luo-v1"[..]));
        let subs = root.subnode(b"subsystems")?.ok_or(EINVAL)?;
        assert_eq!(
            subs.property_string(b"compatible")?,
            Some(&b"subsystems-v1"[..])
        );
        assert_eq!(subs.property_u64(b"alpha")?, Some(0x0123_4567_89ab_cdef));
        assert_eq!(subs.property_u64(b"beta")?, Some(7));
        assert_eq!(subs.property_u32(b"small")?, Some(0xdead_beef));
        assert_eq!(subs.property(b"empty")?, Some(&[][..]));
        assert_eq!(subs.property(b"missing")?, None);
        assert_eq!(subs.property_u64(b"small"), Err(EINVAL));
        let deeper = subs.subnode(b"deeper")?.ok_or(EINVAL)?;
        assert_eq!(deeper.property(b"odd")?, Some(&[1u8, 2, 3][..]));
        assert!(root.subnode(b"second")?.is_some());
        assert!(root.subnode(b"deeper")?.is_none());
        assert_eq!(walk(root)?, 11);
        Ok(())
    }

    /// What the kernel's libfdt reads at `path`/`prop` of `blob`.
    #[cfg(CONFIG_LIBFDT)]
    fn libfdt_property<'b>(blob: &'b [u8], path: &CStr, prop: &CStr) -> Result<&'b [u8]> {
        use crate::bindings;
        let fdt = blob.as_ptr().cast();
        // SAFETY: `blob` is a complete tree made by the writer, readable for its `totalsize`.
        if unsafe { bindings::fdt_check_header(fdt) } != 0 {
            return Err(EINVAL);
        }
        // SAFETY: As above; `path` is a valid string.
        let node = unsafe { bindings::fdt_path_offset(fdt, path.as_char_ptr()) };
        if node < 0 {
            return Err(ENOENT);
        }
        let mut len = 0;
        // SAFETY: As above; `node` is an offset libfdt returned; `len` is valid for writes.
        let value = unsafe { bindings::fdt_getprop(fdt, node, prop.as_char_ptr(), &mut len) };
        if value.is_null() || len < 0 {
            return Err(ENOENT);
        }
        let start = (value as usize)
            .checked_sub(blob.as_ptr() as usize)
            .ok_or(EINVAL)?;
        blob.get(start..start + len as usize).ok_or(EINVAL)
    }

    /// The kernel's libfdt reads what the writer wrote.
    #[cfg(CONFIG_LIBFDT)]
    #[test]
    fn libfdt_accepts_our_output() -> Result {
        let blob = sample()?;
        assert_eq!(libfdt_property(&blob, c"/", c"compatible")?, b"luo-v1\0");
        assert_eq!(
            libfdt_property(&blob, c"/subsystems", c"alpha")?,
            &0x0123_4567_89ab_cdefu64.to_be_bytes()
        );
        assert_eq!(
            libfdt_property(&blob, c"/subsystems/deeper", c"odd")?,
            &[1u8, 2, 3]
        );
        assert_eq!(libfdt_property(&blob, c"/second", c"x"), Err(ENOENT));
        Ok(())
    }

    #[test]
    fn header_and_string_dedup() -> Result {
        let blob = sample()?;
        assert_eq!(be32(&blob, 0)?, MAGIC);
        assert_eq!(be32(&blob, 4)? as usize, blob.len());
        assert_eq!(be32(&blob, 20)?, 17);
        assert_eq!(be32(&blob, 24)?, 16);
        assert_eq!(be32(&blob, 8)? % 4, 0);
        assert_eq!(be32(&blob, 16)? % 8, 0);
        // "compatible" is used twice but stored once.
        let strings = be32(&blob, 32)? as usize;
        let expected = b"compatible\0alpha\0beta\0small\0empty\0odd\0".len();
        assert_eq!(strings, expected);
        Ok(())
    }

    #[test]
    fn in_place_update() -> Result {
        let mut w = FdtWriter::new();
        w.begin_node(b"")?;
        let at = w.property_u64(b"data", 1)?;
        w.end_node()?;
        w.finish()?;
        let mut blob = KVec::from_elem(0u8, w.total_size(), GFP_KERNEL)?;
        w.write_to(&mut blob)?;
        blob[at..at + 8].copy_from_slice(&99u64.to_be_bytes());
        assert_eq!(Fdt::new(&blob)?.root()?.property_u64(b"data")?, Some(99));
        Ok(())
    }

    #[test]
    fn writer_misuse() -> Result {
        let mut w = FdtWriter::new();
        assert_eq!(w.property_u32(b"x", 1), Err(EINVAL));
        assert_eq!(w.begin_node(b"notroot"), Err(EINVAL));
        w.begin_node(b"")?;
        assert_eq!(w.begin_node(b""), Err(EINVAL));
        assert_eq!(w.begin_node(b"a\0b"), Err(EINVAL));
        assert_eq!(w.property(b"", &[]), Err(EINVAL));
        assert_eq!(w.finish(), Err(EINVAL));
        let mut out = [0u8; 64];
        assert_eq!(w.write_to(&mut out), Err(EINVAL));
        w.end_node()?;
        assert_eq!(w.begin_node(b""), Err(EINVAL));
        w.finish()?;
        let mut small = [0u8; 8];
        assert_eq!(w.write_to(&mut small), Err(ENOSPC));
        Ok(())
    }

    #[test]
    fn truncated_blobs_are_rejected() -> Result {
        let blob = sample()?;
        for len in 0..blob.len() {
            assert!(Fdt::new(&blob[..len]).is_err());
        }
        Ok(())
    }

    #[test]
    fn malformed_headers_are_rejected() -> Result {
        let blob = sample()?;
        let set = |field: usize, value: u32| -> Result<KVec<u8>> {
            let mut b = KVec::with_capacity(blob.len(), GFP_KERNEL)?;
            b.extend_from_slice(&blob, GFP_KERNEL)?;
            b[field * 4..field * 4 + 4].copy_from_slice(&value.to_be_bytes());
            Ok(b)
        };
        let len = blob.len() as u32;
        for (field, value) in [
            (0, 0xfeed_d00d),  // magic
            (1, len + 4),      // totalsize past the buffer
            (1, 8),            // totalsize below the header
            (2, len),          // structure outside
            (2, 57),           // unaligned structure
            (3, len - 2),      // strings outside
            (4, 12),           // reservation map inside the header
            (5, 15),           // version too old
            (6, 18),           // incompatible
            (8, u32::MAX),     // strings size overflows
            (9, u32::MAX - 3), // structure size overflows
            (9, 4),            // structure cut short
        ] {
            assert!(Fdt::new(&set(field, value)?).is_err());
        }
        Ok(())
    }

    /// A small deterministic generator (xorshift64).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn mutated_blobs_never_crash() -> Result {
        let blob = sample()?;
        let mut rng = Rng(0x0005_eed1_u64);
        let mut buf = KVec::from_elem(0u8, blob.len(), GFP_KERNEL)?;
        let (mut accepted, mut rejected) = (0, 0);
        for _ in 0..3000 {
            buf.copy_from_slice(&blob);
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() % blob.len() as u64) as usize;
                match rng.next() % 3 {
                    0 => buf[at] ^= 1 << (rng.next() % 8),
                    1 => buf[at] = rng.next() as u8,
                    _ => buf[at] = 0xff,
                }
            }
            let cut = if rng.next() % 4 == 0 {
                (rng.next() % blob.len() as u64) as usize
            } else {
                buf.len()
            };
            match Fdt::new(&buf[..cut]).and_then(|fdt| walk(fdt.root()?)) {
                Ok(_) => accepted += 1,
                Err(_) => rejected += 1,
            }
        }
        assert_eq!(accepted + rejected, 3000);
        assert!(rejected > 0);
        Ok(())
    }
}
