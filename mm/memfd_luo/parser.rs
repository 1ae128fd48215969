// SPDX-License-Identifier: GPL-2.0

//! Checking the chunks of one file as they come, and its KUnit tests:
//! everything read from the previous kernel goes through here.

use crate::layout::{
    le32, le64, write_header, FileInfo, Kind, Run, ALL_SEALS, HEADER_SIZE, MAGIC, MAX_CHUNK_RUNS,
    MAX_COUNT, PAGE_SIZE, RUN_SIZE,
};
use kernel::{alloc::KVVec, memfd::MAX_SHMEM_FOLIO_ORDER, prelude::*};

/// Checks the chunks of one file, one after the other, as they come: the
/// part of reading a hand-over that needs no memory from KHO, so that KUnit
/// can feed it anything.
pub(crate) struct ChunkParser {
    /// The compatible the file was handed over with.
    pub(crate) kind: Kind,
    pub(crate) chunks: usize,
    pub(crate) info: FileInfo,
    pub(crate) runs: KVVec<Run>,
    pub(crate) pages: u64,
    pub(crate) file_pages: u64,
    pub(crate) end_of_last: u64,
}

impl ChunkParser {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            kind,
            chunks: 0,
            info: FileInfo::default(),
            runs: KVVec::new(),
            pages: 0,
            file_pages: 0,
            end_of_last: 0,
        }
    }

    /// Checks one chunk and keeps its runs; returns the next chunk's
    /// physical address, 0 for the last.
    pub(crate) fn chunk(&mut self, b: &[u8]) -> core::result::Result<u64, &'static str> {
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
                order: le32(b, 36),
                pages: le64(b, 40),
            };
            if self.kind.backing(self.info.order).is_none() {
                return Err("bad page order");
            }
            if self.info.size > i64::MAX as u64 || self.info.pos > i64::MAX as u64 {
                return Err("bad size or position");
            }
            if self.info.seals & !ALL_SEALS != 0 {
                return Err("unknown seals");
            }
            if self.kind == Kind::Hugetlb && self.info.size % (PAGE_SIZE << self.info.order) != 0 {
                return Err("size not a multiple of the huge page size");
            }
            self.file_pages = self.info.size.div_ceil(PAGE_SIZE);
        } else if n == 0 {
            return Err("empty chunk");
        } else if le32(b, 36) != 0 {
            return Err("page order outside the first chunk");
        }
        for j in 0..n {
            let at = HEADER_SIZE + j * RUN_SIZE;
            let run = Run::decode(&b[at..at + RUN_SIZE]).ok_or("bad run")?;
            let fits = match self.kind {
                Kind::Shmem => run.order <= MAX_SHMEM_FOLIO_ORDER,
                Kind::Hugetlb => run.order == self.info.order && !run.as_pages,
            };
            if !fits {
                return Err("run of a page size the file cannot have");
            }
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
    pub(crate) fn reserve_for(&mut self, b: &[u8]) -> Result {
        if b.len() < HEADER_SIZE {
            return Ok(());
        }
        let n = (le32(b, 4) as usize).min(MAX_CHUNK_RUNS);
        Ok(self.runs.reserve(n, GFP_KERNEL)?)
    }

    /// The file and its runs, once the last chunk is in. On failure the
    /// runs checked so far stay, for [`Incoming::release`].
    pub(crate) fn finish(&mut self) -> core::result::Result<(FileInfo, KVVec<Run>), &'static str> {
        if self.chunks == 0 {
            return Err("no chunk");
        }
        if self.pages != self.info.pages {
            return Err("fewer pages than the header says");
        }
        Ok((self.info, core::mem::take(&mut self.runs)))
    }
}

#[kunit_tests(memfd_luo)]
mod tests {
    use super::*;

    /// One chunk as `write_chunks` lays it out, in ordinary memory.
    pub(crate) fn blob(runs: &[Run], info: &FileInfo, next: u64) -> Result<KVec<u8>> {
        let mut b = KVec::new();
        b.resize(HEADER_SIZE + runs.len() * RUN_SIZE, 0, GFP_KERNEL)?;
        write_header(&mut b, runs.len(), next, info);
        for (j, run) in runs.iter().enumerate() {
            let at = HEADER_SIZE + j * RUN_SIZE;
            run.encode(&mut b[at..at + RUN_SIZE]);
        }
        Ok(b)
    }

