#!/usr/bin/env bash
# sync-tree.sh - turn the pristine base plus this repository into the kernel
# source tree that gets built ($SRC_DIR).
#
#   base (linux-source-7.3, read-only in the cache)
#     + patches/series      small edits to upstream files, applied in order
#     - patches/removed     upstream files we replace (the C LUO), deleted
#     + overlay             every file of this repo at its in-tree path
#
# Incremental by design: an overlay file is copied only when its content
# differs, so unchanged files keep their timestamps and kbuild rebuilds only
# what really changed. When the diffs of the patch set change, the tree is
# re-created from the base; every file that was patched or overlaid before
# is touched, so no stale object survives, and then every file whose
# content is the same as in the old tree gets its old timestamp back, so
# that a change to one patch rebuilds only what it changes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/.." && pwd)

[ -f "$BASE_DIR/Makefile" ] || die "no base tree in $BASE_DIR: run 'make setup'"

# Repository paths that mirror the kernel tree.
overlay_files() {
	cd "$REPO"
	local dirs=(kernel include rust mm lib samples Documentation tools/liveupdate
		    tools/testing/selftests/liveupdate/orchestration)
	if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
		git ls-files --cached --others --exclude-standard -- "${dirs[@]}" 2>/dev/null
	else
		find "${dirs[@]}" -type f 2>/dev/null
	fi | while read -r f; do [ -f "$f" ] && echo "$f"; done | sort -u
}

# Only what changes the tree counts: the diffs, not the commit messages.
patch_stamp() {
	{ base_version; cat "$REPO/patches/removed" 2>/dev/null
	  sed 's/#.*//' "$REPO/patches/series" 2>/dev/null | while read -r p; do
		[ -n "$p" ] && sed -n '/^--- /,$p' "$REPO/patches/$p"; done; } |
		sha256sum | cut -d' ' -f1
}

manifest=$SRC_DIR/.luo-overlay
stamp=$(patch_stamp)

if [ "$(cat "$SRC_DIR/.luo-stamp" 2>/dev/null)" != "$stamp" ]; then
	log "creating build tree from base $(base_version)"
	old_manifest=$(cat "$manifest" "$SRC_DIR/.luo-patched" 2>/dev/null || true)
	rm -rf "$SRC_DIR.new"
	mkdir -p "$(dirname "$SRC_DIR")"
	cp -a "$BASE_DIR" "$SRC_DIR.new"
	chmod -R u+w "$SRC_DIR.new"
	: >"$SRC_DIR.new/.luo-patched"
	while read -r p; do
		p=${p%%#*}; p=${p//[[:space:]]/}
		[ -n "$p" ] || continue
		# A step that only adds repository files has no diff.
		grep -q '^--- ' "$REPO/patches/$p" || continue
		log "applying patches/$p"
		patch -d "$SRC_DIR.new" -p1 -s --no-backup-if-mismatch -i "$REPO/patches/$p" ||
			die "patches/$p does not apply to $(base_version)"
		grep -E '^\+\+\+ ' "$REPO/patches/$p" | sed -E 's#^\+\+\+ [^/]+/##; s#\t.*##' \
			>>"$SRC_DIR.new/.luo-patched"
	done < <(cat "$REPO/patches/series" 2>/dev/null)
	while read -r f; do
		f=${f%%#*}; f=${f//[[:space:]]/}
		[ -n "$f" ] || continue
		[ -e "$SRC_DIR.new/$f" ] || die "patches/removed: $f is not in the base"
		rm -rf "${SRC_DIR:?}.new/$f"
	done < <(cat "$REPO/patches/removed" 2>/dev/null)
	# Whatever was patched or overlaid in the old tree must look new to make.
	if [ -n "$old_manifest" ]; then
		while read -r f; do
			[ -f "$SRC_DIR.new/$f" ] && touch "$SRC_DIR.new/$f"
		done <<<"$old_manifest"
	fi
	rm -rf "$SRC_DIR.old"
	[ ! -d "$SRC_DIR" ] || mv "$SRC_DIR" "$SRC_DIR.old"
	mv "$SRC_DIR.new" "$SRC_DIR"
	echo "$stamp" >"$SRC_DIR/.luo-stamp"
	: >"$manifest"
fi

# Overlay: copy what differs; put back the base version of files that left
# the overlay since the last sync.
new_list=$(overlay_files)
copied=0
while read -r f; do
	[ -n "$f" ] || continue
	if ! cmp -s "$REPO/$f" "$SRC_DIR/$f"; then
		mkdir -p "$(dirname "$SRC_DIR/$f")"
		cp "$REPO/$f" "$SRC_DIR/$f"
		copied=$((copied + 1))
	fi
done <<<"$new_list"
while read -r f; do
	[ -n "$f" ] || continue
	grep -qxF -- "$f" <<<"$new_list" && continue
	if grep -qxF -- "$f" "$SRC_DIR/.luo-patched"; then
		# Left the overlay but is patched: rebuild the tree from scratch.
		rm -f "$SRC_DIR/.luo-stamp"
		exec "$0" "$@"
	fi
	if [ -f "$BASE_DIR/$f" ] && ! grep -qxF -- "$f" <(cat "$REPO/patches/removed" 2>/dev/null); then
		cp "$BASE_DIR/$f" "$SRC_DIR/$f"; chmod u+w "$SRC_DIR/$f"; touch "$SRC_DIR/$f"
	else
		rm -f "$SRC_DIR/$f"
	fi
done < <(cat "$manifest" 2>/dev/null)
printf '%s\n' "$new_list" >"$manifest"
# After a re-creation: what did not change keeps the old tree's timestamp.
if [ -d "$SRC_DIR.old" ]; then
	kept=0
	while read -r f; do
		[ -n "$f" ] && [ -f "$SRC_DIR/$f" ] && [ -f "$SRC_DIR.old/$f" ] || continue
		if cmp -s "$SRC_DIR/$f" "$SRC_DIR.old/$f"; then
			touch -r "$SRC_DIR.old/$f" "$SRC_DIR/$f"
			kept=$((kept + 1))
		fi
	done < <(cat "$manifest" "$SRC_DIR/.luo-patched" "$SRC_DIR.old/.luo-overlay" \
		     "$SRC_DIR.old/.luo-patched" 2>/dev/null | sort -u)
	rm -rf "$SRC_DIR.old"
	log "$kept unchanged file(s) keep their timestamps"
fi
log "build tree in sync ($copied file(s) updated), base $(base_version)"
