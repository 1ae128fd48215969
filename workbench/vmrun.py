#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""vmrun.py - boot the LUO-rs kernel in QEMU and collect test results.

Builds an initramfs (the static init of guest/init.c, the programs, the
kernel image for kexec, a plan), boots it under QEMU TCG, timestamps every
serial line on the host (the reference clock across a kexec), keeps the
serial log, and turns what the guest printed into results:

- every program run is framed by LUOTEST START/END lines from init;
- KTAP lines printed in between ("ok N name", "not ok N name",
  "ok N name # SKIP ...") become test cases;
- a program may end by kexec'ing the machine itself (the next stage
  boots);
- a non-zero exit, a missing END, a kexec that did not come back, fewer
  results than the KTAP plan announced, or a timeout is a failure;
- so is a program run that skipped every test, or skipped as a whole
  ("1..0 # SKIP why", kselftest's ksft_exit_skip()): it tested nothing.
  Its skips are listed with their reason; a "Bail out!" line's reason
  goes with a failing exit status.

Used by check.py (make check), check_systemd.py (make check-systemd: its
QEMU runs, not the initramfs) and, as a command, by make vmtest.
"""

import argparse
import os
import re
import selectors
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
KTAP_RE = re.compile(r'^\s*(not ok|ok) (\d+)\s*-?\s*(.*?)\s*(?:#\s*(SKIP|skip|TODO|todo)\b\s*(.*))?$')
PLAN_RE = re.compile(r'^\s*1\.\.(\d+)')
SKIP_ALL_RE = re.compile(r'^\s*1\.\.0\s*#\s*SKIP\b\s*(.*)$', re.IGNORECASE)
BAIL_RE = re.compile(r'^\s*Bail out!\s*(.*)$')
START_RE = re.compile(r'LUOTEST START (\S+) stage=(\d+)')
END_RE = re.compile(r'LUOTEST END (\S+) stage=(\d+) rc=(\d+)')
KEXEC_RE = re.compile(r'LUOTEST KEXEC stage=(\d+)')
BOOT_RE = re.compile(r'LUOTEST BOOT stage=(\d+)')
PRINTK_RE = re.compile(r'^\[\s*\d+\.\d+\] ')


@dataclass
class Result:
    name: str
    status: str  # "pass", "fail" or "skip"
    detail: str = ""


@dataclass
class VmRun:
    log_path: str
    results: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # (host seconds, text)
    timed_out: bool = False


# --- initramfs -----------------------------------------------------------

class Cpio:
    """A minimal newc cpio writer."""

    def __init__(self):
        self.data = bytearray()
        self.ino = 1

    def _pad(self):
        self.data += b'\0' * ((4 - len(self.data) % 4) % 4)

    def entry(self, name, mode, body=b'', rdev=(0, 0)):
        fields = [self.ino, mode, 0, 0, 1, 0, len(body), 0, 0, rdev[0], rdev[1],
                  len(name) + 1, 0]
        self.ino += 1
        self.data += b'070701' + b''.join(b'%08X' % f for f in fields)
        self.data += name.encode() + b'\0'
        self._pad()
        self.data += body
        self._pad()

    def dir(self, name):
        self.entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, path_or_bytes, mode=0o755):
        if isinstance(path_or_bytes, bytes):
            body = path_or_bytes
        else:
            with open(path_or_bytes, 'rb') as f:
                body = f.read()
        self.entry(name, stat.S_IFREG | mode, body)

    def finish(self):
        self.entry('TRAILER!!!', 0)
        return bytes(self.data)


def kernel_modules(kernel):
    """The modules built with kernel (OBJ/arch/x86/boot/bzImage): the .ko
    files OBJ/modules.order lists that exist."""
    obj = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(kernel)))))
    try:
        with open(os.path.join(obj, 'modules.order')) as f:
            names = [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []
    kos = [os.path.join(obj, n[:-2] + '.ko' if n.endswith('.o') else n) for n in names]
    # A kernel built without its modules (bzImage alone) gets none.
    return [ko for ko in kos if os.path.exists(ko)]


def build_initramfs(init, kernel, plan, programs):
    cpio = Cpio()
    for d in ('bin', 'boot', 'dev', 'lib', 'lib/modules', 'luotest', 'proc', 'sys', 'tmp'):
        cpio.dir(d)
    cpio.entry('dev/console', stat.S_IFCHR | 0o600, rdev=(5, 1))
    cpio.file('init', init)
    cpio.file('boot/bzImage', kernel, 0o644)
    cpio.file('luotest/plan', plan.encode(), 0o644)
    for prog in programs:
        cpio.file('bin/' + os.path.basename(prog), prog)
    # init loads every module at boot, in each stage.
    for ko in kernel_modules(kernel):
        cpio.file('lib/modules/' + os.path.basename(ko), ko, 0o644)
    return cpio.finish()


# --- running QEMU ---------------------------------------------------------

def qemu_command(kernel, initrd, append, mem, extra=()):
    """The test VM: our kernel with a serial console on stdout, the
    initramfs initrd (if any), more QEMU arguments in extra."""
    return (['qemu-system-x86_64', '-accel', 'tcg', '-cpu', 'max', '-m', mem, '-smp', '2',
             '-nodefaults', '-display', 'none', '-no-reboot', '-serial', 'stdio',
             '-kernel', kernel] + (['-initrd', initrd] if initrd else []) + list(extra) +
            ['-append', 'console=ttyS0 panic=-1 oops=panic ' + append])


def boot(kernel, init, plan, programs, append, log_path, timeout, mem='1G', echo=False,
         on_line=None):
    with tempfile.TemporaryDirectory(prefix='luo-vm-') as tmp:
        initrd = os.path.join(tmp, 'initramfs.cpio')
        with open(initrd, 'wb') as f:
            f.write(build_initramfs(init, kernel, plan, programs))
        return run_qemu(qemu_command(kernel, initrd, 'luotest.stage=1 ' + append, mem),
                        log_path, timeout,
                        echo=echo, on_line=on_line)


def run_qemu(cmd, log_path, timeout, echo=False, on_line=None):
    """Runs QEMU (cmd) until it exits or timeout seconds have passed, and
    keeps its serial output (stdout) in log_path, every line prefixed with
    the host's time since the start."""
    run = VmRun(log_path)
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    start = time.monotonic()
    with open(log_path, 'w') as log:
        log.write('# ' + ' '.join(cmd) + '\n')
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        buf = b''
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                run.timed_out = True
                proc.kill()
                break
            if not sel.select(min(left, 1.0)):
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b'\n')
            now = time.monotonic() - start
            for raw in complete:
                text = raw.decode(errors='replace').rstrip('\r')
                run.lines.append((now, text))
                log.write('%10.6f %s\n' % (now, text))
                if echo and not PRINTK_RE.match(text):
                    print(text, flush=True)
                if on_line:
                    on_line(now, text)
        if buf:
            run.lines.append((time.monotonic() - start, buf.decode(errors='replace')))
        proc.wait()
        if run.timed_out:
            log.write('# TIMEOUT after %ds\n' % timeout)
    return run


