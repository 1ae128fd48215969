# LUO-rs: the Live Update Orchestrator in Rust-for-Linux.
#
#   make demo                        a live update of a running workload, end to end
#   make check                       build everything, run all tests in QEMU
#   make vmtest PROG=/abs/static     run your program across a live update
#   make bench                       time memfd preservation (not a test)
#   make bench-compare               the same, ours against upstream 7.3's C LUO
#   make check-debug                 every suite on a KASAN/lockdep/kmemleak kernel
#   make check-debug-ci              the part of it CI runs
#   make check-systemd               systemd 262 as PID 1 across systemctl kexec
#   make docs                        build and check the documentation (Sphinx)
#
#   make series                      the patch series against pristine 7.3
#   make series-check                git am it, checkpatch, build and boot every step
#
# Other targets: setup (host packages, bindgen, base source), sync (base +
# patches + overlay -> build tree), kernel, guest, clippy (lint all Rust),
# rustdoc (document the Rust crates, no warnings allowed),
# rustfmt (format our Rust code; make check verifies it), clean.
# Everything outside the repository lives in $(LUO_CACHE).

LUO_CACHE ?= /var/cache/luo-rs
export LUO_CACHE
OUT := $(CURDIR)/out
WB := $(CURDIR)/workbench
OBJ_DIR ?= $(LUO_CACHE)/build/obj
GUEST_DIR ?= $(LUO_CACHE)/build/guest
BZIMAGE := $(OBJ_DIR)/arch/x86/boot/bzImage

.PHONY: all setup sync kernel guest demo check check-debug check-debug-ci check-systemd vmtest bench \
	bench-compare series \
	series-check docs rustdoc clippy rustfmt clean

all: kernel

setup:
	@bash $(WB)/setup.sh

sync: setup
	@bash $(WB)/sync-tree.sh

kernel: sync
	@bash $(WB)/build-kernel.sh

guest: sync
	@bash $(WB)/build-guest.sh

check: kernel guest
	@python3 $(WB)/check.py --kernel $(BZIMAGE) --guest $(GUEST_DIR) --logs $(OUT)/logs \
		--base $(LUO_CACHE)/base/linux-7.3 $(if $(SUITE),--only $(SUITE))

# luoctl carries a workload's memfd across a kexec; SIZE=MiB of its data.
demo: kernel guest
	@python3 $(WB)/demo.py --kernel $(BZIMAGE) --guest $(GUEST_DIR) --log $(OUT)/logs/demo.log \
		$(if $(SIZE),--size $(SIZE))

vmtest: kernel guest
	@test -n "$(PROG)" || { echo "usage: make vmtest PROG=/abs/path/to/static-binary"; exit 2; }
	@python3 $(WB)/vmrun.py --kernel $(BZIMAGE) --init $(GUEST_DIR)/init --prog $(PROG) \
		--log $(OUT)/logs/vmtest.log $(if $(APPEND),--append "$(APPEND)")

BENCH_ARGS = --init $(GUEST_DIR)/init $(if $(RUNS),--runs $(RUNS)) $(if $(CASES),--cases $(CASES))
UPSTREAM_OBJ := $(LUO_CACHE)/build/obj-upstream

bench: kernel guest
	@python3 $(WB)/bench.py \
		--side ours=$(BZIMAGE),$(GUEST_DIR)/bench/bench_ours,liveupdate=orchestration \
		--out $(OUT)/bench $(BENCH_ARGS)

# Ours (through the orchestration uAPI, and through the session uAPI)
# against pristine Linux 7.3's C LUO, same VM, same workload.
bench-compare: kernel guest
	@bash $(WB)/setup.sh --bench
	@UPSTREAM_OBJ=$(UPSTREAM_OBJ) bash $(WB)/build-upstream.sh
	@/usr/bin/python3 $(WB)/bench.py \
		--side ours=$(BZIMAGE),$(GUEST_DIR)/bench/bench_ours,liveupdate=orchestration \
		--side sessions=$(BZIMAGE),$(GUEST_DIR)/bench/bench_sessions,liveupdate=on \
		--side upstream=$(UPSTREAM_OBJ)/arch/x86/boot/bzImage,$(GUEST_DIR)/bench/bench_upstream \
		--out $(OUT)/bench-compare $(BENCH_ARGS)

# The debug lane: the same tree built with clang (Rust and KASAN need it)
# and workbench/debug.config (KASAN, lockdep, DEBUG_VM, DEBUG_LIST,
# kmemleak, atomic sleep), every suite, failing on any kernel report.
# KHO sizes its scratch area from early reservations, which KASAN's shadow
# inflates past what a 1 GiB VM can give: a fixed scratch size keeps KHO on.
# no5lvl: with 5-level paging (QEMU's -cpu max has LA57) KASAN reports a
# false wild-memory-access when an interrupt hits identify_cpu() while it
# has cleared the boot CPU's feature bits, LA57 among them (upstream x86).
DEBUG_OBJ := $(LUO_CACHE)/build/obj-debug
check-debug: sync guest
	@bash $(WB)/setup.sh --debug
	@OBJ_DIR=$(DEBUG_OBJ) EXTRA_CONFIG=$(WB)/debug.config KMAKE_FLAGS="LLVM=-19" \
		bash $(WB)/build-kernel.sh
	@python3 $(WB)/check.py --kernel $(DEBUG_OBJ)/arch/x86/boot/bzImage --guest $(GUEST_DIR) \
		--logs $(OUT)/logs-debug --timeout 600 --debug $(if $(SUITE),--only $(SUITE)) \
		--append "kho_scratch=256M,0,0 no5lvl"

