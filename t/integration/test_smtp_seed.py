"""Seed items of the SMTP front end (SEED-FEATURES.md): 3, 6, 17, 18, 29,
33.  (Seed 34, the stop modes, is in test_smtpd_shutdown.py.)"""

import os
import shutil
import socket
import time
import unittest

from harness import (RawSMTP, SuiteTestCase, data_model, dot_stuff,
                     has_only_crlf, port_open, sha256, split_received)


class Seed03DotInAddressTest(SuiteTestCase):
    """CheckDotInMailAddress: absent or 1 rejects a.@x and a..b@x with 501
    and a clear text; 0 accepts them."""

    def rejects(self):
        c = self.smtp()
        c.ehlo()
        for addr, why in (("a.@x.example", "dot right before @"),
                          ("a..b@x.example", "two dots in a row")):
            r = c.cmd("MAIL FROM:<%s>" % addr)
            self.assertTrue(r.last.startswith("501 5.1.7"), r)
            self.assertIn(why, r.last)
        self.assertEqual(c.cmd("MAIL FROM:<a.b@x.example>").code, 250)
        for addr, why in (("c.@example.com", "dot right before @"),
                          ("c..d@example.com", "two dots in a row")):
            r = c.cmd("RCPT TO:<%s>" % addr)
            self.assertTrue(r.last.startswith("501 5.1.3"), r)
            self.assertIn(why, r.last)
        self.assertEqual(c.cmd("RCPT TO:<c.d@example.com>").code, 250)
        self.assertEqual(c.cmd("QUIT").code, 221)
        self.assertNoIncoming()

    def test_seed03_dot_in_address_rejected_by_default(self):
        self.suite.start_smtpd()
        self.rejects()

    def test_seed03_dot_in_address_rejected_with_1(self):
        self.suite.start_smtpd(CheckDotInMailAddress="1")
        self.rejects()

    def test_seed03_dot_in_address_accepted_with_0(self):
        self.suite.start_smtpd(CheckDotInMailAddress="0")
        content = b"Subject: dots\r\n\r\nhello\r\n"
        qid = self.deliver(content, sender="a.@x.example",
                           rcpts=["c..d@example.com", "e.@example.com"])
        self.assertStored(qid, content, sender="a.@x.example",
                          rcpts=["c..d@example.com", "e.@example.com"])
        # Other syntax errors are still errors.
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@@x.example>").code, 501)
        self.assertEqual(c.cmd("MAIL FROM:<a b@x.example>").code, 501)


def big_content(total):
    """About total bytes of mail: headers, then 78-byte lines, some of
    them starting with a dot; distinct lines (a counter in each)."""
    head = (b"From: big@example.org\r\nTo: bob@example.com\r\n"
            b"Subject: large message\r\n\r\n")
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    n = total // 78
    lines = []
    for i in range(n):
        k = i % 64
        body = alphabet[k:] + alphabet[:k]
        lead = b"." if i % 1000 == 7 else b""
        lines.append(lead + b"%09d " % i + body[:66 - len(lead)] + b"\r\n")
    return head + b"".join(lines)


