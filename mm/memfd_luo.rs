// SPDX-License-Identifier: GPL-2.0

//! memfd live update: the `memfd-v1` file handler.
//!
//! A memfd (or any unlinked shmem file) given to `/dev/liveupdate` keeps
//! its bytes, size, position and seals across a live update. At PREPARE
//! the mapping is frozen (no resize, no write past the end, no fallocate:
//! `EPERM`), the folios present in the file are held, one reference each
//! (those in memory the next kernel reuses are moved out first), and
//! preserved with KHO: huge folios whole, runs of single pages as ranges.
//! Holes stay holes: a sparse file costs what it holds. In the next kernel
//! FD_RESTORE builds a new memfd around the same memory, charged to the
//! restoring task; FINISH frees what was never restored.
//!
//! # Holding, not pinning
//!
//! A folio is held by one plain reference, checked under the folio lock to
//! be still in the file, not by a `FOLL_PIN`; folios in CMA or
//! `ZONE_MOVABLE` are migrated first. Why that holds the pages where the
//! hand-over says they are is written once, in
//! Documentation/mm/memfd_preservation.rst ("Holding, not pinning"). The
//! walk groups the folios into runs as it goes; nothing is kept per page.
//!
//! # Hand-over layout, version 1
//!
//! The `u64` handed over for a file is the physical address of its first
//! *chunk*, a KHO-preserved folio. Chunks form a list; all integers are
//! little-endian.
//!
//! ```text
//! chunk header, 48 bytes:
//!   0  u32  magic "MFD1"
//!   4  u32  number of runs in this chunk
//!   8  u64  physical address of the next chunk, 0 in the last one
//!  16  u64  file size in bytes          (first chunk; 0 in the others)
//!  24  u64  file position               (first chunk)
//!  32  u32  seals, F_SEAL_*             (first chunk)
//!  36  u32  flags, 0
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

use core::ops::Range;
use kernel::{
    alloc::{KVVec, KVec},
    debugfs,
    fs::File,
    kho::{self, IncomingBuffer, PreservedBuffer},
    liveupdate::{self, FileHandler, FileHandlerRegistration},
    memfd::{HeldFolios, HeldRun, NewMemfd, Shmem, MAX_SHMEM_FOLIO_ORDER},
    mm::folio::{Folio, FolioRange},
    new_mutex,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
};

module! {
    type: MemfdLuo,
    name: "memfd_luo",
    description: "memfd live update: the memfd-v1 file handler",
    license: "GPL",
}

/// The handler's compatible: the name of the hand-over layout above.
const COMPATIBLE: &CStr = c"memfd-v1";
const MAGIC: u32 = u32::from_le_bytes(*b"MFD1");
const HEADER_SIZE: usize = 48;
const RUN_SIZE: usize = 16;
/// Runs per chunk: a chunk is at most 64 KiB (an order-4 allocation).
const MAX_CHUNK_RUNS: usize = ((64 << 10) - HEADER_SIZE) / RUN_SIZE;
const PAGE_SIZE: u64 = kernel::page::PAGE_SIZE as u64;
/// Page indices have 40 bits: files up to 4 PiB.
const INDEX_LIMIT: u64 = 1 << 40;
const MAX_COUNT: u64 = (1 << 24) - 1;
/// The seals the layout can carry (`F_SEAL_*`).
const ALL_SEALS: u32 = 0x3f;

/// A run of physically contiguous folios of the same order holding
/// consecutive pages of the file.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    pfn: u64,
    order: u32,
    index: u64,
    count: u64,
    /// Preserved as one range of pages, not folio by folio.
    as_pages: bool,
}

impl Run {
    fn pages(&self) -> u64 {
        self.count << self.order
    }

    /// The run of the layout for held folios; a run of more than one page
    /// is preserved as a range.
    fn new(held: &HeldRun) -> Result<Self> {
        let folios = held.folios();
        if held.index() + folios.pages() > INDEX_LIMIT || folios.count() > MAX_COUNT {
            return Err(EFBIG);
        }
        Ok(Self {
            pfn: folios.pfn(),
            order: folios.order(),
            index: held.index(),
            count: folios.count(),
            as_pages: folios.order() == 0 && folios.count() > 1,
        })
    }

    /// Preserves the folios of `held`, which this run describes, with KHO:
    /// all or nothing.
    fn preserve(&self, held: &HeldRun) -> Result {
        match self.as_pages {
            true => kho::preserve_pages(held.folios()),
            false => kho::preserve_folios(held.folios()),
        }
    }

