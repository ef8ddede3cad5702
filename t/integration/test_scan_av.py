"""Antivirus in the scan server (issue 6): libclamav and clamd, the rules'
virus condition, and the outcomes when a message cannot be cleared.

Every test runs the real daemons (sekisho-scanner, sekisho-smtpd; clamd
where it says so), sends mail over SMTP and checks the bytes that reach
the Maildir or the quarantine store, the tracking log and the
administrator's notices.

Nothing comes from the network: the signature database is built in the
suite's temporary directory at test time, like t/unit/test_av.c does it:
`sigtool --md5` lines (.hdb) for the EICAR test file and for
clamav-testfiles' clam.exe, and an .ndb body signature for EICAR at offset
0 (so a quoted-printable or base64 attachment, decoded with a trailing
newline, still matches).  Without sigtool the whole file is skipped.
"""

import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
import zipfile

from harness import Suite, free_port, split_received, wait_for
from test_scan_server import ScanServerCase

TESTFILES = "/usr/share/clamav-testfiles"
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-"
         b"FILE!$H+H*")
EICAR_SIG = "Eicar-Test-Signature"
CLAM_SIG = "ClamAV-Test-File"
MARKER = b"SEKISHO-MARKER-7f3a"
MARKER_SIG = "Sekisho-Marker"
CLAMD = "/usr/sbin/clamd"


def which(name):
    for d in (os.environ.get("PATH", "").split(os.pathsep) +
              ["/usr/bin", "/usr/sbin", "/usr/local/bin"]):
        p = os.path.join(d, name)
        if d and os.access(p, os.X_OK):
            return p
    return None


SIGTOOL = which("sigtool")
CLAMSCAN = which("clamscan")
ZIP = which("zip")

needs_sigtool = unittest.skipUnless(
    SIGTOOL, "sigtool (clamav) is not installed: no signature database "
    "can be built (scripts/install-deps.sh)")

VIRUS_RULES = '''
[rule "Virus found"]
direction = both
virus = yes
intercept = quarantine virus
notify_admin = virus-found
'''


# --- the signature database -----------------------------------------------

_hdb_cache = None


def hdb_text():
    """test.hdb: sigtool --md5 of EICAR and of clam.exe, renamed."""
    global _hdb_cache
    if _hdb_cache is None:
        tmp = tempfile.mkdtemp(prefix="sekisho-avdb-")
        try:
            eicar = os.path.join(tmp, "eicar.com")
            with open(eicar, "wb") as f:
                f.write(EICAR)
            lines = []
            files = [(eicar, EICAR_SIG)]
            if os.path.exists(os.path.join(TESTFILES, "clam.exe")):
                files.append((os.path.join(TESTFILES, "clam.exe"),
                              CLAM_SIG))
            for path, name in files:
                out = subprocess.run([SIGTOOL, "--md5", path], check=True,
                                     capture_output=True,
                                     text=True).stdout
                md5, size, _ = out.strip().split(":", 2)
                lines.append("%s:%s:%s\n" % (md5, size, name))
            _hdb_cache = "".join(lines)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _hdb_cache


