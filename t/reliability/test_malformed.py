"""test_malformed.py: hostile input to the gateway (issue 10).

A corpus of hostile SMTP sessions (corpus/sessions/*.txt, notation in
corpus/sessions/README: every SMTP-smuggling end-of-data variant with and
without pipelining, NUL bytes, overlong lines and parameters, invalid
UTF-8 with and without SMTPUTF8, pipelining abuse, TLS garbage, clients
that vanish) and of hostile messages (corpus/messages/*.eml with their
outcomes in corpus/messages/expect.txt, plus the big ones generated here:
deep nesting, zip and tar bombs, archive members with traversal names,
huge headers) goes through the real sekisho-smtpd and sekisho-scanner.

Proved:
- every session gets exactly the replies its script names, and every
  message gets the outcome expected under RULES (delivered byte for byte,
  tagged, quarantined in a named area, deleted);
- after every input the daemons still run with the same process ids
  (smtpd parent, its smtp and queue children, the scanner and its
  workers) and a normal session is served;
- nothing accepted is lost: every message the tracking log says was
  received reached an outcome, spool/incoming, spool/queue and spool/tmp
  end empty; and no daemon log holds a sanitizer report (Suite.close).

SEKISHO_RELIABILITY_SECONDS above 20 (the short ctest run) repeats the
session corpus until that many seconds have passed.
"""

import email
import email.header
import email.policy
import gzip
import io
import os
import random
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tarfile
import tempfile
import time
import unittest
import zipfile

from harness import RawSMTP, SMTPClosed, Suite, wait_for
from test_scan_seeds import ScanCase, decoded_subject, original, \
    strip_delivery

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
SECONDS = int(os.environ.get("SEKISHO_RELIABILITY_SECONDS", "20") or 20)
SENDER = "alice@sender.test"

RULES = r"""
[rule "rel unscannable"]
order = 10
scan_limits = depth, count, size, ratio, encrypted
intercept = quarantine rel-unscannable
final = yes

[rule "rel exe name"]
order = 20
attachment_name = *.exe
intercept = quarantine rel-exe

[rule "rel traversal name"]
order = 30
attachment_name = *passwd
intercept = quarantine rel-traversal

[rule "rel keyword"]
order = 40
content = pattern: SEKISHO-REL-KW
intercept = quarantine rel-kw

[rule "rel delete"]
order = 50
subject = pattern: DELETE-ME
intercept = delete

[rule "rel tag"]
order = 60
subject = pattern: TAG-ME
tag_subject = [rel-tag]
"""


# --- session scripts ----------------------------------------------------------