    /// Undoes [`Self::preserve`].
    fn unpreserve(&self, held: &HeldRun) {
        match self.as_pages {
            true => kho::unpreserve_pages(held.folios()),
            false => kho::unpreserve_folios(held.folios()),
        }
    }

    fn encode(&self, out: &mut [u8]) {
        let word0 = self.pfn << 12 | u64::from(self.as_pages) << 6 | u64::from(self.order);
        out[0..8].copy_from_slice(&word0.to_le_bytes());
        out[8..16].copy_from_slice(&(self.index << 24 | self.count).to_le_bytes());
    }

    /// Decodes and checks one run; `None` if it cannot be right.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let word0 = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
        let word1 = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
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
            && run.order <= MAX_SHMEM_FOLIO_ORDER
            && run.count != 0
            && aligned(run.pfn)
            && aligned(run.index)
            && run.pfn.checked_add(run.pages())? <= u64::MAX / PAGE_SIZE;
        ok.then_some(run)
    }
}

/// What the first chunk says about the file.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct FileInfo {
    size: u64,
    pos: u64,
    seals: u32,
    pages: u64,
}

fn write_header(out: &mut [u8], runs: usize, next: u64, info: &FileInfo) {
    out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    out[4..8].copy_from_slice(&(runs as u32).to_le_bytes());
    out[8..16].copy_from_slice(&next.to_le_bytes());
    out[16..24].copy_from_slice(&info.size.to_le_bytes());
    out[24..32].copy_from_slice(&info.pos.to_le_bytes());
    out[32..36].copy_from_slice(&info.seals.to_le_bytes());
    out[36..40].copy_from_slice(&0u32.to_le_bytes());
    out[40..48].copy_from_slice(&info.pages.to_le_bytes());
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// Writes `runs` and `info` into a list of preserved chunks.
fn write_chunks(runs: &[Run], info: &FileInfo) -> Result<KVec<PreservedBuffer>> {
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

/// Reads the chunk list of one file: the file and its runs, all checked.
/// Each chunk's memory is freed once read. Running out of memory stops it
/// with the chunk in hand kept, so it can go on later.
struct ChunkReader {
    parser: ChunkParser,
    visited: KVec<u64>,
    /// The next chunk's physical address, 0 once the last one is read.
    next: u64,
    /// The chunk taken from KHO that could not be read for lack of memory.
    held: Option<IncomingBuffer>,
}

impl ChunkReader {
    fn new(data: u64) -> Self {
        Self {
            parser: ChunkParser::default(),
            visited: KVec::new(),
            next: data,
            held: None,
        }
    }

    /// Reads the chunks not read yet.
    fn read(&mut self) -> core::result::Result<(), Stop> {
        while self.next != 0 {
            let chunk = match self.held.take() {
                Some(chunk) => chunk,
                None => {
                    if self.visited.contains(&self.next) {
                        return Err(Stop::Rejected("chunk list loops"));
                    }
                    self.visited
                        .push(self.next, GFP_KERNEL)
                        .map_err(|_| Stop::Again(ENOMEM))?;
                    IncomingBuffer::restore_folio(self.next)
                        .map_err(|_| Stop::Rejected("chunk is not preserved"))?
                }
            };
            if self.parser.reserve_for(chunk.as_slice()).is_err() {
                self.held = Some(chunk);
                return Err(Stop::Again(ENOMEM));
            }
            self.next = self
                .parser
                .chunk(chunk.as_slice())
                .map_err(Stop::Rejected)?;
        }
        Ok(())
    }
}

/// Why a restore stopped: bad data, after which nothing more can come of
/// the file, or an error that leaves everything in place to try again.
enum Stop {
    Rejected(&'static str),
    Again(Error),
}

/// Checks the chunks of one file, one after the other, as they come: the
/// part of reading a hand-over that needs no memory from KHO, so that KUnit
/// can feed it anything.
#[derive(Default)]
struct ChunkParser {
    chunks: usize,
    info: FileInfo,
    runs: KVVec<Run>,
    pages: u64,
    file_pages: u64,
    end_of_last: u64,
}

impl ChunkParser {
    /// Checks one chunk and keeps its runs; returns the next chunk's
    /// physical address, 0 for the last.
    fn chunk(&mut self, b: &[u8]) -> core::result::Result<u64, &'static str> {
        if b.len() < HEADER_SIZE || le32(b, 0) != MAGIC {
            return Err("bad chunk magic");
        }
        let n = le32(b, 4) as usize;
        if n > MAX_CHUNK_RUNS || b.len() < HEADER_SIZE + n * RUN_SIZE {
            return Err("chunk too short for its runs");
        }
        self.chunks += 1;
        if self.chunks == 1 {
            self.info = FileInfo {
                size: le64(b, 16),
                pos: le64(b, 24),
                seals: le32(b, 32),
                pages: le64(b, 40),
            };
            if le32(b, 36) != 0 {
                return Err("unknown flags");
            }
            if self.info.size > i64::MAX as u64 || self.info.pos > i64::MAX as u64 {
                return Err("bad size or position");
            }
            if self.info.seals & !ALL_SEALS != 0 {
                return Err("unknown seals");
            }
            self.file_pages = self.info.size.div_ceil(PAGE_SIZE);
        } else if n == 0 {
            return Err("empty chunk");
        }
        for j in 0..n {
            let at = HEADER_SIZE + j * RUN_SIZE;
            let run = Run::decode(&b[at..at + RUN_SIZE]).ok_or("bad run")?;
            // Only a huge folio at the end may reach past it, within its size.
            let limit = self.file_pages.next_multiple_of(1 << run.order);
            if run.index < self.end_of_last
                || run.index >= self.file_pages
                || run.index + run.pages() > limit
            {
                return Err("runs overlap or lie beyond the end of the file");
            }
            self.end_of_last = run.index + run.pages();
            self.pages = self.pages.saturating_add(run.pages());
            if self.pages > self.info.pages {
                return Err("more pages than the header says");
            }
            self.runs
                .push(run, GFP_KERNEL)
                .map_err(|_| "out of memory")?;
        }
        Ok(le64(b, 8))
    }

    /// Makes room for the runs of chunk `b`, so that [`Self::chunk`] needs
    /// no memory for it.
    fn reserve_for(&mut self, b: &[u8]) -> Result {
        if b.len() < HEADER_SIZE {
            return Ok(());
        }
        let n = (le32(b, 4) as usize).min(MAX_CHUNK_RUNS);
        Ok(self.runs.reserve(n, GFP_KERNEL)?)
    }

    /// The file and its runs, once the last chunk is in. On failure the
    /// runs checked so far stay, for [`Incoming::release`].
    fn finish(&mut self) -> core::result::Result<(FileInfo, KVVec<Run>), &'static str> {
        if self.chunks == 0 {
            return Err("no chunk");
        }
        if self.pages != self.info.pages {
            return Err("fewer pages than the header says");
        }
        Ok((self.info, core::mem::take(&mut self.runs)))
    }
}

/// What the files preserved in this kernel cost, shown in
/// `/sys/kernel/debug/memfd_luo/outgoing` (for benchmarks).
struct Stats {
    files: Atomic<u64>,
    pages: Atomic<u64>,
    runs: Atomic<u64>,
    chunks: Atomic<u64>,
    /// Bytes of headers and runs handed over.
    metadata: Atomic<u64>,
    /// Test hook: hand over every file frozen from now on with a header
    /// that claims one page more than its runs hold, so that the next
    /// kernel refuses it (`/sys/kernel/debug/memfd_luo/damage`, 0 or 1).
    #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
    damage: Atomic<u32>,
}

impl Stats {
    fn new() -> Self {
        Self {
            files: Atomic::new(0),
            pages: Atomic::new(0),
            runs: Atomic::new(0),
            chunks: Atomic::new(0),
            metadata: Atomic::new(0),
            #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
            damage: Atomic::new(0),
        }
    }

    /// Writes to the test hook's `damage` file.
    #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
    fn set_damage(&self, r: &mut kernel::uaccess::UserSliceReader) -> Result {
        let mut b = [0u8; 1];
        r.read_slice(&mut b)?;
        let on = match b[0] {
            b'0' => 0,
            b'1' => 1,
            _ => return Err(EINVAL),
        };
        self.damage.store(on, Relaxed);
        Ok(())
    }

    /// Counts `o` in (`add`) or out.
    fn account(&self, o: &Outgoing, add: bool) {
        let counts = [
            (&self.files, 1),
            (&self.pages, o.info.pages),
            (&self.runs, o.runs.len() as u64),
            (&self.chunks, o.chunks.len() as u64),
            (&self.metadata, o.metadata_bytes()),
        ];
        for (counter, n) in counts {
            let old = counter.load(Relaxed);
            counter.store(
                if add {
                    old.saturating_add(n)
                } else {
                    old.saturating_sub(n)
                },
                Relaxed,
            );
        }
    }

    fn show(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(
            f,
            "files {}\npages {}\nruns {}\nchunks {}\nmetadata_bytes {}",
            self.files.load(Relaxed),
            self.pages.load(Relaxed),
            self.runs.load(Relaxed),
            self.chunks.load(Relaxed),
            self.metadata.load(Relaxed)
        )
    }
}

/// A file preserved in this kernel.
struct Outgoing {
    /// The `u64` handed over: the first chunk's physical address.
    data: u64,
    /// The inode, to refuse preserving it twice.
    inode: usize,
    /// [`Shmem::allocs`] before the walk; a higher count at FREEZE means
    /// a hole was filled since.
    allocs: u64,
    info: FileInfo,
    /// The runs of the layout, one for each run of `held`.
    runs: KVVec<Run>,
    held: HeldFolios,
    chunks: KVec<PreservedBuffer>,
    /// Whether the folios are preserved with KHO right now.
    preserved: bool,
}

impl Outgoing {
    /// Holds and preserves the pages of `shmem`, whose mapping is frozen,
    /// and writes the chunks describing them.
    fn serialize(shmem: &Shmem<'_>) -> Result<Self> {
        // Before the walk: a hole filled after this reading is seen at FREEZE.
        let allocs = shmem.allocs();
        shmem.swap_in()?;
        let held = shmem.hold_present(MAX_COUNT)?;
        let mut runs = KVVec::with_capacity(held.runs().len(), GFP_KERNEL)?;
        for run in held.runs() {
            runs.push(Run::new(run)?, GFP_KERNEL)?;
        }
        let info = FileInfo {
            size: shmem.size(),
            pos: shmem.pos().max(0) as u64,
            seals: shmem.seals() & ALL_SEALS,
            pages: runs.iter().map(Run::pages).sum(),
        };
        let chunks = write_chunks(&runs, &info)?;
        let mut o = Self {
            data: chunks[0].phys(),
            inode: shmem.inode_key(),
            allocs,
            info,
            runs,
            held,
            chunks,
            preserved: false,
        };
        o.preserve()?;
        Ok(o)
    }

    /// Preserves every folio with KHO; all or nothing. KHO warns about
    /// unpreserving what is not preserved, so exactly what was preserved is
    /// undone on failure, and `preserved` says whether there is anything
    /// to undo later.
    fn preserve(&mut self) -> Result {
        if self.preserved {
            return Ok(());
        }
        let held = self.held.runs();
        for (i, run) in self.runs.iter().enumerate() {
            if let Err(e) = run.preserve(&held[i]) {
                for (j, run) in self.runs.iter().enumerate().take(i) {
                    run.unpreserve(&held[j]);
                }
                return Err(e);
            }
        }
        self.preserved = true;
        Ok(())
    }

    /// The bytes of headers and runs it hands over.
    fn metadata_bytes(&self) -> u64 {
        (self.chunks.len() * HEADER_SIZE + self.runs.len() * RUN_SIZE) as u64
    }

    fn unpreserve(&mut self) {
        if !self.preserved {
            return;
        }
        for (run, held) in self.runs.iter().zip(self.held.runs()) {
            run.unpreserve(held);
        }
        self.preserved = false;
    }

    /// Records the file position in the first chunk.
    fn set_pos(&mut self, pos: u64) {
        self.info.pos = pos;
        let runs = le32(self.chunks[0].as_slice(), 4) as usize;
        let next = le64(self.chunks[0].as_slice(), 8);
        write_header(self.chunks[0].as_mut_slice(), runs, next, &self.info);
    }
}

/// A file handed over by the previous kernel, from its first FD_RESTORE
/// or FINISH on.
///
/// A restore that runs out of memory keeps what it did: the chunks read,
/// the memfd being built, and the memory taken from KHO that did not get
/// into it yet, so that the next FD_RESTORE goes on where it stopped and
/// nothing is lost. Bad data stops it for good.
struct Incoming {
    data: u64,
    reader: ChunkReader,
    /// The file and its runs, once every chunk is read.
    parsed: Option<(FileInfo, KVVec<Run>)>,
    /// Why the hand-over is refused, if it is.
    rejected: Option<&'static str>,
    /// Folios and ranges of pages taken from KHO so far, in run order.
    taken: u64,
    /// What a restore that stopped had built, and what it held in hand.
    partial: Option<NewMemfd>,
    pending: Option<Taken>,
}

impl Incoming {
    fn new(data: u64) -> Self {
        Self {
            data,
            reader: ChunkReader::new(data),
            parsed: None,
            rejected: None,
            taken: 0,
            partial: None,
            pending: None,
        }
    }

    /// Refuses the hand-over for `why`: `EIO` from now on.
    fn reject(&mut self, why: &'static str) -> Error {
        if self.rejected.is_none() {
            pr_warn!("memfd-v1 data {:#x} rejected: {why}\n", self.data);
            self.rejected = Some(why);
        }
        EIO
    }

    fn stop(&mut self, stop: Stop) -> Error {
        match stop {
            Stop::Rejected(why) => self.reject(why),
            Stop::Again(e) => e,
        }
    }

    /// Reads the chunks not read yet; the file once they all are.
    fn info(&mut self) -> Result<FileInfo> {
        if self.rejected.is_some() {
            return Err(EIO);
        }
        if let Some((info, _)) = &self.parsed {
            return Ok(*info);
        }
        if let Err(stop) = self.reader.read() {
            return Err(self.stop(stop));
        }
        match self.reader.parser.finish() {
            Ok((info, runs)) => {
                self.parsed = Some((info, runs));
                Ok(info)
            }
            Err(why) => Err(self.reject(why)),
        }
    }

    /// Takes each folio, or range of pages, not taken yet from KHO and
    /// gives it to `f`, first what `f` gave back last time: what `f`
    /// cannot use it gives back with its error, and the walk stops there.
    fn take_folios(
        &mut self,
        mut f: impl FnMut(Taken) -> core::result::Result<(), (Error, Taken)>,
    ) -> Result {
        if let Some(taken) = self.pending.take() {
            if let Err((e, taken)) = f(taken) {
                self.pending = Some(taken);
                return Err(e);
            }
        }
        let Some((_, runs)) = &self.parsed else {
            return Err(EIO);
        };
        let mut seen = 0u64;
        let mut stop = None;
        'runs: for run in runs.iter() {
            if seen + run.count <= self.taken {
                seen += run.count;
                continue;
            }
            if run.as_pages {
                // A range comes back whole, or not at all.
                seen += run.count;
                self.taken = seen;
                let Ok(pages) = kho::restore_pages(run.pfn * PAGE_SIZE, run.count) else {
                    stop = Some(Stop::Rejected("a range of pages is not preserved"));
                    break;
                };
                if let Err((e, taken)) = f(Taken::Pages(pages, run.index)) {
                    self.pending = Some(taken);
                    stop = Some(Stop::Again(e));
                    break;
                }
                continue;
            }
            let range: Range<u64> = 0..run.count;
            for i in range {
                seen += 1;
                if seen <= self.taken {
                    continue;
                }
                self.taken = seen;
                let offset = i << run.order;
                let phys = (run.pfn + offset) * PAGE_SIZE;
                let Ok(folio) = IncomingBuffer::restore_folio(phys) else {
                    stop = Some(Stop::Rejected("a folio is not preserved"));
                    break 'runs;
                };
                if folio.order() != run.order {
                    stop = Some(Stop::Rejected("a folio has another order"));
                    break 'runs;
                }
                let folio = folio.into_folio();
                if let Err((e, taken)) = f(Taken::Folio(folio, run.index + offset)) {
                    self.pending = Some(taken);
                    stop = Some(Stop::Again(e));
                    break 'runs;
                }
            }
        }
        match stop {
            None => Ok(()),
            Some(stop) => Err(self.stop(stop)),
        }
    }

    /// Gives back to the system the memory of a file never restored: what
    /// a restore that stopped took, and what is still preserved. Data
    /// refused as bad is no exception: every folio and range of pages of
    /// the runs checked before the fault that KHO confirms preserved, with
    /// the order the run says, goes back; what KHO does not confirm is
    /// skipped.
    fn release(&mut self) {
        drop(self.partial.take());
        drop(self.pending.take());
        if self.info() == Err(ENOMEM) {
            pr_warn!(
                "memfd-v1 data {:#x}: out of memory, its memory stays reserved\n",
                self.data
            );
            return;
        }
        let runs = match &self.parsed {
            Some((_, runs)) => runs,
            None => &self.reader.parser.runs,
        };
        // Each folio, or range of pages, counts one, as in `take_folios`.
        let mut seen = 0u64;
        for run in runs.iter() {
            if run.as_pages {
                seen += run.count;
                if seen > self.taken {
                    drop(kho::restore_pages(run.pfn * PAGE_SIZE, run.count));
                }
                continue;
            }
            for i in 0..run.count {
                seen += 1;
                if seen <= self.taken {
                    continue;
                }
                let phys = (run.pfn + (i << run.order)) * PAGE_SIZE;
                if kho::preserved_folio_order(phys) == Some(run.order) {
                    drop(IncomingBuffer::restore_folio(phys));
                }
            }
        }
        self.taken = seen;
    }
}

