"""SMTP smuggling and STARTTLS command injection (issue 3).

Only <CRLF>.<CRLF> ends DATA.  Each end-of-data variant from DATA.md is
sent with a whole second transaction hidden behind it, all in one write:
exactly one message may be stored, and it carries the hidden commands as
body text.

After STARTTLS, plaintext the client pipelined behind the command must
be thrown away, never executed (CVE-2011-0411 class).
"""

import socket
import time
import unittest

from harness import SuiteTestCase, data_model, has_only_crlf

# DATA.md: the union of the public scanners' end-of-data variants.
VARIANTS = [
    b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\n.\r\n", b"\r\n.\n",
    b"\r.\r\n", b"\r\n.\r", b"\r\n\x00.\r\n", b"\r\n.\r\r\n",
    b"\r\r\n.\r\r\n", b"\r\n.\x00\r\n", b"\n\n.\r\n", b"\r\x00\n.\r\n",
]

HIDDEN = (b"MAIL FROM:<evil@x.example>\r\n"
          b"RCPT TO:<victim@example.com>\r\n"
          b"DATA\r\n"
          b"smuggled\r\n")


def payload(variant):
    return (b"From: a@example.org\r\nSubject: smuggling\r\n\r\n"
            b"body line" + variant + HIDDEN + b"\r\n.\r\n")


class SmugglingTest(SuiteTestCase):

    def setUp(self):
        super().setUp()
        self.suite.start_smtpd()

    def open_data(self):
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        return c

    def check_variant(self, variant):
        c = self.open_data()
        data = payload(variant)
        c.send(data)
        r = c.reply()
        qid = r.qid()
        self.assertTrue(qid, "expected one 250 queued, got %s" % r)
        # Had the variant ended the message, the hidden MAIL would be
        # answered next; the QUIT must be the next thing answered.
        r = c.cmd("QUIT")
        self.assertEqual(r.code, 221, "hidden command was executed: %s" % r)
        msgs = self.suite.incoming()
        self.assertEqual(len(msgs), 1, [m[0] for m in msgs])
        env, _ = self.assertStored(qid, data_model(data)[0],
                                   sender="a@example.org",
                                   rcpts=["b@example.com"])
        body = msgs[0][2]
        self.assertIn(b"MAIL FROM:<evil@x.example>", body)
        self.assertIn(b"smuggled", body)
        self.assertTrue(has_only_crlf(body))
        self.assertNotIn("from=evil@x.example", self.suite.smtpd.log(),
                         "no transaction for the hidden sender")

    def test_all_variants_in_one_message_sent_byte_by_byte(self):
        # The same rules however the bytes are split into reads.
        c = self.open_data()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = (b"Subject: split\r\n\r\n" +
                b"".join(b"line %d" % i + v + HIDDEN
                         for i, v in enumerate(VARIANTS)) + b"end\r\n.\r\n")
        head, tail = data[:-40], data[-40:]
        for i in range(0, len(head), 97):
            c.send(head[i:i + 97])
            time.sleep(0.002)
        for b in tail:
            c.send(bytes([b]))
            time.sleep(0.002)
        r = c.reply()
        self.assertTrue(r.qid(), r)
        self.assertEqual(c.cmd("QUIT").code, 221)
        self.assertEqual(len(self.suite.incoming()), 1)
        self.assertStored(r.qid(), data_model(data)[0])


def _make(variant):
    def test(self):
        self.check_variant(variant)
    return test


for _i, _v in enumerate(VARIANTS):
    _name = "test_variant_%02d_%s_does_not_end_data" % (
        _i, _v.replace(b"\r", b"CR").replace(b"\n", b"LF")
        .replace(b"\x00", b"NUL").replace(b".", b"DOT").decode())
    setattr(SmugglingTest, _name, _make(_v))


class StarttlsInjectionTest(SuiteTestCase):

    def setUp(self):
        super().setUp()
        self.suite.start_smtpd()

    def test_plaintext_pipelined_after_starttls_is_not_executed(self):
        c = self.smtp()
        c.ehlo()
        c.send(b"STARTTLS\r\nMAIL FROM:<x@y.example>\r\n")
        r = c.reply()
        self.assertEqual(r.code, 220, r)
        self.assertEqual(c.buf, b"", "no reply for the injected command "
                         "before the handshake")
        c.starttls()
        # Nothing may answer the injected MAIL inside TLS either.
        self.assertTrue(c.nothing_within(0.5),
                        "server answered the injected command: %r" % c.buf)
        r = c.ehlo()
        self.assertIn("PIPELINING", r.texts)
        # Had the injected MAIL run, this RCPT would be accepted.
        r = c.cmd("RCPT TO:<b@example.com>")
        self.assertEqual(r.code, 503, r)
        # The session itself is fine.
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 250)
        self.assertEqual(c.cmd("QUIT").code, 221)

    def test_injected_transaction_stores_nothing(self):
        c = self.smtp()
        c.ehlo()
        c.send(b"STARTTLS\r\nEHLO evil\r\nMAIL FROM:<x@y.example>\r\n"
               b"RCPT TO:<b@example.com>\r\nDATA\r\nSubject: injected\r\n"
               b"\r\nhi\r\n.\r\nQUIT\r\n")
        self.assertEqual(c.reply().code, 220)
        c.starttls()
        self.assertTrue(c.nothing_within(0.5), c.buf)
        c.ehlo()
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertEqual(c.cmd("QUIT").code, 221)
        self.assertNoIncoming()
        self.assertNotIn("x@y.example", self.suite.smtpd.log())

    def test_starttls_refused_inside_a_transaction(self):
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.cmd("STARTTLS").code, 503)

    def test_starttls_twice_is_refused(self):
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("STARTTLS").code, 220)
        c.starttls()
        c.ehlo()
        self.assertEqual(c.cmd("STARTTLS").code, 503)


if __name__ == "__main__":
    unittest.main()