def build_db(path, marker=False):
    """A signature directory at path: test.hdb and test.ndb (EICAR as a
    body signature at offset 0); with marker also marker.ndb."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "test.hdb"), "w") as f:
        f.write(hdb_text())
    with open(os.path.join(path, "test.ndb"), "w") as f:
        f.write("%s:0:0:%s\n" % (EICAR_SIG, EICAR.hex()))
    if marker:
        write_marker_sig(path)
    return path


def write_marker_sig(path):
    tmp = os.path.join(path, ".marker.tmp")
    with open(tmp, "w") as f:
        f.write("%s:0:*:%s\n" % (MARKER_SIG, MARKER.hex()))
    os.rename(tmp, os.path.join(path, "marker.ndb"))


# --- building mail ----------------------------------------------------------

def b64_lines(data):
    s = base64.b64encode(data)
    return b"".join(s[i:i + 76] + b"\r\n" for i in range(0, len(s), 76))


def rfc2231_boundary_mail(subject, fname, data, to):
    """A mail whose boundary is given as an RFC 2231 parameter
    (boundary*=): GMime reads it, libclamav's own mail parser does not, so
    only the decoded-part view of the scanner (scanner/avmsg.c) sees the
    attachment."""
    return (b"From: <alice@example.org>\r\nTo: <" + to.encode() +
            b">\r\nSubject: " + subject.encode() +
            b"\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary*=\"XX\"\r\n\r\n"
            b"--XX\r\nContent-Type: text/plain\r\n\r\nSee it.\r\n"
            b"--XX\r\nContent-Type: application/octet-stream; name=" +
            fname.encode() + b"\r\nContent-Transfer-Encoding: base64"
            b"\r\n\r\n" + b64_lines(data) + b"--XX--\r\n")


def qp_lines(data):
    """Quoted-printable, every byte but letters and digits as =XX."""
    out, line = [], b""
    for c in data:
        tok = bytes([c]) if chr(c).isalnum() and c < 128 else \
            b"=%02X" % c
        if len(line) + len(tok) > 75:
            out.append(line + b"=\r\n")
            line = b""
        line += tok
    out.append(line + b"\r\n")
    return b"".join(out)


def encode(cte, data):
    if cte == "base64":
        return b64_lines(data)
    if cte == "quoted-printable":
        return qp_lines(data)
    # 7bit: the bytes as they are, as CRLF lines.
    text = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return text if text.endswith(b"\r\n") else text + b"\r\n"


_counter = [0]


def build_mail(subject, attachments=(), text=b"See the attachment.\r\n",
               sender="alice@example.org", to="bob@localhost"):
    """A multipart/mixed message (CRLF bytes): a text part, then each
    attachment (filename, content type, transfer encoding, data)."""
    _counter[0] += 1
    bnd = b"=_sekisho_av_%d_%d" % (os.getpid(), _counter[0])
    m = [b"From: <%s>\r\n" % sender.encode(),
         b"To: <%s>\r\n" % to.encode(),
         b"Subject: %s\r\n" % subject.encode(),
         b"Message-ID: <%d.%d@av.test>\r\n" % (time.time_ns(), _counter[0]),
         b"MIME-Version: 1.0\r\n",
         b"Content-Type: multipart/mixed; boundary=\"" + bnd + b"\"\r\n",
         b"\r\n",
         b"--" + bnd + b"\r\n",
         b"Content-Type: text/plain; charset=us-ascii\r\n\r\n", text]
    for fn, ctype, cte, data in attachments:
        m += [b"\r\n--" + bnd + b"\r\n",
              b"Content-Type: %s; name=\"%s\"\r\n" % (ctype.encode(),
                                                      fn.encode()),
              b"Content-Disposition: attachment; filename=\"%s\"\r\n"
              % fn.encode(),
              b"Content-Transfer-Encoding: %s\r\n\r\n" % cte.encode(),
              encode(cte, data)]
    m.append(b"\r\n--" + bnd + b"--\r\n")
    return b"".join(m)


def make_zip(members):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (2024, 1, 2, 3, 4, 6)), data,
                       zipfile.ZIP_DEFLATED)
    return b.getvalue()


def make_tgz(members):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz") as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1700000000
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def noise(n, seed=7):
    """n deterministic bytes no signature matches (xorshift32)."""
    out = bytearray(n)
    x = seed
    for i in range(n):
        x ^= (x << 13) & 0xffffffff
        x ^= x >> 17
        x ^= (x << 5) & 0xffffffff
        out[i] = x & 0xff
    return bytes(out)


def eicar_samples():
    """(label, attachment) of EICAR in every wrapping issue 6 names."""
    zip1 = make_zip([("eicar.com", EICAR)])
    tgz1 = make_tgz([("dir/eicar.com", EICAR)])
    oct_ = "application/octet-stream"
    return [
        ("plain", ("eicar.com", oct_, "7bit", EICAR)),
        ("base64", ("eicar.com", oct_, "base64", EICAR)),
        ("quoted-printable", ("eicar.txt", "text/plain", "quoted-printable",
                              EICAR)),
        ("zip", ("eicar.zip", "application/zip", "base64", zip1)),
        ("tar.gz", ("eicar.tar.gz", "application/gzip", "base64", tgz1)),
        ("zip in tar.gz", ("nested.tar.gz", "application/gzip", "base64",
                           make_tgz([("inner.zip", zip1)]))),
        ("tar.gz in zip in zip", ("nested.zip", "application/zip", "base64",
                                  make_zip([("b.zip", make_zip(
                                      [("a.tar.gz", tgz1)]))]))),
    ]


def clean_attachments():
    text = b"Hello,\r\n\r\nnothing to see here.\r\n"
    n = noise(200000)
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + \
        noise(30000, 11)
    return [
        ("report.zip", "application/zip", "base64",
         make_zip([("readme.txt", text), ("noise.bin", n)])),
        ("report.tar.gz", "application/gzip", "base64",
         make_tgz([("readme.txt", text), ("data/noise.bin", n[:50000])])),
        ("setup.exe", "application/octet-stream", "base64", exe),
        ("notes.txt", "text/plain", "quoted-printable",
         b"EICAR is not here: X5O!P%@AP[4 only a piece.\r\n"),
        ("readme.txt", "text/plain", "7bit", text),
    ]


def encrypted_zip(tmpdir, name="secret.txt", data=b"a secret\n"):
    """A zip made by `zip -P secret` (traditional PKWARE encryption)."""
    src = os.path.join(tmpdir, name)
    out = os.path.join(tmpdir, "enc-%d.zip" % time.time_ns())
    with open(src, "wb") as f:
        f.write(data)
    subprocess.run([ZIP, "-q", "-j", "-P", "secret", out, src], check=True)
    with open(out, "rb") as f:
        return f.read()


def maildir_content(data):
    """What the client sent, from a delivered Maildir file: without the
    Return-Path:/Delivered-To: lines and our Received: header."""
    for h in (b"Return-Path: ", b"Delivered-To: "):
        if data.startswith(h):
            data = data[data.index(b"\r\n") + 2:]
    return split_received(data)[1]


# --- clamd ----------------------------------------------------------------

class Clamd:
    """A real clamd in the foreground on a private Unix socket (and
    optionally loopback TCP), with a generated clamd.conf."""

    def __init__(self, workdir, dbdir, name="clamd", tcp_port=None,
                 stream_max="2M"):
        self.dir = workdir
        self.sock = os.path.join(workdir, name + ".sock")
        self.conf = os.path.join(workdir, name + ".conf")
        self.log_path = os.path.join(workdir, name + ".log")
        self.tcp_port = tcp_port
        lines = ["DatabaseDirectory %s" % dbdir,
                 "LocalSocket %s" % self.sock,
                 "LocalSocketMode 666",
                 "FixStaleSocket yes",
                 "Foreground yes",
                 "LogFile %s" % self.log_path,
                 "LogVerbose yes",
                 "TemporaryDirectory %s" % workdir,
                 "StreamMaxLength %s" % stream_max,
                 "MaxThreads 4",
                 "AlertEncrypted yes",
                 "AlertExceedsMax yes",
                 "ScanMail yes",
                 "ScanArchive yes",
                 "SelfCheck 0",
                 "User root"]
        if tcp_port:
            lines += ["TCPSocket %d" % tcp_port, "TCPAddr 127.0.0.1"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.out = open(os.path.join(workdir, name + ".out"), "ab")
        self.proc = subprocess.Popen([CLAMD, "--foreground", "-c",
                                      self.conf], stdout=self.out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        try:
            wait_for(self.answers, 60, step=0.05, what="clamd PONG")
        except AssertionError:
            self.stop()
            raise AssertionError("clamd did not start: %s" % self.log())

    @property
    def address(self):
        return "unix:" + self.sock

    def answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("clamd exited (%s): %s"
                                 % (self.proc.returncode, self.log()))
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(self.sock)
                s.sendall(b"zPING\0")
                return s.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def log(self):
        text = ""
        for p in (self.log_path, self.out.name):
            try:
                with open(p, encoding="utf-8", errors="replace") as f:
                    text += f.read()[-3000:]
            except OSError:
                pass
        return text

    def kill(self):
        """SIGKILL: the socket file stays, nobody answers on it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.out.close()


