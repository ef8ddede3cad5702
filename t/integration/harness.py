"""harness.py: start real sekisho programs for black-box tests.

A Suite owns one temporary directory holding a configuration directory
(generated from the shipped etc/ files plus per-test overrides), a data
directory and a run directory.  Daemons listen on free loopback ports and
run in the foreground (-f) with their log on a file the test can read.
Everything is torn down when the test ends, also on failure.

Python 3 standard library only.
"""

import atexit
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
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

    Matching is case-insensitive like sekisho's reader.  A line that sets
    the key is replaced (any further ones are dropped); failing that, the
    first commented ";key=" line of the section; failing that, the key is
    added at the end of the section (or in a new one).
    """
    lines = text.splitlines()
    sec = section.lower()

    def where():
        cur, real, commented, last = None, [], [], None
        for i, ln in enumerate(lines):
            st = ln.strip()
            if st.startswith("[") and st.endswith("]"):
                cur = st[1:-1].strip().lower()
                if cur == sec:
                    last = i
                continue
            if cur != sec:
                continue
            last = i
            body = st.lstrip(";#").strip()
            if "=" not in body or \
                    body.split("=", 1)[0].strip().lower() != key.lower():
                continue
            (commented if st[:1] in ";#" else real).append(i)
        return real, commented, last

    real, commented, last = where()
    setting = "%s=%s" % (key, value)
    if real:
        lines[real[0]] = setting
        for i in reversed(real[1:]):
            del lines[i]
    elif commented:
        lines[commented[0]] = setting
    elif last is not None:
        lines.insert(last + 1, setting)
    else:
        lines += ["[%s]" % section, setting]
    return "\n".join(lines) + "\n"


_tls_cache = None


def tls_pair():
    """A self-signed certificate and key (made once per test process)."""
    global _tls_cache
    if _tls_cache is None:
        d = tempfile.mkdtemp(prefix="sekisho-tls-")
        atexit.register(shutil.rmtree, d, True)
        crt, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-sha256", "-days", "30", "-nodes",
                        "-subj", "/CN=localhost", "-keyout", key,
                        "-out", crt], check=True, capture_output=True)
        _tls_cache = (crt, key)
    return _tls_cache


def tls_client_context():
    """A client TLS context that accepts the suite's self-signed certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# --- SMTP helpers ---------------------------------------------------------

QUEUED_RE = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9a-f]{16})$")


class Reply:
    """One SMTP reply: its code and the text of each line (without code)."""

    def __init__(self, lines):
        self.lines = lines                      # full lines, str
        self.code = int(lines[-1][:3])
        self.texts = [ln[4:] for ln in lines]

    @property
    def first(self):
        return self.lines[0]

    @property
    def last(self):
        return self.lines[-1]

    def qid(self):
        """The queue id of a "250 2.0.0 Ok: queued as <qid>" reply, or None."""
        m = QUEUED_RE.match(self.last)
        return m.group(1) if m else None

    def __str__(self):
        return " | ".join(self.lines)

    __repr__ = __str__


class SMTPClosed(Exception):
    """The server closed the connection."""