def unescape(text):
    """The bytes of a corpus TEXT: UTF-8 with \\r \\n \\0 \\t \\\\ \\xHH."""
    out = bytearray()
    i = 0
    simple = {"r": b"\r", "n": b"\n", "0": b"\0", "t": b"\t", "\\": b"\\"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nx = text[i + 1]
            if nx in simple:
                out += simple[nx]
                i += 2
                continue
            if nx == "x":
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
            raise ValueError("bad escape in %r" % text)
        out += ch.encode("utf-8")
        i += 1
    return bytes(out)


def rand(n):
    """n pseudo-random bytes, the same on every run."""
    return random.Random(n).randbytes(n)


_hello = None


def clienthello():
    """The first flight of a real TLS client (a ClientHello record)."""
    global _hello
    if _hello is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        _hello = out.read()
    return _hello


EXPR_NAMES = {"__builtins__": {}, "rand": rand, "clienthello": clienthello,
              "range": range}


def expand(addr):
    """ADDR with a {A..B} range: the list of addresses."""
    m = re.search(r"\{(\d+)\.\.(\d+)\}", addr)
    if not m:
        return [addr]
    return [addr[:m.start()] + str(i) + addr[m.end():]
            for i in range(int(m.group(1)), int(m.group(2)) + 1)]


class Session:
    """One parsed session of the corpus."""

    def __init__(self, fname, name):
        self.fname = fname
        self.name = name
        self.steps = []         # (lineno, verb, arg)
        self.port = "smtp"
        self.greet = "220"
        self.deliver = []       # (addr, n, text or None)
        self.never = []
        self.maybe = []

    def where(self, lineno):
        return "%s:%d (%s)" % (self.fname, lineno, self.name)


def load_sessions():
    sessions = []
    d = os.path.join(CORPUS, "sessions")
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".txt"):
            continue
        cur = None
        with open(os.path.join(d, fn), encoding="utf-8") as f:
            for no, raw in enumerate(f, 1):
                line = raw.rstrip("\n").lstrip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("=== "):
                    cur = Session(fn, line[4:].strip())
                    sessions.append(cur)
                    continue
                if cur is None:
                    raise ValueError("%s:%d: outside a session" % (fn, no))
                if line.startswith(">> "):
                    cur.steps.append((no, "send", unescape(line[3:])))
                elif line.startswith("> "):
                    cur.steps.append((no, "send",
                                      unescape(line[2:]) + b"\r\n"))
                elif line.startswith("< "):
                    pat = line[2:].strip()
                    n = 1
                    m = re.match(r"^(\d+)\*(.*)$", pat)
                    if m:
                        n, pat = int(m.group(1)), m.group(2)
                    cur.steps.append((no, "reply", (n, pat)))
                else:
                    verb, _, arg = line.partition(" ")
                    arg = arg.strip()
                    if verb in ("send", "rawsend", "trickle"):
                        data = eval(arg, dict(EXPR_NAMES))
                        if not isinstance(data, bytes):
                            raise ValueError("%s:%d: not bytes" % (fn, no))
                        cur.steps.append((no, verb, data))
                    elif verb in ("closed", "tls", "abort", "end"):
                        cur.steps.append((no, verb, None))
                    elif verb in ("silent", "sleep"):
                        cur.steps.append((no, verb, float(arg)))
                    elif verb == "port":
                        cur.port = arg
                    elif verb == "greet":
                        cur.greet = arg
                    elif verb == "deliver":
                        parts = arg.split(" ", 2)
                        for a in expand(parts[0]):
                            cur.deliver.append(
                                (a, int(parts[1]),
                                 parts[2].encode() if len(parts) > 2
                                 else None))
                    elif verb == "never":
                        cur.never += expand(arg)
                    elif verb == "maybe":
                        cur.maybe += expand(arg)
                    else:
                        raise ValueError("%s:%d: unknown %r" % (fn, no, verb))
    return sessions


def code_matches(code, pat):
    for alt in pat.split("|"):
        alt = alt.strip()
        if re.fullmatch(r"[2-5]xx", alt) and code // 100 == int(alt[0]):
            return True
        if alt.isdigit() and code == int(alt):
            return True
    return False


# --- generated messages ---------------------------------------------------------

def header(subject, ctype=None):
    h = ("From: %s\r\nTo: rcpt@localhost\r\nSubject: %s\r\n"
         "MIME-Version: 1.0\r\n" % (SENDER, subject))
    if ctype:
        h += "Content-Type: %s\r\n" % ctype
    return h.encode()


def with_file(subject, name, data, ctype="application/octet-stream"):
    """A message with a text part and one base64 attachment."""
    import base64
    b64 = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (header(subject, 'multipart/mixed; boundary="ATT"') +
            b"\r\n--ATT\r\nContent-Type: text/plain\r\n\r\nattached\r\n"
            b"--ATT\r\nContent-Type: " + ctype.encode() +
            b"\r\nContent-Disposition: attachment; filename=\"" +
            name.encode() + b"\"\r\nContent-Transfer-Encoding: base64"
            b"\r\n\r\n" + b64 + b"--ATT--\r\n")


def deep_multipart(depth):
    head = b"".join(b"--L%d\r\nContent-Type: multipart/mixed; "
                    b"boundary=\"L%d\"\r\n\r\n" % (i, i + 1)
                    for i in range(depth))
    tail = b"".join(b"\r\n--L%d--\r\n" % i for i in reversed(range(depth)))
    return (header("deep multipart %d" % depth,
                   'multipart/mixed; boundary="L0"') + b"\r\n" + head +
            b"--L%d\r\nContent-Type: text/plain\r\n\r\ndeepest\r\n"
            b"--L%d--\r\n" % (depth, depth) + tail)


def deep_rfc822(depth):
    inner = b"From: x@sender.test\r\nSubject: innermost\r\n\r\nbottom\r\n"
    for i in range(depth):
        inner = (b"From: x@sender.test\r\nSubject: level %d\r\n"
                 b"Content-Type: message/rfc822\r\n\r\n" % i) + inner
    return header("deep rfc822 %d" % depth) + inner


