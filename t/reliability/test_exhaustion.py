"""Resource exhaustion (issue 10): a full spool disk, the descriptor limit
and slow-loris clients.  The real sekisho-smtpd runs against real clients
on loopback; the promises checked are those of DESIGN.md section 4 and
docs/smtpd.md:

- disk full (the data directory on a small tmpfs this test mounts; needs
  root): a message that got 250 is intact in the spool and delivered
  once space returns; new mail is refused with a temporary reply (the
  issue asks for 452; RFC 5321/3463: 452 4.3.1 "insufficient system
  storage"), never a 5xx or a 250 for something not stored; a message cut
  off by the full disk in the middle of DATA gets a 4xx and leaves
  nothing behind; the daemon and its children never die.
- descriptor limit (smtpd under prlimit --nofile): more connections than
  descriptors are refused or held without the daemon dying; sessions
  that were already open can still send mail (or get a 4xx); everything
  is served again once the flood closes; nothing accepted is lost.
- slow-loris: hundreds of clients that stall after the greeting, in the
  middle of a command, in the middle of DATA, or dribble bytes; the
  stalled ones get "421 4.4.2 ... timeout exceeded" at CommandTimeout /
  DataTimeout, a normal client is served meanwhile, MaxConnectionsPerIP
  holds; a client that dribbles one command byte at a time must also be
  dropped at CommandTimeout ("seconds a client may take to send its next
  command", docs/config.md).

SEKISHO_RELIABILITY_SECONDS (default 20) is the length of the slow-loris
load phase.
"""

import errno
import os
import re
import selectors
import socket
import subprocess
import threading
import time
import unittest

from harness import (Daemon, RawSMTP, SMTPClosed, SuiteTestCase, Suite,
                     dot_stuff, is_root, parse_envelope,
                     split_received, wait_for)
from smtpsink import Sink

SECONDS = float(os.environ.get("SEKISHO_RELIABILITY_SECONDS") or 20)
MB = 1024 * 1024