class RawSMTP:
    """A byte-exact SMTP client on a plain socket (optionally TLS).

    send() writes exactly the bytes given, in one sendall(), so pipelined
    commands and DATA tricks reach the server in one packet on loopback.
    """

    def __init__(self, port, host="127.0.0.1", timeout=10.0, greet=True,
                 tls=False, source=None):
        """source: the local address to connect from (any 127.x.y.z
        works on Linux loopback), so one test can be several clients."""
        self.timeout = timeout
        self.sock = socket.create_connection(
            (host, port), timeout,
            source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.greeting = None
        if tls:
            self.sock = tls_client_context().wrap_socket(self.sock)
        if greet:
            self.greeting = self.reply()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with a TCP reset, like a client that was killed."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ssl.SSLError as e:
            raise SMTPClosed("TLS error: %s" % e)
        except ConnectionResetError:
            raise SMTPClosed("connection reset")
        if not chunk:
            raise SMTPClosed("connection closed (buffered %r)" % self.buf)
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode("utf-8", "replace")

    def reply(self, timeout=None):
        """Read one (possibly multi-line) reply."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            lines = [self.line()]
            while len(lines[-1]) > 3 and lines[-1][3] == "-":
                lines.append(self.line())
        finally:
            if timeout is not None:
                self.sock.settimeout(self.timeout)
        if not re.match(r"^[2-5][0-9][0-9]( |$)", lines[-1]):
            raise AssertionError("malformed reply %r" % lines)
        return Reply(lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        """Send one command line (CRLF added) and read its reply."""
        self.send(line + "\r\n" if isinstance(line, str) else
                  line + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example"):
        r = self.cmd("EHLO " + name)
        if r.code != 250:
            raise AssertionError("EHLO: %s" % r)
        return r

    def nothing_within(self, seconds):
        """True when the server sends nothing (and keeps the connection)."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return True
        except ssl.SSLError:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        self.buf += chunk
        return False

    def closed_within(self, seconds):
        """True when the server closes the connection within seconds
        (anything it sends before is kept in self.buf)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return False
            except (ConnectionResetError, ssl.SSLError):
                return True
            except OSError:
                return True
            finally:
                self.sock.settimeout(self.timeout)
            if not chunk:
                return True
            self.buf += chunk

    def starttls(self):
        """Start TLS on the connection (after a 220 to STARTTLS)."""
        self.sock = tls_client_context().wrap_socket(self.sock)

    def send_mail(self, sender, rcpts, content, ehlo=True):
        """A whole transaction, one command at a time; content is sent
        as given (already dot-stuffed, CRLF) and followed by ".\r\n".
        Returns the final reply."""
        if ehlo:
            self.ehlo()
        r = self.cmd("MAIL FROM:<%s>" % sender)
        if r.code != 250:
            raise AssertionError("MAIL: %s" % r)
        for rc in rcpts:
            r = self.cmd("RCPT TO:<%s>" % rc)
            if r.code != 250:
                raise AssertionError("RCPT %s: %s" % (rc, r))
        r = self.cmd("DATA")
        if r.code != 354:
            raise AssertionError("DATA: %s" % r)
        self.send(content + b".\r\n")
        return self.reply()


def dot_stuff(content):
    """content (CRLF lines) dot-stuffed for DATA (RFC 5321 4.5.2)."""
    out = b"\r\n".join((b"." + ln) if ln.startswith(b".") else ln
                        for ln in content.split(b"\r\n"))
    return out


def data_model(stream):
    """What the server must store for a DATA stream, from the rules alone.

    A line ends only at CRLF; the first line "." (exactly) ends the
    message and is not part of it; a leading "." is removed from every
    other line; a bare CR or bare LF inside a line becomes CRLF.
    Returns (message, rest): rest is what follows the terminator (the next
    commands), None when the stream has no terminator.
    """
    segs = stream.split(b"\r\n")
    out = []
    for i, seg in enumerate(segs[:-1]):
        if seg == b".":
            rest = b"\r\n".join(segs[i + 1:])
            return b"".join(out), rest
        if seg.startswith(b"."):
            seg = seg[1:]
        seg = re.sub(rb"\r|\n", b"\r\n", seg)
        out.append(seg + b"\r\n")
    return None, None


def split_received(msg):
    """Split a stored message into (our Received header field, the rest)."""
    if not msg.startswith(b"Received: from"):
        raise AssertionError("stored message does not start with our "
                             "Received header: %r" % msg[:200])
    i = 0
    while True:
        j = msg.find(b"\r\n", i)
        if j == -1:
            raise AssertionError("Received header not terminated")
        if msg[j + 2:j + 3] not in (b" ", b"\t"):
            return msg[:j + 2], msg[j + 2:]
        i = j + 2


def has_only_crlf(data):
    return re.search(rb"\r(?!\n)|(?<!\r)\n", data) is None


def envelope_unescape(v):
    if v == "-":
        return None

    def rep(m):
        b = int(m.group(1), 16)
        if b == 0:
            raise AssertionError("%00 in envelope")
        return chr(b)
    return re.sub(r"%([0-9A-F]{2})", rep, v)


def parse_envelope(text):
    """An envelope file (docs/spool.md) as a dict; rcpt is a list of
    (address, notify, orcpt).  Raises AssertionError if it is malformed."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "sekisho-envelope 1":
        raise AssertionError("envelope: bad first line: %r" % lines[:1])
    if lines[-1] != "end":
        raise AssertionError("envelope: no end line: %r" % lines[-3:])
    env = {"rcpt": []}
    for ln in lines[1:-1]:
        key, _, val = ln.partition(" ")
        if key == "rcpt":
            parts = val.split(" ")
            if len(parts) != 3:
                raise AssertionError("envelope: bad rcpt line %r" % ln)
            env["rcpt"].append((envelope_unescape(parts[0]), int(parts[1]),
                                envelope_unescape(parts[2])))
            continue
        if key in env:
            raise AssertionError("envelope: repeated key %r" % key)
        env[key] = envelope_unescape(val) if val != "" else ""
    for req in ("id", "received", "sender", "size"):
        if req not in env:
            raise AssertionError("envelope: missing %s: %r" % (req, text))
    if not env["rcpt"]:
        raise AssertionError("envelope: no rcpt")
    return env


# --- /proc -----------------------------------------------------------------

def proc_children(ppid):
    """{comm: [pid, ...]} of the live children of ppid."""
    out = {}
    for n in os.listdir("/proc"):
        if not n.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % n) as f:
                stat = f.read()
            with open("/proc/%s/comm" % n) as f:
                comm = f.read().strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue
        if int(fields[1]) == ppid:
            out.setdefault(comm, []).append(int(n))
    return out