# --- test cases -----------------------------------------------------------

@needs_sigtool
class AVCase(ScanServerCase):
    """ScanServerCase with [antivirus] on and a database in the suite."""

    def av_settings(self, **av):
        s = self.suite
        self.dbdir = os.path.join(s.dir, "avdb")
        if not os.path.isdir(self.dbdir):
            build_db(self.dbdir)
        s.set("policy.ini", "antivirus", "enabled", "1")
        s.set("policy.ini", "antivirus", "database_dir", self.dbdir)
        for k, v in av.items():
            s.set("policy.ini", "antivirus", k, str(v))

    def start_av(self, rules=VIRUS_RULES, av=None, **scan):
        """ScanServerCase.start, with [antivirus] set after the rules
        (set_rules() drops every section after the first rule, so the
        settings hold whatever the layout of policy.ini)."""
        s = self.suite
        self.md = os.path.join(s.dir, "maildir")
        s.set("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")
        s.set("tsmtpd.ini", "SmtpServer", "AcceptedDomains", "localhost")
        s.set("tsmtpd.ini", "Routes", "admin.test", "maildir:" + self.md)
        s.set("imss.ini", "general", "admin_email", "postmaster@admin.test")
        s.set_rules(rules)
        self.av_settings(**(av or {}))
        s.start_scanner(**scan)
        s.start_smtpd()
        self.assertIn("event=antivirus", s.scanner.log())

    def send_mail(self, content, rcpt="bob@localhost",
                  sender="alice@example.org"):
        """Send content (CRLF bytes) to rcpt; its queue id."""
        return self.deliver(content, sender=sender, rcpts=(rcpt,))

    def events(self, qid, kind=None):
        rows = self.log_query("--qid", qid)
        return [r for r in rows if kind is None or r["event"] == kind]

    def outcome(self, qid, timeout=30):
        """Wait until qid was scanned and carried out; the scanned
        records (one per recipient)."""
        def done():
            kinds = [r["event"] for r in self.events(qid)]
            if "scanned" not in kinds:
                return None
            if not ({"quarantined", "deleted", "delivered"} & set(kinds)):
                return None
            return [r for r in self.events(qid) if r["event"] == "scanned"]
        return wait_for(done, timeout, step=0.2,
                        what="scan outcome of %s" % qid)

    def quarantine_of(self, qid, timeout=30):
        """(quarantine id, .info dict, stored bytes) of message qid."""
        rec = wait_for(lambda: self.events(qid, "quarantined"), timeout,
                       step=0.2, what="%s quarantined" % qid)[0]
        qrid = rec["detail"]
        return (qrid,) + self.quarantine_entry(qrid)

    def quarantine_entry(self, qrid):
        d = os.path.join(self.suite.data_dir, "quarantine", "msg")
        info = self.quarantined()[qrid]
        with open(os.path.join(d, qrid + ".msg"), "rb") as f:
            return info, f.read()

    def admin_notice(self, qid, timeout=20):
        def find():
            for m in self.mailbox("postmaster@admin.test"):
                if qid.encode() in m:
                    return m
            return None
        return wait_for(find, timeout, what="admin notice about %s" % qid)

    def status(self):
        """sekishoctl --json scanner status, parsed."""
        r = self.ctl("--json", "scanner", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def assertScannerAlive(self):
        self.assertTrue(self.suite.scanner.running(),
                        "sekisho-scanner exited: %s"
                        % self.suite.scanner.log()[-3000:])

    def assertQuarantinedVirus(self, qid, content, rcpt, name_prefix,
                               what=""):
        """qid is held in "virus" by the rule, bytes as sent; the scanned
        record names the virus; nothing reached rcpt."""
        qrid, info, stored = self.quarantine_of(qid)
        self.assertEqual(info["area"], "virus", what)
        self.assertEqual(info["rule"], "Virus found", what)
        self.assertEqual(info["reason"], "Quarantined (virus)", what)
        self.assertEqual(split_received(stored)[1], content,
                         "%s: quarantined bytes differ from what was sent"
                         % what)
        scanned, = self.events(qid, "scanned")
        self.assertEqual(scanned["rcpt"], rcpt, what)
        self.assertEqual(scanned["rule"], "Virus found", what)
        self.assertEqual(scanned["action"], "Quarantined (virus)", what)
        m = re.search(r"virus=([^;]+)", scanned["detail"] or "")
        self.assertTrue(m, "%s: no virus= in scanned detail %r"
                        % (what, scanned["detail"]))
        self.assertTrue(m.group(1).startswith(name_prefix),
                        "%s: virus %r, want %s..." % (what, m.group(1),
                                                      name_prefix))
        self.assertEqual(self.mailbox(rcpt), [], what)
        return qrid, m.group(1)


@needs_sigtool
class SharedAVCase(AVCase):
    """One suite (scanner + smtpd) for every test of the class: tests use
    their own recipients and subjects."""

    RULES = VIRUS_RULES
    AV = {}
    SCAN = {"workers": 2}

    @classmethod
    def setUpClass(cls):
        cls.shared = Suite()
        inst = cls()            # "runTest": an instance to start with
        inst.suite = cls.shared
        try:
            AVCase.start_av(inst, cls.RULES, dict(cls.AV), **cls.SCAN)
        except BaseException:
            cls.shared.close()
            raise
        cls.shared_md = inst.md

    @classmethod
    def tearDownClass(cls):
        cls.shared.close()

    def setUp(self):
        self.suite = self.shared
        self.md = self.shared_md
        self.dbdir = os.path.join(self.suite.dir, "avdb")


class TestLibclamav(SharedAVCase):
    """libclamav, loaded once by the scanner; the "Virus found" rule."""

    # The shipped max_recursion (18) counts the mail around an attachment
    # as one level, so clam_cache_emax.tgz, found by clamscan at its
    # default depth 17, is found here too.

    def test_eicar_in_every_wrapping_is_quarantined_and_named(self):
        sent = []
        for i, (label, att) in enumerate(eicar_samples()):
            rcpt = "eicar%d@localhost" % i
            content = build_mail("EICAR %s" % label, [att], to=rcpt)
            sent.append((label, rcpt, content, self.send_mail(content,
                                                               rcpt)))
        for label, rcpt, content, qid in sent:
            qrid, name = self.assertQuarantinedVirus(
                qid, content, rcpt, EICAR_SIG, what=label)
            # The administrator hears of it, with the virus's name.
            note = self.admin_notice(qid)
            self.assertIn(b"Return-Path: <>", note)
            self.assertIn(("Subject: Virus found: %s\r\n" % name).encode(),
                          note, label)
            self.assertIn(('found "%s" in a message' % name).encode(), note,
                          label)
            self.assertIn(b"Rule:        Virus found", note)
            self.assertIn(b"Action:      Quarantined (virus)", note)
            rows = self.log_query("--qid", qid, "--event", "notified")
            self.assertEqual([r["rcpt"] for r in rows],
                             ["postmaster@admin.test"], label)
        self.assertScannerAlive()

    @unittest.skipUnless(os.path.exists(os.path.join(TESTFILES, "clam.exe"))
                         and CLAMSCAN, "needs clamav-testfiles and clamscan")
    def test_clamav_testfiles_detected_by_clamscan_are_quarantined(self):
        r = subprocess.run([CLAMSCAN, "--no-summary", "--infected", "-d",
                            self.dbdir, TESTFILES], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        found = {}
        for line in r.stdout.splitlines():
            m = re.match(r"^(.*): (\S+) FOUND$", line)
            if m:
                found[os.path.basename(m.group(1))] = m.group(2)
        # The package has some 45 samples of clam.exe.
        self.assertGreaterEqual(len(found), 40, r.stdout)
        sent = []
        rcpt = "testfiles@localhost"
        for fn in sorted(found):
            with open(os.path.join(TESTFILES, fn), "rb") as f:
                data = f.read()
            content = build_mail("testfile %s" % fn, [
                (fn, "application/octet-stream", "base64", data)], to=rcpt)
            sent.append((fn, content, self.send_mail(content, rcpt)))

        def all_held():
            q = {r["qid"] for r in self.track("quarantined")}
            return all(qid in q for _, _, qid in sent)
        try:
            wait_for(all_held, 60, step=0.5, what="every sample held")
        except AssertionError:
            pass        # reported file by file below
        missing = []
        for fn, content, qid in sent:
            kinds = [e["event"] for e in self.events(qid)]
            if "quarantined" not in kinds:
                scanned = self.events(qid, "scanned")
                missing.append("%s: %s %s" % (fn, kinds, [
                    (s["action"], s["detail"]) for s in scanned]))
                continue
            qrid, name = self.assertQuarantinedVirus(qid, content, rcpt,
                                                     CLAM_SIG, what=fn)
            self.assertEqual(name, found[fn], fn)
        self.assertEqual(missing, [], "samples clamscan detects were not "
                         "quarantined")
        self.assertEqual(self.mailbox(rcpt), [])
        self.assertScannerAlive()

    @unittest.skipUnless(os.path.exists(os.path.join(TESTFILES, "clam.exe")),
                         "needs clamav-testfiles")
    def test_part_only_our_parser_decodes_is_scanned(self):
        """The raw message and each decoded part: an attachment that
        libclamav's mail parser does not find is still scanned."""
        with open(os.path.join(TESTFILES, "clam.exe"), "rb") as f:
            exe = f.read()
        rcpt = "twoviews@localhost"
        content = rfc2231_boundary_mail("two views", "a.exe", exe, rcpt)
        # The premise: clamscan, with the same database, misses it.
        path = os.path.join(self.suite.dir, "twoviews.eml")
        with open(path, "wb") as f:
            f.write(content)
        r = subprocess.run(["clamscan", "--no-summary", "-d", self.dbdir,
                            path], capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write("note: clamscan now finds the RFC 2231 mail "
                             "itself: %s\n" % r.stdout.strip())
        qid = self.send_mail(content, rcpt)
        self.assertQuarantinedVirus(qid, content, rcpt, CLAM_SIG,
                                    what="RFC 2231 boundary")

    def test_scanner_status_reports_engine_and_database(self):
        """sekishoctl scanner status: engine, database version and
        signatures, as logged at load."""
        s = self.suite
        st = self.status()
        av = st["antivirus"]
        self.assertEqual(av["engine"], "libclamav")
        self.assertTrue(av["version"].startswith("ClamAV "), av)
        self.assertEqual(av["database"], self.dbdir)
        m = re.findall(r'event=antivirus engine=libclamav version="([^"]*)" '
                       r'signatures=(\d+)', s.scanner.log())
        self.assertEqual((av["version"], av["signatures"]),
                         (m[-1][0], int(m[-1][1])))
        self.assertGreater(av["signatures"], 0)
        self.assertEqual(st["workers"], 2)
        self.assertEqual(st["pid"], s.scanner.proc.pid)
        self.assertGreaterEqual(st["loaded"], st["started"])
        self.assertGreaterEqual(av["loaded"], st["started"])
        r = self.ctl("scanner", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("antivirus  %s (libclamav), %d signatures"
                      % (av["version"], av["signatures"]), r.stdout)
        self.assertIn("database   %s, loaded " % self.dbdir, r.stdout)
        # Usage errors.
        self.assertEqual(self.ctl("scanner", "stat").returncode, 2)
        self.assertEqual(self.ctl("scanner").returncode, 2)

    def test_clean_attachments_are_delivered_unchanged(self):
        rcpt = "clean@localhost"
        content = build_mail("clean attachments", clean_attachments(),
                             to=rcpt)
        qid = self.send_mail(content, rcpt)
        mail, = self.wait_mail(rcpt)
        self.assertEqual(maildir_content(mail), content)
        scanned, = self.outcome(qid)
        self.assertEqual(scanned["action"], "Passed sekisho scan")
        self.assertNotIn("virus=", scanned["detail"] or "")
        self.assertNotIn("antivirus", scanned["detail"] or "")
        self.assertEqual(self.events(qid, "quarantined"), [])
        self.assertEqual(self.log_query("--qid", qid, "--event",
                                        "notified"), [])
        self.assertScannerAlive()


class TestAVOutcomes(AVCase):
    """Encrypted and too-large messages: the on_* outcomes of
    [antivirus] decide for every recipient, whatever the rules say."""

    def encrypted_mail(self, rcpt):
        z = encrypted_zip(self.suite.dir)
        self.assertEqual(z[6] & 1, 1, "zip -P did not encrypt")
        return build_mail("encrypted zip", [
            ("secret.zip", "application/zip", "base64", z)], to=rcpt)

    def big_mail(self, rcpt):
        return build_mail("big attachment", [
            ("big.bin", "application/octet-stream", "base64",
             os.urandom(2 * 1024 * 1024))], to=rcpt)

    def assertHeldUnscannable(self, qid, content, rcpts, what):
        qrid, info, stored = self.quarantine_of(qid)
        self.assertEqual(info["area"], "unscannable")
        self.assertEqual(info["reason"], "Quarantined (unscannable)")
        self.assertEqual(split_received(stored)[1], content)
        scanned = self.events(qid, "scanned")
        self.assertEqual(sorted(s["rcpt"] for s in scanned), sorted(rcpts))
        for s in scanned:
            self.assertEqual(s["action"], "Quarantined (unscannable)")
            self.assertIn("antivirus: %s" % what, s["detail"] or "")
            self.assertNotIn("virus=", s["detail"] or "")
        for r in rcpts:
            self.assertEqual(self.mailbox(r), [])
        return scanned

    @unittest.skipUnless(ZIP, "needs zip")
    def test_encrypted_zip_is_quarantined_by_default(self):
        self.start_av()
        rcpts = ("bob@localhost", "carol@localhost")
        content = self.encrypted_mail(rcpts[0])
        qid = self.deliver(content, rcpts=rcpts)
        scanned = self.assertHeldUnscannable(qid, content, rcpts,
                                             "encrypted Heuristics.Encrypted")
        # The antivirus outcome, not a rule: no rule is named, no notice.
        for sc in scanned:
            self.assertIn(sc["rule"], (None, ""), sc)
        self.assertEqual(self.mailbox("postmaster@admin.test"), [])

    @unittest.skipUnless(ZIP, "needs zip")
    def test_encrypted_zip_is_delivered_with_on_encrypted_deliver(self):
        self.start_av(av={"on_encrypted": "deliver"})
        content = self.encrypted_mail("bob@localhost")
        qid = self.send_mail(content)
        mail, = self.wait_mail("bob@localhost")
        self.assertEqual(maildir_content(mail), content)
        scanned, = self.outcome(qid)
        self.assertEqual(scanned["action"], "Passed sekisho scan")
        self.assertIn("antivirus: encrypted", scanned["detail"] or "")
        self.assertEqual(self.quarantined(), {})

    def test_too_large_is_quarantined(self):
        self.start_av(av={"max_file_mb": 1})
        content = self.big_mail("bob@localhost")
        qid = self.send_mail(content)
        self.assertHeldUnscannable(qid, content, ["bob@localhost"],
                                   "too-large")

    def test_too_large_is_deleted_with_on_too_large_delete(self):
        self.start_av(av={"max_file_mb": 1, "on_too_large": "delete"})
        content = self.big_mail("bob@localhost")
        qid = self.send_mail(content)
        scanned, = self.outcome(qid)
        self.assertEqual(scanned["action"], "Deleted")
        self.assertIn("antivirus: too-large", scanned["detail"] or "")
        deleted = self.events(qid, "deleted")
        self.assertEqual([d["rcpt"] for d in deleted], ["bob@localhost"])
        time.sleep(1)
        self.assertEqual(self.mailbox("bob@localhost"), [])
        self.assertEqual(self.quarantined(), {})
        wait_for(lambda: not self.suite.spool_files("incoming"), 10,
                 what="incoming/ empty")
        self.assertEqual([n for n in self.suite.spool_files("queue")
                          if n.endswith(".env")], [])


@unittest.skipUnless(os.path.exists(CLAMD), "needs /usr/sbin/clamd "
                     "(clamav-daemon)")
class TestClamd(SharedAVCase):
    """engine=clamd against a real clamd on a private Unix socket, shared
    by the tests of the class."""

    @classmethod
    def setUpClass(cls):
        cls.clamd_dir = tempfile.mkdtemp(prefix="sekisho-clamd-")
        os.chmod(cls.clamd_dir, 0o755)
        try:
            cls.clamd = Clamd(cls.clamd_dir,
                              build_db(os.path.join(cls.clamd_dir, "db")))
        except BaseException:
            shutil.rmtree(cls.clamd_dir, ignore_errors=True)
            raise
        cls.AV = {"engine": "clamd", "clamd_address": cls.clamd.address,
                  "timeout": 30}
        try:
            super().setUpClass()
        except BaseException:
            cls.clamd.stop()
            shutil.rmtree(cls.clamd_dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.clamd.stop()
            shutil.rmtree(cls.clamd_dir, ignore_errors=True)

    def test_eicar_is_quarantined_and_clean_mail_delivered(self):
        self.assertIn("event=antivirus engine=clamd", self.suite.scanner.log())
        sent = []
        for i, (label, att) in enumerate(eicar_samples()):
            rcpt = "cd-eicar%d@localhost" % i
            content = build_mail("clamd EICAR %s" % label, [att], to=rcpt)
            sent.append((label, rcpt, content, self.send_mail(content,
                                                               rcpt)))
        rcpt = "cd-clean@localhost"
        clean = build_mail("clamd clean", clean_attachments(), to=rcpt)
        cqid = self.send_mail(clean, rcpt)
        for label, r, content, qid in sent:
            qrid, name = self.assertQuarantinedVirus(qid, content, r,
                                                     EICAR_SIG,
                                                     what="clamd " + label)
            note = self.admin_notice(qid)
            self.assertIn(("Virus found: %s" % name).encode(), note)
        mail, = self.wait_mail(rcpt)
        self.assertEqual(maildir_content(mail), clean)
        scanned, = self.outcome(cqid)
        self.assertEqual(scanned["action"], "Passed sekisho scan")
        # clamd saw every one of them.
        self.assertGreaterEqual(self.clamd.log().count("stream"), 1)
        self.assertScannerAlive()

    @unittest.skipUnless(ZIP, "needs zip")
    def test_encrypted_zip_through_clamd(self):
        rcpt = "cd-enc@localhost"
        z = encrypted_zip(self.suite.dir)
        content = build_mail("clamd encrypted", [
            ("secret.zip", "application/zip", "base64", z)], to=rcpt)
        qid = self.send_mail(content, rcpt)
        qrid, info, stored = self.quarantine_of(qid)
        self.assertEqual(info["area"], "unscannable")
        self.assertEqual(split_received(stored)[1], content)
        scanned, = self.events(qid, "scanned")
        self.assertIn("antivirus: encrypted Heuristics.Encrypted",
                      scanned["detail"])

    def test_over_stream_max_length_is_too_large(self):
        """clamd's StreamMaxLength (2M) ends the stream: "too large"."""
        rcpt = "cd-big@localhost"
        content = build_mail("clamd big", [
            ("big.bin", "application/octet-stream", "base64",
             os.urandom(3 * 1024 * 1024))], to=rcpt)
        qid = self.send_mail(content, rcpt)
        qrid, info, stored = self.quarantine_of(qid)
        self.assertEqual(info["area"], "unscannable")
        self.assertEqual(split_received(stored)[1], content)
        scanned, = self.events(qid, "scanned")
        self.assertIn("antivirus: too-large", scanned["detail"])
        self.assertEqual(self.mailbox(rcpt), [])


@unittest.skipUnless(os.path.exists(CLAMD), "needs /usr/sbin/clamd "
                     "(clamav-daemon)")
class TestClamdFailures(AVCase):
    """clamd that is not there, goes away, or listens on TCP; each test
    with its own suite and clamd."""

    def clamd_start(self, **kw):
        db = os.path.join(self.suite.dir, "avdb")
        if not os.path.isdir(db):
            build_db(db)
        c = Clamd(self.suite.dir, db, **kw)
        self.addCleanup(c.stop)
        return c

    def test_scanner_refuses_to_start_when_clamd_does_not_answer(self):
        s = self.suite
        # No socket file at all, then a stale one nobody listens on.
        nowhere = os.path.join(s.dir, "nobody.sock")
        stale = os.path.join(s.dir, "stale.sock")
        with socket.socket(socket.AF_UNIX) as so:
            so.bind(stale)
        for path in (nowhere, stale):
            self.av_settings(engine="clamd", clamd_address="unix:" + path,
                             timeout=5)
            d = s.start_scanner(wait=False)
            rc = d.wait_exit(30)
            self.assertIsNotNone(rc, "the scanner kept running without "
                                 "clamd: %s" % d.log())
            self.assertNotEqual(rc, 0, d.log())
            log = d.log()
            self.assertIn("unix:" + path, log)
            self.assertIn("PING", log)
            self.assertNotIn("event=scanner-ready", log)

    def test_clamd_gone_holds_message_in_scan_failure_area(self):
        """on_error=tempfail (the default): a scan whose clamd does not
        answer fails; after max_scan_failures the message is held in the
        scan-failure area, never delivered."""
        clamd = self.clamd_start()
        self.start_av(av={"engine": "clamd",
                          "clamd_address": clamd.address, "timeout": 10},
                      workers=1, max_scan_failures=2, scan_retry_seconds=1)
        # It works while clamd runs.
        ok = build_mail("while clamd runs", clean_attachments()[:1])
        self.send_mail(ok)
        mail, = self.wait_mail("bob@localhost")
        self.assertEqual(maildir_content(mail), ok)
        clamd.kill()
        content = build_mail("after clamd died", clean_attachments()[:1],
                             to="carol@localhost")
        qid = self.send_mail(content, "carol@localhost")
        wait_for(lambda: self.quarantined("scan-failure"), 40, step=0.2,
                 what="a message in the scan-failure area")
        (qrid, info), = self.quarantined("scan-failure").items()
        self.assertIn("attempt 2 of 2", info["reason"])
        with open(os.path.join(self.suite.data_dir, "quarantine", "msg",
                               qrid + ".msg"), "rb") as f:
            self.assertEqual(split_received(f.read())[1], content)
        failed = self.events(qid, "scan_failed")
        self.assertEqual(len(failed), 2, failed)
        for i, f in enumerate(failed):
            self.assertIn("antivirus", f["detail"])
            self.assertIn(clamd.address, f["detail"])
            self.assertIn("attempt %d of 2" % (i + 1), f["detail"])
        note = self.admin_notice(qrid)
        self.assertIn(b"Return-Path: <>", note)
        time.sleep(0.5)
        self.assertEqual(self.mailbox("carol@localhost"), [])
        self.assertEqual(len(self.mailbox("bob@localhost")), 1)
        self.assertEqual(self.suite.spool_files("incoming"), [])
        self.assertScannerAlive()

    def test_clamd_over_tcp(self):
        """clamd_address host:port: scans go to clamd on loopback TCP."""
        port = free_port()
        clamd = self.clamd_start(tcp_port=port)
        wait_for(lambda: port_answers(port), 30, what="clamd on TCP")
        self.start_av(av={"engine": "clamd",
                          "clamd_address": "127.0.0.1:%d" % port,
                          "timeout": 10},
                      workers=1, max_scan_failures=2, scan_retry_seconds=1)
        content = build_mail("EICAR over TCP", [eicar_samples()[1][1]])
        qid = self.send_mail(content)
        wait_for(lambda: self.events(qid, "quarantined"), 30, step=0.2,
                 what="%s quarantined" % qid)
        failed = self.events(qid, "scan_failed")
        self.assertEqual(failed, [], "scans through clamd on TCP fail: %s"
                         % [f["detail"] for f in failed])
        self.assertQuarantinedVirus(qid, content, "bob@localhost",
                                    EICAR_SIG, what="tcp")
        self.assertTrue(clamd.answers())


def port_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), 2) as s:
            s.sendall(b"zPING\0")
            return s.recv(16).startswith(b"PONG")
    except OSError:
        return False


class TestSignatureReload(AVCase):
    """New signatures while mail flows: SIGHUP loads them; a message is
    scanned under the old or the new database, never lost, never
    delivered unscanned."""

    RULES = '''
[rule "Virus found"]
direction = both
virus = Eicar*, Sekisho-*
intercept = quarantine virus
notify_admin = virus-found
'''
    N = 30

    def test_reload_while_messages_flow(self):
        self.start_av(rules=self.RULES, workers=2)
        s = self.suite
        # The glob: clam.exe is found (ClamAV-Test-File) but the rule
        # does not name it; EICAR is named.
        if os.path.exists(os.path.join(TESTFILES, "clam.exe")):
            with open(os.path.join(TESTFILES, "clam.exe"), "rb") as f:
                exe = f.read()
            c1 = build_mail("unnamed virus", [
                ("clam.exe", "application/octet-stream", "base64", exe)],
                to="glob@localhost")
            q1 = self.send_mail(c1, "glob@localhost")
            mail, = self.wait_mail("glob@localhost")
            self.assertEqual(maildir_content(mail), c1)
            scanned, = self.outcome(q1)
            self.assertIn("virus=" + CLAM_SIG, scanned["detail"])
            self.assertEqual(scanned["action"], "Passed sekisho scan")

        sent = []               # (index, monotonic start, qid, content)
        errors = []
        half = threading.Event()

        def sender():
            try:
                for i in range(self.N):
                    content = build_mail(
                        "marker %02d" % i, text=b"Look: " + MARKER +
                        b" in the body.\r\n", to="flow@localhost")
                    t0 = time.monotonic()
                    qid = self.send_mail(content, "flow@localhost")
                    sent.append((i, t0, qid, content))
                    if i == self.N // 2 - 1:
                        half.set()
                    time.sleep(0.1)
            except BaseException as e:      # reported by the main thread
                errors.append(repr(e))
                half.set()

        th = threading.Thread(target=sender)
        th.start()
        try:
            half.wait(60)
            write_marker_sig(self.dbdir)
            before = s.scanner.log().count("event=reloaded")
            st0 = self.status()
            s.scanner.signal(signal.SIGHUP)
            wait_for(lambda: s.scanner.log().count("event=reloaded") >
                     before, 20, step=0.01, what="event=reloaded")
            t_reloaded = time.monotonic()
        finally:
            th.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(sent), self.N)
        self.assertNotIn("event=reload-failed", s.scanner.log())
        # sekishoctl reports the new database: one signature more.
        st1 = self.status()
        self.assertEqual(st1["antivirus"]["signatures"],
                         st0["antivirus"]["signatures"] + 1)
        self.assertGreaterEqual(st1["antivirus"]["loaded"],
                                st0["antivirus"]["loaded"])
        self.assertEqual(st1["started"], st0["started"])

        qids = [q for _, _, q, _ in sent]

        def settled():
            ev = self.log_query("--to", "flow@", "--event",
                                "quarantined,delivered")
            return len({r["qid"] for r in ev} & set(qids)) == self.N
        wait_for(settled, 60, step=0.5, what="all %d settled" % self.N)

        delivered = {}
        for m in self.mailbox("flow@localhost"):
            body = maildir_content(m)
            delivered.setdefault(body, []).append(m)
        quarantined = {}
        for qrid, info in self.quarantined().items():
            _, stored = self.quarantine_entry(qrid)
            quarantined.setdefault(split_received(stored)[1], []).append(
                (qrid, info))
        late = 0
        for i, t0, qid, content in sent:
            d = delivered.get(content, [])
            q = quarantined.get(content, [])
            self.assertEqual(len(d) + len(q), 1, "message %d (%s): "
                             "delivered %d times, quarantined %d times"
                             % (i, qid, len(d), len(q)))
            scanned = self.events(qid, "scanned")
            self.assertEqual(len(scanned), 1, "message %d: %s"
                             % (i, scanned))
            if q:
                self.assertEqual(q[0][1]["area"], "virus", i)
                self.assertEqual(scanned[0]["action"], "Quarantined (virus)")
                self.assertIn("virus=" + MARKER_SIG, scanned[0]["detail"])
            else:
                self.assertEqual(scanned[0]["action"], "Passed sekisho scan")
                self.assertNotIn("virus=", scanned[0]["detail"] or "")
            if t0 > t_reloaded:
                late += 1
                self.assertTrue(q, "message %d (%s) was sent after "
                                "event=reloaded but delivered" % (i, qid))
        # The reload came midway: some mail was sent after it.
        self.assertGreater(late, 0)
        self.assertGreater(len(quarantined), 0)
        self.assertScannerAlive()
        self.assertEqual(len(s.scan_workers()), 2)


if __name__ == "__main__":
    unittest.main()