def body(tag, size):
    """A message of about size bytes, unique by tag, with lines that need
    dot-stuffing."""
    head = ("Subject: exhaustion %s\r\nMessage-ID: <%s@exhaust.test>\r\n"
            "X-Tag: %s\r\n\r\n" % (tag, tag, tag)).encode()
    line = (".%s filler line 0123456789abcdefghijklmnopqrstuvwxyz\r\n"
            % tag).encode()
    return head + line * max(1, (size - len(head)) // len(line))


def tag_of(data):
    """The X-Tag of a stored or delivered message, or None."""
    i = data.find(b"\r\nX-Tag: ")
    if i == -1:
        return None
    return data[i + 9:data.index(b"\r\n", i + 9)].decode()


def transaction(port, sender, rcpt, content, timeout=20.0, source=None):
    """One whole transaction in its own session.  Returns (stage, reply):
    stage is "connect", "mail", "rcpt", "data" or "end" (the reply to the
    end of data) -- the first stage whose reply was not the expected 2xx or
    354 -- or "end" with the final reply.  A closed connection is the reply
    None at that stage."""
    stage = "connect"
    try:
        with RawSMTP(port, timeout=timeout, source=source) as c:
            if c.greeting.code != 220:
                return stage, c.greeting
            c.ehlo()
            stage = "mail"
            r = c.cmd("MAIL FROM:<%s>" % sender)
            if r.code != 250:
                return stage, r
            stage = "rcpt"
            r = c.cmd("RCPT TO:<%s>" % rcpt)
            if r.code != 250:
                return stage, r
            stage = "data"
            r = c.cmd("DATA")
            if r.code != 354:
                return stage, r
            stage = "end"
            c.send(dot_stuff(content) + b".\r\n")
            r = c.reply()
            try:
                c.cmd("QUIT")
            except (OSError, SMTPClosed):
                pass
            return stage, r
    except (OSError, SMTPClosed):
        return stage, None


def state_messages(suite, state):
    """{qid: (envelope dict, bytes)} of the messages in spool/<state>;
    every envelope must parse, name its file and give its size."""
    out = {}
    for n in suite.spool_files(state):
        if not n.endswith(".env"):
            continue
        qid = n[:-4]
        with open(suite.spool(state, n), encoding="utf-8") as f:
            env = parse_envelope(f.read())
        with open(suite.spool(state, qid + ".msg"), "rb") as f:
            msg = f.read()
        if env["id"] != qid:
            raise AssertionError("envelope %s/%s names %s" % (state, qid,
                                                               env["id"]))
        if int(env["size"]) != len(msg):
            raise AssertionError("envelope %s/%s: size %s, file has %d "
                                 "bytes" % (state, qid, env["size"],
                                            len(msg)))
        out[qid] = (env, msg)
    return out


def start_smtpd_with_nofile(suite, nofile, **settings):
    """Start sekisho-smtpd like Suite.start_smtpd, but with RLIMIT_NOFILE
    nofile (soft and hard) for the parent and the children it forks
    (prlimit execs the daemon: the Daemon's pid is the daemon's)."""
    suite.smtp_ports()
    suite.smtpd_config(**settings)
    log = os.path.join(suite.log_dir, "sekisho-smtpd.log")
    d = Daemon("sekisho-smtpd",
               ["prlimit", "--nofile=%d:%d" % (nofile, nofile), "--",
                suite.bin("sekisho-smtpd"), "-f", "-c", suite.confdir], log)
    suite.daemons.append(d)
    suite.smtpd = d
    suite.wait_smtpd_ready(d)
    return d


def log_excerpt(text, words=("error", "lvl=err", "fatal", "warn",
                             "queue-error", "rewrite-failed", "exit",
                             "ipc_close",
                             "shutdown", "No space", "Too many open")):
    """The log lines that mention any of words (the last 30; a warning
    repeated with another time stamp only once)."""
    lines, seen = [], set()
    for ln in text.splitlines():
        if not any(w.lower() in ln.lower() for w in words):
            continue
        key = ln.split(" ", 1)[-1]
        if "msg=" in key and key in seen:
            continue
        seen.add(key)
        lines.append(ln)
    return "\n".join(lines[-30:]) or "(nothing matching)"


class ExhaustionCase(SuiteTestCase):

    def children(self):
        return self.suite.smtpd_children()

    def assertAlive(self, before, when):
        """The daemon and the very same children still run."""
        d = self.suite.smtpd
        self.assertTrue(d.running(), "sekisho-smtpd exited (%s) %s; log:\n%s"
                        % (d.proc.returncode, when, log_excerpt(d.log())))
        now = self.children()
        self.assertEqual(now, before,
                         "smtpd children changed %s (a child died and the "
                         "daemon restarted or lost it); log:\n%s"
                         % (when, log_excerpt(d.log())))


# --- 1. disk full ---------------------------------------------------------

class DiskFullTest(ExhaustionCase):
    """The data directory (spool, tracking database) on an 8 MB tmpfs."""

    SIZE = 8 * MB

    def setUp(self):
        if not is_root():
            self.skipTest("mounting a tmpfs for the spool needs root")
        self.suite = Suite()
        self.mounted = False
        self.addCleanup(self.teardown_all)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "size=%d,mode=0755" % self.SIZE, "tmpfs",
                            self.suite.data_dir], capture_output=True,
                           text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs on the data directory: %s"
                          % r.stderr.strip())
        self.mounted = True
        self.filler = os.path.join(self.suite.data_dir, "filler")
        self.hold = True
        self.sink = Sink().start()
        self.addCleanup(self.sink.stop)
        # Held: every delivery attempt is deferred, so mail stays in the
        # spool until the test lets it go.
        self.sink.rcpt_reply = lambda addr, n: \
            "451 4.3.0 held by the test" if self.hold else None
        s = self.suite
        s.set("policy.ini", "scan", "enabled", "0")
        s.set("tsmtpd.ini", "Routes", "example.com",
              "127.0.0.1:%d" % self.sink.port)
        for k, v in (("TlsPolicy", "none"), ("RetryMinSeconds", "1"),
                     ("RetryMaxSeconds", "2"),
                     ("ConnectionCacheSeconds", "0")):
            s.set("tsmtpd.ini", "SmtpClient", k, v)
        s.start_smtpd(MaxMsgSize=str(20 * MB))
        self.before = self.children()

    def teardown_all(self):
        """Stop the daemons before the file system goes, then remove it
        (also when the test failed), then the suite."""
        for d in self.suite.daemons:
            d.stop()
        if self.mounted:
            r = subprocess.run(["umount", self.suite.data_dir],
                               capture_output=True)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.suite.data_dir],
                               capture_output=True)
        self.suite.close()

    def free(self):
        st = os.statvfs(self.suite.data_dir)
        return st.f_bavail * st.f_frsize

    def fill(self, leave):
        """Grow the filler file until at most leave bytes are free (0:
        until the file system refuses even one byte)."""
        with open(self.filler, "ab", buffering=0) as f:
            for size in (65536, 4096, 1):
                chunk = b"\0" * size
                while True:
                    want = self.free() - leave
                    if leave and want <= 0:
                        break
                    try:
                        f.write(chunk[:min(size, want)] if leave else chunk)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
                if leave:
                    break

    def unfill(self):
        try:
            os.unlink(self.filler)
        except FileNotFoundError:
            pass

    def send(self, tag, size):
        return transaction(self.suite.smtp_port, "s-%s@sender.test" % tag,
                           "r-%s@example.com" % tag, body(tag, size))

    def assertHeldIntact(self, acked):
        """Every acknowledged message is in spool/queue, byte for byte,
        with its envelope; nothing else is, and spool/tmp is empty."""
        held = state_messages(self.suite, "queue")
        for tag, (qid, content) in acked.items():
            self.assertIn(qid, held, "message %s (tag %s) got 250 but is "
                          "not in spool/queue (has %s)"
                          % (qid, tag, sorted(held)))
            env, msg = held[qid]
            _, rest = split_received(msg)
            self.assertEqual(rest, content, "message %s (tag %s) is not "
                             "intact in the spool" % (qid, tag))
            self.assertEqual([r[0] for r in env["rcpt"]],
                             ["r-%s@example.com" % tag])
        extra = set(held) - {q for q, _ in acked.values()}
        self.assertEqual(extra, set(), "messages in spool/queue that were "
                         "never acknowledged")
        self.assertEqual(self.suite.spool_files("tmp"), [],
                         "spool/tmp must be empty after a refusal")
        self.assertEqual([n for n in self.suite.spool_files("queue")
                          if n.endswith(".msg") and n[:-4] not in held], [],
                         "content files without an envelope in spool/queue")

    def release_and_check(self, acked, refused):
        """Free the disk, let the sink accept: every acked message arrives
        (duplicates are counted and allowed), no refused one does, the
        queue empties, new mail goes through."""
        self.unfill()
        self.hold = False
        want = set(acked)
        deadline = time.monotonic() + 40

        def tags():
            with self.sink.lock:
                return [tag_of(tx.data) for tx in self.sink.messages]
        while time.monotonic() < deadline and not want <= set(tags()):
            time.sleep(0.2)
        got = tags()
        missing = sorted(want - set(got))
        self.assertEqual(missing, [], "accepted messages never delivered "
                         "after space returned: %s; smtpd log:\n%s"
                         % ([acked[t][0] for t in missing],
                            log_excerpt(self.suite.smtpd.log())))
        wait_for(lambda: not self.suite.spool_files("queue"), 20,
                 what="an empty spool/queue (left %s)"
                 % self.suite.spool_files("queue"))
        got = tags()
        dups = {t: got.count(t) for t in set(got) if got.count(t) > 1}
        self.duplicates = dups
        if dups:
            print("\n  duplicates (allowed, at-least-once): %s" % dups)
        for t in refused:
            self.assertNotIn(t, got, "message %s was refused with a 4xx "
                             "but delivered anyway (the client will send "
                             "it again)" % t)
        for tx in self.sink.messages:
            t = tag_of(tx.data)
            if t in acked:
                _, rest = split_received(tx.data)
                self.assertEqual(rest, acked[t][1],
                                 "delivered copy of %s differs" % t)
        self.assertEqual(self.sink.errors, [])
        # New mail is accepted and delivered again.
        content = body("after", 50000)
        stage, r = self.send("after", 50000)
        self.assertTrue(stage == "end" and r is not None and r.qid(),
                        "new mail after recovery not accepted: %s %s"
                        % (stage, r))
        wait_for(lambda: "after" in tags(), 20,
                 what="the new message delivered")
        self.assertEqual(self.suite.spool_files("tmp"), [])
        self.assertAlive(self.before, "after recovery")
        self.assertIn(content, [split_received(tx.data)[1]
                                for tx in self.sink.messages])

    def test_disk_full_keeps_accepted_mail_and_recovers(self):
        # Leave about 2 MB, then fill the rest with accepted 200 KB
        # messages until the spool refuses one.
        self.fill(2 * MB)
        acked, refused, refusal = {}, [], None
        for i in range(100):
            tag = "m%03d" % i
            content = body(tag, 200 * 1024)
            stage, r = self.send(tag, 200 * 1024)
            if stage == "end" and r is not None and r.code == 250:
                self.assertTrue(r.qid(), r)
                acked[tag] = (r.qid(), content)
                continue
            refused.append(tag)
            refusal = (stage, r)
            break
        self.assertIsNotNone(refusal, "100 messages of 200 KB accepted on "
                             "a full 8 MB spool?")
        self.assertGreater(len(acked), 0, "nothing accepted before the "
                           "disk filled: %s %s" % refusal)
        stage, r = refusal
        self.assertIsNotNone(r, "connection dropped without a reply at %s "
                             "when the spool filled; smtpd log:\n%s"
                             % (stage, log_excerpt(self.suite.smtpd.log())))
        self.assertEqual(r.code // 100, 4, "a full spool must give a "
                         "temporary (4xx) reply, got %s at %s" % (r, stage))
        print("\n  %d messages accepted, then at %s: %s"
              % (len(acked), stage, r))
        # Fill the last bytes: from now on new mail cannot be stored and
        # must get a temporary refusal, whatever its size.
        self.fill(0)
        for i in range(3):
            tag = "late%d" % i
            stage, r = self.send(tag, 20000)
            self.assertTrue(r is not None and r.code // 100 == 4,
                            "new mail on the full spool: %s at %s (want a "
                            "4xx)" % (r, stage))
            refused.append(tag)
        # Let every held message go through at least one more delivery
        # attempt (and envelope rewrite) on the full disk.
        log = self.suite.smtpd.log
        wait_for(lambda: log().count("event=deferred") >= 2 * len(acked),
                 20, what="every held message deferred twice")
        print("  deferrals %d, envelope rewrites that failed on the full "
              "disk: %d" % (log().count("event=deferred"),
                            log().count("event=rewrite-failed")))
        self.assertAlive(self.before, "while the disk was full")
        self.assertHeldIntact(acked)
        self.release_and_check(acked, refused)

    def test_full_spool_answers_452_4_3_1(self):
        # The issue: "new mail gets 452".  RFC 5321 4.2.3: 452 is
        # "insufficient system storage"; RFC 3463: 4.3.1 "mail system
        # full".  Fill the disk to the last byte; a new transaction must
        # be refused with 452 4.3.1 (at MAIL, RCPT, DATA or, at the
        # latest, at the end of the data).
        self.fill(0)
        stage, r = self.send("full", 10000)
        self.assertIsNotNone(r, "connection dropped at %s on a full spool"
                             % stage)
        self.assertNotEqual(r.code, 250, "a message was accepted on a full "
                            "spool (free %d bytes)" % self.free())
        self.assertTrue(r.last.startswith("452 4.3.1"),
                        "a new message on a full spool got %r at %s; "
                        "expected 452 4.3.1 (insufficient system storage), "
                        "best already at MAIL FROM" % (r.last, stage))
        self.assertAlive(self.before, "on the full spool")

    def test_disk_fills_during_big_data_transfer(self):
        # About 1 MB free, a 4 MB message: the disk fills while the body
        # streams in.  Expect a 4xx after the terminator, the session
        # still usable, nothing half-written left in the spool.
        self.fill(1 * MB)
        tag = "big"
        content = body(tag, 4 * MB)
        with RawSMTP(self.suite.smtp_port, timeout=30) as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<s-big@sender.test>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<r-big@example.com>").code, 250)
            r = c.cmd("DATA")
            self.assertEqual(r.code, 354, r)
            c.send(dot_stuff(content) + b".\r\n")
            try:
                r = c.reply(timeout=30)
            except SMTPClosed as e:
                self.fail("connection closed instead of a reply when the "
                          "disk filled during DATA: %s; smtpd log:\n%s"
                          % (e, log_excerpt(self.suite.smtpd.log())))
            self.assertEqual(r.code // 100, 4, "a message cut off by a "
                             "full disk must get a 4xx at the end of data, "
                             "got %s" % r)
            print("\n  disk full during DATA: %s" % r)
            # The session goes on after the refusal.
            self.assertEqual(c.cmd("RSET").code, 250)
            self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertAlive(self.before, "after the disk filled during DATA")
        wait_for(lambda: not self.suite.spool_files("tmp"), 5,
                 what="spool/tmp empty after the refusal (has %s)"
                 % self.suite.spool_files("tmp"))
        self.assertEqual(self.suite.spool_files("queue"), [],
                         "the refused message must not be in the queue")
        # Space back: the same message now goes through, whole.
        self.unfill()
        self.hold = False
        stage, r = self.send(tag, 4 * MB)
        self.assertTrue(stage == "end" and r is not None and r.qid(),
                        "big message after recovery: %s %s" % (stage, r))
        msgs = self.sink.wait_messages(1, timeout=30)
        self.assertEqual([tag_of(tx.data) for tx in msgs], [tag])
        self.assertEqual(split_received(msgs[0].data)[1], content)
        wait_for(lambda: not self.suite.spool_files("queue"), 20,
                 what="an empty spool/queue")
        self.assertEqual(self.suite.spool_files("tmp"), [])
        self.assertAlive(self.before, "after recovery")


