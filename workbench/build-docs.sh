#!/usr/bin/env bash
# build-docs.sh - check the live update documentation: kernel-doc and
# checkpatch on our headers, the example program of the uAPI page, and a
# Sphinx build of the Documentation/ directories that hold our pages.
#
# Run on a synced build tree ($SRC_DIR, see sync-tree.sh); `make docs` does
# both. Fails on any warning that concerns our files. The Sphinx build
# covers the whole of SPHINXDIRS, whose upstream pages have warnings of
# their own; those are counted and ignored (see IGNORED below).
#
#   DOCS_OBJ    object directory (default $LUO_CACHE/build/docs)
#   SPHINXDIRS  Documentation/ subdirectories to build
#               (default "core-api userspace-api mm admin-guide")
#   DOCS_LOG    full Sphinx log (default out/docs.log)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/.." && pwd)
DOCS_OBJ=${DOCS_OBJ:-$LUO_CACHE/build/docs}
SPHINXDIRS=${SPHINXDIRS:-"core-api userspace-api mm admin-guide"}
DOCS_LOG=${DOCS_LOG:-$REPO/out/docs.log}
# Debian's Sphinx is a module of Debian's python3; another python3 earlier
# in PATH (pyenv) would not find it.
PY=/usr/bin/python3

[ -f "$SRC_DIR/.luo-stamp" ] || die "no build tree in $SRC_DIR: run 'make sync'"
command -v sphinx-build >/dev/null || die "no sphinx-build: run 'workbench/setup.sh --docs'"
mkdir -p "$DOCS_OBJ" "$(dirname "$DOCS_LOG")"
fail=0

# Our headers: every kernel-doc comment complete, checkpatch --strict clean.
HEADERS=(include/linux/liveupdate.h include/uapi/linux/liveupdate.h include/linux/memfd_luo.h)
for h in "${HEADERS[@]}"; do
	out=$("$PY" "$SRC_DIR/scripts/kernel-doc" -none -Wall "$SRC_DIR/$h" 2>&1 | sort -u)
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		log "kernel-doc: $h has warnings"
		fail=1
	fi
	if ! out=$("$SRC_DIR/scripts/checkpatch.pl" --strict --no-tree --quiet -f "$SRC_DIR/$h" 2>&1) ||
	   [ -n "$out" ]; then
		printf '%s\n' "$out"
		log "checkpatch: $h is not clean"
		fail=1
	fi
done
log "kernel-doc and checkpatch: ${#HEADERS[@]} headers checked"

# The example program of the uAPI page must build against the installed
# uapi headers: take the literal block that follows the "Example" title.
rst=$SRC_DIR/Documentation/userspace-api/liveupdate.rst
make -s -C "$SRC_DIR" O="$DOCS_OBJ/hdr" headers >/dev/null
awk '/^Example$/ { ex = 1 } ex && /::$/ { code = 1; next }
     code && /^[^ \t]/ && NF { exit } code { sub(/^(    |\t)/, ""); print }' "$rst" \
	>"$DOCS_OBJ/luo_agent.c"
grep -q LIVEUPDATE_IOCTL_FD_RESTORE "$DOCS_OBJ/luo_agent.c" ||
	die "no example program found in $rst"
if gcc -static -Wall -Wextra -Werror -isystem "$DOCS_OBJ/hdr/usr/include" \
       -o "$DOCS_OBJ/luo_agent" "$DOCS_OBJ/luo_agent.c"; then
	log "example program of userspace-api/liveupdate.rst: builds"
else
	log "example program of userspace-api/liveupdate.rst: does not build"
	fail=1
fi

# Sphinx, with the CPU shared: nice.
log "sphinx: SPHINXDIRS=\"$SPHINXDIRS\" (log: $DOCS_LOG)"
start=$(date +%s)
if ! nice -n 10 make -C "$SRC_DIR" O="$DOCS_OBJ" PYTHON3="$PY" \
	SPHINXDIRS="$SPHINXDIRS" htmldocs >"$DOCS_LOG" 2>&1; then
	tail -20 "$DOCS_LOG"
	die "make htmldocs failed"
