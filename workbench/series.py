#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""series.py - the repository as a patch series against pristine Linux 7.3.

  series.py generate OUT   write OUT/0000-cover-letter.patch .. NNNN-*.patch
  series.py check OUT      git am each patch onto a pristine tree, run
                           checkpatch --strict on it, build the kernel and
                           boot it; one line per patch, non-zero on failure

Every file of patches/series is one step of the series. Its header is the
commit message, followed by directives that generate strips:

  Series-files: PATH...        repository files (or directories) this
                               step adds at the same path in the tree
  Series-removes: patches/removed   this step deletes the upstream files
                               listed there (upstream's C LUO)

and then, if the step edits upstream files, a unified diff (which
sync-tree.sh applies to build the test kernel). Every overlay file must
belong to exactly one step, so the series and the tree that make check
tests cannot drift apart: generate also compares the tree at the end of
the series with the synced build tree, file by file.

The cover letter is patches/cover-letter (first line the subject, then
the text) followed by the checkpatch reports we accept, one per line of
patches/checkpatch-explained ("<patch number> <TYPE> <reason>"); check
fails on any other error, warning or check.

The pristine tree is a git repository in $LUO_CACHE/series/linux (made
once from the base, tagged 'base'); the work trees and the check's object
directory are beside it.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import vmrun

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get('LUO_CACHE', '/var/cache/luo-rs')
BASE = os.path.join(CACHE, 'base', 'linux-7.3')
SERIES = os.path.join(CACHE, 'series')
PRISTINE = os.path.join(SERIES, 'linux')
OVERLAY_DIRS = ['kernel', 'include', 'rust', 'mm', 'lib', 'samples', 'Documentation',
                'tools/liveupdate', 'tools/testing/selftests/liveupdate/orchestration']

def sh(cmd, cwd=None, quiet=True, env=None, check=True):
    out = subprocess.run(cmd, cwd=cwd, env=env, text=True,
                         stdout=subprocess.PIPE if quiet else None,
                         stderr=subprocess.STDOUT if quiet else None)
    if check and out.returncode:
        sys.exit('series: %s failed (%d)%s' % (' '.join(cmd), out.returncode,
                                               '\n' + out.stdout[-3000:] if quiet else ''))
    return out


def log(msg):
    print('[series] ' + msg, flush=True)


def git(*args, cwd=PRISTINE, **kw):
    return sh(['git', '-c', 'advice.detachedHead=false', '-c', 'gc.auto=0'] + list(args),
              cwd=cwd, **kw)


def identity():
    """The author of the series: the repository's git identity."""
    def get(key):
        return sh(['git', 'config', key], cwd=REPO, check=False).stdout.strip()
    return get('user.name') or 'LUO-rs developers', get('user.email') or 'luo-rs@example.org'


def base_version():
    with open(os.path.join(BASE, '.luo-base-version')) as f:
        return f.read().strip()


def pristine_repo():
    """A git repository of the untouched base, created once per base version."""
    version = base_version()
    stamp = os.path.join(SERIES, 'linux.version')
    if os.path.exists(stamp) and open(stamp).read().strip() == version:
        return
    log('committing the pristine base %s to %s (once)' % (version, PRISTINE))
    shutil.rmtree(PRISTINE, ignore_errors=True)
    os.makedirs(SERIES, exist_ok=True)
    shutil.copytree(BASE, PRISTINE, symlinks=True)
    sh(['chmod', '-R', 'u+w', PRISTINE])
    os.remove(os.path.join(PRISTINE, '.luo-base-version'))
    name, email = identity()
    git('init', '-q')
    git('add', '-A', '-f')
    git('-c', 'user.name=' + name, '-c', 'user.email=' + email, 'commit', '-q', '-m',
        'Linux 7.3 (Debian linux-source-7.3 %s)' % version)
    git('tag', 'base')
    with open(stamp, 'w') as f:
        f.write(version + '\n')


def work_tree(name):
    """A clean detached work tree of the pristine repository at 'base'."""
    path = os.path.join(SERIES, name)
    if not os.path.isdir(os.path.join(path, '.git')) and not os.path.isfile(
            os.path.join(path, '.git')):
        shutil.rmtree(path, ignore_errors=True)
        git('worktree', 'prune')
        git('worktree', 'add', '-q', '--detach', path, 'base')
    git('am', '--abort', cwd=path, check=False)
    git('checkout', '-q', '-f', '--detach', 'base', cwd=path)
    git('clean', '-q', '-fdx', cwd=path)
    return path


class Step:
    def __init__(self, name):
        self.name = name
        text = open(os.path.join(REPO, 'patches', name)).read()
        head, sep, diff = text.partition('\n--- ')
        self.diff = ('--- ' + diff) if sep else ''
        self.files, self.removes, msg = [], False, []
        for line in head.split('\n'):
            if line.startswith('Series-files:'):
                self.files += line.split(':', 1)[1].split()
            elif line.startswith('Series-removes:'):
                self.removes = True
            else:
                msg.append(line)
        self.message = '\n'.join(msg).strip() + '\n'
        self.subject = self.message.split('\n', 1)[0]


def steps():
    names = []
    with open(os.path.join(REPO, 'patches', 'series')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                names.append(line)
    return [Step(n) for n in names]


def overlay_files():
    out = sh(['git', 'ls-files', '--cached', '--others', '--exclude-standard', '--']
             + OVERLAY_DIRS, cwd=REPO).stdout.split()
    return sorted(f for f in out if os.path.isfile(os.path.join(REPO, f)))


def assign(all_steps):
    """Map every overlay file to its step; every file exactly once."""
    files = overlay_files()
    owner, errors = {}, []
    for s in all_steps:
        s.paths = []
        for p in s.files:
            hit = [f for f in files if f == p or (p.endswith('/') and f.startswith(p))]
            if not hit:
                errors.append('%s: Series-files %s matches no file' % (s.name, p))
            for f in hit:
                if f in owner:
                    errors.append('%s is in both %s and %s' % (f, owner[f], s.name))
                owner[f] = s.name
                s.paths.append(f)
    errors += ['%s belongs to no step of patches/series (add it to a Series-files: line)' % f
               for f in files if f not in owner]
    if errors:
        sys.exit('series: ' + '\n series: '.join(errors))


def removed_paths():
    with open(os.path.join(REPO, 'patches', 'removed')) as f:
        return [ln.split('#', 1)[0].strip() for ln in f if ln.split('#', 1)[0].strip()]


def explained():
    """(patch number, TYPE) -> reason, from patches/checkpatch-explained."""
    out = {}
    path = os.path.join(REPO, 'patches', 'checkpatch-explained')
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line and not line.startswith('#'):
                num, kind, reason = line.split(None, 2)
                out[(int(num), kind)] = reason
    return out


def generate(out):
    pristine_repo()
    all_steps = steps()
    assign(all_steps)
    tree = work_tree('work')
    name, email = identity()
    env = dict(os.environ, GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email,
               GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email,
               GIT_AUTHOR_DATE='2026-11-26T12:00:00Z', GIT_COMMITTER_DATE='2026-11-26T12:00:00Z')
    for s in all_steps:
        if s.removes:
            git('rm', '-r', '-q', '--', *removed_paths(), cwd=tree)
        if s.diff:
            sh(['patch', '-p1', '-s', '--no-backup-if-mismatch', '-i',
                os.path.join(REPO, 'patches', s.name)], cwd=tree)
        for f in s.paths:
            dst = os.path.join(tree, f)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.join(REPO, f), dst)
        git('add', '-A', '-f', '--', *(s.paths or ['.']), cwd=tree)
        git('add', '-A', cwd=tree)
        with tempfile.NamedTemporaryFile('w', suffix='.msg') as msg:
            msg.write(s.message)
            msg.flush()
            git('commit', '-q', '-s', '-F', msg.name, cwd=tree, env=env)
    compare_with_build_tree(tree)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    git('format-patch', '-q', '--cover-letter', '--no-signature', '-o', out, 'base..HEAD',
        cwd=tree)
    write_cover_letter(out, all_steps)
    log('%d patches and a cover letter in %s' % (len(all_steps), out))


def compare_with_build_tree(tree):
    """The end of the series must be the tree make check builds."""
    src = os.environ.get('SRC_DIR', os.path.join(CACHE, 'build', 'src'))
    if not os.path.isdir(src):
        log('no build tree to compare with (run make sync): skipped')
        return
    out = sh(['diff', '-rq', '--no-dereference', '-x', '.git', '-x', '.luo-*', tree, src],
             check=False).stdout
    if out.strip():
        sys.exit('series: the series does not end in the synced build tree (run make sync):\n'
                 + out[:3000])
    log('the series ends exactly in the build tree of make check')


def write_cover_letter(out, all_steps):
    path = glob.glob(os.path.join(out, '0000-cover-letter.patch'))[0]
    text = open(path).read()
    with open(os.path.join(REPO, 'patches', 'cover-letter')) as f:
        subject, _, blurb = f.read().partition('\n')
    notes = explained()
    if notes:
        blurb = blurb.rstrip('\n') + '\n\ncheckpatch --strict reports we accept:\n'
        for (num, kind), reason in sorted(notes.items()):
            blurb += '- patch %d, %s: %s\n' % (num, kind, reason)
    text = text.replace('*** SUBJECT HERE ***', subject.strip())
    text = text.replace('*** BLURB HERE ***', blurb.strip('\n'))
    with open(path, 'w') as f:
        f.write(text)


def checkpatch(tree, patch, num, notes):
    # The distribution's python3 first: checkpatch's SPDX check needs ply and git.
    env = dict(os.environ, PATH='/usr/bin:' + os.environ.get('PATH', ''))
    out = sh(['perl', 'scripts/checkpatch.pl', '--strict', '--terse', '--show-types',
              '--no-summary', patch], cwd=tree, check=False, env=env).stdout
    bad, accepted = [], 0
    for line in out.splitlines():
        m = re.search(r': (ERROR|WARNING|CHECK):(\w+):', line)
        if not m:
            if 'Traceback' in line or 'Error' in line:
                bad.append(line)
            continue
        if (num, m.group(2)) in notes:
            accepted += 1
        else:
            bad.append(line)
    return bad, accepted


def build(tree, obj):
    """Build like make check, one series step: build-kernel.sh re-merges the
    test fragments at every step (SERIES_STEP)."""
    env = dict(os.environ, SRC_DIR=tree, OBJ_DIR=obj, SERIES_STEP='1')
    return sh([os.path.join(REPO, 'workbench', 'build-kernel.sh')], env=env, check=False)


def boot(obj, logs, num):
    init = os.path.join(CACHE, 'build', 'guest', 'init')
    run = vmrun.boot(os.path.join(obj, 'arch/x86/boot/bzImage'), init, '', [],
                     'liveupdate=orchestration', os.path.join(logs, 'series-%02d.log' % num), 120)
    text = '\n'.join(t for _, t in run.lines)
    if run.timed_out:
        return 'timeout'
    if 'LUOTEST DONE stage=1' not in text:
        return 'init did not finish'
    for bad in ('Kernel panic', 'BUG:', 'WARNING:', 'Oops'):
        if bad in text:
            return bad
    return ''


def check(out, logs):
    pristine_repo()
    patches = sorted(glob.glob(os.path.join(out, '[0-9][0-9][0-9][0-9]-*.patch')))
    patches = [p for p in patches if not p.endswith('0000-cover-letter.patch')]
    if not patches:
        sys.exit('series: no patches in %s: run make series first' % out)
    if not os.path.exists(os.path.join(CACHE, 'build', 'guest', 'init')):
        sys.exit('series: no guest init: run make guest first')
    tree = work_tree('check')
    obj = os.path.join(SERIES, 'obj')
    os.makedirs(logs, exist_ok=True)
    notes = explained()
    failed = 0
    for num, patch in enumerate(patches, 1):
        start = time.monotonic()
        status = []
        r = git('am', '-q', '--whitespace=error-all', patch, cwd=tree, check=False)
        if r.returncode:
            print('not ok %d %s: git am failed\n%s' % (num, os.path.basename(patch), r.stdout))
            return 1
        bad, accepted = checkpatch(tree, patch, num, notes)
        status.append('checkpatch %s' % ('clean' if not bad else '%d unexplained' % len(bad))
                      + (' (%d explained)' % accepted if accepted else ''))
        r = build(tree, obj)
        built = r.returncode == 0
        status.append('builds' if built else 'BUILD FAILED')
        booted = boot(obj, logs, num) if built else 'not built'
        status.append('boots' if not booted else 'BOOT FAILED: ' + booted)
        ok = not bad and built and not booted
        failed += not ok
        print('%sok %d %s: %s (%.0fs)' % ('' if ok else 'not ', num, os.path.basename(patch),
                                          ', '.join(status), time.monotonic() - start),
              flush=True)
        for line in bad:
            print('    ' + line)
        if not built:
            print('\n'.join('    ' + l for l in r.stdout.splitlines()[-30:]))
    print('series: %d of %d patches apply, build, boot and pass checkpatch'
          % (len(patches) - failed, len(patches)))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('command', choices=['generate', 'check'])
    ap.add_argument('out')
    ap.add_argument('--logs', default=os.path.join(REPO, 'out', 'logs-series'))
    args = ap.parse_args()
    if args.command == 'generate':
        generate(os.path.abspath(args.out))
        return 0
    return check(os.path.abspath(args.out), args.logs)


if __name__ == '__main__':
    sys.exit(main())
