#!/usr/bin/env python3
"""bench.py - memfd live update benchmarks: make bench and make bench-compare.

Each run boots a VM, preserves memfds, kexecs into the same kernel and
restores them (workbench/bench/bench_common.h). `--side NAME=KERNEL,PROG[,APPEND]`
names a kernel, its client and its kernel command line (default
`liveupdate=on`); with several sides (ours, ours through the session uAPI,
upstream), the runs alternate between them and the table gets the ratios
of the last side (upstream) to each of the others.

Times inside one kernel come from the guest's CLOCK_MONOTONIC. Anything
that spans the kexec comes from the host's timestamps of serial lines, since
the next kernel's clock starts again: kexec (the "BENCH kexec" line to the
next kernel's "Linux version" line), boot (that line to init's first line),
blackout (the "BENCH kexec" line to "BENCH verified", the files restored and
every byte checked). Our test kernel carries KUnit suites, which are kept
from running at boot (kunit.enable=0) so that both kernels boot alike.
Nothing here is asserted apart from the bytes having come back: this is a
benchmark, not a test.

Writes every run to OUT/runs.csv, the medians to OUT/summary.csv and, with
matplotlib, a chart to OUT/compare.png.
"""

import argparse
import csv
import os
import platform
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmrun  # noqa: E402

CASES = ['dense64', 'dense256', 'dense1024', 'dense4096', 'sparse256', 'many1000',
         'huge2m1024', 'huge1g1024']
# The dense cases, one fully written memfd each, by size in GiB: the points
# the per-GiB slopes are fitted to.
DENSE_GIB = {'dense64': 1 / 16, 'dense256': 1 / 4, 'dense1024': 1, 'dense4096': 4}
# The hugetlb cases: 1 GiB on 2 MiB or 1 GiB pages, in a pool the command
# line sets aside (both kernels get it; the next one's may fail to find a
# free 1 GiB block for its gigantic page, which costs nothing here), and
# a VM with 1 GiB-aligned blocks to hold it. In a 4 GiB VM, KHO could not
# reserve its scratch area beside a 1 GiB page about one boot in three
# (where physical KASLR put the kernel decides), which turns KHO, and so
# LUO, off.
CASE_APPEND = {'huge2m1024': 'hugepagesz=2M hugepages=512',
               'huge1g1024': 'hugepagesz=1G hugepages=1'}
# The dense cases all run in the VM that holds the largest, so that their
# slopes are the cost of the memory preserved, not of the memory booted.
CASE_MEM = {'huge2m1024': '4G', 'huge1g1024': '8G', 'dense64': '8G', 'dense256': '8G',
            'dense1024': '8G', 'dense4096': '8G'}
# A kernel line can land in the middle of a guest's line on the serial
# console, and starts with '['.
KV_RE = re.compile(r'(\w+)=([^\s\[]+)')
FROZEN_RE = re.compile(r'liveupdate: frozen in (\d+) us')
RECEIVED_RE = re.compile(r'liveupdate: hand-over received in (\d+) us')

# (column, title, unit divisor): what the tables show, in this order.
PHASES = [
    ('serialize_ms', 'preserve+prep', 1),
    ('preserve_ms', '  preserve', 1),
    ('prepare_ms', '  prepare', 1),
    ('freeze_ms', 'freeze', 1),
    ('kexec_ms', 'kexec->next', 1),
    ('boot_ms', 'boot->init', 1),
    ('restore_ms', 'restore', 1),
    ('verify_ms', 'verify', 1),
    ('finish_ms', 'finish', 1),
    ('blackout_ms', 'blackout', 1),
    ('metadata_bytes', 'metadata B', 1),
    ('memory_used_mib', 'mem used MiB', 1),
]


