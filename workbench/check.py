#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""check.py - the guest half of 'make check'.

Boots one VM per suite below, collects the KTAP results of every program
(see vmrun.py), prints them and a closing line 'N passed, N failed' (with
', N skipped' when some were), and exits non-zero on any failure, missing
result or timeout. Serial logs go to out/logs/<suite>.log.
"""

import argparse
import os
import sys
import time

import vmrun

# name, mode ('run': one boot; 'kexec': "PROG 1", kexec, "PROG 2"),
# extra kernel command line, programs (from the kselftest build)
SUITES = [
    ('liveupdate', 'run', 'liveupdate=on', ['liveupdate']),
    ('disabled', 'run', '', ['liveupdate_disabled']),
    ('kexec_simple', 'kexec', 'liveupdate=on', ['luo_kexec_simple']),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--guest', required=True, help='directory with init and kselftest/')
    ap.add_argument('--logs', required=True)
    ap.add_argument('--timeout', type=int, default=180)
    ap.add_argument('--only', help='run only this suite')
    args = ap.parse_args()

    init = os.path.join(args.guest, 'init')
    everything = []
    for name, mode, append, progs in SUITES:
        if args.only and name != args.only:
            continue
        paths = [os.path.join(args.guest, 'kselftest', p) for p in progs]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            everything.append(vmrun.Result(name, 'fail', 'not built: ' + ' '.join(missing)))
            continue
        plan = ''.join('%s /bin/%s\n' % (mode, p) for p in progs)
        expect = [(p, 1) for p in progs] + ([(p, 2) for p in progs] if mode == 'kexec' else [])
        log = os.path.join(args.logs, name + '.log')
        start = time.monotonic()
        run = vmrun.boot(args.kernel, init, plan, paths, append, log, args.timeout)
        results = vmrun.collect(run, name + '/', expect)
        failed = sum(r.status == 'fail' for r in results)
        print('suite %s: %s in %.1fs%s' % (name, vmrun.summary_line(results),
                                           time.monotonic() - start,
                                           '' if not failed else ', serial log: ' + log))
        vmrun.print_results(results)
        everything += results
    print(vmrun.summary_line(everything))
    sys.exit(0 if everything and not any(r.status == 'fail' for r in everything) else 1)


if __name__ == '__main__':
    main()
