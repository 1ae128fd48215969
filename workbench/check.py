#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""check.py - the guest half of 'make check'.

Boots one VM per suite below, collects the KTAP results of every program
(see vmrun.py), prints them and a closing line 'N passed, N failed' (with
', N skipped' when some were), and exits non-zero on any failure, missing
result, kernel report (WARNING, BUG, Oops, ...) or timeout. Serial logs
go to out/logs/<suite>.log.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import time

import vmrun

# name, mode ('run': one boot; 'kexec': "PROG 1", kexec, "PROG 2", the
# path 'make vmtest' uses; 'kexec3', 'kexec4', 'kexec6': three, four, six kernels; 'kunit': the KUnit
# results the kernel prints while booting), extra kernel command line,
# programs (paths relative to the guest build directory, each followed by
# its arguments: init runs "PROG <stage> ARG..." or "PROG ARG..."; in a
# kexec mode an argument {stage} takes the stage number instead, e.g.
# "PROG -s {stage}" runs "PROG -s 1", then "PROG -s 2"),
# optionally more files the programs need in /bin (not run by the plan),
# and options: {'mem': '6G'} for a VM of another size than 1G,
# {'allow': [(FILE, SOURCE TEXT)]} for a kernel warning the suite provokes
# on purpose at that statement (warning_re, check_splats)
# The kernel command lines of the two uAPIs of /dev/liveupdate: the
# orchestration uAPI our own tests speak, and Linux 7.3's session uAPI,
# which liveupdate=on keeps selecting as in 7.3.
ORCH = 'liveupdate=orchestration'
SESSIONS = 'liveupdate=on'
# Pools of one 1 GiB page and 160 2 MiB pages.
HUGE_POOLS = 'hugepagesz=1G hugepages=1 hugepagesz=2M hugepages=160'
# Upstream KHO's kho_add_subtree() WARNs once when the debugfs mirror of a
# sub-FDT cannot be allocated; the sub-FDT itself is added and handed over.
# Only suites that fail allocations on purpose may provoke it, at that line,
# and only right after a failure injected on purpose (check_splats).
KHO_DEBUGFS_ENOMEM = ('kernel/liveupdate/kexec_handover.c',
                      'WARN_ON_ONCE(kho_debugfs_blob_add(&kho_out.dbg, name,')