class Seed06RecvBufferSizeTest(SuiteTestCase):
    """RecvBufferSize (512..4096, absent or 0 = 8196): a message of tens of
    MB arrives intact whatever the buffer size."""

    SIZE = 30 * 1024 * 1024

    @classmethod
    def setUpClass(cls):
        cls.content = big_content(cls.SIZE)
        cls.stuffed = dot_stuff(cls.content)
        cls.digest = sha256(cls.content)

    def send_big(self):
        with RawSMTP(self.suite.smtp_port, timeout=60) as c:
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<big@example.org> SIZE=%d"
                                   % len(self.content)).code, 250)
            self.assertEqual(c.cmd("RCPT TO:<bob@example.com>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(self.stuffed + b".\r\n")
            r = c.reply(timeout=120)
            self.assertTrue(r.qid(), r)
            self.assertEqual(c.cmd("QUIT").code, 221)
        env, msg = self.suite.message(r.qid())
        received, body = split_received(msg)
        self.assertEqual(len(body), len(self.content))
        self.assertEqual(sha256(body), self.digest)
        self.assertEqual(env["sender"], "big@example.org")

    def test_seed06_recv_buffer_size_512_large_message_intact(self):
        self.suite.start_smtpd(RecvBufferSize="512", MaxMsgSize="67108864")
        self.send_big()

    def test_seed06_recv_buffer_size_default_large_message_intact(self):
        self.suite.start_smtpd(MaxMsgSize="67108864")
        self.send_big()

    def test_seed06_recv_buffer_size_valid_and_invalid_values(self):
        for v, ok in (("512", True), ("4096", True), ("0", True),
                      ("511", False), ("4097", False), ("8000", False),
                      ("8196", False), ("-1", False), ("big", False)):
            with self.subTest(RecvBufferSize=v):
                self.suite.smtpd_config(RecvBufferSize=v)
                r = self.suite.run("sekisho-smtpd", "-n", "-c",
                                   self.suite.confdir)
                if ok:
                    self.assertEqual(r.returncode, 0, r.stderr)
                else:
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertRegex(r.stderr,
                                     r"tsmtpd\.ini:\d+: RecvBufferSize")


class Seed17DisableSslTest(SuiteTestCase):
    """DisableSvrSSLSupport=1: no STARTTLS offered or accepted, no SMTPS."""

    def test_seed17_disable_ssl(self):
        # No key pair at all: it must not be needed.
        shutil.rmtree(os.path.join(self.suite.confdir, "tls"))
        self.suite.start_smtpd(DisableSvrSSLSupport="1")
        c = self.smtp()
        r = c.ehlo()
        self.assertNotIn("STARTTLS", r.texts)
        r = c.cmd("STARTTLS")
        self.assertTrue(r.last.startswith("502 5.5.1"), r)
        # The session goes on in plaintext.
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertFalse(port_open(self.suite.smtps_port),
                         "nothing may listen on SmtpsPort")
        self.assertNotIn("kind=smtps", self.suite.smtpd.log())
        qid = self.deliver(b"Subject: plain\r\n\r\nstill works\r\n")
        self.assertStored(qid, b"Subject: plain\r\n\r\nstill works\r\n")

    def test_seed17_ssl_enabled_by_default(self):
        # The counterpart: by default both STARTTLS and SMTPS work.
        self.suite.start_smtpd()
        c = self.smtp()
        self.assertIn("STARTTLS", c.ehlo().texts)
        with RawSMTP(self.suite.smtps_port, tls=True) as t:
            self.assertEqual(t.greeting.code, 220)
            self.assertIn(t.sock.version(), ("TLSv1.2", "TLSv1.3"))


class Seed18SenderWithoutDomainTest(SuiteTestCase):
    """A sender without a domain gets DefaultDomain (or the host name)
    appended, unless DisableAddDefaultDomainToSender=1: then it is kept
    as it is, and nothing crashes."""

    CONTENT = b"Subject: no domain\r\n\r\nhi\r\n"

    def setUp(self):
        super().setUp()
        self.suite.set("imss.ini", "general", "hostname", "mx.sekisho.test")

    def test_seed18_sender_without_domain_gets_default_domain(self):
        self.suite.start_smtpd(DefaultDomain="default.example")
        qid = self.deliver(self.CONTENT, sender="alice")
        self.assertStored(qid, self.CONTENT, sender="alice@default.example")

    def test_seed18_sender_without_domain_gets_host_name(self):
        self.suite.start_smtpd()
        qid = self.deliver(self.CONTENT, sender="alice")
        self.assertStored(qid, self.CONTENT, sender="alice@mx.sekisho.test")

    def test_seed18_sender_without_domain_kept_when_disabled(self):
        d = self.suite.start_smtpd(DisableAddDefaultDomainToSender="1",
                                   DefaultDomain="default.example")
        qid = self.deliver(self.CONTENT, sender="alice")
        self.assertStored(qid, self.CONTENT, sender="alice")
        self.assertTrue(d.running())
        children = self.suite.smtpd_children()
        self.assertIn("smtpd.smtp", children)
        self.assertIn("smtpd.queue", children)
        # The daemon still serves the next session, also with the same
        # sender again and a normal one.
        qid2 = self.deliver(self.CONTENT, sender="alice")
        qid3 = self.deliver(self.CONTENT, sender="bob@example.org")
        self.assertStored(qid2, self.CONTENT, sender="alice")
        self.assertStored(qid3, self.CONTENT, sender="bob@example.org")
        self.assertEqual(self.suite.smtpd_children(), children,
                         "no process was restarted")


class Seed29BareCrLfTest(SuiteTestCase):
    """Bare CR and bare LF never reach the spool: they become CRLF."""

    def test_seed29_bare_cr_lf(self):
        self.suite.start_smtpd()
        sent = (b"Subject: bare\r\n\r\n"
                b"cr\rinside\r\n"
                b"lf\ninside\r\n"
                b"\rleading cr\r\n"
                b"\nleading lf\r\n"
                b"trailing cr\r\r\n"
                b"mixed\n\r\rend\r\n")
        want = (b"Subject: bare\r\n\r\n"
                b"cr\r\ninside\r\n"
                b"lf\r\ninside\r\n"
                b"\r\nleading cr\r\n"
                b"\r\nleading lf\r\n"
                b"trailing cr\r\n\r\n"
                b"mixed\r\n\r\n\r\nend\r\n")
        self.assertEqual(data_model(sent + b".\r\n")[0], want)
        c = self.smtp()
        r = c.send_mail("a@example.org", ["b@example.com"], sent)
        self.assertTrue(r.qid(), r)
        env, msg = self.suite.message(r.qid())
        self.assertTrue(has_only_crlf(msg))
        self.assertStored(r.qid(), want)


class Seed33PipelinedEndOfDataTest(SuiteTestCase):
    """Bytes after <CRLF>.<CRLF> in the same packet are the next command;
    the message ends exactly at the terminator."""

    CONTENT = b"Subject: seed 33\r\n\r\nbody\r\n"

    def setUp(self):
        super().setUp()
        self.suite.start_smtpd()

    def open_data(self, c):
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n"
               b"DATA\r\n")
        self.assertEqual([r.code for r in c.replies(3)], [250, 250, 354])

    def test_seed33_pipelined_end_of_data_then_mail(self):
        c = self.smtp()
        self.open_data(c)
        c.send(self.CONTENT + b".\r\nMAIL FROM:<next@example.org>\r\n")
        r1, r2 = c.replies(2)
        self.assertTrue(r1.qid(), r1)
        self.assertTrue(r2.last.startswith("250 2.1.0"), r2)
        # The new transaction goes on normally.
        self.assertEqual(c.cmd("RCPT TO:<c@example.com>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: second\r\n\r\nx\r\n.\r\n")
        r3 = c.reply()
        self.assertTrue(r3.qid(), r3)
        self.assertStored(r1.qid(), self.CONTENT, sender="a@example.org")
        self.assertStored(r3.qid(), b"Subject: second\r\n\r\nx\r\n",
                          sender="next@example.org",
                          rcpts=["c@example.com"])

    def test_seed33_pipelined_end_of_data_then_quit(self):
        c = self.smtp()
        self.open_data(c)
        c.send(self.CONTENT + b".\r\nQUIT\r\n")
        r1, r2 = c.replies(2)
        self.assertTrue(r1.qid(), r1)
        self.assertEqual(r2.code, 221, r2)
        self.assertTrue(c.closed_within(5))
        self.assertStored(r1.qid(), self.CONTENT)

    def test_seed33_pipelined_end_of_data_then_junk(self):
        c = self.smtp()
        self.open_data(c)
        c.send(self.CONTENT + b".\r\nTHIS IS NOT SMTP\r\n")
        r1, r2 = c.replies(2)
        self.assertTrue(r1.qid(), r1)
        self.assertEqual(r2.code, 500, r2)
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertStored(r1.qid(), self.CONTENT)
        self.assertEqual(len(self.suite.incoming()), 1)

    def test_seed33_end_of_data_junk_split_over_packets(self):
        c = self.smtp()
        self.open_data(c)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(self.CONTENT + b".\r\nJU")
        r1 = c.reply()
        self.assertTrue(r1.qid(), r1)
        time.sleep(0.05)
        c.send(b"NK\r\n")
        self.assertEqual(c.reply().code, 500)
        self.assertStored(r1.qid(), self.CONTENT)


if __name__ == "__main__":
    unittest.main()
