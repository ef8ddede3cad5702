"""Conversations with real SMTP clients (issue 3): Python's smtplib over
plain SMTP, STARTTLS and SMTPS, pipelined commands on a raw socket, and
swaks.  Each ends with the message in spool/incoming byte for byte: our
Received header first, then the content with dot-stuffing undone and
CRLF line ends, and an envelope with the right sender and recipients.
"""

import os
import re
import shutil
import smtplib
import subprocess
import unittest

from harness import SuiteTestCase, data_model, tls_client_context

CONTENT = (b"From: Alice <alice@example.org>\r\n"
           b"To: Bob <bob@example.com>\r\n"
           b"Subject: conversation test\r\n"
           b"Message-ID: <conv-1@example.org>\r\n"
           b"\r\n"
           b"First line.\r\n"
           b".A line that starts with a dot\r\n"
           b"..Two dots\r\n"
           b".\r\n"
           b"The line above is a single dot.\r\n"
           b"\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf 8-bit\r\n"
           b"\r\n"
           b"Last line.\r\n")

QUEUED = re.compile(rb"^2\.0\.0 Ok: queued as ([0-9a-f]{16})$")


def smtplib_send(client, sender, rcpts, content):
    """MAIL, RCPT..., DATA with smtplib's own calls; returns the qid."""
    code, msg = client.mail(sender)
    assert code == 250, (code, msg)
    for r in rcpts:
        code, msg = client.rcpt(r)
        assert code == 250, (code, msg)
    code, msg = client.data(content)
    assert code == 250, (code, msg)
    m = QUEUED.match(msg)
    assert m, msg
    return m.group(1).decode()


class SmtplibTest(SuiteTestCase):

    def setUp(self):
        super().setUp()
        self.suite.set("imss.ini", "general", "hostname", "mx.sekisho.test")
        self.suite.start_smtpd()

    def check_received(self, received, helo, with_kw, tls):
        self.assertTrue(received.startswith(b"Received: from " +
                                            helo.encode()), received)
        self.assertIn(b"[127.0.0.1]", received)
        self.assertIn(b"by mx.sekisho.test", received)
        self.assertRegex(received, rb"with %s\b" % with_kw)
        if tls:
            self.assertRegex(received, rb"TLSv1\.[23]",
                             "Received header names the TLS version")
        else:
            self.assertNotIn(b"TLS", received)

    def check_envelope(self, env, helo, tls):
        self.assertEqual(env.get("client-ip"), "127.0.0.1",
                         "envelope records the client address")
        self.assertEqual(env.get("helo"), helo,
                         "envelope records the EHLO name")
        if tls:
            self.assertRegex(env.get("tls") or "", r"^TLSv1\.[23] \S+",
                             "envelope records TLS protocol and cipher")
        else:
            self.assertIn(env.get("tls"), (None, ""))

    def test_plain_message_is_stored_byte_for_byte(self):
        with smtplib.SMTP("127.0.0.1", self.suite.smtp_port,
                          local_hostname="plain.client.test",
                          timeout=10) as c:
            c.ehlo()
            self.assertTrue(c.has_extn("pipelining"))
            qid = smtplib_send(c, "alice@example.org",
                               ["bob@example.com", "carol@example.net"],
                               CONTENT)
        env, received = self.assertStored(
            qid, CONTENT, sender="alice@example.org",
            rcpts=["bob@example.com", "carol@example.net"])
        self.check_received(received, "plain.client.test", b"ESMTP", False)

    def test_helo_client_gets_smtp_protocol_in_received(self):
        with smtplib.SMTP("127.0.0.1", self.suite.smtp_port,
                          local_hostname="old.client.test", timeout=10) as c:
            c.helo()
            qid = smtplib_send(c, "alice@example.org", ["bob@example.com"],
                               CONTENT)
        env, received = self.assertStored(qid, CONTENT)
        self.check_received(received, "old.client.test", b"SMTP", False)

    def test_starttls_message_is_stored_byte_for_byte(self):
        with smtplib.SMTP("127.0.0.1", self.suite.smtp_port,
                          local_hostname="tls.client.test", timeout=10) as c:
            c.ehlo()
            self.assertTrue(c.has_extn("starttls"))
            code, _ = c.starttls(context=tls_client_context())
            self.assertEqual(code, 220)
            c.ehlo()
            self.assertFalse(c.has_extn("starttls"),
                             "STARTTLS is not offered again inside TLS")
            qid = smtplib_send(c, "alice@example.org", ["bob@example.com"],
                               CONTENT)
        env, received = self.assertStored(qid, CONTENT,
                                          sender="alice@example.org",
                                          rcpts=["bob@example.com"])
        self.check_received(received, "tls.client.test", b"ESMTPS", True)

    def test_smtps_message_is_stored_byte_for_byte(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.suite.smtps_port,
                              local_hostname="smtps.client.test",
                              context=tls_client_context(), timeout=10) as c:
            c.ehlo()
            self.assertFalse(c.has_extn("starttls"))
            qid = smtplib_send(c, "alice@example.org", ["bob@example.com"],
                               CONTENT)
        env, received = self.assertStored(qid, CONTENT,
                                          sender="alice@example.org",
                                          rcpts=["bob@example.com"])
        self.check_received(received, "smtps.client.test", b"ESMTPS", True)

    def test_envelope_records_client_address_helo_and_tls(self):
        # docs/spool.md: helo, client-ip and tls are envelope fields; the
        # scanner's %CLIENT_IP% and the tracking log depend on them.
        with smtplib.SMTP("127.0.0.1", self.suite.smtp_port,
                          local_hostname="plain.client.test",
                          timeout=10) as c:
            c.ehlo()
            q1 = smtplib_send(c, "alice@example.org", ["bob@example.com"],
                              CONTENT)
        with smtplib.SMTP_SSL("127.0.0.1", self.suite.smtps_port,
                              local_hostname="smtps.client.test",
                              context=tls_client_context(), timeout=10) as c:
            c.ehlo()
            q2 = smtplib_send(c, "alice@example.org", ["bob@example.com"],
                              CONTENT)
        self.check_envelope(self.suite.message(q1)[0], "plain.client.test",
                            False)
        self.check_envelope(self.suite.message(q2)[0], "smtps.client.test",
                            True)

    def test_several_messages_in_one_session(self):
        with smtplib.SMTP("127.0.0.1", self.suite.smtp_port, timeout=10) as c:
            c.ehlo()
            qids = [smtplib_send(c, "s%d@example.org" % i,
                                 ["r%d@example.com" % i],
                                 CONTENT.replace(b"conv-1", b"conv-%d" % i))
                    for i in range(3)]
        self.assertEqual(len(set(qids)), 3)
        self.assertEqual(qids, sorted(qids), "queue ids sort by arrival")
        for i, qid in enumerate(qids):
            self.assertStored(qid, CONTENT.replace(b"conv-1", b"conv-%d" % i),
                              sender="s%d@example.org" % i,
                              rcpts=["r%d@example.com" % i])

    def test_null_sender_is_stored_empty(self):
        with smtplib.SMTP("127.0.0.1", self.suite.smtp_port, timeout=10) as c:
            c.ehlo()
            qid = smtplib_send(c, "", ["bob@example.com"], CONTENT)
        self.assertStored(qid, CONTENT, sender="", rcpts=["bob@example.com"])


