// SPDX-License-Identifier: GPL-2.0

//! What the files preserved in this kernel cost, in debugfs, and the
//! test hook that damages their hand-over.

use crate::outgoing::Outgoing;
use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

/// What the files preserved in this kernel cost, shown in
/// `/sys/kernel/debug/memfd_luo/outgoing` (for benchmarks).
pub(crate) struct Stats {
    pub(crate) files: Atomic<u64>,
    pub(crate) pages: Atomic<u64>,
    pub(crate) runs: Atomic<u64>,
    pub(crate) chunks: Atomic<u64>,
    /// Bytes of headers and runs handed over.
    pub(crate) metadata: Atomic<u64>,
    /// Test hook: hand over every file frozen from now on with a header
    /// that claims one page more than its runs hold, so that the next
    /// kernel refuses it (`/sys/kernel/debug/memfd_luo/damage`, 0 or 1).
    #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
    pub(crate) damage: Atomic<u32>,
}

impl Stats {
    pub(crate) fn new() -> Self {
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
    pub(crate) fn set_damage(&self, r: &mut kernel::uaccess::UserSliceReader) -> Result {
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

    /// Counts `o` in (`add`) or out. Both handlers share these counters;
    /// their callers, every callback of either, run under LUO's
    /// transition mutex, one at a time.
    pub(crate) fn account(&self, o: &Outgoing, add: bool) {
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

    pub(crate) fn show(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
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