/// Memory taken back from KHO, and the file page index it belongs at.
enum Taken {
    Folio(Folio, u64),
    Pages(FolioRange, u64),
}

/// The `memfd-v1` handler.
#[pin_data]
struct MemfdHandler {
    #[pin]
    outgoing: Mutex<KVVec<Outgoing>>,
    #[pin]
    incoming: Mutex<KVVec<Incoming>>,
    stats: Arc<Stats>,
}

impl MemfdHandler {
    fn new(stats: Arc<Stats>) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            outgoing <- new_mutex!(KVVec::new()),
            incoming <- new_mutex!(KVVec::new()),
            stats,
        })
    }

    fn set_frozen(shmem: &Shmem<'_>, frozen: bool) {
        shmem.lock().set_frozen(frozen);
    }

    /// Builds the memfd of `incoming`, or goes on building it.
    fn restore(incoming: &mut Incoming) -> Result<ARef<File>> {
        let info = incoming.info()?;
        let mut memfd = match incoming.partial.take() {
            Some(memfd) => memfd,
            None => {
                let mut memfd = NewMemfd::new(c"memfd:luo")?;
                memfd.set_size(info.size)?;
                memfd.reserve(info.pages)?;
                memfd
            }
        };
        let filled = incoming
            .take_folios(|taken| match taken {
                Taken::Folio(folio, index) => memfd
                    .add_folio(folio, index)
                    .map_err(|(e, folio)| (e, Taken::Folio(folio, index))),
                Taken::Pages(mut pages, mut index) => memfd
                    .add_pages(&mut pages, &mut index)
                    .map_err(|e| (e, Taken::Pages(pages, index))),
            })
            .and_then(|()| memfd.set_pos(info.pos as i64))
            // Seals last: nothing may fail after them, since a retry would
            // add them again and `F_SEAL_SEAL` refuses that.
            .and_then(|()| memfd.add_seals(info.seals));
        match filled {
            Ok(()) => Ok(memfd.into_file()),
            Err(e) => {
                if incoming.rejected.is_none() {
                    incoming.partial = Some(memfd);
                }
                Err(e)
            }
        }
    }
}

