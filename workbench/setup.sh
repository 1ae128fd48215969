#!/usr/bin/env bash
# setup.sh - bring a fresh Debian machine to the point where the LUO-rs
# kernel can be built and booted: host packages, bindgen, and the pristine
# Linux 7.3 source from Debian's linux-source-7.3 package, unpacked into the
# cache (outside the repository).
#
# Idempotent: every step checks first and does nothing when already done.
# The Debian archive is reached through the URI the machine already has
# configured; no host name is written here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_pkgs=(build-essential flex bison bc libelf-dev libssl-dev cpio xz-utils
	   kmod qemu-system-x86 device-tree-compiler python3
	   rustc-web rust-web-src rust-web-clippy rustfmt-web libclang-19-dev
	   gcc-multilib)
# gcc-multilib: make check also runs the uAPI selftests as 32-bit programs.
# make bench-compare draws its chart with Debian's matplotlib.
[ "${1:-}" = --bench ] && need_pkgs+=(python3-matplotlib)
# make check-debug builds with clang: Rust and KASAN together need it.
[ "${1:-}" = --debug ] && need_pkgs+=(clang-19 lld-19 llvm-19)
# make docs runs Debian's Sphinx (bookworm: 5.3; the tree needs >= 3.4.3,
# Documentation/process/changes.rst), the Read the Docs theme for
# DOCS_THEME=sphinx_rtd_theme, and pyyaml, which the tree's Sphinx
# extensions import.
[ "${1:-}" = --docs ] && need_pkgs+=(python3-sphinx python3-sphinx-rtd-theme python3-yaml)
# make series-check: checkpatch's SPDX check (scripts/spdxcheck.py) needs ply and git.
[ "${1:-}" = --series ] && need_pkgs+=(python3-ply python3-git)
# make check-systemd builds the guest's root file system from Debian's
# packages with mmdebstrap and makes it an ext4 image (mkfs.ext4 -d), its
# EFI system partition a GPT disk image (sfdisk from fdisk, mkfs.fat from
# dosfstools, mcopy from mtools); two suites boot with UEFI firmware (OVMF).
[ "${1:-}" = --systemd ] && need_pkgs+=(mmdebstrap e2fsprogs fdisk dosfstools mtools ovmf)

install_host_packages() {
	local missing=()
	for p in "${need_pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing host packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_bindgen() {
	if [ -x "$BINDGEN" ] && "$BINDGEN" --version | grep -q "bindgen $BINDGEN_VERSION"; then
		return 0
	fi
	log "installing bindgen-cli $BINDGEN_VERSION into $LUO_CACHE/tools"
	LIBCLANG_PATH=$LIBCLANG_PATH cargo install --quiet --locked \
		--root "$LUO_CACHE/tools" --version "$BINDGEN_VERSION" bindgen-cli
}

fetch_base_source() {
	if [ -f "$BASE_DIR/.luo-base-version" ] && [ -f "$BASE_DIR/Makefile" ]; then
		return 0
	fi
	local apt="$LUO_CACHE/apt" uri
	uri=$(debian_archive_uri)
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
	# A private sources list: the system's own lists and packages stay untouched.
	cat >"$apt/sources.list" <<EOS
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main
EOS
	local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
		    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		    -o "Dir::State::status=/var/lib/dpkg/status" -o "APT::Get::List-Cleanup=0"
		    -o "APT::Sandbox::User=root")
	log "fetching linux-source-7.3 through a private apt sources list"
	apt-get "${opts[@]}" update -qq
	# Any 7.3.y is accepted: take the newest candidate of the 7.3 source package.
	( cd "$apt/debs" && rm -f linux-source-7.3_*.deb && apt-get "${opts[@]}" download -qq linux-source-7.3 )
	local deb
	deb=$(ls "$apt"/debs/linux-source-7.3_*.deb | head -n1)
	[ -n "$deb" ] || die "linux-source-7.3 could not be downloaded"
	log "unpacking $(basename "$deb")"
	local tmp="$LUO_CACHE/unpack.$$"
	rm -rf "$tmp"; mkdir -p "$tmp"
	dpkg-deb -x "$deb" "$tmp"
	local tarball
	tarball=$(ls "$tmp"/usr/src/linux-source-7.3*.tar.* | head -n1)
	tar -C "$tmp" -xf "$tarball"
	local src
	src=$(find "$tmp" -maxdepth 1 -type d -name 'linux-source-7.3*' | head -n1)
	[ -f "$src/Makefile" ] || die "unexpected layout in $deb"
	dpkg-deb -f "$deb" Version >"$src/.luo-base-version"
	rm -rf "$BASE_DIR"
	mkdir -p "$(dirname "$BASE_DIR")"
	mv "$src" "$BASE_DIR"
	rm -rf "$tmp"
	chmod -R a-w "$BASE_DIR"
}

mkdir -p "$LUO_CACHE"
install_host_packages
install_bindgen
fetch_base_source
log "base: $(base_version)  rustc: $($RUSTC --version)  bindgen: $("$BINDGEN" --version)"