# --- turning the serial log into results -----------------------------------

def collect(run, prefix, expect):
    """expect: list of (program, stage) runs the plan must produce."""
    results = []
    current = None  # [program, stage, planned, cases, bail-out reason]
    ended = {}
    kexecs = set()
    for _, text in run.lines:
        m = START_RE.search(text)
        if m:
            current = [os.path.basename(m.group(1)), int(m.group(2)), None, [], '']
            continue
        m = END_RE.search(text)
        b = BOOT_RE.search(text)
        if current and (m or (b and int(b.group(1)) > current[1])):
            # A program ends with init's END line, or by kexec'ing the
            # machine itself: the next stage's kernel boots.
            prog, stage, planned, cases, bail = current
            rc = int(m.group(3)) if m else 0
            if b:
                kexecs.add(stage)
            name = '%s%s/stage%d' % (prefix, prog, stage)
            for status, desc, why in cases:
                results.append(Result('%s: %s' % (name, desc), status, why))
            if planned is not None and len(cases) < planned:
                results.append(Result(name + ': results', 'fail',
                                      'KTAP plan announced %d, got %d' % (planned, len(cases))))
            failed = any(c[0] == 'fail' for c in cases)
            if cases and all(c[0] == 'skip' for c in cases):
                results.append(Result(name, 'fail', 'every test skipped: nothing was tested'))
            elif rc != 0 and not failed:
                results.append(Result(name, 'fail', 'exit status %d' % rc
                                      + (': ' + bail if bail else '')))
            elif not cases:
                results.append(Result(name, 'pass' if rc == 0 else 'fail'))
            ended[(prog, stage)] = rc
            current = None
            continue
        m = KEXEC_RE.search(text)
        if m:
            kexecs.add(int(m.group(1)))
            continue
        if current:
            m = SKIP_ALL_RE.match(text)
            if m and current[2] is None:
                current[2] = 0
                current[3].append(('skip', 'skipped as a whole', m.group(1).strip()))
                continue
            m = BAIL_RE.match(text)
            if m:
                current[4] = current[4] or m.group(1).strip()
                continue
            m = PLAN_RE.match(text)
            if m and current[2] is None:
                current[2] = int(m.group(1))
                continue
            m = KTAP_RE.match(text)
            if m:
                ok, _, desc, directive, why = m.groups()
                status = 'fail' if ok == 'not ok' else 'pass'
                if directive and directive.lower() == 'skip' and ok == 'ok':
                    status = 'skip'
                current[3].append((status, desc or 'case %s' % m.group(2),
                                   why.strip() if status == 'skip' and why else ''))
    for prog, stage in expect:
        if (os.path.basename(prog), stage) not in ended:
            why = 'timed out' if run.timed_out else 'never ran or did not finish'
            if stage > 1 and (stage - 1) not in kexecs:
                why = 'no kexec into stage %d' % stage
            results.append(Result('%s%s/stage%d' % (prefix, os.path.basename(prog), stage),
                                  'fail', why))
    run.results = results
    return results