#[vtable]
impl FileHandler for MemfdHandler {
    fn can_preserve(&self, file: &File) -> bool {
        Shmem::new(file).is_some_and(|shmem| !shmem.is_linked())
    }

    fn prepare(&self, file: &File) -> Result<u64> {
        let shmem = Shmem::new(file).ok_or(EINVAL)?;
        let mut outgoing = self.outgoing.lock();
        if outgoing.iter().any(|o| o.inode == shmem.inode_key()) {
            // Another file of the same inode is preserved.
            return Err(EBUSY);
        }
        outgoing.reserve(1, GFP_KERNEL)?;
        Self::set_frozen(&shmem, true);
        match Outgoing::serialize(&shmem) {
            Ok(o) => {
                let data = o.data;
                self.stats.account(&o, true);
                // Cannot fail: room was reserved above.
                outgoing.push(o, GFP_KERNEL)?;
                Ok(data)
            }
            Err(e) => {
                pr_warn!("cannot preserve a memfd: error {}\n", e.to_errno());
                Self::set_frozen(&shmem, false);
                Err(e)
            }
        }
    }

    fn freeze(&self, file: &File, data: u64) -> Result<u64> {
        let shmem = Shmem::new(file).ok_or(EINVAL)?;
        let mut outgoing = self.outgoing.lock();
        let o = outgoing.iter_mut().find(|o| o.data == data).ok_or(EINVAL)?;
        if shmem.allocs() != o.allocs {
            // Holes were written since PREPARE: preserve the file again;
            // the old references and chunks go.
            // KHO must not keep the old ranges beside the new ones.
            o.unpreserve();
            let again = match Outgoing::serialize(&shmem) {
                Ok(again) => again,
                Err(e) => {
                    // The update is cancelled, which unpreserves again.
                    let _ = o.preserve();
                    return Err(e);
                }
            };
            self.stats.account(o, false);
            self.stats.account(&again, true);
            *o = again;
        }
        o.set_pos(shmem.pos().max(0) as u64);
        #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
        if self.stats.damage.load(Relaxed) != 0 {
            // The header's page count sits at offset 40 of the first chunk.
            let pages = o.info.pages + 1;
            o.chunks[0].as_mut_slice()[40..48].copy_from_slice(&pages.to_le_bytes());
        }
        Ok(o.data)
    }