class PipeliningTest(SuiteTestCase):

    def setUp(self):
        super().setUp()
        self.suite.start_smtpd()

    def test_pipelined_transactions_in_single_writes(self):
        c = self.smtp()
        self.assertIn("PIPELINING", c.ehlo().texts)
        m1 = b"Subject: one\r\n\r\n..dot\r\nbody one\r\n"
        m2 = b"Subject: two\r\n\r\nbody two\r\n"
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n"
               b"RCPT TO:<c@example.com>\r\nDATA\r\n")
        r = c.replies(4)
        self.assertEqual([x.code for x in r], [250, 250, 250, 354], r)
        # Content, terminator and the next transaction in one write.
        c.send(m1 + b".\r\nMAIL FROM:<d@example.org>\r\n"
               b"RCPT TO:<e@example.com>\r\nDATA\r\n")
        r = c.replies(4)
        self.assertEqual([x.code for x in r], [250, 250, 250, 354], r)
        q1 = r[0].qid()
        self.assertTrue(q1, r[0])
        c.send(m2 + b".\r\nQUIT\r\n")
        r = c.replies(2)
        self.assertEqual([x.code for x in r], [250, 221], r)
        q2 = r[0].qid()
        self.assertTrue(q2, r[0])
        self.assertTrue(c.closed_within(5))
        self.assertStored(q1, data_model(m1 + b".\r\n")[0],
                          sender="a@example.org",
                          rcpts=["b@example.com", "c@example.com"])
        self.assertStored(q2, m2, sender="d@example.org",
                          rcpts=["e@example.com"])
        self.assertEqual(len(self.suite.incoming()), 2)

    def test_pipelined_group_with_a_bad_recipient(self):
        c = self.smtp()
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<bad..dots@example.com>"
               b"\r\nRCPT TO:<ok@example.com>\r\nDATA\r\n")
        r = c.replies(4)
        self.assertEqual([x.code for x in r], [250, 501, 250, 354], r)
        c.send(b"Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        r = c.replies(2)
        self.assertEqual([x.code for x in r], [250, 221], r)
        self.assertStored(r[0].qid(), b"Subject: x\r\n\r\nhi\r\n",
                          rcpts=["ok@example.com"])

    def test_pipelined_group_without_valid_recipient_gets_no_354(self):
        c = self.smtp()
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<bad..dots@example.com>"
               b"\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nNOOP\r\n")
        r = c.replies(2)
        self.assertEqual([x.code for x in r], [250, 501], r)
        # DATA is refused; the would-be content lines are then commands:
        # each gets an error, and the NOOP after them is answered.
        r = c.replies(6)
        self.assertEqual(r[0].code // 100, 5, r)
        self.assertTrue(all(x.code // 100 == 5 for x in r[1:5]), r)
        self.assertEqual(r[5].code, 250, r)
        self.assertNoIncoming()

    def test_service_commands(self):
        c = self.smtp()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 503)
        c.ehlo()
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertEqual(c.cmd("RSET").code, 250)
        self.assertEqual(c.cmd("HELP").code, 214)
        self.assertEqual(c.cmd("VRFY postmaster").code, 252)
        self.assertEqual(c.cmd("EXPN staff").code, 502)
        self.assertEqual(c.cmd("XYZZY").code, 500)
        self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 503)
        self.assertEqual(c.cmd("DATA").code, 503)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 503)
        self.assertEqual(c.cmd("RSET").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 503)
        r = c.cmd("QUIT")
        self.assertEqual(r.code, 221)
        self.assertTrue(c.closed_within(5))
        self.assertNoIncoming()

    def test_ehlo_advertises_the_extensions(self):
        c = self.smtp()
        r = c.ehlo()
        ext = set(r.texts[1:])
        for e in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES",
                  "STARTTLS", "SMTPUTF8", "SIZE 20971520"):
            self.assertIn(e, ext)
        # Replies carry enhanced status codes.
        self.assertRegex(c.cmd("NOOP").last, r"^250 2\.\d\.\d")


