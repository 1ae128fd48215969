#!/usr/bin/env python3
"""bench.py - memfd live update benchmark (make bench).

Boots the VM once per case and run, preserves one memfd, kexecs into the
same kernel and restores it (workbench/bench/luo_bench.c), and prints the
medians as a table; out/bench/memfd.csv keeps every run.

Times inside one kernel come from the guest's CLOCK_MONOTONIC; anything
that spans the kexec comes from the host's timestamps of serial lines
(the next kernel's clock starts again). The blackout runs from the line
just before the kexec to the line that says the memfd is restored and
every byte verified. This is a benchmark, not a test: nothing here is
asserted, apart from the bytes having come back.
"""

import argparse
import csv
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmrun  # noqa: E402

CASES = ['dense64', 'dense256', 'dense1024', 'sparse256']
KV_RE = re.compile(r'(\w+)=(\S+)')
FROZEN_RE = re.compile(r'liveupdate: frozen in (\d+) us')
STATS_RE = re.compile(r'BENCH memfd_luo files (\d+) pages (\d+) runs (\d+) chunks (\d+) '
                      r'metadata_bytes (\d+)')


def one_run(args, case, index):
    log = os.path.join(args.out, '%s-%d.log' % (case, index))
    run = vmrun.boot(args.kernel, args.init, 'kexec /bin/luo_bench 2\n', [args.prog],
                     'liveupdate=on luobench.case=' + case, log, args.timeout, mem=args.mem)
    row = {'case': case, 'run': index}
    t_kexec = t_verified = t_next = None
    for t, text in run.lines:
        body = text.strip()
        if body.startswith('BENCH error'):
            raise SystemExit('%s run %d: %s (see %s)' % (case, index, body, log))
        m = FROZEN_RE.search(body)
        if m:
            row['freeze_us'] = int(m.group(1))
        m = STATS_RE.search(body)
        if m:
            row['pages'], row['runs'], row['metadata_bytes'] = (int(m.group(i)) for i in (2, 3, 5))
        if body.startswith('BENCH kexec'):
            t_kexec = t
        elif t_kexec is not None and t_next is None and 'Linux version' in body:
            t_next = t
        elif body.startswith('BENCH verified'):
            t_verified = t
        elif body.startswith('BENCH '):
            for k, v in KV_RE.findall(body):
                row[k] = int(v) if v.isdigit() else v
    if None in (t_kexec, t_verified, t_next) or run.timed_out:
        raise SystemExit('%s run %d did not complete (see %s)' % (case, index, log))
    row['kexec_to_next_kernel_ms'] = round((t_next - t_kexec) * 1000, 1)
    row['blackout_ms'] = round((t_verified - t_kexec) * 1000, 1)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--init', required=True)
    ap.add_argument('--prog', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--mem', default='3G')
    ap.add_argument('--timeout', type=int, default=300)
    ap.add_argument('--cases', default=','.join(CASES))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    rows = []
    for case in args.cases.split(','):
        for i in range(args.runs):
            row = one_run(args, case, i)
            print('%s run %d: blackout %.0f ms' % (case, i, row['blackout_ms']), flush=True)
            rows.append(row)

    fields = ['case', 'run', 'size', 'pages_written', 'preserve_us', 'prepare_us', 'freeze_us',
              'kexec_to_next_kernel_ms', 'restore_us', 'verify_us', 'finish_us', 'blackout_ms',
              'pages', 'runs', 'metadata_bytes', 'pages_restored']
    path = os.path.join(args.out, 'memfd.csv')
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction='ignore')
        w.writeheader()
        w.writerows(rows)

    def med(case, key):
        return statistics.median(r[key] for r in rows if r['case'] == case)

    print('\nmemfd live update, medians of %d runs (QEMU TCG, -m %s; emulator times)'
          % (args.runs, args.mem))
    head = ('case', 'preserve+prepare ms', 'freeze ms', 'restore ms', 'metadata B/GiB',
            'blackout ms', 'pages kept')
    print('%-10s %20s %10s %11s %15s %12s %11s' % head)
    for case in args.cases.split(','):
        size = med(case, 'size')
        print('%-10s %20.1f %10.2f %11.1f %15.0f %12.0f %11d' % (
            case,
            (med(case, 'preserve_us') + med(case, 'prepare_us')) / 1000,
            med(case, 'freeze_us') / 1000,
            med(case, 'restore_us') / 1000,
            med(case, 'metadata_bytes') * (1 << 30) / size,
            med(case, 'blackout_ms'),
            med(case, 'pages_restored')))
    print('every run: ' + path)


if __name__ == '__main__':
    main()
