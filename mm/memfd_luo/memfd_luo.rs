// SPDX-License-Identifier: GPL-2.0

//! memfd live update: the `memfd-v1` and `hugetlb-memfd-v1` file handlers.
//!
//! A memfd (or any unlinked shmem file) given to `/dev/liveupdate` keeps
//! its bytes, size, position and seals across a live update, and so does a
//! hugetlb memfd (`MFD_HUGETLB`, or any unlinked hugetlbfs file), each huge
//! page preserved whole: in the next kernel its huge pages become in-use
//! pool pages of a new hugetlb memfd
//! (Documentation/mm/memfd_preservation.rst, "hugetlb memfds"). At PREPARE
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
//! folios are grouped into runs as the walk returns them; nothing is kept
//! per page.
//!
//! The crate, one file per concept:
//!
//! - [`layout`]: the hand-over layout, version 1, and writing it.
//! - [`parser`]: checking what the previous kernel handed over.
//! - [`outgoing`]: a file preserved in this kernel.
//! - [`incoming`]: a file handed over by the previous kernel.
//! - [`handler`]: the file handler LUO calls, and its lock order.
//! - [`stats`]: what preserved files cost, in debugfs.
//!
//! C: `mm/memfd_luo_folio.c` (the page cache walk and insertion, which
//! need `mm/internal.h`), through [`kernel::memfd`].

use handler::MemfdHandler;
use kernel::{
    debugfs,
    liveupdate::{self, FileHandlerRegistration},
    prelude::*,
    sync::Arc,
};
use layout::Kind;
use stats::Stats;

mod handler;
mod incoming;
mod layout;
mod outgoing;
mod parser;
mod stats;

module! {
    type: MemfdLuo,
    name: "memfd_luo",
    description: "memfd live update: the memfd-v1 and hugetlb-memfd-v1 file handlers",
    license: "GPL",
}

type Registration = Pin<KBox<FileHandlerRegistration<MemfdHandler>>>;

struct MemfdLuo {
    _registrations: Option<(Registration, Registration)>,
    _stats_file: Option<Pin<KBox<debugfs::File<Arc<Stats>>>>>,
    #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
    _damage_file: Option<Pin<KBox<debugfs::File<Arc<Stats>>>>>,
    _debugfs: Option<debugfs::Dir>,
}

impl kernel::Module for MemfdLuo {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if !liveupdate::enabled() {
            return Ok(Self {
                _registrations: None,
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
        let register = |kind: Kind| {
            KBox::pin_init(
                FileHandlerRegistration::register(
                    kind.compatible(),
                    MemfdHandler::new(kind, stats.clone()),
                ),
                GFP_KERNEL,
            )
        };
        let registrations = (register(Kind::Shmem)?, register(Kind::Hugetlb)?);
        Ok(Self {
            _registrations: Some(registrations),
            _stats_file: Some(stats_file),
            #[cfg(CONFIG_LIVEUPDATE_SELFTESTS)]
            _damage_file: Some(damage_file),
            _debugfs: Some(dir),
        })
    }
}