def proc_status(pid):
    """/proc/PID/status as a dict of strings."""
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            k, _, v = ln.partition(":")
            st[k] = v.strip()
    return st


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tree_digest(d, skip_dirs=()):
    """SHA-256 over every file (name and bytes) under d, but the bundle
    appliers' lock (empty) and the subdirectories named in skip_dirs: what
    tells whether a configuration directory changed."""
    h = hashlib.sha256()
    for dirpath, dirs, files in sorted(os.walk(d)):
        dirs[:] = sorted(x for x in dirs if dirpath != d or
                         x not in skip_dirs)
        for f in sorted(files):
            if f == ".bundle-lock":
                continue
            p = os.path.join(dirpath, f)
            h.update(os.path.relpath(p, d).encode() + b"\0")
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def conf_service_names():
    """The services sekisho-manager knows (common/conf_schema.c)."""
    return ("smtpd", "scanner", "ipprofiler", "euq")


class Daemon:
    """One started program, its log file and how to stop it."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.log_path = log_path
        self.logf = open(log_path, "ab")
        # A restarted daemon appends to the same file: log() shows only
        # what this run wrote.
        self.log_offset = self.logf.tell()
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode("utf-8", "replace")

    def wait_exit(self, timeout=10.0):
        """Wait for the process to end; its exit status, None if it did not."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

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
        self.extra_procs = []       # helpers such as dnsmasq
        self.extra_logs = []        # more logs to check for sanitizer reports
        tls = os.path.join(self.confdir, "tls")
        os.makedirs(tls, exist_ok=True)
        crt, key = tls_pair()
        shutil.copy(crt, os.path.join(tls, "server.crt"))
        shutil.copy(key, os.path.join(tls, "server.key"))
        os.chmod(os.path.join(tls, "server.key"), 0o600)
        # Front-end tests inspect spool/incoming/: messages wait there for
        # the scan server.  Delivery tests set [scan] enabled=0.
        self.set("policy.ini", "scan", "enabled", "1")
        # Antivirus needs a signature database: tests that want it build
        # one (test_scan_av.py) and switch it on.
        self.set("policy.ini", "antivirus", "enabled", "0")
        # Spam scoring adds headers to every delivered message, and SPF,
        # DKIM and DMARC ask DNS: tests that want them (test_scan_spam.py)
        # switch them on with a DNS server of their own.
        self.set("policy.ini", "antispam", "enabled", "0")
        self.set("policy.ini", "antispam", "sender_auth", "0")
        # The shipped localhost Maildir lives in /var/lib: keep tests here.
        self.set("tsmtpd.ini", "Routes", "localhost",
                 "maildir:" + os.path.join(self.dir, "maildir"))
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

    def start(self, prog, *args, env=None):
        """Start a daemon in the foreground with this configuration; env
        adds variables to its environment."""
        log = os.path.join(self.log_dir, "%s.log" % prog)
        full = None
        if env:
            full = dict(os.environ)
            full.update(env)
        d = Daemon(prog, [self.bin(prog), "-f", "-c", self.confdir] +
                   list(args), log, env=full)
        self.daemons.append(d)
        return d

    SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer"
                              r"|runtime error: |LeakSanitizer has "
                              r"encountered a fatal error")

    def start_dnsmasq(self, records):
        """A DNS server on 127.0.0.1 (a free port) that answers the .test
        domain from records (dnsmasq options such as
        "--host-record=a.test,127.0.0.2", "--txt-record=a.test,text") and
        nothing else; stopped by close().  Its port."""
        port = free_port(socket.AF_INET)
        args = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--listen-address=127.0.0.1",
                "--bind-interfaces", "--port=%d" % port, "--local=/test/",
                "--log-facility=-"]
        if is_root():
            args.append("--user=root")
        p = subprocess.Popen(args + list(records), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.extra_procs.append(p)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:       # until it answers
            if p.poll() is not None:
                raise RuntimeError("dnsmasq exited: %s" % args)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(0.2)
                # A query for "test." (id 1, RD), any answer will do.
                u.sendto(b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00"
                         b"\x00\x00\x04test\x00\x00\x01\x00\x01",
                         ("127.0.0.1", port))
                try:
                    u.recv(512)
                    return port
                except OSError:
                    pass
        raise RuntimeError("dnsmasq does not answer on port %d" % port)

    def stop_extra(self):
        """Stop the helpers of extra_procs (a helper that leads its own
        process group, such as rspamd with its workers, with the whole
        group)."""
        for p in self.extra_procs:
            if p.poll() is None:
                try:
                    if os.getpgid(p.pid) == p.pid:
                        os.killpg(p.pid, signal.SIGKILL)
                    else:
                        p.kill()
                except ProcessLookupError:
                    pass
            p.wait()

    def kill_leftovers(self):
        """SIGKILL every process whose command line names this suite's
        configuration directory: services that a manager which did not
        stop cleanly left behind."""
        me = os.getpid()
        for n in os.listdir("/proc"):
            if not n.isdigit() or int(n) == me:
                continue
            try:
                with open("/proc/%s/cmdline" % n, "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if self.confdir.encode() in args:
                try:
                    os.kill(int(n), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def close(self):
        """Stop every daemon and remove the directory.  Raises when a
        daemon's log shows a sanitizer report (ASan/UBSan builds)."""
        self.stop_extra()
        for d in reversed(self.daemons):
            d.stop()
        self.kill_leftovers()
        reports = []
        seen = set()
        logs = [(d.name, d.log_path) for d in self.daemons] + \
            [(os.path.basename(p), p) for p in self.extra_logs]
        for name, path in logs:
            if path in seen or not os.path.exists(path):
                continue
            seen.add(path)
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            if self.SANITIZER_RE.search(text):
                reports.append("%s:\n%s" % (name, text[-6000:]))
        shutil.rmtree(self.dir, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer report in daemon log:\n" +
                                 "\n".join(reports))

    # --- sekisho-smtpd ----------------------------------------------------

    smtpd = None
    smtp_port = None
    smtps_port = None

    def smtpd_config(self, **settings):
        """Set [SmtpServer] keys in tsmtpd.ini (values as written)."""
        for k, v in settings.items():
            self.set("tsmtpd.ini", "SmtpServer", k, v)

    def start_smtpd(self, wait=True, args=(), **settings):
        """Start sekisho-smtpd on free loopback ports.

        The first call picks Port and SmtpsPort and sets BindAddress to
        127.0.0.1; settings are further [SmtpServer] keys.  A later call
        (a restart) keeps the ports.  With wait, returns once the queue
        said it is ready and a probe connection got the greeting.
        """
        self.smtp_ports()
        self.smtpd_config(**settings)
        d = self.start("sekisho-smtpd", *args)
        self.smtpd = d
        if wait:
            self.wait_smtpd_ready(d)
        return d

    def smtp_ports(self):
        """Pick Port and SmtpsPort (free, on 127.0.0.1) once."""
        if self.smtp_port is None:
            self.smtp_port = free_port()
            self.smtps_port = free_port()
            while self.smtps_port == self.smtp_port:
                self.smtps_port = free_port()
            self.smtpd_config(BindAddress="127.0.0.1", Port=self.smtp_port,
                              SmtpsPort=self.smtps_port)

    def wait_smtpd_ready(self, d, timeout=15.0, log=None, count=1):
        """Wait until smtpd d (a Daemon, or None for one the manager
        runs: then log() is its log and count the starts to wait for)
        is ready and greets."""
        log = log or d.log
        running = (lambda: d.running()) if d is not None else \
            (lambda: True)

        def ready():
            if not running():
                raise AssertionError("sekisho-smtpd exited (%s) while "
                                     "starting; log:\n%s"
                                     % (d.proc.returncode, log()))
            return log().count("event=queue-ready") >= count
        wait_for(ready, timeout, what="smtpd queue ready")
        # An earlier run's sessions (a restarted service's log goes on).
        ended = log().count("event=disconnect")

        def greeted():
            if not running():
                raise AssertionError("sekisho-smtpd exited; log:\n%s"
                                     % log())
            try:
                with RawSMTP(self.smtp_port, timeout=2.0) as c:
                    if c.greeting.code != 220:
                        return False
                    c.cmd("QUIT")
                return True
            except (OSError, SMTPClosed, AssertionError):
                return False
        wait_for(greeted, timeout, step=0.05, what="smtpd greeting")
        # The probe's session must be gone before tests count connections.
        wait_for(lambda: log().count("event=disconnect") > ended, timeout,
                 what="probe session closed")

    def stop_smtpd(self, timeout=15.0):
        """Stop the running sekisho-smtpd (SIGTERM, then SIGKILL)."""
        return self.smtpd.stop(timeout)

    def smtpd_children(self, d=None):
        """{comm: pid} of the running daemon's children."""
        d = d or self.smtpd
        return {k: v[0] for k, v in proc_children(d.pid).items()}

    # --- sekisho-scanner --------------------------------------------------

    scanner = None

    def start_scanner(self, wait=True, env=None, **settings):
        """Start sekisho-scanner; settings are policy.ini [scan] keys.
        With wait, returns once its workers run and the socket listens."""
        for k, v in settings.items():
            self.set("policy.ini", "scan", k, str(v))
        d = self.start("sekisho-scanner", env=env)
        self.scanner = d
        if wait:
            def ready():
                if not d.running():
                    raise AssertionError("sekisho-scanner exited (%s) "
                                         "while starting; log:\n%s"
                                         % (d.proc.returncode, d.log()))
                return "event=scanner-ready" in d.log()
            wait_for(ready, 15.0, what="scanner ready")
        return d

    # --- sekisho-ipprofiler -----------------------------------------------

    ipprofiler = None

    def start_ipprofiler(self, wait=True, env=None, **settings):
        """Start sekisho-ipprofiler; settings are foxdns.ini [foxdns] keys.
        With wait, returns once its socket listens (and its DNS responder,
        when dns_port is set)."""
        for k, v in settings.items():
            self.set("foxdns.ini", "foxdns", k, str(v))
        d = self.start("sekisho-ipprofiler", env=env)
        self.ipprofiler = d
        if wait:
            def ready():
                if not d.running():
                    raise AssertionError("sekisho-ipprofiler exited (%s) "
                                         "while starting; log:\n%s"
                                         % (d.proc.returncode, d.log()))
                return "event=ipprofiler-ready" in d.log()
            wait_for(ready, 15.0, what="ipprofiler ready")
        return d

    # --- sekisho-manager -------------------------------------------------

    manager = None

    def service_log_path(self, name):
        """The log file sekisho-manager keeps for a service ("smtpd")."""
        return os.path.join(self.data_dir, "log", name + ".log")

    def service_log(self, name):
        try:
            with open(self.service_log_path(name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    READY = {"smtpd": "event=queue-ready", "scanner": "event=scanner-ready",
             "ipprofiler": "event=ipprofiler-ready"}

    def wait_service_ready(self, name, count=1, timeout=20.0):
        """Wait until the manager's service name (smtpd, scanner,
        ipprofiler) has said it is ready count times in its log."""
        if name == "smtpd":
            self.wait_smtpd_ready(None, timeout,
                                  log=lambda: self.service_log("smtpd"),
                                  count=count)
            return
        wait_for(lambda: self.service_log(name).count(self.READY[name]) >=
                 count, timeout, what="%s ready (%d)" % (name, count))

    def start_manager(self, bindir=None, wait=True, **settings):
        """Start sekisho-manager (with -B bindir when given); settings are
        imss.ini [imss_manager] keys.  The SMTP service gets free loopback
        ports.  With wait, returns once the manager is ready and, with the
        real programs, every service it started is ready."""
        self.smtp_ports()
        for k, v in settings.items():
            self.set("imss.ini", "imss_manager", k, str(v))
        d = self.start("sekisho-manager", *(["-B", bindir] if bindir
                                            else []))
        self.manager = d
        for name in conf_service_names():
            self.extra_logs.append(self.service_log_path(name))
        if not wait:
            return d

        def ready():
            if not d.running():
                raise AssertionError("sekisho-manager exited (%s); log:\n%s"
                                     % (d.proc.returncode, d.log()))
            return "event=manager-ready" in d.log()
        wait_for(ready, 10.0, what="manager ready")
        if bindir is None:
            r = self.run("sekishoctl", "-c", self.confdir, "config", "get",
                         "imss.ini", "imss_manager", "services")
            enabled = [w.strip() for w in r.stdout.split(",")]
            for name in self.READY:
                if name in enabled and \
                        os.path.exists(self.bin("sekisho-" + name)):
                    self.wait_service_ready(name)
        return d

    def scan_workers(self):
        """Pids of the scanner's workers."""
        return self.scan_workers_of(self.scanner.pid)

    def scan_workers_of(self, pid):
        """Pids of the workers of the scanner with that pid (one the
        manager started)."""
        return proc_children(pid).get("scanner.worker", [])

    def set_rules(self, rules):
        """Replace the [rule "..."] sections of policy.ini with rules
        (policy.ini text); every other section stays as it is."""
        kept, keep = [], True
        for line in self.read("policy.ini").splitlines(keepends=True):
            head = line.strip()
            if head.startswith("["):
                keep = not head.lower().startswith("[rule ")
            if keep:
                kept.append(line)
        self.write("policy.ini", "".join(kept) + "\n" + rules)

    def spool(self, *sub):
        return os.path.join(self.data_dir, "spool", *sub)

    def spool_files(self, state):
        """Names of the files in spool/<state> ([] when it does not exist)."""
        try:
            return sorted(os.listdir(self.spool(state)))
        except FileNotFoundError:
            return []

    def incoming(self):
        """Messages in spool/incoming as [(qid, envelope dict, bytes)],
        sorted by queue id; every envelope must parse and match."""
        out = []
        names = self.spool_files("incoming")
        for n in names:
            if not n.endswith(".env"):
                continue
            qid = n[:-4]
            with open(self.spool("incoming", n), encoding="utf-8") as f:
                env = parse_envelope(f.read())
            with open(self.spool("incoming", qid + ".msg"), "rb") as f:
                msg = f.read()
            if env["id"] != qid:
                raise AssertionError("envelope %s names %s" % (qid,
                                                                env["id"]))
            if int(env["size"]) != len(msg):
                raise AssertionError("envelope %s: size %s, file %d"
                                     % (qid, env["size"], len(msg)))
            out.append((qid, env, msg))
        return out

    def message(self, qid):
        """(envelope, bytes) of one message in incoming/."""
        for q, env, msg in self.incoming():
            if q == qid:
                return env, msg
        raise AssertionError("qid %s not in incoming/ (%s)"
                             % (qid, self.spool_files("incoming")))


class SuiteTestCase(unittest.TestCase):
    """A test case with a fresh Suite in self.suite."""

    def setUp(self):
        self.suite = Suite()
        self.addCleanup(self.suite.close)

    def assertLogHas(self, daemon, needle, timeout=5.0):
        wait_for(lambda: needle in daemon.log(), timeout,
                 what="%r in %s log" % (needle, daemon.name))

    # --- smtpd helpers ----------------------------------------------------

    def smtp(self, port=None, **kw):
        """A RawSMTP connection to the suite's smtpd (closed at cleanup)."""
        c = RawSMTP(port or self.suite.smtp_port, **kw)
        self.addCleanup(c.close)
        return c

    def deliver(self, content, sender="a@example.org",
                rcpts=("b@example.com",), port=None):
        """Send one message (content: CRLF lines, not yet dot-stuffed) in
        its own session; returns the queue id from the 250 reply."""
        with RawSMTP(port or self.suite.smtp_port) as c:
            r = c.send_mail(sender, rcpts, dot_stuff(content))
            qid = r.qid()
            if not qid:
                raise AssertionError("not queued: %s" % r)
            c.cmd("QUIT")
        return qid

    def assertSpoolClean(self, timeout=5.0):
        """Nothing left in spool/tmp (unfinished messages are removed)."""
        wait_for(lambda: not self.suite.spool_files("tmp"), timeout,
                 what="spool/tmp empty (has %s)"
                 % self.suite.spool_files("tmp"))

    def assertNoIncoming(self):
        self.assertEqual(self.suite.spool_files("incoming"), [],
                         "no message may be in spool/incoming")

    def assertStored(self, qid, content, sender=None, rcpts=None):
        """Message qid is in incoming/ as our Received header + content."""
        env, msg = self.suite.message(qid)
        received, rest = split_received(msg)
        self.assertEqual(rest, content)
        self.assertTrue(has_only_crlf(msg), "stored message has bare CR/LF")
        if sender is not None:
            self.assertEqual(env["sender"], sender)
        if rcpts is not None:
            self.assertEqual([r[0] for r in env["rcpt"]], list(rcpts))
        return env, received
