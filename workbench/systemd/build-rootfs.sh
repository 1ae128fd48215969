#!/usr/bin/env bash
# build-rootfs.sh - the root file system of make check-systemd: Debian's
# systemd 262 (sid) with its own tests (systemd-tests: test-luo,
# TEST-91-LIVEUPDATE), made by mmdebstrap from Debian's packages, plus the
# files of workbench/systemd/rootfs/, as an ext4 image (mkfs.ext4 -d, no
# loop mount). The VM boots it read-write through a QEMU snapshot, so the
# image itself never changes.
#
# Two cached stages in $SYSTEMD_CACHE: base/, what mmdebstrap installed
# (again only when the package list or the mmdebstrap call change), and
# rootfs.img, base/ plus our files (again when anything of this script or
# rootfs/ changes: about 20 s). The Debian archive is the URI the
# machine's apt already has; no host name is written here.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

# systemd as PID 1 (systemd-sysv: /sbin/init), udev, D-Bus (busctl,
# loginctl, run0), logind for the user manager of TEST-91's testuser,
# kexec-tools (kexec -s; systemctl kexec falls back to it), the tests,
# nspawn (TEST-91's container part), jq (TEST-91 reads busctl -j with it),
# systemd-bless-boot (TEST-91 runs it on EFI systems), strace
# (luo_rs.strace=1).
PACKAGES=(systemd systemd-sysv udev dbus libpam-systemd passwd kexec-tools systemd-tests
	  systemd-container jq systemd-boot strace)
# TEST-91 reads the fd stores of user@4711.service.
TESTUSER_UID=4711
# A fixed machine ID: every boot of the image is the same machine, and
# none is a "first boot".
MACHINE_ID=6c756f2d72732d73797374656d642d31

BASE=$SYSTEMD_CACHE/base
IMG=$SYSTEMD_CACHE/rootfs.img

# sid's Release file may be past its Valid-Until date on a mirror snapshot.
make_base() {
	local uri include
	uri=$(debian_archive_uri)
	include=$(IFS=,; echo "${PACKAGES[*]}")
	log "installing systemd and its tests with mmdebstrap (sid: $include)"
	mmdebstrap --quiet --mode=root --variant=minbase --include="$include" \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		sid "$1" "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" \
		>"$SYSTEMD_CACHE/mmdebstrap.log" 2>&1 ||
		{ tail -30 "$SYSTEMD_CACHE/mmdebstrap.log"
		  die "mmdebstrap failed (log: $SYSTEMD_CACHE/mmdebstrap.log)"; }
}

# Our units and scripts (workbench/systemd/rootfs/), testuser, and the
# container template of TEST-91.
customize() {
	local root=$1 tmpl lib
	cp -r --no-preserve=ownership "$HERE/rootfs/." "$root/"
	echo "$MACHINE_ID" >"$root/etc/machine-id"
	echo luo-rs-guest >"$root/etc/hostname"
	mkdir -p "$root/efi"
	chroot "$root" useradd --create-home --uid "$TESTUSER_UID" --user-group \
		--shell /bin/bash testuser

	# TEST-91's create_dummy_container (util.sh) copies this template into
	# /var/lib/machines/fdstore and boots it with systemd-nspawn@.service;
	# the nspawn part runs when the template has /usr/bin/test-fdstore,
	# whose "store" and "check" run as the container's init. The template
	# is the smallest OS tree that does: os-release, bash, env,
	# test-fdstore and the libraries they load.
	tmpl=$root/usr/share/TEST-13-NSPAWN-container-template
	mkdir -p "$tmpl"/{usr/bin,usr/lib,usr/lib64,usr/sbin,etc,dev,proc,sys,run,tmp,var,root}
	for lib in bin lib lib64 sbin; do
		[ -L "$root/$lib" ] && ln -s "$(readlink "$root/$lib")" "$tmpl/$lib"
	done
	cp "$root/usr/lib/os-release" "$tmpl/usr/lib/os-release"
	ln -s ../usr/lib/os-release "$tmpl/etc/os-release"
	cp "$root/usr/bin/bash" "$root/usr/bin/env" "$tmpl/usr/bin/"
	cp "$root/usr/lib/systemd/tests/unit-tests/manual/test-fdstore" "$tmpl/usr/bin/"
	for lib in $(chroot "$root" ldd /usr/bin/bash /usr/bin/env \
			/usr/lib/systemd/tests/unit-tests/manual/test-fdstore |
		     grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
		mkdir -p "$tmpl$(dirname "$lib")"
		cp -L "$root$lib" "$tmpl$lib"
	done
}

tree_stamp() {
	(cd "$1" && find . ! -type d | LC_ALL=C sort | while read -r f; do
		echo "$f"; if [ -L "$f" ]; then readlink "$f"; else cat "$f"; fi; done)
}
base_stamp=$( { echo "${PACKAGES[*]}"; declare -f make_base; } | sha256sum | cut -d' ' -f1)
stamp=$( { cat "$0"; tree_stamp "$HERE/rootfs"; } | sha256sum | cut -d' ' -f1)
if [ -f "$IMG" ] && [ "$(cat "$IMG.stamp" 2>/dev/null)" = "$stamp" ] &&
   [ "$(cat "$BASE.stamp" 2>/dev/null)" = "$base_stamp" ]; then
	log "systemd root file system: $IMG ($(cat "$IMG.versions" 2>/dev/null))"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "building the root file system needs root (mmdebstrap --mode=root)"
mkdir -p "$SYSTEMD_CACHE"
start=$(date +%s)
if [ ! -d "$BASE" ] || [ "$(cat "$BASE.stamp" 2>/dev/null)" != "$base_stamp" ]; then
	rm -rf "$BASE" "$BASE.new" "$BASE.stamp"
	make_base "$BASE.new"
	mv "$BASE.new" "$BASE"
	echo "$base_stamp" >"$BASE.stamp"
fi
root=$SYSTEMD_CACHE/rootfs.tmp
rm -rf "$root" "$IMG.new"
cp -a "$BASE" "$root"
customize "$root"
# Sized for what the tests write (the journal, TEST-91's container copy).
mb=$(( $(du -sm "$root" | cut -f1) + 1024 ))
truncate -s "${mb}M" "$IMG.new"
mkfs.ext4 -q -F -L luo-rs-root -d "$root" "$IMG.new"
versions="systemd $(chroot "$root" dpkg-query -W -f='${Version}' systemd)"
versions+=", systemd-tests $(chroot "$root" dpkg-query -W -f='${Version}' systemd-tests)"
rm -rf "$root"
mv "$IMG.new" "$IMG"
echo "$versions" >"$IMG.versions"
echo "$stamp" >"$IMG.stamp"
log "systemd root file system built in $(( $(date +%s) - start ))s: $IMG ($versions)"