def zip_of(members, method=zipfile.ZIP_DEFLATED):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", method, compresslevel=9) as z:
        for name, data in members:
            if isinstance(data, int):        # a large zero file, streamed
                zi = zipfile.ZipInfo(name, (2023, 11, 14, 0, 0, 0))
                zi.compress_type = method
                with z.open(zi, "w", force_zip64=True) as f:
                    chunk = bytes(1 << 20)
                    for _ in range(data >> 20):
                        f.write(chunk)
            else:
                z.writestr(name, data)
    return bio.getvalue()


class Zeros(io.RawIOBase):
    def __init__(self, n):
        self.left = n

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n

    def readable(self):
        return True


def tar_of(members, comp=""):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w:" + comp) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if isinstance(data, int):
                ti.size = data
                t.addfile(ti, io.BufferedReader(Zeros(data), 1 << 20))
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def encrypted_zip():
    if not shutil.which("zip"):
        return None
    d = tempfile.mkdtemp(prefix="sekisho-zip-")
    try:
        with open(os.path.join(d, "secret.txt"), "wb") as f:
            f.write(b"SEKISHO-REL-KW secret\n")
        subprocess.run(["zip", "-q", "-P", "pw", "secret.zip", "secret.txt"],
                       cwd=d, check=True)
        with open(os.path.join(d, "secret.zip"), "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(d, True)


def generated_messages():
    """[(name, bytes, outcome)] of the messages too big or too regular to
    keep as files."""
    out = []
    out.append(("gen-multipart-10000-deep", deep_multipart(10000),
                "quarantine rel-unscannable"))
    out.append(("gen-rfc822-1000-deep", deep_rfc822(1000),
                "quarantine rel-unscannable"))
    parts = b"".join(b"--P\r\nContent-Type: text/plain\r\n\r\npart %d\r\n"
                     % i for i in range(3000))
    out.append(("gen-3000-parts",
                header("3000 parts", 'multipart/mixed; boundary="P"') +
                b"\r\n" + parts + b"--P--\r\n",
                "quarantine rel-unscannable"))
    out.append(("gen-zip-bomb", with_file(
        "zip bomb", "zeros.zip", zip_of([("zeros.bin", 200 << 20)]),
        "application/zip"), "quarantine rel-unscannable"))
    layer = zip_of([("z%d.bin" % i, 20 << 20) for i in range(4)])
    nested = zip_of([("inner%d.zip" % i, layer) for i in range(4)])
    out.append(("gen-zip-bomb-nested", with_file(
        "nested zip bomb", "nested.zip", nested, "application/zip"),
        "quarantine rel-unscannable"))
    out.append(("gen-tar-gz-bomb", with_file(
        "tar bomb", "zeros.tar.gz", tar_of([("zeros.bin", 160 << 20)],
                                           "gz"), "application/gzip"),
        "quarantine rel-unscannable"))
    out.append(("gen-tar-2000-members", with_file(
        "tar members", "many.tar",
        tar_of([("f%05d.txt" % i, b"x") for i in range(2000)]),
        "application/x-tar"), "quarantine rel-unscannable"))
    out.append(("gen-zip-member-traversal", with_file(
        "zip traversal member", "names.zip",
        zip_of([("ok.txt", b"fine\n"),
                ("../../../../tmp/evil.exe", b"not really a program\n")]),
        "application/zip"), "quarantine rel-exe"))
    out.append(("gen-tar-absolute-member", with_file(
        "tar absolute member", "abs.tar",
        tar_of([("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n")]),
        "application/x-tar"), "quarantine rel-traversal"))
    out.append(("gen-tar-backslash-member", with_file(
        "tar backslash member", "win.tar",
        tar_of([("..\\..\\Windows\\evil.exe", b"nothing\n")]),
        "application/x-tar"), "quarantine rel-exe"))
    enc = encrypted_zip()
    if enc:
        out.append(("gen-encrypted-zip", with_file(
            "encrypted zip", "secret.zip", enc, "application/zip"),
            "quarantine rel-unscannable"))
    out.append(("gen-header-1mb",
                header("one huge header") + b"X-Huge: " +
                b"h" * (1 << 20) + b"\r\n\r\nbody after a 1 MiB header\r\n",
                "deliver"))
    out.append(("gen-header-folded-1mb",
                header("one huge folded header") + b"X-Folded: a" +
                b"\r\n b" * 250000 + b"\r\n\r\nbody\r\n", "deliver"))
    out.append(("gen-headers-20000",
                header("twenty thousand headers") +
                b"".join(b"X-H%d: value %d\r\n" % (i, i)
                         for i in range(20000)) + b"\r\nbody\r\n",
                "deliver"))
    out.append(("gen-subject-5000",
                b"From: %s\r\nTo: rcpt@localhost\r\nSubject: " % SENDER.encode()
                + b"s" * 5000 + b"\r\n\r\nbody\r\n", "deliver"))
    out.append(("gen-subject-100k",
                b"From: %s\r\nTo: rcpt@localhost\r\nSubject: " % SENDER.encode()
                + b"s" * 100000 + b" TAG-ME\r\n\r\nbody\r\n",
                "tag [rel-tag]"))
    out.append(("gen-rfc2231-200-sections",
                header("200 rfc2231 sections",
                       'multipart/mixed; boundary="R"') +
                b"\r\n--R\r\nContent-Type: text/plain\r\n\r\nx\r\n--R\r\n"
                b"Content-Type: application/octet-stream\r\n"
                b"Content-Disposition: attachment;" +
                b"".join(b"\r\n filename*%d=\"p%03d\";" % (i, i)
                         for i in range(200)) +
                b"\r\n filename*200=\".exe\"\r\n\r\nabc\r\n--R--\r\n",
                "quarantine rel-exe"))
    return out


def corpus_messages():
    """[(name, bytes, outcome)] of corpus/messages and the generated ones."""
    d = os.path.join(CORPUS, "messages")
    out = []
    with open(os.path.join(d, "expect.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fn, outcome = line.split(None, 1)
            with open(os.path.join(d, fn), "rb") as m:
                out.append((fn[:-4], m.read(), outcome))
    listed = {n for n, _, _ in out}
    extra = [fn for fn in os.listdir(d) if fn.endswith(".eml") and
             fn[:-4] not in listed]
    if extra:
        raise AssertionError("messages without an outcome in expect.txt: %s"
                             % extra)
    return out + generated_messages()


def crlf(data):
    return re.sub(rb"\r?\n|\r", b"\r\n", data)


# --- the test ---------------------------------------------------------------------

class MalformedInputTest(ScanCase):
    RULES = RULES
    maxDiff = None
    SCAN = {"max_depth": 8, "max_parts": 1000, "max_expanded_mb": 100,
            "max_ratio": 100, "scan_retry_seconds": 2,
            "max_scan_failures": 3}

    @classmethod
    def setUpClass(cls):
        s = cls.suite = Suite(tmp_prefix="sekisho-rel-")
        try:
            cls.maildir = os.path.join(s.dir, "maildir")
            s.set("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")
            s.set("foxdns.ini", "foxdns", "enabled", "0")
            s.set_rules(RULES)
            s.start_scanner(workers=2, **cls.SCAN)
            # 127.0.0.1 is not a relay client: only @localhost (the
            # accepted domain, delivered into the Maildir) is taken.
            s.start_smtpd(AcceptedDomains="localhost",
                          RelayNetworks="192.0.2.0/24",
                          MaxRcptPerMsg="20", MaxErrorsPerSession="10")
            cls.pids = cls.snapshot()
        except BaseException:
            s.close()
            raise

    @classmethod
    def snapshot(cls):
        s = cls.suite
        return {"smtpd": s.smtpd.pid,
                "smtpd children": sorted(s.smtpd_children().items()),
                "scanner": s.scanner.pid,
                "scan workers": sorted(s.scan_workers())}

    def assertAlive(self, after):
        s = self.suite
        for d in (s.smtpd, s.scanner):
            self.assertTrue(d.running(), "%s died after %s; log tail:\n%s"
                            % (d.name, after, d.log()[-3000:]))
        now = self.snapshot()
        self.assertEqual(now, self.pids, "a process was replaced after %s "
                         "(smtpd log tail:\n%s\nscanner log tail:\n%s)"
                         % (after, s.smtpd.log()[-2000:],
                            s.scanner.log()[-2000:]))
        # A normal session is served.
        try:
            with RawSMTP(s.smtp_port, timeout=10) as c:
                self.assertEqual(c.greeting.code, 220, after)
                c.ehlo()
                self.assertEqual(c.cmd("MAIL FROM:<%s>" % SENDER).code, 250)
                self.assertEqual(c.cmd("RCPT TO:<probe@localhost>").code,
                                 250)
                self.assertEqual(c.cmd("RSET").code, 250)
                self.assertEqual(c.cmd("QUIT").code, 221)
        except (OSError, SMTPClosed) as e:
            self.fail("no normal session after %s: %r" % (after, e))

    # --- sessions ----------------------------------------------------------

    def run_session(self, ses):
        """Run one scripted session; the queue ids it got."""
        s = self.suite
        port = s.smtps_port if ses.port == "smtps" else s.smtp_port
        c = RawSMTP(port, timeout=10, greet=False,
                    tls=(ses.greet == "tls"))
        qids = []
        try:
            if ses.greet in ("220", "tls"):
                g = c.reply()
                self.assertEqual(g.code, 220, "%s: greeting %s"
                                 % (ses.name, g))
            send_error = None
            for no, verb, arg in ses.steps:
                where = ses.where(no)
                if send_error and verb not in ("closed", "abort", "end"):
                    self.fail("%s: server closed early (%r); buffered %r"
                              % (where, send_error, c.buf[-300:]))
                if verb == "send":
                    try:
                        c.send(arg)
                    except OSError as e:
                        send_error = e
                elif verb == "trickle":
                    c.sock.setsockopt(socket.IPPROTO_TCP,
                                      socket.TCP_NODELAY, 1)
                    for b in arg:
                        c.send(bytes([b]))
                elif verb == "rawsend":
                    os.write(c.sock.fileno(), arg)
                elif verb == "reply":
                    n, pat = arg
                    seq = pat.split(",")
                    for k in range(n * len(seq)):
                        p = seq[k % len(seq)]
                        try:
                            r = c.reply()
                        except (SMTPClosed, OSError) as e:
                            self.fail("%s: reply %d of %d (%s): %r"
                                      % (where, k + 1, n * len(seq), p, e))
                        if p == "queued":
                            self.assertTrue(r.qid(), "%s: reply %d of %d: "
                                            "not queued: %s"
                                            % (where, k + 1, n * len(seq),
                                               r))
                            qids.append(r.qid())
                        else:
                            self.assertTrue(code_matches(r.code, p),
                                            "%s: reply %d of %d: want %s, "
                                            "got %s" % (where, k + 1,
                                                        n * len(seq), p, r))
                elif verb == "closed":
                    self.assertTrue(c.closed_within(10),
                                    "%s: the server did not close the "
                                    "connection; it sent %r"
                                    % (where, c.buf[-300:]))
                elif verb == "silent":
                    self.assertTrue(c.nothing_within(arg),
                                    "%s: unexpected %r" % (where, c.buf))
                elif verb == "sleep":
                    time.sleep(arg)
                elif verb == "tls":
                    c.starttls()
                elif verb == "abort":
                    c.abort()
                elif verb == "end":
                    c.close()
        finally:
            c.close()
        return qids

    def test_sessions(self):
        sessions = load_sessions()
        self.assertGreater(len(sessions), 50)
        t0 = time.monotonic()
        rounds = 0
        queued = {}
        while True:
            for ses in sessions:
                qids = self.run_session(ses)
                queued.setdefault(ses.name, []).extend(qids)
                self.assertAlive("session %s (%s)" % (ses.name, ses.fname))
            rounds += 1
            if SECONDS <= 20 or time.monotonic() - t0 > SECONDS:
                break
        self.settle()
        problems = []
        for ses in sessions:
            for addr, n, text in ses.deliver:
                got = self.mails(addr)
                if len(got) != n * rounds:
                    problems.append("%s: %s got %d message(s), want %d "
                                    "(queued %s)" % (ses.name, addr,
                                                     len(got), n * rounds,
                                                     queued[ses.name]))
                for m in got:
                    if text and text not in m:
                        problems.append("%s: %s got a message without %r"
                                        % (ses.name, addr, text))
                    if re.search(rb"\r(?!\n)|(?<!\r)\n", m):
                        problems.append("%s: %s got bare CR/LF"
                                        % (ses.name, addr))
            for addr in ses.never:
                if self.mails(addr):
                    problems.append("%s: %s must get nothing, got %d"
                                    % (ses.name, addr,
                                       len(self.mails(addr))))
            for addr in ses.maybe:
                if len(self.mails(addr)) > rounds:
                    problems.append("%s: %s got %d" % (
                        ses.name, addr, len(self.mails(addr))))
        self.assertEqual(problems, [])
        self.assertNothingLost()

    # --- messages ------------------------------------------------------------

    def submit(self, name, data):
        rcpt = "m-%s@localhost" % name
        c = smtplib.SMTP("127.0.0.1", self.suite.smtp_port, timeout=60)
        try:
            c.ehlo("client.test")
            opts = ["BODY=8BITMIME"] if any(b > 0x7f for b in data) else []
            code, resp = c.mail(SENDER, opts)
            self.assertEqual(code, 250, (name, resp))
            code, resp = c.rcpt(rcpt)
            self.assertEqual(code, 250, (name, resp))
            code, resp = c.data(data)
            self.assertEqual(code, 250, (name, resp))
        finally:
            c.quit()
        m = re.search(rb"queued as ([0-9a-f]{16})", resp)
        self.assertIsNotNone(m, resp)
        return rcpt, m.group(1).decode()

    def check_outcome(self, name, data, outcome, rcpt, qid):
        """A list of what is wrong with message name's outcome."""
        kind, _, arg = outcome.partition(" ")
        got = self.mails(rcpt)
        held = self.quarantined_for(qid)
        areas = sorted(e["info"]["area"] for e in held)
        scanned = [e for e in self.qid_events(qid) if e["event"] ==
                   "scanned"]
        seen = "delivered %d, quarantined in %s, scanned %s" % (
            len(got), areas, [(e["action"], e["detail"]) for e in scanned])
        bad = []
        if kind in ("deliver", "tag"):
            if len(got) != 1 or held:
                bad.append("%s: want %s, got %s" % (name, outcome, seen))
            elif kind == "deliver" and crlf(original(got[0])) != \
                    crlf(data if data.endswith(b"\n") else data + b"\r\n"):
                bad.append("%s: delivered bytes differ from those sent "
                           "(%d vs %d bytes)" % (name,
                                                 len(original(got[0])),
                                                 len(data)))
            elif kind == "tag":
                subj = decoded_subject(strip_delivery(got[0])) or ""
                if not subj.startswith(arg + " "):
                    bad.append("%s: want subject tagged %s, got %r (%s)"
                               % (name, arg, subj[:200], seen))
        elif kind == "quarantine":
            if got or areas != [arg]:
                bad.append("%s: want %s, got %s" % (name, outcome, seen))
        elif kind == "delete":
            if got or held or not any(e["action"] == "Deleted"
                                      for e in scanned):
                bad.append("%s: want deleted, got %s" % (name, seen))
        else:
            raise ValueError("unknown outcome %r" % outcome)
        return bad

    def test_messages(self):
        msgs = corpus_messages()
        sent = []
        for name, data, outcome in msgs:
            rcpt, qid = self.submit(name, data)
            sent.append((name, data, outcome, rcpt, qid))
            self.assertAlive("message %s" % name)
        self.settle(timeout=120)
        self.assertAlive("the messages settled")
        problems = []
        for name, data, outcome, rcpt, qid in sent:
            problems += self.check_outcome(name, data, outcome, rcpt, qid)
        self.assertEqual(problems, [], "\n".join(problems))
        self.assertNothingLost()

    # --- nothing lost -----------------------------------------------------

    def settle(self, timeout=60):
        """Wait until the spool holds nothing waiting or unfinished."""
        s = self.suite
        wait_for(lambda: not (s.spool_files("incoming") or
                              s.spool_files("queue") or
                              s.spool_files("tmp")), timeout, step=0.2,
                 what="an empty spool (incoming %d, queue %d, tmp %d)"
                 % (len(s.spool_files("incoming")),
                    len(s.spool_files("queue")), len(s.spool_files("tmp"))))

    def assertNothingLost(self):
        """Every message the tracking log says was received left the
        spool with an outcome: delivered, quarantined or deleted."""
        self.settle()
        events = self.events()
        by_qid = {}
        for e in events:
            by_qid.setdefault(e["qid"], []).append(e)
        lost = []
        for qid, ev in by_qid.items():
            kinds = [e["event"] for e in ev]
            if "received" not in kinds:
                continue
            done = ("delivered" in kinds or "quarantined" in kinds or
                    any(e["event"] == "scanned" and
                        e["action"] in ("Deleted", "queued as")
                        for e in ev))
            if "removed" not in kinds or not done:
                lost.append("%s: %s" % (qid, [(e["event"], e["action"])
                                              for e in ev]))
        self.assertEqual(lost, [], "received messages without an outcome")


if __name__ == "__main__":
    unittest.main()
