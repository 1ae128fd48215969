// SPDX-License-Identifier: GPL-2.0

//! A file handed over by the previous kernel: reading its chunks and
//! taking its memory back from KHO, resumably.

use crate::{
    layout::{FileInfo, Kind, Run, PAGE_SIZE},
    parser::ChunkParser,
};
use core::ops::Range;
use kernel::{
    alloc::{KVVec, KVec},
    kho::Restored,
    kho::{self, IncomingBuffer},
    memfd::NewMemfd,
    mm::folio::{cond_resched, Folio, FolioRange},
    prelude::*,
};

/// Reads the chunk list of one file: the file and its runs, all checked.
/// Each chunk's memory is freed once read. Running out of memory stops it
/// with the chunk in hand kept, so it can go on later.
pub(crate) struct ChunkReader {
    pub(crate) parser: ChunkParser,
    pub(crate) visited: KVec<u64>,
    /// The next chunk's physical address, 0 once the last one is read.
    pub(crate) next: u64,
    /// The chunk taken from KHO that could not be read for lack of memory.
    pub(crate) held: Option<IncomingBuffer>,
}

impl ChunkReader {
    pub(crate) fn new(data: u64, kind: Kind) -> Self {
        Self {
            parser: ChunkParser::new(kind),
            visited: KVec::new(),
            next: data,
            held: None,
        }
    }

    /// Reads the chunks not read yet.
    pub(crate) fn read(&mut self) -> core::result::Result<(), Stop> {
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
pub(crate) enum Stop {
    Rejected(&'static str),
    Again(Error),
}

/// A file handed over by the previous kernel, from its first FD_RESTORE
/// or FINISH on.
///
/// A restore that runs out of memory keeps what it did: the chunks read,
/// the memfd being built, and the memory taken from KHO that did not get
/// into it yet, so that the next FD_RESTORE goes on where it stopped and
/// nothing is lost. Bad data stops it for good.
pub(crate) struct Incoming {
    pub(crate) data: u64,
    pub(crate) reader: ChunkReader,
    /// The file and its runs, once every chunk is read.
    pub(crate) parsed: Option<(FileInfo, KVVec<Run>)>,
    /// Why the hand-over is refused, if it is.
    pub(crate) rejected: Option<&'static str>,
    /// Folios and ranges of pages taken from KHO so far, in run order.
    pub(crate) taken: u64,
    /// What a restore that stopped had built, and what it held in hand.
    pub(crate) partial: Option<NewMemfd>,
    pub(crate) pending: Option<Taken>,
}

impl Incoming {
    pub(crate) fn new(data: u64, kind: Kind) -> Self {
        Self {
            data,
            reader: ChunkReader::new(data, kind),
            parsed: None,
            rejected: None,
            taken: 0,
            partial: None,
            pending: None,
        }
    }

    /// Refuses the hand-over for `why`: `EIO` from now on.
    pub(crate) fn reject(&mut self, why: &'static str) -> Error {
        if self.rejected.is_none() {
            pr_warn!(
                "{} data {:#x} rejected: {why}\n",
                self.reader.parser.kind.compatible(),
                self.data
            );
            self.rejected = Some(why);
        }
        EIO
    }

    pub(crate) fn stop(&mut self, stop: Stop) -> Error {
        match stop {
            Stop::Rejected(why) => self.reject(why),
            Stop::Again(e) => e,
        }
    }

    /// Reads the chunks not read yet; the file once they all are.
    pub(crate) fn info(&mut self) -> Result<FileInfo> {
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
    pub(crate) fn take_folios(
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
                // A huge page's memory map is long: 262,144 pages for 1 GiB.
                cond_resched();
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
    pub(crate) fn release(&mut self) {
        drop(self.partial.take());
        drop(self.pending.take());
        if self.info() == Err(ENOMEM) {
            pr_warn!(
                "{} data {:#x}: out of memory, its memory stays reserved\n",
                self.reader.parser.kind.compatible(),
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
                    cond_resched();
                }
            }
        }
        self.taken = seen;
    }
}

/// Memory taken back from KHO, and the file page index it belongs at.
pub(crate) enum Taken {
    Folio(Restored<Folio>, u64),
    Pages(Restored<FolioRange>, u64),
}
