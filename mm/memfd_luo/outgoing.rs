// SPDX-License-Identifier: GPL-2.0

//! A file preserved in this kernel: its held folios, their runs and the
//! chunks that describe them.

use crate::layout::{
    le32, le64, write_chunks, write_header, FileInfo, Run, ALL_SEALS, HEADER_SIZE, INDEX_LIMIT,
    MAX_COUNT, RUN_SIZE,
};
use kernel::{
    alloc::{KVVec, KVec},
    kho::{self, PreservedBuffer},
    memfd::{Backing, HeldFolios, HeldRun, Memfd},
    prelude::*,
};

/// A file preserved in this kernel.
pub(crate) struct Outgoing {
    /// The `u64` handed over: the first chunk's physical address.
    pub(crate) data: u64,
    /// The inode, to refuse preserving it twice.
    pub(crate) inode: usize,
    /// [`Memfd::allocs`] before the walk; a higher count at FREEZE means
    /// a hole was filled since.
    pub(crate) allocs: u64,
    pub(crate) info: FileInfo,
    /// The runs of the layout, one for each run of `held`.
    pub(crate) runs: KVVec<Run>,
    pub(crate) held: HeldFolios,
    pub(crate) chunks: KVec<PreservedBuffer>,
    /// Whether the folios are preserved with KHO right now.
    pub(crate) preserved: bool,
}

impl Outgoing {
    /// Holds and preserves the pages of `memfd`, whose mapping is frozen,
    /// and writes the chunks describing them.
    pub(crate) fn serialize(memfd: &Memfd<'_>) -> Result<Self> {
        // Before the walk: a hole filled after this reading is seen at FREEZE.
        let allocs = memfd.allocs();
        memfd.swap_in()?;
        let held = memfd.hold_present(MAX_COUNT)?;
        let mut runs = KVVec::with_capacity(held.runs().len(), GFP_KERNEL)?;
        for run in held.runs() {
            runs.push(Run::new(run)?, GFP_KERNEL)?;
        }
        let info = FileInfo {
            size: memfd.size(),
            pos: memfd.pos().max(0) as u64,
            seals: memfd.seals() & ALL_SEALS,
            order: match memfd.backing() {
                Backing::Shmem => 0,
                Backing::Hugetlb { order } => order,
            },
            pages: runs.iter().map(Run::pages).sum(),
        };
        let chunks = write_chunks(&runs, &info)?;
        let mut o = Self {
            data: chunks[0].phys(),
            inode: memfd.inode_key(),
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
    pub(crate) fn preserve(&mut self) -> Result {
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
    pub(crate) fn metadata_bytes(&self) -> u64 {
        (self.chunks.len() * HEADER_SIZE + self.runs.len() * RUN_SIZE) as u64
    }

    pub(crate) fn unpreserve(&mut self) {
        if !self.preserved {
            return;
        }
        for (run, held) in self.runs.iter().zip(self.held.runs()) {
            run.unpreserve(held);
        }
        self.preserved = false;
    }

    /// Records the file position in the first chunk.
    pub(crate) fn set_pos(&mut self, pos: u64) {
        self.info.pos = pos;
        let runs = le32(self.chunks[0].as_slice(), 4) as usize;
        let next = le64(self.chunks[0].as_slice(), 8);
        write_header(self.chunks[0].as_mut_slice(), runs, next, &self.info);
    }
}

impl Run {
    /// The run of the layout for held folios; a run of more than one page
    /// is preserved as a range.
    pub(crate) fn new(held: &HeldRun) -> Result<Self> {
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
    pub(crate) fn preserve(&self, held: &HeldRun) -> Result {
        if self.as_pages {
            kho::preserve_pages(held.folios())
        } else {
            kho::preserve_folios(held.folios())
        }
    }

    /// Undoes [`Self::preserve`].
    pub(crate) fn unpreserve(&self, held: &HeldRun) {
        if self.as_pages {
            kho::unpreserve_pages(held.folios())
        } else {
            kho::unpreserve_folios(held.folios())
        }
    }
}