fi
log "sphinx: $(( $(date +%s) - start )) s"

# Warnings about our files fail the check. A warning names the file it is
# about (an rst page, a kernel-doc source, an ABI file); ours are the
# liveupdate pages and headers, the memfd page and handler, the sysfs ABI
# file, and the upstream files patches/0007 edits (ioctl-number.rst,
# kernel-parameters.txt, core-api/kho/).
#
# IGNORED, and only counted:
# - every warning about other files: upstream 7.3's own (kernel-doc gaps
#   in C files we do not touch, ABI entries defined twice, graphviz's
#   `dot` missing, ...), not ours to fix;
# - "unknown document: '/x/y'" and "undefined label: 'l'" when the
#   document or label exists in Documentation/: SPHINXDIRS builds each
#   directory as a project of its own, so absolute :doc: paths and labels
#   of other directories cannot resolve there, but do in a full build
#   (upstream's core-api/kho pages have two such references). Our own
#   pages use plain Documentation/... paths, which never warn.
OURS='liveupdate|memfd_preservation|memfd_luo|luo_|ioctl-number|kernel-parameters|core-api/kho/'
read -r ours ignored < <("$PY" - "$DOCS_LOG" "$SRC_DIR/Documentation" "$OURS" \
	"$DOCS_OBJ/ours.txt" <<'PYEOF'
import os, re, subprocess, sys
log, docs, ours_re, out = sys.argv[1:]
warn = re.compile(r'WARNING|ERROR|CRITICAL|[Ww]arning:')
labels = None
def resolves(line):
    global labels
    m = re.search(r"unknown document: '/?([^']+)'", line)
    if m:
        return any(os.path.exists(os.path.join(docs, m.group(1) + ext))
                   for ext in ('.rst', '.txt'))
    m = re.search(r"undefined label: '([^']+)'", line)
    if m:
        if labels is None:
            found = subprocess.run(['grep', '-rhoE', r'^\.\. _[^:]+:', docs],
                                   capture_output=True, text=True).stdout
            labels = {l[4:-1].lower() for l in found.splitlines()}
        return m.group(1).lower() in labels
    return False
ours, ignored = [], 0
for line in open(log, errors='replace'):
    if not warn.search(line):
        continue
    if re.search(ours_re, line) and not resolves(line):
        ours.append(line)
    else:
        ignored += 1
open(out, 'w').writelines(ours)
print(len(ours), ignored)
PYEOF
)
if [ "$ours" != 0 ]; then
	cat "$DOCS_OBJ/ours.txt"
	log "sphinx: $ours warning(s) about our files"
	fail=1
fi
log "sphinx: $ignored upstream warning(s) ignored"

# The pages exist and kernel-doc filled them in.
html=$DOCS_OBJ/Documentation/output
check_page() {
	local page=$1 symbol=$2
	if ! grep -q "$symbol" "$html/$page" 2>/dev/null; then
		log "sphinx: $page is missing or lacks $symbol"
		fail=1
	fi
}
case " $SPHINXDIRS " in *" core-api "*)
	check_page core-api/liveupdate.html liveupdate_register_file_handler ;; esac
case " $SPHINXDIRS " in *" userspace-api "*)
	check_page userspace-api/liveupdate.html liveupdate_ioctl_get_fd_state ;; esac
case " $SPHINXDIRS " in *" mm "*)
	check_page mm/memfd_preservation.html MFD1 ;; esac
case " $SPHINXDIRS " in *" admin-guide "*)
	check_page admin-guide/abi-testing.html liveupdate/handover ;; esac

[ "$fail" = 0 ] || die "docs check failed"
log "docs check passed; HTML in $html"
