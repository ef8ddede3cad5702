"""sekisho-scanner as a service: workers, limits, failures (seed 27),
the hand-off with the queue, and what the tracking log records.

Each test runs the real daemons: sekisho-scanner and sekisho-smtpd, mail
over SMTP, delivery into a Maildir, the quarantine store on disk.
"""

import gzip
import io
import json
import os
import shutil
import signal
import smtplib
import sqlite3
import time
import unittest
from email.message import EmailMessage

from harness import SuiteTestCase, envelope_unescape, wait_for

RULES = '''
[rule "hold marked"]
direction = both
subject = pattern: HOLD-ME
intercept = quarantine held
notify_admin = policy-violation

[rule "tag marked"]
direction = both
subject = pattern: TAG-ME
tag_subject = [tagged]
'''


class ScanServerCase(SuiteTestCase):
    """Scanner + smtpd with RULES; @localhost and @admin.test are
    delivered to the Maildir <suite>/maildir."""

    def start(self, rules=RULES, scanner_env=None, **scan):
        s = self.suite
        self.md = os.path.join(s.dir, "maildir")
        s.set("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")
        s.set("tsmtpd.ini", "SmtpServer", "AcceptedDomains", "localhost")
        s.set("tsmtpd.ini", "Routes", "admin.test", "maildir:" + self.md)
        s.set("imss.ini", "general", "admin_email", "postmaster@admin.test")
        s.set_rules(rules)
        s.start_scanner(env=scanner_env, **scan)
        s.start_smtpd()

    def send(self, subject, body="hello\r\n", rcpts=("bob@localhost",),
             sender="alice@example.org", raw=None):
        c = smtplib.SMTP("127.0.0.1", self.suite.smtp_port, timeout=30)
        try:
            if raw is None:
                raw = ("Subject: %s\r\nFrom: %s\r\nMessage-ID: <%s@t>\r\n"
                       "\r\n%s" % (subject, sender, time.time_ns(), body))
            c.sendmail(sender, list(rcpts), raw)
        finally:
            c.quit()

    def mailbox(self, rcpt):
        """The messages delivered to rcpt, as bytes, oldest first."""
        d = os.path.join(self.md, rcpt, "new")
        if not os.path.isdir(d):
            return []
        out = []
        for n in sorted(os.listdir(d)):
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
        return out

    def wait_mail(self, rcpt, n=1, timeout=20):
        wait_for(lambda: len(self.mailbox(rcpt)) >= n, timeout,
                 what="%d message(s) for %s" % (n, rcpt))
        return self.mailbox(rcpt)

    def track(self, event):
        """Tracking records of one event kind, oldest first."""
        return self.log_query("--event", event)

    def ctl(self, *args):
        r = self.suite.run("sekishoctl", "-c", self.suite.confdir, *args)
        return r

    def log_query(self, *args):
        r = self.ctl("--json", "log", "query", "--oldest", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def quarantined(self, area=None):
        """{quarantine id: {key: value} of its .info} in the store
        (optionally of one area)."""
        d = os.path.join(self.suite.data_dir, "quarantine", "msg")
        out = {}
        if not os.path.isdir(d):
            return out
        for n in os.listdir(d):
            if not n.endswith(".info"):
                continue
            with open(os.path.join(d, n), encoding="utf-8") as f:
                info = {}
                for line in f.read().splitlines():
                    k, _, v = line.partition(" ")
                    info[k] = envelope_unescape(v)
            if area is None or info.get("area") == area:
                out[n[:-5]] = info
        return out

    def worker(self):
        pids = self.suite.scan_workers()
        self.assertEqual(len(pids), 1, pids)
        return pids[0]


class TestScanServer(ScanServerCase):
    def test_rules_act_through_the_daemons(self):
        self.start(workers=2)
        self.send("plain one")
        self.send("TAG-ME two")
        self.send("HOLD-ME three")
        mails = self.wait_mail("bob@localhost", 2)
        subjects = sorted(m.split(b"\r\nSubject: ")[1].split(b"\r\n")[0]
                          for m in mails)
        self.assertEqual(subjects, [b"[tagged] TAG-ME two", b"plain one"])
        wait_for(lambda: self.quarantined("held"), 10, what="quarantined")
        (qid, info), = self.quarantined("held").items()
        self.assertEqual(info["rule"], "hold marked")
        with open(os.path.join(self.suite.data_dir, "quarantine", "msg",
                               qid + ".msg"), "rb") as f:
            self.assertIn(b"Subject: HOLD-ME three\r\n", f.read())
        # The administrator hears of it, from <>, with a Date: header.
        note, = self.wait_mail("postmaster@admin.test")
        self.assertIn(b"Return-Path: <>", note)
        self.assertRegex(note, rb"\r\nDate: [A-Z][a-z]{2}, \d{1,2} "
                         rb"[A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n")
        self.assertIn(b"hold marked", note)
        # Nothing is left waiting for the scanner.
        wait_for(lambda: not self.suite.spool_files("incoming"), 10,
                 what="incoming/ empty")

    def test_mail_waits_while_the_scanner_is_down(self):
        """Never delivered unscanned: without a scanner mail stays in
        incoming/ and goes on once one runs."""
        self.start()
        self.suite.scanner.stop()
        self.send("TAG-ME while down")
        time.sleep(1.5)
        self.assertEqual(self.mailbox("bob@localhost"), [])
        self.assertEqual(len([n for n in self.suite.spool_files("incoming")
                              if n.endswith(".env")]), 1)
        self.suite.start_scanner()
        mail, = self.wait_mail("bob@localhost", timeout=30)
        self.assertIn(b"Subject: [tagged] TAG-ME while down\r\n", mail)

    def test_crash_after_carrying_out_a_scan_leaves_no_duplicate(self):
        """A crash after the scanned copy reached queue/ under the same id
        but before incoming/ was cleaned: at start the incoming copy is
        dropped, the message is delivered once and not scanned again."""
        self.start()
        s = self.suite
        s.scanner.stop()
        self.send("TAG-ME crash window")
        wait_for(lambda: len(s.spool_files("incoming")) == 2, 10,
                 what="the message in incoming/")
        s.stop_smtpd()
        qid = s.spool_files("incoming")[0][:16]
        st = os.stat(s.spool("incoming", qid + ".msg"))
        for sfx in (".msg", ".env"):
            dst = s.spool("queue", qid + sfx)
            shutil.copyfile(s.spool("incoming", qid + sfx), dst)
            os.chown(dst, st.st_uid, st.st_gid)
        s.start_smtpd()
        mail, = self.wait_mail("bob@localhost")
        self.assertIn(b"Subject: TAG-ME crash window\r\n", mail)
        self.assertEqual(s.spool_files("incoming"), [])
        self.assertIn("event=recovered-scanned qid=%s" % qid, s.smtpd.log())
        time.sleep(1)
        self.assertEqual(len(self.mailbox("bob@localhost")), 1)

    def test_seed27_worker_killed_mid_scan_is_rescanned(self):
        """A worker that dies with a message in hand: the scan fails with
        a defined reason, a new worker scans it again, it is delivered."""
        self.start(workers=1, scan_retry_seconds=1)
        w = self.worker()
        os.kill(w, signal.SIGSTOP)      # it takes the job, cannot finish
        self.send("TAG-ME killed worker")
        time.sleep(0.5)
        os.kill(w, signal.SIGKILL)
        mail, = self.wait_mail("bob@localhost")
        self.assertIn(b"Subject: [tagged] TAG-ME killed worker\r\n", mail)
        wait_for(lambda: self.track("scan_failed"), 10, what="scan_failed")
        failed = self.track("scan_failed")
        self.assertEqual(len(failed), 1, failed)
        self.assertIn("killed by signal 9", failed[0]["detail"])
        self.assertIn("attempt 1 of 3", failed[0]["detail"])
        wait_for(lambda: self.suite.scan_workers() not in ([], [w]), 10,
                 what="a new worker")

    def test_seed27_wall_clock_limit(self):
        """A scan that does not finish within scan_timeout: the worker is
        killed, the outcome logged, the message scanned again."""
        self.start(workers=1, scan_timeout=1, scan_retry_seconds=1)
        w = self.worker()
        os.kill(w, signal.SIGSTOP)
        self.send("TAG-ME stalled")
        mail, = self.wait_mail("bob@localhost")
        self.assertIn(b"[tagged] TAG-ME stalled", mail)
        wait_for(lambda: self.track("scan_failed"), 10, what="scan_failed")
        failed = self.track("scan_failed")
        self.assertEqual(len(failed), 1, failed)
        self.assertIn("longer than scan_timeout (1 s)", failed[0]["detail"])
        self.assertIn("event=scan-timeout", self.suite.scanner.log())

    def test_seed27_memory_limit_holds_message_in_scan_failure_area(self):
        """A message that always breaks its worker (a gzip member that
        expands past the worker's memory): after max_scan_failures it is
        held in the scan-failure area, the administrator is told, and
        other mail is not held up."""
        # ASan builds do not set RLIMIT_AS; its allocator limit stands in.
        # A worker that dies of it exits through fatal(): no leak report.
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
               ":allocator_may_return_null=1:max_allocation_size_mb=200"
               ":detect_leaks=0"}
        self.start(workers=2, max_scan_failures=2, scan_retry_seconds=1,
                   worker_memory_mb=256, max_expanded_mb=2048,
                   max_ratio=100000, scanner_env=env)
        bomb = io.BytesIO()
        with gzip.GzipFile(fileobj=bomb, mode="wb", compresslevel=1) as g:
            chunk = b"A" * (1 << 20)
            for _ in range(600):
                g.write(chunk)
        m = EmailMessage()
        m["Subject"] = "memory bomb"
        m["From"] = "alice@example.org"
        m.set_content("see attachment\n")
        m.add_attachment(bomb.getvalue(), maintype="application",
                         subtype="gzip", filename="zeros.gz")
        self.send(None, raw=m.as_bytes().replace(b"\n", b"\r\n"))
        self.send("TAG-ME after the bomb")
        mail, = self.wait_mail("bob@localhost")
        self.assertIn(b"[tagged] TAG-ME after the bomb", mail)
        wait_for(lambda: self.quarantined("scan-failure"), 30,
                 what="a message in the scan-failure area")
        (qid, info), = self.quarantined("scan-failure").items()
        self.assertIn("attempt 2 of 2", info["reason"])
        wait_for(lambda: len(self.track("scan_failed")) == 2, 10,
                 what="two scan_failed records")
        note, = self.wait_mail("postmaster@admin.test")
        self.assertIn(b"Return-Path: <>", note)
        self.assertIn(qid.encode(), note)
        self.assertIn(b"\r\nDate: ", note)
        # Held, never delivered: bob has only the other message.
        time.sleep(0.5)
        self.assertEqual(len(self.mailbox("bob@localhost")), 1)
        self.assertEqual(self.suite.spool_files("incoming"), [])

    def test_sighup_reloads_policy_and_keeps_it_when_invalid(self):
        self.start(workers=2)
        self.send("TAG-ME one")
        self.wait_mail("bob@localhost", 1)
        self.suite.set_rules(RULES.replace("[tagged]", "[v2]"))
        self.suite.scanner.signal(signal.SIGHUP)
        self.assertLogHas(self.suite.scanner, "event=reloaded")
        self.send("TAG-ME two")
        mails = self.wait_mail("bob@localhost", 2)
        self.assertIn(b"Subject: [v2] TAG-ME two\r\n", mails[1])
        # A broken policy is refused; the running one stays.
        self.suite.set_rules('[rule "broken"]\nsubject = pattern: (\n')
        self.suite.scanner.signal(signal.SIGHUP)
        self.assertLogHas(self.suite.scanner, "event=reload-failed")
        self.send("TAG-ME three")
        mails = self.wait_mail("bob@localhost", 3)
        self.assertIn(b"Subject: [v2] TAG-ME three\r\n", mails[2])
        self.assertEqual(len(self.suite.scan_workers()), 2)

    def test_reload_storm_keeps_the_scanner(self):
        """SIGHUP after SIGHUP: new workers are retired while they start
        (a signal meant for a worker must never reach the parent's
        loop); the scanner stays up, scans, and has its workers."""
        self.start(workers=2)
        s = self.suite
        for _ in range(30):
            s.scanner.signal(signal.SIGHUP)
            time.sleep(0.02)
        wait_for(lambda: s.scanner.log().count("event=reloaded") >= 2, 20,
                 what="the reloads")
        self.assertTrue(s.scanner.running(), s.scanner.log()[-2000:])
        self.send("TAG-ME after the storm")
        mail, = self.wait_mail("bob@localhost")
        self.assertIn(b"Subject: [tagged] TAG-ME after the storm", mail)
        wait_for(lambda: len(s.scan_workers()) == 2, 20,
                 what="two workers")
        self.assertNotIn("event=exit", s.scanner.log())

    def test_tracking_queries_after_scans(self):
        """The tracking log answers rule, action, subject, recipient,
        event and queue-id queries for scanned mail (seeds 26, 30)."""
        self.start(workers=2)
        self.send("plain passes", rcpts=("carol@localhost",))
        self.send("TAG-ME tagged")
        self.send("HOLD-ME held", rcpts=("dave@localhost",))
        self.wait_mail("carol@localhost")
        self.wait_mail("bob@localhost")
        wait_for(lambda: self.quarantined("held"), 10, what="held")
        wait_for(lambda: self.track("notified"), 10, what="notified")

        rows = self.log_query("--rule", "tag marked", "--event",
                              "rule_matched")
        self.assertEqual([(r["rcpt"], r["subject"]) for r in rows],
                         [("bob@localhost", "TAG-ME tagged")])
        self.assertEqual(rows[0]["action"], "tag_subject")
        rows = self.log_query("--action", "quarantined", "--event",
                              "quarantined")
        self.assertEqual([r["rcpt"] for r in rows], ["dave@localhost"])
        self.assertEqual(rows[0]["rule"], "hold marked")
        self.assertEqual(rows[0]["action"], "Quarantined (held)")
        rows = self.log_query("--to", "carol@", "--event", "scanned")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["action"], "Passed sekisho scan")
        qid = rows[0]["qid"]
        kinds = [r["event"] for r in self.log_query("--qid", qid)]
        self.assertEqual(kinds[0], "received")
        self.assertIn("scanned", kinds)
        wait_for(lambda: "delivered" in [r["event"] for r in
                                         self.log_query("--qid", qid)],
                 10, what="delivered event")
        rows = self.log_query("--subject", "held", "--event", "scanned")
        self.assertEqual([r["action"] for r in rows], ["Quarantined (held)"])


if __name__ == "__main__":
    unittest.main()
