#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""check_systemd.py - make check-systemd: Debian's systemd 262 as PID 1 of
the test VM, across "systemctl kexec" into our kernel.

The VM boots our kernel (no initramfs) on the root file system of
workbench/systemd/build-rootfs.sh (ext4 on virtio-blk, read-write through
a QEMU snapshot) with a second disk made for the run: a GPT EFI system
partition (mounted at /efi) holding the same kernel and a Boot Loader
Specification entry for it. The next kernel is always loaded with
kexec_file_load (KHO data travels only with it) and gets this boot's
command line plus luo_nboot=1, as TEST-91 does it.

Suites (one VM each, two boots):

- fdstore: luo-rs-fdstore.service (FileDescriptorStoreMax=,
  FileDescriptorStorePreserve=yes) runs "test-luo store" (systemd-tests:
  two sealed memfds and a LUO session of its own holding a third, all in
  its fd store); a driver service loads the kernel with "kexec -s" and
  runs "systemctl kexec" whatever the result, so the next boot's
  "test-luo check" always runs and shows what survived.
- test91: systemd's own TEST-91-LIVEUPDATE.service and .sh, unmodified,
  started as systemd's test harness starts it (systemd.unit=,
  SYSTEMD_UNIT_PATH=); a drop-in only copies its output to the console
  and reports its result. The VM boots through UEFI firmware (OVMF):
  the test's "systemctl kexec --kernel-cmdline=..." loads the default
  boot loader entry itself, which systemctl does only on EFI systems.

The guest's reports are "LUOSD ..." lines (workbench/systemd/rootfs/);
every result below comes from them or from the kernel's own lines, and
any kernel report (WARNING, BUG, Oops, ...) fails the suite. Closing
line: 'N passed, N failed'.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import check
import vmrun

# The kernel command line of the first boot; the suites add theirs.
# no_timer_check: on a busy host, TCG can fail the kernel's IO-APIC timer
# check ("IO-APIC + timer doesn't work!", a panic).
BASE_APPEND = ('root=/dev/vda rw kunit.enable=0 no_timer_check printk.devkmsg=on '
               'systemd.log_target=kmsg '
               'systemd.mask=serial-getty@ttyS0.service systemd.show_status=no')
# name: (kernel command line, UEFI firmware)
SUITES = {
    'fdstore': ('systemd.unit=luo-rs-fdstore.target', False),
    # The same through UEFI firmware: systemctl loads the kernel itself.
    'fdstore_efi': ('systemd.unit=luo-rs-fdstore.target', True),
    # As systemd's integration-test wrapper starts a test. UEFI: TEST-91's
    # "systemctl kexec --kernel-cmdline=..." loads the default boot loader
    # entry itself, which systemctl does only on an EFI system.
    'test91': ('systemd.unit=TEST-91-LIVEUPDATE.service '
               'SYSTEMD_UNIT_PATH=/usr/lib/systemd/tests/testdata/units:', True),
}
ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'
# Debian's OVMF (package ovmf): firmware code, and the variable store each
# run gets a copy of.
OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd'
OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'

# The console may run the next kernel message on without a line break.
LUOSD_RE = re.compile(r'LUOSD (\S+)(.*?) nboot=(\d)(?!\d)')
KERNEL_BANNER_RE = re.compile(r'\] Linux version ')
CMDLINE_RE = re.compile(r'\] Command line: (.*)$')
# A command TEST-91-LIVEUPDATE.sh traces (set -x), as the console shows it.
TRACE_RE = re.compile(r'(?:^|TEST-91-LIVEUPDATE\.sh\[\d+\]: )\+ ')


def boot_disk(tmp, kernel, cmdline):
    """A GPT disk image with one EFI system partition (FAT: mkfs.fat and
    mcopy, no mount) holding the kernel and a boot loader entry for it."""
    top = os.path.join(tmp, 'esp')
    os.makedirs(os.path.join(top, 'loader', 'entries'))
    os.makedirs(os.path.join(top, 'luo-rs'))
    shutil.copy(kernel, os.path.join(top, 'luo-rs', 'bzImage'))
    with open(os.path.join(top, 'loader', 'entries', 'luo-rs.conf'), 'w') as f:
        f.write('title LUO-rs test kernel\nlinux /luo-rs/bzImage\noptions %s\n' % cmdline)
    size_mib = os.path.getsize(kernel) // (1 << 20) + 32
    img = os.path.join(tmp, 'esp.img')
    with open(img, 'wb') as f:
        f.truncate((size_mib + 2) << 20)
    subprocess.run(['sfdisk', '--quiet', img], check=True, text=True,
                   input='label: gpt\nstart=2048, size=%dMiB, type=%s, name="esp"\n'
                   % (size_mib, ESP))
    # Both warn that the image is larger than the partition's file system.
    for cmd in (['mkfs.fat', '-F', '32', '-n', 'LUO-RS-ESP', '--offset=2048', img,
                 str(size_mib << 10)],
                ['mcopy', '-s', '-i', '%s@@%d' % (img, 1 << 20)] +
                [os.path.join(top, d) for d in os.listdir(top)] + ['::/']):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            sys.exit('check_systemd.py: %s failed: %s' % (cmd[0], p.stdout + p.stderr))
    return img


