"""harness.py: start real sekisho programs for black-box tests.

A Suite owns one temporary directory holding a configuration directory
(generated from the shipped etc/ files plus per-test overrides), a data
directory and a run directory.  Daemons listen on free loopback ports and
run in the foreground (-f) with their log on a file the test can read.
Everything is torn down when the test ends, also on failure.

Python 3 standard library only.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get("SEKISHO_BUILD") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("SEKISHO_SOURCE") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(BUILD, "bin")
ETC = os.path.join(SOURCE, "etc")


def is_root():
    return os.geteuid() == 0


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port that was free on the loopback address a moment ago."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, step=0.02, what="condition"):
    """Poll pred() until it is true; fail the test with what after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ini_set(text, section, key, value):
    """Return INI text with key set in section (added when missing).

    Matching is case-insensitive like sekisho's reader; a commented
    ";key=" line is replaced by the real setting.
    """
    lines = text.splitlines()
    out, cur, done, sec_seen = [], None, False, False
    for ln in lines:
        s = ln.strip()
        if s.startswith("[") and s.endswith("]"):
            if cur is not None and cur.lower() == section.lower() and not done:
                out.append("%s=%s" % (key, value))
                done = True
            cur = s[1:-1].strip()
            sec_seen = sec_seen or cur.lower() == section.lower()
            out.append(ln)
            continue
        if cur is not None and cur.lower() == section.lower() and not done:
            body = s.lstrip(";#").strip()
            if "=" in body and body.split("=", 1)[0].strip().lower() == key.lower():
                out.append("%s=%s" % (key, value))
                done = True
                continue
        out.append(ln)
    if not done:
        if not (cur is not None and cur.lower() == section.lower()):
            if not sec_seen:
                out.append("[%s]" % section)
            else:
                # Section exists earlier but is not last: append a new
                # header; sekisho merges repeated sections.
                out.append("[%s]" % section)
        out.append("%s=%s" % (key, value))
    return "\n".join(out) + "\n"


_tls_cache = None


def tls_pair():
    """A self-signed certificate and key (made once per test process)."""
    global _tls_cache
    if _tls_cache is None:
        d = tempfile.mkdtemp(prefix="sekisho-tls-")
        crt, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-sha256", "-days", "30", "-nodes",
                        "-subj", "/CN=localhost", "-keyout", key,
                        "-out", crt], check=True, capture_output=True)
        _tls_cache = (crt, key)
    return _tls_cache


class Daemon:
    """One started program, its log file and how to stop it."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self.logf = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def stop(self, timeout=15.0):
        """SIGTERM, wait, then SIGKILL the whole process group."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.logf.close()
        return self.proc.returncode


class Suite:
    """A temporary installation: configuration, data and run directories."""

    def __init__(self, tmp_prefix="sekisho-it-"):
        self.dir = tempfile.mkdtemp(prefix=tmp_prefix)
        # Service users must reach their own directories below this one.
        os.chmod(self.dir, 0o755)
        self.confdir = os.path.join(self.dir, "etc")
        self.data_dir = os.path.join(self.dir, "data")
        self.run_dir = os.path.join(self.dir, "run")
        self.log_dir = os.path.join(self.dir, "log")
        shutil.copytree(ETC, self.confdir)
        for d in (self.data_dir, self.run_dir, self.log_dir):
            os.makedirs(d, exist_ok=True)
        self.daemons = []
        tls = os.path.join(self.confdir, "tls")
        os.makedirs(tls, exist_ok=True)
        crt, key = tls_pair()
        shutil.copy(crt, os.path.join(tls, "server.crt"))
        shutil.copy(key, os.path.join(tls, "server.key"))
        os.chmod(os.path.join(tls, "server.key"), 0o600)
        self.set("imss.ini", "general", "data_dir", self.data_dir)
        self.set("imss.ini", "general", "run_dir", self.run_dir)

    def path(self, name):
        return os.path.join(self.confdir, name)

    def read(self, name):
        with open(self.path(name), encoding="utf-8") as f:
            return f.read()

    def write(self, name, text):
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)

    def set(self, name, section, key, value):
        """Set one key in one configuration file."""
        self.write(name, ini_set(self.read(name), section, key, value))

    def bin(self, prog):
        return os.path.join(BIN, prog)

    def run(self, prog, *args, timeout=60, input=None):
        """Run a program to completion; returns CompletedProcess (text)."""
        return subprocess.run([self.bin(prog)] + list(args),
                              capture_output=True, text=True,
                              timeout=timeout, input=input)

    def start(self, prog, *args):
        """Start a daemon in the foreground with this configuration."""
        log = os.path.join(self.log_dir, "%s.log" % prog)
        d = Daemon(prog, [self.bin(prog), "-f", "-c", self.confdir] +
                   list(args), log)
        self.daemons.append(d)
        return d

    def close(self):
        for d in reversed(self.daemons):
            d.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SuiteTestCase(unittest.TestCase):
    """A test case with a fresh Suite in self.suite."""

    def setUp(self):
        self.suite = Suite()
        self.addCleanup(self.suite.close)

    def assertLogHas(self, daemon, needle, timeout=5.0):
        wait_for(lambda: needle in daemon.log(), timeout,
                 what="%r in %s log" % (needle, daemon.name))