    fn cancel(&self, file: &File, data: u64) {
        let removed = {
            let mut outgoing = self.outgoing.lock();
            let removed = match outgoing.iter().position(|o| o.data == data) {
                Some(i) => outgoing.remove(i).ok(),
                None => None,
            };
            if let Some(o) = &removed {
                self.stats.account(o, false);
            }
            removed
        };
        if let Some(mut o) = removed {
            o.unpreserve();
        }
        if let Some(shmem) = Shmem::new(file) {
            Self::set_frozen(&shmem, false);
        }
    }

    fn retrieve(&self, data: u64) -> Result<ARef<File>> {
        let mut incoming = self.incoming.lock();
        let index = match incoming.iter().position(|i| i.data == data) {
            Some(i) => i,
            None => {
                incoming.push(Incoming::new(data), GFP_KERNEL)?;
                incoming.len() - 1
            }
        };
        let file = Self::restore(&mut incoming[index])?;
        // The memfd owns its memory now.
        incoming.remove(index)?;
        Ok(file)
    }

    fn finish(&self, file: Option<&File>, data: u64) {
        let mut incoming = self.incoming.lock();
        let index = incoming.iter().position(|i| i.data == data);
        if file.is_some() {
            // Restored: the memfd owns its memory now.
            if let Some(index) = index {
                let _ = incoming.remove(index);
            }
            return;
        }
        let mut entry = match index {
            Some(index) => match incoming.remove(index) {
                Ok(entry) => entry,
                Err(_) => return,
            },
            None => Incoming::new(data),
        };
        drop(incoming);
        // Never restored: give the memory back.
        entry.release();
    }
}

