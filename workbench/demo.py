#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""demo.py - 'make demo': a live update of a running workload, end to end.

Boots the VM with our kernel (liveupdate=orchestration) and runs workbench/demo/demo.c
in two kernels: a workload keeps a counter and SIZE MiB of checksummed data
in a memfd; luoctl (tools/liveupdate) preserves the memfd, prepares, and
kexecs into the same kernel image; in the new kernel luoctl restores the
memfd and hands it over a unix socket to a new workload instance, which
continues counting with its data verified intact; luoctl finishes.

Streams what happens, each line with the host time (seconds since QEMU
started; the host clock is the only one that spans the kexec), then the
state transitions and the blackout: from the workload's last line in the
old kernel to its first line in the new one. Exits non-zero if any check
of the guest driver failed. The full serial log is kept (--log).
"""

import argparse
import os
import re
import sys

import vmrun

WORKLOAD_RE = re.compile(r'^workload\[\d+\]: (\S+)(?: counter=(\d+) digest=(\S+))?')
WATCH_RE = re.compile(r'luoctl watch: state (.*)$')
KERNEL_KEEP_RE = re.compile(r'liveupdate:|LUO|memfd_luo|kexec|KHO|Run /init')
KUNIT_RE = re.compile(r'^\[\s*\d+\.\d+\] (\s*# Subtest|\s*(not )?ok \d|# \w+: pass)')

USE_COLOR = sys.stdout.isatty()


def color(code, text):
    return '\033[%sm%s\033[0m' % (code, text) if USE_COLOR else text


class Stream:
    """Prints the serial console readably and records the key moments."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.kernel = 1
        self.events = []          # (host time, kernel, text)
        self.last_old = None      # last workload line in kernel 1
        self.first_new = None     # first workload line in kernel 2
        self.paused = None
        self.resumed = None
        self.verified = None
        self.done = None
        self.kexec_at = None
        self.new_kernel_at = None
        self.init_at = None
        self.transitions = []

    def show(self, t, text, style=None):
        tag = 'kernel %d' % self.kernel
        line = '[%8.3f] %-8s | %s' % (t, tag, text)
        print(color(style, line) if style else line, flush=True)

    def __call__(self, t, text):
        if vmrun.PRINTK_RE.match(text):
            if (self.kexec_at is not None and self.new_kernel_at is None and
                    text.startswith('[    0.000000]')):
                self.new_kernel_at = t
                self.kernel = 2
                self.show(t, '--- the new kernel prints its first line ---', '1;35')
            if self.verbose or (KERNEL_KEEP_RE.search(text) and not KUNIT_RE.match(text)):
                self.show(t, text, '2')
            return
        m = vmrun.BOOT_RE.search(text)
        if m:
            self.kernel = int(m.group(1))
            if self.kernel == 2:
                self.init_at = t
            self.show(t, '=== kernel %d: init runs ===' % self.kernel, '1;35')
            return
        if text.startswith('LUOTEST'):
            if self.verbose or 'LOADED' in text:
                self.show(t, text, '2')
            return
        m = WORKLOAD_RE.match(text)
        if m:
            what = m.group(1)
            if self.kernel == 1:
                self.last_old = t
            elif self.first_new is None:
                self.first_new = t
            if what == 'paused':
                self.paused = (t, int(m.group(2)), m.group(3))
            elif what == 'resumed':
                self.resumed = (t, int(m.group(2)), m.group(3))
            elif what == 'done':
                self.done = (t, int(m.group(2)))
            elif what == 'all':
                self.verified = (t, text.split(': ', 1)[1])
            self.show(t, text, '36')
            return
        m = WATCH_RE.search(text)
        if m:
            self.transitions.append((t, m.group(1)))
            self.show(t, 'STATE %s' % m.group(1), '1;33')
            return
        if 'kexec: rebooting' in text:
            self.kexec_at = t
            self.show(t, text, '1;31')
            return
        if re.match(r'^not ok ', text):
            self.show(t, 'FAIL ' + text, '1;31')
            return
        if re.match(r'^ok ', text):
            self.show(t, 'check: ' + text, '32')
            return
        if text.startswith('TAP version') or re.match(r'^1\.\.\d+$', text):
            return
        if text.startswith('demo: '):
            self.show(t, text, '1')
            return
        self.show(t, text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--guest', required=True, help='guest build directory')
    ap.add_argument('--size', type=int, default=256, help='workload data, MiB')
    ap.add_argument('--run', type=int, default=3,
                    help='seconds the workload runs in the new kernel')
    ap.add_argument('--mem', default='1G')
    ap.add_argument('--log', default='out/logs/demo.log')
    ap.add_argument('--timeout', type=int, default=300)
    ap.add_argument('--verbose', action='store_true', help='show every kernel message')
    args = ap.parse_args()

    progs = [os.path.join(args.guest, p) for p in ('demo/demo', 'demo/workload', 'luoctl')]
    missing = [p for p in progs if not os.path.exists(p)]
    if missing:
        sys.exit('demo: not built: %s (make guest)' % ' '.join(missing))
    # The test kernel has KUnit suites built in; they would run at every boot
    # and count as blackout.
    append = 'liveupdate=orchestration kunit.enable=0'
    plan = 'kexec /bin/demo 2 %d %d\n' % (args.size, args.run)
    print('demo: booting %s with "%s", a %d MiB workload; serial log %s'
          % (args.kernel, append, args.size, args.log), flush=True)
    stream = Stream(args.verbose)
    run = vmrun.boot(args.kernel, os.path.join(args.guest, 'init'), plan,
                     progs, append, args.log, args.timeout, mem=args.mem, on_line=stream)
    results = vmrun.collect(run, 'demo/', [('demo', 1), ('demo', 2)])

    s = stream
    print()
    print(color('1', 'state transitions (luoctl watch, host time):'))
    for t, what in s.transitions:
        print('  [%8.3f] %s' % (t, what))
    if s.paused and s.resumed:
        same = s.paused[1] == s.resumed[1] and s.paused[2] == s.resumed[2]
        print(color('1', 'workload:') + ' paused at counter %d (digest %s), resumed at %d (%s): %s'
              % (s.paused[1], s.paused[2], s.resumed[1], s.resumed[2],
                 'continues' if same else 'MISMATCH'))
    if s.verified:
        print('  %s' % s.verified[1])
    if s.done:
        print('  counted on to %d in the new kernel' % s.done[1])
    if s.last_old is not None and s.first_new is not None:
        print(color('1;32', 'blackout: %.3f s' % (s.first_new - s.last_old)) +
              ' (last workload line in the old kernel -> first one in the new kernel)')
        steps = [('pause -> kexec issued', s.last_old, s.kexec_at),
                 ('kexec -> first line of the new kernel', s.kexec_at, s.new_kernel_at),
                 ('new kernel boot -> init', s.new_kernel_at, s.init_at),
                 ('init -> workload has its memfd back', s.init_at, s.first_new)]
        for what, a, b in steps:
            if a is not None and b is not None:
                print('  %-40s %7.3f s' % (what, b - a))
    else:
        print(color('1;31', 'blackout: not measured (the workload did not run in both kernels)'))
    print('QEMU TCG times, measured on the host: compare them, do not quote them as hardware.')
    failed = [r for r in results if r.status == 'fail']
    for r in failed:
        print(color('1;31', 'FAIL %s%s' % (r.name, ' (%s)' % r.detail if r.detail else '')))
    print('demo: %s; serial log %s' % (vmrun.summary_line(results), args.log))
    sys.exit(1 if failed or not results else 0)


if __name__ == '__main__':
    main()
