"""test_quarantine_ctl.py: the quarantine through sekishoctl, end to end.

sekisho-scanner and sekisho-smtpd run for real; mail reaches the
quarantine the way it does in production: a policy.ini rule ("hold test":
subject QUARANTINE-ME, intercept quarantine testarea) matches in the
scanner and the queue stores the message.  sekishoctl then lists, shows,
exports, releases and deletes it over run_dir/queue.sock.  Mail for
localhost goes to the suite's Maildir, so a release is seen delivered.
docs/sekishoctl.md and docs/quarantine.md.
"""

import json
import os
import re
import subprocess
import time
import unittest

from harness import (BIN, SuiteTestCase, dot_stuff, RawSMTP, split_received,
                     wait_for)
from test_queue_ctl import IMSG, RawCtl, frame, p_str, p_u64, parse_result

SCANNER = os.path.join(BIN, "sekisho-scanner")

RULE = """
; test_quarantine_ctl.py
[rule "hold test"]
order = 1
subject = pattern: QUARANTINE-ME
intercept = quarantine testarea
"""

ID_RE = re.compile(r"^[0-9a-f]{16}$")
MISSING = "0123456789abcdef"


def content(subject, body):
    return ("From: someone@example.org\r\nTo: you@localhost\r\n"
            "Subject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\n%s"
            % (subject, subject.replace(" ", "."), body)).encode()


@unittest.skipUnless(os.path.exists(SCANNER),
                     "sekisho-scanner is not built (%s): the quarantine "
                     "is reached only through a scan" % SCANNER)
class QuarantineCase(SuiteTestCase):
    """Scanner and smtpd with the "hold test" rule; mail for localhost
    is delivered to <suite>/maildir."""

    def setUp(self):
        super().setUp()
        s = self.suite
        s.set("policy.ini", "scan", "enabled", "1")
        if hasattr(s, "set_rules"):
            s.set_rules(RULE)
        else:
            s.write("policy.ini", s.read("policy.ini") + RULE)
        s.set("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")
        self.maildir = os.path.join(s.dir, "maildir")
        if hasattr(s, "start_scanner"):
            self.scanner = s.start_scanner()
        else:
            self.scanner = s.start("sekisho-scanner")
            sock = os.path.join(s.run_dir, "scanner.sock")

            def listening():
                if not self.scanner.running():
                    raise AssertionError("sekisho-scanner exited (%s); "
                                         "log:\n%s" % (
                                             self.scanner.proc.returncode,
                                             self.scanner.log()))
                return os.path.exists(sock)
            wait_for(listening, 20, what="scanner.sock")
        self.smtpd = s.start_smtpd()
        self.assertLogHas(self.smtpd, "event=queue-ctl-ready")
        self.sock_path = os.path.join(s.run_dir, "queue.sock")

    # --- sekishoctl -----------------------------------------------------

    def ctl(self, *args, binary=False):
        argv = [self.suite.bin("sekishoctl"), "-c", self.suite.confdir]
        return subprocess.run(argv + list(args), capture_output=True,
                              text=not binary, timeout=60)

    def ok(self, *args, binary=False):
        r = self.ctl(*args, binary=binary)
        self.assertEqual(r.returncode, 0, "sekishoctl %s: %s%s"
                         % (" ".join(args), r.stdout, r.stderr))
        return r

    def fails(self, code, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, code, "sekishoctl %s: exit %d, want "
                         "%d: %s%s" % (" ".join(args), r.returncode, code,
                                       r.stdout, r.stderr))
        return r

    def jlist(self, *filters):
        out = json.loads(self.ok("quarantine", "list", "--json",
                                 *filters).stdout)
        self.assertIsInstance(out, list)
        return out

    def ids(self, *filters):
        return [e["id"] for e in self.jlist(*filters)]

    def jshow(self, qid):
        return json.loads(self.ok("quarantine", "show", qid,
                                  "--json").stdout)

    def wait_quarantined(self, n, timeout=30):
        return wait_for(lambda: (lambda l: l if len(l) == n else None)(
            self.jlist()), timeout, step=0.2,
            what="%d message(s) in the quarantine (log:\n%s)" % (
                n, self.smtpd.log()[-3000:]))

    # --- mail -----------------------------------------------------------

    def send(self, sender, rcpts, data):
        """One message in its own session; its queue id."""
        with RawSMTP(self.suite.smtp_port) as c:
            r = c.send_mail(sender, rcpts, dot_stuff(data))
            self.assertTrue(r.qid(), "not queued: %s" % r)
            c.cmd("QUIT")
        return r.qid()

    def mailbox(self, rcpt):
        """The messages delivered to rcpt's Maildir, as bytes."""
        new = os.path.join(self.maildir, rcpt, "new")
        try:
            names = sorted(os.listdir(new))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            with open(os.path.join(new, n), "rb") as f:
                out.append(f.read())
        return out

    def wait_delivered(self, rcpt, n=1, timeout=30):
        return wait_for(lambda: (lambda m: m if len(m) >= n else None)(
            self.mailbox(rcpt)), timeout, step=0.1,
            what="%d message(s) in the Maildir of %s" % (n, rcpt))

    def track(self, *args):
        r = self.ok("--json", "log", "query", *args)
        return [json.loads(ln) for ln in r.stdout.splitlines() if ln]