def one_run(side, kernel, prog, cmdline, case, index, args):
    log = os.path.join(args.out, '%s-%s-%d.log' % (side, case, index))
    plan = 'kexec /bin/%s 2 %s\n' % (os.path.basename(prog), case)
    append = ' '.join([cmdline, 'kunit.enable=0', CASE_APPEND.get(case, '')]).strip()
    run = vmrun.boot(kernel, args.init, plan, [prog], append, log, args.timeout,
                     mem=CASE_MEM.get(case, args.mem))
    row = {'side': side, 'case': case, 'run': index}
    t = {}
    for ts, text in run.lines:
        body = text.strip()
        if body.startswith('BENCH unable'):
            # This LUO cannot preserve such a file (upstream: hugetlb).
            row['unable'] = 1
            return row
        if body.startswith('BENCH error'):
            raise SystemExit('%s %s run %d: %s (see %s)' % (side, case, index, body, log))
        for regex, key in ((FROZEN_RE, 'freeze_us'), (RECEIVED_RE, 'received_us')):
            m = regex.search(body)
            if m:
                row[key] = int(m.group(1))
        if body.startswith('BENCH kexec'):
            t['kexec'] = ts
        elif 'kexec' in t and 'next' not in t and 'Linux version' in body:
            t['next'] = ts
        elif 'next' in t and 'init' not in t and 'LUOTEST BOOT' in body:
            t['init'] = ts
        elif body.startswith('BENCH verified'):
            t['verified'] = ts
        elif body.startswith('BENCH '):
            for k, v in KV_RE.findall(body):
                # The client's side= names its driver, not the --side: two
                # sides may run one client (ours, built at two commits).
                if k not in ('side', 'case'):
                    row[k] = int(v) if v.lstrip('-').isdigit() else v
    if len(t) < 4 or run.timed_out:
        raise SystemExit('%s %s run %d did not complete (see %s)' % (side, case, index, log))
    for key in ('preserve', 'prepare', 'freeze', 'restore', 'verify', 'finish'):
        if key + '_us' in row:
            row[key + '_ms'] = row[key + '_us'] / 1000
    row['serialize_ms'] = row.get('preserve_ms', 0) + row.get('prepare_ms', 0)
    row['kexec_ms'] = (t['next'] - t['kexec']) * 1000
    row['boot_ms'] = (t['init'] - t['next']) * 1000
    row['blackout_ms'] = (t['verified'] - t['kexec']) * 1000
    row['memory_used_mib'] = row.get('memory_used_kib', 0) / 1024
    return row


def median(rows, side, case, key):
    values = [r[key] for r in rows if r['side'] == side and r['case'] == case and key in r]
    return statistics.median(values) if values else None


def fmt(v):
    if v is None:
        return '-'
    return '%.0f' % v if abs(v) >= 100 else '%.1f' % v if abs(v) >= 1 else '%.2f' % v


def ratios(values):
    """The last side's value over each other side's (None where unknown)."""
    ref = values[-1]
    return [ref / v if None not in (ref, v) and v > 0 else None for v in values[:-1]]