struct MemfdLuo {
    _registration: Option<Pin<KBox<FileHandlerRegistration<MemfdHandler>>>>,
    _stats_file: Option<Pin<KBox<debugfs::File<Arc<Stats>>>>>,
    #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
    _damage_file: Option<Pin<KBox<debugfs::File<Arc<Stats>>>>>,
    _debugfs: Option<debugfs::Dir>,
}

impl kernel::Module for MemfdLuo {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if !liveupdate::enabled() {
            return Ok(Self {
                _registration: None,
                _stats_file: None,
                #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
                _damage_file: None,
                _debugfs: None,
            });
        }
        let stats = Arc::new(Stats::new(), GFP_KERNEL)?;
        let dir = debugfs::Dir::new(c"memfd_luo");
        let stats_file = KBox::pin_init(
            dir.read_callback_file(c"outgoing", stats.clone(), &|s: &Arc<Stats>, f| s.show(f)),
            GFP_KERNEL,
        )?;
        #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
        let damage_file = KBox::pin_init(
            dir.write_callback_file(c"damage", stats.clone(), &|s: &Arc<Stats>, r| {
                s.set_damage(r)
            }),
            GFP_KERNEL,
        )?;
        let registration = KBox::pin_init(
            FileHandlerRegistration::register(COMPATIBLE, MemfdHandler::new(stats)),
            GFP_KERNEL,
        )?;
        Ok(Self {
            _registration: Some(registration),
            _stats_file: Some(stats_file),
            #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
            _damage_file: Some(damage_file),
            _debugfs: Some(dir),
        })
    }
}