# The part of the debug lane CI runs after make check (the whole lane
# takes two to three hours): the KUnit suites (hand-over parsers fuzzed under
# KASAN), the ioctl fuzzer, memfds in one boot, allocation failures in
# PREPARE and in FD_RESTORE across a kexec, files of a C handler across a
# kexec (KASAN found a use-after-free there), and a damaged hand-over.
DEBUG_CI_SUITES := kunit,ioctl_fuzz,memfd,fault_inject,kexec_files,kexec_fault,kexec_damaged_4
check-debug-ci:
	@$(MAKE) --no-print-directory check-debug SUITE=$(DEBUG_CI_SUITES)

# Debian's systemd 262 as PID 1 of the VM, on our kernel, across
# "systemctl kexec": test-luo's fd store, and systemd's own TEST-91-LIVEUPDATE
# (workbench/check_systemd.py). The root file system is built from Debian's
# packages (workbench/systemd/build-rootfs.sh) and cached in $(SYSTEMD_CACHE).
# SUITE=fdstore,fdstore_efi,test91 picks suites; APPEND= replaces liveupdate=on.
SYSTEMD_CACHE ?= $(LUO_CACHE)/systemd
export SYSTEMD_CACHE
check-systemd: kernel
	@bash $(WB)/setup.sh --systemd
	@bash $(WB)/systemd/build-rootfs.sh
	@python3 $(WB)/check_systemd.py --kernel $(BZIMAGE) --rootfs $(SYSTEMD_CACHE)/rootfs.img \
		--logs $(OUT)/logs $(if $(SUITE),--only $(SUITE)) $(if $(APPEND),--append "$(APPEND)")

# The repository as a patch series against pristine 7.3 (out/series/), one
# patch per file of patches/series; series-check applies it with git am,
# runs checkpatch --strict, builds and boots every step.
series: sync guest
	@python3 $(WB)/series.py generate $(OUT)/series

series-check: series
	@bash $(WB)/setup.sh --series
	@python3 $(WB)/series.py check $(OUT)/series

# The documentation of the Rust crates (kernel, with our abstractions),
# built by rustdoc into the test kernel's object directory. Fails on any
# rustdoc warning.
rustdoc: kernel
	@KMAKE_TARGETS=rustdoc bash $(WB)/build-kernel.sh > $(OUT)/rustdoc.log 2>&1 || \
		{ tail -40 $(OUT)/rustdoc.log; exit 1; }
	@! grep -B2 -A12 '^warning\|^error' $(OUT)/rustdoc.log || { echo "rustdoc: see $(OUT)/rustdoc.log"; exit 1; }
	@echo "rustdoc: no warnings; $(OBJ_DIR)/Documentation/output/rust/rustdoc/kernel/index.html"

# Clippy over the whole Rust build, in its own object directory so that the
# test kernel's objects stay valid. Fails on any warning in our code.
clippy: sync
	@OBJ_DIR=$(LUO_CACHE)/build/obj-clippy KMAKE_FLAGS="CLIPPY=1" bash $(WB)/build-kernel.sh \
		> $(OUT)/clippy.log 2>&1 || { tail -40 $(OUT)/clippy.log; exit 1; }
	@! grep -B2 -A12 '^warning\|^error' $(OUT)/clippy.log || { echo "clippy: see $(OUT)/clippy.log"; exit 1; }
	@echo "clippy: no warnings"

# The documentation: kernel-doc and checkpatch on our headers, the uAPI
# page's example program, and Sphinx on the Documentation/ directories
# that hold our pages; fails on any warning about our files. No kernel
# build; Sphinx takes about 7 minutes on 2 cores, every run (the default
# SPHINXDIRS include admin-guide, for the ABI and kernel-parameters pages).
# SPHINXDIRS="..." picks other directories.
docs:
	@bash $(WB)/setup.sh --docs
	@bash $(WB)/sync-tree.sh
	@DOCS_LOG=$(OUT)/docs.log $(if $(SPHINXDIRS),SPHINXDIRS="$(SPHINXDIRS)") \
		bash $(WB)/build-docs.sh

rustfmt: setup
	@/usr/bin/rustfmt --edition 2021 --config-path $(LUO_CACHE)/base/linux-7.3/.rustfmt.toml \
		$$(git ls-files '*.rs')

clean:
	rm -rf $(OUT)
