// SPDX-License-Identifier: GPL-2.0

//! Rust live update sample.
//!
//! A subsystem that counts kernel generations across live updates: a cold
//! boot is generation 0, and each live update hands `generation + 1` to the
//! next kernel, which learns it in `boot()`. It uses the safe
//! [`kernel::liveupdate`] abstraction: no `unsafe` here.

use kernel::{
    liveupdate::{Registration, Subsystem},
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

module! {
    type: RustLiveUpdate,
    name: "rust_liveupdate",
    description: "Rust live update sample",
    license: "GPL",
}

/// The generation of the running kernel.
struct Generation {
    value: Atomic<u64>,
}

#[vtable]
impl Subsystem for Generation {
    fn prepare(&self) -> Result<u64> {
        let next = self.value.load(Relaxed).checked_add(1).ok_or(EOVERFLOW)?;
        pr_info!("prepare: handing over generation {next}\n");
        Ok(next)
    }

    fn cancel(&self, data: u64) {
        pr_info!("cancel: generation {data} stays here\n");
    }

    fn boot(&self, data: u64) {
        self.value.store(data, Relaxed);
        pr_info!("boot: this kernel is generation {data}\n");
    }

    fn finish(&self, data: u64) {
        pr_info!("finish: live update to generation {data} complete\n");
    }
}

#[pin_data]
struct RustLiveUpdate {
    #[pin]
    _registration: Registration<Generation>,
}

impl kernel::InPlaceModule for RustLiveUpdate {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _registration <- Registration::register(
                c"rust_liveupdate",
                Generation {
                    value: Atomic::new(0),
                },
            ),
        })
    }
}