SWAKS = shutil.which("swaks")


def swaks_has_tls():
    if not SWAKS:
        return False
    r = subprocess.run([SWAKS, "--support"], capture_output=True, text=True)
    return "=== TLS supported" in r.stdout + r.stderr


@unittest.skipUnless(SWAKS, "swaks not installed")
class SwaksTest(SuiteTestCase):
    # swaks sends the file's lines with CRLF, dot-stuffed, then CRLF "."
    FILE = (b"From: swaks@example.org\n"
            b"Subject: swaks test\n"
            b"\n"
            b".leading dot\n"
            b"..two leading dots\n"
            b"last line")

    def setUp(self):
        super().setUp()
        self.suite.start_smtpd()
        self.path = os.path.join(self.suite.dir, "swaks.eml")
        with open(self.path, "wb") as f:
            f.write(self.FILE)

    def swaks(self, *extra):
        r = subprocess.run(
            [SWAKS, "--server", "127.0.0.1", "--port",
             str(self.suite.smtp_port), "--helo", "swaks.client.test",
             "--from", "swaks@example.org", "--to", "bob@example.com",
             "--data", "@" + self.path] + list(extra),
            capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m = re.findall(r"<[-~]  250 2\.0\.0 Ok: queued as ([0-9a-f]{16})",
                       r.stdout)
        self.assertEqual(len(m), 1, r.stdout)
        return m[0], r.stdout

    def expected(self):
        return self.FILE.replace(b"\n", b"\r\n") + b"\r\n"

    def test_swaks_plain(self):
        qid, _ = self.swaks()
        self.assertStored(qid, self.expected(), sender="swaks@example.org",
                          rcpts=["bob@example.com"])

    def test_swaks_pipelining(self):
        qid, out = self.swaks("--pipeline")
        self.assertStored(qid, self.expected(), sender="swaks@example.org",
                          rcpts=["bob@example.com"])

    @unittest.skipUnless(swaks_has_tls(), "swaks without TLS (Net::SSLeay)")
    def test_swaks_starttls(self):
        qid, out = self.swaks("--tls")
        env, received = self.assertStored(qid, self.expected())
        self.assertRegex(received, rb"TLSv1\.[23]")

    @unittest.skipUnless(swaks_has_tls(), "swaks without TLS (Net::SSLeay)")
    def test_swaks_smtps(self):
        qid, out = self.swaks("--tls-on-connect", "--port",
                              str(self.suite.smtps_port))
        env, received = self.assertStored(qid, self.expected())
        self.assertRegex(received, rb"TLSv1\.[23]")


if __name__ == "__main__":
    unittest.main()