SUITES = [
    ('kunit', 'kunit', ORCH, []),
    ('liveupdate', 'run', ORCH, ['kselftest/liveupdate']),
    ('subsystems', 'run', ORCH, ['kselftest/luo_subsystems']),
    ('files', 'run', ORCH, ['kselftest/luo_files']),
    ('ioctl_fuzz', 'run', ORCH, ['kselftest/luo_ioctl_fuzz']),
    ('memfd', 'run', ORCH, ['kselftest/luo_memfd']),
    ('fault_inject', 'run', ORCH + ' hugepagesz=2M hugepages=4', ['kselftest/luo_fault_inject'],
     [], {'allow': [KHO_DEBUGFS_ENOMEM]}),
    ('disabled', 'run', '', ['kselftest/liveupdate_disabled']),
    # without KHO (kho=off here; in production, KHO could not reserve its
    # scratch area) neither uAPI has anything to hand over with: no LUO
    ('disabled_no_kho', 'run', ORCH + ' kho=off', ['kselftest/liveupdate_disabled']),
    ('disabled_no_kho_sessions', 'run', SESSIONS + ' kho=off', ['kselftest/liveupdate_disabled']),
    # the Rust sample as a module: rmmod during an update
    ('modules', 'run', ORCH, ['kselftest/luo_module']),
    # a 32-bit agent: every ioctl through compat_ioctl
    ('compat32', 'run', ORCH,
     ['kselftest32/liveupdate', 'kselftest32/luo_files', 'kselftest32/luo_memfd']),
    ('kexec_simple', 'kexec', ORCH, ['kselftest/luo_kexec_simple']),
    ('kexec_freeze_fail', 'kexec', ORCH, ['kselftest/luo_kexec_freeze_fail']),
    ('kexec_subsystems', 'kexec', ORCH, ['kselftest/luo_kexec_subsystems']),
    ('kexec_chain', 'kexec3', ORCH, ['kselftest/luo_kexec_chain']),
    ('kexec_files', 'kexec', ORCH, ['kselftest/luo_kexec_files']),
    ('kexec_memfd', 'kexec', ORCH, ['kselftest/luo_kexec_memfd']),
    ('kexec_memfd_chain', 'kexec6', ORCH, ['kselftest/luo_kexec_memfd_chain']),
    ('kexec_fault', 'kexec', ORCH + ' hugepagesz=2M hugepages=56', ['kselftest/luo_kexec_fault']),
    ('kexec_no_return', 'kexec', ORCH, ['kselftest/luo_kexec_no_return']),
    ('kexec_memfd_swap', 'kexec', ORCH, ['kselftest/luo_kexec_memfd_swap']),
    ('kexec_release', 'kexec', ORCH, ['kselftest/luo_kexec_release']),
    ('kexec_memfd_collapse', 'kexec', ORCH, ['kselftest/luo_kexec_memfd_collapse']),
    # a memfd of 3/5 of the memory: bigger than what the next kernel has
    # before it is restored
    ('kexec_memfd_big', 'kexec', ORCH, ['kselftest/luo_kexec_memfd_big']),
    # hugetlb memfds of 1 GiB and 2 MiB pages: a VM big enough for
    # 1 GiB pages beside what is preserved (1 GiB-aligned free blocks).
    ('kexec_hugetlb', 'kexec4', ORCH + ' ' + HUGE_POOLS, ['kselftest/luo_kexec_hugetlb'], [],
     {'mem': '8G'}),
    # the session uAPI, beyond upstream's own selftests
    ('sessions', 'run', SESSIONS, ['kselftest/luo_sessions']),
    ('kexec_sessions', 'kexec', SESSIONS + ' hugepagesz=2M hugepages=8',
     ['kselftest/luo_kexec_sessions']),
    ('kexec_sessions_freeze_fail', 'kexec3', SESSIONS,
     ['kselftest/luo_kexec_sessions_freeze_fail']),
] + [
    ('kexec_damaged_%d' % kind, 'kexec', ORCH,
     ['kselftest/luo_kexec_damaged %d' % kind]) for kind in range(1, 7)
] + [
    # Upstream 7.3's own selftests of the session uAPI, built unmodified
    # from tools/testing/selftests/liveupdate/ (build-guest.sh); the kexec
    # ones take their stage as "-s N".
    ('upstream_liveupdate', 'run', SESSIONS, ['upstream/liveupdate']),
    ('upstream_kexec_simple', 'kexec', SESSIONS,
     ['upstream/luo_kexec_simple -s {stage}']),
    ('upstream_multi_session', 'kexec', SESSIONS,
     ['upstream/luo_multi_session -s {stage}']),
    ('upstream_stress_files', 'kexec', SESSIONS,
     ['upstream/luo_stress_files -s {stage}']),
    ('upstream_stress_sessions', 'kexec', SESSIONS,
     ['upstream/luo_stress_sessions -s {stage}']),
    ('vmtest_agent_holds_device', 'kexec', ORCH, ['examples/agent_holds_device']),
    ('vmtest_agent_reboots_itself', 'kexec', ORCH, ['examples/agent_reboots_itself']),
    # luoctl and the demo of 'make demo', with a small workload (16 MiB, 1 s)
    ('demo', 'kexec', ORCH, ['demo/demo 16 1'], ['demo/workload', 'luoctl']),
]


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rustfmt_check(base):
    """Host check: our Rust files are formatted with the kernel's rustfmt config."""
    files = sorted(glob.glob(os.path.join(REPO, 'kernel/**/*.rs'), recursive=True) +
                   glob.glob(os.path.join(REPO, 'rust/**/*.rs'), recursive=True) +
                   glob.glob(os.path.join(REPO, 'mm/**/*.rs'), recursive=True) +
                   glob.glob(os.path.join(REPO, 'samples/**/*.rs'), recursive=True))
    cmd = ['/usr/bin/rustfmt', '--check', '--edition', '2021',
           '--config-path', os.path.join(base, '.rustfmt.toml')] + files
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.stdout.write(p.stdout + p.stderr)
        return vmrun.Result('host/rustfmt', 'fail', 'run make rustfmt')
    return vmrun.Result('host/rustfmt (%d files)' % len(files), 'pass')


ATTACH_RE = re.compile(r'^# ATTACH (\S+) ([0-9a-f]+)$')

# Kernel reports that fail a suite, in both lanes (the debug lane's
# sanitizers add their own); kmemleak reports one line per object.
SPLAT_RE = re.compile(r'BUG: KASAN|WARNING:|BUG:|Oops:|Kernel panic|'
                      r'sleeping function called from invalid context|'
                      r'possible circular locking|possible recursive locking|'
                      r'inconsistent lock state|KMEMLEAK unreferenced object|KMEMLEAK cannot')


def warning_re(kernel, allowed):
    """The WARNING line of an allowed (file, source text) report in the
    source tree KERNEL (.../arch/x86/boot/bzImage) was built from; none if
    the text is not found, so the report fails the suite again."""
    path, text = allowed
    source = os.path.join(os.path.dirname(kernel), '../../../source', path)
    try:
        with open(source) as f:
            lines = f.read().split('\n')
    except OSError:
        return r'(?!)'
    for first, line in enumerate(lines):
        if text in line:
            # gcc names the statement's first line, clang may name a later one.
            last = first
            while last < len(lines) - 1 and not lines[last].rstrip().endswith(';'):
                last += 1
            numbers = '|'.join(str(n + 1) for n in range(first, last + 1))
            return r'WARNING: %s:(%s) ' % (re.escape(path), numbers)
    return r'(?!)'