# --- 2. descriptor limit --------------------------------------------------

class DescriptorLimitTest(ExhaustionCase):
    """smtpd (parent and children) with RLIMIT_NOFILE 64; 150 clients."""

    NOFILE = 64
    FLOOD = 150

    def test_more_connections_than_descriptors(self):
        s = self.suite
        # MaxConnections (1000) and no per-IP limit: the descriptors run
        # out first.  Messages wait in spool/incoming (no scanner).
        start_smtpd_with_nofile(s, self.NOFILE, MaxConnectionsPerIP="0")
        before = self.children()
        for name, pid in before.items():
            with open("/proc/%d/limits" % pid) as f:
                st = f.read()
            self.assertRegex(st, r"Max open files\s+%d\s+%d"
                             % (self.NOFILE, self.NOFILE), name)
        # A session opened before the flood, ready to send.
        early = RawSMTP(s.smtp_port, timeout=15)
        self.addCleanup(early.close)
        early.ehlo()
        acked = {}
        # The flood: connect all, then read what each got.
        flood = []
        for i in range(self.FLOOD):
            try:
                flood.append(socket.create_connection(
                    ("127.0.0.1", s.smtp_port), timeout=5,
                    source_address=("127.0.9.%d" % (1 + i % 200), 0)))
            except OSError as e:
                flood.append(e)
        for f in flood:
            if isinstance(f, socket.socket):
                self.addCleanup(f.close)
        got = {"220": [], "421": [], "closed": [], "silent": [],
               "connect-error": [e for e in flood
                                 if not isinstance(e, socket.socket)]}
        socks = [f for f in flood if isinstance(f, socket.socket)]
        sel = selectors.DefaultSelector()
        for f in socks:
            f.setblocking(False)
            sel.register(f, selectors.EVENT_READ)
        deadline = time.monotonic() + 3
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(0.2):
                f = key.fileobj
                sel.unregister(f)
                try:
                    data = f.recv(4096)
                except OSError:
                    data = b""
                if data.startswith(b"220 "):
                    got["220"].append(f)
                elif data.startswith(b"421 "):
                    got["421"].append(f)
                elif not data:
                    got["closed"].append(f)
                else:
                    self.fail("unexpected greeting under descriptor "
                              "exhaustion: %r" % data)
        got["silent"] = [k.fileobj for k in sel.get_map().values()]
        sel.close()
        for f in socks:
            f.setblocking(True)
        summary = {k: len(v) for k, v in got.items()}
        print("\n  %d connections against RLIMIT_NOFILE %d: %s"
              % (self.FLOOD, self.NOFILE, summary))
        self.assertAlive(before, "under the connection flood")
        self.assertLess(len(got["220"]), self.FLOOD,
                        "all %d connections greeted with %d descriptors?"
                        % (self.FLOOD, self.NOFILE))
        # The session that was open before must still work: send a mail
        # while the smtp process is out of descriptors.  250 or a 4xx are
        # both fine; a crash or a hang is not.
        content = body("early", 30000)
        try:
            r = early.cmd("MAIL FROM:<s-early@sender.test>")
            self.assertEqual(r.code, 250, r)
            r = early.cmd("RCPT TO:<r-early@example.com>")
            self.assertEqual(r.code, 250, r)
            r = early.cmd("DATA")
            if r.code == 354:
                early.send(dot_stuff(content) + b".\r\n")
                r = early.reply()
        except (SMTPClosed, OSError) as e:
            rc = s.smtpd.wait_exit(3)
            self.fail("an open session that sent MAIL/RCPT/DATA while the "
                      "smtp process was out of descriptors lost its "
                      "connection (%s) instead of getting 354 or a 4xx; "
                      "sekisho-smtpd %s; log:\n%s"
                      % (e, "still runs" if rc is None else
                         "exited with status %s" % rc,
                         log_excerpt(s.smtpd.log())))
        self.assertIn(r.code // 100, (2, 4), "mail at the descriptor limit: "
                      "%s (want 250 or a 4xx)" % r)
        if r.code == 250:
            acked[r.qid()] = content
        print("  mail at the descriptor limit: %s" % r)
        self.assertAlive(before, "after a message at the descriptor limit")
        # The greeted ones close; those left waiting must now be served.
        for f in got["220"] + got["421"] + got["closed"]:
            f.close()
        for f in got["silent"]:
            f.settimeout(10)
            try:
                data = f.recv(4096)
            except (socket.timeout, TimeoutError):
                self.fail("a connection held while descriptors ran out got "
                          "no greeting within 10 s after the others closed")
            except OSError:
                data = b""
            self.assertTrue(data == b"" or data.startswith((b"220 ",
                                                            b"421 ")), data)
            f.close()
        self.assertAlive(before, "after the flood")
        # Served again: new clients send mail.
        for i in range(5):
            content = body("after%d" % i, 30000)
            stage, r = transaction(s.smtp_port, "s@sender.test",
                                   "r@example.com", content)
            self.assertTrue(stage == "end" and r is not None and r.qid(),
                            "mail after the flood: %s %s" % (stage, r))
            acked[r.qid()] = content
        early.close()
        self.assertAlive(before, "at the end")
        stored = state_messages(s, "incoming")
        for qid, content in acked.items():
            self.assertIn(qid, stored, "accepted message %s lost" % qid)
            self.assertEqual(split_received(stored[qid][1])[1], content)
        self.assertEqual(sorted(stored), sorted(acked))
        wait_for(lambda: not s.spool_files("tmp"), 5, what="spool/tmp empty")