class TestQuarantineCtl(QuarantineCase):

    def test_list_show_export_release_delete(self):
        a = content("QUARANTINE-ME one", "first held message\r\n"
                    ".leading dot\r\n")
        b = content("QUARANTINE-ME two", "second held message\r\n")
        c = content("harmless", "this one passes\r\n")
        t0 = time.time()
        qa = self.send("alice@example.org", ["bob@localhost",
                                             "carol@localhost"], a)
        qb = self.send("dave@example.org", ["erin@localhost"], b)
        self.send("frank@example.org", ["gina@localhost"], c)

        # The message that matches no rule is delivered; the two others
        # wait in the quarantine.
        got = self.wait_delivered("gina@localhost")[0]
        self.assertTrue(got.endswith(c), got[-300:])
        entries = self.wait_quarantined(2)
        by_qid = {e["qid"]: e for e in entries}
        self.assertEqual(sorted(by_qid), sorted([qa, qb]))
        ea, eb = by_qid[qa], by_qid[qb]
        self.assertRegex(ea["id"], ID_RE)
        self.assertNotEqual(ea["id"], eb["id"])
        self.assertEqual([e["id"] for e in entries],
                         sorted([ea["id"], eb["id"]], reverse=True),
                         "newest first")

        # show: every field as stored.
        e = self.jshow(ea["id"])
        self.assertEqual(e["id"], ea["id"])
        self.assertEqual(e["qid"], qa)
        self.assertEqual(e["area"], "testarea")
        self.assertEqual(e["rule"], "hold test")
        self.assertEqual(e["sender"], "alice@example.org")
        self.assertEqual(e["recipients"], ["bob@localhost",
                                           "carol@localhost"])
        self.assertEqual(e["nrcpt"], 2)
        self.assertEqual(e["subject"], "QUARANTINE-ME one")
        self.assertFalse(e["truncated"])
        self.assertTrue(int(t0) - 1 <= e["time"] <= time.time() + 1)
        self.assertEqual(self.jshow(eb["id"])["recipients"],
                         ["erin@localhost"])
        out = self.ok("quarantine", "show", ea["id"]).stdout
        self.assertIn("Quarantine ID:  %s\n" % ea["id"], out)
        self.assertIn("Area:           testarea\n", out)
        self.assertIn("Rule:           hold test\n", out)
        self.assertIn("Sender:         alice@example.org\n", out)
        self.assertIn("Subject:        QUARANTINE-ME one\n", out)
        self.assertIn("Queue ID:       %s\n" % qa, out)
        self.assertIn("Recipients:     2\n  bob@localhost\n  "
                      "carol@localhost\n", out)

        # list: the table and the filters.
        out = self.ok("quarantine", "list").stdout.splitlines()
        self.assertTrue(out[0].startswith("QUARANTINE ID"), out)
        self.assertTrue(out[0].rstrip().endswith("RULE"), out)
        self.assertEqual(out[-1], "2 messages")
        row = [ln for ln in out if ln.startswith(ea["id"])][0]
        for piece in ("testarea", "alice@example.org", "bob@localhost +1",
                      "QUARANTINE-ME one", "hold test"):
            self.assertIn(piece, row)
        self.assertEqual(self.ids("--area", "testarea"),
                         [x["id"] for x in entries])
        self.assertEqual(self.ids("--area", "other"), [])
        self.assertEqual(self.ids("--sender", "ALICE"), [ea["id"]])
        self.assertEqual(self.ids("--rcpt", "erin"), [eb["id"]])
        self.assertEqual(self.ids("--rcpt", "localhost", "--sender",
                                  "dave"), [eb["id"]])
        self.assertEqual(self.ids("--since", "-1h"),
                         [x["id"] for x in entries])
        self.assertEqual(self.ids("--until", str(int(t0) - 60)), [])
        self.assertEqual(self.ids("--since", str(int(t0) - 60), "--until",
                                  "now"), [x["id"] for x in entries])
        self.assertEqual(self.ids("--limit", "1"), [entries[0]["id"]])
        self.assertEqual(self.ok("quarantine", "list", "--area",
                                 "other").stdout, "0 messages\n")

        # export: the stored bytes are our Received header, then exactly
        # what the client sent.
        path = os.path.join(self.suite.dir, "exported.eml")
        r = self.ok("quarantine", "export", ea["id"], "-o", path)
        self.assertIn("bytes written to %s" % path, r.stdout)
        with open(path, "rb") as f:
            data = f.read()
        received, rest = split_received(data)
        self.assertEqual(rest, a)
        self.assertEqual(len(data), e["size"])
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        r = self.ok("quarantine", "export", ea["id"], binary=True)
        self.assertEqual(r.stdout, data, "export to standard output")

        # release: delivered to both recipients, not quarantined again
        # (the rule that held it is skipped on the rescan).
        r = self.ok("quarantine", "release", ea["id"])
        m = re.match(r"^%s: released as queue id ([0-9a-f]{16})\n$"
                     % ea["id"], r.stdout)
        self.assertTrue(m, "%r: the reply must name the new queue id "
                        "(queue_inject leaves it in env->id, queue.h)"
                        % r.stdout)
        newqid = m.group(1)
        self.assertNotEqual(newqid, qa)
        for rcpt in ("bob@localhost", "carol@localhost"):
            got = self.wait_delivered(rcpt)
            self.assertEqual(len(got), 1)
            self.assertTrue(got[0].endswith(data), got[0][-300:])
        self.assertEqual(self.ids(), [eb["id"]])
        time.sleep(1)
        self.assertEqual(self.ids(), [eb["id"]], "released mail was "
                         "quarantined again")
        r = self.fails(1, "quarantine", "show", ea["id"])
        self.assertIn("%s: no such message in the quarantine" % ea["id"],
                      r.stderr)
        ev = self.track("--qid", newqid, "--event", "released")
        self.assertTrue(ev, "no released event for %s" % newqid)
        self.assertEqual(ev[0]["detail"], "from quarantine %s" % ea["id"])
        ev = self.track("--qid", qa, "--event", "released")
        self.assertIn("quarantine %s released as %s" % (ea["id"], newqid),
                      [x["detail"] for x in ev])

        # delete: gone for good, never delivered.
        r = self.ok("--json", "quarantine", "delete", eb["id"])
        self.assertEqual(json.loads(r.stdout), {
            "ok": True, "command": "delete", "id": eb["id"],
            "result": "%s: deleted" % eb["id"]})
        self.assertEqual(self.jlist(), [])
        self.assertEqual(self.ok("quarantine", "list").stdout,
                         "0 messages\n")
        self.fails(1, "quarantine", "delete", eb["id"])
        self.assertEqual(self.mailbox("erin@localhost"), [])
        ev = self.track("--qid", qb, "--event", "deleted")
        self.assertIn("quarantine %s deleted by administrator" % eb["id"],
                      [x["detail"] for x in ev])
        self.assertEqual([f for f in os.listdir(os.path.join(
            self.suite.data_dir, "quarantine", "msg"))], [])

    def test_bad_and_unknown_ids(self):
        qid = self.send("alice@example.org", ["bob@localhost"],
                        content("QUARANTINE-ME bad ids", "x\r\n"))
        held = self.wait_quarantined(1)[0]
        self.assertEqual(held["qid"], qid)
        for cmd in ("show", "release", "delete", "export"):
            for bad in ("../x", "0123456789abcdef0", "0123456789ABCDEF",
                        "x" * 300, ""):
                r = self.fails(2, "quarantine", cmd, bad)
                if bad:
                    self.assertIn("not a quarantine id", r.stderr)
            r = self.fails(1, "quarantine", cmd, MISSING)
            self.assertIn("%s: no such message in the quarantine"
                          % MISSING, r.stderr)
        r = self.fails(1, "--json", "quarantine", "release", MISSING)
        self.assertEqual(json.loads(r.stdout)["ok"], False)
        self.fails(2, "quarantine", "list", "--area", "../x")
        self.fails(2, "quarantine", "list", "--since", "yesterday")
        self.fails(2, "quarantine", "list", "--since", "now", "--until",
                   "-1h")
        self.fails(2, "quarantine", "list", "--limit", "-1")
        self.fails(2, "quarantine", "frobnicate")

        # The daemon checks for itself what sekishoctl never sends.
        c = RawCtl(self.sock_path)
        self.addCleanup(c.close)
        for n, bad in enumerate(["../x", "../../etc/passwd", "0" * 17,
                                 "x" * 1000, "0123456789ABCDEF", ""], 1):
            for t in ("QSHOW", "QRELEASE", "QDELETE", "QEXPORT"):
                c.send(frame(IMSG["IMSG_QUEUE_CTL_" + t], p_u64(n) +
                             p_str(bad)))
                mtype, payload = c.recv()
                self.assertEqual(mtype, IMSG["IMSG_CTL_RESULT"])
                self.assertEqual(parse_result(payload), (
                    n, 2, "malformed quarantine id (16 lower-case hex "
                    "digits)"))

        def qlist(reqid, area="", sender=b"", rcpt=b"", since=0, until=0):
            return frame(IMSG["IMSG_QUEUE_CTL_QLIST"], p_u64(reqid) +
                         p_str(area) + p_str(sender) + p_str(rcpt) +
                         p_u64(since) + p_u64(until) + p_u64(0))
        for reqid, req, why in (
                (20, qlist(20, area="../x"), "malformed area name"),
                (21, qlist(21, sender=b"\xff\xfe"), "sender filter"),
                (22, qlist(22, rcpt=b"a\nb"), "recipient filter"),
                (23, qlist(23, since=10, until=5), "until"),
                (24, qlist(24, since=1 << 63), "time out of range")):
            c.send(req)
            mtype, payload = c.recv()
            self.assertEqual(mtype, IMSG["IMSG_CTL_RESULT"])
            r = parse_result(payload)
            self.assertEqual(r[:2], (reqid, 2), r)
            self.assertIn(why, r[2])
        # Nothing changed, and the connection still works.
        c.send(qlist(30))
        mtype, payload = c.recv()
        self.assertEqual(mtype, IMSG["IMSG_QUEUE_CTL_ENTRY"])
        mtype, payload = c.recv()
        self.assertEqual(parse_result(payload), (30, 0, "1 message"))
        self.assertEqual(self.ids(), [held["id"]])
        self.assertEqual(self.mailbox("bob@localhost"), [])

    def test_list_streams_many(self):
        """More entries than one batch (256), each exactly once, newest
        first, with --limit cutting across batches."""
        n = 300
        with RawSMTP(self.suite.smtp_port) as c:
            c.ehlo()
            for i in range(n):
                r = c.send_mail("s%d@example.org" % i, ["r%d@localhost" % i],
                                dot_stuff(content("QUARANTINE-ME %d" % i,
                                                  "x\r\n")), ehlo=False)
                self.assertTrue(r.qid(), "not queued: %s" % r)
            c.cmd("QUIT")
        entries = self.wait_quarantined(n, timeout=120)
        ids = [e["id"] for e in entries]
        self.assertEqual(len(set(ids)), n)
        self.assertEqual([(e["time"], e["id"]) for e in entries],
                         sorted(((e["time"], e["id"]) for e in entries),
                                reverse=True))
        self.assertEqual(self.ids("--limit", "270"), ids[:270])
        out = self.ok("quarantine", "list").stdout.splitlines()
        self.assertEqual(out[-1], "%d messages" % n)
        self.assertEqual(len(out), n + 2)


if __name__ == "__main__":
    unittest.main()