#[kunit_tests(memfd_luo)]
mod tests {
    use super::*;

    /// One chunk as `write_chunks` lays it out, in ordinary memory.
    fn blob(runs: &[Run], info: &FileInfo, next: u64) -> Result<KVec<u8>> {
        let mut b = KVec::new();
        b.resize(HEADER_SIZE + runs.len() * RUN_SIZE, 0, GFP_KERNEL)?;
        write_header(&mut b, runs.len(), next, info);
        for (j, run) in runs.iter().enumerate() {
            let at = HEADER_SIZE + j * RUN_SIZE;
            run.encode(&mut b[at..at + RUN_SIZE]);
        }
        Ok(b)
    }

    fn parse(b: &[u8]) -> core::result::Result<(FileInfo, KVVec<Run>), &'static str> {
        let mut p = ChunkParser::default();
        p.chunk(b)?;
        p.finish()
    }

    fn sample() -> ([Run; 3], FileInfo) {
        let runs = [
            Run {
                pfn: 0x1000,
                order: 0,
                index: 0,
                count: 300,
                as_pages: true,
            },
            Run {
                pfn: 0x8000,
                order: 0,
                index: 400,
                count: 1,
                as_pages: false,
            },
            Run {
                pfn: 0x20000,
                order: 9,
                index: 512,
                count: 2,
                as_pages: false,
            },
        ];
        let info = FileInfo {
            size: 2048 * 4096,
            pos: 5,
            seals: 3,
            pages: 300 + 1 + 1024,
        };
        (runs, info)
    }

    #[test]
    fn a_written_chunk_reads_back() -> Result {
        let (runs, info) = sample();
        let b = blob(&runs, &info, 0)?;
        let (got, got_runs) = parse(&b).map_err(|_| EINVAL)?;
        assert_eq!(got, info);
        assert_eq!(&got_runs[..], &runs[..]);
        Ok(())
    }

    #[test]
    fn truncated_chunks_are_rejected() -> Result {
        let (runs, info) = sample();
        let b = blob(&runs, &info, 0)?;
        for len in 0..b.len() {
            assert!(parse(&b[..len]).is_err());
        }
        Ok(())
    }

    /// A way to spoil a valid chunk before it is written.
    type Damage = fn(&mut FileInfo, &mut [Run]);

    #[test]
    fn adversarial_chunks_are_rejected() -> Result {
        let (runs, info) = sample();
        let cases: [(&str, Damage); 8] = [
            ("more pages claimed", |i, _| i.pages += 1),
            ("fewer pages claimed", |i, _| i.pages -= 1),
            ("run beyond the end", |i, _| i.size = 4096 * 600),
            ("overlapping runs", |_, r| r[1].index = 299),
            ("misaligned huge run", |_, r| r[2].index = 513),
            ("huge count", |i, r| {
                r[0].count = MAX_COUNT;
                i.pages = MAX_COUNT + 1025;
            }),
            ("unknown seals", |i, _| i.seals = 0x100),
            ("negative size", |i, _| i.size = u64::MAX),
        ];
        for (what, damage) in cases {
            let (mut r, mut i) = (runs, info);
            damage(&mut i, &mut r);
            let b = blob(&r, &i, 0)?;
            if parse(&b).is_ok() {
                pr_err!("accepted: {what}\n");
            }
            assert!(parse(&b).is_err());
        }
        // A run count larger than the chunk.
        let mut b = blob(&runs, &info, 0)?;
        b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&b).is_err());
        Ok(())
    }

    #[test]
    fn thousands_of_mutated_chunks_do_not_crash() -> Result {
        let (runs, info) = sample();
        let good = blob(&runs, &info, 0)?;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rejected = 0;
        for _ in 0..4000 {
            let mut b = KVec::new();
            b.extend_from_slice(&good, GFP_KERNEL)?;
            for _ in 0..1 + (state % 4) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let bit = (state % (b.len() as u64 * 8)) as usize;
                b[bit / 8] ^= 1 << (bit % 8);
            }
            // A parse may accept a harmless flip (a pfn bit); it must not panic.
            if parse(&b).is_err() {
                rejected += 1;
            }
        }
        assert!(rejected > 1000);
        Ok(())
    }

    #[test]
    fn run_encoding_round_trips_and_rejects_nonsense() {
        let run = Run {
            pfn: 0xabcde00,
            order: 9,
            index: 0x200,
            count: 3,
            as_pages: false,
        };
        let mut b = [0u8; RUN_SIZE];
        run.encode(&mut b);
        assert_eq!(Run::decode(&b), Some(run));
        // Misaligned pfn for order 9.
        let bad = Run { pfn: 0x101, ..run };
        bad.encode(&mut b);
        assert_eq!(Run::decode(&b), None);
        // Count zero.
        let bad = Run { count: 0, ..run };
        bad.encode(&mut b);
        assert_eq!(Run::decode(&b), None);
        // Order above MAX_PAGE_ORDER.
        let bad = Run {
            pfn: 0,
            index: 0,
            order: 63,
            ..run
        };
        bad.encode(&mut b);
        assert_eq!(Run::decode(&b), None);
        // A range of pages is order 0 only.
        let bad = Run {
            as_pages: true,
            ..run
        };
        bad.encode(&mut b);
        assert_eq!(Run::decode(&b), None);
        let pages = Run {
            order: 0,
            as_pages: true,
            ..run
        };
        pages.encode(&mut b);
        assert_eq!(Run::decode(&b), Some(pages));
        // Reserved bits.
        run.encode(&mut b);
        b[0] |= 0x80;
        assert_eq!(Run::decode(&b), None);
    }
}
