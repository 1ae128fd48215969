// SPDX-License-Identifier: GPL-2.0

//! The hand-over layout of `memfd-v1` and `hugetlb-memfd-v1`, version 1,
//! and writing it.
//!
//! Both compatibles use one layout; they differ in the page order of the
//! header and in what runs may hold. The `u64` handed over for a file is
//! the physical address of its first *chunk*, a KHO-preserved folio.
//! Chunks form a list; all integers are little-endian.
//!
//! ```text
//! chunk header, 48 bytes:
//!   0  u32  magic "MFD1"
//!   4  u32  number of runs in this chunk
//!   8  u64  physical address of the next chunk, 0 in the last one
//!  16  u64  file size in bytes          (first chunk; 0 in the others)
//!  24  u64  file position               (first chunk)
//!  32  u32  seals, F_SEAL_*             (first chunk)
//!  36  u32  page order                  (first chunk; 0 in the others)
//!  40  u64  pages in all runs together  (first chunk)
//! then the runs, 16 bytes each:
//!   0  u64  pfn << 12 | pages << 6 | order   (bits 7-11 zero)
//!   8  u64  index << 24 | count              (count 1 .. 2^24 - 1)
//! ```
//!
//! A run is `count` folios of `1 << order` pages, physically contiguous,
//! starting at page frame `pfn`, that hold the file's pages from `index`
//! on. Runs are sorted by index and do not overlap. A dense file of
//! physically contiguous folios is one run per 2^24 folios: well under a
//! byte per page. With `pages` set (order 0 only), the run was preserved
//! with `kho_preserve_pages()` as one range, which KHO keeps as a few large
//! aligned chunks, so the next kernel reserves it quickly; otherwise each
//! folio was preserved whole, huge pages included. The next kernel
//! validates every field before it touches memory, and each folio KHO gives
//! back must have the recorded order.
//!
//! `memfd-v1` is a shmem memfd: the page order is 0, runs hold folios of
//! any order up to `MAX_PAGE_ORDER`. `hugetlb-memfd-v1` is a hugetlbfs
//! memfd (`MFD_HUGETLB`): the page order is that of its huge pages (9 for
//! 2 MiB, 18 for 1 GiB on x86-64), the size a multiple of a huge page, and
//! every run holds huge pages of that order, each preserved whole.

use kernel::{
    alloc::KVec,
    kho::PreservedBuffer,
    memfd::{Backing, MAX_HUGETLB_ORDER, MAX_SHMEM_FOLIO_ORDER},
    prelude::*,
};

/// Which of the two handlers, and of the two compatibles, a file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `memfd-v1`: shmem memfds.
    Shmem,
    /// `hugetlb-memfd-v1`: hugetlbfs memfds.
    Hugetlb,
}

impl Kind {
    /// The handler's compatible: the name of the hand-over layout.
    pub(crate) fn compatible(self) -> &'static CStr {
        match self {
            Kind::Shmem => c"memfd-v1",
            Kind::Hugetlb => c"hugetlb-memfd-v1",
        }
    }

    /// The kind of a file of `backing`.
    pub(crate) fn of(backing: Backing) -> Self {
        match backing {
            Backing::Shmem => Kind::Shmem,
            Backing::Hugetlb { .. } => Kind::Hugetlb,
        }
    }

    /// The backing of a file of this kind with page order `order`, if
    /// there can be one.
    pub(crate) fn backing(self, order: u32) -> Option<Backing> {
        match self {
            Kind::Shmem if order == 0 => Some(Backing::Shmem),
            Kind::Hugetlb if (1..=MAX_HUGETLB_ORDER).contains(&order) => {
                Some(Backing::Hugetlb { order })
            }
            _ => None,
        }
    }
}

pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"MFD1");
pub(crate) const HEADER_SIZE: usize = 48;
pub(crate) const RUN_SIZE: usize = 16;
/// Runs per chunk: a chunk is at most 64 KiB (an order-4 allocation).
pub(crate) const MAX_CHUNK_RUNS: usize = ((64 << 10) - HEADER_SIZE) / RUN_SIZE;
pub(crate) const PAGE_SIZE: u64 = kernel::page::PAGE_SIZE as u64;
/// Page indices have 40 bits: files up to 4 PiB.
pub(crate) const INDEX_LIMIT: u64 = 1 << 40;
pub(crate) const MAX_COUNT: u64 = (1 << 24) - 1;
/// The seals the layout can carry (`F_SEAL_*`).
pub(crate) const ALL_SEALS: u32 = 0x3f;