def split_boots(run):
    """The serial log as one list of lines per kernel booted."""
    boots = []
    for _, text in run.lines:
        if KERNEL_BANNER_RE.search(text):
            boots.append([])
        if boots:
            boots[-1].append(text)
    return boots


def reports(lines, kind, nboot):
    """The LUOSD lines of one kind from the guest's boot nboot, as dicts."""
    out = []
    for text in lines:
        m = LUOSD_RE.search(text)
        if m and m.group(1) == kind and int(m.group(3)) == nboot:
            out.append(dict(kv.split('=', 1) for kv in m.group(2).split() if '=' in kv))
    return out


def first_error(lines, ident):
    """The first line that says what failed (test-luo and systemd say
    'Failed to ...') in the output of the unit whose ExecStart is ident."""
    for text in lines:
        if ident + '[' not in text:
            continue
        if re.search(r'Failed to |[Nn]ot found|not a LUO|mismatch|No (LISTEN|file desc)', text):
            return text.strip()[:200]
    return ''


def boot_results(suite, boots, nboot):
    """systemd came up as PID 1 in boot nboot (0: first, 1: after kexec)."""
    name = '%s/boot%d: systemd is PID 1' % (suite, nboot + 1)
    if len(boots) <= nboot:
        return [vmrun.Result(name, 'fail', 'no %s boot' % ('first', 'second')[nboot])]
    rep = reports(boots[nboot], 'BOOT', nboot)
    if not rep:
        return [vmrun.Result(name, 'fail', 'systemd did not report this boot')]
    r = rep[0]
    ok = r.get('pid1', '').endswith('/systemd')
    results = [vmrun.Result(name + ' (systemd %s, /dev/liveupdate %s)'
                            % (r.get('version', '?'), r.get('liveupdate', '?')),
                            'pass' if ok else 'fail', '' if ok else 'PID 1 is %s' % r.get('pid1'))]
    if nboot == 1:
        ok = r.get('kexec_count') == '1'
        results.append(vmrun.Result(
            '%s/boot2: systemd counts the kexec (KExecCount=1: its state came through LUO)'
            % suite, 'pass' if ok else 'fail',
            '' if ok else 'KExecCount=%s' % r.get('kexec_count')))
    return results


def kexec_result(suite, boots):
    """systemctl kexec booted the boot entry's kernel with kexec_file_load:
    the second kernel has the marker on its command line and KHO data."""
    name = '%s/kexec: systemctl kexec, kexec_file_load (KHO data in the next kernel)' % suite
    if len(boots) < 2:
        return vmrun.Result(name, 'fail', 'no second kernel booted')
    cmdline = next((m.group(1) for m in map(CMDLINE_RE.search, boots[1]) if m), '')
    if 'luo_nboot=1' not in cmdline.split():
        return vmrun.Result(name, 'fail', 'second kernel without luo_nboot=1: %s' % cmdline)
    if not any('KHO: found kexec handover data' in t for t in boots[1]):
        return vmrun.Result(name, 'fail', 'the second kernel found no KHO data '
                            '(kexec_load instead of kexec_file_load?)')
    return vmrun.Result(name, 'pass')


def unit_result(suite, boots, nboot, what):
    name = '%s/boot%d: %s' % (suite, nboot + 1, what)
    if len(boots) <= nboot:
        return vmrun.Result(name, 'fail', 'no %s boot' % ('first', 'second')[nboot])
    rep = reports(boots[nboot], 'UNIT', nboot)
    if not rep:
        return vmrun.Result(name, 'fail', 'no report from luo-rs-fdstore-driver.service')
    r = rep[0]
    if r.get('result') == 'success':
        return vmrun.Result(name, 'pass')
    why = first_error(boots[nboot], 'fdstore-stage')
    return vmrun.Result(name, 'fail', 'result=%s status=%s%s' % (
        r.get('result'), r.get('status'), ': ' + why if why else ''))


def results_fdstore(suite, boots):
    res = boot_results(suite, boots, 0)
    res.append(unit_result(suite, boots, 0, 'test-luo store'))
    rep = reports(boots[0], 'UNIT', 0) if boots else []
    n = rep[0].get('fdstore', '?') if rep else '?'
    res.append(vmrun.Result(suite + '/boot1: the fd store holds 3 fds (2 memfds, 1 LUO session)',
                            'pass' if n == '3' else 'fail', '' if n == '3' else '%s fd(s)' % n))
    res.append(kexec_result(suite, boots))
    res += boot_results(suite, boots, 1)
    res.append(unit_result(suite, boots, 1, 'test-luo check'))
    return res