    pub(crate) fn parse(b: &[u8]) -> core::result::Result<(FileInfo, KVVec<Run>), &'static str> {
        parse_as(Kind::Shmem, b)
    }

    pub(crate) fn parse_as(
        kind: Kind,
        b: &[u8],
    ) -> core::result::Result<(FileInfo, KVVec<Run>), &'static str> {
        let mut p = ChunkParser::new(kind);
        p.chunk(b)?;
        p.finish()
    }

    pub(crate) fn sample() -> ([Run; 3], FileInfo) {
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
            order: 0,
            pages: 300 + 1 + 1024,
        };
        (runs, info)
    }

    /// A hugetlb memfd of 1 GiB pages: 8 GiB with the second, fifth and
    /// sixth huge pages held, and the last two.
    pub(crate) fn sample_hugetlb() -> ([Run; 3], FileInfo) {
        let huge = |pfn: u64, index: u64, count: u64| Run {
            pfn,
            order: 18,
            index: index << 18,
            count,
            as_pages: false,
        };
        let runs = [
            huge(1 << 18, 1, 1),
            huge(4 << 18, 4, 2),
            huge(8 << 18, 6, 2),
        ];
        let info = FileInfo {
            size: 8 << 30,
            pos: 4096,
            seals: 0x1f,
            order: 18,
            pages: 5 << 18,
        };
        (runs, info)
    }

    #[test]
    pub(crate) fn a_written_hugetlb_chunk_reads_back() -> Result {
        let (runs, info) = sample_hugetlb();
        let b = blob(&runs, &info, 0)?;
        let (got, got_runs) = parse_as(Kind::Hugetlb, &b).map_err(|_| EINVAL)?;
        assert_eq!(got, info);
        assert_eq!(&got_runs[..], &runs[..]);
        // Each compatible reads only its own files.
        assert!(parse_as(Kind::Shmem, &b).is_err());
        let (runs, info) = sample();
        assert!(parse_as(Kind::Hugetlb, &blob(&runs, &info, 0)?).is_err());
        Ok(())
    }

    #[test]
    pub(crate) fn adversarial_hugetlb_chunks_are_rejected() -> Result {
        let (runs, info) = sample_hugetlb();
        let cases: [(&str, Damage); 8] = [
            ("no page order", |i, _| i.order = 0),
            ("page order too large", |i, _| i.order = 63),
            ("run of another order", |_, r| {
                r[0].order = 9;
                r[0].count = 512;
            }),
            ("a range of pages", |i, r| {
                r[0].order = 0;
                r[0].count = 1 << 18;
                r[0].as_pages = true;
                i.order = 18;
            }),
            ("size not a multiple of the huge page", |i, _| {
                i.size -= 4096
            }),
            ("run beyond the end", |i, _| i.size = 7 << 30),
            ("misaligned huge run", |_, r| r[1].index += 512),
            ("more pages claimed", |i, _| i.pages += 1 << 18),
        ];
        for (what, damage) in cases {
            let (mut r, mut i) = (runs, info);
            damage(&mut i, &mut r);
            let b = blob(&r, &i, 0)?;
            if parse_as(Kind::Hugetlb, &b).is_ok() {
                pr_err!("accepted: {what}\n");
            }
            assert!(parse_as(Kind::Hugetlb, &b).is_err());
        }
        Ok(())
    }

    #[test]
    pub(crate) fn a_written_chunk_reads_back() -> Result {
        let (runs, info) = sample();
        let b = blob(&runs, &info, 0)?;
        let (got, got_runs) = parse(&b).map_err(|_| EINVAL)?;
        assert_eq!(got, info);
        assert_eq!(&got_runs[..], &runs[..]);
        Ok(())
    }

    #[test]
    pub(crate) fn truncated_chunks_are_rejected() -> Result {
        let (runs, info) = sample();
        let b = blob(&runs, &info, 0)?;
        for len in 0..b.len() {
            assert!(parse(&b[..len]).is_err());
        }
        Ok(())
    }

    /// A way to spoil a valid chunk before it is written.
    pub(crate) type Damage = fn(&mut FileInfo, &mut [Run]);

    #[test]
    pub(crate) fn adversarial_chunks_are_rejected() -> Result {
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
    pub(crate) fn thousands_of_mutated_chunks_do_not_crash() -> Result {
        let (runs, info) = sample();
        mutate(Kind::Shmem, &blob(&runs, &info, 0)?)
    }

    #[test]
    pub(crate) fn thousands_of_mutated_hugetlb_chunks_do_not_crash() -> Result {
        let (runs, info) = sample_hugetlb();
        mutate(Kind::Hugetlb, &blob(&runs, &info, 0)?)
    }

    /// Parses 4000 copies of `good` with a few random bits flipped each.
    fn mutate(kind: Kind, good: &[u8]) -> Result {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rejected = 0;
        for _ in 0..4000 {
            let mut b = KVec::new();
            b.extend_from_slice(good, GFP_KERNEL)?;
            for _ in 0..1 + (state % 4) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let bit = (state % (b.len() as u64 * 8)) as usize;
                b[bit / 8] ^= 1 << (bit % 8);
            }
            // A parse may accept a harmless flip (a pfn bit); it must not panic.
            if parse_as(kind, &b).is_err() {
                rejected += 1;
            }
        }
        assert!(rejected > 1000);
        Ok(())
    }

    #[test]
    pub(crate) fn run_encoding_round_trips_and_rejects_nonsense() {
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
        // Order above any folio's.
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