/// A run of physically contiguous folios of the same order holding
/// consecutive pages of the file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Run {
    pub(crate) pfn: u64,
    pub(crate) order: u32,
    pub(crate) index: u64,
    pub(crate) count: u64,
    /// Preserved as one range of pages, not folio by folio.
    pub(crate) as_pages: bool,
}

impl Run {
    pub(crate) fn pages(&self) -> u64 {
        self.count << self.order
    }

    pub(crate) fn encode(&self, out: &mut [u8]) {
        let word0 = self.pfn << 12 | u64::from(self.as_pages) << 6 | u64::from(self.order);
        out[0..8].copy_from_slice(&word0.to_le_bytes());
        out[8..16].copy_from_slice(&(self.index << 24 | self.count).to_le_bytes());
    }

    /// Decodes and checks one run; `None` if it cannot be right.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < RUN_SIZE {
            return None;
        }
        let (word0, word1) = (le64(bytes, 0), le64(bytes, 8));
        let run = Self {
            pfn: word0 >> 12,
            order: (word0 & 0x3f) as u32,
            index: word1 >> 24,
            count: word1 & MAX_COUNT,
            as_pages: word0 & 0x40 != 0,
        };
        let aligned = |x: u64| x & ((1 << run.order) - 1) == 0;
        let ok = word0 & 0xf80 == 0
            && (!run.as_pages || run.order == 0)
            && run.order <= MAX_SHMEM_FOLIO_ORDER.max(MAX_HUGETLB_ORDER)
            && run.count != 0
            && aligned(run.pfn)
            && aligned(run.index)
            && run.pfn.checked_add(run.pages())? <= u64::MAX / PAGE_SIZE;
        ok.then_some(run)
    }
}

/// What the first chunk says about the file.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct FileInfo {
    pub(crate) size: u64,
    pub(crate) pos: u64,
    pub(crate) seals: u32,
    /// The page order: 0, or that of a hugetlb memfd's huge pages.
    pub(crate) order: u32,
    pub(crate) pages: u64,
}

pub(crate) fn write_header(out: &mut [u8], runs: usize, next: u64, info: &FileInfo) {
    out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    out[4..8].copy_from_slice(&(runs as u32).to_le_bytes());
    out[8..16].copy_from_slice(&next.to_le_bytes());
    out[16..24].copy_from_slice(&info.size.to_le_bytes());
    out[24..32].copy_from_slice(&info.pos.to_le_bytes());
    out[32..36].copy_from_slice(&info.seals.to_le_bytes());
    out[36..40].copy_from_slice(&info.order.to_le_bytes());
    out[40..48].copy_from_slice(&info.pages.to_le_bytes());
}

/// The little-endian `u32` at `at` of `b`, which the caller checked holds it.
pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

/// The little-endian `u64` at `at` of `b`, which the caller checked holds it.
pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// Writes `runs` and `info` into a list of preserved chunks.
pub(crate) fn write_chunks(runs: &[Run], info: &FileInfo) -> Result<KVec<PreservedBuffer>> {
    let nr_chunks = runs.len().div_ceil(MAX_CHUNK_RUNS).max(1);
    let mut chunks: KVec<PreservedBuffer> = KVec::with_capacity(nr_chunks, GFP_KERNEL)?;
    for i in 0..nr_chunks {
        let n = runs
            .len()
            .saturating_sub(i * MAX_CHUNK_RUNS)
            .min(MAX_CHUNK_RUNS);
        chunks.push(
            PreservedBuffer::new(HEADER_SIZE + n * RUN_SIZE)?,
            GFP_KERNEL,
        )?;
    }
    let mut rest = runs;
    for i in 0..nr_chunks {
        let next = chunks.get(i + 1).map_or(0, |c| c.phys());
        let n = rest.len().min(MAX_CHUNK_RUNS);
        let empty = FileInfo::default();
        let out = chunks[i].as_mut_slice();
        write_header(out, n, next, if i == 0 { info } else { &empty });
        for (j, run) in rest[..n].iter().enumerate() {
            let at = HEADER_SIZE + j * RUN_SIZE;
            run.encode(&mut out[at..at + RUN_SIZE]);
        }
        rest = &rest[n..];
    }
    Ok(chunks)
}