def results_test91(boots):
    res = boot_results('test91', boots, 0)

    def test91(nboot, what, ok):
        name = 'test91/boot%d: %s' % (nboot + 1, what)
        if len(boots) <= nboot:
            return vmrun.Result(name, 'fail', 'no %s boot' % ('first', 'second')[nboot])
        rep = reports(boots[nboot], 'TEST91', nboot)
        if ok(boots[nboot], rep):
            return vmrun.Result(name, 'pass')
        if not rep:
            return vmrun.Result(name, 'fail', 'TEST-91-LIVEUPDATE.service did not finish')
        r = rep[0]
        if r.get('status') == '77':
            return vmrun.Result(name, 'fail', 'the test skipped itself (exit 77): '
                                '/dev/liveupdate not available')
        # The last command bash traced (set -x) before the test's exit
        # trap (at_exit) ran.
        trace = []
        for t in boots[nboot]:
            m = TRACE_RE.search(t)
            if m and t[m.end():].startswith('at_exit'):
                break
            if m:
                trace.append(t[m.end() - 2:])
        why = first_error(boots[nboot], 'TEST-91-LIVEUPDATE.sh')
        return vmrun.Result(name, 'fail', 'result=%s status=%s, last command: %s%s' % (
            r.get('result'), r.get('status'), trace[-1][:120] if trace else '?',
            '; ' + why if why else ''))

    # The test runs under set -e and traces every command (set -x): the
    # commands it reaches only when all before them passed are the
    # evidence. Its unit has DefaultDependencies=no, so nothing stops it
    # before the kexec or the power-off it asks for, and its ExecStopPost
    # report may not come then; when it does, it must say success.
    def traced(lines, rep, command):
        ok = not rep or rep[0].get('result') == 'success'
        return ok and any(TRACE_RE.search(t) and command in t for t in lines)

    res.append(test91(0, 'TEST-91-LIVEUPDATE.sh stores and reaches systemctl kexec',
                      lambda lines, rep: traced(lines, rep, '+ systemctl kexec')))
    res.append(kexec_result('test91', boots))
    res += boot_results('test91', boots, 1)
    res.append(test91(1, 'TEST-91-LIVEUPDATE.sh passes (touch /testok)',
                      lambda lines, rep: traced(lines, rep, '+ touch /testok')))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--rootfs', required=True, help='ext4 image of build-rootfs.sh')
    ap.add_argument('--logs', required=True)
    ap.add_argument('--only', help='run only these suites (comma-separated)')
    ap.add_argument('--append', default='liveupdate=on',
                    help='LUO part of the kernel command line')
    ap.add_argument('--timeout', type=int, default=600, help='seconds per boot')
    ap.add_argument('--mem', default='2G')
    args = ap.parse_args()
    only = args.only.split(',') if args.only else list(SUITES)
    unknown = set(only) - set(SUITES)
    if unknown:
        sys.exit('check_systemd.py: no suite named %s' % ', '.join(sorted(unknown)))
    with open(args.rootfs + '.versions') as f:
        print('check-systemd: %s, kernel %s' % (f.read().strip(), args.kernel))
    everything = []
    for suite in only:
        suite_append, efi = SUITES[suite]
        append = ' '.join([BASE_APPEND, args.append, suite_append])
        log = os.path.join(args.logs, 'systemd-%s.log' % suite)
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix='luo-sd-') as tmp:
            disk = boot_disk(tmp, args.kernel, 'console=ttyS0 panic=-1 oops=panic ' + append)
            extra = ['-drive', 'file=%s,format=raw,if=virtio,snapshot=on' % args.rootfs,
                     '-drive', 'file=%s,format=raw,if=virtio,snapshot=on' % disk]
            if efi:
                shutil.copy(OVMF_VARS, os.path.join(tmp, 'vars.fd'))
                extra += ['-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=' + OVMF_CODE,
                          '-drive', 'if=pflash,format=raw,unit=1,file=%s/vars.fd' % tmp]
            cmd = vmrun.qemu_command(args.kernel, None, append, args.mem, extra)
            run = vmrun.run_qemu(cmd, log, args.timeout * 2)
        boots = split_boots(run)
        results = (results_test91(boots) if suite == 'test91' else results_fdstore(suite, boots))
        if run.timed_out:
            results.append(vmrun.Result(suite + '/finished', 'fail',
                                        'timed out after %ds' % (args.timeout * 2)))
        if len(boots) > 2:
            results.append(vmrun.Result(suite + '/boots', 'fail',
                                        '%d kernels booted, 2 expected' % len(boots)))
        # Kernel reports only: user space writes to the console too.
        kernel_lines = vmrun.VmRun(log)
        kernel_lines.lines = [(t, s) for t, s in run.lines if vmrun.PRINTK_RE.match(s)]
        results += check.check_splats(kernel_lines, suite)
        vmrun.print_suite(suite, results, time.monotonic() - start, log)
        everything += results
    vmrun.exit_with(everything)


if __name__ == '__main__':
    main()
