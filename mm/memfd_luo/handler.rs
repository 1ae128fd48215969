// SPDX-License-Identifier: GPL-2.0

//! The `memfd-v1` and `hugetlb-memfd-v1` file handlers: the callbacks LUO
//! calls. One type serves both: what differs is the [`Kind`] of file each
//! registration takes.
//!
//! Lock order: the handler's `outgoing` mutex, then the file's inode lock
//! (freezing or thawing its mapping), then the page cache's `i_pages`
//! lock (holding its folios). The `incoming` mutex is taken alone. Both
//! are taken inside LUO's transition mutex.

use crate::{
    incoming::{Incoming, Taken},
    layout::Kind,
    outgoing::Outgoing,
    stats::Stats,
};
use kernel::{
    alloc::KVVec,
    fs::File,
    liveupdate::FileHandler,
    memfd::{Memfd, NewMemfd},
    new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{aref::ARef, atomic::Relaxed, Arc, Mutex},
};

/// The handler of one [`Kind`] of memfd.
#[pin_data]
pub(crate) struct MemfdHandler {
    pub(crate) kind: Kind,
    /// The files preserved, by inode: one file of an inode at most, each
    /// found in logarithmic time (a hand-over carries thousands).
    #[pin]
    pub(crate) outgoing: Mutex<RBTree<usize, Outgoing>>,
    #[pin]
    pub(crate) incoming: Mutex<KVVec<Incoming>>,
    pub(crate) stats: Arc<Stats>,
}

impl MemfdHandler {
    pub(crate) fn new(kind: Kind, stats: Arc<Stats>) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            kind,
            outgoing <- new_mutex!(RBTree::new()),
            incoming <- new_mutex!(KVVec::new()),
            stats,
        })
    }

    pub(crate) fn set_frozen(memfd: &Memfd<'_>, frozen: bool) {
        memfd.lock().set_frozen(frozen);
    }

    /// `file` as a memfd of this handler's kind.
    fn memfd<'a>(&self, file: &'a File) -> Option<Memfd<'a>> {
        Memfd::new(file).filter(|m| Kind::of(m.backing()) == self.kind)
    }

    /// `file` as a memfd this handler takes to preserve: unlinked too. A
    /// file linked after PREPARE (an `O_TMPFILE`) stays the handler's.
    fn unlinked_memfd<'a>(&self, file: &'a File) -> Option<Memfd<'a>> {
        self.memfd(file).filter(|m| !m.is_linked())
    }

    /// Builds the memfd of `incoming`, or goes on building it.
    pub(crate) fn restore(incoming: &mut Incoming) -> Result<ARef<File>> {
        let info = incoming.info()?;
        let mut memfd = match incoming.partial.take() {
            Some(memfd) => memfd,
            None => {
                // The parser checked that the page order fits the kind.
                let backing = incoming.reader.parser.kind.backing(info.order).ok_or(EIO)?;
                let mut memfd = NewMemfd::new(c"memfd:luo", backing)?;
                memfd.set_size(info.size)?;
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
        self.unlinked_memfd(file).is_some()
    }

    fn prepare(&self, file: &File) -> Result<u64> {
        let memfd = self.unlinked_memfd(file).ok_or(EINVAL)?;
        let mut outgoing = self.outgoing.lock();
        if outgoing.get(&memfd.inode_key()).is_some() {
            // Another file of the same inode is preserved.
            return Err(EBUSY);
        }
        let room = RBTreeNodeReservation::new(GFP_KERNEL)?;
        Self::set_frozen(&memfd, true);
        match Outgoing::serialize(&memfd) {
            Ok(o) => {
                let data = o.data;
                self.stats.account(&o, true);
                outgoing.insert(room.into_node(o.inode, o));
                Ok(data)
            }
            Err(e) => {
                pr_warn!("cannot preserve a memfd: error {}\n", e.to_errno());
                Self::set_frozen(&memfd, false);
                Err(e)
            }
        }
    }

    fn freeze(&self, file: &File, data: u64) -> Result<u64> {
        let memfd = self.memfd(file).ok_or(EINVAL)?;
        let mut outgoing = self.outgoing.lock();
        let o = outgoing.get_mut(&memfd.inode_key());
        let o = o.filter(|o| o.data == data).ok_or(EINVAL)?;
        if memfd.allocs() != o.allocs {
            // Holes were written since PREPARE: preserve the file again;
            // the old references and chunks go.
            // KHO must not keep the old ranges beside the new ones.
            o.unpreserve();
            let again = match Outgoing::serialize(&memfd) {
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
        o.set_pos(memfd.pos().max(0) as u64);
        #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
        if self.stats.damage.load(Relaxed) != 0 {
            // The header's page count sits at offset 40 of the first chunk.
            let pages = o.info.pages + 1;
            o.chunks[0].as_mut_slice()[40..48].copy_from_slice(&pages.to_le_bytes());
        }
        Ok(o.data)
    }

    fn cancel(&self, file: &File, data: u64) {
        let Some(memfd) = self.memfd(file) else {
            return;
        };
        let key = memfd.inode_key();
        let removed = {
            let mut outgoing = self.outgoing.lock();
            match outgoing.get(&key) {
                Some(o) if o.data == data => outgoing.remove(&key),
                _ => None,
            }
        };
        if let Some(mut o) = removed {
            self.stats.account(&o, false);
            o.unpreserve();
        }
        Self::set_frozen(&memfd, false);
    }

    fn retrieve(&self, data: u64) -> Result<ARef<File>> {
        let mut incoming = self.incoming.lock();
        let index = match incoming.iter().position(|i| i.data == data) {
            Some(i) => i,
            None => {
                incoming.push(Incoming::new(data, self.kind), GFP_KERNEL)?;
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
            None => Incoming::new(data, self.kind),
        };
        drop(incoming);
        // Never restored: give the memory back.
        entry.release();
    }
}