INJECTED_RE = re.compile(r'FAULT_INJECTION: forcing a failure')


def check_splats(run, suite, allow=()):
    """One result per suite, failed by any kernel report but those allowed,
    which are allowed only within a few lines of an injected failure."""
    found, injected = [], -10
    for i, (_, text) in enumerate(run.lines):
        if INJECTED_RE.search(text):
            injected = i
        elif SPLAT_RE.search(text) and not (
                i - injected <= 5 and any(re.search(a, text) for a in allow)):
            found.append(text.strip())
    if found:
        return [vmrun.Result('%s/splats' % suite, 'fail',
                             '%d report(s), first: %s' % (len(found), found[0][:160]))]
    return [vmrun.Result('%s/splats' % suite, 'pass')]


def check_attachments(run, suite, logs):
    """Files a guest program printed as '# ATTACH <name> <hex>' lines are
    saved beside the serial log; a '.dtb' must decode with dtc."""
    files = {}
    for _, text in run.lines:
        m = ATTACH_RE.match(text.strip())
        if m:
            files.setdefault(m.group(1), bytearray()).extend(bytes.fromhex(m.group(2)))
    results = []
    for name, data in sorted(files.items()):
        path = os.path.join(logs, '%s-%s' % (suite, name))
        with open(path, 'wb') as f:
            f.write(data)
        if name.endswith('.dtb'):
            p = subprocess.run(['dtc', '-I', 'dtb', '-O', 'dts', path], capture_output=True,
                               text=True)
            ok = p.returncode == 0 and 'compatible = "luo-v1"' in p.stdout
            with open(path[:-4] + '.dts', 'w') as f:
                f.write(p.stdout + p.stderr)
            results.append(vmrun.Result('%s/host: dtc decodes %s' % (suite, name),
                                        'pass' if ok else 'fail', '' if ok else p.stderr.strip()))
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--guest', required=True, help='directory with init and kselftest/')
    ap.add_argument('--logs', required=True)
    ap.add_argument('--timeout', type=int, default=180,
                    help='seconds per kernel a suite boots')
    ap.add_argument('--only', help='run only these suites (comma-separated names)')
    ap.add_argument('--base', help='pristine kernel tree, for host checks')
    ap.add_argument('--append', default='', help='more kernel command line for every suite')
    ap.add_argument('--debug', action='store_true',
                    help='debug lane: scan for kmemleak reports last, fail on any kernel report')
    args = ap.parse_args()

    init = os.path.join(args.guest, 'init')
    everything = []
    if args.base and not args.only:
        everything.append(rustfmt_check(args.base))
        vmrun.print_results(everything)
    only = set(args.only.split(',')) if args.only else set()
    unknown = only - {s[0] for s in SUITES}
    if unknown:
        sys.exit('check.py: no suite named %s' % ', '.join(sorted(unknown)))
    for name, mode, append, progs, *extra in SUITES:
        if only and name not in only:
            continue
        cmds = [p.split() for p in progs]
        paths = [os.path.join(args.guest, c[0]) for c in cmds]
        files = [os.path.join(args.guest, p) for p in (extra[0] if extra else [])]
        opts = extra[1] if len(extra) > 1 else {}
        missing = [p for p in paths + files if not os.path.exists(p)]
        if missing:
            everything.append(vmrun.Result(name, 'fail', 'not built: ' + ' '.join(missing)))
            continue
        names = [os.path.basename(c[0]) for c in cmds]
        stages = {'kexec': 2, 'kexec3': 3, 'kexec4': 4, 'kexec6': 6}.get(mode, 1)
        if stages > 1:
            plan = ''.join('kexec /bin/%s\n' % ' '.join([n, str(stages)] + c[1:])
                           for n, c in zip(names, cmds))
        else:
            plan = ''.join('run /bin/%s\n' % ' '.join([n] + c[1:]) for n, c in zip(names, cmds))
        expect = [(p, s) for p in names for s in range(1, stages + 1)]
        if args.debug:
            plan += 'last /bin/kmemleak_scan\n'
            paths.append(os.path.join(args.guest, 'kmemleak_scan'))
        log = os.path.join(args.logs, name + '.log')
        start = time.monotonic()
        # The timeout is per kernel: a chain boots several.
        run = vmrun.boot(args.kernel, init, plan, paths + files,
                         (append + ' ' + args.append).strip(),
                         log, args.timeout * stages, mem=opts.get('mem', '1G'))
        if mode == 'kunit':
            results = vmrun.collect_kunit(run, name + '/')
        else:
            results = vmrun.collect(run, name + '/', expect)
        results += check_attachments(run, name, args.logs)
        results += check_splats(run, name, [warning_re(args.kernel, a) for a in opts.get('allow', ())])
        vmrun.print_suite(name, results, time.monotonic() - start, log)
        everything += results
    vmrun.exit_with(everything)


if __name__ == '__main__':
    main()