# --- 3. slow-loris --------------------------------------------------------

class Loris:
    """One slow client, driven by LorisPool.  kind:
    idle      greeting, then nothing
    midcmd    EHLO, then half a MAIL command, then nothing
    middata   EHLO, MAIL, RCPT, DATA, half a body after the 354, nothing
    dribble   one byte of an endless command line every interval"""

    def __init__(self, kind, source):
        self.kind = kind
        self.source = source
        self.sock = None
        self.buf = b""
        self.state = "connecting"
        self.last_send = None       # when the client last sent anything
        self.next_drip = None
        self.t0 = None
        self.greeted = False
        self.retry_at = None        # reconnect then (after a refusal)


class LorisPool:
    """Many slow clients on one selector in a thread.  Each one that the
    server closes is recorded (kind, seconds from its last byte sent to
    the close, what the server said last) and reconnects while running."""

    def __init__(self, port, clients, drip=1.0):
        self.port = port
        self.clients = clients
        self.drip = drip
        self.sel = selectors.DefaultSelector()
        self.closed = []            # (kind, stall seconds, last line)
        self.refused = 0            # 421 4.7.0 (connection limits)
        self.greeted = {}           # source -> sessions greeted now
        self.max_greeted = {}       # source -> most at the same time
        self.errors = []
        self.running = True
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        for c in self.clients:
            self.connect(c)
        self.thread.start()
        return self

    def stop(self):
        self.running = False
        self.thread.join(10)
        for c in self.clients:
            if c.sock is not None:
                try:
                    self.sel.unregister(c.sock)
                except (KeyError, ValueError):
                    pass
                c.sock.close()
                c.sock = None

    def connect(self, c):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((c.source, 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        c.sock, c.buf, c.state = s, b"", "greeting"
        c.t0 = c.last_send = time.monotonic()
        c.next_drip = None
        c.greeted = False
        c.retry_at = None
        self.sel.register(s, selectors.EVENT_READ, c)

    def send(self, c, data):
        try:
            c.sock.send(data)
        except OSError:
            return
        c.last_send = time.monotonic()

    def on_line(self, c, line):
        if c.state == "greeting":
            if line.startswith(b"421 4.7.0"):
                return "refused"
            if not line.startswith(b"220 "):
                self.errors.append("%s: greeting %r" % (c.kind, line))
                return "refused"
            c.greeted = True
            with self.lock:
                n = self.greeted.get(c.source, 0) + 1
                self.greeted[c.source] = n
                self.max_greeted[c.source] = max(
                    n, self.max_greeted.get(c.source, 0))
            if c.kind == "idle":
                c.state = "stalled"
            elif c.kind == "midcmd":
                self.send(c, b"EHLO loris.test\r\nMAIL FROM:<a@exa")
                c.state = "stalled"
            elif c.kind == "middata":
                self.send(c, b"EHLO loris.test\r\nMAIL FROM:<l@loris.test>"
                          b"\r\nRCPT TO:<r@example.com>\r\nDATA\r\n")
                c.state = "wait354"
            elif c.kind == "dribble":
                c.state = "dribbling"
                c.next_drip = time.monotonic()
        elif c.state == "wait354" and line.startswith(b"354"):
            self.send(c, b"Subject: slow loris\r\n\r\nhalf a bo")
            c.state = "stalled"
        return None

    def finish(self, c, refused=False):
        self.sel.unregister(c.sock)
        c.sock.close()
        c.sock = None
        lines = c.buf.split(b"\r\n")
        last = [ln for ln in lines if ln][-1:] or [b""]
        with self.lock:
            if c.greeted:
                self.greeted[c.source] -= 1
            if refused:
                self.refused += 1
            else:
                self.closed.append((c.kind, time.monotonic() - c.last_send,
                                    last[0].decode("utf-8", "replace")))
        if refused:
            c.retry_at = time.monotonic() + 0.5     # no busy loop
        elif self.running:
            self.connect(c)

    def run(self):
        while self.running:
            now = time.monotonic()
            for c in self.clients:
                if c.sock is None and c.retry_at is not None and \
                        now >= c.retry_at:
                    self.connect(c)
                if c.sock is not None and c.next_drip is not None and \
                        now >= c.next_drip:
                    self.send(c, b"N")
                    c.next_drip = now + self.drip
            for key, _ in self.sel.select(0.1):
                c = key.data
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.finish(c)
                    continue
                start = len(c.buf)
                c.buf += data
                verdict = None
                for line in c.buf[max(0, start - 1024):].split(b"\r\n")[:-1]:
                    verdict = self.on_line(c, line) or verdict
                if verdict == "refused":
                    self.finish(c, refused=True)

    def snapshot(self):
        with self.lock:
            return list(self.closed), self.refused


def server_sessions_per_ip(log):
    """The most sessions each client address had at once, from smtpd's
    event=connect and event=disconnect lines (by session id)."""
    open_by_sid, now, most = {}, {}, {}
    for m in re.finditer(r"event=(connect|disconnect) sid=([0-9a-f]+) "
                         r"ip=(\S+)", log):
        kind, sid, ip = m.groups()
        if kind == "connect":
            open_by_sid[sid] = ip
            now[ip] = now.get(ip, 0) + 1
            most[ip] = max(most.get(ip, 0), now[ip])
        elif sid in open_by_sid:
            now[open_by_sid.pop(sid)] -= 1
    return most


class SlowLorisTest(ExhaustionCase):

    TIMEOUT = 2             # CommandTimeout and DataTimeout, seconds
    PER_IP = 8

    def start(self, **extra):
        settings = dict(CommandTimeout=str(self.TIMEOUT),
                        DataTimeout=str(self.TIMEOUT),
                        MaxConnectionsPerIP=str(self.PER_IP),
                        MaxConnections="1000")
        settings.update(extra)
        self.suite.start_smtpd(**settings)
        return self.children()

    def test_stalled_clients_dropped_and_normal_client_served(self):
        before = self.start()
        port = self.suite.smtp_port
        # 200 slow clients from 25 addresses, 8 each (= MaxConnectionsPerIP)
        # and 16 more from one address that the per-IP limit must refuse.
        kinds = ("idle", "midcmd", "middata", "idle", "midcmd", "middata",
                 "dribble", "middata")
        clients = [Loris(kinds[i % len(kinds)], "127.0.3.%d" % (1 + i // 8))
                   for i in range(200)]
        over = [Loris("idle", "127.0.4.1") for _ in range(self.PER_IP + 16)]
        pool = LorisPool(port, clients + over).start()
        self.addCleanup(pool.stop)
        # Meanwhile a normal client sends mail, one message after another.
        acked, slow, t_end = {}, [], time.monotonic() + SECONDS
        i = 0
        while time.monotonic() < t_end:
            content = body("n%04d" % i, 5000)
            t0 = time.monotonic()
            stage, r = transaction(port, "n@sender.test", "r@example.com",
                                   content, timeout=15)
            took = time.monotonic() - t0
            self.assertTrue(stage == "end" and r is not None and r.qid(),
                            "normal client during the slow-loris load: "
                            "%s %s after %.1fs" % (stage, r, took))
            acked[r.qid()] = content
            if took > 5:
                slow.append(took)
            i += 1
            time.sleep(0.2)
        closed, refused = pool.snapshot()
        pool.stop()
        self.assertEqual(pool.errors, [])
        self.assertAlive(before, "after the slow-loris load")
        print("\n  %d normal messages in %.0fs; %d slow clients dropped, "
              "%d refused by the connection limits"
              % (len(acked), SECONDS, len(closed), refused))
        self.assertEqual(slow, [], "normal transactions slower than 5 s "
                         "under the slow-loris load")
        # The per-IP limit: the extra clients of 127.0.4.1 were refused,
        # and no address ever had more than PER_IP sessions.
        self.assertGreaterEqual(refused, 16, "MaxConnectionsPerIP=%d did "
                                "not refuse the surplus of one address"
                                % self.PER_IP)
        # Counted from smtpd's own log (one smtp process writes every
        # connect and disconnect in order): a client learns of a close
        # only when it reads it, so its own count can run one ahead.
        most = server_sessions_per_ip(self.suite.smtpd.log())
        over_limit = {ip: n for ip, n in most.items() if n > self.PER_IP}
        self.assertEqual(over_limit, {}, "addresses with more than "
                         "MaxConnectionsPerIP=%d sessions at once"
                         % self.PER_IP)
        self.assertEqual(most.get("127.0.4.1"), self.PER_IP)
        # Every stalled client the server dropped got 421 4.4.2 at the
        # timeout (not much before, not long after).
        by_kind = {}
        for kind, stall, last in closed:
            by_kind.setdefault(kind, []).append(stall)
            if kind == "dribble":
                continue
            self.assertTrue(last.startswith("421 4.4.2"), "%s client closed "
                            "with %r, want 421 4.4.2" % (kind, last))
            self.assertGreater(stall, self.TIMEOUT - 0.5, "%s client "
                               "dropped after %.1fs" % (kind, stall))
            self.assertLess(stall, self.TIMEOUT + 4, "%s client dropped "
                            "only after %.1fs (timeout %d)"
                            % (kind, stall, self.TIMEOUT))
        print("  dropped per kind: %s" % {k: len(v) for k, v in
                                           by_kind.items()})
        rounds = max(1, int(SECONDS / (self.TIMEOUT + 4)))
        for kind in ("idle", "midcmd", "middata"):
            self.assertGreaterEqual(len(by_kind.get(kind, [])), 25 * rounds
                                    // 2, "too few %s clients dropped in "
                                    "%.0fs: %s" % (kind, SECONDS,
                                                   by_kind.get(kind)))
        # What the normal client sent is stored; the slow DATA is not.
        stored = state_messages(self.suite, "incoming")
        self.assertEqual(sorted(stored), sorted(acked),
                         "stored messages: exactly the acknowledged ones")
        for qid, content in acked.items():
            self.assertEqual(split_received(stored[qid][1])[1], content)
        wait_for(lambda: not self.suite.spool_files("tmp"), 10,
                 what="spool/tmp empty (has %d files)"
                 % len(self.suite.spool_files("tmp")))

    def test_dribbling_command_dropped_at_command_timeout(self):
        # docs/config.md: CommandTimeout is the time "a client may take to
        # send its next command".  A client that sends one byte of a
        # command line every second (half the timeout) must not keep its
        # connection for ever.
        before = self.start()
        clients = [Loris("dribble", "127.0.5.%d" % (1 + i)) for i in
                   range(20)]
        pool = LorisPool(self.suite.smtp_port, clients, drip=1.0).start()
        self.addCleanup(pool.stop)
        limit = 3 * self.TIMEOUT + 6
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            closed, _ = pool.snapshot()
            if len(closed) >= len(clients):
                break
            time.sleep(0.2)
        closed, _ = pool.snapshot()
        pool.stop()
        self.assertAlive(before, "after the dribbling clients")
        self.assertGreaterEqual(
            len(closed), len(clients),
            "%d of %d clients that dribble one command byte per second are "
            "still connected after %ds with CommandTimeout=%d: the command "
            "timeout is re-armed by every read, so a slow-loris client "
            "keeps its connection slot (up to the 2048-byte line limit, "
            "about 34 minutes at this pace)"
            % (len(clients) - len(closed), len(clients), limit,
               self.TIMEOUT))
        for kind, stall, last in closed:
            self.assertTrue(last.startswith("421 4.4.2"), last)


if __name__ == "__main__":
    unittest.main()