KUNIT_SUBTEST_RE = re.compile(r'^\s+# Subtest: (\S+)')
KUNIT_CASE_RE = re.compile(r'^ {4}(not ok|ok) \d+ (\S+)(?:\s+#\s*(SKIP|skip)\b.*)?$')
KUNIT_SUITE_RE = re.compile(r'^(not ok|ok) \d+ (\S+)')


def collect_kunit(run, prefix):
    """KUnit results the kernel printed while booting (first boot only)."""
    results = []
    suite = None
    seen_cases = {}
    for _, text in run.lines:
        if BOOT_RE.search(text):
            break
        m = PRINTK_RE.match(text)
        if not m:
            continue
        body = text[m.end():]
        sub = KUNIT_SUBTEST_RE.match(body)
        if sub:
            suite = sub.group(1)
            seen_cases[suite] = 0
            continue
        case = KUNIT_CASE_RE.match(body)
        if case and suite:
            status = 'fail' if case.group(1) == 'not ok' else 'pass'
            if case.group(3) and status == 'pass':
                status = 'skip'
            results.append(Result('%s%s: %s' % (prefix, suite, case.group(2)), status))
            seen_cases[suite] += 1
            continue
        top = KUNIT_SUITE_RE.match(body)
        if top and top.group(2) in seen_cases:
            if top.group(1) == 'not ok' and not any(
                    r.status == 'fail' and r.name.startswith(prefix + top.group(2) + ':')
                    for r in results):
                results.append(Result(prefix + top.group(2), 'fail', 'suite failed'))
            suite = None
    if not results:
        results.append(Result(prefix + 'results', 'fail',
                              'timed out' if run.timed_out else 'no KUnit results in the log'))
    return results


def print_results(results, out=sys.stdout):
    for r in results:
        tag = {'pass': 'ok  ', 'fail': 'FAIL', 'skip': 'skip'}[r.status]
        out.write('  %s %s%s\n' % (tag, r.name, ' (%s)' % r.detail if r.detail else ''))


def summary_line(results):
    p = sum(r.status == 'pass' for r in results)
    f = sum(r.status == 'fail' for r in results)
    s = sum(r.status == 'skip' for r in results)
    return '%d passed, %d failed' % (p, f) + (', %d skipped' % s if s else '')


def print_suite(name, results, seconds, log):
    """A suite's line (its serial log named when something failed), then its results."""
    failed = any(r.status == 'fail' for r in results)
    print('suite %s: %s in %.1fs%s' % (name, summary_line(results), seconds,
                                       ', serial log: ' + log if failed else ''))
    print_results(results)


def exit_with(everything):
    """The closing line, and the exit status: non-zero on a failure or no result at all."""
    print(summary_line(everything))
    sys.exit(0 if everything and not any(r.status == 'fail' for r in everything) else 1)


def main():
    ap = argparse.ArgumentParser(description='Run a static program in the LUO-rs VM, '
                                 'across a kexec: stage 1 runs "PROG 1", stage 2 "PROG 2".')
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--init', required=True)
    ap.add_argument('--prog', required=True, help='static x86-64 program')
    ap.add_argument('--append', default='liveupdate=orchestration')
    ap.add_argument('--log', default='vmtest.log')
    ap.add_argument('--timeout', type=int, default=120)
    ap.add_argument('--mem', default='1G')
    args = ap.parse_args()
    prog = os.path.abspath(args.prog)
    plan = 'kexec /bin/%s\n' % os.path.basename(prog)
    run = boot(args.kernel, args.init, plan, [prog], args.append, args.log, args.timeout,
               mem=args.mem, echo=True)
    results = collect(run, '', [(prog, 1), (prog, 2)])
    print('\nvmtest: serial log in %s' % args.log)
    print_results(results)
    print(summary_line(results))
    sys.exit(0 if results and all(r.status != 'fail' for r in results) else 1)


if __name__ == '__main__':
    main()