def print_tables(rows, sides, cases, out):
    summary = []
    names = ['%s/%s' % (sides[-1], s) for s in sides[:-1]]
    for case in cases:
        print('\n%s' % case)
        head = '  %-14s' % 'phase' + ''.join('%12s' % s for s in sides)
        head += ''.join('%18s' % n for n in names)
        print(head)
        for key, title, _ in PHASES:
            values = [median(rows, s, case, key) for s in sides]
            if all(v is None for v in values):
                continue
            line = '  %-14s' % title + ''.join('%12s' % fmt(v) for v in values)
            rs = ratios(values)
            line += ''.join('%17.2fx' % r if r is not None else '%18s' % '' for r in rs)
            print(line)
            summary.append({'case': case, 'phase': key,
                            **{s: v for s, v in zip(sides, values)},
                            **{n: r for n, r in zip(names, rs)}})
    with open(os.path.join(out, 'summary.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=['case', 'phase'] + sides + names)
        w.writeheader()
        w.writerows(summary)
    return summary


def markdown(rows, sides, cases, path, header):
    """The README's table: the main phases of every case, as Markdown."""
    keys = [('serialize_ms', 'preserve + prepare, ms'), ('restore_ms', 'restore, ms'),
            ('kexec_ms', 'kexec to next kernel, ms'), ('blackout_ms', 'blackout, ms'),
            ('metadata_bytes', 'metadata, bytes'), ('memory_used_mib', 'memory used, MiB')]
    lines = [header, '',
             '| case | ' + ' | '.join(title for _, title in keys) + ' |',
             '|---|' + '---|' * len(keys)]
    for case in cases:
        cells = []
        unable = [any(r['side'] == s and r['case'] == case and 'unable' in r for r in rows)
                  for s in sides]
        for key, _ in keys:
            v = [median(rows, s, case, key) for s in sides]
            cell = ' / '.join('unable' if u else fmt(x) for x, u in zip(v, unable))
            rs = ratios(v)
            if rs and None not in rs:
                cell += ' (%s)' % ', '.join('%.2fx' % r for r in rs)
            cells.append(cell)
        lines.append('| %s | %s |' % (case, ' | '.join(cells)))
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('markdown table: ' + path)


# (title, value of a run or None): the quantities fitted against file size.
SLOPES = [
    ('preserve+prepare', lambda r: r.get('serialize_ms')),
    ('restore', lambda r: r.get('restore_ms')),
    ('kexec+boot', lambda r: r['kexec_ms'] + r['boot_ms'] if 'boot_ms' in r else None),
    ('LUO in blackout', lambda r: r['freeze_ms'] + r['received_us'] / 1000 + r['restore_ms']
     if {'freeze_ms', 'received_us', 'restore_ms'} <= r.keys() else None),
    # The blackout as a VM would see it: without the benchmark reading
    # every byte back.
    ('blackout-verify', lambda r: r['blackout_ms'] - r['verify_ms']
     if {'blackout_ms', 'verify_ms'} <= r.keys() else None),
]


def fit(points):
    """Least squares line through (GiB, ms) points: (ms per GiB, ms at 0)."""
    xs = [x for x, _ in points]
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(y for _, y in points)
    slope = (sum((x - mx) * (y - my) for x, y in points)
             / sum((x - mx) ** 2 for x in xs))
    return slope, my - slope * mx


def dense_points(rows, side, value):
    return [(DENSE_GIB[r['case']], value(r)) for r in rows
            if r['side'] == side and r['case'] in DENSE_GIB and value(r) is not None]


def slopes(rows, sides, out):
    """How each phase grows with the preserved memory: a line fitted to
    every run of the dense cases, per side, and the ratio of the last
    side's slope to each other side's; over all of them (64 MiB to 4 GiB)
    and without the largest, since a cost that grows faster than linearly
    shows as the difference. "LUO in blackout" is what LUO itself adds to
    the blackout: freeze, reading the hand-over at boot and restore (only
    kernels that report the first two have it)."""
    names = ['%s/%s' % (sides[-1], s) for s in sides[:-1]]
    md = []
    for top in sorted({g for g in DENSE_GIB.values()}, reverse=True)[:2]:
        sub = [r for r in rows if DENSE_GIB.get(r['case'], 0) <= top]
        sizes = sorted({DENSE_GIB[r['case']] for r in sub if r['case'] in DENSE_GIB})
        if len(sizes) < 2:
            continue
        span = '%s GiB' % ', '.join('%g' % g for g in sizes)
        print('\nslopes over the dense cases (%s): ms per GiB [ms at 0 GiB]' % span)
        print('  %-17s' % 'phase' + ''.join('%19s' % s for s in sides)
              + ''.join('%19s' % n for n in names))
        md += ['', 'Over %s:' % span, '',
               '| ms per GiB | %s |' % ' | '.join(sides + names),
               '|---|%s' % ('---|' * (len(sides) + len(names)))]
        for title, value in SLOPES:
            lines = [fit(dense_points(sub, s, value)) for s in sides]
            if all(line is None for line in lines):
                continue
            rs = ratios([line[0] if line else None for line in lines])
            print('  %-17s' % title + ''.join(
                '%19s' % ('%s [%s]' % (fmt(line[0]), fmt(line[1])) if line else '-')
                for line in lines) + ''.join('%18.2fx' % r if r else '%19s' % '-' for r in rs))
            md.append('| %s | %s |' % (title, ' | '.join(
                [fmt(line[0]) if line else '-' for line in lines]
                + ['%.2fx' % r if r else '-' for r in rs])))
    with open(os.path.join(out, 'slopes.md'), 'w') as f:
        f.write('\n'.join(md[1:]) + '\n')
    print('slopes table: ' + os.path.join(out, 'slopes.md'))


def breakdown(rows, side):
    """Where the blackout of each case goes, on one side."""
    print('\nblackout breakdown (%s, ms): freeze is inside kexec->next' % side)
    print('  %-10s %9s %9s %12s %11s %9s %9s %9s %10s' % (
        'case', 'freeze', 'kexec', 'boot->init', 'init->prog', 'restore', 'verify',
        'blackout', 'LUO share'))
    for case in sorted({r['case'] for r in rows if r['side'] == side}, key=CASES.index):
        m = {k: median(rows, side, case, k) for k in
             ('freeze_ms', 'kexec_ms', 'boot_ms', 'restore_ms', 'verify_ms', 'blackout_ms',
              'received_us')}
        if None in (m['kexec_ms'], m['boot_ms'], m['restore_ms'], m['verify_ms']):
            continue
        rest = m['blackout_ms'] - m['kexec_ms'] - m['boot_ms'] - m['restore_ms'] - m['verify_ms']
        own = (m['freeze_ms'] or 0) + (m['received_us'] or 0) / 1000
        share = 100 * own / (m['kexec_ms'] + m['boot_ms'])
        print('  %-10s %9s %9s %12s %11s %9s %9s %9s %9.2f%%' % (
            case, fmt(m['freeze_ms']), fmt(m['kexec_ms']), fmt(m['boot_ms']), fmt(rest),
            fmt(m['restore_ms']), fmt(m['verify_ms']), fmt(m['blackout_ms']), share))
    print('  (LUO share: freeze + reading the hand-over at boot, over kexec-to-init)')


def chart(summary, rows, sides, cases, path):
    """Top row: every case's medians, side by side. Bottom row: the dense
    cases' runs against file size, with the fitted lines."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('no matplotlib: chart skipped (make setup-bench installs it)')
        return
    phases = [('serialize_ms', 'preserve + prepare'), ('restore_ms', 'restore'),
              ('kexec_ms', 'kexec->next kernel'), ('blackout_ms', 'blackout')]
    fig, axes = plt.subplots(2, len(phases), figsize=(4 * len(phases), 8))
    for ax, (key, title) in zip(axes[0], phases):
        width = 0.8 / len(sides)
        for i, s in enumerate(sides):
            ys = [next((r[s] for r in summary if r['case'] == c and r['phase'] == key), 0) or 0
                  for c in cases]
            ax.bar([x + i * width for x in range(len(cases))], ys, width, label=s)
        ax.set_title(title + ' (ms, median)')
        ax.set_xticks([x + width * (len(sides) - 1) / 2 for x in range(len(cases))])
        ax.set_xticklabels(cases, rotation=45, ha='right', fontsize=8)
        ax.set_yscale('log')
    axes[0][0].legend()
    lines = [SLOPES[0], SLOPES[1], SLOPES[2], SLOPES[4]]
    for ax, (title, value) in zip(axes[1], lines):
        for i, s in enumerate(sides):
            points = dense_points(rows, s, value)
            line = fit(points)
            if not line:
                continue
            color = 'C%d' % i
            ax.scatter([x for x, _ in points], [y for _, y in points], s=10, color=color)
            top = max(x for x, _ in points)
            ax.plot([0, top], [line[1], line[1] + line[0] * top], color=color,
                    label='%s: %s ms/GiB' % (s, fmt(line[0])))
        ax.set_title(title + ' (ms) vs GiB preserved', fontsize=10)
        ax.set_xlabel('GiB in one memfd of 4 KiB pages')
        ax.legend(fontsize=8)
    fig.suptitle('memfd live update, %s (QEMU TCG; emulator times)' % ' vs '.join(sides))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print('chart: ' + path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--side', action='append', required=True,
                    help='NAME=KERNEL,PROG[,APPEND] (several to compare; the last is '
                    'upstream, the reference of the ratios)')
    ap.add_argument('--init', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--mem', default='3G')
    ap.add_argument('--timeout', type=int, default=300)
    ap.add_argument('--cases', default=','.join(CASES))
    ap.add_argument('--from-csv', help='print the tables of an earlier runs.csv, run nothing')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sides = []
    for spec in args.side:
        name, paths = spec.split('=', 1)
        kernel, prog, cmdline = (paths.split(',', 2) + ['liveupdate=on'])[:3]
        sides.append((name, kernel, prog, cmdline))
    cases = args.cases.split(',')

    rows = []
    if args.from_csv:
        with open(args.from_csv) as f:
            for r in csv.DictReader(f):
                rows.append({k: (v if k in ('side', 'case') else float(v.rstrip('[')))
                             for k, v in r.items() if v != ''})
        args.runs = len({r['run'] for r in rows})
        cases = [c for c in cases if any(r['case'] == c for r in rows)]
    if not args.from_csv:
        # One boot per side first, not counted: the first VMs of a session
        # run slower while the host warms up.
        for name, kernel, prog, cmdline in sides:
            one_run(name, kernel, prog, cmdline, cases[0], -1, args)
    # Round robin, so that slow spells of the host spread over all cases.
    for i in range(args.runs if not args.from_csv else 0):
        for case in cases:
            for name, kernel, prog, cmdline in sides:
                row = one_run(name, kernel, prog, cmdline, case, i, args)
                print('%-8s %-10s run %d: %s' % (name, case, i, 'unable' if 'unable' in row
                                                 else 'blackout %6.0f ms' % row['blackout_ms']),
                      flush=True)
                rows.append(row)

    with open(os.path.join(args.out, 'runs.csv') if not args.from_csv else os.devnull, 'w',
              newline='') as f:
        keys = sorted({k for r in rows for k in r}, key=lambda k: (k not in
                      ('side', 'case', 'run'), k))
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)

    names = [s[0] for s in sides]
    print('\nmemfd live update, medians of %d runs; QEMU TCG -m %s on %s, %d CPUs, %s '
          '(emulator times: compare ratios, not absolutes)'
          % (args.runs, args.mem, platform.machine(), os.cpu_count(),
             time.strftime('%Y-%m-%d')))
    summary = print_tables(rows, names, cases, args.out)
    other = ', '.join('%s %s' % (c, CASE_MEM[c]) for c in cases if c in CASE_MEM)
    header = ('%s, medians of %d runs, QEMU TCG `-m %s`%s, %s, %d CPUs, %s; cells are %s%s.'
              % (' vs '.join(names), args.runs, args.mem,
                 ' (%s)' % other if other else '', platform.machine(), os.cpu_count(),
                 time.strftime('%Y-%m-%d'), ' / '.join(names),
                 ' (%s)' % ', '.join('%s/%s' % (names[-1], n) for n in names[:-1])
                 if len(names) > 1 else ''))
    markdown(rows, names, cases, os.path.join(args.out, 'table.md'), header)
    slopes(rows, names, args.out)
    breakdown(rows, names[0])
    if len(names) > 1:
        chart(summary, rows, names, cases, os.path.join(args.out, 'compare.png'))
    print('every run: %s' % os.path.join(args.out, 'runs.csv'))


if __name__ == '__main__':
    main()
